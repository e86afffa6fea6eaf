import type { EventKind } from '../events/EventLog.js';
import type { FriendlyHoursSpec } from '../FriendlyHours.js';
import { Meter } from '../Meter.js';
import { civilOf, DAY_SECONDS, RtcTime } from '../../protocol/index.js';
import { TariffTable } from '../../protocol/index.js';
import type { TokenExchangerOptions } from '../TokenExchanger.js';
import { LoadGenerator, LOAD_PROFILES, type LoadProfileSpec } from './LoadProfile.js';
import { Prng } from './Prng.js';
import { createSimulatedCredit, type CreditRegisterFactory } from './SimulatedCredit.js';

/** What `simulate` takes. Every default is deterministic. */
export interface SimulationOptions {
  /** Days to simulate, 1…3660, per minute. */
  days: number;
  /** Default `TariffTable.example()`. */
  tariff?: TariffTable;
  /** A name from LOAD_PROFILES or a spec; default 'household'. */
  load?: string | LoadProfileSpec;
  /** Default 1. */
  seed?: number;
  /** Default 2026-01-01 00:00:00. */
  start?: RtcTime | number;
  /** Units in the credit register at the start; default 5000. */
  initialCredit?: number;
  /** Units bought each time the household tops up; default 5000. */
  topUpUnits?: number;
  /** The household buys credit a seeded 0…this many hours after the low-credit warning or a cut-off; default 36. */
  maxTopUpDelayHours?: number;
  /** Press the emergency-credit switch when the supply is cut; default true. */
  useEmergency?: boolean;
  /** Default: nights 22:00–07:00, weekends and holidays. */
  friendly?: FriendlyHoursSpec;
  exchanger?: TokenExchangerOptions;
  /** Makes the credit register; default `createSimulatedCredit` (in-memory stand-in for SVM/SAM). */
  credit?: CreditRegisterFactory;
  meterId?: Uint8Array;
  /** Called at the start of each simulated day with the days done and the days asked (a progress line). */
  onProgress?: (daysDone: number, days: number) => void;
}

/** What `simulate` returns (all integers except none). */
export interface SimulationResult {
  readonly days: number;
  readonly seed: number;
  readonly load: string;
  readonly start: string;
  readonly end: string;
  /** Energy consumed, Wh (rounded down from mWh). */
  readonly energyWh: number;
  /** Energy per rate step of the tariff in force at the end, Wh. */
  readonly energyByStep: readonly { step: number; percent: number; wh: number }[];
  /** Units charged for consumption. */
  readonly creditUsed: number;
  /** Units drawn from the credit register. */
  readonly creditDrawn: number;
  readonly tokenRequests: number;
  readonly topUps: number;
  readonly topUpUnits: number;
  /** Credit left at the end: register + tank + token − debts. */
  readonly finalBalance: number;
  readonly alarms: { readonly lastTokens: number; readonly lowCredit: number };
  readonly cutoffs: number;
  readonly minutesOff: number;
  readonly emergencyUses: number;
  /** Count of every event kind recorded. */
  readonly events: Partial<Record<EventKind, number>>;
  /** Daily totals of the last (up to) 7 days and monthly totals of the last (up to) 12 months, Wh. */
  readonly log: { readonly days: readonly number[]; readonly months: readonly number[] };
}

function intOpt(v: number | undefined, dflt: number, name: string, min: number, max: number): number {
  const x = v ?? dflt;
  if (!Number.isSafeInteger(x) || x < min || x > max)
    throw new RangeError(`${name} must be an integer ${min}…${max}, got ${x}`);
  return x;
}

/**
 * Simulates one prepaid household meter, minute by minute, deterministically: a seeded load
 * (LoadGenerator) drives a `Meter` whose token exchanger draws on a credit register from
 * `credit`; the household tops up after a seeded delay when warned, and presses the emergency
 * switch when cut off. With the supply cut the load draws nothing. Same options → same result.
 * @throws RangeError naming a bad option; Error when `load` names no profile.
 */
