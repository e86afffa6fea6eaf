/**
 * What the purse, SAM and SVM applets need from persistent memory: named records, read freely,
 * changed only by `commit`, which writes all of its records or none (one command, one
 * transaction — DESIGN.md "every command that changes persistent state is one atomic
 * transaction").
 */

/** A record write; `undefined` deletes the record. */
export type StoreWrite = readonly [key: string, value: Uint8Array | undefined];

export interface RecordStore {
  /** The record without copying (callers must not modify it), or undefined. */
  view(key: string): Uint8Array | undefined;
  /** A copy of the record, or undefined. */
  read(key: string): Uint8Array | undefined;
  /**
   * Writes every record or none.
   * @throws CardPowerLostError when the chip's tear hook cuts the power inside the commit.
   */
  commit(writes: readonly StoreWrite[]): void;
}
