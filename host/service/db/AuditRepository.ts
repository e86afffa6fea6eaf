import 'reflect-metadata';
import { inject, injectable } from 'tsyringe';
import { diHostDb } from '../../tokens.js';
import type { HostDb } from '../HostDb.js';
import { pageOf, type Page } from './paging.js';

/** One entry of the audit trail: who did what, when, and how it ended. */
export interface AuditEntry {
  readonly id: number;
  readonly at: string;
  readonly keyId: number | null;
  readonly keyName: string | null;
  readonly method: string;
  /** The route as registered (`/meters/:id/poll`), never the raw URL. */
  readonly route: string;
  readonly meterId: string | null;
  readonly subscriberId: number | null;
  /** The client's reference (a recharge's requestId), when the request had one. */
  readonly ref: string | null;
  readonly status: number;
}

export type NewAuditEntry = Omit<AuditEntry, 'id' | 'at'>;

/**
 * The status of an entry written before its request ran. One left at 0 means the host stopped
 * while that request was being handled: its effect may or may not have happened, but it is never
 * missing from the trail.
 */
export const AUDIT_IN_PROGRESS = 0;

/** The `audit` table: append-only. */
@injectable()
export class AuditRepository {
  constructor(@inject(diHostDb) private readonly db: HostDb) {}

  /** Appends one entry (its own durable transaction). @returns its id. */
  append(e: NewAuditEntry): number {
    return this.db.tx(() =>
      Number(
        this.db
          .statement(
            'INSERT INTO audit (key_id, key_name, method, route, meter_id, subscriber_id, ref, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          )
          .run(e.keyId, e.keyName, e.method, e.route, e.meterId, e.subscriberId, e.ref, e.status)
          .lastInsertRowid,
      ),
    );
  }

  /**
   * Writes the outcome of an entry appended with status {@link AUDIT_IN_PROGRESS} before its
   * request ran (its own durable transaction).
   */
  finish(id: number, e: Pick<NewAuditEntry, 'meterId' | 'subscriberId' | 'ref' | 'status'>): void {
    this.db.tx(() =>
      this.db
        .statement('UPDATE audit SET meter_id = ?, subscriber_id = ?, ref = ?, status = ? WHERE id = ?')
        .run(e.meterId, e.subscriberId, e.ref, e.status, id),
    );
  }

  /**
   * Up to `limit` entries with id below `before` (from the newest when undefined), newest first;
   * `next` is the `before` of the following page, null on the last.
   */
  page(limit: number, before?: number): Page<AuditEntry, number> {
    const rows = this.db
      .statement(
        'SELECT id, at, key_id AS keyId, key_name AS keyName, method, route, meter_id AS meterId, subscriber_id AS subscriberId, ref, status FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?',
      )
      .all(before ?? Number.MAX_SAFE_INTEGER, limit + 1) as AuditEntry[];
    return pageOf(rows, limit, (e) => e.id);
  }
}
