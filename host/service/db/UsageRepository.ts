import 'reflect-metadata';
import { inject, injectable } from 'tsyringe';
import { diHostDb } from '../../tokens.js';
import type { HostDb } from '../HostDb.js';
import { pageOf, type Page } from './paging.js';

/** One stored usage and timer check. */
export interface UsageRecord {
  readonly id: number;
  readonly at: string;
  readonly balance: number;
  readonly energyWh: number;
  readonly flags: number;
  readonly driftSeconds: number;
  readonly log: Uint8Array | null;
}

/** The `usage_backups` table: what each usage and timer check downloaded. */
@injectable()
export class UsageRepository {
  constructor(@inject(diHostDb) private readonly db: HostDb) {}

  /** Stores one backup (in its own transaction). */
  insert(b: {
    meterId: string;
    at: string;
    balance: number;
    energyWh: number;
    flags: number;
    driftSeconds: number;
    log: Uint8Array;
  }): void {
    this.db.tx(() =>
      this.db
        .statement(
          'INSERT INTO usage_backups (meter_id, at, balance, energy_wh, flags, drift_s, log) VALUES (?, ?, ?, ?, ?, ?, ?)',
        )
        .run(b.meterId, b.at, b.balance, b.energyWh, b.flags, b.driftSeconds, Buffer.from(b.log)),
    );
  }

  /** A page of one meter's backups, oldest first, after backup id `after`. */
  page(meterId: string, limit: number, after?: number): Page<UsageRecord, number> {
    const rows = this.db
      .statement(
        `SELECT id, at, balance, energy_wh AS energyWh, flags, drift_s AS driftSeconds, log
           FROM usage_backups WHERE meter_id = ? AND id > ? ORDER BY id LIMIT ?`,
      )
      .all(meterId, after ?? 0, limit + 1) as Array<Omit<UsageRecord, 'log'> & { log: Buffer | null }>;
    return pageOf(
      rows.map((r) => ({ ...r, log: r.log ? Uint8Array.from(r.log) : null })),
      limit,
      (b) => b.id,
    );
  }

  /** The meter's energy register at its latest backup. */
  lastEnergy(meterId: string): number | undefined {
    const r = this.db
      .statement('SELECT energy_wh AS e FROM usage_backups WHERE meter_id = ? ORDER BY id DESC LIMIT 1')
      .get(meterId) as { e: number } | undefined;
    return r?.e;
  }

  /** The consumption log of the meter's latest backup. */
  lastLog(meterId: string): Uint8Array | undefined {
    const r = this.db
      .statement('SELECT log FROM usage_backups WHERE meter_id = ? ORDER BY id DESC LIMIT 1')
      .get(meterId) as { log: Buffer | null } | undefined;
    return r?.log ? Uint8Array.from(r.log) : undefined;
  }
}
