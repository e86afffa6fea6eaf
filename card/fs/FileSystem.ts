/**
 * The card's file system (ISO/IEC 7816-4 §7): a fixed tree of DFs and EFs whose contents live in
 * the persistent store. These are the trusted primitives: access conditions are checked by the
 * command layer (`FileCommands`), not here, so applets can use them freely. Every update is one
 * store transaction, joining the caller's if one is open (so an applet can update several files
 * atomically).
 */
import { SwError } from '../iso7816/errors.js';
import {
  SW_COMMAND_INCOMPATIBLE_WITH_FILE,
  SW_NOT_ENOUGH_MEMORY,
  SW_RECORD_NOT_FOUND,
  SW_WRONG_LENGTH,
  SW_WRONG_P1P2,
} from '../iso7816/sw.js';
import type { PersistentStore } from '../store/PersistentStore.js';
import { fromHex } from '../util/hex.js';
import { validateFileSpec, type DfSpec, type EfSpec, type FileSpec } from './FileSpec.js';
import { DfNode, EfNode } from './nodes.js';

export const FID_MF = 0x3f00;

export class FileSystem {
  readonly mf: DfNode;
  readonly #store: PersistentStore;
  /** Every DF with a name, in tree order (SELECT by DF name, first/next occurrence). */
  readonly namedDfs: DfNode[] = [];

  /**
   * Builds the tree, allocating one store region per EF in tree order; with `personalise`,
   * writes the initial contents.
   * @throws TypeError / RangeError naming the field of a bad spec; StoreCapacityError when the
   *   store is too small.
   */
  constructor(spec: DfSpec, store: PersistentStore, personalise: boolean) {
    validateFileSpec(spec);
    this.#store = store;
    this.mf = this.#buildDf(spec, undefined, personalise);
  }

  #buildDf(spec: DfSpec, parent: DfNode | undefined, personalise: boolean): DfNode {
    const df = new DfNode(parseInt(spec.fid, 16), spec.name ? fromHex(spec.name) : undefined, parent);
    if (df.name) this.namedDfs.push(df);
    for (const c of spec.children ?? []) df.children.push(this.#build(c, df, personalise));
    return df;
  }

