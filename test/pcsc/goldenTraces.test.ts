/**
 * The golden traces of apdu-traces/ replayed through real PC/SC: a private pcscd with vpcd's two
 * slots, each holding a card file of the traces' deterministic world served by
 * `meterpurse card serve <file> --rng-seed <seed> --vpcd …` (child processes), and
 * `meterpurse trace replay` sending the trace through the PC/SC readers (`--reader
 * <channel>=<name>`; a third chip of a trace, when there is one, as an in-process card file). Every
 * trace must replay byte for byte — challenges and cryptograms included — against fresh cards.
 * A last case serves card files made by `card new --rng-seed` with no flag: their own seeds.
 * Skips with a printed reason where pcscd/vpcd are missing or we are not root; MP_REQUIRE_PCSC=1
 * (CI) turns the skip into a failure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import type { Io } from '../../cli/Command.js';
import { createCardFile } from '../../cli/cardfile/index.js';
import type { Iso7816Os } from '../../card/os/Iso7816Os.js';
import { PcscContext } from '../../reader/PcscContext.js';
import { FLOWS, FLOW_RNG_SEEDS, flowChips, type ChipName } from '../../apdu-traces/flows.js';
import { SPEC_SEED } from '../applets/specExamples.js';
import {
  pcscMissing,
  READER_0,
  READER_1,
  REPO,
  REQUIRE_PCSC,
  startChild,
  startPcscd,
  type Child,
  type PrivatePcscd,
} from './harness.js';

const notRoot = process.getuid?.() !== 0 ? 'not root (pcscd needs unshare -m)' : undefined;
const missing = notRoot ?? pcscMissing();
if (missing) console.warn(`golden traces through PC/SC ${REQUIRE_PCSC ? 'FAIL' : 'skipped'}: ${missing}`);

const TRACES = join(import.meta.dirname, '../../apdu-traces');

/**
 * Each trace, with the chips served through vpcd (at most two: vpcd's two slots) and those
 * replayed as in-process card files. Every golden trace is here but the two with the installer's
 * commissioning card (cmd-commissioning, flow-meter-commissioning): that card has no card profile,
 * so no card file (`NOT_THROUGH_PCSC` below; a test checks the list is complete).
 */
const CASES: { trace: string; pcsc: ChipName[]; inProcess: ChipName[] }[] = [
  { trace: 'flow-vending-load', pcsc: ['card'], inProcess: [] },
  { trace: 'flow-mutual-auth', pcsc: ['card', 'sam'], inProcess: [] },
  { trace: 'flow-host-value-store', pcsc: ['sam', 'svm'], inProcess: [] },
  { trace: 'flow-transfer-svm', pcsc: ['card', 'sam'], inProcess: ['svm'] },
  { trace: 'flow-transfer-recovery', pcsc: ['card', 'svm'], inProcess: ['sam'] },
  { trace: 'flow-token-request', pcsc: ['sam', 'svm'], inProcess: ['card'] },
  { trace: 'cmd-purse', pcsc: ['card', 'sam'], inProcess: ['pincard'] },
  { trace: 'cmd-sam', pcsc: ['card', 'sam'], inProcess: ['svm'] },
  { trace: 'cmd-svm', pcsc: ['sam', 'svm'], inProcess: ['card'] },
  // The exhausted SVM's lab write (counter FFFFFFFF) is in its chip's image, so in its card file.
  { trace: 'cmd-svm-exhausted', pcsc: ['sam', 'esvm'], inProcess: ['card'] },
  { trace: 'cmd-mkc', pcsc: ['mkc', 'chip'], inProcess: [] },
  { trace: 'cmd-perso-gate', pcsc: ['mkc', 'chip'], inProcess: [] },
  { trace: 'flow-bureau-perso', pcsc: ['mkc', 'chip'], inProcess: [] },
  { trace: 'flow-gas-meter', pcsc: ['gsam', 'card'], inProcess: ['gsvm'] },
  // Issue 17. The second card's blocked water purse (a lab write) is in its chip's image.
  { trace: 'cmd-purse-offline', pcsc: ['card', 'gsam'], inProcess: ['pincard'] },
  { trace: 'cmd-sam-offline', pcsc: ['gsam', 'card'], inProcess: [] },
  { trace: 'flow-remote-load', pcsc: ['msam', 'card'], inProcess: ['gsam', 'gsvm', 'msvm'] },
  { trace: 'flow-offline-config-readings', pcsc: ['card', 'gsam'], inProcess: ['gsvm'] },
];
const NOT_THROUGH_PCSC = ['cmd-commissioning', 'flow-meter-commissioning'];

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => (out += t), err: (t) => (err += t) };
  return { code: await main(argv, io), out, err };
}

describe('golden traces through PC/SC: prerequisites', () => {
  it('are there, or not required (MP_REQUIRE_PCSC unset)', () => {
    expect(REQUIRE_PCSC && missing ? `MP_REQUIRE_PCSC=1 but ${missing}` : undefined).toBeUndefined();
  });

  it('every golden trace of apdu-traces/flows.ts is a case, or named as not replayable through PC/SC', () => {
    expect([...CASES.map((c) => c.trace), ...NOT_THROUGH_PCSC].sort()).toEqual(
      FLOWS.map((f) => f.name).sort(),
    );
    for (const c of CASES)
      expect([...c.pcsc, ...c.inProcess].sort()).toEqual(
        [...FLOWS.find((f) => f.name === c.trace)!.devices].sort(),
      );
  });
});

