/**
 * Red team 3, centre: a usage record is the terminal's word; the card's service record, signed in
 * the commit that took the update, is the card's. Every way of pairing a usage record with a card
 * record that is not exactly its own session and outcome is refused ('unconfirmed-by-card'), the
 * whole upload, nothing stored. And records dated ahead of the centre's clock ('future-dated'),
 * at the tolerance's edge.
 */
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../card/util/hex.js';
import { ServiceRecord, terminalValueInput, type ServiceRecordFields } from '../../card/pki/index.js';
import { FUTURE_TOLERANCE_MS, ManagementCentre } from '../../host/settlement/ManagementCentre.js';
import { CentreError, type CentreErrorReason } from '../../host/settlement/CentreError.js';
import { ExampleCard } from '../../host/settlement/examples.js';
import { exampleCentreKit, serviceRecordFields } from './fixtureCentre.js';

const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;
const CENTRE = fromHex('C0FFEE03');

const { idu, idt, world } = exampleCentreKit({
  tag: 'rt3',
  centreId: CENTRE,
  iduHex: '4D5003000000000',
  idtHex: '7E03000',
});

function refusal(centre: ManagementCentre, f: () => unknown): CentreError {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CentreError);
  expect(centre.events().at(-1)?.reason).toBe((err as CentreError).reason);
  return err as CentreError;
}

/** The card's record of `rec` with `change` applied, signed by `card` (a genuine card signature). */
function resign(rec: ServiceRecord, card: ExampleCard, change: Partial<ServiceRecordFields>): ServiceRecord {
  const f: ServiceRecordFields = {
    ...serviceRecordFields(rec),
    ...change,
  };
  return ServiceRecord.sign(f, card.signer);
}

describe('red team 3, centre: a usage record needs the card’s service record of exactly that session', () => {
  it('the honest pair clears; the same upload without its service record is refused, nothing stored', () => {
    const { centre, cards, terminals, next } = world();
    const t = terminals[0]!;
    t.serve(cards[0]!, 100, next());
    const b = t.batch(CENTRE, T0, T0 + DAY);
    const e = refusal(centre, () => centre.ingestUpload(b.upload.encode()));
    expect(e.reason).toBe('unconfirmed-by-card');
    expect(centre.events().at(-1)).toMatchObject({ kind: 'upload', subject: toHex(idt(1)) });
    expect(centre.clearedRecords()).toBe(0);
    // refused whole: the sequence is not used up, the genuine submission still clears
    expect(centre.ingestUpload(b)).toMatchObject({ stored: 1, findings: [] });
    expect(centre.card(idu(1))).toMatchObject({ state: 'active', lastValue: 900 });
  });

  const mismatches: Array<[string, (r: ServiceRecord, w: ReturnType<typeof world>) => ServiceRecord]> = [
    ['another V′', (r, w) => resign(r, w.cards[0]!, { valueAfter: r.valueAfter - 1, charge: r.charge + 1 })],
    ['another charge (same V′)', (r, w) => resign(r, w.cards[0]!, { charge: r.charge - 1 })],
    ['another R', (r, w) => resign(r, w.cards[0]!, { terminalNonce: new Uint8Array(16).fill(0xee) })],
    ['another X', (r, w) => resign(r, w.cards[0]!, { cardNonce: new Uint8Array(16).fill(0xee) })],
    ['another terminal (IDT)', (r, w) => resign(r, w.cards[0]!, { terminalId: idt(2) })],
    ['another date', (r, w) => resign(r, w.cards[0]!, { dateTime: r.dateTime + 1000 })],
    ['another card', (r, w) => resign(r, w.cards[0]!, { cardId: idu(2) })],
    [
      'signed by another card’s key',
      (r, w) => {
        const other = new ExampleCard(idu(1), w.cards[1]!.signer, 0, CENTRE);
        return resign(r, other, {});
      },
    ],
  ];
  for (const [what, make] of mismatches)
    it(`a service record with ${what} confirms nothing: refused, nothing stored, the card stays active`, () => {
      const w = world();
      const t = w.terminals[0]!;
      t.serve(w.cards[0]!, 100, w.next());
      const b = t.batch(CENTRE, T0, T0 + DAY);
      const bad = make(b.serviceRecords[0]!, w);
      const e = refusal(w.centre, () => w.centre.ingestUpload({ upload: b.upload, serviceRecords: [bad] }));
      expect(e.reason).toBe('unconfirmed-by-card');
      expect(w.centre.clearedRecords()).toBe(0);
      expect(w.centre.card(idu(1))).toMatchObject({ state: 'active', lastValue: 1000 });
    });

  it('two records, their service records swapped or one of them kept back: refused whole', () => {
    const { centre, cards, terminals, next } = world();
    const t = terminals[0]!;
    t.serve(cards[0]!, 100, next());
    t.serve(cards[1]!, 50, next());
    const b = t.batch(CENTRE, T0, T0 + DAY);
    expect(b.serviceRecords).toHaveLength(2);
    const [s0, s1] = b.serviceRecords;
    // the only pairing that clears is each record with its own: a second copy of one record's
    // confirmation does not confirm the other
    for (const records of [[s1!], [s0!], [s0!, s0!], [s1!, s1!]]) {
      expect(
        refusal(centre, () => centre.ingestUpload({ upload: b.upload, serviceRecords: records })).reason,
      ).toBe('unconfirmed-by-card');
    }
    expect(centre.clearedRecords()).toBe(0);
    // in any order, with an unrelated genuine record alongside: cleared
    expect(centre.ingestUpload({ upload: b.upload, serviceRecords: [s1!, s0!] }).stored).toBe(2);
  });

  it('SU(R‖X‖V) kept and V → 0 uploaded with the card’s record of the service it really had: refused', () => {
    const { centre, cards, terminals, next } = world();
    const t = terminals[0]!;
    const honest = t.serve(cards[0]!, 100, next());
    const b = t.batch(CENTRE, T0, T0 + DAY);
    expect(centre.ingestUpload(b).stored).toBe(1);
    // the terminal's key signs a second outcome of the same session: the card's record says 900
    const binding = {
      cardId: honest.cardId,
      terminalId: t.id,
      terminalNonce: honest.terminalNonce,
      cardNonce: honest.cardNonce,
    };
    const dateTime = next();
    const forged = {
      ...honest,
      valueAfter: 0,
      charge: 1000,
      dateTime,
      terminalSignature: t.signer.sign(terminalValueInput({ ...binding, value: 0, dateTime })),
    };
    t.records.push(forged);
    const b2 = t.batch(CENTRE, T0, T0 + DAY);
    expect(b2.serviceRecords).toHaveLength(1); // the card's genuine record (900) of that session
    expect(refusal(centre, () => centre.ingestUpload(b2)).reason).toBe('unconfirmed-by-card');
    expect(centre.clearedRecords()).toBe(1);
    expect(centre.card(idu(1))).toMatchObject({ state: 'active', lastValue: 900 });
  });

  it('a damaged service record is refused as malformed, nothing stored', () => {
    const { centre, cards, terminals, next } = world();
    const t = terminals[0]!;
    t.serve(cards[0]!, 100, next());
    const b = t.batch(CENTRE, T0, T0 + DAY);
    const der = b.serviceRecords[0]!.encode();
    const e = refusal(centre, () =>
      centre.ingestUpload({ upload: b.upload, serviceRecords: [der.subarray(0, der.length - 1)] }),
    );
    expect(e.reason).toBe('malformed');
    expect(centre.clearedRecords()).toBe(0);
    expect(() => centre.ingestUpload({ upload: b.upload, serviceRecords: 'x' } as never)).toThrow(TypeError);
    expect(() => centre.ingestUpload({ upload: b.upload, serviceRecords: [42] } as never)).toThrow(TypeError);
  });

  it('an empty upload needs no service record', () => {
    const { centre, terminals } = world();
    expect(centre.ingestUpload(terminals[0]!.upload(CENTRE, T0, T0 + DAY).encode()).stored).toBe(0);
  });
});

