/**
 * Byte layouts of the subscriber card's records: purse state, log record, meter data, identity.
 * Each is an immutable value with `decode`/`encode`; `decode` throws MalformedDataError with the
 * offset when the bytes do not fit (STYLE.md rule 3).
 */
import { MalformedDataError } from '../../iso7816/errors.js';
import { toHex } from '../../util/hex.js';
import { put16, put32, u16, u32 } from '../../util/bigEndian.js';
import { showDateTime } from '../../util/bcd.js';

function need(b: Uint8Array, n: number, kind: string): void {
  if (!(b instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
  if (b.length !== n)
    throw new MalformedDataError(`${kind} is ${n} bytes, got ${b.length}`, Math.min(b.length, n), b, kind);
}

/**
 * Purse state, 17 bytes (also the READ PURSE response):
 * ```
 *  0 balance u32 | 4 max balance u32 | 8 per-transaction limit u32 | 12 unit/currency u16 |
 * 14 transaction counter u16 | 16 status (00 active, 01 blocked)
 * ```
 */
export class PurseState {
  static readonly LENGTH = 17;
  constructor(
    readonly balance: number,
    readonly max: number,
    readonly limit: number,
    readonly unit: number,
    readonly counter: number,
    readonly status: number,
  ) {}

  static decode(b: Uint8Array): PurseState {
    need(b, 17, 'purse state');
    return new PurseState(u32(b, 0), u32(b, 4), u32(b, 8), u16(b, 12), u16(b, 14), b[16]!);
  }

  encode(): Uint8Array {
    const b = new Uint8Array(17);
    put32(b, 0, this.balance);
    put32(b, 4, this.max);
    put32(b, 8, this.limit);
    put16(b, 12, this.unit);
    put16(b, 14, this.counter);
    b[16] = this.status;
    return b;
  }

  with(balance: number, counter: number): PurseState {
    return new PurseState(balance, this.max, this.limit, this.unit, counter, this.status);
  }
}

export const LOG_TYPE_LOAD = 0x01;
export const LOG_TYPE_DEBIT = 0x02;
/** Issue 17: a remote load (REMOTE LOAD, carried over the power line); RV = seq(4) ‖ 00 00 00 00. */
export const LOG_TYPE_REMOTE_LOAD = 0x03;

const LOG_TYPE_NAMES: Readonly<Record<number, string>> = {
  [LOG_TYPE_LOAD]: 'load',
  [LOG_TYPE_DEBIT]: 'debit',
  [LOG_TYPE_REMOTE_LOAD]: 'remote load',
};

/**
 * Log record, 38 bytes (cyclic EF, SFI 01, record 1 = newest):
 * ```
 *  0 type (01 load, 02 debit, 03 remote load) | 1 purse | 2 amount u32 | 6 balance after u32 | 10 counter u16 |
 * 12 terminal id (4) | 16 date-time BCD YYMMDDhhmmss (6) | 22 RV (8) | 30 MAC (8)
 * ```
 * MAC = MAC(K_proof, 'D'/'L'/'R' ‖ CSN ‖ purse ‖ amount ‖ counter ‖ balance ‖ terminal ‖ datetime ‖ RV):
 * for a debit it is the debit proof; RV is the SVM challenge (debit) or card challenge (load).
 */
export class LogRecord {
  static readonly LENGTH = 38;
  constructor(
    readonly type: number,
    readonly purse: number,
    readonly amount: number,
    readonly balanceAfter: number,
    readonly counter: number,
    readonly terminalId: Uint8Array,
    readonly dateTime: Uint8Array,
    readonly rv: Uint8Array,
    readonly mac: Uint8Array,
  ) {}

  static decode(b: Uint8Array): LogRecord {
    need(b, 38, 'log record');
    return new LogRecord(
      b[0]!,
      b[1]!,
      u32(b, 2),
      u32(b, 6),
      u16(b, 10),
      b.slice(12, 16),
      b.slice(16, 22),
      b.slice(22, 30),
      b.slice(30, 38),
    );
  }

  encode(): Uint8Array {
    const b = new Uint8Array(38);
    b[0] = this.type;
    b[1] = this.purse;
    put32(b, 2, this.amount);
    put32(b, 6, this.balanceAfter);
    put16(b, 10, this.counter);
    b.set(this.terminalId, 12);
    b.set(this.dateTime, 16);
    b.set(this.rv, 22);
    b.set(this.mac, 30);
    return b;
  }

  toJSON(): Record<string, unknown> {
    return {
      type: LOG_TYPE_NAMES[this.type] ?? this.type,
      purse: this.purse,
      amount: this.amount,
      balanceAfter: this.balanceAfter,
      counter: this.counter,
      terminalId: toHex(this.terminalId),
      dateTime: showDateTime(this.dateTime),
      rv: toHex(this.rv),
      mac: toHex(this.mac),
    };
  }
}

/** Event flags of the meter-data record (seed 002). */
export const EVENT_POWER_FAILURE = 0x0001;
export const EVENT_REVERSE_FLOW = 0x0002;
export const EVENT_TAMPER = 0x0004;
export const EVENT_RELAY_OPEN_LOAD_VOLTAGE = 0x0008;

export interface MeterDataFields {
  meterId: Uint8Array; // 3
  purse: number;
  dateTime: Uint8Array; // 6
  cumulative: number;
  tariffRegisters: readonly [number, number, number, number];
  sinceLastCredit: number;
  /** 00 none, 01 card transfer (CSN ‖ counter), 02 host transaction (tx id ‖ 00 00). */
  lastTransferKind: number;
  lastTransferRef: Uint8Array; // 10
  emergencyLimit: number;
  emergencyUsed: number;
  tariffPrices: readonly [number, number, number, number];
  events: number;
}

/**
 * Meter-data record, 72 bytes (linear fixed EF, SFI 02, record n = the n-th purse of the FCI),
 * written by an authenticated meter, read by the vending point (seed 002):
 * ```
 *  0 meter id (3) | 3 purse | 4 date-time BCD (6) | 10 cumulative energy/volume u32 |
 * 14 tariff registers 4 x u32 | 30 consumption since last credit u32 |
 * 34 last transfer kind (1) ‖ reference (10) | 45 emergency-credit limit u32 | 49 emergency used u32 |
 * 53 tariff prices 4 x u32 | 69 event flags u16 (b0 power failure, b1 reverse flow, b2 tamper,
 *    b3 relay-open load voltage) | 71 RFU 00
 * ```
 */
export class MeterData implements MeterDataFields {
  static readonly LENGTH = 72;
  readonly meterId: Uint8Array;
  readonly purse: number;
  readonly dateTime: Uint8Array;
  readonly cumulative: number;
  readonly tariffRegisters: readonly [number, number, number, number];
  readonly sinceLastCredit: number;
  readonly lastTransferKind: number;
  readonly lastTransferRef: Uint8Array;
  readonly emergencyLimit: number;
  readonly emergencyUsed: number;
  readonly tariffPrices: readonly [number, number, number, number];
  readonly events: number;

  constructor(f: MeterDataFields) {
    if (f.meterId.length !== 3) throw new RangeError('meterId must be 3 bytes');
    if (f.dateTime.length !== 6) throw new RangeError('dateTime must be 6 bytes');
    if (f.lastTransferRef.length !== 10) throw new RangeError('lastTransferRef must be 10 bytes');
    this.meterId = Uint8Array.from(f.meterId);
    this.purse = f.purse;
    this.dateTime = Uint8Array.from(f.dateTime);
    this.cumulative = f.cumulative;
    this.tariffRegisters = [...f.tariffRegisters] as [number, number, number, number];
    this.sinceLastCredit = f.sinceLastCredit;
    this.lastTransferKind = f.lastTransferKind;
    this.lastTransferRef = Uint8Array.from(f.lastTransferRef);
    this.emergencyLimit = f.emergencyLimit;
    this.emergencyUsed = f.emergencyUsed;
    this.tariffPrices = [...f.tariffPrices] as [number, number, number, number];
    this.events = f.events;
  }

  static decode(b: Uint8Array): MeterData {
    need(b, 72, 'meter data');
    const q = (at: number) => [u32(b, at), u32(b, at + 4), u32(b, at + 8), u32(b, at + 12)] as const;
    return new MeterData({
      meterId: b.slice(0, 3),
      purse: b[3]!,
      dateTime: b.slice(4, 10),
      cumulative: u32(b, 10),
      tariffRegisters: q(14),
      sinceLastCredit: u32(b, 30),
      lastTransferKind: b[34]!,
      lastTransferRef: b.slice(35, 45),
      emergencyLimit: u32(b, 45),
      emergencyUsed: u32(b, 49),
      tariffPrices: q(53),
      events: u16(b, 69),
    });
  }

  encode(): Uint8Array {
    const b = new Uint8Array(72);
    b.set(this.meterId, 0);
    b[3] = this.purse;
    b.set(this.dateTime, 4);
    put32(b, 10, this.cumulative);
    this.tariffRegisters.forEach((v, i) => put32(b, 14 + 4 * i, v));
    put32(b, 30, this.sinceLastCredit);
    b[34] = this.lastTransferKind;
    b.set(this.lastTransferRef, 35);
    put32(b, 45, this.emergencyLimit);
    put32(b, 49, this.emergencyUsed);
    this.tariffPrices.forEach((v, i) => put32(b, 53 + 4 * i, v));
    put16(b, 69, this.events);
    return b;
  }

  toJSON(): Record<string, unknown> {
    return {
      meterId: toHex(this.meterId),
      purse: this.purse,
      dateTime: showDateTime(this.dateTime),
      cumulative: this.cumulative,
      tariffRegisters: this.tariffRegisters,
      sinceLastCredit: this.sinceLastCredit,
      lastTransfer: { kind: this.lastTransferKind, ref: toHex(this.lastTransferRef) },
      emergencyLimit: this.emergencyLimit,
      emergencyUsed: this.emergencyUsed,
      tariffPrices: this.tariffPrices,
      events: {
        powerFailure: (this.events & EVENT_POWER_FAILURE) !== 0,
        reverseFlow: (this.events & EVENT_REVERSE_FLOW) !== 0,
        tamper: (this.events & EVENT_TAMPER) !== 0,
        relayOpenLoadVoltage: (this.events & EVENT_RELAY_OPEN_LOAD_VOLTAGE) !== 0,
      },
    };
  }
}

/**
 * Card identity, 19 bytes: CSN(8) issuer id(4) expiry YYMMDD BCD(3) profile version(1)
 * key version(1) options(1: b0 PIN required for DEBIT and LOAD) purse count(1).
 */
export class CardIdentity {
  constructor(
    readonly csn: Uint8Array,
    readonly issuerId: Uint8Array,
    readonly expiry: Uint8Array,
    readonly profileVersion: number,
    readonly keyVersion: number,
    readonly options: number,
    readonly purses: readonly number[],
  ) {}

  static decode(b: Uint8Array): CardIdentity {
    if (b.length < 19)
      throw new MalformedDataError(`card identity needs 19 bytes, got ${b.length}`, b.length, b, 'identity');
    const n = b[18]!;
    if (b.length !== 19 + n)
      throw new MalformedDataError(`card identity lists ${n} purses`, 18, b, 'identity');
    return new CardIdentity(b.slice(0, 8), b.slice(8, 12), b.slice(12, 15), b[15]!, b[16]!, b[17]!, [
      ...b.subarray(19),
    ]);
  }

  get pinRequired(): boolean {
    return (this.options & 1) !== 0;
  }

  encode(): Uint8Array {
    const b = new Uint8Array(19 + this.purses.length);
    b.set(this.csn, 0);
    b.set(this.issuerId, 8);
    b.set(this.expiry, 12);
    b[15] = this.profileVersion;
    b[16] = this.keyVersion;
    b[17] = this.options;
    b[18] = this.purses.length;
    b.set(this.purses, 19);
    return b;
  }
}
