/**
 * The project's one packed-BCD codec: two decimal digits per byte, high nibble first, as the
 * cards' dates, the meter's RTC and the wire's time fields hold them.
 *
 * ```
 *  byte       b8-b5 tens digit 0…9   b4-b1 units digit 0…9      e.g. 0x59 = 59
 *  date-time  YY MM DD hh mm ss (6 bytes), 2000-01-01 00:00:00 … 2099-12-31 23:59:59
 *             e.g. 26 11 22 07 58 26 = 2026-11-22 07:58:26
 *  date       YY MM DD (3 bytes), e.g. a card's expiry 30 12 31
 * ```
 * Decoding is a parser of outside data (STYLE.md rule 3): a nibble above 9, a field out of range
 * (month 13, 30 February, hour 24) or too few bytes is a MalformedDataError with the offset of the
 * offending byte and the raw input; it never returns garbage. Encoding checks its arguments with
 * RangeErrors that name them.
 */
import { MalformedDataError } from '../iso7816/errors.js';

/** Bytes of a BCD date-time YYMMDDhhmmss. */
export const BCD_DATE_TIME_LENGTH = 6;

/** A civil date and time of the two-digit-year calendar (2000…2099). */
export interface DateTimeFields {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
}

/** Days in `month` (1…12) of `year` (Gregorian). */
export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function bytesArg(bytes: Uint8Array): void {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
}

function need(bytes: Uint8Array, offset: number, n: number, kind: string): void {
  if (!Number.isInteger(offset) || offset < 0)
    throw new RangeError(`offset must be a non-negative integer, got ${offset}`);
  if (bytes.length - offset < n)
    throw new MalformedDataError(
      `needs ${n} BCD bytes, ${Math.max(0, bytes.length - offset)} left`,
      bytes.length,
      bytes,
      kind,
    );
}

/** The value 0…99 of one BCD byte, or -1 when a nibble is above 9. */
function digitPair(b: number): number {
  const hi = b >> 4;
  const lo = b & 0x0f;
  return hi > 9 || lo > 9 ? -1 : hi * 10 + lo;
}

/**
 * Decodes `length` BCD bytes at `offset`, each to its value 0…99.
 * @throws MalformedDataError (kind `kind`, default 'bcd') with the offset of the first byte with a
 *   nibble above 9, or of the end when fewer than `length` bytes are left.
 * @throws TypeError when `bytes` is not a Uint8Array; RangeError for a bad `offset`/`length`.
 */
export function decodeBcdPairs(bytes: Uint8Array, offset: number, length: number, kind = 'bcd'): number[] {
  bytesArg(bytes);
  if (!Number.isInteger(length) || length < 0)
    throw new RangeError(`length must be a non-negative integer, got ${length}`);
  need(bytes, offset, length, kind);
  const out: number[] = [];
  for (let i = 0; i < length; i++) {
    const b = bytes[offset + i]!;
    const v = digitPair(b);
    if (v < 0)
      throw new MalformedDataError(
        `byte 0x${b.toString(16).padStart(2, '0')} is not BCD`,
        offset + i,
        bytes,
        kind,
      );
    out.push(v);
  }
  return out;
}

/**
 * Encodes values 0…99, one BCD byte each.
 * @throws RangeError naming `values[i]` when one is not an integer 0…99.
 */
export function encodeBcdPairs(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(values.length);
  values.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v > 99)
      throw new RangeError(`values[${i}] must be an integer 0..99, got ${v}`);
    out[i] = (Math.floor(v / 10) << 4) | (v % 10);
  });
  return out;
}

/**
 * The BCD digits of `length` bytes at `offset` read as one decimal number (30 12 31 → 301231),
 * e.g. to compare YYMMDD dates. At most 7 bytes (14 digits, exact in a double).
 * @throws MalformedDataError as `decodeBcdPairs`; RangeError when `length` is not 1…7.
 */
export function bcdToNumber(
  bytes: Uint8Array,
  offset = 0,
  length = bytes.length - offset,
  kind = 'bcd',
): number {
  if (!Number.isInteger(length) || length < 1 || length > 7)
    throw new RangeError(`length must be 1..7 bytes, got ${length}`);
  return decodeBcdPairs(bytes, offset, length, kind).reduce((n, v) => n * 100 + v, 0);
}