describe.skipIf(missing !== undefined)(
  'golden traces replayed through pcscd against freshly served deterministic cards',
  () => {
    let pcscd: PrivatePcscd;
    const dir = mkdtempSync(join(tmpdir(), 'mp-golden-pcsc-'));
    const children: Child[] = [];

    beforeAll(async () => {
      pcscd = await startPcscd({ nodelay: true });
      // libpcsclite reads this once, at the first context of the process.
      process.env.PCSCLITE_CSOCK_NAME = pcscd.socket;
    }, 30_000);

    afterAll(async () => {
      for (const c of children) await c.stop();
      await pcscd?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    /**
     * Serves a card file with its seed on vpcd's slot `slot` and waits until the reader has the
     * card; `seed` undefined: no --rng-seed (the card file's own seed, if it has one).
     */
    async function serve(file: string, seed: string | undefined, slot: 0 | 1): Promise<Child> {
      const child = startChild(
        process.execPath,
        [
          '--import',
          'tsx',
          join(REPO, 'test/pcsc/cli-entry.ts'),
          'card',
          'serve',
          file,
          '--unsealed',
          ...(seed !== undefined ? ['--rng-seed', seed] : []),
          '--vpcd',
          `127.0.0.1:${pcscd.port + slot}`,
        ],
        pcscd.env,
        REPO,
      );
      children.push(child);
      const end = Date.now() + 20_000;
      while (!child.output().includes('serving ')) {
        if (child.process.exitCode !== null || Date.now() > end)
          throw new Error(`card serve did not come up: ${child.output()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const ctx = await PcscContext.open({ timeoutMs: 5000 });
      try {
        await ctx.reader(slot === 0 ? READER_0 : READER_1).waitForCard(10_000);
      } finally {
        ctx.close();
      }
      return child;
    }

    for (const c of CASES) {
      it(`${c.trace}: ${c.pcsc.join(' + ')} through pcscd${c.inProcess.length ? `, ${c.inProcess.join(' + ')} in process` : ''}: byte for byte`, async () => {
        const chips = await flowChips(FLOWS.find((f) => f.name === c.trace)!);
        const file = (d: ChipName): string => {
          const f = join(dir, `${c.trace}-${d}.card`);
          createCardFile(f, chips[d] as Iso7816Os, { unsealed: true });
          return f;
        };
        const served: Child[] = [];
        try {
          const args: string[] = [];
          for (const [i, d] of c.pcsc.entries()) {
            served.push(await serve(file(d), FLOW_RNG_SEEDS[d], i as 0 | 1));
            args.push('--reader', `${d}=${i === 0 ? READER_0 : READER_1}`);
          }
          for (const d of c.inProcess)
            args.push('--card', `${d}=${file(d)}`, '--rng-seed', `${d}=${FLOW_RNG_SEEDS[d]}`);
          if (c.inProcess.length) args.push('--unsealed');
          // One channel: the plain form; several: a target per channel.
          const argv = c.pcsc.length === 1 && c.inProcess.length === 0 ? ['--reader', READER_0] : args;
          const r = await run('trace', 'replay', join(TRACES, `${c.trace}.trace`), ...argv);
          expect(r.err).toBe('');
          expect(r.out).toContain('0 equal under masks, 0 different — OK');
          expect(r.code).toBe(0);
        } finally {
          for (const s of served) {
            await s.stop();
            children.splice(children.indexOf(s), 1);
          }
        }
      }, 60_000);
    }

    it("card new --rng-seed: the SAM and SVM served with no --rng-seed (the card files' own seeds) replay flow-host-value-store byte for byte", async () => {
      const served: Child[] = [];
      try {
        const args: string[] = [];
        for (const [i, d] of (['sam', 'svm'] as const).entries()) {
          const f = join(dir, `card-new-seeded-${d}.card`);
          const made = await run(
            'card',
            'new',
            '--profile',
            d,
            '--seed',
            SPEC_SEED,
            ...(d === 'svm' ? ['--max', '100000'] : []),
            '--rng-seed',
            FLOW_RNG_SEEDS[d],
            '--unsealed',
            '--out',
            f,
          );
          expect(made.code).toBe(0);
          const child = await serve(f, undefined, i as 0 | 1);
          served.push(child);
          expect(child.output()).toContain(
            `random source SeededRng("${FLOW_RNG_SEEDS[d]}") from the card file's own seed (card new --rng-seed)`,
          );
          args.push('--reader', `${d}=${i === 0 ? READER_0 : READER_1}`);
        }
        const r = await run('trace', 'replay', join(TRACES, 'flow-host-value-store.trace'), ...args);
        expect(r.err).toBe('');
        expect(r.out).toContain('0 equal under masks, 0 different — OK');
        expect(r.code).toBe(0);
      } finally {
        for (const s of served) {
          await s.stop();
          children.splice(children.indexOf(s), 1);
        }
      }
    }, 60_000);
  },
);
