/**
 * A meter's usage over time for the operator console's charts, built from what the usage and
 * timer checks stored (usage_backups) — the host never asks the meter for it again:
 *
 * - **daily energy per tariff band.** Each backup carries the meter's consumption log
 *   (protocol/ConsumptionLog.ts): the minutes of the last 24 hours and the totals of the last seven
 *   closed days. A minute's band is the rate step (as a percent of the unit charge) that the tariff
 *   table in force at that minute gives it; the table in force is the last one the meter confirmed
 *   with an activation at or before that minute. Backups overlap (polled more often than daily), so
 *   minutes are keyed by their meter time and a later backup's value wins. A day's total comes from
 *   the day ring when a backup holds it (exact, with carries), else from its minutes; whatever of
 *   the total no known minute covers (the host polled less than daily, or no table is known) is
 *   "unbanded" rather than guessed.
 * - **credit over time**: the balance of every backup, recharges with the balance the meter
 *   reported right after them, and cut-offs (the meter reported its relay open, FLAG_RELAY_OPEN).
 *
 * Backup times are the host clock's (`at`), credit times the database's; a host runs both on the
 * wall clock. Meter times (the log) are the meter's own civil time.
 */
import 'reflect-metadata';
import { inject, injectable } from 'tsyringe';
import { ConsumptionLog, DAY_SECONDS, FLAG_RELAY_OPEN, RtcTime, TariffTable } from '../../protocol/index.js';
import { fromHex } from '../../card/index.js';
import { diMeterRegistry } from '../tokens.js';
import type { MeterRegistry } from './MeterRegistry.js';
import { MeterHistoryRepository } from './db/MeterHistoryRepository.js';
import type { CreditTimeRow, UsageBackupRow } from './db/MeterHistoryRepository.js';
import type { BalancePoint, MeterHistory, RechargeMark, UsageDay } from './consoleSchemas.js';

const EPOCH_2000_MS = Date.UTC(2000, 0, 1);
const MINUTES_PER_DAY = DAY_SECONDS / 60;

/** Host or meter seconds since 2000 as ISO 8601. */
const iso = (seconds: number): string => new Date(EPOCH_2000_MS + seconds * 1000).toISOString();
const wh = (mWh: number): number => Math.round(mWh) / 1000;

/**
 * The chart series of one meter from its stored backups, tariff assignments and credits (pure, so
 * the rules in the file comment can be tested without a database).
 * @param days how many days (ending with the latest day any backup saw) the energy chart covers.
 */
