import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { TariffTableError } from '../../meter/errors.js';
import { RtcTime, weekdayOf, dayNumberOf } from '../../protocol/RtcTime.js';
import { TariffChange, TariffSchedule } from '../../meter/tariff/TariffSchedule.js';
import { TariffTable, type TariffSeason, type TariffTableSpec } from '../../protocol/TariffTable.js';

const vectors = new URL('../vectors/meter/', import.meta.url);
const at = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => RtcTime.of(y, mo, d, h, mi, s).seconds;

describe('RtcTime (YYMMDDhhmmss)', () => {
  it('encodes packed BCD, high nibble first, and decodes it back', () => {
    const t = RtcTime.of(2026, 11, 22, 7, 58, 26);
    expect(toHex(t.encodeBcd())).toBe('261122075826');
    expect(RtcTime.decodeBcd(fromHex('261122075826')).seconds).toBe(t.seconds);
    expect(t.toString()).toBe('261122075826');
    expect(RtcTime.parse('261122075826').seconds).toBe(t.seconds);
  });

  it('knows the weekday (2026-11-22 is a Sunday, 2000-01-01 a Saturday)', () => {
    expect(RtcTime.of(2026, 11, 22).weekday).toBe(6);
    expect(weekdayOf(0)).toBe(5);
    expect(weekdayOf(dayNumberOf(2026, 7, 13))).toBe(0);
  });

  it('round-trips seconds for any instant 2000…2099', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3_155_759_999 }), (s) => {
        const t = RtcTime.fromSeconds(s);
        expect(RtcTime.decodeBcd(t.encodeBcd()).seconds).toBe(s);
        expect(RtcTime.parse(t.toString()).seconds).toBe(s);
      }),
    );
  });

  it('rejects a non-BCD nibble with its offset', () => {
    const e = (() => {
      try {
        RtcTime.decodeBcd(fromHex('2611220A5826'));
      } catch (x) {
        return x;
      }
    })();
    expect(e).toBeInstanceOf(MalformedDataError);
    expect((e as MalformedDataError).offset).toBe(3);
    expect((e as MalformedDataError).kind).toBe('rtc');
  });

  it.each([
    ['261330000000', 2, 'month 13'],
    ['260230000000', 4, '30 February'],
    ['270229000000', 4, '29 February 2027'],
    ['261122240000', 6, 'hour 24'],
    ['2611220758', 10, 'too short'],
    ['26112207582x', 11, 'not a digit'],
  ])('parse %s fails at offset %i (%s)', (text, offset) => {
    expect(() => RtcTime.parse(text)).toThrow(MalformedDataError);
    try {
      RtcTime.parse(text);
    } catch (e) {
      expect((e as MalformedDataError).offset).toBe(offset);
    }
  });

  it('accepts 29 February in a leap year and refuses a short buffer', () => {
    expect(RtcTime.parse('280229235959').day).toBe(29);
    expect(() => RtcTime.decodeBcd(new Uint8Array(5))).toThrow(MalformedDataError);
  });
});

