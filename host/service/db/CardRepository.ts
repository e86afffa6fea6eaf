import 'reflect-metadata';
import { inject, injectable } from 'tsyringe';
import { diHostDb } from '../../tokens.js';
import type { HostDb } from '../HostDb.js';
import { pageOf, type Page } from './paging.js';

/** A card as stored. */
export interface CardRecord {
  readonly serial: string;
  readonly subscriberId: number;
  readonly status: string;
  readonly blacklisted: boolean;
}

/** The `cards` table: subscriber cards and the blacklist. */
@injectable()
export class CardRepository {
  constructor(@inject(diHostDb) private readonly db: HostDb) {}

  /** Inserts an active card (in its own transaction). @param serial upper-case hex. */
  insert(serial: string, subscriberId: number): void {
    this.db.tx(() =>
      this.db
        .statement("INSERT INTO cards (serial, subscriber_id, status) VALUES (?, ?, 'active')")
        .run(serial, subscriberId),
    );
  }

  /** One card, or undefined. @param serial upper-case hex. */
  get(serial: string): CardRecord | undefined {
    const r = this.db
      .statement(
        'SELECT serial, subscriber_id AS subscriberId, status, blacklisted FROM cards WHERE serial = ?',
      )
      .get(serial) as (Omit<CardRecord, 'blacklisted'> & { blacklisted: number }) | undefined;
    return r && { ...r, blacklisted: r.blacklisted !== 0 };
  }

  /**
   * Registers a card idempotently, in one transaction: a new serial is inserted (active); a serial
   * already registered to `subscriberId` is answered as it is (`created: false`, nothing written);
   * a serial of another subscriber is left alone (`conflict`). So a bureau that lost the answer to
   * its request may simply send it again.
   * @param serial upper-case hex.
   */
  register(
    serial: string,
    subscriberId: number,
  ): { card: CardRecord; created: boolean } | { conflict: CardRecord } {
    return this.db.tx(() => {
      const old = this.get(serial);
      if (old) return old.subscriberId === subscriberId ? { card: old, created: false } : { conflict: old };
      this.db
        .statement("INSERT INTO cards (serial, subscriber_id, status) VALUES (?, ?, 'active')")
        .run(serial, subscriberId);
      return { card: this.get(serial)!, created: true };
    });
  }

  /** A page of cards in serial order after `after` (upper-case hex). */
  page(limit: number, after?: string): Page<CardRecord, string> {
    const rows = this.db
      .statement(
        'SELECT serial, subscriber_id AS subscriberId, status, blacklisted FROM cards WHERE serial > ? ORDER BY serial LIMIT ?',
      )
      .all(after ?? '', limit + 1) as Array<Omit<CardRecord, 'blacklisted'> & { blacklisted: number }>;
    return pageOf(
      rows.map((r) => ({ ...r, blacklisted: r.blacklisted !== 0 })),
      limit,
      (c) => c.serial,
    );
  }

  /** Blacklists a card. @returns false when there is no such card. */
  blacklist(serial: string): boolean {
    const r = this.db.tx(() =>
      this.db.statement("UPDATE cards SET blacklisted = 1, status = 'blocked' WHERE serial = ?").run(serial),
    );
    return r.changes > 0;
  }
}
