/**
 * The relay's tables (relaySchema.ts): card commands of other utilities, their routes to the
 * electricity meters of the card's subscriber, the ackBelow each meter received, and the offline
 * readings meters brought back. The only holder of the relay's SQL (host/relay/RelayService.ts is
 * the caller).
 */
import type { HostDb } from '../HostDb.js';
import { HostDbError } from './open.js';
import { pageOf, type Page } from './paging.js';

/** The largest relay id: it travels as a u32 in the H = 57 payload. */
export const MAX_RELAY_ID = 0xffff_ffff;

export type CommandState = 'queued' | 'waiting' | 'answered';

/** A card command as stored. */
export interface CardCommandRecord {
  readonly id: number;
  readonly purse: number;
  readonly ref: string;
  readonly csn: string;
  readonly ins: number;
  readonly p2: number;
  readonly data: Uint8Array;
  readonly state: CommandState;
  readonly outcome: number | null;
  readonly lastSw: number | null;
  readonly answer: Uint8Array | null;
  readonly answeredBy: string | null;
  readonly createdAt: string;
  readonly updatedAt: string | null;
  readonly answeredAt: string | null;
}

/** An offline reading as stored (the record is opaque to this host). */
export interface StoredReading {
  readonly id: number;
  readonly csn: string;
  readonly purse: number;
  readonly offlineMeter: string;
  readonly record: Uint8Array;
  readonly reportedBy: string;
  readonly receivedAt: string;
}

interface CommandRow {
  id: number;
  purse: number;
  ref: string;
  csn: string;
  ins: number;
  p2: number;
  data: Buffer;
  state: CommandState;
  outcome: number | null;
  last_sw: number | null;
  answer: Buffer | null;
  answered_by: string | null;
  created_at: string;
  updated_at: string | null;
  answered_at: string | null;
}

const toCommand = (r: CommandRow): CardCommandRecord => ({
  id: r.id,
  purse: r.purse,
  ref: r.ref,
  csn: r.csn,
  ins: r.ins,
  p2: r.p2,
  data: new Uint8Array(r.data),
  state: r.state,
  outcome: r.outcome,
  lastSw: r.last_sw,
  answer: r.answer === null ? null : new Uint8Array(r.answer),
  answeredBy: r.answered_by,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  answeredAt: r.answered_at,
});

const NOW = "strftime('%Y-%m-%dT%H:%M:%fZ','now')";

export class RelayRepository {
  constructor(readonly db: HostDb) {}

  // ------------------------------------------------------------------ key scopes

  /** Inside a caller's transaction: key `keyId` may address purse `purse` (and no other). */
  setScopeInTx(keyId: number, purse: number): void {
    this.db
      .statement(
        'INSERT INTO api_key_scopes (key_id, purse) VALUES (?, ?) ON CONFLICT(key_id) DO UPDATE SET purse = excluded.purse',
      )
      .run(keyId, purse);
  }

  /** The purse key `keyId` is scoped to, or undefined. */
  scopeOf(keyId: number): number | undefined {
    const r = this.db.statement('SELECT purse FROM api_key_scopes WHERE key_id = ?').get(keyId) as
      { purse: number } | undefined;
    return r?.purse;
  }

  // ------------------------------------------------------------------ routing

  /** The subscriber a card belongs to and its status, or undefined. @param csn upper-case hex. */
  card(csn: string): { subscriberId: number; status: string; blacklisted: boolean } | undefined {
    const r = this.db
      .statement('SELECT subscriber_id AS s, status, blacklisted AS b FROM cards WHERE serial = ?')
      .get(csn) as { s: number; status: string; b: number } | undefined;
    return r && { subscriberId: r.s, status: r.status, blacklisted: r.b !== 0 };
  }

  /** The meters of a subscriber, by id. */
  metersOf(subscriberId: number): string[] {
    return (
      this.db
        .statement('SELECT id FROM meters WHERE subscriber_id = ? ORDER BY id')
        .all(subscriberId) as Array<{
        id: string;
      }>
    ).map((r) => r.id);
  }

  // ------------------------------------------------------------------ commands

  /** The command the utility of `purse` sent under its reference `ref`, if any. */
  byRef(purse: number, ref: string): CardCommandRecord | undefined {
    const r = this.db.statement('SELECT * FROM card_commands WHERE purse = ? AND ref = ?').get(purse, ref) as
      CommandRow | undefined;
    return r && toCommand(r);
  }

