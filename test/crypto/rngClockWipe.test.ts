import { describe, expect, it } from 'vitest';
import { ManualClock, SeededRng, SystemClock, SystemRng, wipe } from '../../card/crypto/index.js';
import { createHash } from 'node:crypto';
import { toHex } from '../../card/util/hex.js';

describe('SeededRng', () => {
  it('is the documented SHA-256 counter construction', () => {
    const s = createHash('sha256').update('meterpurse-seeded-rng-v1').update('seed-1').digest();
    const b0 = createHash('sha256')
      .update(s)
      .update(Buffer.from([0, 0, 0, 0]))
      .digest();
    const b1 = createHash('sha256')
      .update(s)
      .update(Buffer.from([0, 0, 0, 1]))
      .digest();
    expect(toHex(new SeededRng('seed-1').bytes(40))).toBe(toHex(Buffer.concat([b0, b1]).subarray(0, 40)));
  });
  it('same seed gives the same stream however it is split; string and UTF-8 bytes are the same seed', () => {
    const whole = new SeededRng('abc').bytes(100);
    const r = new SeededRng(new TextEncoder().encode('abc'));
    const parts = [r.bytes(3), r.bytes(0), r.bytes(31), r.bytes(33), r.bytes(33)];
    expect(toHex(Uint8Array.from(parts.flatMap((p) => [...p])))).toBe(toHex(whole));
  });
  it('different seeds give different streams', () => {
    expect(toHex(new SeededRng('a').bytes(16))).not.toBe(toHex(new SeededRng('b').bytes(16)));
  });
  it('rejects bad counts and seeds', () => {
    expect(() => new SeededRng('a').bytes(-1)).toThrow(/^n /);
    expect(() => new SeededRng('a').bytes(1.5)).toThrow(RangeError);
    expect(() => new SeededRng(42 as unknown as string)).toThrow(TypeError);
  });
});

describe('SystemRng', () => {
  it('returns the asked number of bytes, not all equal', () => {
    const rng = new SystemRng();
    expect(rng.bytes(0).length).toBe(0);
    const a = rng.bytes(32);
    expect(a).toBeInstanceOf(Uint8Array);
    expect(a.length).toBe(32);
    expect(toHex(a)).not.toBe(toHex(rng.bytes(32)));
    expect(() => rng.bytes(-5)).toThrow(/^n /);
  });
});

describe('clocks', () => {
  it('ManualClock moves only when told', () => {
    const c = new ManualClock(1_000);
    expect(c.now()).toBe(1_000);
    c.advance(500);
    expect(c.now()).toBe(1_500);
    c.set(10);
    expect(c.now()).toBe(10);
    expect(() => c.advance(-1)).toThrow(/^ms /);
    expect(() => c.set(Number.NaN)).toThrow(/^ms /);
    expect(() => new ManualClock(Infinity)).toThrow(/^startMs /);
    expect(new ManualClock().now()).toBe(0);
  });
  it('SystemClock returns a plausible epoch time in ms', () => {
    expect(new SystemClock().now()).toBeGreaterThan(Date.UTC(2020, 0, 1));
  });
});

describe('wipe', () => {
  it('zero-fills every array and skips undefined', () => {
    const a = Uint8Array.from([1, 2, 3]);
    const b = Uint8Array.from([4, 5]);
    wipe(a, undefined, b);
    expect([...a, ...b]).toEqual([0, 0, 0, 0, 0]);
  });
});
