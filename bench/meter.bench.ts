// Meter core throughput (issue 6): one meter for a year and 256 meters (one LS) for a day, per minute.
import { Meter } from '../meter/Meter.js';
import { createSimulatedCredit } from '../meter/sim/SimulatedCredit.js';
import { simulate } from '../meter/sim/simulate.js';
import { RtcTime } from '../protocol/RtcTime.js';
import { TariffTable } from '../protocol/TariffTable.js';
import { Adc } from '../meter/metrology/Adc.js';
import { PowerAnalyzer } from '../meter/metrology/PowerAnalyzer.js';
import { opsPerSecond, percentiles } from './measure.js';
import type { Figure } from './run.js';
import { householdMinuteLoads } from '../meter/sim/minuteLoads.js';

const START = RtcTime.of(2026, 1, 1).seconds;
const MINUTES_PER_YEAR = 525_600;

const loads = (days: number, seed: number, table: TariffTable) =>
  householdMinuteLoads(START, days, seed, table);

function newMeter(table: TariffTable, initial: number): { meter: Meter } {
  const credit = createSimulatedCredit(initial);
  const meter = new Meter(
    { start: START, tariff: table, friendly: { nightFrom: 1320, nightTo: 420 } },
    credit.register,
  );
  return { meter };
}

async function time(fn: () => Promise<void>, runs: number): Promise<number> {
  const ms: number[] = [];
  await fn(); // warm-up
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return percentiles(ms).median;
}

export default async function bench(): Promise<Figure[]> {
  const table = TariffTable.example();
  const year = loads(365, 1, table);
  let requests = 0;

  // Step loop: tariff lookup + charging every minute; await the credit register only when asked.
  const yearStep = await time(async () => {
    const { meter } = newMeter(table, 10_000_000);
    await meter.service();
    let t = START;
    for (let m = 0; m < MINUTES_PER_YEAR; m++) {
      t += 60;
      if (meter.step(t, year[m]!)) await meter.service();
    }
    requests = meter.exchanger.requests;
  }, 5);

  // The same with `await meter.advance()` on every minute (an await per step).
  const yearAdvance = await time(async () => {
    const { meter } = newMeter(table, 10_000_000);
    let t = START;
    for (let m = 0; m < MINUTES_PER_YEAR; m++) {
      t += 60;
      await meter.advance(t, year[m]!);
    }
  }, 5);

  // The whole simulation: load generation, top-ups, emergency switch, friendly hours.
  const yearSim = await time(async () => {
    await simulate({ days: 365, seed: 1 });
  }, 3);

  // 256 meters of one LS, one day, stepped together minute by minute.
  const day = Array.from({ length: 256 }, (_, k) => loads(1, 1000 + k, table));
  const lsDay = await time(async () => {
    const meters = day.map(() => newMeter(table, 5_000).meter);
    await Promise.all(meters.map((m) => m.service()));
    let t = START;
    for (let m = 0; m < 1440; m++) {
      t += 60;
      for (let k = 0; k < 256; k++) {
        const meter = meters[k]!;
        if (meter.step(t, day[k]![m]!)) await meter.service();
      }
    }
  }, 5);

  const lsSim = await time(async () => {
    for (let k = 0; k < 256; k++) await simulate({ days: 1, seed: 1000 + k });
  }, 3);

  // Metrology: one 0.2 s window of 800 sample pairs (4 kHz) per call.
  const analyzer = new PowerAnalyzer({
    sampleRateHz: 4000,
    voltage: Adc.voltage(240),
    current: Adc.current(20),
  });
  const v = new Int32Array(800);
  const i = new Int32Array(800);
  for (let k = 0; k < 800; k++) {
    v[k] = analyzer.voltage.quantise(325 * Math.sin((2 * Math.PI * 50.3 * k) / 4000));
    i[k] = analyzer.current.quantise(28 * Math.sin((2 * Math.PI * 50.3 * k) / 4000 - 0.5));
  }
  const windows = opsPerSecond(() => analyzer.analyse(v, i), 1000, 50);

  return [
    {
      name: 'one meter, one year per minute (step + service on demand)',
      value: yearStep,
      unit: 'ms',
      target: '< 1000 ms',
    },
    { name: '  token requests to the async credit register in that year', value: requests, unit: 'requests' },
    { name: 'one meter, one year per minute (await advance every minute)', value: yearAdvance, unit: 'ms' },
    { name: 'one household, one year: simulate() incl. load model', value: yearSim, unit: 'ms' },
    {
      name: '256 meters (one LS), one day per minute, stepped together',
      value: lsDay,
      unit: 'ms',
      target: '< 1000 ms',
    },
    { name: '256 households, one day each: simulate() incl. load model', value: lsSim, unit: 'ms' },
    { name: 'PowerAnalyzer: 800-sample windows (V+I, phase, energy)', value: windows, unit: 'windows/s' },
    { name: '  = sample pairs analysed per second', value: windows * 800, unit: 'samples/s' },
  ];
}
