import { MalformedDataError } from '../card/index.js';
import { be16, be32, u16 as readU16, u32 as readU32 } from '../card/index.js';
import { TariffTableError } from './errors.js';
import { civilOf, DAY_SECONDS, weekdayOf } from './RtcTime.js';

/** The three kinds of day a profile is chosen for. */
export type DayType = 'weekday' | 'weekend' | 'holiday';
export const DAY_TYPES: readonly DayType[] = ['weekday', 'weekend', 'holiday'];

/** Minutes in a day; interval ends are exclusive, so the last one ends at 1440. */
export const MINUTES_PER_DAY = 1440;
export const MAX_STEPS = 16;
export const MAX_SEASONS = 12;
export const MAX_HOLIDAYS = 64;
export const MAX_INTERVALS = 48;
/** Highest rate step: 1000 % of the unit charge. */
export const MAX_PERCENT = 1000;
export const TARIFF_FORMAT_VERSION = 1;

/** Minutes [from, to) of a day charged at rate step `step`. */
export interface TariffInterval {
  readonly from: number;
  readonly to: number;
  readonly step: number;
}

/** Months fromMonth…toMonth (inclusive; may wrap over the new year, e.g. 11…2) and their day profiles. */
export interface TariffSeason {
  readonly fromMonth: number;
  readonly toMonth: number;
  readonly weekday: readonly TariffInterval[];
  readonly weekend: readonly TariffInterval[];
  readonly holiday: readonly TariffInterval[];
}

/** A holiday: every year on month/day when `year` is absent, otherwise that date only. */
export interface Holiday {
  readonly year?: number;
  readonly month: number;
  readonly day: number;
}

/** What `TariffTable.create` takes. */
export interface TariffTableSpec {
  /** Price of 1 kWh (or 1 m³) at the 100 % step, in minor currency units. */
  readonly unitCharge: number;
  /** Percent of the unit charge per rate step; the index is the step number used by intervals. */
  readonly steps: readonly number[];
  /** Weekend days, 0 = Monday … 6 = Sunday; default Saturday and Sunday. */
  readonly weekendDays?: readonly number[];
  readonly holidays?: readonly Holiday[];
  readonly seasons: readonly TariffSeason[];
}

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

/**
 * The differential charge mode table of seed 000 (Fig. 5 item 11, "mode table MT"): rate steps
 * such as 50 %, 75 %, 100 %, 200 %, 300 % of a unit charge, chosen by month/season, by
 * weekday/weekend/holiday and by time of day (minute resolution). Immutable and validated:
 * every month is in exactly one season and every minute of every profile in exactly one interval.
 *
 * Binary form (the payload of the host's "tariff mode change" command, seed 000 Fig. 2 "Mode+Unit";
 * all integers big-endian):
 * ```
 * off  size  field
 *  0    1    format version = 0x01
 *  1    4    unit charge (minor units per kWh or m³ at 100 %), 1…2^32-1
 *  5    1    S = number of rate steps, 1…16
 *  6    2·S  percent of each step, u16, 1…1000
 *  +    1    weekend mask: bit d set = weekday d is a weekend day (bit 0 Monday … bit 6 Sunday)
 *  +    1    H = number of holidays, 0…64
 *  +    3·H  holiday: year-2000 (0xFF = every year), month 1…12, day 1…31
 *  +    1    N = number of seasons, 1…12
 *  then per season:
 *       1    first month 1…12
 *       1    last month 1…12 (inclusive; smaller than the first = wraps over the new year)
 *       then for weekday, weekend, holiday in that order:
 *       1    K = number of intervals, 1…48
 *       5·K  interval: from minute u16 (0…1439), to minute u16 (1…1440, exclusive), step u8
 * ```
 * Nothing may follow the last season.
 */
