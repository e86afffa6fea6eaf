/**
 * The key hierarchy of seed 000 ("KT = Encrypt (ID, KH)", "Ks = Encrypt (R, KT)") and the card key
 * diversification of the subscriber card. Every derivation is drawn byte by byte, with a worked
 * example, in docs/key-hierarchy.md; test/crypto/keyHierarchy.test.ts checks those examples.
 *
 * One primitive does all of it, `diversify(master, data)` — the EMV "option A" shape
 * (EMV Book 2 Annex A1.4.1) generalised to any 1..8 byte input:
 *
 * ```
 *   tdes:  A  = 00 .. 00 ‖ data          (data right-aligned in 8 bytes)
 *          B  = A XOR FF FF FF FF FF FF FF FF
 *          K  = oddParity( TDES-ECB(master, A) ‖ TDES-ECB(master, B) )      16 bytes
 *   aes:   A  = 00 .. 00 ‖ data          (data right-aligned in 16 bytes)
 *          K  = AES-ECB(master, A)                                          16 bytes
 * ```
 */
import type { BlockAlgorithm, BlockCipherProvider } from './types.js';
import { UnknownKeyVersionError } from './errors.js';
import { wipe } from './wipe.js';

/** Length in bytes of the meter / terminal ID of seed 000 ("An ID of 3 bytes"). */
export const TERMINAL_ID_LENGTH = 3;

function checkBytes(value: unknown, name: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
}

function checkAlg(alg: unknown): asserts alg is BlockAlgorithm {
  if (alg !== 'tdes' && alg !== 'aes')
    throw new RangeError(`alg must be 'tdes' or 'aes', got ${String(alg)}`);
}

function checkMaster(alg: BlockAlgorithm, key: Uint8Array, name: string): void {
  checkBytes(key, name);
  const ok = alg === 'tdes' ? key.length === 16 || key.length === 24 : key.length === 16 || key.length === 32;
  if (!ok)
    throw new RangeError(
      `${name} must be ${alg === 'tdes' ? '16 or 24' : '16 or 32'} bytes for ${alg}, got ${key.length}`,
    );
}

/**
 * Returns a copy of `key` with each byte's least significant bit set so that the byte has an odd
 * number of one bits (the DES key parity rule of FIPS 46-3, kept by SP 800-67). AES keys have no parity.
 */
export function adjustDesParity(key: Uint8Array): Uint8Array {
  checkBytes(key, 'key');
  const out = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) {
    const hi = key[i]! & 0xfe;
    let ones = 0;
    for (let b = hi; b; b &= b - 1) ones++;
    out[i] = hi | (ones % 2 === 0 ? 1 : 0);
  }
  return out;
}

/** True when every byte of `key` has odd parity. */
export function hasOddParity(key: Uint8Array): boolean {
  checkBytes(key, 'key');
  for (const byte of key) {
    let ones = 0;
    for (let b = byte; b; b &= b - 1) ones++;
    if (ones % 2 === 0) return false;
  }
  return true;
}

/**
 * Derives a 16-byte key from `master` and 1..8 (tdes) or 1..16 (aes) bytes of `data`; see the
 * module comment for the layout. Because `data` is right-aligned behind zeros, inputs that differ
 * only in leading 00 bytes give the same key: every use below fixes the input length.
 * @throws RangeError naming `master` or `data` when a length does not fit `alg`.
 */
export function diversify(
  cipher: BlockCipherProvider,
  alg: BlockAlgorithm,
  master: Uint8Array,
  data: Uint8Array,
): Uint8Array {
  checkAlg(alg);
  checkMaster(alg, master, 'master');
  checkBytes(data, 'data');
  const bs = alg === 'aes' ? 16 : 8;
  if (data.length < 1 || data.length > bs)
    throw new RangeError(`data must be 1..${bs} bytes for ${alg}, got ${data.length}`);
  const input = new Uint8Array(16);
  if (alg === 'aes') {
    input.set(data, 16 - data.length);
    const k = cipher.encrypt('aes', 'ecb', master, input);
    wipe(input);
    return k;
  }
  input.set(data, 8 - data.length);
  for (let i = 0; i < 8; i++) input[8 + i] = input[i]! ^ 0xff;
  const raw = cipher.encrypt('tdes', 'ecb', master, input);
  const k = adjustDesParity(raw);
  wipe(input, raw);
  return k;
}

/**
 * Terminal intrinsic key KT[n] = Encrypt(ID, KH[n]) (seed 000): `diversify(KH[n], ID)` with the
 * 3-byte meter ID.
 * @throws RangeError naming `id` when it is not 3 bytes, or `master` when its length is wrong.
 */
export function deriveTerminalKey(
  cipher: BlockCipherProvider,
  kh: Uint8Array,
  id: Uint8Array,
  alg: BlockAlgorithm = 'tdes',
): Uint8Array {
  checkBytes(id, 'id');
  if (id.length !== TERMINAL_ID_LENGTH)
    throw new RangeError(`id must be ${TERMINAL_ID_LENGTH} bytes, got ${id.length}`);
  return diversify(cipher, alg, kh, id);
}

