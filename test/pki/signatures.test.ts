/**
 * Signatures of the settlement structures with both providers (card/crypto): RSA-2048 PKCS#1 v1.5
 * and PSS, ECDSA P-256 with node; RSA with forge; cross-checks; the raw-vs-DER rule for ECDSA.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ForgeSignatureProvider,
  NodeSignatureProvider,
  ecdsaRawToDer,
  type SignatureAlgorithm,
  type SignatureProvider,
} from '../../card/crypto/index.js';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { toHex } from '../../card/util/hex.js';
import {
  Certificate,
  CentreTrust,
  ECDSA_SIGNATURE_LENGTH,
  OID_ECDSA_WITH_SHA256,
  OID_RSASSA_PSS,
  OID_SHA256_WITH_RSA,
  SettlementPkiError,
  SignedValue,
  cardValueInput,
  signWith,
  subjectVerifier,
} from '../../card/pki/index.js';
import { T0, YEAR, certFields, ids, node, party } from './fixtures.js';

const forge = new ForgeSignatureProvider();

function reasonOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof SettlementPkiError) return e.reason;
    throw e;
  }
  return 'ok';
}

const ALGS: [SignatureAlgorithm, string][] = [
  ['rsa-pkcs1v15-sha256', OID_SHA256_WITH_RSA],
  ['rsa-pss-sha256', OID_RSASSA_PSS],
  ['ecdsa-p256-sha256', OID_ECDSA_WITH_SHA256],
];

/** The suite each provider runs (STYLE.md rule 7). */
function suite(provider: SignatureProvider) {
  describe(`provider ${provider.name}`, () => {
    for (const [alg, oid] of ALGS) {
      if (!provider.supports(alg)) continue;
      it(`${alg}: anchor, certificate and signed value sign, encode, decode and verify; OID ${oid}`, () => {
        const c = party(alg, 0);
        const t = party(alg, 1);
        const csign = provider.signer(alg, c.keys.privateKey);
        const anchor = Certificate.sign(
          certFields('centre', ids.centre, c, { notAfter: T0 + 5 * YEAR }),
          csign,
        );
        expect(anchor.signatureAlgorithm).toBe(oid);
        if (alg === 'ecdsa-p256-sha256') expect(anchor.signature.length).toBe(ECDSA_SIGNATURE_LENGTH);
        const trust = CentreTrust.fromAnchor(Certificate.decode(anchor.encode()), provider, T0);
        const cert = Certificate.decode(
          Certificate.sign(certFields('terminal', ids.terminal, t), csign).encode(),
        );
        const tv = trust.verifyCertificate(cert, 'terminal', T0 + 1000);
        expect(tv.algorithm).toBe(alg);
        // the subject's key verifies what the subject signs
        const input = cardValueInput({
          cardId: ids.card,
          terminalId: ids.terminal,
          terminalNonce: new Uint8Array(8),
          cardNonce: new Uint8Array(8),
          value: 1,
        });
        expect(tv.verify(input, signWith(provider.signer(alg, t.keys.privateKey), input))).toBe(true);
        const sv = SignedValue.sign(
          {
            centreId: ids.centre,
            signerKind: 'centre',
            signerId: ids.centre,
            cardId: ids.card,
            value: 10,
            sequence: 1,
            challenge: new Uint8Array(0),
            notAfter: T0 + YEAR,
          },
          csign,
        );
        trust.verifySignedValue(SignedValue.decode(sv.encode()), T0, { cardId: ids.card });
        // one flipped bit of the signature, or of the signed bytes, fails
        const bad = Uint8Array.from(cert.signature);
        bad[bad.length - 1]! ^= 1;
        expect(
          reasonOf(() =>
            trust.verifyCertificate(new Certificate({ ...cert, signature: bad }), 'terminal', T0),
          ),
        ).toBe('bad-signature');
        expect(
          reasonOf(() =>
            trust.verifyCertificate(
              new Certificate({
                ...cert,
                signatureAlgorithm: cert.signatureAlgorithm,
                signature: cert.signature,
                serial: 99,
              }),
              'terminal',
              T0,
            ),
          ),
        ).toBe('bad-signature');
      });
    }
  });
}

suite(node);
suite(forge);

