import { beforeAll, describe, expect, it } from 'vitest';
import * as asn1js from 'asn1js';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { SeededRng } from '../../card/crypto/index.js';
import { concatBytes, toHex } from '../../card/util/hex.js';
import {
  Certificate,
  ID_MAX_LENGTH,
  InvalidCardList,
  MAX_COUNTER,
  MAX_DER_DEPTH,
  MAX_LIST_ENTRIES,
  MAX_VALUE,
  NONCE_MAX_LENGTH,
  NONCE_MIN_LENGTH,
  OID_ECDSA_WITH_SHA256,
  ServiceRecord,
  SignedValue,
  TS_MAX_UPDATES,
  TroubledTerminalList,
  UsageInfo,
  UsageUpload,
} from '../../card/pki/index.js';
import { enc } from '../../card/pki/internal/der.js';
import { ids, samples, world, type World } from './fixtures.js';
import { gtime, int, mutate, octets, prim } from './mutate.js';

let w: World;
let s: ReturnType<typeof samples>;
beforeAll(() => {
  w = world();
  s = samples(w);
});

/** Runs `f`, expecting a MalformedDataError; returns it. Any other outcome fails the test. */
function malformed(f: () => unknown, kind?: string): MalformedDataError {
  try {
    f();
  } catch (e) {
    if (!(e instanceof MalformedDataError)) throw new Error(`expected MalformedDataError, got ${String(e)}`);
    if (kind !== undefined) expect(e.kind).toBe(kind);
    expect(Number.isInteger(e.offset)).toBe(true);
    expect(e.offset).toBeGreaterThanOrEqual(0);
    return e;
  }
  throw new Error('expected MalformedDataError, decoded without error');
}

const TBS = 0; // index of the TBS in a signed envelope
const SIG = 2;

describe('truncation and extra bytes (every decoder)', () => {
  it('every proper prefix is refused with an offset inside the input', () => {
    for (const [name, { der, decode }] of Object.entries(s)) {
      for (let n = 0; n < der.length; n++) {
        const e = malformed(() => decode(der.subarray(0, n)), name);
        expect(e.offset, `${name} prefix ${n}`).toBeLessThanOrEqual(n);
      }
    }
  });

  it('one extra byte, or a whole extra element, after the structure is refused at its offset', () => {
    for (const [name, { der, decode }] of Object.entries(s)) {
      expect(malformed(() => decode(concatBytes(der, Uint8Array.of(0))), name).offset).toBe(der.length);
      expect(malformed(() => decode(concatBytes(der, Uint8Array.of(0x04, 0x00))), name).offset).toBe(
        der.length,
      );
      expect(malformed(() => decode(concatBytes(der, der)), name).offset).toBe(der.length);
    }
  });

  it('empty input', () => {
    for (const [name, { decode }] of Object.entries(s))
      expect(malformed(() => decode(new Uint8Array(0)), name).offset).toBe(0);
  });
});

describe('wrong tags and versions', () => {
  it('outer SET instead of SEQUENCE', () => {
    for (const [name, { der, decode }] of Object.entries(s)) {
      const bad = Uint8Array.from(der);
      bad[0] = 0x31;
      expect(malformed(() => decode(bad), name).offset).toBe(0);
    }
  });

  it("one structure's bytes given to another's decoder (TBS tag differs)", () => {
    const names = Object.keys(s);
    for (const a of names) for (const b of names) if (a !== b) malformed(() => s[b]!.decode(s[a]!.der), b);
  });

  it('version 2 and version 0 are refused at the version element', () => {
    for (const [name, { der, decode }] of Object.entries(s)) {
      const path = name === 'usage-info' ? [0] : [TBS, 0];
      for (const v of [0, 2]) {
        const bad = mutate(der, path, int(v));
        const e = malformed(() => decode(bad), name);
        expect(e.reason).toMatch(/version/);
        expect(bad[e.offset]).toBe(0x02);
      }
    }
  });

  it('a context tag, a UTCTime, a BOOLEAN, a NULL are not part of the profile', () => {
    const der = s['certificate']!.der;
    for (const el of [
      prim(1, [0xff]),
      prim(5, []),
      prim(23, [...new TextEncoder().encode('260101000000Z')]),
      new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: new Uint8Array(1) }),
    ])
      malformed(() => Certificate.decode(mutate(der, [TBS, 7], el)), 'certificate');
  });
});

