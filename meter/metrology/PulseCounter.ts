/**
 * Volume metrology of an offline gas or water meter: the flow sensor gives one pulse per fixed
 * volume (a whole number of millilitres, e.g. 10 L per pulse = 10 000 mL). Integer throughout.
 */
export class PulseCounter {
  readonly mlPerPulse: number;
  #pulses = 0;

  /** @throws RangeError naming `mlPerPulse` unless it is a positive safe integer. */
  constructor(mlPerPulse: number) {
    if (!Number.isSafeInteger(mlPerPulse) || mlPerPulse < 1)
      throw new RangeError(`mlPerPulse must be a positive integer, got ${mlPerPulse}`);
    this.mlPerPulse = mlPerPulse;
  }

  /** Counts pulses and returns the volume they stand for, mL. @throws RangeError unless a non-negative integer. */
  add(pulses: number): number {
    if (!Number.isSafeInteger(pulses) || pulses < 0)
      throw new RangeError(`pulses must be a non-negative integer, got ${pulses}`);
    this.#pulses += pulses;
    return pulses * this.mlPerPulse;
  }

  get pulses(): number {
    return this.#pulses;
  }
  /** Total volume, mL. */
  get totalMl(): number {
    return this.#pulses * this.mlPerPulse;
  }
}
