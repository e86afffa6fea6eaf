import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkTag, TlvNode } from '../../card/iso7816/tlv.js';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { fromHex, toHex } from '../../card/util/hex.js';

interface Sample {
  name: string;
  hex: string;
  tags: string[];
}
const samples = (
  JSON.parse(readFileSync(new URL('../vectors/tlv/samples.json', import.meta.url), 'utf8')) as {
    samples: Sample[];
  }
).samples;

function tagsOf(n: TlvNode): string[] {
  return [n.tagHex, ...n.children.flatMap(tagsOf)];
}

function errorOf(f: () => unknown): MalformedDataError {
  try {
    f();
  } catch (e) {
    if (e instanceof MalformedDataError) return e;
    throw e;
  }
  throw new Error('expected a MalformedDataError');
}

describe('BER-TLV samples (test/vectors/tlv/samples.json)', () => {
  for (const s of samples) {
    it(s.name, () => {
      const n = TlvNode.decode(fromHex(s.hex));
      expect(tagsOf(n)).toEqual(s.tags);
      expect(toHex(n.encode())).toBe(s.hex);
    });
  }
  it('EMV PSE FCI: path helpers', () => {
    const fci = TlvNode.decode(fromHex(samples[0]!.hex));
    expect(new TextDecoder().decode(fci.find(0x84)!.value)).toBe('1PAY.SYS.DDF01');
    expect(fci.at(0xa5, 0x88)!.uint()).toBe(8);
    expect(new TextDecoder().decode(fci.search(0x5f2d)!.value)).toBe('en');
    expect(fci.at(0xa5, 0x99)).toBeUndefined();
    expect(fci.search(0x6f)).toBeUndefined();
    expect(fci.find(0xa5)!.constructed).toBe(true);
    expect(fci.find(0xa5)!.offset).toBe(18);
    expect(fci.findAll(0x84)).toHaveLength(1);
  });
});

describe('BER-TLV tags (ISO/IEC 7816-4 §5.2.2.1)', () => {
  it('one, two and three byte tags round-trip', () => {
    for (const hex of ['5A0112', '9F3801AA', '5F2D02656E', 'DF810101FF', 'BF0C03500100', '7F490100']) {
      const n = TlvNode.decode(fromHex(hex));
      expect(toHex(n.encode())).toBe(hex);
    }
    expect(TlvNode.decode(fromHex('DF810101FF')).tag).toBe(0xdf8101);
    expect(TlvNode.decode(fromHex('9F3801AA')).tagClass).toBe('context');
    expect(TlvNode.decode(fromHex('5F2D00')).tagClass).toBe('application');
    expect(TlvNode.decode(fromHex('0101AA')).tagClass).toBe('universal');
    expect(TlvNode.decode(fromHex('C100')).tagClass).toBe('private');
  });

  it('rejects bad subsequent tag bytes at their offset', () => {
    expect(errorOf(() => TlvNode.decode(fromHex('9F1E0100'), { strictTags: true })).offset).toBe(1); // 00..1E
    expect(TlvNode.decode(fromHex('9F1E0100')).tag).toBe(0x9f1e); // lenient default (EMV BF0C)
    expect(errorOf(() => TlvNode.decode(fromHex('9F000100'))).offset).toBe(1); // 00 never
    expect(errorOf(() => TlvNode.decode(fromHex('9F800100'))).offset).toBe(1); // 80 invalid
    expect(errorOf(() => TlvNode.decode(fromHex('DF81818101'))).offset).toBe(2); // 4-byte tag
    expect(errorOf(() => TlvNode.decode(fromHex('9F'))).offset).toBe(1);
    expect(errorOf(() => TlvNode.decode(fromHex('DF81'))).offset).toBe(2);
    expect(errorOf(() => TlvNode.decode(fromHex('5A'))).offset).toBe(1); // no length
  });

  it('checkTag enforces the same rules for builders', () => {
    for (const ok of [0x5a, 0x9f38, 0x5f2d, 0xdf8101, 0x7f49]) expect(() => checkTag(ok)).not.toThrow();
    for (const bad of [0, 0xff, 0x1f, 0x9f00, 0x9f80, 0x5a01, 0xdf7f01, 0xdf8180, 0x1000000, 1.5, 0xff20])
      expect(() => checkTag(bad), bad.toString(16)).toThrow(RangeError);
    expect(() => checkTag(0xbf0c)).not.toThrow();
    expect(() => checkTag(0xbf0c, true)).toThrow(RangeError);
  });
});

