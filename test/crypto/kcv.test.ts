import { describe, expect, it } from 'vitest';
import {
  ForgeCipherProvider,
  NodeCipherProvider,
  type BlockCipherProvider,
} from '../../card/crypto/index.js';
import { kcv } from '../../card/crypto/kcv.js';
import { fromHex, toHex } from '../../card/util/hex.js';

// Published key check values (the KCV every HSM prints: first 3 bytes of E(K, 0)).
// 2-key TDES 0123456789ABCDEF FEDCBA9876543210 → 08D7B4 (E(K,0) = 08D7B4FB629D0885);
// single-length DES 0123456789ABCDEF used as a double key (K1 = K2) → D5D44F (DES E(K,0) = D5D44FF720683D0D).
const VECTORS = [
  ['0123456789ABCDEFFEDCBA9876543210', '08D7B4'],
  ['0123456789ABCDEF0123456789ABCDEF', 'D5D44F'],
] as const;

describe.each([
  ['node', new NodeCipherProvider()],
  ['forge', new ForgeCipherProvider()],
] as [string, BlockCipherProvider][])('kcv (%s)', (_name, cipher) => {
  it.each(VECTORS)('KCV(%s) = %s', (key, expected) => {
    expect(toHex(kcv(cipher, fromHex(key)))).toBe(expected);
  });

  it('a key that is not 16 or 24 bytes is refused with a RangeError naming the length', () => {
    expect(() => kcv(cipher, new Uint8Array(8))).toThrow(/16 or 24 bytes, got 8/);
  });

  it('one bit of difference gives another KCV', () => {
    const k = fromHex('0123456789ABCDEFFEDCBA9876543210');
    const k2 = k.slice();
    k2[15] = k2[15]! ^ 0x02;
    expect(toHex(kcv(cipher, k2))).not.toBe(toHex(kcv(cipher, k)));
  });
});
