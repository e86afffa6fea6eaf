/**
 * Red team 2 on the seed 004 profile's keys and signatures (card/pki, the settlement card, the
 * centre): a terminal certificate over an RSA key with e = 3 or of 1024 bits, ECDSA signatures
 * with s > n/2 and with r = 0 / s = 0, and validity exactly at its edges on the card.
 */
import { generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, SeededRng } from '../../card/crypto/index.js';
import { ForgeSignatureProvider } from '../../card/crypto/ForgeSignatureProvider.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import {
  CentreTrust,
  Certificate,
  MIN_RSA_PUBLIC_EXPONENT,
  SettlementPkiError,
  checkSubjectKey,
} from '../../card/pki/index.js';
import { SW_SETTLE_BAD_CERTIFICATE, SW_SETTLE_EXPIRED } from '../../card/applets/settle/constants.js';
import { SW_WRONG_DATA } from '../../card/iso7816/sw.js';
import { ManagementCentre } from '../../host/settlement/ManagementCentre.js';
import {
  A,
  Centre,
  DAY,
  T0,
  ascii,
  hexSw,
  issueCard,
  provider,
  tx,
  type IssuedCard,
} from './fixtureSettle.js';

const ALG = 'ecdsa-p256-sha256' as const;
const centre = new Centre(ascii('CENTRE-RT2'), ALG);
/** Order of the P-256 group (SEC 2 v2, §2.4.2). */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

const rsaSpki = (bits: number, e: number): Uint8Array =>
  new Uint8Array(
    generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: e }).publicKey.export({
      type: 'spki',
      format: 'der',
    }),
  );

let e3: Uint8Array;
let e65537: Uint8Array;
let rsa1024: Uint8Array;
let card: IssuedCard;
beforeAll(async () => {
  e3 = rsaSpki(2048, 3);
  e65537 = rsaSpki(2048, 65537);
  rsa1024 = rsaSpki(1024, 65537);
  card = await issueCard(centre, 'RT2-KEYS', ALG, 1000);
});

function refusal(f: () => unknown): SettlementPkiError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SettlementPkiError);
    return e as SettlementPkiError;
  }
  throw new Error('not refused');
}

describe('red team 2, keys: RSA e = 3 and 1024-bit RSA in a certificate', () => {
  it('both providers would verify under e = 3; the profile refuses it wherever a subject key is taken', () => {
    // the providers alone accept it (the reason for the policy check)
    expect(() => provider.verifier('rsa-pkcs1v15-sha256', e3)).not.toThrow();
    expect(() => new ForgeSignatureProvider().verifier('rsa-pkcs1v15-sha256', e3)).not.toThrow();
    for (const alg of ['rsa-pkcs1v15-sha256', 'rsa-pss-sha256'] as const) {
      expect(refusal(() => checkSubjectKey(alg, e3)).reason).toBe('malformed');
      expect(() => checkSubjectKey(alg, e65537)).not.toThrow();
    }
    expect(MIN_RSA_PUBLIC_EXPONENT).toBe(65537n);
    // CentreTrust: a centre-signed terminal certificate over the e = 3 key
    const trust = CentreTrust.fromAnchor(centre.anchor, provider, T0);
    const weak = centre.certify('terminal', ascii('T-E3'), e3, 'rsa-pkcs1v15-sha256');
    expect(refusal(() => trust.verifyCertificate(weak, 'terminal', T0)).message).toMatch(/exponent 3/);
    const short = centre.certify('terminal', ascii('T-1024'), rsa1024, 'rsa-pkcs1v15-sha256');
    expect(refusal(() => trust.verifyCertificate(short, 'terminal', T0)).reason).toBe('malformed');
    const good = centre.certify('terminal', ascii('T-65537'), e65537, 'rsa-pkcs1v15-sha256');
    expect(() => trust.verifyCertificate(good, 'terminal', T0)).not.toThrow();
    // an EC key declared as RSA is not an RSA key
    expect(refusal(() => checkSubjectKey('rsa-pss-sha256', card.certificate.subjectPublicKey)).reason).toBe(
      'malformed',
    );
  });

  it('checkSubjectKey: a truncated or bit-flipped SPKI is malformed, never another exception', () => {
    for (let n = 0; n < e65537.length; n += 7)
      expect(refusal(() => checkSubjectKey('rsa-pkcs1v15-sha256', e65537.subarray(0, n))).reason).toBe(
        'malformed',
      );
    for (let i = 0; i < 40; i++) {
      const bad = e65537.slice();
      bad[i] = bad[i]! ^ 0x80;
      try {
        checkSubjectKey('rsa-pss-sha256', bad);
      } catch (e) {
        expect(e).toBeInstanceOf(SettlementPkiError);
      }
    }
  });

  it('the card refuses PRESENT TERMINAL with the e = 3 or 1024-bit certificate (6A80), takes e = 65537', () => {
    for (const [spki, sw] of [
      [e3, SW_WRONG_DATA],
      [rsa1024, SW_WRONG_DATA],
      [e65537, 0x9000],
    ] as const) {
      const cert = centre.certify('terminal', ascii('T-RSA'), spki, 'rsa-pkcs1v15-sha256');
      tx(card.card, A.selectSettle());
      expect(hexSw(tx(card.card, A.presentTerminal(T0, cert.encode())).sw)).toBe(hexSw(sw));
    }
  });

  it('the centre refuses to certify an e = 3 key (RangeError naming spki), certifies e = 65537', () => {
    const mc = new ManagementCentre({
      file: ':memory:',
      provider,
      clock: new ManualClock(T0),
      rng: new SeededRng('rt2-keys'),
      maxValue: 1000,
      centreId: fromHex('C0FFEE03'),
    });
    try {
      const chain = { key: new Uint8Array(16), ts0: new Uint8Array(16) };
      const v = { notBefore: T0, notAfter: T0 + DAY };
      expect(() => mc.certifyTerminal(ascii('T1'), e3, chain, v, 'rsa-pkcs1v15-sha256')).toThrow(
        /spki.*exponent 3/,
      );
      expect(mc.terminal(ascii('T1'))).toBeUndefined();
      expect(mc.certifyTerminal(ascii('T1'), e65537, chain, v, 'rsa-pkcs1v15-sha256').serial).toBeGreaterThan(
        0,
      );
    } finally {
      mc.close();
    }
  });
});

