/**
 * What a meter keeps for the host's clearing (issue 13; docs/host-protocol.md "Clearing"): the
 * card log records its slot saw, the attempts of blacklisted cards, and the version of the
 * blacklist and key-version whitelist it holds. Part of the card slot's non-volatile state.
 *
 * Why a journal with sequence numbers: the power line loses, duplicates and re-orders frames, and
 * an answer can be lost after the meter sent it. The host asks "from N" and an entry below N is
 * acknowledged (only then dropped), so a lost answer is asked for again and nothing is lost; an
 * entry carries the same number every time it is sent, so the host stores it once. The journal is
 * bounded: when the host does not collect, the oldest entries go first and `oldest` tells it.
 *
 * Why the blacklist carries a version: a delayed or replayed (authenticated) older list must never
 * undo a newer one, so a version not higher than the one held changes nothing; a delta names the
 * version it applies to, so a lost delta cannot be skipped over silently.
 */
import { equalBytes, fromHex, toHex } from '../../card/index.js';
import {
  BL_APPLIED,
  BL_BASE_MISMATCH,
  BL_FULL,
  BL_LOCKOUT,
  BL_STALE,
  BLACKLIST_CAPACITY,
  RtcTime,
  journalEntrySize,
  type BlacklistBody,
  type BlacklistUpdate,
  type JournalEntry,
} from '../../protocol/index.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Most journal entries kept (the oldest go first). */
export const JOURNAL_CAPACITY = 1024;
/** Most cards whose collected-record high-water mark is kept. */
export const COLLECTED_CARDS = 256;

/** JSON form of the journal (inside MeterCardSlot.saveState()). */
export interface ClearingJournalState {
  blacklistVersion: number;
  keyVersions: number[];
  cardKeyVersions: number[];
  nextSeq: number;
  entries: Array<
    | { seq: number; kind: 'card-record'; csn: string; record: string }
    | {
        seq: number;
        kind: 'blacklisted';
        csn: string;
        purse: number;
        time: number;
      }
  >;
  /** [CSN hex ‖ purse hex, highest card counter collected] */
  collected: Array<[string, number]>;
}

function int(v: unknown, lo: number, hi: number, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi)
    throw new RangeError(`${name} must be an integer ${lo}..${hi}`);
  return v;
}
function hexOf(v: unknown, n: number, name: string): Uint8Array {
  if (typeof v !== 'string') throw new RangeError(`${name} must be hex`);
  const b = fromHex(v);
  if (b.length !== n) throw new RangeError(`${name} must be ${n} bytes`);
  return b;
}

export class ClearingJournal {
  blacklistVersion = 0;
  /** Accepted host key versions; empty = any. */
  keyVersions: number[] = [];
  /** Accepted card key versions (purse FCI tag C3); empty = any. */
  cardKeyVersions: number[] = [];
  #nextSeq = 1;
  #entries: JournalEntry[] = [];
  readonly #collected = new Map<string, number>();

  /** `blacklist` is the card slot's set of refused serials (hex upper case), changed in place. */
  constructor(readonly blacklist: Set<string>) {}

  get nextSeq(): number {
    return this.#nextSeq;
  }
  /** Lowest sequence number still held (= nextSeq when empty). */
  get oldest(): number {
    return this.#entries[0]?.seq ?? this.#nextSeq;
  }
  get size(): number {
    return this.#entries.length;
  }

  #push(e: DistributiveOmit<JournalEntry, 'seq'>): void {
    this.#entries.push({ ...e, seq: this.#nextSeq++ });
    if (this.#entries.length > JOURNAL_CAPACITY) this.#entries.shift();
  }

