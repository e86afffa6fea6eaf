/**
 * Payloads of the card-command relay over the power line (issue 17; docs/host-protocol.md "Card
 * commands (H = 57)"). A utility u (gas, water, heat) signs commands for one purse of one card under
 * K_remote[u](CSN) — REMOTE LOAD, PUT CONFIG, CLEAR READINGS; the electricity host carries them to
 * the subscriber's electricity meter, whose card slot hands them to the card at its next insertion
 * and brings the card's answers back, with the offline readings it found on cards. Nobody on the way
 * holds a key that could make, enlarge, redirect or repeat a command: they are opaque here.
 *
 * Carried like H = 55/56: an authenticated COMMAND (S2h over H ‖ R3 ‖ payload), answered by an M the
 * meter's SAM encrypts under Ks with `Balance u32 ‖ ID(3)` appended. All integers big-endian.
 *
 * ```
 *  H=57 payload   ackBelow u32 ‖ nC(1) ≤ 16 ‖ command × nC ‖ nF(1) ≤ 64 ‖ forget id u32 × nF
 *     command     id u32 ‖ CSN(8) ‖ ins(1) ‖ p2(1) ‖ Lc(1) ≤ 64 ‖ data(Lc)        ids strictly ascending
 *  H=57 answer    status(1)=00 ‖ queued u16 ‖ next u32 ‖ more(1)
 *                 ‖ nA(1) ≤ 24 ‖ answer × nA ‖ nR(1) ≤ 8 ‖ reading × nR ‖ Balance u32 ‖ ID(3)
 *     answer      seq u32 ‖ id u32 ‖ outcome(1) ‖ sw u16 ‖ len(1) ≤ 64 ‖ data(len)
 *     reading     seq u32 ‖ CSN(8) ‖ purse(1) ‖ SFI 04 record(144)
 * ```
 * `seq` numbers the meter's outbox (final answers and readings share one counter, from 1): the host
 * stores an entry once per seq, and its next `ackBelow` = the `next` of the last page it stored lets
 * the meter drop everything below. A status report (outcome 01 refused by the meter, 02 waiting) is
 * not kept by the meter and has seq 0.
 *
 * Decoders throw only MalformedDataError (kind 'host-payload') with the offset of the fault;
 * encoders throw RangeError/TypeError naming the field.
 */
import { concatBytes } from '../card/index.js';
import { be16, be32 } from '../card/index.js';
import { CSN_LENGTH } from './clearing.js';
import { MAX_PAYLOAD, METER_ID_LENGTH } from './constants.js';
import { PayloadReader } from './payloads.js';

/** Card instructions (CLA 80) a utility may send through the relay, with the Lc each takes. */
export const CARD_INS_REMOTE_LOAD = 0x56;
export const CARD_INS_PUT_CONFIG = 0x58;
export const CARD_INS_CLEAR_READINGS = 0x5a;
export const CARD_COMMAND_LC: Readonly<Record<number, number>> = {
  [CARD_INS_REMOTE_LOAD]: 26,
  [CARD_INS_PUT_CONFIG]: 44,
  [CARD_INS_CLEAR_READINGS]: 16,
};

/** Most commands in one H = 57 payload. */
export const CARD_COMMANDS_PER_MESSAGE = 16;
/** Largest data field of a carried command (the largest real one, PUT CONFIG, is 44). */
export const CARD_COMMAND_MAX_LC = 64;
/** Most ids in one payload's forget list. */
export const CARD_FORGET_MAX = 64;
/** Most answers / readings in one H = 57 answer. */
export const CARD_ANSWERS_PER_MESSAGE = 24;
export const CARD_READINGS_PER_MESSAGE = 8;
/** Largest answer data passed on (REMOTE LOAD answers 15 bytes; anything longer is cut here). */
export const CARD_ANSWER_MAX_DATA = 64;
/** Commands the meter holds (waiting for their card); beyond it a command is refused FULL. */
export const CARD_COMMAND_CAPACITY = 64;
/**
 * The most commands of one purse (one utility) a meter holds at once: a quarter of its capacity, so
 * the four utilities that sell through an electricity meter (gas, water, heat, hot water) each keep
 * room however many commands another one has waiting there (answered FULL beyond it, sent again later).
 */
