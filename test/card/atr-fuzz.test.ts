import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Atr } from '../../card/iso7816/Atr.js';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { decodeHistoricalBytes } from '../../card/iso7816/historicalBytes.js';
import { fromHex } from '../../card/util/hex.js';

const corpus = readFileSync(fileURLToPath(new URL('../vectors/atr-corpus.txt', import.meta.url)), 'utf8')
  .split('\n')
  .filter((l) => /^[0-9A-F]{2}( [0-9A-F]{2})*$/.test(l))
  .map((l) => fromHex(l));

/**
 * The property: Atr.parse returns an Atr (whose every decoded view works) or throws a
 * MalformedDataError of kind 'atr' with an offset inside [0, length] — nothing else.
 */
function check(bytes: Uint8Array): 'parsed' | 'rejected' {
  let a: Atr;
  try {
    a = Atr.parse(bytes);
  } catch (e) {
    if (!(e instanceof MalformedDataError)) throw e;
    if (e.kind !== 'atr' || !(e.offset >= 0 && e.offset <= bytes.length) || e.reason.length === 0)
      throw new Error(`bad error for ${Buffer.from(bytes).toString('hex')}: ${e.message}`);
    return 'rejected';
  }
  // Everything a caller can ask of a parsed ATR must work too.
  JSON.stringify(a.toJSON());
  a.describe();
  return 'parsed';
}

type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; byte: number }
  | { op: 'delete'; at: number }
  | { op: 'set'; at: number; byte: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
);

function mutate(src: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = Array.from(src);
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % (b.length + (m.op === 'insert' || m.op === 'truncate' ? 1 : 0));
    switch (m.op) {
      case 'flip':
        if (b.length) b[at] = b[at]! ^ (1 << m.bit);
        break;
      case 'truncate':
        b = b.slice(0, at);
        break;
      case 'insert':
        b.splice(at, 0, m.byte);
        break;
      case 'delete':
        b.splice(at, 1);
        break;
      case 'set':
        if (b.length) b[at] = m.byte;
        break;
    }
  }
  return Uint8Array.from(b);
}

describe('Atr.parse never throws anything but MalformedDataError', () => {
  it('60,000 mutated corpus ATRs (bit flips, truncations, insertions, deletions, replacements)', () => {
    const tally = { parsed: 0, rejected: 0 };
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: corpus.length - 1 }),
        fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
        (i, ms) => {
          tally[check(mutate(corpus[i]!, ms))]++;
        },
      ),
      { numRuns: 60_000 },
    );
    // Both branches are exercised (a mutation can keep an ATR valid, e.g. a flipped historical byte with…
    // no TCK), so the property is not vacuous.
    expect(tally.parsed).toBeGreaterThan(1000);
    expect(tally.rejected).toBeGreaterThan(1000);
  });

  it('40,000 random inputs, mostly starting with a valid TS', () => {
    const tally = { parsed: 0, rejected: 0 };
    fc.assert(
      fc.property(
        fc.constantFrom(0x3b, 0x3f, 0x3b, 0x3f, 0x03, 0x00),
        fc.uint8Array({ maxLength: 48 }),
        (ts, rest) => {
          const b = new Uint8Array(rest.length + 1);
          b[0] = ts;
          b.set(rest, 1);
          tally[check(b)]++;
        },
      ),
      { numRuns: 40_000 },
    );
    expect(tally.rejected).toBeGreaterThan(1000);
    expect(tally.parsed).toBeGreaterThan(0);
  });

  it('10,000 huge or empty inputs stay bounded (no hang, offset inside the input)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 4096 }), (b) => {
        check(b);
      }),
      { numRuns: 10_000 },
    );
    // An endless TD chain: each TD announces another TD — stopped at the 33-byte limit.
    const chain = new Uint8Array(1 << 20).fill(0x80);
    chain[0] = 0x3b;
    expect(() => Atr.parse(chain)).toThrow(/too long: TD32/);
  });

  it('decodeHistoricalBytes never throws on any 0..15 bytes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(0x00, 0x10, 0x80, 0x81, 0x31),
        fc.uint8Array({ maxLength: 14 }),
        (ci, rest) => {
          const h = new Uint8Array(rest.length + 1);
          h[0] = ci;
          h.set(rest, 1);
          const d = decodeHistoricalBytes(h);
          if (d.problem) expect(d.problem.offset).toBeLessThanOrEqual(h.length);
        },
      ),
      { numRuns: 20_000 },
    );
  });
});
