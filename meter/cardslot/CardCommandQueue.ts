/**
 * The meter's queue of card commands (issue 17; docs/host-protocol.md "Card commands (H = 57)"):
 * commands a utility signed for a card (REMOTE LOAD, PUT CONFIG, CLEAR READINGS under K_remote of
 * that card's purse), brought by the host over the power line, handed to the card at its next
 * insertion, and the card's answers taken back — with the offline readings (SFI 04) other utilities'
 * meters left on the card. Part of the card slot's non-volatile state.
 *
 * ```
 *  H = 57 in     ackBelow → outbox entries below it dropped; forget ids → dropped from the queue;
 *                each command stored once per id (bounded: CARD_COMMAND_CAPACITY in all and
 *                CARD_COMMAND_PURSE_QUOTA per purse, beyond → FULL)
 *  insertion     every queued command of that CSN in id order, one APDU each:
 *                80 INS 00 P2 Lc data 00; a final answer → outbox; REMOTE LOAD 9409 / 9402 / 6985
 *                (and any answer that is not definite) → stays queued with its last SW ("waiting");
 *                then READ RECORD 00 B2 n 24 00 of the card's other purses → new readings → outbox
 *  H = 57 out    status reports of this message, the outbox from its oldest entry, waiting commands
 * ```
 * Why nothing is lost or done twice:
 * - A card pulled (CardChannelError) at any APDU leaves the command queued: nothing in this queue
 *   changes until the card's answer is in. Re-delivered, a REMOTE LOAD the card had committed
 *   answers 02 "already applied" with the same receipt (the card's sequence rule), so it is never
 *   credited twice, and the receipt still reaches the host.
 * - An answer leaves the meter only when the host acknowledges it: entries carry an outbox sequence
 *   number, each page is a prefix of what the meter holds, and `ackBelow` drops entries below it —
 *   so an answer message lost on the line is sent again, never lost (as the clearing journal does).
 *   An `ackBelow` above every number the meter ever reported is cut to that (a host bug must not
 *   drop entries it never saw).
 * - Delivery stops while the outbox is full of answers: the command then waits in the queue, and
 *   the card keeps its readings, so a host that does not collect loses nothing either.
 */
import type { CardChannel } from '../../reader/index.js';
import { CommandApdu, INS_READ_RECORD, SW_NO_ERROR, equalBytes, fromHex, toHex } from '../../card/index.js';
import {
  CARD_ANSWERS_PER_MESSAGE,
  CARD_ANSWER_MAX_DATA,
  CARD_COMMAND_CAPACITY,
  CARD_COMMAND_PURSE_QUOTA,
  CARD_COMMAND_LC,
  CARD_COMMAND_MAX_LC,
  CARD_INS_CLEAR_READINGS,
  CARD_INS_REMOTE_LOAD,
  CARD_READINGS_PER_MESSAGE,
  OFFLINE_READING_LENGTH,
  OUTCOME_CARD,
  OUTCOME_REFUSED,
  OUTCOME_WAITING,
  REFUSED_FULL,
  REFUSED_INS,
  REFUSED_LENGTH,
  type CardAnswer,
  type CardCommand,
  type CardCommandsBody,
  type CardCommandsRequest,
  type OfflineReadingWire,
} from '../../protocol/index.js';

/** Final card answers the outbox holds at most; delivery waits while it is full. */
export const CARD_OUTBOX_ANSWERS = 64;
/** Readings the outbox holds at most; beyond, they stay on the card for a later insertion. */
export const CARD_OUTBOX_READINGS = 32;
/** Relay ids of finished commands remembered (a repeat of one is ignored). */
export const CARD_FINISHED_MEMORY = 256;
/** Readings remembered as collected (CSN ‖ purse ‖ record MAC), so one is sent once. */
export const CARD_SEEN_READINGS = 256;

/** SFI of the offline readings on the subscriber card (card/applets/constants.ts SFI_OFFLINE_READINGS). */
const SFI_READINGS = 0x04;
/**
 * Card status words the queue tells apart (card/iso7816/sw.ts, card/applets/constants.ts):
 * definite answers end a command; the rest leave it waiting.
 */
