/**
 * The clearing tables (host/service/db/clearingSchema.ts): all of clearing's SQL, each statement prepared
 * once per connection through {@link HostDb.statement}. Methods named `...InTx` run inside the
 * caller's transaction ({@link HostDb.tx}); the others are single statements.
 */
import type { HostDb } from '../HostDb.js';
import { HostDbError } from '../HostDb.js';
import { CLEARING_QUARANTINE_TABLE } from './clearingSchema.js';

export type StoreResult = 'new' | 'duplicate' | 'conflict';

export interface CardRecordRow {
  csn: string;
  purse: number;
  counter: number;
  type: number;
  amount: number;
  balanceAfter: number;
  terminalId: Uint8Array;
  dateTime: Uint8Array;
  rv: Uint8Array;
  raw: Uint8Array;
  source: string;
}

export interface SvmRecordRow {
  meterId: string;
  svmCounter: number;
  rkey: string;
  type: number;
  ref: Uint8Array;
  amount: number;
  balanceAfter: number;
  dateTime: Uint8Array;
  raw: Uint8Array;
  mac: Uint8Array;
}

export type PendingState = 'open' | 'decided' | 'settled';
export type Decision = 'complete' | 'cancel';

export interface PendingRow {
  id: number;
  meterId: string;
  csn: string;
  purse: number;
  counter: number;
  amount: number;
  dateTime: Uint8Array;
  rv: Uint8Array | null;
  slot: number;
  firstSeenMs: number;
  state: PendingState;
  decision: Decision | null;
  reason: string | null;
  txId: number | null;
  attempts: number;
  answer: string | null;
}

export type CreditBackState = 'awaiting-debit' | 'payable' | 'loading' | 'paid' | 'void';

export interface CreditBackRow {
  csn: string;
  purse: number;
  counter: number;
  amount: number;
  pendingId: number;
  state: CreditBackState;
  loadCounter: number | null;
  loadTerminal: Uint8Array | null;
  loadDateTime: Uint8Array | null;
  reason: string | null;
}

const u8 = (b: Buffer | Uint8Array | null): Uint8Array | null =>
  b === null ? null : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

const PENDING_COLUMNS = `id, meter_id AS meterId, csn, purse, counter, amount, date_time AS dateTime, rv, slot,
  first_seen_ms AS firstSeenMs, state, decision, reason, tx_id AS txId, attempts, answer`;
const CREDIT_BACK_COLUMNS = `csn, purse, counter, amount, pending_id AS pendingId, state,
  load_counter AS loadCounter, load_terminal AS loadTerminal, load_date_time AS loadDateTime, reason`;
const CARD_COLUMNS = `csn, purse, counter, type, amount, balance_after AS balanceAfter,
  terminal_id AS terminalId, date_time AS dateTime, rv, raw, source`;
const SVM_COLUMNS = `meter_id AS meterId, svm_counter AS svmCounter, rkey, type, ref, amount,
  balance_after AS balanceAfter, date_time AS dateTime, raw, mac`;

function pendingOf(r: PendingRow): PendingRow {
  return { ...r, dateTime: u8(r.dateTime)!, rv: u8(r.rv) };
}
function creditBackOf(r: CreditBackRow): CreditBackRow {
  return { ...r, loadTerminal: u8(r.loadTerminal), loadDateTime: u8(r.loadDateTime) };
}
function cardOf(r: CardRecordRow): CardRecordRow {
  return {
    ...r,
    terminalId: u8(r.terminalId)!,
    dateTime: u8(r.dateTime)!,
    rv: u8(r.rv)!,
    raw: u8(r.raw)!,
  };
}
function svmOf(r: SvmRecordRow): SvmRecordRow {
  return { ...r, ref: u8(r.ref)!, dateTime: u8(r.dateTime)!, raw: u8(r.raw)!, mac: u8(r.mac)! };
}

export class ClearingRepository {
  constructor(readonly db: HostDb) {
    // added after migration 3 shipped: created where it is used, idempotently (clearingSchema.ts)
    db.db.exec(CLEARING_QUARANTINE_TABLE);
  }

