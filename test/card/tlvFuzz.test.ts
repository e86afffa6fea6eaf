import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TlvNode } from '../../card/iso7816/tlv.js';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { toHex } from '../../card/util/hex.js';

const primitiveTag = fc.oneof(
  fc.constantFrom(0x5a, 0x80, 0x81, 0x82, 0x83, 0x84, 0x88, 0x8a, 0x8c, 0x9f38, 0x5f2d, 0xdf8101, 0x9f0c),
  fc.integer({ min: 1, max: 0x1e }).map((n) => 0x80 | n),
);
const constructedTag = fc.constantFrom(0x62, 0x64, 0x6f, 0xa5, 0xab, 0x70, 0xbf0c, 0x7f49, 0xe1, 0xbf8101);
const padding = fc.oneof(
  { weight: 6, arbitrary: fc.constant(new Uint8Array(0)) },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ minLength: 1, maxLength: 3 }).map((a) => a.map((b) => (b & 1 ? 0xff : 0))),
  },
);

/** Random well-formed trees, with non-minimal length forms and padding. */
const tree = fc.letrec<{ node: TlvNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc
      .tuple(primitiveTag, fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 0, max: 2 }), padding)
      .map(([t, v, extra, pad]) =>
        TlvNode.primitive(t, v, {
          lengthSize: Math.min(5, (v.length < 128 ? 1 : 2) + extra),
          paddingBefore: pad,
        }),
      ),
    fc
      .tuple(
        constructedTag,
        fc.array(tie('node'), { maxLength: 4 }),
        fc.integer({ min: 0, max: 1 }),
        padding,
        padding,
      )
      .map(([t, kids, extra, pad, after]) => {
        const plain = TlvNode.constructed(t, kids, { paddingAfter: after });
        return TlvNode.constructed(t, kids, {
          lengthSize: Math.min(5, plain.lengthSize + extra),
          paddingBefore: pad,
          paddingAfter: after,
        });
      }),
  ),
})).node;

const validList = fc
  .tuple(fc.array(tree, { minLength: 0, maxLength: 3 }), padding)
  .map(([nodes, tail]) => TlvNode.encodeAll(nodes, tail));

function mutate(b: Uint8Array, muts: [number, number, number][]): Uint8Array {
  let out = b;
  for (const [kind, pos, value] of muts) {
    const p = pos % (out.length + 1);
    if (kind === 0 && out.length > 0) {
      out = out.slice();
      out[p % out.length] = value;
    } else if (kind === 1) {
      const ins = new Uint8Array(out.length + 1);
      ins.set(out.subarray(0, p));
      ins[p] = value;
      ins.set(out.subarray(p), p + 1);
      out = ins;
    } else if (kind === 2 && out.length > 0) {
      const q = p % out.length;
      const del = new Uint8Array(out.length - 1);
      del.set(out.subarray(0, q));
      del.set(out.subarray(q + 1), q);
      out = del;
    } else {
      out = out.slice(0, p);
    }
  }
  return out;
}

const mutation = fc.array(
  fc.tuple(fc.integer({ min: 0, max: 3 }), fc.nat(), fc.integer({ min: 0, max: 255 })),
  {
    minLength: 1,
    maxLength: 3,
  },
);

/** Deep nestings: definite (hits the depth limit) and indefinite (hits the 80 rule). */
const deep = fc
  .tuple(fc.integer({ min: 1, max: 400 }), fc.boolean(), fc.constantFrom(0x62, 0xa5, 0x6f))
  .map(([n, def, t]) => {
    if (!def) return new Uint8Array(2 * n).map((_, i) => (i % 2 === 0 ? t : 0x80));
    // Build inside out with 3-byte lengths (82 xx xx) so any depth fits.
    const out = new Uint8Array(4 * n);
    for (let i = 0; i < n; i++) {
      const rest = 4 * (n - i - 1);
      out.set([t, 0x82, rest >> 8, rest & 0xff], 4 * i);
    }
    return out;
  });

const input = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 48 }) },
  { weight: 4, arbitrary: fc.tuple(validList, mutation).map(([b, m]) => mutate(b, m)) },
  { weight: 2, arbitrary: validList },
  { weight: 1, arbitrary: deep },
);

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

describe('BER-TLV parser never throws anything but MalformedDataError', () => {
  it('decodeAll/decode: 100,000 random, mutated, valid and deeply nested inputs', () => {
    let accepted = 0;
    let rejected = 0;
    let depthHits = 0;
    fc.assert(
      fc.property(input, (b) => {
        for (const mode of ['all', 'one'] as const) {
          let encoded: Uint8Array;
          try {
            encoded = mode === 'all' ? TlvNode.encodeAll(TlvNode.decodeAll(b)) : TlvNode.decode(b).encode();
          } catch (e) {
            if (!(e instanceof MalformedDataError)) throw e;
            if (!Number.isInteger(e.offset) || e.offset < 0 || e.offset > b.length)
              throw new Error(`offset ${e.offset} outside [0, ${b.length}]`);
            if (e.kind !== 'tlv' || e.raw !== b) throw new Error('error lacks kind or raw');
            if (mode === 'all') rejected++;
            if (/deeper/.test(e.reason)) depthHits++;
            continue;
          }
          if (mode === 'all') accepted++;
          if (!sameBytes(encoded, b)) throw new Error(`re-encoding differs: ${toHex(b)} → ${toHex(encoded)}`);
        }
      }),
      { numRuns: 100_000, seed: 0x8825 },
    );
    expect(accepted).toBeGreaterThan(20_000);
    expect(rejected).toBeGreaterThan(20_000);
    expect(depthHits).toBeGreaterThan(100);
  });
});