export function buildMeterHistory(
  meterId: string,
  backups: readonly UsageBackupRow[],
  tariffs: ReadonlyArray<{ activation: string; hex: string }>,
  credits: readonly CreditTimeRow[],
  days: number,
): MeterHistory {
  // tariff tables in force, by activation (meter seconds); a later assignment wins a tie
  const tables: Array<{ from: number; table: TariffTable }> = [];
  for (const t of tariffs) {
    try {
      tables.push({ from: RtcTime.parse(t.activation).seconds, table: TariffTable.decode(fromHex(t.hex)) });
    } catch {
      /* a table the host stored itself; an unreadable one bands nothing */
    }
  }
  tables.sort((a, b) => a.from - b.from);

  const minutes = new Map<number, number>(); // meter second of the minute → mWh
  const dayTotals = new Map<number, number>(); // day number → mWh (closed days)
  let malformedLogs = 0;
  let lastOpenDay: number | undefined;
  for (const b of backups) {
    if (!b.log) continue;
    let view;
    try {
      view = ConsumptionLog.decode(b.log);
    } catch {
      malformedLogs++;
      continue;
    }
    const end = view.at.seconds;
    const m = view.minutes.length;
    for (let i = 0; i < m; i++) minutes.set(end - (m - i) * 60, view.minutes[i]! * view.minuteUnit);
    const openDay = Math.floor(end / DAY_SECONDS);
    const d = view.days.length;
    for (let i = 0; i < d; i++) dayTotals.set(openDay - (d - i), view.days[i]! * view.totalUnit);
    lastOpenDay = lastOpenDay === undefined ? openDay : Math.max(lastOpenDay, openDay);
  }

  // minutes → per day, per band percent
  const perDay = new Map<number, { byPercent: Map<number, number>; covered: number; sum: number }>();
  const percents = new Set<number>();
  let k = -1;
  for (const t of [...minutes.keys()].sort((a, b) => a - b)) {
    while (k + 1 < tables.length && tables[k + 1]!.from <= t) k++;
    const dn = Math.floor(t / DAY_SECONDS);
    let e = perDay.get(dn);
    if (!e) perDay.set(dn, (e = { byPercent: new Map(), covered: 0, sum: 0 }));
    const q = minutes.get(t)!;
    e.sum += q;
    if (k < 0) continue; // no table known yet: the minute stays unbanded
    const table = tables[k]!.table;
    const percent = table.percentOf(table.stepAt(t));
    percents.add(percent);
    e.byPercent.set(percent, (e.byPercent.get(percent) ?? 0) + q);
    e.covered++;
  }
  const bands = [...percents].sort((a, b) => a - b);
  const known = [...new Set([...dayTotals.keys(), ...perDay.keys()])];
  const last = known.length ? Math.max(...known) : undefined;
  const out: UsageDay[] = [];
  if (last !== undefined)
    for (let dn = last - days + 1; dn <= last; dn++) {
      const e = perDay.get(dn);
      const total = dayTotals.get(dn) ?? e?.sum;
      if (total === undefined) continue;
      const bandWh = bands.map((p) => wh(e?.byPercent.get(p) ?? 0));
      const banded = bands.reduce((s, p) => s + (e?.byPercent.get(p) ?? 0), 0);
      out.push({
        date: iso(dn * DAY_SECONDS).slice(0, 10),
        totalWh: wh(total),
        bandWh,
        // a day whose every minute is banded has nothing unbanded (its total differs from the sum
        // of its minutes by the carries only, less than one total unit)
        unbandedWh: e && e.covered === MINUTES_PER_DAY ? 0 : wh(Math.max(0, total - banded)),
        partial: !dayTotals.has(dn) && dn === lastOpenDay,
      });
    }

  const balance: BalancePoint[] = [];
  for (const b of backups) {
    let at: string;
    try {
      at = iso(RtcTime.parse(b.at).seconds);
    } catch {
      continue;
    }
    balance.push({
      at,
      balance: b.balance,
      energyWh: b.energyWh,
      flags: b.flags,
      driftSeconds: b.driftSeconds,
      cutOff: (b.flags & FLAG_RELAY_OPEN) !== 0,
    });
  }
  const recharges: RechargeMark[] = credits.map((c) => ({
    txId: c.txId,
    amount: c.amount,
    state: c.state,
    at: c.settledAt ?? c.createdAt,
    balanceAfter: c.balanceAfter,
  }));
  return {
    meterId,
    bands: bands.map((percent) => ({ percent })),
    days: out,
    balance,
    recharges,
    malformedLogs,
  };
}

/** The usage series of a registered meter (`GET /meters/:id/history`). */
@injectable()
export class UsageHistory {
  constructor(
    @inject(diMeterRegistry) private readonly registry: MeterRegistry,
    @inject(MeterHistoryRepository) private readonly history: MeterHistoryRepository,
  ) {}

  /**
   * @param limit how many of the latest backups to read; `days` as in {@link buildMeterHistory}.
   * @throws ServiceError 404 unknown-meter.
   */
  of(meterId: string, limit: number, days: number): MeterHistory {
    const m = this.registry.meter(meterId);
    return buildMeterHistory(
      m.id,
      this.history.backups(m.id, limit),
      this.history.storedTariffs(m.id),
      this.history.credits(m.id),
      days,
    );
  }
}