  /**
   * A blacklisted card was presented and refused. The CSN is the card's unauthenticated FCI, so any
   * card emulator can make attempts at will: when the journal is full and its oldest entry is a card
   * record, the attempt is dropped rather than pushing that record out (red team, issue 13) — card
   * records are the host's evidence for clearing; attempts are alarms, and the flood already shows.
   */
  noteAttempt(csn: Uint8Array, purse: number, time: RtcTime): void {
    if (this.#entries.length >= JOURNAL_CAPACITY && this.#entries[0]!.kind === 'card-record') return;
    this.#push({ kind: 'blacklisted', csn: csn.slice(), purse, time });
  }

  /**
   * Keeps the card log records of `purse` that are newer than what was collected from this card
   * before (by card counter); returns how many were new.
   */
  collect(csn: Uint8Array, purse: number, records: readonly Uint8Array[]): number {
    const key = toHex(csn) + purse.toString(16).padStart(2, '0');
    const high = this.#collected.get(key) ?? -1;
    const mine = records
      .filter((r) => r.length === 38 && r[1] === purse && ((r[10]! << 8) | r[11]!) > high)
      .sort((a, b) => ((a[10]! << 8) | a[11]!) - ((b[10]! << 8) | b[11]!));
    let top = high;
    let added = 0;
    for (const r of mine) {
      const c = (r[10]! << 8) | r[11]!;
      if (c === top) continue; // two records at one counter: keep the first (the host flags clones)
      this.#push({ kind: 'card-record', csn: csn.slice(), record: r.slice() });
      top = c;
      added++;
    }
    this.#collected.delete(key);
    this.#collected.set(key, top);
    while (this.#collected.size > COLLECTED_CARDS)
      this.#collected.delete(this.#collected.keys().next().value!);
    return added;
  }

  /** The host acknowledged everything below `from`: those entries go. */
  acknowledge(from: number): void {
    while (this.#entries.length > 0 && this.#entries[0]!.seq < from) this.#entries.shift();
  }

  /**
   * Entries from `from` on that fit in `budget` bytes. @returns the entries, the `next` to ask
   * from, and whether more remain.
   */
  page(from: number, budget: number): { entries: JournalEntry[]; next: number; more: boolean } {
    const entries: JournalEntry[] = [];
    let used = 0;
    let next = Math.min(Math.max(from, this.oldest), this.#nextSeq);
    for (const e of this.#entries) {
      if (e.seq < from) continue;
      const n = journalEntrySize(e);
      if (used + n > budget) return { entries, next, more: true };
      entries.push(e);
      used += n;
      next = e.seq + 1;
    }
    return { entries, next, more: false };
  }

  /**
   * Applies an authenticated blacklist update: only a version higher than the one held; a delta only
   * on its base version; never over BLACKLIST_CAPACITY; never a key whitelist without
   * `sessionKeyVersion` (the KH[n] of the session carrying it). Nothing changes unless applied.
   */
  apply(u: BlacklistUpdate, sessionKeyVersion?: number): BlacklistBody {
    const held = (status: number): BlacklistBody => ({
      status,
      version: this.blacklistVersion,
      count: this.blacklist.size,
    });
    if (u.version <= this.blacklistVersion) return held(BL_STALE);
    if (u.mode === 'delta' && u.base !== this.blacklistVersion) return held(BL_BASE_MISMATCH);
    const next = new Set(u.mode === 'full' ? [] : this.blacklist);
    for (const c of u.add) next.add(toHex(c));
    for (const c of u.remove) next.delete(toHex(c));
    if (next.size > BLACKLIST_CAPACITY) return held(BL_FULL);
    if (
      sessionKeyVersion !== undefined &&
      u.keyVersions.length > 0 &&
      !u.keyVersions.includes(sessionKeyVersion)
    )
      return held(BL_LOCKOUT);
    this.blacklist.clear();
    for (const c of next) this.blacklist.add(c);
    if (u.mode === 'full' || u.keyVersions.length > 0) this.keyVersions = [...u.keyVersions];
    const cardKeys = u.cardKeyVersions ?? [];
    if (u.mode === 'full' || cardKeys.length > 0) this.cardKeyVersions = [...cardKeys];
    this.blacklistVersion = u.version;
    return held(BL_APPLIED);
  }

  /** Whether a card of key version `v` (undefined: its FCI names none) may be served. */
  acceptsCardKeyVersion(v: number | undefined): boolean {
    return this.cardKeyVersions.length === 0 || (v !== undefined && this.cardKeyVersions.includes(v));
  }

  /** Whether HOST INIT under key version `n` is allowed. */
  acceptsKeyVersion(n: number): boolean {
    return this.keyVersions.length === 0 || this.keyVersions.includes(n);
  }

  saveState(): ClearingJournalState {
    return {
      blacklistVersion: this.blacklistVersion,
      keyVersions: [...this.keyVersions],
      cardKeyVersions: [...this.cardKeyVersions],
      nextSeq: this.#nextSeq,
      entries: this.#entries.map((e) =>
        e.kind === 'card-record'
          ? { seq: e.seq, kind: e.kind, csn: toHex(e.csn), record: toHex(e.record) }
          : { seq: e.seq, kind: e.kind, csn: toHex(e.csn), purse: e.purse, time: e.time.seconds },
      ),
      collected: [...this.#collected],
    };
  }

  /**
   * Loads `saveState()` output, checked whole before anything is set.
   * @throws RangeError naming the bad field.
   */
  loadState(s: unknown): void {
    if (typeof s !== 'object' || s === null) throw new RangeError('state.clearing must be an object');
    const o = s as Record<string, unknown>;
    const version = int(o.blacklistVersion, 0, 0xffffffff, 'state.clearing.blacklistVersion');
    if (!Array.isArray(o.keyVersions)) throw new RangeError('state.clearing.keyVersions must be an array');
    const keys = o.keyVersions.map((k, i) => int(k, 0, 255, `state.clearing.keyVersions[${i}]`));
    const cardKeysIn = o.cardKeyVersions ?? [];
    if (!Array.isArray(cardKeysIn)) throw new RangeError('state.clearing.cardKeyVersions must be an array');
    const cardKeys = cardKeysIn.map((k, i) => int(k, 0, 255, `state.clearing.cardKeyVersions[${i}]`));
    const nextSeq = int(o.nextSeq, 1, 0xffffffff, 'state.clearing.nextSeq');
    if (!Array.isArray(o.entries)) throw new RangeError('state.clearing.entries must be an array');
    let last = 0;
    const entries = o.entries.map((x: unknown, i): JournalEntry => {
      const n = `state.clearing.entries[${i}]`;
      if (typeof x !== 'object' || x === null) throw new RangeError(`${n} must be an object`);
      const e = x as Record<string, unknown>;
      const seq = int(e.seq, last + 1, nextSeq - 1, `${n}.seq`);
      last = seq;
      const csn = hexOf(e.csn, 8, `${n}.csn`);
      if (e.kind === 'card-record')
        return { seq, kind: 'card-record', csn, record: hexOf(e.record, 38, `${n}.record`) };
      if (e.kind === 'blacklisted')
        return {
          seq,
          kind: 'blacklisted',
          csn,
          purse: int(e.purse, 0, 255, `${n}.purse`),
          time: RtcTime.fromSeconds(int(e.time, 0, 0xffffffff, `${n}.time`)),
        };
      throw new RangeError(`${n}.kind must be card-record or blacklisted`);
    });
    if (!Array.isArray(o.collected)) throw new RangeError('state.clearing.collected must be an array');
    const collected = o.collected.map((x: unknown, i): [string, number] => {
      if (!Array.isArray(x) || typeof x[0] !== 'string' || x[0].length !== 18)
        throw new RangeError(`state.clearing.collected[${i}] must be [CSN‖purse hex, counter]`);
      return [x[0].toUpperCase(), int(x[1], -1, 0xffff, `state.clearing.collected[${i}][1]`)];
    });
    this.blacklistVersion = version;
    this.keyVersions = keys;
    this.cardKeyVersions = cardKeys;
    this.#nextSeq = nextSeq;
    this.#entries = entries;
    this.#collected.clear();
    for (const [k, v] of collected) this.#collected.set(k, v);
  }

  /** For tests: whether an entry for `csn` of `kind` is held. */
  holds(kind: JournalEntry['kind'], csn: Uint8Array): boolean {
    return this.#entries.some((e) => e.kind === kind && equalBytes(e.csn, csn));
  }
}
