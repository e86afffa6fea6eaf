/**
 * What a meter (or a vending point) uploads for clearing, and how the host checks each record.
 *
 * Card log record (docs/purse-spec.md §3.1), 38 bytes, MAC'd by the card under K_proof[purse](CSN):
 * ```
 *  0 type (01 load, 02 debit) | 1 purse | 2 amount u32 | 6 balance after u32 | 10 counter u16 |
 * 12 terminal id (4) | 16 date-time BCD (6) | 22 RV (8) | 30 MAC (8)
 *  MAC input = 'D' / 'L' ‖ CSN ‖ purse ‖ amount ‖ counter ‖ balance after ‖ terminal ‖ date-time ‖ RV
 * ```
 * SVM log record (card/applets/svm/records.ts), 29 bytes, and the SVM's MAC over it under K_svm:
 * ```
 *  0 type (01 card credit, 02 token, 03 host credit, 04 cancelled transfer, 05 / 06 transfer
 *    settled by the host: credited / released) |
 *  1 reference (10: CSN ‖ card counter, or host tx id ‖ 00 00) | 11 amount u32 |
 * 15 balance after u32 | 19 SVM counter u32 | 23 date-time (6)
 *  MAC input = 'J' ‖ meter id (3) ‖ record (29)   (READ LOG, docs/purse-spec.md §5.9)
 * ```
 * The card record's MAC input is mirrored here because card/index.ts does not export the chip's
 * recordMacInput; test/clearing/hostIngest.test.ts checks the mirror against the chip's builder.
 */
import type { IssuerKeys, PurseCrypto } from '../../card/index.js';
import {
  be16,
  be32,
  concatBytes,
  pendingMacInput,
  svmLogMacInput,
  u16,
  u32,
  verifyMac,
  wipe,
} from '../../card/index.js';

export const CARD_RECORD_LENGTH = 38;
export const SVM_RECORD_LENGTH = 29;
export const MAC_LENGTH = 8;

export const CARD_LOG_LOAD = 0x01;
export const CARD_LOG_DEBIT = 0x02;
/** Issue 17: a REMOTE LOAD (docs/purse-spec.md §13.2), a credit like a load, its MAC letter 'R'. */
export const CARD_LOG_REMOTE_LOAD = 0x03;
export const SVM_LOG_CARD_CREDIT = 0x01;
export const SVM_LOG_TOKEN = 0x02;
export const SVM_LOG_HOST_CREDIT = 0x03;
export const SVM_LOG_CANCEL = 0x04;

/** One SVM log record as the chip wrote it, with the SVM's MAC over it. */
export interface SvmRecordUpload {
  readonly record: Uint8Array; // 29
  readonly mac: Uint8Array; // 8
}

/** One card log record (with its own MAC inside) and the serial of the card it came from. */
export interface CardRecordUpload {
  readonly csn: Uint8Array; // 8
  readonly record: Uint8Array; // 38
}

/** A transfer the meter's SVM holds pending (BEGIN TRANSFER done, neither COMPLETE nor CANCEL). */
export interface PendingReport {
  readonly csn: Uint8Array; // 8
  readonly purse: number;
  readonly amount: number;
  /** The card counter the debit would take. */
  readonly counter: number;
  readonly dateTime: Uint8Array; // 6
  /**
   * The SVM challenge the debit proof must cover (the H = 55 pending entry always carries it);
   * without it the host never completes the transfer (ClearingService rule 4).
   */
  readonly rv?: Uint8Array; // 8
  /** The SVM slot holding it (HOST SETTLE names it). */
  readonly slot: number;
  /**
   * MAC(K_svm, 'P' ‖ meter id ‖ slot ‖ pending record ‖ challenge): READ PENDING P1 = 01 for the
   * page's challenge (MeterUpload.challenge). Checked before the entry is believed.
   */
  readonly mac?: Uint8Array; // 8
}

/** A blacklisted card presented at the meter. */
export interface BlacklistAttemptReport {
  readonly serial: Uint8Array; // 8
  readonly purse: number;
  /** When, as the meter tells it (ISO 8601 or BCD YYMMDDhhmmss in hex). */
  readonly at: string;
}

