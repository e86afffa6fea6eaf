/**
 * The relay for other utilities (issue 17): a gas, water or heat utility sends a command for its
 * own purse on a subscriber's card (REMOTE LOAD, PUT CONFIG, CLEAR READINGS — each MAC'd by that
 * utility with K_remote, which this host does not hold); this host carries it over the power line
 * (H = 57) to the electricity meter(s) of the card's subscriber, whose card slot hands it to the
 * card at the next insertion, and brings the card's answer back. It also brings back the offline
 * readings meters found on cards, for the utility of their purse to collect.
 *
 * The host cannot create, enlarge, redirect or repeat anything — the card checks the utility's MAC
 * and its own sequence — so the relay's rules are about not losing and not confusing:
 *
 * 1. A command is stored (with its routes) in one durable transaction before any frame carries it.
 *    Its relay id and bytes never change, so every (re)transmission of id X is the same command;
 *    the meter keeps one copy per id.
 * 2. A utility addresses only its own purse: its API key's scope must equal the command's purse
 *    and its P2 (the purse the card applies it to). Idempotent per (purse, utility's reference).
 * 3. An answer is stored once: the first final answer wins; later copies (another meter, a repeated
 *    upload) change nothing. A waiting report (REMOTE LOAD 9402 purse full, 9409 gap, 6985
 *    blocked) leaves the command in the meter; a FULL refusal sends it again later. An answer for
 *    an id never routed to that meter is an event, never stored.
 * 4. The ackBelow a message carries is the `next` of the last outbox page whose entries are
 *    committed here, written in the same transaction as they are. So a host killed at any point
 *    asks again from where it stored, and the meter, which drops only below ackBelow, still has
 *    every entry not stored.
 * 5. What an exchange taught (answers, readings, routes now held by the meter) commits in one
 *    transaction after the exchange; a kill before it means the next exchange repeats it.
 */
import type { ApiKeyService, ApiPrincipal } from '../service/ApiKeyService.js';
import type { CardCommandView, RelayApi, RelayReadingView } from '../service/RelayApi.js';
import type { HostDb } from '../service/HostDb.js';
import {
  RelayRepository,
  type CardCommandRecord,
  type StoredReading,
} from '../service/db/relayRepository.js';
import type { Page } from '../service/db/paging.js';
import { ServiceError } from '../service/ServiceError.js';
import {
  CARD_COMMAND_LC,
  CARD_COMMANDS_PER_MESSAGE,
  CARD_FORGET_MAX,
  OUTCOME_REFUSED,
  OUTCOME_WAITING,
  REFUSED_FULL,
  type CardAnswer,
} from '../../protocol/index.js';
import type { RelayLink, RelayMessage, RelayReply } from './RelayLink.js';

/** REMOTE LOAD, PUT CONFIG, CLEAR READINGS (card/applets/constants.ts INS_*), with their data lengths. */
export const RELAY_INS: ReadonlyMap<number, { name: string; length: number }> = new Map([
  [0x56, { name: 'REMOTE LOAD', length: CARD_COMMAND_LC[0x56]! }],
  [0x58, { name: 'PUT CONFIG', length: CARD_COMMAND_LC[0x58]! }],
  [0x5a, { name: 'CLEAR READINGS', length: CARD_COMMAND_LC[0x5a]! }],
]);
/** Outbox pages fetched from one meter in one round while it says `more`. */
export const RELAY_PAGES_PER_ROUND = 8;
/** Unanswered commands one card may have in the relay (a meter stores 64 in all). */
export const RELAY_MAX_OPEN_PER_CARD = 32;

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase();

/** What one exchange with one meter did. */
export interface RelayMeterResult {
  meterId: string;
  sent: number;
  answersStored: number;
  waiting: number;
  readingsStored: number;
  stray: number;
  error?: string;
}

const view = (c: CardCommandRecord): CardCommandView => ({
  id: c.id,
  purse: c.purse,
  ref: c.ref,
  csn: c.csn,
  ins: c.ins,
  p2: c.p2,
  state: c.state,
  outcome: c.outcome,
  sw: c.lastSw,
  answer: c.answer === null ? null : hex(c.answer),
  createdAt: c.createdAt,
  answeredAt: c.answeredAt,
});

