/**
 * pcapng import of USB CCID traffic. The captures are built here byte by byte from the pcapng
 * spec (draft-ietf-opsawg-pcapng: SHB 0A0D0D0A + magic 1A2B3C4D, IDB 1, EPB 6, SPB 3), the usbmon
 * header (Linux Documentation/usb/usbmon.rst: 64 bytes for link type 220, 48 for 189) and the
 * CCID message layout (rev 1.1 §6: bMessageType dwLength(LE) bSlot bSeq + 3 bytes).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { GET_CHALLENGE_RULE, Trace, importPcapng } from '../../reader/trace/index.js';

type Endian = 'le' | 'be';

function u16(v: number, e: Endian): number[] {
  return e === 'le' ? [v & 255, v >>> 8] : [v >>> 8, v & 255];
}
function u32(v: number, e: Endian): number[] {
  const b = [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
  return e === 'le' ? b.reverse() : b;
}
function pad4(b: number[]): number[] {
  while (b.length % 4) b.push(0);
  return b;
}
function block(type: number, body: number[], e: Endian): number[] {
  const b = pad4([...body]);
  const len = b.length + 12;
  return [...u32(type, e), ...u32(len, e), ...b, ...u32(len, e)];
}
const shb = (e: Endian) =>
  block(
    0x0a0d0d0a,
    [...u32(0x1a2b3c4d, e), ...u16(1, e), ...u16(0, e), ...u32(0xffffffff, e), ...u32(0xffffffff, e)],
    e,
  );
const idb = (linkType: number, e: Endian) => block(1, [...u16(linkType, e), 0, 0, ...u32(262144, e)], e);
const epb = (data: number[], e: Endian, iface = 0) =>
  block(
    6,
    [...u32(iface, e), ...u32(0, e), ...u32(0, e), ...u32(data.length, e), ...u32(data.length, e), ...data],
    e,
  );
const spb = (data: number[], e: Endian) => block(3, [...u32(data.length, e), ...data], e);

/** A usbmon packet: header (64 or 48 bytes) + data; 'S' for bulk out, 'C' for bulk in. */
function usbmon(out: boolean, data: number[], e: Endian, timeUs: number, linkType = 220, dev = 5): number[] {
  const h = [
    ...u32(0x1234, e),
    ...u32(0, e), // id
    out ? 0x53 : 0x43,
    3,
    out ? 0x02 : 0x82,
    dev, // type, bulk, endpoint, device
    ...u16(1, e),
    0x2d,
    0, // bus 1, flag_setup '-', flag_data 0
    ...u32(1700000000, e === 'le' ? 'le' : 'be'),
    ...u32(0, e), // ts_sec (s64, low word first in LE)
    ...u32(timeUs, e),
    ...u32(0, e), // ts_usec, status
    ...u32(data.length, e),
    ...u32(data.length, e), // length, len_cap
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0, // setup
  ];
  if (e === 'be') h.splice(16, 8, ...u32(0, e), ...u32(1700000000, e));
  if (linkType === 220) h.push(...u32(0, e), ...u32(0, e), ...u32(0, e), ...u32(0, e));
  return [...h, ...data];
}
/** A CCID message: bMessageType dwLength(LE) bSlot bSeq b7 b8 b9, data. */
function ccid(type: number, seq: number, data: number[], b7 = 0, b8 = 0, b9 = 0): number[] {
  return [type, ...u32(data.length, 'le'), 0, seq, b7, b8, b9, ...data];
}
const hex = (h: string) => [...fromHex(h)];

const ATR = '3B8A0180F8F04D5055525345010E';
const SELECT = '00A4040008F04D50555253450100';
const FCI_9000 = '6F0A8408F04D5055525345019000';