const SW_VERIFICATION_FAILED = 0x6300;
const SW_WRONG_LENGTH = 0x6700;
const SW_CONDITIONS_NOT_SATISFIED = 0x6985;
const SW_WRONG_DATA = 0x6a80;
const SW_INCORRECT_P1P2 = 0x6a86;
const SW_NOT_ENOUGH_MEMORY = 0x6a84; // PUT CONFIG for a purse without offline records
const SW_REFERENCED_DATA_NOT_FOUND = 0x6a88;
const SW_INS_NOT_SUPPORTED = 0x6d00;
const SW_CLA_NOT_SUPPORTED = 0x6e00;
const SW_MAX_BALANCE_EXCEEDED = 0x9402;
const SW_COUNTER_EXHAUSTED = 0x9404;
const SW_REPLAY = 0x9407;
const SW_REMOTE_LOAD_GAP = 0x9409;
const DEFINITE: ReadonlySet<number> = new Set([
  SW_NO_ERROR,
  SW_VERIFICATION_FAILED,
  SW_WRONG_LENGTH,
  SW_WRONG_DATA,
  SW_INCORRECT_P1P2,
  SW_NOT_ENOUGH_MEMORY,
  SW_REFERENCED_DATA_NOT_FOUND,
  SW_INS_NOT_SUPPORTED,
  SW_CLA_NOT_SUPPORTED,
  SW_COUNTER_EXHAUSTED,
  SW_REPLAY,
]);

/**
 * Whether the card's `sw` to `ins` ends the command. A REMOTE LOAD refused for a gap (9409), a full
 * purse (9402) or a blocked purse (6985) becomes applicable later; anything not definite (6F00, a
 * status the card should not give) is worth another try — a REMOTE LOAD or CLEAR READINGS cannot
 * act twice, a PUT CONFIG answers 9407 the second time.
 */
export function isFinalCardAnswer(ins: number, sw: number): boolean {
  if (ins === CARD_INS_CLEAR_READINGS && sw === SW_CONDITIONS_NOT_SATISFIED) return true;
  if (ins === CARD_INS_REMOTE_LOAD && sw === SW_REMOTE_LOAD_GAP) return false;
  if (sw === SW_MAX_BALANCE_EXCEEDED) return false;
  return DEFINITE.has(sw);
}

interface Queued {
  readonly id: number;
  readonly csn: Uint8Array;
  readonly ins: number;
  readonly p2: number;
  readonly data: Uint8Array;
  /** The card's last answer when it was not final. */
  lastSw?: number;
}
type OutboxEntry =
  | {
      readonly seq: number;
      readonly kind: 'answer';
      readonly id: number;
      readonly sw: number;
      readonly data: Uint8Array;
    }
  | {
      readonly seq: number;
      readonly kind: 'reading';
      readonly csn: Uint8Array;
      readonly purse: number;
      readonly record: Uint8Array;
    };

/** JSON form (inside MeterCardSlot.saveState()). */
export interface CardCommandQueueState {
  nextSeq: number;
  /** Highest `next` ever put in an answer (the most an ackBelow may say). */
  reported: number;
  queue: Array<{ id: number; csn: string; ins: number; p2: number; data: string; lastSw?: number }>;
  outbox: Array<
    | { seq: number; kind: 'answer'; id: number; sw: number; data: string }
    | { seq: number; kind: 'reading'; csn: string; purse: number; record: string }
  >;
  finished: number[];
  seen: string[];
}

/** What one delivery did (for the slot, its display and tests). */
export interface DeliveryReport {
  /** Relay ids whose final answer went to the outbox, in the order delivered. */
  readonly answered: number[];
  /** Relay ids the card answered with a non-final SW (still queued), with that SW. */
  readonly waiting: Array<{ id: number; sw: number }>;
  /** New readings put in the outbox. */
  readings: number;
  /** Commands of this card left untried because the outbox is full. */
  deferred: number;
}

