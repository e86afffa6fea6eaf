/**
 * The small crypto interfaces everything else is written against (DESIGN.md "Values, keys and
 * crypto"; STYLE.md rule 7). Two implementations exist: one over `node:crypto`, one over
 * `node-forge`; a shared test suite runs against each and a cross-check compares them.
 */

/** 'tdes': DES-EDE2 (16-byte key) or DES-EDE3 (24-byte key); 'aes': AES-128 (16) or AES-256 (32). */
export type BlockAlgorithm = 'tdes' | 'aes';
export type BlockMode = 'ecb' | 'cbc';

/** Raw block encryption: no padding is added or removed; data must be a whole number of blocks. */
export interface BlockCipherProvider {
  /** 'node' or 'forge'. */
  readonly name: string;
  /**
   * @throws RangeError naming the parameter when the key length, IV length or data length is wrong.
   */
  encrypt(
    alg: BlockAlgorithm,
    mode: BlockMode,
    key: Uint8Array,
    data: Uint8Array,
    iv?: Uint8Array,
  ): Uint8Array;
  decrypt(
    alg: BlockAlgorithm,
    mode: BlockMode,
    key: Uint8Array,
    data: Uint8Array,
    iv?: Uint8Array,
  ): Uint8Array;
}

/** Source of randomness: `crypto.randomBytes` by default, a seeded deterministic one in simulations and tests. */
export interface Rng {
  bytes(n: number): Uint8Array;
}

/** Source of time, in milliseconds since the Unix epoch; simulations inject their own. */
export interface Clock {
  now(): number;
}
