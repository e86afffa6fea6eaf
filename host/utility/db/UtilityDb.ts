/**
 * The database of a utility's own server (host/utility/UtilityServer.ts): SQLite through
 * better-sqlite3 like the host's (WAL, `synchronous = FULL`, numbered migrations, the shared
 * `openMigrated`). Every SQL statement of the utility server is in this file.
 *
 * ```
 *  card_purses   per (CSN, purse): the last REMOTE LOAD seq signed, the last config version signed
 *  sales         one per utility reference; UNIQUE (CSN, purse, seq): one signed message per seq, ever
 *  outbox        card commands for the relay, by relay reference: new -> submitted -> done
 *  ledger        double entry: sale  Dr cash / Cr in-transit;  receipt verified  Dr in-transit / Cr on-card
 *  configs       per (CSN, purse, version): the signed SFI 03 record, queued -> applied | refused;
 *                on_card: a vending point's card showed it (applied on a carrier's word is 0)
 *  readings      verified SFI 04 records, once per (offline meter id, reading seq), with anomalies
 *  reading_conflicts  a second, different, authentic record with a stored (meter id, seq)
 *  events        refusals and anomalies (forged receipt, tampered reading, ...)
 *  cursors       where the next GET /relay/readings starts
 * ```
 */
import { HostDbError, MigratedDb } from '../../service/db/open.js';

export const UTILITY_MIGRATIONS: readonly string[] = [
  `CREATE TABLE card_purses (
     csn TEXT NOT NULL CHECK (length(csn) = 16), purse INTEGER NOT NULL,
     last_seq INTEGER NOT NULL DEFAULT 0 CHECK (last_seq BETWEEN 0 AND 4294967295),
     config_version INTEGER NOT NULL DEFAULT 0 CHECK (config_version BETWEEN 0 AND 4294967295),
     PRIMARY KEY (csn, purse)) WITHOUT ROWID;
   CREATE TABLE sales (
     ref TEXT PRIMARY KEY, csn TEXT NOT NULL, purse INTEGER NOT NULL, seq INTEGER NOT NULL,
     amount INTEGER NOT NULL CHECK (amount BETWEEN 1 AND 4294967295),
     seller_id BLOB NOT NULL, date_time BLOB NOT NULL, data BLOB NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('in-transit','on-card')),
     outcome INTEGER, balance_after INTEGER, card_counter INTEGER, receipt BLOB, note TEXT,
     created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), booked_at TEXT,
     UNIQUE (csn, purse, seq));
   CREATE TABLE outbox (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     ref TEXT NOT NULL UNIQUE, kind TEXT NOT NULL CHECK (kind IN ('load','config','clear')),
     subject TEXT NOT NULL, csn TEXT NOT NULL, purse INTEGER NOT NULL, ins INTEGER NOT NULL, data BLOB NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('new','submitted','done')),
     relay_id INTEGER, sw INTEGER, outcome INTEGER, answer BLOB);
   CREATE TABLE ledger (
     id INTEGER PRIMARY KEY AUTOINCREMENT, ref TEXT NOT NULL, account TEXT NOT NULL,
     debit INTEGER NOT NULL DEFAULT 0, credit INTEGER NOT NULL DEFAULT 0,
     at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')));
   CREATE TABLE configs (
     csn TEXT NOT NULL, purse INTEGER NOT NULL, version INTEGER NOT NULL, meter_id TEXT NOT NULL,
     record BLOB NOT NULL, state TEXT NOT NULL CHECK (state IN ('queued','applied','refused')), sw INTEGER,
     PRIMARY KEY (csn, purse, version)) WITHOUT ROWID;
   CREATE TABLE readings (
     meter_id TEXT NOT NULL, seq INTEGER NOT NULL, csn TEXT NOT NULL, purse INTEGER NOT NULL,
     record BLOB NOT NULL, mac TEXT NOT NULL, cumulative INTEGER NOT NULL, events INTEGER NOT NULL,
     anomalies TEXT NOT NULL, source TEXT NOT NULL, cleared INTEGER NOT NULL DEFAULT 0,
     at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
     PRIMARY KEY (meter_id, seq)) WITHOUT ROWID;
   CREATE TABLE reading_conflicts (
     id INTEGER PRIMARY KEY AUTOINCREMENT, meter_id TEXT NOT NULL, seq INTEGER NOT NULL, csn TEXT NOT NULL,
     record BLOB NOT NULL UNIQUE, at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')));
   CREATE TABLE events (
     id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
     kind TEXT NOT NULL, csn TEXT, detail TEXT NOT NULL);
   CREATE TABLE cursors (name TEXT PRIMARY KEY, value INTEGER NOT NULL);`,
  // red team R3: a PUT CONFIG has no receipt — 'applied' on a carrier's word is not proof; on_card
  // = 1 once a card in a vending point's reader showed it (its SFI 03 record, or 9000 to our APDU)
  `ALTER TABLE configs ADD COLUMN on_card INTEGER NOT NULL DEFAULT 0;`,
];

