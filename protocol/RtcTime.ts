import { MalformedDataError } from '../card/index.js';
import { fromHex } from '../card/index.js';
import {
  checkDateTimeFields,
  decodeBcdDateTime,
  encodeBcdPairs,
  type DateTimeFields,
} from '../card/index.js';

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
    checkDateTimeFields({ year, month, day, hour, minute, second });
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
   * Decodes the 6-byte BCD form at `offset` (the one codec, card/util/bcd.ts).
   * @throws MalformedDataError (kind 'rtc') with the offset of the first bad byte: too short, a
   * nibble above 9, or a field out of range (month 13, 30 February, hour 24…).
   */
  static decodeBcd(bytes: Uint8Array, offset = 0): RtcTime {
    return RtcTime.#of(decodeBcdDateTime(bytes, offset, 'rtc'));
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
    // Twelve decimal digits read as hex are exactly the BCD form; field checks are the codec's,
    // with its byte offsets turned into character offsets (two digits per byte).
    try {
      return RtcTime.decodeBcd(fromHex(text));
    } catch (e) {
      if (e instanceof MalformedDataError)
        throw new MalformedDataError(e.reason, 2 * e.offset, undefined, 'rtc');
      throw e;
    }
  }

  static #of(t: DateTimeFields): RtcTime {
    return RtcTime.of(t.year, t.month, t.day, t.hour, t.minute, t.second);
  }

  /** The 6-byte BCD form (fields already checked by `of`, so only the digits are encoded). */
  encodeBcd(): Uint8Array {
    return encodeBcdPairs([this.year - 2000, this.month, this.day, this.hour, this.minute, this.second]);
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