/**
 * Session key Ks = Encrypt(R1, KT[n]) (seed 000 steps 10/20/30).
 *
 * ```
 *   tdes, R1 of 8 bytes:   Ks = oddParity( E(KT, R1) ‖ E(KT, R1 XOR FF..FF) )   (= diversify(KT, R1))
 *   tdes, R1 of 16 bytes:  Ks = oddParity( TDES-ECB(KT, R1) )                  (both halves random)
 *   aes,  R1 of 16 bytes:  Ks = AES-ECB(KT, R1)
 * ```
 * @throws RangeError naming `r1` or `kt` when a length does not fit `alg`.
 */
export function deriveSessionKey(
  cipher: BlockCipherProvider,
  kt: Uint8Array,
  r1: Uint8Array,
  alg: BlockAlgorithm = 'tdes',
): Uint8Array {
  checkAlg(alg);
  checkMaster(alg, kt, 'kt');
  checkBytes(r1, 'r1');
  if (alg === 'aes') {
    if (r1.length !== 16) throw new RangeError(`r1 must be 16 bytes for aes, got ${r1.length}`);
    return cipher.encrypt('aes', 'ecb', kt, r1);
  }
  if (r1.length === 8) return diversify(cipher, 'tdes', kt, r1);
  if (r1.length !== 16) throw new RangeError(`r1 must be 8 or 16 bytes for tdes, got ${r1.length}`);
  const raw = cipher.encrypt('tdes', 'ecb', kt, r1);
  const k = adjustDesParity(raw);
  wipe(raw);
  return k;
}

/**
 * Card key diversified from an issuer master key by card serial number (CSN, 1..8 bytes for tdes):
 * `diversify(IMK, CSN)`. Debit and credit keys come from *different* issuer master keys
 * (see {@link IssuerMasterKeys}); the derivation itself is the same.
 * @throws RangeError naming `serial` or `master` when a length is wrong.
 */
export function deriveCardKey(
  cipher: BlockCipherProvider,
  issuerMaster: Uint8Array,
  serial: Uint8Array,
  alg: BlockAlgorithm = 'tdes',
): Uint8Array {
  checkBytes(serial, 'serial');
  const max = alg === 'aes' ? 16 : 8;
  if (serial.length < 1 || serial.length > max)
    throw new RangeError(`serial must be 1..${max} bytes for ${alg}, got ${serial.length}`);
  return diversify(cipher, alg, issuerMaster, serial);
}

/** The purse keys of one card. */
export interface CardPurseKeys {
  /** Lets a meter SAM take value off the purse. */
  readonly debit: Uint8Array;
  /** Lets a vending point / host SAM load value onto the purse. */
  readonly credit: Uint8Array;
}

/**
 * The issuer's two master keys. They must differ: a meter SAM is given only the debit master
 * (seed 000: "only an amount reduction key"), so nothing it holds can derive a credit key. Using one
 * master with two derivation constants would not give that property — whoever holds the master
 * could derive both — so the separation is by key, and the constructor refuses equal masters.
 */
export class IssuerMasterKeys {
  readonly #debit: Uint8Array;
  readonly #credit: Uint8Array;

  /**
   * @throws RangeError naming `debitMaster`/`creditMaster` when a length is wrong, or when the two
   *   are equal.
   */
  constructor(
    debitMaster: Uint8Array,
    creditMaster: Uint8Array,
    readonly alg: BlockAlgorithm = 'tdes',
  ) {
    checkAlg(alg);
    checkMaster(alg, debitMaster, 'debitMaster');
    checkMaster(alg, creditMaster, 'creditMaster');
    let same = debitMaster.length === creditMaster.length ? 0 : 1;
    for (let i = 0; i < Math.min(debitMaster.length, creditMaster.length); i++)
      same |= debitMaster[i]! ^ creditMaster[i]!;
    if (same === 0) throw new RangeError('debitMaster and creditMaster must be different keys');
    this.#debit = Uint8Array.from(debitMaster);
    this.#credit = Uint8Array.from(creditMaster);
  }