describe('DER strictness (BER that asn1js would accept)', () => {
  const der = () => s['signed-value']!.der;

  it('indefinite length', () => {
    const d = der();
    // rebuild the outer element with 30 80 ... 00 00
    const lenOctets = d[1]! < 0x80 ? 1 : 1 + (d[1]! & 0x7f);
    const bad = concatBytes(Uint8Array.of(0x30, 0x80), d.subarray(1 + lenOctets), Uint8Array.of(0, 0));
    expect(malformed(() => SignedValue.decode(bad)).offset).toBe(1);
  });

  it('non-minimal length octets (81 xx for < 128, leading zero)', () => {
    const d = der();
    expect(d[1]).toBe(0x82);
    const bad = concatBytes(Uint8Array.of(0x30, 0x83, 0x00), d.subarray(2));
    expect(malformed(() => SignedValue.decode(bad)).offset).toBe(1);
    // the cardId OCTET STRING (short) rewritten with the long form
    const id = Uint8Array.of(0x04, 0x0e);
    const at = toHex(d).indexOf(toHex(id)) / 2;
    expect(at).toBeGreaterThan(0);
    const longForm = concatBytes(d.subarray(0, at), Uint8Array.of(0x04, 0x81, 0x0e), d.subarray(at + 2));
    // lengths of the containers are now off by one as well: either way it is refused
    malformed(() => SignedValue.decode(longForm));
  });

  it('non-minimal INTEGER (leading 00) is refused although asn1js reads it', () => {
    const bad = mutate(der(), [TBS, 5], new asn1js.Integer({ valueHex: Uint8Array.of(0x00, 0x13, 0x88) }));
    const e = malformed(() => SignedValue.decode(bad));
    expect(e.reason).toMatch(/not DER/);
  });

  it('negative INTEGER', () => {
    malformed(() => SignedValue.decode(mutate(der(), [TBS, 5], int(-1))));
  });

  it('constructed OCTET STRING', () => {
    const c = new asn1js.OctetString({ isConstructed: true, value: [octets(4)] } as asn1js.OctetStringParams);
    malformed(() => SignedValue.decode(mutate(der(), [TBS, 4], c)));
  });

  it('GeneralizedTime not YYYYMMDDHHMMSSZ, or not a real date', () => {
    for (const t of [
      '20260101000000',
      '20260101000000.5Z',
      '202601010000Z',
      '20260101000000+0100',
      '20260230000000Z',
      '20261301000000Z',
      '20260101240000Z',
      '20260101235960Z',
      '19691231235959Z',
    ])
      malformed(() => SignedValue.decode(mutate(der(), [TBS, 8], gtime(t))));
    // the latest and earliest accepted
    for (const t of ['99991231235959Z', '19700101000000Z']) {
      const ok = SignedValue.decode(mutate(der(), [TBS, 8], gtime(t)));
      expect(new Date(ok.notAfter).toISOString().startsWith(t.slice(0, 4))).toBe(true);
    }
  });
});

