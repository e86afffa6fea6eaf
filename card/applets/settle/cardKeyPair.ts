/**
 * The settlement card's own key pair, generated on the card at personalisation from the card's
 * Rng (seed 004 Fig. 4B has the dispenser write pU, qU; here the chip makes them, so the private
 * key never exists outside it). Drawing every random bit from the injected Rng makes a seeded
 * simulation reproduce the same card keys byte for byte (DESIGN.md "randomness is injected").
 *
 * - ECDSA P-256: d = 32 bytes from the Rng, redrawn until 1 ≤ d < n (FIPS 186-4 B.4.2, "testing
 *   candidates"); the public point from node:crypto's ECDH.
 * - RSA-2048, e = 65537: node-forge's prime search with the Rng as its PRNG (pure JavaScript,
 *   about a second: node:crypto's generator cannot take an injected Rng).
 *
 * Both come out as DER: PKCS#8 private key, SubjectPublicKeyInfo public key (card/crypto/signature.ts).
 */
import { createECDH } from 'node:crypto';
import forge from 'node-forge';
import type { Rng } from '../../crypto/types.js';
import { keyToDer, RSA_BITS, type KeyPairDer, type SignatureAlgorithm } from '../../crypto/signature.js';
import { wipe } from '../../crypto/wipe.js';

/** Order n of the P-256 base point (FIPS 186-4 D.1.2.3). */
const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

function b64url(b: Uint8Array): string {
  return Buffer.from(b).toString('base64url');
}

function bigOf(b: Uint8Array): bigint {
  let x = 0n;
  for (const v of b) x = (x << 8n) | BigInt(v);
  return x;
}

function p256(rng: Rng): KeyPairDer {
  let d: Uint8Array;
  for (;;) {
    d = rng.bytes(32);
    const x = bigOf(d);
    if (x >= 1n && x < P256_N) break;
    wipe(d);
  }
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(Buffer.from(d));
  const q = Uint8Array.from(ecdh.getPublicKey());
  const jwk = { kty: 'EC', crv: 'P-256', x: b64url(q.subarray(1, 33)), y: b64url(q.subarray(33, 65)) };
  const privateKey = keyToDer({ ...jwk, d: b64url(d) }, 'private');
  const publicKey = keyToDer(jwk, 'public');
  wipe(d);
  return { privateKey, publicKey };
}

function rsa(rng: Rng): KeyPairDer {
  const prng = {
    getBytesSync(n: number): string {
      return Buffer.from(rng.bytes(n)).toString('binary');
    },
  };
  const pair = forge.pki.rsa.generateKeyPair({ bits: RSA_BITS, e: 0x10001, prng });
  const priv = forge.asn1.toDer(forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(pair.privateKey)));
  const pub = forge.asn1.toDer(forge.pki.publicKeyToAsn1(pair.publicKey));
  return {
    privateKey: Uint8Array.from(Buffer.from(priv.getBytes(), 'binary')),
    publicKey: Uint8Array.from(Buffer.from(pub.getBytes(), 'binary')),
  };
}

/**
 * A key pair for `alg` drawn from `rng`.
 * @throws RangeError naming `alg` when it is not a signature algorithm of card/crypto.
 */
export function generateCardKeyPair(alg: SignatureAlgorithm, rng: Rng): KeyPairDer {
  if (alg === 'ecdsa-p256-sha256') return p256(rng);
  if (alg === 'rsa-pkcs1v15-sha256' || alg === 'rsa-pss-sha256') return rsa(rng);
  throw new RangeError(`alg must be a SignatureAlgorithm, got ${String(alg)}`);
}
