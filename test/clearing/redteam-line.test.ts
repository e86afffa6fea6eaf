/**
 * Red team of the meter's side of the power-line clearing commands (issue 13): the clearing journal
 * behind H=55 and the versioned blacklist of H=56 (meter/cardslot/ClearingJournal.ts, MeterCardSlot).
 * Attacker: anyone at the card slot with a card emulator (the FCI's CSN is not authenticated before
 * the blacklist check), or someone replaying authenticated host frames on the power line.
 */
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../card/util/hex.js';
import { ClearingJournal, JOURNAL_CAPACITY } from '../../meter/cardslot/ClearingJournal.js';
import {
  BL_APPLIED,
  BL_BASE_MISMATCH,
  BL_LOCKOUT,
  BL_STALE,
  type BlacklistUpdate,
} from '../../protocol/clearing.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import { demoIssuer, newMeter, subscriber } from '../meter/cardWorld.js';

const T = RtcTime.of(2026, 11, 23, 10);
const BAD = fromHex('4D500000000000BB');
const rec = (purse: number, counter: number) => {
  const r = new Uint8Array(38);
  r[0] = 2;
  r[1] = purse;
  r[10] = counter >> 8;
  r[11] = counter & 0xff;
  return r;
};
const update = (u: Partial<BlacklistUpdate> & { version: number }): BlacklistUpdate => ({
  mode: 'full',
  base: 0,
  keyVersions: [],
  add: [],
  remove: [],
  ...u,
});

describe('red team: the journal under a flood of blacklisted attempts', () => {
  it(`${JOURNAL_CAPACITY + 1} attempts of an emulated blacklisted card do not push out a card record the host has not collected`, () => {
    // Before the fix: the 1 024th attempt dropped the card record (the host's evidence for clearing);
    // only `oldest` said that something was lost.
    const j = new ClearingJournal(new Set([toHex(BAD)]));
    expect(j.collect(fromHex('4D50000000000001'), 1, [rec(1, 7)])).toBe(1);
    for (let i = 0; i < JOURNAL_CAPACITY + 1; i++) j.noteAttempt(BAD, 1, T);
    expect(j.size).toBe(JOURNAL_CAPACITY);
    expect(j.oldest).toBe(1);
    const first = j.page(0, 100_000).entries[0]!;
    expect(first).toMatchObject({ seq: 1, kind: 'card-record' });
    // The host collects; then attempts are journaled again.
    j.acknowledge(j.nextSeq);
    j.noteAttempt(BAD, 1, T);
    expect(j.size).toBe(1);
  });

  it('card records still push out older card records (the journal stays bounded, and oldest says so)', () => {
    const j = new ClearingJournal(new Set());
    for (let i = 1; i <= JOURNAL_CAPACITY + 1; i++)
      j.collect(
        fromHex(
          `4D5000000000${(i >> 8).toString(16).padStart(2, '0')}${(i & 0xff).toString(16).padStart(2, '0')}`,
        ),
        1,
        [rec(1, 1)],
      );
    expect(j.size).toBe(JOURNAL_CAPACITY);
    expect(j.oldest).toBe(2);
  });

  it("through the card slot: a forger's card carrying a blacklisted CSN is refused each time, and the genuine record stays", async () => {
    const cm = await newMeter();
    const honest = subscriber(cm.issuer, { balance: 10_000 });
    const o = await cm.slot.insert(honest.os);
    expect(o.accepted).toBe(true);
    cm.slot.remove();
    const held = cm.slot.clearing.size;
    expect(held).toBeGreaterThan(0);
    cm.slot.block(BAD);
    const forged = subscriber(demoIssuer('forger'), { csn: BAD, balance: 1 });
    for (let i = 0; i < JOURNAL_CAPACITY + 8; i++) {
      const r = await cm.slot.insert(forged.os);
      expect(r.refusal).toBe('blacklisted');
      cm.slot.remove();
    }
    const p = cm.slot.clearing.page(0, 1_000_000);
    expect(p.entries.filter((e) => e.kind === 'card-record')).toHaveLength(held);
    expect(cm.slot.clearing.oldest).toBe(1);
  });
});

describe('red team: H=56 blacklist updates', () => {
  it('a replayed older list, a delta on another base, a whitelist without the session key: nothing changes', () => {
    const bl = new Set<string>();
    const j = new ClearingJournal(bl);
    expect(j.apply(update({ version: 5, add: [BAD] }), 1).status).toBe(BL_APPLIED);
    expect(j.apply(update({ version: 4, add: [] }), 1).status).toBe(BL_STALE); // would unblock BAD
    expect(j.apply(update({ version: 5, add: [] }), 1).status).toBe(BL_STALE); // the same version replayed
    expect(j.apply(update({ version: 7, mode: 'delta', base: 6, remove: [BAD] }), 1).status).toBe(
      BL_BASE_MISMATCH,
    );
    expect(j.apply(update({ version: 6, keyVersions: [2, 3] }), 1).status).toBe(BL_LOCKOUT);
    expect([...bl]).toEqual([toHex(BAD)]);
    expect(j.blacklistVersion).toBe(5);
    expect(j.acceptsKeyVersion(1)).toBe(true);
  });

  it('a blacklisted CSN is refused whatever key version its card claims', async () => {
    const cm = await newMeter();
    cm.slot.block(BAD);
    for (const seed of ['test', 'forger']) {
      const card = subscriber(demoIssuer(seed), { csn: BAD, balance: 10 });
      const r = await cm.slot.insert(card.os);
      expect(r.refusal).toBe('blacklisted');
      cm.slot.remove();
    }
  });
});
