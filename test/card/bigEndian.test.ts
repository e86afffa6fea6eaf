import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  be16,
  be32,
  be64,
  put16,
  put32,
  put64,
  u16,
  u32,
  u64,
  U16_MAX,
  U32_MAX,
  U64_MAX,
} from '../../card/util/bigEndian.js';
import { fromHex, toHex } from '../../card/util/hex.js';

describe('big-endian reads (card/util/bigEndian.ts)', () => {
  it.each([
    ['0000', 0],
    ['0102', 0x0102],
    ['FF00', 0xff00],
    ['FFFF', U16_MAX],
  ])('u16 %s = %i', (hex, v) => {
    expect(u16(fromHex(hex))).toBe(v);
  });

  it.each([
    ['00000000', 0],
    ['01020304', 0x01020304],
    ['7FFFFFFF', 0x7fffffff],
    ['80000000', 0x80000000],
    ['FFFFFFFF', U32_MAX],
  ])('u32 %s = %i (never negative)', (hex, v) => {
    expect(u32(fromHex(hex))).toBe(v);
  });

  it('u64 reads all 64 bits as a bigint', () => {
    expect(u64(fromHex('0000000000000000'))).toBe(0n);
    expect(u64(fromHex('0102030405060708'))).toBe(0x0102030405060708n);
    expect(u64(fromHex('8000000000000001'))).toBe(0x8000000000000001n);
    expect(u64(fromHex('FFFFFFFFFFFFFFFF'))).toBe(U64_MAX);
  });

  it('reads at an offset, the last field that fits included', () => {
    const b = fromHex('AA 1234 56789ABC');
    expect(u16(b, 1)).toBe(0x1234);
    expect(u32(b, 3)).toBe(0x56789abc);
    expect(u16(b, 5)).toBe(0x9abc);
  });

  it.each([
    ['u16 of 1 byte', () => u16(new Uint8Array(1))],
    ['u16 one past the end', () => u16(new Uint8Array(4), 3)],
    ['u32 one past the end', () => u32(new Uint8Array(5), 2)],
    ['u64 of 7 bytes', () => u64(new Uint8Array(7))],
    ['a negative offset', () => u16(new Uint8Array(4), -1)],
    ['a fractional offset', () => u32(new Uint8Array(8), 0.5)],
  ])('refuses to invent bytes: %s is a RangeError naming `at`', (_, f) => {
    expect(f).toThrow(RangeError);
    expect(f).toThrow(/^at must leave/);
  });

  it('refuses something that is not a Uint8Array', () => {
    expect(() => u16([1, 2] as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe('big-endian writes', () => {
  it('writes the maximum values and the layout drawn in the module comment', () => {
    expect(toHex(be16(U16_MAX))).toBe('FFFF');
    expect(toHex(be32(0x01020304))).toBe('01020304');
    expect(toHex(be32(U32_MAX))).toBe('FFFFFFFF');
    expect(toHex(be64(0x0102030405060708n))).toBe('0102030405060708');
    expect(toHex(be64(U64_MAX))).toBe('FFFFFFFFFFFFFFFF');
    expect(toHex(be16(0))).toBe('0000');
  });

  it.each([
    ['be16 one past the maximum', () => be16(U16_MAX + 1)],
    ['be32 one past the maximum', () => be32(U32_MAX + 1)],
    ['be16 of -1', () => be16(-1)],
    ['be32 of 1.5', () => be32(1.5)],
    ['be32 of NaN', () => be32(Number.NaN)],
    ['be64 one past the maximum', () => be64(U64_MAX + 1n)],
    ['be64 of -1', () => be64(-1n)],
  ])('%s is a RangeError naming `v`', (_, f) => {
    expect(f).toThrow(RangeError);
    expect(f).toThrow(/^v must be/);
  });

  it('be64 of a number is a TypeError (no silent precision loss)', () => {
    expect(() => be64(1 as unknown as bigint)).toThrow(TypeError);
  });

  it('put16/put32/put64 write in place at an offset and refuse a field that does not fit', () => {
    const b = new Uint8Array(8);
    put16(b, 0, 0xbeef);
    put32(b, 2, 0xdeadbeef);
    expect(toHex(b)).toBe('BEEFDEADBEEF0000');
    put64(b, 0, 1n);
    expect(toHex(b)).toBe('0000000000000001');
    const before = toHex(b);
    expect(() => put16(b, 7, 1)).toThrow(RangeError);
    expect(() => put32(b, 5, 1)).toThrow(RangeError);
    expect(() => put64(b, 1, 1n)).toThrow(RangeError);
    expect(toHex(b)).toBe(before);
  });

  it('round-trips every u16, sampled u32 and u64 values', () => {
    for (let v = 0; v <= U16_MAX; v++) if (u16(be16(v)) !== v) throw new Error(`u16 ${v}`);
    fc.assert(fc.property(fc.integer({ min: 0, max: U32_MAX }), (v) => u32(be32(v)) === v));
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: U64_MAX }), (v) => u64(be64(v)) === v));
  });
});
