/**
 * The anomaly check of an authentic offline reading against the meter's own history. The MAC
 * proves the offline meter's SAM wrote the record; these findings are about what the meter saw
 * (flags) and about consistency over time, which only the utility can judge:
 *
 * ```
 *  cumulative-backwards   cumulative below the previous reading's (register reset or swapped meter)
 *  sequence-gap           reading seq more than one above the previous stored one (readings lost)
 *  consumption-jump       consumption since the previous reading far above the meter's history
 *                         (robust z-score > JUMP_Z over its last readings, as host/theft judges LSs)
 *  tamper, reverse-flow, relay-open-voltage, foreign-card, unauthentic-config   the event flags
 *  bound-elsewhere        the card's configuration binds it to another offline meter
 * ```
 * (A repeated seq with other content is found before this, where the reading is stored.)
 */
import {
  OFFLINE_EVENT_FOREIGN_CARD,
  OFFLINE_EVENT_RELAY_OPEN_VOLTAGE,
  OFFLINE_EVENT_REVERSE_FLOW,
  OFFLINE_EVENT_TAMPER,
  OFFLINE_EVENT_UNAUTHENTIC_CONFIG,
} from '../../card/index.js';
import { robustZ } from '../theft/TheftDetector.js';

/** Robust z-score above which a consumption is a jump. */
export const JUMP_Z = 6;
/** Readings of history needed before a jump is judged. */
export const JUMP_MIN_HISTORY = 4;

const FLAGS: ReadonlyArray<readonly [number, string]> = [
  [OFFLINE_EVENT_TAMPER, 'tamper'],
  [OFFLINE_EVENT_REVERSE_FLOW, 'reverse-flow'],
  [OFFLINE_EVENT_RELAY_OPEN_VOLTAGE, 'relay-open-voltage'],
  [OFFLINE_EVENT_FOREIGN_CARD, 'foreign-card'],
  [OFFLINE_EVENT_UNAUTHENTIC_CONFIG, 'unauthentic-config'],
];

/**
 * @param r the reading's fields used here.
 * @param previous the stored reading of the same meter with the highest seq below r's.
 * @param history cumulatives of the meter's readings before r, oldest first (the last one = previous).
 * @param boundMeter the offline meter (hex) the card's configuration binds it to, if any.
 * @returns the findings' names, in a fixed order; empty when the reading looks normal.
 */
export function anomaliesOf(
  r: { meterId: string; sequence: number; cumulative: number; events: number },
  previous: { seq: number; cumulative: number } | undefined,
  history: readonly number[],
  boundMeter: string | undefined,
): string[] {
  const out: string[] = [];
  if (previous) {
    if (r.cumulative < previous.cumulative) out.push('cumulative-backwards');
    if (r.sequence > previous.seq + 1) out.push('sequence-gap');
    const deltas = history.slice(1).map((c, i) => c - history[i]!);
    const delta = r.cumulative - previous.cumulative;
    if (delta > 0 && deltas.length >= JUMP_MIN_HISTORY) {
      const z = robustZ(delta, deltas);
      if (z !== undefined && z > JUMP_Z) out.push('consumption-jump');
    }
  }
  for (const [bit, name] of FLAGS) if ((r.events & bit) !== 0) out.push(name);
  if (boundMeter !== undefined && boundMeter !== r.meterId) out.push('bound-elsewhere');
  return out;
}
