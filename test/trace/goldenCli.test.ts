/**
 * `meterpurse trace replay` of multi-channel (version 2) golden traces on the command line: one
 * target per channel (`--card <channel>=<file>`, `--profile`, `--reader`, `--rng-seed
 * <channel>=<seed>`), or one channel with `--channel <id>`, and clear errors for a channel
 * without a target.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import type { Io } from '../../cli/Command.js';
import { createCardFile } from '../../cli/cardfile/index.js';
import type { Iso7816Os } from '../../card/os/Iso7816Os.js';
import { FLOW_RNG_SEEDS, worldChips } from '../../apdu-traces/flows.js';
import type { DeviceName } from '../applets/specExamples.js';

const dir = mkdtempSync(join(tmpdir(), 'mp-golden-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const TRACES = join(import.meta.dirname, '../../apdu-traces');

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => (out += t), err: (t) => (err += t) };
  const code = await main(argv, io);
  return { code, out, err };
}

/** Unsealed lab card files of a fresh deterministic world, by chip (made before any command). */
function worldFiles(tag: string): Record<DeviceName, string> {
  const chips = worldChips();
  const out = {} as Record<DeviceName, string>;
  for (const d of Object.keys(chips) as DeviceName[]) {
    out[d] = join(dir, `${tag}-${d}.card`);
    createCardFile(out[d], chips[d] as Iso7816Os, { unsealed: true });
  }
  return out;
}

const targets = (f: Record<DeviceName, string>, ...ds: DeviceName[]): string[] =>
  ds.flatMap((d) => ['--card', `${d}=${f[d]}`, '--rng-seed', `${d}=${FLOW_RNG_SEEDS[d]}`]);

describe('trace replay of a multi-channel trace', () => {
  it('one card file per channel, each seeded: the card-to-SVM transfer replays byte for byte', async () => {
    const f = worldFiles('a');
    const r = await run(
      'trace',
      'replay',
      join(TRACES, 'flow-transfer-svm.trace'),
      ...targets(f, 'card', 'sam', 'svm'),
      '--unsealed',
    );
    expect(r.err).toBe('');
    expect(r.out).toContain('0 equal under masks, 0 different — OK');
    expect(r.out).toMatch(/card: card file .*a-card\.card, sam: card file .*a-sam\.card, svm: card file/);
    expect(r.code).toBe(0);
  });

  it('a card without its seed: MUTUAL AUTHENTICATE differs, the difference names its channel (exit 1)', async () => {
    const f = worldFiles('b');
    const r = await run(
      'trace',
      'replay',
      join(TRACES, 'flow-mutual-auth.trace'),
      '--card',
      `card=${f.card}`,
      '--card',
      `sam=${f.sam}`,
      '--rng-seed',
      `sam=${FLOW_RNG_SEEDS.sam}`,
      '--unsealed',
      '--json',
    );
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out) as { differences: { channel: string }[] };
    expect(report.differences.length).toBeGreaterThan(0);
    expect(report.differences.map((d) => d.channel)).toContain('card');
  });

  it('--channel replays one channel of the trace against one plain target', async () => {
    const f = worldFiles('c');
    const r = await run(
      'trace',
      'replay',
      join(TRACES, 'flow-vending-load.trace'),
      '--channel',
      'card',
      '--card',
      f.card,
      '--unsealed',
      '--rng-seed',
      FLOW_RNG_SEEDS.card,
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('— OK');
    // The SVM channel of the command trace: a fresh svm profile card has other keys, but SELECT
    // and READ STATE are keyless: compare with a card file of the world instead.
    const svm = await run(
      'trace',
      'replay',
      join(TRACES, 'cmd-svm.trace'),
      '--channel',
      'svm',
      '--card',
      `svm=${f.svm}`,
      '--rng-seed',
      `svm=${FLOW_RNG_SEEDS.svm}`,
      '--unsealed',
    );
    // Alone, the SVM sees no card session: its answers differ where the transfer was, so exit 1,
    // but it played every exchange of its channel.
    expect(svm.err).toBe('');
    expect(svm.out).toMatch(/^\d+ exchanges/m);
  });

  it('errors: a channel without a target, a plain target for several channels, an unknown --channel (exit 2)', async () => {
    const trace = join(TRACES, 'flow-transfer-svm.trace');
    const missing = await run(
      'trace',
      'replay',
      trace,
      '--profile',
      'card=subscriber',
      '--profile',
      'sam=sam',
    );
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/channel svm \(SVM slot\) has no target: give --card svm=<file>/);
    const plain = await run('trace', 'replay', trace, '--profile', 'subscriber');
    expect(plain.code).toBe(2);
    expect(plain.err).toMatch(/has 3 channels \(card, sam, svm\): give each its card with <channel>=/);
    const unknown = await run('trace', 'replay', trace, '--channel', 'meter', '--profile', 'svm');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/no channel meter \(channels: card, sam, svm\)/);
    const two = await run(
      'trace',
      'replay',
      trace,
      '--card',
      'card=a',
      '--reader',
      'card=b',
      '--profile',
      'sam=sam',
      '--profile',
      'svm=svm',
    );
    expect(two.code).toBe(2);
    expect(two.err).toMatch(/channel card: give exactly one of/);
    const v1 = await run(
      'trace',
      'replay',
      join(TRACES, 'iso-fs-basic.trace'),
      '--channel',
      'card',
      '--profile',
      'iso-fs',
    );
    expect(v1.code).toBe(2);
    expect(v1.err).toMatch(/the trace has no channels/);
  });
});
