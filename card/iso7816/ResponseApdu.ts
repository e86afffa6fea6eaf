import { MalformedDataError } from './errors.js';
import { SW_NO_ERROR, type StatusWord } from './sw.js';
import { toHex } from '../util/hex.js';
import { put16, u16 } from '../util/bigEndian.js';

/** Nr is at most Ne, and Ne is at most 65536 (ISO/IEC 7816-4 §5.1). */
const MAX_NR = 65536;
const EMPTY = new Uint8Array(0);

/**
 * Hand-over slot for `decode()`: a fresh private copy the constructor adopts without copying
 * again. Set and cleared synchronously around one `new`; the public constructor always copies.
 */
let adopted: Uint8Array | undefined;

/**
 * An immutable response APDU: data followed by SW1 SW2 (ISO/IEC 7816-4 §5.1).
 * ```
 *  response data (Nr bytes, 0..65536) | SW1 | SW2
 * ```
 * Any 16-bit SW is accepted here (transport level); `swTable.ts` says whether it is a valid
 * ISO/IEC 7816-4 §5.6 value and what it means.
 */
export class ResponseApdu {
  readonly sw: StatusWord;
  readonly #data: Uint8Array;

  /**
   * @throws TypeError when data is not a Uint8Array.
   * @throws RangeError when sw is not a 16-bit value or data is longer than 65536 bytes.
   */
  constructor(data: Uint8Array, sw: StatusWord) {
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
    if (!Number.isInteger(sw) || sw < 0 || sw > 0xffff)
      throw new RangeError(`sw must be 0000..FFFF, got ${sw}`);
    if (data.length > MAX_NR)
      throw new RangeError(`data must be at most ${MAX_NR} bytes, got ${data.length}`);
    if (adopted !== undefined && adopted === data) {
      this.#data = adopted;
      adopted = undefined;
    } else {
      this.#data = data.length === 0 ? EMPTY : new Uint8Array(data);
    }
    this.sw = sw;
  }

  static of(sw: StatusWord, data: Uint8Array = EMPTY): ResponseApdu {
    return new ResponseApdu(data, sw);
  }

  get sw1(): number {
    return this.sw >> 8;
  }
  get sw2(): number {
    return this.sw & 0xff;
  }
  /** A copy of the response data. */
  get data(): Uint8Array {
    return this.#data.slice();
  }
  /** The data without copying; callers must not modify it. */
  dataView(): Uint8Array {
    return this.#data;
  }
  get ok(): boolean {
    return this.sw === SW_NO_ERROR;
  }

  encode(): Uint8Array {
    const out = new Uint8Array(this.#data.length + 2);
    out.set(this.#data, 0);
    put16(out, this.#data.length, this.sw);
    return out;
  }

  /**
   * Decodes `data SW1 SW2` (ISO/IEC 7816-4 §5.1). The data is copied once.
   * @throws MalformedDataError when fewer than 2 bytes are given (offset = length), or when
   *   more than 65536 data bytes precede the trailer (offset 65536, the first surplus byte).
   * @throws TypeError when `bytes` is not a Uint8Array.
   */
  static decode(bytes: Uint8Array): ResponseApdu {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
    const n = bytes.length;
    if (n < 2) {
      throw new MalformedDataError(`a response APDU has at least 2 bytes, got ${n}`, n, bytes, 'apdu');
    }
    if (n - 2 > MAX_NR) {
      throw new MalformedDataError(
        `response data is at most ${MAX_NR} bytes (Ne max), got ${n - 2}`,
        MAX_NR,
        bytes,
        'apdu',
      );
    }
    let data = EMPTY;
    if (n > 2) {
      data = new Uint8Array(n - 2);
      data.set(bytes.subarray(0, n - 2));
    }
    adopted = data;
    try {
      return new ResponseApdu(data, u16(bytes, n - 2));
    } finally {
      adopted = undefined;
    }
  }

  toString(): string {
    return toHex(this.encode());
  }
}
