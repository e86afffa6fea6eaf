// Provider-independent parts of mac.ts: padding, unpadding, constant-time comparison.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PaddingError, pad, unpadMethod2, verifyMac } from '../../card/crypto/index.js';
import { toHex } from '../../card/util/hex.js';
import { hex } from './vectors.js';

describe('ISO/IEC 9797-1 padding', () => {
  it('method 1 pads with zeros to a positive multiple of the block size', () => {
    expect(toHex(pad(new Uint8Array(0), 1, 8))).toBe('0000000000000000');
    expect(toHex(pad(hex('01'), 1, 8))).toBe('0100000000000000');
    expect(toHex(pad(hex('0102030405060708'), 1, 8))).toBe('0102030405060708');
    expect(pad(new Uint8Array(17), 1, 16).length).toBe(32);
  });
  it('method 2 always appends 80 and then zeros', () => {
    expect(toHex(pad(new Uint8Array(0), 2, 8))).toBe('8000000000000000');
    expect(toHex(pad(hex('01020304050607'), 2, 8))).toBe('0102030405060780');
    expect(toHex(pad(hex('0102030405060708'), 2, 8))).toBe('01020304050607088000000000000000');
    expect(pad(new Uint8Array(16), 2, 16).length).toBe(32);
  });
  it('unpadMethod2 inverts pad(·, 2, n) for any data', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70 }), fc.constantFrom(8, 16), (data, bs) => {
        expect(toHex(unpadMethod2(pad(data, 2, bs)))).toBe(toHex(data));
      }),
    );
  });
  it('unpadMethod2 throws PaddingError with the offset', () => {
    const cases: [string, number][] = [
      ['', 0],
      ['0000000000000000', 0],
      ['0102030405060701', 7],
      ['0102038001000000', 4],
    ];
    for (const [text, offset] of cases) {
      try {
        unpadMethod2(hex(text));
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(PaddingError);
        expect((e as PaddingError).offset).toBe(offset);
      }
    }
  });
  it('bad method or block size is a RangeError naming it', () => {
    expect(() => pad(new Uint8Array(1), 3 as 1, 8)).toThrow(/^method /);
    expect(() => pad(new Uint8Array(1), 1, 12)).toThrow(/^blockSize /);
    expect(() => pad('x' as unknown as Uint8Array, 1, 8)).toThrow(TypeError);
  });
});

describe('verifyMac', () => {
  it('equal, different, and different-length MACs', () => {
    expect(verifyMac(hex('0102030405060708'), hex('0102030405060708'))).toBe(true);
    expect(verifyMac(hex('0102030405060708'), hex('0102030405060709'))).toBe(false);
    expect(verifyMac(hex('8102030405060708'), hex('0102030405060708'))).toBe(false);
    expect(verifyMac(hex('01020304'), hex('0102030405060708'))).toBe(false);
    expect(verifyMac(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });
});