export interface SaleRecord {
  readonly ref: string;
  readonly csn: string;
  readonly purse: number;
  readonly seq: number;
  readonly amount: number;
  readonly sellerId: Uint8Array;
  readonly dateTime: Uint8Array;
  readonly data: Uint8Array;
  readonly state: 'in-transit' | 'on-card';
  readonly outcome: number | null;
  readonly balanceAfter: number | null;
  readonly cardCounter: number | null;
  readonly note: string | null;
}

export interface OutboxEntry {
  readonly id: number;
  readonly ref: string;
  readonly kind: 'load' | 'config' | 'clear';
  readonly subject: string;
  readonly csn: string;
  readonly purse: number;
  readonly ins: number;
  readonly data: Uint8Array;
  readonly state: 'new' | 'submitted' | 'done';
  readonly relayId: number | null;
}

export interface StoredOfflineReading {
  readonly meterId: string;
  readonly seq: number;
  readonly csn: string;
  readonly record: Uint8Array;
  readonly mac: string;
  readonly cumulative: number;
  readonly anomalies: readonly string[];
  readonly cleared: boolean;
}

const bytes = (b: Buffer | null): Uint8Array | null => (b === null ? null : new Uint8Array(b));

export class UtilityDb extends MigratedDb {
  /** @throws HostDbError 'corrupt', 'locked', 'readonly', 'io', 'conflict' (a newer schema). */
  constructor(file: string) {
    super(file, UTILITY_MIGRATIONS, 'this utility server');
  }

  // ------------------------------------------------------------------ card purses

  /** Inside a transaction: the next REMOTE LOAD seq of (csn, purse), recorded as used. */
  nextSeqInTx(csn: string, purse: number): number {
    this.statement('INSERT INTO card_purses (csn, purse) VALUES (?, ?) ON CONFLICT DO NOTHING').run(
      csn,
      purse,
    );
    const { s } = this.statement('SELECT last_seq AS s FROM card_purses WHERE csn = ? AND purse = ?').get(
      csn,
      purse,
    ) as {
      s: number;
    };
    if (s >= 0xffff_ffff)
      throw new HostDbError('exhausted', `remote-load seqs of ${csn} purse ${purse} are used up`);
    this.statement('UPDATE card_purses SET last_seq = ? WHERE csn = ? AND purse = ?').run(s + 1, csn, purse);
    return s + 1;
  }

  /** Inside a transaction: the next config version of (csn, purse), recorded as used. */
  nextConfigVersionInTx(csn: string, purse: number): number {
    this.statement('INSERT INTO card_purses (csn, purse) VALUES (?, ?) ON CONFLICT DO NOTHING').run(
      csn,
      purse,
    );
    const { v } = this.statement(
      'SELECT config_version AS v FROM card_purses WHERE csn = ? AND purse = ?',
    ).get(csn, purse) as { v: number };
    if (v >= 0xffff_ffff) throw new HostDbError('exhausted', `config versions of ${csn} are used up`);
    this.statement('UPDATE card_purses SET config_version = ? WHERE csn = ? AND purse = ?').run(
      v + 1,
      csn,
      purse,
    );
    return v + 1;
  }

