/**
 * The management centre of seed 004 (host/settlement): honest clearing, and each bad input refused
 * with its specific reason, recorded as an event, with nothing stored or counted twice.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ForgeSignatureProvider,
  ManualClock,
  NodeSignatureProvider,
  SeededRng,
} from '../../card/crypto/index.js';
import type { KeyPairDer, Rng } from '../../card/crypto/index.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { CentreTrust, Certificate, InvalidCardList, ServiceRecord } from '../../card/pki/index.js';
import { ManagementCentre, type ManagementCentreOptions } from '../../host/settlement/ManagementCentre.js';
import { CentreError, type CentreErrorReason } from '../../host/settlement/CentreError.js';
import { ExampleCard, ExampleTerminal } from '../../host/settlement/examples.js';

const provider = new NodeSignatureProvider();
const ALG = 'ecdsa-p256-sha256' as const;
const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;
const CENTRE = fromHex('C0FFEE');
const VALIDITY = { notBefore: T0, notAfter: T0 + 365 * DAY };
const MAX = 100_000;

let centreKeys: KeyPairDer;
let otherKeys: KeyPairDer;
const cardKeys: KeyPairDer[] = [];
const terminalKeys: KeyPairDer[] = [];

beforeAll(() => {
  centreKeys = provider.generateKeyPair(ALG);
  otherKeys = provider.generateKeyPair(ALG);
  for (let i = 0; i < 3; i++) cardKeys.push(provider.generateKeyPair(ALG));
  for (let i = 0; i < 3; i++) terminalKeys.push(provider.generateKeyPair(ALG));
});

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const idu = (i: number) => fromHex(`4D5000000000000${i}`);
const idt = (i: number) => fromHex(`7E00000${i}`);
const chain = (i: number) => ({
  key: new Uint8Array(16).fill(0x40 + i),
  ts0: new Uint8Array(16).fill(0x10 + i),
});

function options(over: Partial<ManagementCentreOptions> = {}): ManagementCentreOptions {
  return {
    file: ':memory:',
    provider,
    clock: new ManualClock(T0 + DAY),
    rng: new SeededRng('centre'),
    maxValue: MAX,
    centreId: CENTRE,
    keyPair: centreKeys,
    ...over,
  };
}

/** A centre with cards 1..2 (value 1000 each) and terminals 1..2 certified. */
function world(over: Partial<ManagementCentreOptions> = {}) {
  const o = options(over);
  const clock = o.clock as ManualClock;
  const centre = new ManagementCentre(o);
  const rng = new SeededRng('world');
  const cards = [1, 2].map((i) => {
    centre.certifyCard(idu(i), cardKeys[i - 1]!.publicKey, VALIDITY, ALG);
    centre.signValue(idu(i), 1000, T0 + 100 * DAY);
    return new ExampleCard(idu(i), provider.signer(ALG, cardKeys[i - 1]!.privateKey), 1000, CENTRE);
  });
  const terminals = [1, 2].map((i) => {
    centre.certifyTerminal(idt(i), terminalKeys[i - 1]!.publicKey, chain(i), VALIDITY, ALG);
    return new ExampleTerminal(idt(i), provider.signer(ALG, terminalKeys[i - 1]!.privateKey), rng);
  });
  let at = clock.now();
  /** The next service time: a second later each time, after the signed values. */
  const next = () => (at += 1000);
  const upload = (t: ExampleTerminal) => t.batch(CENTRE, T0, T0 + 10 * DAY);
  return { centre, clock, cards, terminals, next, upload, rng };
}

/** Runs `f`, expects a CentreError with `reason`, and that the last event row records it. */
function refused(centre: ManagementCentre, reason: CentreErrorReason, f: () => unknown): CentreError {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CentreError);
  expect((err as CentreError).reason).toBe(reason);
  expect(centre.events().at(-1)?.reason).toBe(reason);
  return err as CentreError;
}

const listed = (list: InvalidCardList) => list.entries.map((e) => `${toHex(e.cardId)}:${e.reason}`);

