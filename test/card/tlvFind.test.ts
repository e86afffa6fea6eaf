import { describe, expect, it } from 'vitest';
import { findTlv, TlvNode } from '../../card/iso7816/tlv.js';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { fromHex, toHex } from '../../card/util/hex.js';

/** The MalformedDataError `f` throws (fails the test when it throws nothing or something else). */
function malformed(f: () => unknown): MalformedDataError {
  try {
    f();
  } catch (e) {
    if (e instanceof MalformedDataError) return e;
    throw e;
  }
  throw new Error('no MalformedDataError');
}

// A purse FCI as the applet answers SELECT:
// 6F 14 | 84 03 F04D50 | A5 0D | 5A 02 4D50 | 5F24 03 301231 | C2 01 01
const FCI = fromHex('6F14 8403F04D50 A50D 5A024D50 5F2403301231 C20101');

describe('findTlv (card/iso7816/tlv.ts): the one find-a-tag walker', () => {
  it('finds a primitive at any depth, one- and two-byte tags', () => {
    expect(toHex(findTlv(FCI, 0x84)!)).toBe('F04D50');
    expect(toHex(findTlv(FCI, 0x5a)!)).toBe('4D50');
    expect(toHex(findTlv(FCI, 0x5f24)!)).toBe('301231');
    expect(toHex(findTlv(FCI, 0xc2)!)).toBe('01');
  });

  it('a constructed object gives its encoded contents', () => {
    expect(toHex(findTlv(FCI, 0xa5)!)).toBe('5A024D505F2403301231C20101');
    expect(toHex(findTlv(FCI, 0x6f)!)).toBe(toHex(FCI.subarray(2)));
  });

  it('undefined for a tag that is not there, and for no data', () => {
    expect(findTlv(FCI, 0xc4)).toBeUndefined();
    expect(findTlv(new Uint8Array(0), 0x5a)).toBeUndefined();
  });

  it('hands out a copy: changing it changes nothing in the input', () => {
    const v = findTlv(FCI, 0x5a)!;
    v[0] = 0;
    expect(toHex(findTlv(FCI, 0x5a)!)).toBe('4D50');
  });

  it('depth-first in encoding order: a nested hit before a later top-level one', () => {
    const seq = fromHex('A1 03 C4 01 01  C4 01 02');
    expect(toHex(findTlv(seq, 0xc4)!)).toBe('01');
    expect(toHex(findTlv(fromHex('C4 01 02  A1 03 C4 01 01'), 0xc4)!)).toBe('02');
  });

  it('walks a sequence of top-level objects with 00/FF padding between them', () => {
    expect(toHex(findTlv(fromHex('00 C4 01 01 FF FF C5 02 0102 00'), 0xc5)!)).toBe('0102');
  });

  it('reads long-form lengths (a 200-byte value behind 81 C8)', () => {
    const value = new Uint8Array(200).fill(0x5a);
    const bytes = TlvNode.constructed(0x6f, [TlvNode.primitive(0x53, value)]).encode();
    expect(toHex(bytes.subarray(0, 5))).toBe('6F81CB5381');
    expect(findTlv(bytes, 0x53)).toEqual(value);
  });

  it.each([
    ['a length past the end', '6F 05 84 03 F0', 1],
    ['a nested length past its template', '6F 03 84 05 F04D50', 3],
    ['a two-byte tag cut after its first byte', '5F', 1],
    ['no length byte', '84', 1],
    ['the indefinite length 80', '6F 80 84 00 00 00', 1],
  ])('refuses %s with a typed error and its offset', (_, hex, offset) => {
    const e = malformed(() => findTlv(fromHex(hex), 0x84));
    expect(e.kind).toBe('tlv');
    expect(e.offset).toBe(offset);
  });

  it('keeps to the depth limit', () => {
    let node = TlvNode.primitive(0x80, Uint8Array.of(1));
    for (let i = 0; i < 4; i++) node = TlvNode.constructed(0xa0, [node]);
    const bytes = node.encode();
    // Four constructed levels: depth 4 is allowed, a limit of 3 is exceeded.
    expect(findTlv(bytes, 0x80, { maxDepth: 4 })).toEqual(Uint8Array.of(1));
    expect(malformed(() => findTlv(bytes, 0x80, { maxDepth: 3 })).kind).toBe('tlv');
  });
});
