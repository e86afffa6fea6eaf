import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  ForgeCipherProvider,
  HostKeyRing,
  IssuerMasterKeys,
  NodeCipherProvider,
  UnknownKeyVersionError,
  adjustDesParity,
  deriveCardKey,
  deriveSessionKey,
  deriveTerminalKey,
  diversify,
  hasOddParity,
  type BlockCipherProvider,
} from '../../card/crypto/index.js';
import { toHex } from '../../card/util/hex.js';
import { hex, loadVectors } from './vectors.js';

interface Examples {
  terminalKey: { kh: string; id: string; a: string; b: string; ea: string; eb: string; kt: string }[];
  sessionKey: {
    kt: string;
    r1: string;
    a?: string;
    b?: string;
    ea?: string;
    eb?: string;
    raw?: string;
    ks: string;
  }[];
  cardKeys: Record<string, string>;
  aes: { kh: string; id: string; a: string; kt: string; r1: string; ks: string };
}
const ex = loadVectors<Examples>('key-hierarchy.json');
const doc = readFileSync(fileURLToPath(new URL('../../docs/key-hierarchy.md', import.meta.url)), 'utf8');

const E = (p: BlockCipherProvider, key: string, data: string) =>
  toHex(p.encrypt('tdes', 'ecb', hex(key), hex(data)));
const not = (h: string) => toHex(hex(h).map((b) => b ^ 0xff));

describe('docs/key-hierarchy.md shows exactly the committed example bytes', () => {
  const values = new Set<string>();
  const collect = (v: unknown): void => {
    if (typeof v === 'string' && /^[0-9A-F]+$/.test(v)) values.add(v);
    else if (Array.isArray(v)) v.forEach(collect);
    else if (v && typeof v === 'object') Object.values(v).forEach(collect);
  };
  collect(ex);
  it(`all ${values.size} hex values appear in the doc`, () => {
    const missing = [...values].filter((v) => !doc.includes(v));
    expect(missing).toEqual([]);
  });
});

for (const p of [new NodeCipherProvider(), new ForgeCipherProvider()]) {
  describe(`key hierarchy examples with ${p.name}`, () => {
    for (const t of ex.terminalKey) {
      it(`KT from KH ${t.kh}`, () => {
        expect(t.a).toBe('0000000000' + t.id);
        expect(t.b).toBe(not(t.a));
        expect(E(p, t.kh, t.a)).toBe(t.ea);
        expect(E(p, t.kh, t.b)).toBe(t.eb);
        expect(toHex(adjustDesParity(hex(t.ea + t.eb)))).toBe(t.kt);
        expect(toHex(deriveTerminalKey(p, hex(t.kh), hex(t.id)))).toBe(t.kt);
        expect(hasOddParity(hex(t.kt))).toBe(true);
      });
    }
    for (const s of ex.sessionKey) {
      it(`Ks with R1 of ${s.r1.length / 2} bytes`, () => {
        if (s.r1.length === 16) {
          expect(s.a).toBe(s.r1);
          expect(s.b).toBe(not(s.r1));
          expect(E(p, s.kt, s.a!)).toBe(s.ea);
          expect(E(p, s.kt, s.b!)).toBe(s.eb);
        } else {
          expect(E(p, s.kt, s.r1)).toBe(s.raw);
        }
        expect(toHex(deriveSessionKey(p, hex(s.kt), hex(s.r1)))).toBe(s.ks);
        expect(hasOddParity(hex(s.ks))).toBe(true);
      });
    }
    it('session key uses the terminal key of the first example', () => {
      expect(ex.sessionKey[0]!.kt).toBe(ex.terminalKey[0]!.kt);
    });
    it('card debit and credit keys', () => {
      const c = ex.cardKeys;
      expect(c.a).toBe(c.serial);
      expect(c.b).toBe(not(c.serial!));
      expect(E(p, c.debitMaster!, c.a!)).toBe(c.debitEa);
      expect(E(p, c.debitMaster!, c.b!)).toBe(c.debitEb);
      expect(E(p, c.creditMaster!, c.a!)).toBe(c.creditEa);
      expect(E(p, c.creditMaster!, c.b!)).toBe(c.creditEb);
      const imk = new IssuerMasterKeys(hex(c.debitMaster!), hex(c.creditMaster!));
      const keys = imk.cardKeys(p, hex(c.serial!));
      expect(toHex(keys.debit)).toBe(c.debitKey);
      expect(toHex(keys.credit)).toBe(c.creditKey);
      expect(c.debitKey).not.toBe(c.creditKey);
      expect(toHex(deriveCardKey(p, hex(c.debitMaster!), hex(c.serial!)))).toBe(c.debitKey);
    });
    it('AES variant', () => {
      const a = ex.aes;
      expect(toHex(p.encrypt('aes', 'ecb', hex(a.kh), hex(a.a)))).toBe(a.kt);
      expect(toHex(diversify(p, 'aes', hex(a.kh), hex(a.id)))).toBe(a.kt);
      expect(toHex(deriveTerminalKey(p, hex(a.kh), hex(a.id), 'aes'))).toBe(a.kt);
      expect(toHex(deriveSessionKey(p, hex(a.kt), hex(a.r1), 'aes'))).toBe(a.ks);
    });
  });
}