export async function simulate(options: SimulationOptions): Promise<SimulationResult> {
  const days = intOpt(options.days, 0, 'days', 1, 3660);
  const seed = intOpt(options.seed, 1, 'seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const initial = intOpt(options.initialCredit, 5000, 'initialCredit', 0, Number.MAX_SAFE_INTEGER);
  const topUpUnits = intOpt(options.topUpUnits, 5000, 'topUpUnits', 0, Number.MAX_SAFE_INTEGER);
  const maxDelayMin = intOpt(options.maxTopUpDelayHours, 36, 'maxTopUpDelayHours', 0, 24 * 365) * 60;
  const useEmergency = options.useEmergency ?? true;
  const spec = typeof options.load === 'object' ? options.load : LOAD_PROFILES[options.load ?? 'household'];
  if (!spec)
    throw new RangeError(
      `unknown load profile '${String(options.load)}' (known: ${Object.keys(LOAD_PROFILES).join(', ')})`,
    );
  const start = options.start ?? RtcTime.of(2026, 1, 1);
  const startS = start instanceof RtcTime ? start.seconds : start;
  const endS = startS + days * DAY_SECONDS;
  RtcTime.fromSeconds(endS);

  const tariff = options.tariff ?? TariffTable.example();
  const credit = await (options.credit ?? createSimulatedCredit)(initial);
  const meter = new Meter(
    {
      start: startS,
      tariff,
      meterId: options.meterId ?? new Uint8Array([0, 0, 1]),
      exchanger: options.exchanger ?? {},
      friendly: options.friendly ?? { nightFrom: 22 * 60, nightTo: 7 * 60, weekends: true, holidays: true },
    },
    credit.register,
  );
  const load = new LoadGenerator(spec, seed);
  const household = new Prng(seed ^ 0x5bd1e995);

  await meter.service(); // power-up: fill the token tank before the first minute
  let rem = 0;
  let topUpAt = -1;
  let topUps = 0;
  let lowSeen = 0;
  let emergencyUses = 0;
  let pressedAt = 0;
  let month = 1;
  let restDay = false;
  for (let t = startS; t < endS; t += 60) {
    const sod = t % DAY_SECONDS;
    if (sod === 0 || t === startS) {
      const dn = Math.floor(t / DAY_SECONDS);
      options.onProgress?.(Math.floor((t - startS) / DAY_SECONDS), days);
      month = civilOf(dn).month;
      restDay = meter.schedule.active.dayType(dn) !== 'weekday';
    }
    const w = load.watts((sod / 60) | 0, month, restDay);
    let q = 0;
    if (meter.supply.connected) {
      // W over 60 s in mWh = W · 50 / 3; the remainder of the division is carried.
      const acc = w * 50 + rem;
      q = Math.floor(acc / 3);
      rem = acc - q * 3;
    }
    if (meter.step(t + 60, q)) await meter.service();

    const low = meter.events.count('low-credit');
    if (topUpAt < 0 && (low > lowSeen || !meter.supply.connected))
      topUpAt = t + 60 + household.int(maxDelayMin + 1) * 60;
    lowSeen = low;
    if (!meter.supply.connected && useEmergency && meter.cutoffs > pressedAt) {
      pressedAt = meter.cutoffs; // once per cut-off
      if (meter.pressEmergencyCredit()) emergencyUses++;
    }
    if (topUpAt >= 0 && t + 60 >= topUpAt) {
      topUpAt = -1;
      await credit.topUp(topUpUnits);
      topUps++;
      await meter.notifyCredit();
    }
  }

  const ex = meter.exchanger;
  const table = meter.schedule.active;
  const byStep = meter.byStep;
  return {
    days,
    seed,
    load: spec.name,
    start: RtcTime.fromSeconds(startS).toString(),
    end: meter.time.toString(),
    energyWh: Math.floor(meter.total / 1000),
    energyByStep: table.steps.map((percent, step) => ({
      step,
      percent,
      wh: Math.floor(byStep[step]! / 1000),
    })),
    creditUsed: ex.charged,
    creditDrawn: ex.drawn,
    tokenRequests: ex.requests,
    topUps,
    topUpUnits: topUps * topUpUnits,
    finalBalance: ex.credit,
    alarms: { lastTokens: meter.events.count('last-tokens'), lowCredit: meter.events.count('low-credit') },
    cutoffs: meter.cutoffs,
    minutesOff: Math.floor(meter.offSeconds / 60),
    emergencyUses,
    events: meter.events.counts(),
    log: { days: [...meter.log.days()], months: [...meter.log.months()] },
  };
}
