import { beforeAll, describe, expect, it } from 'vitest';
import {
  ForgeSignatureProvider,
  NodeSignatureProvider,
  KeyFormatError,
  UnsupportedAlgorithmError,
  derToJwk,
  ecdsaDerToRaw,
  ecdsaRawToDer,
  keyToDer,
  pemDecode,
  pemEncode,
  type KeyPairDer,
  type SignatureProvider,
} from '../../card/crypto/index.js';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { toHex } from '../../card/util/hex.js';
import { hex, loadVectors } from './vectors.js';

const rfc6979 = loadVectors<{
  privateKey: string;
  ux: string;
  uy: string;
  vectors: { message: string; r: string; s: string }[];
}>('ecdsa-p256-rfc6979.json');

interface WycheproofFile {
  publicKeySpkiDer: string;
  tests: { tcId: number; msg: string; sig: string; result: 'valid' | 'invalid'; comment: string }[];
}
const wycheproof = {
  'rsa-pkcs1v15-sha256': loadVectors<WycheproofFile>('rsa-pkcs1-2048-sha256-wycheproof.json'),
  'rsa-pss-sha256': loadVectors<WycheproofFile>('rsa-pss-2048-sha256-wycheproof.json'),
} as const;

const b64url = (hexText: string) => Buffer.from(hex(hexText)).toString('base64url');
const utf8 = (s: string) => new TextEncoder().encode(s);

const node = new NodeSignatureProvider();
const forge = new ForgeSignatureProvider();

// Key generation costs tens of milliseconds per RSA key; share one pair per generator.
let rsaNode: KeyPairDer;
let rsaForge: KeyPairDer;
let ecNode: KeyPairDer;
beforeAll(() => {
  rsaNode = node.generateKeyPair('rsa-pkcs1v15-sha256');
  rsaForge = forge.generateKeyPair('rsa-pss-sha256');
  ecNode = node.generateKeyPair('ecdsa-p256-sha256');
});

describe('ECDSA P-256 (RFC 6979 A.2.5 published signatures)', () => {
  const jwkPublic = { kty: 'EC', crv: 'P-256', x: b64url(rfc6979.ux), y: b64url(rfc6979.uy) };
  const jwkPrivate = { ...jwkPublic, d: b64url(rfc6979.privateKey) };
  for (const v of rfc6979.vectors) {
    it(`node verifies the published signature of '${v.message}' (raw and DER)`, () => {
      const raw = hex(v.r + v.s);
      expect(node.verifier('ecdsa-p256-sha256', jwkPublic).verify(utf8(v.message), raw)).toBe(true);
      const der = ecdsaRawToDer(raw);
      expect(
        node.verifier('ecdsa-p256-sha256', jwkPublic, { ecdsaFormat: 'der' }).verify(utf8(v.message), der),
      ).toBe(true);
      expect(toHex(ecdsaDerToRaw(der))).toBe(toHex(raw));
      const wrong = Uint8Array.from(raw);
      wrong[63]! ^= 1;
      expect(node.verifier('ecdsa-p256-sha256', jwkPublic).verify(utf8(v.message), wrong)).toBe(false);
      expect(node.verifier('ecdsa-p256-sha256', jwkPublic).verify(utf8(v.message + '!'), raw)).toBe(false);
    });
  }
  it('out-of-range r and s never verify (zero, the group order n)', () => {
    const n = 'ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551';
    const { r, s } = rfc6979.vectors[0]!;
    const v = node.verifier('ecdsa-p256-sha256', jwkPublic);
    for (const sig of [
      '00'.repeat(64),
      '00'.repeat(32) + s,
      r + '00'.repeat(32),
      n + s,
      r + n,
      'ff'.repeat(64),
    ]) {
      expect(v.verify(utf8('sample'), hex(sig))).toBe(false);
    }
    expect(v.verify(utf8('sample'), hex(r + s).subarray(0, 63))).toBe(false);
  });
  it('a key imported from the published private scalar signs verifiably, both encodings', () => {
    for (const ecdsaFormat of ['raw', 'der'] as const) {
      const sig = node.signer('ecdsa-p256-sha256', jwkPrivate, { ecdsaFormat }).sign(utf8('sample'));
      if (ecdsaFormat === 'raw') expect(sig.length).toBe(64);
      else expect(sig[0]).toBe(0x30);
      expect(node.verifier('ecdsa-p256-sha256', jwkPublic, { ecdsaFormat }).verify(utf8('sample'), sig)).toBe(
        true,
      );
    }
  });
  it('generated P-256 keys sign and verify; a different key does not verify', () => {
    const sig = node.signer('ecdsa-p256-sha256', ecNode.privateKey).sign(utf8('remaining value 1200'));
    expect(
      node.verifier('ecdsa-p256-sha256', ecNode.publicKey).verify(utf8('remaining value 1200'), sig),
    ).toBe(true);
    const other = node.generateKeyPair('ecdsa-p256-sha256');
    expect(
      node.verifier('ecdsa-p256-sha256', other.publicKey).verify(utf8('remaining value 1200'), sig),
    ).toBe(false);
  });
  it('forge refuses ECDSA P-256 with UnsupportedAlgorithmError', () => {
    expect(forge.supports('ecdsa-p256-sha256')).toBe(false);
    expect(() => forge.generateKeyPair('ecdsa-p256-sha256')).toThrow(UnsupportedAlgorithmError);
    expect(() => forge.signer('ecdsa-p256-sha256', ecNode.privateKey)).toThrow(UnsupportedAlgorithmError);
    expect(() => forge.verifier('ecdsa-p256-sha256', ecNode.publicKey)).toThrow(UnsupportedAlgorithmError);
  });
});

