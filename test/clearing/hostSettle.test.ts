/**
 * Settlement of abandoned transfers (issue 13), exactly once: decided from the card's and the SVM's
 * records, sent under one host tx id, a lost answer retried with the same decision and id, a
 * kill -9 (the database closed and reopened) at every step — and the card's credit-back opened on a
 * cancel paid only when the card's debit surfaces with a valid proof.
 */
import { describe, expect, it } from 'vitest';
import { HostDb } from '../../host/service/HostDb.js';
import { ClearingService, type ClearingStep } from '../../host/clearing/ClearingService.js';
import type { PendingReport } from '../../host/clearing/records.js';
import {
  CSN,
  CSN_HEX,
  METER,
  NOW,
  RV,
  SimulatedSvmLink,
  TestClock,
  cardRecord,
  clearingOf,
  issuer,
  openHost,
  svmRecord,
  transferRef,
  upload,
} from './hostHarness.js';

const TERM = 60_000;
const pending = (counter = 5, amount = 700, slot = 1): PendingReport => ({
  csn: CSN,
  purse: 1,
  amount,
  counter,
  dateTime: NOW,
  rv: RV,
  slot,
});

function setup(o: { counter?: number; amount?: number } = {}) {
  const h = openHost();
  const clock = new TestClock();
  const link = new SimulatedSvmLink();
  const p = pending(o.counter, o.amount);
  link.addPending(1, { csn: CSN_HEX, purse: 1, counter: p.counter, amount: p.amount });
  const c = clearingOf(h.svc, { link, clock: clock.read, termMs: TERM });
  c.ingest(METER, upload({ pending: [p] }));
  return { ...h, clock, link, c, p };
}

/** A host credit created, delivered to the SVM and confirmed: its id is above every settlement so far. */
function newerCredit(svc: ReturnType<typeof openHost>['svc'], link: SimulatedSvmLink): number {
  const t = svc.db.createCredit(METER, 10, 'newer');
  link.applyHostCredit(Number(t.txId));
  svc.db.confirm(t.txId, 10);
  return Number(t.txId);
}

const theDebit = (p: PendingReport, balanceAfter = 9_300) =>
  cardRecord({ amount: p.amount, balanceAfter, counter: p.counter, rv: RV, dateTime: NOW });

