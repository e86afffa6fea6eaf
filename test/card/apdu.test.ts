import { describe, expect, it } from 'vitest';
import { CommandApdu, type CommandApduInit } from '../../card/iso7816/CommandApdu.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { fromHex, toHex } from '../../card/util/hex.js';

/** Deterministic data of length n (so expected encodings can be written out independently). */
function pattern(n: number): Uint8Array {
  const d = new Uint8Array(n);
  for (let i = 0; i < n; i++) d[i] = (i * 7 + 3) & 0xff;
  return d;
}

interface Row {
  name: string;
  init: CommandApduInit;
  /** Expected case. */
  c: string;
  /**
   * Expected length fields, written by hand ('' = absent). In the extended form the leading 00
   * belongs to the first length field present (Lc, or Le in case 2E).
   */
  lc: string;
  le: string;
}

const H = { cla: 0x00, ins: 0xa4, p1: 0x04, p2: 0x00 };
const HEADER = '00A40400';

const rows: Row[] = [
  { name: 'case 1', init: { ...H }, c: '1', lc: '', le: '' },
  { name: 'case 1: extended flag ignored (no body)', init: { ...H, extended: true }, c: '1', lc: '', le: '' },
  { name: 'case 2S: Ne=1', init: { ...H, ne: 1 }, c: '2S', lc: '', le: '01' },
  { name: 'case 2S: Ne=255', init: { ...H, ne: 255 }, c: '2S', lc: '', le: 'FF' },
  { name: 'case 2S: Ne=256', init: { ...H, ne: 256 }, c: '2S', lc: '', le: '00' },
  { name: 'case 2E: Ne=1', init: { ...H, ne: 1, extended: true }, c: '2E', lc: '', le: '000001' },
  { name: 'case 2E: Ne=255', init: { ...H, ne: 255, extended: true }, c: '2E', lc: '', le: '0000FF' },
  { name: 'case 2E: Ne=256', init: { ...H, ne: 256, extended: true }, c: '2E', lc: '', le: '000100' },
  { name: 'case 2E: Ne=257', init: { ...H, ne: 257 }, c: '2E', lc: '', le: '000101' },
  { name: 'case 2E: Ne=65535', init: { ...H, ne: 65535 }, c: '2E', lc: '', le: '00FFFF' },
  { name: 'case 2E: Ne=65536', init: { ...H, ne: 65536 }, c: '2E', lc: '', le: '000000' },
  { name: 'case 3S: Lc=1', init: { ...H, data: pattern(1) }, c: '3S', lc: '01', le: '' },
  { name: 'case 3S: Lc=255', init: { ...H, data: pattern(255) }, c: '3S', lc: 'FF', le: '' },
  { name: 'case 3E: Lc=1', init: { ...H, data: pattern(1), extended: true }, c: '3E', lc: '000001', le: '' },
  {
    name: 'case 3E: Lc=255',
    init: { ...H, data: pattern(255), extended: true },
    c: '3E',
    lc: '0000FF',
    le: '',
  },
  { name: 'case 3E: Lc=256', init: { ...H, data: pattern(256) }, c: '3E', lc: '000100', le: '' },
  { name: 'case 3E: Lc=65535', init: { ...H, data: pattern(65535) }, c: '3E', lc: '00FFFF', le: '' },
  { name: 'case 4S: Lc=1 Ne=1', init: { ...H, data: pattern(1), ne: 1 }, c: '4S', lc: '01', le: '01' },
  { name: 'case 4S: Lc=1 Ne=256', init: { ...H, data: pattern(1), ne: 256 }, c: '4S', lc: '01', le: '00' },
  {
    name: 'case 4S: Lc=255 Ne=255',
    init: { ...H, data: pattern(255), ne: 255 },
    c: '4S',
    lc: 'FF',
    le: 'FF',
  },
  {
    name: 'case 4S: Lc=255 Ne=256',
    init: { ...H, data: pattern(255), ne: 256 },
    c: '4S',
    lc: 'FF',
    le: '00',
  },
  {
    name: 'case 4E: Lc=5 Ne=1 (extended kept)',
    init: { ...H, data: pattern(5), ne: 1, extended: true },
    c: '4E',
    lc: '000005',
    le: '0001',
  },
  {
    name: 'case 4E: Lc=255 Ne=257',
    init: { ...H, data: pattern(255), ne: 257 },
    c: '4E',
    lc: '0000FF',
    le: '0101',
  },
  {
    name: 'case 4E: Lc=256 Ne=1',
    init: { ...H, data: pattern(256), ne: 1 },
    c: '4E',
    lc: '000100',
    le: '0001',
  },
  {
    name: 'case 4E: Lc=256 Ne=256',
    init: { ...H, data: pattern(256), ne: 256 },
    c: '4E',
    lc: '000100',
    le: '0100',
  },
  {
    name: 'case 4E: Lc=1 Ne=65536',
    init: { ...H, data: pattern(1), ne: 65536 },
    c: '4E',
    lc: '000001',
    le: '0000',
  },
  {
    name: 'case 4E: Lc=65535 Ne=65535',
    init: { ...H, data: pattern(65535), ne: 65535 },
    c: '4E',
    lc: '00FFFF',
    le: 'FFFF',
  },
  {
    name: 'case 4E: Lc=65535 Ne=65536',
    init: { ...H, data: pattern(65535), ne: 65536 },
    c: '4E',
    lc: '00FFFF',
    le: '0000',
  },
];

