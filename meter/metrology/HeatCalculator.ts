/**
 * Volumetric heat capacity of water used by the heat meter, J per litre per kelvin (4.186 kJ/(kg·K)
 * at about 1 kg/L; EN 1434 meters use temperature-dependent k-factors — this constant model keeps the
 * arithmetic exact and is documented in docs/meter.md).
 */
export const WATER_J_PER_L_K = 4186;
/** mL · mK · (J/(L·K)) per mWh: 1000 (mL/L) · 1000 (mK/K) · 3.6 (J/mWh). */
const DENOMINATOR = 3_600_000;
/**
 * Δθmin of the meter, mK: the smallest flow/return difference for which it is specified within its
 * maximum permissible errors (EN 1434-1 and Directive 2014/32/EU Annex VI (MI-004): Δθmin is 3 K,
 * 5 K or 10 K, with Δθmax/Δθmin ≥ 10). Heat below it is still integrated (a meter does not drop
 * energy it measured); the volume that passed below it is counted apart (`belowMinMl`), for the
 * utility to see how much of the bill was measured outside the specified range.
 */
export const HEAT_DELTA_THETA_MIN_MK = 3000;

/**
 * Heat metrology of an offline heat meter: heat = volume × ΔT × heat capacity, from flow pulses
 * (mL) and the flow/return temperature difference in millikelvin, in integer arithmetic:
 * mWh = mL · mK · 4186 / 3 600 000, with the remainder carried to the next call. EN 1434-1 writes
 * the same integral Q = ∫ k(θin, θout) · Δθ dV with a heat coefficient k that depends on both
 * temperatures (and on which pipe the flow sensor sits in); this calculator takes k constant
 * (WATER_J_PER_L_K): ρ·c_p of water is about 4.17 MJ/(m³·K) at 20 °C and 4.06 at 90 °C, so the
 * constant overstates heat by up to about 3 % in a hot circuit — a model, not a type-approved
 * calculator.
 */
export class HeatCalculator {
  #carry = 0;
  #totalMWh = 0;
  #volumeMl = 0;
  #belowMinMl = 0;

  /**
   * EN 1434-1 / MI-004 form: the temperature sensor pair gives θ at the inlet (flow) and at the
   * outlet (return) of the heat-exchange circuit, in m°C; Δθ = θin − θout, and heat is given up only
   * for Δθ ≥ 0. Same result as `add(volumeMl, θin − θout)`.
   * @throws RangeError as `add`, or when a temperature is not an integer.
   */
  addTemperatures(volumeMl: number, flowMilliC: number, returnMilliC: number): number {
    if (!Number.isSafeInteger(flowMilliC))
      throw new RangeError(`flowMilliC must be an integer, got ${flowMilliC}`);
    if (!Number.isSafeInteger(returnMilliC))
      throw new RangeError(`returnMilliC must be an integer, got ${returnMilliC}`);
    return this.add(volumeMl, flowMilliC - returnMilliC);
  }

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
    this.#volumeMl += volumeMl;
    if (dk < HEAT_DELTA_THETA_MIN_MK) this.#belowMinMl += volumeMl;
    return mwh;
  }

  /** Volume that passed the flow sensor, mL. */
  get volumeMl(): number {
    return this.#volumeMl;
  }
  /** Of that, the volume that passed with Δθ below HEAT_DELTA_THETA_MIN_MK (including Δθ ≤ 0), mL. */
  get belowMinMl(): number {
    return this.#belowMinMl;
  }

  get totalMWh(): number {
    return this.#totalMWh;
  }
  /** Heat below one mWh carried, in 1/3 600 000 mWh. */
  get carry(): number {
    return this.#carry;
  }
}