  // ------------------------------------------------------------------ sales and ledger

  sale(ref: string): SaleRecord | undefined {
    const r = this.statement('SELECT * FROM sales WHERE ref = ?').get(ref) as
      | {
          ref: string;
          csn: string;
          purse: number;
          seq: number;
          amount: number;
          seller_id: Buffer;
          date_time: Buffer;
          data: Buffer;
          state: 'in-transit' | 'on-card';
          outcome: number | null;
          balance_after: number | null;
          card_counter: number | null;
          note: string | null;
        }
      | undefined;
    return (
      r && {
        ref: r.ref,
        csn: r.csn,
        purse: r.purse,
        seq: r.seq,
        amount: r.amount,
        sellerId: new Uint8Array(r.seller_id),
        dateTime: new Uint8Array(r.date_time),
        data: new Uint8Array(r.data),
        state: r.state,
        outcome: r.outcome,
        balanceAfter: r.balance_after,
        cardCounter: r.card_counter,
        note: r.note,
      }
    );
  }

  /** Inside a transaction: a new sale in transit, with its ledger pair (Dr cash / Cr in-transit). */
  insertSaleInTx(s: Omit<SaleRecord, 'state' | 'outcome' | 'balanceAfter' | 'cardCounter' | 'note'>): void {
    this.statement(
      "INSERT INTO sales (ref, csn, purse, seq, amount, seller_id, date_time, data, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'in-transit')",
    ).run(
      s.ref,
      s.csn,
      s.purse,
      s.seq,
      s.amount,
      Buffer.from(s.sellerId),
      Buffer.from(s.dateTime),
      Buffer.from(s.data),
    );
    this.#post(s.ref, 'cash', 'in-transit', s.amount);
  }

  /** Inside a transaction: the card's verified receipt books the sale on the card (once). @returns whether it did. */
  bookOnCardInTx(
    ref: string,
    a: { outcome: number; balanceAfter: number; counter: number; receipt: Uint8Array },
  ): boolean {
    const r = this.statement(
      `UPDATE sales SET state = 'on-card', outcome = ?, balance_after = ?, card_counter = ?, receipt = ?,
              booked_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE ref = ? AND state = 'in-transit'`,
    ).run(a.outcome, a.balanceAfter, a.counter, Buffer.from(a.receipt), ref);
    if (r.changes === 0) return false;
    const { amount } = this.statement('SELECT amount FROM sales WHERE ref = ?').get(ref) as {
      amount: number;
    };
    this.#post(ref, 'in-transit', 'on-card', amount);
    return true;
  }

  /** The sales of (csn, purse) still in transit, by seq: what a vending point delivers (issue 17). */
  salesInTransit(csn: string, purse: number): SaleRecord[] {
    return (
      this.statement(
        "SELECT ref FROM sales WHERE csn = ? AND purse = ? AND state = 'in-transit' ORDER BY seq",
      ).all(csn, purse) as Array<{ ref: string }>
    ).map((r) => this.sale(r.ref)!);
  }

  /** Inside a transaction: a note on a sale (why it is still in transit). */
  noteSaleInTx(ref: string, note: string): void {
    this.statement('UPDATE sales SET note = ? WHERE ref = ?').run(note, ref);
  }

