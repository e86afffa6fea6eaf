/**
 * The management centre's database (seed 004): SQLite through better-sqlite3 with the same
 * durability as the host's {@link HostDb} — WAL journal, `synchronous = FULL` (a commit is on disk
 * before it returns), numbered migrations in `schema_version`. All SQL of host/settlement lives
 * here; {@link ManagementCentre} holds the rules. Every statement is prepared once, in the
 * constructor, and reused (preparing per call was a measured cost elsewhere in this codebase).
 *
 * Tables and what of the seed they hold:
 * ```
 *  centre           the centre's key pair, id, self-signed anchor, serial and list-version counters
 *  certificates     every SA(nU‖IDU), SA(nT‖IDT), SA(IDC) issued (DER), by serial
 *  cards            per IDU: state, last signed-value sequence, last known V (remaining-value DB)
 *  terminals        per IDT: TS0, latest t from the daily call, t at a theft report
 *  signed_values    SA(V‖IDU) at issue and recharge, sequence strictly increasing per card
 *  uploads          one row per accepted UsageUpload (IDT, sequence, SHA-256 of its bytes)
 *  usage_records    each cleared record once, keyed by the SHA-256 of its usage information (h)
 *  service_records  SU(M‖IDU) kept as evidence, once each; post-paid billing sums them
 *  password_settings every setting number Ns issued per card (never reused)
 *  refunds          a destroyed card's refund, at most one per card (primary key)
 *  lists            every signed invalid-card / troubled-terminal list, by version
 *  events           every refusal and finding, with its reason
 * ```
 * Identifiers (IDU, IDT, IDC, centre id) are stored as BLOBs; times as integer milliseconds.
 */
import Database from 'better-sqlite3';
import { MigratedDb, classify } from '../../service/db/open.js';

