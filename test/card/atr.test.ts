import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Atr,
  CLOCK_3_5712_MHZ,
  type AtrDescription,
  type AtrGroupDescription,
} from '../../card/iso7816/Atr.js';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import {
  decodeHistoricalBytes,
  encodeHistoricalBytes,
  lifeCycleName,
} from '../../card/iso7816/historicalBytes.js';
import { fromHex, toHex } from '../../card/util/hex.js';

/** Parses and expects a MalformedDataError; returns it. */
function reject(hex: string): MalformedDataError {
  try {
    Atr.parse(fromHex(hex));
  } catch (e) {
    expect(e).toBeInstanceOf(MalformedDataError);
    const m = e as MalformedDataError;
    expect(m.kind).toBe('atr');
    expect(toHex(m.raw!)).toBe(toHex(fromHex(hex)));
    return m;
  }
  throw new Error(`expected ${hex} to be rejected`);
}

// Well-known ATRs, all present in test/vectors/atr-corpus.txt (pcsc-tools smartcard_list.txt).
describe('well-known ATRs, decoded field by field', () => {
  it('T=0 only, no interface bytes, DIR data reference: 3B 02 10 50', () => {
    const a = Atr.fromHex('3B 02 10 50');
    expect(a.convention).toBe('direct');
    expect(a.t0).toBe(0x02);
    expect(a.k).toBe(2);
    expect(a.groupCount).toBe(1);
    expect(a.protocols).toEqual([0]);
    expect(a.globalT15).toBe(false);
    // TA1 absent: Fd = 372, Dd = 1, f(max) = 5 MHz.
    expect([a.fiIndex, a.diIndex, a.fi, a.di, a.fmax]).toEqual([1, 1, 372, 1, 5e6]);
    expect(a.baudRate(CLOCK_3_5712_MHZ)).toBe(9600);
    expect(a.baudRate()).toBeCloseTo(5e6 / 372, 6);
    expect(a.n).toBe(0);
    expect(a.guardTimeEtu(0)).toBe(12);
    expect(a.wi).toBe(10);
    expect(a.specificMode).toBeUndefined();
    expect(a.t1).toBeUndefined();
    expect(a.t15).toBeUndefined();
    expect(a.tck).toEqual({ present: false, value: undefined, valid: true });
    const h = a.historical;
    expect(h.category).toBe('dir-data-reference');
    expect(h.dirDataReference).toBe(0x50);
    expect(a.warnings).toEqual([]);
  });

  it('T=0 only with TC2 (WI) and no TCK: 3B 85 40 20 68 01 01 00 00', () => {
    const a = Atr.fromHex('3B 85 40 20 68 01 01 00 00');
    expect(a.td(1)).toBe(0x40);
    expect(a.tc(2)).toBe(0x20);
    expect(a.groups).toEqual([
      { index: 1, td: 0x40 },
      { index: 2, t: 0, tc: 0x20 },
    ]);
    expect(a.protocols).toEqual([0]);
    expect(a.wi).toBe(32);
    // WT = WI × 960 × Fi / f: 32 × 960 × 372 / 3.5712 MHz = 3.2 s; at f(max) 5 MHz ≈ 2.29 s.
    expect(a.waitingTimeSeconds(CLOCK_3_5712_MHZ)).toBeCloseTo(3.2, 12);
    expect(a.waitingTimeSeconds()).toBeCloseTo((32 * 960 * 372) / 5e6, 12);
    expect(a.blockWaitingTimeSeconds()).toBeUndefined();
    expect(() => a.waitingTimeSeconds(0)).toThrow(RangeError);
    expect(() => a.baudRate(Number.NaN)).toThrow(RangeError);
    expect(a.tck.present).toBe(false);
    expect(toHex(a.historicalBytes)).toBe('6801010000');
    expect(a.historical.category).toBe('proprietary');
    expect(a.historical.categoryIndicator).toBe(0x68);
  });

  it('OpenPGP card: T=1 IFSC/BWI/CWI, N=255, T=15 class AB, COMPACT-TLV with extended Lc/Le', () => {
    const a = Atr.fromHex('3B DA 18 FF 81 B1 FE 75 1F 03 00 31 C5 73 C0 01 40 00 90 00 0C');
    expect(a.groups).toEqual([
      { index: 1, ta: 0x18, tc: 0xff, td: 0x81 },
      { index: 2, t: 1, td: 0xb1 },
      { index: 3, t: 1, ta: 0xfe, tb: 0x75, td: 0x1f },
      { index: 4, t: 15, ta: 0x03 },
    ]);
    expect(a.protocols).toEqual([1]);
    expect(a.globalT15).toBe(true);
    expect([a.fi, a.di, a.fmax]).toEqual([372, 12, 5e6]);
    expect(a.baudRate(CLOCK_3_5712_MHZ)).toBe(115200);
    expect(a.n).toBe(255);
    expect(a.guardTimeEtu(1)).toBe(11);
    expect(a.guardTimeEtu(0)).toBe(12);
    // BWT = 11 etu + 2^7 × 960 × 372 / f: 12.8 s + 11 × 31 clock cycles at 3.5712 MHz.
    expect(a.blockWaitingTimeSeconds(CLOCK_3_5712_MHZ)).toBeCloseTo(12.8 + 341 / 3_571_200, 12);
    expect(a.t1).toEqual({
      ifsc: 254,
      bwi: 7,
      cwi: 5,
      cwtEtu: 43,
      errorDetection: 'LRC',
      fromAtr: { ifsc: true, cwiBwi: true, errorDetection: false },
    });
    expect(a.t15).toEqual({
      clockStop: 'not supported',
      classes: ['A', 'B'],
      classRfuBits: 0,
      spu: 'not used',
      fromAtr: { ta: true, tb: false },
    });
    expect(a.tck).toEqual({ present: true, value: 0x0c, valid: true });
    const h = a.historical;
    expect(h.category).toBe('compact-tlv-with-status');
    expect(h.objects.map((o) => [o.tag, o.value])).toEqual([
      [3, 'C5'],
      [7, 'C00140'],
    ]);
    expect(h.cardServiceData).toEqual({
      applicationSelectionByFullDfName: true,
      applicationSelectionByPartialDfName: true,
      berTlvDataObjectsInEfDir: false,
      berTlvDataObjectsInEfAtr: false,
      efDirAtrAccess: 'GET DATA',
      hasMasterFile: false,
    });
    expect(h.cardCapabilities?.selection.byFullDfName).toBe(true);
    expect(h.cardCapabilities?.selection.byPath).toBe(false);
    expect(h.cardCapabilities?.dataCoding).toEqual({
      efsOfTlvStructure: false,
      writeBehaviour: 'one-time write',
      ffTagValid: false,
      dataUnitQuartets: 2,
    });
    expect(h.cardCapabilities?.commands).toEqual({
      commandChaining: false,
      extendedLcLe: true,
      extendedLengthInfoInEfAtr: false,
      logicalChannelAssignment: 'none',
      maxLogicalChannels: 1,
    });
    expect(h.status).toEqual({ lcs: 0, lifeCycle: 'no information given', sw: 0x9000 });
    expect(h.problem).toBeUndefined();
  });

  it('inverse convention, deprecated TB1, T=0: 3F 65 25 00 2B 09 69 90 00', () => {
    const a = Atr.fromHex('3F 65 25 00 2B 09 69 90 00');
    expect(a.convention).toBe('inverse');
    expect(a.ts).toBe(0x3f);
    expect(a.tb(1)).toBe(0x25);
    expect(a.tc(1)).toBe(0x00);
    expect(a.ta(1)).toBeUndefined();
    expect(a.protocols).toEqual([0]);
    expect(a.fi).toBe(372);
    expect(a.n).toBe(0);
    expect(a.tck.present).toBe(false);
    expect(toHex(a.historicalBytes)).toBe('2B09699000');
  });

  it('specific mode TA2 (T=1, unable to change), T=15 clock stop: 3B 90 96 91 81 B1 FE 55 1F C7 D4', () => {
    const a = Atr.fromHex('3B 90 96 91 81 B1 FE 55 1F C7 D4');
    expect(a.ta(1)).toBe(0x96);
    expect([a.fi, a.di, a.fmax]).toEqual([512, 32, 5e6]);
    expect(a.baudRate()).toBe(312500);
    expect(a.specificMode).toEqual({ protocol: 1, canChangeMode: false, implicitEtu: false });
    expect(a.protocols).toEqual([1]);
    expect(a.t1?.ifsc).toBe(254);
    expect(a.t1?.bwi).toBe(5);
    expect(a.t1?.cwi).toBe(5);
    expect(a.t15?.clockStop).toBe('no preference');
    expect(a.t15?.classes).toEqual(['A', 'B', 'C']);
    expect(a.k).toBe(0);
    expect(a.tck).toEqual({ present: true, value: 0xd4, valid: true });
  });

  it('YubiKey 4: T=1, TA1 13 (Di 4), TB1 TC1 00, proprietary historical bytes', () => {
    const a = Atr.fromHex('3B F8 13 00 00 81 31 FE 15 59 75 62 69 6B 65 79 34 D4');
    expect([a.fi, a.di]).toEqual([372, 4]);
    expect(a.baudRate(CLOCK_3_5712_MHZ)).toBe(38400);
    expect(a.tb(1)).toBe(0);
    expect(a.n).toBe(0);
    expect(a.groups[1]).toEqual({ index: 2, t: 1, td: 0x31 });
    expect(a.t1).toEqual({
      ifsc: 254,
      bwi: 1,
      cwi: 5,
      cwtEtu: 43,
      errorDetection: 'LRC',
      fromAtr: { ifsc: true, cwiBwi: true, errorDetection: false },
    });
    expect(Buffer.from(a.historicalBytes).toString('latin1')).toBe('Yubikey4');
    expect(a.historical.category).toBe('proprietary');
  });

  it('UICC: T=0 with T=15 TA3 (clock stop no preference, class A and B), card capabilities', () => {
    const a = Atr.fromHex('3B 9F 95 80 1F C3 80 31 A0 73 BE 21 13 67 47 01 03 01 02 00 00 99');
    expect([a.fi, a.di, a.fmax]).toEqual([512, 16, 5e6]);
    expect(a.protocols).toEqual([0]);
    expect(a.tck.present).toBe(true); // T=15 is indicated: TCK is required
    expect(a.t15?.classes).toEqual(['A', 'B']);
    expect(a.t15?.clockStop).toBe('no preference');
    const h = a.historical;
    expect(h.category).toBe('compact-tlv');
    expect(h.cardServiceData?.applicationSelectionByFullDfName).toBe(true);
    expect(h.cardServiceData?.berTlvDataObjectsInEfDir).toBe(true);
    expect(h.cardServiceData?.efDirAtrAccess).toBe('READ RECORD(S)');
    expect(h.cardServiceData?.hasMasterFile).toBe(true);
    expect(h.cardCapabilities?.selection).toEqual({
      byFullDfName: true,
      byPartialDfName: false,
      byPath: true,
      byFileIdentifier: true,
      implicitDf: true,
      shortEfIdentifier: true,
      recordNumber: true,
      recordIdentifier: false,
    });
    expect(h.cardCapabilities?.commands).toEqual({
      commandChaining: false,
      extendedLcLe: false,
      extendedLengthInfoInEfAtr: false,
      logicalChannelAssignment: 'by the card',
      maxLogicalChannels: 4,
    });
    expect(h.preIssuingData).toBe('47010301020000');
  });

  it('PC/SC Part 3 contactless pseudo-ATR: MIFARE Classic 1K', () => {
    const a = Atr.fromHex('3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 01 00 00 00 00 6A');
    expect(a.protocols).toEqual([0, 1]);
    expect(a.k).toBe(15);
    expect(a.historical.pcscContactless).toEqual({ rid: 'A000000306', standard: 3, cardName: 1 });
    expect(a.warnings).toEqual([]);
  });
});