describe('BER-TLV lengths', () => {
  it('reads every definite form and keeps non-minimal forms', () => {
    const v = 'AB'.repeat(200);
    const cases: [string, number, number][] = [
      ['5A00', 0, 1],
      ['5A7F' + 'AB'.repeat(127), 127, 1],
      ['5A8180' + 'AB'.repeat(128), 128, 2],
      ['5A81C8' + v, 200, 2],
      ['5A8200C8' + v, 200, 3],
      ['5A830000C8' + v, 200, 4],
      ['5A84000000C8' + v, 200, 5],
      ['5A810105', 1, 2],
      ['5A8400000000', 0, 5],
    ];
    for (const [hex, len, size] of cases) {
      const n = TlvNode.decode(fromHex(hex));
      expect([n.length, n.lengthSize]).toEqual([len, size]);
      expect(toHex(n.encode())).toBe(hex);
    }
    const big = new Uint8Array(5 + 0x10000);
    big.set([0x53, 0x83, 0x01, 0x00, 0x00]);
    const bn = TlvNode.decode(big);
    expect([bn.length, bn.lengthSize]).toEqual([0x10000, 4]);
    expect(toHex(bn.encode())).toBe(toHex(big));
  });

  it('rejects indefinite, 85+, truncated and overlong lengths', () => {
    expect(errorOf(() => TlvNode.decode(fromHex('62808201380000'))).offset).toBe(1);
    expect(errorOf(() => TlvNode.decode(fromHex('5A850000000001AA'))).offset).toBe(1);
    expect(errorOf(() => TlvNode.decode(fromHex('5AFF'))).offset).toBe(1);
    expect(errorOf(() => TlvNode.decode(fromHex('5A8201'))).offset).toBe(3); // length bytes missing
    expect(errorOf(() => TlvNode.decode(fromHex('5A03AABB'))).offset).toBe(1); // value short
    expect(errorOf(() => TlvNode.decode(fromHex('5A84FFFFFFFF00'))).offset).toBe(1);
    // A child may not run past its parent's end even when the input goes on.
    expect(errorOf(() => TlvNode.decode(fromHex('62035A03AABBCC'))).offset).toBe(3);
  });

  it('rejects input over maxLength and bad limits', () => {
    const e = errorOf(() => TlvNode.decode(fromHex('5A03AABBCC'), { maxLength: 4 }));
    expect(e.offset).toBe(4);
    expect(() => TlvNode.decode(fromHex('5A00'), { maxDepth: 0 })).toThrow(RangeError);
    expect(() => TlvNode.decode(fromHex('5A00'), { maxDepth: 100000 })).toThrow(RangeError);
  });
});