export const CARD_COMMAND_PURSE_QUOTA = 16;
/** An SFI 04 offline-readings record (docs/purse-spec.md, issue 17). */
export const OFFLINE_READING_LENGTH = 144;

/** Answer status. */
export const CARD_COMMANDS_OK = 0x00;
/** Answer outcomes. */
/** The card answered: sw and data are the card's; final (the meter delivers it no more). */
export const OUTCOME_CARD = 0x00;
/** The meter refused the command without storing it: sw holds a REFUSED_* reason; data empty. */
export const OUTCOME_REFUSED = 0x01;
/**
 * Not final: the command stays queued; sw is the card's last answer (REMOTE LOAD 9409 gap, 9402
 * purse full, 6985 purse blocked, or a transient fault). Data empty. Reported at every H = 57.
 */
export const OUTCOME_WAITING = 0x02;
export const OUTCOME_NAMES: Readonly<Record<number, string>> = {
  0: 'card answered',
  1: 'refused by the meter',
  2: 'waiting',
};
/** Reasons of OUTCOME_REFUSED (in the sw field). */
export const REFUSED_FULL = 0x0001;
export const REFUSED_INS = 0x0002;
export const REFUSED_LENGTH = 0x0003;
export const REFUSED_NAMES: Readonly<Record<number, string>> = {
  1: 'queue full (send it again later)',
  2: 'instruction not carried',
  3: 'wrong data length for the instruction',
};

export interface CardCommand {
  /** The host's relay id, unique for ever (u32, ≥ 1). */
  readonly id: number;
  readonly csn: Uint8Array;
  readonly ins: number;
  /** P2 = the purse id. */
  readonly p2: number;
  /** The command's data field (0..CARD_COMMAND_MAX_LC bytes), opaque to the carriers. */
  readonly data: Uint8Array;
}

export interface CardCommandsRequest {
  /** The meter may drop outbox entries with seq below it (the host stored them). */
  readonly ackBelow: number;
  readonly commands: readonly CardCommand[];
  /** Relay ids the meter drops from its queue (the host holds their final answer already). */
  readonly forget: readonly number[];
}

export type CardAnswerOutcome = typeof OUTCOME_CARD | typeof OUTCOME_REFUSED | typeof OUTCOME_WAITING;

export interface CardAnswer {
  /** Outbox sequence number (≥ 1) of a final card answer; 0 for a status report. */
  readonly seq: number;
  readonly id: number;
  readonly outcome: CardAnswerOutcome;
  readonly sw: number;
  readonly data: Uint8Array;
}

export interface OfflineReadingWire {
  readonly seq: number;
  readonly csn: Uint8Array;
  readonly purse: number;
  /** The card's SFI 04 record as read (MAC'd by the offline meter: the utility checks it). */
  readonly record: Uint8Array;
}

/** The meter core's answer (what its SAM encrypts, before Balance ‖ ID). */
export interface CardCommandsBody {
  /** Commands the meter holds now. */
  readonly queued: number;
  /** The ackBelow the host sends once it stored this page (seq after the last entry listed). */
  readonly next: number;
  /** Outbox entries at or above `next` remain. */
  readonly more: boolean;
  readonly answers: readonly CardAnswer[];
  readonly readings: readonly OfflineReadingWire[];
}
export interface CardCommandsAnswer extends CardCommandsBody {
  readonly balance: number;
  readonly id: Uint8Array;
}