describe('cross-checks between providers', () => {
  for (const alg of ['rsa-pkcs1v15-sha256', 'rsa-pss-sha256'] as const) {
    it(`${alg}: forge-signed verifies under node, node-signed verifies under forge`, () => {
      const c = party(alg, 0);
      const t = party(alg, 1);
      const byForge = Certificate.sign(certFields('card', ids.card, t), forge.signer(alg, c.keys.privateKey));
      const byNode = Certificate.sign(certFields('card', ids.card, t), node.signer(alg, c.keys.privateKey));
      if (alg === 'rsa-pkcs1v15-sha256') expect(toHex(byForge.signature)).toBe(toHex(byNode.signature)); // deterministic
      const anchor = Certificate.sign(
        certFields('centre', ids.centre, c),
        node.signer(alg, c.keys.privateKey),
      );
      const viaNode = CentreTrust.fromAnchor(anchor, node, T0);
      const viaForge = CentreTrust.fromAnchor(anchor, forge, T0);
      for (const cert of [byForge, byNode]) {
        expect(viaNode.verifyCertificate(cert, 'card', T0).algorithm).toBe(alg);
        expect(viaForge.verifyCertificate(cert, 'card', T0).algorithm).toBe(alg);
      }
    });
  }

  it('forge cannot verify an ECDSA anchor: unsupported-algorithm, not a crash', () => {
    const c = party('ecdsa-p256-sha256', 0);
    const anchor = Certificate.sign(certFields('centre', ids.centre, c), c.signer);
    expect(reasonOf(() => CentreTrust.fromAnchor(anchor, forge, T0))).toBe('unsupported-algorithm');
  });
});

describe('ECDSA signatures are raw r||s (64 bytes) in every structure', () => {
  let c: ReturnType<typeof party>;
  beforeAll(() => {
    c = party('ecdsa-p256-sha256', 0);
  });

  it('a signer made with ecdsaFormat der gives the same raw form in the structure', () => {
    const derSigner = node.signer('ecdsa-p256-sha256', c.keys.privateKey, { ecdsaFormat: 'der' });
    const anchor = Certificate.sign(certFields('centre', ids.centre, c), derSigner);
    expect(anchor.signature.length).toBe(64);
    CentreTrust.fromAnchor(anchor, node, T0); // verifies with the default (raw) verifier
  });

  it('a DER-encoded ECDSA signature placed in a structure is refused at decode', () => {
    const anchor = Certificate.sign(certFields('centre', ids.centre, c), c.signer);
    const withDer = new Certificate({ ...anchor, signature: ecdsaRawToDer(anchor.signature) });
    expect(() => Certificate.decode(withDer.encode())).toThrow(MalformedDataError);
  });

  it('a verifier made with ecdsaFormat der does not accept the profile signatures (use the default)', () => {
    const anchor = Certificate.sign(certFields('centre', ids.centre, c), c.signer);
    const derVerifier = node.verifier('ecdsa-p256-sha256', c.keys.publicKey, { ecdsaFormat: 'der' });
    expect(derVerifier.verify(anchor.tbs(), anchor.signature)).toBe(false);
    expect(
      subjectVerifier(node, 'ecdsa-p256-sha256', c.keys.publicKey).verify(anchor.tbs(), anchor.signature),
    ).toBe(true);
  });

  it('a signer returning neither form is refused with RangeError', () => {
    const broken = { algorithm: 'ecdsa-p256-sha256' as const, sign: () => new Uint8Array(10) };
    expect(() => Certificate.sign(certFields('centre', ids.centre, c), broken)).toThrow(RangeError);
  });
});

describe('algorithm binding', () => {
  it('an OID swapped to another algorithm is unsupported-algorithm; an unknown OID too', () => {
    const c = party('rsa-pkcs1v15-sha256', 0);
    const anchor = Certificate.sign(certFields('centre', ids.centre, c), c.signer);
    const trust = CentreTrust.fromAnchor(anchor, node, T0);
    const t = party('rsa-pkcs1v15-sha256', 1);
    const cert = Certificate.sign(certFields('terminal', ids.terminal, t), c.signer);
    expect(
      reasonOf(() =>
        trust.verifyCertificate(
          new Certificate({ ...cert, signatureAlgorithm: OID_RSASSA_PSS }),
          'terminal',
          T0,
        ),
      ),
    ).toBe('unsupported-algorithm');
    expect(
      reasonOf(() =>
        trust.verifyCertificate(new Certificate({ ...cert, signatureAlgorithm: '1.2.3.4' }), 'terminal', T0),
      ),
    ).toBe('unsupported-algorithm');
  });

  it('a certificate claiming ECDSA for an RSA key yields malformed when its verifier is made', () => {
    const c = party('rsa-pkcs1v15-sha256', 0);
    const anchor = Certificate.sign(certFields('centre', ids.centre, c), c.signer);
    const trust = CentreTrust.fromAnchor(anchor, node, T0);
    const t = party('rsa-pkcs1v15-sha256', 1);
    const cert = Certificate.sign(
      certFields('terminal', ids.terminal, t, { subjectKeyAlgorithm: 'ecdsa-p256-sha256' }),
      c.signer,
    );
    expect(reasonOf(() => trust.verifyCertificate(cert, 'terminal', T0))).toBe('malformed');
    const junk = Certificate.sign(
      certFields('terminal', ids.terminal, t, { subjectPublicKey: new Uint8Array(40).fill(7) }),
      c.signer,
    );
    expect(reasonOf(() => trust.verifyCertificate(junk, 'terminal', T0))).toBe('malformed');
  });
});

// Keep the provider class import used for the type-level check that both implement the interface.
const _providers: SignatureProvider[] = [new NodeSignatureProvider(), forge];
void _providers;