  get(id: number): CardCommandRecord | undefined {
    const r = this.db.statement('SELECT * FROM card_commands WHERE id = ?').get(id) as CommandRow | undefined;
    return r && toCommand(r);
  }

  /**
   * Inside a caller's transaction: a new queued command and one pending route per meter.
   * @throws HostDbError 'exhausted' when relay ids (u32) are used up; 'conflict' for a repeated ref.
   */
  insertInTx(c: {
    purse: number;
    ref: string;
    keyId: number | null;
    csn: string;
    ins: number;
    p2: number;
    data: Uint8Array;
    meters: readonly string[];
  }): number {
    const last = this.db.statement("SELECT seq FROM sqlite_sequence WHERE name = 'card_commands'").get() as
      { seq: number } | undefined;
    if (last && last.seq >= MAX_RELAY_ID)
      throw new HostDbError('exhausted', `relay ids exhausted (last ${last.seq})`);
    const r = this.db
      .statement(
        "INSERT INTO card_commands (purse, ref, key_id, csn, ins, p2, data, state) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued')",
      )
      .run(c.purse, c.ref, c.keyId, c.csn, c.ins, c.p2, Buffer.from(c.data));
    const id = Number(r.lastInsertRowid);
    const route = this.db.statement(
      "INSERT INTO card_command_routes (command_id, meter_id, state) VALUES (?, ?, 'pending')",
    );
    for (const m of c.meters) route.run(id, m);
    return id;
  }

  /**
   * Commands routed to `meterId` that it does not hold yet, in id order: the oldest of each purse
   * first, then the second oldest of each, … — so one utility's backlog (refused FULL by the meter's
   * purse quota and pending again) never keeps another utility's commands out of the message.
   */
  toSend(meterId: string, limit: number): CardCommandRecord[] {
    return (
      this.db
        .statement(
          `SELECT * FROM (
             SELECT c.*, ROW_NUMBER() OVER (PARTITION BY c.purse ORDER BY c.id) AS k
               FROM card_command_routes r JOIN card_commands c ON c.id = r.command_id
              WHERE r.meter_id = ? AND r.state = 'pending' ORDER BY k, c.id LIMIT ?)
           ORDER BY id`,
        )
        .all(meterId, limit) as CommandRow[]
    ).map(toCommand);
  }

  /** Routes to `meterId` of commands answered (anywhere) that the meter may still hold: to forget. */
  toForget(meterId: string, limit: number): number[] {
    return (
      this.db
        .statement(
          `SELECT r.command_id AS id FROM card_command_routes r JOIN card_commands c ON c.id = r.command_id
            WHERE r.meter_id = ? AND r.state = 'sent' AND c.state = 'answered' AND c.answered_by <> r.meter_id
            ORDER BY r.command_id LIMIT ?`,
        )
        .all(meterId, limit) as Array<{ id: number }>
    ).map((r) => r.id);
  }

  /** Is `commandId` routed to `meterId`? */
  routed(meterId: string, commandId: number): 'pending' | 'sent' | 'done' | undefined {
    const r = this.db
      .statement('SELECT state FROM card_command_routes WHERE meter_id = ? AND command_id = ?')
      .get(meterId, commandId) as { state: 'pending' | 'sent' | 'done' } | undefined;
    return r?.state;
  }

  /** Inside a caller's transaction: sets a route's state. */
  setRouteInTx(meterId: string, commandId: number, state: 'pending' | 'sent' | 'done'): void {
    this.db
      .statement('UPDATE card_command_routes SET state = ? WHERE meter_id = ? AND command_id = ?')
      .run(state, meterId, commandId);
  }

  /**
   * Inside a caller's transaction: the command's answer is final. Its route to the meter that
   * answered and the routes never sent are done; a route to another meter that holds the command
   * stays 'sent' until a message telling that meter to forget it was answered.
   */
  finishRoutesInTx(commandId: number, answeredBy: string): void {
    this.db
      .statement(
        "UPDATE card_command_routes SET state = 'done' WHERE command_id = ? AND (meter_id = ? OR state = 'pending')",
      )
      .run(commandId, answeredBy);
  }

