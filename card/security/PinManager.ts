/**
 * Persistent reference data for VERIFY, CHANGE REFERENCE DATA and RESET RETRY COUNTER
 * (ISO/IEC 7816-4 §11.5.6, §11.5.7, §11.5.10).
 *
 * Each PIN is a fixed-length block (short PINs are padded with FF by the terminal, as in
 * ISO 9564 / PKCS#15 `padChar`), stored with its retry counter in one store region:
 * ```
 *  0       1  tries left (0 = blocked)
 *  1 .. L     reference data (L = length)
 * ```
 * The counter is decremented and committed BEFORE the comparison, and restored in a second
 * transaction only when the comparison succeeds; whatever a right PIN unlocks (CHANGE REFERENCE
 * DATA's new value, RESET RETRY COUNTER's reset) is written in that same second transaction. A
 * tear during a verification can cost a try, never give a free one, and never tells a right PIN
 * from a wrong one unless a try was spent or the whole command went through.
 */
import { SwError } from '../iso7816/errors.js';
import {
  SW_AUTHENTICATION_METHOD_BLOCKED,
  SW_COUNTER_BASE,
  SW_REFERENCED_DATA_NOT_FOUND,
  SW_WRONG_LENGTH,
} from '../iso7816/sw.js';
import type { PersistentStore, StoreRegion } from '../store/PersistentStore.js';
import { StoreStateError } from '../store/errors.js';
import { equalBytes, fromHex } from '../util/hex.js';

export interface PinSpec {
  /** Reference as in P2 of VERIFY (e.g. 0x81: specific PIN 1; 0x01: global PIN 1). */
  ref: number;
  /** Initial value, hex (padded with FF to `length`). */
  value: string;
  /** Block length sent by the terminal (default 8). */
  length?: number;
  /** Retry counter maximum, 1..15 (default 3). */
  tries?: number;
  /** Reference of the unblocking PIN (PUK) that RESET RETRY COUNTER accepts for this PIN. */
  puk?: number;
}

export interface Pin {
  readonly ref: number;
  readonly length: number;
  readonly maxTries: number;
  readonly puk: number | undefined;
  readonly region: StoreRegion;
}

/** Result of a comparison: `ok`, or the tries left after a failure. */
export type VerifyOutcome = { ok: true } | { ok: false; triesLeft: number };

export class PinManager {
  readonly #pins = new Map<number, Pin>();
  readonly #store: PersistentStore;

  /**
   * Allocates one region per PIN; with `personalise`, writes the initial values and counters.
   * @throws TypeError / RangeError naming the PIN when a spec is invalid.
   */
  constructor(store: PersistentStore, specs: readonly PinSpec[], personalise: boolean) {
    this.#store = store;
    for (const [i, s] of specs.entries()) {
      const where = `pins[${i}]`;
      if (!Number.isInteger(s.ref) || s.ref < 0 || s.ref > 255)
        throw new RangeError(`${where}.ref must be a byte`);
      if (this.#pins.has(s.ref)) throw new RangeError(`${where}: duplicate PIN reference ${s.ref}`);
      const length = s.length ?? 8;
      const maxTries = s.tries ?? 3;
      if (!Number.isInteger(length) || length < 1 || length > 64)
        throw new RangeError(`${where}.length must be 1..64`);
      if (!Number.isInteger(maxTries) || maxTries < 1 || maxTries > 15)
        throw new RangeError(`${where}.tries must be 1..15`);
      if (typeof s.value !== 'string') throw new TypeError(`${where}.value must be a hex string`);
      const value = fromHex(s.value);
      if (value.length > length) throw new RangeError(`${where}.value is longer than ${length} bytes`);
      const region = store.allocate(`pin:${s.ref.toString(16)}`, 1 + length);
      const pin: Pin = { ref: s.ref, length, maxTries, puk: s.puk, region };
      this.#pins.set(s.ref, pin);
      if (personalise) {
        const block = new Uint8Array(1 + length).fill(0xff);
        block[0] = maxTries;
        block.set(value, 1);
        store.personalise(region.offset, block);
      }
    }
    for (const p of this.#pins.values())
      if (p.puk !== undefined && !this.#pins.has(p.puk))
        throw new RangeError(`PIN ${p.ref}: unblocking PIN ${p.puk} is not defined`);
  }

  /** @throws SwError 6A88 when no PIN has this reference. */
  get(ref: number): Pin {
    const p = this.#pins.get(ref);
    if (!p) throw new SwError(SW_REFERENCED_DATA_NOT_FOUND, `no PIN with reference ${ref}`);
    return p;
  }

  has(ref: number): boolean {
    return this.#pins.has(ref);
  }

  triesLeft(pin: Pin): number {
    return this.#store.readByte(pin.region.offset);
  }

  /**
   * Compares `candidate` with the reference data, spending a try first (see the module comment);
   * the comparison is constant-time. `onSuccess` runs inside the transaction that restores the
   * counter, so what a right PIN unlocks (a new value, another PIN's reset) lands in the same
   * commit: a tear can never leave the try given back without the rest of the command.
   * @throws SwError 6983 when blocked, 6700 when the block has the wrong length (no try spent).
   * @throws StoreStateError when called inside an open transaction: the spent try would not be
   *   durable before the comparison.
   * @throws CardPowerLostError when a tear cuts either transaction.
   */
  check(pin: Pin, candidate: Uint8Array, onSuccess?: () => void): VerifyOutcome {
    if (candidate.length !== pin.length)
      throw new SwError(SW_WRONG_LENGTH, `PIN block must be ${pin.length} bytes`);
    const left = this.triesLeft(pin);
    if (left === 0) throw new SwError(SW_AUTHENTICATION_METHOD_BLOCKED);
    const off = pin.region.offset;
    this.#ownTransaction(() => this.#store.writeByte(off, left - 1));
    const ok = equalBytes(this.#store.read(off + 1, pin.length), candidate);
    if (!ok) return { ok: false, triesLeft: left - 1 };
    this.#ownTransaction(() => {
      this.#store.writeByte(off, pin.maxTries);
      onSuccess?.();
    });
    return { ok: true };
  }

  /**
   * A transaction of its own, committed on return. `store.atomic` would silently join a
   * transaction the caller left open, and then the spent try would reach the image only with
   * the caller's commit, after the comparison: the tearing hole this class exists to close.
   */
  #ownTransaction(fn: () => void): void {
    if (this.#store.inTransaction)
      throw new StoreStateError('a PIN try must be committed in a transaction of its own');
    this.#store.atomic(fn);
  }

  /** Replaces the reference data and resets the counter, in one transaction. */
  setValue(pin: Pin, value: Uint8Array): void {
    if (value.length !== pin.length)
      throw new SwError(SW_WRONG_LENGTH, `PIN block must be ${pin.length} bytes`);
    const block = new Uint8Array(1 + pin.length);
    block[0] = pin.maxTries;
    block.set(value, 1);
    this.#store.atomic(() => this.#store.write(pin.region.offset, block));
  }

  /** Resets the retry counter to its maximum. */
  resetCounter(pin: Pin): void {
    this.#store.atomic(() => this.#store.writeByte(pin.region.offset, pin.maxTries));
  }

  /** The SW for a failed comparison: 63Cx with x tries left. */
  static failedSw(triesLeft: number): number {
    return SW_COUNTER_BASE | (triesLeft & 0x0f);
  }
}
