/**
 * Red team 2 on the seed 004 management centre (host/settlement, issue 13): attacks the first
 * round did not try — an ECDSA service record re-signed with s' = n − s (a second valid signature
 * over the same record, which anyone on the line can make) sent in as "another record" to have an
 * honest card listed as a clone; a clone spent at an accomplice terminal that rewrites the record's
 * previous usage and dates it in the same second as the genuine record; a card declared destroyed
 * and refunded while an upload of its spending (dated before the declaration) is still on its way.
 */
import { describe, expect, it } from 'vitest';
import { NodeSignatureProvider } from '../../card/crypto/index.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { ServiceRecord, UsageUpload, terminalValueInput } from '../../card/pki/index.js';
import { CentreError } from '../../host/settlement/CentreError.js';
import { exampleCentreKit, serviceRecordFields } from './fixtureCentre.js';

const provider = new NodeSignatureProvider();
const ALG = 'ecdsa-p256-sha256' as const;
const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;
const CENTRE = fromHex('C0FFEE02');
const VALIDITY = { notBefore: T0, notAfter: T0 + 365 * DAY };
/** Order of the P-256 group (SEC 2 v2, §2.4.2). */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

const { cardKeys, idu, idt, world } = exampleCentreKit({
  tag: 'rt2',
  centreId: CENTRE,
  iduHex: '4D5002000000000',
  idtHex: '7E02000',
});

/** The same ECDSA signature with s replaced by n − s: valid over the same data (malleability). */
function malleate(rawRs: Uint8Array): Uint8Array {
  const s = BigInt(`0x${toHex(rawRs.subarray(32))}`);
  const out = rawRs.slice();
  out.set(fromHex((P256_N - s).toString(16).padStart(64, '0')), 32);
  return out;
}

describe('red team 2, centre: a service record re-signed with s′ = n − s', () => {
  it('is the record already held (stored once, billed once), not a clone: the honest card stays active', () => {
    const { centre, next } = world();
    const rec = ServiceRecord.sign(
      {
        cardId: idu(1),
        terminalId: idt(1),
        cardSequence: 1,
        terminalNonce: new Uint8Array(16).fill(7),
        cardNonce: new Uint8Array(16).fill(8),
        service: 'water 1 m3',
        charge: 120,
        valueAfter: 880,
        dateTime: next(),
      },
      provider.signer(ALG, cardKeys[0]!.privateKey),
    );
    expect(centre.storeServiceRecord(rec.encode())).toBe(true);
    // anyone who saw the record on the line makes a second valid signature over the same tbs
    const twin = new ServiceRecord({
      ...serviceRecordFields(rec),
      signatureAlgorithm: rec.signatureAlgorithm,
      signature: malleate(rec.signature),
    });
    expect(twin.encode()).not.toEqual(rec.encode());
    expect(provider.verifier(ALG, cardKeys[0]!.publicKey).verify(twin.tbs(), twin.signature)).toBe(true);
    // before the fix: CentreError 'clone', and the genuine card went on the invalid-card list
    expect(centre.storeServiceRecord(twin.encode())).toBe(false);
    expect(centre.card(idu(1))!.state).toBe('active');
    expect(centre.invalidCardList().entries).toEqual([]);
    expect(centre.billing(idu(1), { from: T0, to: T0 + 30 * DAY })).toEqual({ total: 120, count: 1 });
  });
});

describe('red team 2, centre: a clone spent at an accomplice terminal in the same second', () => {
  it('with its previous usage rewritten, the second spending of the same V is still a value rise', () => {
    const { centre, cards, terminals, next, upload } = world();
    const copy = cards[0]!.clone();
    const at = next();
    terminals[0]!.serve(cards[0]!, 500, at);
    // the accomplice terminal writes a previous usage of its own choosing (the upload carries no
    // signature over it) and dates its record in the very second of the genuine one
    copy.previous = {
      terminalId: idt(2),
      terminalNonce: new Uint8Array(16).fill(0xa5),
      cardNonce: new Uint8Array(16).fill(0x5a),
      value: 1000,
    };
    terminals[1]!.serve(copy, 600, at);
    expect(centre.ingestUpload(upload(terminals[0]!)).findings).toEqual([]);
    // before the fix: no finding — neighbours were looked for strictly before and after `at`
    const report = centre.ingestUpload(upload(terminals[1]!));
    expect(report.findings.map((f) => f.reason)).toEqual(['value-rise']);
    expect(centre.card(idu(1))).toMatchObject({ state: 'invalid', invalidReason: 'value-rise' });
  });

  it('honest services of one card in the same second, uploaded in either order, are no finding', () => {
    for (const order of [
      [0, 1],
      [1, 0],
    ]) {
      const { centre, cards, terminals, next, upload } = world();
      const at = next();
      terminals[0]!.serve(cards[0]!, 100, at);
      terminals[1]!.serve(cards[0]!, 200, at);
      for (const i of order) expect(centre.ingestUpload(upload(terminals[i]!)).findings).toEqual([]);
      expect(centre.card(idu(1))!.state).toBe('active');
      expect(centre.reconcile(idu(1))).toEqual([]);
    }
  });
});

