import { MalformedDataError } from './errors.js';
import type { StatusWord } from './sw.js';
import { toHex } from '../util/hex.js';

/** An immutable response APDU: data followed by SW1 SW2 (ISO/IEC 7816-4 §5.1). */
export class ResponseApdu {
  readonly sw: StatusWord;
  readonly #data: Uint8Array;

  /** @throws RangeError when sw is not a 16-bit value. */
  constructor(data: Uint8Array, sw: StatusWord) {
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
    if (!Number.isInteger(sw) || sw < 0 || sw > 0xffff)
      throw new RangeError(`sw must be 0000..FFFF, got ${sw}`);
    this.#data = Uint8Array.from(data);
    this.sw = sw;
  }

  static of(sw: StatusWord, data: Uint8Array = new Uint8Array(0)): ResponseApdu {
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
    return this.sw === 0x9000;
  }

  encode(): Uint8Array {
    const out = new Uint8Array(this.#data.length + 2);
    out.set(this.#data, 0);
    out[this.#data.length] = this.sw >> 8;
    out[this.#data.length + 1] = this.sw & 0xff;
    return out;
  }

  /** @throws MalformedDataError when fewer than 2 bytes are given. */
  static decode(bytes: Uint8Array): ResponseApdu {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
    if (bytes.length < 2) {
      throw new MalformedDataError(
        `a response APDU has at least 2 bytes, got ${bytes.length}`,
        bytes.length,
        bytes,
        'apdu',
      );
    }
    const n = bytes.length;
    return new ResponseApdu(bytes.subarray(0, n - 2), (bytes[n - 2]! << 8) | bytes[n - 1]!);
  }

  toString(): string {
    return toHex(this.encode());
  }
}