  #post(ref: string, debit: string, credit: string, amount: number): void {
    const ins = this.statement('INSERT INTO ledger (ref, account, debit, credit) VALUES (?, ?, ?, ?)');
    ins.run(ref, debit, amount, 0);
    ins.run(ref, credit, 0, amount);
  }

  /** Ledger balances (debit − credit) by account, and the sales totals by state. */
  ledgerFigures(): {
    accounts: Record<string, number>;
    debits: number;
    credits: number;
    sold: number;
    inTransit: number;
    onCard: number;
  } {
    const rows = this.statement(
      'SELECT account, SUM(debit) AS d, SUM(credit) AS c FROM ledger GROUP BY account',
    ).all() as Array<{ account: string; d: number; c: number }>;
    const s = this.statement(
      `SELECT COALESCE(SUM(amount), 0) AS sold,
              COALESCE(SUM(CASE WHEN state = 'in-transit' THEN amount END), 0) AS t,
              COALESCE(SUM(CASE WHEN state = 'on-card' THEN amount END), 0) AS o FROM sales`,
    ).get() as { sold: number; t: number; o: number };
    return {
      accounts: Object.fromEntries(rows.map((r) => [r.account, r.d - r.c])),
      debits: rows.reduce((x, r) => x + r.d, 0),
      credits: rows.reduce((x, r) => x + r.c, 0),
      sold: s.sold,
      inTransit: s.t,
      onCard: s.o,
    };
  }

  // ------------------------------------------------------------------ outbox

  /** Inside a transaction: a card command for the relay (nothing when `ref` is queued already). */
  queueInTx(e: {
    ref: string;
    kind: OutboxEntry['kind'];
    subject: string;
    csn: string;
    purse: number;
    ins: number;
    data: Uint8Array;
  }): boolean {
    const r = this.statement(
      "INSERT INTO outbox (ref, kind, subject, csn, purse, ins, data, state) VALUES (?, ?, ?, ?, ?, ?, ?, 'new') ON CONFLICT(ref) DO NOTHING",
    ).run(e.ref, e.kind, e.subject, e.csn, e.purse, e.ins, Buffer.from(e.data));
    return r.changes > 0;
  }

  outbox(state: OutboxEntry['state']): OutboxEntry[] {
    return (
      this.statement('SELECT * FROM outbox WHERE state = ? ORDER BY id').all(state) as Array<{
        id: number;
        ref: string;
        kind: OutboxEntry['kind'];
        subject: string;
        csn: string;
        purse: number;
        ins: number;
        data: Buffer;
        state: OutboxEntry['state'];
        relay_id: number | null;
      }>
    ).map((r) => ({ ...r, data: new Uint8Array(r.data), relayId: r.relay_id }));
  }

  /** The outbox entry with relay reference `ref`. */
  outboxEntry(ref: string): OutboxEntry | undefined {
    const r = this.statement('SELECT * FROM outbox WHERE ref = ?').get(ref) as
      (Omit<OutboxEntry, 'data' | 'relayId'> & { data: Buffer; relay_id: number | null }) | undefined;
    return r && { ...r, data: new Uint8Array(r.data), relayId: r.relay_id };
  }

  /** How many load commands a sale has had (the first and its re-sends). */
  loadAttempts(saleRef: string): number {
    return (
      this.statement("SELECT COUNT(*) AS n FROM outbox WHERE kind = 'load' AND subject = ?").get(saleRef) as {
        n: number;
      }
    ).n;
  }

  submitted(ref: string, relayId: number): void {
    this.tx(() =>
      this.statement(
        "UPDATE outbox SET state = 'submitted', relay_id = ? WHERE ref = ? AND state = 'new'",
      ).run(relayId, ref),
    );
  }

  /** Inside a transaction: the relay's final answer to an outbox entry. */
  doneInTx(ref: string, a: { outcome: number | null; sw: number | null; answer: Uint8Array | null }): void {
    this.statement("UPDATE outbox SET state = 'done', outcome = ?, sw = ?, answer = ? WHERE ref = ?").run(
      a.outcome,
      a.sw,
      a.answer === null ? null : Buffer.from(a.answer),
      ref,
    );
  }

  // ------------------------------------------------------------------ configs

  insertConfigInTx(c: {
    csn: string;
    purse: number;
    version: number;
    meterId: string;
    record: Uint8Array;
  }): void {
    this.statement(
      "INSERT INTO configs (csn, purse, version, meter_id, record, state) VALUES (?, ?, ?, ?, ?, 'queued')",
    ).run(c.csn, c.purse, c.version, c.meterId, Buffer.from(c.record));
  }

  setConfigStateInTx(
    csn: string,
    purse: number,
    version: number,
    state: 'applied' | 'refused',
    sw: number | null,
  ): void {
    this.statement('UPDATE configs SET state = ?, sw = ? WHERE csn = ? AND purse = ? AND version = ?').run(
      state,
      sw,
      csn,
      purse,
      version,
    );
  }

  /** The newest configuration signed for (csn, purse), whatever its state. */
  newestConfig(
    csn: string,
    purse: number,
  ): { version: number; meterId: string; record: Uint8Array; state: string; onCard: boolean } | undefined {
    const r = this.statement(
      'SELECT version, meter_id AS meterId, record, state, on_card AS onCard FROM configs WHERE csn = ? AND purse = ? ORDER BY version DESC LIMIT 1',
    ).get(csn, purse) as
      { version: number; meterId: string; record: Buffer; state: string; onCard: number } | undefined;
    return r && { ...r, record: new Uint8Array(r.record), onCard: r.onCard === 1 };
  }

  /** Inside a transaction: a card in a vending point's reader showed configuration `version`. */
  confirmConfigOnCardInTx(csn: string, purse: number, version: number): void {
    this.statement('UPDATE configs SET on_card = 1 WHERE csn = ? AND purse = ? AND version = ?').run(
      csn,
      purse,
      version,
    );
  }

  /**
   * The offline meters the card may be bound to now (red team R3): the newest applied
   * configuration's and those of newer configurations not refused (on their way, or on the card
   * with the answer lost). Empty: the card has no configuration that counts.
   */
  boundMeters(csn: string, purse: number): string[] {
    const rows = this.statement(
      "SELECT version, meter_id AS m, state FROM configs WHERE csn = ? AND purse = ? AND state <> 'refused' ORDER BY version DESC",
    ).all(csn, purse) as Array<{ version: number; m: string; state: string }>;
    const out: string[] = [];
    for (const r of rows) {
      if (!out.includes(r.m)) out.push(r.m);
      if (r.state === 'applied') break;
    }
    return out;
  }

  configs(
    csn: string,
    purse: number,
  ): Array<{ version: number; meterId: string; state: string; sw: number | null }> {
    return this.statement(
      'SELECT version, meter_id AS meterId, state, sw FROM configs WHERE csn = ? AND purse = ? ORDER BY version',
    ).all(csn, purse) as Array<{ version: number; meterId: string; state: string; sw: number | null }>;
  }

  // ------------------------------------------------------------------ readings

  reading(meterId: string, seq: number): StoredOfflineReading | undefined {
    const r = this.statement('SELECT * FROM readings WHERE meter_id = ? AND seq = ?').get(meterId, seq) as
      ReadingRow | undefined;
    return r && toReading(r);
  }

  /** The stored reading of `meterId` with the highest seq below `seq`. */
  previousReading(meterId: string, seq: number): StoredOfflineReading | undefined {
    const r = this.statement(
      'SELECT * FROM readings WHERE meter_id = ? AND seq < ? ORDER BY seq DESC LIMIT 1',
    ).get(meterId, seq) as ReadingRow | undefined;
    return r && toReading(r);
  }

  /** The cumulatives and records of `meterId`'s last `n` readings below `seq`, oldest first. */
  recentReadings(meterId: string, seq: number, n: number): Array<{ cumulative: number; record: Uint8Array }> {
    return (
      this.statement(
        'SELECT cumulative, record FROM readings WHERE meter_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?',
      ).all(meterId, seq, n) as Array<{ cumulative: number; record: Buffer }>
    )
      .map((r) => ({ cumulative: r.cumulative, record: new Uint8Array(r.record) }))
      .reverse();
  }

  readingsOf(meterId: string): StoredOfflineReading[] {
    return (
      this.statement('SELECT * FROM readings WHERE meter_id = ? ORDER BY seq').all(meterId) as ReadingRow[]
    ).map(toReading);
  }

  insertReadingInTx(r: {
    meterId: string;
    seq: number;
    csn: string;
    purse: number;
    record: Uint8Array;
    mac: string;
    cumulative: number;
    events: number;
    anomalies: readonly string[];
    source: string;
  }): void {
    this.statement(
      'INSERT INTO readings (meter_id, seq, csn, purse, record, mac, cumulative, events, anomalies, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(
      r.meterId,
      r.seq,
      r.csn,
      r.purse,
      Buffer.from(r.record),
      r.mac,
      r.cumulative,
      r.events,
      r.anomalies.join(','),
      r.source,
    );
  }

  /** Inside a transaction: a second authentic record for a stored (meter id, seq). @returns whether new. */
  insertConflictInTx(meterId: string, seq: number, csn: string, record: Uint8Array): boolean {
    return (
      this.statement(
        'INSERT INTO reading_conflicts (meter_id, seq, csn, record) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ).run(meterId, seq, csn, Buffer.from(record)).changes > 0
    );
  }

  conflicts(meterId: string): number {
    return (
      this.statement('SELECT COUNT(*) AS n FROM reading_conflicts WHERE meter_id = ?').get(meterId) as {
        n: number;
      }
    ).n;
  }

  /** The stored reading of card `csn` whose MAC is `mac` (hex). */
  readingByMac(csn: string, mac: string): StoredOfflineReading | undefined {
    const r = this.statement('SELECT * FROM readings WHERE csn = ? AND mac = ?').get(csn, mac) as
      ReadingRow | undefined;
    return r && toReading(r);
  }

  /** The stored readings of (csn, purse) that no card has confirmed cleared, by meter id and seq. */
  unclearedReadings(csn: string, purse: number): StoredOfflineReading[] {
    return (
      this.statement(
        'SELECT * FROM readings WHERE csn = ? AND purse = ? AND cleared = 0 ORDER BY meter_id, seq',
      ).all(csn, purse) as ReadingRow[]
    ).map(toReading);
  }

  /** Inside a transaction: the card confirmed the reading with this MAC cleared. */
  markClearedInTx(csn: string, mac: string): void {
    this.statement('UPDATE readings SET cleared = 1 WHERE csn = ? AND mac = ?').run(csn, mac);
  }

  // ------------------------------------------------------------------ events, cursors

  event(kind: string, csn: string | null, detail: string): void {
    this.statement('INSERT INTO events (kind, csn, detail) VALUES (?, ?, ?)').run(kind, csn, detail);
  }

  events(kind?: string): Array<{ id: number; kind: string; csn: string | null; detail: string }> {
    return this.statement(
      'SELECT id, kind, csn, detail FROM events WHERE (? IS NULL OR kind = ?) ORDER BY id',
    ).all(kind ?? null, kind ?? null) as Array<{
      id: number;
      kind: string;
      csn: string | null;
      detail: string;
    }>;
  }

  cursor(name: string): number {
    const r = this.statement('SELECT value FROM cursors WHERE name = ?').get(name) as
      { value: number } | undefined;
    return r?.value ?? 0;
  }

  setCursor(name: string, value: number): void {
    this.tx(() =>
      this.statement(
        'INSERT INTO cursors (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = MAX(value, excluded.value)',
      ).run(name, value),
    );
  }
}

interface ReadingRow {
  meter_id: string;
  seq: number;
  csn: string;
  record: Buffer;
  mac: string;
  cumulative: number;
  anomalies: string;
  cleared: number;
}
const toReading = (r: ReadingRow): StoredOfflineReading => ({
  meterId: r.meter_id,
  seq: r.seq,
  csn: r.csn,
  record: bytes(r.record)!,
  mac: r.mac,
  cumulative: r.cumulative,
  anomalies: r.anomalies.split(',').filter((a) => a.length > 0),
  cleared: r.cleared !== 0,
});
