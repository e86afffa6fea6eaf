/**
 * The console's chart series (host/service/UsageHistory.ts) from stored backups: minutes banded by
 * the tariff table in force at each minute, overlapping backups counted once, day totals from the
 * day ring, what no minute covers left unbanded, cut-offs from the relay flag, bad logs counted.
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../card/util/hex.js';
import { buildMeterHistory } from '../../host/service/UsageHistory.js';
import type { UsageBackupRow } from '../../host/service/db/MeterHistoryRepository.js';
import { ConsumptionLog } from '../../protocol/ConsumptionLog.js';
import { FLAG_RELAY_OPEN } from '../../protocol/constants.js';
import { DAY_SECONDS, RtcTime } from '../../protocol/RtcTime.js';
import { TariffTable } from '../../protocol/TariffTable.js';

// 2026-11-23 is a Monday: the example table's weekday profile applies.
const MON = RtcTime.of(2026, 11, 23).seconds;
const H = 3600;

/** A log that consumed `whPerHour(hour)` in every hour from `from` to `to` (meter seconds). */
function logOf(from: number, to: number, whPerHour: (t: number) => number, log = new ConsumptionLog(from)) {
  for (let t = from; t < to; t += H) {
    log.advanceTo(t);
    log.add(whPerHour(t) * 1000); // mWh, as the meters count
  }
  log.advanceTo(to);
  return log;
}

let nextId = 1;
function backup(log: ConsumptionLog, at: number, o: Partial<UsageBackupRow> = {}): UsageBackupRow {
  return {
    id: nextId++,
    at: RtcTime.fromSeconds(at).toString(),
    balance: 1000,
    energyWh: 0,
    flags: 0,
    driftSeconds: 0,
    log: log.encode(),
    ...o,
  };
}

const example = {
  activation: RtcTime.of(2026, 1, 1).toString(),
  hex: toHex(TariffTable.example(100).encode()),
};

describe('usage history for the console charts', () => {
  it('bands each minute by the table in force; a daily poll leaves nothing unbanded', () => {
    const log = new ConsumptionLog(MON);
    const backups: UsageBackupRow[] = [];
    for (let d = 0; d < 3; d++) {
      logOf(MON + d * DAY_SECONDS, MON + (d + 1) * DAY_SECONDS, () => 100, log);
      backups.push(backup(log, MON + (d + 1) * DAY_SECONDS));
    }
    const h = buildMeterHistory('AB0001', backups, [example], [], 14);
    // example weekday: 0-7 h 50 %, 7-9 75 %, 9-10 100 %, 10-18 200 %, 18-22 75 %, 22-24 50 %
    expect(h.bands.map((b) => b.percent)).toEqual([50, 75, 100, 200]);
    expect(h.days.map((d) => d.date)).toEqual(['2026-11-23', '2026-11-24', '2026-11-25']);
    for (const d of h.days) {
      expect(d.totalWh).toBe(2400);
      expect(d.bandWh).toEqual([900, 600, 100, 800]);
      expect(d.unbandedWh).toBe(0);
      expect(d.partial).toBe(false);
    }
  });

  it('overlapping backups count a minute once; the open day is partial', () => {
    const log = logOf(MON, MON + 12 * H, () => 100);
    const first = backup(log, MON + 12 * H);
    logOf(MON + 12 * H, MON + 18 * H, () => 100, log);
    const h = buildMeterHistory('AB0001', [first, backup(log, MON + 18 * H)], [example], [], 14);
    expect(h.days).toHaveLength(1);
    expect(h.days[0]).toMatchObject({ date: '2026-11-23', totalWh: 1800, partial: true, unbandedWh: 0 });
    expect(h.days[0]!.bandWh).toEqual([700, 200, 100, 800]);
  });

  it('a day only its day total knows is unbanded; minutes before any table too', () => {
    // polled once, two days after: the first day's minutes fell out of the 24-hour ring
    const log = logOf(MON, MON + 2 * DAY_SECONDS, () => 50);
    const b = backup(log, MON + 2 * DAY_SECONDS);
    const h = buildMeterHistory('AB0001', [b], [example], [], 14);
    expect(h.days.map((d) => [d.date, d.totalWh, d.unbandedWh])).toEqual([
      ['2026-11-23', 1200, 1200],
      ['2026-11-24', 1200, 0],
    ]);
    const none = buildMeterHistory('AB0001', [b], [], [], 14);
    expect(none.bands).toEqual([]);
    expect(none.days.map((d) => d.unbandedWh)).toEqual([1200, 1200]);
    // and the window: only the last day
    expect(buildMeterHistory('AB0001', [b], [example], [], 1).days.map((d) => d.date)).toEqual([
      '2026-11-24',
    ]);
  });

  it('a table takes over from its activation minute', () => {
    const later = {
      activation: RtcTime.fromSeconds(MON + 12 * H).toString(),
      hex: toHex(TariffTable.flat(100, 300).encode()),
    };
    const log = logOf(MON, MON + DAY_SECONDS, () => 100);
    const h = buildMeterHistory('AB0001', [backup(log, MON + DAY_SECONDS)], [example, later], [], 14);
    expect(h.bands.map((b) => b.percent)).toEqual([50, 75, 100, 200, 300]);
    // until noon the example table (7 h at 50 %, 2 h at 75 %, 1 h at 100 %, 2 h at 200 %), then 300 %
    expect(h.days[0]!.bandWh).toEqual([700, 200, 100, 200, 1200]);
  });

  it('balance points mark cut-offs; recharges carry their time; a broken log is counted, not thrown', () => {
    const log = logOf(MON, MON + H, () => 10);
    const ok = backup(log, MON + H, { balance: 0, flags: FLAG_RELAY_OPEN });
    const broken = { ...backup(log, MON + 2 * H), log: Uint8Array.of(1, 2, 3) };
    const h = buildMeterHistory(
      'AB0001',
      [ok, broken],
      [example],
      [
        {
          txId: 7,
          amount: 500,
          state: 'confirmed',
          balanceAfter: 500,
          createdAt: '2026-11-23T02:00:00.000Z',
          settledAt: '2026-11-23T02:00:01.000Z',
        },
        {
          txId: 8,
          amount: 5,
          state: 'pending',
          balanceAfter: null,
          createdAt: '2026-11-23T03:00:00.000Z',
          settledAt: null,
        },
      ],
      14,
    );
    expect(h.malformedLogs).toBe(1);
    expect(h.balance.map((p) => [p.at, p.balance, p.cutOff])).toEqual([
      ['2026-11-23T01:00:00.000Z', 0, true],
      ['2026-11-23T02:00:00.000Z', 1000, false],
    ]);
    expect(h.recharges.map((r) => [r.txId, r.at, r.state])).toEqual([
      [7, '2026-11-23T02:00:01.000Z', 'confirmed'],
      [8, '2026-11-23T03:00:00.000Z', 'pending'],
    ]);
  });
});
