/** Shared keys and sample fields for the card/pki tests. Keys are generated once per test file. */
import { NodeSignatureProvider } from '../../card/crypto/index.js';
import type { KeyPairDer, SignatureAlgorithm, Signer } from '../../card/crypto/index.js';
import {
  Certificate,
  CentreTrust,
  InvalidCardList,
  PasswordSetting,
  ServiceRecord,
  SignedValue,
  TroubledTerminalList,
  UsageInfo,
  UsageUpload,
  type CertificateFields,
  type SubjectKind,
} from '../../card/pki/index.js';

export const node = new NodeSignatureProvider();

/** 2026-01-01T00:00:00Z and one day/year in ms. */
export const T0 = Date.UTC(2026, 0, 1);
export const DAY = 86_400_000;
export const YEAR = 365 * DAY;

export const ids = {
  centre: new TextEncoder().encode('MC-01'),
  otherCentre: new TextEncoder().encode('MC-02'),
  card: new TextEncoder().encode('IDU-0000000001'),
  card2: new TextEncoder().encode('IDU-0000000002'),
  terminal: new TextEncoder().encode('IDT-0042'),
  terminal2: new TextEncoder().encode('IDT-0043'),
  dispenser: new TextEncoder().encode('IDC-7'),
};

export const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

export interface Party {
  readonly keys: KeyPairDer;
  readonly signer: Signer;
  readonly alg: SignatureAlgorithm;
}

const cache = new Map<SignatureAlgorithm, KeyPairDer[]>();

/** The i-th key pair of `alg` (generated on first use, shared within a test file). */
export function party(alg: SignatureAlgorithm, i: number): Party {
  const list = cache.get(alg) ?? [];
  cache.set(alg, list);
  while (list.length <= i) list.push(node.generateKeyPair(alg));
  const keys = list[i]!;
  return { keys, alg, signer: node.signer(alg, keys.privateKey) };
}

export function certFields(
  subjectKind: SubjectKind,
  subjectId: Uint8Array,
  subject: Party,
  over: Partial<CertificateFields> = {},
): CertificateFields {
  return {
    centreId: ids.centre,
    serial: 1,
    subjectKind,
    subjectId,
    subjectPublicKey: subject.keys.publicKey,
    subjectKeyAlgorithm: subject.alg,
    notBefore: T0,
    notAfter: T0 + YEAR,
    ...over,
  };
}

export interface World {
  centre: Party;
  terminal: Party;
  card: Party;
  anchor: Certificate;
  trust: CentreTrust;
  terminalCert: Certificate;
  cardCert: Certificate;
}

/** A centre, a terminal and a card, all with `alg` keys; certificates issued by the centre. */
export function world(alg: SignatureAlgorithm = 'rsa-pkcs1v15-sha256'): World {
  const centre = party(alg, 0);
  const terminal = party(alg, 1);
  const card = party(alg, 2);
  const anchor = Certificate.sign(
    certFields('centre', ids.centre, centre, { notAfter: T0 + 10 * YEAR }),
    centre.signer,
  );
  const trust = CentreTrust.fromAnchor(anchor, node, T0);
  const terminalCert = Certificate.sign(
    certFields('terminal', ids.terminal, terminal, { serial: 2 }),
    centre.signer,
  );
  const cardCert = Certificate.sign(certFields('card', ids.card, card, { serial: 3 }), centre.signer);
  return { centre, terminal, card, anchor, trust, terminalCert, cardCert };
}

/** One valid instance of every encodable structure, for sweeps. */
export function samples(
  w: World,
): Record<string, { der: Uint8Array; decode: (d: Uint8Array) => { encode(): Uint8Array } }> {
  const sv = SignedValue.sign(
    {
      centreId: ids.centre,
      signerKind: 'centre',
      signerId: ids.centre,
      cardId: ids.card,
      value: 5000,
      sequence: 1,
      challenge: new Uint8Array(0),
      notAfter: T0 + YEAR,
    },
    w.centre.signer,
  );
  const info = new UsageInfo({
    cardId: ids.card,
    terminalId: ids.terminal,
    terminalCertificate: w.terminalCert,
    updateCounter: 7,
    terminalNonce: bytes(16, 0xa1),
    cardNonce: bytes(16, 0xb2),
    value: 4900,
    valueSignature: bytes(256, 0x11),
    timeStampSignature: bytes(256, 0x22),
    dateTime: T0 + DAY,
  });
  const rec = ServiceRecord.sign(
    {
      cardId: ids.card,
      terminalId: ids.terminal,
      cardSequence: 9,
      terminalNonce: bytes(16, 0xa1),
      cardNonce: bytes(16, 0xa2),
      service: 'electricity 12 kWh',
      charge: 100,
      valueAfter: 4900,
      dateTime: T0 + DAY,
    },
    w.card.signer,
  );
  const icl = InvalidCardList.sign(
    {
      centreId: ids.centre,
      listVersion: 3,
      issued: T0,
      notAfter: T0 + 30 * DAY,
      entries: [
        { cardId: ids.card, reason: 'cloned', listedAt: T0 },
        { cardId: ids.card2, reason: 'lost', listedAt: T0 },
      ],
    },
    w.centre.signer,
  );
  const ttl = TroubledTerminalList.sign(
    {
      centreId: ids.centre,
      listVersion: 1,
      issued: T0,
      notAfter: T0 + 30 * DAY,
      entries: [
        {
          terminalId: ids.terminal,
          chainKey: bytes(16, 1),
          timeStampOrigin: bytes(16, 2),
          updateCounterAtReport: 10,
          reportedAt: T0,
        },
      ],
    },
    w.centre.signer,
  );
  const ps = PasswordSetting.sign(
    {
      centreId: ids.centre,
      cardId: ids.card,
      settingNumber: new TextEncoder().encode('482911'),
      notAfter: T0 + YEAR,
    },
    w.centre.signer,
  );
  const up = UsageUpload.sign(
    {
      centreId: ids.centre,
      terminalId: ids.terminal,
      uploadSequence: 12,
      updateCounter: 7,
      periodStart: T0,
      periodEnd: T0 + DAY,
      records: [
        {
          cardId: ids.card,
          valueBefore: 5000,
          valueAfter: 4900,
          charge: 100,
          terminalNonce: bytes(16, 0xa1),
          cardNonce: bytes(16, 0xb2),
          cardSignature: bytes(256, 3),
          terminalSignature: bytes(256, 4),
          dateTime: T0 + DAY,
          previous: {
            terminalId: ids.centre,
            terminalNonce: new Uint8Array(0),
            cardNonce: new Uint8Array(0),
            value: 5000,
          },
        },
      ],
    },
    w.terminal.signer,
  );
  return {
    certificate: { der: w.terminalCert.encode(), decode: (d) => Certificate.decode(d) },
    'signed-value': { der: sv.encode(), decode: (d) => SignedValue.decode(d) },
    'usage-info': { der: info.encode(), decode: (d) => UsageInfo.decode(d) },
    'service-record': { der: rec.encode(), decode: (d) => ServiceRecord.decode(d) },
    'invalid-card-list': { der: icl.encode(), decode: (d) => InvalidCardList.decode(d) },
    'troubled-terminal-list': { der: ttl.encode(), decode: (d) => TroubledTerminalList.decode(d) },
    'password-setting': { der: ps.encode(), decode: (d) => PasswordSetting.decode(d) },
    'usage-upload': { der: up.encode(), decode: (d) => UsageUpload.decode(d) },
  };
}