  #build(spec: FileSpec, parent: DfNode, personalise: boolean): DfNode | EfNode {
    if (spec.type === 'df') return this.#buildDf(spec, parent, personalise);
    return this.#buildEf(spec, parent, personalise);
  }

  #buildEf(s: EfSpec, parent: DfNode, personalise: boolean): EfNode {
    const fid = parseInt(s.fid, 16);
    const path = `${parent.path}/${s.fid.toUpperCase()}`;
    const transparent = s.structure === 'transparent';
    const recLen = transparent ? 0 : s.recordLength!;
    const max = transparent ? 0 : s.maxRecords!;
    const slot = s.structure === 'linear-variable' ? recLen + 1 : recLen;
    const header = s.structure === 'cyclic' ? 2 : transparent ? 0 : 1;
    const bytes = transparent ? s.size! : header + slot * max;
    const region = this.#store.allocate(`fs:${path}`, bytes);
    const update = s.access?.update ?? 'always';
    const ef = new EfNode(
      fid,
      s.sfi,
      s.structure,
      parent,
      region,
      transparent ? s.size! : recLen,
      recLen,
      max,
      s.access?.read ?? 'always',
      update,
      s.access?.append ?? update,
    );
    if (personalise) {
      const img = new Uint8Array(bytes);
      if (transparent) {
        if (s.content) img.set(fromHex(s.content));
      } else {
        const recs = (s.records ?? []).map((r) => fromHex(r));
        img[0] = recs.length;
        // Cyclic: record 1 (newest) is the first given; slots are filled oldest first so that
        // head = count-1 points at record 1.
        const order = s.structure === 'cyclic' ? [...recs].reverse() : recs;
        if (s.structure === 'cyclic') img[1] = recs.length === 0 ? max - 1 : recs.length - 1;
        order.forEach((r, i) => {
          const at = header + i * slot;
          if (s.structure === 'linear-variable') {
            img[at] = r.length;
            img.set(r, at + 1);
          } else img.set(r, at);
        });
      }
      this.#store.personalise(region.offset, img);
    }
    return ef;
  }

  /** Resolves a path of FIDs starting below `from` (ISO/IEC 7816-4 §7.1.2 path). */
  resolvePath(from: DfNode, fids: readonly number[]): DfNode | EfNode | undefined {
    let node: DfNode | EfNode = from;
    for (const f of fids) {
      if (node.kind !== 'df') return undefined;
      // No file below the MF is 3F00: a path never names the MF (7816-4 §7.1.1, Table 39).
      const next: DfNode | EfNode | undefined = f === FID_MF ? undefined : node.child(f);
      if (!next) return undefined;
      node = next;
    }
    return node;
  }

  // --- transparent EFs (7816-4 §11.2.3, §11.2.5) -----------------------------------------

  /**
   * Reads up to `length` bytes at `offset`; fewer when the end of file comes first.
   * @throws SwError 6981 for a record EF, 6B00 when the offset is beyond the end.
   */
  readBinary(ef: EfNode, offset: number, length: number): Uint8Array {
    if (ef.isRecord) throw new SwError(SW_COMMAND_INCOMPATIBLE_WITH_FILE, 'not a transparent EF');
    if (offset > ef.size || (offset === ef.size && ef.size > 0))
      throw new SwError(SW_WRONG_P1P2, 'offset beyond the end of file');
    const n = Math.max(0, Math.min(length, ef.size - offset));
    const out = new Uint8Array(n);
    this.#store.readInto(ef.region.offset + offset, n, out);
    return out;
  }

  /**
   * Writes `data` at `offset` (one transaction).
   * @throws SwError 6981 record EF, 6B00 offset beyond the end, 6A84 data past the end, 6700 no data.
   */
  updateBinary(ef: EfNode, offset: number, data: Uint8Array): void {
    if (ef.isRecord) throw new SwError(SW_COMMAND_INCOMPATIBLE_WITH_FILE, 'not a transparent EF');
    if (offset >= ef.size) throw new SwError(SW_WRONG_P1P2, 'offset beyond the end of file');
    if (data.length === 0) throw new SwError(SW_WRONG_LENGTH, 'no data');
    if (offset + data.length > ef.size)
      throw new SwError(SW_NOT_ENOUGH_MEMORY, 'data runs past the end of file');
    this.#store.atomic(() => this.#store.write(ef.region.offset + offset, data));
  }

  // --- record EFs (7816-4 §7.3.3, §11.3) ---------------------------------------------------

  /** Number of records present. */
  recordCount(ef: EfNode): number {
    if (!ef.isRecord) throw new SwError(SW_COMMAND_INCOMPATIBLE_WITH_FILE, 'not a record EF');
    return this.#store.readByte(ef.region.offset);
  }

  /** Byte offset of record `n` (1-based; for cyclic EFs 1 is the newest). */
  #slotOffset(ef: EfNode, n: number): number {
    let slot = n - 1;
    if (ef.structure === 'cyclic') {
      const head = this.#store.readByte(ef.region.offset + 1);
      slot = (((head - (n - 1)) % ef.maxRecords) + ef.maxRecords) % ef.maxRecords;
    }
    return ef.region.offset + ef.headerSize + slot * ef.slotSize;
  }

  /** @throws SwError 6981 transparent EF, 6A83 no such record. */
  readRecord(ef: EfNode, n: number): Uint8Array {
    const count = this.recordCount(ef);
    if (n < 1 || n > count) throw new SwError(SW_RECORD_NOT_FOUND);
    const at = this.#slotOffset(ef, n);
    if (ef.structure === 'linear-variable') {
      const len = Math.min(this.#store.readByte(at), ef.recordLength);
      return this.#store.read(at + 1, len);
    }
    return this.#store.read(at, ef.recordLength);
  }

  /**
   * Replaces record `n` (one transaction).
   * @throws SwError 6981 transparent EF, 6A83 no such record, 6700 wrong record length.
   */
  updateRecord(ef: EfNode, n: number, data: Uint8Array): void {
    const count = this.recordCount(ef);
    if (n < 1 || n > count) throw new SwError(SW_RECORD_NOT_FOUND);
    this.#checkRecordLength(ef, data);
    const at = this.#slotOffset(ef, n);
    this.#store.atomic(() => {
      if (ef.structure === 'linear-variable') {
        const slot = new Uint8Array(1 + data.length);
        slot[0] = data.length;
        slot.set(data, 1);
        this.#store.write(at, slot);
      } else this.#store.write(at, data);
    });
  }

  /**
   * Appends a record (one transaction). Linear EFs: becomes the last record; cyclic EFs: the
   * oldest record is overwritten when full and the new one becomes record 1.
   * @returns the new record's number.
   * @throws SwError 6981 transparent EF, 6A84 linear EF full, 6700 wrong record length.
   */
  appendRecord(ef: EfNode, data: Uint8Array): number {
    const count = this.recordCount(ef);
    this.#checkRecordLength(ef, data);
    const base = ef.region.offset;
    if (ef.structure === 'cyclic') {
      const head = this.#store.readByte(base + 1);
      const slot = (head + 1) % ef.maxRecords;
      this.#store.atomic(() => {
        this.#store.write(base + 2 + slot * ef.slotSize, data);
        this.#store.write(base, Uint8Array.of(Math.min(count + 1, ef.maxRecords), slot));
      });
      return 1;
    }
    if (count >= ef.maxRecords) throw new SwError(SW_NOT_ENOUGH_MEMORY, 'no free record');
    const at = base + 1 + count * ef.slotSize;
    this.#store.atomic(() => {
      if (ef.structure === 'linear-variable') {
        const slot = new Uint8Array(1 + data.length);
        slot[0] = data.length;
        slot.set(data, 1);
        this.#store.write(at, slot);
      } else this.#store.write(at, data);
      this.#store.writeByte(base, count + 1);
    });
    return count + 1;
  }

  #checkRecordLength(ef: EfNode, data: Uint8Array): void {
    const ok =
      ef.structure === 'linear-variable'
        ? data.length >= 1 && data.length <= ef.recordLength
        : data.length === ef.recordLength;
    if (!ok) throw new SwError(SW_WRONG_LENGTH, `record length must be ${ef.recordLength}`);
  }
}
