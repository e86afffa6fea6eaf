import 'reflect-metadata';
import { inject, injectable } from 'tsyringe';
import { fromHex, toHex } from '../../../card/index.js';
import { diHostDb } from '../../tokens.js';
import type { HostDb } from '../HostDb.js';

/** One KH version as stored. */
export interface StoredKey {
  readonly version: number;
  readonly key: Uint8Array;
  readonly current: boolean;
}

/** The `host_keys` table: the KH versions the host holds. */
@injectable()
export class KeyRepository {
  constructor(@inject(diHostDb) private readonly db: HostDb) {}

  /** The versions not retired, in version order. */
  active(): StoredKey[] {
    return (
      this.db
        .statement('SELECT version, key_hex, current FROM host_keys WHERE retired = 0 ORDER BY version')
        .all() as Array<{ version: number; key_hex: string; current: number }>
    ).map((r) => ({ version: r.version, key: fromHex(r.key_hex), current: r.current !== 0 }));
  }

  /** Stores the first keys of a new database in one transaction; `current` is marked current. */
  insertAll(keys: ReadonlyArray<readonly [number, Uint8Array]>, current: number): void {
    this.db.tx(() => {
      const insert = this.db.statement('INSERT INTO host_keys (version, key_hex, current) VALUES (?, ?, ?)');
      for (const [v, k] of keys) insert.run(v, toHex(k), v === current ? 1 : 0);
    });
  }

  /** Stores a new version and makes it the only current one, in one transaction. */
  insertCurrent(version: number, key: Uint8Array): void {
    this.db.tx(() => {
      this.db.statement('UPDATE host_keys SET current = 0').run();
      this.db
        .statement('INSERT INTO host_keys (version, key_hex, current) VALUES (?, ?, 1)')
        .run(version, toHex(key));
    });
  }

  retire(version: number): void {
    this.db.tx(() => this.db.statement('UPDATE host_keys SET retired = 1 WHERE version = ?').run(version));
  }
}