describe('ManagementCentre: honest clearing', () => {
  it('stores each record once, tracks V, and the chain reconciles', () => {
    const { centre, cards, terminals, next, upload } = world();
    const [c1, c2] = cards;
    const [t1, t2] = terminals;
    t1!.serve(c1!, 100, next());
    t1!.serve(c2!, 30, next());
    t2!.serve(c1!, 200, next());
    expect(centre.ingestUpload(upload(t1!))).toMatchObject({ stored: 2, repeated: 0, findings: [] });
    expect(centre.ingestUpload(upload(t2!))).toMatchObject({ stored: 1, findings: [] });
    expect(centre.clearedRecords()).toBe(3);
    expect(centre.card(idu(1))).toMatchObject({ state: 'active', lastValue: 700, valueSeq: 1 });
    expect(centre.card(idu(2))).toMatchObject({ state: 'active', lastValue: 970 });
    expect(centre.reconcile(idu(1))).toEqual([]);
    expect(centre.invalidCardList().entries).toEqual([]);
    centre.close();
  });

  it('out-of-order uploads (the later terminal calls first) are no finding', () => {
    const { centre, cards, terminals, next, upload } = world();
    terminals[0]!.serve(cards[0]!, 100, next());
    terminals[1]!.serve(cards[0]!, 100, next());
    expect(centre.ingestUpload(upload(terminals[1]!)).findings).toEqual([]);
    expect(centre.ingestUpload(upload(terminals[0]!)).findings).toEqual([]);
    expect(centre.reconcile(idu(1))).toEqual([]);
    expect(centre.card(idu(1))!.lastValue).toBe(800);
  });

  it('a recharge between records is not a rise', () => {
    const { centre, clock, cards, terminals, next, upload } = world();
    terminals[0]!.serve(cards[0]!, 900, next());
    clock.set(next());
    centre.signValue(idu(1), 5000, T0 + 100 * DAY);
    cards[0]!.recharge(5000, CENTRE);
    terminals[0]!.serve(cards[0]!, 1, next());
    expect(centre.ingestUpload(upload(terminals[0]!)).findings).toEqual([]);
    expect(centre.reconcile(idu(1))).toEqual([]);
    expect(centre.card(idu(1))).toMatchObject({ lastValue: 4999, valueSeq: 2, state: 'active' });
  });
});

describe('ManagementCentre: two recharges to the same value', () => {
  it('are not a clone (the signed value in force tells the states apart); a clone after a recharge is', () => {
    const { centre, clock, cards, terminals, next, upload } = world();
    const c = cards[0]!;
    terminals[0]!.serve(c, 1000, next()); // from the issue value: 1000 -> 0
    clock.set(next());
    centre.signValue(idu(1), 1000, T0 + 100 * DAY);
    c.recharge(1000, CENTRE); // previous usage again (centre, 1000): the same h as at issue
    const copy = c.clone();
    terminals[0]!.serve(c, 10, next());
    expect(centre.ingestUpload(upload(terminals[0]!)).findings).toEqual([]);
    terminals[1]!.serve(copy, 20, next()); // the copy of the recharged card
    expect(centre.ingestUpload(upload(terminals[1]!)).findings.map((f) => f.reason)).toEqual(['clone']);
  });
});

