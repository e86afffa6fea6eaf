import { MalformedDataError } from '../card/index.js';
import { StateReader, type StateObject } from './state.js';
import { civilOf, DAY_SECONDS, RTC_MAX_SECONDS, RtcTime } from './RtcTime.js';

export const MINUTE_SLOTS = 1440;
export const DAY_SLOTS = 7;
export const MONTH_SLOTS = 12;
export const LOG_FORMAT_VERSION = 1;
/** Size of the encoded log in bytes. */
export const LOG_ENCODED_SIZE =
  1 + 6 + 2 + 2 + 2 + MINUTE_SLOTS * 2 + 1 + DAY_SLOTS * 4 + 1 + MONTH_SLOTS * 4 + 2;

/** A decoded log (what the host reads from the usage-check command). Arrays are oldest first. */
export interface ConsumptionLogView {
  /** Start of the minute that was open when the log was encoded. */
  readonly at: RtcTime;
  readonly minuteUnit: number;
  readonly totalUnit: number;
  readonly minutes: Uint16Array;
  readonly days: Uint32Array;
  readonly months: Uint32Array;
  readonly saturated: number;
}

/** Options of a consumption log. */
export interface ConsumptionLogOptions {
  /** Quantity per count of a minute entry: default 10 (10 mWh for electricity, 10 mL for water). */
  minuteUnit?: number;
  /** Quantity per count of a daily or monthly total: default 1000 (Wh, litres). */
  totalUnit?: number;
}

/**
 * Consumption history in the meter's non-volatile memory (seed 000 Fig. 5 item 15: "16 bit
 * information every sixty seconds" for 24 hours, daily totals for a week, monthly totals):
 * three ring buffers.
 *
 * - Minute ring: 1440 × u16, one per closed minute, in `minuteUnit`s (default 10 mWh, so one
 *   count is 0.6 W averaged over the minute). Remainders below one unit are carried into the
 *   next minute, so the entries of a day add up to the day's consumption. An entry **saturates**
 *   at 65535 (655.35 Wh in one minute = 39.3 kW average): the excess is not carried, the
 *   `saturated` counter (u16, itself saturating) goes up, and the daily and monthly totals stay exact.
 * - Day ring: 7 × u32 of closed days, in `totalUnit`s (default Wh), remainders carried.
 * - Month ring: 12 × u32 of closed calendar months (the seed adds thirty daily totals; we use
 *   calendar months so a month matches the bill), remainders carried.
 *
 * Minutes in which the meter was off (power failure) are written as 0 when it comes back.
 *
 * Binary form (big-endian; the "Log" of the host's usage-check command, seed 000 Fig. 3 STEP 36):
 * ```
 * off   size   field
 *    0     1   format version = 0x01
 *    1     6   RTC BCD of the start of the open minute (entries end just before it)
 *    7     2   minute unit (quantity per count)
 *    9     2   total unit (quantity per count of day and month totals)
 *   11     2   M = valid minute entries 0…1440
 *   13  2880   1440 × u16 minute entries, oldest first; the first 1440−M are 0 and not valid
 * 2893     1   D = valid day entries 0…7
 * 2894    28   7 × u32 daily totals, oldest first; the first 7−D are 0 and not valid
 * 2922     1   N = valid month entries 0…12
 * 2923    48   12 × u32 monthly totals, oldest first; the first 12−N are 0 and not valid
 * 2971     2   saturated minute entries (u16, saturating)
 * 2973         total
 * ```
 */
export class ConsumptionLog {
  readonly minuteUnit: number;
  readonly totalUnit: number;
  readonly #minutes = new Uint16Array(MINUTE_SLOTS);
  #mHead = 0;
  #mCount = 0;
  #mAcc = 0;
  #mCarry = 0;
  #openMinute: number;
  readonly #days = new Uint32Array(DAY_SLOTS);
  #dHead = 0;
  #dCount = 0;
  #dAcc = 0;
  #openDay: number;
  readonly #months = new Uint32Array(MONTH_SLOTS);
  #moHead = 0;
  #moCount = 0;
  #moAcc = 0;
  #openMonth: number;
  #saturated = 0;

