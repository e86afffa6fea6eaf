import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Atr } from '../../card/iso7816/Atr.js';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { fromHex } from '../../card/util/hex.js';

// 4,041 ATR lines of pcsc-tools' smartcard_list.txt (source in test/vectors/README.md).
const corpusPath = fileURLToPath(new URL('../vectors/atr-corpus.txt', import.meta.url));
const lines = readFileSync(corpusPath, 'utf8')
  .split('\n')
  .filter((l) => l !== '' && !l.startsWith('#'));

type Kind = 'concrete' | 'wildcard' | 'regex';
function kindOf(line: string): Kind {
  if (/^[0-9A-F]{2}( [0-9A-F]{2})*$/.test(line)) return 'concrete';
  // ".." (any byte) or "X." / ".X" (any nibble) and nothing else.
  if (/^[0-9A-F.]{2}( [0-9A-F.]{2})*$/.test(line)) return 'wildcard';
  return 'regex';
}

/** The outcome class of one ATR: 'parsed' or the family of the rejection reason. */
function outcome(bytes: Uint8Array): string {
  try {
    Atr.parse(bytes);
    return 'parsed';
  } catch (e) {
    if (!(e instanceof MalformedDataError)) throw e; // any other exception fails the test
    expect(e.kind).toBe('atr');
    expect(e.offset).toBeGreaterThanOrEqual(0);
    expect(e.offset).toBeLessThanOrEqual(bytes.length);
    const families: [RegExp, string][] = [
      [/^wrong TCK: expected [0-9A-F]{2}, found [0-9A-F]{2}$/, 'wrong TCK'],
      [/^missing TCK: /, 'missing TCK'],
      [/^unexpected TCK: /, 'unexpected TCK (T=0 only)'],
      [/^\d+ trailing byte\(s\) after TCK$/, 'trailing bytes after TCK'],
      [/^\d+ trailing byte\(s\) after the historical bytes /, 'trailing bytes (T=0 only, no TCK)'],
      [/^truncated historical bytes: K=\d+ announced, \d+ present$/, 'truncated historical bytes'],
      [/^truncated interface bytes: /, 'truncated interface bytes'],
      [/^invalid TS /, 'invalid TS'],
      [/^too long: /, 'too long'],
    ];
    for (const [re, name] of families) if (re.test(e.reason)) return name;
    throw new Error(`unclassified reason: ${e.reason}`);
  }
}

describe('real-world ATR corpus (pcsc-tools smartcard_list.txt)', () => {
  const byKind = { concrete: [] as string[], wildcard: [] as string[], regex: [] as string[] };
  for (const l of lines) byKind[kindOf(l)].push(l);

  it('has 4,041 ATR lines: 3,803 concrete, 218 with wildcards, 20 regular expressions', () => {
    expect(lines.length).toBe(4041);
    expect(byKind.concrete.length).toBe(3803);
    expect(byKind.wildcard.length).toBe(218);
    expect(byKind.regex.length).toBe(20);
    expect(new Set(lines).size).toBe(lines.length);
  });

  it('every concrete ATR parses or is rejected with a precise reason; counts per outcome', () => {
    const counts: Record<string, number> = {};
    for (const l of byKind.concrete) {
      const o = outcome(fromHex(l));
      counts[o] = (counts[o] ?? 0) + 1;
    }
    // Observed, after checking rejections by hand (XOR recomputed, K counted): the rejected
    // ones are transcription errors or reader quirks in the list, e.g. "3B 97 11 80 1F 41 80 31
    // A0 73 BE 21 00 A6" whose TCK must be A5, or "3B 10 14 50" whose T0 announces no historical byte.
    expect(counts).toEqual({
      parsed: 3711,
      'wrong TCK': 17,
      'missing TCK': 21,
      'unexpected TCK (T=0 only)': 1,
      'trailing bytes after TCK': 10,
      'trailing bytes (T=0 only, no TCK)': 22,
      'truncated historical bytes': 21,
    });
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(byKind.concrete.length);
  });

  it('hand-checked rejections give exactly these reasons', () => {
    const reason = (hex: string) => {
      try {
        Atr.parse(fromHex(hex));
      } catch (e) {
        if (e instanceof MalformedDataError) return `${e.offset}: ${e.reason}`;
      }
      return 'parsed';
    };
    expect(reason('3B 97 11 80 1F 41 80 31 A0 73 BE 21 00 A6')).toBe('13: wrong TCK: expected A5, found A6');
    expect(reason('3B 86 80 01 06 75 77 81 02 8F 00')).toBe('10: wrong TCK: expected 0F, found 00');
    expect(reason('3B 10 14 50')).toBe(
      '3: 1 trailing byte(s) after the historical bytes (only T=0 is indicated: no TCK)',
    );
    expect(reason('3B 04 60 89')).toBe('4: truncated historical bytes: K=4 announced, 2 present');
    expect(reason('3B 8D 01 80 FB A0 00 00 03 97 42 54 46 59 04 01')).toMatch(/^16: missing TCK/);
    expect(reason('3B 67 00 FF C5 00 00 FF FF FF FF 5D')).toMatch(/^11: unexpected TCK/);
    expect(reason('3B 84 80 01 01 11 20 03 36 90 00')).toBe('9: 2 trailing byte(s) after TCK');
  });

  it('every parsed ATR round-trips through describe/build and renders its JSON', () => {
    let withWarnings = 0;
    const categories: Record<string, number> = {};
    const protocols: Record<string, number> = {};
    const warningFamilies: Record<string, number> = {};
    for (const l of byKind.concrete) {
      let a: Atr;
      try {
        a = Atr.parse(fromHex(l));
      } catch {
        continue;
      }
      expect(Atr.build(a.describe()).toHex()).toBe(l.replaceAll(' ', ''));
      const json = JSON.parse(JSON.stringify(a.toJSON())) as { tck: { valid: boolean }; atr: string };
      expect(json.tck.valid).toBe(true);
      expect(json.atr).toBe(a.toHex());
      if (a.warnings.length > 0) withWarnings++;
      for (const w of a.warnings) {
        const f = w.startsWith('historical bytes at offset')
          ? 'historical bytes'
          : w.startsWith('TA1 ')
            ? 'TA1 RFU'
            : w.startsWith('TD1 indicates T=15')
              ? 'TD1 indicates T=15'
              : w.startsWith('IFSC 255')
                ? 'IFSC 255'
                : w;
        warningFamilies[f] = (warningFamilies[f] ?? 0) + 1;
      }
      const c = a.historical.category;
      categories[c] = (categories[c] ?? 0) + 1;
      const p = a.protocols.join('+') + (a.globalT15 ? '+15' : '');
      protocols[p] = (protocols[p] ?? 0) + 1;
    }
    // Category indicator of the historical bytes (ISO/IEC 7816-4 §8.1.1) across the corpus.
    expect(categories).toEqual({
      proprietary: 1589,
      'compact-tlv': 1413,
      'compact-tlv-with-status': 644,
      rfu: 29,
      'dir-data-reference': 9,
      none: 27,
    });
    // Protocols offered (+15: global T=15 bytes present). T=14 is a proprietary protocol.
    expect(protocols).toEqual({
      '0': 1834,
      '1': 650,
      '14': 10,
      '0+1': 577,
      '0+15': 500,
      '1+15': 85,
      '0+1+15': 55,
    });
    expect(withWarnings).toBe(202);
    expect(warningFamilies).toEqual({
      'historical bytes': 192,
      'TA1 RFU': 13,
      'TD1 indicates T=15': 2,
      'IFSC 255': 4,
    });
  });
});
