import { MalformedDataError } from './errors.js';
import { toHex } from '../util/hex.js';

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
    const data = init.data ?? new Uint8Array(0);
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
    if (data.length > MAX_NC)
      throw new RangeError(`data must be at most ${MAX_NC} bytes, got ${data.length}`);
    this.#data = Uint8Array.from(data);
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
   * Decodes a command APDU (ISO/IEC 7816-3 §12.1.3, the decoding of the body).
   * @throws MalformedDataError with the offset of the first byte that does not fit any case.
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
    if (n === 4) return new CommandApdu({ cla, ins, p1, p2 });
    const b4 = bytes[4]!;
    if (n === 5) return new CommandApdu({ cla, ins, p1, p2, ne: b4 === 0 ? 256 : b4 });
    if (b4 !== 0) {
      // Short form: Lc = b4.
      const lc = b4;
      if (n === 5 + lc) return new CommandApdu({ cla, ins, p1, p2, data: bytes.subarray(5, 5 + lc) });
      if (n === 6 + lc) {
        const le = bytes[5 + lc]!;
        return new CommandApdu({
          cla,
          ins,
          p1,
          p2,
          data: bytes.subarray(5, 5 + lc),
          ne: le === 0 ? 256 : le,
        });
      }
      throw new MalformedDataError(
        `short Lc=${lc} needs ${5 + lc} or ${6 + lc} bytes, got ${n}`,
        Math.min(n, 5 + lc),
        bytes,
        'apdu',
      );
    }
    // b4 = 00 with more bytes: extended form.
    if (n === 6) throw new MalformedDataError('extended length field is truncated', 6, bytes, 'apdu');
    const l = (bytes[5]! << 8) | bytes[6]!;
    if (n === 7) return new CommandApdu({ cla, ins, p1, p2, ne: l === 0 ? 65536 : l, extended: true });
    if (l === 0) throw new MalformedDataError('extended Lc must not be 0000', 5, bytes, 'apdu');
    const data = bytes.subarray(7, 7 + l);
    if (n === 7 + l) return new CommandApdu({ cla, ins, p1, p2, data, extended: true });
    if (n === 9 + l) {
      const le = (bytes[7 + l]! << 8) | bytes[8 + l]!;
      return new CommandApdu({ cla, ins, p1, p2, data, ne: le === 0 ? 65536 : le, extended: true });
    }
    throw new MalformedDataError(
      `extended Lc=${l} needs ${7 + l} or ${9 + l} bytes, got ${n}`,
      Math.min(n, 7 + l),
      bytes,
      'apdu',
    );
  }

  toString(): string {
    return toHex(this.encode());
  }
}