describe('ManagementCentre: certificates', () => {
  it('a forged terminal certificate (right centre id, wrong key) is refused and nothing stored', () => {
    const { centre, cards, terminals, next, upload } = world();
    terminals[0]!.serve(cards[0]!, 10, next());
    const forged = Certificate.sign(
      {
        centreId: CENTRE,
        serial: 99,
        subjectKind: 'terminal',
        subjectId: idt(1),
        subjectPublicKey: terminalKeys[0]!.publicKey,
        subjectKeyAlgorithm: ALG,
        ...VALIDITY,
      },
      provider.signer(ALG, otherKeys.privateKey),
    );
    refused(centre, 'forged-certificate', () => centre.ingestUpload(upload(terminals[0]!), forged.encode()));
    expect(centre.clearedRecords()).toBe(0);
  });

  it("a certificate signed with the centre's key but not in its register is refused; another terminal's too", () => {
    const { centre, cards, terminals, next, upload } = world();
    terminals[0]!.serve(cards[0]!, 10, next());
    const stray = Certificate.sign(
      {
        centreId: CENTRE,
        serial: 4242,
        subjectKind: 'terminal',
        subjectId: idt(1),
        subjectPublicKey: terminalKeys[0]!.publicKey,
        subjectKeyAlgorithm: ALG,
        ...VALIDITY,
      },
      provider.signer(ALG, centreKeys.privateKey),
    );
    const der = upload(terminals[0]!);
    refused(centre, 'unknown-certificate', () => centre.ingestUpload(der, stray.encode()));
    const t2 = centre.checkCertificate(
      Certificate.sign(
        {
          centreId: CENTRE,
          serial: 4243,
          subjectKind: 'terminal',
          subjectId: idt(2),
          subjectPublicKey: terminalKeys[1]!.publicKey,
          subjectKeyAlgorithm: ALG,
          ...VALIDITY,
        },
        provider.signer(ALG, centreKeys.privateKey),
      ).encode(),
      'terminal',
    );
    refused(centre, 'wrong-subject', () => centre.ingestUpload(der, t2.certificate.encode()));
    expect(centre.ingestUpload(der).stored).toBe(1);
  });

  it("another centre's certificate is refused as 'other-centre'", () => {
    const { centre, cards, terminals, next, upload } = world();
    const other = new ManagementCentre(options({ centreId: fromHex('0DD0'), keyPair: otherKeys }));
    const cert = other.certifyTerminal(idt(1), terminalKeys[0]!.publicKey, chain(1), VALIDITY, ALG);
    terminals[0]!.serve(cards[0]!, 10, next());
    refused(centre, 'other-centre', () => centre.ingestUpload(upload(terminals[0]!), cert.encode()));
    expect(centre.clearedRecords()).toBe(0);
    other.close();
  });

  it("an expired terminal certificate is refused as 'expired'; a card certificate as 'wrong-kind'", () => {
    const { centre, clock, cards, terminals, next, upload } = world();
    const t3 = new ExampleTerminal(
      idt(3),
      provider.signer(ALG, terminalKeys[2]!.privateKey),
      new SeededRng('t3'),
    );
    centre.certifyTerminal(
      idt(3),
      terminalKeys[2]!.publicKey,
      chain(3),
      { notBefore: T0, notAfter: T0 + 30 * DAY },
      ALG,
    );
    t3.serve(cards[0]!, 10, next());
    clock.set(T0 + 31 * DAY);
    const up = upload(t3);
    refused(centre, 'expired', () => centre.ingestUpload(up));
    // a card's (valid, centre-signed) certificate shown where the terminal's is wanted
    clock.set(T0 + 2 * DAY);
    terminals[0]!.serve(cards[1]!, 10, next());
    const cardCert = Certificate.sign(
      {
        centreId: CENTRE,
        serial: 77,
        subjectKind: 'card',
        subjectId: idt(1),
        subjectPublicKey: terminalKeys[0]!.publicKey,
        subjectKeyAlgorithm: ALG,
        ...VALIDITY,
      },
      provider.signer(ALG, centreKeys.privateKey),
    );
    refused(centre, 'wrong-kind', () => centre.ingestUpload(upload(terminals[0]!), cardCert.encode()));
    expect(centre.clearedRecords()).toBe(0);
  });

  it('certifies a dispenser, SA(IDC); a certificate presented is checked for kind and bytes', () => {
    const { centre } = world();
    const cert = centre.certifyDispenser(fromHex('D1'), cardKeys[2]!.publicKey, VALIDITY, ALG);
    expect(cert).toMatchObject({ subjectKind: 'dispenser', serial: expect.any(Number) });
    expect(centre.checkCertificate(cert.encode(), 'dispenser').certificate.subjectId).toEqual(fromHex('D1'));
    refused(centre, 'wrong-kind', () => centre.checkCertificate(cert.encode(), 'terminal'));
    refused(centre, 'malformed', () => centre.checkCertificate(cert.encode().subarray(0, 40), 'dispenser'));
    const later = centre.certifyDispenser(
      fromHex('D2'),
      cardKeys[2]!.publicKey,
      { notBefore: T0 + 9 * DAY, notAfter: T0 + 99 * DAY },
      ALG,
    );
    refused(centre, 'not-yet-valid', () => centre.checkCertificate(later.encode(), 'dispenser'));
    refused(centre, 'already-registered', () =>
      centre.certifyDispenser(fromHex('D1'), cardKeys[2]!.publicKey, VALIDITY, ALG),
    );
  });

  it('certifying the same card twice is refused; a bad key is a RangeError naming spki', () => {
    const { centre } = world();
    refused(centre, 'already-registered', () =>
      centre.certifyCard(idu(1), cardKeys[0]!.publicKey, VALIDITY, ALG),
    );
    expect(() => centre.certifyCard(idu(7), new Uint8Array([1, 2, 3]), VALIDITY, ALG)).toThrow(/spki/);
    expect(() =>
      centre.certifyCard(idu(7), cardKeys[0]!.publicKey, { notBefore: T0, notAfter: T0 + 1 }, ALG),
    ).toThrow(/validity.notAfter/);
  });
});