  /** Debit key of the card with serial `serial`. @throws RangeError naming `serial`. */
  debitKey(cipher: BlockCipherProvider, serial: Uint8Array): Uint8Array {
    return deriveCardKey(cipher, this.#debit, serial, this.alg);
  }

  /** Credit key of the card with serial `serial`. @throws RangeError naming `serial`. */
  creditKey(cipher: BlockCipherProvider, serial: Uint8Array): Uint8Array {
    return deriveCardKey(cipher, this.#credit, serial, this.alg);
  }

  /** Both purse keys of one card. @throws RangeError naming `serial`. */
  cardKeys(cipher: BlockCipherProvider, serial: Uint8Array): CardPurseKeys {
    return { debit: this.debitKey(cipher, serial), credit: this.creditKey(cipher, serial) };
  }

  /** Zero-fills the held masters; the object is unusable afterwards (derivations give garbage). */
  wipe(): void {
    wipe(this.#debit, this.#credit);
  }
}

/**
 * Host master keys KH[n] of seed 000, by version n (0..255, sent as one byte beside R1 and R2).
 * "At least two encrypted keys are stored ... One encrypted key is updated by a distance of a
 * certain time": several versions are valid at once; one is current (used for new sessions);
 * rotation adds a new current version and later retires an old one.
 *
 * An immutable value: every change returns a new ring (pure data, no storage). Keys are copied in
 * and copied out.
 */
export class HostKeyRing {
  readonly #keys: ReadonlyMap<number, Uint8Array>;
  /** The version new sessions use, or undefined for an empty ring. */
  readonly current: number | undefined;

  private constructor(keys: ReadonlyMap<number, Uint8Array>, current: number | undefined) {
    this.#keys = keys;
    this.current = current;
  }

  /** An empty ring. */
  static empty(): HostKeyRing {
    return new HostKeyRing(new Map(), undefined);
  }

  /**
   * A ring from (version, key) pairs; the highest version becomes current unless `current` says otherwise.
   * @throws RangeError naming `version`, `key` or `current` when invalid or duplicated.
   */
  static of(entries: Iterable<readonly [number, Uint8Array]>, current?: number): HostKeyRing {
    let ring = HostKeyRing.empty();
    for (const [v, k] of entries) ring = ring.withKey(v, k);
    if (current !== undefined) ring = ring.withCurrent(current);
    return ring;
  }

  /** The versions held, ascending. */
  get versions(): number[] {
    return [...this.#keys.keys()].sort((a, b) => a - b);
  }

  has(version: number): boolean {
    return this.#keys.has(version);
  }

  /** A copy of KH[version]. @throws UnknownKeyVersionError when the version is not held. */
  key(version: number): Uint8Array {
    const k = this.#keys.get(version);
    if (!k) throw new UnknownKeyVersionError(version);
    return Uint8Array.from(k);
  }

  /** A copy of the current key. @throws UnknownKeyVersionError when the ring is empty. */
  currentKey(): Uint8Array {
    if (this.current === undefined) throw new UnknownKeyVersionError(-1);
    return this.key(this.current);
  }

  /**
   * Adds KH[version]; it becomes current when it is the highest version.
   * @throws RangeError naming `version` (not 0..255, or already held) or `key` (not 16/24 bytes).
   */
  withKey(version: number, key: Uint8Array): HostKeyRing {
    if (!Number.isInteger(version) || version < 0 || version > 255)
      throw new RangeError(`version must be an integer 0..255, got ${version}`);
    if (this.#keys.has(version)) throw new RangeError(`version ${version} is already held`);
    checkBytes(key, 'key');
    if (key.length !== 16 && key.length !== 24 && key.length !== 32)
      throw new RangeError(`key must be 16, 24 or 32 bytes, got ${key.length}`);
    const keys = new Map(this.#keys);
    keys.set(version, Uint8Array.from(key));
    const current = this.current === undefined || version > this.current ? version : this.current;
    return new HostKeyRing(keys, current);
  }

  /**
   * Rotation: adds `key` as version (highest + 1) and makes it current; older versions stay valid
   * until retired.
   * @throws RangeError when the highest version is already 255 or `key` has a wrong length.
   */
  rotate(key: Uint8Array): HostKeyRing {
    const next = this.#keys.size === 0 ? 0 : Math.max(...this.#keys.keys()) + 1;
    if (next > 255) throw new RangeError('version must stay within 0..255; retire and renumber first');
    return this.withKey(next, key);
  }

  /** Makes a held version current. @throws UnknownKeyVersionError when it is not held. */
  withCurrent(version: number): HostKeyRing {
    if (!this.#keys.has(version)) throw new UnknownKeyVersionError(version);
    return new HostKeyRing(this.#keys, version);
  }

  /**
   * Removes KH[version]; the returned ring no longer derives with it. The removed key's bytes are
   * not wiped here because earlier rings (immutable values) still share them; call `wipeAll()` on a
   * ring that is no longer used.
   * @throws UnknownKeyVersionError when not held; RangeError naming `version` when it is current.
   */
  retire(version: number): HostKeyRing {
    if (!this.#keys.has(version)) throw new UnknownKeyVersionError(version);
    if (version === this.current)
      throw new RangeError(`version ${version} is current; rotate before retiring it`);
    const keys = new Map(this.#keys);
    keys.delete(version);
    return new HostKeyRing(keys, this.current);
  }

  /**
   * KT[version] for the meter `id`: `deriveTerminalKey(KH[version], id)`.
   * @throws UnknownKeyVersionError when the version is not held; RangeError naming `id`.
   */
  terminalKey(
    cipher: BlockCipherProvider,
    version: number,
    id: Uint8Array,
    alg: BlockAlgorithm = 'tdes',
  ): Uint8Array {
    const kh = this.key(version);
    try {
      return deriveTerminalKey(cipher, kh, id, alg);
    } finally {
      wipe(kh);
    }
  }

  /** Zero-fills every key this ring holds (shared with rings it was derived from). */
  wipeAll(): void {
    for (const k of this.#keys.values()) wipe(k);
  }
}
