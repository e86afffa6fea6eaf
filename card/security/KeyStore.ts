/**
 * Symmetric keys addressed by key reference (P2 of INTERNAL / EXTERNAL / MUTUAL AUTHENTICATE,
 * ISO/IEC 7816-4 §11.5.2-§11.5.4). Keys come from the card profile (personalisation data); the
 * algorithm is fixed per key.
 */
import { SwError } from '../iso7816/errors.js';
import { SW_AUTHENTICATION_METHOD_BLOCKED, SW_REFERENCED_DATA_NOT_FOUND } from '../iso7816/sw.js';
import type { PersistentStore, StoreRegion } from '../store/PersistentStore.js';
import { StoreStateError } from '../store/errors.js';
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
  /**
   * Retry counter for EXTERNAL / MUTUAL AUTHENTICATE, 1..15 (default: none, unlimited). A
   * persistent one-byte region is allocated only for keys that have one.
   */
  tries?: number;
}

export interface CardKey {
  readonly ref: number;
  readonly alg: BlockAlgorithm;
  readonly key: Uint8Array;
  readonly usage: ReadonlySet<KeyUsage>;
  readonly sm: boolean;
  readonly maxTries: number | undefined;
  readonly counter: StoreRegion | undefined;
}

export class KeyStore {
  readonly #keys = new Map<number, CardKey>();
  readonly #store: PersistentStore | undefined;

  /**
   * @param store where retry counters live (needed only when a key has `tries`).
   * @param personalise true for a fresh card: counters start at their maximum.
   * @throws TypeError / RangeError naming the key when a spec is invalid.
   */
  constructor(specs: readonly KeySpec[], store?: PersistentStore, personalise = false) {
    this.#store = store;
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
      let counter: StoreRegion | undefined;
      if (s.tries !== undefined) {
        if (!Number.isInteger(s.tries) || s.tries < 1 || s.tries > 15)
          throw new RangeError(`${where}.tries must be 1..15`);
        if (!store) throw new RangeError(`${where}.tries needs a persistent store`);
        counter = store.allocate(`key:${s.ref.toString(16)}`, 1);
        if (personalise) store.personalise(counter.offset, Uint8Array.of(s.tries));
      }
      this.#keys.set(s.ref, {
        ref: s.ref,
        alg: s.alg,
        key,
        usage,
        sm: s.sm ?? true,
        maxTries: s.tries,
        counter,
      });
    }
  }

  /** @throws SwError 6A88 when no key has this reference or it may not be used this way. */
  get(ref: number, use?: KeyUsage): CardKey {
    const k = this.#keys.get(ref);
    if (!k || (use !== undefined && !k.usage.has(use)))
      throw new SwError(SW_REFERENCED_DATA_NOT_FOUND, `no ${use ?? ''} key ${ref}`);
    return k;
  }

  /** Tries left for a key with a retry counter; undefined for a key without one. */
  triesLeft(key: CardKey): number | undefined {
    return key.counter && this.#store ? this.#store.readByte(key.counter.offset) : undefined;
  }

  /**
   * Spends one try before a cryptogram is compared (committed first, like a PIN try).
   * @throws SwError 6983 when the key is blocked; CardPowerLostError on a tear; StoreStateError
   *   inside an open transaction.
   * @returns the tries left after this one, or undefined for a key without a counter.
   */
  spendTry(key: CardKey): number | undefined {
    const left = this.triesLeft(key);
    if (left === undefined || !key.counter || !this.#store) return undefined;
    if (left === 0) throw new SwError(SW_AUTHENTICATION_METHOD_BLOCKED, `key ${key.ref} is blocked`);
    const store = this.#store;
    const at = key.counter.offset;
    // Its own transaction, never joined to an open one: the try must be durable before the
    // cryptogram is compared (see PinManager.check).
    if (store.inTransaction)
      throw new StoreStateError('a key try must be committed in a transaction of its own');
    store.atomic(() => store.writeByte(at, left - 1));
    return left - 1;
  }

  /** Restores the counter after a successful authentication. */
  restoreTries(key: CardKey): void {
    const store = this.#store;
    if (!key.counter || !store || key.maxTries === undefined) return;
    if (store.readByte(key.counter.offset) === key.maxTries) return;
    const at = key.counter.offset;
    const max = key.maxTries;
    store.atomic(() => store.writeByte(at, max));
  }
}
