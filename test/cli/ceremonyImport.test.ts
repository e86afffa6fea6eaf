/**
 * `keys ceremony import --from -`: components typed in on standard input (never on the command
 * line, where ps and the shell history would show them), checked against their KCVs; the
 * command-line form still works but says where it is visible.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnCli } from './spawnCli.js';

const dir = mkdtempSync(join(tmpdir(), 'mp-import-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cli = (args: string[], stdin = '') =>
  spawnCli(args, { ...process.env, MP_CONFIG_DIR: join(dir, 'cfg') }, stdin);

// The published 2-key TDES vector as one component: 0123456789ABCDEF FEDCBA9876543210, KCV 08D7B4.
const LINE = '11 0123456789ABCDEF FEDCBA9876543210 08D7B4';

describe('keys ceremony import', () => {
  it('reads "<slot> <component> <kcv>" lines from standard input, comments allowed; the file holds the component, mode 0600', async () => {
    const out = join(dir, 'c1.json');
    const r = await cli(
      ['keys', 'ceremony', 'import', '--custodian', '1', '--of', '2', '--from', '-', '--out', out],
      `# custodian 1, typed from paper\n${LINE}\n\n`,
    );
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/11 \(MK_auth\[1\]\)\s+component KCV 08D7B4/);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(readFileSync(out, 'utf8')).toMatch(/0123456789ABCDEFFEDCBA9876543210/i);
  });

  it('a component that does not match its KCV is refused (65), nothing written', async () => {
    const out = join(dir, 'bad.json');
    const r = await cli(
      ['keys', 'ceremony', 'import', '--custodian', '1', '--of', '2', '--from', '-', '--out', out],
      '11 0123456789ABCDEF FEDCBA9876543210 08D7B5\n',
    );
    expect(r.code).toBe(65);
    expect(() => statSync(out)).toThrow();
  });

  it('a line that is not "<slot> <component> <kcv>" names its line; --from and --component together are refused', async () => {
    const a = await cli(
      [
        'keys',
        'ceremony',
        'import',
        '--custodian',
        '1',
        '--of',
        '2',
        '--from',
        '-',
        '--out',
        join(dir, 'x.json'),
      ],
      `${LINE}\n11 0123\n`,
    );
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/line 2: want "<slot> <component> <kcv>"/);
    const b = await cli([
      'keys',
      'ceremony',
      'import',
      '--custodian',
      '1',
      '--of',
      '2',
      '--from',
      '-',
      '--slot',
      '11',
      '--component',
      '0123456789ABCDEFFEDCBA9876543210',
      '--kcv',
      '08D7B4',
      '--out',
      join(dir, 'y.json'),
    ]);
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/either with --from or with --slot/);
  });

  it('components on the command line still work, with a warning that ps shows them', async () => {
    const r = await cli([
      'keys',
      'ceremony',
      'import',
      '--custodian',
      '2',
      '--of',
      '2',
      '--slot',
      '11',
      '--component',
      '0123456789ABCDEFFEDCBA9876543210',
      '--kcv',
      '08D7B4',
      '--out',
      join(dir, 'c2.json'),
    ]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/visible in ps and the shell history; --from - reads them from standard input/);
  });
});
