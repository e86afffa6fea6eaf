// `meterpurse keys derive` and `meterpurse mac`, run in-process through main().
import { describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import type { Io } from '../../cli/Command.js';
import { hex, loadVectors, type Iso9797Vector } from './vectors.js';

async function run(...argv: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => (out += t), err: (t) => (err += t) };
  const status = await main(argv, io);
  return { status, out, err };
}

const kh = loadVectors<{
  terminalKey: { kh: string; id: string; kt: string }[];
  aes: { kh: string; id: string; kt: string };
}>('key-hierarchy.json');
const iso = loadVectors<{ vectors: Iso9797Vector[] }>('mac-iso9797-1.json');
const rfc4493 = loadVectors<{ key: string; vectors: { message: string; tag: string }[] }>(
  'cmac-rfc4493.json',
);
const sp80038b = loadVectors<{
  message: string;
  vectors: { name: string; alg: string; key: string; mlen: number; tag: string }[];
}>('cmac-sp800-38b.json');

describe('meterpurse keys derive', () => {
  for (const impl of ['node', 'forge']) {
    it(`prints KT for the documented example (3des, ${impl})`, async () => {
      const t = kh.terminalKey[0]!;
      const r = await run('keys', 'derive', '--master', t.kh, '--id', t.id, '--impl', impl);
      expect(r).toEqual({ status: 0, out: `${t.kt}\n`, err: '' });
    });
  }
  it('prints the AES example with --alg aes', async () => {
    const r = await run('keys', 'derive', '--master', kh.aes.kh, '--id', kh.aes.id, '--alg', 'aes');
    expect(r.out).toBe(`${kh.aes.kt}\n`);
    expect(r.status).toBe(0);
  });
  const bad: [string, string[], RegExp][] = [
    ['missing --master', ['--id', '0A1B2C'], /--master <hex> is required/],
    ['missing --id', ['--master', '404142434445464748494A4B4C4D4E4F'], /--id <hex> is required/],
    ['bad hex', ['--master', '40414243zz', '--id', '0A'], /not a hex digit/],
    ['short master', ['--master', '4041424344454647', '--id', '0A'], /--master must be 16 or 24 bytes/],
    [
      'long id',
      ['--master', '404142434445464748494A4B4C4D4E4F', '--id', '000102030405060708'],
      /--id must be 1\.\.8/,
    ],
    ['unknown alg', ['--master', '40', '--id', '0A', '--alg', 'des'], /--alg must be 3des or aes/],
    ['unknown option', ['--master', '40', '--id', '0A', '--foo', 'x'], /Unknown option/],
    ['unknown impl', ['--master', '40', '--id', '0A', '--impl', 'wasm'], /--impl must be node or forge/],
  ];
  for (const [name, args, message] of bad) {
    it(`${name}: exit 2 with a one-line message`, async () => {
      const r = await run('keys', 'derive', ...args);
      expect(r.status).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toMatch(message);
      expect(r.err.trim().split('\n')).toHaveLength(1);
    });
  }
});

describe('meterpurse mac', () => {
  for (const v of iso.vectors.filter((x) => !x.truncated)) {
    it(`${v.algorithm}: ${v.name.slice(0, 60)}`, async () => {
      const r = await run(
        'mac',
        '--key',
        v.key,
        '--data',
        v.data,
        '--alg',
        v.algorithm,
        '--pad',
        String(v.padding),
      );
      expect(r.status).toBe(0);
      expect(r.out).toBe(
        `${hex(v.mac).reduce((s, b) => s + b.toString(16).padStart(2, '0').toUpperCase(), '')}\n`,
      );
    });
  }
  it('cmac defaults to AES (RFC 4493 example 2)', async () => {
    const v = rfc4493.vectors[1]!;
    const r = await run('mac', '--key', rfc4493.key, '--data', v.message.replace(/ /g, ''), '--alg', 'cmac');
    expect(r.out).toBe(`${v.tag.toUpperCase()}\n`);
  });
  it('cmac --cipher tdes (SP 800-38B two-key example 19), with forge', async () => {
    const v = sp80038b.vectors.find((x) => x.name.includes('example 19'))!;
    const data = sp80038b.message.slice(0, v.mlen * 2);
    const r = await run(
      'mac',
      '--key',
      v.key,
      '--data',
      data,
      '--alg',
      'cmac',
      '--cipher',
      'tdes',
      '--impl',
      'forge',
    );
    expect(r.out).toBe(`${v.tag.toUpperCase()}\n`);
  });
  it('default padding is method 2', async () => {
    const base = ['--key', '0123456789ABCDEFFEDCBA9876543210', '--data', '01', '--alg', '9797-1-m1'];
    const dflt = await run('mac', ...base);
    const two = await run('mac', ...base, '--pad', '2');
    const one = await run('mac', ...base, '--pad', '1');
    expect(dflt.out).toBe(two.out);
    expect(dflt.out).not.toBe(one.out);
  });
  it('empty --data is allowed', async () => {
    const r = await run('mac', '--key', rfc4493.key, '--data', '', '--alg', 'cmac');
    expect(r.out).toBe(`${rfc4493.vectors[0]!.tag.toUpperCase()}\n`);
  });
  const bad: [string, string[], RegExp][] = [
    ['missing --alg', ['--key', '00', '--data', '00'], /--alg is required/],
    ['unknown --alg', ['--key', '00', '--data', '00', '--alg', 'hmac'], /--alg must be one of/],
    [
      'bad --pad',
      ['--key', '00', '--data', '00', '--alg', '9797-1-m1', '--pad', '3'],
      /--pad must be 1 or 2/,
    ],
    [
      '--pad with cmac',
      ['--key', '00', '--data', '00', '--alg', 'cmac', '--pad', '2'],
      /does not apply to cmac/,
    ],
    ['m3 with aes', ['--key', '00', '--data', '00', '--alg', '9797-1-m3', '--cipher', 'aes'], /DES only/],
    [
      'short key for m3',
      ['--key', '0011223344556677', '--data', '00', '--alg', '9797-1-m3'],
      /--key must be 16 bytes/,
    ],
    [
      '24-byte key for aes cmac',
      ['--key', '00'.repeat(24), '--data', '00', '--alg', 'cmac'],
      /--key must be 16 or 32/,
    ],
    ['missing --key', ['--data', '00', '--alg', 'cmac'], /--key <hex> is required/],
    [
      'odd hex data',
      ['--key', '00'.repeat(16), '--data', '123', '--alg', 'cmac'],
      /odd number of hex digits/,
    ],
  ];
  for (const [name, args, message] of bad) {
    it(`${name}: exit 2 with a one-line message`, async () => {
      const r = await run('mac', ...args);
      expect(r.status).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toMatch(message);
    });
  }
  it('--help prints the usage', async () => {
    const r = await run('mac', '--help');
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/usage: meterpurse mac --key <hex>/);
  });
});
