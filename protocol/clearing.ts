/**
 * Payloads of the clearing commands over the power line (issue 13; docs/host-protocol.md
 * "Clearing"). Each is carried by an authenticated COMMAND (S2h over H ‖ R3 ‖ payload) and answered
 * by an M the meter's SAM encrypts under Ks, with the SVM-signed balance and the SAM's meter id
 * appended (`… ‖ Balance u32 ‖ ID(3)`, as for the usage check). All integers big-endian.
 *
 * ```
 *  H=55 upload request    from u32 ‖ svmFrom u32 ‖ challenge(8)                            16 bytes
 *  H=55 upload answer     status(1)=00 ‖ blacklist version u32 ‖ next u32 ‖ oldest u32
 *                         ‖ svmNext u32 ‖ more(1) ‖ nP u8 ‖ pending(38)×nP
 *                         ‖ nS u16 ‖ svm record(29) ‖ svm MAC(8) ×nS
 *                         ‖ nJ u16 ‖ journal entry ×nJ ‖ Balance u32 ‖ ID(3)
 *     pending entry       slot u8 ‖ CSN(8) ‖ purse u8 ‖ amount u32 ‖ card counter u16 ‖ date-time(6)
 *                         ‖ RV(8) ‖ MAC(8): slot ‖ the SVM's pending record(29) as READ PENDING P1=01
 *                         signed it for the request's challenge: MAC(K_svm, 'P' ‖ meter id ‖ slot ‖
 *                         record ‖ challenge), which the host checks before believing the entry
 *     journal entry       seq u32 ‖ kind(1) ‖ 01: CSN(8) ‖ card log record(38)
 *                                           02: CSN(8) ‖ purse u8 ‖ time RTC BCD(6)
 *  H=56 blacklist         version u32 ‖ mode(1: 00 full, 01 delta) ‖ base u32 ‖ nK u8 ‖ KH versions(nK)
 *                         ‖ nC u8 ‖ card key versions(nC)
 *                         ‖ nA u16 ‖ add CSN(8)×nA ‖ nR u16 ‖ remove CSN(8)×nR
 *  H=56 blacklist answer  status(1) ‖ version held u32 ‖ entries held u32 ‖ Balance u32 ‖ ID(3)  16
 *  H=54 settle            the SVM's HOST SETTLE request and answer (docs/purse-spec.md), carried as is
 * ```
 * Decoders throw only MalformedDataError (kind 'host-payload') with the offset of the fault;
 * encoders throw RangeError/TypeError naming the field.
 */
import { concatBytes, toHex } from '../card/index.js';
import { be16, be32 } from '../card/index.js';
import { MAX_PAYLOAD, METER_ID_LENGTH } from './constants.js';
import { PayloadReader } from './payloads.js';
import type { RtcTime } from './RtcTime.js';

/** Largest upload answer body the meter core fills (the SAM's limit is 8181; M ≤ 8192). */
export const UPLOAD_PAGE_BUDGET = 8000;
/** Most pending transfers one upload answer lists. */
export const UPLOAD_MAX_PENDING = 16;
export const CSN_LENGTH = 8;
export const CARD_LOG_RECORD_LENGTH = 38;
export const SVM_LOG_RECORD_LENGTH = 29;
export const SVM_RECORD_MAC_LENGTH = 8;
export const PENDING_ENTRY_LENGTH = 38;
/** The host's challenge in an upload request, for which the SVM signs its pending entries. */
export const UPLOAD_CHALLENGE_LENGTH = 8;
/** The SVM challenge a pending transfer's debit proof covers (docs/purse-spec.md §5.7). */
export const RV_LENGTH = 8;
/** Journal entry kinds. */
export const JOURNAL_CARD_RECORD = 0x01;
export const JOURNAL_BLACKLISTED = 0x02;
/**
 * Refusal reason of H=54 when the SVM answered HOST SETTLE with 6985 (it already credited that card
 * counter, or holds no challenge): definite, never worth a retry of the same decision.
 */
export const REFUSE_SETTLE_CONFLICT = 0x07;
/** Upload answer status. */
export const UPLOAD_OK = 0x00;
/** `more` bits: the meter holds journal entries / SVM records past this page. */
export const MORE_JOURNAL = 0x01;
export const MORE_SVM = 0x02;

