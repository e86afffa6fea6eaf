/**
 * Thinking like an attacker about what each authorisation binds (issue 13, "Bad input"): forged,
 * expired, foreign and mis-kinded certificates; values for another card or raised after signing;
 * replayed lists; signatures moved between purposes; usage information of a stolen terminal.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ForgeCipherProvider, NodeCipherProvider } from '../../card/crypto/index.js';
import { toHex } from '../../card/util/hex.js';
import {
  Certificate,
  CentreTrust,
  InvalidCardList,
  MAX_TIME,
  MAX_VALUE,
  PasswordSetting,
  PasswordTicket,
  ServiceRecord,
  SettlementPkiError,
  SignedValue,
  TroubledTerminalList,
  UsageInfo,
  UsageUpload,
  cardAuthInput,
  cardValueInput,
  checkTimeStamp,
  passwordInput,
  terminalValueInput,
  timeStampAt,
  timeStampInput,
  usageManagementKey,
  verifyServiceRecord,
  verifyUsageUpload,
  type SignedValueFields,
  type UsageRecord,
} from '../../card/pki/index.js';
import { DAY, T0, YEAR, bytes, certFields, ids, party, samples, world, type World } from './fixtures.js';

let w: World;
beforeAll(() => {
  w = world();
});

function reasonOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof SettlementPkiError) return e.reason;
    throw e;
  }
  return 'ok';
}

describe('certificates', () => {
  it('the genuine certificates verify, and give the subject key', () => {
    const v = w.trust.verifyCertificate(w.terminalCert, 'terminal', T0 + DAY);
    const msg = Uint8Array.of(1, 2, 3);
    expect(v.verify(msg, w.terminal.signer.sign(msg))).toBe(true);
    expect(v.verify(msg, w.card.signer.sign(msg))).toBe(false);
  });

  it('forged: signed by an attacker key that claims the centre id', () => {
    const attacker = party('rsa-pkcs1v15-sha256', 3);
    const forged = Certificate.sign(certFields('terminal', ids.terminal, attacker), attacker.signer);
    expect(reasonOf(() => w.trust.verifyCertificate(forged, 'terminal', T0))).toBe('bad-signature');
  });

  it('the key in a genuine certificate replaced by the attacker key', () => {
    const attacker = party('rsa-pkcs1v15-sha256', 3);
    const swapped = new Certificate({ ...w.terminalCert, subjectPublicKey: attacker.keys.publicKey });
    expect(reasonOf(() => w.trust.verifyCertificate(swapped, 'terminal', T0))).toBe('bad-signature');
    const renamed = new Certificate({ ...w.terminalCert, subjectId: ids.terminal2 });
    expect(reasonOf(() => w.trust.verifyCertificate(renamed, 'terminal', T0))).toBe('bad-signature');
  });

  it('another centre: its own certificates are other-centre, even when perfectly signed by it', () => {
    const other = party('rsa-pkcs1v15-sha256', 4);
    const cert = Certificate.sign(
      certFields('terminal', ids.terminal, w.terminal, { centreId: ids.otherCentre }),
      other.signer,
    );
    expect(reasonOf(() => w.trust.verifyCertificate(cert, 'terminal', T0))).toBe('other-centre');
  });

  it('wrong kind: a card certificate shown as a terminal, a terminal as a dispenser, the anchor as a terminal', () => {
    expect(reasonOf(() => w.trust.verifyCertificate(w.cardCert, 'terminal', T0))).toBe('wrong-kind');
    expect(reasonOf(() => w.trust.verifyCertificate(w.terminalCert, 'dispenser', T0))).toBe('wrong-kind');
    expect(reasonOf(() => w.trust.verifyCertificate(w.anchor, 'terminal', T0))).toBe('wrong-kind');
  });

  it('validity boundaries: notBefore and notAfter themselves are inside, one ms outside is not', () => {
    const c = w.terminalCert;
    expect(reasonOf(() => w.trust.verifyCertificate(c, 'terminal', c.notBefore))).toBe('ok');
    expect(reasonOf(() => w.trust.verifyCertificate(c, 'terminal', c.notAfter))).toBe('ok');
    expect(reasonOf(() => w.trust.verifyCertificate(c, 'terminal', c.notBefore - 1))).toBe('not-yet-valid');
    expect(reasonOf(() => w.trust.verifyCertificate(c, 'terminal', c.notAfter + 1))).toBe('expired');
  });

  it('an expired anchor makes every verification fail as expired', () => {
    const late = w.anchor.notAfter + 1;
    expect(reasonOf(() => w.trust.verifyCertificate(w.terminalCert, 'terminal', late))).toBe('expired');
    expect(reasonOf(() => CentreTrust.fromAnchor(w.anchor, w.trust.provider, late))).toBe('expired');
  });

  it('an anchor must be a self-signed centre certificate', () => {
    expect(reasonOf(() => CentreTrust.fromAnchor(w.terminalCert, w.trust.provider, T0))).toBe('wrong-kind');
    const other = party('rsa-pkcs1v15-sha256', 4);
    const notSelf = Certificate.sign(certFields('centre', ids.centre, w.centre), other.signer);
    expect(reasonOf(() => CentreTrust.fromAnchor(notSelf, w.trust.provider, T0))).toBe('bad-signature');
  });
});

describe('signed values (SA(V‖IDU))', () => {
  const fields = (over: Partial<SignedValueFields> = {}): SignedValueFields => ({
    centreId: ids.centre,
    signerKind: 'centre',
    signerId: ids.centre,
    cardId: ids.card,
    value: 5000,
    sequence: 4,
    challenge: bytes(16, 9),
    notAfter: T0 + YEAR,
    ...over,
  });

  it('genuine; raised after signing; for another card; expired', () => {
    const sv = SignedValue.sign(fields(), w.centre.signer);
    expect(reasonOf(() => w.trust.verifySignedValue(sv, T0, { cardId: ids.card }))).toBe('ok');
    expect(reasonOf(() => w.trust.verifySignedValue(new SignedValue({ ...sv, value: 50000 }), T0))).toBe(
      'bad-signature',
    );
    expect(reasonOf(() => w.trust.verifySignedValue(new SignedValue({ ...sv, sequence: 5 }), T0))).toBe(
      'bad-signature',
    );
    expect(reasonOf(() => w.trust.verifySignedValue(sv, T0, { cardId: ids.card2 }))).toBe('wrong-subject');
    expect(reasonOf(() => w.trust.verifySignedValue(sv, sv.notAfter + 1))).toBe('expired');
  });

  it('a terminal may not sign values: a terminal key posing as a dispenser is wrong-kind', () => {
    const sv = SignedValue.sign(
      fields({ signerKind: 'dispenser', signerId: ids.terminal }),
      w.terminal.signer,
    );
    expect(reasonOf(() => w.trust.verifySignedValue(sv, T0))).toBe('wrong-kind');
    expect(reasonOf(() => w.trust.verifySignedValue(sv, T0, { dispenserCertificate: w.terminalCert }))).toBe(
      'wrong-kind',
    );
  });

  it('dispenser-signed: with its certificate ok; with another dispenser certificate wrong-subject', () => {
    const d = party('rsa-pkcs1v15-sha256', 5);
    const dc = Certificate.sign(certFields('dispenser', ids.dispenser, d), w.centre.signer);
    const dc2 = Certificate.sign(certFields('dispenser', Uint8Array.of(9), d), w.centre.signer);
    const sv = SignedValue.sign(fields({ signerKind: 'dispenser', signerId: ids.dispenser }), d.signer);
    expect(reasonOf(() => w.trust.verifySignedValue(sv, T0, { dispenserCertificate: dc }))).toBe('ok');
    expect(reasonOf(() => w.trust.verifySignedValue(sv, T0, { dispenserCertificate: dc2 }))).toBe(
      'wrong-subject',
    );
  });

  it('a centre-signed value cannot name another signer', () => {
    expect(() => SignedValue.sign(fields({ signerId: ids.dispenser }), w.centre.signer)).toThrow(/signerId/);
  });
});

describe('domain separation: a signature made for one purpose verifies for no other', () => {
  it('over the same numbers, every input kind gives different bytes', () => {
    const s = {
      cardId: ids.card,
      terminalId: ids.terminal,
      terminalNonce: bytes(16, 1),
      cardNonce: bytes(16, 2),
    };
    const inputs = [
      cardValueInput({ ...s, value: 100 }),
      terminalValueInput({ ...s, value: 100, dateTime: T0 }),
      cardAuthInput(s),
      passwordInput('terminal', { ...s, password: bytes(6, 0x31) }),
      passwordInput('card', { ...s, password: bytes(6, 0x31) }),
      timeStampInput({
        terminalId: ids.terminal,
        updateCounter: 100,
        timeStamp: bytes(16, 1),
        valueSignature: bytes(16, 2),
      }),
    ];
    expect(new Set(inputs.map((i) => i[0])).size).toBe(inputs.length);
    const v = w.trust.verifyCertificate(w.cardCert, 'card', T0);
    const su = w.card.signer.sign(inputs[0]!);
    for (const other of inputs.slice(1)) expect(v.verify(other, su)).toBe(false);
  });

  it("the card's SU(R‖X‖V) binds the terminal and the session: another terminal or another R fails", () => {
    const s = {
      cardId: ids.card,
      terminalId: ids.terminal,
      terminalNonce: bytes(16, 1),
      cardNonce: bytes(16, 2),
      value: 100,
    };
    const v = w.trust.verifyCertificate(w.cardCert, 'card', T0);
    const su = w.card.signer.sign(cardValueInput(s));
    expect(v.verify(cardValueInput(s), su)).toBe(true);
    expect(v.verify(cardValueInput({ ...s, terminalId: ids.terminal2 }), su)).toBe(false);
    expect(v.verify(cardValueInput({ ...s, terminalNonce: bytes(16, 3) }), su)).toBe(false);
    expect(v.verify(cardValueInput({ ...s, value: 101 }), su)).toBe(false);
  });

  it('a centre signature over a signed value does not verify as a certificate, list or password setting', () => {
    const s = samples(w);
    const sv = SignedValue.decode(s['signed-value']!.der);
    const cert = new Certificate({ ...w.terminalCert, signature: sv.signature });
    expect(reasonOf(() => w.trust.verifyCertificate(cert, 'terminal', T0))).toBe('bad-signature');
  });
});

describe('lists', () => {
  const list = (listVersion: number, cards: Uint8Array[]) =>
    InvalidCardList.sign(
      {
        centreId: ids.centre,
        listVersion,
        issued: T0,
        notAfter: T0 + 7 * DAY,
        entries: cards.map((cardId) => ({ cardId, reason: 'cloned' as const, listedAt: T0 })),
      },
      w.centre.signer,
    );

  it('a newer list is taken; a replayed equal or older version is refused as version', () => {
    const l3 = list(3, [ids.card]);
    expect(reasonOf(() => w.trust.verifyInvalidCardList(l3, T0, 2))).toBe('ok');
    expect(reasonOf(() => w.trust.verifyInvalidCardList(l3, T0, 3))).toBe('version');
    expect(reasonOf(() => w.trust.verifyInvalidCardList(list(2, []), T0, 3))).toBe('version');
  });

  it('removing a card from a signed list breaks the signature', () => {
    const l = list(4, [ids.card, ids.card2]);
    const pruned = new InvalidCardList({ ...l, entries: l.entries.slice(1) });
    expect(reasonOf(() => w.trust.verifyInvalidCardList(pruned, T0))).toBe('bad-signature');
  });

  it('lookup by binary search; issue time and term', () => {
    const many = Array.from({ length: 1000 }, (_, i) => Uint8Array.of(i >> 8, i & 0xff, 7));
    const l = list(5, many);
    expect(l.has(Uint8Array.of(1, 0, 7))).toBe(true);
    expect(l.has(Uint8Array.of(1, 0))).toBe(false);
    expect(l.entryFor(Uint8Array.of(3, 0xe7, 7))?.reason).toBe('cloned');
    expect(reasonOf(() => w.trust.verifyInvalidCardList(l, T0 - 1))).toBe('not-yet-valid');
    expect(reasonOf(() => w.trust.verifyInvalidCardList(l, T0 + 7 * DAY + 1))).toBe('expired');
    expect(InvalidCardList.decode(l.encode()).entries.length).toBe(1000);
  });

  it('unsorted or duplicate entries cannot be signed', () => {
    expect(() => list(1, [ids.card2, ids.card])).toThrow(/ascending/);
    expect(() => list(1, [ids.card, ids.card])).toThrow(/ascending/);
  });
});

describe('previous usage information and stolen terminals (Figs. 9–12)', () => {
  const K = bytes(16, 0x4b);
  const TS0 = bytes(16, 0x10);
  const cipher = new NodeCipherProvider();

  /** What terminal `w.terminal` writes to the card at update counter t. */
  function served(t: number, value = 4900): UsageInfo {
    const base = {
      cardId: ids.card,
      terminalId: ids.terminal,
      terminalNonce: bytes(16, 0xa1),
      cardNonce: bytes(16, 0xb2),
    };
    const s = w.terminal.signer.sign(terminalValueInput({ ...base, value, dateTime: T0 + DAY }));
    const ts = timeStampAt(cipher, K, TS0, t);
    const sts = w.terminal.signer.sign(
      timeStampInput({ terminalId: ids.terminal, updateCounter: t, timeStamp: ts, valueSignature: s }),
    );
    return new UsageInfo({
      ...base,
      terminalCertificate: w.terminalCert,
      updateCounter: t,
      value,
      valueSignature: s,
      timeStampSignature: sts,
      dateTime: T0 + DAY,
    });
  }

  const entry = (reportAt: number) => ({
    terminalId: ids.terminal,
    chainKey: K,
    timeStampOrigin: TS0,
    updateCounterAtReport: reportAt,
    reportedAt: T0,
  });

  it('genuine usage info verifies; a raised value, another card, a wrong certificate do not', () => {
    const info = UsageInfo.decode(served(5).encode());
    expect(reasonOf(() => w.trust.verifyUsageInfo(info, T0 + 2 * DAY, ids.card))).toBe('ok');
    expect(
      reasonOf(() => w.trust.verifyUsageInfo(new UsageInfo({ ...info, value: 9999 }), T0, ids.card)),
    ).toBe('bad-signature');
    expect(reasonOf(() => w.trust.verifyUsageInfo(info, T0, ids.card2))).toBe('wrong-subject');
    const t2 = Certificate.sign(certFields('terminal', ids.terminal2, w.terminal), w.centre.signer);
    expect(
      reasonOf(() =>
        w.trust.verifyUsageInfo(new UsageInfo({ ...info, terminalCertificate: t2 }), T0, ids.card),
      ),
    ).toBe('wrong-subject');
    expect(
      reasonOf(() =>
        w.trust.verifyUsageInfo(new UsageInfo({ ...info, terminalCertificate: w.cardCert }), T0, ids.card),
      ),
    ).toBe('wrong-kind');
  });

  it('a card served before the theft report (t ≤ t at report) is accepted, after it (t > report) refused', () => {
    const list = TroubledTerminalList.sign(
      { centreId: ids.centre, listVersion: 1, issued: T0, notAfter: T0 + YEAR, entries: [entry(10)] },
      w.centre.signer,
    );
    w.trust.verifyTroubledTerminalList(list, T0);
    const e = list.entryFor(ids.terminal)!;
    for (const [t, want] of [
      [0, 'ok'],
      [10, 'ok'],
      [11, 'troubled-terminal'],
      [40, 'troubled-terminal'],
    ] as const) {
      const info = served(t);
      const v = w.trust.verifyUsageInfo(info, T0, ids.card);
      expect(
        reasonOf(() => checkTimeStamp(info, e, v, cipher)),
        `t=${t}`,
      ).toBe(want);
    }
  });

  it('the thief back-dating t: a signature over TS_12 claimed as t=9 fails', () => {
    const real = served(12);
    const claimed = new UsageInfo({ ...real, updateCounter: 9 });
    const v = w.trust.verifyUsageInfo(claimed, T0, ids.card);
    expect(reasonOf(() => checkTimeStamp(claimed, entry(10), v, cipher))).toBe('bad-signature');
  });

  it("kept and used elsewhere: card A's usage info copied to card B fails, renamed or not", () => {
    const a = served(3);
    expect(reasonOf(() => w.trust.verifyUsageInfo(a, T0, ids.card2))).toBe('wrong-subject');
    const renamed = new UsageInfo({ ...a, cardId: ids.card2 });
    expect(reasonOf(() => w.trust.verifyUsageInfo(renamed, T0, ids.card2))).toBe('bad-signature');
  });

  it("S of one session does not verify for another session's R or X", () => {
    const a = served(3);
    for (const over of [
      { terminalNonce: bytes(16, 0x01) },
      { cardNonce: bytes(16, 0x02) },
      { dateTime: a.dateTime + 1000 },
    ])
      expect(reasonOf(() => w.trust.verifyUsageInfo(new UsageInfo({ ...a, ...over }), T0, ids.card))).toBe(
        'bad-signature',
      );
  });

  it('an entry of another terminal is not applied', () => {
    const info = served(3);
    const v = w.trust.verifyUsageInfo(info, T0, ids.card);
    expect(reasonOf(() => checkTimeStamp(info, { ...entry(10), terminalId: ids.terminal2 }, v, cipher))).toBe(
      'wrong-subject',
    );
  });
});

