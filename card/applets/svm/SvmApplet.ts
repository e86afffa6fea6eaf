/**
 * The stored value module of a meter (docs/purse-spec.md §5): its credit register, credited from a
 * card purse only with a SAM authorisation AND the card's debit proof, emptied into the token
 * exchanger only with a SAM authorisation. It serves one utility (one purse id): it holds that
 * utility's MK_proof (to check card proofs) and its meter's K_svm; it cannot debit a card, and it
 * credits from its own utility's purse only.
 *
 * Counters: the SVM counter (u32) moves on every credit and token; at FFFFFFFF every operation that
 * would move it is refused before it starts (9404), so nothing is ever left half done; the balance
 * stays readable (READ STATE, signed for the host) for the issuer to move to a new SVM. Host
 * transaction ids: each is applied at most once for the SVM's whole life (strictly increasing).
 *
 * The card-to-SVM transfer spans two chips, so the SVM keeps a pending-transfer record from BEGIN
 * TRANSFER until the card's proof arrives (COMPLETE) or the card proves that the debit did not and
 * cannot happen (CANCEL), or the host settles it (HOST SETTLE, issue 13). There are
 * SVM_PENDING_SLOTS such records, one per card at most, so a stranger who pulls their card after
 * BEGIN holds one slot and blocks nobody; the room they reserve counts against the maximum until
 * the card or the host settles them. BEGIN takes the lowest free slot; COMPLETE and CANCEL name
 * theirs in P1 / P2. Slot 0 is stored under the one-slot image's key `v.pending`, so an SVM
 * personalised before issue 13 loads with its pending transfer in slot 0. Persistent records have
 * the prefix `v.`.
 *
 * The log (a ring of SVM_LOG_RECORDS records) leaves the meter by READ LOG (issue 13, §5.9): each
 * record numbered by a log sequence of its own (`v.log.seq`, written in the record's commit) and
 * MAC'd under K_svm with the meter id, so the meter only carries what the SVM wrote.
 */
import type { CommandApdu } from '../../iso7816/CommandApdu.js';
import { SwError } from '../../iso7816/errors.js';
import {
  SW_CONDITIONS_NOT_SATISFIED,
  SW_INCORRECT_P1P2,
  SW_INS_NOT_SUPPORTED,
  SW_REFERENCED_DATA_NOT_FOUND,
  SW_VERIFICATION_FAILED,
  SW_WRONG_DATA,
  SW_WRONG_LENGTH,
} from '../../iso7816/sw.js';
import type { BlockCipherProvider, Rng } from '../../crypto/types.js';
import { wipe } from '../../crypto/wipe.js';
import { concatBytes, equalBytes } from '../../util/hex.js';
import type { Application } from '../platform/RuntimeApplet.js';
import type { RecordStore, StoreWrite } from '../platform/RecordStore.js';
import { checkDateTime } from '../bytes.js';
import { be16, be32, u16, u32 } from '../../util/bigEndian.js';
import {
  AID_SVM,
  INS_BEGIN_TRANSFER,
  INS_CANCEL_TRANSFER,
  INS_COMPLETE_TRANSFER,
  INS_GET_CHALLENGE,
  INS_HOST_CREDIT,
  INS_READ_STATE,
  INS_TOKEN_REQUEST,
  SVM_LOG_RECORDS,
  SW_INSUFFICIENT_BALANCE,
  VS_CREDITED,
  VS_DUPLICATE,
  VS_REFUSED_MAX_BALANCE,
  SW_MAX_BALANCE_EXCEEDED,
  SW_NO_PENDING_TRANSFER,
  SW_REPLAY,
  SW_TRANSFER_PENDING,
  SW_COUNTER_EXHAUSTED,
  INS_HOST_SETTLE,
  INS_READ_PENDING,
  SETTLE_CANCEL,
  SETTLE_COMPLETE,
  SETTLED_CANCEL,
  SETTLED_COMPLETE,
  SETTLE_DUPLICATE,
  SETTLE_NO_SUCH_PENDING,
  SVM_PENDING_SLOTS,
  SW_PENDING_SLOTS_FULL,
  INS_READ_LOG,
  SVM_READ_LOG_MAX,
} from '../constants.js';
import {
  PurseCrypto,
  hostCreditAnswerInput,
  hostCreditAuthInput,
  svmStateMacInput,
  recordMacInput,
  statusMacInput,
  tokenAuthInput,
  tokenGrantInput,
  transferAuthInput,
  coreStateInput,
  hostSettleAnswerInput,
  hostSettleAuthInput,
  svmLogMacInput,
  pendingMacInput,
} from '../PurseCrypto.js';
import { checkPurse, deriveCoreKey, type SvmKeySet } from '../IssuerKeys.js';
import { LOG_TYPE_DEBIT, LOG_TYPE_LOAD, LOG_TYPE_REMOTE_LOAD, LogRecord } from '../purse/records.js';
import {
  PendingTransfer,
  SVM_LOG_CANCEL,
  SVM_LOG_CARD_CREDIT,
  SVM_LOG_HOST_CREDIT,
  SVM_LOG_SETTLE_CANCEL,
  SVM_LOG_SETTLE_COMPLETE,
  SVM_LOG_TOKEN,
  SettlePayload,
  SvmLogRecord,
  SvmRegister,
} from './records.js';

