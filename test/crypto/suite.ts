// One suite for every BlockCipherProvider (STYLE.md rule 7): node.test.ts and forge.test.ts run it.
import { describe, expect, it } from 'vitest';
import type { BlockCipherProvider } from '../../card/crypto/types.js';
import { cmac, macIso9797Alg1, macIso9797Alg3 } from '../../card/crypto/mac.js';
import { toHex } from '../../card/util/hex.js';
import { hex, loadVectors, type CipherVector, type CmacVector, type Iso9797Vector } from './vectors.js';

const sp80067 = loadVectors<{ vectors: CipherVector[] }>('tdea-sp800-67.json');
const sp80020 = loadVectors<{ vectors: CipherVector[] }>('tdea-sp800-20.json');
const icao9303 = loadVectors<{ vectors: CipherVector[] }>('tdea-icao9303.json');
const sp80038a = loadVectors<{ vectors: CipherVector[] }>('aes-sp800-38a.json');
const sp80038b = loadVectors<{ message: string; vectors: CmacVector[] }>('cmac-sp800-38b.json');
const rfc4493 = loadVectors<{
  key: string;
  subkeys: { l: string };
  vectors: { name: string; message: string; tag: string }[];
}>('cmac-rfc4493.json');
const iso9797 = loadVectors<{ vectors: Iso9797Vector[] }>('mac-iso9797-1.json');

const h = (s: string) => toHex(hex(s));