  // ------------------------------------------------------------------ records

  /** Stores an SVM record once: new, the same bytes again (duplicate), or different bytes (conflict). */
  storeSvmRecordInTx(r: SvmRecordRow): StoreResult {
    const ins = this.db
      .statement(
        `INSERT INTO svm_records (meter_id, svm_counter, rkey, type, ref, amount, balance_after, date_time, raw, mac)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      )
      .run(
        r.meterId,
        r.svmCounter,
        r.rkey,
        r.type,
        r.ref,
        r.amount,
        r.balanceAfter,
        r.dateTime,
        r.raw,
        r.mac,
      );
    if (ins.changes > 0) return 'new';
    const old = this.db
      .statement('SELECT raw FROM svm_records WHERE meter_id = ? AND svm_counter = ? AND rkey = ?')
      .get(r.meterId, r.svmCounter, r.rkey) as { raw: Buffer };
    if (same(old.raw, r.raw)) return 'duplicate';
    return this.#conflict('svm', r.meterId, null, r.svmCounter, r.raw, 'meter');
  }

  /** Stores a card record once: new, duplicate (same bytes) or conflict (another valid record). */
  storeCardRecordInTx(r: CardRecordRow): StoreResult {
    const ins = this.db
      .statement(
        `INSERT INTO card_records (csn, purse, counter, type, amount, balance_after, terminal_id, date_time, rv, raw, source)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      )
      .run(
        r.csn,
        r.purse,
        r.counter,
        r.type,
        r.amount,
        r.balanceAfter,
        r.terminalId,
        r.dateTime,
        r.rv,
        r.raw,
        r.source,
      );
    if (ins.changes > 0) return 'new';
    const old = this.db
      .statement('SELECT raw FROM card_records WHERE csn = ? AND purse = ? AND counter = ?')
      .get(r.csn, r.purse, r.counter) as { raw: Buffer };
    if (same(old.raw, r.raw)) return 'duplicate';
    return this.#conflict('card', r.csn, r.purse, r.counter, r.raw, r.source);
  }

