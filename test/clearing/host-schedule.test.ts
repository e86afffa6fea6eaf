/**
 * The clearing schedule `host serve` runs (host/clearing/ClearingSchedule.ts): per round collect
 * every meter → settle → blacklist when its version moved; one round at a time; one meter's
 * failure logged and recorded, the others cleared; a clean stop that waits for the round in flight.
 */
import { describe, expect, it } from 'vitest';
import { ClearingSchedule } from '../../host/clearing/ClearingSchedule.js';
import type { UploadCursor, UploadPage } from '../../host/clearing/ClearingLink.js';
import type { PendingReport } from '../../host/clearing/records.js';
import {
  CSN,
  CSN_HEX,
  METER,
  NOW,
  RV,
  SimulatedSvmLink,
  TestClock,
  clearingOf,
  openHost,
  upload,
} from './hostHarness.js';

const OTHER = '000124';
const TERM = 60_000;
const pending: PendingReport = {
  csn: CSN,
  purse: 1,
  amount: 700,
  counter: 5,
  dateTime: NOW,
  rv: RV,
  slot: 1,
};

/** A link whose meter OTHER never answers an upload, and that counts uploads in flight. */
class FieldLink extends SimulatedSvmLink {
  inFlight = 0;
  most = 0;
  uploads: string[] = [];
  delayMs = 0;
  override async upload(meterId: string, from: UploadCursor): Promise<UploadPage> {
    this.inFlight++;
    this.most = Math.max(this.most, this.inFlight);
    this.uploads.push(meterId);
    try {
      await new Promise((r) => setTimeout(r, this.delayMs));
      if (meterId === OTHER) throw new Error('link timeout: no answer from 000124');
      return await super.upload(meterId, from);
    } finally {
      this.inFlight--;
    }
  }
}

function setup() {
  const h = openHost();
  const clock = new TestClock();
  const link = new FieldLink();
  link.addPending(1, { csn: CSN_HEX, purse: 1, counter: 5, amount: 700 });
  link.pages.push({ upload: upload({ pending: [pending] }), next: { journal: 0, svm: 0 }, more: false });
  const c = clearingOf(h.svc, { link, clock: clock.read, termMs: TERM });
  const lines: Array<[string, string]> = [];
  const s = new ClearingSchedule(c, { intervalMs: 5, log: (level, line) => lines.push([level, line]) });
  return { ...h, clock, link, c, s, lines };
}

describe('the clearing schedule', () => {
  it("a round collects every meter; one meter's failure is logged and recorded, the other's transfer still settles", async () => {
    const w = setup();
    const first = await w.s.runRound();
    expect(first.meters).toBe(2);
    expect(first.stored.pending).toBe(1);
    expect(first.failed).toEqual([expect.objectContaining({ meterId: OTHER, step: 'collect' })]);
    expect(w.lines).toContainEqual(['error', expect.stringMatching(/collect 000124: link timeout/)]);
    expect(w.svc.db.events(10)).toContainEqual(
      expect.objectContaining({ kind: 'clearing-collect-failed', meterId: OTHER }),
    );
    expect(first.settlements).toEqual([expect.objectContaining({ state: 'open' })]); // term not over
    w.clock.now += TERM;
    const second = await w.s.runRound();
    expect(second.settlements).toEqual([
      expect.objectContaining({ decision: 'cancel', reason: 'term-expired', answer: 'settled-cancel' }),
    ]);
    expect(w.link.slots.size).toBe(0); // the meter's slot is free
    expect(w.link.uploads).toEqual([METER, OTHER, METER, OTHER]); // OTHER is asked again each round
    expect((await w.s.runRound()).settlements).toEqual([]); // nothing settles twice
  });

  it('the blacklist goes out only when its version moved past what a meter confirmed', async () => {
    const w = setup();
    expect((await w.s.runRound()).blacklist).toEqual({ version: 0, sentTo: 0 });
    w.svc.blacklistCard(CSN_HEX);
    const r = await w.s.runRound();
    expect(r.blacklist).toEqual({ version: 1, sentTo: 2 });
    expect(w.link.blacklistHeld.get(METER)).toEqual({ version: 1, serials: [CSN_HEX] });
    expect((await w.s.runRound()).blacklist).toEqual({ version: 1, sentTo: 0 }); // confirmed: not again
    w.link.blacklistDown.add(OTHER);
    w.svc.db.db.prepare('UPDATE cards SET blacklisted = 0').run(); // a card taken off: version 2
    const down = await w.s.runRound();
    expect(down.failed).toContainEqual(expect.objectContaining({ meterId: OTHER, step: 'blacklist' }));
    w.link.blacklistDown.clear();
    expect((await w.s.runRound()).blacklist).toEqual({ version: 2, sentTo: 1 }); // only the one behind
  });

  it('rounds never overlap: a round asked for while one runs is that round; the schedule waits for the end', async () => {
    const w = setup();
    w.link.delayMs = 20;
    const a = w.s.runRound();
    const b = w.s.runRound();
    expect(b).toBe(a);
    expect(w.s.busy).toBe(true);
    await a;
    expect(w.s.busy).toBe(false);
    w.link.uploads.length = 0;
    w.s.start();
    await new Promise((r) => setTimeout(r, 200));
    await w.s.stop();
    const rounds = w.link.uploads.length / 2;
    expect(rounds).toBeGreaterThanOrEqual(2);
    expect(w.link.most).toBe(1); // never two uploads (two rounds, or two meters) at once
    // stopped: no round starts any more
    const after = w.link.uploads.length;
    await new Promise((r) => setTimeout(r, 50));
    expect(w.link.uploads.length).toBe(after);
  });

  it('stop waits for the round in flight and ends it after the meter it is at', async () => {
    const w = setup();
    w.link.delayMs = 30;
    w.s.start();
    await new Promise((r) => setTimeout(r, 15)); // the first round starts after 5 ms, at METER now
    expect(w.s.busy).toBe(true);
    await w.s.stop();
    expect(w.s.busy).toBe(false);
    expect(w.link.uploads).toEqual([METER]); // OTHER was not started; nothing was settled
    expect(w.link.settleCalls).toBe(0);
  });

  it('a round that cannot start (the meter list fails) is logged; the schedule keeps going', async () => {
    const w = setup();
    let calls = 0;
    const lines: string[] = [];
    const s = new ClearingSchedule(w.c, {
      intervalMs: 5,
      meters: () => {
        if (++calls === 1) throw new Error('database is locked');
        return [METER];
      },
      log: (_level, line) => lines.push(line),
    });
    s.start();
    await new Promise((r) => setTimeout(r, 100));
    await s.stop();
    expect(lines[0]).toMatch(/clearing round failed: database is locked/);
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(w.link.uploads).toContain(METER);
  });

  it('refuses an interval that is not a positive integer of ms', () => {
    const w = setup();
    for (const bad of [0, -1, 1.5, Number.NaN])
      expect(() => new ClearingSchedule(w.c, { intervalMs: bad })).toThrow(RangeError);
  });
});
