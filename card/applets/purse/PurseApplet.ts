/**
 * The multi-purse subscriber card application (docs/purse-spec.md §3 is the reference).
 *
 * Persistent records in the chip's store (prefix `p.`): identity, one key set per purse (each purse
 * belongs to one utility and has its own K_auth, K_debit, K_credit, K_proof — docs/purse-spec.md
 * §2), one purse state per purse, the cyclic log (10 slots + head), one meter-data record per purse,
 * the PIN. Volatile: the card challenge RC, the SAM session (its purse, SK_auth, SK_debit) and the
 * PIN-verified flag — all lost on reset, power loss or SELECT. A SAM session opens one purse: its
 * DEBIT and its meter-data record, nothing of another utility's.
 *
 * Every command that changes persistent state ends in exactly one `store.commit` (atomic).
 */
import type { CommandApdu } from '../../iso7816/CommandApdu.js';
import { SwError } from '../../iso7816/errors.js';
import {
  SW_CONDITIONS_NOT_SATISFIED,
  SW_FILE_NOT_FOUND,
  SW_INCORRECT_P1P2,
  SW_INS_NOT_SUPPORTED,
  SW_NOT_ENOUGH_MEMORY,
  SW_RECORD_NOT_FOUND,
  SW_REFERENCED_DATA_NOT_FOUND,
  SW_SECURITY_STATUS_NOT_SATISFIED,
  SW_VERIFICATION_FAILED,
  SW_WRONG_DATA,
  SW_WRONG_LENGTH,
} from '../../iso7816/sw.js';
import type { BlockCipherProvider, Rng } from '../../crypto/types.js';
import { verifyMac } from '../../crypto/mac.js';
import { wipe } from '../../crypto/wipe.js';
import { concatBytes, equalBytes } from '../../util/hex.js';
import type { Application } from '../platform/RuntimeApplet.js';
import type { RecordStore, StoreWrite } from '../platform/RecordStore.js';
import { checkDateTime } from '../bytes.js';
import { PinRecord, newPinRecord, pinBlock } from '../platform/PinRecord.js';
import { be16, be32, u32 } from '../../util/bigEndian.js';
import {
  AID_PURSE,
  INS_CHANGE_REFERENCE_DATA,
  INS_DEBIT,
  INS_GET_CHALLENGE,
  INS_LOAD,
  INS_MUTUAL_AUTHENTICATE,
  INS_READ_PURSE,
  INS_READ_RECORD,
  INS_UPDATE_RECORD,
  INS_VERIFY,
  INS_CLEAR_READINGS,
  INS_PUT_CONFIG,
  INS_REMOTE_LOAD,
  LOG_RECORDS,
  SFI_LOG,
  SFI_METER_DATA,
  SFI_OFFLINE_CONFIG,
  SFI_OFFLINE_READINGS,
  SW_COUNTER_EXHAUSTED,
  SW_REMOTE_LOAD_GAP,
  SW_REPLAY,
  SW_INSUFFICIENT_BALANCE,
  SW_LIMIT_EXCEEDED,
  SW_MAX_BALANCE_EXCEEDED,
} from '../constants.js';
import {
  PurseCrypto,
  debitMacInput,
  loadMacInput,
  loadReceiptInput,
  recordMacInput,
  statusMacInput,
  type TransactionFields,
} from '../PurseCrypto.js';
import { deriveRemoteKey, type CardKeySet } from '../IssuerKeys.js';
import {
  CardIdentity,
  LOG_TYPE_DEBIT,
  LOG_TYPE_LOAD,
  LOG_TYPE_REMOTE_LOAD,
  LogRecord,
  MeterData,
  PurseState,
} from './records.js';
import {
  CLEAR_READINGS_LENGTH,
  OFFLINE_FORMAT,
  OFFLINE_RECORD_PURSES,
  OfflineConfig,
  OfflineReading,
  PUT_CONFIG_LENGTH,
  REMOTE_ALREADY_APPLIED,
  REMOTE_APPLIED,
  REMOTE_LOAD_LENGTH,
  checkReadingLayout,
  clearReadingsMacInput,
  configWriteMacInput,
  remoteLoadMacInput,
  remoteReceiptInput,
  type RemoteLoadFields,
} from './offline.js';

