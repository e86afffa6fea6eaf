/**
 * Red team, host side of the clearing (issue 13): each attack the chip-side red team found against
 * the host, as a test that failed before its fix.
 *
 * a. pending entries on the meter's word (signed now: READ PENDING P1 = 01 for the page's challenge;
 *    the debit's terminal id must be this meter's; a debit credited anywhere is never completed);
 * b. a 'duplicate' settle answer counted as a cancel without the SVM's own 06 record;
 * c. the SVM's 6985 to 'complete' retried for ever;
 * d. one bad card record stalling a meter's clearing for good;
 * e. the folder cycle host/service <-> host/clearing.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SvmLogRecord } from '../../card/applets/svm/records.js';
import { ProtocolError, REFUSE_SETTLE_CONFLICT } from '../../protocol/index.js';
import type {
  ClearingLink,
  SettleAnswer,
  SettleRequest,
  UploadCursor,
  UploadPage,
} from '../../host/clearing/index.js';
import type { PendingReport } from '../../host/clearing/records.js';
import {
  CHALLENGE,
  CSN,
  CSN_HEX,
  METER,
  NOW,
  RV,
  SimulatedSvmLink,
  TestClock,
  cardRecord,
  clearingOf,
  emptyUpload,
  openHost,
  signPending,
  svmRecord,
  transferRef,
  upload,
} from './hostHarness.js';

const TERM = 60_000;
const METER_B = '000124';
const METER_B_ID = Uint8Array.of(0, 1, 0x24);
const OTHER_RV = Uint8Array.of(8, 7, 6, 5, 4, 3, 2, 1);

const entry = (rv: Uint8Array = RV, slot = 1): PendingReport => ({
  csn: CSN,
  purse: 1,
  amount: 700,
  counter: 5,
  dateTime: NOW,
  rv,
  slot,
});
const debit = (rv: Uint8Array = RV, terminalId?: Uint8Array) =>
  cardRecord({
    amount: 700,
    balanceAfter: 9_300,
    counter: 5,
    rv,
    dateTime: NOW,
    ...(terminalId ? { terminalId } : {}),
  });

function world(link: ClearingLink = new SimulatedSvmLink()) {
  const h = openHost();
  const clock = new TestClock();
  const c = clearingOf(h.svc, { link, clock: clock.read, termMs: TERM });
  return { ...h, clock, link, c };
}

function pendingCount(svc: ReturnType<typeof openHost>['svc']): number {
  return (svc.db.db.prepare('SELECT COUNT(*) AS n FROM clearing_pending').get() as { n: number }).n;
}

describe('a. a pending entry is believed only as the SVM signed it for this page', () => {
  it('an RV rewritten on the meter bus (copied from the debit at another meter) fails the MAC: the page is refused', () => {
    const w = world();
    const signed = upload({ pending: [entry(OTHER_RV)] });
    // the bus owner swaps in the RV the card's genuine debit at meter B covers, keeping the MAC
    const forged = { ...signed, pending: [{ ...signed.pending[0]!, rv: RV }] };
    expect(() => w.c.ingest(METER, forged)).toThrow(
      expect.objectContaining({ code: 'bad-pending-mac' }) as Error,
    );
    expect(pendingCount(w.svc)).toBe(0);
    expect(
      w.svc.db.events(10).some((e) => e.kind === 'clearing-refused' && /pending/.test(e.detail ?? '')),
    ).toBe(true);
  });

  it('an entry signed for an earlier challenge, for another meter, or with no MAC is refused', () => {
    const w = world();
    const e = entry();
    const old = Uint8Array.of(9, 9, 9, 9, 9, 9, 9, 9);
    const replayed = { ...emptyUpload, challenge: CHALLENGE, pending: [{ ...e, mac: signPending(e, old) }] };
    const otherMeter = {
      ...emptyUpload,
      challenge: CHALLENGE,
      pending: [{ ...e, mac: signPending(e, CHALLENGE, METER_B_ID) }],
    };
    const bare = { ...emptyUpload, challenge: CHALLENGE, pending: [e] };
    const slotMoved = {
      ...emptyUpload,
      challenge: CHALLENGE,
      pending: [{ ...e, slot: 2, mac: signPending(e, CHALLENGE) }],
    };
    for (const u of [replayed, otherMeter, bare, slotMoved])
      expect(() => w.c.ingest(METER, u)).toThrow(
        expect.objectContaining({ code: 'bad-pending-mac' }) as Error,
      );
    expect(pendingCount(w.svc)).toBe(0);
    // the genuine one goes in
    expect(w.c.ingest(METER, upload({ pending: [e] })).pending).toBe(1);
  });

  it('an unsigned page (no challenge) is stored without its RV: a matching debit completes nothing', async () => {
    const w = world();
    (w.link as SimulatedSvmLink).addPending(1, { csn: CSN_HEX, purse: 1, counter: 5, amount: 700 });
    w.c.ingest(METER, { ...emptyUpload, pending: [entry()] }); // no challenge, no MAC
    w.c.ingestCardRecords(CSN, [debit()], 'vending:test');
    w.clock.now += TERM;
    const [o] = await w.c.settlePending();
    expect(o).toMatchObject({ decision: 'cancel', reason: 'term-expired' });
    expect((w.link as SimulatedSvmLink).credited).toBe(0);
    // and the credit-back is not paid on the unsigned word either
    expect(w.c.creditBacks(CSN_HEX)[0]!.state).toBe('awaiting-debit');
  });

  it("a debit made toward another meter is never this meter's transfer, even under the same RV", async () => {
    const w = world();
    (w.link as SimulatedSvmLink).addPending(1, { csn: CSN_HEX, purse: 1, counter: 5, amount: 700 });
    w.c.ingest(METER, upload({ pending: [entry()] }));
    w.c.ingestCardRecords(CSN, [debit(RV, Uint8Array.of(0, 0, 1, 0x24))], 'vending:test');
    const [o] = await w.c.settlePending();
    expect(o).toMatchObject({ decision: 'cancel', reason: 'counter-used-otherwise' });
    expect((w.link as SimulatedSvmLink).credited).toBe(0);
    expect(w.c.creditBacks(CSN_HEX)).toEqual([]);
  });

  it('a (card, counter) that any SVM logged as credited is never completed again', async () => {
    const w = world();
    (w.link as SimulatedSvmLink).addPending(1, { csn: CSN_HEX, purse: 1, counter: 5, amount: 700 });
    // meter B's SVM took this debit (card credit 01, signed by B's SVM)
    w.c.ingest(METER_B, upload({ svmRecords: [svmRecord(1, transferRef(5), 700, 700, 1, METER_B_ID)] }));
    // meter A reports a stale entry that, debit and all, looks like its own
    w.c.ingest(METER, upload({ pending: [entry()] }));
    w.c.ingestCardRecords(CSN, [debit()], 'vending:test');
    const [o] = await w.c.settlePending();
    expect(o).toMatchObject({ decision: 'cancel', reason: 'credited-elsewhere' });
    expect((w.link as SimulatedSvmLink).credited).toBe(0);
    expect(w.c.creditBacks(CSN_HEX)).toEqual([]);
  });

  it('so does a (card, counter) another SVM host-completed (05)', async () => {
    const w = world();
    (w.link as SimulatedSvmLink).addPending(1, { csn: CSN_HEX, purse: 1, counter: 5, amount: 700 });
    w.c.ingest(METER_B, upload({ svmRecords: [svmRecord(5, transferRef(5), 700, 700, 1, METER_B_ID)] }));
    w.c.ingest(METER, upload({ pending: [entry()] }));
    w.c.ingestCardRecords(CSN, [debit()], 'vending:test');
    const [o] = await w.c.settlePending();
    expect(o).toMatchObject({ decision: 'cancel', reason: 'credited-elsewhere' });
    expect((w.link as SimulatedSvmLink).credited).toBe(0);
  });
});

/** A link whose SVM answers every settlement with a fixed answer (or a fixed refusal). */
class ScriptedLink implements ClearingLink {
  readonly sent: SettleRequest[] = [];
  answer: SettleAnswer | (() => never) = { status: 'duplicate' };
  async upload(_m: string, from: UploadCursor): Promise<UploadPage> {
    return { upload: emptyUpload, next: from, more: false };
  }
  async settle(_m: string, r: SettleRequest): Promise<SettleAnswer> {
    this.sent.push(r);
    return typeof this.answer === 'function' ? this.answer() : this.answer;
  }
  async sendBlacklist(): Promise<{ version: number; status: string }> {
    return { version: 0, status: 'applied' };
  }
}