/** Power on, SELECT, GET CHALLENGE (with a time extension first), a failed XfrBlock. */
function session(e: Endian, linkType = 220, packet: 'epb' | 'spb' = 'epb'): Uint8Array {
  const wrap = packet === 'epb' ? epb : spb;
  const p = (out: boolean, msg: number[], t: number) => wrap(usbmon(out, msg, e, t, linkType), e);
  return Uint8Array.from([
    ...shb(e),
    ...idb(linkType, e),
    // Another device's bulk data, not CCID-shaped: skipped.
    ...p(true, [0x55, 0x53, 0x42, 0x43, 1, 2, 3, 4, 5, 6, 7, 8, 9], 0),
    ...p(true, ccid(0x62, 0, [], 1), 100),
    ...p(false, ccid(0x80, 0, hex(ATR)), 300),
    ...p(true, ccid(0x6f, 1, hex(SELECT)), 1000),
    ...p(false, ccid(0x80, 1, [], 0x80, 1), 1100), // time extension
    ...p(false, ccid(0x80, 1, hex(FCI_9000)), 3000),
    ...p(true, ccid(0x6f, 2, hex('0084000008')), 4000),
    ...p(false, ccid(0x80, 2, hex('0102030405060708' + '9000')), 4500),
    ...p(true, ccid(0x61, 3, [1, 0x11, 0x10, 0, 0x15, 0, 0xfe, 0]), 4600), // SetParameters T=1
    ...p(false, ccid(0x82, 3, [0x11, 0x10, 0, 0x15, 0, 0xfe, 0], 0, 0, 1), 4700),
    ...p(true, ccid(0x6f, 4, hex('00B0000010')), 5000),
    ...p(false, ccid(0x80, 4, [], 0x41, 0xfe), 6000), // failed: ICC mute
    ...p(true, ccid(0x62, 5, [], 1), 7000),
    ...p(false, ccid(0x80, 5, hex(ATR)), 7200),
  ]);
}

function malformed(f: () => unknown): MalformedDataError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MalformedDataError);
    return e as MalformedDataError;
  }
  throw new Error('no error');
}

