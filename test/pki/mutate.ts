/** Test helper: rewrite one element of a DER structure by path, with asn1js, recomputing lengths. */
import * as asn1js from 'asn1js';

export type Path = readonly number[];

function children(b: asn1js.BaseBlock): asn1js.BaseBlock[] {
  return (b as asn1js.Constructed).valueBlock.value as asn1js.BaseBlock[];
}

/** Replaces the element at `path` (child indices from the root) by `block`, or removes it when `block` is null, or inserts before it when `insert`. */
export function mutate(
  der: Uint8Array,
  path: Path,
  block: asn1js.BaseBlock | null,
  insert = false,
): Uint8Array {
  const root = asn1js.fromBER(der, { maxNodes: 1e7 }).result as asn1js.BaseBlock;
  let parent = root;
  for (const i of path.slice(0, -1)) parent = children(parent)[i]!;
  const list = children(parent);
  const last = path[path.length - 1]!;
  if (block === null) list.splice(last, 1);
  else if (insert) list.splice(last, 0, block);
  else list[last] = block;
  return new Uint8Array(root.toBER(false));
}

/** A primitive element with the given universal tag number and raw content (no checks). */
export function prim(tag: number, content: Uint8Array | number[]): asn1js.BaseBlock {
  return new asn1js.Primitive({
    idBlock: { tagClass: 1, tagNumber: tag },
    valueHex: Uint8Array.from(content),
  });
}

export const int = (v: bigint | number): asn1js.Integer => asn1js.Integer.fromBigInt(v);
export const octets = (n: number, fill = 0x55): asn1js.OctetString =>
  new asn1js.OctetString({ valueHex: new Uint8Array(n).fill(fill) });
export const gtime = (s: string): asn1js.BaseBlock => prim(24, [...new TextEncoder().encode(s)]);