describe('TariffTable', () => {
  const table = TariffTable.example(100, [
    { month: 1, day: 1 },
    { year: 2026, month: 12, day: 25 },
  ]);

  it.each([
    ['winter weekday night', at(2026, 11, 23, 3), 50],
    ['winter weekday shoulder 07:00', at(2026, 11, 23, 7), 75],
    ['winter weekday 09:30', at(2026, 11, 23, 9, 30), 100],
    ['winter weekday 15:00', at(2026, 11, 23, 15), 200],
    ['summer weekday 15:00', at(2026, 7, 13, 15), 300],
    ['summer weekday 13:59:59', at(2026, 7, 13, 13, 59, 59), 200],
    ['summer weekday 14:00:00', at(2026, 7, 13, 14), 300],
    ['Sunday noon', at(2026, 11, 22, 12), 100],
    ['Sunday 23:30', at(2026, 11, 22, 23, 30), 50],
    ['New Year (every year) noon', at(2027, 1, 1, 12), 75],
    ['Christmas 2026 noon', at(2026, 12, 25, 12), 75],
    ['Christmas 2027 (a Saturday, not listed) noon', at(2027, 12, 25, 12), 100],
  ])('%s → %i %%', (_name, t, percent) => {
    expect(table.percentOf(table.stepAt(t))).toBe(percent);
  });

  it('has at least the five steps 50/75/100/200/300 %', () => {
    expect(table.steps).toEqual([50, 75, 100, 200, 300]);
  });

  const base = (): TariffTableSpec => {
    const all = [{ from: 0, to: 1440, step: 0 }];
    return {
      unitCharge: 100,
      steps: [50, 100],
      seasons: [{ fromMonth: 1, toMonth: 12, weekday: all, weekend: all, holiday: all }],
    };
  };
  const withWeekday = (weekday: TariffSeason['weekday']): TariffTableSpec => {
    const b = base();
    return { ...b, seasons: [{ ...b.seasons[0]!, weekday }] };
  };
  const err = (spec: TariffTableSpec): TariffTableError => {
    try {
      TariffTable.create(spec);
    } catch (e) {
      if (e instanceof TariffTableError) return e;
      throw e;
    }
    throw new Error('no error');
  };

  it('rejects a gap with its place', () => {
    const e = err(
      withWeekday([
        { from: 0, to: 600, step: 0 },
        { from: 660, to: 1440, step: 1 },
      ]),
    );
    expect(e.code).toBe('gap');
    expect(e.where).toEqual({ season: 0, dayType: 'weekday', minute: 600 });
  });

  it('rejects a gap at the end of the day', () => {
    const e = err(withWeekday([{ from: 0, to: 1439, step: 0 }]));
    expect(e.code).toBe('gap');
    expect(e.where.minute).toBe(1439);
  });

  it('rejects an overlap with its place', () => {
    const e = err(
      withWeekday([
        { from: 0, to: 700, step: 0 },
        { from: 660, to: 1440, step: 1 },
      ]),
    );
    expect(e.code).toBe('overlap');
    expect(e.where).toEqual({ season: 0, dayType: 'weekday', minute: 660 });
  });

  it('rejects seasons that leave a month out or claim it twice', () => {
    const b = base();
    const s = b.seasons[0]!;
    expect(err({ ...b, seasons: [{ ...s, fromMonth: 1, toMonth: 11 }] }).where.month).toBe(12);
    const e = err({ ...b, seasons: [s, { ...s, fromMonth: 12, toMonth: 2 }] });
    expect(e.code).toBe('season-overlap');
    expect(e.where).toEqual({ season: 1, month: 12 });
  });

  it('rejects steps that do not exist, bad percents and bad unit charges', () => {
    expect(err(withWeekday([{ from: 0, to: 1440, step: 2 }])).code).toBe('interval-step');
    expect(err({ ...base(), steps: [50, 0] }).code).toBe('step-percent');
    expect(err({ ...base(), steps: [50, 100.5] }).code).toBe('step-percent');
    expect(err({ ...base(), unitCharge: -1 }).code).toBe('unit-charge');
    expect(err({ ...base(), holidays: [{ month: 2, day: 30 }] }).code).toBe('holiday');
    expect(err(withWeekday([{ from: 600, to: 600, step: 0 }])).code).toBe('interval-bounds');
  });

  it('encodes to the committed vector and decodes back to the same bytes', () => {
    const hex = readFileSync(new URL('tariff-example.hex', vectors), 'utf8').replace(/#.*$/gm, '');
    const bytes = fromHex(hex);
    expect(toHex(table.encode())).toBe(toHex(bytes));
    const back = TariffTable.decode(bytes);
    expect(toHex(back.encode())).toBe(toHex(bytes));
    expect(back.percentOf(back.stepAt(at(2026, 7, 13, 15)))).toBe(300);
  });

  it('decoding reports truncation, bad counts and trailing bytes with offsets', () => {
    const bytes = table.encode();
    for (const cut of [0, 1, 5, 6, 20, bytes.length - 1]) {
      expect(() => TariffTable.decode(bytes.subarray(0, cut))).toThrow(MalformedDataError);
    }
    const extra = new Uint8Array([...bytes, 0]);
    try {
      TariffTable.decode(extra);
      expect.unreachable();
    } catch (e) {
      expect((e as MalformedDataError).offset).toBe(bytes.length);
    }
    const badSteps = bytes.slice();
    badSteps[5] = 17;
    try {
      TariffTable.decode(badSteps);
      expect.unreachable();
    } catch (e) {
      expect((e as MalformedDataError).offset).toBe(5);
    }
  });

  it('decoding never throws anything but its typed errors', () => {
    const good = table.encode();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 0, max: 255 }), (i, v) => {
        const b = good.slice();
        b[i] = v;
        try {
          TariffTable.decode(b);
        } catch (e) {
          expect(e instanceof MalformedDataError || e instanceof TariffTableError).toBe(true);
        }
      }),
    );
  });

  it('a decoded table with a gap is refused by the same rule', () => {
    const bytes = TariffTable.flat(100).encode();
    // The first interval's "to" (u16 at the end of the weekday block) shortened from 1440 to 1000.
    const b = bytes.slice();
    const weekdayTo = bytes.length - 3 * 6 + 1 + 2;
    expect((b[weekdayTo]! << 8) | b[weekdayTo + 1]!).toBe(1440);
    b[weekdayTo] = 1000 >> 8;
    b[weekdayTo + 1] = 1000 & 255;
    expect(() => TariffTable.decode(b)).toThrow(TariffTableError);
  });
});