describe('ManagementCentre: uploads', () => {
  it('a signature over different data (a record altered, the upload re-signed) is refused whole', () => {
    const { centre, cards, terminals, next } = world();
    const t = terminals[0]!;
    t.serve(cards[0]!, 10, next());
    const honest = t.serve(cards[1]!, 10, next());
    // the terminal (or whoever holds its key) claims the card had more before: SU(R||X||V) no longer covers V
    t.records[1] = { ...honest, valueBefore: 1500, charge: 510 };
    const up = t.batch(CENTRE, T0, T0 + DAY);
    const e = refused(centre, 'bad-signature', () => centre.ingestUpload(up));
    expect(e.message).toMatch(/record 1: the card/);
    expect(centre.clearedRecords()).toBe(0);
  });

  it('an upload whose signature does not cover its bytes is refused', () => {
    const { centre, cards, terminals, next, upload } = world();
    terminals[0]!.serve(cards[0]!, 10, next());
    const b = upload(terminals[0]!);
    const der = b.upload.encode();
    der[der.length - 1]! ^= 0x01; // last byte of the terminal's signature
    refused(centre, 'bad-signature', () => centre.ingestUpload({ ...b, upload: der }));
    expect(centre.clearedRecords()).toBe(0);
  });

  it('a truncated upload is refused whole, at every cut', () => {
    const { centre, cards, terminals, next, upload } = world();
    for (let i = 0; i < 3; i++) terminals[0]!.serve(cards[0]!, 10, next());
    const b = upload(terminals[0]!);
    const der = b.upload.encode();
    for (const cut of [1, 2, 10, 100, der.length >> 1, der.length - 1]) {
      refused(centre, 'truncated-upload', () =>
        centre.ingestUpload({ ...b, upload: der.subarray(0, der.length - cut) }),
      );
    }
    expect(centre.clearedRecords()).toBe(0);
    expect(centre.ingestUpload(b).stored).toBe(3);
  });

  it('the same upload twice is stored once and reported as a duplicate upload, not a clone', () => {
    const { centre, cards, terminals, next, upload } = world();
    terminals[0]!.serve(cards[0]!, 10, next());
    terminals[0]!.serve(cards[0]!, 20, next());
    const der = upload(terminals[0]!);
    expect(centre.ingestUpload(der).stored).toBe(2);
    const version = centre.invalidCardList().listVersion;
    refused(centre, 'duplicate-upload', () => centre.ingestUpload(der));
    expect(centre.clearedRecords()).toBe(2);
    expect(centre.card(idu(1))).toMatchObject({ state: 'active', lastValue: 970 });
    expect(centre.invalidCardList().listVersion).toBe(version);
  });

  it('another upload under a used sequence number is a conflict; a record re-sent in a later upload counts once', () => {
    const { centre, cards, terminals, next } = world();
    const t = terminals[0]!;
    const a = t.serve(cards[0]!, 10, next());
    const first = t.batch(CENTRE, T0, T0 + DAY);
    expect(centre.ingestUpload(first).stored).toBe(1);
    t.uploadSequence = 0; // a terminal reset re-using sequence 1 with other content
    t.serve(cards[0]!, 10, next());
    refused(centre, 'upload-conflict', () => centre.ingestUpload(t.batch(CENTRE, T0, T0 + DAY)));
    // the same record again with a new one, under a fresh sequence
    t.records = [a];
    t.serve(cards[1]!, 5, next());
    t.uploadSequence = 5;
    expect(centre.ingestUpload(t.batch(CENTRE, T0, T0 + DAY))).toMatchObject({
      stored: 1,
      repeated: 1,
      skippedUploads: 4,
      findings: [],
    });
    expect(centre.clearedRecords()).toBe(2);
    expect(centre.events().find((e) => e.reason === 'upload-gap')).toMatchObject({
      detail: 'uploads 2..5 not received',
    });
  });

  it("a record lifted from another terminal's upload is refused: S and SU name the terminal that served", () => {
    const { centre, cards, terminals, next } = world();
    const lifted = terminals[0]!.serve(cards[0]!, 10, next());
    terminals[1]!.records.push(lifted);
    refused(centre, 'bad-signature', () => centre.ingestUpload(terminals[1]!.batch(CENTRE, T0, T0 + DAY)));
    expect(centre.clearedRecords()).toBe(0);
  });

  it("a record dated outside the card certificate's term is refused as 'expired'", () => {
    const { centre, terminals, upload } = world();
    centre.certifyCard(idu(5), cardKeys[2]!.publicKey, { notBefore: T0, notAfter: T0 + 2 * DAY }, ALG);
    const c = new ExampleCard(idu(5), provider.signer(ALG, cardKeys[2]!.privateKey), 1000, CENTRE);
    terminals[0]!.serve(c, 10, T0 + 3 * DAY);
    refused(centre, 'expired', () => centre.ingestUpload(upload(terminals[0]!)));
    expect(centre.clearedRecords()).toBe(0);
  });

  it('records of an unknown card, or an upload of an unknown terminal, or for another centre, are refused', () => {
    const { centre, cards, terminals, next, upload, rng } = world();
    const stranger = new ExampleCard(idu(9), provider.signer(ALG, cardKeys[2]!.privateKey), 50, CENTRE);
    terminals[0]!.serve(stranger, 5, next());
    refused(centre, 'unknown-card', () => centre.ingestUpload(upload(terminals[0]!)));
    const t9 = new ExampleTerminal(idt(9), provider.signer(ALG, terminalKeys[2]!.privateKey), rng);
    t9.serve(cards[0]!, 5, next());
    refused(centre, 'unknown-terminal', () => centre.ingestUpload(upload(t9)));
    terminals[1]!.serve(cards[0]!, 5, next());
    refused(centre, 'other-centre', () =>
      centre.ingestUpload(terminals[1]!.batch(fromHex('0DD0'), T0, T0 + DAY)),
    );
    expect(() => centre.ingestUpload('x' as unknown as Uint8Array)).toThrow(TypeError);
    expect(centre.clearedRecords()).toBe(0);
  });
});

