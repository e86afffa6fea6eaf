/**
 * Minimum delivery temperature of billed hot water, m°C: 50 °C — the temperature hot water must
 * reach at the outlets within a minute of running under the UK HSE's legionella guidance (ACoP L8 /
 * HSG274 Part 2: stored at 60 °C or more, distributed at 50 °C or more).
 */
export const HOT_WATER_MIN_MILLI_C = 50_000;

/**
 * Hot-water metrology of an offline hot-water meter (issue 17): the volume of water delivered hot.
 *
 * The rule: the flow sensor's volume of each sample (mL over a metering interval) is billed as hot
 * water when the delivery temperature measured over that interval is at or above the minimum
 * (`minimumMilliC`, default HOT_WATER_MIN_MILLI_C); otherwise it is metered in a separate cold
 * register and not billed — the water standing in the pipe after a pause, or a heater that failed,
 * is not what the subscriber buys. A sample is all or nothing (no proration inside an interval), so
 * the caller's interval decides the resolution; the meter core charges the billed mL like water
 * (the tariff's unit charge is per m³).
 *
 * Integer throughout: mL and m°C.
 */
export class HotWaterCalculator {
  readonly minimumMilliC: number;
  #hotMl = 0;
  #coldMl = 0;

  /** @throws RangeError naming `minimumMilliC` unless it is an integer 0…100 000 m°C. */
  constructor(minimumMilliC = HOT_WATER_MIN_MILLI_C) {
    if (!Number.isSafeInteger(minimumMilliC) || minimumMilliC < 0 || minimumMilliC > 100_000)
      throw new RangeError(`minimumMilliC must be an integer 0…100000, got ${minimumMilliC}`);
    this.minimumMilliC = minimumMilliC;
  }

  /**
   * Adds one sample; returns the mL to bill (the whole volume when hot enough, else 0).
   * @throws RangeError when `volumeMl` is not a safe non-negative integer or the temperature not an integer.
   */
  add(volumeMl: number, temperatureMilliC: number): number {
    if (!Number.isSafeInteger(volumeMl) || volumeMl < 0)
      throw new RangeError(`volumeMl must be a non-negative integer, got ${volumeMl}`);
    if (!Number.isSafeInteger(temperatureMilliC))
      throw new RangeError(`temperatureMilliC must be an integer, got ${temperatureMilliC}`);
    if (temperatureMilliC >= this.minimumMilliC) {
      this.#hotMl += volumeMl;
      return volumeMl;
    }
    this.#coldMl += volumeMl;
    return 0;
  }

  /** Volume delivered at or above the minimum temperature (billed), mL. */
  get hotMl(): number {
    return this.#hotMl;
  }
  /** Volume delivered below it (metered, not billed), mL. */
  get coldMl(): number {
    return this.#coldMl;
  }
}
