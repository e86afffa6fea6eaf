/**
 * Symmetric keys addressed by key reference (P2 of INTERNAL / EXTERNAL / MUTUAL AUTHENTICATE,
 * ISO/IEC 7816-4 §11.5.2-§11.5.4). Keys come from the card profile (personalisation data); the
 * algorithm is fixed per key.
 */
import { SwError } from '../iso7816/errors.js';
import { SW_REFERENCED_DATA_NOT_FOUND } from '../iso7816/sw.js';
import type { BlockAlgorithm } from '../crypto/types.js';
import { fromHex } from '../util/hex.js';

export type KeyUsage = 'internal' | 'external' | 'mutual';

export interface KeySpec {
  /** Key reference as in P2 (0..255). */
  ref: number;
  alg: BlockAlgorithm;
  /** Hex: 16 or 24 bytes for tdes, 16 or 32 for aes. */
  key: string;
  /** Which commands may use it (default: all three). */
  usage?: KeyUsage[];
  /** MUTUAL AUTHENTICATE with this key opens a secure-messaging session (default true). */
  sm?: boolean;
}

export interface CardKey {
  readonly ref: number;
  readonly alg: BlockAlgorithm;
  readonly key: Uint8Array;
  readonly usage: ReadonlySet<KeyUsage>;
  readonly sm: boolean;
}

export class KeyStore {
  readonly #keys = new Map<number, CardKey>();

  /** @throws TypeError / RangeError naming the key when a spec is invalid. */
  constructor(specs: readonly KeySpec[]) {
    for (const [i, s] of specs.entries()) {
      const where = `keys[${i}]`;
      if (!Number.isInteger(s.ref) || s.ref < 0 || s.ref > 255)
        throw new RangeError(`${where}.ref must be a byte`);
      if (this.#keys.has(s.ref)) throw new RangeError(`${where}: duplicate key reference ${s.ref}`);
      if (s.alg !== 'tdes' && s.alg !== 'aes') throw new RangeError(`${where}.alg must be 'tdes' or 'aes'`);
      if (typeof s.key !== 'string') throw new TypeError(`${where}.key must be a hex string`);
      const key = fromHex(s.key);
      const ok =
        s.alg === 'tdes' ? key.length === 16 || key.length === 24 : key.length === 16 || key.length === 32;
      if (!ok) throw new RangeError(`${where}.key has a length (${key.length}) that ${s.alg} does not take`);
      const usage = new Set<KeyUsage>(s.usage ?? ['internal', 'external', 'mutual']);
      this.#keys.set(s.ref, { ref: s.ref, alg: s.alg, key, usage, sm: s.sm ?? true });
    }
  }

  /** @throws SwError 6A88 when no key has this reference or it may not be used this way. */
  get(ref: number, use?: KeyUsage): CardKey {
    const k = this.#keys.get(ref);
    if (!k || (use !== undefined && !k.usage.has(use)))
      throw new SwError(SW_REFERENCED_DATA_NOT_FOUND, `no ${use ?? ''} key ${ref}`);
    return k;
  }
}