describe('red team 2, signatures: ECDSA s > n/2, r = 0, s = 0', () => {
  const variants = (sig: Uint8Array) => {
    const s = BigInt(`0x${toHex(sig.subarray(32))}`);
    const hi = sig.slice();
    hi.set(fromHex((P256_N - s).toString(16).padStart(64, '0')), 32);
    const r0 = sig.slice();
    r0.fill(0, 0, 32);
    const s0 = sig.slice();
    s0.fill(0, 32);
    const sN = sig.slice();
    sN.set(fromHex(P256_N.toString(16)), 32);
    return { hi, r0, s0, sN };
  };

  it('a certificate whose signature is malleated to n − s still verifies (same tbs); r = 0, s = 0, s = n do not', () => {
    const trust = CentreTrust.fromAnchor(centre.anchor, provider, T0);
    const cert = centre.certify('terminal', ascii('T-M'), card.certificate.subjectPublicKey, ALG);
    const { hi, r0, s0, sN } = variants(cert.signature);
    const with_ = (signature: Uint8Array) =>
      Certificate.decode(
        new Certificate({
          ...fieldsOf(cert),
          signatureAlgorithm: cert.signatureAlgorithm,
          signature,
        }).encode(),
      );
    // malleable: anything keyed on a signed structure must key on tbs() (the centre's service records do)
    expect(() => trust.verifyCertificate(with_(hi), 'terminal', T0)).not.toThrow();
    expect(with_(hi).tbs()).toEqual(cert.tbs());
    for (const bad of [r0, s0, sN])
      expect(refusal(() => trust.verifyCertificate(with_(bad), 'terminal', T0)).reason).toBe('bad-signature');
  });

  it('the card refuses a terminal certificate with r = 0 or s = 0 (9411), whatever else is right', () => {
    const cert = centre.certify('terminal', ascii('T-Z'), card.certificate.subjectPublicKey, ALG);
    const { r0, s0 } = variants(cert.signature);
    for (const bad of [r0, s0]) {
      const der = new Certificate({
        ...fieldsOf(cert),
        signatureAlgorithm: cert.signatureAlgorithm,
        signature: bad,
      }).encode();
      tx(card.card, A.selectSettle());
      expect(hexSw(tx(card.card, A.presentTerminal(T0, der)).sw)).toBe(hexSw(SW_SETTLE_BAD_CERTIFICATE));
    }
  });
});

describe('red team 2, validity at its edges on the card', () => {
  it('a terminal certificate is taken at notBefore and at notAfter, refused one second outside each', () => {
    const nb = T0 + 10 * DAY;
    const na = T0 + 20 * DAY;
    const cert = centre.certify('terminal', ascii('T-EDGE'), card.certificate.subjectPublicKey, ALG, nb, na);
    const at = (now: number) => {
      tx(card.card, A.selectSettle());
      return hexSw(tx(card.card, A.presentTerminal(now, cert.encode())).sw);
    };
    expect(at(nb - 1000)).toBe(hexSw(SW_SETTLE_EXPIRED));
    expect(at(nb)).toBe('9000');
    expect(at(na)).toBe('9000');
    expect(at(na + 1000)).toBe(hexSw(SW_SETTLE_EXPIRED));
  });
});

function fieldsOf(c: Certificate) {
  return {
    centreId: c.centreId,
    serial: c.serial,
    subjectKind: c.subjectKind,
    subjectId: c.subjectId,
    subjectPublicKey: c.subjectPublicKey,
    subjectKeyAlgorithm: c.subjectKeyAlgorithm,
    notBefore: c.notBefore,
    notAfter: c.notAfter,
  };
}
