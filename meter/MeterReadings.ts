import { MalformedDataError } from '../card/index.js';
import type { EventKind } from './events/EventLog.js';
import { RtcTime } from '../protocol/index.js';
import { MAX_STEPS } from '../protocol/index.js';

/** Indicator flags "since last credit entry" (seed 002) and the events that set them. */
export const READING_FLAGS = {
  'power-fail': 1 << 0,
  'reverse-flow': 1 << 1,
  'cover-open': 1 << 2,
  'theft-load-voltage': 1 << 3,
  'clock-backwards-refused': 1 << 4,
  'credit-refused': 1 << 5,
  'tariff-rejected': 1 << 6,
  'credit-exhausted': 1 << 7,
  'emergency-granted': 1 << 8,
  'friendly-debt': 1 << 9,
} as const satisfies Partial<Record<EventKind, number>>;

const COMMODITIES = ['electricity', 'gas', 'water', 'heat', 'hot water'] as const;
export const READINGS_FORMAT_VERSION = 1;
const HEADER = 34;
const PER_STEP = 10;

/** One rate step's figures. */
export interface StepReading {
  readonly percent: number;
  /** Cumulative quantity at this step, Wh (or L). */
  readonly total: number;
  /** Quantity at this step since the last credit entry, Wh (or L). */
  readonly sinceCredit: number;
}

/**
 * The meter data the meter writes onto the subscriber card at each credit entry, for the vending
 * point to read back (seed 002: "meter identity, cumulative total kilowatt hours, cumulative
 * kilowatt hours at each tariff, kilowatt hours at each tariff since last credit entry, reference
 * code for previous transaction, emergency credit limit, price per kilowatt hour for each tariff,
 * status of indicator flags … since last credit entry"). Immutable.
 *
 * Binary form (big-endian), the content of the card's meter-data record:
 * ```
 * off  size  field
 *  0    1    format version = 0x01
 *  1    3    meter identity
 *  4    1    commodity: 0 electricity, 1 gas, 2 water, 3 heat, 4 hot water
 *  5    6    RTC BCD YYMMDDhhmmss when read
 * 11    4    cumulative total, Wh (gas, water: L), u32 saturating
 * 15    4    reference code of the previous credit transaction
 * 19    4    emergency credit limit, units
 * 23    4    unit charge (units per kWh or m³ at 100 %)
 * 27    4    balance, units, signed (negative = owed)
 * 31    2    indicator flags since the last credit entry (READING_FLAGS)
 * 33    1    S = number of rate steps, 1…16
 * 34  10·S   per step: percent u16, cumulative Wh u32, since last credit Wh u32
 * ```
 */
export class MeterReadings {
  constructor(
    readonly meterId: Uint8Array,
    readonly commodity: (typeof COMMODITIES)[number],
    readonly time: RtcTime,
    readonly total: number,
    readonly reference: number,
    readonly emergencyLimit: number,
    readonly unitCharge: number,
    readonly balance: number,
    readonly flags: number,
    readonly steps: readonly StepReading[],
  ) {
    this.meterId = new Uint8Array(meterId);
    this.steps = Object.freeze(steps.map((s) => Object.freeze({ ...s })));
  }

  /** Names of the flags that are set. */
  flagNames(): string[] {
    return Object.entries(READING_FLAGS)
      .filter(([, bit]) => (this.flags & bit) !== 0)
      .map(([k]) => k);
  }

  /** @throws RangeError when a field does not fit its slot (the meter saturates totals before this). */
  encode(): Uint8Array {
    if (this.meterId.length !== 3) throw new RangeError('meterId must be 3 bytes');
    if (this.steps.length < 1 || this.steps.length > MAX_STEPS)
      throw new RangeError(`need 1…${MAX_STEPS} steps`);
    const out = new Uint8Array(HEADER + PER_STEP * this.steps.length);
    const dv = new DataView(out.buffer);
    const u32 = (off: number, v: number, name: string) => {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
        throw new RangeError(`${name} must fit a u32, got ${v}`);
      dv.setUint32(off, v);
    };
    out[0] = READINGS_FORMAT_VERSION;
    out.set(this.meterId, 1);
    out[4] = COMMODITIES.indexOf(this.commodity);
    out.set(this.time.encodeBcd(), 5);
    u32(11, this.total, 'total');
    u32(15, this.reference, 'reference');
    u32(19, this.emergencyLimit, 'emergencyLimit');
    u32(23, this.unitCharge, 'unitCharge');
    if (!Number.isInteger(this.balance) || this.balance < -0x80000000 || this.balance > 0x7fffffff)
      throw new RangeError(`balance must fit an i32, got ${this.balance}`);
    dv.setInt32(27, this.balance);
    dv.setUint16(31, this.flags & 0xffff);
    out[33] = this.steps.length;
    this.steps.forEach((s, k) => {
      const o = HEADER + k * PER_STEP;
      dv.setUint16(o, s.percent);
      u32(o + 2, s.total, `steps[${k}].total`);
      u32(o + 6, s.sinceCredit, `steps[${k}].sinceCredit`);
    });
    return out;
  }

  /** @throws MalformedDataError (kind 'readings' or 'rtc') with the offset of the fault. */
  static decode(bytes: Uint8Array): MeterReadings {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
    const fail = (why: string, at: number): never => {
      throw new MalformedDataError(why, at, bytes, 'readings');
    };
    if (bytes.length < HEADER) fail(`readings need at least ${HEADER} bytes`, bytes.length);
    if (bytes[0] !== READINGS_FORMAT_VERSION) fail(`unknown readings version ${bytes[0]}`, 0);
    const commodity = COMMODITIES[bytes[4]!];
    if (!commodity) fail(`unknown commodity ${bytes[4]}`, 4);
    const n = bytes[33]!;
    if (n < 1 || n > MAX_STEPS) fail(`step count ${n} not in 1…${MAX_STEPS}`, 33);
    if (bytes.length !== HEADER + PER_STEP * n)
      fail(
        `${n} steps need ${HEADER + PER_STEP * n} bytes, got ${bytes.length}`,
        Math.min(bytes.length, HEADER + PER_STEP * n),
      );
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const steps: StepReading[] = [];
    for (let k = 0; k < n; k++) {
      const o = HEADER + k * PER_STEP;
      steps.push({ percent: dv.getUint16(o), total: dv.getUint32(o + 2), sinceCredit: dv.getUint32(o + 6) });
    }
    return new MeterReadings(
      bytes.slice(1, 4),
      commodity!,
      RtcTime.decodeBcd(bytes, 5),
      dv.getUint32(11),
      dv.getUint32(15),
      dv.getUint32(19),
      dv.getUint32(23),
      dv.getInt32(27),
      dv.getUint16(31),
      steps,
    );
  }
}