  /** @throws RangeError naming the parameter. */
  constructor(startSeconds: number, options: ConsumptionLogOptions = {}) {
    if (!Number.isInteger(startSeconds) || startSeconds < 0)
      throw new RangeError(`startSeconds must be a non-negative integer, got ${startSeconds}`);
    const mu = options.minuteUnit ?? 10;
    const tu = options.totalUnit ?? 1000;
    if (!Number.isInteger(mu) || mu < 1 || mu > 65535)
      throw new RangeError(`minuteUnit must be an integer 1…65535, got ${mu}`);
    if (!Number.isInteger(tu) || tu < 1 || tu > 65535)
      throw new RangeError(`totalUnit must be an integer 1…65535, got ${tu}`);
    this.minuteUnit = mu;
    this.totalUnit = tu;
    this.#openMinute = startSeconds - (startSeconds % 60);
    this.#openDay = Math.floor(startSeconds / DAY_SECONDS);
    this.#openMonth = monthIndex(this.#openDay);
  }

  /** Start (RTC second) of the minute being accumulated. */
  get openMinute(): number {
    return this.#openMinute;
  }
  get saturated(): number {
    return this.#saturated;
  }
  /** Quantity accumulated so far today (not yet closed), including carried remainder. */
  get today(): number {
    return this.#dAcc;
  }

  /** Adds consumption to the open minute. @throws RangeError unless a safe non-negative integer. */
  add(quantity: number): void {
    if (!(quantity >= 0) || !Number.isSafeInteger(quantity))
      throw new RangeError(`quantity must be a safe non-negative integer, got ${quantity}`);
    this.#mAcc += quantity;
    this.#dAcc += quantity;
    this.#moAcc += quantity;
  }

