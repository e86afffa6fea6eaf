import type { DayType } from '../protocol/index.js';

/** What `FriendlyHours` takes. */
export interface FriendlyHoursSpec {
  /** Night window start, minute of day 0…1439 (may be later than `nightTo`: wraps over midnight). */
  nightFrom?: number;
  /** Night window end, minute of day 0…1440, exclusive. Equal to `nightFrom` = no night window. */
  nightTo?: number;
  /** Whole weekend days are friendly. */
  weekends?: boolean;
  /** Whole holidays are friendly. */
  holidays?: boolean;
}

/**
 * Friendly-credit hours: times at which the meter never cuts the supply for lack of credit
 * (nights, weekends, holidays — when the user cannot buy credit). Consumption then becomes debt,
 * repaid first from the next credit. When the friendly period ends with no credit, the supply is
 * cut at the first minute outside it.
 */
export class FriendlyHours {
  readonly nightFrom: number;
  readonly nightTo: number;
  readonly weekends: boolean;
  readonly holidays: boolean;

  /** @throws RangeError naming the field. */
  constructor(spec: FriendlyHoursSpec = {}) {
    const from = spec.nightFrom ?? 0;
    const to = spec.nightTo ?? 0;
    if (!Number.isInteger(from) || from < 0 || from > 1439)
      throw new RangeError(`nightFrom must be a minute 0…1439, got ${from}`);
    if (!Number.isInteger(to) || to < 0 || to > 1440)
      throw new RangeError(`nightTo must be a minute 0…1440, got ${to}`);
    this.nightFrom = from;
    this.nightTo = to;
    this.weekends = spec.weekends ?? false;
    this.holidays = spec.holidays ?? false;
  }

  /** No friendly time at all. */
  static none(): FriendlyHours {
    return new FriendlyHours();
  }

  /** Whether minute-of-day `minute` of a day of type `dayType` is friendly. */
  isFriendly(minute: number, dayType: DayType): boolean {
    if (dayType === 'holiday' && this.holidays) return true;
    if (dayType === 'weekend' && this.weekends) return true;
    if (this.nightFrom === this.nightTo) return false;
    return this.nightFrom < this.nightTo
      ? minute >= this.nightFrom && minute < this.nightTo
      : minute >= this.nightFrom || minute < this.nightTo;
  }
}
