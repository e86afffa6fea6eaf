/**
 * Values longer than one record (255 bytes) on a {@link RecordStore}: certificates, private keys
 * and usage information of seed 004 run to 300..3000 bytes. A blob `name` of at most `chunks`
 * chunks is kept in records
 *
 * ```
 *   name.n        length(2)                 0 = absent
 *   name.0 ..     chunk i = bytes [i·250, (i+1)·250)
 * ```
 * `writes` only returns the record writes; the caller puts them in the same `commit` as the rest
 * of the command's state, so a blob changes together with everything it belongs to (a tear
 * leaves the old length and old chunks, or the new ones: the journal applies all or none).
 */
import type { RecordStore, StoreWrite } from '../platform/RecordStore.js';
import type { RecordLayout } from '../platform/RegionRecordStore.js';
import { concatBytes } from '../../util/hex.js';

export const BLOB_CHUNK = 250;

export class BlobRecords {
  constructor(
    readonly name: string,
    readonly chunks: number,
  ) {}

  get maxLength(): number {
    return this.chunks * BLOB_CHUNK;
  }

  /** The records this blob needs in the applet's layout. */
  layout(): RecordLayout {
    const l: Array<readonly [string, number]> = [[`${this.name}.n`, 2]];
    for (let i = 0; i < this.chunks; i++) l.push([`${this.name}.${i}`, BLOB_CHUNK]);
    return l;
  }

  /** The blob, or undefined when absent (or when its chunks do not add up: never written whole). */
  read(store: RecordStore): Uint8Array | undefined {
    const n = store.view(`${this.name}.n`);
    if (!n || n.length !== 2) return undefined;
    const len = (n[0]! << 8) | n[1]!;
    if (len === 0 || len > this.maxLength) return undefined;
    const parts: Uint8Array[] = [];
    for (let i = 0; i * BLOB_CHUNK < len; i++) {
      const c = store.view(`${this.name}.${i}`);
      if (!c) return undefined;
      parts.push(c);
    }
    const all = concatBytes(...parts);
    return all.length === len ? all : undefined;
  }

  /**
   * Record writes that store `value` (undefined: absent).
   * @throws RangeError naming the blob when the value is longer than it can hold.
   */
  writes(value: Uint8Array | undefined): StoreWrite[] {
    if (!value || value.length === 0) return [[`${this.name}.n`, Uint8Array.of(0, 0)]];
    if (value.length > this.maxLength)
      throw new RangeError(`${this.name}: ${value.length} bytes exceed ${this.maxLength}`);
    const w: StoreWrite[] = [[`${this.name}.n`, Uint8Array.of(value.length >> 8, value.length & 0xff)]];
    for (let i = 0; i * BLOB_CHUNK < value.length; i++)
      w.push([`${this.name}.${i}`, value.slice(i * BLOB_CHUNK, (i + 1) * BLOB_CHUNK)]);
    return w;
  }
}