export const KEY_IDENTITY = 'p.identity';
export const keyKeys = (purse: number): string => `p.keys.${purse.toString(16).padStart(2, '0')}`;
export const KEY_LOG_HEAD = 'p.log.head';
export const KEY_PIN = 'p.pin';
export const keyPurse = (id: number): string => `p.purse.${id.toString(16).padStart(2, '0')}`;
export const keyLog = (slot: number): string => `p.log.${slot}`;
export const keyMeterData = (n: number): string => `p.meter.${n}`;
/** Issue 17: last remote-load seq of a purse (u32; absent = 0), and the offline records by position. */
export const keyRemoteSeq = (id: number): string => `p.rload.${id.toString(16).padStart(2, '0')}`;
export const keyOfflineConfig = (n: number): string => `p.ocfg.${n}`;
export const keyOfflineReading = (n: number): string => `p.ordg.${n}`;

/** Initial state of one purse at personalisation. */
export interface PurseInit {
  id: number;
  balance?: number;
  max: number;
  limit: number;
  unit: number;
}

/** Everything a subscriber card is personalised with. */
export interface PursePersonalisation {
  csn: Uint8Array;
  issuerId: Uint8Array;
  expiry: Uint8Array;
  profileVersion: number;
  keyVersion: number;
  /** The key set of every purse, by purse id (IssuerKeys.cardKeySets). */
  keys: ReadonlyMap<number, CardKeySet>;
  purses: PurseInit[];
  /** 4..8 ASCII digits; when given, DEBIT and LOAD need a VERIFY first (seed 004). */
  pin?: string;
}

const PIN_TRIES = 3;
const EMPTY = new Uint8Array(0);

interface Session {
  purse: number;
  skAuth: Uint8Array;
  skDebit: Uint8Array;
}

export class PurseApplet implements Application {
  readonly aid = AID_PURSE;
  readonly #store: RecordStore;
  readonly #crypto: PurseCrypto;
  readonly #rng: Rng;
  #rc: Uint8Array | undefined;
  #session: Session | undefined;
  readonly #pin: PinRecord;

  constructor(store: RecordStore, cipher: BlockCipherProvider, rng: Rng) {
    this.#store = store;
    this.#crypto = new PurseCrypto(cipher);
    this.#rng = rng;
    this.#pin = new PinRecord(store, KEY_PIN);
  }

  /**
   * Writes a fresh card's records (personalisation bureau step), in one commit.
   * @throws RangeError naming the field that does not fit its layout.
   */
  static personalise(store: RecordStore, p: PursePersonalisation): void {
    if (p.csn.length !== 8) throw new RangeError('csn must be 8 bytes');
    if (p.issuerId.length !== 4) throw new RangeError('issuerId must be 4 bytes');
    if (p.expiry.length !== 3) throw new RangeError('expiry must be 3 bytes');
    if (p.purses.length < 1 || p.purses.length > 15) throw new RangeError('purses must list 1..15 purses');
    const ids = new Set(p.purses.map((x) => x.id));
    if (ids.size !== p.purses.length) throw new RangeError('purse ids must be different');
    const identity = new CardIdentity(
      p.csn,
      p.issuerId,
      p.expiry,
      p.profileVersion,
      p.keyVersion,
      p.pin ? 1 : 0,
      p.purses.map((x) => x.id),
    );
    const writes: StoreWrite[] = [
      [KEY_IDENTITY, identity.encode()],
      [KEY_LOG_HEAD, Uint8Array.of(0, 0)],
    ];
    for (const x of p.purses) {
      const k = p.keys.get(x.id);
      if (!k) throw new RangeError(`keys: no key set for purse ${x.id}`);
      writes.push([keyKeys(x.id), concatBytes(k.auth, k.debit, k.credit, k.proof)]);
    }
    for (const x of p.purses) {
      const balance = x.balance ?? 0;
      if (balance > x.max) throw new RangeError(`purse ${x.id}: balance above max`);
      writes.push([keyPurse(x.id), new PurseState(balance, x.max, x.limit, x.unit, 0, 0).encode()]);
    }
    p.purses.forEach((_, i) => writes.push([keyMeterData(i + 1), new Uint8Array(MeterData.LENGTH)]));
    if (p.pin) writes.push([KEY_PIN, newPinRecord(p.pin, PIN_TRIES)]);
    store.commit(writes);
  }