describe('service records and uploads', () => {
  it('service record: genuine, tampered charge, other card or terminal', () => {
    const s = samples(w);
    const rec = ServiceRecord.decode(s['service-record']!.der);
    const cv = w.trust.verifyCertificate(w.cardCert, 'card', T0);
    expect(reasonOf(() => verifyServiceRecord(rec, cv, { cardId: ids.card, terminalId: ids.terminal }))).toBe(
      'ok',
    );
    expect(reasonOf(() => verifyServiceRecord(new ServiceRecord({ ...rec, charge: 1 }), cv))).toBe(
      'bad-signature',
    );
    expect(reasonOf(() => verifyServiceRecord(rec, cv, { cardId: ids.card2 }))).toBe('wrong-subject');
    expect(reasonOf(() => verifyServiceRecord(rec, cv, { terminalId: ids.terminal2 }))).toBe('wrong-subject');
    const tv = w.trust.verifyCertificate(w.terminalCert, 'terminal', T0);
    expect(reasonOf(() => verifyServiceRecord(rec, tv))).toBe('bad-signature');
  });

  it('upload: genuine; a record dropped or added after signing; addressed to another centre', () => {
    const s = samples(w);
    const up = UsageUpload.decode(s['usage-upload']!.der);
    const tv = w.trust.verifyCertificate(w.terminalCert, 'terminal', T0);
    expect(
      reasonOf(() => verifyUsageUpload(up, tv, { terminalId: ids.terminal, centreId: ids.centre })),
    ).toBe('ok');
    expect(reasonOf(() => verifyUsageUpload(new UsageUpload({ ...up, records: [] }), tv))).toBe(
      'bad-signature',
    );
    expect(
      reasonOf(() =>
        verifyUsageUpload(new UsageUpload({ ...up, records: [...up.records, ...up.records] }), tv),
      ),
    ).toBe('bad-signature');
    expect(reasonOf(() => verifyUsageUpload(up, tv, { centreId: ids.otherCentre }))).toBe('other-centre');
    expect(reasonOf(() => verifyUsageUpload(up, tv, { terminalId: ids.terminal2 }))).toBe('wrong-subject');
  });

  it('clone detection key h: the same card leaving the same previous state twice gives the same key', () => {
    const s = samples(w);
    const r = UsageUpload.decode(s['usage-upload']!.der).records[0]!;
    const clone: UsageRecord = {
      ...r,
      terminalNonce: bytes(16, 0xee),
      cardNonce: bytes(16, 0xdd),
      valueAfter: 4000,
      charge: 1000,
    };
    expect(toHex(usageManagementKey(clone))).toBe(toHex(usageManagementKey(r)));
    const next: UsageRecord = { ...r, previous: { ...r.previous, terminalNonce: bytes(16, 0xa1) } };
    expect(toHex(usageManagementKey(next))).not.toBe(toHex(usageManagementKey(r)));
    expect(toHex(usageManagementKey({ ...r, cardId: ids.card2 }))).not.toBe(toHex(usageManagementKey(r)));
  });
});

