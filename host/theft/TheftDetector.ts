/**
 * Theft and anomaly detection (seed 000 Fig. 3 and claim 15: "a current transformer for measuring
 * the total amount of current" at the pole transformer, compared with the sum the meters report;
 * claim 7: the bypass sensor; claim 10: "remotely monitoring the surreptitious or abnormal use").
 *
 * Three checks, all on integers (Wh):
 * 1. Feeder balance per LS: feeder energy − Σ meter energy over the same interval. Line losses are
 *    allowed up to `lossAllowance` (a fraction of the feeder energy, default 5 %); more is flagged.
 * 2. Load voltage while the relay is open (flag 04) or a bypass (02) / open cover (01): flagged.
 * 3. A meter's consumption against its own history: robust z-score with the median and the median
 *    absolute deviation of its previous days; |z| above `zLimit` (default 4) is flagged (a drop is
 *    the usual sign of a bypass, a jump of a fault or a wrong tariff).
 */
import { FLAG_BYPASS, FLAG_COVER_OPEN, FLAG_LOAD_VOLTAGE_RELAY_OPEN } from '../../protocol/index.js';

export interface MeterObservation {
  readonly meterId: string;
  /** Energy the meter measured over the interval, Wh. */
  readonly energyWh: number;
  readonly flags: number;
  /** Previous daily totals of this meter, Wh, oldest first. */
  readonly history: readonly number[];
}

export interface MeterFinding {
  readonly meterId: string;
  readonly reasons: string[];
  readonly zScore?: number;
}

export interface LsReport {
  readonly ls: number;
  readonly feederWh: number;
  readonly metersWh: number;
  readonly unaccountedWh: number;
  /** Unaccounted share of the feeder energy, parts per thousand. */
  readonly unaccountedPermille: number;
  readonly feederFlagged: boolean;
  readonly meters: MeterFinding[];
}

export interface DetectorOptions {
  /** Allowed unaccounted share (line losses), permille; default 50 (5 %). */
  lossAllowancePermille?: number;
  /** Robust z-score limit; default 4. */
  zLimit?: number;
  /** Fewest history days before the history check applies; default 5. */
  minHistory?: number;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Robust z-score of `x` against `history` (1.4826 · MAD scales it like a standard deviation). */
export function robustZ(x: number, history: readonly number[]): number | undefined {
  if (history.length === 0) return undefined;
  const med = median(history);
  const mad = median(history.map((h) => Math.abs(h - med)));
  const scale = Math.max(1.4826 * mad, 0.05 * Math.abs(med), 1);
  return (x - med) / scale;
}

/** One LS's report: the feeder balance and every meter's findings. */
export function detect(
  ls: number,
  feederWh: number,
  meters: readonly MeterObservation[],
  o: DetectorOptions = {},
): LsReport {
  if (!Number.isInteger(feederWh) || feederWh < 0)
    throw new RangeError(`feederWh must be a non-negative integer, got ${feederWh}`);
  const allowance = o.lossAllowancePermille ?? 50;
  const zLimit = o.zLimit ?? 4;
  const minHistory = o.minHistory ?? 5;
  const metersWh = meters.reduce((s, m) => s + m.energyWh, 0);
  const unaccountedWh = feederWh - metersWh;
  const permille = feederWh === 0 ? 0 : Math.round((unaccountedWh * 1000) / feederWh);
  const findings: MeterFinding[] = [];
  for (const m of meters) {
    const reasons: string[] = [];
    if (m.flags & FLAG_LOAD_VOLTAGE_RELAY_OPEN) reasons.push('load voltage while the relay is open');
    if (m.flags & FLAG_BYPASS) reasons.push('bypass sensor');
    if (m.flags & FLAG_COVER_OPEN) reasons.push('terminal cover open');
    let z: number | undefined;
    // a meter with no consumption history (median 0: new, vacant, or days closed while unpowered) is
    // not judged against it
    if (m.history.length >= minHistory && median(m.history) > 0) {
      z = robustZ(m.energyWh, m.history);
      if (z !== undefined && Math.abs(z) > zLimit)
        reasons.push(z < 0 ? 'consumption far below its history' : 'consumption far above its history');
    }
    if (reasons.length)
      findings.push({
        meterId: m.meterId,
        reasons,
        ...(z === undefined ? {} : { zScore: Math.round(z * 100) / 100 }),
      });
  }
  return {
    ls,
    feederWh,
    metersWh,
    unaccountedWh,
    unaccountedPermille: permille,
    feederFlagged: permille > allowance || unaccountedWh < -Math.ceil(feederWh * 0.01),
    meters: findings,
  };
}
