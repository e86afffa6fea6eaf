/**
 * The host's database: SQLite through better-sqlite3, WAL journal, `synchronous = FULL` (a commit
 * is on disk before it returns, so every credit is durable before it is acknowledged), numbered
 * migrations recorded in `schema_version`. Implements the {@link CreditStore} of exactly-once
 * delivery with a double-entry ledger:
 *
 * ```
 *  payment guaranteed, credit created   Dr payments:<method>     Cr in-transit
 *  meter confirmed the credit           Dr in-transit            Cr meter:<id>
 *  meter refused (maximum balance)      Dr in-transit            Cr refunds:<subscriber>
 *  meter registered with a balance      Dr opening-balances      Cr meter:<id>
 * ```
 * so the balance of `in-transit` always equals the sum of pending credits, and `meter:<id>` holds
 * everything the host ever put on the meter (opening balance and confirmed credits).
 */
import { txId, type TxId } from '../../protocol/index.js';
import type { CreditStore, CreditTx, HostEvent } from '../CreditStore.js';
import { pageOf, type Page } from './db/paging.js';
import { CLEARING_MIGRATION } from './db/clearingSchema.js';
import { RELAY_MIGRATION } from './db/relaySchema.js';
import { classify, HostDbError, MigratedDb } from './db/open.js';

/**
 * The highest host transaction id ever handed out. Ids are u64 on the wire but travel through
 * JavaScript numbers here, so the sequence ends at 2^53 - 1: past it a credit is refused before
 * anything is written (the host's terminal state; a new sequence needs new meters' SVM memories).
 */
export const MAX_TX_ID = Number.MAX_SAFE_INTEGER;

export { classify, HostDbError, type HostDbErrorCode } from './db/open.js';