const rawWith = (record: Uint8Array) => Uint8Array.of(...new Uint8Array(33), ...record);

describe("b. 'duplicate' is a cancel only with the SVM's host-cancel record of that card counter", () => {
  async function cancelledAs(answer: SettleAnswer) {
    const link = new ScriptedLink();
    link.answer = answer;
    const w = world(link);
    w.c.ingest(METER, upload({ pending: [entry()] }));
    w.clock.now += TERM;
    const [o] = await w.c.settlePending();
    expect(o).toMatchObject({ decision: 'cancel', answer: 'duplicate' });
    w.c.ingestCardRecords(CSN, [debit()], 'vending:test'); // the debit surfaces
    return w.c.creditBacks(CSN_HEX)[0]!.state;
  }

  it('a bare duplicate (no record) pays nothing: it could be the answer to a complete', async () => {
    expect(await cancelledAs({ status: 'duplicate' })).toBe('awaiting-debit');
  });

  it('a duplicate carrying a 05 (completed) or the 06 of another counter pays nothing', async () => {
    const complete = new SvmLogRecord(5, transferRef(5), 700, 0, 1, NOW).encode();
    const otherCounter = new SvmLogRecord(6, transferRef(6), 700, 0, 1, NOW).encode();
    expect(await cancelledAs({ status: 'duplicate', raw: rawWith(complete) })).toBe('awaiting-debit');
    expect(await cancelledAs({ status: 'duplicate', raw: rawWith(otherCounter) })).toBe('awaiting-debit');
  });

  it("a duplicate carrying the SVM's 06 for this card and counter pays the credit-back", async () => {
    const cancel = new SvmLogRecord(6, transferRef(5), 700, 0, 1, NOW).encode();
    expect(await cancelledAs({ status: 'duplicate', raw: rawWith(cancel) })).toBe('payable');
  });
});

