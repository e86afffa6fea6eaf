/**
 * A small seeded pseudo-random generator (a 32-bit "splitmix"-style mixer over a Weyl sequence)
 * for reproducible simulations. Not for cryptography. Same seed → same sequence, on every platform.
 */
export class Prng {
  #state: number;

  /** @throws RangeError unless `seed` is a safe integer. */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
    // Fold a 53-bit seed into 32 bits so nearby seeds still start far apart.
    this.#state = (seed ^ Math.floor(seed / 0x100000000) ^ 0x9e3779b9) >>> 0;
  }

  /** Next unsigned 32-bit value. */
  nextU32(): number {
    this.#state = (this.#state + 0x9e3779b9) >>> 0;
    let z = this.#state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.nextU32() / 0x100000000;
  }

  /** Uniform integer in [0, n). @throws RangeError unless n is a positive integer ≤ 2^32. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 0x100000000)
      throw new RangeError(`n must be an integer 1…2^32, got ${n}`);
    return Math.floor(this.float() * n);
  }
}
