/**
 * Clearing ingest (issue 13): every uploaded record checked (SVM MAC under K_svm, card proof under
 * K_proof(CSN)), stored once under its natural key, and reconciled per card and per meter — and the
 * attacks: a forged SVM MAC, a card record with a wrong proof, a truncated or malformed upload, the
 * same upload twice (or through two meters and a vending point), the same card counter with other
 * contents (a clone).
 */
import { describe, expect, it } from 'vitest';
import { recordMacInput } from '../../card/applets/PurseCrypto.js';
import { ClearingError } from '../../host/clearing/ClearingService.js';
import { cardRecordFields, cardRecordMacInput } from '../../host/clearing/records.js';
import {
  CSN,
  CSN_HEX,
  SimulatedSvmLink,
  METER,
  NOW,
  RV,
  TERMINAL_ID,
  cardRecord,
  clearingOf,
  openHost,
  svmRecord,
  transferRef,
  upload,
} from './hostHarness.js';

/** Rows of the clearing tables (test-side SQL). */
function counts(svc: ReturnType<typeof openHost>['svc']) {
  const n = (t: string) => (svc.db.db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n;
  return {
    svm: n('svm_records'),
    card: n('card_records'),
    conflicts: n('record_conflicts'),
    pending: n('clearing_pending'),
    attempts: n('blacklist_attempts'),
  };
}

/** Three debits of the card at meter 000123 and the SVM's card-credit records of them. */
function page() {
  const cards = [1, 2, 3].map((c) => ({
    csn: CSN,
    record: cardRecord({ amount: 100 * c, balanceAfter: 10_000 - 100 * ((c * (c + 1)) / 2), counter: c }),
  }));
  const svms = [1, 2, 3].map((c) => svmRecord(1, transferRef(c), 100 * c, 100 * ((c * (c + 1)) / 2), c));
  return upload({ svmRecords: svms, cardRecords: cards });
}

describe('clearing ingest', () => {
  it("the host's mirror of the card's log MAC input is the chip's own", () => {
    const rec = cardRecord({ amount: 5, balanceAfter: 7, counter: 9 });
    const f = cardRecordFields(rec);
    expect(cardRecordMacInput(CSN, f)).toEqual(
      recordMacInput(
        'D',
        { csn: CSN, purse: 1, amount: 5, counter: 9, terminalId: TERMINAL_ID, dateTime: NOW },
        7,
        RV,
      ),
    );
  });

  it('stores each record once: the same page again, and the card records through a second meter, count nothing new', () => {
    const { svc } = openHost();
    const c = clearingOf(svc);
    const first = c.ingest(METER, page(), { journal: 3, svm: 4 });
    expect(first.svm).toEqual({ stored: 3, duplicates: 0, conflicts: 0 });
    expect(first.card).toEqual({ stored: 3, duplicates: 0, clones: 0 });
    const again = c.ingest(METER, page());
    expect(again.svm).toEqual({ stored: 0, duplicates: 3, conflicts: 0 });
    expect(again.card).toEqual({ stored: 0, duplicates: 3, clones: 0 });
    const other = c.ingest('000124', upload({ cardRecords: page().cardRecords }));
    expect(other.card).toEqual({ stored: 0, duplicates: 3, clones: 0 });
    const vending = c.ingestCardRecords(
      CSN,
      page().cardRecords.map((r) => r.record),
      'vending:test',
    );
    expect(vending).toEqual({ stored: 0, duplicates: 3, clones: 0 });
    expect(counts(svc)).toMatchObject({ svm: 3, card: 3, conflicts: 0 });
    expect(c.repo.cursor(METER)).toEqual({ journal: 3, svm: 4 });
  });

  it('a forged SVM record MAC refuses the whole page: nothing stored, the cursor stays, an event says why', () => {
    const { svc } = openHost();
    const c = clearingOf(svc);
    const p = page();
    const forged = {
      record: p.svmRecords[1]!.record,
      mac: p.svmRecords[1]!.mac.map((b, i) => (i === 0 ? b ^ 1 : b)),
    };
    const bad = upload({ ...p, svmRecords: [p.svmRecords[0]!, forged, p.svmRecords[2]!] });
    const e = (() => {
      try {
        c.ingest(METER, bad, { journal: 9, svm: 9 });
      } catch (x) {
        return x as ClearingError;
      }
      throw new Error('accepted');
    })();
    expect(e).toBeInstanceOf(ClearingError);
    expect(e.code).toBe('bad-svm-mac');
    expect(e.index).toBe(1);
    expect(e.status).toBe(422);
    expect(counts(svc)).toMatchObject({ svm: 0, card: 0 });
    expect(c.repo.cursor(METER)).toEqual({ journal: 0, svm: 0 });
    expect(svc.db.events(5)[0]).toMatchObject({ kind: 'clearing-refused', meterId: METER });
  });

  it("an SVM record MAC'd for another meter is refused (K_svm is per meter)", () => {
    const { svc } = openHost();
    const c = clearingOf(svc);
    const elsewhere = svmRecord(1, transferRef(1), 100, 100, 1, Uint8Array.of(0, 1, 0x24));
    expect(() => c.ingest(METER, upload({ svmRecords: [elsewhere] }))).toThrow(/MAC wrong/);
    expect(c.ingest('000124', upload({ svmRecords: [elsewhere] })).svm.stored).toBe(1);
  });

  it('a card record with a wrong proof, or changed after the card signed it: quarantined from a meter, refused from a vending point', () => {
    const { svc } = openHost();
    const c = clearingOf(svc);
    const good = cardRecord({ amount: 100, balanceAfter: 9_900, counter: 1 });
    const raised = good.slice();
    raised[5] = 0xff; // amount changed
    const r = c.ingest(
      METER,
      upload({
        cardRecords: [
          { csn: CSN, record: good },
          { csn: CSN, record: raised },
        ],
      }),
    );
    expect(r.card.stored).toBe(1);
    expect(r.quarantined).toBe(1);
    expect(c.quarantined(METER)).toMatchObject([{ csn: CSN_HEX, reason: 'proof wrong', raw: raised }]);
    expect(counts(svc).card).toBe(1);
    // another card's serial with this card's record
    const other = Uint8Array.of(...CSN.subarray(0, 7), 2);
    expect(() => c.ingestCardRecords(other, [good], 'vending:test')).toThrow(
      expect.objectContaining({ code: 'bad-card-proof' }) as Error,
    );
    expect(counts(svc).card).toBe(1);
  });

  it('a truncated upload is refused: a record cut short, a MAC cut short, a CSN cut short', () => {
    const { svc } = openHost();
    const c = clearingOf(svc);
    const p = page();
    const cases = [
      upload({
        svmRecords: [{ record: p.svmRecords[0]!.record.subarray(0, 28), mac: p.svmRecords[0]!.mac }],
      }),
      upload({ svmRecords: [{ record: p.svmRecords[0]!.record, mac: p.svmRecords[0]!.mac.subarray(0, 7) }] }),
      upload({ cardRecords: [{ csn: CSN, record: p.cardRecords[0]!.record.subarray(0, 37) }] }),
      upload({ cardRecords: [{ csn: CSN.subarray(0, 7), record: p.cardRecords[0]!.record }] }),
      upload({
        pending: [{ csn: CSN, purse: 1, amount: 5, counter: 4, dateTime: NOW.subarray(0, 5), slot: 0 }],
      }),
      upload({ pending: [{ csn: CSN, purse: 1, amount: 0, counter: 4, dateTime: NOW, slot: 0 }] }),
      upload({ pending: [{ csn: CSN, purse: 1, amount: 5, counter: 0x10000, dateTime: NOW, slot: 0 }] }),
      upload({ attempts: [{ serial: CSN.subarray(0, 4), purse: 1, at: 'x' }] }),
    ];
    for (const u of cases)
      expect(() => c.ingest(METER, { ...u, svmRecords: [...p.svmRecords, ...u.svmRecords] })).toThrow(
        expect.objectContaining({ code: 'malformed' }) as Error,
      );
    expect(counts(svc)).toMatchObject({ svm: 0, card: 0, pending: 0, attempts: 0 });
  });

  it('an unknown meter is refused 404 and a purse the scheme has no keys for 422', () => {
    const { svc } = openHost();
    const c = clearingOf(svc);
    expect(() => c.ingest('ABCDEF', page())).toThrow(
      expect.objectContaining({ code: 'unknown-meter', status: 404 }) as Error,
    );
    const rec = cardRecord({ amount: 1, balanceAfter: 1, counter: 1 });
    rec[1] = 0; // purse 0
    expect(() => c.ingestCardRecords(CSN, [rec], 'v')).toThrow(
      expect.objectContaining({ code: 'unknown-purse' }) as Error,
    );
  });

  it('the same card counter with other contents (both MACs valid) is flagged as a clone, stored once', () => {
    const { svc } = openHost();
    const c = clearingOf(svc);
    c.ingest(METER, page());
    // a clone of the card spends counter 2 again, elsewhere
    const cloned = cardRecord({
      amount: 250,
      balanceAfter: 9_450,
      counter: 2,
      terminalId: Uint8Array.of(0, 0, 9, 9),
    });
    const r = c.ingest('000124', upload({ cardRecords: [{ csn: CSN, record: cloned }] }));
    expect(r.card).toEqual({ stored: 0, duplicates: 0, clones: 1 });
    // the same clone record again is not a second clone
    expect(c.ingestCardRecords(CSN, [cloned], 'vending:x')).toEqual({ stored: 0, duplicates: 1, clones: 0 });
    const rc = c.reconcileCard(CSN_HEX);
    expect(rc.findings).toEqual([{ kind: 'clone', purse: 1, counter: 2 }]);
    expect(svc.db.events(10).some((e) => e.kind === 'card-clone' && e.detail.endsWith('blacklisted'))).toBe(
      true,
    );
    // the cloned card is listed at once: the next distribution takes it to the meters
    expect(svc.blacklist()).toEqual({ version: 1, serials: [CSN_HEX] });
    // the first copy stays the stored record
    expect(c.repo.cardRecord(CSN_HEX, 1, 2)!.amount).toBe(200);
  });

  it('reconciles a card: counter gaps and balance breaks per purse', () => {
    const { svc } = openHost();
    const c = clearingOf(svc);
    c.ingestCardRecords(
      CSN,
      [
        cardRecord({ amount: 100, balanceAfter: 900, counter: 1 }),
        cardRecord({ type: 'load', amount: 500, balanceAfter: 1_400, counter: 2 }),
        cardRecord({ amount: 100, balanceAfter: 1_200, counter: 3 }), // should be 1_300
        cardRecord({ amount: 100, balanceAfter: 1_100, counter: 6 }),
        cardRecord({ purse: 2, amount: 10, balanceAfter: 90, counter: 1 }),
      ],
      'vending:test',
    );
    const r = c.reconcileCard(CSN_HEX.toLowerCase());
    expect(r.purses).toEqual([
      { purse: 1, first: 1, last: 6, records: 4, balance: 1_100 },
      { purse: 2, first: 1, last: 1, records: 1, balance: 90 },
    ]);
    expect(r.findings).toEqual([
      { kind: 'balance-break', purse: 1, counter: 3, expected: 1_300, got: 1_200 },
      { kind: 'gap', purse: 1, from: 4, to: 5 },
    ]);
  });

  it('reconciles a meter: SVM counter continuity, balance evolution, cancels that repeat a counter, conflicts', () => {
    const { svc } = openHost();
    const c = clearingOf(svc);
    c.ingest(
      METER,
      upload({
        svmRecords: [
          svmRecord(3, new Uint8Array(10), 1_000, 1_000, 1), // host credit
          svmRecord(2, new Uint8Array(10), 100, 900, 2), // token
          svmRecord(4, transferRef(7), 50, 900, 2), // a cancelled transfer repeats counter 2
          svmRecord(1, transferRef(8), 200, 1_100, 3), // card credit
          svmRecord(2, new Uint8Array(10), 100, 1_050, 4), // break: should be 1_000
          svmRecord(2, new Uint8Array(10), 100, 950, 7), // gap 5..6
        ],
      }),
    );
    const conflicting = svmRecord(2, new Uint8Array(10), 300, 800, 3);
    expect(c.ingest(METER, upload({ svmRecords: [conflicting] })).svm.conflicts).toBe(1);
    const r = c.reconcileMeter(METER);
    expect(r).toMatchObject({ first: 1, last: 7, records: 6, balance: 950 });
    expect(r.findings).toEqual([
      { kind: 'balance-break', counter: 4, expected: 1_000, got: 1_050 },
      { kind: 'gap', from: 5, to: 6 },
      { kind: 'conflict', counter: 3 },
    ]);
    expect(c.reconcileMeter('000124')).toEqual({
      meterId: '000124',
      first: null,
      last: null,
      records: 0,
      balance: null,
      findings: [],
    });
  });

  it('a counter at its maximum: card counter FFFF and SVM counter FFFFFFFF are stored and reconciled', () => {
    const { svc } = openHost();
    const c = clearingOf(svc);
    c.ingestCardRecords(
      CSN,
      [
        cardRecord({ amount: 1, balanceAfter: 10, counter: 0xfffe }),
        cardRecord({ amount: 1, balanceAfter: 9, counter: 0xffff }),
      ],
      'v',
    );
    c.ingest(
      METER,
      upload({
        svmRecords: [
          svmRecord(1, transferRef(1), 5, 5, 0xfffffffe),
          svmRecord(2, new Uint8Array(10), 5, 0, 0xffffffff),
        ],
      }),
    );
    expect(c.reconcileCard(CSN_HEX).findings).toEqual([]);
    expect(c.reconcileMeter(METER)).toMatchObject({ last: 0xffffffff, findings: [] });
  });

  it('blacklist attempts reported by a meter are stored once and shown as events', () => {
    const { svc } = openHost();
    const c = clearingOf(svc);
    const u = upload({ attempts: [{ serial: CSN, purse: 1, at: '2026-11-22T08:30:00Z' }] });
    expect(c.ingest(METER, u).attempts).toBe(1);
    expect(c.ingest(METER, u).attempts).toBe(0);
    expect(c.attempts()).toEqual([{ meterId: METER, serial: CSN_HEX, purse: 1, at: '2026-11-22T08:30:00Z' }]);
    expect(svc.db.events(10).filter((e) => e.kind === 'blacklist-attempt')).toHaveLength(1);
  });

  it('collect follows the pages from the stored cursor; a bad card record is quarantined and the cursor moves on', async () => {
    const { svc } = openHost();
    const link = new SimulatedSvmLink();
    const c = clearingOf(svc, { link });
    const p = page();
    link.pages.push(
      {
        upload: upload({ cardRecords: p.cardRecords.slice(0, 2) }),
        next: { journal: 2, svm: 0 },
        more: true,
        blacklistVersion: 4,
      },
      { upload: upload({ svmRecords: p.svmRecords }), next: { journal: 2, svm: 4 }, more: true },
      {
        upload: upload({
          cardRecords: [{ csn: CSN, record: p.cardRecords[2]!.record.map((b, i) => (i === 37 ? b ^ 1 : b)) }],
        }),
        next: { journal: 3, svm: 4 },
        more: false,
      },
    );
    const pages = await c.collect(METER);
    expect(pages.map((x) => x.quarantined)).toEqual([0, 0, 1]);
    expect(link.uploadsAsked).toEqual([
      { journal: 0, svm: 0 },
      { journal: 2, svm: 0 },
      { journal: 2, svm: 4 },
    ]);
    expect(c.repo.cursor(METER)).toEqual({ journal: 3, svm: 4 });
    expect(c.repo.meterBlacklistVersion(METER)).toBe(4);
    expect(counts(svc)).toMatchObject({ svm: 3, card: 2 });
    expect(svc.db.events(20).filter((x) => x.kind === 'card-record-quarantined')).toHaveLength(1);
    // the genuine record, when it comes (another page, a vending point), is stored as usual
    link.pages.push({
      upload: upload({ cardRecords: p.cardRecords }),
      next: { journal: 4, svm: 4 },
      more: false,
    });
    const [r] = await c.collect(METER);
    expect(r!.card).toEqual({ stored: 1, duplicates: 2, clones: 0 });
    expect(link.uploadsAsked.at(-1)).toEqual({ journal: 3, svm: 4 });
    expect(c.repo.cursor(METER)).toEqual({ journal: 4, svm: 4 });
  });
});
