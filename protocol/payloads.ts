/**
 * Plaintexts the seed leaves open: what the value-store EnAmnt, the tariff "Mode+Unit" and the
 * usage "Time" payloads contain, and what each answer M decrypts to. All integers big-endian.
 *
 * ```
 *  EnAmnt plaintext (value store)   amount u32 ‖ txId u64                          12 bytes
 *  value-store answer               status(1) ‖ txId u64 ‖ balanceAfter u32 ‖ Balance u32 ‖ ID(3)   20
 *  tariff payload (plaintext)       activation RTC BCD(6) ‖ mode table (protocol/TariffTable)
 *  tariff answer                    status(1) ‖ Balance u32 ‖ activation BCD(6) ‖ ID(3)            14
 *  usage payload (plaintext)        Time: host clock RTC BCD(6)
 *  usage answer (Info)              Log(2973) ‖ Lt u16 ‖ ModeTB(Lt) ‖ Timer BCD(6) ‖ energy Wh u32
 *                                   ‖ flags(1) ‖ Balance u32 ‖ ID(3)
 * ```
 * ID is always the last three bytes of an answer, so the host's STEP 16 check (ID' == ID) reads the
 * same place in every answer. Decoders throw only MalformedDataError (kind 'host-payload').
 */
import { MalformedDataError } from '../card/index.js';
import { concatBytes } from '../card/index.js';
import { be16, be32, u16, u32, u64 } from '../card/index.js';
import { RtcTime } from './RtcTime.js';
import { TariffTable } from './TariffTable.js';
import { ConsumptionLog, LOG_ENCODED_SIZE } from './ConsumptionLog.js';
import type { ConsumptionLogView } from './ConsumptionLog.js';
import { decodeTxId, encodeTxId, txId as checkTxId, type TxId } from './TxId.js';
import { METER_ID_LENGTH, VS_CREDITED, VS_DUPLICATE, VS_REFUSED_MAX_BALANCE } from './constants.js';

function u32Arg(v: number, name: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw new RangeError(`${name} must be a u32, got ${v}`);
}
function idArg(id: Uint8Array): void {
  if (!(id instanceof Uint8Array) || id.length !== METER_ID_LENGTH)
    throw new RangeError(`id must be ${METER_ID_LENGTH} bytes`);
}

class Reader {
  off = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly what: string,
  ) {}
  fail(why: string, at = this.off): never {
    throw new MalformedDataError(`${this.what}: ${why}`, at, this.bytes, 'host-payload');
  }
  take(n: number, field: string): Uint8Array {
    if (this.off + n > this.bytes.length) this.fail(`truncated: ${field} needs ${n} byte(s)`);
    const b = this.bytes.slice(this.off, this.off + n);
    this.off += n;
    return b;
  }
  u8(field: string): number {
    return this.take(1, field)[0]!;
  }
  u16(field: string): number {
    return u16(this.take(2, field));
  }
  u32(field: string): number {
    return u32(this.take(4, field));
  }
  u64(field: string): bigint {
    return u64(this.take(8, field));
  }
  rtc(field: string): RtcTime {
    const at = this.off;
    const b = this.take(6, field);
    try {
      return RtcTime.decodeBcd(b);
    } catch (e) {
      return this.fail(`${field}: ${(e as Error).message}`, at);
    }
  }
  end(): void {
    if (this.off !== this.bytes.length) this.fail(`${this.bytes.length - this.off} trailing bytes`);
  }
}

// ---------------------------------------------------------------- value store (Fig. 1)

export interface ValueStorePlain {
  /** Minor currency units to credit, 1..2^32-1. */
  readonly amount: number;
  /** Host transaction id (exactly-once identity), u64. */
  readonly txId: TxId;
}
export function encodeValueStorePlain(p: ValueStorePlain): Uint8Array {
  u32Arg(p.amount, 'amount');
  if (p.amount === 0) throw new RangeError('amount must be > 0');
  return concatBytes(be32(p.amount), encodeTxId(checkTxId(p.txId, 'txId')));
}
export function decodeValueStorePlain(b: Uint8Array): ValueStorePlain {
  const r = new Reader(b, 'value-store amount');
  const amount = r.u32('amount');
  if (amount === 0) r.fail('amount 0', 0);
  const txId = decodeTxId(r.take(8, 'txId'));
  r.end();
  return { amount, txId };
}

export type ValueStoreStatus = typeof VS_CREDITED | typeof VS_DUPLICATE | typeof VS_REFUSED_MAX_BALANCE;
export interface ValueStoreAnswer {
  readonly status: ValueStoreStatus;
  readonly txId: TxId;
  /** Balance right after this transaction's credit (for a duplicate: the original figure). */
  readonly balanceAfter: number;
  /** Balance of the SVM now. */
  readonly balance: number;
  readonly id: Uint8Array;
}
export function encodeValueStoreAnswer(a: ValueStoreAnswer): Uint8Array {
  const tx = encodeTxId(checkTxId(a.txId, 'txId'));
  u32Arg(a.balanceAfter, 'balanceAfter');
  u32Arg(a.balance, 'balance');
  idArg(a.id);
  return concatBytes(Uint8Array.of(a.status), tx, be32(a.balanceAfter), be32(a.balance), a.id);
}
export function decodeValueStoreAnswer(b: Uint8Array): ValueStoreAnswer {
  const r = new Reader(b, 'value-store answer');
  const status = r.u8('status');
  if (status !== VS_CREDITED && status !== VS_DUPLICATE && status !== VS_REFUSED_MAX_BALANCE)
    r.fail(`unknown status ${status}`, 0);
  const txId = decodeTxId(r.take(8, 'txId'));
  const balanceAfter = r.u32('balanceAfter');
  const balance = r.u32('balance');
  const id = r.take(3, 'ID');
  r.end();
  return { status: status as ValueStoreStatus, txId, balanceAfter, balance, id };
}