describe('pcapng import (USB CCID over usbmon)', () => {
  for (const [e, lt, pk] of [
    ['le', 220, 'epb'],
    ['be', 220, 'epb'],
    ['le', 189, 'epb'],
    ['le', 220, 'spb'],
  ] as const) {
    it(`${e === 'le' ? 'little' : 'big'}-endian section, link type ${lt}, ${pk.toUpperCase()}: ATR, exchanges, reset, protocol, masks`, () => {
      const t = importPcapng(session(e, lt, pk));
      expect(toHex(t.header.atr!)).toBe(ATR);
      expect(t.header.protocol).toBe('T=1');
      expect(t.header.rules).toEqual([GET_CHALLENGE_RULE]);
      expect(
        t.exchanges.map((x) => `${toHex(x.command)}>${x.response ? toHex(x.response) : x.error}`),
      ).toEqual([
        `${SELECT}>${FCI_9000}`,
        '0084000008>01020304050607089000',
        '00B0000010>CCID command failed: bError FE, bmICCStatus 1',
      ]);
      expect(t.exchanges[0]!.durationMs).toBe(2);
      const resets = t.events.filter((x) => x.type === 'reset');
      expect(resets).toHaveLength(1);
      // The trace round-trips through the text format, with @atr and the mask.
      const text = t.format();
      expect(text).toContain('@atr 3B 8A 01');
      expect(text).toMatch(/^@mask-response/m);
      expect(Trace.parse(text).exchanges).toHaveLength(3);
    });
  }

  it('other link types and blocks are skipped; a capture without USB is refused', () => {
    const e = 'le';
    const withOthers = Uint8Array.from([
      ...shb(e),
      ...idb(1, e), // Ethernet
      ...block(5, [1, 2, 3, 4], e), // interface statistics: skipped
      ...epb([1, 2, 3, 4, 5, 6], e, 0),
    ]);
    expect(malformed(() => importPcapng(withOthers)).reason).toMatch(/not a USB capture/);
    const noCcid = Uint8Array.from([...shb(e), ...idb(220, e), ...epb(usbmon(true, [1, 2, 3], e, 0), e)]);
    expect(malformed(() => importPcapng(noCcid)).reason).toBe('no USB CCID message in the capture');
  });

  it('refuses TPDU level (T=1 S-block in an XfrBlock) and APDU chaining, with the reason', () => {
    const e = 'le';
    const base = [...shb(e), ...idb(220, e)];
    const ifs = Uint8Array.from([...base, ...epb(usbmon(true, ccid(0x6f, 1, hex('00C101FE3E')), e, 0), e)]);
    expect(malformed(() => importPcapng(ifs)).reason).toMatch(
      /TPDU and character level readers .* are not supported/,
    );
    const chained = Uint8Array.from([
      ...base,
      ...epb(
        usbmon(
          true,
          [...ccid(0x6f, 1, hex(SELECT))].map((b, i) => (i === 8 ? 1 : b)),
          e,
          0,
        ),
        e,
      ),
    ]);
    expect(malformed(() => importPcapng(chained)).reason).toMatch(/wLevelParameter 0001: APDU chaining/);
  });

  it('malformed files: exact reasons and offsets', () => {
    const good = session('le');
    expect(malformed(() => importPcapng(new Uint8Array(4))).reason).toBe(
      'too short for a pcapng file: 4 bytes',
    );
    expect(malformed(() => importPcapng(good.subarray(28))).reason).toMatch(
      /does not start with a section header/,
    );
    // Truncated in the middle of a block.
    const cut = malformed(() => importPcapng(good.subarray(0, good.length - 6)));
    expect(cut.reason).toMatch(/runs past the end of the file|truncated block header/);
    // Wrong trailing length of the first IDB (it starts at 28).
    const bad = good.slice();
    bad[28 + 20 - 4] = 0x99;
    expect(malformed(() => importPcapng(bad)).offset).toBe(44);
    // Block length not a multiple of 4.
    const odd = good.slice();
    odd[28 + 4] = 21;
    expect(malformed(() => importPcapng(odd)).reason).toBe(
      'block length 21: at least 12 and a multiple of 4',
    );
    // Bad byte-order magic.
    const magic = good.slice();
    magic[8] = 0;
    expect(malformed(() => importPcapng(magic)).reason).toMatch(/byte-order magic/);
    // usbmon len_cap larger than what was captured.
    const e = 'le';
    const msg = usbmon(true, ccid(0x6f, 1, hex(SELECT)), e, 0);
    msg[36] = 200;
    const over = Uint8Array.from([...shb(e), ...idb(220, e), ...epb(msg, e)]);
    expect(malformed(() => importPcapng(over)).reason).toMatch(/len_cap 200 exceeds/);
    // EPB of an interface that was never described.
    const noIf = Uint8Array.from([...shb(e), ...idb(220, e), ...epb([1, 2, 3], e, 7)]);
    expect(malformed(() => importPcapng(noIf)).reason).toBe('packet of interface 7, but 1 are described');
    expect(() => importPcapng('x' as unknown as Uint8Array)).toThrow(TypeError);
  });

  it('random bytes, truncations and byte flips: only MalformedDataError (or a trace)', () => {
    const good = session('le');
    const check = (b: Uint8Array) => {
      try {
        importPcapng(b);
      } catch (e) {
        expect(e).toBeInstanceOf(MalformedDataError);
      }
    };
    for (let n = 0; n < good.length; n += 3) check(good.subarray(0, n));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (b) => check(b)),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 }), (i, v) => {
        const b = good.slice();
        b[i] = v;
        check(b);
      }),
      { numRuns: 3000 },
    );
    // Random bytes behind a valid section header and a USB interface.
    const head = Uint8Array.from([...shb('le'), ...idb(220, 'le')]);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1024 }), (b) => check(Uint8Array.from([...head, ...b]))),
      { numRuns: 2000 },
    );
  });
});

describe('meterpurse trace import --format pcapng', () => {
  it('writes the trace; a malformed capture exits 2 with the reason', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { main } = await import('../../cli/main.js');
    const dir = mkdtempSync(join(tmpdir(), 'mp-pcapng-'));
    try {
      const file = join(dir, 'cap.pcapng');
      writeFileSync(file, session('le'));
      let out = '';
      let err = '';
      const io = { out: (t: string) => void (out += t), err: (t: string) => void (err += t) };
      expect(await main(['trace', 'import', '--format', 'pcapng', file], io)).toBe(0);
      const t = Trace.parse(out);
      expect(toHex(t.header.atr!)).toBe(ATR);
      expect(t.exchanges).toHaveLength(3);
      writeFileSync(file, session('le').subarray(0, 100));
      out = '';
      expect(await main(['trace', 'import', '--format', 'pcapng', file], io)).toBe(2);
      expect(err).toMatch(/malformed pcapng at offset \d+/);
      expect(await main(['trace', 'import', '--format', 'wav', file], io)).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