export function suite(provider: BlockCipherProvider): void {
  describe(`BlockCipherProvider ${provider.name}`, () => {
    describe('TDEA known answers (SP 800-67, SP 800-20)', () => {
      for (const v of sp80067.vectors) {
        it(v.name, () => {
          const out = provider.encrypt('tdes', 'ecb', hex(v.key), hex(v.plaintext));
          expect(toHex(out)).toBe(h(v.ciphertext));
          expect(toHex(provider.decrypt('tdes', 'ecb', hex(v.key), hex(v.ciphertext)))).toBe(h(v.plaintext));
        });
      }
      for (const v of sp80020.vectors) {
        it(`SP 800-20 ${v.name} (single DES as K||K)`, () => {
          const k8 = hex(v.key);
          const key = new Uint8Array(16);
          key.set(k8, 0);
          key.set(k8, 8);
          expect(toHex(provider.encrypt('tdes', 'ecb', key, hex(v.plaintext)))).toBe(h(v.ciphertext));
          expect(toHex(provider.decrypt('tdes', 'ecb', key, hex(v.ciphertext)))).toBe(h(v.plaintext));
          // Three-key form K||K||K gives the same single-DES answer.
          const key24 = new Uint8Array(24);
          key24.set(key, 0);
          key24.set(k8, 16);
          expect(toHex(provider.encrypt('tdes', 'ecb', key24, hex(v.plaintext)))).toBe(h(v.ciphertext));
        });
      }
      for (const v of icao9303.vectors) {
        it(`${v.name} (two-key TDES CBC)`, () => {
          const iv = hex(v.iv!);
          expect(toHex(provider.encrypt('tdes', 'cbc', hex(v.key), hex(v.plaintext), iv))).toBe(
            h(v.ciphertext),
          );
          expect(toHex(provider.decrypt('tdes', 'cbc', hex(v.key), hex(v.ciphertext), iv))).toBe(
            h(v.plaintext),
          );
        });
      }
      it('two-key TDES K1||K2 equals three-key K1||K2||K1', () => {
        const k = hex('4cf15134a2850dd58a3d10ba80570d38');
        const k3 = new Uint8Array(24);
        k3.set(k, 0);
        k3.set(k.subarray(0, 8), 16);
        const data = hex('00112233445566778899aabbccddeeff');
        expect(toHex(provider.encrypt('tdes', 'cbc', k, data))).toBe(
          toHex(provider.encrypt('tdes', 'cbc', k3, data)),
        );
      });
    });

    describe('AES modes (SP 800-38A Appendix F)', () => {
      for (const v of sp80038a.vectors) {
        it(v.name, () => {
          const iv = v.iv === undefined ? undefined : hex(v.iv);
          const enc = provider.encrypt(v.alg!, v.mode!, hex(v.key), hex(v.plaintext), iv);
          expect(toHex(enc)).toBe(h(v.ciphertext));
          const dec = provider.decrypt(v.alg!, v.mode!, hex(v.key), hex(v.ciphertext), iv);
          expect(toHex(dec)).toBe(h(v.plaintext));
        });
      }
      it('CBC without iv uses the zero IV', () => {
        const key = hex('2b7e151628aed2a6abf7158809cf4f3c');
        const data = hex('6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51');
        expect(toHex(provider.encrypt('aes', 'cbc', key, data))).toBe(
          toHex(provider.encrypt('aes', 'cbc', key, data, new Uint8Array(16))),
        );
      });
      it('empty data gives empty output', () => {
        expect(provider.encrypt('aes', 'ecb', new Uint8Array(16), new Uint8Array(0)).length).toBe(0);
        expect(provider.decrypt('tdes', 'cbc', new Uint8Array(16), new Uint8Array(0)).length).toBe(0);
      });
      it('does not modify its inputs', () => {
        const key = hex('2b7e151628aed2a6abf7158809cf4f3c');
        const data = hex('6bc1bee22e409f96e93d7e117393172a');
        const iv = hex('000102030405060708090a0b0c0d0e0f');
        provider.encrypt('aes', 'cbc', key, data, iv);
        expect(toHex(key)).toBe('2B7E151628AED2A6ABF7158809CF4F3C');
        expect(toHex(data)).toBe('6BC1BEE22E409F96E93D7E117393172A');
        expect(toHex(iv)).toBe('000102030405060708090A0B0C0D0E0F');
      });
    });

    describe('bad arguments: RangeError naming the parameter', () => {
      const cases: [string, () => unknown, RegExp][] = [
        [
          'tdes key of 8 bytes',
          () => provider.encrypt('tdes', 'ecb', new Uint8Array(8), new Uint8Array(8)),
          /^key /,
        ],
        [
          'tdes key of 32 bytes',
          () => provider.decrypt('tdes', 'ecb', new Uint8Array(32), new Uint8Array(8)),
          /^key /,
        ],
        [
          'aes key of 24 bytes',
          () => provider.encrypt('aes', 'ecb', new Uint8Array(24), new Uint8Array(16)),
          /^key /,
        ],
        [
          'aes key of 0 bytes',
          () => provider.encrypt('aes', 'cbc', new Uint8Array(0), new Uint8Array(16)),
          /^key /,
        ],
        [
          'tdes data of 7 bytes',
          () => provider.encrypt('tdes', 'ecb', new Uint8Array(16), new Uint8Array(7)),
          /^data /,
        ],
        [
          'aes data of 8 bytes',
          () => provider.decrypt('aes', 'cbc', new Uint8Array(16), new Uint8Array(8)),
          /^data /,
        ],
        [
          'tdes iv of 16 bytes',
          () => provider.encrypt('tdes', 'cbc', new Uint8Array(16), new Uint8Array(8), new Uint8Array(16)),
          /^iv /,
        ],
        [
          'aes iv of 8 bytes',
          () => provider.decrypt('aes', 'cbc', new Uint8Array(16), new Uint8Array(16), new Uint8Array(8)),
          /^iv /,
        ],
        [
          'iv given in ecb mode',
          () => provider.encrypt('aes', 'ecb', new Uint8Array(16), new Uint8Array(16), new Uint8Array(16)),
          /^iv /,
        ],
        [
          'unknown alg',
          () => provider.encrypt('des' as 'tdes', 'ecb', new Uint8Array(16), new Uint8Array(8)),
          /^alg /,
        ],
        [
          'unknown mode',
          () => provider.encrypt('aes', 'ctr' as 'ecb', new Uint8Array(16), new Uint8Array(16)),
          /^mode /,
        ],
      ];
      for (const [name, fn, message] of cases) {
        it(name, () => {
          expect(fn).toThrow(RangeError);
          expect(fn).toThrow(message);
        });
      }
      it('non-Uint8Array key is a TypeError', () => {
        expect(() =>
          provider.encrypt('aes', 'ecb', 'k' as unknown as Uint8Array, new Uint8Array(16)),
        ).toThrow(TypeError);
      });
    });

    describe('CMAC (SP 800-38B Appendix D)', () => {
      const message = hex(sp80038b.message);
      for (const v of sp80038b.vectors) {
        it(v.name, () => {
          expect(toHex(cmac(provider, v.alg, hex(v.key), message.subarray(0, v.mlen)))).toBe(h(v.tag));
        });
      }
    });

    describe('AES-CMAC (RFC 4493 section 4)', () => {
      it('subkey generation: L = AES-128(K, 0^128)', () => {
        expect(toHex(provider.encrypt('aes', 'ecb', hex(rfc4493.key), new Uint8Array(16)))).toBe(
          h(rfc4493.subkeys.l),
        );
      });
      for (const v of rfc4493.vectors) {
        it(v.name, () => {
          expect(toHex(cmac(provider, 'aes', hex(rfc4493.key), hex(v.message)))).toBe(h(v.tag));
        });
      }
    });

    describe('ISO/IEC 9797-1 MAC algorithms 1 and 3', () => {
      for (const v of iso9797.vectors) {
        it(v.name, () => {
          const key = hex(v.key);
          const mac =
            v.algorithm === '9797-1-m1'
              ? macIso9797Alg1(provider, 'tdes', key, hex(v.data), v.padding)
              : macIso9797Alg3(provider, key, hex(v.data), v.padding);
          const expected = h(v.mac);
          expect(mac.length).toBe(8);
          expect(v.truncated ? toHex(mac).slice(0, expected.length) : toHex(mac)).toBe(expected);
        });
      }
      it('the derived MAC-1 vector follows from the SP 800-67 ECB example', () => {
        const ecb = sp80067.vectors[0]!;
        const p = hex(ecb.plaintext);
        const c = hex(ecb.ciphertext);
        const data = Uint8Array.from(p);
        for (let i = 8; i < 24; i++) data[i]! ^= c[i - 8]!;
        const derived = iso9797.vectors.find((v) => v.name.includes('derived'))!;
        expect(toHex(data)).toBe(h(derived.data));
        expect(toHex(macIso9797Alg1(provider, 'tdes', hex(ecb.key), data, 1))).toBe(toHex(c.subarray(16)));
      });
      it('MAC algorithm 3 equals MAC algorithm 1 with single DES K1 followed by D(K2), E(K1)', () => {
        const key = hex('0123456789abcdeffedcba9876543210');
        const k1k1 = new Uint8Array(16);
        k1k1.set(key.subarray(0, 8), 0);
        k1k1.set(key.subarray(0, 8), 8);
        const k2k2 = new Uint8Array(16);
        k2k2.set(key.subarray(8), 0);
        k2k2.set(key.subarray(8), 8);
        for (const len of [0, 1, 7, 8, 9, 24, 33]) {
          const data = new Uint8Array(len).map((_, i) => (i * 37 + 11) & 0xff);
          const m1 = macIso9797Alg1(provider, 'tdes', k1k1, data, 2);
          const expected = provider.encrypt('tdes', 'ecb', k1k1, provider.decrypt('tdes', 'ecb', k2k2, m1));
          expect(toHex(macIso9797Alg3(provider, key, data, 2))).toBe(toHex(expected));
        }
      });
      it('MAC algorithm 1 with AES is the last block of AES-CBC over the padded data', () => {
        const key = hex('2b7e151628aed2a6abf7158809cf4f3c');
        const data = hex('6bc1bee22e409f96e93d7e117393172aae2d8a57');
        const padded = hex('6bc1bee22e409f96e93d7e117393172aae2d8a57800000000000000000000000');
        const chain = provider.encrypt('aes', 'cbc', key, padded);
        expect(toHex(macIso9797Alg1(provider, 'aes', key, data, 2))).toBe(toHex(chain.subarray(16)));
      });
      it('padding 1 and 2 differ, and MACs depend on every byte', () => {
        const key = hex('0123456789abcdeffedcba9876543210');
        const data = hex('4e6f77206973207468652074696d6520666f7220616c6c20');
        expect(toHex(macIso9797Alg1(provider, 'tdes', key, data, 1))).not.toBe(
          toHex(macIso9797Alg1(provider, 'tdes', key, data, 2)),
        );
        const flipped = Uint8Array.from(data);
        flipped[0]! ^= 1;
        expect(toHex(macIso9797Alg3(provider, key, data, 2))).not.toBe(
          toHex(macIso9797Alg3(provider, key, flipped, 2)),
        );
      });
      it('MAC functions reject bad keys and paddings with RangeError naming the parameter', () => {
        expect(() => macIso9797Alg1(provider, 'tdes', new Uint8Array(8), new Uint8Array(1), 1)).toThrow(
          /^key /,
        );
        expect(() => macIso9797Alg3(provider, new Uint8Array(24), new Uint8Array(1), 1)).toThrow(/^key16 /);
        expect(() => macIso9797Alg1(provider, 'tdes', new Uint8Array(16), new Uint8Array(1), 3 as 1)).toThrow(
          /^padding /,
        );
        expect(() => cmac(provider, 'aes', new Uint8Array(24), new Uint8Array(1))).toThrow(/^key /);
        expect(() => cmac(provider, 'aes', new Uint8Array(24), new Uint8Array(1))).toThrow(RangeError);
      });
    });
  });
}