export class TariffTable {
  readonly unitCharge: number;
  readonly steps: readonly number[];
  /** bit d = weekday d (0 = Monday) is a weekend day. */
  readonly weekendMask: number;
  readonly holidays: readonly Holiday[];
  readonly seasons: readonly TariffSeason[];
  /** month (1…12) → season index. */
  readonly #seasonOfMonth: Uint8Array;
  /** [season * 3 + dayType] → step per minute of day. */
  readonly #profiles: Uint8Array[];
  readonly #everyYear: Set<number>;
  readonly #dated: Set<number>;
  #cacheDay = -1;
  #cacheProfile: Uint8Array | undefined;

  private constructor(spec: TariffTableSpec, weekendMask: number) {
    this.unitCharge = spec.unitCharge;
    this.steps = Object.freeze([...spec.steps]);
    this.weekendMask = weekendMask;
    this.holidays = Object.freeze((spec.holidays ?? []).map((h) => Object.freeze({ ...h })));
    this.seasons = Object.freeze(
      spec.seasons.map((s) =>
        Object.freeze({
          fromMonth: s.fromMonth,
          toMonth: s.toMonth,
          weekday: Object.freeze(s.weekday.map((i) => Object.freeze({ ...i }))),
          weekend: Object.freeze(s.weekend.map((i) => Object.freeze({ ...i }))),
          holiday: Object.freeze(s.holiday.map((i) => Object.freeze({ ...i }))),
        }),
      ),
    );
    this.#seasonOfMonth = new Uint8Array(13);
    this.seasons.forEach((s, idx) => {
      for (const m of monthsOf(s)) this.#seasonOfMonth[m] = idx;
    });
    this.#profiles = [];
    for (const s of this.seasons) {
      for (const dt of DAY_TYPES) {
        const p = new Uint8Array(MINUTES_PER_DAY);
        for (const iv of s[dt]) p.fill(iv.step, iv.from, iv.to);
        this.#profiles.push(p);
      }
    }
    this.#everyYear = new Set();
    this.#dated = new Set();
    for (const h of this.holidays) {
      if (h.year === undefined) this.#everyYear.add(h.month * 32 + h.day);
      else this.#dated.add((h.year * 13 + h.month) * 32 + h.day);
    }
  }

  /**
   * Validates and builds a table.
   * @throws TariffTableError with a precise code and place: a month in no season ('season-gap') or
   * two ('season-overlap'); minutes covered by no interval ('gap') or by two ('overlap'); a step
   * number with no step ('interval-step'); bad percent, unit charge, weekend day or holiday.
   */
  static create(spec: TariffTableSpec): TariffTable {
    if (spec === null || typeof spec !== 'object') throw new TypeError('spec must be an object');
    if (!isInt(spec.unitCharge, 1, 0xffffffff))
      throw new TariffTableError(
        'unit-charge',
        `unit charge must be an integer 1…2^32-1, got ${spec.unitCharge}`,
      );
    if (!Array.isArray(spec.steps) || spec.steps.length < 1 || spec.steps.length > MAX_STEPS)
      throw new TariffTableError('steps', `need 1…${MAX_STEPS} rate steps`);
    spec.steps.forEach((p, i) => {
      if (!isInt(p, 1, MAX_PERCENT))
        throw new TariffTableError(
          'step-percent',
          `step ${i}: percent must be an integer 1…${MAX_PERCENT}, got ${p}`,
          {
            index: i,
          },
        );
    });
    let mask = 0b1100000;
    if (spec.weekendDays !== undefined) {
      mask = 0;
      for (const d of spec.weekendDays) {
        if (!isInt(d, 0, 6))
          throw new TariffTableError('weekend-days', `weekend day must be 0 (Monday)…6, got ${d}`);
        mask |= 1 << d;
      }
    }
    const holidays = spec.holidays ?? [];
    if (holidays.length > MAX_HOLIDAYS)
      throw new TariffTableError('holiday', `at most ${MAX_HOLIDAYS} holidays`);
    holidays.forEach((h, i) => {
      const yearOk = h.year === undefined || isInt(h.year, 2000, 2254);
      // Every-year holidays are checked against a leap year, so 29 February is allowed.
      const maxDay = new Date(Date.UTC(h.year ?? 2000, h.month, 0)).getUTCDate();
      if (!yearOk || !isInt(h.month, 1, 12) || !isInt(h.day, 1, maxDay))
        throw new TariffTableError('holiday', `holiday ${i} is not a valid date`, { index: i });
    });
    if (!Array.isArray(spec.seasons) || spec.seasons.length < 1 || spec.seasons.length > MAX_SEASONS)
      throw new TariffTableError('seasons', `need 1…${MAX_SEASONS} seasons`);
    const owner = new Array<number>(13).fill(-1);
    spec.seasons.forEach((s, si) => {
      if (!isInt(s.fromMonth, 1, 12) || !isInt(s.toMonth, 1, 12))
        throw new TariffTableError('season-months', `season ${si}: months must be 1…12`, { season: si });
      for (const m of monthsOf(s)) {
        if (owner[m] !== -1)
          throw new TariffTableError(
            'season-overlap',
            `month ${m} is in season ${owner[m]} and season ${si}`,
            {
              season: si,
              month: m,
            },
          );
        owner[m] = si;
      }
    });
    for (let m = 1; m <= 12; m++)
      if (owner[m] === -1)
        throw new TariffTableError('season-gap', `month ${m} is in no season`, { month: m });
    spec.seasons.forEach((s, si) => {
      for (const dt of DAY_TYPES) checkProfile(s[dt], si, dt, spec.steps.length);
    });
    return new TariffTable(spec, mask);
  }

