import 'reflect-metadata';
import { inject, injectable } from 'tsyringe';
import { diHostDb } from '../../tokens.js';
import type { HostDb } from '../HostDb.js';

/** One stored usage backup (a row of `usage_backups`), oldest first in {@link MeterHistoryRepository.backups}. */
export interface UsageBackupRow {
  readonly id: number;
  /** Host time of the check, YYMMDDhhmmss. */
  readonly at: string;
  readonly balance: number;
  readonly energyWh: number;
  readonly flags: number;
  readonly driftSeconds: number;
  /** The consumption log as downloaded (protocol/ConsumptionLog.ts), or null. */
  readonly log: Uint8Array | null;
}

/** A credit of the meter with the database's times (ISO 8601, UTC). */
export interface CreditTimeRow {
  readonly txId: number;
  readonly amount: number;
  readonly state: 'pending' | 'confirmed' | 'refused';
  readonly balanceAfter: number | null;
  readonly createdAt: string;
  readonly settledAt: string | null;
}

/**
 * A meter's history as the operator console charts it (read only): its usage backups, the tariff
 * tables it confirmed, and its credits with their times.
 */
@injectable()
export class MeterHistoryRepository {
  constructor(@inject(diHostDb) private readonly db: HostDb) {}

  /** The latest `limit` backups of the meter, returned oldest first. */
  backups(meterId: string, limit: number): UsageBackupRow[] {
    const rows = this.db
      .statement(
        'SELECT id, at, balance, energy_wh AS energyWh, flags, drift_s AS driftSeconds, log FROM usage_backups WHERE meter_id = ? ORDER BY id DESC LIMIT ?',
      )
      .all(meterId, limit) as Array<Omit<UsageBackupRow, 'log'> & { log: Buffer | null }>;
    return rows.reverse().map((r) => ({ ...r, log: r.log ? Uint8Array.from(r.log) : null }));
  }

  /** Every tariff table the meter confirmed, in the order they were sent (activation YYMMDDhhmmss, table hex). */
  storedTariffs(meterId: string): Array<{ activation: string; hex: string }> {
    return this.db
      .statement(
        "SELECT activation, table_hex AS hex FROM tariff_assignments WHERE meter_id = ? AND state = 'stored' ORDER BY id",
      )
      .all(meterId) as Array<{ activation: string; hex: string }>;
  }

  /** The meter's credits, oldest first, with when they were created and settled. */
  credits(meterId: string): CreditTimeRow[] {
    return this.db
      .statement(
        'SELECT tx_id AS txId, amount, state, balance_after AS balanceAfter, created_at AS createdAt, settled_at AS settledAt FROM credits WHERE meter_id = ? ORDER BY tx_id',
      )
      .all(meterId) as CreditTimeRow[];
  }
}