/** Numbered migrations; entry i brings the schema to version i+1. Never edit one that shipped. */
export const SETTLEMENT_MIGRATIONS: readonly string[] = [
  `CREATE TABLE centre (
     one INTEGER PRIMARY KEY CHECK (one = 1),
     centre_id BLOB NOT NULL, alg TEXT NOT NULL,
     private_key BLOB NOT NULL, public_key BLOB NOT NULL, anchor BLOB NOT NULL,
     next_serial INTEGER NOT NULL,
     invalid_version INTEGER NOT NULL DEFAULT 0,
     troubled_version INTEGER NOT NULL DEFAULT 0);
   CREATE TABLE certificates (
     serial INTEGER PRIMARY KEY,
     kind TEXT NOT NULL CHECK (kind IN ('card','terminal','dispenser')),
     subject_id BLOB NOT NULL, spki BLOB NOT NULL, alg TEXT NOT NULL,
     not_before INTEGER NOT NULL, not_after INTEGER NOT NULL, der BLOB NOT NULL,
     UNIQUE (kind, subject_id));
   CREATE TABLE cards (
     idu BLOB PRIMARY KEY,
     cert_serial INTEGER NOT NULL REFERENCES certificates(serial),
     state TEXT NOT NULL CHECK (state IN ('active','invalid','destroyed','refunded')),
     value_seq INTEGER NOT NULL DEFAULT 0 CHECK (value_seq >= 0),
     last_value INTEGER, last_value_at INTEGER,
     invalid_reason TEXT, invalid_version INTEGER, invalid_at INTEGER) WITHOUT ROWID;
   CREATE TABLE terminals (
     idt BLOB PRIMARY KEY,
     cert_serial INTEGER NOT NULL REFERENCES certificates(serial),
     chain_key BLOB NOT NULL, ts0 BLOB NOT NULL, t INTEGER NOT NULL DEFAULT 0 CHECK (t >= 0),
     stolen_t INTEGER, stolen_at INTEGER, troubled_version INTEGER) WITHOUT ROWID;
   CREATE TABLE dispensers (
     idc BLOB PRIMARY KEY, cert_serial INTEGER NOT NULL REFERENCES certificates(serial)) WITHOUT ROWID;
   CREATE TABLE signed_values (
     idu BLOB NOT NULL REFERENCES cards(idu), seq INTEGER NOT NULL CHECK (seq > 0),
     value INTEGER NOT NULL CHECK (value >= 0), not_after INTEGER NOT NULL, at INTEGER NOT NULL,
     der BLOB NOT NULL, PRIMARY KEY (idu, seq)) WITHOUT ROWID;
   CREATE TABLE uploads (
     idt BLOB NOT NULL, seq INTEGER NOT NULL, digest BLOB NOT NULL,
     records INTEGER NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (idt, seq)) WITHOUT ROWID;
   CREATE TABLE usage_records (
     id INTEGER PRIMARY KEY,
     digest BLOB NOT NULL UNIQUE,
     state_key BLOB NOT NULL,
     idu BLOB NOT NULL, idt BLOB NOT NULL, upload_seq INTEGER NOT NULL,
     v_before INTEGER NOT NULL, v_after INTEGER NOT NULL, charge INTEGER NOT NULL,
     at INTEGER NOT NULL, flag TEXT);
   CREATE INDEX usage_records_state ON usage_records(state_key);
   CREATE INDEX usage_records_card ON usage_records(idu, at);
   CREATE TABLE service_records (
     digest BLOB PRIMARY KEY, idu BLOB NOT NULL, card_seq INTEGER NOT NULL, idt BLOB NOT NULL,
     charge INTEGER NOT NULL, at INTEGER NOT NULL, der BLOB NOT NULL, UNIQUE (idu, card_seq)) WITHOUT ROWID;
   CREATE INDEX service_records_card ON service_records(idu, at);
   CREATE TABLE password_settings (
     idu BLOB NOT NULL, ns BLOB NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (idu, ns)) WITHOUT ROWID;
   CREATE TABLE refunds (
     idu BLOB PRIMARY KEY, amount INTEGER NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;
   CREATE TABLE lists (
     kind TEXT NOT NULL CHECK (kind IN ('invalid-cards','troubled-terminals')),
     version INTEGER NOT NULL, not_after INTEGER NOT NULL, der BLOB NOT NULL,
     PRIMARY KEY (kind, version)) WITHOUT ROWID;
   CREATE TABLE events (
     id INTEGER PRIMARY KEY, at INTEGER NOT NULL, kind TEXT NOT NULL,
     reason TEXT, subject TEXT, detail TEXT NOT NULL);`,
  // 2: one outcome per service session (IDU, IDT, R, X): a terminal that signs a second V' for a
  // session already cleared is refused, and the card is not taken for a clone
  `CREATE TABLE usage_sessions (session BLOB PRIMARY KEY, digest BLOB NOT NULL) WITHOUT ROWID;`,
];

/** The centre's own row. */
export interface CentreRow {
  centreId: Uint8Array;
  alg: string;
  privateKey: Uint8Array;
  publicKey: Uint8Array;
  anchor: Uint8Array;
}

export type SubjectKind = 'card' | 'terminal' | 'dispenser';
export type CardState = 'active' | 'invalid' | 'destroyed' | 'refunded';

export interface CertificateRow {
  serial: number;
  kind: SubjectKind;
  subjectId: Uint8Array;
  spki: Uint8Array;
  alg: string;
  notBefore: number;
  notAfter: number;
  der: Uint8Array;
}

export interface CardRow {
  idu: Uint8Array;
  certSerial: number;
  state: CardState;
  valueSeq: number;
  lastValue: number | null;
  lastValueAt: number | null;
  invalidReason: string | null;
  invalidVersion: number | null;
  invalidAt: number | null;
}

export interface TerminalRow {
  idt: Uint8Array;
  certSerial: number;
  chainKey: Uint8Array;
  ts0: Uint8Array;
  t: number;
  stolenT: number | null;
  stolenAt: number | null;
  troubledVersion: number | null;
}

/** One usage record as the centre keeps it. */
export interface UsageRow {
  digest: Uint8Array;
  stateKey: Uint8Array;
  idu: Uint8Array;
  idt: Uint8Array;
  uploadSeq: number;
  vBefore: number;
  vAfter: number;
  charge: number;
  at: number;
  flag: string | null;
}