function intArg(v: number, lo: number, hi: number, name: string): void {
  if (!Number.isInteger(v) || v < lo || v > hi)
    throw new RangeError(`${name} must be ${lo}..${hi}, got ${v}`);
}
function bytesArg(b: Uint8Array, lo: number, hi: number, name: string): void {
  if (!(b instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (b.length < lo || b.length > hi)
    throw new RangeError(`${name} must be ${lo === hi ? lo : `${lo}..${hi}`} bytes, got ${b.length}`);
}
function ascending(ids: readonly number[], name: string): void {
  ids.forEach((id, i) => {
    intArg(id, 1, 0xffffffff, `${name}[${i}]`);
    if (i > 0 && ids[i - 1]! >= id) throw new RangeError(`${name} must ascend strictly (at ${i})`);
  });
}

/** Bytes one command takes in a payload. */
export function cardCommandSize(c: CardCommand): number {
  return 4 + CSN_LENGTH + 3 + c.data.length;
}

/**
 * @throws RangeError/TypeError naming the field: counts over their bounds, ids not strictly
 *   ascending or 0, Lc over CARD_COMMAND_MAX_LC, the payload over MAX_PAYLOAD.
 */
export function encodeCardCommandsRequest(r: CardCommandsRequest): Uint8Array {
  intArg(r.ackBelow, 0, 0xffffffff, 'ackBelow');
  if (r.commands.length > CARD_COMMANDS_PER_MESSAGE)
    throw new RangeError(`commands must hold at most ${CARD_COMMANDS_PER_MESSAGE}`);
  if (r.forget.length > CARD_FORGET_MAX) throw new RangeError(`forget must hold at most ${CARD_FORGET_MAX}`);
  ascending(
    r.commands.map((c) => c.id),
    'commands.id',
  );
  ascending(r.forget, 'forget');
  const parts: Uint8Array[] = [be32(r.ackBelow), Uint8Array.of(r.commands.length)];
  r.commands.forEach((c, i) => {
    bytesArg(c.csn, CSN_LENGTH, CSN_LENGTH, `commands[${i}].csn`);
    intArg(c.ins, 0, 0xff, `commands[${i}].ins`);
    intArg(c.p2, 0, 0xff, `commands[${i}].p2`);
    bytesArg(c.data, 0, CARD_COMMAND_MAX_LC, `commands[${i}].data`);
    parts.push(be32(c.id), c.csn, Uint8Array.of(c.ins, c.p2, c.data.length), c.data);
  });
  parts.push(Uint8Array.of(r.forget.length), ...r.forget.map((id) => be32(id)));
  const out = concatBytes(...parts);
  if (out.length > MAX_PAYLOAD) throw new RangeError(`card-commands payload over ${MAX_PAYLOAD} bytes`);
  return out;
}

/** @throws MalformedDataError (kind 'host-payload') with the offset of the fault. */
export function decodeCardCommandsRequest(b: Uint8Array): CardCommandsRequest {
  const r = new PayloadReader(b, 'card commands');
  if (b.length > MAX_PAYLOAD) r.fail(`longer than ${MAX_PAYLOAD} bytes`, MAX_PAYLOAD);
  const ackBelow = r.u32('ackBelow');
  const nAt = r.off;
  const n = r.u8('command count');
  if (n > CARD_COMMANDS_PER_MESSAGE) r.fail(`command count ${n} > ${CARD_COMMANDS_PER_MESSAGE}`, nAt);
  const commands: CardCommand[] = [];
  let last = 0;
  for (let i = 0; i < n; i++) {
    const at = r.off;
    const id = r.u32(`commands[${i}].id`);
    if (id <= last) r.fail(`commands[${i}].id ${id} is 0 or does not ascend`, at);
    last = id;
    const csn = r.take(CSN_LENGTH, `commands[${i}].csn`);
    const ins = r.u8(`commands[${i}].ins`);
    const p2 = r.u8(`commands[${i}].p2`);
    const lcAt = r.off;
    const lc = r.u8(`commands[${i}].Lc`);
    if (lc > CARD_COMMAND_MAX_LC) r.fail(`commands[${i}].Lc ${lc} > ${CARD_COMMAND_MAX_LC}`, lcAt);
    commands.push({ id, csn, ins, p2, data: r.take(lc, `commands[${i}].data`) });
  }
  const fAt = r.off;
  const nf = r.u8('forget count');
  if (nf > CARD_FORGET_MAX) r.fail(`forget count ${nf} > ${CARD_FORGET_MAX}`, fAt);
  const forget: number[] = [];
  for (let i = 0; i < nf; i++) {
    const at = r.off;
    const id = r.u32(`forget[${i}]`);
    if (id <= (forget[i - 1] ?? 0)) r.fail(`forget[${i}] ${id} is 0 or does not ascend`, at);
    forget.push(id);
  }
  r.end();
  return { ackBelow, commands, forget };
}

/** Bytes an answer body takes (for the SAM's limit: MAX_M = 8192 holds the largest, ~3.1 kB). */
export function cardAnswerSize(a: CardAnswer): number {
  return 4 + 4 + 1 + 2 + 1 + a.data.length;
}
export const OFFLINE_READING_WIRE_SIZE = 4 + CSN_LENGTH + 1 + OFFLINE_READING_LENGTH;

function checkAnswer(a: CardAnswer, next: number, name: string): void {
  intArg(a.id, 1, 0xffffffff, `${name}.id`);
  if (a.outcome !== OUTCOME_CARD && a.outcome !== OUTCOME_REFUSED && a.outcome !== OUTCOME_WAITING)
    throw new RangeError(`${name}.outcome must be 0, 1 or 2, got ${a.outcome}`);
  intArg(a.sw, 0, 0xffff, `${name}.sw`);
  bytesArg(a.data, 0, a.outcome === OUTCOME_CARD ? CARD_ANSWER_MAX_DATA : 0, `${name}.data`);
  if (a.outcome === OUTCOME_CARD) intArg(a.seq, 1, next - 1, `${name}.seq`);
  else intArg(a.seq, 0, 0, `${name}.seq`);
  if (a.outcome === OUTCOME_REFUSED && !(a.sw in REFUSED_NAMES))
    throw new RangeError(`${name}.sw must be a REFUSED_* reason, got ${a.sw}`);
}

/**
 * The meter core's answer body (before the SAM appends Balance ‖ ID).
 * @throws RangeError/TypeError naming the field: counts over their bounds, a final answer or a
 *   reading whose seq is not below `next`, seqs of kept entries not strictly ascending.
 */
export function encodeCardCommandsBody(a: CardCommandsBody): Uint8Array {
  intArg(a.queued, 0, 0xffff, 'queued');
  intArg(a.next, 1, 0xffffffff, 'next');
  if (a.answers.length > CARD_ANSWERS_PER_MESSAGE)
    throw new RangeError(`answers must hold at most ${CARD_ANSWERS_PER_MESSAGE}`);
  if (a.readings.length > CARD_READINGS_PER_MESSAGE)
    throw new RangeError(`readings must hold at most ${CARD_READINGS_PER_MESSAGE}`);
  const parts: Uint8Array[] = [
    Uint8Array.of(CARD_COMMANDS_OK),
    be16(a.queued),
    be32(a.next),
    Uint8Array.of(a.more ? 1 : 0, a.answers.length),
  ];
  let last = 0;
  a.answers.forEach((x, i) => {
    checkAnswer(x, a.next, `answers[${i}]`);
    if (x.seq > 0) {
      if (x.seq <= last) throw new RangeError(`answers[${i}].seq must ascend strictly`);
      last = x.seq;
    }
    parts.push(
      be32(x.seq),
      be32(x.id),
      Uint8Array.of(x.outcome),
      be16(x.sw),
      Uint8Array.of(x.data.length),
      x.data,
    );
  });
  parts.push(Uint8Array.of(a.readings.length));
  last = 0;
  a.readings.forEach((x, i) => {
    intArg(x.seq, 1, a.next - 1, `readings[${i}].seq`);
    if (x.seq <= last) throw new RangeError(`readings[${i}].seq must ascend strictly`);
    last = x.seq;
    bytesArg(x.csn, CSN_LENGTH, CSN_LENGTH, `readings[${i}].csn`);
    intArg(x.purse, 0, 0xff, `readings[${i}].purse`);
    bytesArg(x.record, OFFLINE_READING_LENGTH, OFFLINE_READING_LENGTH, `readings[${i}].record`);
    parts.push(be32(x.seq), x.csn, Uint8Array.of(x.purse), x.record);
  });
  return concatBytes(...parts);
}

/**
 * Decodes a decrypted H = 57 answer (body ‖ Balance ‖ ID): status, bounds, outcomes, that a final
 * answer has a seq below `next` and a status report seq 0 and no data, kept entries' seqs strictly
 * ascending within each list and never shared between the lists.
 * @throws MalformedDataError (kind 'host-payload') with the offset of the fault.
 */
export function decodeCardCommandsAnswer(b: Uint8Array): CardCommandsAnswer {
  const r = new PayloadReader(b, 'card-commands answer');
  const status = r.u8('status');
  if (status !== CARD_COMMANDS_OK) r.fail(`unknown status ${status}`, 0);
  const queued = r.u16('queued');
  const next = r.u32('next');
  if (next === 0) r.fail('next 0', 3);
  const moreAt = r.off;
  const more = r.u8('more');
  if (more > 1) r.fail(`more ${more}`, moreAt);
  const nAt = r.off;
  const n = r.u8('answer count');
  if (n > CARD_ANSWERS_PER_MESSAGE) r.fail(`answer count ${n} > ${CARD_ANSWERS_PER_MESSAGE}`, nAt);
  const seqs = new Set<number>();
  const answers: CardAnswer[] = [];
  let last = 0;
  for (let i = 0; i < n; i++) {
    const at = r.off;
    const seq = r.u32(`answers[${i}].seq`);
    const idAt = r.off;
    const id = r.u32(`answers[${i}].id`);
    if (id === 0) r.fail(`answers[${i}].id 0`, idAt);
    const oAt = r.off;
    const outcome = r.u8(`answers[${i}].outcome`);
    if (!(outcome in OUTCOME_NAMES)) r.fail(`answers[${i}]: unknown outcome ${outcome}`, oAt);
    const sw = r.u16(`answers[${i}].sw`);
    if (outcome === OUTCOME_REFUSED && !(sw in REFUSED_NAMES))
      r.fail(`answers[${i}]: unknown refusal reason ${sw}`, oAt + 1);
    const lenAt = r.off;
    const len = r.u8(`answers[${i}].len`);
    const maxLen = outcome === OUTCOME_CARD ? CARD_ANSWER_MAX_DATA : 0;
    if (len > maxLen) r.fail(`answers[${i}].len ${len} > ${maxLen}`, lenAt);
    if (outcome === OUTCOME_CARD) {
      if (seq === 0 || seq >= next) r.fail(`answers[${i}].seq ${seq} outside 1..${next - 1}`, at);
      if (seq <= last) r.fail(`answers[${i}].seq ${seq} does not ascend`, at);
      last = seq;
      seqs.add(seq);
    } else if (seq !== 0) r.fail(`answers[${i}]: a status report has seq 0, got ${seq}`, at);
    answers.push({
      seq,
      id,
      outcome: outcome as CardAnswerOutcome,
      sw,
      data: r.take(len, `answers[${i}].data`),
    });
  }
  const rAt = r.off;
  const nr = r.u8('reading count');
  if (nr > CARD_READINGS_PER_MESSAGE) r.fail(`reading count ${nr} > ${CARD_READINGS_PER_MESSAGE}`, rAt);
  const readings: OfflineReadingWire[] = [];
  last = 0;
  for (let i = 0; i < nr; i++) {
    const at = r.off;
    const seq = r.u32(`readings[${i}].seq`);
    if (seq === 0 || seq >= next) r.fail(`readings[${i}].seq ${seq} outside 1..${next - 1}`, at);
    if (seq <= last || seqs.has(seq)) r.fail(`readings[${i}].seq ${seq} repeated or not ascending`, at);
    last = seq;
    const csn = r.take(CSN_LENGTH, `readings[${i}].csn`);
    const purse = r.u8(`readings[${i}].purse`);
    readings.push({ seq, csn, purse, record: r.take(OFFLINE_READING_LENGTH, `readings[${i}].record`) });
  }
  const balance = r.u32('Balance');
  const id = r.take(METER_ID_LENGTH, 'ID');
  r.end();
  return { queued, next, more: more === 1, answers, readings, balance, id };
}
