import { constants, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import {
  PSS_SALT_LENGTH,
  RSA_BITS,
  checkEcdsaFormat,
  checkSignatureAlgorithm,
  importKey,
  type KeyInput,
  type KeyPairDer,
  type SignatureAlgorithm,
  type SignatureProvider,
  type Signer,
  type SignerOptions,
  type Verifier,
} from './signature.js';
import { KeyFormatError } from './errors.js';

/**
 * RSA-2048 PKCS#1 v1.5 / PSS and ECDSA P-256 over `node:crypto` (OpenSSL). Key generation uses
 * OpenSSL's own randomness (an injected {@link Rng} cannot reach it).
 */
export class NodeSignatureProvider implements SignatureProvider {
  readonly name = 'node';

  supports(alg: SignatureAlgorithm): boolean {
    checkSignatureAlgorithm(alg);
    return true;
  }

  /** @throws RangeError naming `alg` when unknown. */
  generateKeyPair(alg: SignatureAlgorithm): KeyPairDer {
    checkSignatureAlgorithm(alg);
    const pair =
      alg === 'ecdsa-p256-sha256'
        ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
        : generateKeyPairSync('rsa', { modulusLength: RSA_BITS, publicExponent: 0x10001 });
    const priv = pair.privateKey.export({ format: 'der', type: 'pkcs8' });
    const pub = pair.publicKey.export({ format: 'der', type: 'spki' });
    const out = { privateKey: Uint8Array.from(priv), publicKey: Uint8Array.from(pub) };
    priv.fill(0);
    return out;
  }

  /** @throws KeyFormatError when the key cannot be read or does not suit `alg`. */
  signer(alg: SignatureAlgorithm, privateKey: KeyInput, options?: SignerOptions): Signer {
    checkSignatureAlgorithm(alg);
    const format = checkEcdsaFormat(options?.ecdsaFormat);
    // One import, straight from the input (the Buffer copy handed to OpenSSL is zeroed inside).
    const key = importKey(privateKey, 'private');
    checkKeyType(alg, key);
    const opts = signOptions(alg, key, format);
    return {
      algorithm: alg,
      sign: (data: Uint8Array): Uint8Array => {
        if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
        return Uint8Array.from(sign('sha256', data, opts));
      },
    };
  }

  /** @throws KeyFormatError when the key cannot be read or does not suit `alg`. */
  verifier(alg: SignatureAlgorithm, publicKey: KeyInput, options?: SignerOptions): Verifier {
    checkSignatureAlgorithm(alg);
    const format = checkEcdsaFormat(options?.ecdsaFormat);
    const key = importKey(publicKey, 'public');
    checkKeyType(alg, key);
    const opts = signOptions(alg, key, format);
    // RFC 8017 §8.1.2 / §8.2.2 step 1: an RSA signature must be exactly k = modulus bytes long.
    // OpenSSL 3 accepts, for PSS, a shorter string denoting the same integer (a signature whose
    // first byte is 00, minus that byte); we do not. Raw ECDSA signatures are exactly r‖s, 64 bytes.
    const exactLength =
      alg === 'ecdsa-p256-sha256'
        ? format === 'raw'
          ? 64
          : undefined
        : Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
    return {
      algorithm: alg,
      verify: (data: Uint8Array, signature: Uint8Array): boolean => {
        if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
        if (!(signature instanceof Uint8Array)) throw new TypeError('signature must be a Uint8Array');
        if (exactLength !== undefined && signature.length !== exactLength) return false;
        try {
          return verify('sha256', data, opts, signature);
        } catch {
          // OpenSSL rejects some malformed encodings by throwing; to a caller that is just "invalid".
          return false;
        }
      },
    };
  }
}

function checkKeyType(alg: SignatureAlgorithm, key: KeyObject): void {
  if (alg === 'ecdsa-p256-sha256') {
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
      throw new KeyFormatError('key', `${alg} needs a P-256 key, got ${describe(key)}`);
  } else {
    if (key.asymmetricKeyType !== 'rsa')
      throw new KeyFormatError('key', `${alg} needs an RSA key, got ${describe(key)}`);
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < RSA_BITS)
      throw new KeyFormatError('key', `${alg} needs at least ${RSA_BITS}-bit RSA, got ${bits}`);
  }
}

function describe(key: KeyObject): string {
  const d = key.asymmetricKeyDetails;
  return `${key.asymmetricKeyType ?? 'unknown'}${d?.namedCurve ? ` ${d.namedCurve}` : ''}${d?.modulusLength ? ` ${d.modulusLength}` : ''}`;
}

function signOptions(alg: SignatureAlgorithm, key: KeyObject, format: 'raw' | 'der') {
  if (alg === 'ecdsa-p256-sha256')
    return { key, dsaEncoding: format === 'raw' ? ('ieee-p1363' as const) : ('der' as const) };
  if (alg === 'rsa-pss-sha256')
    return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: PSS_SALT_LENGTH };
  return { key, padding: constants.RSA_PKCS1_PADDING };
}
