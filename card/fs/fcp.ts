/**
 * File control information (ISO/IEC 7816-4 §7.4): the FCP template (62), the FMD template (64)
 * and the FCI template (6F) returned by SELECT.
 * ```
 *  80 02 nnnn           data bytes (transparent: size; record EFs: maxRecords × recordLength)
 *  82 01 38             file descriptor: DF
 *  82 02 01 21          transparent EF (data coding byte 21)
 *  82 05 0x 21 00 LL NN record EF: x = 2 linear fixed, 4 linear variable, 6 cyclic;
 *                       LL max record length, NN records present
 *  83 02 FID            file identifier
 *  84 nn name           DF name
 *  88 01 sfi<<3         short EF identifier
 *  8A 01 05             life cycle status: operational, activated
 * ```
 */
import type { FileSystem } from './FileSystem.js';
import type { DfNode, EfNode } from './nodes.js';
import { be16 } from '../util/bigEndian.js';

const DESCRIPTOR = {
  transparent: 0x01,
  'linear-fixed': 0x02,
  'linear-variable': 0x04,
  cyclic: 0x06,
} as const;

function tlv(tag: number, value: readonly number[] | Uint8Array): number[] {
  return [tag, value.length, ...value];
}

function contents(node: DfNode | EfNode, fs: FileSystem): number[] {
  const out: number[] = [];
  if (node.kind === 'df') {
    out.push(...tlv(0x82, [0x38]));
    out.push(...tlv(0x83, be16(node.fid)));
    if (node.name) out.push(...tlv(0x84, node.name));
  } else {
    const size = node.isRecord ? node.maxRecords * node.recordLength : node.size;
    out.push(...tlv(0x80, [size >> 8, size & 0xff]));
    if (node.isRecord)
      out.push(
        ...tlv(0x82, [DESCRIPTOR[node.structure], 0x21, 0x00, node.recordLength, fs.recordCount(node)]),
      );
    else out.push(...tlv(0x82, [DESCRIPTOR.transparent, 0x21]));
    out.push(...tlv(0x83, be16(node.fid)));
    if (node.sfi !== undefined) out.push(...tlv(0x88, [node.sfi << 3]));
  }
  out.push(...tlv(0x8a, [0x05]));
  return out;
}

/** The FCP template (62) of a file. */
export function fcp(node: DfNode | EfNode, fs: FileSystem): Uint8Array {
  return Uint8Array.from(tlv(0x62, contents(node, fs)));
}

/** The FCI template (6F): here the FCP objects, plus the DF name of a DF. */
export function fci(node: DfNode | EfNode, fs: FileSystem): Uint8Array {
  return Uint8Array.from(tlv(0x6f, contents(node, fs)));
}

/** The FMD template (64): the DF name of a named DF, else empty. */
export function fmd(node: DfNode | EfNode): Uint8Array {
  return Uint8Array.from(tlv(0x64, node.kind === 'df' && node.name ? tlv(0x84, node.name) : []));
}
