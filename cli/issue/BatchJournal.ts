/**
 * The journal of a batch issuance (`meterpurse card issue --journal <file>`): which card serial
 * (CSN) each subscriber got, and how far its card went. SQLite through better-sqlite3, WAL,
 * `synchronous = FULL`: every state change is durable before the next step touches a card.
 *
 * The rules of exactly once (what `card issue` relies on after a kill -9 anywhere):
 * 1. A subscriber's CSN is allocated and committed (state `allocated`) **before** any card is
 *    touched, in one transaction with the journal's next serial; so a restart finds the same CSN
 *    for the same subscriber and never allocates a second one. Serials are never re-used.
 * 2. Each personalisation attempt is counted (`attempts`, committed before the chip is touched):
 *    an attempt that a kill interrupted is visible afterwards (the MKC's issue counter may have
 *    counted it — see cli/issue/BatchIssuer.ts).
 * 3. `personalised` is written only after the card exists for good (its card file written
 *    atomically and fsync'd, or the chip's SET STATUS answered); a restart that finds the row
 *    still `allocated` looks at the card first (file or chip) and completes the row from what it
 *    finds, so a card is never personalised twice.
 * 4. `registered` is written only after the host answered 201 or 200: registration is idempotent
 *    on the host (POST /cards for a serial already registered to the same subscriber answers 200),
 *    so a repeat after a kill between the answer and this write is harmless.
 *
 * ```
 *   rows:  subscriber (PK) · line · csn (UNIQUE) · digest · state · attempts · icsn · mkc_counter · updated_at
 *   meta:  format, serial_next, serial_start, bound_mkc, bound_station
 * ```
 * The journal is bound to the MKC and the destination of its first run (`bind`): resuming with
 * another MKC or into another `--out` folder is refused.
 * A row's `digest` is the card as asked (subscriber, purses, expiry, PIN or not; never the PIN);
 * a later run of the same journal with another card for the same subscriber is refused for that
 * row, not silently given the first card.
 */
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { createHash } from 'node:crypto';

export const JOURNAL_FORMAT = 'meterpurse-issue-journal/1';

export type JournalState = 'allocated' | 'personalised' | 'registered';

export interface JournalRow {
  readonly subscriberId: number;
  readonly line: number;
  /** 16 hex, upper case. */
  readonly csn: string;
  readonly digest: string;
  readonly state: JournalState;
  readonly attempts: number;
  readonly icsn: string | null;
  readonly mkcCounter: number | null;
  readonly updatedAt: string;
}

/** A journal that cannot be used as asked (another format, a serial range going backwards...). */
export class JournalError extends Error {
  override readonly name = 'JournalError';
}

const MAX_SERIAL = (1n << 64n) - 1n;

function hex16(v: bigint): string {
  return v.toString(16).toUpperCase().padStart(16, '0');
}

/** sha-256 of a row's canonical form, hex (32 characters: what tells two versions of a row apart). */
export function digestOf(canonical: string): string {
  return createHash('sha256').update(canonical).digest('hex').slice(0, 32);
}

interface RawRow {
  subscriber_id: number;
  line: number;
  csn: string;
  digest: string;
  state: JournalState;
  attempts: number;
  icsn: string | null;
  mkc_counter: number | null;
  updated_at: string;
}

function rowOf(r: RawRow): JournalRow {
  return {
    subscriberId: r.subscriber_id,
    line: r.line,
    csn: r.csn,
    digest: r.digest,
    state: r.state,
    attempts: r.attempts,
    icsn: r.icsn,
    mkcCounter: r.mkc_counter,
    updatedAt: r.updated_at,
  };
}

export class BatchJournal {
  readonly path: string;
  readonly #db: Db;
  readonly #now: () => Date;

  private constructor(path: string, db: Db, now: () => Date) {
    this.path = path;
    this.#db = db;
    this.#now = now;
  }

