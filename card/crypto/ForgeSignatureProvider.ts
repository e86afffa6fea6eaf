import forge from 'node-forge';
import {
  PSS_SALT_LENGTH,
  RSA_BITS,
  checkEcdsaFormat,
  checkSignatureAlgorithm,
  keyToDer,
  type KeyInput,
  type KeyPairDer,
  type SignatureAlgorithm,
  type SignatureProvider,
  type Signer,
  type SignerOptions,
  type Verifier,
} from './signature.js';
import { KeyFormatError, UnsupportedAlgorithmError } from './errors.js';
import { fromBinary, toBinary } from './ForgeCipherProvider.js';

/**
 * RSA-2048 PKCS#1 v1.5 and PSS over `node-forge`.
 *
 * **ECDSA P-256 is not available**: node-forge implements RSA and Ed25519 only. Every ECDSA call
 * throws {@link UnsupportedAlgorithmError}; `supports('ecdsa-p256-sha256')` is false.
 *
 * Notes: when running on Node, forge's own `generateKeyPair` hands RSA key generation to
 * `crypto.generateKeyPairSync` (forge's documented behaviour; pure-JS generation of 2048-bit keys
 * takes seconds). Signing and verification are forge's own code. Key input in PEM or JWK form is
 * first normalised to DER by `keyToDer` (node:crypto's parser), then read by forge's ASN.1 reader.
 */
export class ForgeSignatureProvider implements SignatureProvider {
  readonly name = 'forge';

  supports(alg: SignatureAlgorithm): boolean {
    checkSignatureAlgorithm(alg);
    return alg !== 'ecdsa-p256-sha256';
  }

  /** @throws UnsupportedAlgorithmError for ECDSA. */
  generateKeyPair(alg: SignatureAlgorithm): KeyPairDer {
    this.#need(alg);
    const pair = forge.pki.rsa.generateKeyPair({ bits: RSA_BITS, e: 0x10001 });
    const priv = forge.asn1
      .toDer(forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(pair.privateKey)))
      .getBytes();
    const pub = forge.asn1.toDer(forge.pki.publicKeyToAsn1(pair.publicKey)).getBytes();
    return { privateKey: fromBinary(priv), publicKey: fromBinary(pub) };
  }

  /** @throws UnsupportedAlgorithmError for ECDSA; KeyFormatError when the key is not RSA-2048+. */
  signer(alg: SignatureAlgorithm, privateKey: KeyInput, options?: SignerOptions): Signer {
    this.#need(alg);
    checkEcdsaFormat(options?.ecdsaFormat);
    const der = keyToDer(privateKey, 'private');
    let key: forge.pki.rsa.PrivateKey;
    try {
      key = forge.pki.privateKeyFromAsn1(forge.asn1.fromDer(toBinary(der))) as forge.pki.rsa.PrivateKey;
    } catch (e) {
      throw new KeyFormatError('key', `${alg} needs an RSA key (${(e as Error).message})`);
    } finally {
      der.fill(0);
    }
    checkBits(alg, key.n);
    return {
      algorithm: alg,
      sign: (data: Uint8Array): Uint8Array => {
        if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
        const md = forge.md.sha256.create();
        md.update(toBinary(data));
        return fromBinary(alg === 'rsa-pss-sha256' ? key.sign(md, pss()) : key.sign(md, 'RSASSA-PKCS1-V1_5'));
      },
    };
  }

  /** @throws UnsupportedAlgorithmError for ECDSA; KeyFormatError when the key is not RSA-2048+. */
  verifier(alg: SignatureAlgorithm, publicKey: KeyInput, options?: SignerOptions): Verifier {
    this.#need(alg);
    checkEcdsaFormat(options?.ecdsaFormat);
    const der = keyToDer(publicKey, 'public');
    let key: forge.pki.rsa.PublicKey;
    try {
      key = forge.pki.publicKeyFromAsn1(forge.asn1.fromDer(toBinary(der))) as forge.pki.rsa.PublicKey;
    } catch (e) {
      throw new KeyFormatError('key', `${alg} needs an RSA key (${(e as Error).message})`);
    }
    checkBits(alg, key.n);
    const modulusBytes = Math.ceil(key.n.bitLength() / 8);
    return {
      algorithm: alg,
      verify: (data: Uint8Array, signature: Uint8Array): boolean => {
        if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
        if (!(signature instanceof Uint8Array)) throw new TypeError('signature must be a Uint8Array');
        if (signature.length !== modulusBytes) return false;
        const md = forge.md.sha256.create();
        md.update(toBinary(data));
        try {
          return alg === 'rsa-pss-sha256'
            ? key.verify(md.digest().getBytes(), toBinary(signature), pss())
            : key.verify(md.digest().getBytes(), toBinary(signature), 'RSASSA-PKCS1-V1_5');
        } catch {
          // forge throws on some malformed encodings (bad padding, wrong DigestInfo); that is "invalid".
          return false;
        }
      },
    };
  }

  #need(alg: SignatureAlgorithm): void {
    if (!this.supports(alg)) throw new UnsupportedAlgorithmError(alg, this.name);
  }
}

function pss(): forge.pss.PSS {
  return forge.pss.create({
    md: forge.md.sha256.create(),
    mgf: forge.mgf.mgf1.create(forge.md.sha256.create()),
    saltLength: PSS_SALT_LENGTH,
  });
}

function checkBits(alg: SignatureAlgorithm, n: forge.jsbn.BigInteger): void {
  const bits = n.bitLength();
  if (bits < RSA_BITS)
    throw new KeyFormatError('key', `${alg} needs at least ${RSA_BITS}-bit RSA, got ${bits}`);
}
