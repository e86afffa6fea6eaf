/**
 * The EEPROM of a simulated chip: one byte image with a data area and a journal area, written
 * only inside transactions so that a power cut ("tear") at any low-level write leaves every
 * transaction either wholly applied or wholly absent after the next power-up.
 *
 * Image layout (all integers big-endian):
 * ```
 *  0 .. dataSize-1                    data area (file contents, PIN counters, applet cells)
 *  dataSize + 0       1  state        00 idle, A5 committed (any other value reads as idle)
 *  dataSize + 1       2  count        number of journal entries
 *  dataSize + 3 ..       entries      offset(4) | length(2) | new bytes(length)  × count
 * ```
 * A commit of n writes is 2n + 2 low-level writes (each one atomic, like an EEPROM page write):
 * ```
 *  1 .. n        journal entry i := (offset, length, new bytes)     data area untouched
 *  n + 1         state := A5, count := n                             the commit point
 *  n + 2 .. 2n+1 data[offset ..] := new bytes, in order              applied in place
 *  2n + 2        state := 00                                         journal released
 * ```
 * Recovery at power-up: state A5 → apply every entry again (idempotent, same order), then
 * state := 00; any other state → state := 00 (the entries of an unfinished journal are garbage).
 * Recovery's own writes go through the same tear hook, so a tear during recovery is recovered
 * by the next power-up in the same way.
 *
 * Volatile state (the open transaction's pending writes) is lost at a tear; reads inside a
 * transaction see its pending writes.
 */
import { CardPowerLostError } from '../os/CardOs.js';
import { StoreCapacityError, StoreStateError } from './errors.js';
import { be16, be32, put16, put32, u16, u32 } from '../util/bigEndian.js';

const STATE_IDLE = 0x00;
const STATE_COMMITTED = 0xa5;
const JOURNAL_HEADER = 3;
const ENTRY_HEADER = 6;

/** A named, fixed area of the data area handed out by `allocate`. */
export interface StoreRegion {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
}

export interface PersistentStoreOptions {
  /** Bytes of the data area (1 .. 16 MiB). */
  dataSize: number;
  /** Bytes of the journal area; bounds the size of one transaction (default 4096). */
  journalSize?: number;
  /** An existing image (from a card file) to adopt; copied. Its length must be dataSize + journalSize. */
  image?: Uint8Array;
}

interface Pending {
  offset: number;
  bytes: Uint8Array;
}

export class PersistentStore {
  readonly dataSize: number;
  readonly journalSize: number;
  readonly #image: Uint8Array;
  readonly #regions = new Map<string, StoreRegion>();
  #allocated = 0;
  #pending: Pending[] | undefined;
  #journalBytes = 0;
  #writes = 0;
  #tearAt: number | undefined;
  #lost = false;

  /**
   * @throws RangeError naming the option when a size is out of range or the image has the wrong length.
   */
  constructor(options: PersistentStoreOptions) {
    const { dataSize } = options;
    const journalSize = options.journalSize ?? 4096;
    if (!Number.isInteger(dataSize) || dataSize < 1 || dataSize > 16 << 20)
      throw new RangeError(`dataSize must be 1..16777216, got ${dataSize}`);
    if (
      !Number.isInteger(journalSize) ||
      journalSize < JOURNAL_HEADER + ENTRY_HEADER + 1 ||
      journalSize > 1 << 20
    )
      throw new RangeError(
        `journalSize must be ${JOURNAL_HEADER + ENTRY_HEADER + 1}..1048576, got ${journalSize}`,
      );
    this.dataSize = dataSize;
    this.journalSize = journalSize;
    if (options.image !== undefined) {
      if (!(options.image instanceof Uint8Array)) throw new TypeError('image must be a Uint8Array');
      if (options.image.length !== dataSize + journalSize)
        throw new RangeError(`image must be ${dataSize + journalSize} bytes, got ${options.image.length}`);
      this.#image = Uint8Array.from(options.image);
    } else {
      this.#image = new Uint8Array(dataSize + journalSize);
    }
  }

  /** Total image length: data area + journal area. */
  get size(): number {
    return this.#image.length;
  }

  /** Low-level writes done since the store was made (tear sweeps count these). */
  get writeCount(): number {
    return this.#writes;
  }

  /** True while a transaction is open. */
  get inTransaction(): boolean {
    return this.#pending !== undefined;
  }

  /** True after a tear until `recover()` (power-up). */
  get powerLost(): boolean {
    return this.#lost;
  }