describe('ECDSA signature encodings', () => {
  it('DER parser rejects malformed input with MalformedDataError and an offset', () => {
    // The 'test' signature has a short s, so its DER form (71 bytes) leaves room for one trailing byte.
    const good = ecdsaRawToDer(hex(rfc6979.vectors[1]!.r + rfc6979.vectors[1]!.s));
    expect(good.length).toBe(71);
    const bad: [Uint8Array, number][] = [
      [new Uint8Array(0), 0],
      [Uint8Array.from([0x31, ...good.subarray(1)]), 0],
      [Uint8Array.from([...good, 0]), 1],
      [Uint8Array.from([0x30, good[1]!, 0x03, ...good.subarray(3)]), 2],
    ];
    for (const [bytes, offset] of bad) {
      try {
        ecdsaDerToRaw(bytes);
        expect.unreachable('should throw');
      } catch (e) {
        expect(e).toBeInstanceOf(MalformedDataError);
        expect((e as MalformedDataError).offset).toBe(offset);
      }
    }
  });
  it('raw encoding needs exactly 64 bytes', () => {
    expect(() => ecdsaRawToDer(new Uint8Array(63))).toThrow(/^raw /);
  });
  it('small r and s are encoded minimally and come back padded', () => {
    const raw = new Uint8Array(64);
    raw[31] = 1;
    raw[63] = 0x80;
    expect(toHex(ecdsaRawToDer(raw))).toBe('3007020101020200' + '80');
    expect(toHex(ecdsaDerToRaw(ecdsaRawToDer(raw)))).toBe(toHex(raw));
  });
});

function rsaRoundTrip(signer: SignatureProvider, verifier: SignatureProvider) {
  for (const alg of ['rsa-pkcs1v15-sha256', 'rsa-pss-sha256'] as const) {
    it(`${alg}: ${signer.name} signs, ${verifier.name} verifies`, () => {
      for (const pair of [rsaNode, rsaForge]) {
        const data = utf8('card 00112233 balance 5000');
        const sig = signer.signer(alg, pair.privateKey).sign(data);
        expect(sig.length).toBe(256);
        const v = verifier.verifier(alg, pair.publicKey);
        expect(v.verify(data, sig)).toBe(true);
        const tampered = Uint8Array.from(sig);
        tampered[100]! ^= 0x40;
        expect(v.verify(data, tampered)).toBe(false);
        expect(v.verify(utf8('card 00112233 balance 9000'), sig)).toBe(false);
        expect(v.verify(data, sig.subarray(1))).toBe(false);
        expect(v.verify(data, new Uint8Array(0))).toBe(false);
      }
    });
  }
}

describe('RSA-2048 verify known answers (Wycheproof)', () => {
  for (const provider of [node, forge]) {
    for (const [alg, file] of Object.entries(wycheproof) as [keyof typeof wycheproof, WycheproofFile][]) {
      it(`${provider.name} ${alg}: ${file.tests.length} published cases`, () => {
        const v = provider.verifier(alg, hex(file.publicKeySpkiDer));
        for (const t of file.tests) {
          expect(v.verify(hex(t.msg), hex(t.sig)), `tcId ${t.tcId} ${t.comment}`).toBe(t.result === 'valid');
        }
        // The other padding's signatures never verify.
        const other =
          alg === 'rsa-pss-sha256' ? wycheproof['rsa-pkcs1v15-sha256'] : wycheproof['rsa-pss-sha256'];
        const t0 = other.tests.find((t) => t.result === 'valid')!;
        expect(v.verify(hex(t0.msg), hex(t0.sig))).toBe(false);
      });
    }
  }
});

