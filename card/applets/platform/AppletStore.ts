/**
 * Persistent memory of a simulated chip with atomic multi-record commits and a tear hook.
 *
 * A commit of n record writes is done as 2n + 2 low-level writes, modelling EEPROM page writes
 * behind a journal (the classic anti-tearing scheme of ISO/IEC 7816 chips):
 *
 * ```
 *   1..n     journal[i] := (key, new value)       the old values stay in place
 *   n+1      journal.committed := true            the commit point
 *   n+2..2n+1  data[key] := value                 applied in place
 *   2n+2     journal := empty
 * ```
 * Power-up recovery (`recover`): a committed journal is applied again (idempotent); an
 * uncommitted one is dropped. So after a tear at any low-level write the store holds either all of
 * a commit or none of it.
 *
 * The tear hook (`armTear(k)`) cuts the power right after the k-th low-level write from now: the
 * write is done, then `CardPowerLostError` is thrown through the applet to the card OS.
 *
 * This is the applets' own platform store, used until the card runtime's `card/store/` is wired in
 * (see docs/purse-spec.md "Platform").
 */
import { CardPowerLostError } from '../../os/CardOs.js';
import { fromHex, toHex } from '../../util/hex.js';

/** A record write; `undefined` deletes the record. */
export type StoreWrite = readonly [key: string, value: Uint8Array | undefined];

/** JSON image of a store (what a card file holds). */
export interface StoreImage {
  records: Record<string, string>;
  journal?: { committed: boolean; writes: [string, string | null][] };
}

export class AppletStore {
  readonly #data = new Map<string, Uint8Array>();
  #journal: StoreWrite[] = [];
  #committed = false;
  #writes = 0;
  #tearAt: number | undefined;

  /** Low-level writes since the store was made (for tear sweeps). */
  get writeCount(): number {
    return this.#writes;
  }

  /** Cuts the power right after the k-th low-level write from now (k >= 1). */
  armTear(k: number): void {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
    this.#tearAt = this.#writes + k;
  }

  disarmTear(): void {
    this.#tearAt = undefined;
  }

  /** A copy of a record, or undefined. */
  read(key: string): Uint8Array | undefined {
    const v = this.#data.get(key);
    return v ? v.slice() : undefined;
  }

  /** The record without copying (callers must not modify it). */
  view(key: string): Uint8Array | undefined {
    return this.#data.get(key);
  }

  keys(): string[] {
    return [...this.#data.keys()].sort();
  }

  /**
   * Writes all records or none (see the module comment).
   * @throws CardPowerLostError when the tear hook fires; the store is then left for `recover()`.
   */
  commit(writes: readonly StoreWrite[]): void {
    if (writes.length === 0) return;
    const copies = writes.map(([k, v]) => [k, v ? Uint8Array.from(v) : undefined] as const);
    for (const w of copies) this.#low(() => this.#journal.push(w));
    this.#low(() => (this.#committed = true));
    for (const [k, v] of copies) this.#low(() => this.#apply(k, v));
    this.#low(() => {
      this.#journal = [];
      this.#committed = false;
    });
  }

  /** Power-up recovery: finishes a committed journal, drops an uncommitted one. No tear inside. */
  recover(): void {
    if (this.#committed) for (const [k, v] of this.#journal) this.#apply(k, v);
    this.#journal = [];
    this.#committed = false;
  }

  #apply(k: string, v: Uint8Array | undefined): void {
    if (v) this.#data.set(k, v);
    else this.#data.delete(k);
  }

  #low(write: () => void): void {
    write();
    this.#writes++;
    if (this.#tearAt !== undefined && this.#writes >= this.#tearAt) {
      this.#tearAt = undefined;
      throw new CardPowerLostError(`power cut after low-level write ${this.#writes}`);
    }
  }

  /** A JSON-friendly image (records in hex, and any journal left by a tear). */
  image(): StoreImage {
    const records: Record<string, string> = {};
    for (const k of this.keys()) records[k] = toHex(this.#data.get(k)!);
    const img: StoreImage = { records };
    if (this.#journal.length > 0)
      img.journal = {
        committed: this.#committed,
        writes: this.#journal.map(([k, v]) => [k, v ? toHex(v) : null]),
      };
    return img;
  }

  /**
   * A store from an image.
   * @throws MalformedDataError when a record is not hex; TypeError when the image has the wrong shape.
   */
  static fromImage(img: StoreImage): AppletStore {
    if (typeof img !== 'object' || img === null || typeof img.records !== 'object' || img.records === null)
      throw new TypeError('image must have a records object');
    const s = new AppletStore();
    for (const [k, v] of Object.entries(img.records)) {
      if (typeof v !== 'string') throw new TypeError(`record ${k} must be a hex string`);
      s.#data.set(k, fromHex(v));
    }
    if (img.journal) {
      s.#committed = img.journal.committed === true;
      s.#journal = img.journal.writes.map(([k, v]) => [k, v === null ? undefined : fromHex(v)] as const);
    }
    return s;
  }
}
