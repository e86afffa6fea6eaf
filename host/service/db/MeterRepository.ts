import 'reflect-metadata';
import { inject, injectable } from 'tsyringe';
import { diHostDb } from '../../tokens.js';
import type { HostDb } from '../HostDb.js';
import { pageOf, type Page } from './paging.js';

/** A registered meter as the host knows it. */
export interface MeterRecord {
  readonly id: string;
  readonly subscriberId: number;
  readonly keyVersion: number;
  readonly as: number;
  readonly ls: number;
  readonly modem: number;
  readonly lastBalance: number | null;
}

interface MeterRow {
  id: string;
  subscriber_id: number;
  key_version: number;
  as_id: number;
  ls_id: number;
  modem: number;
  last_balance: number | null;
}

const toRecord = (r: MeterRow): MeterRecord => ({
  id: r.id,
  subscriberId: r.subscriber_id,
  keyVersion: r.key_version,
  as: r.as_id,
  ls: r.ls_id,
  modem: r.modem,
  lastBalance: r.last_balance,
});

/** The `meters` table (registration side; the credit side is HostDb's). */
@injectable()
export class MeterRepository {
  constructor(@inject(diHostDb) private readonly db: HostDb) {}

  /** @param id upper-case hex id. */
  get(id: string): MeterRecord | undefined {
    const r = this.db.statement('SELECT * FROM meters WHERE id = ?').get(id) as MeterRow | undefined;
    return r && toRecord(r);
  }

  /** A page of meters in id order after `after` (upper-case hex). */
  page(limit: number, after?: string): Page<MeterRecord, string> {
    const rows = this.db
      .statement('SELECT * FROM meters WHERE id > ? ORDER BY id LIMIT ?')
      .all(after ?? '', limit + 1) as MeterRow[];
    return pageOf(rows.map(toRecord), limit, (m) => m.id);
  }

  exists(id: string): boolean {
    return this.db.statement('SELECT 1 FROM meters WHERE id = ?').get(id) !== undefined;
  }

  /** Is this modem address of an LS taken? */
  modemTaken(as: number, ls: number, modem: number): boolean {
    return (
      this.db
        .statement('SELECT 1 FROM meters WHERE as_id = ? AND ls_id = ? AND modem = ?')
        .get(as, ls, modem) !== undefined
    );
  }

  /**
   * Inserts a meter and posts its opening balance to the ledger, in one transaction (a meter is
   * never registered without the value it holds being accounted for).
   */
  insert(m: {
    id: string;
    subscriberId: number;
    keyVersion: number;
    as: number;
    ls: number;
    modem: number;
    openingBalance?: number;
  }): void {
    this.db.tx(() => {
      this.db
        .statement(
          'INSERT INTO meters (id, subscriber_id, key_version, as_id, ls_id, modem) VALUES (?, ?, ?, ?, ?, ?)',
        )
        .run(m.id, m.subscriberId, m.keyVersion, m.as, m.ls, m.modem);
      this.db.postOpeningBalanceInTx(m.id, m.openingBalance ?? 0);
    });
  }

  /** Ids of the meters of one LS, in modem order. */
  idsOfLs(as: number, ls: number): string[] {
    return (
      this.db
        .statement('SELECT id FROM meters WHERE as_id = ? AND ls_id = ? ORDER BY modem')
        .all(as, ls) as Array<{
        id: string;
      }>
    ).map((r) => r.id);
  }

  /** How many meters hold each KH version. */
  countByKeyVersion(): Map<number, number> {
    return new Map(
      (
        this.db
          .statement('SELECT key_version AS v, COUNT(*) AS n FROM meters GROUP BY key_version')
          .all() as Array<{
          v: number;
          n: number;
        }>
      ).map((r) => [r.v, r.n]),
    );
  }

  /** How many meters hold KH version `version`. */
  countWithKeyVersion(version: number): number {
    return (
      this.db.statement('SELECT COUNT(*) AS n FROM meters WHERE key_version = ?').get(version) as {
        n: number;
      }
    ).n;
  }
}