  /**
   * Opens (or creates) a journal.
   * @param serialStart the first CSN to allocate (16 hex); required for a new journal. On an
   *   existing one the start it was made with changes nothing (the same command again resumes);
   *   another start may only move the next serial forward (skipping a range), never back.
   * @throws JournalError for a journal of another format, a missing or backwards serial start;
   *   the better-sqlite3 error when the file cannot be opened.
   */
  static open(path: string, serialStart?: string, now: () => Date = () => new Date()): BatchJournal {
    const db = new Database(path);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS rows (
          subscriber_id INTEGER PRIMARY KEY,
          line INTEGER NOT NULL,
          csn TEXT NOT NULL UNIQUE CHECK (length(csn) = 16),
          digest TEXT NOT NULL,
          state TEXT NOT NULL CHECK (state IN ('allocated','personalised','registered')),
          attempts INTEGER NOT NULL DEFAULT 0,
          icsn TEXT,
          mkc_counter INTEGER,
          updated_at TEXT NOT NULL);`);
      const j = new BatchJournal(path, db, now);
      j.#init(serialStart);
      return j;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  #meta(key: string): string | undefined {
    const r = this.#db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as
      { value: string } | undefined;
    return r?.value;
  }

  #setMeta(key: string, value: string): void {
    this.#db
      .prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      )
      .run(key, value);
  }

  #init(serialStart: string | undefined): void {
    const start = serialStart === undefined ? undefined : parseSerial(serialStart);
    this.#db.transaction(() => {
      const format = this.#meta('format');
      if (format === undefined) {
        if (start === undefined)
          throw new JournalError(
            `new journal ${this.path}: give --serial-start <hex16>, the first card serial of this bureau's range`,
          );
        this.#setMeta('format', JOURNAL_FORMAT);
        this.#setMeta('serial_start', hex16(start));
        this.#setMeta('serial_next', hex16(start));
        return;
      }
      if (format !== JOURNAL_FORMAT)
        throw new JournalError(`${this.path} is not a meterpurse issue journal (format ${format})`);
      // The same command again (a resume) gives the same start: nothing changes.
      if (start !== undefined && hex16(start) !== this.#meta('serial_start')) {
        const next = BigInt(`0x${this.#meta('serial_next')!}`);
        if (start < next)
          throw new JournalError(
            `--serial-start ${hex16(start)} is below the journal's next serial ${hex16(next)}: serials up to it are allocated already`,
          );
        this.#setMeta('serial_next', hex16(start));
        this.#setMeta('serial_start', hex16(start));
      }
    })();
  }

  /**
   * Binds the journal to what its cards are made with: `mkc` the master-key card's serial,
   * `station` where the cards go (`out:<folder's real path>` or `reader`). The first run records
   * it; a later run with another is refused — resuming a batch with another MKC (other keys) or
   * into another folder (where the cards the journal counts as done are not) is a mistake.
   * @throws JournalError when the journal is bound to another value.
   */
  bind(what: 'mkc' | 'station', value: string): void {
    this.#db.transaction(() => {
      const key = `bound_${what}`;
      const was = this.#meta(key);
      if (was === undefined) this.#setMeta(key, value);
      else if (was !== value)
        throw new JournalError(
          what === 'mkc'
            ? `${this.path} is the journal of a batch issued with master-key card ${was}, not ${value}: use that card, or a new journal`
            : `${this.path} is the journal of a batch issued to ${describeStation(was)}, not ${describeStation(value)}: the cards it counts as done are there; use a new journal for another destination`,
        );
    })();
  }

  /** The next serial to allocate. */
  get nextSerial(): string {
    return this.#meta('serial_next')!;
  }

  /** The row of a subscriber, if it has one. */
  get(subscriberId: number): JournalRow | undefined {
    const r = this.#db.prepare('SELECT * FROM rows WHERE subscriber_id = ?').get(subscriberId) as
      RawRow | undefined;
    return r && rowOf(r);
  }

  /** Every row, in CSN order. */
  all(): JournalRow[] {
    return (this.#db.prepare('SELECT * FROM rows ORDER BY csn').all() as RawRow[]).map(rowOf);
  }

  /**
   * The subscriber's row: the one the journal has, or a new one with the next CSN (state
   * `allocated`), committed before this returns (rule 1).
   * @throws JournalError when the journal holds another card for this subscriber (other digest),
   *   or the serial range is exhausted.
   */
  allocate(subscriberId: number, line: number, digest: string): JournalRow {
    return this.#db.transaction(() => {
      const old = this.get(subscriberId);
      if (old) {
        if (old.digest !== digest)
          throw new JournalError(
            `subscriber ${subscriberId} was issued card ${old.csn} by this journal with other data (purses, expiry or PIN): not issued again`,
          );
        return old;
      }
      const next = BigInt(`0x${this.#meta('serial_next')!}`);
      if (next > MAX_SERIAL) throw new JournalError('the serial range is exhausted');
      const csn = hex16(next);
      this.#db
        .prepare(
          "INSERT INTO rows (subscriber_id, line, csn, digest, state, updated_at) VALUES (?, ?, ?, ?, 'allocated', ?)",
        )
        .run(subscriberId, line, csn, digest, this.#now().toISOString());
      this.#setMeta('serial_next', hex16(next + 1n));
      return this.get(subscriberId)!;
    })();
  }

  /** Rule 2: one more personalisation attempt of the row, with the chip's ICSN, before it starts. */
  attempt(csn: string, icsn: string): void {
    const r = this.#db
      .prepare('UPDATE rows SET attempts = attempts + 1, icsn = ?, updated_at = ? WHERE csn = ?')
      .run(icsn, this.#stamp(), csn);
    if (r.changes === 0) throw new JournalError(`no journal row for card ${csn}`);
  }

  /** Rule 3: the card exists for good. Only moves forward (a registered row stays registered). */
  personalised(csn: string, icsn: string, mkcCounter: number | null): void {
    const r = this.#db
      .prepare(
        `UPDATE rows SET state = CASE state WHEN 'allocated' THEN 'personalised' ELSE state END,
           icsn = ?, mkc_counter = coalesce(?, mkc_counter), updated_at = ? WHERE csn = ?`,
      )
      .run(icsn, mkcCounter, this.#stamp(), csn);
    if (r.changes === 0) throw new JournalError(`no journal row for card ${csn}`);
  }

  /** Rule 4: the host holds the card (a row not personalised yet is left as it is). */
  registered(csn: string): void {
    this.#db
      .prepare(
        "UPDATE rows SET state = 'registered', updated_at = ? WHERE csn = ? AND state = 'personalised'",
      )
      .run(this.#stamp(), csn);
  }

  #stamp(): string {
    return this.#now().toISOString();
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

function describeStation(s: string): string {
  return s.startsWith('out:') ? `the folder ${s.slice(4)}` : 'a PC/SC reader';
}

/**
 * A 16-hex-digit card serial as a number.
 * @throws JournalError when it is not 16 hex digits.
 */
export function parseSerial(s: string): bigint {
  if (!/^[0-9A-Fa-f]{16}$/.test(s)) throw new JournalError(`serial '${s}' must be 16 hex digits (8 bytes)`);
  return BigInt(`0x${s}`);
}