describe('rejections: precise reason and offset', () => {
  const cases: [string, string, number, RegExp][] = [
    ['empty', '', 0, /^empty ATR: TS missing$/],
    ['invalid TS', '3A 00', 0, /^invalid TS 3A: expected 3B \(direct convention\) or 3F/],
    [
      'TS 03 (inverse read as direct)',
      '03 00',
      0,
      /^invalid TS 03: .*inverse-convention ATR read with the direct/,
    ],
    ['T0 missing', '3B', 1, /^truncated: T0 missing$/],
    ['TA1 missing', '3B 10', 2, /^truncated interface bytes: TA1 missing \(announced by T0\)$/],
    ['TD1 missing', '3B 90 11', 3, /^truncated interface bytes: TD1 missing \(announced by T0\)$/],
    ['TC3 missing', '3B 80 80 41', 4, /^truncated interface bytes: TC3 missing \(announced by TD2\)$/],
    [
      'historical bytes truncated',
      '3B 04 60 89',
      4,
      /^truncated historical bytes: K=4 announced, 2 present$/,
    ],
    ['missing TCK', '3B 80 01', 3, /^missing TCK: a protocol other than T=0 is indicated/],
    ['wrong TCK', '3B 80 01 00', 3, /^wrong TCK: expected 81, found 00$/],
    ['trailing after TCK', '3B 80 01 81 00 00', 4, /^2 trailing byte\(s\) after TCK$/],
    ['trailing after T=0-only ATR', '3B 02 14 50 11', 4, /^1 trailing byte\(s\) after the historical bytes/],
    ['TCK after a T=0-only ATR', '3B 01 41 40', 3, /^unexpected TCK: only T=0 is indicated/],
    ['T=15 requires TCK', '3B 80 80 1F 03', 5, /^missing TCK/],
  ];
  for (const [name, hex, offset, reason] of cases) {
    it(name, () => {
      const e = reject(hex);
      expect(e.offset).toBe(offset);
      expect(e.reason).toMatch(reason);
      expect(e.message).toBe(`malformed atr at offset ${offset}: ${e.reason}`);
    });
  }

  it('too long: an interface chain that would pass byte 33 stops at offset 33', () => {
    // 3B 80, then TDs 80 80 … : every TD announces another TD; 40 bytes of them.
    const e = reject('3B 80' + ' 80'.repeat(40));
    expect(e.offset).toBe(33);
    expect(e.reason).toMatch(/^too long: TD32 would be byte 34, beyond the 33-byte maximum/);
  });

  it('too long: historical bytes and TCK past byte 33', () => {
    // 3B FF + TA1 TB1 TC1 TD1(F1) + TA2..TD2(F1) + … 4 groups of 4 = 18 bytes of interface, K=15, TCK.
    const e = reject('3B FF 11 00 00 F1 11 00 00 F1 11 00 00 F1 11 00 00 01' + ' 00'.repeat(16));
    expect(e.offset).toBe(33);
    expect(e.reason).toMatch(/^too long: 15 historical byte\(s\) and TCK would end at byte 34/);
  });

  it('too long, on a shorter input: the offset stays inside the input', () => {
    // 3B FF 00 96 00 FF 00 0A: 8 bytes of header and interface bytes + 15 historical + TCK = 35 > 33.
    const e = reject('3B FF 00 96 00 FF 00 0A 31 FE 4D 80 31 E0 6B 04 31 05 02 A8 55 55 55 55 55 55 7E');
    expect(e.offset).toBe(27);
    expect(e.reason).toMatch(/^too long: 15 historical byte\(s\) and TCK would end at byte 35/);
  });

  it('a 33-byte ATR is accepted', () => {
    const a = Atr.build({
      convention: 'direct',
      groups: [
        { ta: 0x11, tb: 0, tc: 0 },
        { t: 0, tb: 0, tc: 10 },
        { t: 1, ta: 0x20, tb: 0x45, tc: 1 },
        { t: 1, tc: 0 },
        { t: 15, ta: 3, tb: 0 },
      ],
      historicalBytes: '00'.repeat(15),
    });
    expect(a.length).toBe(33);
    expect(Atr.parse(a.encode()).equals(a)).toBe(true);
  });

  it('tolerateWrongTck accepts a wrong TCK and reports it', () => {
    const a = Atr.parse(fromHex('3B 80 01 00'), { tolerateWrongTck: true });
    expect(a.tck).toEqual({ present: true, value: 0, valid: false });
    expect(a.warnings).toContain('wrong TCK accepted: expected 81, found 00');
    // …but never a missing one.
    expect(() => Atr.parse(fromHex('3B 80 01'), { tolerateWrongTck: true })).toThrow(/missing TCK/);
  });

  it('TypeError for a non-Uint8Array', () => {
    expect(() => Atr.parse('3B00' as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe('interface byte semantics', () => {
  it('TA1 RFU values give undefined Fi/Di and a warning, never an exception', () => {
    const a = Atr.build({ convention: 'direct', groups: [{ ta: 0x7a }], historicalBytes: '' });
    expect(a.fi).toBeUndefined();
    expect(a.di).toBeUndefined();
    expect(a.fmax).toBeUndefined();
    expect(a.baudRate()).toBeUndefined();
    expect(a.warnings).toEqual(['TA1 7A: FI 7 is RFU', 'TA1 7A: DI A is RFU']);
  });

  it('every Fi/Di pair of Tables 7 and 8', () => {
    const fi = [372, 372, 558, 744, 1116, 1488, 1860, 0, 0, 512, 768, 1024, 1536, 2048, 0, 0];
    const fmax = [4, 5, 6, 8, 12, 16, 20, 0, 0, 5, 7.5, 10, 15, 20, 0, 0];
    const di = [0, 1, 2, 4, 8, 16, 32, 64, 12, 20, 0, 0, 0, 0, 0, 0];
    for (let f = 0; f < 16; f++) {
      for (let d = 0; d < 16; d++) {
        const a = Atr.build({ convention: 'direct', groups: [{ ta: (f << 4) | d }], historicalBytes: '' });
        expect(a.fi ?? 0).toBe(fi[f]);
        expect(a.di ?? 0).toBe(di[d]);
        expect((a.fmax ?? 0) / 1e6).toBe(fmax[f]);
        if (fi[f] && di[d]) expect(a.baudRate(4e6)).toBeCloseTo((4e6 * di[d]!) / fi[f]!, 9);
      }
    }
  });

  it('guard time: N = 0..254 adds N etu; N = 255 is 12 etu (T=0) / 11 etu (T=1)', () => {
    const at = (n: number) => Atr.build({ convention: 'direct', groups: [{ tc: n }], historicalBytes: '' });
    expect(at(0).guardTimeEtu(0)).toBe(12);
    expect(at(7).guardTimeEtu(1)).toBe(19);
    expect(at(254).guardTimeEtu(0)).toBe(266);
    expect(at(255).guardTimeEtu(0)).toBe(12);
    expect(at(255).guardTimeEtu(1)).toBe(11);
  });

  it('T=1: only the first TA/TB/TC for T=1 in groups i ≥ 3 count; CRC from TC; TC2 is not T=1', () => {
    const a = Atr.build({
      convention: 'direct',
      groups: [{}, { t: 1, tc: 0x33 }, { t: 1, tc: 0x01 }, { t: 1, ta: 0x80, tb: 0x42, tc: 0x00 }],
      historicalBytes: '',
    });
    expect(a.wi).toBe(0x33);
    expect(a.t1).toEqual({
      ifsc: 0x80,
      bwi: 4,
      cwi: 2,
      cwtEtu: 15,
      errorDetection: 'CRC',
      fromAtr: { ifsc: true, cwiBwi: true, errorDetection: true },
    });
  });

  it('T=1 defaults when the ATR is silent: IFSC 32, CWI 13, BWI 4, LRC', () => {
    expect(Atr.fromHex('3B 80 01 81').t1).toEqual({
      ifsc: 32,
      cwi: 13,
      bwi: 4,
      cwtEtu: 11 + 8192,
      errorDetection: 'LRC',
      fromAtr: { ifsc: false, cwiBwi: false, errorDetection: false },
    });
  });

  it('T=15: defaults (class A, no clock stop, no SPU) and SPU coding', () => {
    const bare = Atr.build({ convention: 'direct', groups: [{}, { t: 0 }, { t: 15 }], historicalBytes: '' });
    expect(bare.t15).toEqual({
      clockStop: 'not supported',
      classes: ['A'],
      classRfuBits: 0,
      spu: 'not used',
      fromAtr: { ta: false, tb: false },
    });
    const spu = Atr.build({
      convention: 'direct',
      groups: [{}, { t: 0 }, { t: 15, ta: 0x47, tb: 0x81 }],
      historicalBytes: '',
    });
    expect(spu.t15?.clockStop).toBe('state L');
    expect(spu.t15?.classes).toEqual(['A', 'B', 'C']);
    expect(spu.t15?.spu).toBe('proprietary');
    expect(spu.t15?.spuValue).toBe(0x81);
    expect(spu.protocols).toEqual([0]);
    expect(spu.tck.present).toBe(true);
  });

  it('TA2 bit 5: implicit etu; TD1 = T=15 and other RFU values are warnings', () => {
    const a = Atr.build({ convention: 'direct', groups: [{}, { t: 15, ta: 0x10 }], historicalBytes: '' });
    expect(a.specificMode).toEqual({ protocol: 0, canChangeMode: true, implicitEtu: true });
    expect(a.warnings).toContain(
      'TD1 indicates T=15, which §8.2.3 forbids (T=15 may only follow in TD2 and later)',
    );
  });

  it('protocols keep TD order and drop duplicates', () => {
    const a = Atr.build({
      convention: 'direct',
      groups: [{}, { t: 0 }, { t: 1 }, { t: 0 }, { t: 15 }, { t: 1 }],
      historicalBytes: '',
    });
    expect(a.protocols).toEqual([0, 1]);
  });

  it('the value is immutable: encode and historicalBytes return copies', () => {
    const input = fromHex('3B 02 10 50');
    const a = Atr.parse(input);
    input[3] = 0;
    a.encode()[3] = 0;
    a.historicalBytes[0] = 0;
    expect(a.toHex()).toBe('3B021050');
    // The decoded historical bytes are shared and deeply frozen.
    const o = Atr.fromHex('3B DA 18 FF 81 B1 FE 75 1F 03 00 31 C5 73 C0 01 40 00 90 00 0C');
    expect(o.historical).toBe(o.historical);
    expect(Object.isFrozen(o.historical.cardCapabilities?.selection)).toBe(true);
    expect(() => {
      (o.historical.objects as unknown[]).push(1);
    }).toThrow(TypeError);
    // A Buffer's slice() shares memory: the parser must still copy.
    const buf = Buffer.from('3B021050', 'hex');
    const b = Atr.parse(buf);
    buf[3] = 0;
    expect(b.toHex()).toBe('3B021050');
  });
});

describe('historical bytes (ISO/IEC 7816-4 §8.1.1)', () => {
  it('category 80: country, issuer, initial access, issuer data, AID, status LCS+SW', () => {
    const h = decodeHistoricalBytes(
      fromHex('80 12 25 00 23 12 34 56 41 AA 52 BB CC F5 A0 00 00 00 03 83 07 90 00'),
    );
    expect(h.category).toBe('compact-tlv');
    expect(h.objects.map((o) => [o.tag, o.name, o.offset])).toEqual([
      [1, 'country code and national data', 1],
      [2, 'issuer identification number', 4],
      [4, 'initial access data', 8],
      [5, "card issuer's data", 10],
      [15, 'application identifier', 13],
      [8, 'status indicator', 19],
    ]);
    expect(h.country).toEqual({ code: '250', nationalData: '0' });
    expect(h.issuerIdentificationNumber).toBe('123456');
    expect(h.initialAccessData).toBe('AA');
    expect(h.cardIssuerData).toBe('BBCC');
    expect(h.applicationIdentifier).toBe('A000000003');
    expect(h.status).toEqual({ lcs: 7, lifeCycle: 'operational state (activated)', sw: 0x9000 });
    expect(h.problem).toBeUndefined();
  });

  it('status indicator of 1 byte (LCS) or 2 bytes (SW)', () => {
    expect(decodeHistoricalBytes(fromHex('80 81 0F')).status).toEqual({
      lcs: 15,
      lifeCycle: 'termination state',
    });
    expect(decodeHistoricalBytes(fromHex('80 82 6A 82')).status).toEqual({ sw: 0x6a82 });
  });

  it('category 00: COMPACT-TLV then a mandatory LCS SW1 SW2', () => {
    const h = decodeHistoricalBytes(fromHex('00 31 80 05 90 00'));
    expect(h.category).toBe('compact-tlv-with-status');
    expect(h.cardServiceData?.efDirAtrAccess).toBe('READ RECORD(S)');
    expect(h.status).toEqual({ lcs: 5, lifeCycle: 'operational state (activated)', sw: 0x9000 });
    expect(decodeHistoricalBytes(fromHex('00 90 00')).problem).toEqual({
      offset: 3,
      reason: 'category 00 needs a 3-byte status indicator after it, got 2 byte(s)',
    });
  });

  it('card capabilities: logical channels, chaining, write behaviour, data unit', () => {
    const c = decodeHistoricalBytes(fromHex('80 73 FF 7F DF')).cardCapabilities;
    expect(c?.dataCoding).toEqual({
      efsOfTlvStructure: false,
      writeBehaviour: 'write AND',
      ffTagValid: true,
      dataUnitQuartets: 2 ** 15,
    });
    expect(c?.commands).toEqual({
      commandChaining: true,
      extendedLcLe: true,
      extendedLengthInfoInEfAtr: false,
      logicalChannelAssignment: 'by the card and the interface device',
      maxLogicalChannels: 8,
    });
    const one = decodeHistoricalBytes(fromHex('80 71 08')).cardCapabilities;
    expect(one?.selection.implicitDf).toBe(true);
    expect(one?.dataCoding).toBeUndefined();
    expect(one?.commands).toBeUndefined();
  });

  it('malformed COMPACT-TLV is reported, not thrown', () => {
    expect(decodeHistoricalBytes(fromHex('80 73 FF')).problem).toEqual({
      offset: 1,
      reason: 'COMPACT-TLV object 73 (tag 7, length 3) overruns the historical bytes by 2 byte(s)',
    });
    expect(decodeHistoricalBytes(fromHex('80 74 01 02 03 04')).problem?.reason).toBe(
      'card capabilities must be 1 to 3 bytes, got 4',
    );
    expect(decodeHistoricalBytes(fromHex('80 32 01 02')).problem?.reason).toBe(
      'card service data must be 1 byte, got 2',
    );
    expect(decodeHistoricalBytes(fromHex('10 01 02')).problem?.offset).toBe(1);
    // A malformed COMPACT-TLV in an ATR becomes a warning.
    const a = Atr.build({ convention: 'direct', groups: [{}], historicalBytes: '8073FF' });
    expect(a.warnings).toEqual([
      'historical bytes at offset 1: COMPACT-TLV object 73 (tag 7, length 3) overruns the historical bytes by 2 byte(s)',
    ]);
  });

  it('other categories', () => {
    expect(decodeHistoricalBytes(new Uint8Array(0)).category).toBe('none');
    expect(decodeHistoricalBytes(fromHex('81 00')).category).toBe('rfu');
    expect(decodeHistoricalBytes(fromHex('8F')).category).toBe('rfu');
    expect(decodeHistoricalBytes(fromHex('4A 43 4F 50')).category).toBe('proprietary');
  });
});

describe('build and describe', () => {
  const byteArb = fc.integer({ min: 0, max: 255 });
  const group1Arb: fc.Arbitrary<AtrGroupDescription> = fc.record(
    { ta: byteArb, tb: byteArb, tc: byteArb },
    { requiredKeys: [] },
  );
  const groupNArb: fc.Arbitrary<AtrGroupDescription> = fc.record(
    { t: fc.integer({ min: 0, max: 15 }), ta: byteArb, tb: byteArb, tc: byteArb },
    { requiredKeys: ['t'] },
  );

  const size = (d: AtrDescription): number => {
    let n = 2 + d.historicalBytes.length / 2 + (d.groups.length - 1);
    let tck = false;
    d.groups.forEach((g, i) => {
      n += (g.ta !== undefined ? 1 : 0) + (g.tb !== undefined ? 1 : 0) + (g.tc !== undefined ? 1 : 0);
      if (i > 0 && g.t !== 0) tck = true;
    });
    return n + (tck ? 1 : 0);
  };

  const descriptionArb: fc.Arbitrary<AtrDescription> = fc
    .record({
      convention: fc.constantFrom('direct' as const, 'inverse' as const),
      groups: fc
        .tuple(group1Arb, fc.array(groupNArb, { maxLength: 7 }))
        // fc.record makes null-prototype objects; describe() returns plain ones.
        .map(([g1, rest]) => [{ ...g1 }, ...rest.map((g) => ({ ...g }))]),
      historicalBytes: fc.uint8Array({ maxLength: 15 }).map((b) => toHex(b)),
    })
    .map((d) => ({ ...d }))
    .filter((d) => size(d) <= 33);

  it('Atr.parse(Atr.build(d).encode()).describe() deep-equals d (fast-check)', () => {
    fc.assert(
      fc.property(descriptionArb, (d) => {
        const a = Atr.build(d);
        expect(a.length).toBe(size(d));
        const back = Atr.parse(a.encode());
        expect(back.describe()).toStrictEqual(d);
        // And byte-exact the other way round.
        expect(Atr.build(back.describe()).toHex()).toBe(a.toHex());
      }),
      { numRuns: 3000 },
    );
  });

  it('describe() of corpus-style ATRs rebuilds the same bytes', () => {
    for (const hex of [
      '3B DA 18 FF 81 B1 FE 75 1F 03 00 31 C5 73 C0 01 40 00 90 00 0C',
      '3F 65 25 00 2B 09 69 90 00',
    ]) {
      const a = Atr.fromHex(hex);
      expect(Atr.build(a.describe()).toHex()).toBe(a.toHex());
    }
  });

  it('rejects invalid descriptions with RangeError/TypeError naming the field', () => {
    const ok: AtrDescription = { convention: 'direct', groups: [{}], historicalBytes: '' };
    expect(() => Atr.build({ ...ok, convention: 'sideways' as 'direct' })).toThrow(/convention must be/);
    expect(() => Atr.build({ ...ok, groups: [] })).toThrow(/groups must be a non-empty array/);
    expect(() => Atr.build({ ...ok, groups: [{ t: 1 }] })).toThrow(/groups\[0\]\.t must be absent/);
    expect(() => Atr.build({ ...ok, groups: [{}, {}] })).toThrow(/groups\[1\]\.t must be 0..15/);
    expect(() => Atr.build({ ...ok, groups: [{}, { t: 16 }] })).toThrow(/groups\[1\]\.t must be 0..15/);
    expect(() => Atr.build({ ...ok, groups: [{ ta: 256 }] })).toThrow(/groups\[0\]\.ta must be a byte/);
    expect(() => Atr.build({ ...ok, groups: [{}, { t: 1, tc: -1 }] })).toThrow(
      /groups\[1\]\.tc must be a byte/,
    );
    expect(() => Atr.build({ ...ok, historicalBytes: 'ABC' })).toThrow(/historicalBytes must be hex/);
    expect(() => Atr.build({ ...ok, historicalBytes: '00'.repeat(16) })).toThrow(/at most 15 bytes/);
    expect(() => Atr.build({ ...ok, groups: [{}, ...Array.from({ length: 32 }, () => ({ t: 0 }))] })).toThrow(
      /34-byte ATR; at most 33/,
    );
    expect(() => Atr.build(null as unknown as AtrDescription)).toThrow(TypeError);
    for (const f of [
      () => Atr.build({ ...ok, convention: 'sideways' as 'direct' }),
      () => Atr.build({ ...ok, groups: [{ ta: 1.5 }] }),
    ])
      expect(f).toThrow(RangeError);
  });

  it('build computes T0, the TD chain and TCK', () => {
    const a = Atr.build({ convention: 'direct', groups: [{}, { t: 1 }], historicalBytes: '' });
    expect(a.toHex()).toBe('3B800181');
    const b = Atr.build({ convention: 'inverse', groups: [{ ta: 0x11 }], historicalBytes: '8001' });
    expect(b.toHex()).toBe('3F12118001');
  });
});

describe('life cycle status byte', () => {
  it('names the ISO values', () => {
    expect(lifeCycleName(0x01)).toBe('creation state');
    expect(lifeCycleName(0x03)).toBe('initialisation state');
    expect(lifeCycleName(0x05)).toBe('operational state (activated)');
    expect(lifeCycleName(0x04)).toBe('operational state (deactivated)');
    expect(lifeCycleName(0x0d)).toBe('termination state');
    expect(lifeCycleName(0x02)).toBe('RFU');
    expect(lifeCycleName(0x42)).toBe('proprietary');
  });
});

describe('encodeHistoricalBytes', () => {
  it('builds COMPACT-TLV historical bytes that decode back (category 00 and 80)', () => {
    const hex = encodeHistoricalBytes({
      category: 0x00,
      objects: [
        { tag: 3, value: 'C5' },
        { tag: 7, value: 'c00140' },
      ],
      status: '009000',
    });
    expect(hex).toBe('0031C573C00140009000');
    const a = Atr.build({ convention: 'direct', groups: [{}, { t: 1 }], historicalBytes: hex });
    expect(a.historical.cardCapabilities?.commands?.extendedLcLe).toBe(true);
    expect(a.historical.status?.sw).toBe(0x9000);
    const h = decodeHistoricalBytes(
      fromHex(
        encodeHistoricalBytes({
          category: 0x80,
          objects: [
            { tag: 15, value: 'A000000003' },
            { tag: 8, value: '05' },
          ],
        }),
      ),
    );
    expect(h.applicationIdentifier).toBe('A000000003');
    expect(h.status?.lifeCycle).toBe('operational state (activated)');
  });

  it('rejects what cannot be encoded', () => {
    expect(() => encodeHistoricalBytes({ category: 0x10 as 0x80, objects: [] })).toThrow(/category must be/);
    expect(() => encodeHistoricalBytes({ category: 0x80, objects: [{ tag: 16, value: '' }] })).toThrow(
      /objects\[0\]\.tag must be 0..15/,
    );
    expect(() => encodeHistoricalBytes({ category: 0x80, objects: [{ tag: 1, value: 'ABC' }] })).toThrow(
      /objects\[0\]\.value must be hex/,
    );
    expect(() => encodeHistoricalBytes({ category: 0x00, objects: [] })).toThrow(/status must be hex/);
    expect(() => encodeHistoricalBytes({ category: 0x00, objects: [], status: '9000' })).toThrow(/3 bytes/);
    expect(() => encodeHistoricalBytes({ category: 0x80, objects: [], status: '009000' })).toThrow(
      /only for category 00/,
    );
    expect(() =>
      encodeHistoricalBytes({ category: 0x80, objects: [{ tag: 4, value: '00'.repeat(14) }] }),
    ).toThrow(/at most 15 bytes, got 16/);
  });
});