describe('red team 2, centre: destroyed, refunded, and an older spending arrives afterwards', () => {
  it('the overpaid refund is reported (it was reported nowhere before the fix)', () => {
    const { centre, clock, cards, terminals, next, upload } = world();
    terminals[0]!.serve(cards[0]!, 900, next()); // spent, the terminal has not called yet
    clock.set(next());
    expect(centre.destroyedCard(idu(1))).toBe(1000);
    expect(centre.refundDestroyed(idu(1))).toBe(1000);
    const report = centre.ingestUpload(upload(terminals[0]!));
    expect(report.findings.map((f) => f.reason)).toEqual(['used-after-destroyed']);
    expect(report.findings[0]!.detail).toMatch(/refund/);
    expect(centre.events().at(-1)).toMatchObject({ reason: 'used-after-destroyed', subject: toHex(idu(1)) });
  });

  it('declared destroyed but not yet refunded: the late record lowers the refund to the true V', () => {
    const { centre, clock, cards, terminals, next, upload } = world();
    terminals[0]!.serve(cards[0]!, 900, next());
    clock.set(next());
    expect(centre.destroyedCard(idu(1))).toBe(1000);
    expect(centre.ingestUpload(upload(terminals[0]!)).findings).toEqual([]);
    expect(centre.refundDestroyed(idu(1))).toBe(100);
    expect(() => centre.refundDestroyed(idu(1))).toThrow(CentreError);
  });
});

describe('red team 2, centre: an upload re-sent under a second valid signature', () => {
  it('is a duplicate (nothing stored twice), not a conflict that would refuse the genuine upload', () => {
    const { centre, cards, terminals, next, upload } = world();
    terminals[0]!.serve(cards[0]!, 100, next());
    const b = upload(terminals[0]!);
    const der = b.upload.encode();
    const up = UsageUpload.decode(der);
    // a man on the line sends the malleated copy first
    const copy = new UsageUpload({
      centreId: up.centreId,
      terminalId: up.terminalId,
      uploadSequence: up.uploadSequence,
      updateCounter: up.updateCounter,
      periodStart: up.periodStart,
      periodEnd: up.periodEnd,
      records: up.records,
      signatureAlgorithm: up.signatureAlgorithm,
      signature: malleate(up.signature),
    }).encode();
    expect(copy).not.toEqual(der);
    expect(centre.ingestUpload({ ...b, upload: copy }).stored).toBe(1);
    // before the fix: 'upload-conflict'
    let err: unknown;
    try {
      centre.ingestUpload(b);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CentreError);
    expect((err as CentreError).reason).toBe('duplicate-upload');
    expect(centre.clearedRecords()).toBe(1);
  });
});

describe('red team 2, centre: a terminal keeps the card’s SU(R‖X‖V) and signs a second outcome', () => {
  it('a second V′ for one session is refused whole (upload-conflict); the card is not taken for a clone', () => {
    const { centre, cards, terminals, next, upload } = world();
    const t = terminals[0]!;
    const rec = t.serve(cards[0]!, 100, next());
    expect(centre.ingestUpload(upload(t)).stored).toBe(1);
    // later: the same session (R, X, the card's SU over V = 1000) with V′ = 0 under a fresh S
    const dateTime = next();
    const binding = {
      cardId: rec.cardId,
      terminalId: t.id,
      terminalNonce: rec.terminalNonce,
      cardNonce: rec.cardNonce,
    };
    const forged = {
      ...rec,
      valueAfter: 0,
      charge: 1000,
      dateTime,
      terminalSignature: t.signer.sign(terminalValueInput({ ...binding, value: 0, dateTime })),
    };
    t.records.push(forged);
    // before the fix: stored, finding 'clone', and the honest card went on the invalid-card list
    let err: unknown;
    try {
      centre.ingestUpload(upload(t));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CentreError);
    // since red team 3 the card's service record is required too: the card signed only V′ = 900,
    // so the second outcome is refused before the session check ('unconfirmed-by-card')
    expect((err as CentreError).reason).toBe('unconfirmed-by-card');
    expect(centre.clearedRecords()).toBe(1);
    expect(centre.card(idu(1))!.state).toBe('active');
    expect(centre.card(idu(1))!.lastValue).toBe(900);
    // both outcomes in one upload: refused the same way, nothing stored
    const w = world();
    const r2 = w.terminals[0]!.serve(w.cards[0]!, 100, w.next());
    const d2 = w.next();
    w.terminals[0]!.records.push({
      ...r2,
      valueAfter: 0,
      charge: 1000,
      dateTime: d2,
      terminalSignature: w.terminals[0]!.signer.sign(
        terminalValueInput({
          cardId: r2.cardId,
          terminalId: w.terminals[0]!.id,
          terminalNonce: r2.terminalNonce,
          cardNonce: r2.cardNonce,
          value: 0,
          dateTime: d2,
        }),
      ),
    });
    expect(() => w.centre.ingestUpload(w.upload(w.terminals[0]!))).toThrow(/unconfirmed-by-card/);
    expect(w.centre.clearedRecords()).toBe(0);
    // the same record re-sent (one outcome) is still just 'repeated'
    const w3 = world();
    const r3 = w3.terminals[0]!.serve(w3.cards[0]!, 100, w3.next());
    w3.centre.ingestUpload(w3.upload(w3.terminals[0]!));
    w3.terminals[0]!.records.push(r3);
    expect(w3.centre.ingestUpload(w3.upload(w3.terminals[0]!))).toMatchObject({ stored: 0, repeated: 1 });
  });
});