  /**
   * An example five-step table after seed 000 ("100 % at daytimes of weekdays, 75 % before and
   * after the daily work times, 50 % at midnight, 200 % at daily work times, 300 % at 2 to 4 p.m.
   * in summer"). Steps: 0 = 50 %, 1 = 75 %, 2 = 100 %, 3 = 200 %, 4 = 300 %. Summer is June…August.
   */
  static example(unitCharge = 100, holidays: readonly Holiday[] = []): TariffTable {
    const h = (x: number) => x * 60;
    const weekday = (summer: boolean): TariffInterval[] => [
      { from: 0, to: h(7), step: 0 },
      { from: h(7), to: h(9), step: 1 },
      { from: h(9), to: h(10), step: 2 },
      ...(summer
        ? [
            { from: h(10), to: h(14), step: 3 },
            { from: h(14), to: h(16), step: 4 },
            { from: h(16), to: h(18), step: 3 },
          ]
        : [{ from: h(10), to: h(18), step: 3 }]),
      { from: h(18), to: h(22), step: 1 },
      { from: h(22), to: h(24), step: 0 },
    ];
    const restDay: TariffInterval[] = [
      { from: 0, to: h(7), step: 0 },
      { from: h(7), to: h(23), step: 2 },
      { from: h(23), to: h(24), step: 0 },
    ];
    const holiday: TariffInterval[] = [
      { from: 0, to: h(8), step: 0 },
      { from: h(8), to: h(24), step: 1 },
    ];
    return TariffTable.create({
      unitCharge,
      steps: [50, 75, 100, 200, 300],
      holidays,
      seasons: [
        { fromMonth: 9, toMonth: 5, weekday: weekday(false), weekend: restDay, holiday },
        { fromMonth: 6, toMonth: 8, weekday: weekday(true), weekend: restDay, holiday },
      ],
    });
  }

  /** A one-step table (gas, water, heat meters and tests). */
  static flat(unitCharge: number, percent = 100): TariffTable {
    const all = [{ from: 0, to: MINUTES_PER_DAY, step: 0 }];
    return TariffTable.create({
      unitCharge,
      steps: [percent],
      seasons: [{ fromMonth: 1, toMonth: 12, weekday: all, weekend: all, holiday: all }],
    });
  }

