import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { toHex } from '../../card/util/hex.js';

/**
 * An independent statement of ISO/IEC 7816-3 §12.1.3: the case a byte string must decode to,
 * or null when no case fits.
 */
function expectedCase(b: Uint8Array): string | null {
  const n = b.length;
  if (n < 4) return null;
  if (n === 4) return '1';
  if (n === 5) return '2S';
  const b1 = b[4]!;
  if (b1 !== 0) return n === 5 + b1 ? '3S' : n === 6 + b1 ? '4S' : null;
  if (n === 7) return '2E';
  if (n < 7) return null;
  const l = b[5]! * 256 + b[6]!;
  if (l === 0) return null;
  return n === 7 + l ? '3E' : n === 9 + l ? '4E' : null;
}

/** Valid encodings built from random fields, including large extended ones. */
const validCommand = fc
  .record({
    header: fc.uint8Array({ minLength: 4, maxLength: 4 }),
    // Mostly short data; large extended bodies are rarer because each costs up to 64 KiB.
    nc: fc.oneof(
      { weight: 40, arbitrary: fc.integer({ min: 0, max: 300 }) },
      { weight: 4, arbitrary: fc.constantFrom(0, 1, 255, 256, 257) },
      { weight: 1, arbitrary: fc.constantFrom(65534, 65535) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 65535 }) },
    ),
    ne: fc.option(
      fc.oneof(fc.constantFrom(1, 255, 256, 257, 65535, 65536), fc.integer({ min: 1, max: 65536 })),
    ),
    extended: fc.boolean(),
    fill: fc.integer({ min: 0, max: 255 }),
  })
  .map(({ header, nc, ne, extended, fill }) =>
    new CommandApdu({
      cla: header[0]!,
      ins: header[1]!,
      p1: header[2]!,
      p2: header[3]!,
      data: new Uint8Array(nc).fill(fill),
      ne: ne ?? undefined,
      extended,
    }).encode(),
  );

/** Mutations of a byte string: flip, overwrite, insert, delete, truncate, extend. */
function mutated(base: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(
      base,
      fc.array(
        fc.tuple(
          fc.integer({ min: 0, max: 5 }),
          fc.nat(),
          fc.integer({ min: 0, max: 255 }),
          fc.nat({ max: 4 }),
        ),
        { minLength: 1, maxLength: 3 },
      ),
    )
    .map(([b, muts]) => {
      let out = b;
      for (const [kind, pos, value, count] of muts) {
        const p = pos % (out.length + 1);
        switch (kind) {
          case 0:
          case 1:
            if (out.length > 0) {
              out = out.slice();
              const i = p % out.length;
              out[i] = kind === 0 ? out[i]! ^ (1 << (value % 8)) : value;
            }
            break;
          case 2: {
            const ins = new Uint8Array(out.length + count + 1);
            ins.set(out.subarray(0, p));
            ins.fill(value, p, p + count + 1);
            ins.set(out.subarray(p), p + count + 1);
            out = ins;
            break;
          }
          case 3: {
            const end = Math.min(out.length, p + count + 1);
            const del = new Uint8Array(out.length - (end - p));
            del.set(out.subarray(0, p));
            del.set(out.subarray(end), p);
            out = del;
            break;
          }
          case 4:
            out = out.slice(0, p);
            break;
          default: {
            const ext = new Uint8Array(out.length + count + 1);
            ext.set(out);
            ext.fill(value, out.length);
            out = ext;
          }
        }
      }
      return out;
    });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function checkOutcome(
  input: Uint8Array,
  run: (b: Uint8Array) => { encode(): Uint8Array },
): 'ok' | 'rejected' {
  let value: { encode(): Uint8Array };
  try {
    value = run(input);
  } catch (e) {
    if (!(e instanceof MalformedDataError)) throw e;
    if (e.offset < 0 || e.offset > input.length || !Number.isInteger(e.offset))
      throw new Error(`offset ${e.offset} outside [0, ${input.length}]`);
    if (e.kind !== 'apdu' || e.raw !== input) throw new Error('error lacks kind or raw bytes');
    return 'rejected';
  }
  const again = value.encode();
  if (!sameBytes(again, input)) throw new Error(`re-encoding differs: ${toHex(input)} → ${toHex(again)}`);
  return 'ok';
}

describe('APDU parsers never throw anything but MalformedDataError', () => {
  it('CommandApdu.decode: 100,000 random, mutated and boundary inputs', () => {
    const input = fc.oneof(
      { weight: 3, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 24 }) },
      { weight: 2, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 300 }) },
      { weight: 4, arbitrary: mutated(validCommand) },
      { weight: 1, arbitrary: validCommand },
    );
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(input, (b) => {
        const outcome = checkOutcome(b, (x) => CommandApdu.decode(x));
        const expected = expectedCase(b);
        if (outcome === 'ok') {
          accepted++;
          expect(CommandApdu.decode(b).case).toBe(expected);
        } else {
          rejected++;
          expect(expected).toBeNull();
        }
      }),
      { numRuns: 100_000, seed: 0x7816 },
    );
    // Both outcomes must be well represented or the generators are not doing their job.
    expect(accepted).toBeGreaterThan(10_000);
    expect(rejected).toBeGreaterThan(10_000);
  });

  it('ResponseApdu.decode: 100,000 random and mutated inputs', () => {
    const input = fc.oneof(
      { weight: 50, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 40 }) },
      { weight: 49, arbitrary: mutated(fc.uint8Array({ minLength: 2, maxLength: 64 })) },
      { weight: 1, arbitrary: fc.constantFrom(65537, 65538, 65539).map((n) => new Uint8Array(n)) },
    );
    let rejected = 0;
    fc.assert(
      fc.property(input, (b) => {
        if (checkOutcome(b, (x) => ResponseApdu.decode(x)) === 'rejected') {
          rejected++;
          expect(b.length < 2 || b.length > 65538).toBe(true);
        }
      }),
      { numRuns: 100_000, seed: 0x7816 },
    );
    expect(rejected).toBeGreaterThan(100);
  });
});