describe('TariffSchedule', () => {
  const table = TariffTable.example();

  it('splits consumption across boundaries exactly (sum of parts = whole)', () => {
    const s = new TariffSchedule(table);
    const from = at(2026, 7, 13, 13, 30);
    const parts = s.split(from, at(2026, 7, 13, 14, 30), 1_000_001);
    expect(parts.map((p) => p.percent)).toEqual([200, 300]);
    expect(parts.map((p) => p.quantity)).toEqual([500_000, 500_001]);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 86400 * 400 }),
        fc.integer({ min: 1, max: 86400 * 3 }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        (off, len, q) => {
          const f = at(2026, 1, 1) + off;
          const ps = s.split(f, f + len, q);
          expect(ps.reduce((a, p) => a + p.quantity, 0)).toBe(q);
          expect(ps[0]!.from).toBe(f);
          expect(ps[ps.length - 1]!.to).toBe(f + len);
          for (const p of ps) expect(p.percent).toBe(p.table.percentOf(p.table.stepAt(p.from)));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a pending table takes effect exactly at its activation second', () => {
    const s = new TariffSchedule(table);
    const now = at(2026, 11, 23, 3);
    const act = at(2026, 11, 23, 3, 10, 30);
    expect(s.load(TariffTable.flat(100, 150), act, now)).toBe(false);
    expect(s.tableAt(act - 1)).toBe(table);
    expect(s.tableAt(act).steps).toEqual([150]);
    const parts = s.split(at(2026, 11, 23, 3, 10), at(2026, 11, 23, 3, 11), 600);
    expect(parts.map((p) => [p.percent, p.quantity])).toEqual([
      [50, 300],
      [150, 300],
    ]);
    expect(s.promote(act - 1)).toBe(false);
    expect(s.promote(act)).toBe(true);
    expect(s.active.steps).toEqual([150]);
  });

  it('TariffChange round-trips and shifts inner offsets', () => {
    const ch = new TariffChange(RtcTime.of(2026, 12, 1), table);
    const b = ch.encode();
    const back = TariffChange.decode(b);
    expect(back.activateAt.seconds).toBe(ch.activateAt.seconds);
    expect(toHex(back.table.encode())).toBe(toHex(table.encode()));
    try {
      TariffChange.decode(b.subarray(0, 8));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(MalformedDataError);
      expect((e as MalformedDataError).offset).toBeGreaterThanOrEqual(6);
    }
  });
});
