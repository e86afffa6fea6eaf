import { describe, expect, it } from 'vitest';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { fromHex, toHex } from '../../card/util/hex.js';

describe('CommandApdu byte-exact round trips', () => {
  const cases: [string, string][] = [
    ['1', '00A40000'],
    ['2S', '00B0000000'],
    ['2E', '00B00000000000'],
    ['3S', '00A4040007A0000000041010'],
    ['3E', '00A40400000007A0000000041010'],
    ['4S', '00A4040007A000000004101000'],
    ['4E', '00A40400000007A00000000410100100'],
  ];
  for (const [c, hex] of cases) {
    it(`case ${c}: ${hex}`, () => {
      const a = CommandApdu.decode(fromHex(hex));
      expect(a.case).toBe(c);
      expect(toHex(a.encode())).toBe(hex);
    });
  }
});
