/**
 * Volumetric heat capacity of water used by the heat meter, J per litre per kelvin (4.186 kJ/(kg·K)
 * at about 1 kg/L; EN 1434 meters use temperature-dependent k-factors — this constant model keeps the
 * arithmetic exact and is documented in docs/meter.md).
 */
export const WATER_J_PER_L_K = 4186;
/** mL · mK · (J/(L·K)) per mWh: 1000 (mL/L) · 1000 (mK/K) · 3.6 (J/mWh). */
const DENOMINATOR = 3_600_000;

/**
 * Heat metrology of an offline heat meter: heat = volume × ΔT × heat capacity, from flow pulses
 * (mL) and the flow/return temperature difference in millikelvin, in integer arithmetic:
 * mWh = mL · mK · 4186 / 3 600 000, with the remainder carried to the next call.
 */
export class HeatCalculator {
  #carry = 0;
  #totalMWh = 0;

  /**
   * Adds the heat carried by `volumeMl` at a temperature drop of `deltaMilliK`; returns whole mWh.
   * A negative ΔT (return warmer than flow) delivers no heat and is counted as 0.
   * @throws RangeError when an argument is not a safe integer or the product would not be exact.
   */
  add(volumeMl: number, deltaMilliK: number): number {
    if (!Number.isSafeInteger(volumeMl) || volumeMl < 0)
      throw new RangeError(`volumeMl must be a non-negative integer, got ${volumeMl}`);
    if (!Number.isSafeInteger(deltaMilliK))
      throw new RangeError(`deltaMilliK must be an integer, got ${deltaMilliK}`);
    const dk = Math.max(0, deltaMilliK);
    const num = volumeMl * dk * WATER_J_PER_L_K + this.#carry;
    if (!Number.isSafeInteger(num))
      throw new RangeError('volumeMl × deltaMilliK too large for one call; split it');
    const mwh = Math.floor(num / DENOMINATOR);
    this.#carry = num - mwh * DENOMINATOR;
    this.#totalMWh += mwh;
    return mwh;
  }

  get totalMWh(): number {
    return this.#totalMWh;
  }
  /** Heat below one mWh carried, in 1/3 600 000 mWh. */
  get carry(): number {
    return this.#carry;
  }
}