const cipher = new NodeCipherProvider();

describe('derivation arguments', () => {
  it('lengths are checked and named', () => {
    const kh = hex('404142434445464748494A4B4C4D4E4F');
    expect(() => deriveTerminalKey(cipher, kh, hex('0A1B'))).toThrow(/^id /);
    expect(() => deriveTerminalKey(cipher, new Uint8Array(8), hex('0A1B2C'))).toThrow(/^master /);
    expect(() => deriveSessionKey(cipher, kh, new Uint8Array(12))).toThrow(/^r1 /);
    expect(() => deriveSessionKey(cipher, kh, new Uint8Array(8), 'aes')).toThrow(/^r1 /);
    expect(() => deriveSessionKey(cipher, new Uint8Array(10), new Uint8Array(8))).toThrow(/^kt /);
    expect(() => deriveCardKey(cipher, kh, new Uint8Array(9))).toThrow(/^serial /);
    expect(() => deriveCardKey(cipher, kh, new Uint8Array(0))).toThrow(/^serial /);
    expect(() => diversify(cipher, 'tdes', kh, new Uint8Array(9))).toThrow(/^data /);
    expect(() => diversify(cipher, 'rc4' as 'aes', kh, new Uint8Array(1))).toThrow(/^alg /);
  });
  it('different IDs, versions and randoms give different keys', () => {
    const kh = hex('404142434445464748494A4B4C4D4E4F');
    const a = toHex(deriveTerminalKey(cipher, kh, hex('0A1B2C')));
    expect(toHex(deriveTerminalKey(cipher, kh, hex('0A1B2D')))).not.toBe(a);
    const kt = hex(a);
    expect(toHex(deriveSessionKey(cipher, kt, hex('0000000000000001')))).not.toBe(
      toHex(deriveSessionKey(cipher, kt, hex('0000000000000002'))),
    );
  });
  it('parity adjustment only touches the low bit and yields odd parity', () => {
    for (let b = 0; b < 256; b++) {
      const out = adjustDesParity(Uint8Array.of(b))[0]!;
      expect(out & 0xfe).toBe(b & 0xfe);
      expect(hasOddParity(Uint8Array.of(out))).toBe(true);
    }
  });
});