describe('ManagementCentre: clones and value chain', () => {
  it('a cloned card used at two terminals is detected, listed, and the next list version carries it', () => {
    const { centre, cards, terminals, next, upload } = world();
    const before = centre.invalidCardList();
    expect(listed(before)).toEqual([]);
    const copy = cards[0]!.clone();
    terminals[0]!.serve(cards[0]!, 100, next());
    terminals[1]!.serve(copy, 300, next()); // the same state: same previous usage h, same V
    expect(centre.ingestUpload(upload(terminals[0]!)).findings).toEqual([]);
    const report = centre.ingestUpload(upload(terminals[1]!));
    expect(report.findings.map((f) => f.reason)).toEqual(['clone']);
    expect(report.invalidListVersion).toBeGreaterThan(before.listVersion);
    expect(centre.card(idu(1))).toMatchObject({ state: 'invalid', invalidReason: 'clone' });
    const after = centre.invalidCardList();
    expect(after.listVersion).toBeGreaterThan(before.listVersion);
    expect(listed(after)).toEqual([`${toHex(idu(1))}:cloned`]);
    // both records are kept as evidence, each once
    expect(centre.clearedRecords()).toBe(2);
    expect(centre.reconcile(idu(1)).map((f) => f.reason)).toContain('clone');
    expect(centre.events().some((e) => e.reason === 'clone' && e.subject === toHex(idu(1)))).toBe(true);
    // a listed card gets no new value
    refused(centre, 'invalid-card', () => centre.signValue(idu(1), 10, T0 + 50 * DAY));
  });

  it('the list is signed by the centre, versions only go up, and it is re-signed before it expires', () => {
    const { centre, clock } = world({ listValidityMs: 10_000 });
    const a = centre.invalidCardList();
    expect(centre.invalidCardList().listVersion).toBe(a.listVersion); // held while fresh
    expect(a.notAfter).toBe(a.issued + 10_000);
    clock.advance(6000);
    const b = centre.invalidCardList();
    expect(b.listVersion).toBe(a.listVersion + 1);
    expect(InvalidCardList.decode(b.encode()).listVersion).toBe(b.listVersion);
  });

  it('V rising without a recharge flags and lists the card (a tampered card)', () => {
    const { centre, cards, terminals, next, upload } = world();
    const c = cards[0]!;
    terminals[0]!.serve(c, 400, next()); // 1000 -> 600
    c.value = 900; // a tampered card: V raised
    c.previous = { ...c.previous, value: 900 }; // and its previous usage made to agree
    terminals[1]!.serve(c, 100, next());
    expect(centre.ingestUpload(upload(terminals[0]!)).findings).toEqual([]);
    const r = centre.ingestUpload(upload(terminals[1]!));
    expect(r.findings.map((f) => f.reason)).toEqual(['value-rise']);
    expect(centre.card(idu(1))).toMatchObject({ state: 'invalid', invalidReason: 'value-rise' });
    expect(listed(centre.invalidCardList())).toEqual([`${toHex(idu(1))}:abnormal`]);
    expect(centre.reconcile(idu(1)).map((f) => f.reason)).toEqual(['value-rise']);
  });

  it("V-before above the card's own previous usage is a rise; a missing record is a gap, reported not listed", () => {
    const { centre, cards, terminals, next, upload } = world();
    const c = cards[1]!;
    c.value = 1200; // previous usage still says 1000
    terminals[0]!.serve(c, 100, next());
    expect(centre.ingestUpload(upload(terminals[0]!)).findings.map((f) => f.reason)).toEqual(['value-rise']);
    // card 1: a record never uploaded leaves a hole
    terminals[1]!.serve(cards[0]!, 100, next());
    terminals[1]!.records = [];
    terminals[1]!.serve(cards[0]!, 100, next());
    expect(centre.ingestUpload(upload(terminals[1]!)).findings).toEqual([]);
    expect(centre.reconcile(idu(1)).map((f) => f.reason)).toEqual(['value-gap']);
    expect(centre.card(idu(1))!.state).toBe('active');
  });
});