describe('field bounds: the maximum is accepted, one past it refused', () => {
  const sv = () => s['signed-value']!.der;

  it('ids: 32 bytes ok, 33 and 0 refused', () => {
    expect(SignedValue.decode(mutate(sv(), [TBS, 4], octets(ID_MAX_LENGTH))).cardId.length).toBe(
      ID_MAX_LENGTH,
    );
    malformed(() => SignedValue.decode(mutate(sv(), [TBS, 4], octets(ID_MAX_LENGTH + 1))));
    malformed(() => SignedValue.decode(mutate(sv(), [TBS, 4], octets(0))));
  });

  it('value: MAX_VALUE ok, MAX_VALUE+1 and 2^64 refused', () => {
    expect(SignedValue.decode(mutate(sv(), [TBS, 5], int(MAX_VALUE))).value).toBe(MAX_VALUE);
    malformed(() => SignedValue.decode(mutate(sv(), [TBS, 5], int(MAX_VALUE + 1))));
    malformed(() => SignedValue.decode(mutate(sv(), [TBS, 5], int(1n << 64n))));
    malformed(() => SignedValue.decode(mutate(sv(), [TBS, 5], int(1n << 800n))));
  });

  it('sequence: MAX_COUNTER ok, +1 refused', () => {
    expect(SignedValue.decode(mutate(sv(), [TBS, 6], int(MAX_COUNTER))).sequence).toBe(MAX_COUNTER);
    malformed(() => SignedValue.decode(mutate(sv(), [TBS, 6], int(MAX_COUNTER + 1))));
  });

  it('challenge: 32 ok, 33 refused', () => {
    SignedValue.decode(mutate(sv(), [TBS, 7], octets(32)));
    malformed(() => SignedValue.decode(mutate(sv(), [TBS, 7], octets(33))));
  });

  it('a missing field, and an extra field, in a TBS', () => {
    malformed(() => SignedValue.decode(mutate(sv(), [TBS, 7], null)));
    malformed(() => SignedValue.decode(mutate(sv(), [TBS, 9], octets(1), true)));
  });

  it('signerKind terminal or card may not sign a value; enum past the end refused', () => {
    for (const k of [1, 2, 4])
      malformed(() => SignedValue.decode(mutate(sv(), [TBS, 2], new asn1js.Enumerated({ value: k }))));
  });

  it('update counter t: TS_MAX_UPDATES ok, +1 refused; nonces 8..32', () => {
    const ui = s['usage-info']!.der;
    expect(UsageInfo.decode(mutate(ui, [4], int(TS_MAX_UPDATES))).updateCounter).toBe(TS_MAX_UPDATES);
    malformed(() => UsageInfo.decode(mutate(ui, [4], int(TS_MAX_UPDATES + 1))));
    UsageInfo.decode(mutate(ui, [5], octets(NONCE_MAX_LENGTH)));
    UsageInfo.decode(mutate(ui, [5], octets(NONCE_MIN_LENGTH)));
    malformed(() => UsageInfo.decode(mutate(ui, [5], octets(NONCE_MAX_LENGTH + 1))));
    malformed(() => UsageInfo.decode(mutate(ui, [5], octets(NONCE_MIN_LENGTH - 1))));
  });

  it('a malformed certificate nested in usage info is reported at its offset in the outer bytes', () => {
    const ui = s['usage-info']!.der;
    const bad = mutate(ui, [3, TBS, 0], int(2));
    const e = malformed(() => UsageInfo.decode(bad), 'usage-info');
    expect(bad[e.offset]).toBe(0x02);
    expect(bad[e.offset + 2]).toBe(0x02);
  });

  it('service text: 256 UTF-8 bytes ok, 257 refused; invalid UTF-8 refused', () => {
    const d = s['service-record']!.der;
    ServiceRecord.decode(mutate(d, [TBS, 6], new asn1js.Utf8String({ value: 'é'.repeat(128) })));
    malformed(() =>
      ServiceRecord.decode(mutate(d, [TBS, 6], new asn1js.Utf8String({ value: 'a'.repeat(257) }))),
    );
    malformed(() => ServiceRecord.decode(mutate(d, [TBS, 6], prim(12, [0xc3, 0x28]))));
  });

  it('signature: empty and 513 bytes refused; an ECDSA-OID signature that is not 64 raw bytes refused', () => {
    const d = s['certificate']!.der;
    malformed(() => Certificate.decode(mutate(d, [SIG], octets(0))));
    malformed(() => Certificate.decode(mutate(d, [SIG], octets(513))));
    const ec = mutate(d, [1], new asn1js.ObjectIdentifier({ value: OID_ECDSA_WITH_SHA256 }));
    malformed(() => Certificate.decode(mutate(ec, [SIG], octets(70))));
    expect(Certificate.decode(mutate(ec, [SIG], octets(64))).algorithm).toBe('ecdsa-p256-sha256');
  });

  it('certificate: unknown subject key algorithm, notAfter before notBefore, centre cert with another subject', () => {
    const d = s['certificate']!.der;
    malformed(() =>
      Certificate.decode(mutate(d, [TBS, 6], new asn1js.ObjectIdentifier({ value: '1.2.3.4' }))),
    );
    malformed(() => Certificate.decode(mutate(d, [TBS, 8], gtime('20251231000000Z'))));
    malformed(() => Certificate.decode(mutate(d, [TBS, 3], new asn1js.Enumerated({ value: 0 }))));
  });

  it('lists: entries out of order or duplicated are refused at the entry', () => {
    const d = s['invalid-card-list']!.der;
    const entries = asn1js.fromBER(d).result as asn1js.Sequence;
    const tbs = entries.valueBlock.value[0] as asn1js.Constructed;
    const list = tbs.valueBlock.value[5] as asn1js.Sequence;
    const [a, b] = list.valueBlock.value as [asn1js.BaseBlock, asn1js.BaseBlock];
    const swapped = mutate(d, [TBS, 5], new asn1js.Sequence({ value: [b, a] }));
    const e = malformed(() => InvalidCardList.decode(swapped));
    expect(e.reason).toMatch(/ascending/);
    malformed(() => InvalidCardList.decode(mutate(d, [TBS, 5], new asn1js.Sequence({ value: [a, a] }))));
    const t = s['troubled-terminal-list']!.der;
    malformed(() => TroubledTerminalList.decode(mutate(t, [TBS, 5, 0, 1], octets(15))));
    malformed(() => TroubledTerminalList.decode(mutate(t, [TBS, 5, 0, 3], int(TS_MAX_UPDATES + 1))));
  });

  it('upload: a record whose valueAfter + charge differs from valueBefore is refused', () => {
    const d = s['usage-upload']!.der;
    malformed(() => UsageUpload.decode(mutate(d, [TBS, 7, 0, 3], int(99))));
    expect(UsageUpload.decode(d).records[0]!.charge).toBe(100);
  });
});

