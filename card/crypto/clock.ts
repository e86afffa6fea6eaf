import type { Clock } from './types.js';

/** Wall-clock time (`Date.now()`), milliseconds since the Unix epoch. */
export class SystemClock implements Clock {
  now(): number {
    return Date.now();
  }
}

function checkMs(value: number, name: string): void {
  if (!Number.isFinite(value))
    throw new RangeError(`${name} must be a finite number of milliseconds, got ${value}`);
}

/** A clock that moves only when told to: simulations and tests drive it. */
export class ManualClock implements Clock {
  #ms: number;

  /** @throws RangeError naming `startMs` when it is not finite. */
  constructor(startMs = 0) {
    checkMs(startMs, 'startMs');
    this.#ms = startMs;
  }

  now(): number {
    return this.#ms;
  }

  /** Moves the clock forward. @throws RangeError naming `ms` when it is negative or not finite. */
  advance(ms: number): void {
    checkMs(ms, 'ms');
    if (ms < 0) throw new RangeError(`ms must not be negative, got ${ms}`);
    this.#ms += ms;
  }

  /** Sets the clock to any instant (also backwards, to model a tampered RTC). @throws RangeError naming `ms`. */
  set(ms: number): void {
    checkMs(ms, 'ms');
    this.#ms = ms;
  }
}