// ---------------------------------------------------------------- tariff (Fig. 2)

export interface TariffPayload {
  /** When the meter switches to the new table (meter clock). */
  readonly activation: RtcTime;
  /** Mode table + unit charge (the meter core's binary form). */
  readonly table: TariffTable;
}
export function encodeTariffPayload(p: TariffPayload): Uint8Array {
  return concatBytes(p.activation.encodeBcd(), p.table.encode());
}
export function decodeTariffPayload(b: Uint8Array): TariffPayload {
  const r = new Reader(b, 'tariff payload');
  const activation = r.rtc('activation');
  const rest = b.subarray(6);
  try {
    return { activation, table: TariffTable.decode(rest) };
  } catch (e) {
    const off = e instanceof MalformedDataError ? 6 + e.offset : 6;
    return r.fail(`mode table: ${(e as Error).message}`, off);
  }
}

export interface TariffAnswer {
  readonly status: number;
  readonly balance: number;
  readonly activation: RtcTime;
  readonly id: Uint8Array;
}
export function encodeTariffAnswer(a: TariffAnswer): Uint8Array {
  u32Arg(a.balance, 'balance');
  idArg(a.id);
  return concatBytes(Uint8Array.of(a.status), be32(a.balance), a.activation.encodeBcd(), a.id);
}
export function decodeTariffAnswer(b: Uint8Array): TariffAnswer {
  const r = new Reader(b, 'tariff answer');
  const status = r.u8('status');
  const balance = r.u32('balance');
  const activation = r.rtc('activation');
  const id = r.take(3, 'ID');
  r.end();
  return { status, balance, activation, id };
}

// ---------------------------------------------------------------- usage and timer (Fig. 3)

export function encodeUsagePayload(time: RtcTime): Uint8Array {
  return time.encodeBcd();
}
export function decodeUsagePayload(b: Uint8Array): RtcTime {
  const r = new Reader(b, 'usage payload');
  const t = r.rtc('time');
  r.end();
  return t;
}

/** Info = Log + ModeTB + Timer + Balance + ID (Fig. 3 STEP 36), plus the energy register and flags. */
export interface UsageInfo {
  /** The meter's consumption log in its binary form (protocol/ConsumptionLog). */
  readonly log: Uint8Array;
  readonly table: TariffTable;
  /** The meter's clock when the command arrived (before it was set to the host's Time). */
  readonly timer: RtcTime;
  /** Cumulative energy register, Wh. */
  readonly energyWh: number;
  /** FLAG_* bits (tamper state). */
  readonly flags: number;
  readonly balance: number;
  readonly id: Uint8Array;
}
export function encodeUsageInfo(u: UsageInfo): Uint8Array {
  u32Arg(u.balance, 'balance');
  idArg(u.id);
  return concatBytes(encodeUsageBody(u), be32(u.balance), u.id);
}

/**
 * Info up to and including the flags byte: what the meter core knows. The meter's SAM appends the
 * SVM's balance and the meter id when it encrypts the answer (SAM HOST FINISH P1 = 53).
 * @throws RangeError naming a bad field.
 */
export function encodeUsageBody(u: Omit<UsageInfo, 'balance' | 'id'>): Uint8Array {
  if (u.log.length !== LOG_ENCODED_SIZE) throw new RangeError(`log must be ${LOG_ENCODED_SIZE} bytes`);
  const t = u.table.encode();
  u32Arg(u.energyWh, 'energyWh');
  if (!Number.isInteger(u.flags) || u.flags < 0 || u.flags > 0xff)
    throw new RangeError(`flags must be a byte, got ${u.flags}`);
  return concatBytes(u.log, be16(t.length), t, u.timer.encodeBcd(), be32(u.energyWh), Uint8Array.of(u.flags));
}
export function decodeUsageInfo(b: Uint8Array): UsageInfo & { readonly logView: ConsumptionLogView } {
  const r = new Reader(b, 'usage info');
  const log = r.take(LOG_ENCODED_SIZE, 'Log');
  let logView: ConsumptionLogView;
  try {
    logView = ConsumptionLog.decode(log);
  } catch (e) {
    return r.fail(`Log: ${(e as Error).message}`, e instanceof MalformedDataError ? e.offset : 0);
  }
  const lt = r.u16('ModeTB length');
  const tAt = r.off;
  const tb = r.take(lt, 'ModeTB');
  let table: TariffTable;
  try {
    table = TariffTable.decode(tb);
  } catch (e) {
    return r.fail(`ModeTB: ${(e as Error).message}`, tAt + (e instanceof MalformedDataError ? e.offset : 0));
  }
  const timer = r.rtc('Timer');
  const energyWh = r.u32('energy');
  const flags = r.u8('flags');
  const balance = r.u32('Balance');
  const id = r.take(3, 'ID');
  r.end();
  return { log, logView, table, timer, energyWh, flags, balance, id };
}

/** The ID at the end of any answer plaintext (STEP 16's ID'). */
export function answerId(plain: Uint8Array): Uint8Array {
  if (plain.length < METER_ID_LENGTH)
    throw new MalformedDataError('answer shorter than an ID', plain.length, plain, 'host-payload');
  return plain.slice(plain.length - METER_ID_LENGTH);
}

/** The bounded reader of payload plaintexts, shared with protocol/clearing.ts. */
export { Reader as PayloadReader };
