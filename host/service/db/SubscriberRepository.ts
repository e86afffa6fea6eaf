import 'reflect-metadata';
import { inject, injectable } from 'tsyringe';
import { diHostDb } from '../../tokens.js';
import type { HostDb } from '../HostDb.js';
import type { PaymentMethod } from '../PaymentGateway.js';
import { pageOf, type Page } from './paging.js';

/** A subscriber as stored. */
export interface SubscriberRecord {
  readonly id: number;
  readonly name: string;
  readonly threshold: number;
  readonly topupAmount: number;
  readonly topupMethod: PaymentMethod | null;
  readonly topupAccount: string | null;
}

/** A subscriber's automatic top-up rule. */
export interface TopUpRule {
  readonly threshold: number;
  readonly amount: number;
  readonly method: PaymentMethod | null;
  readonly account: string | null;
}

/** The `subscribers` table. */
@injectable()
export class SubscriberRepository {
  constructor(@inject(diHostDb) private readonly db: HostDb) {}

  /** Inserts a subscriber (in its own transaction). @returns the new id. */
  insert(s: {
    name: string;
    threshold?: number;
    topupAmount?: number;
    topupMethod?: PaymentMethod;
    topupAccount?: string;
  }): number {
    const r = this.db.tx(() =>
      this.db
        .statement(
          'INSERT INTO subscribers (name, threshold, topup_amount, topup_method, topup_account) VALUES (?, ?, ?, ?, ?)',
        )
        .run(s.name, s.threshold ?? 0, s.topupAmount ?? 0, s.topupMethod ?? null, s.topupAccount ?? null),
    );
    return Number(r.lastInsertRowid);
  }

  /** A page of subscribers in id order after `after`. */
  page(limit: number, after?: number): Page<SubscriberRecord, number> {
    const rows = this.db
      .statement(
        `SELECT id, name, threshold, topup_amount AS topupAmount, topup_method AS topupMethod,
                topup_account AS topupAccount
           FROM subscribers WHERE id > ? ORDER BY id LIMIT ?`,
      )
      .all(after ?? 0, limit + 1) as SubscriberRecord[];
    return pageOf(rows, limit, (s) => s.id);
  }

  exists(id: number): boolean {
    return this.db.statement('SELECT 1 FROM subscribers WHERE id = ?').get(id) !== undefined;
  }

  topUpRule(id: number): TopUpRule | undefined {
    const s = this.db
      .statement('SELECT threshold, topup_amount, topup_method, topup_account FROM subscribers WHERE id = ?')
      .get(id) as
      | {
          threshold: number;
          topup_amount: number;
          topup_method: PaymentMethod | null;
          topup_account: string | null;
        }
      | undefined;
    return (
      s && {
        threshold: s.threshold,
        amount: s.topup_amount,
        method: s.topup_method,
        account: s.topup_account,
      }
    );
  }
}
