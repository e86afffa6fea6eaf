/** The DER layer of card/pki: hand-framed encodings agree with asn1js; strict INTEGER reading. */
import { describe, expect, it } from 'vitest';
import * as asn1js from 'asn1js';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { toHex } from '../../card/util/hex.js';
import { enc, parseDer, scanDer } from '../../card/pki/internal/der.js';

const ref = (b: asn1js.BaseBlock) => toHex(new Uint8Array(b.toBER(false)));

describe('encoders agree with asn1js', () => {
  it('INTEGER and ENUMERATED at the edges of every content length up to 2^53-1', () => {
    const values = new Set<number>([0, 1, Number.MAX_SAFE_INTEGER]);
    for (let bits = 7; bits <= 53; bits++) for (const d of [-1, 0, 1]) values.add(2 ** bits + d);
    for (const v of values) {
      if (v < 0 || v > Number.MAX_SAFE_INTEGER) continue;
      expect(toHex(enc.int(v)), `int ${v}`).toBe(ref(asn1js.Integer.fromBigInt(BigInt(v))));
      if (v <= 0x7fffffff)
        expect(toHex(enc.enumerated(v)), `enum ${v}`).toBe(ref(new asn1js.Enumerated({ value: v })));
    }
  });

  it('OCTET STRING and SEQUENCE framing at the length-form boundaries', () => {
    for (const n of [0, 1, 127, 128, 255, 256, 65535, 65536, 70000]) {
      const v = new Uint8Array(n).fill(n & 0xff);
      expect(toHex(enc.octets(v)), `octets ${n}`).toBe(ref(new asn1js.OctetString({ valueHex: v })));
      const inner = new asn1js.OctetString({ valueHex: v });
      expect(toHex(enc.seq([enc.octets(v)])), `seq ${n}`).toBe(ref(new asn1js.Sequence({ value: [inner] })));
    }
  });

  it('GeneralizedTime', () => {
    for (const ms of [0, Date.UTC(2026, 1, 28, 23, 59, 59), Date.UTC(9999, 11, 31, 23, 59, 59)]) {
      const want = new asn1js.GeneralizedTime({ valueDate: new Date(ms) });
      expect(toHex(enc.time(ms))).toBe(ref(want));
    }
  });
});

describe('INTEGER reading', () => {
  const read = (bytes: number[]) =>
    parseDer(Uint8Array.from(bytes), 'test').integer('n', 0, Number.MAX_SAFE_INTEGER);

  it('reads minimal non-negative values', () => {
    expect(read([0x02, 0x01, 0x00])).toBe(0);
    expect(read([0x02, 0x02, 0x00, 0x80])).toBe(128);
    expect(read([0x02, 0x07, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('refuses negative, a superfluous leading 00, and out of range, at the element', () => {
    for (const bad of [
      [0x02, 0x01, 0x80],
      [0x02, 0x02, 0x00, 0x7f],
      [0x02, 0x02, 0xff, 0x80],
      [0x02, 0x07, 0x20, 0, 0, 0, 0, 0, 0],
      [0x02, 0x09, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0],
    ]) {
      let err: unknown;
      try {
        read(bad);
      } catch (e) {
        err = e;
      }
      expect(err, toHex(Uint8Array.from(bad))).toBeInstanceOf(MalformedDataError);
      expect((err as MalformedDataError).offset).toBe(0);
    }
  });
});

describe('scan', () => {
  it('accepts exactly one element and nothing else', () => {
    expect(() => scanDer(Uint8Array.of(0x30, 0x00), 't')).not.toThrow();
    expect(() => scanDer(Uint8Array.of(0x30, 0x00, 0x30, 0x00), 't')).toThrow(/trailing/);
    expect(() => scanDer(Uint8Array.of(0x30, 0x02, 0x04), 't')).toThrow(MalformedDataError);
    expect(() => scanDer(Uint8Array.of(0x1f, 0x20, 0x00), 't')).toThrow(/high-tag/);
    expect(() => scanDer(Uint8Array.of(0x40, 0x00), 't')).toThrow(/APPLICATION/);
    expect(() => scanDer(Uint8Array.of(0x02, 0x00), 't')).toThrow(/empty/);
  });
});
