/**
 * Signatures for the public-key profile of seed 004 (card and terminal key pairs certified by the
 * management centre, signed remaining values): RSA-2048 with PKCS#1 v1.5 or PSS, and ECDSA P-256,
 * all over SHA-256. Two implementations: {@link NodeSignatureProvider} (every algorithm) and
 * {@link ForgeSignatureProvider} (RSA only — node-forge has no ECDSA P-256, so it throws
 * {@link UnsupportedAlgorithmError} rather than pretend).
 *
 * Keys travel between implementations as DER: PKCS#8 `PrivateKeyInfo` for private keys and
 * X.509 `SubjectPublicKeyInfo` for public keys (RFC 5208, RFC 5280 §4.1.2.7). PEM and JWK are
 * converted to and from DER by the helpers here.
 */
import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { KeyFormatError } from './errors.js';
import { MalformedDataError } from '../iso7816/errors.js';

/**
 * - `rsa-pkcs1v15-sha256`: RSASSA-PKCS1-v1_5 (RFC 8017 §8.2) with SHA-256.
 * - `rsa-pss-sha256`: RSASSA-PSS (RFC 8017 §8.1), SHA-256, MGF1-SHA-256, 32-byte salt.
 * - `ecdsa-p256-sha256`: ECDSA (FIPS 186-4) on P-256 with SHA-256.
 */
export type SignatureAlgorithm = 'rsa-pkcs1v15-sha256' | 'rsa-pss-sha256' | 'ecdsa-p256-sha256';

export const SIGNATURE_ALGORITHMS: readonly SignatureAlgorithm[] = [
  'rsa-pkcs1v15-sha256',
  'rsa-pss-sha256',
  'ecdsa-p256-sha256',
];

/** ECDSA signature encoding: `raw` = r‖s, 32 bytes each (IEEE P1363); `der` = SEQUENCE { r, s } (RFC 3279). */
export type EcdsaSignatureFormat = 'raw' | 'der';

/** PSS salt length in bytes (the SHA-256 output length, RFC 8017 §9.1 recommendation). */
export const PSS_SALT_LENGTH = 32;

/** RSA modulus size this profile generates and the minimum it accepts. */
export const RSA_BITS = 2048;

export interface Signer {
  readonly algorithm: SignatureAlgorithm;
  /** Signs `data` (hashed inside with SHA-256). */
  sign(data: Uint8Array): Uint8Array;
}

export interface Verifier {
  readonly algorithm: SignatureAlgorithm;
  /** True only for a valid signature; a wrong, truncated or garbled signature gives false. */
  verify(data: Uint8Array, signature: Uint8Array): boolean;
}