  /**
   * Inside a caller's transaction: stores a final answer unless one is stored already.
   * @returns whether this call stored it.
   */
  answerInTx(id: number, a: { outcome: number; sw: number; data: Uint8Array; meterId: string }): boolean {
    const r = this.db
      .statement(
        `UPDATE card_commands SET state = 'answered', outcome = ?, last_sw = ?, answer = ?, answered_by = ?,
                answered_at = ${NOW}, updated_at = ${NOW}
          WHERE id = ? AND state <> 'answered'`,
      )
      .run(a.outcome, a.sw, Buffer.from(a.data), a.meterId, id);
    return r.changes > 0;
  }

  /** Inside a caller's transaction: a non-final answer (the command stays in the meter). */
  waitingInTx(id: number, sw: number): boolean {
    const r = this.db
      .statement(
        `UPDATE card_commands SET state = 'waiting', last_sw = ?, updated_at = ${NOW} WHERE id = ? AND state <> 'answered'`,
      )
      .run(sw, id);
    return r.changes > 0;
  }

  /** The ackBelow of meter `meterId`'s next message: the `next` of the last outbox page stored (0: none). */
  ackBelow(meterId: string): number {
    const r = this.db.statement('SELECT ack_below AS a FROM relay_meters WHERE meter_id = ?').get(meterId) as
      { a: number } | undefined;
    return r?.a ?? 0;
  }

  /**
   * Inside a caller's transaction, with the page's entries: the meter's outbox is stored below
   * `next`. `delivered`: the message just answered carried this very ackBelow already.
   */
  setAckInTx(meterId: string, next: number, delivered: boolean): void {
    this.db
      .statement(
        `INSERT INTO relay_meters (meter_id, ack_below, ack_sent) VALUES (?, ?, ?)
         ON CONFLICT(meter_id) DO UPDATE SET
           ack_sent = CASE WHEN excluded.ack_below > ack_below THEN excluded.ack_sent ELSE MAX(ack_sent, excluded.ack_sent) END,
           ack_below = MAX(ack_below, excluded.ack_below)`,
      )
      .run(meterId, next, delivered ? 1 : 0);
  }

  /**
   * Meters with commands to send, commands they hold unanswered, commands to forget, or an
   * ackBelow they have not received yet.
   */
  metersWithWork(): string[] {
    return (
      this.db
        .statement(
          `SELECT meter_id AS id FROM card_command_routes WHERE state IN ('pending', 'sent')
           UNION SELECT meter_id AS id FROM relay_meters WHERE ack_sent = 0
           ORDER BY id`,
        )
        .all() as Array<{ id: string }>
    ).map((r) => r.id);
  }

  /** Every registered meter (a round that collects readings asks all of them). */
  allMeters(): string[] {
    return (this.db.statement('SELECT id FROM meters ORDER BY id').all() as Array<{ id: string }>).map(
      (r) => r.id,
    );
  }

  /** A page of one utility's commands of card `csn`, in id order (for the utility's status view). */
  commandsOf(purse: number, csn: string): CardCommandRecord[] {
    return (
      this.db
        .statement('SELECT * FROM card_commands WHERE purse = ? AND csn = ? ORDER BY id')
        .all(purse, csn) as CommandRow[]
    ).map(toCommand);
  }

  // ------------------------------------------------------------------ readings

  /**
   * Inside a caller's transaction: stores a reading once. @returns whether it was new.
   */
  insertReadingInTx(r: {
    csn: string;
    purse: number;
    offlineMeter: string;
    record: Uint8Array;
    mac: string;
    reportedBy: string;
  }): boolean {
    const res = this.db
      .statement(
        `INSERT INTO offline_readings (csn, purse, offline_meter, record, mac, reported_by) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (purse, csn, record) DO NOTHING`,
      )
      .run(r.csn, r.purse, r.offlineMeter, Buffer.from(r.record), r.mac, r.reportedBy);
    return res.changes > 0;
  }

  /** A page of readings for `purse` (undefined: every purse) after the cursor `after` (a reading id). */
  readings(purse: number | undefined, after: number, limit: number): Page<StoredReading, number> {
    const rows = this.db
      .statement(
        `SELECT id, csn, purse, offline_meter AS offlineMeter, record, reported_by AS reportedBy,
                received_at AS receivedAt
           FROM offline_readings WHERE (? IS NULL OR purse = ?) AND id > ? ORDER BY id LIMIT ?`,
      )
      .all(purse ?? null, purse ?? null, after, limit + 1) as Array<
      Omit<StoredReading, 'record'> & { record: Buffer }
    >;
    return pageOf(
      rows.map((r) => ({ ...r, record: new Uint8Array(r.record) })),
      limit,
      (r) => r.id,
    );
  }
}