describe('BER-TLV structure', () => {
  it('tolerates and remembers 00/FF padding before, between and after objects', () => {
    const hex = '00FF5A01AA0000FF9F380100FFFF';
    const list = TlvNode.decodeAll(fromHex(hex));
    expect(list.nodes.map((n) => n.tagHex)).toEqual(['5A', '9F38']);
    expect(toHex(list.nodes[1]!.paddingBefore)).toBe('0000FF');
    expect(toHex(list.trailingPadding)).toBe('FFFF');
    expect(toHex(TlvNode.encodeAll(list))).toBe(hex);
  });

  it('remembers padding inside constructed objects', () => {
    const padded = '620BFF820138000083023F00FF';
    const m = TlvNode.decode(fromHex(padded));
    expect(m.children.map((c) => c.tagHex)).toEqual(['82', '83']);
    expect(toHex(m.children[0]!.paddingBefore)).toBe('FF');
    expect(toHex(m.children[1]!.paddingBefore)).toBe('0000');
    expect(toHex(m.paddingAfter)).toBe('FF');
    expect(toHex(m.encode())).toBe(padded);
  });

  it('single-object decode rejects padding and trailing bytes', () => {
    expect(errorOf(() => TlvNode.decode(fromHex('005A00'))).offset).toBe(0);
    expect(errorOf(() => TlvNode.decode(fromHex('5A0000'))).offset).toBe(2);
    expect(errorOf(() => TlvNode.decode(new Uint8Array(0))).offset).toBe(0);
  });

  it('stops deep nesting at the depth limit with the offset of the offending object', () => {
    // 20 nested 62 templates around an empty 80.
    let hex = '8000';
    for (let i = 0; i < 20; i++) hex = '62' + (hex.length / 2).toString(16).padStart(2, '0') + hex;
    const bytes = fromHex(hex);
    const e = errorOf(() => TlvNode.decode(bytes));
    expect(e.offset).toBe(16 * 2); // the 17th template starts after 16 tag+length pairs
    expect(e.reason).toMatch(/deeper than 16/);
    expect(TlvNode.decode(bytes, { maxDepth: 20 }).search(0x80)!.length).toBe(0);
    // The same with indefinite lengths stops at the first 80.
    expect(errorOf(() => TlvNode.decode(fromHex('6280'.repeat(5000)))).offset).toBe(1);
  });

  it('errors carry kind and raw input', () => {
    const b = fromHex('5A03AA');
    const e = errorOf(() => TlvNode.decode(b));
    expect(e.kind).toBe('tlv');
    expect(e.raw).toBe(b);
  });

  it('is immutable: decoding copies, value hands out copies', () => {
    const b = fromHex('6203 5A01AA'.replace(' ', ''));
    const n = TlvNode.decode(b);
    b[4] = 0xbb;
    expect(toHex(n.find(0x5a)!.value)).toBe('AA');
    n.find(0x5a)!.value[0] = 0xcc;
    expect(toHex(n.encode())).toBe('62035A01AA');
    expect(Object.isFrozen(n.children)).toBe(true);
  });
});

describe('BER-TLV builders', () => {
  it('builds with minimal lengths by default and honours lengthSize', () => {
    const p = TlvNode.primitive(0x5a, fromHex('1234'));
    expect(toHex(p.encode())).toBe('5A021234');
    expect(toHex(TlvNode.primitive(0x5a, fromHex('1234'), { lengthSize: 3 }).encode())).toBe('5A8200021234');
    const big = TlvNode.primitive(0x53, new Uint8Array(300));
    expect(toHex(big.encode().subarray(0, 4))).toBe('5382012C');
    const c = TlvNode.constructed(0x70, [p, TlvNode.primitive(0x9f38, new Uint8Array(0))]);
    expect(toHex(c.encode())).toBe('70075A0212349F3800');
    expect(toHex(c.value)).toBe('5A0212349F3800');
    expect(TlvNode.decode(c.encode()).children).toHaveLength(2);
  });

  it('rejects tag/kind mismatches and bad options', () => {
    expect(() => TlvNode.primitive(0x62, new Uint8Array(0))).toThrow(/constructed/);
    expect(() => TlvNode.constructed(0x5a, [])).toThrow(/primitive/);
    expect(() => TlvNode.primitive(0x5a, new Uint8Array(200), { lengthSize: 1 })).toThrow(/lengthSize/);
    expect(() => TlvNode.primitive(0x5a, new Uint8Array(1), { lengthSize: 6 })).toThrow(/lengthSize/);
    expect(() => TlvNode.primitive(0x5a, new Uint8Array(1), { paddingBefore: fromHex('01') })).toThrow(
      /00 and FF/,
    );
    expect(() => TlvNode.primitive(0x5a, [1] as unknown as Uint8Array)).toThrow(TypeError);
  });
});
