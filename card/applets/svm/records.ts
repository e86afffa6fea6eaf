/**
 * Byte layouts of the SVM's records. Immutable values with decode/encode (STYLE.md rule 3).
 */
import { MalformedDataError } from '../../iso7816/errors.js';
import { toHex } from '../../util/hex.js';
import { put16, put32, u16, u32 } from '../../util/bigEndian.js';
import { showDateTime } from '../../util/bcd.js';

function need(b: Uint8Array, n: number, kind: string): void {
  if (b.length !== n)
    throw new MalformedDataError(`${kind} is ${n} bytes, got ${b.length}`, Math.min(b.length, n), b, kind);
}

/** SVM register, 12 bytes: balance u32 ‖ max u32 ‖ SVM counter u32. */
export class SvmRegister {
  constructor(
    readonly balance: number,
    readonly max: number,
    readonly counter: number,
  ) {}

  static decode(b: Uint8Array): SvmRegister {
    need(b, 12, 'SVM register');
    return new SvmRegister(u32(b, 0), u32(b, 4), u32(b, 8));
  }

  encode(): Uint8Array {
    const b = new Uint8Array(12);
    put32(b, 0, this.balance);
    put32(b, 4, this.max);
    put32(b, 8, this.counter);
    return b;
  }
}

/**
 * Pending-transfer record, 29 bytes: CSN(8) ‖ purse(1) ‖ amount u32 ‖ expected card counter u16 ‖
 * date-time(6) ‖ RV(8). Written by BEGIN TRANSFER, cleared by COMPLETE or CANCEL TRANSFER.
 */
export class PendingTransfer {
  constructor(
    readonly csn: Uint8Array,
    readonly purse: number,
    readonly amount: number,
    readonly counter: number,
    readonly dateTime: Uint8Array,
    readonly rv: Uint8Array,
  ) {}

  static decode(b: Uint8Array): PendingTransfer {
    need(b, 29, 'pending transfer');
    return new PendingTransfer(b.slice(0, 8), b[8]!, u32(b, 9), u16(b, 13), b.slice(15, 21), b.slice(21, 29));
  }

  encode(): Uint8Array {
    const b = new Uint8Array(29);
    b.set(this.csn, 0);
    b[8] = this.purse;
    put32(b, 9, this.amount);
    put16(b, 13, this.counter);
    b.set(this.dateTime, 15);
    b.set(this.rv, 21);
    return b;
  }

  toJSON(): Record<string, unknown> {
    return {
      csn: toHex(this.csn),
      purse: this.purse,
      amount: this.amount,
      counter: this.counter,
      dateTime: showDateTime(this.dateTime),
      rv: toHex(this.rv),
    };
  }
}

export const SVM_LOG_CARD_CREDIT = 0x01;
export const SVM_LOG_TOKEN = 0x02;
export const SVM_LOG_HOST_CREDIT = 0x03;
export const SVM_LOG_CANCEL = 0x04;
/** Issue 13: a pending transfer settled by the host (HOST SETTLE): credited / released. */
export const SVM_LOG_SETTLE_COMPLETE = 0x05;
export const SVM_LOG_SETTLE_CANCEL = 0x06;

/**
 * SVM log record, 29 bytes: type(1: 01 card credit, 02 token, 03 host credit, 04 cancelled
 * transfer, 05 transfer settled by the host (credited), 06 transfer cancelled by the host) ‖ reference(10: CSN ‖ card counter, or host tx id ‖ 0000) ‖ amount u32 ‖
 * balance after u32 ‖ SVM counter u32 ‖ date-time(6).
 */
export class SvmLogRecord {
  constructor(
    readonly type: number,
    readonly ref: Uint8Array,
    readonly amount: number,
    readonly balanceAfter: number,
    readonly svmCounter: number,
    readonly dateTime: Uint8Array,
  ) {}

  static decode(b: Uint8Array): SvmLogRecord {
    need(b, 29, 'SVM log record');
    return new SvmLogRecord(b[0]!, b.slice(1, 11), u32(b, 11), u32(b, 15), u32(b, 19), b.slice(23, 29));
  }

  encode(): Uint8Array {
    const b = new Uint8Array(29);
    b[0] = this.type;
    b.set(this.ref, 1);
    put32(b, 11, this.amount);
    put32(b, 15, this.balanceAfter);
    put32(b, 19, this.svmCounter);
    b.set(this.dateTime, 23);
    return b;
  }

  toJSON(): Record<string, unknown> {
    const types: Record<number, string> = {
      1: 'card credit',
      2: 'token',
      3: 'host credit',
      4: 'cancelled transfer',
      5: 'host-settled transfer',
      6: 'host-cancelled transfer',
    };
    return {
      type: types[this.type] ?? this.type,
      ref: toHex(this.ref),
      amount: this.amount,
      balanceAfter: this.balanceAfter,
      svmCounter: this.svmCounter,
      dateTime: this.dateTime.every((x) => x === 0) ? null : showDateTime(this.dateTime),
    };
  }
}

/**
 * HOST SETTLE payload, 25 bytes (docs/purse-spec.md §5.8): decision(1: 01 complete, 02 cancel) ‖
 * slot(1) ‖ CSN(8) ‖ purse(1) ‖ card counter u16 ‖ amount u32 ‖ host tx id(8). Signed by the host
 * (S2h), authorised by the SAM over the SVM's challenge, echoed in the SVM's signed answer.
 */
export class SettlePayload {
  static readonly LENGTH = 25;
  constructor(
    readonly decision: number,
    readonly slot: number,
    readonly csn: Uint8Array,
    readonly purse: number,
    readonly counter: number,
    readonly amount: number,
    readonly txId: Uint8Array,
  ) {}

  static decode(b: Uint8Array): SettlePayload {
    need(b, SettlePayload.LENGTH, 'settle payload');
    return new SettlePayload(b[0]!, b[1]!, b.slice(2, 10), b[10]!, u16(b, 11), u32(b, 13), b.slice(17, 25));
  }

  /** @throws RangeError naming the field that does not fit. */
  encode(): Uint8Array {
    const byte = (v: number, n: string) => {
      if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new RangeError(`${n} must be a byte, got ${v}`);
    };
    byte(this.decision, 'decision');
    byte(this.slot, 'slot');
    byte(this.purse, 'purse');
    if (this.csn.length !== 8) throw new RangeError('csn must be 8 bytes');
    if (this.txId.length !== 8) throw new RangeError('txId must be 8 bytes');
    if (!Number.isInteger(this.counter) || this.counter < 0 || this.counter > 0xffff)
      throw new RangeError(`counter must be a u16, got ${this.counter}`);
    if (!Number.isInteger(this.amount) || this.amount < 0 || this.amount > 0xffffffff)
      throw new RangeError(`amount must be a u32, got ${this.amount}`);
    const b = new Uint8Array(SettlePayload.LENGTH);
    b[0] = this.decision;
    b[1] = this.slot;
    b.set(this.csn, 2);
    b[10] = this.purse;
    put16(b, 11, this.counter);
    put32(b, 13, this.amount);
    b.set(this.txId, 17);
    return b;
  }
}