  /**
   * Hands out the next `size` bytes of the data area under `name`. Allocation is deterministic
   * (in call order), so a card rebuilt from the same profile finds its data at the same offsets.
   * Allocating an existing name with the same size returns the existing region.
   * @throws StoreCapacityError when the data area is full; RangeError for a bad size or a name
   *   reused with another size.
   */
  allocate(name: string, size: number): StoreRegion {
    if (!Number.isInteger(size) || size < 0)
      throw new RangeError(`size must be a non-negative integer, got ${size}`);
    const known = this.#regions.get(name);
    if (known) {
      if (known.size !== size)
        throw new RangeError(`region ${name} exists with size ${known.size}, not ${size}`);
      return known;
    }
    if (this.#allocated + size > this.dataSize)
      throw new StoreCapacityError(
        `cannot allocate ${size} bytes for ${name}: ${this.dataSize - this.#allocated} of ${this.dataSize} left`,
      );
    const region: StoreRegion = Object.freeze({ name, offset: this.#allocated, size });
    this.#allocated += size;
    this.#regions.set(name, region);
    return region;
  }

  /** Bytes of the data area not yet allocated. */
  get free(): number {
    return this.dataSize - this.#allocated;
  }

  regions(): StoreRegion[] {
    return [...this.#regions.values()];
  }

  /** Cuts the power right after the k-th low-level write from now (k ≥ 1). */
  armTear(k: number): void {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
    this.#tearAt = this.#writes + k;
  }

  disarmTear(): void {
    this.#tearAt = undefined;
  }

  /** A copy of the whole image (data and journal), as saved in a card file. */
  image(): Uint8Array {
    return this.#image.slice();
  }

  /**
   * Reads `length` bytes of the data area at `offset`; inside a transaction its pending writes
   * are seen.
   * @throws RangeError when the range leaves the data area.
   */
  read(offset: number, length: number): Uint8Array {
    this.#checkRange(offset, length);
    const out = this.#image.slice(offset, offset + length);
    const pending = this.#pending;
    if (pending !== undefined) {
      for (const p of pending) {
        const from = Math.max(offset, p.offset);
        const to = Math.min(offset + length, p.offset + p.bytes.length);
        if (from < to) out.set(p.bytes.subarray(from - p.offset, to - p.offset), from - offset);
      }
    }
    return out;
  }

  /** One byte of the data area (pending writes seen). */
  readByte(offset: number): number {
    if (this.#pending === undefined) {
      this.#checkRange(offset, 1);
      return this.#image[offset]!;
    }
    return this.read(offset, 1)[0]!;
  }

  /**
   * Copies `length` bytes at `offset` into `target` without allocating when no transaction is
   * open (the READ BINARY fast path).
   */
  readInto(offset: number, length: number, target: Uint8Array, at = 0): void {
    if (this.#pending !== undefined) {
      target.set(this.read(offset, length), at);
      return;
    }
    this.#checkRange(offset, length);
    target.set(this.#image.subarray(offset, offset + length), at);
  }

  /**
   * Opens a transaction (ISO/IEC 7816 anti-tearing: everything until `commit` is one unit).
   * @throws StoreStateError when one is already open or the power was lost.
   */
  begin(): void {
    this.#checkPowered();
    if (this.#pending !== undefined) throw new StoreStateError('a transaction is already open');
    this.#pending = [];
    this.#journalBytes = JOURNAL_HEADER;
  }

  /**
   * Records a write in the open transaction; nothing reaches the image before `commit`.
   * @throws StoreStateError when no transaction is open; StoreCapacityError when the journal
   *   cannot hold the transaction; RangeError when the range leaves the data area.
   */
  write(offset: number, bytes: Uint8Array): void {
    this.#checkPowered();
    const pending = this.#pending;
    if (pending === undefined) throw new StoreStateError('write outside a transaction');
    if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
    this.#checkRange(offset, bytes.length);
    if (bytes.length === 0) return;
    const need = ENTRY_HEADER + bytes.length;
    if (this.#journalBytes + need > this.journalSize || bytes.length > 0xffff || pending.length >= 0xffff)
      throw new StoreCapacityError(
        `transaction needs more than the ${this.journalSize}-byte journal (${this.#journalBytes + need} bytes)`,
      );
    this.#journalBytes += need;
    pending.push({ offset, bytes: Uint8Array.from(bytes) });
  }

  /** Writes one byte (a typed cell built on `write`). */
  writeByte(offset: number, value: number): void {
    this.write(offset, Uint8Array.of(value & 0xff));
  }

  /** Reads a big-endian unsigned 16-bit cell. */
  readU16(offset: number): number {
    return u16(this.read(offset, 2));
  }

  /** Writes a big-endian unsigned 16-bit cell. @throws RangeError naming `v` when not 0…65535. */
  writeU16(offset: number, value: number): void {
    this.write(offset, be16(value));
  }

  /** Reads a big-endian unsigned 32-bit cell. */
  readU32(offset: number): number {
    return u32(this.read(offset, 4));
  }

  /** Writes a big-endian unsigned 32-bit cell. @throws RangeError naming `v` when not a u32. */
  writeU32(offset: number, value: number): void {
    this.write(offset, be32(value));
  }

  /**
   * Makes the open transaction durable (the journalled protocol of the module comment).
   * @throws CardPowerLostError when the tear hook fires; the image is then left for `recover()`.
   * @throws StoreStateError when no transaction is open.
   */
  commit(): void {
    this.#checkPowered();
    const pending = this.#pending;
    if (pending === undefined) throw new StoreStateError('commit without a transaction');
    this.#pending = undefined;
    if (pending.length === 0) return;
    const j = this.dataSize;
    let at = j + JOURNAL_HEADER;
    for (const p of pending) {
      const entry = new Uint8Array(ENTRY_HEADER + p.bytes.length);
      // write() refused lengths above FFFF and more than FFFF entries, so these cannot throw here.
      put32(entry, 0, p.offset);
      put16(entry, 4, p.bytes.length);
      entry.set(p.bytes, ENTRY_HEADER);
      this.#low(at, entry);
      at += entry.length;
    }
    this.#low(j, Uint8Array.of(STATE_COMMITTED, ...be16(pending.length)));
    for (const p of pending) this.#low(p.offset, p.bytes);
    this.#low(j, Uint8Array.of(STATE_IDLE));
  }

  /** Drops the open transaction (nothing was written). No-op when none is open. */
  abort(): void {
    this.#pending = undefined;
  }

  /**
   * Runs `fn` inside a transaction: joins the open one if any (so an applet can make several
   * file updates one unit), otherwise begins, commits on return and aborts on any exception.
   * @throws whatever `fn` throws; CardPowerLostError from the commit.
   */
  atomic<T>(fn: () => T): T {
    if (this.#pending !== undefined) return fn();
    this.begin();
    let result: T;
    try {
      result = fn();
    } catch (e) {
      this.abort();
      throw e;
    }
    this.commit();
    return result;
  }

  /**
   * Power-up recovery: finishes a committed journal, forgets an unfinished one, restores power.
   * @throws CardPowerLostError when the tear hook fires during recovery (recover again later).
   */
  recover(): void {
    this.#lost = false;
    this.#pending = undefined;
    const j = this.dataSize;
    const state = this.#image[j]!;
    if (state === STATE_COMMITTED) {
      const count = u16(this.#image, j + 1);
      const entries = this.#journalEntries(count);
      // A committed journal whose entries do not parse can only come from a damaged image; the
      // entries that do parse are still applied, in order.
      for (const e of entries) this.#low(e.offset, e.bytes);
      this.#low(j, Uint8Array.of(STATE_IDLE));
    } else if (state !== STATE_IDLE) {
      this.#low(j, Uint8Array.of(STATE_IDLE));
    }
  }

  /**
   * Writes straight into the data area, outside the journal: for personalisation of a fresh
   * image before the card is issued only (not tear-safe, not counted by the tear hook).
   * @throws RangeError when the range leaves the data area; StoreStateError inside a transaction.
   */
  personalise(offset: number, bytes: Uint8Array): void {
    if (this.#pending !== undefined) throw new StoreStateError('personalise inside a transaction');
    this.#checkRange(offset, bytes.length);
    this.#image.set(bytes, offset);
  }

  #journalEntries(count: number): Pending[] {
    const out: Pending[] = [];
    const end = this.#image.length;
    let at = this.dataSize + JOURNAL_HEADER;
    for (let i = 0; i < count; i++) {
      if (at + ENTRY_HEADER > end) break;
      const im = this.#image;
      const offset = u32(im, at);
      const length = u16(im, at + 4);
      at += ENTRY_HEADER;
      if (at + length > end || offset + length > this.dataSize) break;
      out.push({ offset, bytes: im.slice(at, at + length) });
      at += length;
    }
    return out;
  }

  #low(offset: number, bytes: Uint8Array): void {
    this.#image.set(bytes, offset);
    this.#writes++;
    if (this.#tearAt !== undefined && this.#writes >= this.#tearAt) {
      this.#tearAt = undefined;
      this.#lost = true;
      this.#pending = undefined;
      throw new CardPowerLostError(`power cut after low-level write ${this.#writes}`);
    }
  }

  #checkPowered(): void {
    if (this.#lost) throw new StoreStateError('the power was lost: recover() first');
  }

  #checkRange(offset: number, length: number): void {
    if (
      !Number.isInteger(offset) ||
      !Number.isInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > this.dataSize
    )
      throw new RangeError(`range ${offset}+${length} leaves the ${this.dataSize}-byte data area`);
  }
}
