import { createHash, randomBytes } from 'node:crypto';
import type { Rng } from './types.js';
import { wipe } from './wipe.js';

function checkCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`n must be a non-negative integer, got ${n}`);
}

/** Operating-system randomness (`crypto.randomBytes`); the default everywhere outside tests. */
export class SystemRng implements Rng {
  /** @throws RangeError naming `n` when it is not a non-negative integer. */
  bytes(n: number): Uint8Array {
    checkCount(n);
    const b = randomBytes(n);
    const out = Uint8Array.from(b);
    wipe(b);
    return out;
  }
}

/**
 * Deterministic byte stream for simulations and tests — NOT for real keys.
 *
 * Construction (hash counter mode over SHA-256):
 * ```
 *   S        = SHA-256("meterpurse-seeded-rng-v1" ‖ seed)      seed: bytes, or a string as UTF-8
 *   block[i] = SHA-256(S ‖ BE32(i))                           i = 0, 1, 2, ...
 *   stream   = block[0] ‖ block[1] ‖ ...
 * ```
 * `bytes(n)` returns the next n bytes of the stream, so the output depends only on the seed and on
 * the total number of bytes drawn before — not on how the draws were split.
 */
export class SeededRng implements Rng {
  readonly #state: Uint8Array;
  #counter = 0;
  #buffer = new Uint8Array(0);
  #pos = 0;

  /** @throws TypeError when the seed is neither a Uint8Array nor a string. */
  constructor(seed: Uint8Array | string) {
    if (typeof seed !== 'string' && !(seed instanceof Uint8Array))
      throw new TypeError('seed must be a Uint8Array or a string');
    const h = createHash('sha256');
    h.update('meterpurse-seeded-rng-v1');
    h.update(typeof seed === 'string' ? Buffer.from(seed, 'utf8') : seed);
    this.#state = Uint8Array.from(h.digest());
  }

  /** @throws RangeError naming `n` when it is not a non-negative integer. */
  bytes(n: number): Uint8Array {
    checkCount(n);
    const out = new Uint8Array(n);
    let o = 0;
    while (o < n) {
      if (this.#pos === this.#buffer.length) this.#refill();
      const take = Math.min(n - o, this.#buffer.length - this.#pos);
      out.set(this.#buffer.subarray(this.#pos, this.#pos + take), o);
      this.#pos += take;
      o += take;
    }
    return out;
  }

  #refill(): void {
    const ctr = new Uint8Array(4);
    new DataView(ctr.buffer).setUint32(0, this.#counter >>> 0);
    this.#counter++;
    const h = createHash('sha256');
    h.update(this.#state);
    h.update(ctr);
    wipe(this.#buffer);
    this.#buffer = Uint8Array.from(h.digest());
    this.#pos = 0;
  }
}