/** One page of a meter's upload. */
export interface MeterUpload {
  readonly svmRecords: readonly SvmRecordUpload[];
  readonly cardRecords: readonly CardRecordUpload[];
  readonly pending: readonly PendingReport[];
  readonly attempts: readonly BlacklistAttemptReport[];
  /**
   * The host's challenge of the H = 55 request that brought this page: with it every pending entry
   * must carry the SVM's MAC for it. A page without it (not from the power line) is unsigned: its
   * entries are kept without their RV, so they never complete a transfer on their own word.
   */
  readonly challenge?: Uint8Array; // 8
}

/** The SVM's 29-byte pending record: CSN ‖ purse ‖ amount u32 ‖ counter u16 ‖ date-time(6) ‖ RV(8). */
export function pendingRecord(p: PendingReport & { rv: Uint8Array }): Uint8Array {
  return concatBytes(p.csn, Uint8Array.of(p.purse), be32(p.amount), be16(p.counter), p.dateTime, p.rv);
}

/** A card log record's fields. */
export interface CardRecordFields {
  readonly type: number;
  readonly purse: number;
  readonly amount: number;
  readonly balanceAfter: number;
  readonly counter: number;
  readonly terminalId: Uint8Array;
  readonly dateTime: Uint8Array;
  readonly rv: Uint8Array;
  readonly mac: Uint8Array;
}

/** An SVM log record's fields. */
export interface SvmRecordFields {
  readonly type: number;
  readonly ref: Uint8Array;
  readonly amount: number;
  readonly balanceAfter: number;
  readonly svmCounter: number;
  readonly dateTime: Uint8Array;
}

/** @throws RangeError when `b` is not a 38-byte record. */
export function cardRecordFields(b: Uint8Array): CardRecordFields {
  if (b.length !== CARD_RECORD_LENGTH)
    throw new RangeError(`card record must be ${CARD_RECORD_LENGTH} bytes, got ${b.length}`);
  return {
    type: b[0]!,
    purse: b[1]!,
    amount: u32(b, 2),
    balanceAfter: u32(b, 6),
    counter: u16(b, 10),
    terminalId: b.slice(12, 16),
    dateTime: b.slice(16, 22),
    rv: b.slice(22, 30),
    mac: b.slice(30, 38),
  };
}

/** @throws RangeError when `b` is not a 29-byte record. */
export function svmRecordFields(b: Uint8Array): SvmRecordFields {
  if (b.length !== SVM_RECORD_LENGTH)
    throw new RangeError(`SVM record must be ${SVM_RECORD_LENGTH} bytes, got ${b.length}`);
  return {
    type: b[0]!,
    ref: b.slice(1, 11),
    amount: u32(b, 11),
    balanceAfter: u32(b, 15),
    svmCounter: u32(b, 19),
    dateTime: b.slice(23, 29),
  };
}

/** The card log record's MAC input (mirror of PurseCrypto.recordMacInput). */
export function cardRecordMacInput(csn: Uint8Array, f: CardRecordFields): Uint8Array {
  return concatBytes(
    Uint8Array.of(f.type === CARD_LOG_DEBIT ? 0x44 : f.type === CARD_LOG_REMOTE_LOAD ? 0x52 : 0x4c),
    csn,
    Uint8Array.of(f.purse),
    be32(f.amount),
    be16(f.counter),
    be32(f.balanceAfter),
    f.terminalId,
    f.dateTime,
    f.rv,
  );
}

/**
 * The SVM record's MAC input: `'J' (4A) ‖ meter id (3) ‖ record (29)` under K_svm — the chip's own
 * builder (card/applets/PurseCrypto.ts svmLogMacInput, docs/purse-spec.md §5.9 READ LOG).
 */
export function svmRecordMacInput(meterId: Uint8Array, record: Uint8Array): Uint8Array {
  return svmLogMacInput(meterId, record);
}

/** How many K_proof keys the host keeps derived (one TDES diversification each, 2 blocks). */
const PROOF_CACHE = 4096;