export type { CardCommandView } from '../service/RelayApi.js';

export class RelayService implements RelayApi {
  readonly repo: RelayRepository;

  /**
   * @param link the power-line side; only `relayOnce` needs it (the API's instance has none).
   */
  constructor(
    readonly db: HostDb,
    private readonly link?: RelayLink,
  ) {
    this.repo = new RelayRepository(db);
  }

  // ------------------------------------------------------------------ keys

  /**
   * Makes an API key with the role 'utility' scoped to `purse`, in one transaction (a utility key
   * never exists without its scope). The returned `key` is the only copy there will ever be.
   * @throws RangeError naming `purse` outside 2..15 (purse 1 is this host's own electricity).
   */
  createUtilityKey(keys: ApiKeyService, purse: number, name: string): { id: number; key: string } {
    if (!Number.isInteger(purse) || purse < 2 || purse > 15)
      throw new RangeError(`purse must be 2..15, got ${purse}`);
    return this.db.tx(() => {
      const k = keys.create(['utility'], name);
      this.repo.setScopeInTx(k.id, purse);
      return { id: k.id, key: k.key };
    });
  }

  /**
   * The purse `p` may address: its scope for a 'utility' key; any (undefined) for an admin, and for
   * an auditor when `read`.
   * @throws ServiceError 403 no-purse-scope for a key with none of these.
   */
  scopeOf(p: ApiPrincipal | null, read = false): number | undefined {
    if (p?.roles.includes('admin') || (read && p?.roles.includes('auditor'))) return undefined;
    const s = p ? this.repo.scopeOf(p.id) : undefined;
    if (s === undefined || !p?.roles.includes('utility'))
      throw new ServiceError(403, 'no-purse-scope', 'this API key is not scoped to a purse');
    return s;
  }

