import { describe, expect, it } from 'vitest';
import { category, describeSw, isValidSw, SW_TABLE } from '../../card/iso7816/swTable.js';
import * as SW from '../../card/iso7816/sw.js';

describe('status word table (ISO/IEC 7816-4 §5.6)', () => {
  it('describes the table entries with their hex value first', () => {
    expect(describeSw(0x9000)).toBe('9000: normal processing: no further qualification');
    expect(describeSw(0x6a82)).toBe('6A82: checking error: file or application not found');
    expect(describeSw(0x6982)).toMatch(/security status not satisfied/);
    for (const sw of [0x6281, 0x6282, 0x6283, 0x6284, 0x6285, 0x6286])
      expect(describeSw(sw)).toMatch(/^62[0-9A-F]{2}: warning: /);
    expect(describeSw(0x62f1)).toMatch(/more data available/);
  });

  it('describes parameterised values: 61xx, 6Cxx, 63Cx, triggering', () => {
    expect(describeSw(0x6110)).toMatch(/^6110: normal processing: 16 response bytes.*Le=10/);
    expect(describeSw(0x6100)).toMatch(/256 or more/);
    expect(describeSw(0x6c08)).toMatch(/^6C08: .*wrong Le.* 8 data bytes.*Le=08/);
    expect(describeSw(0x6c00)).toMatch(/256 data bytes/);
    for (let x = 0; x < 16; x++) expect(describeSw(0x63c0 + x)).toContain(`counter ${x}`);
    expect(describeSw(0x6202)).toMatch(/triggering by the card/);
    expect(describeSw(0x6480)).toMatch(/execution error: triggering/);
  });

  it('describes unknown values by their group', () => {
    expect(describeSw(0x6f12)).toBe('6F12: 6Fxx: no precise diagnosis (proprietary SW2)');
    expect(describeSw(0x6a99)).toBe('6A99: 6Axx: wrong parameters P1-P2');
    expect(describeSw(0x6299)).toMatch(/^6299: 62xx: warning/);
    expect(describeSw(0x9101)).toMatch(/^9101: 9xxx: proprietary/);
    expect(describeSw(0x6000)).toMatch(/^6000: invalid: 60 is the T=0 NULL/);
    expect(describeSw(0x1234)).toMatch(/^1234: invalid: SW1 must be 6x or 9x/);
  });

  it('describes every 16-bit value without throwing, prefixed by its hex', () => {
    for (let sw = 0; sw <= 0xffff; sw++) {
      const d = describeSw(sw);
      if (!d.startsWith(sw.toString(16).toUpperCase().padStart(4, '0') + ': ')) throw new Error(d);
    }
    expect(() => describeSw(0x10000)).toThrow(RangeError);
    expect(() => describeSw(-1)).toThrow(RangeError);
  });

  it('categorises', () => {
    expect(category(0x9000)).toBe('ok');
    expect(category(0x61ff)).toBe('ok');
    expect(category(0x6282)).toBe('warning');
    expect(category(0x63c1)).toBe('warning');
    expect(category(0x6581)).toBe('error');
    expect(category(0x6f00)).toBe('error');
    expect(category(0x6f12)).toBe('error');
    expect(category(0x9100)).toBe('proprietary');
    expect(category(0x9fff)).toBe('proprietary');
    expect(category(0x6000)).toBe('invalid');
    expect(category(0x0000)).toBe('invalid');
    expect(category(0xa000)).toBe('invalid');
  });

  it('isValidSw matches the 6x (not 60) / 9x rule', () => {
    let valid = 0;
    for (let sw = 0; sw <= 0xffff; sw++) if (isValidSw(sw)) valid++;
    expect(valid).toBe((15 + 16) * 256);
  });

  it('every table entry is valid and every SW_ constant of sw.ts has a specific description', () => {
    for (const sw of SW_TABLE.keys()) expect(isValidSw(sw)).toBe(true);
    for (const [name, value] of Object.entries(SW)) {
      if (!name.startsWith('SW_') || typeof value !== 'number') continue;
      const d = describeSw(value);
      // Either an exact entry or a parameterised one (61xx, 6Cxx, 63Cx) — never only the group.
      expect(d, name).not.toMatch(/^[0-9A-F]{4}: [0-9A-F]{2}xx:/);
    }
  });
});
