import 'reflect-metadata';
import { inject, injectable } from 'tsyringe';
import { diHostDb } from '../../tokens.js';
import type { HostDb } from '../HostDb.js';

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

  /** Blacklists a card. @returns false when there is no such card. */
  blacklist(serial: string): boolean {
    const r = this.db.tx(() =>
      this.db.statement("UPDATE cards SET blacklisted = 1, status = 'blocked' WHERE serial = ?").run(serial),
    );
    return r.changes > 0;
  }
}