  #checkPurse(p: ApiPrincipal | null, purse: number, field: string): void {
    const s = this.scopeOf(p);
    if (s !== undefined && s !== purse)
      throw new ServiceError(
        403,
        'purse-scope',
        `this API key addresses purse ${s} only, not ${purse}`,
        field,
      );
  }

  // ------------------------------------------------------------------ the API

  /**
   * Accepts a card command (rule 1, 2). Idempotent by (purse, ref): the same command again answers
   * the stored one (`created: false`).
   * @throws ServiceError 400 bad-ins / bad-length, 403 purse-scope (purse or p2 not the key's),
   *   404 unknown-card, 409 card-not-active / no-meter / ref-reused / too-many-queued;
   *   HostDbError when the database fails (nothing stored).
   */
  submit(
    p: ApiPrincipal | null,
    c: { purse: number; ref: string; csn: string; ins: number; p2: number; data: Uint8Array },
  ): { command: CardCommandView; created: boolean } {
    this.#checkPurse(p, c.purse, 'purse');
    if (c.p2 !== c.purse)
      throw new ServiceError(403, 'purse-scope', `p2 ${c.p2} addresses another purse than ${c.purse}`, 'p2');
    const ins = RELAY_INS.get(c.ins);
    if (!ins) throw new ServiceError(400, 'bad-ins', `ins ${c.ins.toString(16)} is not 56, 58 or 5A`, 'ins');
    if (c.data.length !== ins.length)
      throw new ServiceError(
        400,
        'bad-length',
        `${ins.name} carries ${ins.length} bytes of data, got ${c.data.length}`,
        'data',
      );
    const csn = c.csn.toUpperCase();
    return this.db.tx(() => {
      const prior = this.repo.byRef(c.purse, c.ref);
      if (prior) {
        if (prior.csn !== csn || prior.ins !== c.ins || prior.p2 !== c.p2 || hex(prior.data) !== hex(c.data))
          throw new ServiceError(409, 'ref-reused', `ref ${c.ref} was used for another command`, 'ref');
        return { command: view(prior), created: false };
      }
      const card = this.repo.card(csn);
      if (!card) throw new ServiceError(404, 'unknown-card', `no card ${csn}`, 'csn');
      if (card.status !== 'active' || card.blacklisted)
        throw new ServiceError(409, 'card-not-active', `card ${csn} is ${card.status}`, 'csn');
      const meters = this.repo.metersOf(card.subscriberId);
      if (meters.length === 0)
        throw new ServiceError(409, 'no-meter', `the subscriber of card ${csn} has no meter`, 'csn');
      const open = this.repo.commandsOf(c.purse, csn).filter((x) => x.state !== 'answered').length;
      if (open >= RELAY_MAX_OPEN_PER_CARD)
        throw new ServiceError(
          409,
          'too-many-queued',
          `card ${csn} has ${open} unanswered commands of purse ${c.purse}`,
          'csn',
        );
      const id = this.repo.insertInTx({ ...c, csn, keyId: p?.id ?? null, meters });
      return { command: view(this.repo.get(id)!), created: true };
    });
  }

  /** @throws ServiceError 404 unknown-command (also: another purse's command: nothing leaks). */
  command(p: ApiPrincipal | null, id: number): CardCommandView {
    const s = this.scopeOf(p, true);
    const c = this.repo.get(id);
    if (!c || (s !== undefined && c.purse !== s))
      throw new ServiceError(404, 'unknown-command', `no card command ${id}`, 'id');
    return view(c);
  }

  /**
   * Offline readings of `purse` after the cursor `after` (an admin or auditor naming no purse: of
   * every purse).
   * @throws ServiceError 403 purse-scope.
   */
  readings(
    p: ApiPrincipal | null,
    q: { purse?: number; after?: number; limit?: number },
  ): Page<RelayReadingView, number> {
    const s = this.scopeOf(p, true);
    const purse = q.purse ?? s;
    if (s !== undefined && purse !== s)
      throw new ServiceError(403, 'purse-scope', `this API key reads purse ${s} only`, 'purse');
    const page = this.repo.readings(purse, q.after ?? 0, q.limit ?? 100);
    return {
      items: page.items.map((r: StoredReading) => ({
        id: r.id,
        csn: r.csn,
        purse: r.purse,
        meterId: r.offlineMeter,
        record: hex(r.record),
        reportedBy: r.reportedBy,
        receivedAt: r.receivedAt,
      })),
      next: page.next,
    };
  }

  // ------------------------------------------------------------------ the power line

  /** The message meter `meterId` gets now (rule 4). */
  messageFor(meterId: string): RelayMessage {
    return {
      ackBelow: this.repo.ackBelow(meterId),
      forget: this.repo.toForget(meterId, CARD_FORGET_MAX),
      commands: this.repo.toSend(meterId, CARD_COMMANDS_PER_MESSAGE).map((c) => ({
        id: c.id,
        csn: Uint8Array.from(Buffer.from(c.csn, 'hex')),
        ins: c.ins,
        p2: c.p2,
        data: c.data,
      })),
    };
  }

  /**
   * Stores what meter `meterId` answered to `message` (rules 3, 4, 5), in one transaction.
   * @returns the counts for the round's report.
   */
  absorb(
    meterId: string,
    message: RelayMessage,
    reply: RelayReply,
  ): Omit<RelayMeterResult, 'meterId' | 'sent'> {
    return this.db.tx(() => {
      const r = { answersStored: 0, waiting: 0, readingsStored: 0, stray: 0 };
      for (const c of message.commands)
        if (this.repo.routed(meterId, c.id) === 'pending') this.repo.setRouteInTx(meterId, c.id, 'sent');
      for (const id of message.forget) this.repo.setRouteInTx(meterId, id, 'done');
      const carried = new Set(message.commands.map((c) => c.id));
      for (const a of reply.answers) this.#answer(meterId, a, r, carried);
      for (const g of reply.readings) {
        if (g.purse < 1 || g.purse > 15 || g.record[4] !== g.purse) {
          r.stray++;
          this.db.event({
            kind: 'relay-bad-reading',
            meterId,
            detail: `reading seq ${g.seq}: purse ${g.purse}, record purse ${g.record[4]}`,
          });
          continue;
        }
        const stored = this.repo.insertReadingInTx({
          csn: hex(g.csn),
          purse: g.purse,
          offlineMeter: hex(g.record.subarray(1, 4)),
          record: g.record,
          mac: hex(g.record.subarray(135, 143)),
          reportedBy: meterId,
        });
        if (stored) r.readingsStored++;
      }
      this.repo.setAckInTx(meterId, reply.next, message.ackBelow >= reply.next);
      return r;
    });
  }

  #answer(
    meterId: string,
    a: CardAnswer,
    r: { answersStored: number; waiting: number; stray: number },
    carried: ReadonlySet<number>,
  ): void {
    const route = this.repo.routed(meterId, a.id);
    const c = route === undefined ? undefined : this.repo.get(a.id);
    // a meter's refusal (outcome 01) answers only a command of this very message (H = 57 spec)
    if (!c || (a.outcome === OUTCOME_REFUSED && !carried.has(a.id))) {
      r.stray++;
      this.db.event({
        kind: 'relay-stray-answer',
        meterId,
        detail: `answer for relay id ${a.id} (outcome ${a.outcome}, sw ${a.sw.toString(16)}) that was not sent to this meter`,
      });
      return;
    }
    if (a.outcome === OUTCOME_REFUSED && a.sw === REFUSED_FULL) {
      // not stored by the meter: send it again later
      if (c.state !== 'answered') this.repo.setRouteInTx(meterId, a.id, 'pending');
      return;
    }
    if (a.outcome === OUTCOME_WAITING) {
      if (this.repo.waitingInTx(a.id, a.sw)) r.waiting++;
      return;
    }
    // OUTCOME_CARD (the card's final answer) or a definite refusal by the meter (ins, length)
    if (this.repo.answerInTx(a.id, { outcome: a.outcome, sw: a.sw, data: a.data, meterId })) {
      r.answersStored++;
      this.repo.finishRoutesInTx(a.id, meterId);
    } else {
      // answered before (elsewhere or an earlier page): this meter's copy needs no forget
      this.repo.setRouteInTx(meterId, a.id, 'done');
    }
  }

  /**
   * One round on the power line: every meter with commands to send, answers owed, commands to
   * forget or an ackBelow to deliver gets one H = 57 exchange. A meter's failure is its own (an
   * event, and the next round asks again); nothing is lost by it (rules 4, 5).
   * @param meters the meters to exchange with (default: those with work).
   * @throws Error when this service has no link.
   */
  async relayOnce(meters?: readonly string[]): Promise<RelayMeterResult[]> {
    const link = this.link;
    if (!link) throw new Error('this relay has no power-line link');
    const out: RelayMeterResult[] = [];
    for (const meterId of meters ?? this.repo.metersWithWork()) {
      const total: RelayMeterResult = {
        meterId,
        sent: 0,
        answersStored: 0,
        waiting: 0,
        readingsStored: 0,
        stray: 0,
      };
      for (let page = 0; page < RELAY_PAGES_PER_ROUND; page++) {
        const message = this.messageFor(meterId);
        let reply: RelayReply;
        try {
          reply = await link.exchange(meterId, message);
        } catch (e) {
          total.error = e instanceof Error ? e.message : String(e);
          this.db.event({ kind: 'relay-exchange-failed', meterId, detail: total.error });
          break;
        }
        const r = this.absorb(meterId, message, reply);
        total.sent += message.commands.length;
        total.answersStored += r.answersStored;
        total.waiting += r.waiting;
        total.readingsStored += r.readingsStored;
        total.stray += r.stray;
        if (reply.more) continue;
        // nothing left to send, or the meter refused FULL all it was sent: no more pages this round
        const again = this.repo.toSend(meterId, CARD_COMMANDS_PER_MESSAGE).map((c) => c.id);
        if (again.length === 0 || again.join() === message.commands.map((c) => c.id).join()) break;
      }
      out.push(total);
    }
    return out;
  }
}
