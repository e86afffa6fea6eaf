import 'reflect-metadata';
import { inject, injectable } from 'tsyringe';
import { diHostDb } from '../../tokens.js';
import type { HostDb } from '../HostDb.js';

/** The `tariff_assignments` table: every table sent to a meter, pending until the meter echoed it. */
@injectable()
export class TariffRepository {
  constructor(@inject(diHostDb) private readonly db: HostDb) {}

  /** Stores an assignment as pending (in its own transaction). @returns its id. */
  insertPending(meterId: string, activation: string, tableHex: string): number {
    return Number(
      this.db.tx(() =>
        this.db
          .statement(
            "INSERT INTO tariff_assignments (meter_id, activation, table_hex, state) VALUES (?, ?, ?, 'pending')",
          )
          .run(meterId, activation, tableHex),
      ).lastInsertRowid,
    );
  }

  markStored(id: number): void {
    this.db.tx(() =>
      this.db.statement("UPDATE tariff_assignments SET state = 'stored' WHERE id = ?").run(id),
    );
  }

  /** The last assignment the meter confirmed: its activation time (YYMMDDhhmmss) and table (hex). */
  lastStored(meterId: string): { activation: string; hex: string } | undefined {
    return this.db
      .statement(
        "SELECT activation, table_hex AS hex FROM tariff_assignments WHERE meter_id = ? AND state = 'stored' ORDER BY id DESC LIMIT 1",
      )
      .get(meterId) as { activation: string; hex: string } | undefined;
  }
}