describe('ManagementCentre: value below the previous usage', () => {
  it('is reported as a gap, and the card stays usable (no value was created)', () => {
    const { centre, cards, terminals, next, upload } = world();
    cards[0]!.value = 700; // the card lost value it had: previous usage still says 1000
    terminals[0]!.serve(cards[0]!, 100, next());
    const r = centre.ingestUpload(upload(terminals[0]!));
    expect(r.findings.map((f) => f.reason)).toEqual(['value-gap']);
    expect(r.invalidListVersion).toBe(0);
    expect(centre.card(idu(1))).toMatchObject({ state: 'active', lastValue: 600 });
  });
});

describe('ManagementCentre: values, terminals, destroyed cards, passwords, service records', () => {
  it('signed values: sequence strictly increasing, the maximum accepted, one past it refused', () => {
    const { centre } = world();
    expect(centre.signValue(idu(1), MAX, T0 + 50 * DAY).sequence).toBe(2);
    refused(centre, 'amount-too-large', () => centre.signValue(idu(1), MAX + 1, T0 + 50 * DAY));
    expect(centre.signValue(idu(1), 0, T0 + 50 * DAY).sequence).toBe(3);
    expect(centre.card(idu(1))).toMatchObject({ valueSeq: 3, lastValue: 0 });
    refused(centre, 'unknown-card', () => centre.signValue(idu(8), 1, T0 + 50 * DAY));
    expect(() => centre.signValue(idu(1), -1, T0 + 50 * DAY)).toThrow(/value/);
    expect(() => centre.signValue(idu(1), 1, T0)).toThrow(/notAfter/);
  });

  it('a stolen terminal: its t at the report is listed, its uploads signed after it refused, before it accepted', () => {
    const { centre, cards, terminals, next, upload } = world();
    const t = terminals[0]!;
    centre.terminalCalled(idt(1), 4);
    centre.terminalCalled(idt(1), 5);
    refused(centre, 'bad-counter', () => centre.terminalCalled(idt(1), 3));
    expect(centre.reportStolen(idt(1))).toBe(5);
    expect(centre.reportStolen(idt(1))).toBe(5); // again: unchanged
    expect(centre.terminal(idt(1))).toMatchObject({ t: 5, stolenT: 5 });
    const list = centre.troubledTerminalList();
    expect(list.entries).toHaveLength(1);
    expect(list.entryFor(idt(1))).toMatchObject({
      updateCounterAtReport: 5,
      chainKey: chain(1).key,
      timeStampOrigin: chain(1).ts0,
    });
    t.t = 6;
    t.serve(cards[0]!, 10, next());
    refused(centre, 'stolen-terminal', () => centre.ingestUpload(upload(t)));
    t.t = 5;
    t.serve(cards[0]!, 10, next()); // dated after the report, though t is not
    refused(centre, 'stolen-terminal', () => centre.ingestUpload(upload(t)));
    t.serve(cards[0]!, 10, T0 + DAY - 1000); // served before the report
    expect(centre.ingestUpload(upload(t)).stored).toBe(1);
    refused(centre, 'stolen-terminal', () => centre.terminalCalled(idt(1), 6));
    refused(centre, 'unknown-terminal', () => centre.reportStolen(idt(9)));
  });

  it('a destroyed card: its last known V, refunded exactly once', () => {
    const { centre, cards, terminals, next, upload } = world();
    terminals[0]!.serve(cards[0]!, 250, next());
    centre.ingestUpload(upload(terminals[0]!));
    refused(centre, 'not-destroyed', () => centre.refundDestroyed(idu(1)));
    const v = centre.invalidCardList().listVersion;
    expect(centre.destroyedCard(idu(1))).toBe(750);
    expect(centre.destroyedCard(idu(1))).toBe(750);
    expect(listed(centre.invalidCardList())).toEqual([`${toHex(idu(1))}:other`]);
    expect(centre.invalidCardList().listVersion).toBeGreaterThan(v);
    expect(centre.refundDestroyed(idu(1))).toBe(750);
    refused(centre, 'already-refunded', () => centre.refundDestroyed(idu(1)));
    refused(centre, 'already-refunded', () => centre.destroyedCard(idu(1)));
    expect(centre.events().filter((e) => e.kind === 'refund' && e.reason === null)).toHaveLength(1);
  });

  it('a "destroyed" card still spent afterwards is reported; a clone-listed card gets no refund', () => {
    const { centre, clock, cards, terminals, next, upload } = world();
    clock.set(next());
    expect(centre.destroyedCard(idu(1))).toBe(1000);
    terminals[0]!.serve(cards[0]!, 100, next()); // the card was not destroyed at all
    const r = centre.ingestUpload(upload(terminals[0]!));
    expect(r.findings.map((f) => f.reason)).toEqual(['used-after-destroyed']);
    expect(centre.events().at(-1)).toMatchObject({ kind: 'clearing', reason: 'used-after-destroyed' });
    // card 2 cloned and listed: declaring it destroyed does not turn its value into a refund
    const copy = cards[1]!.clone();
    terminals[0]!.serve(cards[1]!, 1, next());
    terminals[1]!.serve(copy, 1, next());
    centre.ingestUpload(upload(terminals[0]!));
    centre.ingestUpload(upload(terminals[1]!));
    refused(centre, 'invalid-card', () => centre.destroyedCard(idu(2)));
    refused(centre, 'not-destroyed', () => centre.refundDestroyed(idu(2)));
  });

  it('password setting numbers Ns are never reused for a card, even when the Rng repeats', () => {
    // an Rng that cycles through three 4-byte draws
    const draws = [1, 2, 3].map((n) => Uint8Array.from([0, 0, 0, n]));
    let i = 0;
    const cycling: Rng = { bytes: () => Uint8Array.from(draws[i++ % 3]!) };
    const { centre } = world({ rng: cycling });
    const ns = [0, 1, 2].map(() =>
      new TextDecoder().decode(centre.passwordSetting(idu(1)).setting.settingNumber),
    );
    expect(ns).toEqual(['00000001', '00000002', '00000003']);
    refused(centre, 'exhausted', () => centre.passwordSetting(idu(1)));
    // another card may draw the same digits: Ns is per card
    expect(ns).toContain(new TextDecoder().decode(centre.passwordSetting(idu(2)).setting.settingNumber));
    const { setting, ticket } = centre.passwordSetting(idu(2));
    expect(ticket.settingDigest).toEqual(setting.digest());
    expect(setting.cardId).toEqual(idu(2));
  });

  it('service records SU(M||IDU): verified, stored once, billed; forged or conflicting ones refused', () => {
    const { centre, next } = world();
    const signer = provider.signer(ALG, cardKeys[0]!.privateKey);
    const rec = (seq: number, charge: number, at: number, s = signer) =>
      ServiceRecord.sign(
        {
          cardId: idu(1),
          terminalId: idt(1),
          cardSequence: seq,
          terminalNonce: new Uint8Array(8).fill(seq),
          cardNonce: new Uint8Array(8).fill(seq + 0x80),
          service: 'call',
          charge,
          valueAfter: 1000 - charge,
          dateTime: at,
        },
        s,
      ).encode();
    const a = rec(1, 120, next());
    expect(centre.storeServiceRecord(a)).toBe(true);
    expect(centre.storeServiceRecord(a)).toBe(false);
    expect(centre.storeServiceRecord(rec(2, 80, next()))).toBe(true);
    expect(centre.billing(idu(1), { from: T0, to: T0 + 30 * DAY })).toEqual({ total: 200, count: 2 });
    expect(centre.billing(idu(1), { from: T0 + 30 * DAY, to: T0 + 31 * DAY })).toEqual({
      total: 0,
      count: 0,
    });
    refused(centre, 'bad-signature', () =>
      centre.storeServiceRecord(rec(3, 50, next(), provider.signer(ALG, cardKeys[1]!.privateKey))),
    );
    refused(centre, 'malformed', () => centre.storeServiceRecord(a.subarray(1)));
    refused(centre, 'clone', () => centre.storeServiceRecord(rec(2, 1, next())));
    expect(centre.card(idu(1))!.state).toBe('invalid');
    expect(centre.billing(idu(1), { from: T0, to: T0 + 30 * DAY })).toEqual({ total: 200, count: 2 });
  });
});

