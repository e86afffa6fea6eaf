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

/**
 * SVM log record, 29 bytes: type(1: 01 card credit, 02 token, 03 host credit, 04 cancelled
 * transfer) ‖ reference(10: CSN ‖ card counter, or host tx id ‖ 0000) ‖ amount u32 ‖
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