/** A generated key pair as DER: PKCS#8 private key, SubjectPublicKeyInfo public key. */
export interface KeyPairDer {
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** A key given as DER bytes (PKCS#8 / SPKI), a PEM string, or a JWK object. */
export type KeyInput = Uint8Array | string | JsonWebKey;

export interface SignerOptions {
  /** ECDSA only; default 'raw'. */
  readonly ecdsaFormat?: EcdsaSignatureFormat;
}

/** One implementation of the signature algorithms. */
export interface SignatureProvider {
  /** 'node' or 'forge'. */
  readonly name: string;
  supports(alg: SignatureAlgorithm): boolean;
  /**
   * RSA-2048 (e = 65537) or P-256 key pair.
   * @throws UnsupportedAlgorithmError when this implementation cannot do `alg`.
   */
  generateKeyPair(alg: SignatureAlgorithm): KeyPairDer;
  /** @throws UnsupportedAlgorithmError; KeyFormatError when the key cannot be read or does not suit `alg`. */
  signer(alg: SignatureAlgorithm, privateKey: KeyInput, options?: SignerOptions): Signer;
  /** @throws UnsupportedAlgorithmError; KeyFormatError when the key cannot be read or does not suit `alg`. */
  verifier(alg: SignatureAlgorithm, publicKey: KeyInput, options?: SignerOptions): Verifier;
}

/** @throws RangeError naming `alg` when it is not one of {@link SIGNATURE_ALGORITHMS}. */
export function checkSignatureAlgorithm(alg: unknown): asserts alg is SignatureAlgorithm {
  if (!SIGNATURE_ALGORITHMS.includes(alg as SignatureAlgorithm))
    throw new RangeError(`alg must be one of ${SIGNATURE_ALGORITHMS.join(', ')}, got ${String(alg)}`);
}

/** @throws RangeError naming `ecdsaFormat` when it is neither 'raw' nor 'der'. */
export function checkEcdsaFormat(format: unknown): EcdsaSignatureFormat {
  if (format === undefined) return 'raw';
  if (format !== 'raw' && format !== 'der')
    throw new RangeError(`ecdsaFormat must be 'raw' or 'der', got ${String(format)}`);
  return format;
}

// ---------------------------------------------------------------------------------------------
// PEM (RFC 7468)

/** DER → PEM with the given label ('PRIVATE KEY', 'PUBLIC KEY'), 64 base64 characters per line. */
export function pemEncode(der: Uint8Array, label: string): string {
  if (!(der instanceof Uint8Array)) throw new TypeError('der must be a Uint8Array');
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/**
 * PEM → label and DER (first block only).
 * @throws KeyFormatError when there is no BEGIN/END pair with the same label or the base64 is bad.
 */
export function pemDecode(pem: string): { label: string; der: Uint8Array } {
  if (typeof pem !== 'string') throw new TypeError('pem must be a string');
  const m = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/.exec(pem);
  if (!m) throw new KeyFormatError('pem', 'no BEGIN/END block');
  if (m[1] !== m[3]) throw new KeyFormatError('pem', `BEGIN ${m[1]} ends with END ${m[3]}`);
  const body = m[2]!.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0)
    throw new KeyFormatError('pem', 'body is not base64');
  return { label: m[1]!, der: Uint8Array.from(Buffer.from(body, 'base64')) };
}

// ---------------------------------------------------------------------------------------------
// Key input normalisation (uses node:crypto's parser for JWK and to validate DER; the signing
// itself stays with each provider).

/**
 * Any {@link KeyInput} → node:crypto key object (private for 'private', public for 'public'); a
 * private key given where a public key is wanted yields its public half. The Buffer copy of a DER
 * private key handed to OpenSSL is zeroed after the import.
 * @throws KeyFormatError when the input cannot be parsed.
 */
export function importKey(input: KeyInput, kind: 'private' | 'public'): KeyObject {
  try {
    if (input instanceof Uint8Array) {
      const buf = Buffer.from(input);
      try {
        return kind === 'private'
          ? createPrivateKey({ key: buf, format: 'der', type: 'pkcs8' })
          : createPublicKey({ key: buf, format: 'der', type: 'spki' });
      } finally {
        if (kind === 'private') buf.fill(0);
      }
    }
    if (typeof input === 'string')
      return kind === 'private' ? createPrivateKey(input) : createPublicKey(input);
    if (input !== null && typeof input === 'object')
      return kind === 'private'
        ? createPrivateKey({ key: input, format: 'jwk' })
        : createPublicKey({ key: input, format: 'jwk' });
    throw new TypeError('key must be DER bytes, a PEM string or a JWK object');
  } catch (e) {
    if (e instanceof TypeError && e.message.startsWith('key must')) throw e;
    throw new KeyFormatError(
      input instanceof Uint8Array ? 'der' : typeof input === 'string' ? 'pem' : 'jwk',
      (e as Error).message,
    );
  }
}

/**
 * Any {@link KeyInput} → DER (PKCS#8 for 'private', SPKI for 'public'); a private key given where
 * a public key is wanted yields its public half.
 * @throws KeyFormatError when the input cannot be parsed.
 */
export function keyToDer(input: KeyInput, kind: 'private' | 'public'): Uint8Array {
  const key = importKey(input, kind);
  const der =
    kind === 'private'
      ? key.export({ format: 'der', type: 'pkcs8' })
      : key.export({ format: 'der', type: 'spki' });
  const out = Uint8Array.from(der);
  der.fill(0);
  return out;
}

/** DER (PKCS#8 or SPKI) → JWK. @throws KeyFormatError when it cannot be parsed. */
export function derToJwk(der: Uint8Array, kind: 'private' | 'public'): JsonWebKey {
  try {
    const buf = Buffer.from(der);
    const key =
      kind === 'private'
        ? createPrivateKey({ key: buf, format: 'der', type: 'pkcs8' })
        : createPublicKey({ key: buf, format: 'der', type: 'spki' });
    buf.fill(0);
    return key.export({ format: 'jwk' });
  } catch (e) {
    throw new KeyFormatError('der', (e as Error).message);
  }
}

// ---------------------------------------------------------------------------------------------
// ECDSA signature encodings (IEEE P1363 r‖s ↔ DER SEQUENCE { INTEGER r, INTEGER s }).

const P256_SCALAR = 32;

/** r‖s (64 bytes) → DER `SEQUENCE { INTEGER r, INTEGER s }`. @throws RangeError naming `raw`. */
export function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  if (!(raw instanceof Uint8Array)) throw new TypeError('raw must be a Uint8Array');
  if (raw.length !== 2 * P256_SCALAR)
    throw new RangeError(`raw must be ${2 * P256_SCALAR} bytes, got ${raw.length}`);
  const int = (v: Uint8Array): number[] => {
    let i = 0;
    while (i < v.length - 1 && v[i] === 0) i++;
    const body = Array.from(v.subarray(i));
    if (body[0]! & 0x80) body.unshift(0);
    return [0x02, body.length, ...body];
  };
  const seq = [...int(raw.subarray(0, P256_SCALAR)), ...int(raw.subarray(P256_SCALAR))];
  return Uint8Array.from([0x30, seq.length, ...seq]);
}

/**
 * DER `SEQUENCE { INTEGER r, INTEGER s }` → r‖s (64 bytes).
 * @throws MalformedDataError (kind 'ecdsa-signature') with the offset of the first bad byte.
 */
export function ecdsaDerToRaw(der: Uint8Array): Uint8Array {
  if (!(der instanceof Uint8Array)) throw new TypeError('der must be a Uint8Array');
  const fail = (reason: string, offset: number): never => {
    throw new MalformedDataError(reason, offset, Uint8Array.from(der), 'ecdsa-signature');
  };
  if (der.length < 8 || der.length > 72) fail(`length ${der.length} is outside 8..72`, 0);
  if (der[0] !== 0x30) fail('expected SEQUENCE (30)', 0);
  if (der[1] !== der.length - 2) fail('SEQUENCE length does not match', 1);
  const out = new Uint8Array(2 * P256_SCALAR);
  let o = 2;
  for (let n = 0; n < 2; n++) {
    if (der[o] !== 0x02) fail('expected INTEGER (02)', o);
    const len = der[o + 1] ?? fail('truncated', o + 1);
    if (len < 1 || o + 2 + len > der.length) fail('INTEGER length out of range', o + 1);
    let v = der.subarray(o + 2, o + 2 + len);
    if (v[0]! & 0x80) fail('negative INTEGER', o + 2);
    if (v.length > 1 && v[0] === 0 && !(v[1]! & 0x80)) fail('non-minimal INTEGER', o + 2);
    if (v[0] === 0) v = v.subarray(1);
    if (v.length > P256_SCALAR) fail('INTEGER longer than 32 bytes', o + 2);
    out.set(v, n * P256_SCALAR + P256_SCALAR - v.length);
    o += 2 + len;
  }
  if (o !== der.length) fail('trailing bytes', o);
  return out;
}
