import { Prng } from './Prng.js';

/** An appliance that switches on now and then. */
export interface Appliance {
  readonly name: string;
  readonly watts: number;
  /** How long one use lasts, minutes. */
  readonly minutes: number;
  /** Expected uses per day. */
  readonly perDay: number;
  /** Relative likelihood of starting in each hour 0…23 (24 numbers). */
  readonly hours: readonly number[];
  /** Months 1…12 it is used in; default all. */
  readonly months?: readonly number[];
}

/** A household load profile: a typical daily curve, seeded noise, and appliances. */
export interface LoadProfileSpec {
  readonly name: string;
  /** Base load per hour 0…23 on weekdays, W (interpolated linearly between hours). */
  readonly weekdayW: readonly number[];
  /** Base load per hour on weekend days and holidays, W. */
  readonly weekendW: readonly number[];
  /** Multiplier of the base load per month 1…12 (12 numbers: lighting in winter…). */
  readonly monthFactor: readonly number[];
  /** Relative spread of the per-minute noise on the base load (0.2 = ±20 % around it). */
  readonly noise: number;
  readonly appliances: readonly Appliance[];
}

const EVENING = [0, 0, 0, 0, 0, 0, 1, 2, 1, 0.5, 0.5, 0.5, 1, 0.5, 0.5, 0.5, 1, 2, 3, 3, 2, 1, 0.5, 0];
const DAYTIME = [0, 0, 0, 0, 0, 0, 0, 0, 0.5, 1, 1, 1, 1, 1, 2, 3, 3, 2, 1, 0.5, 0, 0, 0, 0];
const MORNING = [0, 0, 0, 0, 0, 0, 2, 3, 2, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1, 1, 1, 0.5, 0.2, 0, 0];

/** Named profiles (`--load` of the simulate command). */
export const LOAD_PROFILES: Readonly<Record<string, LoadProfileSpec>> = Object.freeze({
  household: {
    name: 'household',
    weekdayW: [
      120, 110, 105, 100, 100, 110, 220, 380, 300, 180, 160, 160, 190, 170, 160, 170, 230, 380, 520, 560, 500,
      420, 280, 170,
    ],
    weekendW: [
      140, 120, 110, 105, 100, 105, 150, 250, 360, 380, 340, 330, 360, 330, 300, 300, 340, 430, 540, 560, 510,
      440, 320, 190,
    ],
    monthFactor: [1.3, 1.25, 1.1, 1.0, 0.9, 0.85, 0.85, 0.85, 0.9, 1.0, 1.15, 1.3],
    noise: 0.25,
    appliances: [
      { name: 'kettle', watts: 2200, minutes: 3, perDay: 3, hours: MORNING },
      { name: 'washing machine', watts: 900, minutes: 60, perDay: 0.5, hours: DAYTIME },
      { name: 'oven', watts: 2000, minutes: 45, perDay: 0.6, hours: EVENING },
      { name: 'air conditioner', watts: 1500, minutes: 120, perDay: 1.2, hours: DAYTIME, months: [6, 7, 8] },
      { name: 'heater', watts: 1800, minutes: 90, perDay: 1, hours: EVENING, months: [11, 12, 1, 2] },
    ],
  },
  flat: {
    name: 'flat',
    weekdayW: new Array<number>(24).fill(500),
    weekendW: new Array<number>(24).fill(500),
    monthFactor: new Array<number>(12).fill(1),
    noise: 0,
    appliances: [],
  },
  small: {
    name: 'small',
    weekdayW: [
      60, 55, 50, 50, 50, 55, 120, 200, 120, 80, 70, 70, 90, 80, 70, 70, 100, 180, 260, 280, 240, 200, 130,
      80,
    ],
    weekendW: [
      70, 60, 55, 50, 50, 55, 80, 150, 200, 200, 180, 170, 190, 170, 160, 160, 180, 220, 280, 290, 260, 220,
      150, 90,
    ],
    monthFactor: [1.2, 1.15, 1.05, 1.0, 0.95, 0.9, 0.9, 0.9, 0.95, 1.0, 1.1, 1.2],
    noise: 0.3,
    appliances: [{ name: 'kettle', watts: 2000, minutes: 3, perDay: 2, hours: MORNING }],
  },
});

/**
 * Generates a household's power minute by minute from a profile and a seed: the base curve for the
 * day type and month, multiplied by seeded noise, plus appliances started at seeded random times.
 * Same spec and seed → the same watts, minute for minute.
 */
export class LoadGenerator {
  readonly spec: LoadProfileSpec;
  readonly #rng: Prng;
  readonly #weekday: Float64Array;
  readonly #weekend: Float64Array;
  readonly #startP: Float64Array[];
  readonly #left: Int32Array;

  /** @throws RangeError when the spec's arrays have the wrong length or negative values. */
  constructor(spec: LoadProfileSpec, seed: number) {
    for (const [arr, n, name] of [
      [spec.weekdayW, 24, 'weekdayW'],
      [spec.weekendW, 24, 'weekendW'],
      [spec.monthFactor, 12, 'monthFactor'],
    ] as const)
      if (arr.length !== n || arr.some((x) => !(x >= 0) || !Number.isFinite(x)))
        throw new RangeError(`${name} must hold ${n} non-negative numbers`);
    if (!(spec.noise >= 0 && spec.noise < 1))
      throw new RangeError(`noise must be in [0, 1), got ${spec.noise}`);
    this.spec = spec;
    this.#rng = new Prng(seed);
    this.#weekday = curve(spec.weekdayW);
    this.#weekend = curve(spec.weekendW);
    this.#startP = spec.appliances.map((a) => {
      if (a.hours.length !== 24 || !(a.watts >= 0) || !(a.minutes >= 1) || !(a.perDay >= 0))
        throw new RangeError(`appliance ${a.name}: bad watts, minutes, perDay or hours`);
      const sum = a.hours.reduce((x, y) => x + y, 0);
      const p = new Float64Array(24);
      for (let h = 0; h < 24; h++) p[h] = sum > 0 ? (a.perDay * a.hours[h]!) / sum / 60 : 0;
      return p;
    });
    this.#left = new Int32Array(spec.appliances.length);
  }

  /** Integer watts drawn in minute `minuteOfDay` (0…1439) of a day of month `month` (1…12). */
  watts(minuteOfDay: number, month: number, restDay: boolean): number {
    const base = (restDay ? this.#weekend : this.#weekday)[minuteOfDay]! * this.spec.monthFactor[month - 1]!;
    const noise = this.spec.noise > 0 ? 1 + this.spec.noise * (2 * this.#rng.float() - 1) : 1;
    let w = base * noise;
    const hour = (minuteOfDay / 60) | 0;
    const apps = this.spec.appliances;
    for (let k = 0; k < apps.length; k++) {
      const a = apps[k]!;
      if (this.#left[k]! > 0) {
        this.#left[k]!--;
        w += a.watts;
        continue;
      }
      const r = this.#rng.float();
      if (a.months && !a.months.includes(month)) continue;
      if (r < this.#startP[k]![hour]!) {
        this.#left[k] = a.minutes - 1;
        w += a.watts;
      }
    }
    return Math.round(w);
  }
}

function curve(hourly: readonly number[]): Float64Array {
  const out = new Float64Array(1440);
  for (let m = 0; m < 1440; m++) {
    const h = Math.floor(m / 60);
    const f = (m % 60) / 60;
    out[m] = hourly[h]! * (1 - f) + hourly[(h + 1) % 24]! * f;
  }
  return out;
}