describe('red team 3, centre: records dated in the future', () => {
  const cases: Array<[string, number, CentreErrorReason | null]> = [
    ['at the centre clock', 0, null],
    ['at the tolerance', FUTURE_TOLERANCE_MS, null],
    ['one second past the tolerance', FUTURE_TOLERANCE_MS + 1000, 'future-dated'],
    ['a year ahead', 365 * DAY - DAY, 'future-dated'],
  ];
  for (const [what, ahead, reason] of cases)
    it(`a record dated ${what}: ${reason ?? 'cleared'}`, () => {
      const { centre, clock, cards, terminals } = world();
      const t = terminals[1]!;
      t.serve(cards[0]!, 10, clock.now() + ahead);
      const b = t.batch(CENTRE, T0, T0 + DAY);
      if (reason === null) {
        expect(centre.ingestUpload(b).stored).toBe(1);
        return;
      }
      const e = refusal(centre, () => centre.ingestUpload(b));
      expect(e.reason).toBe(reason);
      // the terminal is named (the event's subject), the card in the detail; nothing stored
      expect(centre.events().at(-1)).toMatchObject({ reason, subject: toHex(idt(2)) });
      expect(centre.events().at(-1)!.detail).toContain(toHex(idu(1)));
      expect(centre.clearedRecords()).toBe(0);
      // once the centre's clock reaches the date, the same upload clears
      clock.set(clock.now() + ahead);
      expect(centre.ingestUpload(b).stored).toBe(1);
    });

  it('futureToleranceMs is configurable (0: one second ahead refused); a negative or fractional one is a RangeError', () => {
    const { centre, clock, cards, terminals } = world({ futureToleranceMs: 0 });
    terminals[0]!.serve(cards[0]!, 10, clock.now() + 1000);
    expect(refusal(centre, () => centre.ingestUpload(terminals[0]!.batch(CENTRE, T0, T0 + DAY))).reason).toBe(
      'future-dated',
    );
    for (const bad of [-1, 0.5])
      expect(() => world({ futureToleranceMs: bad, file: ':memory:' })).toThrow(/futureToleranceMs/);
  });
});