describe('settlement of pending transfers', () => {
  it("the card's debit record with a valid proof -> complete: the SVM is credited once, no credit-back", async () => {
    const { c, link, p } = setup();
    c.ingestCardRecords(CSN, [theDebit(p)], 'vending:test');
    const out = await c.settlePending();
    expect(out).toEqual([
      expect.objectContaining({
        state: 'settled',
        decision: 'complete',
        reason: 'debit-proven',
        answer: 'settled-complete',
      }),
    ]);
    expect(link.credited).toBe(700);
    expect(c.creditBacks(CSN_HEX)).toEqual([]);
    // running again sends nothing
    expect(await c.settlePending()).toEqual([]);
    expect(link.settleCalls).toBe(1);
  });

  it("a debit at that counter with another SVM challenge is not this transfer's debit -> cancel, nothing owed", async () => {
    const { c, link, p } = setup();
    c.ingestCardRecords(
      CSN,
      [cardRecord({ amount: p.amount, balanceAfter: 9_300, counter: p.counter, rv: new Uint8Array(8) })],
      'v',
    );
    const [o] = await c.settlePending();
    expect(o).toMatchObject({
      decision: 'cancel',
      reason: 'counter-used-otherwise',
      answer: 'settled-cancel',
    });
    expect(link.credited).toBe(0);
    expect(c.creditBacks(CSN_HEX)).toEqual([]);
  });

  it('a debit at that counter with the same challenge but another amount is not this debit -> cancel, nothing credited', async () => {
    const { c, link, p } = setup();
    c.ingestCardRecords(
      CSN,
      [cardRecord({ amount: p.amount - 1, balanceAfter: 9_301, counter: p.counter })],
      'v',
    );
    const [o] = await c.settlePending();
    expect(o).toMatchObject({ decision: 'cancel', reason: 'counter-used-otherwise' });
    expect(link.credited).toBe(0);
  });

  it('no evidence: open until the term, then cancel with a credit-back that waits for the debit', async () => {
    const { c, clock, link, p } = setup();
    expect(await c.settlePending()).toEqual([expect.objectContaining({ state: 'open' })]);
    expect(link.settleCalls).toBe(0);
    clock.now += TERM - 1;
    expect((await c.settlePending())[0]!.state).toBe('open');
    clock.now += 1;
    const [o] = await c.settlePending();
    expect(o).toMatchObject({ decision: 'cancel', reason: 'term-expired', answer: 'settled-cancel' });
    expect(link.slots.size).toBe(0); // the meter is no longer blocked
    expect(c.creditBacks(CSN_HEX)).toEqual([
      expect.objectContaining({ state: 'awaiting-debit', amount: 700 }),
    ]);
    // a forged "debit" never surfaces it
    const forged = theDebit(p).slice();
    forged[37]! ^= 1;
    expect(() => c.ingestCardRecords(CSN, [forged], 'v')).toThrow();
    expect(c.creditBacks(CSN_HEX)[0]!.state).toBe('awaiting-debit');
    // the debit of another transfer (other counter) does not either
    c.ingestCardRecords(CSN, [cardRecord({ amount: 700, balanceAfter: 1, counter: p.counter + 1 })], 'v');
    expect(c.creditBacks(CSN_HEX)[0]!.state).toBe('awaiting-debit');
    // the card's own debit, with its proof: now owed
    c.ingest('000124', upload({ cardRecords: [{ csn: CSN, record: theDebit(p) }] }));
    expect(c.creditBacks(CSN_HEX)[0]).toMatchObject({ state: 'payable', amount: 700 });
  });

  it('a cancelled transfer whose card counter then shows another transaction: the credit-back is void', async () => {
    const { c, clock, p } = setup();
    clock.now += TERM;
    await c.settlePending();
    c.ingestCardRecords(
      CSN,
      [cardRecord({ type: 'load', amount: 50, balanceAfter: 9_050, counter: p.counter })],
      'v',
    );
    expect(c.creditBacks(CSN_HEX)[0]).toMatchObject({
      state: 'void',
      reason: 'the card counter was used otherwise',
    });
  });

  it("the card recovered its transfer itself first (no-such-pending; the SVM's log shows its card credit): never paid", async () => {
    const { c, clock, link, p } = setup();
    link.slots.clear(); // the card completed at the meter before the host's settlement arrived
    clock.now += TERM;
    const [o] = await c.settlePending();
    expect(o).toMatchObject({ decision: 'cancel', answer: 'no-such-pending' });
    // the debit surfaces, but the answer was no-such-pending: wait for the SVM's own record
    c.ingestCardRecords(CSN, [theDebit(p)], 'v');
    expect(c.creditBacks(CSN_HEX)[0]!.state).toBe('awaiting-debit');
    c.ingest(METER, upload({ svmRecords: [svmRecord(1, transferRef(p.counter), 700, 700, 1)] }));
    expect(c.creditBacks(CSN_HEX)[0]).toMatchObject({
      state: 'void',
      reason: 'the SVM was credited with it',
    });
  });

  it('a lost settle answer is retried with the same decision and tx id: settled once, the SVM says duplicate', async () => {
    const { c, clock, link } = setup();
    clock.now += TERM;
    link.loseAnswers = 1;
    const [first] = await c.settlePending();
    expect(first!.state).toBe('decided');
    expect(link.applied.size).toBe(1);
    const txId = [...link.applied.keys()][0]!;
    const [again] = await c.settlePending();
    expect(again).toMatchObject({ state: 'settled', decision: 'cancel', answer: 'duplicate' });
    expect(link.applied.size).toBe(1);
    expect(c.repo.pending(again!.id)!.txId).toBe(txId);
    expect(link.settleCalls).toBe(2);
    expect(c.creditBacks(CSN_HEX)).toHaveLength(1);
  });

  it('the link down before the SVM: retried later, the same tx id, applied once', async () => {
    const { c, link, p } = setup();
    c.ingestCardRecords(CSN, [theDebit(p)], 'v');
    link.failBefore = 2;
    await c.settlePending();
    await c.settlePending();
    const [o] = await c.settlePending();
    expect(o).toMatchObject({ state: 'settled', answer: 'settled-complete' });
    expect(link.credited).toBe(700);
    expect(c.repo.pending(o!.id)!.attempts).toBe(3);
    expect(c.db.events(20).filter((e) => e.kind === 'settle-in-doubt')).toHaveLength(2);
  });

  for (const step of ['decided', 'answered', 'settled'] as const satisfies readonly ClearingStep[])
    for (const evidence of ['debit', 'none'] as const)
      it(`kill -9 after '${step}' (${evidence === 'debit' ? 'complete' : 'cancel'}): the restarted host settles exactly once`, async () => {
        const { svc, file, clock, link, p } = setup();
        const c1 = clearingOf(svc, {
          link,
          clock: clock.read,
          termMs: TERM,
          fault: (s) => {
            if (s === step) throw new Error(`killed after ${s}`);
          },
        });
        if (evidence === 'debit') c1.ingestCardRecords(CSN, [theDebit(p)], 'v');
        else clock.now += TERM;
        await expect(c1.settlePending()).rejects.toThrow(/killed/);
        svc.close(); // the process dies; its database file is all that is left
        const db = new HostDb(file);
        try {
          const c2 = new ClearingService(db, {
            keys: issuer,
            purse: 1,
            link,
            clock: clock.read,
            termMs: TERM,
          });
          const out = await c2.settlePending();
          await c2.settlePending();
          const row = c2.repo.pendingIn('settled');
          expect(row).toHaveLength(1);
          expect(link.applied.size).toBe(1);
          expect(link.credited).toBe(evidence === 'debit' ? 700 : 0);
          expect(c2.creditBacks(CSN_HEX)).toHaveLength(evidence === 'debit' ? 0 : 1);
          const applied = evidence === 'debit' ? 'settled-complete' : 'settled-cancel';
          // a kill between the SVM's answer and its record: the retry is answered 'duplicate'
          expect(row[0]!.answer).toBe(step === 'answered' ? 'duplicate' : applied);
          expect(link.settleCalls).toBe(step === 'answered' ? 2 : 1);
          if (step === 'settled') expect(out).toEqual([]);
        } finally {
          db.close();
        }
      });

  it('a newer host credit reached the SVM first: the settlement takes an id above it before it is sent, never refused (one sequence)', async () => {
    const { c, svc, link, p } = setup();
    c.ingestCardRecords(CSN, [theDebit(p)], 'v');
    link.failBefore = 1; // decided, first attempt lost on the line
    const [o] = await c.settlePending();
    const first = c.repo.pending(o!.id)!.txId!;
    const credit = newerCredit(svc, link); // CreditSales delivered a newer credit meanwhile
    const [done] = await c.settlePending();
    expect(done).toMatchObject({ state: 'settled', answer: 'settled-complete' });
    const renumbered = c.repo.pending(o!.id)!.txId!;
    expect(renumbered).toBeGreaterThan(credit);
    expect(credit).toBeGreaterThan(first);
    expect(c.db.events(10).some((e) => e.kind === 'settle-renumbered')).toBe(true);
    expect(c.db.events(10).some((e) => e.kind === 'settle-reissued')).toBe(false);
    expect(link.settleCalls).toBe(2); // the lost one, then the one applied: no refusal at all
    expect(link.credited).toBe(700);
  });

  it("an applied cancel whose answer was lost, then a newer credit: renumbered, no-such-pending with the SVM's own record; paid once", async () => {
    const { c, svc, link, clock, p } = setup();
    clock.now += TERM;
    link.loseAnswers = 1;
    const [o] = await c.settlePending(); // applied at the SVM, answer lost
    expect(o!.state).toBe('decided');
    newerCredit(svc, link);
    link.forgetOldIds();
    const [done] = await c.settlePending();
    expect(done).toMatchObject({ state: 'settled', answer: 'no-such-pending' });
    expect(link.applied.size).toBe(1);
    // the SVM's record of its own settle-cancel is the evidence: with the debit, the card is owed
    c.ingestCardRecords(CSN, [theDebit(p)], 'v');
    expect(c.creditBacks(CSN_HEX)).toEqual([expect.objectContaining({ state: 'payable', amount: 700 })]);
  });

  it('a settlement waits while an older host credit to the meter is pending (tx ids only grow in an SVM)', async () => {
    const { c, svc, link, p } = setup();
    const credit = svc.db.createCredit(METER, 500, 'test'); // pending, never delivered here
    c.ingestCardRecords(CSN, [theDebit(p)], 'v');
    const [o] = await c.settlePending();
    expect(o!.state).toBe('waiting');
    expect(link.settleCalls).toBe(0);
    const txId = c.repo.pending(o!.id)!.txId!;
    expect(txId).toBeGreaterThan(Number(credit.txId));
    svc.db.confirm(credit.txId, 500);
    expect((await c.settlePending())[0]!.state).toBe('settled');
    // and the credits' sequence continues past the settlement's id
    expect(Number(svc.db.createCredit(METER, 1, 'next').txId)).toBe(txId + 1);
  });

  it('a repeated pending report (every upload lists it) is one transfer, settled once', async () => {
    const { c, link, p } = setup();
    c.ingest(METER, upload({ pending: [p] }));
    c.ingest(METER, upload({ pending: [p] }));
    c.ingestCardRecords(CSN, [theDebit(p)], 'v');
    expect(await c.settlePending()).toHaveLength(1);
    c.ingest(METER, upload({ pending: [p] })); // a stale upload after the settlement
    expect(await c.settlePending()).toEqual([]);
    expect(link.settleCalls).toBe(1);
  });

  it('the amount at its u32 maximum and the counter at FFFF settle like any other', async () => {
    const { c, link, p } = setup({ counter: 0xffff, amount: 0xffffffff });
    c.ingestCardRecords(CSN, [theDebit(p, 0)], 'v');
    const [o] = await c.settlePending();
    expect(o).toMatchObject({ answer: 'settled-complete', counter: 0xffff });
    expect(link.credited).toBe(0xffffffff);
  });
});
