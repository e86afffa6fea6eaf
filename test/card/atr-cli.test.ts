import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import type { Io } from '../../cli/Command.js';
import type { AtrJson } from '../../card/iso7816/Atr.js';

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => void (out += t), err: (t) => void (err += t) };
  const code = await main(argv, io);
  return { code, out, err };
}

const OPENPGP = '3B DA 18 FF 81 B1 FE 75 1F 03 00 31 C5 73 C0 01 40 00 90 00 0C';

describe('meterpurse atr', () => {
  it('prints a human-readable analysis, one line per byte', async () => {
    const r = await run('atr', ...OPENPGP.split(' '));
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    const lines = r.out.split('\n');
    expect(lines).toContain('  TS  3B  direct convention');
    expect(lines).toContain('  TA1 18  Fi=372, Di=12, f(max)=5 MHz, 31 cycles/etu');
    expect(lines).toContain('  TC1 FF  N=255: extra guard time (12 etu for T=0, 11 etu for T=1)');
    expect(lines).toContain('  TA3 FE  T=1 IFSC=254');
    expect(lines).toContain('  TB3 75  T=1 BWI=7, CWI=5');
    expect(lines).toContain('  TA4 03  T=15 clock stop not supported, classes A B');
    expect(lines).toContain('  TCK 0C  correct');
    expect(lines).toContain('Protocols offered: T=1; global T=15 bytes');
    expect(lines).toContain(
      'Fi/Di: 372/12; bit rate 161,290 bit/s at f(max) 5 MHz, 115,200 bit/s at 3.5712 MHz',
    );
    expect(lines).toContain('      commands: chaining no, extended Lc/Le yes, logical channels none, max 1');
    expect(lines).toContain('  status indicator: LCS 00 (no information given), SW 9000');
  });

  it('--clock changes the second bit rate', async () => {
    const r = await run('atr', '3B021450', '--clock', '4000000');
    expect(r.out).toContain('10,753 bit/s at 4 MHz');
  });

  it('--json prints the documented stable object', async () => {
    const r = await run('atr', OPENPGP.replaceAll(' ', ''), '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as AtrJson;
    expect(j.atr).toBe(OPENPGP.replaceAll(' ', ''));
    expect(j.convention).toBe('direct');
    expect(j.protocols).toEqual([1]);
    expect([j.fi, j.di, j.fmax, j.n]).toEqual([372, 12, 5_000_000, 255]);
    expect(j.baudRateAt3_5712MHz).toBe(115200);
    expect(j.t1).toMatchObject({ ifsc: 254, bwi: 7, cwi: 5, errorDetection: 'LRC' });
    expect(j.historicalBytes.hex).toBe('0031C573C00140009000');
    expect(j.historicalBytes.cardCapabilities?.commands?.extendedLcLe).toBe(true);
    expect(j.tck).toEqual({ present: true, value: 0x0c, valid: true });
    // The key set is part of the documented contract (docs/atr.md).
    expect(Object.keys(j)).toEqual([
      'atr',
      'length',
      'convention',
      't0',
      'groups',
      'protocols',
      'globalT15',
      'fiIndex',
      'diIndex',
      'fi',
      'di',
      'fmax',
      'ta1Present',
      'cyclesPerEtu',
      'baudRateAtFmax',
      'baudRateAt3_5712MHz',
      'n',
      'guardTimeEtu',
      'wi',
      'specificMode',
      't1',
      't15',
      'historicalBytes',
      'tck',
      'warnings',
    ]);
  });

  it('exits 2 with one line for a malformed ATR', async () => {
    const r = await run('atr', '3B 80 01 00');
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toBe('meterpurse atr: malformed atr at offset 3: wrong TCK: expected 81, found 00\n');
  });

  it('--tolerate-wrong-tck shows the wrong TCK instead', async () => {
    const r = await run('atr', '3B 80 01 00', '--tolerate-wrong-tck');
    expect(r.code).toBe(0);
    expect(r.out).toContain('  TCK 00  WRONG (accepted on request)');
    expect(r.out).toContain('wrong TCK accepted: expected 81, found 00');
  });

  it('exits 2 for bad hex, a missing ATR and unknown options', async () => {
    expect((await run('atr', '3B0')).err).toMatch(
      /^meterpurse atr: malformed hex at offset 3: odd number of hex digits\n$/,
    );
    expect((await run('atr')).code).toBe(2);
    expect((await run('atr')).err).toMatch(/missing ATR/);
    expect((await run('atr', '3B00', '--bogus')).err).toMatch(/unknown option --bogus/);
    expect((await run('atr', '3B00', '--clock', 'x')).err).toMatch(/--clock needs a frequency/);
  });

  it('docs/atr.md shows exactly what the command prints (text and JSON)', async () => {
    const doc = readFileSync(fileURLToPath(new URL('../../docs/atr.md', import.meta.url)), 'utf8');
    const json = /```json\n([\s\S]*?)\n```/.exec(doc)?.[1];
    const compact = OPENPGP.replaceAll(' ', '');
    expect(json).toBe((await run('atr', compact, '--json')).out.trimEnd());
    const text = (await run('atr', compact)).out.trimEnd();
    expect(doc).toContain('```\n' + text + '\n```');
  });
});
