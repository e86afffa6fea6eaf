import { describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import type { Io } from '../../cli/Command.js';
import { Atr, type AtrJson } from '../../card/iso7816/Atr.js';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { fromHex } from '../../card/util/hex.js';

/**
 * A national eID ATR seen in the field: TD1 80 (T=0, TD2 follows), TD2 31 (T=1, TA3 TB3), so a
 * TCK is mandatory (ISO/IEC 7816-3 §8.2.5) — and it has none. XOR of T0…last historical byte: 43.
 */
const EID = '3BF99600008031FE455343453720474E335E';

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => void (out += t), err: (t) => void (err += t) };
  const code = await main(argv, io);
  return { code, out, err };
}

function caught(f: () => unknown): MalformedDataError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MalformedDataError);
    return e as MalformedDataError;
  }
  throw new Error('no error');
}

describe('Atr: tolerant mode for a missing TCK', () => {
  it('strict parsing rejects the eID ATR at offset 18 (where the TCK should be)', () => {
    const e = caught(() => Atr.fromHex(EID));
    expect(e.offset).toBe(18);
    expect(e.reason).toBe(
      'missing TCK: a protocol other than T=0 is indicated, so TCK is mandatory (ISO/IEC 7816-3 §8.2.5)',
    );
    // tolerateWrongTck alone keeps refusing it (unchanged behaviour).
    expect(() => Atr.fromHex(EID, { tolerateWrongTck: true })).toThrow(/missing TCK/);
  });

  it('{ tolerant: true } reads it and reports the missing TCK as a finding', () => {
    const a = Atr.fromHex(EID, { tolerant: true });
    expect(a.toHex()).toBe(EID);
    expect(a.length).toBe(18);
    expect(a.protocols).toEqual([0, 1]);
    expect(a.fi).toBe(512);
    expect(a.di).toBe(32);
    expect(a.t1).toMatchObject({ ifsc: 254, cwi: 5, bwi: 4 });
    expect(toAscii(a.historicalBytes)).toBe('SCE7 GN3^');
    expect(a.tck).toEqual({ present: false, value: undefined, valid: false });
    expect(a.expectedTck).toBe(0x43);
    expect(a.warnings).toEqual([
      'missing TCK accepted: a protocol other than T=0 is indicated, so TCK is mandatory (ISO/IEC 7816-3 §8.2.5); expected 43',
    ]);
    expect(a.toJSON().tck).toEqual({ present: false, value: null, valid: false });
  });

  it('tolerateMissingTck alone does the same; the completed ATR parses strictly', () => {
    const a = Atr.fromHex(EID, { tolerateMissingTck: true });
    expect(a.tck.valid).toBe(false);
    const fixed = Atr.fromHex(EID + '43');
    expect(fixed.tck).toEqual({ present: true, value: 0x43, valid: true });
    expect(fixed.warnings).toEqual([]);
    // build() from the description computes the TCK the card should have sent.
    expect(Atr.build(a.describe()).toHex()).toBe(EID + '43');
  });

  it('tolerant mode still reports a wrong TCK, and accepts a correct one without findings', () => {
    const wrong = Atr.fromHex(EID + '00', { tolerant: true });
    expect(wrong.tck).toEqual({ present: true, value: 0, valid: false });
    expect(wrong.warnings).toEqual(['wrong TCK accepted: expected 43, found 00']);
    expect(Atr.fromHex(EID + '43', { tolerant: true }).warnings).toEqual([]);
  });

  it('tolerant mode relaxes nothing else: truncation, trailing bytes, T=0-only TCK stay errors', () => {
    // T0 announces 9 historical bytes; 8 present.
    expect(caught(() => Atr.fromHex(EID.slice(0, -2), { tolerant: true })).reason).toBe(
      'truncated historical bytes: K=9 announced, 8 present',
    );
    expect(caught(() => Atr.fromHex(EID + '4300', { tolerant: true })).reason).toBe(
      '1 trailing byte(s) after TCK',
    );
    expect(caught(() => Atr.fromHex('3B 02 14 50 46', { tolerant: true })).reason).toMatch(
      /trailing|unexpected/,
    );
    // T=0 alone: no TCK, nothing to report.
    const t0 = Atr.fromHex('3B 02 14 50', { tolerant: true });
    expect(t0.tck).toEqual({ present: false, value: undefined, valid: true });
    expect(t0.warnings).toEqual([]);
  });

  it('every prefix of the eID ATR either parses tolerantly or throws MalformedDataError', () => {
    const bytes = fromHex(EID);
    for (let n = 0; n <= bytes.length; n++) {
      try {
        Atr.parse(bytes.subarray(0, n), { tolerant: true });
      } catch (e) {
        expect(e).toBeInstanceOf(MalformedDataError);
      }
    }
  });
});

describe('meterpurse atr --tolerant', () => {
  it('without it: exit 2 and the strict error', async () => {
    const r = await run('atr', EID);
    expect(r.code).toBe(2);
    expect(r.err).toContain('missing TCK');
  });

  it('with it: the analysis, the missing TCK in the byte list and as a warning', async () => {
    const r = await run('atr', EID, '--tolerant');
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines).toContain('  TD2 31  Y3=0011, T=1');
    expect(lines).toContain(
      '  TCK MISSING (required: not only T=0 is indicated; accepted on request), should be 43',
    );
    expect(lines).toContain('Protocols offered: T=0, T=1');
    expect(lines).toContain(
      '  missing TCK accepted: a protocol other than T=0 is indicated, so TCK is mandatory (ISO/IEC 7816-3 §8.2.5); expected 43',
    );
  });

  it('--json: tck present false, valid false, and the warning', async () => {
    const r = await run('atr', EID, '--tolerant', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as AtrJson;
    expect(j.atr).toBe(EID);
    expect(j.tck).toEqual({ present: false, value: null, valid: false });
    expect(j.warnings).toHaveLength(1);
    expect(j.warnings[0]).toMatch(/^missing TCK accepted/);
  });
});

function toAscii(b: Uint8Array): string {
  return String.fromCharCode(...b);
}
