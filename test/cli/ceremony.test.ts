/**
 * `meterpurse keys ceremony …` as a separate process: generate → card new --profile master-key →
 * load → status; a KCV mismatch exits 65 naming the slot and leaves the MKC unloaded; the PIN is
 * never taken from argv.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnCli } from './spawnCli.js';

const dir = mkdtempSync(join(tmpdir(), 'mp-ceremony-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ENV = { ...process.env, MP_CONFIG_DIR: join(dir, 'config'), MP_MKC_PIN: '' };
delete (ENV as Record<string, string | undefined>).MP_MKC_PIN;

const cli = (args: string[], env: NodeJS.ProcessEnv = ENV) => spawnCli(args, env);

describe('keys ceremony', () => {
  it('generate → card new --profile master-key → load → status; KCV mismatch exits 65', async () => {
    const c = join(dir, 'c');
    const g = await cli([
      'keys',
      'ceremony',
      'generate',
      '--utilities',
      '1,2',
      '--custodians',
      '2',
      '--out',
      c,
    ]);
    expect(g.code, g.err).toBe(0);
    expect(g.out).toMatch(/11 \(MK_auth\[1\]\)\s+1\s+[0-9A-F]{6}/);
    for (const f of ['custodian-1.json', 'custodian-2.json', 'manifest.json'])
      expect(statSync(join(c, f)).mode & 0o777).toBe(0o600);
    expect(g.out).not.toMatch(/[0-9A-F]{32}/); // prints KCVs only
    const again = await cli([
      'keys',
      'ceremony',
      'generate',
      '--utilities',
      '1',
      '--custodians',
      '2',
      '--out',
      c,
    ]);
    expect(again.code).toBe(2);

    const pin = join(dir, 'pin');
    writeFileSync(pin, '2468\n', { mode: 0o600 });
    const mkc = join(dir, 'issuer.mkc');
    const n = await cli(['card', 'new', '--profile', 'master-key', '--out', mkc, '--pin-file', pin]);
    expect(n.code, n.err).toBe(0);
    const noPin = await cli(['card', 'new', '--profile', 'master-key', '--out', join(dir, 'x.mkc')]);
    expect(noPin.code).toBe(2);
    expect(noPin.err).toMatch(/MP_MKC_PIN/);

    // A component that does not match its KCV: exit 65, the slot named, nothing loaded.
    const bad = join(dir, 'bad.json');
    const o = JSON.parse(readFileSync(join(c, 'custodian-2.json'), 'utf8')) as {
      components: { kcv: string }[];
    };
    o.components[2]!.kcv = '000000';
    writeFileSync(bad, JSON.stringify(o));
    const m = await cli([
      'keys',
      'ceremony',
      'load',
      '--mkc',
      mkc,
      '--pin-file',
      pin,
      '--components',
      join(c, 'custodian-1.json'),
      bad,
      '--manifest',
      join(c, 'manifest.json'),
    ]);
    expect(m.code).toBe(65);
    expect(m.err).toMatch(/slot 12 \(MK_debit\[1\]\)/);
    const s0 = await cli(['keys', 'ceremony', 'status', '--mkc', mkc]);
    expect(s0.code, s0.err).toBe(0);
    expect(s0.out).toMatch(/loading components \(LCS 03\)/);

    const l = await cli(
      [
        'keys',
        'ceremony',
        'load',
        '--mkc',
        mkc,
        '--components',
        join(c, 'custodian-1.json'),
        join(c, 'custodian-2.json'),
        '--manifest',
        join(c, 'manifest.json'),
      ],
      { ...ENV, MP_MKC_PIN: '2468' },
    );
    expect(l.code, l.err).toBe(0);
    const s = await cli(['keys', 'ceremony', 'status', '--mkc', mkc, '--json']);
    expect(s.code, s.err).toBe(0);
    const st = JSON.parse(s.out) as { sealed: boolean; slots: { slot: string; kcv: string }[] };
    const manifest = JSON.parse(readFileSync(join(c, 'manifest.json'), 'utf8')) as {
      slots: { slot: string; kcv: string }[];
    };
    expect(st.sealed).toBe(true);
    expect(st.slots.map((x) => [x.slot, x.kcv])).toEqual(manifest.slots.map((x) => [x.slot, x.kcv]));
  }, 120_000);

  it('--help says the PIN never comes from the command line', async () => {
    const h = await cli(['keys', 'ceremony', 'load', '--help']);
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/never on the command line/);
  }, 60_000);
});