/** Blacklist modes. */
export const BLACKLIST_FULL = 0x00;
export const BLACKLIST_DELTA = 0x01;
/** Blacklist answer statuses. */
export const BL_APPLIED = 0x00;
/** The version sent is not higher than the one held: nothing changed (also the answer to a repeat). */
export const BL_STALE = 0x01;
/** A delta whose base is not the version held: nothing changed; send the full list. */
export const BL_BASE_MISMATCH = 0x02;
/** The list would pass the meter's capacity: nothing changed. */
export const BL_FULL = 0x03;
/**
 * A key whitelist without the key version of the session that carries it: refused, nothing changed
 * (the host would lock itself out of the meter for good).
 */
export const BL_LOCKOUT = 0x04;
export const BL_STATUS_NAMES: Readonly<Record<number, string>> = {
  0: 'applied',
  1: 'stale version',
  2: 'delta base mismatch',
  3: 'over capacity',
  4: 'whitelist excludes this session key',
};
/** Most serials one meter holds. */
export const BLACKLIST_CAPACITY = 4096;

function u32Arg(v: number, name: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw new RangeError(`${name} must be a u32, got ${v}`);
}
function bytesArg(b: Uint8Array, n: number, name: string): void {
  if (!(b instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (b.length !== n) throw new RangeError(`${name} must be ${n} bytes, got ${b.length}`);
}
function byteArg(v: number, name: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new RangeError(`${name} must be 0..255, got ${v}`);
}
/** Negative, zero or positive as `a` sorts before, with or after `b` (unsigned bytes). */
export function compareCsn(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length && i < b.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

// ---------------------------------------------------------------- record upload (H = 55)

export interface UploadRequest {
  /** First journal sequence number wanted; entries below it are acknowledged (the meter may drop them). */
  readonly from: number;
  /** First SVM log sequence number wanted (SVM READ LOG, docs/purse-spec.md §5.9), not an SVM counter. */
  readonly svmFrom: number;
  /**
   * The host's fresh challenge: the meter lists its pending transfers as READ PENDING P1 = 01
   * signed them for it, so an entry cannot be kept from another upload or made up by the meter bus.
   */
  readonly challenge: Uint8Array;
}
export function encodeUploadRequest(r: UploadRequest): Uint8Array {
  u32Arg(r.from, 'from');
  u32Arg(r.svmFrom, 'svmFrom');
  bytesArg(r.challenge, UPLOAD_CHALLENGE_LENGTH, 'challenge');
  return concatBytes(be32(r.from), be32(r.svmFrom), r.challenge);
}
export function decodeUploadRequest(b: Uint8Array): UploadRequest {
  const r = new PayloadReader(b, 'upload request');
  const from = r.u32('from');
  const svmFrom = r.u32('svmFrom');
  const challenge = r.take(UPLOAD_CHALLENGE_LENGTH, 'challenge');
  r.end();
  return { from, svmFrom, challenge };
}

export interface PendingEntryWire {
  readonly slot: number;
  readonly csn: Uint8Array;
  readonly purse: number;
  readonly amount: number;
  readonly counter: number;
  /** BCD YYMMDDhhmmss of BEGIN TRANSFER, or six zero bytes when the SVM does not report it. */
  readonly dateTime: Uint8Array;
  /**
   * The SVM's challenge RV of this transfer (READ PENDING), which the card's debit proof covers:
   * the host completes a transfer only on a debit record carrying this RV.
   */
  readonly rv: Uint8Array;
  /** MAC(K_svm, 'P' ‖ meter id ‖ slot ‖ pending record ‖ challenge) (card pendingMacInput). */
  readonly mac: Uint8Array;
}

/** The SVM's 29-byte pending record of an entry: CSN ‖ purse ‖ amount u32 ‖ counter u16 ‖ date-time ‖ RV. */
export function pendingRecordOf(p: Omit<PendingEntryWire, 'slot' | 'mac'>): Uint8Array {
  return concatBytes(p.csn, Uint8Array.of(p.purse), be32(p.amount), be16(p.counter), p.dateTime, p.rv);
}
export interface SvmRecordWire {
  /** The SVM log record as the chip keeps it (card/applets/svm/records.ts SvmLogRecord). */
  readonly record: Uint8Array;
  /** The SVM's MAC over it, as the chip made it. */
  readonly mac: Uint8Array;
}
export type JournalEntry =
  | {
      readonly seq: number;
      readonly kind: 'card-record';
      readonly csn: Uint8Array;
      /** The card's log record (card/applets/purse/records.ts LogRecord) with its MAC (proof). */
      readonly record: Uint8Array;
    }
  | {
      readonly seq: number;
      readonly kind: 'blacklisted';
      readonly csn: Uint8Array;
      readonly purse: number;
      readonly time: RtcTime;
    };

/** The meter core's part of an upload answer (what it asks its SAM to encrypt). */
export interface UploadBody {
  readonly blacklistVersion: number;
  /** The `from` of the next page. */
  readonly next: number;
  /** Lowest journal sequence number the meter still holds (entries below it are gone). */
  readonly oldest: number;
  readonly svmNext: number;
  readonly moreJournal: boolean;
  readonly moreSvm: boolean;
  readonly pending: readonly PendingEntryWire[];
  readonly svmRecords: readonly SvmRecordWire[];
  readonly journal: readonly JournalEntry[];
}
/** The whole decrypted upload answer. */
export interface UploadAnswer extends UploadBody {
  readonly balance: number;
  readonly id: Uint8Array;
}

export function journalEntrySize(e: JournalEntry): number {
  return e.kind === 'card-record' ? 5 + CSN_LENGTH + CARD_LOG_RECORD_LENGTH : 5 + CSN_LENGTH + 7;
}
export const SVM_RECORD_WIRE_SIZE = SVM_LOG_RECORD_LENGTH + SVM_RECORD_MAC_LENGTH;
/** Bytes of an upload body with no SVM records and no journal entries. */
export function uploadBodyBaseSize(nPending: number): number {
  return 1 + 4 + 4 + 4 + 4 + 1 + 1 + nPending * PENDING_ENTRY_LENGTH + 2 + 2;
}

/**
 * The meter core's upload body (before the SAM appends Balance ‖ ID).
 * @throws RangeError/TypeError naming the field; RangeError when the body passes UPLOAD_PAGE_BUDGET
 *   or the journal is not strictly ascending below `next`.
 */
export function encodeUploadBody(u: UploadBody): Uint8Array {
  u32Arg(u.blacklistVersion, 'blacklistVersion');
  u32Arg(u.next, 'next');
  u32Arg(u.oldest, 'oldest');
  u32Arg(u.svmNext, 'svmNext');
  if (u.pending.length > UPLOAD_MAX_PENDING)
    throw new RangeError(`pending must hold at most ${UPLOAD_MAX_PENDING} entries`);
  const parts: Uint8Array[] = [
    Uint8Array.of(UPLOAD_OK),
    be32(u.blacklistVersion),
    be32(u.next),
    be32(u.oldest),
    be32(u.svmNext),
    Uint8Array.of((u.moreJournal ? MORE_JOURNAL : 0) | (u.moreSvm ? MORE_SVM : 0), u.pending.length),
  ];
  u.pending.forEach((p, i) => {
    byteArg(p.slot, `pending[${i}].slot`);
    bytesArg(p.csn, CSN_LENGTH, `pending[${i}].csn`);
    byteArg(p.purse, `pending[${i}].purse`);
    u32Arg(p.amount, `pending[${i}].amount`);
    if (!Number.isInteger(p.counter) || p.counter < 0 || p.counter > 0xffff)
      throw new RangeError(`pending[${i}].counter must be a u16`);
    bytesArg(p.dateTime, 6, `pending[${i}].dateTime`);
    bytesArg(p.rv, RV_LENGTH, `pending[${i}].rv`);
    bytesArg(p.mac, SVM_RECORD_MAC_LENGTH, `pending[${i}].mac`);
    parts.push(
      Uint8Array.of(p.slot),
      p.csn,
      Uint8Array.of(p.purse),
      be32(p.amount),
      be16(p.counter),
      p.dateTime,
      p.rv,
      p.mac,
    );
  });
  if (u.svmRecords.length > 0xffff) throw new RangeError('svmRecords too many');
  parts.push(be16(u.svmRecords.length));
  u.svmRecords.forEach((s, i) => {
    bytesArg(s.record, SVM_LOG_RECORD_LENGTH, `svmRecords[${i}].record`);
    bytesArg(s.mac, SVM_RECORD_MAC_LENGTH, `svmRecords[${i}].mac`);
    parts.push(s.record, s.mac);
  });
  if (u.journal.length > 0xffff) throw new RangeError('journal too many');
  parts.push(be16(u.journal.length));
  let last = -1;
  u.journal.forEach((e, i) => {
    u32Arg(e.seq, `journal[${i}].seq`);
    if (e.seq <= last || e.seq >= u.next)
      throw new RangeError(`journal[${i}].seq ${e.seq} must ascend strictly and stay below next`);
    last = e.seq;
    bytesArg(e.csn, CSN_LENGTH, `journal[${i}].csn`);
    if (e.kind === 'card-record') {
      bytesArg(e.record, CARD_LOG_RECORD_LENGTH, `journal[${i}].record`);
      parts.push(be32(e.seq), Uint8Array.of(JOURNAL_CARD_RECORD), e.csn, e.record);
    } else {
      byteArg(e.purse, `journal[${i}].purse`);
      parts.push(
        be32(e.seq),
        Uint8Array.of(JOURNAL_BLACKLISTED),
        e.csn,
        Uint8Array.of(e.purse),
        e.time.encodeBcd(),
      );
    }
  });
  const body = concatBytes(...parts);
  if (body.length > UPLOAD_PAGE_BUDGET)
    throw new RangeError(`upload body is ${body.length} bytes, over ${UPLOAD_PAGE_BUDGET}`);
  return body;
}

/**
 * Decodes a decrypted upload answer (body ‖ Balance ‖ ID). Checks every count against the bytes
 * there, the journal's order (strictly ascending, below `next`, not below `oldest`), record types.
 * @throws MalformedDataError (kind 'host-payload') with the offset of the fault.
 */
export function decodeUploadAnswer(b: Uint8Array): UploadAnswer {
  const r = new PayloadReader(b, 'upload answer');
  const status = r.u8('status');
  if (status !== UPLOAD_OK) r.fail(`unknown status ${status}`, 0);
  const blacklistVersion = r.u32('blacklist version');
  const next = r.u32('next');
  const oldest = r.u32('oldest');
  if (oldest > next) r.fail(`oldest ${oldest} > next ${next}`, 9);
  const svmNext = r.u32('svmNext');
  const moreAt = r.off;
  const more = r.u8('more');
  if ((more & ~(MORE_JOURNAL | MORE_SVM)) !== 0) r.fail(`unknown more bits ${more}`, moreAt);
  const nPAt = r.off;
  const nP = r.u8('pending count');
  if (nP > UPLOAD_MAX_PENDING) r.fail(`pending count ${nP} > ${UPLOAD_MAX_PENDING}`, nPAt);
  const pending: PendingEntryWire[] = [];
  for (let i = 0; i < nP; i++) {
    const slot = r.u8(`pending[${i}].slot`);
    const csn = r.take(CSN_LENGTH, `pending[${i}].csn`);
    const purse = r.u8(`pending[${i}].purse`);
    const amount = r.u32(`pending[${i}].amount`);
    const counter = r.u16(`pending[${i}].counter`);
    const dateTime = r.take(6, `pending[${i}].dateTime`);
    const rv = r.take(RV_LENGTH, `pending[${i}].rv`);
    const mac = r.take(SVM_RECORD_MAC_LENGTH, `pending[${i}].mac`);
    pending.push({ slot, csn, purse, amount, counter, dateTime, rv, mac });
  }
  const nS = r.u16('SVM record count');
  const svmRecords: SvmRecordWire[] = [];
  for (let i = 0; i < nS; i++) {
    const at = r.off;
    const record = r.take(SVM_LOG_RECORD_LENGTH, `svm[${i}].record`);
    if (record[0]! < 1 || record[0]! > 6) r.fail(`svm[${i}]: unknown record type ${record[0]}`, at); // 01..06, card/applets/svm/records.ts
    svmRecords.push({ record, mac: r.take(SVM_RECORD_MAC_LENGTH, `svm[${i}].mac`) });
  }
  const nJ = r.u16('journal count');
  const journal: JournalEntry[] = [];
  let last = -1;
  for (let i = 0; i < nJ; i++) {
    const at = r.off;
    const seq = r.u32(`journal[${i}].seq`);
    if (seq <= last) r.fail(`journal[${i}].seq ${seq} does not ascend`, at);
    if (seq >= next || seq < oldest) r.fail(`journal[${i}].seq ${seq} outside ${oldest}..${next - 1}`, at);
    last = seq;
    const kindAt = r.off;
    const kind = r.u8(`journal[${i}].kind`);
    const csn = r.take(CSN_LENGTH, `journal[${i}].csn`);
    if (kind === JOURNAL_CARD_RECORD) {
      const recAt = r.off;
      const record = r.take(CARD_LOG_RECORD_LENGTH, `journal[${i}].record`);
      if (record[0] !== 1 && record[0] !== 2) r.fail(`journal[${i}]: card record type ${record[0]}`, recAt);
      journal.push({ seq, kind: 'card-record', csn, record });
    } else if (kind === JOURNAL_BLACKLISTED) {
      const purse = r.u8(`journal[${i}].purse`);
      journal.push({ seq, kind: 'blacklisted', csn, purse, time: r.rtc(`journal[${i}].time`) });
    } else r.fail(`journal[${i}]: unknown kind ${kind}`, kindAt);
  }
  const balance = r.u32('Balance');
  const id = r.take(METER_ID_LENGTH, 'ID');
  r.end();
  return {
    blacklistVersion,
    next,
    oldest,
    svmNext,
    moreJournal: (more & MORE_JOURNAL) !== 0,
    moreSvm: (more & MORE_SVM) !== 0,
    pending,
    svmRecords,
    journal,
    balance,
    id,
  };
}

// ---------------------------------------------------------------- blacklist (H = 56)

export interface BlacklistUpdate {
  /** 1..2^32-1; the meter applies only a version higher than the one it holds. */
  readonly version: number;
  readonly mode: 'full' | 'delta';
  /** Delta only: the version this delta applies to (must be the meter's). 0 for a full list. */
  readonly base: number;
  /**
   * Accepted host key versions KH[n] (the meter refuses HOST INIT for any other). Full: empty = no
   * restriction. Delta: empty = unchanged.
   */
  readonly keyVersions: readonly number[];
  /**
   * Accepted card key versions (the purse FCI's tag C3): the slot refuses a card of any other. Same
   * rules as `keyVersions`; absent = empty.
   */
  readonly cardKeyVersions?: readonly number[];
  /** Full: the whole list. Delta: serials added. Strictly ascending. */
  readonly add: readonly Uint8Array[];
  /** Delta only: serials removed. Strictly ascending, none also in `add`. */
  readonly remove: readonly Uint8Array[];
}

function checkSerials(list: readonly Uint8Array[], name: string): void {
  list.forEach((c, i) => {
    bytesArg(c, CSN_LENGTH, `${name}[${i}]`);
    if (i > 0 && compareCsn(list[i - 1]!, c) >= 0)
      throw new RangeError(`${name} must ascend strictly (at ${i})`);
  });
}

/**
 * @throws RangeError/TypeError naming the field (including a list not in canonical order), and
 *   RangeError when the payload passes MAX_PAYLOAD (4096 bytes).
 */
export function encodeBlacklistUpdate(u: BlacklistUpdate): Uint8Array {
  u32Arg(u.version, 'version');
  if (u.version === 0) throw new RangeError('version must be ≥ 1');
  u32Arg(u.base, 'base');
  if (u.mode === 'full' && (u.base !== 0 || u.remove.length > 0))
    throw new RangeError('a full list has base 0 and no removals');
  if (u.mode === 'delta' && u.base >= u.version) throw new RangeError('base must be below version');
  if (u.mode !== 'full' && u.mode !== 'delta') throw new RangeError(`mode must be full or delta`);
  const versions = (list: readonly number[], name: string) => {
    if (list.length > 255) throw new RangeError(`${name} must hold at most 255`);
    list.forEach((k, i) => {
      byteArg(k, `${name}[${i}]`);
      if (i > 0 && list[i - 1]! >= k) throw new RangeError(`${name} must ascend strictly`);
    });
  };
  versions(u.keyVersions, 'keyVersions');
  const cardKeys = u.cardKeyVersions ?? [];
  versions(cardKeys, 'cardKeyVersions');
  checkSerials(u.add, 'add');
  checkSerials(u.remove, 'remove');
  const adds = new Set(u.add.map(toHex));
  if (u.remove.some((c) => adds.has(toHex(c)))) throw new RangeError('a serial is both added and removed');
  if (u.add.length > 0xffff || u.remove.length > 0xffff) throw new RangeError('add/remove too many');
  const out = concatBytes(
    be32(u.version),
    Uint8Array.of(u.mode === 'full' ? BLACKLIST_FULL : BLACKLIST_DELTA),
    be32(u.base),
    Uint8Array.of(u.keyVersions.length, ...u.keyVersions),
    Uint8Array.of(cardKeys.length, ...cardKeys),
    be16(u.add.length),
    ...u.add,
    be16(u.remove.length),
    ...u.remove,
  );
  // One COMMAND carries at most MAX_PAYLOAD bytes: 510 serials in a full list without key versions.
  if (out.length > MAX_PAYLOAD)
    throw new RangeError(
      `blacklist payload is ${out.length} bytes, over ${MAX_PAYLOAD}: send a shorter full list and deltas`,
    );
  return out;
}

/** @throws MalformedDataError (kind 'host-payload') with the offset of the fault. */
export function decodeBlacklistUpdate(b: Uint8Array): BlacklistUpdate {
  const r = new PayloadReader(b, 'blacklist');
  const version = r.u32('version');
  if (version === 0) r.fail('version 0', 0);
  const mode = r.u8('mode');
  if (mode !== BLACKLIST_FULL && mode !== BLACKLIST_DELTA) r.fail(`unknown mode ${mode}`, 4);
  const base = r.u32('base');
  if (mode === BLACKLIST_FULL && base !== 0) r.fail('a full list has base 0', 5);
  if (mode === BLACKLIST_DELTA && base >= version) r.fail(`base ${base} ≥ version ${version}`, 5);
  const versions = (name: string): number[] => {
    const n = r.u8(`${name} count`);
    const at = r.off;
    const list = [...r.take(n, name)];
    for (let i = 1; i < list.length; i++)
      if (list[i - 1]! >= list[i]!) r.fail(`${name} do not ascend`, at + i);
    return list;
  };
  const keyVersions = versions('key versions');
  const cardKeyVersions = versions('card key versions');
  const serials = (name: string): Uint8Array[] => {
    const n = r.u16(`${name} count`);
    const out: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      const at = r.off;
      const c = r.take(CSN_LENGTH, `${name}[${i}]`);
      if (i > 0 && compareCsn(out[i - 1]!, c) >= 0) r.fail(`${name}[${i}] does not ascend`, at);
      out.push(c);
    }
    return out;
  };
  const add = serials('add');
  const removeAt = r.off;
  const remove = serials('remove');
  if (mode === BLACKLIST_FULL && remove.length > 0) r.fail('a full list removes nothing', removeAt);
  const adds = new Set(add.map(toHex));
  if (remove.some((c) => adds.has(toHex(c)))) r.fail('a serial is both added and removed', removeAt);
  r.end();
  return {
    version,
    mode: mode === BLACKLIST_FULL ? 'full' : 'delta',
    base,
    keyVersions,
    cardKeyVersions,
    add,
    remove,
  };
}

export interface BlacklistBody {
  readonly status: number;
  /** The version the meter holds after the command. */
  readonly version: number;
  /** Serials the meter holds. */
  readonly count: number;
}
export interface BlacklistAnswer extends BlacklistBody {
  readonly balance: number;
  readonly id: Uint8Array;
}
export function encodeBlacklistBody(a: BlacklistBody): Uint8Array {
  byteArg(a.status, 'status');
  u32Arg(a.version, 'version');
  u32Arg(a.count, 'count');
  return concatBytes(Uint8Array.of(a.status), be32(a.version), be32(a.count));
}
/** @throws MalformedDataError (kind 'host-payload'). */
export function decodeBlacklistAnswer(b: Uint8Array): BlacklistAnswer {
  const r = new PayloadReader(b, 'blacklist answer');
  const status = r.u8('status');
  if (!(status in BL_STATUS_NAMES)) r.fail(`unknown status ${status}`, 0);
  const version = r.u32('version');
  const count = r.u32('count');
  const balance = r.u32('Balance');
  const id = r.take(METER_ID_LENGTH, 'ID');
  r.end();
  return { status, version, count, balance, id };
}
