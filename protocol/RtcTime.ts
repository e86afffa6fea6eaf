import { MalformedDataError } from '../card/iso7816/errors.js';

/** Seconds in a day. */
export const DAY_SECONDS = 86_400;
/** The last second the two-digit year can name: 2099-12-31 23:59:59. */
export const RTC_MAX_SECONDS = 3_155_759_999;

const EPOCH_2000_MS = Date.UTC(2000, 0, 1);

/** Day number (days since 2000-01-01) of a civil date, in the meter's local time. */
export function dayNumberOf(year: number, month: number, day: number): number {
  return Math.round((Date.UTC(year, month - 1, day) - EPOCH_2000_MS) / 86_400_000);
}

/** Weekday of a day number: 0 = Monday … 6 = Sunday (2000-01-01 was a Saturday). */
export function weekdayOf(dayNumber: number): number {
  return (((dayNumber + 5) % 7) + 7) % 7;
}

/** Civil date of a day number. */
export function civilOf(dayNumber: number): { year: number; month: number; day: number } {
  const d = new Date(EPOCH_2000_MS + dayNumber * 86_400_000);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function intArg(v: number, name: string, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max)
    throw new RangeError(`${name} must be an integer ${min}…${max}, got ${v}`);
}

/**
 * A reading of the meter's real-time clock, YYMMDDhhmmss (seed 000 Fig. 5 item 11), 2000–2099,
 * local civil time of the meter (no time zone, no daylight saving: tariffs follow the wall
 * clock the supplier sets). Immutable.
 *
 * Wire form: 6 bytes packed BCD, two digits per byte, high nibble first:
 * ```
 *  byte  0    1    2    3    4    5
 *        YY   MM   DD   hh   mm   ss      e.g. 26 11 22 07 58 26 = 2026-11-22 07:58:26
 * ```
 * Text form: the same twelve decimal digits, "261122075826".
 * BCD was picked over ASCII because it is what RTC chips hold and it halves the size.
 */
export class RtcTime {
  private constructor(
    readonly year: number,
    readonly month: number,
    readonly day: number,
    readonly hour: number,
    readonly minute: number,
    readonly second: number,
    /** Seconds since 2000-01-01 00:00:00. */
    readonly seconds: number,
  ) {}

  /** @throws RangeError naming the field that is out of range (including 31 April). */
  static of(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): RtcTime {
    intArg(year, 'year', 2000, 2099);
    intArg(month, 'month', 1, 12);
    intArg(day, 'day', 1, daysInMonth(year, month));
    intArg(hour, 'hour', 0, 23);
    intArg(minute, 'minute', 0, 59);
    intArg(second, 'second', 0, 59);
    const s = dayNumberOf(year, month, day) * DAY_SECONDS + hour * 3600 + minute * 60 + second;
    return new RtcTime(year, month, day, hour, minute, second, s);
  }

  /** @throws RangeError naming `seconds` when it is not an integer 0…RTC_MAX_SECONDS. */
  static fromSeconds(seconds: number): RtcTime {
    intArg(seconds, 'seconds', 0, RTC_MAX_SECONDS);
    const dn = Math.floor(seconds / DAY_SECONDS);
    const sod = seconds - dn * DAY_SECONDS;
    const c = civilOf(dn);
    return new RtcTime(
      c.year,
      c.month,
      c.day,
      Math.floor(sod / 3600),
      Math.floor(sod / 60) % 60,
      sod % 60,
      seconds,
    );
  }

  /**
   * Decodes the 6-byte BCD form at `offset`.
   * @throws MalformedDataError (kind 'rtc') with the offset of the first bad byte: too short, a
   * nibble above 9, or a field out of range (month 13, 30 February, hour 24…).
   */
  static decodeBcd(bytes: Uint8Array, offset = 0): RtcTime {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
    if (bytes.length - offset < 6)
      throw new MalformedDataError('RTC needs 6 BCD bytes', bytes.length, bytes, 'rtc');
    const f: number[] = [];
    for (let i = 0; i < 6; i++) {
      const b = bytes[offset + i]!;
      if (b >> 4 > 9 || (b & 15) > 9)
        throw new MalformedDataError(`byte 0x${b.toString(16)} is not BCD`, offset + i, bytes, 'rtc');
      f.push((b >> 4) * 10 + (b & 15));
    }
    return RtcTime.#checked(f, (i) => offset + i, bytes);
  }

  /**
   * Parses "YYMMDDhhmmss".
   * @throws MalformedDataError (kind 'rtc') with the character offset of the fault.
   */
  static parse(text: string): RtcTime {
    if (typeof text !== 'string') throw new TypeError('text must be a string');
    const m = /^\d{12}$/.exec(text);
    if (!m) {
      const bad = [...text].findIndex((c) => c < '0' || c > '9');
      throw new MalformedDataError(
        bad >= 0 && bad < 12 ? `not a digit: ${JSON.stringify(text[bad])}` : 'need 12 digits YYMMDDhhmmss',
        bad >= 0 && bad < 12 ? bad : Math.min(text.length, 12),
        undefined,
        'rtc',
      );
    }
    const f = [0, 2, 4, 6, 8, 10].map((i) => Number(text.slice(i, i + 2)));
    return RtcTime.#checked(f, (i) => 2 * i);
  }

  static #checked(f: number[], at: (field: number) => number, raw?: Uint8Array): RtcTime {
    const [yy, mo, dd, hh, mi, ss] = f as [number, number, number, number, number, number];
    const year = 2000 + yy;
    const fail = (field: number, what: string): never => {
      throw new MalformedDataError(what, at(field), raw, 'rtc');
    };
    if (mo < 1 || mo > 12) fail(1, `month ${mo} out of range`);
    if (dd < 1 || dd > daysInMonth(year, mo)) fail(2, `day ${dd} out of range for ${year}-${mo}`);
    if (hh > 23) fail(3, `hour ${hh} out of range`);
    if (mi > 59) fail(4, `minute ${mi} out of range`);
    if (ss > 59) fail(5, `second ${ss} out of range`);
    return RtcTime.of(year, mo, dd, hh, mi, ss);
  }

  /** The 6-byte BCD form. */
  encodeBcd(): Uint8Array {
    const f = [this.year - 2000, this.month, this.day, this.hour, this.minute, this.second];
    return Uint8Array.from(f, (v) => (Math.floor(v / 10) << 4) | (v % 10));
  }

  /** Day number (days since 2000-01-01). */
  get dayNumber(): number {
    return Math.floor(this.seconds / DAY_SECONDS);
  }

  /** 0 = Monday … 6 = Sunday. */
  get weekday(): number {
    return weekdayOf(this.dayNumber);
  }

  /** "YYMMDDhhmmss". */
  toString(): string {
    const two = (v: number) => String(v).padStart(2, '0');
    return [this.year - 2000, this.month, this.day, this.hour, this.minute, this.second].map(two).join('');
  }

  /** "2026-11-22 07:58:26". */
  toDisplay(): string {
    const two = (v: number) => String(v).padStart(2, '0');
    return `${this.year}-${two(this.month)}-${two(this.day)} ${two(this.hour)}:${two(this.minute)}:${two(this.second)}`;
  }
}
