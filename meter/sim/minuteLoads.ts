import { LoadGenerator, LOAD_PROFILES } from './LoadProfile.js';
import { civilOf, DAY_SECONDS } from '../../protocol/index.js';
import type { TariffTable } from '../../protocol/index.js';

/**
 * Per-minute energy (mWh) of a seeded household from `start` (seconds since 2000, at midnight)
 * for `days`, computed up front so that a benchmark times only the meter. Day types come from
 * `table` (weekday or rest day); W over 60 s in mWh is W·50/3, the remainder carried.
 */
export function householdMinuteLoads(
  start: number,
  days: number,
  seed: number,
  table: TariffTable,
): Uint32Array {
  const g = new LoadGenerator(LOAD_PROFILES.household!, seed);
  const out = new Uint32Array(days * 1440);
  let rem = 0;
  for (let m = 0; m < out.length; m++) {
    const dn = Math.floor((start + m * 60) / DAY_SECONDS);
    const acc = g.watts(m % 1440, civilOf(dn).month, table.dayType(dn) !== 'weekday') * 50 + rem;
    out[m] = Math.floor(acc / 3);
    rem = acc - out[m]! * 3;
  }
  return out;
}