function sameApdu(a: CommandApdu, b: CommandApdu): void {
  expect([a.cla, a.ins, a.p1, a.p2, a.nc, a.ne, a.extended, a.case]).toEqual([
    b.cla,
    b.ins,
    b.p1,
    b.p2,
    b.nc,
    b.ne,
    b.extended,
    b.case,
  ]);
  expect(toHex(a.dataView())).toBe(toHex(b.dataView()));
}

describe('CommandApdu: the seven cases at their boundaries (ISO/IEC 7816-3 §12.1)', () => {
  for (const r of rows) {
    it(r.name, () => {
      const a = new CommandApdu(r.init);
      expect(a.case).toBe(r.c);
      const nc = r.init.data?.length ?? 0;
      expect(a.nc).toBe(nc);
      expect(a.ne).toBe(r.init.ne);
      // Expected bytes assembled from the hand-written length fields.
      const expected = HEADER + r.lc + toHex(pattern(nc)) + r.le;
      const enc = a.encode();
      expect(toHex(enc)).toBe(expected);
      // decode(encode(x)) == x
      const back = CommandApdu.decode(enc);
      sameApdu(back, a);
      // encode(decode(b)) byte-exact
      expect(toHex(back.encode())).toBe(expected);
    });
  }

  it('case 4E: Lc=5 Ne=1 decoded from the extended form stays extended', () => {
    const b = fromHex('80E2000000000511223344550001');
    const a = CommandApdu.decode(b);
    expect(a.case).toBe('4E');
    expect(a.extended).toBe(true);
    expect(a.ne).toBe(1);
    expect(toHex(a.encode())).toBe('80E2000000000511223344550001');
  });

  it('case 2E vs 2S: Ne=256 keeps its form both ways', () => {
    expect(toHex(CommandApdu.decode(fromHex('00B0000000')).encode())).toBe('00B0000000');
    expect(CommandApdu.decode(fromHex('00B0000000')).ne).toBe(256);
    expect(toHex(CommandApdu.decode(fromHex('00B00000000100')).encode())).toBe('00B00000000100');
    expect(CommandApdu.decode(fromHex('00B00000000100')).case).toBe('2E');
  });

  it('case 2E: Le=0000 means Ne=65536, case 2S: Le=00 means Ne=256', () => {
    expect(CommandApdu.decode(fromHex('00B00000000000')).ne).toBe(65536);
    expect(CommandApdu.decode(fromHex('00B0000000')).ne).toBe(256);
  });

  it('case 3S: Lc=256 cannot be short — the constructor switches to extended', () => {
    const a = new CommandApdu({ ...H, data: pattern(256), extended: false });
    expect(a.case).toBe('3E');
  });
});

