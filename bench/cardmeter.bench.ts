// Meter over the real SAM + SVM applets (issue 6): a year per minute with every token request
// through SVM READ STATE, SAM TOKEN AUTH, SVM TOKEN REQUEST over VirtualReader channels, and the
// card slot's insertion (ATR, selection, authentication, transfer, meter data).
import { CountingChannel, ExchangeCounter } from '../terminal/CountingChannel.js';
import { defaultPurses, makeSubscriberCard } from '../card/applets/profiles.js';
import { SeededRng } from '../card/crypto/rng.js';
import { createCardMeter } from '../meter/cardslot/createCardMeter.js';
import { RtcTime } from '../protocol/RtcTime.js';
import { TariffTable } from '../protocol/TariffTable.js';
import { percentiles } from './measure.js';
import type { Figure } from './run.js';
import { householdMinuteLoads } from '../meter/sim/minuteLoads.js';

const START = RtcTime.of(2026, 1, 1).seconds;
const MINUTES_PER_YEAR = 525_600;

const loads = (days: number, seed: number, table: TariffTable) =>
  householdMinuteLoads(START, days, seed, table);

export default async function bench(): Promise<Figure[]> {
  const table = TariffTable.example();
  const year = loads(365, 1, table);
  const counter = new ExchangeCounter();
  let requests = 0;
  let drawn = 0;
  const yearRuns: number[] = [];
  for (let run = 0; run < 4; run++) {
    const cm = await createCardMeter({
      seed: `bench-${run}`,
      svmMax: 10_000_000,
      svmBalance: 10_000_000,
      meter: { start: START, tariff: table, friendly: { nightFrom: 1320, nightTo: 420 } },
      ...(run === 0 ? { wrap: (c) => new CountingChannel(c, counter) } : {}),
    });
    const meter = cm.meter;
    const t0 = performance.now();
    let t = START;
    for (let m = 0; m < MINUTES_PER_YEAR; m++) {
      t += 60;
      if (meter.step(t, year[m]!)) await meter.service();
    }
    const ms = performance.now() - t0;
    if (run > 0) yearRuns.push(ms); // run 0 counts APDUs (and warms up)
    requests = cm.register.requests;
    drawn = meter.exchanger.drawn;
  }

  // 256 meters of one LS, each on its own SAM + SVM, one day per minute stepped together.
  const lsRuns: number[] = [];
  let lsRequests = 0;
  const day = Array.from({ length: 256 }, (_, k) => loads(1, 1000 + k, table));
  for (let run = 0; run < 3; run++) {
    const meters = await Promise.all(
      day.map((_, k) =>
        createCardMeter({
          seed: `ls-${run}-${k}`,
          meterId: Uint8Array.of(0, k >> 8, k & 0xff),
          svmMax: 1_000_000,
          svmBalance: 5_000,
          meter: { start: START, tariff: table },
        }),
      ),
    );
    const t0 = performance.now();
    let t = START;
    for (let m = 0; m < 1440; m++) {
      t += 60;
      for (let k = 0; k < 256; k++) {
        const meter = meters[k]!.meter;
        if (meter.step(t, day[k]![m]!)) await meter.service();
      }
    }
    lsRuns.push(performance.now() - t0);
    lsRequests = meters.reduce((a, cm) => a + cm.register.requests, 0);
  }

  // Card insertions: a fresh card each time into one meter.
  const cm = await createCardMeter({ seed: 'bench-slot', svmMax: 2_000_000_000, meter: { start: START } });
  const insertMs: number[] = [];
  for (let i = 0; i < 300; i++) {
    const card = makeSubscriberCard(cm.issuer, {
      csn: Uint8Array.of(0x4d, 0x50, 0, 0, 0, 0, i >> 8, i & 0xff),
      purses: defaultPurses(10_000),
      rng: new SeededRng(`bench-card-${i}`),
    });
    const t0 = performance.now();
    const o = await cm.slot.insert(card.os);
    insertMs.push(performance.now() - t0);
    if (!o.accepted) throw new Error(`insertion refused: ${o.message}`);
    cm.slot.remove();
  }
  const ins = percentiles(insertMs.slice(50));

  return [
    {
      name: 'one meter, one year per minute, tokens from the real SVM/SAM',
      value: percentiles(yearRuns).median,
      unit: 'ms',
      target: '< 1000 ms',
    },
    { name: '  fastest of the 3 runs', value: Math.min(...yearRuns), unit: 'ms' },
    { name: '  slowest of the 3 runs', value: Math.max(...yearRuns), unit: 'ms' },
    { name: '  token requests (READ STATE + TOKEN AUTH + TOKEN REQUEST)', value: requests, unit: 'requests' },
    { name: '  units drawn from the SVM', value: drawn, unit: 'units' },
    { name: '  APDUs to SAM and SVM in the year', value: counter.apdus, unit: 'APDUs' },
    {
      name: '256 meters (one LS) on their own SAM + SVM, one day per minute',
      value: percentiles(lsRuns).median,
      unit: 'ms',
      target: '< 1000 ms',
    },
    { name: '  token requests through the modules that day', value: lsRequests, unit: 'requests' },
    { name: 'card insertion (ATR … transfer … meter data), median', value: ins.median * 1000, unit: 'µs' },
    { name: '  p99', value: ins.p99 * 1000, unit: 'µs' },
  ];
}
