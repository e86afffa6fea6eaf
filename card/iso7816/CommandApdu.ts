import { MalformedDataError } from './errors.js';
import { toHex } from '../util/hex.js';
import { u16 } from '../util/bigEndian.js';

/** The seven cases of ISO/IEC 7816-3 §12.1.2 (short S / extended E). */
export type ApduCase = '1' | '2S' | '2E' | '3S' | '3E' | '4S' | '4E';

export interface CommandApduInit {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  /** Command data; absent or empty means Nc = 0. */
  data?: Uint8Array;
  /** Maximum number of response bytes expected, 1..65536; undefined means "no Le field". */
  ne?: number;
  /** Force the extended length form even when the short one would do. */
  extended?: boolean;
}

const MAX_NC = 65535;
const MAX_NE = 65536;
const EMPTY = new Uint8Array(0);

/**
 * Hand-over slot used by `decode()`: the constructor takes this array as its data without a
 * second copy. It is set and cleared synchronously around one `new`, so no caller can observe
 * or share it; the public constructor always copies.
 */
let adopted: Uint8Array | undefined;

function copyOut(bytes: Uint8Array, start: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  out.set(bytes.subarray(start, start + length));
  return out;
}

function make(
  cla: number,
  ins: number,
  p1: number,
  p2: number,
  data: Uint8Array,
  ne: number | undefined,
  extended: boolean,
): CommandApdu {
  adopted = data;
  try {
    return new CommandApdu({ cla, ins, p1, p2, data, ne, extended });
  } finally {
    adopted = undefined;
  }
}

function checkByte(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 255)
    throw new RangeError(`${name} must be a byte, got ${value}`);
  return value;
}

/**
 * An immutable command APDU (ISO/IEC 7816-4 §5.1, 7816-3 §12.1).
 *
 * ```
 *  case 1   CLA INS P1 P2
 *  case 2S  CLA INS P1 P2 Le                       Le = 00 means Ne = 256
 *  case 2E  CLA INS P1 P2 00 Le1 Le2               Le = 0000 means Ne = 65536
 *  case 3S  CLA INS P1 P2 Lc data                  Lc = 01..FF
 *  case 3E  CLA INS P1 P2 00 Lc1 Lc2 data          Lc = 0001..FFFF
 *  case 4S  CLA INS P1 P2 Lc data Le
 *  case 4E  CLA INS P1 P2 00 Lc1 Lc2 data Le1 Le2
 * ```
 * The short or extended form is remembered, so `encode(decode(b))` is byte-exact.
 */
export class CommandApdu {
  readonly cla: number;
  readonly ins: number;
  readonly p1: number;
  readonly p2: number;
  /** undefined: no Le field; otherwise 1..65536. */
  readonly ne: number | undefined;
  /** True when the length fields use the extended form. */
  readonly extended: boolean;
  readonly #data: Uint8Array;

  /** @throws RangeError naming the parameter when a field is out of range. */
  constructor(init: CommandApduInit) {
    this.cla = checkByte(init.cla, 'cla');
    this.ins = checkByte(init.ins, 'ins');
    this.p1 = checkByte(init.p1, 'p1');
    this.p2 = checkByte(init.p2, 'p2');
    const data = init.data ?? EMPTY;
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
    if (data.length > MAX_NC)
      throw new RangeError(`data must be at most ${MAX_NC} bytes, got ${data.length}`);
    if (adopted !== undefined && adopted === data) {
      // Called from decode(): `adopted` is a fresh private copy nobody else holds.
      this.#data = adopted;
      adopted = undefined;
    } else {
      // new Uint8Array(typedArray) copies and always yields a plain Uint8Array (never a Buffer view).
      this.#data = data.length === 0 ? EMPTY : new Uint8Array(data);
    }
    if (init.ne !== undefined && (!Number.isInteger(init.ne) || init.ne < 1 || init.ne > MAX_NE)) {
      throw new RangeError(`ne must be 1..65536 or undefined, got ${init.ne}`);
    }
    this.ne = init.ne;
    // Case 1 has no extended form, so `extended` is only kept when there is an Lc or Le field.
    const hasBody = this.#data.length > 0 || init.ne !== undefined;
    this.extended =
      (init.extended === true && hasBody) ||
      this.#data.length > 255 ||
      (init.ne !== undefined && init.ne > 256);
  }

  /** Nc, the number of command data bytes. */
  get nc(): number {
    return this.#data.length;
  }

  /** A copy of the command data. */
  get data(): Uint8Array {
    return this.#data.slice();
  }

  /** The data without copying; callers must not modify it. */
  dataView(): Uint8Array {
    return this.#data;
  }