describe('CommandApdu: malformed length combinations', () => {
  const bad: [string, string, number][] = [
    ['empty', '', 0],
    ['1 byte', '00', 1],
    ['3 bytes', '00A404', 3],
    ['short Lc=2 with 1 data byte', '00A4040002AA', 6],
    ['short Lc=255 with no data', '00A40400FF' + '00', 6],
    ['short Lc=1 with 2 trailing bytes', '00A4040001AA0000', 7],
    ['short Lc=1 with 3 trailing bytes', '00A4040001AA000000', 7],
    ['extended marker with 1 length byte', '00A404000000', 6],
    ['extended Lc=0000 followed by data', '00A40400000000AA', 5],
    ['extended Lc=0000 followed by 2 bytes', '00A404000000000000', 5],
    ['extended Lc=2 with 1 data byte', '00A4040000000200', 8],
    ['extended Lc=1 with a 1-byte Le', '00A404000000010100', 9],
    ['extended Lc=1 with 3 trailing bytes', '00A40400000001010000FF', 10],
    ['extended Lc=256 truncated', '00A40400000100' + '00'.repeat(255), 262],
  ];
  for (const [name, hex, offset] of bad) {
    it(`${name} → MalformedDataError at ${offset}`, () => {
      const b = fromHex(hex);
      let err: unknown;
      try {
        CommandApdu.decode(b);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(MalformedDataError);
      const m = err as MalformedDataError;
      expect(m.offset).toBe(offset);
      expect(m.kind).toBe('apdu');
      expect(m.raw).toBe(b);
    });
  }

  it('extended Lc=65535 with one data byte missing → offset = length', () => {
    const b = new Uint8Array(7 + 65534);
    b.set([0x00, 0xd6, 0x00, 0x00, 0x00, 0xff, 0xff]);
    expect(() => CommandApdu.decode(b)).toThrow(MalformedDataError);
    try {
      CommandApdu.decode(b);
    } catch (e) {
      expect((e as MalformedDataError).offset).toBe(b.length);
    }
  });

  it('rejects a non-Uint8Array with TypeError', () => {
    expect(() => CommandApdu.decode([0, 0, 0, 0] as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe('CommandApdu: constructor checks and immutability', () => {
  it('rejects out-of-range fields with RangeError naming them', () => {
    expect(() => new CommandApdu({ ...H, cla: 256 })).toThrow(/cla/);
    expect(() => new CommandApdu({ ...H, p2: -1 })).toThrow(/p2/);
    expect(() => new CommandApdu({ ...H, ne: 0 })).toThrow(/ne/);
    expect(() => new CommandApdu({ ...H, ne: 65537 })).toThrow(/ne/);
    expect(() => new CommandApdu({ ...H, ne: 1.5 })).toThrow(RangeError);
    expect(() => new CommandApdu({ ...H, data: new Uint8Array(65536) })).toThrow(/data/);
  });

  it('decode copies: mutating the input later changes nothing', () => {
    const b = fromHex('00A4040003A1A2A300');
    const a = CommandApdu.decode(b);
    b[5] = 0xff;
    expect(toHex(a.dataView())).toBe('A1A2A3');
  });

  it('the data getter hands out a copy', () => {
    const a = CommandApdu.decode(fromHex('00A4040003A1A2A3'));
    const d = a.data;
    d[0] = 0;
    expect(toHex(a.data)).toBe('A1A2A3');
  });

  it('constructor copies its data; Buffer input becomes a plain Uint8Array', () => {
    const buf = Buffer.from([1, 2, 3]);
    const a = new CommandApdu({ ...H, data: buf });
    buf[0] = 9;
    expect(toHex(a.data)).toBe('010203');
    expect(Buffer.isBuffer(a.dataView())).toBe(false);
    const b = CommandApdu.decode(Buffer.from('00A4040003010203', 'hex'));
    expect(Buffer.isBuffer(b.dataView())).toBe(false);
  });
});

describe('ResponseApdu (ISO/IEC 7816-4 §5.1)', () => {
  it('decodes and re-encodes SW only and data + SW', () => {
    const r = ResponseApdu.decode(fromHex('9000'));
    expect([r.sw, r.sw1, r.sw2, r.ok, r.data.length]).toEqual([0x9000, 0x90, 0x00, true, 0]);
    const r2 = ResponseApdu.decode(fromHex('6F0A84085041592E535953DD6A82'));
    expect(r2.sw).toBe(0x6a82);
    expect(r2.ok).toBe(false);
    expect(toHex(r2.data)).toBe('6F0A84085041592E535953DD');
    expect(toHex(r2.encode())).toBe('6F0A84085041592E535953DD6A82');
  });

  it('accepts 65536 data bytes and rejects 65537 at offset 65536', () => {
    const ok = new Uint8Array(65538);
    ok[65536] = 0x90;
    expect(ResponseApdu.decode(ok).dataView().length).toBe(65536);
    const tooLong = new Uint8Array(65539);
    try {
      ResponseApdu.decode(tooLong);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(MalformedDataError);
      expect((e as MalformedDataError).offset).toBe(65536);
    }
  });

  it('rejects fewer than 2 bytes with the offset at the end', () => {
    for (const hex of ['', '90']) {
      try {
        ResponseApdu.decode(fromHex(hex));
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(MalformedDataError);
        expect((e as MalformedDataError).offset).toBe(hex.length / 2);
      }
    }
  });

  it('copies on decode and on construction', () => {
    const b = fromHex('01029000');
    const r = ResponseApdu.decode(b);
    b[0] = 0xee;
    expect(toHex(r.data)).toBe('0102');
    const d = new Uint8Array([5]);
    const r2 = ResponseApdu.of(0x9000, d);
    d[0] = 6;
    expect(toHex(r2.encode())).toBe('059000');
  });

  it('constructor rejects bad SW and oversize data', () => {
    expect(() => ResponseApdu.of(0x10000)).toThrow(RangeError);
    expect(() => ResponseApdu.of(-1)).toThrow(RangeError);
    expect(() => new ResponseApdu(new Uint8Array(65537), 0x9000)).toThrow(RangeError);
  });
});
