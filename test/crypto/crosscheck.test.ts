// The two providers must agree byte for byte on random keys and data (STYLE.md rule 7).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ForgeCipherProvider,
  NodeCipherProvider,
  cmac,
  diversify,
  macIso9797Alg1,
  macIso9797Alg3,
  type BlockAlgorithm,
  type BlockCipherProvider,
  type BlockMode,
} from '../../card/crypto/index.js';
import { toHex } from '../../card/util/hex.js';

const node = new NodeCipherProvider();
const forge = new ForgeCipherProvider();
const RUNS = { numRuns: 150 };

const keyFor = (alg: BlockAlgorithm) =>
  alg === 'tdes'
    ? fc.oneof(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 24, maxLength: 24 }),
      )
    : fc.oneof(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
      );

/** Byte strings of the given lengths (lengths near the valid ones find the edge cases). */
const sized = (...lengths: number[]) =>
  fc.constantFrom(...lengths).chain((n) => fc.uint8Array({ minLength: n, maxLength: n }));

const blocks = (bs: number) =>
  fc.integer({ min: 0, max: 8 }).chain((n) => fc.uint8Array({ minLength: n * bs, maxLength: n * bs }));

describe('node and forge agree', () => {
  for (const alg of ['tdes', 'aes'] as const) {
    for (const mode of ['ecb', 'cbc'] as const satisfies readonly BlockMode[]) {
      it(`${alg}-${mode}: encrypt and decrypt agree and invert each other`, () => {
        const bs = alg === 'aes' ? 16 : 8;
        fc.assert(
          fc.property(
            keyFor(alg),
            blocks(bs),
            fc.uint8Array({ minLength: bs, maxLength: bs }),
            (key, data, ivBytes) => {
              const iv = mode === 'cbc' ? ivBytes : undefined;
              const a = node.encrypt(alg, mode, key, data, iv);
              const b = forge.encrypt(alg, mode, key, data, iv);
              expect(toHex(b)).toBe(toHex(a));
              expect(toHex(forge.decrypt(alg, mode, key, a, iv))).toBe(toHex(data));
              expect(toHex(node.decrypt(alg, mode, key, data, iv))).toBe(
                toHex(forge.decrypt(alg, mode, key, data, iv)),
              );
            },
          ),
          RUNS,
        );
      });
    }
  }

  it('ISO/IEC 9797-1 MAC algorithm 1 (tdes and aes), both paddings', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<BlockAlgorithm>('tdes', 'aes'),
        fc.uint8Array({ maxLength: 80 }),
        fc.constantFrom<1 | 2>(1, 2),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        (alg, data, padding, key) => {
          expect(toHex(macIso9797Alg1(forge, alg, key, data, padding))).toBe(
            toHex(macIso9797Alg1(node, alg, key, data, padding)),
          );
        },
      ),
      RUNS,
    );
  });

  it('ISO/IEC 9797-1 MAC algorithm 3, both paddings', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ maxLength: 80 }),
        fc.constantFrom<1 | 2>(1, 2),
        (key, data, padding) => {
          expect(toHex(macIso9797Alg3(forge, key, data, padding))).toBe(
            toHex(macIso9797Alg3(node, key, data, padding)),
          );
        },
      ),
      RUNS,
    );
  });

  it('CMAC (AES-128/256, TDES two- and three-key)', () => {
    fc.assert(
      fc.property(
        fc
          .constantFrom<BlockAlgorithm>('tdes', 'aes')
          .chain((alg) => fc.tuple(fc.constant(alg), keyFor(alg))),
        fc.uint8Array({ maxLength: 80 }),
        ([alg, key], data) => {
          expect(toHex(cmac(forge, alg, key, data))).toBe(toHex(cmac(node, alg, key, data)));
        },
      ),
      RUNS,
    );
  });

  it('key diversification (tdes and aes) and the MACs leave their inputs unchanged', () => {
    fc.assert(
      fc.property(
        fc
          .constantFrom<BlockAlgorithm>('tdes', 'aes')
          .chain((alg) => fc.tuple(fc.constant(alg), keyFor(alg))),
        fc.uint8Array({ minLength: 1, maxLength: 8 }),
        ([alg, master], data) => {
          const before = toHex(master) + toHex(data);
          expect(toHex(diversify(forge, alg, master, data))).toBe(toHex(diversify(node, alg, master, data)));
          cmac(node, alg, master, data);
          macIso9797Alg1(forge, alg, master, data, 2);
          expect(toHex(master) + toHex(data)).toBe(before);
        },
      ),
      RUNS,
    );
  });

  it('any lengths: both succeed with the same bytes, or both throw the same RangeError', () => {
    const outcome = (f: () => Uint8Array): string => {
      try {
        return `ok ${toHex(f())}`;
      } catch (e) {
        expect(e).toBeInstanceOf(RangeError);
        return `RangeError ${(e as Error).message}`;
      }
    };
    fc.assert(
      fc.property(
        fc.constantFrom<BlockAlgorithm>('tdes', 'aes'),
        fc.constantFrom<BlockMode>('ecb', 'cbc'),
        sized(0, 8, 15, 16, 24, 32, 33),
        sized(0, 7, 8, 16, 17, 32),
        fc.option(sized(0, 8, 16), { nil: undefined }),
        fc.boolean(),
        (alg, mode, key, data, iv, enc) => {
          const run = (p: BlockCipherProvider) => () =>
            enc ? p.encrypt(alg, mode, key, data, iv) : p.decrypt(alg, mode, key, data, iv);
          expect(outcome(run(forge))).toBe(outcome(run(node)));
        },
      ),
      { numRuns: 300 },
    );
  });
});