describe('ManagementCentre: an RSA-2048 centre', () => {
  it('signs with RSA (PKCS#1 v1.5); its anchor, certificates and lists verify under node-forge too', () => {
    const rsa = provider.generateKeyPair('rsa-pkcs1v15-sha256');
    const clock = new ManualClock(T0 + DAY);
    const centre = new ManagementCentre(
      options({ clock, keyPair: rsa, algorithm: 'rsa-pkcs1v15-sha256', centreId: fromHex('A5') }),
    );
    const cert = centre.certifyCard(idu(1), cardKeys[0]!.publicKey, VALIDITY, ALG);
    centre.reportCard(idu(1), 'stolen');
    const list = centre.invalidCardList();
    const forge = CentreTrust.fromAnchor(
      Certificate.decode(centre.anchor.encode()),
      new ForgeSignatureProvider(),
      clock.now(),
    );
    expect(centre.anchor.algorithm).toBe('rsa-pkcs1v15-sha256');
    expect(() =>
      forge.verifyInvalidCardList(InvalidCardList.decode(list.encode()), clock.now()),
    ).not.toThrow();
    expect(listed(list)).toEqual([`${toHex(idu(1))}:stolen`]);
    // the card's key is ECDSA, which node-forge cannot do: the certificate verifies, the key is refused as such
    expect(() => forge.verifyCertificate(Certificate.decode(cert.encode()), 'card', clock.now())).toThrow(
      /unsupported|ECDSA/i,
    );
    centre.close();
  });
});

