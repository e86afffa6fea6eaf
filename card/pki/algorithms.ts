/**
 * Signature algorithm identifiers of the profile and the one encoding rule for signatures.
 *
 * OIDs are the standard ones: sha256WithRSAEncryption (RFC 8017 App. C / RFC 4055),
 * id-RSASSA-PSS (RFC 8017, parameters fixed by this profile to SHA-256, MGF1-SHA-256, 32-byte salt,
 * trailer 1, so none are encoded), ecdsa-with-SHA256 (RFC 5758 §3.2).
 *
 * ECDSA signatures are stored and exchanged **raw**, r‖s, 64 bytes (IEEE P1363), the default of
 * card/crypto's providers — not the DER `Ecdsa-Sig-Value` of X.509. A fixed size suits a card's
 * files, and the default verifier of either provider accepts it. {@link signWith} converts the
 * output of a signer made with `{ ecdsaFormat: 'der' }` to raw (a 64-byte output is taken as raw);
 * decoders refuse an ECDSA signature that is not exactly 64 bytes.
 */
import { ecdsaDerToRaw, type SignatureAlgorithm, type Signer, type Verifier } from '../crypto/signature.js';
import { MalformedDataError } from '../iso7816/errors.js';
import { SettlementPkiError } from './errors.js';
import type { Node } from './internal/der.js';

export const OID_SHA256_WITH_RSA = '1.2.840.113549.1.1.11';
export const OID_RSASSA_PSS = '1.2.840.113549.1.1.10';
export const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

const TO_OID: Record<SignatureAlgorithm, string> = {
  'rsa-pkcs1v15-sha256': OID_SHA256_WITH_RSA,
  'rsa-pss-sha256': OID_RSASSA_PSS,
  'ecdsa-p256-sha256': OID_ECDSA_WITH_SHA256,
};

/** @throws RangeError naming `alg` when it is not a profile algorithm. */
export function oidOfAlgorithm(alg: SignatureAlgorithm): string {
  const oid = TO_OID[alg];
  if (oid === undefined) throw new RangeError(`alg must be a SignatureAlgorithm, got ${String(alg)}`);
  return oid;
}

/** The profile algorithm of an OID, or undefined for any other OID. */
export function algorithmOfOid(oid: string): SignatureAlgorithm | undefined {
  for (const [alg, o] of Object.entries(TO_OID)) if (o === oid) return alg as SignatureAlgorithm;
  return undefined;
}

/** ECDSA P-256 raw signature length. */
export const ECDSA_SIGNATURE_LENGTH = 64;
/** Shortest RSA signature accepted (RSA-2048). */
export const MIN_RSA_SIGNATURE_LENGTH = 256;

/**
 * Signs `data` and returns the signature in the profile's form (raw r‖s for ECDSA).
 * @throws RangeError when an ECDSA signer returns neither 64 raw bytes nor a DER signature.
 */
export function signWith(signer: Signer, data: Uint8Array): Uint8Array {
  const sig = signer.sign(data);
  if (signer.algorithm !== 'ecdsa-p256-sha256' || sig.length === ECDSA_SIGNATURE_LENGTH) return sig;
  try {
    return ecdsaDerToRaw(sig);
  } catch (e) {
    if (e instanceof MalformedDataError)
      throw new RangeError(`signer returned an ECDSA signature in no known form: ${e.message}`);
    throw e;
  }
}

/** Decode-time shape check of a signature for a known algorithm (unknown OIDs pass; verification refuses them). */
export function checkSignatureShape(oid: string, sig: Uint8Array, at: Node): void {
  const alg = algorithmOfOid(oid);
  if (alg === 'ecdsa-p256-sha256' && sig.length !== ECDSA_SIGNATURE_LENGTH)
    at.fail(`an ECDSA signature is raw r||s, ${ECDSA_SIGNATURE_LENGTH} bytes; got ${sig.length}`);
  if ((alg === 'rsa-pkcs1v15-sha256' || alg === 'rsa-pss-sha256') && sig.length < MIN_RSA_SIGNATURE_LENGTH)
    at.fail(`an RSA signature is at least ${MIN_RSA_SIGNATURE_LENGTH} bytes; got ${sig.length}`);
}

/**
 * Checks that `oid` names the verifier's algorithm and that the signature verifies over `data`.
 * @throws SettlementPkiError 'unsupported-algorithm' or 'bad-signature'.
 */
export function requireSignature(
  verifier: Verifier,
  oid: string,
  data: Uint8Array,
  sig: Uint8Array,
  what: string,
): void {
  const alg = algorithmOfOid(oid);
  if (alg === undefined)
    throw new SettlementPkiError('unsupported-algorithm', `${what}: unknown signature algorithm ${oid}`);
  if (alg !== verifier.algorithm)
    throw new SettlementPkiError(
      'unsupported-algorithm',
      `${what}: signed with ${alg}, the signer's key is ${verifier.algorithm}`,
    );
  if (!verifier.verify(data, sig))
    throw new SettlementPkiError('bad-signature', `${what}: signature does not verify`);
}
