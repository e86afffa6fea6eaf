/**
 * What the host's SQLite databases share: the classified error, and opening one (WAL, full
 * sync, foreign keys, an integrity check) with its numbered migrations applied. Used by
 * {@link HostDb}, the settlement centre's SettlementDb and the utility server's UtilityDb (all
 * through {@link MigratedDb}).
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';

export type HostDbErrorCode =
  'corrupt' | 'locked' | 'full' | 'readonly' | 'io' | 'not-found' | 'conflict' | 'exhausted';

/** A database failure, classified so the API can answer clearly. */
export class HostDbError extends Error {
  override readonly name = 'HostDbError';
  constructor(
    readonly code: HostDbErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Maps a SQLite error to a {@link HostDbError}; other errors pass through. */
export function classify(e: unknown): unknown {
  const code = (e as { code?: string }).code ?? '';
  if (!code.startsWith('SQLITE_')) return e;
  const msg = (e as Error).message;
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB')
    return new HostDbError('corrupt', `database file is corrupt: ${msg}`, { cause: e });
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
    return new HostDbError('locked', `database is locked: ${msg}`, { cause: e });
  if (code === 'SQLITE_FULL') return new HostDbError('full', `disk or database full: ${msg}`, { cause: e });
  if (code.startsWith('SQLITE_READONLY'))
    return new HostDbError('readonly', `database is read-only: ${msg}`, { cause: e });
  if (code.startsWith('SQLITE_CONSTRAINT')) return new HostDbError('conflict', msg, { cause: e });
  return new HostDbError('io', msg, { cause: e });
}

/**
 * Opens (creating if needed) `file` and brings its schema up to `migrations.length`; entry i of
 * `migrations` brings the schema to version i+1, each in its own transaction, recorded in
 * `schema_version`. `owner` names the code in the 'conflict' message ("this host").
 * @throws HostDbError 'corrupt', 'locked', 'readonly', 'io' (also: the directory does not exist),
 *   'conflict' (the schema is newer than `migrations`).
 */
export function openMigrated(file: string, migrations: readonly string[], owner: string): Database.Database {
  // better-sqlite3 says this with a TypeError; it is an I/O condition like any other here
  if (file !== ':memory:' && !file.startsWith('file:') && !existsSync(dirname(resolve(file))))
    throw new HostDbError('io', `cannot open ${file}: its directory does not exist`);
  try {
    const db = new Database(file, { timeout: 2000 });
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new HostDbError('corrupt', `integrity check failed: ${String(check)}`);
    migrate(db, migrations, owner);
    return db;
  } catch (e) {
    throw classify(e);
  }
}

function migrate(db: Database.Database, migrations: readonly string[], owner: string): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
  let v = row?.version ?? 0;
  if (!row) db.prepare('INSERT INTO schema_version VALUES (0)').run();
  if (v > migrations.length)
    throw new HostDbError('conflict', `database schema ${v} is newer than ${owner} (${migrations.length})`);
  for (; v < migrations.length; v++) {
    db.transaction(() => {
      db.exec(migrations[v]!);
      db.prepare('UPDATE schema_version SET version = ?').run(v + 1);
    })();
  }
}

/**
 * A migrated SQLite database with what every store over one shares: statements prepared on first
 * use and cached for the life of the connection (preparing is a parse and plan in SQLite: it was
 * 12 % of the host bench when done on every call), IMMEDIATE transactions and classified errors.
 * HostDb, the utility server's UtilityDb and the settlement centre's SettlementDb extend it.
 */
export class MigratedDb {
  readonly db: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();

  /** @throws HostDbError as {@link openMigrated}. */
  constructor(file: string, migrations: readonly string[], owner: string) {
    this.db = openMigrated(file, migrations, owner);
  }

  /**
   * The prepared statement for `sql`, prepared on first use and cached. The database layer is the
   * only caller.
   * @throws HostDbError when SQLite refuses the statement.
   */
  statement(sql: string): Database.Statement {
    let s = this.#statements.get(sql);
    if (!s) {
      try {
        s = this.db.prepare(sql);
      } catch (e) {
        throw classify(e);
      }
      this.#statements.set(sql, s);
    }
    return s;
  }

  /** Runs `f` in one IMMEDIATE transaction (one durable commit), classifying SQLite errors. */
  tx<T>(f: () => T): T {
    try {
      return this.db.transaction(f).immediate();
    } catch (e) {
      throw classify(e);
    }
  }

  close(): void {
    this.#statements.clear();
    this.db.close();
  }
}
