/**
 * The clearing tables (migration 3 of host/service/HostDb.ts). Kept here, beside the repository
 * that is their only user; HostDb runs it in its numbered sequence. Never edit it once shipped.
 *
 * ```
 *  svm_records        one row per (meter, SVM counter, key): key '' for records that move the
 *                     counter (card credit, token, host credit), the hex reference for a cancelled
 *                     transfer (it repeats the counter of the record before it)
 *  card_records       one row per (CSN, purse, card counter): the first valid copy
 *  record_conflicts   a second, different, valid copy of either kind (a clone or a forged module)
 *  clearing_pending   pending transfers meters reported; open -> decided -> settled
 *  credit_backs       value owed to a card for a cancelled transfer whose debit happened:
 *                     awaiting-debit -> payable -> loading -> paid, or void
 *  blacklist_state    the one blacklist version (a trigger bumps it on every flag change)
 *  meter_blacklist    the version each meter last confirmed
 *  blacklist_attempts a blacklisted card presented at a meter, as the meter reported it
 *  meter_clearing     where the next upload starts at each meter (journal seq, SVM counter)
 * ```
 */
export const CLEARING_MIGRATION = `
  CREATE TABLE svm_records (
    meter_id TEXT NOT NULL, svm_counter INTEGER NOT NULL, rkey TEXT NOT NULL,
    type INTEGER NOT NULL, ref BLOB NOT NULL, amount INTEGER NOT NULL,
    balance_after INTEGER NOT NULL, date_time BLOB NOT NULL, raw BLOB NOT NULL, mac BLOB NOT NULL,
    at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    PRIMARY KEY (meter_id, svm_counter, rkey)) WITHOUT ROWID;
  CREATE TABLE card_records (
    csn TEXT NOT NULL, purse INTEGER NOT NULL, counter INTEGER NOT NULL,
    type INTEGER NOT NULL, amount INTEGER NOT NULL, balance_after INTEGER NOT NULL,
    terminal_id BLOB NOT NULL, date_time BLOB NOT NULL, rv BLOB NOT NULL, raw BLOB NOT NULL,
    source TEXT NOT NULL,
    at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    PRIMARY KEY (csn, purse, counter)) WITHOUT ROWID;
  CREATE TABLE record_conflicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('card','svm')),
    subject TEXT NOT NULL, purse INTEGER, counter INTEGER NOT NULL, raw BLOB NOT NULL,
    source TEXT NOT NULL,
    at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    UNIQUE (kind, subject, purse, counter, raw));
  CREATE TABLE clearing_pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    meter_id TEXT NOT NULL, csn TEXT NOT NULL, purse INTEGER NOT NULL, counter INTEGER NOT NULL,
    amount INTEGER NOT NULL, date_time BLOB NOT NULL, rv BLOB, slot INTEGER NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open','decided','settled')),
    decision TEXT CHECK (decision IN ('complete','cancel')), reason TEXT,
    tx_id INTEGER, attempts INTEGER NOT NULL DEFAULT 0, refusals INTEGER NOT NULL DEFAULT 0,
    answer TEXT, answer_raw BLOB, decided_at TEXT, settled_at TEXT,
    UNIQUE (meter_id, csn, purse, counter));
  CREATE INDEX clearing_pending_state ON clearing_pending(state, id);
  CREATE TABLE credit_backs (
    csn TEXT NOT NULL, purse INTEGER NOT NULL, counter INTEGER NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    pending_id INTEGER NOT NULL REFERENCES clearing_pending(id),
    state TEXT NOT NULL CHECK (state IN ('awaiting-debit','payable','loading','paid','void')),
    load_counter INTEGER, load_terminal BLOB, load_date_time BLOB, reason TEXT,
    paid_at TEXT,
    PRIMARY KEY (csn, purse, counter));
  CREATE TABLE blacklist_state (version INTEGER NOT NULL);
  INSERT INTO blacklist_state VALUES (0);
  CREATE TRIGGER cards_blacklist_version AFTER UPDATE OF blacklisted ON cards
    WHEN OLD.blacklisted <> NEW.blacklisted
    BEGIN UPDATE blacklist_state SET version = version + 1; END;
  CREATE TABLE meter_blacklist (
    meter_id TEXT PRIMARY KEY, version INTEGER NOT NULL, confirmed_at TEXT NOT NULL);
  CREATE TABLE blacklist_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, meter_id TEXT NOT NULL, serial TEXT NOT NULL,
    purse INTEGER NOT NULL, at TEXT NOT NULL,
    UNIQUE (meter_id, serial, purse, at));
  CREATE TABLE meter_clearing (
    meter_id TEXT PRIMARY KEY, next_seq INTEGER NOT NULL, svm_next INTEGER NOT NULL);`;

/**
 * Card records that failed their check (a bad proof), kept apart with the reason instead of
 * refusing the whole upload page (a shim at the card slot must not stall a meter's clearing).
 * Added after migration 3 shipped, so it is created idempotently by ClearingRepository.
 */
export const CLEARING_QUARANTINE_TABLE = `
  CREATE TABLE IF NOT EXISTS clearing_quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    meter_id TEXT, csn TEXT NOT NULL, raw BLOB NOT NULL, reason TEXT NOT NULL, source TEXT NOT NULL,
    at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    UNIQUE (source, raw));`;