function int(v: unknown, lo: number, hi: number, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi)
    throw new RangeError(`${name} must be an integer ${lo}..${hi}`);
  return v;
}
function hexOf(v: unknown, lo: number, hi: number, name: string): Uint8Array {
  if (typeof v !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(v)) throw new RangeError(`${name} must be hex`);
  const b = fromHex(v);
  if (b.length < lo || b.length > hi) throw new RangeError(`${name} must be ${lo}..${hi} bytes`);
  return b;
}
function readingKey(csn: Uint8Array, purse: number, record: Uint8Array): string {
  return `${toHex(csn)}${purse.toString(16).padStart(2, '0')}${toHex(record.subarray(135, 143))}`.toUpperCase();
}

export class CardCommandQueue {
  #nextSeq = 1;
  #reported = 1;
  #queue: Queued[] = [];
  #outbox: OutboxEntry[] = [];
  #finished: number[] = [];
  #seen: string[] = [];

  /** Commands held. */
  get size(): number {
    return this.#queue.length;
  }
  /** Outbox entries held (answers and readings not yet acknowledged). */
  get outboxSize(): number {
    return this.#outbox.length;
  }
  /** The relay ids queued for `csn` (all when absent), in id order. */
  queuedIds(csn?: Uint8Array): number[] {
    return this.#queue.filter((q) => !csn || equalBytes(q.csn, csn)).map((q) => q.id);
  }

