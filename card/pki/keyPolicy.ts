/**
 * What the profile asks of a subject key beyond "the provider can read it": an RSA key's public
 * exponent e must be at least 65537 (FIPS 186-5 §5.4 (e): 2^16 < e < 2^256; e = 3 is the exponent
 * that Bleichenbacher's 2006 PKCS#1 v1.5 forgery and its many verifier-bug variants need). The
 * providers already refuse RSA below 2048 bits and keys of the wrong type.
 */
import { MalformedDataError } from '../iso7816/errors.js';
import type { SignatureAlgorithm } from '../crypto/signature.js';
import { SettlementPkiError } from './errors.js';

/** Smallest RSA public exponent accepted in a certificate (FIPS 186-5 §5.4). */
export const MIN_RSA_PUBLIC_EXPONENT = 65537n;

/** One DER TLV at `o` (definite length, ≤ 4 length octets): [tag, contentStart, end]. */
function tlv(b: Uint8Array, o: number, tag: number, what: string): [number, number] {
  if (b[o] !== tag) throw new MalformedDataError(`expected ${what}`, o, b, 'SubjectPublicKeyInfo');
  let len = b[o + 1] ?? 0;
  let start = o + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 4) throw new MalformedDataError(`bad length of ${what}`, o, b, 'SubjectPublicKeyInfo');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (b[start + i] ?? 0);
    start += n;
  }
  if (start + len > b.length)
    throw new MalformedDataError(`${what} runs past the end`, o, b, 'SubjectPublicKeyInfo');
  return [start, start + len];
}

/** The public exponent e of an RSA SubjectPublicKeyInfo (RFC 5280 §4.1.2.7, RFC 8017 §A.1.1). */
function rsaExponent(spki: Uint8Array): bigint {
  const [s0] = tlv(spki, 0, 0x30, 'SubjectPublicKeyInfo');
  const [, algEnd] = tlv(spki, s0, 0x30, 'AlgorithmIdentifier');
  const [bits] = tlv(spki, algEnd, 0x03, 'subjectPublicKey (BIT STRING)');
  if (spki[bits] !== 0)
    throw new MalformedDataError('unused bits in the key', bits, spki, 'SubjectPublicKeyInfo');
  const [k0] = tlv(spki, bits + 1, 0x30, 'RSAPublicKey');
  const [, nEnd] = tlv(spki, k0, 0x02, 'modulus');
  const [e0, eEnd] = tlv(spki, nEnd, 0x02, 'publicExponent');
  if (eEnd === e0 || spki[e0]! & 0x80)
    throw new MalformedDataError('publicExponent not positive', e0, spki, 'SubjectPublicKeyInfo');
  let v = 0n;
  for (let i = e0; i < eEnd; i++) v = (v << 8n) | BigInt(spki[i]!);
  return v;
}

/**
 * Refuses a subject key the profile does not accept (see the file comment).
 * @throws SettlementPkiError 'malformed' naming why.
 */
export function checkSubjectKey(alg: SignatureAlgorithm, spki: Uint8Array): void {
  if (alg !== 'rsa-pkcs1v15-sha256' && alg !== 'rsa-pss-sha256') return;
  let e: bigint;
  try {
    e = rsaExponent(spki);
  } catch (err) {
    if (err instanceof MalformedDataError)
      throw new SettlementPkiError('malformed', `subject key: not an RSA key (${err.reason})`);
    throw err;
  }
  if (e < MIN_RSA_PUBLIC_EXPONENT || (e & 1n) === 0n)
    throw new SettlementPkiError(
      'malformed',
      `subject key: RSA public exponent ${e} refused (odd, at least ${MIN_RSA_PUBLIC_EXPONENT}: FIPS 186-5 §5.4)`,
    );
}
