/**
 * Usage and timer check (seed 000 Fig. 3) of one meter — backup stored, balance reconciled,
 * tamper flags and tariff mismatches logged, automatic top-up checked — and the theft report of
 * one LS built on it.
 */
import 'reflect-metadata';
import { inject, injectable } from 'tsyringe';
import { fromHex, toHex } from '../../card/index.js';
import { ConsumptionLog } from '../../protocol/index.js';
import { RtcTime } from '../../protocol/index.js';
import type { HostProtocol } from '../protocol/HostProtocol.js';
import { detect } from '../theft/TheftDetector.js';
import type { LsReport, MeterObservation } from '../theft/TheftDetector.js';
import type { ValueStoreDispatcher } from '../ValueStoreDispatcher.js';
import {
  diCreditSales,
  diHostClock,
  diHostDb,
  diHostProtocol,
  diMeterRegistry,
  diMeterSessions,
  diTariffRepository,
  diUsageRepository,
  diValueStoreDispatcher,
} from '../tokens.js';
import type { HostClock } from '../tokens.js';
import type { CreditSales } from './CreditSales.js';
import type { HostDb } from './HostDb.js';
import type { MeterRegistry } from './MeterRegistry.js';
import type { MeterSessions } from './MeterSessions.js';
import type { TariffRepository } from './db/TariffRepository.js';
import type { UsageRepository } from './db/UsageRepository.js';
import type { Page } from './db/paging.js';
import { ServiceError } from './ServiceError.js';

const EPOCH_2000 = Date.UTC(2000, 0, 1);

/** A stored usage check with its log decoded. */
export interface UsageBackupView {
  id: number;
  at: string;
  balance: number;
  energyWh: number;
  flags: number;
  driftSeconds: number;
  log: {
    at: string;
    minuteUnit: number;
    totalUnit: number;
    minutes: number[];
    days: number[];
    months: number[];
  } | null;
}

@injectable()
export class UsageService {
  constructor(
    @inject(diMeterRegistry) private readonly registry: MeterRegistry,
    @inject(diUsageRepository) private readonly usage: UsageRepository,
    @inject(diTariffRepository) private readonly tariffs: TariffRepository,
    @inject(diMeterSessions) private readonly sessions: MeterSessions,
    @inject(diHostProtocol) private readonly protocol: HostProtocol,
    @inject(diValueStoreDispatcher) private readonly dispatcher: ValueStoreDispatcher,
    @inject(diCreditSales) private readonly sales: CreditSales,
    @inject(diHostDb) private readonly db: HostDb,
    @inject(diHostClock) private readonly clock: HostClock,
  ) {}

  /** The host's time as the meters count it (seconds since 2000-01-01). */
  now(): RtcTime {
    return RtcTime.fromSeconds(Math.floor((this.clock() - EPOCH_2000) / 1000));
  }

  /**
   * Usage and timer check of one meter: backup stored, clock corrected, auto top-up checked.
   * @throws ServiceError 404 unknown-meter, 502/504 when the session fails.
   */
  async poll(
    meterId: string,
    now = this.now(),
  ): Promise<{ balance: number; energyWh: number; flags: number; driftSeconds: number }> {
    const m = this.registry.meter(meterId);
    const info = await this.sessions.call(m.id, () =>
      this.protocol.usageCheck(
        this.sessions.direct(m.id),
        { id: fromHex(m.id), keyVersion: m.keyVersion },
        now,
      ),
    );
    const drift = info.timer.seconds - now.seconds;
    this.usage.insert({
      meterId: m.id,
      at: now.toString(),
      balance: info.balance,
      energyWh: info.energyWh,
      flags: info.flags,
      driftSeconds: drift,
      log: info.log,
    });
    this.dispatcher.reconcile(m.id, info.balance);
    if (info.flags)
      this.db.event({ kind: 'tamper-flags', meterId: m.id, detail: `flags ${info.flags.toString(16)}` });
    // tariff mode check: the table in force must be the last stored assignment once it is active
    const t = this.tariffs.lastStored(m.id);
    if (
      t &&
      RtcTime.parse(t.activation).seconds <= info.timer.seconds &&
      toHex(info.table.encode()) !== t.hex
    )
      this.db.event({
        kind: 'tariff-mismatch',
        meterId: m.id,
        detail: `meter table differs from the assignment active since ${t.activation}`,
      });
    await this.sales.autoTopUp(m.id, info.balance);
    return { balance: info.balance, energyWh: info.energyWh, flags: info.flags, driftSeconds: drift };
  }

  /**
   * A page of one meter's stored usage checks, oldest first (GET /meters/:id/usage), each with its
   * consumption log decoded (minute, daily and monthly counts; a log that no longer decodes is null).
   * @throws ServiceError 404 unknown-meter.
   */
  backups(meterId: string, limit: number, after?: number): Page<UsageBackupView, number> {
    const m = this.registry.meter(meterId);
    const p = this.usage.page(m.id, limit, after);
    return {
      next: p.next,
      items: p.items.map(({ log, ...b }) => {
        let view: UsageBackupView['log'] = null;
        if (log) {
          try {
            const v = ConsumptionLog.decode(log);
            view = {
              at: v.at.toString(),
              minuteUnit: v.minuteUnit,
              totalUnit: v.totalUnit,
              minutes: [...v.minutes],
              days: [...v.days],
              months: [...v.months],
            };
          } catch {
            view = null;
          }
        }
        return { ...b, log: view };
      }),
    };
  }

  /**
   * Theft check of one LS (seed 000 Fig. 3): polls every meter of the LS, takes each meter's
   * energy since its previous backup, and compares the sum with the feeder energy measured at the
   * transformer over the same interval; each meter is also checked against its own daily history.
   * Findings are logged as events 'theft-suspected'.
   * @throws ServiceError 404 unknown-ls, and what `poll` throws.
   */
  async theftReport(as: number, ls: number, feederWh: number): Promise<LsReport> {
    const ids = this.registry.metersOfLs(as, ls);
    if (ids.length === 0)
      throw new ServiceError(404, 'unknown-ls', `no meters under AS ${as} LS ${ls}`, 'ls');
    const obs: MeterObservation[] = [];
    for (const id of ids) {
      const prev = this.usage.lastEnergy(id);
      const p = await this.poll(id);
      const view = ConsumptionLog.decode(this.usage.lastLog(id)!);
      obs.push({
        meterId: id,
        energyWh: p.energyWh - (prev ?? p.energyWh),
        flags: p.flags,
        history: [...view.days].map((d) => (d * view.totalUnit) / 1000),
      });
    }
    const report = detect(ls, feederWh, obs);
    if (report.feederFlagged)
      this.db.event({
        kind: 'theft-suspected',
        detail: `AS ${as} LS ${ls}: ${report.unaccountedWh} Wh unaccounted (${report.unaccountedPermille} ‰)`,
      });
    for (const f of report.meters)
      this.db.event({ kind: 'theft-suspected', meterId: f.meterId, detail: f.reasons.join('; ') });
    return report;
  }
}
