/**
 * The anomaly check of an authentic offline reading against the meter's own history. The MAC
 * proves the offline meter's SAM wrote the record; these findings are about what the meter saw
 * (flags) and about consistency over time, which only the utility can judge:
 *
 * ```
 *  cumulative-backwards   cumulative below the previous reading's (register reset or swapped meter)
 *  sequence-gap           reading seq more than one above the previous stored one (readings lost)
 *  consumption-jump       consumption since the previous reading far above the meter's history
 *                         (robust z-score > JUMP_Z over its last readings, as host/theft judges LSs),
 *                         per day when the readings' date-times increase (a subscriber comes to the
 *                         meter at any interval: two weeks away is no jump — red team R3); an
 *                         interval under JUMP_MIN_INTERVAL_S is too short to judge
 *  cumulative-saturated   cumulative at 2^32 - 1: the meter's register saturated (offlineReadings.ts
 *                         never wraps), so from here on it records no consumption (red team R3)
 *  tamper, reverse-flow, relay-open-voltage, foreign-card, unauthentic-config   the event flags
 *  bound-elsewhere        the card's configuration binds it to another offline meter: to none of
 *                         the meters it may be bound to now (the newest applied configuration's and
 *                         those of newer ones not refused — one on its way may be on the card already)
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
/** Shortest interval between two readings whose consumption is judged as a rate, seconds. */
export const JUMP_MIN_INTERVAL_S = 3600;
const DAY_S = 86_400;

/** A stored reading in the history: its cumulative and, when known, its date-time in RTC seconds. */
export interface ReadingPoint {
  readonly cumulative: number;
  readonly at?: number;
}

/** The saturated value of a u32 reading field (offlineReadings.ts: quantities never wrap). */
export const CUMULATIVE_SATURATED = 0xffff_ffff;

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
 * @param history the meter's readings before r, oldest first (the last one = previous): cumulatives,
 *   or points with their date-times (then, with `r.at` and `previous.at`, consumption is judged per day).
 * @param boundMeter the offline meter (hex) the card's configuration binds it to, or the meters it
 *   may be bound to (UtilityDb.boundMeters); undefined or empty: no configuration, no judgement.
 * @returns the findings' names, in a fixed order; empty when the reading looks normal.
 */
export function anomaliesOf(
  r: { meterId: string; sequence: number; cumulative: number; events: number; at?: number },
  previous: { seq: number; cumulative: number; at?: number } | undefined,
  history: readonly (number | ReadingPoint)[],
  boundMeter: string | readonly string[] | undefined,
): string[] {
  const out: string[] = [];
  if (previous) {
    if (r.cumulative < previous.cumulative) out.push('cumulative-backwards');
    if (r.sequence > previous.seq + 1) out.push('sequence-gap');
    const delta = r.cumulative - previous.cumulative;
    const judged = delta > 0 ? consumptionAgainst(r, previous, history) : undefined;
    if (judged && judged.base.length >= JUMP_MIN_HISTORY) {
      const z = robustZ(judged.x, judged.base);
      if (z !== undefined && z > JUMP_Z) out.push('consumption-jump');
    }
  }
  if (r.cumulative >= CUMULATIVE_SATURATED) out.push('cumulative-saturated');
  for (const [bit, name] of FLAGS) if ((r.events & bit) !== 0) out.push(name);
  const bound = boundMeter === undefined ? [] : typeof boundMeter === 'string' ? [boundMeter] : boundMeter;
  if (bound.length > 0 && !bound.includes(r.meterId)) out.push('bound-elsewhere');
  return out;
}

/**
 * The consumption to judge and the history it is judged against: per day when every date-time is
 * known and they strictly increase (intervals under JUMP_MIN_INTERVAL_S left out of the history; the
 * reading's own too short: not judged), else per reading as the record's times say nothing.
 */
function consumptionAgainst(
  r: { cumulative: number; at?: number },
  previous: { cumulative: number; at?: number },
  history: readonly (number | ReadingPoint)[],
): { x: number; base: number[] } | undefined {
  const pts: ReadingPoint[] = history.map((h) => (typeof h === 'number' ? { cumulative: h } : h));
  const times = [...pts.map((p) => p.at), previous.at, r.at];
  const timed =
    pts.length > 0 &&
    times.every((t) => t !== undefined) &&
    pts.every((p, i) => i === 0 || p.at! > pts[i - 1]!.at!) &&
    r.at! > previous.at!;
  const delta = r.cumulative - previous.cumulative;
  if (!timed) return { x: delta, base: pts.slice(1).map((p, i) => p.cumulative - pts[i]!.cumulative) };
  const span = r.at! - previous.at!;
  if (span < JUMP_MIN_INTERVAL_S) return undefined;
  const base: number[] = [];
  for (let i = 1; i < pts.length; i++) {
    const dt = pts[i]!.at! - pts[i - 1]!.at!;
    if (dt >= JUMP_MIN_INTERVAL_S) base.push(((pts[i]!.cumulative - pts[i - 1]!.cumulative) * DAY_S) / dt);
  }
  return { x: (delta * DAY_S) / span, base };
}
