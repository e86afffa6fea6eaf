/**
 * A deterministic card from its card file alone (issue 14): `card new … --rng-seed <S>` keeps the
 * seed in the card file's configuration (inside the seal), and `trace replay --card` (like `card
 * serve`) seeds the card's random source from it when no `--rng-seed` is given — a flag overrides
 * it, and the output says which. `card show` states the seed and that such a card is not fit for
 * real use. The SAM and SVM of the purse-spec world made this way replay the golden host value
 * store session (HOST INIT's R3, the SVM's RV, every MAC over them) byte for byte.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import type { Io } from '../../cli/Command.js';
import { FLOW_RNG_SEEDS } from '../../apdu-traces/flows.js';
import { SPEC_SEED } from '../applets/specExamples.js';

const dir = mkdtempSync(join(tmpdir(), 'mp-golden-seed-'));
// The card key and its rollback state away from the card files (card new warns otherwise).
mkdirSync(join(dir, 'key'));
const KEY = join(dir, 'key', 'card.key');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const TRACE = join(import.meta.dirname, '../../apdu-traces/flow-host-value-store.trace');

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => (out += t), err: (t) => (err += t) };
  return { code: await main(argv, io), out, err };
}

/** `card new` of the world's SAM and SVM (demo issuer "purse-spec", meter 000123, max 1000.00). */
async function newWorldModules(tag: string, seeded: boolean): Promise<{ sam: string; svm: string }> {
  const files = { sam: join(dir, `${tag}-sam.card`), svm: join(dir, `${tag}-svm.card`) };
  for (const d of ['sam', 'svm'] as const) {
    const r = await run(
      'card',
      'new',
      '--profile',
      d,
      '--seed',
      SPEC_SEED,
      ...(d === 'svm' ? ['--max', '100000'] : []),
      ...(seeded ? ['--rng-seed', FLOW_RNG_SEEDS[d]] : []),
      '--out',
      files[d],
      '--key-file',
      KEY,
    );
    expect(r.code).toBe(0);
    if (seeded)
      expect(r.out).toContain(`random source: SeededRng("${FLOW_RNG_SEEDS[d]}") from the card file`);
  }
  return files;
}

describe('card new --rng-seed: a deterministic card from its (sealed) card file', () => {
  it('replays the seeded golden host value store session byte for byte with no --rng-seed', async () => {
    const f = await newWorldModules('a', true);
    const r = await run(
      'trace',
      'replay',
      TRACE,
      '--card',
      `sam=${f.sam}`,
      '--card',
      `svm=${f.svm}`,
      '--key-file',
      KEY,
    );
    expect(r.err).toBe('');
    expect(r.out).toContain('0 equal under masks, 0 different — OK');
    expect(r.out).toContain(
      `SeededRng("${FLOW_RNG_SEEDS.svm}") from the card file's own seed (card new --rng-seed)`,
    );
    expect(r.code).toBe(0);
    // The seed is in the sealed configuration: not readable in the file.
    expect(readFileSync(f.svm).includes(Buffer.from(FLOW_RNG_SEEDS.svm))).toBe(false);
  });

  it('a --rng-seed overrides the card file seed, and the output says so (here: a wrong one, exit 1)', async () => {
    const f = await newWorldModules('b', true);
    const r = await run(
      'trace',
      'replay',
      TRACE,
      '--card',
      `sam=${f.sam}`,
      '--card',
      `svm=${f.svm}`,
      '--rng-seed',
      'svm=another seed',
      '--key-file',
      KEY,
    );
    expect(r.out).toContain(
      `SeededRng("another seed") from --rng-seed (overrides the card file's seed "${FLOW_RNG_SEEDS.svm}")`,
    );
    expect(r.out).toMatch(/\d+ different — DIFFERENT/);
    expect(r.code).toBe(1);
  });

  it('without the seed in the card file (nor a flag) the session does not replay', async () => {
    const f = await newWorldModules('c', false);
    const r = await run(
      'trace',
      'replay',
      TRACE,
      '--card',
      `sam=${f.sam}`,
      '--card',
      `svm=${f.svm}`,
      '--key-file',
      KEY,
    );
    expect(r.out).not.toContain('SeededRng');
    expect(r.code).toBe(1);
  });

  it('card show states the seed and that the card is not fit for real use (text and JSON)', async () => {
    const f = await newWorldModules('d', true);
    const text = await run('card', 'show', f.sam, '--key-file', KEY);
    expect(text.code).toBe(0);
    expect(text.out).toContain(
      `random source: SeededRng("${FLOW_RNG_SEEDS.sam}") from the card file — a DETERMINISTIC LAB card`,
    );
    expect(text.out).toContain('NOT fit for real use');
    const json = await run('card', 'show', f.sam, '--key-file', KEY, '--json');
    expect(JSON.parse(json.out)).toMatchObject({ rngSeed: FLOW_RNG_SEEDS.sam, deterministic: true });
    const plain = await newWorldModules('e', false);
    const none = await run('card', 'show', plain.sam, '--key-file', KEY, '--json');
    expect(JSON.parse(none.out)).not.toHaveProperty('rngSeed');
    expect((await run('card', 'show', plain.sam, '--key-file', KEY)).out).not.toContain('SeededRng');
  });

  it('card unseal keeps the seed (it is the card configuration); trace record states it in the header', async () => {
    const f = await newWorldModules('f', true);
    const lab = join(dir, 'f-svm-lab.card');
    expect((await run('card', 'unseal', f.svm, '--out', lab, '--key-file', KEY)).code).toBe(0);
    expect((await run('card', 'show', lab, '--unsealed')).out).toContain(
      `SeededRng("${FLOW_RNG_SEEDS.svm}")`,
    );
    const out = join(dir, 'f.trace');
    const r = await run(
      'trace',
      'record',
      '--card',
      lab,
      '--unsealed',
      '--out',
      out,
      '--no-timing',
      '--',
      '0084000008',
    );
    expect(r.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain(`@x-rng-seed ${FLOW_RNG_SEEDS.svm}`);
  });

  it('--rng-seed is refused for the master-key card', async () => {
    const r = await run(
      'card',
      'new',
      '--profile',
      'master-key',
      '--out',
      join(dir, 'mkc.card'),
      '--rng-seed',
      'x',
    );
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/never the master-key card/);
  });
});