describe('nesting and size limits', () => {
  it('deep nesting is refused at the first element too deep, without recursion', () => {
    for (const depth of [MAX_DER_DEPTH + 1, 10_000, 200_000]) {
      // 30 len (30 len (... 30 00)), headers computed from the inside out
      let len = 2;
      const headers: Uint8Array[] = [];
      for (let i = 1; i < depth; i++) {
        const h =
          len < 0x80
            ? Uint8Array.of(0x30, len)
            : len < 0x100
              ? Uint8Array.of(0x30, 0x81, len)
              : len < 0x10000
                ? Uint8Array.of(0x30, 0x82, len >> 8, len & 0xff)
                : Uint8Array.of(0x30, 0x83, len >> 16, (len >> 8) & 0xff, len & 0xff);
        headers.push(h);
        len += h.length;
      }
      const inner = new Uint8Array(len);
      let o = 0;
      for (let i = headers.length - 1; i >= 0; i--) {
        inner.set(headers[i]!, o);
        o += headers[i]!.length;
      }
      inner.set([0x30, 0x00], o);
      let tooDeep = 0;
      for (let i = 0; i < MAX_DER_DEPTH; i++) tooDeep += headers[headers.length - 1 - i]!.length;
      for (const { decode } of Object.values(s)) {
        const e = malformed(() => decode(inner));
        expect(e.reason).toMatch(/nesting/);
        expect(e.offset).toBe(tooDeep);
      }
    }
  });

  it('a length that claims more than the input', () => {
    malformed(() => Certificate.decode(Uint8Array.of(0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x00)));
    malformed(() => Certificate.decode(Uint8Array.of(0x30, 0x85, 1, 0, 0, 0, 0, 0)));
  });

  it('a list or upload of 1,000,001 entries is refused at the 1,000,001st, before any entry is read', () => {
    const empty = Uint8Array.of(0x30, 0x00);
    const many = enc.seq(new Array<Uint8Array>(MAX_LIST_ENTRIES + 1).fill(empty));
    const t = enc.time(0);
    const cases: [number, Uint8Array[], (d: Uint8Array) => unknown][] = [
      [4, [enc.int(1), enc.octets(ids.centre), enc.int(1), t, t, many], (d) => InvalidCardList.decode(d)],
      [
        5,
        [enc.int(1), enc.octets(ids.centre), enc.int(1), t, t, many],
        (d) => TroubledTerminalList.decode(d),
      ],
      [
        8,
        [enc.int(1), enc.octets(ids.centre), enc.octets(ids.terminal), enc.int(1), enc.int(1), t, t, many],
        (d) => UsageUpload.decode(d),
      ],
    ];
    for (const [tag, fields, decode] of cases) {
      const tbs = enc.app(tag, fields);
      const der = enc.seq([tbs, enc.oid(OID_ECDSA_WITH_SHA256), enc.octets(new Uint8Array(64))]);
      const e = malformed(() => decode(der));
      expect(e.reason).toMatch(/more than 1000000/);
      // the last (1,000,001st) entry: 2 bytes before the OID (06 08 ..., 10 bytes) and signature (04 40 ..., 66)
      expect(e.offset).toBe(der.length - 66 - 10 - 2);
    }
  });

  it('a list of more than 1,000,000 entries cannot be built', () => {
    const e = { cardId: Uint8Array.of(1), reason: 'lost' as const, listedAt: 0 };
    expect(() =>
      InvalidCardList.sign(
        {
          centreId: Uint8Array.of(1),
          listVersion: 1,
          issued: 0,
          notAfter: 0,
          entries: new Array(1_000_001).fill(e),
        },
        w.centre.signer,
      ),
    ).toThrow(RangeError);
  });
});