export const KEY_SVM_IDENTITY = 'v.identity';
export const KEY_SVM_KEYS = 'v.keys';
export const KEY_SVM_REGISTER = 'v.register';
export const KEY_SVM_PENDING = 'v.pending';
export const KEY_SVM_RECENT = 'v.recent';
export const KEY_SVM_LOG_HEAD = 'v.log.head';
export const KEY_SVM_HOST_TX = 'v.hosttx';
/**
 * Log sequence (issue 13, READ LOG): how many log records the SVM has ever written, u32. Record
 * number s (0-based) is the s-th record written; the ring holds the newest SVM_LOG_RECORDS of them.
 * Absent (a new SVM, or an image from before READ LOG), the count is the ring's fill: exact until
 * the ring first wraps, and for an older image that wrapped no host holds a cursor into a log it
 * could never read, so any consistent numbering is right. Every log write writes it.
 */
export const KEY_SVM_LOG_SEQ = 'v.log.seq';
/** READ LOG answer: oldest(4) ‖ next(4) ‖ n(1), then n × (record(29) ‖ MAC(8)). */
export const READ_LOG_HEADER = 9;
export const READ_LOG_ENTRY = 29 + 8;
/**
 * How many host transactions the SVM remembers with their balance after, to answer a repeat
 * "duplicate" with the original figure. Older ids are refused outright (9407): ids only grow.
 */
export const HOST_TX_REMEMBERED = 8;
const COUNTER_MAX = 0xffffffff;
const HOST_TX_ENTRY = 12; // tx id(8) ‖ balance after(4)
export const keySvmLog = (slot: number): string => `v.log.${slot}`;
/** Pending slot n: slot 0 keeps the one-slot image's key (migration), the others `v.pending.n`. */
export const keySvmPending = (slot: number): string =>
  slot === 0 ? KEY_SVM_PENDING : `${KEY_SVM_PENDING}.${slot}`;

/** How many (CSN, purse, counter) of recently credited cards the SVM remembers. */
const RECENT = 8;
const RECENT_ENTRY = 11;
const EMPTY = new Uint8Array(0);

export interface SvmPersonalisation {
  meterId: Uint8Array; // 3
  terminalId: Uint8Array; // 4, the terminal id of the paired SAM (it is in every debit proof)
  keys: SvmKeySet;
  max: number;
  balance?: number;
}

export class SvmApplet implements Application {
  readonly aid = AID_SVM;
  readonly #store: RecordStore;
  readonly #crypto: PurseCrypto;
  readonly #rng: Rng;
  #rv: Uint8Array | undefined;
  #proofCache: { csn: Uint8Array; key: Uint8Array } | undefined;
  #coreKey: Uint8Array | undefined;

  constructor(store: RecordStore, cipher: BlockCipherProvider, rng: Rng) {
    this.#store = store;
    this.#crypto = new PurseCrypto(cipher);
    this.#rng = rng;
  }

  /** @throws RangeError naming the field that does not fit. */
  static personalise(store: RecordStore, p: SvmPersonalisation): void {
    if (p.meterId.length !== 3) throw new RangeError('meterId must be 3 bytes');
    if (p.terminalId.length !== 4) throw new RangeError('terminalId must be 4 bytes');
    const balance = p.balance ?? 0;
    if (balance > p.max) throw new RangeError('balance must not exceed max');
    checkPurse(p.keys.purse, 'keys.purse');
    if (!Number.isInteger(p.max) || p.max < 0 || p.max > COUNTER_MAX)
      throw new RangeError(`max must be 0..${COUNTER_MAX}, got ${p.max}`);
    store.commit([
      [KEY_SVM_IDENTITY, concatBytes(p.meterId, p.terminalId, be16(p.keys.pairing))],
      [KEY_SVM_KEYS, concatBytes(Uint8Array.of(p.keys.purse), p.keys.mkProof, p.keys.svm)],
      [KEY_SVM_REGISTER, new SvmRegister(balance, p.max, 0).encode()],
      [KEY_SVM_RECENT, EMPTY],
      [KEY_SVM_HOST_TX, EMPTY],
      [KEY_SVM_LOG_HEAD, Uint8Array.of(0, 0)],
      // v.log.seq stays absent (= the ring's fill, 0) until the first log record writes it.
    ]);
  }

  reset(): void {
    if (this.#rv) wipe(this.#rv);
    this.#rv = undefined;
    if (this.#proofCache) wipe(this.#proofCache.key);
    this.#proofCache = undefined;
    if (this.#coreKey) wipe(this.#coreKey);
    this.#coreKey = undefined;
  }

  /** The purse (utility) this SVM serves. */
  #purse(): number {
    return this.#store.view(KEY_SVM_KEYS)![0]!;
  }

  /** K_core of this meter (derived from K_svm, kept in RAM until reset). */
  #core(): Uint8Array {
    if (!this.#coreKey) {
      const svm = this.#svmKey();
      this.#coreKey = deriveCoreKey(this.#crypto, svm);
      wipe(svm);
    }
    return this.#coreKey;
  }

  #identity(): { meterId: Uint8Array; terminalId: Uint8Array; pairing: Uint8Array } {
    const b = this.#store.view(KEY_SVM_IDENTITY)!;
    return { meterId: b.slice(0, 3), terminalId: b.slice(3, 7), pairing: b.slice(7, 9) };
  }

  #register(): SvmRegister {
    return SvmRegister.decode(this.#store.view(KEY_SVM_REGISTER)!);
  }