describe('password setting and ticket (Figs. 13–14)', () => {
  it('setting and ticket verify; a ticket of another setting or card is wrong-subject', () => {
    const ps = PasswordSetting.sign(
      { centreId: ids.centre, cardId: ids.card, settingNumber: bytes(6, 0x35), notAfter: T0 + YEAR },
      w.centre.signer,
    );
    const ps2 = PasswordSetting.sign(
      { centreId: ids.centre, cardId: ids.card, settingNumber: bytes(6, 0x36), notAfter: T0 + YEAR },
      w.centre.signer,
    );
    const ticket = PasswordTicket.forSetting(ps, w.centre.signer);
    expect(reasonOf(() => w.trust.verifyPasswordSetting(ps, T0, ids.card))).toBe('ok');
    expect(reasonOf(() => w.trust.verifyPasswordSetting(ps, T0, ids.card2))).toBe('wrong-subject');
    expect(reasonOf(() => w.trust.verifyPasswordTicket(ticket, T0, { cardId: ids.card, setting: ps }))).toBe(
      'ok',
    );
    expect(reasonOf(() => w.trust.verifyPasswordTicket(ticket, T0, { setting: ps2 }))).toBe('wrong-subject');
    expect(reasonOf(() => w.trust.verifyPasswordTicket(ticket, T0, { cardId: ids.card2 }))).toBe(
      'wrong-subject',
    );
    expect(reasonOf(() => w.trust.verifyPasswordTicket(ticket, T0 + 2 * YEAR))).toBe('expired');
    const raised = new PasswordSetting({ ...ps, settingNumber: bytes(6, 0x30) });
    expect(reasonOf(() => w.trust.verifyPasswordSetting(raised, T0))).toBe('bad-signature');
  });
});

