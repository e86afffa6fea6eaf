import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  bcdDateTime,
  bcdToNumber,
  decodeBcdDateTime,
  decodeBcdPairs,
  encodeBcdDateTime,
  encodeBcdPairs,
  isBcdDateTime,
  showDateTime,
  type DateTimeFields,
} from '../../card/util/bcd.js';
import { MalformedDataError, SwError } from '../../card/iso7816/errors.js';
import { checkDateTime } from '../../card/applets/bytes.js';
import { SW_WRONG_DATA } from '../../card/iso7816/sw.js';
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

describe('packed BCD (card/util/bcd.ts)', () => {
  it('decodes and encodes 00…99, high nibble first', () => {
    expect(decodeBcdPairs(fromHex('00 09 10 99'), 0, 4)).toEqual([0, 9, 10, 99]);
    expect(toHex(encodeBcdPairs([0, 9, 10, 99]))).toBe('00091099');
    for (let v = 0; v <= 99; v++) expect(decodeBcdPairs(encodeBcdPairs([v]), 0, 1)).toEqual([v]);
  });

  it.each([
    ['A0', 1, 'high nibble A'],
    ['0A', 1, 'low nibble A'],
    ['FF', 1, 'both nibbles F'],
    ['9A', 1, 'one past 99 in the low nibble'],
  ])('refuses 12 %s with the offset of the bad byte (%s)', (hex, offset) => {
    const e = malformed(() => decodeBcdPairs(fromHex(`12${hex}`), 0, 2));
    expect(e.offset).toBe(offset);
    expect(e.kind).toBe('bcd');
    expect(toHex(e.raw!)).toBe(`12${hex}`);
  });

  it('refuses too few bytes with the offset of the end', () => {
    const e = malformed(() => decodeBcdPairs(fromHex('1234'), 1, 2, 'card expiry'));
    expect(e.offset).toBe(2);
    expect(e.kind).toBe('card expiry');
  });

  it.each([[100], [-1], [1.5], [Number.NaN]])('encoding %s is a RangeError naming values[i]', (v) => {
    expect(() => encodeBcdPairs([1, v])).toThrow(/^values\[1\] must be an integer 0\.\.99/);
  });

  it('reads digits as one number: YYMMDD dates compare as numbers', () => {
    expect(bcdToNumber(fromHex('301231'))).toBe(301231);
    expect(bcdToNumber(fromHex('00000001'))).toBe(1);
    expect(bcdToNumber(fromHex('99999999999999'))).toBe(99_999_999_999_999);
    expect(() => bcdToNumber(new Uint8Array(8))).toThrow(RangeError);
    expect(() => bcdToNumber(new Uint8Array(0))).toThrow(RangeError);
    expect(malformed(() => bcdToNumber(fromHex('3012F1'))).offset).toBe(2);
  });
});

describe('BCD date-time YYMMDDhhmmss', () => {
  it('decodes the first and the last second of the calendar', () => {
    expect(decodeBcdDateTime(fromHex('000101000000'))).toEqual({
      year: 2000,
      month: 1,
      day: 1,
      hour: 0,
      minute: 0,
      second: 0,
    });
    expect(decodeBcdDateTime(fromHex('991231235959'))).toEqual({
      year: 2099,
      month: 12,
      day: 31,
      hour: 23,
      minute: 59,
      second: 59,
    });
  });

  it.each([
    ['261300000000', 1, 'month 13'],
    ['260001000000', 1, 'month 00'],
    ['261100000000', 2, 'day 00'],
    ['260431000000', 2, '31 April'],
    ['260230000000', 2, '30 February'],
    ['270229000000', 2, '29 February 2027'],
    ['261122240000', 3, 'hour 24'],
    ['261122236000', 4, 'minute 60'],
    ['261122235960', 5, 'second 60'],
    ['2611220A5826', 3, 'a nibble above 9'],
    ['2611220758', 5, 'five bytes'],
  ])('refuses %s at offset %i (%s)', (hex, offset) => {
    const e = malformed(() => decodeBcdDateTime(fromHex(hex)));
    expect(e.offset).toBe(offset);
    expect(e.kind).toBe('bcd date-time');
    expect(isBcdDateTime(fromHex(hex))).toBe(false);
  });

  it('accepts 29 February of a leap year, and decodes at an offset with the caller’s kind', () => {
    expect(decodeBcdDateTime(fromHex('280229235959')).day).toBe(29);
    const e = malformed(() => decodeBcdDateTime(fromHex('FFFF 261300000000'), 2, 'rtc'));
    expect([e.offset, e.kind]).toEqual([3, 'rtc']);
    expect(decodeBcdDateTime(fromHex('FFFF 261122075826'), 2).minute).toBe(58);
  });

  it.each<[string, Partial<DateTimeFields>]>([
    ['year', { year: 2100 }],
    ['year', { year: 1999 }],
    ['day', { month: 4, day: 31 }],
    ['hour', { hour: 24 }],
    ['second', { second: 60 }],
    ['minute', { minute: 1.5 }],
  ])('encoding refuses a bad %s with a RangeError naming it', (name, change) => {
    const t = { year: 2026, month: 11, day: 22, hour: 7, minute: 58, second: 26, ...change };
    expect(() => encodeBcdDateTime(t)).toThrow(new RegExp(`^${name} must be`));
  });

  it('round-trips any date-time of 2000…2099', () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date(Date.UTC(2000, 0, 1)),
          max: new Date(Date.UTC(2099, 11, 31, 23, 59, 59)),
          noInvalidDate: true,
        }),
        (d) => {
          const bcd = bcdDateTime(d.getTime());
          const t = decodeBcdDateTime(bcd);
          expect(Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second)).toBe(
            Math.floor(d.getTime() / 1000) * 1000,
          );
          expect(toHex(encodeBcdDateTime(t))).toBe(toHex(bcd));
        },
      ),
    );
  });

  it('bcdDateTime of an instant, and its refusal outside 2000…2099', () => {
    expect(toHex(bcdDateTime(Date.UTC(2026, 10, 22, 7, 58, 26)))).toBe('261122075826');
    expect(() => bcdDateTime(Date.UTC(2100, 0, 1))).toThrow(RangeError);
    expect(() => bcdDateTime(Date.UTC(1999, 11, 31, 23, 59, 59))).toThrow(RangeError);
    expect(() => bcdDateTime(Number.NaN)).toThrow(RangeError);
  });

  it('isBcdDateTime never throws, and wants exactly six bytes', () => {
    expect(isBcdDateTime(fromHex('261122075826'))).toBe(true);
    expect(isBcdDateTime(fromHex('26112207582600'))).toBe(false);
    expect(isBcdDateTime('261122075826' as unknown as Uint8Array)).toBe(false);
  });

  it('shows the bytes as they are, "?" when too short', () => {
    expect(showDateTime(fromHex('261122075826'))).toBe('2026-11-22 07:58:26');
    expect(showDateTime(fromHex('00 261122075826'), 1)).toBe('2026-11-22 07:58:26');
    expect(showDateTime(fromHex('2611'))).toBe('?');
  });

  it('the applets answer 6A80 for a date-time the codec refuses (31 April too)', () => {
    expect(() => checkDateTime(fromHex('261122075826'))).not.toThrow();
    for (const hex of ['260431000000', '2611220A5826', '26112207']) {
      let sw: number | undefined;
      try {
        checkDateTime(fromHex(hex));
      } catch (e) {
        sw = e instanceof SwError ? e.sw : undefined;
      }
      expect(sw).toBe(SW_WRONG_DATA);
    }
  });
});
