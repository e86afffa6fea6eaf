/**
 * Named records on the card runtime's persistent store (card/store/PersistentStore.ts): each
 * record gets a fixed region, allocated in layout order when the applet is installed, holding
 *
 * ```
 *   0  present (00 absent, 01 present)
 *   1  length n (0..255)
 *   2  value (n bytes), then unused bytes up to the declared maximum
 * ```
 * A commit is one `store.atomic` transaction (the runtime's journal: all writes or none, also
 * across a tear). Decoded records are cached until the next commit or reset.
 */
import type { PersistentStore, StoreRegion } from '../../store/PersistentStore.js';
import type { RecordStore, StoreWrite } from './RecordStore.js';

/** (record key, maximum value length) in allocation order. */
export type RecordLayout = ReadonlyArray<readonly [key: string, maxLength: number]>;

export class RegionRecordStore implements RecordStore {
  readonly #store: PersistentStore;
  readonly #regions = new Map<string, StoreRegion>();
  readonly #cache = new Map<string, Uint8Array | undefined>();

  /**
   * Allocates one region per record of `layout` (positional: the same layout finds the same
   * offsets in a card rebuilt from a file).
   * @throws RangeError for a maximum length outside 0..255; StoreCapacityError when the data area is full.
   */
  constructor(store: PersistentStore, layout: RecordLayout, prefix: string) {
    this.#store = store;
    for (const [key, max] of layout) {
      if (!Number.isInteger(max) || max < 0 || max > 255)
        throw new RangeError(`record ${key}: maxLength must be 0..255`);
      this.#regions.set(key, store.allocate(`${prefix}${key}`, max + 2));
    }
  }

  #region(key: string): StoreRegion {
    const r = this.#regions.get(key);
    if (!r) throw new RangeError(`no record ${key} in the layout`);
    return r;
  }

  view(key: string): Uint8Array | undefined {
    if (this.#cache.has(key)) return this.#cache.get(key);
    const r = this.#regions.get(key);
    let v: Uint8Array | undefined;
    if (r) {
      const head = this.#store.read(r.offset, 2);
      v = head[0] === 1 && head[1]! <= r.size - 2 ? this.#store.read(r.offset + 2, head[1]!) : undefined;
    }
    this.#cache.set(key, v);
    return v;
  }

  read(key: string): Uint8Array | undefined {
    return this.view(key)?.slice();
  }

  /**
   * @throws RangeError when a key is not in the layout or a value is longer than its region;
   *   CardPowerLostError from the store's tear hook.
   */
  commit(writes: readonly StoreWrite[]): void {
    if (writes.length === 0) return;
    const bytes = writes.map(([k, v]) => {
      const r = this.#region(k);
      if (v && v.length > r.size - 2)
        throw new RangeError(`record ${k}: ${v.length} bytes do not fit ${r.size - 2}`);
      const b = new Uint8Array(2 + (v?.length ?? 0));
      if (v) {
        b[0] = 1;
        b[1] = v.length;
        b.set(v, 2);
      }
      return [r.offset, b] as const;
    });
    this.#cache.clear();
    this.#store.atomic(() => {
      for (const [offset, b] of bytes) this.#store.write(offset, b);
    });
  }

  /** Forgets decoded records (power loss, reset: the image may have been recovered). */
  clearCache(): void {
    this.#cache.clear();
  }

  // Pass-throughs for tests, tools and tear sweeps.
  get writeCount(): number {
    return this.#store.writeCount;
  }
  armTear(k: number): void {
    this.#store.armTear(k);
  }
  disarmTear(): void {
    this.#store.disarmTear();
  }
  /** A copy of the data area (the journal area after it is left out: its garbage is not state). */
  image(): Uint8Array {
    return this.#store.image().subarray(0, this.#store.dataSize);
  }
}