  reset(): void {
    this.#endSession();
    if (this.#rc) wipe(this.#rc);
    this.#rc = undefined;
    this.#pin.reset();
  }

  #endSession(): void {
    if (this.#session) wipe(this.#session.skAuth, this.#session.skDebit);
    this.#session = undefined;
  }

  #identity(): CardIdentity {
    return CardIdentity.decode(this.#store.view(KEY_IDENTITY)!);
  }

  /** The key set of purse `purse` (present whenever the purse is). */
  #keys(purse: number): CardKeySet {
    const k = this.#store.view(keyKeys(purse))!;
    return { auth: k.slice(0, 16), debit: k.slice(16, 32), credit: k.slice(32, 48), proof: k.slice(48, 64) };
  }

  /**
   * FCI (ISO/IEC 7816-4 §5.3.3): 6F { 84 AID, A5 { 5A CSN, 42 issuer id, 5F24 expiry,
   * C1 profile version, C2 purse ids, C3 key version } }.
   */
  select(): Uint8Array {
    const id = this.#identity();
    const a5 = concatBytes(
      Uint8Array.of(0x5a, 8),
      id.csn,
      Uint8Array.of(0x42, 4),
      id.issuerId,
      Uint8Array.of(0x5f, 0x24, 3),
      id.expiry,
      Uint8Array.of(0xc1, 1, id.profileVersion, 0xc2, id.purses.length),
      Uint8Array.from(id.purses),
      Uint8Array.of(0xc3, 1, id.keyVersion),
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
    if (c.cla === 0x00) {
      switch (c.ins) {
        case INS_GET_CHALLENGE:
          return this.#getChallenge(c);
        case INS_MUTUAL_AUTHENTICATE:
          return this.#mutualAuthenticate(c);
        case INS_READ_RECORD:
          return this.#readRecord(c);
        case INS_UPDATE_RECORD:
          return this.#updateRecord(c);
        case INS_VERIFY:
          return this.#verify(c);
        case INS_CHANGE_REFERENCE_DATA:
          return this.#changePin(c);
      }
    } else {
      switch (c.ins) {
        case INS_READ_PURSE:
          return this.#readPurse(c);
        case INS_DEBIT:
          return this.#debit(c);
        case INS_LOAD:
          return this.#load(c);
        case INS_REMOTE_LOAD:
          return this.#remoteLoad(c);
        case INS_PUT_CONFIG:
          return this.#putConfig(c);
        case INS_CLEAR_READINGS:
          return this.#clearReadings(c);
      }
    }
    throw new SwError(SW_INS_NOT_SUPPORTED);
  }

  /** GET CHALLENGE 00 84 00 00 08 (ISO/IEC 7816-4 §11.5.3) -> RC(8). */
  #getChallenge(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 0 || (c.ne !== 8 && c.ne !== 256)) throw new SwError(SW_WRONG_LENGTH);
    if (this.#rc) wipe(this.#rc);
    this.#rc = this.#rng.bytes(8);
    return this.#rc.slice();
  }

  /** Takes the card challenge: it is single-use, whatever the outcome of the command. */
  #takeChallenge(): Uint8Array {
    const rc = this.#rc;
    this.#rc = undefined;
    if (!rc) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'no card challenge: GET CHALLENGE first');
    return rc;
  }

  /**
   * MUTUAL AUTHENTICATE 00 82 00 purse 10 RS(8) ‖ S_sam(8) 08 (ISO/IEC 7816-4 §11.5.4: P2 = the key
   * reference, here the purse whose key set is used) -> S_card(8). Opens a session for that purse.
   */
  #mutualAuthenticate(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 === 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 16) throw new SwError(SW_WRONG_LENGTH);
    this.#endSession();
    const rc = this.#takeChallenge();
    this.#purse(c.p2);
    const d = c.dataView();
    const rs = d.slice(0, 8);
    const sSam = d.subarray(8, 16);
    const id = this.#identity();
    const keys = this.#keys(c.p2);
    const auth = this.#crypto.cardAuthenticate(keys.auth, rc, rs, sSam, id.csn);
    if (!auth) throw new SwError(SW_VERIFICATION_FAILED, 'SAM cryptogram wrong');
    const skDebit = this.#crypto.sessionKey(keys.debit, rc, rs);
    this.#session = { purse: c.p2, skAuth: auth.skAuth, skDebit };
    return auth.sCard;
  }

  #purse(p2: number): PurseState {
    const b = this.#store.view(keyPurse(p2));
    if (!b || p2 === 0) throw new SwError(SW_REFERENCED_DATA_NOT_FOUND, 'no such purse');
    return PurseState.decode(b);
  }

  /**
   * READ PURSE 80 5C 00 purse [08 RV] 00 -> purse state (17) [‖ MAC(K_proof, 'S' ‖ CSN ‖ purse ‖
   * balance ‖ counter ‖ RV)]. The signed form also ends the SAM session: a debit authorised
   * before the status was signed can no longer be made, so the status stays true.
   */
  #readPurse(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    const purse = this.#purse(c.p2);
    if (c.nc === 0) return purse.encode();
    if (c.nc !== 8) throw new SwError(SW_WRONG_LENGTH);
    this.#endSession();
    const id = this.#identity();
    const mac = this.#crypto.mac(
      this.#keys(c.p2).proof,
      statusMacInput(id.csn, c.p2, purse.balance, purse.counter, c.dataView()),
    );
    return concatBytes(purse.encode(), mac);
  }

  #checkPin(id: CardIdentity): void {
    if (id.pinRequired && !this.#pin.verified)
      throw new SwError(SW_SECURITY_STATUS_NOT_SATISFIED, 'cardholder PIN not verified');
  }

  #fields(c: CommandApdu, id: CardIdentity, counter: number): TransactionFields {
    const d = c.dataView();
    return {
      csn: id.csn,
      purse: c.p2,
      amount: u32(d, 0),
      counter,
      terminalId: d.slice(4, 8),
      dateTime: d.slice(8, 14),
    };
  }

  /**
   * DEBIT 80 54 00 purse 1E amount(4) terminal(4) datetime(6) RV(8) MAC(8) 00
   * -> balance after(4) ‖ counter(2) ‖ proof(8).
   */
  #debit(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    const purse = this.#purse(c.p2);
    if (c.nc !== 30) throw new SwError(SW_WRONG_LENGTH);
    const session = this.#session;
    if (!session) throw new SwError(SW_SECURITY_STATUS_NOT_SATISFIED, 'no SAM session');
    // The session's keys are purse `session.purse`'s: another utility's SAM can never debit this purse.
    if (session.purse !== c.p2)
      throw new SwError(SW_SECURITY_STATUS_NOT_SATISFIED, `the SAM session is for purse ${session.purse}`);
    const id = this.#identity();
    this.#checkPin(id);
    if (purse.status !== 0) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'purse blocked');
    if (purse.counter >= 0xffff) throw new SwError(SW_COUNTER_EXHAUSTED);
    const d = c.dataView();
    const t = this.#fields(c, id, purse.counter + 1);
    const rv = d.slice(14, 22);
    if (!verifyMac(this.#crypto.mac(session.skDebit, debitMacInput(t, rv)), d.subarray(22, 30))) {
      // A wrong MAC ends the session: no second guess with the same session keys.
      this.#endSession();
      throw new SwError(SW_VERIFICATION_FAILED, 'debit MAC wrong');
    }
    checkDateTime(t.dateTime);
    if (t.amount === 0) throw new SwError(SW_WRONG_DATA, 'amount 0');
    if (t.amount > purse.limit) throw new SwError(SW_LIMIT_EXCEEDED);
    if (t.amount > purse.balance) throw new SwError(SW_INSUFFICIENT_BALANCE);
    const after = purse.balance - t.amount;
    const proof = this.#crypto.mac(this.#keys(c.p2).proof, recordMacInput('D', t, after, rv));
    const record = new LogRecord(
      LOG_TYPE_DEBIT,
      t.purse,
      t.amount,
      after,
      t.counter,
      t.terminalId,
      t.dateTime,
      rv,
      proof,
    );
    this.#store.commit([[keyPurse(c.p2), purse.with(after, t.counter).encode()], ...this.#logWrites(record)]);
    return concatBytes(be32(after), be16(t.counter), proof);
  }

  /**
   * LOAD 80 52 00 purse 16 amount(4) terminal(4) datetime(6) MAC(8) 00, after GET CHALLENGE
   * -> balance after(4) ‖ counter(2) ‖ receipt(8).
   */
  #load(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    const purse = this.#purse(c.p2);
    if (c.nc !== 22) throw new SwError(SW_WRONG_LENGTH);
    const rc = this.#takeChallenge();
    const id = this.#identity();
    this.#checkPin(id);
    if (purse.status !== 0) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'purse blocked');
    if (purse.counter >= 0xffff) throw new SwError(SW_COUNTER_EXHAUSTED);
    const d = c.dataView();
    const t = this.#fields(c, id, purse.counter + 1);
    const keys = this.#keys(c.p2);
    const sk = this.#crypto.creditSessionKey(keys.credit, rc);
    try {
      if (!verifyMac(this.#crypto.mac(sk, loadMacInput(t)), d.subarray(14, 22)))
        throw new SwError(SW_VERIFICATION_FAILED, 'load cryptogram wrong');
      checkDateTime(t.dateTime);
      if (t.amount === 0) throw new SwError(SW_WRONG_DATA, 'amount 0');
      if (t.amount > purse.max - purse.balance) throw new SwError(SW_MAX_BALANCE_EXCEEDED);
      const after = purse.balance + t.amount;
      const mac = this.#crypto.mac(keys.proof, recordMacInput('L', t, after, rc));
      const record = new LogRecord(
        LOG_TYPE_LOAD,
        t.purse,
        t.amount,
        after,
        t.counter,
        t.terminalId,
        t.dateTime,
        rc,
        mac,
      );
      this.#store.commit([
        [keyPurse(c.p2), purse.with(after, t.counter).encode()],
        ...this.#logWrites(record),
      ]);
      const receipt = this.#crypto.mac(sk, loadReceiptInput(t, after));
      return concatBytes(be32(after), be16(t.counter), receipt);
    } finally {
      wipe(sk);
    }
  }

  #logWrites(record: LogRecord): StoreWrite[] {
    const head = this.#store.view(KEY_LOG_HEAD)!;
    const next = head[0]!;
    const count = Math.min(LOG_RECORDS, head[1]! + 1);
    return [
      [keyLog(next), record.encode()],
      [KEY_LOG_HEAD, Uint8Array.of((next + 1) % LOG_RECORDS, count)],
    ];
  }

  /** The log record `n` (1 = newest), or undefined. */
  logRecord(n: number): Uint8Array | undefined {
    const head = this.#store.view(KEY_LOG_HEAD)!;
    if (n < 1 || n > head[1]!) return undefined;
    return this.#store.read(keyLog((head[0]! - n + LOG_RECORDS * 2) % LOG_RECORDS));
  }

  /**
   * READ RECORD 00 B2 n P2 00 (ISO/IEC 7816-4 §11.3.3), P2 = SFI << 3 | 4:
   * SFI 01 log (n = 1 newest .. 10), SFI 02 meter data (n = purse position), SFI 03 offline
   * configuration and SFI 04 offline readings (n = purse position; never written = all zeros).
   */
  #readRecord(c: CommandApdu): Uint8Array {
    const sfi = c.p2 >> 3;
    if ((c.p2 & 7) !== 4 || c.p1 === 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 0) throw new SwError(SW_WRONG_LENGTH);
    let rec: Uint8Array | undefined;
    if (sfi === SFI_LOG) rec = this.logRecord(c.p1);
    else if (sfi === SFI_METER_DATA) rec = this.#store.read(keyMeterData(c.p1));
    else if (sfi === SFI_OFFLINE_CONFIG || sfi === SFI_OFFLINE_READINGS) {
      if (!this.#hasOfflineRecords(c.p1)) throw new SwError(SW_RECORD_NOT_FOUND);
      const config = sfi === SFI_OFFLINE_CONFIG;
      rec =
        this.#store.read(config ? keyOfflineConfig(c.p1) : keyOfflineReading(c.p1)) ??
        new Uint8Array(config ? OfflineConfig.LENGTH : OfflineReading.LENGTH);
    } else throw new SwError(SW_FILE_NOT_FOUND, 'no EF with this SFI');
    if (!rec) throw new SwError(SW_RECORD_NOT_FOUND);
    return rec;
  }

  /**
   * UPDATE RECORD 00 DC n 14 48 data(72) (ISO/IEC 7816-4 §11.4.5) on the meter-data EF: allowed
   * only in a SAM session (an authenticated meter, seed 002).
   */
  #updateRecord(c: CommandApdu): Uint8Array {
    if (c.p2 === ((SFI_OFFLINE_READINGS << 3) | 4) && c.p1 !== 0) return this.#updateReadings(c);
    if (c.p2 !== ((SFI_METER_DATA << 3) | 4) || c.p1 === 0) throw new SwError(SW_INCORRECT_P1P2);
    if (!this.#store.view(keyMeterData(c.p1))) throw new SwError(SW_RECORD_NOT_FOUND);
    if (c.nc !== MeterData.LENGTH) throw new SwError(SW_WRONG_LENGTH);
    const session = this.#session;
    if (!session) throw new SwError(SW_SECURITY_STATUS_NOT_SATISFIED, 'no SAM session');
    // Record n belongs to the n-th purse: a meter writes its own utility's record only.
    if (this.#identity().purses[c.p1 - 1] !== session.purse)
      throw new SwError(SW_SECURITY_STATUS_NOT_SATISFIED, `record ${c.p1} is not purse ${session.purse}'s`);
    this.#store.commit([[keyMeterData(c.p1), c.data]]);
    return EMPTY;
  }

  /**
   * UPDATE RECORD 00 DC n 24 90 record(144) on the offline-readings EF (issue 17): only in a SAM
   * session for the n-th purse (like SFI 02). The card checks the format byte and the purse byte;
   * the 'M' MAC is the utility's to check (the card has no K_offline).
   */
  #updateReadings(c: CommandApdu): Uint8Array {
    if (!this.#hasOfflineRecords(c.p1)) throw new SwError(SW_RECORD_NOT_FOUND);
    if (c.nc !== OfflineReading.LENGTH) throw new SwError(SW_WRONG_LENGTH);
    const session = this.#session;
    if (!session) throw new SwError(SW_SECURITY_STATUS_NOT_SATISFIED, 'no SAM session');
    const purse = this.#identity().purses[c.p1 - 1]!;
    if (purse !== session.purse)
      throw new SwError(SW_SECURITY_STATUS_NOT_SATISFIED, `record ${c.p1} is not purse ${session.purse}'s`);
    const d = c.dataView();
    if (d[0] !== OFFLINE_FORMAT || d[4] !== purse)
      throw new SwError(SW_WRONG_DATA, 'not an offline reading of this purse');
    checkReadingLayout(d);
    this.#store.commit([[keyOfflineReading(c.p1), c.data]]);
    return EMPTY;
  }

  /** Position (1..) of purse `purse` in the FCI, or 0. */
  #position(purse: number): number {
    return this.#identity().purses.indexOf(purse) + 1;
  }

  /** Whether position `n` has SFI 03 / 04 records (the first OFFLINE_RECORD_PURSES purses do). */
  #hasOfflineRecords(n: number): boolean {
    return n >= 1 && n <= Math.min(this.#identity().purses.length, OFFLINE_RECORD_PURSES);
  }

  /**
   * REMOTE LOAD 80 56 00 p 1A seq(4) ‖ amount(4) ‖ seller id(4) ‖ date-time(6) ‖ MAC(8) 00
   * -> outcome(1) ‖ balance(4) ‖ counter(2) ‖ receipt(8) (issue 17, purse/offline.ts).
   *
   * MAC = MAC(K_remote[p], 'R' ‖ CSN ‖ p ‖ seq ‖ amount ‖ seller ‖ date-time): only utility p can
   * make it, for this card and purse only. No SAM session, no challenge, no PIN: it adds value the
   * subscriber paid for, so it may be carried by anyone — and since it has no challenge, what
   * makes it single-use is the sequence number: applied in order (a gap answers 9409), each once
   * (seq <= last answers 9000 outcome 02 without a write). The utility signs one message per
   * (CSN, purse, seq), so "already applied" is definite. The balance and counter of an outcome-02
   * answer are the purse's current ones; the receipt is the same bytes as at the first delivery.
   */
  #remoteLoad(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    const purse = this.#purse(c.p2);
    if (c.nc !== REMOTE_LOAD_LENGTH) throw new SwError(SW_WRONG_LENGTH);
    if (purse.status !== 0) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'purse blocked');
    const d = c.dataView();
    const id = this.#identity();
    const f: RemoteLoadFields = {
      csn: id.csn,
      purse: c.p2,
      seq: u32(d, 0),
      amount: u32(d, 4),
      sellerId: d.slice(8, 12),
      dateTime: d.slice(12, 18),
    };
    const keys = this.#keys(c.p2);
    const kRemote = deriveRemoteKey(this.#crypto, keys.credit);
    try {
      if (!this.#crypto.check(kRemote, d.subarray(18, 26), remoteLoadMacInput(f)))
        throw new SwError(SW_VERIFICATION_FAILED, 'remote load MAC wrong');
      checkDateTime(f.dateTime);
      if (f.seq === 0 || f.amount === 0) throw new SwError(SW_WRONG_DATA, 'seq and amount must be > 0');
      const receipt = this.#crypto.mac(kRemote, remoteReceiptInput(f));
      const last = u32(this.#store.view(keyRemoteSeq(c.p2)) ?? new Uint8Array(4));
      if (f.seq <= last)
        return concatBytes(
          Uint8Array.of(REMOTE_ALREADY_APPLIED),
          be32(purse.balance),
          be16(purse.counter),
          receipt,
        );
      if (f.seq > last + 1) throw new SwError(SW_REMOTE_LOAD_GAP, `remote load ${last + 1} has not arrived`);
      if (purse.counter >= 0xffff) throw new SwError(SW_COUNTER_EXHAUSTED);
      if (f.amount > purse.max - purse.balance) throw new SwError(SW_MAX_BALANCE_EXCEEDED);
      const after = purse.balance + f.amount;
      const t = { ...f, counter: purse.counter + 1, terminalId: f.sellerId };
      const rv = concatBytes(be32(f.seq), new Uint8Array(4));
      const mac = this.#crypto.mac(keys.proof, recordMacInput('R', t, after, rv));
      const record = new LogRecord(
        LOG_TYPE_REMOTE_LOAD,
        f.purse,
        f.amount,
        after,
        t.counter,
        f.sellerId,
        f.dateTime,
        rv,
        mac,
      );
      // One commit: the balance, the counter, the seq and the log record, or none of them.
      this.#store.commit([
        [keyPurse(c.p2), purse.with(after, t.counter).encode()],
        [keyRemoteSeq(c.p2), be32(f.seq)],
        ...this.#logWrites(record),
      ]);
      return concatBytes(Uint8Array.of(REMOTE_APPLIED), be32(after), be16(t.counter), receipt);
    } finally {
      wipe(kRemote, keys.auth, keys.debit, keys.credit, keys.proof);
    }
  }

  /**
   * PUT CONFIG 80 58 00 p 2C config(36) ‖ MAC(8) (issue 17): MAC = MAC(K_remote[p], 'W' ‖ CSN ‖
   * config); the version must be above the stored record's (9407: an old config is never put
   * back). The meter MAC inside is the offline meter's SAM's to check.
   */
  #putConfig(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    this.#purse(c.p2);
    if (c.nc !== PUT_CONFIG_LENGTH) throw new SwError(SW_WRONG_LENGTH);
    const d = c.dataView();
    const config = d.slice(0, OfflineConfig.LENGTH);
    if (config[0] !== OFFLINE_FORMAT || config[4] !== c.p2)
      throw new SwError(SW_WRONG_DATA, 'not an offline configuration of this purse');
    const id = this.#identity();
    this.#checkRemoteMac(c.p2, d.subarray(OfflineConfig.LENGTH), configWriteMacInput(id.csn, config));
    checkDateTime(config.subarray(9, 15));
    if (u32(config, 5) === 0) throw new SwError(SW_WRONG_DATA, 'config version 0');
    const n = this.#position(c.p2);
    if (!this.#hasOfflineRecords(n))
      throw new SwError(SW_NOT_ENOUGH_MEMORY, 'no offline records for this purse');
    const stored = this.#store.view(keyOfflineConfig(n));
    if (u32(config, 5) <= (stored ? u32(stored, 5) : 0))
      throw new SwError(SW_REPLAY, 'config version not newer');
    this.#store.commit([[keyOfflineConfig(n), config]]);
    return EMPTY;
  }

  /**
   * CLEAR READINGS 80 5A 00 p 10 readingMac(8) ‖ MAC(8) (issue 17): MAC = MAC(K_remote[p], 'X' ‖
   * CSN ‖ p ‖ readingMac). Clears the SFI 04 record only when it is still the reading the utility
   * collected (its MAC = readingMac; 6985 otherwise), so a newer reading is never lost.
   */
  #clearReadings(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    this.#purse(c.p2);
    if (c.nc !== CLEAR_READINGS_LENGTH) throw new SwError(SW_WRONG_LENGTH);
    const d = c.dataView();
    const readingMac = d.slice(0, 8);
    const id = this.#identity();
    this.#checkRemoteMac(c.p2, d.subarray(8, 16), clearReadingsMacInput(id.csn, c.p2, readingMac));
    const n = this.#position(c.p2);
    const stored = this.#hasOfflineRecords(n) ? this.#store.view(keyOfflineReading(n)) : undefined;
    if (!stored || stored.every((x) => x === 0) || !equalBytes(stored.subarray(135, 143), readingMac))
      throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'the stored reading is not the one collected');
    this.#store.commit([[keyOfflineReading(n), undefined]]);
    return EMPTY;
  }

  /** @throws SwError 6300 unless `mac` = MAC(K_remote[purse], input). */
  #checkRemoteMac(purse: number, mac: Uint8Array, input: Uint8Array): void {
    const keys = this.#keys(purse);
    const k = deriveRemoteKey(this.#crypto, keys.credit);
    const ok = this.#crypto.check(k, mac, input);
    wipe(k, keys.auth, keys.debit, keys.credit, keys.proof);
    if (!ok) throw new SwError(SW_VERIFICATION_FAILED, 'utility MAC wrong');
  }

  #pinRecord(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 !== 1) throw new SwError(SW_INCORRECT_P1P2);
    const rec = this.#store.read(KEY_PIN);
    if (!rec) throw new SwError(SW_REFERENCED_DATA_NOT_FOUND, 'no PIN on this card');
    return rec;
  }

  /** VERIFY 00 20 00 01 [08 PIN block] (ISO/IEC 7816-4 §11.5.6; platform/PinRecord.ts). */
  #verify(c: CommandApdu): Uint8Array {
    return this.#pin.verify(c, this.#pinRecord(c));
  }

  /** CHANGE REFERENCE DATA 00 24 00 01 10 old PIN block ‖ new PIN block (ISO/IEC 7816-4 §11.5.7). */
  #changePin(c: CommandApdu): Uint8Array {
    return this.#pin.change(c, this.#pinRecord(c));
  }
}

/** The PIN block of a PIN (platform/PinRecord.ts), kept here for the applet's existing importers. */
export { pinBlock };