describe('arguments name the parameter', () => {
  it('constructors', () => {
    const sv = SignedValue.decode(samples(w)['signed-value']!.der);
    expect(() => new SignedValue({ ...sv, value: -1 })).toThrow(/value/);
    expect(() => new SignedValue({ ...sv, value: 1.5 })).toThrow(TypeError);
    expect(() => new SignedValue({ ...sv, notAfter: T0 + 1 })).toThrow(/notAfter.*whole second/);
    expect(() => new SignedValue({ ...sv, cardId: new Uint8Array(33) })).toThrow(/cardId/);
    expect(new SignedValue({ ...sv, notAfter: MAX_TIME }).notAfter).toBe(MAX_TIME);
    expect(() => new SignedValue({ ...sv, notAfter: MAX_TIME + 1000 })).toThrow(/notAfter/);
    expect(() => new SignedValue({ ...sv, notAfter: -1000 })).toThrow(/notAfter/);
    expect(() => new SignedValue({ ...sv, value: MAX_VALUE + 1 })).toThrow(/value/);
    expect(
      SignedValue.decode(new SignedValue({ ...sv, value: MAX_VALUE, notAfter: MAX_TIME }).encode()).value,
    ).toBe(MAX_VALUE);
    expect(() =>
      cardValueInput({
        cardId: ids.card,
        terminalId: ids.terminal,
        terminalNonce: bytes(7, 0),
        cardNonce: bytes(8, 0),
        value: 0,
      }),
    ).toThrow(/terminalNonce/);
    expect(() => w.trust.verifyCertificate(w.terminalCert, 'terminal', Number.NaN)).toThrow(TypeError);
    const rec = ServiceRecord.decode(samples(w)['service-record']!.der);
    expect(() => new ServiceRecord({ ...rec, service: 'meter \uD800' })).toThrow(/service/);
    expect(() => new ServiceRecord({ ...rec, service: 'x'.repeat(257) })).toThrow(/service/);
  });

  it('both cipher providers compute the same chain', () => {
    const K = bytes(16, 1);
    const ts0 = bytes(16, 2);
    expect(toHex(timeStampAt(new ForgeCipherProvider(), K, ts0, 50))).toBe(
      toHex(timeStampAt(new NodeCipherProvider(), K, ts0, 50)),
    );
  });
});
