/**
 * The meter's clearing journal (meter/cardslot/ClearingJournal.ts) at its bounds: journal capacity,
 * blacklist capacity, versions at their maximum, pages and acknowledgements, collected records.
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../card/util/hex.js';
import { ClearingJournal, JOURNAL_CAPACITY } from '../../meter/cardslot/ClearingJournal.js';
import {
  BL_APPLIED,
  BL_FULL,
  BL_STALE,
  BLACKLIST_CAPACITY,
  type BlacklistUpdate,
} from '../../protocol/clearing.js';
import { RtcTime } from '../../protocol/RtcTime.js';

const csn = (n: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setUint32(4, n);
  b[0] = 0x4d;
  return b;
};
const T = RtcTime.of(2026, 11, 23, 10);
const rec = (purse: number, counter: number, type = 2) => {
  const r = new Uint8Array(38);
  r[0] = type;
  r[1] = purse;
  r[10] = counter >> 8;
  r[11] = counter & 0xff;
  return r;
};
const full = (version: number, add: Uint8Array[]): BlacklistUpdate => ({
  version,
  mode: 'full',
  base: 0,
  keyVersions: [],
  add,
  remove: [],
});

describe('clearing journal', () => {
  it(`keeps at most ${JOURNAL_CAPACITY} entries: one more drops the oldest, and oldest says so`, () => {
    const j = new ClearingJournal(new Set());
    for (let i = 0; i < JOURNAL_CAPACITY; i++) j.noteAttempt(csn(1), 1, T);
    expect(j.size).toBe(JOURNAL_CAPACITY);
    expect(j.oldest).toBe(1);
    j.noteAttempt(csn(2), 1, T);
    expect(j.size).toBe(JOURNAL_CAPACITY);
    expect(j.oldest).toBe(2);
    const p = j.page(0, 100_000);
    expect(p.entries[0]!.seq).toBe(2);
    expect(p.entries.at(-1)!.seq).toBe(JOURNAL_CAPACITY + 1);
    expect(p.next).toBe(JOURNAL_CAPACITY + 2);
  });

  it('a page never splits an entry; acknowledging drops only entries below from; from past the end is clamped', () => {
    const j = new ClearingJournal(new Set());
    for (let i = 0; i < 10; i++) j.noteAttempt(csn(i), 1, T);
    const p = j.page(1, 3 * 20 + 19); // three 20-byte entries and a bit
    expect(p.entries.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(p).toMatchObject({ next: 4, more: true });
    j.acknowledge(4);
    expect(j.oldest).toBe(4);
    expect(j.page(1, 1000).entries[0]!.seq).toBe(4); // the acknowledged ones are gone
    expect(j.page(500, 1000)).toEqual({ entries: [], next: 11, more: false });
    j.noteAttempt(csn(99), 1, T);
    expect(j.page(11, 1000).entries.map((e) => e.seq)).toEqual([11]);
  });

  it('collects only records of its purse, newer than those collected before, once per counter', () => {
    const j = new ClearingJournal(new Set());
    expect(j.collect(csn(1), 1, [rec(1, 3), rec(2, 4), rec(1, 2), rec(1, 1)])).toBe(3);
    expect(j.collect(csn(1), 1, [rec(1, 4), rec(1, 3), rec(1, 2)])).toBe(1);
    expect(j.collect(csn(1), 1, [rec(1, 4), rec(1, 4, 1)])).toBe(0);
    const counters = j.page(0, 10_000).entries.map((e) => (e.kind === 'card-record' ? e.record[11] : -1));
    expect(counters).toEqual([1, 2, 3, 4]);
    // another card's counters are its own
    expect(j.collect(csn(2), 1, [rec(1, 1)])).toBe(1);
    // counter at its maximum
    expect(j.collect(csn(3), 1, [rec(1, 0xffff)])).toBe(1);
    expect(j.collect(csn(3), 1, [rec(1, 0xffff)])).toBe(0);
  });

  it(`the blacklist holds at most ${BLACKLIST_CAPACITY} serials: one more is refused whole`, () => {
    const set = new Set<string>();
    const j = new ClearingJournal(set);
    const many = Array.from({ length: BLACKLIST_CAPACITY }, (_, i) => csn(i));
    expect(j.apply(full(1, many)).status).toBe(BL_APPLIED);
    expect(set.size).toBe(BLACKLIST_CAPACITY);
    const over = j.apply({ ...full(2, [csn(BLACKLIST_CAPACITY)]), mode: 'delta', base: 1 });
    expect(over).toEqual({ status: BL_FULL, version: 1, count: BLACKLIST_CAPACITY });
    expect(set.has(toHex(csn(BLACKLIST_CAPACITY)))).toBe(false);
    // version at its maximum; nothing can follow it
    expect(j.apply(full(0xffffffff, [])).status).toBe(BL_APPLIED);
    expect(j.apply(full(0xffffffff, [csn(1)]))).toEqual({ status: BL_STALE, version: 0xffffffff, count: 0 });
  });

  it('saveState/loadState round trip; a bad state is refused whole', () => {
    const set = new Set<string>();
    const j = new ClearingJournal(set);
    j.apply({ ...full(3, [csn(5)]), keyVersions: [1, 2] });
    j.noteAttempt(csn(5), 1, T);
    j.collect(csn(6), 1, [rec(1, 7)]);
    const s = JSON.parse(JSON.stringify(j.saveState())) as ReturnType<ClearingJournal['saveState']>;
    const k = new ClearingJournal(new Set());
    k.loadState(s);
    expect(k.saveState()).toEqual(s);
    expect(k.collect(csn(6), 1, [rec(1, 7)])).toBe(0); // the high-water mark survived
    for (const bad of [
      { ...s, blacklistVersion: -1 },
      { ...s, keyVersions: [256] },
      { ...s, nextSeq: 2 }, // entries with seq ≥ nextSeq
      { ...s, entries: [...s.entries].reverse() },
      { ...s, collected: [['00', 1]] },
    ]) {
      const z = new ClearingJournal(new Set());
      expect(() => z.loadState(bad)).toThrow(RangeError);
      expect(z.blacklistVersion).toBe(0);
      expect(z.size).toBe(0);
    }
  });
});