describe('RSA-2048 cross-check between node and forge', () => {
  rsaRoundTrip(node, forge);
  rsaRoundTrip(forge, node);
  rsaRoundTrip(forge, forge);
  rsaRoundTrip(node, node);
  for (const alg of ['rsa-pkcs1v15-sha256', 'rsa-pss-sha256'] as const) {
    it(`${alg}: a signature with its leading 00 byte stripped is refused (RFC 8017 step 1 of verify)`, () => {
      // Find a signature whose first byte is 00 (about 1 in 256); its 255-byte tail denotes the
      // same integer. OpenSSL 3 accepts that tail for PSS; the length check in the provider refuses it.
      const s = node.signer(alg, rsaNode.privateKey);
      let found: { data: Uint8Array; sig: Uint8Array } | undefined;
      for (let i = 0; i < 5000 && !found; i++) {
        const data = utf8(`message ${i}`);
        const sig = s.sign(data);
        if (sig[0] === 0) found = { data, sig };
      }
      expect(found).toBeDefined();
      for (const p of [node, forge]) {
        const v = p.verifier(alg, rsaNode.publicKey);
        expect(v.verify(found!.data, found!.sig)).toBe(true);
        expect(v.verify(found!.data, found!.sig.subarray(1))).toBe(false);
      }
    });
  }
  it('PKCS#1 v1.5 is deterministic: node and forge produce the same bytes', () => {
    const data = utf8('meterpurse');
    expect(toHex(forge.signer('rsa-pkcs1v15-sha256', rsaNode.privateKey).sign(data))).toBe(
      toHex(node.signer('rsa-pkcs1v15-sha256', rsaNode.privateKey).sign(data)),
    );
  });
  it('a PKCS#1 v1.5 signature does not verify as PSS and vice versa', () => {
    const data = utf8('x');
    const v15 = node.signer('rsa-pkcs1v15-sha256', rsaNode.privateKey).sign(data);
    const pss = node.signer('rsa-pss-sha256', rsaNode.privateKey).sign(data);
    expect(forge.verifier('rsa-pss-sha256', rsaNode.publicKey).verify(data, v15)).toBe(false);
    expect(forge.verifier('rsa-pkcs1v15-sha256', rsaNode.publicKey).verify(data, pss)).toBe(false);
  });
  it('generated RSA keys are 2048-bit with e = 65537', () => {
    for (const pair of [rsaNode, rsaForge]) {
      const jwk = derToJwk(pair.publicKey, 'public');
      expect(jwk.kty).toBe('RSA');
      expect(jwk.e).toBe('AQAB');
      expect(Buffer.from(jwk.n!, 'base64url').length).toBe(256);
    }
  });
});

describe('key import and export', () => {
  it('PEM round trip and PEM input', () => {
    const pem = pemEncode(rsaNode.publicKey, 'PUBLIC KEY');
    expect(pem.startsWith('-----BEGIN PUBLIC KEY-----\n')).toBe(true);
    const { label, der } = pemDecode(pem);
    expect(label).toBe('PUBLIC KEY');
    expect(toHex(der)).toBe(toHex(rsaNode.publicKey));
    const sig = node.signer('rsa-pss-sha256', pemEncode(rsaNode.privateKey, 'PRIVATE KEY')).sign(utf8('a'));
    expect(forge.verifier('rsa-pss-sha256', pem).verify(utf8('a'), sig)).toBe(true);
  });
  it('JWK round trip gives the same DER', () => {
    const jwk = derToJwk(rsaForge.privateKey, 'private');
    expect(toHex(keyToDer(jwk, 'private'))).toBe(toHex(keyToDer(rsaForge.privateKey, 'private')));
    expect(toHex(keyToDer(jwk, 'public'))).toBe(toHex(rsaForge.publicKey));
  });
  it('bad PEM and bad DER give KeyFormatError', () => {
    expect(() => pemDecode('hello')).toThrow(KeyFormatError);
    expect(() => pemDecode('-----BEGIN PUBLIC KEY-----\n@@@@\n-----END PUBLIC KEY-----')).toThrow(
      KeyFormatError,
    );
    expect(() => pemDecode('-----BEGIN A-----\nAAAA\n-----END B-----')).toThrow(KeyFormatError);
    expect(() => node.verifier('rsa-pss-sha256', Uint8Array.from([0x30, 0x03, 1, 2, 3]))).toThrow(
      KeyFormatError,
    );
    expect(() => forge.signer('rsa-pss-sha256', new Uint8Array(10))).toThrow(KeyFormatError);
  });
  it('a key of the wrong type for the algorithm gives KeyFormatError', () => {
    expect(() => node.signer('rsa-pss-sha256', ecNode.privateKey)).toThrow(KeyFormatError);
    expect(() => node.verifier('ecdsa-p256-sha256', rsaNode.publicKey)).toThrow(KeyFormatError);
    expect(() => forge.verifier('rsa-pkcs1v15-sha256', ecNode.publicKey)).toThrow(KeyFormatError);
  });
  it('unknown algorithm and format are RangeErrors naming the parameter', () => {
    expect(() => node.generateKeyPair('dsa' as 'rsa-pss-sha256')).toThrow(/^alg /);
    expect(() => node.signer('ecdsa-p256-sha256', ecNode.privateKey, { ecdsaFormat: 'x' as 'raw' })).toThrow(
      /^ecdsaFormat /,
    );
  });
});