  get case(): ApduCase {
    const e = this.extended ? 'E' : 'S';
    if (this.#data.length === 0) return this.ne === undefined ? '1' : (`2${e}` as ApduCase);
    return this.ne === undefined ? (`3${e}` as ApduCase) : (`4${e}` as ApduCase);
  }

  /** Byte-exact encoding in the remembered form. */
  encode(): Uint8Array {
    const nc = this.#data.length;
    const ne = this.ne;
    if (!this.extended) {
      const out = new Uint8Array(4 + (nc > 0 ? 1 + nc : 0) + (ne !== undefined ? 1 : 0));
      out[0] = this.cla;
      out[1] = this.ins;
      out[2] = this.p1;
      out[3] = this.p2;
      let o = 4;
      if (nc > 0) {
        out[o++] = nc;
        out.set(this.#data, o);
        o += nc;
      }
      if (ne !== undefined) out[o] = ne === 256 ? 0 : ne;
      return out;
    }
    // Extended: one 00 byte, then Lc (2 bytes) if data, then Le (2 bytes) if any.
    const out = new Uint8Array(5 + (nc > 0 ? 2 + nc : 0) + (ne !== undefined ? 2 : 0));
    out[0] = this.cla;
    out[1] = this.ins;
    out[2] = this.p1;
    out[3] = this.p2;
    out[4] = 0;
    let o = 5;
    if (nc > 0) {
      out[o++] = nc >> 8;
      out[o++] = nc & 0xff;
      out.set(this.#data, o);
      o += nc;
    }
    if (ne !== undefined) {
      const le = ne === 65536 ? 0 : ne;
      out[o++] = le >> 8;
      out[o] = le & 0xff;
    }
    return out;
  }

  /**
   * Decodes a command APDU (ISO/IEC 7816-3 §12.1.3, the decoding of the body; 7816-4 §5.1).
   *
   * With n the total length and B1 the byte after the header:
   * ```
   *  n = 4                                   case 1
   *  n = 5                                   case 2S  Le = B1
   *  B1 != 00, n = 5 + B1                    case 3S  Lc = B1
   *  B1 != 00, n = 6 + B1                    case 4S  Lc = B1, Le = last byte
   *  B1 = 00,  n = 7                         case 2E  Le = B2 B3
   *  B1 = 00,  B2B3 != 0000, n = 7 + B2B3    case 3E  Lc = B2 B3
   *  B1 = 00,  B2B3 != 0000, n = 9 + B2B3    case 4E  Lc = B2 B3, Le = last two bytes
   * ```
   * Error offsets: a truncated input reports its own length (where the next byte was expected);
   * an input that is too long reports the first surplus byte; a zero extended Lc reports 5.
   *
   * The data is copied once out of `bytes` (the caller keeps ownership of its buffer).
   * @throws MalformedDataError with the offset of the first byte that does not fit any case.
   * @throws TypeError when `bytes` is not a Uint8Array.
   */
  static decode(bytes: Uint8Array): CommandApdu {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
    const n = bytes.length;
    if (n < 4)
      throw new MalformedDataError(`a command APDU has at least 4 bytes, got ${n}`, n, bytes, 'apdu');
    const cla = bytes[0]!;
    const ins = bytes[1]!;
    const p1 = bytes[2]!;
    const p2 = bytes[3]!;
    if (n === 4) return make(cla, ins, p1, p2, EMPTY, undefined, false);
    const b1 = bytes[4]!;
    if (n === 5) return make(cla, ins, p1, p2, EMPTY, b1 === 0 ? 256 : b1, false);
    if (b1 !== 0) {
      // Short form: Lc = B1 (01..FF).
      const lc = b1;
      if (n === 5 + lc) return make(cla, ins, p1, p2, copyOut(bytes, 5, lc), undefined, false);
      if (n === 6 + lc) {
        const le = bytes[5 + lc]!;
        return make(cla, ins, p1, p2, copyOut(bytes, 5, lc), le === 0 ? 256 : le, false);
      }
      throw new MalformedDataError(
        n < 5 + lc
          ? `short Lc=${lc} announces ${lc} data bytes but only ${n - 5} follow`
          : `short Lc=${lc} allows at most one Le byte after the data, got ${n - 5 - lc} bytes`,
        n < 5 + lc ? n : 6 + lc,
        bytes,
        'apdu',
      );
    }
    // B1 = 00 followed by more bytes: extended length fields.
    if (n === 6)
      throw new MalformedDataError(
        'extended length field is truncated (needs 2 more bytes)',
        6,
        bytes,
        'apdu',
      );
    const l = u16(bytes, 5);
    if (n === 7) return make(cla, ins, p1, p2, EMPTY, l === 0 ? 65536 : l, true);
    if (l === 0)
      throw new MalformedDataError('extended Lc must not be 0000 when bytes follow it', 5, bytes, 'apdu');
    if (n === 7 + l) return make(cla, ins, p1, p2, copyOut(bytes, 7, l), undefined, true);
    if (n === 9 + l) {
      const le = u16(bytes, 7 + l);
      return make(cla, ins, p1, p2, copyOut(bytes, 7, l), le === 0 ? 65536 : le, true);
    }
    let reason: string;
    let offset: number;
    if (n < 7 + l) {
      reason = `extended Lc=${l} announces ${l} data bytes but only ${n - 7} follow`;
      offset = n;
    } else if (n === 8 + l) {
      reason = `extended Le after ${l} data bytes needs 2 bytes, got 1`;
      offset = n;
    } else {
      reason = `extended Lc=${l} allows at most a 2-byte Le after the data, got ${n - 7 - l} bytes`;
      offset = 9 + l;
    }
    throw new MalformedDataError(reason, offset, bytes, 'apdu');
  }

  toString(): string {
    return toHex(this.encode());
  }
}
