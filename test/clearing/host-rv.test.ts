/**
 * The RV in the pending entry (issue 13): the H = 55 pending entry carries the SVM's challenge RV of
 * the transfer (READ PENDING has it), and the host completes a pending transfer — or pays a
 * credit-back — only on a card debit whose proof covers that very RV. Amount and date-time alone
 * bind nothing to *this* SVM: a second (forged or cloned) module reporting the same card counter
 * pending would otherwise be credited with value that went elsewhere.
 */
import { describe, expect, it } from 'vitest';
import { MalformedDataError } from '../../card/index.js';
import { concatBytes, fromHex } from '../../card/util/hex.js';
import {
  PENDING_ENTRY_LENGTH,
  decodeUploadAnswer,
  encodeUploadBody,
  type UploadBody,
} from '../../protocol/clearing.js';
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
  openHost,
  upload,
} from './hostHarness.js';

const TERM = 60_000;
const ID = Uint8Array.of(0x00, 0x01, 0x23);
const tail = concatBytes(Uint8Array.of(0, 0, 0x30, 0x39), ID);
const OTHER_RV = Uint8Array.of(8, 7, 6, 5, 4, 3, 2, 1);
const MAC8 = Uint8Array.of(0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8);

const body: UploadBody = {
  blacklistVersion: 0,
  next: 0,
  oldest: 0,
  svmNext: 0,
  moreJournal: false,
  moreSvm: false,
  pending: [
    { slot: 3, csn: CSN, purse: 1, amount: 0xffffffff, counter: 0xffff, dateTime: NOW, rv: RV, mac: MAC8 },
  ],
  svmRecords: [],
  journal: [],
};

describe('the pending entry carries the RV (H = 55)', () => {
  it('38 bytes: slot ‖ CSN ‖ purse ‖ amount ‖ counter ‖ date-time ‖ RV ‖ MAC, round trip at every maximum', () => {
    expect(PENDING_ENTRY_LENGTH).toBe(38);
    const b = encodeUploadBody(body);
    // status 1, version 4, next 4, oldest 4, svmNext 4, more 1, nP 1 = 19; then the entry
    expect(b.subarray(19, 57)).toEqual(
      concatBytes(
        Uint8Array.of(3),
        CSN,
        Uint8Array.of(1),
        fromHex('FFFFFFFF'),
        fromHex('FFFF'),
        NOW,
        RV,
        MAC8,
      ),
    );
    expect(b.length).toBe(19 + 38 + 2 + 2);
    expect(decodeUploadAnswer(concatBytes(b, tail)).pending).toEqual(body.pending);
  });

  it('an answer cut inside the RV is refused; an RV not 8 bytes is not encoded', () => {
    const full = concatBytes(encodeUploadBody(body), tail);
    for (const n of [41, 45, 48]) {
      let err: unknown;
      try {
        decodeUploadAnswer(full.subarray(0, n));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(MalformedDataError);
    }
    for (const rv of [RV.subarray(0, 7), new Uint8Array(9)])
      expect(() => encodeUploadBody({ ...body, pending: [{ ...body.pending[0]!, rv }] })).toThrow(
        /pending\[0\]\.rv/,
      );
  });
});

const report = (rv: Uint8Array | undefined, slot = 1): PendingReport => ({
  csn: CSN,
  purse: 1,
  amount: 700,
  counter: 5,
  dateTime: NOW,
  ...(rv ? { rv } : {}),
  slot,
});
const debitWith = (rv: Uint8Array) =>
  cardRecord({ amount: 700, balanceAfter: 9_300, counter: 5, rv, dateTime: NOW });

function world() {
  const h = openHost();
  const clock = new TestClock();
  const link = new SimulatedSvmLink();
  const c = clearingOf(h.svc, { link, clock: clock.read, termMs: TERM });
  return { ...h, clock, link, c };
}

describe("the host's matching needs the RV", () => {
  it("two meters report the same card counter pending; the debit covers meter A's RV: A completes, B cancels, B is owed nothing", async () => {
    const w = world();
    w.link.addPending(1, { csn: CSN_HEX, purse: 1, counter: 5, amount: 700 }); // both "SVMs" behind one link
    w.c.ingest(METER, upload({ pending: [report(RV)] }));
    w.c.ingest('000124', upload({ pending: [report(OTHER_RV)] }, Uint8Array.of(0, 1, 0x24)));
    w.c.ingestCardRecords(CSN, [debitWith(RV)], 'vending:test');
    const out = await w.c.settlePending();
    expect(out.find((o) => o.meterId === METER)).toMatchObject({
      decision: 'complete',
      reason: 'debit-proven',
    });
    expect(out.find((o) => o.meterId === '000124')).toMatchObject({
      decision: 'cancel',
      reason: 'counter-used-otherwise',
    });
    expect(w.link.credited).toBe(700); // once, at A
    expect(w.c.creditBacks(CSN_HEX)).toEqual([]);
  });

  it('a debit of the right amount and date-time under another RV completes nothing: cancel, and nothing paid', async () => {
    const w = world();
    w.link.addPending(1, { csn: CSN_HEX, purse: 1, counter: 5, amount: 700 });
    w.c.ingest(METER, upload({ pending: [report(RV)] }));
    w.c.ingestCardRecords(CSN, [debitWith(OTHER_RV)], 'vending:test');
    const [o] = await w.c.settlePending();
    expect(o).toMatchObject({
      decision: 'cancel',
      reason: 'counter-used-otherwise',
      answer: 'settled-cancel',
    });
    expect(w.link.credited).toBe(0);
    expect(w.c.creditBacks(CSN_HEX)).toEqual([]);
  });

  it('a transfer reported without its RV is never completed on amount and date-time; its credit-back waits for the RV', async () => {
    const w = world();
    w.link.addPending(1, { csn: CSN_HEX, purse: 1, counter: 5, amount: 700 });
    w.c.ingest(METER, upload({ pending: [report(undefined)] }));
    w.c.ingestCardRecords(CSN, [debitWith(RV)], 'vending:test');
    expect((await w.c.settlePending())[0]!.state).toBe('open'); // fits, but unproven: the term decides
    w.clock.now += TERM;
    const [o] = await w.c.settlePending();
    expect(o).toMatchObject({ decision: 'cancel', reason: 'term-expired', answer: 'settled-cancel' });
    expect(w.link.credited).toBe(0);
    expect(w.c.creditBacks(CSN_HEX)).toEqual([expect.objectContaining({ state: 'awaiting-debit' })]);
  });

  it('a later report with the RV fills a transfer first seen without it (still open), never replaces a stored RV', async () => {
    const w = world();
    w.link.addPending(1, { csn: CSN_HEX, purse: 1, counter: 5, amount: 700 });
    w.c.ingest(METER, upload({ pending: [report(undefined)] }));
    w.c.ingest(METER, upload({ pending: [report(RV)] }));
    const [row] = w.c.repo.pendingIn('open');
    expect(row!.rv).toEqual(RV);
    w.c.ingest(METER, upload({ pending: [report(OTHER_RV)] })); // a changed RV: ignored
    expect(w.c.repo.pendingIn('open')[0]!.rv).toEqual(RV);
    w.c.ingestCardRecords(CSN, [debitWith(RV)], 'vending:test');
    expect((await w.c.settlePending())[0]).toMatchObject({
      decision: 'complete',
      answer: 'settled-complete',
    });
  });
});
