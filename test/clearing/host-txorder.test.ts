/**
 * One ordering for host tx ids (issue 13): host credits (ValueStoreDispatcher) and host settlements
 * (ClearingService) take ids from one sequence and reach a meter one at a time over its line
 * (`ValueStoreDispatcher.exclusive`), so the SVM — which applies host ids only in increasing order
 * (9407 otherwise) — never refuses a settlement because of a credit. The reissue after 3 refusals
 * stays as the fallback for refusals with any other cause.
 */
import { describe, expect, it } from 'vitest';
import type { SettleAnswer, SettleRequest } from '../../host/clearing/ClearingLink.js';
import type { PendingReport } from '../../host/clearing/records.js';
import {
  CSN,
  METER,
  NOW,
  RV,
  SimulatedSvmLink,
  TestClock,
  cardRecord,
  clearingOf,
  openHost,
  upload,
} from './hostHarness.js';

const pending: PendingReport = {
  csn: CSN,
  purse: 1,
  amount: 700,
  counter: 5,
  dateTime: NOW,
  rv: RV,
  slot: 1,
};
const theDebit = cardRecord({ amount: 700, balanceAfter: 9_300, counter: 5, rv: RV, dateTime: NOW });

/** A link whose settlements wait at a gate before they reach the SVM (a slow power line). */
class GatedLink extends SimulatedSvmLink {
  #open!: () => void;
  readonly gate = new Promise<void>((r) => (this.#open = r));
  reached = false;
  release(): void {
    this.#open();
  }
  override async settle(meterId: string, r: SettleRequest): Promise<SettleAnswer> {
    this.reached = true;
    await this.gate;
    return super.settle(meterId, r);
  }
}

/** A settlement decided (debit proven) but not yet applied; returns its id. */
async function decidedSettlement(withLine: boolean) {
  const h = openHost();
  const link = new GatedLink();
  link.addPending(1, { csn: '4D50000000000001', purse: 1, counter: 5, amount: 700 });
  const c = clearingOf(h.svc, {
    link,
    clock: new TestClock().read,
    ...(withLine ? { line: h.svc.dispatcher } : {}),
  });
  c.ingest(METER, upload({ pending: [pending] }));
  c.ingestCardRecords(CSN, [theDebit], 'vending:test');
  return { ...h, link, c };
}

/** A host credit to METER on the meter's line: created, applied at the SVM, confirmed. */
function creditOnLine(h: Awaited<ReturnType<typeof decidedSettlement>>): Promise<number> {
  return h.svc.dispatcher.exclusive(METER, async () => {
    const t = h.svc.db.createCredit(METER, 10, 'sale');
    h.link.applyHostCredit(Number(t.txId));
    h.svc.db.confirm(t.txId, 10);
    return Number(t.txId);
  });
}

describe('one ordering for host tx ids', () => {
  it('a credit sold while a settlement is on the line waits for it: the SVM sees the lower id first, nothing refused', async () => {
    const h = await decidedSettlement(true);
    const settling = h.c.settlePending();
    await new Promise((r) => setTimeout(r, 10));
    expect(h.link.reached).toBe(true); // the settlement holds the line, its answer not back yet
    const credit = creditOnLine(h); // queued behind it
    h.link.release();
    const [o] = await settling;
    const creditId = await credit;
    expect(o).toMatchObject({ state: 'settled', answer: 'settled-complete' });
    expect(creditId).toBeGreaterThan(h.c.repo.pending(o!.id)!.txId!);
    expect(h.link.settleCalls).toBe(1);
    expect(h.svc.db.events(20).map((e) => e.kind)).not.toContain('settle-in-doubt');
  });

  it('the same race without the shared line is refused 9407 (what the line prevents)', async () => {
    const h = await decidedSettlement(false);
    const settling = h.c.settlePending();
    await new Promise((r) => setTimeout(r, 10));
    await creditOnLine(h); // nothing holds it back: the newer id reaches the SVM first
    h.link.release();
    const [o] = await settling;
    expect(o!.state).toBe('decided');
    expect(h.svc.db.events(20).find((e) => e.kind === 'settle-in-doubt')?.detail).toMatch(/9407/);
    // the next round takes an id above the credit before sending, and is applied
    const [done] = await h.c.settlePending();
    expect(done).toMatchObject({ state: 'settled', answer: 'settled-complete' });
    expect(h.svc.db.events(20).map((e) => e.kind)).toContain('settle-renumbered');
  });

  it('a credit delivered before a decided settlement was sent: renumbered above it on the line, applied at the first try', async () => {
    const h = await decidedSettlement(true);
    h.link.failBefore = 1; // decided, lost on the line before the SVM
    h.link.release();
    const [o] = await h.c.settlePending();
    const first = h.c.repo.pending(o!.id)!.txId!;
    const creditId = await creditOnLine(h);
    expect(creditId).toBe(first + 1); // one sequence: the credit's id follows the settlement's
    const [done] = await h.c.settlePending();
    expect(done).toMatchObject({ state: 'settled', answer: 'settled-complete' });
    expect(h.c.repo.pending(o!.id)!.txId).toBe(creditId + 1);
    expect(h.link.settleCalls).toBe(2);
    expect(h.link.credited).toBe(700);
  });

  it('credits to another meter do not renumber a settlement; a refusal with another cause still reissues after 3', async () => {
    const h = await decidedSettlement(true);
    h.link.failBefore = 1;
    h.link.release();
    const [o] = await h.c.settlePending();
    const first = h.c.repo.pending(o!.id)!.txId!;
    // the SVM saw an id the host does not know about for this meter (a restored backup, another host)
    h.link.applyHostCredit(first + 1);
    // the sequence moves past it with credits to the other meter
    for (let i = 0; i < 2; i++) h.svc.db.confirm(h.svc.db.createCredit('000124', 5, 'other').txId, 5);
    for (let i = 0; i < 3; i++) expect((await h.c.settlePending())[0]!.state).toBe('decided');
    expect(h.c.repo.pending(o!.id)!.txId).toBe(first + 3); // reissued once, from the one sequence
    const kinds = h.svc.db.events(30).map((e) => e.kind);
    expect(kinds).toContain('settle-reissued');
    expect(kinds).not.toContain('settle-renumbered');
    const [done] = await h.c.settlePending();
    expect(done).toMatchObject({ state: 'settled', answer: 'settled-complete' });
    expect(h.link.credited).toBe(700);
  });

  it("the dispatcher's line runs work on one meter one at a time, in order, and a failure does not block the next", async () => {
    const h = openHost();
    const d = h.svc.dispatcher;
    const seen: string[] = [];
    let inFlight = 0;
    let most = 0;
    const job =
      (name: string, fail = false) =>
      async () => {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        seen.push(name);
        inFlight--;
        if (fail) throw new Error(name);
        return name;
      };
    const a = d.exclusive(METER, job('a'));
    const b = d.exclusive(METER.toLowerCase(), job('b', true));
    const c = d.exclusive(METER, job('c'));
    const other = d.exclusive('000124', job('x'));
    await expect(b).rejects.toThrow('b');
    expect(await Promise.all([a, c, other])).toEqual(['a', 'c', 'x']);
    expect(seen.filter((s) => s !== 'x')).toEqual(['a', 'b', 'c']);
    expect(most).toBe(2); // METER's jobs never overlapped each other; 000124's ran beside them
  });
});