/** Numbered migrations; entry i brings the schema to version i+1. Never edit one that shipped. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE subscribers (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     name TEXT NOT NULL,
     threshold INTEGER NOT NULL DEFAULT 0 CHECK (threshold >= 0),
     topup_amount INTEGER NOT NULL DEFAULT 0 CHECK (topup_amount >= 0),
     topup_method TEXT, topup_account TEXT,
     created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')));
   CREATE TABLE meters (
     id TEXT PRIMARY KEY CHECK (length(id) = 6),
     subscriber_id INTEGER NOT NULL REFERENCES subscribers(id),
     key_version INTEGER NOT NULL CHECK (key_version BETWEEN 0 AND 255),
     as_id INTEGER NOT NULL, ls_id INTEGER NOT NULL CHECK (ls_id BETWEEN 0 AND 255),
     modem INTEGER NOT NULL CHECK (modem BETWEEN 1 AND 256),
     last_balance INTEGER, credits_since INTEGER NOT NULL DEFAULT 0, last_seen TEXT,
     UNIQUE (as_id, ls_id, modem));
   CREATE TABLE cards (
     serial TEXT PRIMARY KEY CHECK (length(serial) = 16),
     subscriber_id INTEGER NOT NULL REFERENCES subscribers(id),
     status TEXT NOT NULL CHECK (status IN ('active','blocked','lost','expired')),
     blacklisted INTEGER NOT NULL DEFAULT 0);
   CREATE TABLE credits (
     tx_id INTEGER PRIMARY KEY AUTOINCREMENT,
     meter_id TEXT NOT NULL REFERENCES meters(id),
     amount INTEGER NOT NULL CHECK (amount > 0),
     state TEXT NOT NULL CHECK (state IN ('pending','confirmed','refused')),
     attempts INTEGER NOT NULL DEFAULT 0, balance_after INTEGER, ref TEXT NOT NULL,
     created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), settled_at TEXT);
   CREATE INDEX credits_pending ON credits(state, meter_id, tx_id);
   CREATE TABLE ledger (
     id INTEGER PRIMARY KEY AUTOINCREMENT, tx_id INTEGER REFERENCES credits(tx_id),
     account TEXT NOT NULL, debit INTEGER NOT NULL DEFAULT 0, credit INTEGER NOT NULL DEFAULT 0,
     at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')));
   CREATE TABLE payments (
     request_id TEXT PRIMARY KEY, gateway_ref TEXT NOT NULL, subscriber_id INTEGER NOT NULL,
     meter_id TEXT NOT NULL, amount INTEGER NOT NULL, method TEXT NOT NULL,
     tx_id INTEGER REFERENCES credits(tx_id));
   CREATE TABLE tariff_assignments (
     id INTEGER PRIMARY KEY AUTOINCREMENT, meter_id TEXT NOT NULL REFERENCES meters(id),
     activation TEXT NOT NULL, table_hex TEXT NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('pending','stored')));
   CREATE TABLE usage_backups (
     id INTEGER PRIMARY KEY AUTOINCREMENT, meter_id TEXT NOT NULL REFERENCES meters(id),
     at TEXT NOT NULL, balance INTEGER NOT NULL, energy_wh INTEGER NOT NULL, flags INTEGER NOT NULL,
     drift_s INTEGER NOT NULL, log BLOB);
   CREATE TABLE events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
     kind TEXT NOT NULL, meter_id TEXT, detail TEXT NOT NULL);
   CREATE TABLE host_keys (
     version INTEGER PRIMARY KEY CHECK (version BETWEEN 0 AND 255), key_hex TEXT NOT NULL,
     current INTEGER NOT NULL DEFAULT 0, retired INTEGER NOT NULL DEFAULT 0);`,
  // 2: API keys (only the SHA-256 of a key is kept), the audit trail of state-changing requests,
  // and a fingerprint of the account a payment was made from (a re-used requestId is compared
  // against it; the account number itself is never stored).
  `CREATE TABLE api_keys (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     name TEXT NOT NULL,
     roles TEXT NOT NULL,
     key_hash TEXT NOT NULL UNIQUE CHECK (length(key_hash) = 64),
     prefix TEXT NOT NULL,
     created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
     revoked_at TEXT);
   CREATE TABLE audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
     key_id INTEGER REFERENCES api_keys(id), key_name TEXT,
     method TEXT NOT NULL, route TEXT NOT NULL,
     meter_id TEXT, subscriber_id INTEGER, ref TEXT,
     status INTEGER NOT NULL);
   ALTER TABLE payments ADD COLUMN account_hash TEXT;`,
  // 3: clearing (host/clearing/): uploaded SVM and card records, each stored once under its
  // natural key; conflicting copies (clones); pending transfers and their settlement; card
  // credit-backs; the blacklist version (bumped by a trigger on every change of a card's flag) and
  // the version each meter confirmed; blacklist attempts reported by meters.
  CLEARING_MIGRATION,
  // 4: the relay for other utilities (issue 17, host/relay/): purse scopes of 'utility' API keys,
  // their card commands with routes to the subscriber's meters, offline readings from cards.
  RELAY_MIGRATION,
];

interface CreditRow {
  tx_id: number;
  meter_id: string;
  amount: number;
  state: 'pending' | 'confirmed' | 'refused';
  attempts: number;
  balance_after: number | null;
  ref: string;
}
const toTx = (r: CreditRow): CreditTx => ({
  txId: txId(r.tx_id),
  meterId: r.meter_id,
  amount: r.amount,
  state: r.state,
  attempts: r.attempts,
  ref: r.ref,
  ...(r.balance_after === null ? {} : { balanceAfter: r.balance_after }),
});

/** A credit as the API lists it. */
export interface CreditView {
  txId: number;
  meterId: string;
  amount: number;
  state: 'pending' | 'confirmed' | 'refused';
  balanceAfter: number | null;
  ref: string;
  createdAt: string;
  settledAt: string | null;
}

export class HostDb extends MigratedDb implements CreditStore {
  /**
   * Opens (creating if needed) and migrates the database.
   * @throws HostDbError 'corrupt' (not a database / failed integrity check), 'locked', 'readonly', 'io'
   *   (also: the file's directory does not exist).
   */
  constructor(file: string) {
    super(file, MIGRATIONS, 'this host');
  }