describe('red team 2, centre: update counter t one past its bound', () => {
  it('a terminal call or theft report with t = 100001 is refused (bad-counter), and the troubled list still signs', () => {
    const { centre } = world();
    centre.terminalCalled(idt(1), 100_000); // the bound itself is fine
    for (const f of [
      () => centre.terminalCalled(idt(2), 100_001),
      () => centre.reportStolen(idt(2), 100_001),
    ]) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CentreError);
      expect((err as CentreError).reason).toBe('bad-counter');
    }
    expect(centre.terminal(idt(2))!.t).toBe(0);
    // before the fix: t = 100001 was stored, the theft report took it, and every later
    // troubledTerminalList() threw a RangeError — no stolen terminal could be published again
    expect(centre.reportStolen(idt(1))).toBe(100_000);
    const list = centre.troubledTerminalList();
    expect(list.entries.map((e) => [toHex(e.terminalId), e.updateCounterAtReport])).toEqual([
      [toHex(idt(1)), 100_000],
    ]);
  });
});

describe('red team 2, centre: a recharge between two records', () => {
  it('lets V rise to the value signed, not above it (a clone spent from its old, larger V)', () => {
    const { centre, clock, cards, terminals, next, upload } = world();
    const copy = cards[0]!.clone();
    terminals[0]!.serve(cards[0]!, 900, next()); // 1000 → 100
    clock.set(next());
    centre.signValue(idu(1), 200, T0 + 100 * DAY); // the genuine card recharged to 200
    cards[0]!.recharge(200, CENTRE);
    // the copy, still at 1000, at an accomplice terminal that rewrites its previous usage
    copy.previous = {
      terminalId: idt(2),
      terminalNonce: new Uint8Array(16).fill(1),
      cardNonce: new Uint8Array(16).fill(2),
      value: 1000,
    };
    terminals[1]!.serve(copy, 1000, next()); // 1000 → 0
    expect(centre.ingestUpload(upload(terminals[0]!)).findings).toEqual([]);
    // before the fix: no finding ("a recharge between"), though the recharge was to 200
    const report = centre.ingestUpload(upload(terminals[1]!));
    expect(report.findings.map((f) => f.reason)).toEqual(['value-rise']);
    expect(report.findings[0]!.detail).toMatch(/above 200/);
  });

  it('the genuine card spending its recharge is no finding', () => {
    const { centre, clock, cards, terminals, next, upload } = world();
    terminals[0]!.serve(cards[0]!, 900, next());
    clock.set(next());
    centre.signValue(idu(1), 200, T0 + 100 * DAY);
    cards[0]!.recharge(200, CENTRE);
    terminals[1]!.serve(cards[0]!, 150, next());
    expect(centre.ingestUpload(upload(terminals[1]!)).findings).toEqual([]); // later one first
    expect(centre.ingestUpload(upload(terminals[0]!)).findings).toEqual([]);
    expect(centre.card(idu(1))!.state).toBe('active');
  });
});

describe('red team 2, centre: edges', () => {
  it("a record dated exactly at the card certificate's notBefore / notAfter is cleared; one second outside is not", () => {
    for (const [at, ok] of [
      [VALIDITY.notBefore - 1000, false],
      [VALIDITY.notBefore, true],
      [VALIDITY.notAfter, true],
      [VALIDITY.notAfter + 1000, false],
    ] as const) {
      const { centre, clock, cards, terminals, upload } = world();
      terminals[0]!.serve(cards[0]!, 1, at);
      clock.set(VALIDITY.notAfter); // not dated in the future (red team 3)
      if (ok) expect(centre.ingestUpload(upload(terminals[0]!)).stored).toBe(1);
      else expect(() => centre.ingestUpload(upload(terminals[0]!))).toThrow(/outside the card certificate/);
    }
  });

  it('ids of 0 and 33 bytes are RangeErrors naming the parameter, nothing written', () => {
    const { centre } = world();
    const events = centre.events().length;
    for (const id of [new Uint8Array(0), new Uint8Array(33)]) {
      expect(() => centre.card(id)).toThrow(/idu/);
      expect(() => centre.reportCard(id, 'lost')).toThrow(RangeError);
      expect(() => centre.destroyedCard(id)).toThrow(/idu/);
      expect(() => centre.refundDestroyed(id)).toThrow(/idu/);
      expect(() => centre.terminalCalled(id, 1)).toThrow(/idt/);
      expect(() => centre.reportStolen(id)).toThrow(/idt/);
    }
    expect(centre.events()).toHaveLength(events);
  });
});