describe("c. the SVM's 6985 to 'complete' (it already credited that counter)", () => {
  it('a refusal alone changes nothing (it is unsigned); the signed log turns it into cancel, no credit-back', async () => {
    const link = new ScriptedLink();
    link.answer = () => {
      throw new ProtocolError(
        'refused',
        'SVM 6985: card counter already credited here',
        REFUSE_SETTLE_CONFLICT,
      );
    };
    const w = world(link);
    w.c.ingest(METER, upload({ pending: [entry()] }));
    w.c.ingestCardRecords(CSN, [debit()], 'vending:test');
    for (let i = 0; i < 5; i++) await w.c.settlePending();
    expect(link.sent.map((r) => r.decision)).toEqual(Array(5).fill('complete'));
    expect(new Set(link.sent.map((r) => r.txId)).size).toBe(1); // never reissued on this refusal
    // the next upload brings the SVM's signed card credit of that counter
    w.c.ingest(METER, upload({ svmRecords: [svmRecord(1, transferRef(5), 700, 700, 1)] }));
    link.answer = { status: 'settled-cancel' };
    const [o] = await w.c.settlePending();
    expect(o).toMatchObject({ decision: 'cancel', reason: 'svm-already-credited', answer: 'settled-cancel' });
    expect(link.sent.at(-1)).toMatchObject({ decision: 'cancel' });
    expect(link.sent.at(-1)!.txId).toBeGreaterThan(link.sent[0]!.txId);
    expect(w.c.creditBacks(CSN_HEX)).toEqual([]);
    expect(w.svc.db.events(30).some((e) => e.kind === 'settle-redecided')).toBe(true);
  });
});

describe('d. a shim at the card slot cannot stall a meter', () => {
  it('a bad card record is quarantined with its reason; the rest is stored and the cursor moves on', async () => {
    const link = new SimulatedSvmLink();
    const w = world(link);
    const good = cardRecord({ amount: 100, balanceAfter: 9_900, counter: 1 });
    const forged = cardRecord({ amount: 100, balanceAfter: 9_800, counter: 2 });
    forged[37]! ^= 1;
    const wrongType = cardRecord({ amount: 100, balanceAfter: 9_700, counter: 3 });
    wrongType[0] = 9;
    link.pages.push({
      upload: upload({
        cardRecords: [
          { csn: CSN, record: forged },
          { csn: CSN, record: good },
          { csn: CSN, record: wrongType },
        ],
      }),
      next: { journal: 3, svm: 0 },
      more: false,
    });
    const [r] = await w.c.collect(METER);
    expect(r).toMatchObject({ card: { stored: 1 }, quarantined: 2 });
    expect(w.c.repo.cursor(METER)).toEqual({ journal: 3, svm: 0 });
    expect(w.c.quarantined(METER).map((q) => q.reason)).toEqual(['proof wrong', 'type 9']);
    // the same bad record uploaded again is kept once
    w.c.ingest(METER, upload({ cardRecords: [{ csn: CSN, record: forged }] }));
    expect(w.c.quarantined()).toHaveLength(2);
    expect(w.svc.db.events(30).filter((e) => e.kind === 'card-record-quarantined')).toHaveLength(2);
  });

  it('an SVM record with a bad MAC still refuses the page (the meter itself is lying): cursor stays, event', async () => {
    const link = new SimulatedSvmLink();
    const w = world(link);
    const bad = svmRecord(1, transferRef(1), 100, 100, 1);
    bad.mac[0]! ^= 1;
    link.pages.push({ upload: upload({ svmRecords: [bad] }), next: { journal: 0, svm: 2 }, more: false });
    await expect(w.c.collect(METER)).rejects.toThrow(
      expect.objectContaining({ code: 'bad-svm-mac' }) as Error,
    );
    expect(w.c.repo.cursor(METER)).toEqual({ journal: 0, svm: 0 });
  });
});

describe('e. no folder cycle', () => {
  it('host/service imports nothing of host/clearing', () => {
    const dir = new URL('../../host/service/', import.meta.url);
    const offenders = readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .filter((f) => /from '\.\.\/clearing\//.test(readFileSync(new URL(f, dir), 'utf8')));
    expect(offenders).toEqual([]);
  });
});
