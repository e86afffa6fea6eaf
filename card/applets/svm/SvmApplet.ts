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
 * The card-to-SVM transfer spans two chips, so the SVM keeps a pending-transfer record (one slot)
 * from BEGIN TRANSFER until the card's proof arrives (COMPLETE) or the card proves that the debit
 * did not and cannot happen (CANCEL). Persistent records have the prefix `v.`.
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
} from '../PurseCrypto.js';
import { checkPurse, deriveCoreKey, type SvmKeySet } from '../IssuerKeys.js';
import { LOG_TYPE_DEBIT, LOG_TYPE_LOAD, LogRecord } from '../purse/records.js';
import {
  PendingTransfer,
  SVM_LOG_CANCEL,
  SVM_LOG_CARD_CREDIT,
  SVM_LOG_HOST_CREDIT,
  SVM_LOG_TOKEN,
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
 * How many host transactions the SVM remembers with their balance after, to answer a repeat
 * "duplicate" with the original figure. Older ids are refused outright (9407): ids only grow.
 */
export const HOST_TX_REMEMBERED = 8;
const COUNTER_MAX = 0xffffffff;
const HOST_TX_ENTRY = 12; // tx id(8) ‖ balance after(4)
export const keySvmLog = (slot: number): string => `v.log.${slot}`;

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

  #pending(): PendingTransfer | undefined {
    const b = this.#store.view(KEY_SVM_PENDING);
    return b ? PendingTransfer.decode(b) : undefined;
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
   * [‖ CSN(8) ‖ purse(1) ‖ amount(4) ‖ expected card counter(2) when the flag is 01].
   */
  #readState(c: CommandApdu): Uint8Array {
    if (c.p1 > 2 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== (c.p1 === 0 ? 0 : 8)) throw new SwError(SW_WRONG_LENGTH);
    const r = this.#register();
    const p = this.#pending();
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
    if (amount === 0) throw new SwError(SW_WRONG_DATA, 'amount 0');
    const reserved = this.#pending()?.amount ?? 0;
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
   * BEGIN TRANSFER 80 30 00 00 1D CSN(8) purse(1) amount(4) counter(2) datetime(6) MAC_svm(8):
   * reserves room for `amount` and writes the pending record (with the challenge RV) atomically.
   */
  #begin(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 29) throw new SwError(SW_WRONG_LENGTH);
    const rv = this.#takeChallenge();
    if (this.#pending()) throw new SwError(SW_TRANSFER_PENDING);
    const d = c.dataView();
    const csn = d.slice(0, 8);
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
    if (amount > r.max - r.balance) throw new SwError(SW_MAX_BALANCE_EXCEEDED);
    if (this.#lastCredited(csn, purse) >= counter)
      throw new SwError(SW_REPLAY, 'card counter already credited');
    this.#store.commit([
      [KEY_SVM_PENDING, new PendingTransfer(csn, purse, amount, counter, dateTime, rv).encode()],
    ]);
    return EMPTY;
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
    ];
  }

  /**
   * COMPLETE TRANSFER 80 32 00 00 0C card balance after(4) ‖ proof(8) 00 -> balance(4) ‖ SVM counter(4).
   * The proof must be the card's MAC(K_proof(CSN), 'D' ‖ ...) over the pending record's fields.
   */
  #complete(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 12) throw new SwError(SW_WRONG_LENGTH);
    const p = this.#pending();
    if (!p) throw new SwError(SW_NO_PENDING_TRANSFER);
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
      [KEY_SVM_PENDING, undefined],
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
   * CANCEL TRANSFER 80 36 P1 00 — clears the pending record only with the card's word that the
   * pending debit did not happen and never can:
   * - P1 = 00, data = balance(4) ‖ counter(2) ‖ MAC(8): the card's signed status for a fresh RV of
   *   this SVM, with counter < the pending counter (and the card ended its SAM session when it signed).
   * - P1 = 01, data = the card's log record (38) with the pending counter, for another transaction
   *   (the counter never repeats, so the pending debit can no longer be made).
   */
  #cancel(c: CommandApdu): Uint8Array {
    if (c.p2 !== 0 || (c.p1 !== 0 && c.p1 !== 1)) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== (c.p1 === 0 ? 14 : 38)) throw new SwError(SW_WRONG_LENGTH);
    const rv = c.p1 === 0 ? this.#takeChallenge() : undefined;
    const p = this.#pending();
    if (!p) throw new SwError(SW_NO_PENDING_TRANSFER);
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
        if (rec.type !== LOG_TYPE_DEBIT && rec.type !== LOG_TYPE_LOAD)
          throw new SwError(SW_WRONG_DATA, 'unknown record type');
        const fields = {
          csn: p.csn,
          purse: rec.purse,
          amount: rec.amount,
          counter: rec.counter,
          terminalId: rec.terminalId,
          dateTime: rec.dateTime,
        };
        const letter = rec.type === LOG_TYPE_DEBIT ? 'D' : 'L';
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
      [KEY_SVM_PENDING, undefined],
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