  get schemaVersion(): number {
    return (this.statement('SELECT version FROM schema_version').get() as { version: number }).version;
  }

  // ---------------------------------------------------------------- CreditStore

  createCredit(meterId: string, amount: number, ref: string): CreditTx {
    return this.tx(() => this.createCreditInTx(meterId, amount, ref, 'payments:internal'));
  }

  /** Inside a caller's transaction: the pending credit and its first ledger pair. */
  createCreditInTx(meterId: string, amount: number, ref: string, fundingAccount: string): CreditTx {
    const last = this.statement("SELECT seq FROM sqlite_sequence WHERE name = 'credits'").get() as
      { seq: number } | undefined;
    if (last && last.seq >= MAX_TX_ID)
      throw new HostDbError('exhausted', `host transaction ids exhausted (last ${last.seq})`);
    const r = this.statement('INSERT INTO credits (meter_id, amount, state, ref) VALUES (?, ?, ?, ?)').run(
      meterId,
      amount,
      'pending',
      ref,
    );
    const id = Number(r.lastInsertRowid);
    this.#post(id, fundingAccount, 'in-transit', amount);
    return { txId: txId(id), meterId, amount, state: 'pending', attempts: 0, ref };
  }

  /**
   * Inside a caller's transaction: a meter's opening balance (the value its SVM held when it was
   * registered) — Dr `opening-balances` / Cr `meter:<id>`, no credit row (nothing is delivered).
   */
  postOpeningBalanceInTx(meterId: string, amount: number): void {
    if (amount > 0) this.#post(null, 'opening-balances', `meter:${meterId}`, amount);
  }

  /** A cheap read that fails when the database does (GET /health). @returns the schema version. */
  ping(): number {
    try {
      return this.schemaVersion;
    } catch (e) {
      throw classify(e);
    }
  }

