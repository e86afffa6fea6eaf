import { readFileSync } from 'node:fs';
import type { Command, Io, OptionDocs } from '../Command.js';
import { UsageError, parseOptions } from '../Command.js';
import { Progress } from '../Progress.js';
import { createSvmCredit, type SvmCredit } from '../../meter/index.js';
import { fromHex } from '../../card/index.js';
import { TariffTableError } from '../../protocol/index.js';
import { LOAD_PROFILES } from '../../meter/index.js';
import { createSimulatedCredit, type CreditRegisterFactory } from '../../meter/index.js';
import { simulate, type SimulationResult } from '../../meter/index.js';
import { RtcTime, CURRENCY_EUR, formatMoney } from '../../protocol/index.js';
import { TariffTable, type TariffTableSpec } from '../../protocol/index.js';

function intOption(v: string | undefined, name: string, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!/^-?\d+$/.test(v)) throw new UsageError(`${name} must be an integer, got ${v}`);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new UsageError(`${name} must be ${min}…${max}, got ${v}`);
  return n;
}

/**
 * Reads a tariff table file: `.json` holds a TariffTableSpec; anything else is the binary form of
 * docs/meter.md, either raw bytes or hex text ('#' starts a comment).
 */
function readTariff(path: string): TariffTable {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (e) {
    throw new UsageError(`cannot read --tariff ${path}: ${(e as Error).message}`);
  }
  try {
    if (path.endsWith('.json')) {
      let spec: TariffTableSpec;
      try {
        spec = JSON.parse(raw.toString('utf8')) as TariffTableSpec;
      } catch (e) {
        throw new UsageError(`--tariff ${path} is not JSON: ${(e as Error).message}`);
      }
      return TariffTable.create(spec);
    }
    const text = raw.toString('latin1');
    const bytes = /^[\s0-9A-Fa-f]*(#.*)?([\r\n][\s0-9A-Fa-f]*(#.*)?)*$/.test(text)
      ? fromHex(text.replace(/#.*$/gm, ''))
      : new Uint8Array(raw);
    return TariffTable.decode(bytes);
  } catch (e) {
    if (e instanceof TariffTableError) throw new UsageError(`--tariff ${path}: ${e.code}: ${e.message}`);
    throw e;
  }
}

/** The simulation's credit is in minor units of the tariff's currency: euro cents (978). */
const money = (units: number) => formatMoney(units, CURRENCY_EUR);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
/** "260101000000" → "2026-01-01 00:00:00" (the result keeps the RTC text form for --json). */
const when = (rtc: string) => RtcTime.parse(rtc).toDisplay();

function text(r: SimulationResult): string {
  const lines = [
    `simulated ${plural(r.days, 'day')} from ${when(r.start)} to ${when(r.end)}, load '${r.load}', seed ${r.seed}`,
    `energy            ${(r.energyWh / 1000).toFixed(3)} kWh`,
    ...r.energyByStep.map(
      (s) => `  step ${s.step} (${String(s.percent).padStart(3)} %)  ${(s.wh / 1000).toFixed(3)} kWh`,
    ),
    `credit used       ${money(r.creditUsed)} (drawn from the register ${money(r.creditDrawn)}, ${plural(r.tokenRequests, 'token request')})`,
    `top-ups           ${r.topUps} (${money(r.topUpUnits)})`,
    `balance at end    ${money(r.finalBalance)}`,
    `alarms            last tokens ${r.alarms.lastTokens}, low credit ${r.alarms.lowCredit}`,
    `cut-offs          ${r.cutoffs} (${r.minutesOff} minutes without supply), emergency credit used ${plural(r.emergencyUses, 'time')}`,
    `events            ${
      Object.entries(r.events)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none'
    }`,
  ];
  return lines.join('\n') + '\n';
}

const SIMULATE_OPTIONS = {
  days: {
    type: 'string',
    value: '<N>',
    help: 'days to simulate, minute by minute (1..3660)',
    byDefault: 'required',
  },
  tariff: {
    type: 'string',
    value: '<file>',
    help: 'tariff table: .json (TariffTableSpec), or the binary form of docs/meter.md as raw bytes or hex text',
    byDefault: 'the example tariff',
  },
  load: {
    type: 'string',
    value: `<${Object.keys(LOAD_PROFILES).join('|')}>`,
    help: 'the load profile of the household',
    byDefault: 'household',
  },
  seed: { type: 'string', value: '<S>', help: 'integer seed of the load and the household', byDefault: '1' },
  start: {
    type: 'string',
    value: '<YYMMDDhhmmss>',
    help: 'when the simulation starts',
    byDefault: '260101000000',
  },
  credit: {
    type: 'string',
    value: '<units>',
    help: 'credit in the register at the start',
    byDefault: '5000',
  },
  'top-up': {
    type: 'string',
    value: '<units>',
    help: 'units the household buys each time',
    byDefault: '5000',
  },
  register: {
    type: 'string',
    value: '<memory|svm>',
    help: 'the credit register: in memory, or the real SVM and SAM applets over APDUs (slower)',
    byDefault: 'memory',
  },
  json: { type: 'boolean', help: 'print the result as JSON' },
} as const satisfies OptionDocs;

/**
 * Builds `meterpurse meter simulate` over a credit-register factory. The exported command uses the
 * in-memory stand-in (`createSimulatedCredit`); once the SVM and SAM applets exist, a factory that
 * opens them through CardChannels replaces it here without touching the simulation.
 */
export function makeMeterSimulateCommand(credit: CreditRegisterFactory): Command {
  return {
    path: ['meter', 'simulate'],
    summary:
      'simulate a prepaid household meter minute by minute and print energy per tariff step, credit, alarms, cut-offs',
    usage:
      'meter simulate --days N [--tariff file(.json|.hex|.bin)] [--load ' +
      Object.keys(LOAD_PROFILES).join('|') +
      '] [--seed S] [--start YYMMDDhhmmss] [--credit UNITS] [--top-up UNITS] [--register memory|svm] [--json]',
    options: SIMULATE_OPTIONS,
    examples: [
      'meter simulate --days 365',
      'meter simulate --days 3650 --load household --register svm --json',
    ],
    async run(args: string[], io: Io): Promise<number> {
      const { values } = parseOptions(args, SIMULATE_OPTIONS);
      if (values.days === undefined) throw new UsageError('--days is required');
      const days = intOption(values.days, '--days', 0, 1, 3660);
      const seed = intOption(values.seed, '--seed', 1, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
      const load = values.load ?? 'household';
      if (!(load in LOAD_PROFILES))
        throw new UsageError(`--load must be one of ${Object.keys(LOAD_PROFILES).join(', ')}, got ${load}`);
      const kind = values.register ?? 'memory';
      if (kind !== 'memory' && kind !== 'svm')
        throw new UsageError(`--register must be memory or svm, got ${kind}`);
      let svm: SvmCredit | undefined;
      const factory: CreditRegisterFactory =
        kind === 'svm' ? (units) => (svm = createSvmCredit(units, `sim:${seed}`)) : credit;
      const progress = new Progress(io, `simulating ${days} day(s)`, 'days');
      const result = await simulate({
        days,
        onProgress: (done, total) => progress.update(done, total),
        seed,
        load,
        credit: factory,
        ...(values.tariff !== undefined ? { tariff: readTariff(values.tariff) } : {}),
        ...(values.start !== undefined ? { start: RtcTime.parse(values.start) } : {}),
        initialCredit: intOption(values.credit, '--credit', 5000, 0, Number.MAX_SAFE_INTEGER),
        topUpUnits: intOption(values['top-up'], '--top-up', 5000, 0, Number.MAX_SAFE_INTEGER),
      })
        .catch((e: unknown) => {
          if (e instanceof RangeError) throw new UsageError(e.message);
          throw e;
        })
        .finally(() => progress.done());
      const register = svm ? { register: 'svm', apdus: svm.apdus() } : { register: 'memory' as const };
      // --json keeps the integers and the RTC text form; the *Text fields are what the text shows.
      const shown = {
        currency: CURRENCY_EUR,
        startText: when(result.start),
        endText: when(result.end),
      };
      if (values.json) io.out(JSON.stringify({ ...result, ...register, ...shown }, null, 2) + '\n');
      else {
        io.out(text(result));
        io.out(
          svm
            ? `credit register   the SVM applet, token requests authorised by the SAM applet; top-ups by card (vending LOAD, card-to-SVM transfer): ${svm.apdus()} APDUs\n`
            : 'credit register   in memory (--register svm: the real SAM + SVM applets)\n',
        );
      }
      return 0;
    },
  };
}

/** `meterpurse meter simulate` with the in-memory credit register. */
export const meterSimulateCommand: Command = makeMeterSimulateCommand(createSimulatedCredit);