  /** Whether a day number (days since 2000-01-01) is a holiday, weekend day or weekday; holidays win. */
  dayType(dayNumber: number): DayType {
    if (this.#everyYear.size + this.#dated.size > 0) {
      const c = civilOf(dayNumber);
      if (this.#everyYear.has(c.month * 32 + c.day) || this.#dated.has((c.year * 13 + c.month) * 32 + c.day))
        return 'holiday';
    }
    return (this.weekendMask >> weekdayOf(dayNumber)) & 1 ? 'weekend' : 'weekday';
  }

  /** Season index of a month 1…12. */
  seasonOf(month: number): number {
    return this.#seasonOfMonth[month] ?? 0;
  }

  /** The step of every minute of a day (1440 entries; do not modify). Cached for the last day asked. */
  profileOf(dayNumber: number): Uint8Array {
    if (dayNumber === this.#cacheDay && this.#cacheProfile) return this.#cacheProfile;
    const month = civilOf(dayNumber).month;
    const dt = this.dayType(dayNumber);
    const p = this.#profiles[this.seasonOf(month) * 3 + DAY_TYPES.indexOf(dt)]!;
    this.#cacheDay = dayNumber;
    this.#cacheProfile = p;
    return p;
  }

  /** Rate step in force at an RTC second (seconds since 2000-01-01). */
  stepAt(seconds: number): number {
    const dn = Math.floor(seconds / DAY_SECONDS);
    return this.profileOf(dn)[Math.floor((seconds - dn * DAY_SECONDS) / 60)]!;
  }

  /** Percent of the unit charge at a rate step. */
  percentOf(step: number): number {
    return this.steps[step] ?? 100;
  }

  /** Seconds from `seconds` to the next instant the rate step may change (next minute boundary where it does, or midnight). */
  nextChange(seconds: number): number {
    const dn = Math.floor(seconds / DAY_SECONDS);
    const p = this.profileOf(dn);
    const base = dn * DAY_SECONDS;
    let m = Math.floor((seconds - base) / 60);
    const s = p[m]!;
    while (m < MINUTES_PER_DAY && p[m] === s) m++;
    return base + m * 60;
  }

  /** The binary form drawn in the class comment. */
  encode(): Uint8Array {
    const out: number[] = [TARIFF_FORMAT_VERSION];
    const u16 = (v: number) => out.push(...be16(v));
    out.push(...be32(this.unitCharge));
    out.push(this.steps.length);
    for (const p of this.steps) u16(p);
    out.push(this.weekendMask, this.holidays.length);
    for (const h of this.holidays) out.push(h.year === undefined ? 0xff : h.year - 2000, h.month, h.day);
    out.push(this.seasons.length);
    for (const s of this.seasons) {
      out.push(s.fromMonth, s.toMonth);
      for (const dt of DAY_TYPES) {
        out.push(s[dt].length);
        for (const iv of s[dt]) {
          u16(iv.from);
          u16(iv.to);
          out.push(iv.step);
        }
      }
    }
    return Uint8Array.from(out);
  }

  /**
   * Decodes the binary form and validates the result.
   * @throws MalformedDataError (kind 'tariff') with the offset when the bytes are truncated, a count
   * is over its limit, a version is unknown or bytes are left over; TariffTableError when the
   * decoded table breaks a rule (gap, overlap, bad step…).
   */
  static decode(bytes: Uint8Array): TariffTable {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
    let off = 0;
    const need = (n: number, what: string) => {
      if (off + n > bytes.length)
        throw new MalformedDataError(`truncated: ${what} needs ${n} byte(s)`, off, bytes, 'tariff');
    };
    const u8 = (what: string) => {
      need(1, what);
      return bytes[off++]!;
    };
    const u16 = (what: string) => {
      need(2, what);
      const v = readU16(bytes, off);
      off += 2;
      return v;
    };
    const count = (what: string, max: number, min = 0) => {
      const at = off;
      const n = u8(what);
      if (n < min || n > max)
        throw new MalformedDataError(`${what} ${n} not in ${min}…${max}`, at, bytes, 'tariff');
      return n;
    };
    const version = u8('version');
    if (version !== TARIFF_FORMAT_VERSION)
      throw new MalformedDataError(`unknown tariff format version ${version}`, 0, bytes, 'tariff');
    need(4, 'unit charge');
    const unitCharge = readU32(bytes, 1);
    off = 5;
    const nSteps = count('step count', MAX_STEPS, 1);
    const steps: number[] = [];
    for (let i = 0; i < nSteps; i++) steps.push(u16('step percent'));
    const mask = u8('weekend mask');
    if (mask > 0x7f) throw new MalformedDataError('weekend mask bit 7 set', off - 1, bytes, 'tariff');
    const weekendDays = [0, 1, 2, 3, 4, 5, 6].filter((d) => (mask >> d) & 1);
    const nHol = count('holiday count', MAX_HOLIDAYS);
    const holidays: Holiday[] = [];
    for (let i = 0; i < nHol; i++) {
      const y = u8('holiday year');
      const month = u8('holiday month');
      const day = u8('holiday day');
      holidays.push(y === 0xff ? { month, day } : { year: 2000 + y, month, day });
    }
    const nSeasons = count('season count', MAX_SEASONS, 1);
    const seasons: TariffSeason[] = [];
    for (let i = 0; i < nSeasons; i++) {
      const fromMonth = u8('season first month');
      const toMonth = u8('season last month');
      const prof: TariffInterval[][] = [];
      for (const dt of DAY_TYPES) {
        const k = count(`${dt} interval count`, MAX_INTERVALS, 1);
        const ivs: TariffInterval[] = [];
        for (let j = 0; j < k; j++)
          ivs.push({ from: u16('interval from'), to: u16('interval to'), step: u8('interval step') });
        prof.push(ivs);
      }
      seasons.push({ fromMonth, toMonth, weekday: prof[0]!, weekend: prof[1]!, holiday: prof[2]! });
    }
    if (off !== bytes.length)
      throw new MalformedDataError(
        `${bytes.length - off} byte(s) after the last season`,
        off,
        bytes,
        'tariff',
      );
    return TariffTable.create({ unitCharge, steps, weekendDays, holidays, seasons });
  }
}

function monthsOf(s: { fromMonth: number; toMonth: number }): number[] {
  const out: number[] = [];
  let m = s.fromMonth;
  for (;;) {
    out.push(m);
    if (m === s.toMonth) return out;
    m = (m % 12) + 1;
  }
}

function checkProfile(
  ivs: readonly TariffInterval[],
  season: number,
  dayType: DayType,
  nSteps: number,
): void {
  if (!Array.isArray(ivs) || ivs.length < 1 || ivs.length > MAX_INTERVALS)
    throw new TariffTableError(
      'intervals',
      `season ${season} ${dayType}: need 1…${MAX_INTERVALS} intervals`,
      {
        season,
        dayType,
      },
    );
  ivs.forEach((iv, index) => {
    if (!isInt(iv.from, 0, MINUTES_PER_DAY - 1) || !isInt(iv.to, 1, MINUTES_PER_DAY) || iv.to <= iv.from)
      throw new TariffTableError(
        'interval-bounds',
        `season ${season} ${dayType} interval ${index}: need 0 ≤ from < to ≤ 1440, got ${iv.from}…${iv.to}`,
        { season, dayType, index },
      );
    if (!isInt(iv.step, 0, nSteps - 1))
      throw new TariffTableError(
        'interval-step',
        `season ${season} ${dayType} interval ${index}: step ${iv.step} does not exist (${nSteps} steps)`,
        { season, dayType, index },
      );
  });
  const sorted = [...ivs].sort((a, b) => a.from - b.from || a.to - b.to);
  let covered = 0;
  for (const iv of sorted) {
    if (iv.from > covered)
      throw new TariffTableError(
        'gap',
        `season ${season} ${dayType}: minutes ${covered}…${iv.from - 1} are in no interval`,
        { season, dayType, minute: covered },
      );
    if (iv.from < covered)
      throw new TariffTableError(
        'overlap',
        `season ${season} ${dayType}: minutes ${iv.from}…${Math.min(covered, iv.to) - 1} are in two intervals`,
        { season, dayType, minute: iv.from },
      );
    covered = iv.to;
  }
  if (covered < MINUTES_PER_DAY)
    throw new TariffTableError(
      'gap',
      `season ${season} ${dayType}: minutes ${covered}…1439 are in no interval`,
      {
        season,
        dayType,
        minute: covered,
      },
    );
}