describe('fuzz: mutated inputs give a decoded value or MalformedDataError, nothing else', () => {
  it('single-byte changes, insertions and deletions across every structure', () => {
    const rng = new SeededRng(Uint8Array.of(13, 4));
    let decoded = 0;
    for (const [name, { der, decode }] of Object.entries(s)) {
      for (let i = 0; i < 400; i++) {
        const r = rng.bytes(4);
        const at = ((r[0]! << 8) | r[1]!) % der.length;
        let bad: Uint8Array;
        if (r[2]! % 3 === 0) {
          bad = Uint8Array.from(der);
          bad[at] = bad[at]! ^ (r[3]! | 1);
        } else if (r[2]! % 3 === 1)
          bad = concatBytes(der.subarray(0, at), Uint8Array.of(r[3]!), der.subarray(at));
        else bad = concatBytes(der.subarray(0, at), der.subarray(at + 1));
        try {
          const x = decode(bad);
          // whatever decodes must be canonical: it re-encodes to exactly the input
          expect(toHex(x.encode()), name).toBe(toHex(bad));
          decoded++;
        } catch (e) {
          if (!(e instanceof MalformedDataError)) throw new Error(`${name} mutation at ${at}: ${String(e)}`);
        }
      }
    }
    // content bytes (ids, nonces, signatures) may change and still decode; structure bytes may not
    expect(decoded).toBeGreaterThan(0);
  });

  it('random garbage', () => {
    const rng = new SeededRng(Uint8Array.of(99));
    for (let i = 0; i < 500; i++) {
      const n = rng.bytes(1)[0]! + 1;
      const g = rng.bytes(n);
      if (i % 2 === 0) g[0] = 0x30;
      for (const { decode } of Object.values(s)) malformed(() => decode(g));
    }
  });
});

describe('arguments (not outside data) are TypeErrors', () => {
  it('decode of a non-Uint8Array', () => {
    expect(() => Certificate.decode('30' as unknown as Uint8Array)).toThrow(TypeError);
  });
});
