/**
 * `keys ceremony transport-master`: the chip manufacturer's transport master file, combined from the
 * custodians' components of its slot and checked against the manifest; `card blank` makes a chip
 * with it, and the MKC loaded from the same ceremony personalises that chip.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnCli } from './spawnCli.js';

const dir = mkdtempSync(join(tmpdir(), 'mp-transport-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ENV = { ...process.env, MP_CONFIG_DIR: join(dir, 'cfg'), MP_MKC_PIN: '2468' };

const cli = (...args: string[]) => spawnCli(args, ENV);

describe('keys ceremony transport-master → card blank → card personalise', () => {
  it('the file holds MK_tr[1] with the manifest KCV (mode 0600); a chip made with it is personalised by the MKC of the same ceremony', async () => {
    const c = join(dir, 'c');
    expect(
      (await cli('keys', 'ceremony', 'generate', '--utilities', '1', '--custodians', '2', '--out', c)).code,
    ).toBe(0);
    const parts = [join(c, 'custodian-1.json'), join(c, 'custodian-2.json')];
    const tm = join(dir, 'transport.json');
    const r = await cli(
      'keys',
      'ceremony',
      'transport-master',
      '--components',
      ...parts,
      '--manifest',
      join(c, 'manifest.json'),
      '--out',
      tm,
    );
    expect(r.code, r.err).toBe(0);
    expect(statSync(tm).mode & 0o777).toBe(0o600);
    const file = JSON.parse(readFileSync(tm, 'utf8')) as { tkv: number; kcv: string };
    const manifest = JSON.parse(readFileSync(join(c, 'manifest.json'), 'utf8')) as {
      slots: { slot: string; kcv: string }[];
    };
    expect(file.tkv).toBe(1);
    expect(file.kcv).toBe(manifest.slots.find((s) => s.slot === '01')!.kcv);
    expect(r.out).toContain(`KCV ${file.kcv}`);

    const mkc = join(dir, 'issuer.mkc');
    writeFileSync(join(dir, 'pin'), '2468\n');
    expect(
      (await cli('card', 'new', '--profile', 'master-key', '--out', mkc, '--pin-file', join(dir, 'pin')))
        .code,
    ).toBe(0);
    const load = await cli(
      'keys',
      'ceremony',
      'load',
      '--mkc',
      mkc,
      '--components',
      ...parts,
      '--manifest',
      join(c, 'manifest.json'),
    );
    expect(load.code, load.err).toBe(0);
    const chip = join(dir, 'chip.card');
    const blank = await cli(
      'card',
      'blank',
      '--kind',
      'subscriber',
      '--icsn',
      '4943534E000000AA',
      '--transport-key-file',
      tm,
      '--out',
      chip,
    );
    expect(blank.code, blank.err).toBe(0);
    const perso = await cli(
      'card',
      'personalise',
      '--mkc',
      mkc,
      '--chip',
      chip,
      '--as',
      'subscriber',
      '--csn',
      '4D500000000000AA',
    );
    expect(perso.code, perso.err).toBe(0);
    const show = await cli('card', 'show', chip);
    expect(show.out).toMatch(/life cycle: 05 personalised/);
    expect(show.out).toMatch(/CSN 4D500000000000AA/);
  });

  it('a component that does not belong to the manifest: 65, nothing written; the slot absent: 2', async () => {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    expect(
      (await cli('keys', 'ceremony', 'generate', '--utilities', '1', '--custodians', '2', '--out', a)).code,
    ).toBe(0);
    expect(
      (await cli('keys', 'ceremony', 'generate', '--utilities', '1', '--custodians', '2', '--out', b)).code,
    ).toBe(0);
    const out = join(dir, 'mixed.json');
    const mixed = await cli(
      'keys',
      'ceremony',
      'transport-master',
      '--components',
      join(a, 'custodian-1.json'),
      join(b, 'custodian-2.json'),
      '--manifest',
      join(a, 'manifest.json'),
      '--out',
      out,
    );
    expect(mixed.code).toBe(65);
    expect(() => statSync(out)).toThrow();
    const noSlot = await cli(
      'keys',
      'ceremony',
      'transport-master',
      '--components',
      join(a, 'custodian-1.json'),
      join(a, 'custodian-2.json'),
      '--manifest',
      join(a, 'manifest.json'),
      '--tkv',
      '2',
      '--out',
      out,
    );
    expect(noSlot.code).toBe(2);
    expect(noSlot.err).toMatch(/no transport master MK_tr\[2\]/);
  });
});