function fieldArg(v: number, name: string, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max)
    throw new RangeError(`${name} must be an integer ${min}…${max}, got ${v}`);
}

/**
 * Checks a date and time of the two-digit-year calendar.
 * @throws RangeError naming the field that is out of range (including 31 April, 29 February 2027).
 */
export function checkDateTimeFields(t: DateTimeFields): void {
  fieldArg(t.year, 'year', 2000, 2099);
  fieldArg(t.month, 'month', 1, 12);
  fieldArg(t.day, 'day', 1, daysInMonth(t.year, t.month));
  fieldArg(t.hour, 'hour', 0, 23);
  fieldArg(t.minute, 'minute', 0, 59);
  fieldArg(t.second, 'second', 0, 59);
}

/**
 * Decodes a BCD date-time YYMMDDhhmmss (6 bytes at `offset`).
 * @throws MalformedDataError (kind `kind`, default 'bcd date-time') with the offset of the first
 *   bad byte: a nibble above 9, a field out of range (month 13, 30 February, hour 24, minute 60),
 *   or the end of `bytes` when fewer than 6 bytes are left.
 */
export function decodeBcdDateTime(bytes: Uint8Array, offset = 0, kind = 'bcd date-time'): DateTimeFields {
  const [yy, mo, dd, hh, mi, ss] = decodeBcdPairs(bytes, offset, BCD_DATE_TIME_LENGTH, kind) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const year = 2000 + yy;
  const fail = (field: number, what: string): never => {
    throw new MalformedDataError(what, offset + field, bytes, kind);
  };
  if (mo < 1 || mo > 12) fail(1, `month ${mo} out of range`);
  if (dd < 1 || dd > daysInMonth(year, mo)) fail(2, `day ${dd} out of range for ${year}-${mo}`);
  if (hh > 23) fail(3, `hour ${hh} out of range`);
  if (mi > 59) fail(4, `minute ${mi} out of range`);
  if (ss > 59) fail(5, `second ${ss} out of range`);
  return { year, month: mo, day: dd, hour: hh, minute: mi, second: ss };
}

/**
 * Encodes a date and time as BCD YYMMDDhhmmss.
 * @throws RangeError naming the field that is out of range.
 */
export function encodeBcdDateTime(t: DateTimeFields): Uint8Array {
  checkDateTimeFields(t);
  return encodeBcdPairs([t.year - 2000, t.month, t.day, t.hour, t.minute, t.second]);
}

/** True when `bytes` is exactly one valid BCD date-time YYMMDDhhmmss. Never throws. */
export function isBcdDateTime(bytes: Uint8Array): boolean {
  if (!(bytes instanceof Uint8Array) || bytes.length !== BCD_DATE_TIME_LENGTH) return false;
  try {
    decodeBcdDateTime(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * BCD YYMMDDhhmmss of a UTC instant in milliseconds.
 * @throws RangeError naming `ms` when it is not an instant of 2000…2099.
 */
export function bcdDateTime(ms: number): Uint8Array {
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  if (!Number.isFinite(ms) || year < 2000 || year > 2099)
    throw new RangeError(`ms must be an instant of 2000…2099, got ${ms}`);
  return encodeBcdDateTime({
    year,
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
  });
}

/**
 * "2026-11-22 07:58:26" of a BCD YYMMDDhhmmss at `offset` (for display; the bytes as hex digits,
 * so a record holding garbage still shows what it holds). Fewer than 6 bytes show as "?".
 */
export function showDateTime(bytes: Uint8Array, offset = 0): string {
  if (!(bytes instanceof Uint8Array) || bytes.length - offset < BCD_DATE_TIME_LENGTH) return '?';
  const h = Array.from(bytes.subarray(offset, offset + BCD_DATE_TIME_LENGTH), (x) =>
    x.toString(16).padStart(2, '0'),
  );
  return `20${h[0]}-${h[1]}-${h[2]} ${h[3]}:${h[4]}:${h[5]}`;
}