/**
 * The keys clearing needs, derived as the chips derive them (docs/purse-spec.md §2):
 * K_proof[u](CSN) = diversify(MK_proof[u], CSN) and K_svm = diversify(MK_svm[u], meter id ‖
 * pairing). The host holds the masters of its own utility only; keys are cached (a bounded map)
 * because a batch checks many records of few cards.
 */
export class ClearingKeys {
  readonly #issuer: IssuerKeys;
  readonly #crypto: PurseCrypto;
  readonly #proofMasters = new Map<number, Uint8Array>();
  readonly #proof = new Map<string, Uint8Array>();
  readonly #svm = new Map<string, Uint8Array>();

  constructor(issuer: IssuerKeys) {
    this.#issuer = issuer;
    this.#crypto = issuer.crypto;
  }

  /** Whether the scheme has keys for `purse`. */
  hasPurse(purse: number): boolean {
    return this.#issuer.purses.includes(purse);
  }

  #proofKey(csn: Uint8Array, purse: number): Uint8Array {
    const id = `${purse}:${Buffer.from(csn).toString('hex')}`;
    let k = this.#proof.get(id);
    if (!k) {
      let mk = this.#proofMasters.get(purse);
      if (!mk) {
        const u = this.#issuer.utility(purse);
        mk = u.proof;
        wipe(u.auth, u.debit, u.credit, u.svm, u.commission, ...u.host.map(([, h]) => h));
        this.#proofMasters.set(purse, mk);
      }
      k = this.#crypto.cardKey(mk, csn);
      if (this.#proof.size >= PROOF_CACHE) {
        const first = this.#proof.keys().next().value!;
        wipe(this.#proof.get(first)!);
        this.#proof.delete(first);
      }
      this.#proof.set(id, k);
    }
    return k;
  }

  /** Whether the card record's MAC is the card's own (constant-time compare). */
  checkCardRecord(csn: Uint8Array, f: CardRecordFields): boolean {
    if (!this.hasPurse(f.purse)) return false;
    const expected = this.#crypto.mac(this.#proofKey(csn, f.purse), cardRecordMacInput(csn, f));
    return verifyMac(expected, f.mac);
  }

  /** Whether `mac` is the SVM's MAC over `record` (K_svm of the meter's pair `pairing`). */
  checkSvmRecord(
    meterId: Uint8Array,
    purse: number,
    record: Uint8Array,
    mac: Uint8Array,
    pairing = 1,
  ): boolean {
    const id = `${purse}:${pairing}:${Buffer.from(meterId).toString('hex')}`;
    let k = this.#svm.get(id);
    if (!k) {
      k = this.#issuer.svmKey(meterId, purse, pairing);
      this.#svm.set(id, k);
    }
    return verifyMac(this.#crypto.mac(k, svmRecordMacInput(meterId, record)), mac);
  }

  /**
   * Checks the SVM's MAC over a pending entry signed for `challenge` (card pendingMacInput:
   * 'P' ‖ meter id ‖ slot ‖ record ‖ challenge) under that meter's K_svm.
   */
  checkPending(
    meterId: Uint8Array,
    purse: number,
    slot: number,
    record: Uint8Array,
    challenge: Uint8Array,
    mac: Uint8Array,
    pairing = 1,
  ): boolean {
    return verifyMac(
      this.#crypto.mac(
        this.#svmKeyOf(meterId, purse, pairing),
        pendingMacInput(meterId, slot, record, challenge),
      ),
      mac,
    );
  }

  #svmKeyOf(meterId: Uint8Array, purse: number, pairing: number): Uint8Array {
    const id = `${purse}:${pairing}:${Buffer.from(meterId).toString('hex')}`;
    let k = this.#svm.get(id);
    if (!k) {
      k = this.#issuer.svmKey(meterId, purse, pairing);
      this.#svm.set(id, k);
    }
    return k;
  }

  /** Zero-fills every cached key. */
  wipe(): void {
    for (const k of [...this.#proof.values(), ...this.#svm.values(), ...this.#proofMasters.values()]) wipe(k);
    this.#proof.clear();
    this.#svm.clear();
    this.#proofMasters.clear();
  }
}