  #pendingAt(slot: number): PendingTransfer | undefined {
    const b = this.#store.view(keySvmPending(slot));
    return b ? PendingTransfer.decode(b) : undefined;
  }

  /** Every slot, in order (undefined = free). */
  #pendings(): (PendingTransfer | undefined)[] {
    return Array.from({ length: SVM_PENDING_SLOTS }, (_, i) => this.#pendingAt(i));
  }

  /** Room reserved by all pending transfers (each fits the maximum, so the sum stays well inside 2^53). */
  #reserved(): number {
    return this.#pendings().reduce((a, p) => a + (p?.amount ?? 0), 0);
  }

  /** P1 / P2 naming a pending slot: 6A86 when out of range, 9406 when free. */
  #slotOf(slot: number): PendingTransfer {
    if (slot >= SVM_PENDING_SLOTS) throw new SwError(SW_INCORRECT_P1P2, `slot ${slot} out of range`);
    const p = this.#pendingAt(slot);
    if (!p) throw new SwError(SW_NO_PENDING_TRANSFER);
    return p;
  }

  /** K_proof(CSN), a copy (the last card's key is kept in RAM until reset). */
  #proofKey(csn: Uint8Array): Uint8Array {
    const c = this.#proofCache;
    if (c && equalBytes(c.csn, csn)) return c.key.slice();
    if (c) wipe(c.key);
    const key = this.#crypto.cardKey(this.#store.view(KEY_SVM_KEYS)!.slice(1, 17), csn);
    this.#proofCache = { csn: csn.slice(), key };
    return key.slice();
  }

  #svmKey(): Uint8Array {
    return this.#store.view(KEY_SVM_KEYS)!.slice(17, 33);
  }

  /** FCI: 6F { 84 AID, A5 { C4 meter id(3), C5 terminal id(4), C7 purse(1), C8 pairing(2) } }. */
  select(): Uint8Array {
    const id = this.#identity();
    const a5 = concatBytes(
      Uint8Array.of(0xc4, 3),
      id.meterId,
      Uint8Array.of(0xc5, 4),
      id.terminalId,
      Uint8Array.of(0xc7, 1, this.#purse(), 0xc8, 2),
      id.pairing,
    );
    const body = concatBytes(
      Uint8Array.of(0x84, this.aid.length),
      this.aid,
      Uint8Array.of(0xa5, a5.length),
      a5,
    );
    return concatBytes(Uint8Array.of(0x6f, body.length), body);
  }

  process(c: CommandApdu): Uint8Array {
    if (c.cla === 0x00 && c.ins === INS_GET_CHALLENGE) return this.#getChallenge(c);
    if (c.cla === 0x80) {
      switch (c.ins) {
        case INS_READ_STATE:
          return this.#readState(c);
        case INS_READ_PENDING:
          return this.#readPending(c);
        case INS_READ_LOG:
          return this.#readLog(c);
        case INS_HOST_SETTLE:
          return this.#hostSettle(c);
        case INS_BEGIN_TRANSFER:
          return this.#begin(c);
        case INS_COMPLETE_TRANSFER:
          return this.#complete(c);
        case INS_CANCEL_TRANSFER:
          return this.#cancel(c);
        case INS_TOKEN_REQUEST:
          return this.#token(c);
        case INS_HOST_CREDIT:
          return this.#hostCredit(c);
      }
    }
    throw new SwError(SW_INS_NOT_SUPPORTED);
  }

  /** GET CHALLENGE 00 84 00 00 08 -> RV(8), single-use (BEGIN TRANSFER or CANCEL TRANSFER takes it). */
  #getChallenge(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 0 || (c.ne !== 8 && c.ne !== 256)) throw new SwError(SW_WRONG_LENGTH);
    this.#rv = this.#rng.bytes(8);
    return this.#rv.slice();
  }

  #takeChallenge(): Uint8Array {
    const rv = this.#rv;
    this.#rv = undefined;
    if (!rv) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'no SVM challenge: GET CHALLENGE first');
    return rv;
  }

  /**
   * READ STATE 80 5C 00 00 00 -> balance(4) ‖ max(4) ‖ SVM counter(4) ‖ meter id(3) ‖ pending flag(1)
   * [‖ CSN(8) ‖ purse(1) ‖ amount(4) ‖ expected card counter(2) of the lowest pending slot when the
   * flag is 01: any slot pending]. READ PENDING lists them all.
   */
  #readState(c: CommandApdu): Uint8Array {
    if (c.p1 > 2 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== (c.p1 === 0 ? 0 : 8)) throw new SwError(SW_WRONG_LENGTH);
    const r = this.#register();
    const p = this.#pendings().find((x) => x !== undefined);
    const meterId = this.#identity().meterId;
    const head = concatBytes(r.encode(), meterId, Uint8Array.of(p ? 1 : 0));
    const state = p ? concatBytes(head, p.encode().subarray(0, 15)) : head;
    if (c.p1 === 0) return state;
    // P1 = 02: signed for the meter core's own challenge, under K_core.
    if (c.p1 === 2)
      return concatBytes(
        state,
        this.#crypto.mac(this.#core(), coreStateInput(meterId, r.balance, r.counter, c.dataView())),
      );
    // P1 = 01: signed for the SAM's host session (challenge R3), read by HOST FINISH.
    return concatBytes(
      state,
      this.#crypto.mac(this.#svmKey(), svmStateMacInput(meterId, r.balance, r.counter, c.dataView())),
    );
  }

  /**
   * READ PENDING 80 5A 00 00 00 -> n(1) ‖ n × (slot(1) ‖ pending record(29): CSN ‖ purse ‖ amount ‖
   * expected card counter ‖ date-time ‖ RV), slots in ascending order. Unsigned, like READ STATE:
   * what it shows authorises nothing (HOST SETTLE carries its own host authorisation).
   * READ PENDING 80 5A 01 00 08 challenge(8) 00 -> the same, each entry followed by
   * MAC(K_svm, 'P' ‖ meter id ‖ slot ‖ record ‖ challenge): what the host reads as the SVM's own word
   * (the RV its 'complete' decision matches the card's debit proof against), fresh for its R3.
   */
  #readPending(c: CommandApdu): Uint8Array {
    if (c.p1 > 1 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== (c.p1 === 0 ? 0 : 8)) throw new SwError(SW_WRONG_LENGTH);
    const out: Uint8Array[] = [];
    let n = 0;
    const meterId = this.#identity().meterId;
    this.#pendings().forEach((p, slot) => {
      if (!p) return;
      n++;
      const rec = p.encode();
      out.push(Uint8Array.of(slot), rec);
      // P1 = 01: each entry signed for the host's challenge (red team, issue 13: the host trusts the RV).
      if (c.p1 === 1)
        out.push(this.#crypto.mac(this.#svmKey(), pendingMacInput(meterId, slot, rec, c.dataView())));
    });
    return concatBytes(Uint8Array.of(n), ...out);
  }

  /**
   * READ LOG 80 5E 00 00 04 from(4) Le (issue 13, docs/purse-spec.md §5.9) -> oldest(4) ‖ next(4) ‖
   * n(1) ‖ n × (record(29) ‖ MAC(K_svm, 'J' ‖ meter id ‖ record)).
   *
   * `from` is a log sequence number (the s-th record ever written, from 0), not an SVM counter:
   * cancellations write records without moving the counter, possibly after the host has read past
   * it, so only a sequence number of its own pages the log without losing or cutting records.
   * The answer starts at max(from, oldest): `oldest` > from says records [from, oldest) left the
   * ring for good; `next` is the `from` of the next page (next < from: the host asked beyond the
   * newest record, and gets none). n ≤ SVM_READ_LOG_MAX and ≤ what Ne holds. Writes nothing: the
   * MACs are made on every read, the same bytes each time (a replayed record is harmless).
   */
  #readLog(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 4 || c.ne === undefined || c.ne < READ_LOG_HEADER) throw new SwError(SW_WRONG_LENGTH);
    const from = u32(c.dataView(), 0);
    const head = this.#store.view(KEY_SVM_LOG_HEAD)!;
    const total = this.#logSeq();
    const oldest = total - head[1]!;
    const start = Math.min(Math.max(from, oldest), total);
    const n = Math.min(
      total - start,
      SVM_READ_LOG_MAX,
      Math.floor((c.ne - READ_LOG_HEADER) / READ_LOG_ENTRY),
    );
    const meterId = this.#identity().meterId;
    const key = this.#svmKey();
    const out: Uint8Array[] = [be32(oldest), be32(start + n), Uint8Array.of(n)];
    try {
      for (let s = start; s < start + n; s++) {
        // Record s sits (total - s) places behind the ring's next write position.
        const slot = (((head[0]! - (total - s)) % SVM_LOG_RECORDS) + SVM_LOG_RECORDS) % SVM_LOG_RECORDS;
        const rec = this.#store.view(keySvmLog(slot))!;
        out.push(rec, this.#crypto.mac(key, svmLogMacInput(meterId, rec)));
      }
    } finally {
      wipe(key);
    }
    return concatBytes(...out);
  }

  /** Log records ever written (READ LOG's sequence), u32. */
  #logSeq(): number {
    const b = this.#store.view(KEY_SVM_LOG_SEQ);
    return b ? u32(b, 0) : this.#store.view(KEY_SVM_LOG_HEAD)![1]!;
  }

  /**
   * Refuses (9404) a command that would start something writing a log record when the log sequence
   * could not number it and still one record for each pending transfer (a new BEGIN counts as the
   * record its own COMPLETE or CANCEL will write). Invariant: log sequence + pending slots taken <= FFFFFFFF, so COMPLETE, CANCEL and
   * HOST SETTLE of a pending transfer always have a number left, and READ LOG's u32 never wraps.
   * The same for the SVM counter (red team, issue 13): SVM counter + pending slots taken <=
   * FFFFFFFF, so every pending transfer can still COMPLETE (each moves the counter) — without it, 4
   * slots begun just below the maximum left the last COMPLETEs to overflow (6F00), the card's
   * debit credited nowhere.
   */
  #checkLogRoom(svmCounter: number): void {
    const taken = this.#pendings().filter((p) => p !== undefined).length;
    if (this.#logSeq() + taken + 1 > COUNTER_MAX)
      throw new SwError(SW_COUNTER_EXHAUSTED, 'log sequence exhausted');
    if (svmCounter + taken + 1 > COUNTER_MAX)
      throw new SwError(SW_COUNTER_EXHAUSTED, 'SVM counter exhausted (room kept for pending transfers)');
  }

  /**
   * HOST CREDIT 80 44 00 00 1C amount(4) ‖ host tx id(8) ‖ MAC(8) ‖ R3(8) 00, after GET CHALLENGE
   * -> status(1) ‖ tx id(8) ‖ balance after(4) ‖ balance(4) ‖ MAC(K_svm, 'C' ‖ meter id ‖ status ‖
   * tx id ‖ balance after ‖ balance ‖ R3). MAC in = the SAM's HOST COMMAND answer, an authorisation
   * over this SVM's challenge RV (taken whatever the outcome), so it is good here, now, once.
   *
   * Exactly once for life: host tx ids only grow (the host sends one meter's credits in order).
   * Status 00 credited (the id becomes the highest seen); 01 duplicate: the id is one of the last 8
   * credited, answered with its original balance after, nothing changes; an id not above the
   * highest credited and not remembered is refused 9407 (it was applied or settled long ago; gaps
   * are normal: the host numbers all meters' credits from one sequence); 02 refused: the credit would
   * pass the maximum (with room reserved by a pending card transfer), the id is not consumed.
   */
  #hostCredit(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 28) throw new SwError(SW_WRONG_LENGTH);
    const rv = this.#takeChallenge();
    const d = c.dataView();
    const amount = u32(d, 0);
    const txId = d.slice(4, 12);
    const r3 = d.slice(20, 28);
    const meterId = this.#identity().meterId;
    if (
      !this.#crypto.check(this.#svmKey(), d.subarray(12, 20), hostCreditAuthInput(meterId, amount, txId, rv))
    )
      throw new SwError(SW_VERIFICATION_FAILED, 'SAM authorisation wrong');
    const r = this.#register();
    const answer = (status: number, balanceAfter: number, balance: number) =>
      concatBytes(
        Uint8Array.of(status),
        txId,
        be32(balanceAfter),
        be32(balance),
        this.#crypto.mac(
          this.#svmKey(),
          hostCreditAnswerInput(meterId, status, txId, balanceAfter, balance, r3),
        ),
      );
    const seen = this.#store.view(KEY_SVM_HOST_TX)!;
    for (let i = 0; i + HOST_TX_ENTRY <= seen.length; i += HOST_TX_ENTRY)
      if (equalBytes(seen.subarray(i, i + 8), txId)) return answer(VS_DUPLICATE, u32(seen, i + 8), r.balance);
    // The newest remembered id is the highest ever credited (ids only grow).
    if (seen.length >= HOST_TX_ENTRY && compareBytes(txId, seen.subarray(0, 8)) <= 0)
      throw new SwError(SW_REPLAY, 'host tx id not above the last credited');
    if (r.counter >= COUNTER_MAX) throw new SwError(SW_COUNTER_EXHAUSTED, 'SVM counter exhausted');
    this.#checkLogRoom(r.counter);
    if (amount === 0) throw new SwError(SW_WRONG_DATA, 'amount 0');
    const reserved = this.#reserved();
    if (amount > r.max - r.balance - Math.min(reserved, r.max - r.balance))
      return answer(VS_REFUSED_MAX_BALANCE, r.balance, r.balance);
    const after = new SvmRegister(r.balance + amount, r.max, r.counter + 1);
    this.#store.commit([
      [KEY_SVM_REGISTER, after.encode()],
      [
        KEY_SVM_HOST_TX,
        concatBytes(txId, be32(after.balance), seen.subarray(0, HOST_TX_ENTRY * (HOST_TX_REMEMBERED - 1))),
      ],
      ...this.#logWrites(
        new SvmLogRecord(
          SVM_LOG_HOST_CREDIT,
          concatBytes(txId, new Uint8Array(2)),
          amount,
          after.balance,
          after.counter,
          new Uint8Array(6),
        ),
      ),
    ]);
    return answer(VS_CREDITED, after.balance, after.balance);
  }

  /**
   * HOST SETTLE 80 46 00 00 29 payload(25) ‖ auth(8) ‖ R3(8) 00, after GET CHALLENGE (issue 13,
   * docs/purse-spec.md §5.8) -> answer(63) ‖ MAC(K_svm, 'Y' ‖ meter id ‖ answer ‖ R3), answer =
   * status(1) ‖ payload(25) ‖ balance(4) ‖ SVM counter(4) ‖ SVM log record(29, zeros when none).
   * payload = decision ‖ slot ‖ CSN ‖ purse ‖ card counter ‖ amount ‖ host tx id; auth = the SAM's
   * HOST COMMAND (H = 54) answer, MAC(K_svm, 'X' ‖ meter id ‖ payload ‖ RV) over this SVM's
   * challenge RV (taken whatever the outcome): one settlement of one entry, here, now, once.
   *
   * The host settles a transfer the card can no longer recover (its record left the card's log):
   * decision 01 complete credits the SVM with the pending amount (the card's debit is proven to the
   * host); 02 cancel releases the reservation (the host credits the card back, or has proven the
   * debit never happened). Either way the slot is freed and the card's own proof can no longer
   * complete it. Host tx ids are those of HOST CREDIT (one sequence, each applied once for life):
   * status 03 duplicate when the id is one of the last 8 applied (with the log record of CSN ‖
   * counter, as for 02: the id may have been another command's), 9407 when older; 00 / 01 settled
   * (complete / cancel) consumes the id; 02 no-such-pending (the slot does not hold exactly that
   * CSN, purse, counter and amount: the card recovered it, or another card's transfer is there now)
   * changes nothing, consumes nothing, and carries the SVM log record for that CSN ‖ counter when
   * the log still holds one (card credit, cancel, or an earlier settlement) — a definite answer.
   */
  #hostSettle(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== SettlePayload.LENGTH + 16) throw new SwError(SW_WRONG_LENGTH);
    const rv = this.#takeChallenge();
    const d = c.dataView();
    const raw = d.slice(0, SettlePayload.LENGTH);
    const r3 = d.slice(SettlePayload.LENGTH + 8, SettlePayload.LENGTH + 16);
    const meterId = this.#identity().meterId;
    if (
      !this.#crypto.check(
        this.#svmKey(),
        d.subarray(SettlePayload.LENGTH, SettlePayload.LENGTH + 8),
        hostSettleAuthInput(meterId, raw, rv),
      )
    )
      throw new SwError(SW_VERIFICATION_FAILED, 'SAM authorisation wrong');
    const s = SettlePayload.decode(raw);
    if ((s.decision !== SETTLE_COMPLETE && s.decision !== SETTLE_CANCEL) || s.slot >= SVM_PENDING_SLOTS)
      throw new SwError(SW_WRONG_DATA, 'decision or slot out of range');
    const answer = (status: number, reg: SvmRegister, rec?: Uint8Array): Uint8Array => {
      const body = concatBytes(
        Uint8Array.of(status),
        raw,
        be32(reg.balance),
        be32(reg.counter),
        rec ?? new Uint8Array(29),
      );
      return concatBytes(body, this.#crypto.mac(this.#svmKey(), hostSettleAnswerInput(meterId, body, r3)));
    };
    const r = this.#register();
    const seen = this.#store.view(KEY_SVM_HOST_TX)!;
    for (let i = 0; i + HOST_TX_ENTRY <= seen.length; i += HOST_TX_ENTRY)
      // Red team (issue 13): the id may have been used by a HOST CREDIT or another settlement (a
      // host restored from a backup): 'duplicate' alone does not say this entry was settled, so it
      // carries the log record of CSN ‖ counter (06 / 05 when it was; none, 01, 04 otherwise).
      if (equalBytes(seen.subarray(i, i + 8), s.txId))
        return answer(SETTLE_DUPLICATE, r, this.#logRecordOf(s.csn, s.counter));
    if (seen.length >= HOST_TX_ENTRY && compareBytes(s.txId, seen.subarray(0, 8)) <= 0)
      throw new SwError(SW_REPLAY, 'host tx id not above the last applied');
    const p = this.#pendingAt(s.slot);
    if (
      !p ||
      !equalBytes(p.csn, s.csn) ||
      p.purse !== s.purse ||
      p.counter !== s.counter ||
      p.amount !== s.amount
    )
      return answer(SETTLE_NO_SUCH_PENDING, r, this.#logRecordOf(s.csn, s.counter));
    const complete = s.decision === SETTLE_COMPLETE;
    // Red team (issue 13): a pending entry BEGUN with a card counter this SVM already credited (its
    // (CSN, counter) left the recent list) can only be stale: the card's one debit at that counter
    // was credited here once. Completing it would credit that debit twice — cancel is the only way.
    if (complete && this.#creditedHere(p.csn, p.purse, p.counter))
      throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'card counter already credited here: cancel only');
    if (complete && r.counter >= COUNTER_MAX)
      throw new SwError(SW_COUNTER_EXHAUSTED, 'SVM counter exhausted');
    // The reservation guarantees the room: balance + every pending amount <= max.
    const after = complete ? new SvmRegister(r.balance + p.amount, r.max, r.counter + 1) : r;
    const rec = new SvmLogRecord(
      complete ? SVM_LOG_SETTLE_COMPLETE : SVM_LOG_SETTLE_CANCEL,
      concatBytes(p.csn, be16(p.counter)),
      p.amount,
      after.balance,
      after.counter,
      p.dateTime,
    );
    const writes: StoreWrite[] = [
      [keySvmPending(s.slot), undefined],
      [
        KEY_SVM_HOST_TX,
        concatBytes(s.txId, be32(after.balance), seen.subarray(0, HOST_TX_ENTRY * (HOST_TX_REMEMBERED - 1))),
      ],
      ...this.#logWrites(rec),
    ];
    if (complete)
      writes.push(
        [KEY_SVM_REGISTER, after.encode()],
        [KEY_SVM_RECENT, this.#recentWith(p.csn, p.purse, p.counter)],
      );
    this.#store.commit(writes);
    return answer(complete ? SETTLED_COMPLETE : SETTLED_CANCEL, after, rec.encode());
  }

  /** The newest SVM log record that settled card transfer CSN ‖ counter (types 01, 04, 05, 06). */
  #logRecordOf(csn: Uint8Array, counter: number): Uint8Array | undefined {
    const head = this.#store.view(KEY_SVM_LOG_HEAD)!;
    const ref = concatBytes(csn, be16(counter));
    for (let k = 1; k <= head[1]!; k++) {
      const b = this.#store.view(keySvmLog((head[0]! - k + SVM_LOG_RECORDS) % SVM_LOG_RECORDS));
      if (!b) continue;
      const rec = SvmLogRecord.decode(b);
      if (rec.type !== SVM_LOG_TOKEN && rec.type !== SVM_LOG_HOST_CREDIT && equalBytes(rec.ref, ref))
        return b.slice();
    }
    return undefined;
  }

  /**
   * BEGIN TRANSFER 80 30 00 00 1D CSN(8) purse(1) amount(4) counter(2) datetime(6) MAC_svm(8):
   * reserves room for `amount` and writes the pending record (with the challenge RV) into the lowest
   * free slot, atomically. 9405 when this card has a transfer pending (it must be recovered first:
   * one slot per card, so a card can never reserve the whole SVM), 9408 when every slot is taken,
   * 9402 when `amount` does not fit beside the balance and every pending reservation.
   */
  #begin(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 29) throw new SwError(SW_WRONG_LENGTH);
    const rv = this.#takeChallenge();
    const d = c.dataView();
    const csn = d.slice(0, 8);
    const slots = this.#pendings();
    if (slots.some((p) => p && equalBytes(p.csn, csn)))
      throw new SwError(SW_TRANSFER_PENDING, 'this card has a transfer pending: recover it first');
    const free = slots.findIndex((p) => p === undefined);
    if (free < 0) throw new SwError(SW_PENDING_SLOTS_FULL);
    const purse = d[8]!;
    const amount = u32(d, 9);
    const counter = u16(d, 13);
    const dateTime = d.slice(15, 21);
    if (
      !this.#crypto.check(
        this.#svmKey(),
        d.subarray(21, 29),
        transferAuthInput(rv, csn, purse, amount, counter, dateTime),
      )
    )
      throw new SwError(SW_VERIFICATION_FAILED, 'SAM authorisation wrong');
    checkDateTime(dateTime);
    if (purse !== this.#purse())
      throw new SwError(SW_REFERENCED_DATA_NOT_FOUND, `this SVM takes no credit from purse ${purse}`);
    if (amount === 0 || counter === 0) throw new SwError(SW_WRONG_DATA, 'amount and counter must be > 0');
    const r = this.#register();
    // COMPLETE moves the SVM counter: at its maximum the transfer could never complete, so it never starts.
    if (r.counter >= COUNTER_MAX) throw new SwError(SW_COUNTER_EXHAUSTED, 'SVM counter exhausted');
    this.#checkLogRoom(r.counter);
    if (amount > r.max - r.balance - Math.min(this.#reserved(), r.max - r.balance))
      throw new SwError(SW_MAX_BALANCE_EXCEEDED);
    if (this.#creditedHere(csn, purse, counter))
      throw new SwError(SW_REPLAY, 'card counter already credited');
    this.#store.commit([
      [keySvmPending(free), new PendingTransfer(csn, purse, amount, counter, dateTime, rv).encode()],
    ]);
    return EMPTY;
  }

  /**
   * Whether this SVM remembers crediting (csn, purse) at `counter` or later (card counters only
   * grow): the recent list, or a card-credit / settled-complete record of that CSN still in the log.
   */
  #creditedHere(csn: Uint8Array, purse: number, counter: number): boolean {
    if (this.#lastCredited(csn, purse) >= counter) return true;
    const head = this.#store.view(KEY_SVM_LOG_HEAD)!;
    for (let k = 0; k < head[1]!; k++) {
      const b = this.#store.view(keySvmLog(k));
      if (
        b &&
        (b[0] === SVM_LOG_CARD_CREDIT || b[0] === SVM_LOG_SETTLE_COMPLETE) &&
        equalBytes(b.subarray(1, 9), csn) &&
        u16(b, 9) >= counter
      )
        return true;
    }
    return false;
  }

  /** Highest card counter credited from (csn, purse) that the SVM remembers, or -1. */
  #lastCredited(csn: Uint8Array, purse: number): number {
    const b = this.#store.view(KEY_SVM_RECENT)!;
    for (let i = 0; i + RECENT_ENTRY <= b.length; i += RECENT_ENTRY)
      if (b[i + 8] === purse && equalBytes(b.subarray(i, i + 8), csn)) return u16(b, i + 9);
    return -1;
  }

  #recentWith(csn: Uint8Array, purse: number, counter: number): Uint8Array {
    const b = this.#store.view(KEY_SVM_RECENT)!;
    const kept: Uint8Array[] = [concatBytes(csn, Uint8Array.of(purse), be16(counter))];
    for (let i = 0; i + RECENT_ENTRY <= b.length && kept.length < RECENT; i += RECENT_ENTRY)
      if (!(b[i + 8] === purse && equalBytes(b.subarray(i, i + 8), csn)))
        kept.push(b.subarray(i, i + RECENT_ENTRY));
    return concatBytes(...kept);
  }

  #logWrites(rec: SvmLogRecord): StoreWrite[] {
    const head = this.#store.view(KEY_SVM_LOG_HEAD)!;
    const next = head[0]!;
    return [
      [keySvmLog(next), rec.encode()],
      [
        KEY_SVM_LOG_HEAD,
        Uint8Array.of((next + 1) % SVM_LOG_RECORDS, Math.min(SVM_LOG_RECORDS, head[1]! + 1)),
      ],
      [KEY_SVM_LOG_SEQ, be32(this.#logSeq() + 1)],
    ];
  }

  /**
   * COMPLETE TRANSFER 80 32 slot 00 0C card balance after(4) ‖ proof(8) 00 -> balance(4) ‖ SVM
   * counter(4). The proof must be the card's MAC(K_proof(CSN), 'D' ‖ ...) over the slot's pending
   * record's fields (its RV included), so it needs no other authorisation: whoever relays it — the
   * card in the slot, or the host with a record it collected elsewhere — can only complete the
   * transfer the card really made.
   */
  #complete(c: CommandApdu): Uint8Array {
    if (c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 12) throw new SwError(SW_WRONG_LENGTH);
    const slot = c.p1;
    const p = this.#slotOf(slot);
    const d = c.dataView();
    const cardBalance = u32(d, 0);
    const fields = {
      csn: p.csn,
      purse: p.purse,
      amount: p.amount,
      counter: p.counter,
      terminalId: this.#identity().terminalId,
      dateTime: p.dateTime,
    };
    const kProof = this.#proofKey(p.csn);
    const ok = this.#crypto.check(kProof, d.subarray(4, 12), recordMacInput('D', fields, cardBalance, p.rv));
    wipe(kProof);
    if (!ok) throw new SwError(SW_VERIFICATION_FAILED, 'debit proof wrong');
    const r = this.#register();
    const after = new SvmRegister(r.balance + p.amount, r.max, r.counter + 1);
    this.#store.commit([
      [KEY_SVM_REGISTER, after.encode()],
      [keySvmPending(slot), undefined],
      [KEY_SVM_RECENT, this.#recentWith(p.csn, p.purse, p.counter)],
      ...this.#logWrites(
        new SvmLogRecord(
          SVM_LOG_CARD_CREDIT,
          concatBytes(p.csn, be16(p.counter)),
          p.amount,
          after.balance,
          after.counter,
          p.dateTime,
        ),
      ),
    ]);
    return concatBytes(be32(after.balance), be32(after.counter));
  }

  /**
   * CANCEL TRANSFER 80 36 P1 slot — clears the pending record only with the card's word that the
   * pending debit did not happen and never can:
   * - P1 = 00, data = balance(4) ‖ counter(2) ‖ MAC(8): the card's signed status for a fresh RV of
   *   this SVM, with counter < the pending counter (and the card ended its SAM session when it signed).
   * - P1 = 01, data = the card's log record (38) with the pending counter, for another transaction
   *   (the counter never repeats, so the pending debit can no longer be made).
   */
  #cancel(c: CommandApdu): Uint8Array {
    if (c.p2 >= SVM_PENDING_SLOTS || (c.p1 !== 0 && c.p1 !== 1)) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== (c.p1 === 0 ? 14 : 38)) throw new SwError(SW_WRONG_LENGTH);
    const rv = c.p1 === 0 ? this.#takeChallenge() : undefined;
    const slot = c.p2;
    const p = this.#slotOf(slot);
    const d = c.dataView();
    const kProof = this.#proofKey(p.csn);
    try {
      if (rv) {
        const balance = u32(d, 0);
        const counter = u16(d, 4);
        if (
          !this.#crypto.check(kProof, d.subarray(6, 14), statusMacInput(p.csn, p.purse, balance, counter, rv))
        )
          throw new SwError(SW_VERIFICATION_FAILED, 'card status MAC wrong');
        if (counter >= p.counter)
          throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'card counter reached the pending counter');
      } else {
        const rec = LogRecord.decode(d);
        if (rec.purse !== p.purse || rec.counter !== p.counter)
          throw new SwError(SW_WRONG_DATA, 'not the pending counter');
        if (rec.type !== LOG_TYPE_DEBIT && rec.type !== LOG_TYPE_LOAD && rec.type !== LOG_TYPE_REMOTE_LOAD)
          throw new SwError(SW_WRONG_DATA, 'unknown record type');
        const fields = {
          csn: p.csn,
          purse: rec.purse,
          amount: rec.amount,
          counter: rec.counter,
          terminalId: rec.terminalId,
          dateTime: rec.dateTime,
        };
        // Issue 17: a remote load that took the pending counter proves the debit did not happen.
        const letter = rec.type === LOG_TYPE_DEBIT ? 'D' : rec.type === LOG_TYPE_LOAD ? 'L' : 'R';
        if (!this.#crypto.check(kProof, rec.mac, recordMacInput(letter, fields, rec.balanceAfter, rec.rv)))
          throw new SwError(SW_VERIFICATION_FAILED, 'log record MAC wrong');
        const isThePendingDebit =
          rec.type === LOG_TYPE_DEBIT &&
          rec.amount === p.amount &&
          equalBytes(rec.rv, p.rv) &&
          equalBytes(rec.dateTime, p.dateTime) &&
          equalBytes(rec.terminalId, this.#identity().terminalId);
        if (isThePendingDebit)
          throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'the debit happened: COMPLETE TRANSFER');
      }
    } finally {
      wipe(kProof);
    }
    const r = this.#register();
    this.#store.commit([
      [keySvmPending(slot), undefined],
      ...this.#logWrites(
        new SvmLogRecord(
          SVM_LOG_CANCEL,
          concatBytes(p.csn, be16(p.counter)),
          p.amount,
          r.balance,
          r.counter,
          p.dateTime,
        ),
      ),
    ]);
    return EMPTY;
  }

  /**
   * TOKEN REQUEST 80 40 00 00 0E units(2) ‖ SVM counter + 1 (4) ‖ MAC_svm(8) 00
   * -> granted units(2) ‖ balance(4) ‖ MAC(K_core, 'G' ‖ meter id ‖ granted ‖ balance ‖ SVM counter).
   * Grants min(units, balance), atomically; the grant MAC lets the meter core check that the units
   * it is about to hand out were really granted by its own SVM.
   */
  #token(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 14) throw new SwError(SW_WRONG_LENGTH);
    const d = c.dataView();
    const units = u16(d, 0);
    const counter = u32(d, 2);
    if (
      !this.#crypto.check(
        this.#svmKey(),
        d.subarray(6, 14),
        tokenAuthInput(this.#identity().meterId, units, counter),
      )
    )
      throw new SwError(SW_VERIFICATION_FAILED, 'SAM authorisation wrong');
    const r = this.#register();
    if (r.counter >= COUNTER_MAX) throw new SwError(SW_COUNTER_EXHAUSTED, 'SVM counter exhausted');
    this.#checkLogRoom(r.counter);
    if (counter <= r.counter) throw new SwError(SW_REPLAY, 'SVM counter already used');
    if (counter !== r.counter + 1) throw new SwError(SW_WRONG_DATA, 'SVM counter is not the next one');
    if (units === 0) throw new SwError(SW_WRONG_DATA, 'units 0');
    if (r.balance === 0) throw new SwError(SW_INSUFFICIENT_BALANCE);
    const granted = Math.min(units, r.balance);
    const after = new SvmRegister(r.balance - granted, r.max, counter);
    this.#store.commit([
      [KEY_SVM_REGISTER, after.encode()],
      ...this.#logWrites(
        new SvmLogRecord(
          SVM_LOG_TOKEN,
          new Uint8Array(10),
          granted,
          after.balance,
          counter,
          new Uint8Array(6),
        ),
      ),
    ]);
    return concatBytes(
      be16(granted),
      be32(after.balance),
      this.#crypto.mac(
        this.#core(),
        tokenGrantInput(this.#identity().meterId, granted, after.balance, after.counter),
      ),
    );
  }
}

/** Unsigned big-endian comparison of two byte strings of one length: <0, 0, >0. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}
