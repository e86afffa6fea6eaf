/**
 * The relay tables (migration 4 of host/service/HostDb.ts, issue 17): card commands other
 * utilities send through this host to their purse on a subscriber's card, and the offline
 * readings electricity meters found on cards. Kept beside their only user
 * (relayRepository.ts); never edit it once shipped.
 *
 * ```
 *  api_key_scopes     the purse a 'utility' API key may address (a key without a row addresses none)
 *  card_commands      one row per relay id (the id on the power line, u32, never reused):
 *                     the utility's purse and its own reference (UNIQUE per purse: idempotency),
 *                     CSN, INS, P2, data; state queued -> waiting -> answered; the answer once
 *  card_command_routes one row per (command, electricity meter of the card's subscriber):
 *                     pending (to send) -> sent (the meter holds it) -> done (the command is final)
 *  relay_meters       per meter: the ackBelow of its next message (the \`next\` of the last outbox page
 *                     stored, protocol/cardCommands.ts) and whether the meter has received it
 *  offline_readings   SFI 04 records meters brought back, each stored once per (purse, CSN, bytes);
 *                     the row id is the cursor of GET /relay/readings?after=
 * ```
 *
 * Why readings are unique per whole record and not per record MAC: this host holds no K_offline and
 * cannot check the MAC, so keying on it would let one forged record carrying a copied MAC shadow
 * the genuine one; the owning utility checks the MAC and keeps one per (meter id, reading seq).
 */
export const RELAY_MIGRATION = `
  CREATE TABLE api_key_scopes (
    key_id INTEGER PRIMARY KEY REFERENCES api_keys(id),
    purse INTEGER NOT NULL CHECK (purse BETWEEN 1 AND 15));
  CREATE TABLE card_commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT CHECK (id BETWEEN 1 AND 4294967295),
    purse INTEGER NOT NULL CHECK (purse BETWEEN 1 AND 15),
    ref TEXT NOT NULL,
    key_id INTEGER REFERENCES api_keys(id),
    csn TEXT NOT NULL CHECK (length(csn) = 16),
    ins INTEGER NOT NULL CHECK (ins IN (86, 88, 90)),
    p2 INTEGER NOT NULL CHECK (p2 BETWEEN 1 AND 15),
    data BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued','waiting','answered')),
    outcome INTEGER, last_sw INTEGER, answer BLOB, answered_by TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    updated_at TEXT, answered_at TEXT,
    UNIQUE (purse, ref));
  CREATE INDEX card_commands_csn ON card_commands(csn, id);
  CREATE TABLE card_command_routes (
    command_id INTEGER NOT NULL REFERENCES card_commands(id),
    meter_id TEXT NOT NULL REFERENCES meters(id),
    state TEXT NOT NULL CHECK (state IN ('pending','sent','done')),
    PRIMARY KEY (meter_id, command_id)) WITHOUT ROWID;
  CREATE INDEX card_command_routes_state ON card_command_routes(state, meter_id);
  CREATE TABLE relay_meters (
    meter_id TEXT PRIMARY KEY REFERENCES meters(id),
    ack_below INTEGER NOT NULL DEFAULT 0 CHECK (ack_below BETWEEN 0 AND 4294967295),
    ack_sent INTEGER NOT NULL DEFAULT 1);
  CREATE TABLE offline_readings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    csn TEXT NOT NULL CHECK (length(csn) = 16),
    purse INTEGER NOT NULL CHECK (purse BETWEEN 1 AND 15),
    offline_meter TEXT NOT NULL,
    record BLOB NOT NULL CHECK (length(record) = 144),
    mac TEXT NOT NULL,
    reported_by TEXT NOT NULL,
    received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    UNIQUE (purse, csn, record));
  CREATE INDEX offline_readings_purse ON offline_readings(purse, id);
`;