  #answersHeld(): number {
    return this.#outbox.reduce((n, e) => n + (e.kind === 'answer' ? 1 : 0), 0);
  }
  #readingsHeld(): number {
    return this.#outbox.length - this.#answersHeld();
  }
  /**
   * The u32 outbox sequence is used up (the last number is kept for `next`): nothing more is taken
   * in — commands wait, readings stay on the cards — rather than a number being used twice.
   */
  #seqUsedUp(): boolean {
    return this.#nextSeq >= 0xffffffff;
  }
  #knows(id: number): boolean {
    return (
      this.#finished.includes(id) ||
      this.#queue.some((q) => q.id === id) ||
      this.#outbox.some((e) => e.kind === 'answer' && e.id === id)
    );
  }
  #finish(id: number): void {
    this.#finished.push(id);
    if (this.#finished.length > CARD_FINISHED_MEMORY) this.#finished.shift();
  }

  /**
   * Stores a command (the host's H = 57). @returns undefined when stored or already known (a repeated
   * id changes nothing), else the refusal reason (REFUSED_*; nothing stored).
   * @throws RangeError/TypeError for an argument that is not a command at all.
   */
  enqueue(c: CardCommand): number | undefined {
    if (!Number.isInteger(c.id) || c.id < 1 || c.id > 0xffffffff)
      throw new RangeError(`id must be a u32 ≥ 1`);
    if (!(c.csn instanceof Uint8Array) || c.csn.length !== 8) throw new RangeError('csn must be 8 bytes');
    if (!(c.data instanceof Uint8Array) || c.data.length > CARD_COMMAND_MAX_LC)
      throw new RangeError(`data must be at most ${CARD_COMMAND_MAX_LC} bytes`);
    if (!Number.isInteger(c.p2) || c.p2 < 0 || c.p2 > 0xff) throw new RangeError('p2 must be a byte');
    if (this.#knows(c.id)) return undefined;
    const lc = CARD_COMMAND_LC[c.ins];
    if (lc === undefined) return REFUSED_INS;
    if (c.data.length !== lc) return REFUSED_LENGTH;
    if (this.#queue.length >= CARD_COMMAND_CAPACITY) return REFUSED_FULL;
    // One utility's backlog (a card that never comes, a gap that never fills) never starves another.
    if (this.#queue.filter((x) => x.p2 === c.p2).length >= CARD_COMMAND_PURSE_QUOTA) return REFUSED_FULL;
    const q: Queued = { id: c.id, csn: c.csn.slice(), ins: c.ins, p2: c.p2, data: c.data.slice() };
    const at = this.#queue.findIndex((x) => x.id > c.id);
    if (at < 0) this.#queue.push(q);
    else this.#queue.splice(at, 0, q);
    return undefined;
  }

  /** The host stored every entry below `ackBelow` (cut to what was ever reported): they go. */
  acknowledge(ackBelow: number): void {
    const below = Math.min(ackBelow, this.#reported);
    this.#outbox = this.#outbox.filter((e) => e.seq >= below);
  }

  /** Drops queued commands the host needs no more (it holds their final answer). */
  forget(ids: readonly number[]): void {
    for (const id of ids) {
      const i = this.#queue.findIndex((q) => q.id === id);
      if (i >= 0) {
        this.#queue.splice(i, 1);
        this.#finish(id);
      }
    }
  }

  /**
   * One authenticated H = 57: acknowledgement, forget list, commands stored, then the answer page —
   * this message's refusals, the outbox from its oldest entry (a prefix: at most
   * CARD_ANSWERS_PER_MESSAGE answers and CARD_READINGS_PER_MESSAGE readings), then as many waiting
   * commands as fit.
   */
  serve(req: CardCommandsRequest): CardCommandsBody {
    this.acknowledge(req.ackBelow);
    this.forget(req.forget);
    const answers: CardAnswer[] = [];
    for (const c of req.commands) {
      const refused = this.enqueue(c);
      if (refused !== undefined)
        answers.push({ seq: 0, id: c.id, outcome: OUTCOME_REFUSED, sw: refused, data: new Uint8Array(0) });
    }
    const readings: OfflineReadingWire[] = [];
    let next = this.#outbox[0]?.seq ?? this.#nextSeq;
    let more = false;
    for (const e of this.#outbox) {
      if (
        e.kind === 'answer'
          ? answers.length >= CARD_ANSWERS_PER_MESSAGE
          : readings.length >= CARD_READINGS_PER_MESSAGE
      ) {
        more = true;
        break;
      }
      if (e.kind === 'answer')
        answers.push({ seq: e.seq, id: e.id, outcome: OUTCOME_CARD, sw: e.sw, data: e.data.slice() });
      else readings.push({ seq: e.seq, csn: e.csn.slice(), purse: e.purse, record: e.record.slice() });
      next = e.seq + 1;
    }
    for (const q of this.#queue) {
      if (answers.length >= CARD_ANSWERS_PER_MESSAGE) break;
      if (q.lastSw !== undefined)
        answers.push({ seq: 0, id: q.id, outcome: OUTCOME_WAITING, sw: q.lastSw, data: new Uint8Array(0) });
    }
    this.#reported = Math.max(this.#reported, next);
    return { queued: this.#queue.length, next, more, answers, readings };
  }

  /**
   * At the insertion of card `csn` (after SELECT): every queued command of that card in id order;
   * a REMOTE LOAD refused for a gap is tried again in the same insertion once another command of
   * the card went through (seq 2 queued before seq 1 is applied right after it). Then, with
   * `readings`, READ RECORD SFI 04 of each purse of the card's FCI list other than `own`.
   * Nothing here changes before the card's answer is in.
   * @throws CardChannelError when the card goes (the command it was given stays queued).
   */
  async deliver(
    card: CardChannel,
    csn: Uint8Array,
    readings?: { readonly purses: readonly number[]; readonly own: number },
  ): Promise<DeliveryReport> {
    const report: DeliveryReport = { answered: [], waiting: [], readings: 0, deferred: 0 };
    let round = this.#queue.filter((q) => equalBytes(q.csn, csn));
    while (round.length > 0) {
      let progress = false;
      for (const q of round) {
        if (this.#answersHeld() >= CARD_OUTBOX_ANSWERS || this.#seqUsedUp()) {
          report.deferred = this.queuedIds(csn).length;
          return report; // the host has not collected: the card's readings wait too
        }
        const r = await card.transmit(
          new CommandApdu({ cla: 0x80, ins: q.ins, p1: 0x00, p2: q.p2, data: q.data, ne: 256 }),
        );
        if (!isFinalCardAnswer(q.ins, r.sw)) {
          q.lastSw = r.sw;
          const w = report.waiting.find((x) => x.id === q.id);
          if (w) w.sw = r.sw;
          else report.waiting.push({ id: q.id, sw: r.sw });
          continue;
        }
        this.#queue = this.#queue.filter((x) => x !== q);
        this.#outbox.push({
          seq: this.#nextSeq++,
          kind: 'answer',
          id: q.id,
          sw: r.sw,
          data: r.data.slice(0, CARD_ANSWER_MAX_DATA),
        });
        this.#finish(q.id);
        report.answered.push(q.id);
        const w = report.waiting.findIndex((x) => x.id === q.id);
        if (w >= 0) report.waiting.splice(w, 1);
        progress = true;
      }
      round = progress
        ? round.filter(
            (q) =>
              this.#queue.includes(q) && q.lastSw === SW_REMOTE_LOAD_GAP && q.ins === CARD_INS_REMOTE_LOAD,
          )
        : [];
    }
    if (readings) report.readings = await this.#collect(card, csn, readings.purses, readings.own);
    return report;
  }

  /** READ RECORD 00 B2 n 24 00 of the card's purses but `own`; new, well-formed records kept. */
  async #collect(
    card: CardChannel,
    csn: Uint8Array,
    purses: readonly number[],
    own: number,
  ): Promise<number> {
    let added = 0;
    for (let i = 0; i < purses.length && i < 255; i++) {
      const purse = purses[i]!;
      if (purse === own) continue;
      if (this.#readingsHeld() >= CARD_OUTBOX_READINGS || this.#seqUsedUp()) break;
      const r = await card.transmit(
        new CommandApdu({ cla: 0x00, ins: INS_READ_RECORD, p1: i + 1, p2: (SFI_READINGS << 3) | 4, ne: 256 }),
      );
      const rec = r.data;
      // none written / cleared (all zero), an old card without the file, or not this purse's record
      if (r.sw !== SW_NO_ERROR || rec.length !== OFFLINE_READING_LENGTH || rec.every((b) => b === 0))
        continue;
      if (rec[0] !== 0x01 || rec[4] !== purse) continue;
      const key = readingKey(csn, purse, rec);
      if (this.#seen.includes(key)) continue;
      this.#seen.push(key);
      if (this.#seen.length > CARD_SEEN_READINGS) this.#seen.shift();
      this.#outbox.push({
        seq: this.#nextSeq++,
        kind: 'reading',
        csn: csn.slice(),
        purse,
        record: rec.slice(),
      });
      added++;
    }
    return added;
  }

  saveState(): CardCommandQueueState {
    return {
      nextSeq: this.#nextSeq,
      reported: this.#reported,
      queue: this.#queue.map((q) => ({
        id: q.id,
        csn: toHex(q.csn),
        ins: q.ins,
        p2: q.p2,
        data: toHex(q.data),
        ...(q.lastSw !== undefined ? { lastSw: q.lastSw } : {}),
      })),
      outbox: this.#outbox.map((e) =>
        e.kind === 'answer'
          ? { seq: e.seq, kind: e.kind, id: e.id, sw: e.sw, data: toHex(e.data) }
          : { seq: e.seq, kind: e.kind, csn: toHex(e.csn), purse: e.purse, record: toHex(e.record) },
      ),
      finished: [...this.#finished],
      seen: [...this.#seen],
    };
  }

  /**
   * Loads `saveState()` output, checked whole before anything is set: bounds, ids strictly
   * ascending in the queue and unique, outbox seqs strictly ascending below nextSeq, each command's
   * instruction and length as `enqueue` takes them.
   * @throws RangeError naming the bad field.
   */
  loadState(s: unknown): void {
    const n = 'state.commands';
    if (typeof s !== 'object' || s === null) throw new RangeError(`${n} must be an object`);
    const o = s as Record<string, unknown>;
    const nextSeq = int(o.nextSeq, 1, 0xffffffff, `${n}.nextSeq`);
    const reported = int(o.reported, 1, nextSeq, `${n}.reported`);
    if (!Array.isArray(o.queue) || o.queue.length > CARD_COMMAND_CAPACITY)
      throw new RangeError(`${n}.queue must be an array of at most ${CARD_COMMAND_CAPACITY}`);
    let lastId = 0;
    const queue = o.queue.map((x: unknown, i): Queued => {
      const m = `${n}.queue[${i}]`;
      if (typeof x !== 'object' || x === null) throw new RangeError(`${m} must be an object`);
      const e = x as Record<string, unknown>;
      const id = int(e.id, lastId + 1, 0xffffffff, `${m}.id`);
      lastId = id;
      const ins = int(e.ins, 0, 0xff, `${m}.ins`);
      const lc = CARD_COMMAND_LC[ins];
      if (lc === undefined) throw new RangeError(`${m}.ins ${ins} is not carried`);
      const q: Queued = {
        id,
        csn: hexOf(e.csn, 8, 8, `${m}.csn`),
        ins,
        p2: int(e.p2, 0, 0xff, `${m}.p2`),
        data: hexOf(e.data, lc, lc, `${m}.data`),
      };
      if (e.lastSw !== undefined) q.lastSw = int(e.lastSw, 0, 0xffff, `${m}.lastSw`);
      return q;
    });
    if (!Array.isArray(o.outbox) || o.outbox.length > CARD_OUTBOX_ANSWERS + CARD_OUTBOX_READINGS)
      throw new RangeError(`${n}.outbox must be an array within the outbox bounds`);
    let lastSeq = 0;
    const outbox = o.outbox.map((x: unknown, i): OutboxEntry => {
      const m = `${n}.outbox[${i}]`;
      if (typeof x !== 'object' || x === null) throw new RangeError(`${m} must be an object`);
      const e = x as Record<string, unknown>;
      const seq = int(e.seq, lastSeq + 1, nextSeq - 1, `${m}.seq`);
      lastSeq = seq;
      if (e.kind === 'answer')
        return {
          seq,
          kind: 'answer',
          id: int(e.id, 1, 0xffffffff, `${m}.id`),
          sw: int(e.sw, 0, 0xffff, `${m}.sw`),
          data: hexOf(e.data, 0, CARD_ANSWER_MAX_DATA, `${m}.data`),
        };
      if (e.kind === 'reading')
        return {
          seq,
          kind: 'reading',
          csn: hexOf(e.csn, 8, 8, `${m}.csn`),
          purse: int(e.purse, 0, 0xff, `${m}.purse`),
          record: hexOf(e.record, OFFLINE_READING_LENGTH, OFFLINE_READING_LENGTH, `${m}.record`),
        };
      throw new RangeError(`${m}.kind must be answer or reading`);
    });
    const answers = outbox.filter((e) => e.kind === 'answer');
    if (answers.length > CARD_OUTBOX_ANSWERS || outbox.length - answers.length > CARD_OUTBOX_READINGS)
      throw new RangeError(`${n}.outbox holds more than its bounds`);
    const ids = new Set(queue.map((q) => q.id));
    for (const a of answers) {
      if (a.kind !== 'answer') continue;
      if (ids.has(a.id)) throw new RangeError(`${n}: id ${a.id} is queued or answered twice`);
      ids.add(a.id);
    }
    if (!Array.isArray(o.finished) || o.finished.length > CARD_FINISHED_MEMORY)
      throw new RangeError(`${n}.finished must be an array of at most ${CARD_FINISHED_MEMORY}`);
    const finished = o.finished.map((x, i) => int(x, 1, 0xffffffff, `${n}.finished[${i}]`));
    if (!Array.isArray(o.seen) || o.seen.length > CARD_SEEN_READINGS)
      throw new RangeError(`${n}.seen must be an array of at most ${CARD_SEEN_READINGS}`);
    const seen = o.seen.map((x, i) => {
      if (typeof x !== 'string' || !/^[0-9A-F]{34}$/.test(x))
        throw new RangeError(`${n}.seen[${i}] must be CSN ‖ purse ‖ MAC, hex upper case`);
      return x;
    });
    this.#nextSeq = nextSeq;
    this.#reported = reported;
    this.#queue = queue;
    this.#outbox = outbox;
    this.#finished = finished;
    this.#seen = seen;
  }
}