  /** A conflicting copy, stored once per distinct bytes ('duplicate' when this copy was seen). */
  #conflict(
    kind: 'card' | 'svm',
    subject: string,
    purse: number | null,
    counter: number,
    raw: Uint8Array,
    source: string,
  ): StoreResult {
    const r = this.db
      .statement(
        `INSERT INTO record_conflicts (kind, subject, purse, counter, raw, source)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      )
      .run(kind, subject, purse, counter, raw, source);
    return r.changes > 0 ? 'conflict' : 'duplicate';
  }

  cardRecord(csn: string, purse: number, counter: number): CardRecordRow | undefined {
    const r = this.db
      .statement(`SELECT ${CARD_COLUMNS} FROM card_records WHERE csn = ? AND purse = ? AND counter = ?`)
      .get(csn, purse, counter) as CardRecordRow | undefined;
    return r && cardOf(r);
  }

  /** Every stored record of a card, by purse then counter. */
  cardRecords(csn: string): CardRecordRow[] {
    return (
      this.db
        .statement(`SELECT ${CARD_COLUMNS} FROM card_records WHERE csn = ? ORDER BY purse, counter`)
        .all(csn) as CardRecordRow[]
    ).map(cardOf);
  }

  /** Every stored record of a meter's SVM, by SVM counter (a counter's own record before its cancels). */
  svmRecords(meterId: string): SvmRecordRow[] {
    return (
      this.db
        .statement(`SELECT ${SVM_COLUMNS} FROM svm_records WHERE meter_id = ? ORDER BY svm_counter, rkey`)
        .all(meterId) as SvmRecordRow[]
    ).map(svmOf);
  }

  /** SVM records of `type` with reference `ref` (CSN ‖ card counter) at one meter. */
  svmRecordsWithRef(meterId: string, type: number, ref: Uint8Array): number {
    return (
      this.db
        .statement('SELECT COUNT(*) AS n FROM svm_records WHERE meter_id = ? AND type = ? AND ref = ?')
        .get(meterId, type, ref) as { n: number }
    ).n;
  }

  conflicts(
    kind: 'card' | 'svm',
    subject: string,
  ): Array<{ purse: number | null; counter: number; raw: Uint8Array }> {
    return (
      this.db
        .statement(
          'SELECT purse, counter, raw FROM record_conflicts WHERE kind = ? AND subject = ? ORDER BY purse, counter, id',
        )
        .all(kind, subject) as Array<{ purse: number | null; counter: number; raw: Buffer }>
    ).map((r) => ({ ...r, raw: u8(r.raw)! }));
  }

  // ------------------------------------------------------------------ pending transfers

  /** Records a reported pending transfer (first report wins; a repeat changes nothing). */
  notePendingInTx(
    meterId: string,
    p: {
      csn: string;
      purse: number;
      counter: number;
      amount: number;
      dateTime: Uint8Array;
      rv: Uint8Array | null;
      slot: number;
    },
    nowMs: number,
  ): boolean {
    const added =
      this.db
        .statement(
          `INSERT INTO clearing_pending (meter_id, csn, purse, counter, amount, date_time, rv, slot, first_seen_ms, state)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open') ON CONFLICT DO NOTHING`,
        )
        .run(meterId, p.csn, p.purse, p.counter, p.amount, p.dateTime, p.rv, p.slot, nowMs).changes > 0;
    // a transfer first reported without its RV (an upload before the pending entry carried it) gets
    // it from the first report that has it, while still open; a stored RV is never replaced
    if (!added && p.rv)
      this.db
        .statement(
          `UPDATE clearing_pending SET rv = ? WHERE meter_id = ? AND csn = ? AND purse = ? AND counter = ?
             AND rv IS NULL AND state = 'open'`,
        )
        .run(p.rv, meterId, p.csn, p.purse, p.counter);
    return added;
  }

  pending(id: number): PendingRow | undefined {
    const r = this.db.statement(`SELECT ${PENDING_COLUMNS} FROM clearing_pending WHERE id = ?`).get(id) as
      PendingRow | undefined;
    return r && pendingOf(r);
  }

  /** Pending transfers in `state`, oldest first. */
  pendingIn(state: PendingState): PendingRow[] {
    return (
      this.db
        .statement(`SELECT ${PENDING_COLUMNS} FROM clearing_pending WHERE state = ? ORDER BY id`)
        .all(state) as PendingRow[]
    ).map(pendingOf);
  }

  /** Pending transfers of a card (any state). */
  pendingOfCard(csn: string): PendingRow[] {
    return (
      this.db
        .statement(`SELECT ${PENDING_COLUMNS} FROM clearing_pending WHERE csn = ? ORDER BY id`)
        .all(csn) as PendingRow[]
    ).map(pendingOf);
  }

  /** open -> decided, with the host tx id the settlement travels under. */
  decideInTx(id: number, decision: Decision, reason: string, txId: number): void {
    const r = this.db
      .statement(
        `UPDATE clearing_pending SET state = 'decided', decision = ?, reason = ?, tx_id = ?,
           decided_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ? AND state = 'open'`,
      )
      .run(decision, reason, txId, id);
    if (r.changes !== 1) throw new HostDbError('conflict', `pending transfer ${id} is not open`);
  }

  /** The SVM's answer to a settled transfer as it came (evidence), or null. */
  pendingAnswerRaw(id: number): Uint8Array | null {
    const r = this.db.statement('SELECT answer_raw AS raw FROM clearing_pending WHERE id = ?').get(id) as
      { raw: Buffer | null } | undefined;
    return r ? u8(r.raw) : null;
  }

  /** decided -> settled, with the SVM's answer. */
  settleInTx(id: number, answer: string, raw: Uint8Array | null): void {
    const r = this.db
      .statement(
        `UPDATE clearing_pending SET state = 'settled', answer = ?, answer_raw = ?,
           settled_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ? AND state = 'decided'`,
      )
      .run(answer, raw, id);
    if (r.changes !== 1) throw new HostDbError('conflict', `pending transfer ${id} is not decided`);
  }

  noteSettleAttempt(id: number): void {
    this.db.statement('UPDATE clearing_pending SET attempts = attempts + 1 WHERE id = ?').run(id);
  }

  /** Counts a refusal of a decided settlement; @returns the refusals since its tx id was issued. */
  noteSettleRefusal(id: number): number {
    this.db.statement('UPDATE clearing_pending SET refusals = refusals + 1 WHERE id = ?').run(id);
    return (
      this.db.statement('SELECT refusals FROM clearing_pending WHERE id = ?').get(id) as { refusals: number }
    ).refusals;
  }

  /**
   * decided 'complete' -> decided 'cancel' under a new tx id: the SVM refused to complete it
   * (6985, it already credited that card counter), a definite answer the host must not retry.
   */
  redecideCancelInTx(id: number, reason: string, txId: number): void {
    const r = this.db
      .statement(
        `UPDATE clearing_pending SET decision = 'cancel', reason = ?, tx_id = ?, refusals = 0
           WHERE id = ? AND state = 'decided' AND decision = 'complete'`,
      )
      .run(reason, txId, id);
    if (r.changes !== 1)
      throw new HostDbError('conflict', `pending transfer ${id} is not a decided complete`);
  }

  /**
   * How many SVM log records of `type` with reference `ref` (CSN ‖ card counter) any meter uploaded:
   * the value of one card debit arrives at one SVM at most once, anywhere.
   */
  svmRecordsWithRefAnywhere(type: number, ref: Uint8Array): number {
    return (
      this.db
        .statement('SELECT COUNT(*) AS n FROM svm_records WHERE type = ? AND ref = ?')
        .get(type, ref) as { n: number }
    ).n;
  }

  /**
   * Keeps a card record that failed its check (a bad proof): never believed, never counted, but
   * kept with the reason for an operator (docs/clearing.md §4). Once per (source, raw).
   * @returns true when it was new.
   */
  quarantineInTx(q: {
    meterId: string | null;
    csn: string;
    raw: Uint8Array;
    reason: string;
    source: string;
  }): boolean {
    return (
      this.db
        .statement(
          `INSERT OR IGNORE INTO clearing_quarantine (meter_id, csn, raw, reason, source)
             VALUES (?, ?, ?, ?, ?)`,
        )
        .run(q.meterId, q.csn, q.raw, q.reason, q.source).changes === 1
    );
  }

  /** Quarantined records (all, or of one meter), oldest first. */
  quarantined(meterId?: string): Array<{
    id: number;
    meterId: string | null;
    csn: string;
    raw: Uint8Array;
    reason: string;
    source: string;
  }> {
    const rows = (
      meterId === undefined
        ? this.db
            .statement(
              'SELECT id, meter_id AS meterId, csn, raw, reason, source FROM clearing_quarantine ORDER BY id',
            )
            .all()
        : this.db
            .statement(
              `SELECT id, meter_id AS meterId, csn, raw, reason, source FROM clearing_quarantine
                 WHERE meter_id = ? ORDER BY id`,
            )
            .all(meterId)
    ) as Array<{
      id: number;
      meterId: string | null;
      csn: string;
      raw: Buffer;
      reason: string;
      source: string;
    }>;
    return rows.map((r) => ({ ...r, raw: u8(r.raw)! }));
  }

  /** A decided settlement under a new host tx id (same decision), refusals reset. */
  reissueInTx(id: number, txId: number): void {
    const r = this.db
      .statement("UPDATE clearing_pending SET tx_id = ?, refusals = 0 WHERE id = ? AND state = 'decided'")
      .run(txId, id);
    if (r.changes !== 1) throw new HostDbError('conflict', `pending transfer ${id} is not decided`);
  }

  /**
   * Reserves the next host transaction id from the credits' own sequence (AUTOINCREMENT never
   * hands out an id at or below `sqlite_sequence.seq`), so a settlement and a HOST CREDIT never
   * share an id: the SVM applies each id at most once for its life.
   */
  allocateTxIdInTx(): number {
    const last = this.db.statement("SELECT seq FROM sqlite_sequence WHERE name = 'credits'").get() as
      { seq: number } | undefined;
    const max = (this.db.statement('SELECT COALESCE(MAX(tx_id), 0) AS m FROM credits').get() as { m: number })
      .m;
    const next = Math.max(last?.seq ?? 0, max) + 1;
    if (!Number.isSafeInteger(next)) throw new HostDbError('exhausted', 'host transaction ids exhausted');
    if (last) this.db.statement("UPDATE sqlite_sequence SET seq = ? WHERE name = 'credits'").run(next);
    else this.db.statement("INSERT INTO sqlite_sequence (name, seq) VALUES ('credits', ?)").run(next);
    return next;
  }

  /**
   * Host credits to a meter with an id above `txId`, in any state: each may have reached the SVM
   * (a refused one was still seen there), so a settlement under `txId` would be refused (9407).
   */
  newerCredits(meterId: string, txId: number): number {
    return (
      this.db
        .statement('SELECT COUNT(*) AS n FROM credits WHERE meter_id = ? AND tx_id > ?')
        .get(meterId, txId) as { n: number }
    ).n;
  }

  /** Host credits still pending at a meter with an id below `txId` (they go first: ids only grow). */
  olderCreditsPending(meterId: string, txId: number): number {
    return (
      this.db
        .statement("SELECT COUNT(*) AS n FROM credits WHERE meter_id = ? AND state = 'pending' AND tx_id < ?")
        .get(meterId, txId) as { n: number }
    ).n;
  }

  // ------------------------------------------------------------------ credit-backs

  openCreditBackInTx(c: {
    csn: string;
    purse: number;
    counter: number;
    amount: number;
    pendingId: number;
  }): void {
    this.db
      .statement(
        `INSERT INTO credit_backs (csn, purse, counter, amount, pending_id, state)
         VALUES (?, ?, ?, ?, ?, 'awaiting-debit') ON CONFLICT DO NOTHING`,
      )
      .run(c.csn, c.purse, c.counter, c.amount, c.pendingId);
  }

  creditBack(csn: string, purse: number, counter: number): CreditBackRow | undefined {
    const r = this.db
      .statement(
        `SELECT ${CREDIT_BACK_COLUMNS} FROM credit_backs WHERE csn = ? AND purse = ? AND counter = ?`,
      )
      .get(csn, purse, counter) as CreditBackRow | undefined;
    return r && creditBackOf(r);
  }

  creditBacksOf(csn: string, state?: CreditBackState): CreditBackRow[] {
    return (
      this.db
        .statement(
          `SELECT ${CREDIT_BACK_COLUMNS} FROM credit_backs WHERE csn = ? AND (? IS NULL OR state = ?) ORDER BY purse, counter`,
        )
        .all(csn, state ?? null, state ?? null) as CreditBackRow[]
    ).map(creditBackOf);
  }

  /** Moves a credit-back from `from` to `to` (false when it was not in `from`). */
  moveCreditBackInTx(
    key: { csn: string; purse: number; counter: number },
    from: CreditBackState,
    to: CreditBackState,
    extra: {
      reason?: string;
      loadCounter?: number;
      loadTerminal?: Uint8Array;
      loadDateTime?: Uint8Array;
    } = {},
  ): boolean {
    return (
      this.db
        .statement(
          `UPDATE credit_backs SET state = ?, reason = COALESCE(?, reason),
             load_counter = COALESCE(?, load_counter), load_terminal = COALESCE(?, load_terminal),
             load_date_time = COALESCE(?, load_date_time),
             paid_at = CASE WHEN ? = 'paid' THEN strftime('%Y-%m-%dT%H:%M:%fZ','now') ELSE paid_at END
           WHERE csn = ? AND purse = ? AND counter = ? AND state = ?`,
        )
        .run(
          to,
          extra.reason ?? null,
          extra.loadCounter ?? null,
          extra.loadTerminal ?? null,
          extra.loadDateTime ?? null,
          to,
          key.csn,
          key.purse,
          key.counter,
          from,
        ).changes === 1
    );
  }

  /** Ledger pair for a paid credit-back: Dr clearing:credit-backs / Cr card:<csn>:<purse>. */
  postCreditBackInTx(csn: string, purse: number, amount: number): void {
    const ins = this.db.statement(
      'INSERT INTO ledger (tx_id, account, debit, credit) VALUES (NULL, ?, ?, ?)',
    );
    ins.run('clearing:credit-backs', amount, 0);
    ins.run(`card:${csn}:${purse}`, 0, amount);
  }

  // ------------------------------------------------------------------ blacklist

  blacklistVersion(): number {
    return (this.db.statement('SELECT version FROM blacklist_state').get() as { version: number }).version;
  }

  blacklistedSerials(): string[] {
    return (
      this.db.statement('SELECT serial FROM cards WHERE blacklisted = 1 ORDER BY serial').all() as Array<{
        serial: string;
      }>
    ).map((r) => r.serial);
  }

  /** The blacklist and its version read in one transaction (they always belong together). */
  blacklist(): { version: number; serials: string[] } {
    return this.db.tx(() => ({ version: this.blacklistVersion(), serials: this.blacklistedSerials() }));
  }

  meterBlacklistVersion(meterId: string): number | undefined {
    const r = this.db.statement('SELECT version FROM meter_blacklist WHERE meter_id = ?').get(meterId) as
      { version: number } | undefined;
    return r?.version;
  }

  setMeterBlacklistVersion(meterId: string, version: number): void {
    this.db
      .statement(
        `INSERT INTO meter_blacklist (meter_id, version, confirmed_at) VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ','now'))
         ON CONFLICT (meter_id) DO UPDATE SET version = excluded.version, confirmed_at = excluded.confirmed_at`,
      )
      .run(meterId, version);
  }

  /** @returns whether the attempt is new (a re-uploaded one is stored once). */
  noteAttemptInTx(meterId: string, serial: string, purse: number, at: string): boolean {
    return (
      this.db
        .statement(
          'INSERT INTO blacklist_attempts (meter_id, serial, purse, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
        )
        .run(meterId, serial, purse, at).changes > 0
    );
  }

  attempts(meterId?: string): Array<{ meterId: string; serial: string; purse: number; at: string }> {
    return this.db
      .statement(
        'SELECT meter_id AS meterId, serial, purse, at FROM blacklist_attempts WHERE (? IS NULL OR meter_id = ?) ORDER BY id',
      )
      .all(meterId ?? null, meterId ?? null) as Array<{
      meterId: string;
      serial: string;
      purse: number;
      at: string;
    }>;
  }

  /**
   * Blacklists a registered card inside the caller's transaction (the trigger moves the version).
   * @returns whether a card was newly listed.
   */
  blacklistCardInTx(serial: string): boolean {
    return (
      this.db
        .statement(
          "UPDATE cards SET blacklisted = 1, status = 'blocked' WHERE serial = ? AND blacklisted = 0",
        )
        .run(serial).changes > 0
    );
  }

  meterIds(): string[] {
    return (this.db.statement('SELECT id FROM meters ORDER BY id').all() as Array<{ id: string }>).map(
      (r) => r.id,
    );
  }

  meterExists(meterId: string): boolean {
    return this.db.statement('SELECT 1 FROM meters WHERE id = ?').get(meterId) !== undefined;
  }

  // ------------------------------------------------------------------ upload cursor

  /** Where the next upload of a meter starts: journal sequence number and SVM counter. */
  cursor(meterId: string): { journal: number; svm: number } {
    const r = this.db
      .statement('SELECT next_seq AS journal, svm_next AS svm FROM meter_clearing WHERE meter_id = ?')
      .get(meterId) as { journal: number; svm: number } | undefined;
    return r ?? { journal: 0, svm: 0 };
  }

  /** Moves a meter's cursor forward (never back: a replayed old page cannot rewind it). */
  setCursorInTx(meterId: string, c: { journal: number; svm: number }): void {
    this.db
      .statement(
        `INSERT INTO meter_clearing (meter_id, next_seq, svm_next) VALUES (?, ?, ?)
         ON CONFLICT (meter_id) DO UPDATE SET next_seq = MAX(next_seq, excluded.next_seq),
           svm_next = MAX(svm_next, excluded.svm_next)`,
      )
      .run(meterId, c.journal, c.svm);
  }
}