  #post(txId: number | null, debitAccount: string, creditAccount: string, amount: number): void {
    const ins = this.statement('INSERT INTO ledger (tx_id, account, debit, credit) VALUES (?, ?, ?, ?)');
    ins.run(txId, debitAccount, amount, 0);
    ins.run(txId, creditAccount, 0, amount);
  }

  get(txId: TxId): CreditTx | undefined {
    const r = this.statement('SELECT * FROM credits WHERE tx_id = ?').get(txId) as CreditRow | undefined;
    return r && toTx(r);
  }

  pending(meterId?: string): CreditTx[] {
    const rows = (
      meterId === undefined
        ? this.statement("SELECT * FROM credits WHERE state = 'pending' ORDER BY tx_id").all()
        : this.statement("SELECT * FROM credits WHERE state = 'pending' AND meter_id = ? ORDER BY tx_id").all(
            meterId,
          )
    ) as CreditRow[];
    return rows.map(toTx);
  }

  confirm(txId: TxId, balanceAfter: number): void {
    this.tx(() => {
      const t = this.get(txId);
      if (!t) throw new HostDbError('not-found', `unknown tx ${txId}`);
      if (t.state === 'confirmed') return;
      if (t.state !== 'pending') throw new HostDbError('conflict', `tx ${txId} is ${t.state}`);
      this.statement(
        "UPDATE credits SET state = 'confirmed', balance_after = ?, settled_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE tx_id = ?",
      ).run(balanceAfter, txId);
      this.#post(Number(txId), 'in-transit', `meter:${t.meterId}`, t.amount);
      this.statement('UPDATE meters SET credits_since = credits_since + ? WHERE id = ?').run(
        t.amount,
        t.meterId,
      );
    });
  }

  refuse(txId: TxId, reason: string): void {
    this.tx(() => {
      const t = this.get(txId);
      if (!t || t.state !== 'pending') throw new HostDbError('conflict', `tx ${txId} is not pending`);
      const sub = this.statement('SELECT subscriber_id AS s FROM meters WHERE id = ?').get(t.meterId) as
        { s: number } | undefined;
      this.statement(
        "UPDATE credits SET state = 'refused', settled_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE tx_id = ?",
      ).run(txId);
      this.#post(Number(txId), 'in-transit', `refunds:${sub?.s ?? 'unknown'}`, t.amount);
      this.event({ kind: 'credit-refused', meterId: t.meterId, detail: `tx ${txId}: ${reason}` });
    });
  }

  noteAttempt(txId: TxId): void {
    this.statement('UPDATE credits SET attempts = attempts + 1 WHERE tx_id = ?').run(txId);
  }

  recordBalance(meterId: string, balance: number): void {
    this.statement(
      "UPDATE meters SET last_balance = ?, credits_since = 0, last_seen = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?",
    ).run(balance, meterId);
  }

  lastBalance(meterId: string): { balance: number; creditsSince: number } | undefined {
    const r = this.statement('SELECT last_balance AS b, credits_since AS c FROM meters WHERE id = ?').get(
      meterId,
    ) as { b: number | null; c: number } | undefined;
    return r && r.b !== null ? { balance: r.b, creditsSince: r.c } : undefined;
  }

  event(e: HostEvent): void {
    try {
      this.statement('INSERT INTO events (kind, meter_id, detail) VALUES (?, ?, ?)').run(
        e.kind,
        e.meterId ?? null,
        e.detail,
      );
    } catch (err) {
      throw classify(err);
    }
  }

  /** The latest `limit` events, newest first (GET /events). */
  events(
    limit: number,
  ): Array<{ id: number; at: string; kind: string; meterId: string | null; detail: string }> {
    return this.statement(
      'SELECT id, at, kind, meter_id AS meterId, detail FROM events ORDER BY id DESC LIMIT ?',
    ).all(limit) as Array<{ id: number; at: string; kind: string; meterId: string | null; detail: string }>;
  }

  /** Every credit of one meter, oldest first (GET /meters/:id). */
  creditsOf(
    meterId: string,
  ): Array<{ txId: number; amount: number; state: string; balanceAfter: number | null }> {
    return this.statement(
      'SELECT tx_id AS txId, amount, state, balance_after AS balanceAfter FROM credits WHERE meter_id = ? ORDER BY tx_id',
    ).all(meterId) as Array<{ txId: number; amount: number; state: string; balanceAfter: number | null }>;
  }

  /**
   * A page of credits in txId order after `after` (GET /credits), optionally of one meter and/or
   * one state; fetches one row more than `limit` to know whether a next page exists.
   */
  credits(q: { limit: number; after?: number; meterId?: string; state?: string }): Page<CreditView, number> {
    const rows = this.statement(
      `SELECT tx_id AS txId, meter_id AS meterId, amount, state, balance_after AS balanceAfter, ref,
              created_at AS createdAt, settled_at AS settledAt
         FROM credits
        WHERE tx_id > ? AND (? IS NULL OR meter_id = ?) AND (? IS NULL OR state = ?)
        ORDER BY tx_id LIMIT ?`,
    ).all(
      q.after ?? 0,
      q.meterId ?? null,
      q.meterId ?? null,
      q.state ?? null,
      q.state ?? null,
      q.limit + 1,
    ) as CreditView[];
    return pageOf(rows, q.limit, (c) => c.txId);
  }

  /** Per-account balances (debit − credit) and whether the ledger balances. */
  ledgerReport(): {
    accounts: Record<string, number>;
    balanced: boolean;
    inTransit: number;
    pendingSum: number;
  } {
    const rows = this.statement(
      'SELECT account, SUM(debit) - SUM(credit) AS bal FROM ledger GROUP BY account',
    ).all() as Array<{ account: string; bal: number }>;
    const accounts = Object.fromEntries(rows.map((r) => [r.account, r.bal]));
    const total = rows.reduce((s, r) => s + r.bal, 0);
    const pendingSum = (
      this.statement("SELECT COALESCE(SUM(amount), 0) AS s FROM credits WHERE state = 'pending'").get() as {
        s: number;
      }
    ).s;
    return {
      accounts,
      balanced: total === 0,
      inTransit: Math.abs(accounts['in-transit'] ?? 0) === 0 ? 0 : -accounts['in-transit']!,
      pendingSum,
    };
  }
}