describe('ManagementCentre: durability', () => {
  it('close and reopen keeps keys, cards, lists, uploads, refunds and setting numbers', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mp-centre-'));
    dirs.push(dir);
    const file = join(dir, 'centre.db');
    const w = world({ file });
    const { centre, cards, terminals, next, upload } = w;
    const copy = cards[0]!.clone();
    terminals[0]!.serve(cards[0]!, 100, next());
    terminals[1]!.serve(copy, 100, next());
    terminals[0]!.serve(cards[1]!, 300, next());
    const up1 = upload(terminals[0]!);
    centre.ingestUpload(up1);
    centre.ingestUpload(upload(terminals[1]!));
    centre.certifyCard(idu(3), cardKeys[2]!.publicKey, VALIDITY, ALG);
    const ns = centre.passwordSetting(idu(3)).setting.settingNumber;
    centre.terminalCalled(idt(2), 3);
    centre.reportStolen(idt(2));
    centre.destroyedCard(idu(2));
    expect(centre.refundDestroyed(idu(2))).toBe(700);
    const list = centre.invalidCardList();
    const anchor = centre.anchor.encode();
    const events = centre.events().length;
    centre.close();

    // reopened without the key pair: everything comes from the file
    const again = new ManagementCentre({
      ...options({ file, clock: w.clock, rng: new SeededRng('centre') }),
      keyPair: undefined,
    });
    expect(again.anchor.encode()).toEqual(anchor);
    expect(again.clearedRecords()).toBe(3);
    expect(again.events().length).toBe(events);
    expect(again.invalidCardList().encode()).toEqual(list.encode());
    expect(again.card(idu(1))).toMatchObject({ state: 'invalid', invalidReason: 'clone' });
    expect(again.terminal(idt(2))).toMatchObject({ stolenT: 3 });
    refused(again, 'duplicate-upload', () => again.ingestUpload(up1));
    refused(again, 'already-refunded', () => again.refundDestroyed(idu(2)));
    refused(again, 'already-registered', () =>
      again.certifyCard(idu(1), cardKeys[0]!.publicKey, VALIDITY, ALG),
    );
    // the same Rng stream again: the Ns already issued to card 3 is skipped, not reissued
    expect(again.passwordSetting(idu(3)).setting.settingNumber).not.toEqual(ns);
    again.close();
    // a centre id that is not the file's
    expect(() => new ManagementCentre(options({ file, centreId: fromHex('0DD0') }))).toThrow(CentreError);
  });
});