describe('IssuerMasterKeys', () => {
  it('refuses equal debit and credit masters', () => {
    const k = hex('00112233445566778899AABBCCDDEEFF');
    expect(() => new IssuerMasterKeys(k, Uint8Array.from(k))).toThrow(RangeError);
    expect(() => new IssuerMasterKeys(k, new Uint8Array(5))).toThrow(/^creditMaster /);
  });
  it('keeps its own copies of the masters and can wipe them', () => {
    const d = hex('00112233445566778899AABBCCDDEEFF');
    const imk = new IssuerMasterKeys(d, hex('FFEEDDCCBBAA99887766554433221100'));
    const before = toHex(imk.debitKey(cipher, hex('4D50000000012345')));
    d.fill(0);
    expect(toHex(imk.debitKey(cipher, hex('4D50000000012345')))).toBe(before);
    imk.wipe();
    expect(toHex(imk.debitKey(cipher, hex('4D50000000012345')))).not.toBe(before);
  });
});

describe('HostKeyRing', () => {
  const kh1 = hex('404142434445464748494A4B4C4D4E4F');
  const kh2 = hex('0123456789ABCDEFFEDCBA9876543210');
  const kh3 = hex('00112233445566778899AABBCCDDEEFF');
  const id = hex('0A1B2C');

  it('holds several versions; the highest is current', () => {
    const ring = HostKeyRing.of([
      [1, kh1],
      [2, kh2],
    ]);
    expect(ring.versions).toEqual([1, 2]);
    expect(ring.current).toBe(2);
    expect(toHex(ring.terminalKey(cipher, 1, id))).toBe(ex.terminalKey[0]!.kt);
    expect(toHex(ring.terminalKey(cipher, 2, id))).toBe(ex.terminalKey[1]!.kt);
  });
  it('rotation adds a new current version; old ones stay valid until retired', () => {
    const r1 = HostKeyRing.of([
      [1, kh1],
      [2, kh2],
    ]);
    const r2 = r1.rotate(kh3);
    expect(r2.current).toBe(3);
    expect(r2.versions).toEqual([1, 2, 3]);
    expect(toHex(r2.currentKey())).toBe(toHex(kh3));
    expect(toHex(r2.terminalKey(cipher, 2, id))).toBe(ex.terminalKey[1]!.kt);
    const r3 = r2.retire(1);
    expect(r3.versions).toEqual([2, 3]);
    expect(() => r3.terminalKey(cipher, 1, id)).toThrow(UnknownKeyVersionError);
    // Immutable: the earlier rings are unchanged.
    expect(r1.versions).toEqual([1, 2]);
    expect(r1.current).toBe(2);
    expect(r2.has(1)).toBe(true);
  });
  it('refuses to retire the current version, duplicates and bad versions', () => {
    const ring = HostKeyRing.of([[1, kh1]]);
    expect(() => ring.retire(1)).toThrow(/current/);
    expect(() => ring.retire(7)).toThrow(UnknownKeyVersionError);
    expect(() => ring.withKey(1, kh2)).toThrow(/^version 1 is already held/);
    expect(() => ring.withKey(256, kh2)).toThrow(/^version /);
    expect(() => ring.withKey(-1, kh2)).toThrow(/^version /);
    expect(() => ring.withKey(2, new Uint8Array(15))).toThrow(/^key /);
    expect(() => HostKeyRing.empty().currentKey()).toThrow(UnknownKeyVersionError);
    expect(() => HostKeyRing.of([[255, kh1]]).rotate(kh2)).toThrow(RangeError);
  });
  it('withCurrent can point back at an older version (e.g. to roll back a rotation)', () => {
    const ring = HostKeyRing.of(
      [
        [1, kh1],
        [2, kh2],
      ],
      1,
    );
    expect(ring.current).toBe(1);
    expect(() => ring.withCurrent(9)).toThrow(UnknownKeyVersionError);
  });
  it('copies keys in and out', () => {
    const k = Uint8Array.from(kh1);
    const ring = HostKeyRing.empty().withKey(0, k);
    k.fill(0);
    const out = ring.key(0);
    expect(toHex(out)).toBe(toHex(kh1));
    out.fill(0);
    expect(toHex(ring.key(0))).toBe(toHex(kh1));
  });
});