  /** Closes every minute (and day, month) that ends at or before RTC second `t`. */
  advanceTo(t: number): void {
    while (t >= this.#openMinute + 60) {
      if (this.#openMinute % DAY_SECONDS === 0 && t >= this.#openMinute + DAY_SECONDS && this.#mAcc === 0) {
        // A whole day with nothing metered (power off, clock jump): 1440 zero entries at once. The
        // carry stays below one unit, so every entry would have been 0.
        this.#minutes.fill(0);
        this.#mCount = MINUTE_SLOTS;
        this.#openMinute += DAY_SECONDS;
        this.#closeDay();
        continue;
      }
      const total = this.#mAcc + this.#mCarry;
      let count = Math.floor(total / this.minuteUnit);
      this.#mCarry = total - count * this.minuteUnit;
      this.#mAcc = 0;
      if (count > 0xffff) {
        count = 0xffff;
        this.#mCarry = 0;
        if (this.#saturated < 0xffff) this.#saturated++;
      }
      this.#minutes[this.#mHead] = count;
      this.#mHead = (this.#mHead + 1) % MINUTE_SLOTS;
      if (this.#mCount < MINUTE_SLOTS) this.#mCount++;
      this.#openMinute += 60;
      if (this.#openMinute % DAY_SECONDS === 0) this.#closeDay();
    }
  }

  #closeDay(): void {
    const wh = Math.floor(this.#dAcc / this.totalUnit);
    this.#dAcc -= wh * this.totalUnit;
    this.#days[this.#dHead] = Math.min(wh, 0xffffffff);
    this.#dHead = (this.#dHead + 1) % DAY_SLOTS;
    if (this.#dCount < DAY_SLOTS) this.#dCount++;
    this.#openDay = this.#openMinute / DAY_SECONDS;
    const mi = monthIndex(this.#openDay);
    if (mi !== this.#openMonth) {
      const t = Math.floor(this.#moAcc / this.totalUnit);
      this.#moAcc -= t * this.totalUnit;
      this.#months[this.#moHead] = Math.min(t, 0xffffffff);
      this.#moHead = (this.#moHead + 1) % MONTH_SLOTS;
      if (this.#moCount < MONTH_SLOTS) this.#moCount++;
      this.#openMonth = mi;
    }
  }

  /** Valid minute entries, oldest first (up to 1440). */
  minutes(): Uint16Array {
    return ring(this.#minutes, this.#mHead, this.#mCount);
  }
  /** Valid daily totals, oldest first (up to 7). */
  days(): Uint32Array {
    return ring(this.#days, this.#dHead, this.#dCount);
  }
  /** Valid monthly totals, oldest first (up to 12). */
  months(): Uint32Array {
    return ring(this.#months, this.#moHead, this.#moCount);
  }

  /** Everything the log holds, accumulators and carries included (part of `Meter.snapshot`). JSON-safe. */
  saveState(): StateObject {
    return {
      minuteUnit: this.minuteUnit,
      totalUnit: this.totalUnit,
      minutes: [...this.#minutes],
      mHead: this.#mHead,
      mCount: this.#mCount,
      mAcc: this.#mAcc,
      mCarry: this.#mCarry,
      openMinute: this.#openMinute,
      days: [...this.#days],
      dHead: this.#dHead,
      dCount: this.#dCount,
      dAcc: this.#dAcc,
      months: [...this.#months],
      moHead: this.#moHead,
      moCount: this.#moCount,
      moAcc: this.#moAcc,
      openMonth: this.#openMonth,
      saturated: this.#saturated,
    };
  }

  /** Rebuilds a log from `saveState`. @throws RangeError naming the first bad field. */
  static fromState(state: StateObject): ConsumptionLog {
    const r = new StateReader(state, 'snapshot.log');
    const openMinute = r.int('openMinute', 0, RTC_MAX_SECONDS);
    if (openMinute % 60 !== 0) throw new RangeError('snapshot.log.openMinute must be a whole minute');
    const log = new ConsumptionLog(openMinute, {
      minuteUnit: r.int('minuteUnit', 1, 65535),
      totalUnit: r.int('totalUnit', 1, 65535),
    });
    const minutes = r.ints('minutes', MINUTE_SLOTS, 0, 0xffff);
    const days = r.ints('days', DAY_SLOTS, 0, 0xffffffff);
    const months = r.ints('months', MONTH_SLOTS, 0, 0xffffffff);
    const v = {
      mHead: r.int('mHead', 0, MINUTE_SLOTS - 1),
      mCount: r.int('mCount', 0, MINUTE_SLOTS),
      mAcc: r.int('mAcc'),
      mCarry: r.int('mCarry', 0, log.minuteUnit - 1),
      dHead: r.int('dHead', 0, DAY_SLOTS - 1),
      dCount: r.int('dCount', 0, DAY_SLOTS),
      dAcc: r.int('dAcc'),
      moHead: r.int('moHead', 0, MONTH_SLOTS - 1),
      moCount: r.int('moCount', 0, MONTH_SLOTS),
      moAcc: r.int('moAcc'),
      openMonth: r.int('openMonth'),
      saturated: r.int('saturated', 0, 0xffff),
    };
    log.#minutes.set(minutes);
    log.#days.set(days);
    log.#months.set(months);
    log.#mHead = v.mHead;
    log.#mCount = v.mCount;
    log.#mAcc = v.mAcc;
    log.#mCarry = v.mCarry;
    log.#dHead = v.dHead;
    log.#dCount = v.dCount;
    log.#dAcc = v.dAcc;
    log.#moHead = v.moHead;
    log.#moCount = v.moCount;
    log.#moAcc = v.moAcc;
    log.#openMonth = v.openMonth;
    log.#saturated = v.saturated;
    return log;
  }

  /** The binary form drawn in the class comment. */
  encode(): Uint8Array {
    const out = new Uint8Array(LOG_ENCODED_SIZE);
    const dv = new DataView(out.buffer);
    out[0] = LOG_FORMAT_VERSION;
    out.set(RtcTime.fromSeconds(this.#openMinute).encodeBcd(), 1);
    dv.setUint16(7, this.minuteUnit);
    dv.setUint16(9, this.totalUnit);
    dv.setUint16(11, this.#mCount);
    const m = this.minutes();
    m.forEach((v, k) => dv.setUint16(13 + (MINUTE_SLOTS - m.length + k) * 2, v));
    let o = 13 + MINUTE_SLOTS * 2;
    out[o] = this.#dCount;
    const d = this.days();
    const dBase = o + 1 + (DAY_SLOTS - d.length) * 4;
    d.forEach((v, k) => dv.setUint32(dBase + k * 4, v));
    o += 1 + DAY_SLOTS * 4;
    out[o] = this.#moCount;
    const mo = this.months();
    const moBase = o + 1 + (MONTH_SLOTS - mo.length) * 4;
    mo.forEach((v, k) => dv.setUint32(moBase + k * 4, v));
    o += 1 + MONTH_SLOTS * 4;
    dv.setUint16(o, this.#saturated);
    return out;
  }

  /**
   * @throws MalformedDataError (kind 'log' or 'rtc') with the offset of the fault: wrong size,
   * unknown version, a count over its ring size, a zero unit.
   */
  static decode(bytes: Uint8Array): ConsumptionLogView {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
    const fail = (why: string, at: number): never => {
      throw new MalformedDataError(why, at, bytes, 'log');
    };
    if (bytes.length !== LOG_ENCODED_SIZE)
      fail(
        `log must be ${LOG_ENCODED_SIZE} bytes, got ${bytes.length}`,
        Math.min(bytes.length, LOG_ENCODED_SIZE),
      );
    if (bytes[0] !== LOG_FORMAT_VERSION) fail(`unknown log version ${bytes[0]}`, 0);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const at = RtcTime.decodeBcd(bytes, 1);
    const minuteUnit = dv.getUint16(7);
    const totalUnit = dv.getUint16(9);
    if (minuteUnit === 0) fail('minute unit 0', 7);
    if (totalUnit === 0) fail('total unit 0', 9);
    const mc = dv.getUint16(11);
    if (mc > MINUTE_SLOTS) fail(`minute count ${mc} > ${MINUTE_SLOTS}`, 11);
    const minutes = new Uint16Array(mc);
    for (let i = 0; i < mc; i++) minutes[i] = dv.getUint16(13 + (MINUTE_SLOTS - mc + i) * 2);
    let o = 13 + MINUTE_SLOTS * 2;
    const dc = bytes[o]!;
    if (dc > DAY_SLOTS) fail(`day count ${dc} > ${DAY_SLOTS}`, o);
    const days = new Uint32Array(dc);
    for (let i = 0; i < dc; i++) days[i] = dv.getUint32(o + 1 + (DAY_SLOTS - dc + i) * 4);
    o += 1 + DAY_SLOTS * 4;
    const nc = bytes[o]!;
    if (nc > MONTH_SLOTS) fail(`month count ${nc} > ${MONTH_SLOTS}`, o);
    const months = new Uint32Array(nc);
    for (let i = 0; i < nc; i++) months[i] = dv.getUint32(o + 1 + (MONTH_SLOTS - nc + i) * 4);
    o += 1 + MONTH_SLOTS * 4;
    return { at, minuteUnit, totalUnit, minutes, days, months, saturated: dv.getUint16(o) };
  }
}

function monthIndex(dayNumber: number): number {
  const c = civilOf(dayNumber);
  return c.year * 12 + c.month - 1;
}

function ring<T extends Uint16Array | Uint32Array>(buf: T, head: number, count: number): T {
  const n = buf.length;
  const out = new (buf.constructor as { new (n: number): T })(count);
  for (let i = 0; i < count; i++) out[i] = buf[(head - count + i + n) % n]!;
  return out;
}