export interface EventRow {
  id: number;
  at: number;
  kind: string;
  reason: string | null;
  subject: string | null;
  detail: string;
}

const u8 = (b: Buffer | Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/* eslint-disable @typescript-eslint/no-explicit-any -- rows come back untyped from SQLite */
const toCard = (r: any): CardRow => ({
  idu: u8(r.idu),
  certSerial: r.cert_serial,
  state: r.state,
  valueSeq: r.value_seq,
  lastValue: r.last_value,
  lastValueAt: r.last_value_at,
  invalidReason: r.invalid_reason,
  invalidVersion: r.invalid_version,
  invalidAt: r.invalid_at,
});
const toTerminal = (r: any): TerminalRow => ({
  idt: u8(r.idt),
  certSerial: r.cert_serial,
  chainKey: u8(r.chain_key),
  ts0: u8(r.ts0),
  t: r.t,
  stolenT: r.stolen_t,
  stolenAt: r.stolen_at,
  troubledVersion: r.troubled_version,
});
const toCert = (r: any): CertificateRow => ({
  serial: r.serial,
  kind: r.kind,
  subjectId: u8(r.subject_id),
  spki: u8(r.spki),
  alg: r.alg,
  notBefore: r.not_before,
  notAfter: r.not_after,
  der: u8(r.der),
});
const toUsage = (r: any): UsageRow => ({
  digest: u8(r.digest),
  stateKey: u8(r.state_key),
  idu: u8(r.idu),
  idt: u8(r.idt),
  uploadSeq: r.upload_seq,
  vBefore: r.v_before,
  vAfter: r.v_after,
  charge: r.charge,
  at: r.at,
  flag: r.flag,
});
/* eslint-enable @typescript-eslint/no-explicit-any */

/** Every statement, prepared once per connection. */
function prepareAll(db: Database.Database) {
  const p = (sql: string) => db.prepare(sql);
  return {
    centre: p('SELECT * FROM centre WHERE one = 1'),
    insertCentre: p(
      `INSERT INTO centre (one, centre_id, alg, private_key, public_key, anchor, next_serial)
       VALUES (1, ?, ?, ?, ?, ?, 1)`,
    ),
    takeSerial: p(
      'UPDATE centre SET next_serial = next_serial + 1 WHERE one = 1 RETURNING next_serial - 1 AS s',
    ),
    bumpInvalid: p(
      'UPDATE centre SET invalid_version = invalid_version + 1 WHERE one = 1 RETURNING invalid_version AS v',
    ),
    bumpTroubled: p(
      'UPDATE centre SET troubled_version = troubled_version + 1 WHERE one = 1 RETURNING troubled_version AS v',
    ),
    versions: p('SELECT invalid_version AS i, troubled_version AS t FROM centre WHERE one = 1'),
    insertCert: p(
      `INSERT INTO certificates (serial, kind, subject_id, spki, alg, not_before, not_after, der)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    certBySubject: p('SELECT * FROM certificates WHERE kind = ? AND subject_id = ?'),
    certBySerial: p('SELECT * FROM certificates WHERE serial = ?'),
    insertCard: p(`INSERT INTO cards (idu, cert_serial, state) VALUES (?, ?, 'active')`),
    card: p('SELECT * FROM cards WHERE idu = ?'),
    setCardValue: p('UPDATE cards SET last_value = ?, last_value_at = ? WHERE idu = ?'),
    setCardSeq: p('UPDATE cards SET value_seq = ?, last_value = ?, last_value_at = ? WHERE idu = ?'),
    invalidateCard: p(
      `UPDATE cards SET state = 'invalid', invalid_reason = ?, invalid_version = ?, invalid_at = ?
       WHERE idu = ? AND state = 'active'`,
    ),
    setCardState: p(
      'UPDATE cards SET state = ?, invalid_reason = coalesce(invalid_reason, ?), invalid_version = coalesce(invalid_version, ?), invalid_at = coalesce(invalid_at, ?) WHERE idu = ?',
    ),
    invalidCards: p(
      `SELECT idu, invalid_reason, invalid_version, invalid_at FROM cards WHERE state != 'active' ORDER BY idu`,
    ),
    insertTerminal: p('INSERT INTO terminals (idt, cert_serial, chain_key, ts0, t) VALUES (?, ?, ?, ?, 0)'),
    terminal: p('SELECT * FROM terminals WHERE idt = ?'),
    setTerminalT: p('UPDATE terminals SET t = ? WHERE idt = ?'),
    stealTerminal: p('UPDATE terminals SET stolen_t = ?, stolen_at = ?, troubled_version = ? WHERE idt = ?'),
    troubled: p('SELECT * FROM terminals WHERE stolen_t IS NOT NULL ORDER BY idt'),
    insertDispenser: p('INSERT INTO dispensers (idc, cert_serial) VALUES (?, ?)'),
    insertValue: p(
      'INSERT INTO signed_values (idu, seq, value, not_after, at, der) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    valueBetween: p(
      'SELECT seq, value, at FROM signed_values WHERE idu = ? AND at > ? AND at <= ? ORDER BY at DESC LIMIT 1',
    ),
    valueMaxBetween: p('SELECT max(value) AS v FROM signed_values WHERE idu = ? AND at > ? AND at <= ?'),
    upload: p('SELECT digest FROM uploads WHERE idt = ? AND seq = ?'),
    lastUpload: p('SELECT max(seq) AS s FROM uploads WHERE idt = ?'),
    insertUpload: p('INSERT INTO uploads (idt, seq, digest, records, at) VALUES (?, ?, ?, ?, ?)'),
    hasUsage: p('SELECT 1 FROM usage_records WHERE digest = ?'),
    sessionDigest: p('SELECT digest FROM usage_sessions WHERE session = ?'),
    insertSession: p('INSERT INTO usage_sessions (session, digest) VALUES (?, ?)'),
    usageByState: p('SELECT * FROM usage_records WHERE state_key = ? AND digest != ? LIMIT 1'),
    insertUsage: p(
      `INSERT INTO usage_records (digest, state_key, idu, idt, upload_seq, v_before, v_after, charge, at, flag)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    usagePrev: p('SELECT * FROM usage_records WHERE idu = ? AND at < ? ORDER BY at DESC, id DESC LIMIT 1'),
    usageNext: p('SELECT * FROM usage_records WHERE idu = ? AND at > ? ORDER BY at ASC, id ASC LIMIT 1'),
    usageAt: p('SELECT * FROM usage_records WHERE idu = ? AND at = ? ORDER BY id'),
    // in one second V only falls (outside a recharge): the larger V-before came first
    usageOfCard: p('SELECT * FROM usage_records WHERE idu = ? ORDER BY at, v_before DESC, id'),
    usageCount: p('SELECT count(*) AS n FROM usage_records'),
    service: p('SELECT digest FROM service_records WHERE idu = ? AND card_seq = ?'),
    insertService: p(
      `INSERT INTO service_records (digest, idu, card_seq, idt, charge, at, der) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    billing: p(
      `SELECT coalesce(sum(charge), 0) AS total, count(*) AS n FROM service_records
       WHERE idu = ? AND at >= ? AND at < ?`,
    ),
    ns: p('SELECT 1 FROM password_settings WHERE idu = ? AND ns = ?'),
    insertNs: p('INSERT INTO password_settings (idu, ns, at) VALUES (?, ?, ?)'),
    refund: p('SELECT amount FROM refunds WHERE idu = ?'),
    insertRefund: p('INSERT INTO refunds (idu, amount, at) VALUES (?, ?, ?)'),
    list: p('SELECT version, not_after, der FROM lists WHERE kind = ? AND version = ?'),
    insertList: p('INSERT INTO lists (kind, version, not_after, der) VALUES (?, ?, ?, ?)'),
    insertEvent: p('INSERT INTO events (at, kind, reason, subject, detail) VALUES (?, ?, ?, ?, ?)'),
    events: p('SELECT * FROM events ORDER BY id'),
  };
}

type Statements = ReturnType<typeof prepareAll>;

/** The SQL layer of the management centre. */
export class SettlementDb extends MigratedDb {
  readonly #s: Statements;

  /**
   * Opens (creating if needed) and migrates the database; `':memory:'` for a throw-away one.
   * @throws HostDbError 'corrupt', 'locked', 'readonly', 'io' (also: the directory does not exist),
   *   'conflict' (the schema is newer than this code).
   */
  constructor(file: string) {
    if (typeof file !== 'string') throw new TypeError('file must be a string');
    super(file, SETTLEMENT_MIGRATIONS, 'this centre');
    try {
      this.#s = prepareAll(this.db);
    } catch (e) {
      throw classify(e);
    }
  }

  // --- centre ---------------------------------------------------------------------------------

  centre(): CentreRow | undefined {
    const r = this.#s.centre.get() as Record<string, Buffer | string> | undefined;
    if (!r) return undefined;
    return {
      centreId: u8(r.centre_id as Buffer),
      alg: r.alg as string,
      privateKey: u8(r.private_key as Buffer),
      publicKey: u8(r.public_key as Buffer),
      anchor: u8(r.anchor as Buffer),
    };
  }

  insertCentre(c: CentreRow): void {
    this.#s.insertCentre.run(buf(c.centreId), c.alg, buf(c.privateKey), buf(c.publicKey), buf(c.anchor));
  }

  /** The next certificate serial (call inside a transaction). */
  takeSerial(): number {
    return (this.#s.takeSerial.get() as { s: number }).s;
  }

  /** Increments and returns the version of the invalid-card set. */
  bumpInvalidVersion(): number {
    return (this.#s.bumpInvalid.get() as { v: number }).v;
  }

  /** Increments and returns the version of the troubled-terminal set. */
  bumpTroubledVersion(): number {
    return (this.#s.bumpTroubled.get() as { v: number }).v;
  }

  /** The current versions of the invalid-card and troubled-terminal sets. */
  listVersions(): { invalid: number; troubled: number } {
    const r = this.#s.versions.get() as { i: number; t: number };
    return { invalid: r.i, troubled: r.t };
  }

  // --- certificates ---------------------------------------------------------------------------

  insertCertificate(c: CertificateRow): void {
    this.#s.insertCert.run(
      c.serial,
      c.kind,
      buf(c.subjectId),
      buf(c.spki),
      c.alg,
      c.notBefore,
      c.notAfter,
      buf(c.der),
    );
  }

  certificateOf(kind: SubjectKind, subjectId: Uint8Array): CertificateRow | undefined {
    const r = this.#s.certBySubject.get(kind, buf(subjectId));
    return r ? toCert(r) : undefined;
  }

  certificate(serial: number): CertificateRow | undefined {
    const r = this.#s.certBySerial.get(serial);
    return r ? toCert(r) : undefined;
  }

  // --- cards ----------------------------------------------------------------------------------

  insertCard(idu: Uint8Array, certSerial: number): void {
    this.#s.insertCard.run(buf(idu), certSerial);
  }

  card(idu: Uint8Array): CardRow | undefined {
    const r = this.#s.card.get(buf(idu));
    return r ? toCard(r) : undefined;
  }

  setCardValue(idu: Uint8Array, value: number, at: number): void {
    this.#s.setCardValue.run(value, at, buf(idu));
  }

  setCardSignedValue(idu: Uint8Array, seq: number, value: number, at: number): void {
    this.#s.setCardSeq.run(seq, value, at, buf(idu));
  }

  /** Marks an active card invalid; false when it was not active (already listed). */
  invalidateCard(idu: Uint8Array, reason: string, version: number, at: number): boolean {
    return this.#s.invalidateCard.run(reason, version, at, buf(idu)).changes === 1;
  }

  /** Sets the state; the listing reason/version/time are kept if already set, else set to these. */
  setCardState(idu: Uint8Array, state: CardState, reason: string, version: number, at: number): void {
    this.#s.setCardState.run(state, reason, version, at, buf(idu));
  }

  /** Every card that is not active (invalid, destroyed, refunded), by IDU. */
  invalidCards(): { idu: Uint8Array; reason: string; version: number; at: number }[] {
    return (
      this.#s.invalidCards.all() as {
        idu: Buffer;
        invalid_reason: string;
        invalid_version: number;
        invalid_at: number;
      }[]
    ).map((r) => ({
      idu: u8(r.idu),
      reason: r.invalid_reason,
      version: r.invalid_version,
      at: r.invalid_at,
    }));
  }

  // --- terminals and dispensers ---------------------------------------------------------------

  insertTerminal(idt: Uint8Array, certSerial: number, chainKey: Uint8Array, ts0: Uint8Array): void {
    this.#s.insertTerminal.run(buf(idt), certSerial, buf(chainKey), buf(ts0));
  }

  terminal(idt: Uint8Array): TerminalRow | undefined {
    const r = this.#s.terminal.get(buf(idt));
    return r ? toTerminal(r) : undefined;
  }

  setTerminalT(idt: Uint8Array, t: number): void {
    this.#s.setTerminalT.run(t, buf(idt));
  }

  markStolen(idt: Uint8Array, t: number, at: number, version: number): void {
    this.#s.stealTerminal.run(t, at, version, buf(idt));
  }

  troubledTerminals(): TerminalRow[] {
    return this.#s.troubled.all().map(toTerminal);
  }

  insertDispenser(idc: Uint8Array, certSerial: number): void {
    this.#s.insertDispenser.run(buf(idc), certSerial);
  }

  // --- signed values --------------------------------------------------------------------------

  insertSignedValue(
    idu: Uint8Array,
    seq: number,
    value: number,
    notAfter: number,
    at: number,
    der: Uint8Array,
  ): void {
    this.#s.insertValue.run(buf(idu), seq, value, notAfter, at, buf(der));
  }

  /** The latest signed value of `idu` issued in (after, upTo]. */
  signedValueBetween(
    idu: Uint8Array,
    after: number,
    upTo: number,
  ): { seq: number; value: number; at: number } | undefined {
    return this.#s.valueBetween.get(buf(idu), after, upTo) as
      { seq: number; value: number; at: number } | undefined;
  }

  /** The highest value signed for the card in (after, upTo], or undefined when none was. */
  maxSignedValueBetween(idu: Uint8Array, after: number, upTo: number): number | undefined {
    const r = this.#s.valueMaxBetween.get(buf(idu), after, upTo) as { v: number | null } | undefined;
    return r?.v ?? undefined;
  }

  // --- uploads and usage records --------------------------------------------------------------

  /** The digest of the upload already stored under (IDT, sequence), if any. */
  uploadDigest(idt: Uint8Array, seq: number): Uint8Array | undefined {
    const r = this.#s.upload.get(buf(idt), seq) as { digest: Buffer } | undefined;
    return r ? u8(r.digest) : undefined;
  }

  /** The highest upload sequence stored for `idt`, or undefined. */
  lastUploadSeq(idt: Uint8Array): number | undefined {
    return (this.#s.lastUpload.get(buf(idt)) as { s: number | null }).s ?? undefined;
  }

  insertUpload(idt: Uint8Array, seq: number, digest: Uint8Array, records: number, at: number): void {
    this.#s.insertUpload.run(buf(idt), seq, buf(digest), records, at);
  }

  /** Whether a record with this digest is stored. */
  hasUsage(digest: Uint8Array): boolean {
    return this.#s.hasUsage.get(buf(digest)) !== undefined;
  }

  /** The digest of the record cleared for a service session (SHA-256 of its CardAuthInput), if any. */
  sessionDigest(session: Uint8Array): Uint8Array | undefined {
    const r = this.#s.sessionDigest.get(buf(session)) as { digest: Buffer } | undefined;
    return r ? u8(r.digest) : undefined;
  }

  insertSession(session: Uint8Array, digest: Uint8Array): void {
    this.#s.insertSession.run(buf(session), buf(digest));
  }

  /** Another record (different digest) continuing from the same card state. */
  usageBySameState(stateKey: Uint8Array, digest: Uint8Array): UsageRow | undefined {
    const r = this.#s.usageByState.get(buf(stateKey), buf(digest));
    return r ? toUsage(r) : undefined;
  }

  insertUsage(u: UsageRow): void {
    this.#s.insertUsage.run(
      buf(u.digest),
      buf(u.stateKey),
      buf(u.idu),
      buf(u.idt),
      u.uploadSeq,
      u.vBefore,
      u.vAfter,
      u.charge,
      u.at,
      u.flag,
    );
  }

  /** The card's record just before / just after `at` (by time). */
  usageNeighbours(idu: Uint8Array, at: number): { prev?: UsageRow; next?: UsageRow } {
    const p = this.#s.usagePrev.get(buf(idu), at);
    const n = this.#s.usageNext.get(buf(idu), at);
    return { ...(p ? { prev: toUsage(p) } : {}), ...(n ? { next: toUsage(n) } : {}) };
  }

  /** The card's records dated exactly `at`. */
  usageAt(idu: Uint8Array, at: number): UsageRow[] {
    return this.#s.usageAt.all(buf(idu), at).map(toUsage);
  }

  usageOfCard(idu: Uint8Array): UsageRow[] {
    return this.#s.usageOfCard.all(buf(idu)).map(toUsage);
  }

  usageCount(): number {
    return (this.#s.usageCount.get() as { n: number }).n;
  }

  // --- service records, passwords, refunds ----------------------------------------------------

  /** The digest of the service record stored under (IDU, card sequence), if any. */
  serviceRecordDigest(idu: Uint8Array, cardSeq: number): Uint8Array | undefined {
    const r = this.#s.service.get(buf(idu), cardSeq) as { digest: Buffer } | undefined;
    return r ? u8(r.digest) : undefined;
  }

  insertServiceRecord(
    digest: Uint8Array,
    idu: Uint8Array,
    cardSeq: number,
    idt: Uint8Array,
    charge: number,
    at: number,
    der: Uint8Array,
  ): void {
    this.#s.insertService.run(buf(digest), buf(idu), cardSeq, buf(idt), charge, at, buf(der));
  }

  /** Sum and count of a card's service records (post-paid charges) with from ≤ at < to. */
  billing(idu: Uint8Array, from: number, to: number): { total: number; count: number } {
    const r = this.#s.billing.get(buf(idu), from, to) as { total: number; n: number };
    return { total: r.total, count: r.n };
  }

  hasSettingNumber(idu: Uint8Array, ns: Uint8Array): boolean {
    return this.#s.ns.get(buf(idu), buf(ns)) !== undefined;
  }

  insertSettingNumber(idu: Uint8Array, ns: Uint8Array, at: number): void {
    this.#s.insertNs.run(buf(idu), buf(ns), at);
  }

  refundOf(idu: Uint8Array): number | undefined {
    return (this.#s.refund.get(buf(idu)) as { amount: number } | undefined)?.amount;
  }

  insertRefund(idu: Uint8Array, amount: number, at: number): void {
    this.#s.insertRefund.run(buf(idu), amount, at);
  }

  // --- lists and events -----------------------------------------------------------------------

  list(
    kind: 'invalid-cards' | 'troubled-terminals',
    version: number,
  ): { notAfter: number; der: Uint8Array } | undefined {
    const r = this.#s.list.get(kind, version) as { not_after: number; der: Buffer } | undefined;
    return r ? { notAfter: r.not_after, der: u8(r.der) } : undefined;
  }

  insertList(
    kind: 'invalid-cards' | 'troubled-terminals',
    version: number,
    notAfter: number,
    der: Uint8Array,
  ): void {
    this.#s.insertList.run(kind, version, notAfter, buf(der));
  }

  insertEvent(at: number, kind: string, reason: string | null, subject: string | null, detail: string): void {
    this.#s.insertEvent.run(at, kind, reason, subject, detail);
  }

  events(): EventRow[] {
    return this.#s.events.all() as EventRow[];
  }
}
