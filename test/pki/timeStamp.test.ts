/** The stolen-terminal time-stamp chain (seed 004 Figs. 10–11), AES-128 Matyas–Meyer–Oseas. */
import { describe, expect, it } from 'vitest';
import { ForgeCipherProvider, NodeCipherProvider } from '../../card/crypto/index.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { TS_MAX_UPDATES, nextTimeStamp, timeStampAt } from '../../card/pki/index.js';

const node = new NodeCipherProvider();
const forge = new ForgeCipherProvider();

// FIPS 197 Appendix C.1 (AES-128): key 000102..0f, plaintext 00112233..ff → 69c4e0d8..c55a.
const K = fromHex('000102030405060708090a0b0c0d0e0f');
const P = fromHex('00112233445566778899aabbccddeeff');
const C = fromHex('69c4e0d86a7b0430d8cdb78070b4c55a');

describe('nextTimeStamp', () => {
  for (const cipher of [node, forge]) {
    it(`${cipher.name}: TS1 = AES_K(TS0) XOR TS0 on the FIPS 197 C.1 vector`, () => {
      const want = C.map((c, i) => c ^ P[i]!);
      expect(toHex(nextTimeStamp(cipher, K, P))).toBe(toHex(want));
      expect(toHex(nextTimeStamp(cipher, K, P))).toBe('69D5C2EB2E2E624750541D3BBC692BA5');
    });
  }

  it('one-way even knowing K: decrypting TS(i+1) does not give TS(i) (it does for the seed’s plain E_K)', () => {
    const ts1 = nextTimeStamp(node, K, P);
    expect(toHex(node.decrypt('aes', 'ecb', K, ts1))).not.toBe(toHex(P));
    // the seed's TS(i+1) = E_K(TS(i)) is a permutation: a thief holding K steps back at will
    const plain = node.encrypt('aes', 'ecb', K, P);
    expect(toHex(node.decrypt('aes', 'ecb', K, plain))).toBe(toHex(P));
  });

  it('arguments: k and ts must be 16 bytes', () => {
    expect(() => nextTimeStamp(node, K.subarray(0, 15), P)).toThrow(/\bk\b/);
    expect(() => nextTimeStamp(node, K, new Uint8Array(17))).toThrow(/\bts\b/);
    expect(() => nextTimeStamp(node, K, 'x' as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe('timeStampAt', () => {
  it('t = 0 is TS0 (a copy); t steps agree with repeated nextTimeStamp', () => {
    const ts0 = timeStampAt(node, K, P, 0);
    expect(toHex(ts0)).toBe(toHex(P));
    expect(ts0).not.toBe(P);
    let ts = P;
    for (let i = 0; i < 5; i++) ts = nextTimeStamp(node, K, ts);
    expect(toHex(timeStampAt(node, K, P, 5))).toBe(toHex(ts));
  });

  it('distinct across t (no short cycle in the first 1000 steps)', () => {
    const seen = new Set<string>();
    let ts = P;
    for (let i = 0; i <= 1000; i++) {
      seen.add(toHex(ts));
      ts = nextTimeStamp(node, K, ts);
    }
    expect(seen.size).toBe(1001);
  });

  it('t bounds: TS_MAX_UPDATES accepted, one past it, negative and fractional refused with RangeError naming t', () => {
    expect(timeStampAt(node, K, P, TS_MAX_UPDATES).length).toBe(16);
    for (const t of [TS_MAX_UPDATES + 1, -1, 1.5, Number.NaN])
      expect(() => timeStampAt(node, K, P, t)).toThrow(/^t must/);
  });
});
