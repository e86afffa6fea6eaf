/**
 * Traces through real PC/SC: a private pcscd + vpcd serving an in-process `iso-fs` card
 * (VpcdBridge), driven by `meterpurse trace replay/record --reader`. Skips with a printed reason
 * where pcscd/vpcd are missing; MP_REQUIRE_PCSC=1 (CI) turns the skip into a failure.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import type { Io } from '../../cli/Command.js';
import { buildCard } from '../../card/os/CardProfiles.js';
import { PcscContext } from '../../reader/PcscContext.js';
import { VpcdBridge } from '../../reader/vpcd/VpcdBridge.js';
import {
  GET_CHALLENGE_RULE,
  Trace,
  exportScriptorScript,
  importScriptorOutput,
  replayTrace,
} from '../../reader/trace/index.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import { writeFileSync } from 'node:fs';
import {
  pcscMissing,
  READER_0,
  READER_1,
  REQUIRE_PCSC,
  runTool,
  startPcscd,
  type PrivatePcscd,
} from '../pcsc/harness.js';

const missing = pcscMissing(['scriptor']);
if (missing) console.warn(`trace PC/SC tests ${REQUIRE_PCSC ? 'FAIL' : 'skipped'}: ${missing}`);

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => (out += t), err: (t) => (err += t) };
  return { code: await main(argv, io), out, err };
}

describe('trace PC/SC prerequisites', () => {
  // Always runs: fails when MP_REQUIRE_PCSC=1 (CI) and a tool is missing; otherwise the suite
  // below runs, or is reported as skipped with the reason printed above.
  it('are installed, or not required (MP_REQUIRE_PCSC unset)', () => {
    expect(REQUIRE_PCSC && missing ? `MP_REQUIRE_PCSC=1 but ${missing}` : undefined).toBeUndefined();
  });
});

describe.skipIf(missing !== undefined)('traces through pcscd + vpcd', () => {
  let pcscd: PrivatePcscd;
  let bridge: VpcdBridge;
  const dir = mkdtempSync(join(tmpdir(), 'mp-trace-pcsc-'));

  beforeAll(async () => {
    pcscd = await startPcscd({ nodelay: true });
    // libpcsclite reads this once, at the first context of the process.
    process.env.PCSCLITE_CSOCK_NAME = pcscd.socket;
    bridge = new VpcdBridge(buildCard('iso-fs'), { port: pcscd.port }).start();
    await bridge.waitConnected(5000);
    const ctx = await PcscContext.open({ timeoutMs: 5000 });
    try {
      await ctx.reader(READER_0).waitForCard(5000);
    } finally {
      ctx.close();
    }
  });

  afterAll(async () => {
    await bridge?.stop();
    await pcscd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the reference trace replays clean against our card in a real reader', async () => {
    const r = await run(
      'trace',
      'replay',
      join(import.meta.dirname, '../../apdu-traces/iso-fs-basic.trace'),
      '--reader',
      READER_0,
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('0 different — OK');
  });

  it('a trace recorded through PC/SC replays clean against the in-process card', async () => {
    const out = join(dir, 'pcsc.trace');
    const r = await run(
      'trace',
      'record',
      '--reader',
      READER_0,
      '--out',
      out,
      '--',
      '00A4040008A00000099901020300',
      '00B2011400',
      '0084000008',
      'reset',
      '00A4040C08A000000999010203',
      '00B0000010',
    );
    expect(r.code).toBe(0);
    const t = Trace.parse(readFileSync(out, 'utf8'));
    expect(t.header.reader).toBe(READER_0);
    expect(t.header.protocol).toBe('T=1');
    expect(t.exchanges).toHaveLength(5);
    expect(t.exchanges.every((e) => (e.durationMs ?? 0) > 0)).toBe(true);
    const replay = await run('trace', 'replay', out, '--profile', 'iso-fs');
    expect(replay.out).toContain('0 different — OK');
    expect(replay.code).toBe(0);
  });

  it('the scriptor export, run by the real scriptor against a fresh card, imports and replays clean in process', async () => {
    const bridge1 = new VpcdBridge(buildCard('iso-fs'), { port: pcscd.port + 1 }).start();
    try {
      await bridge1.waitConnected(5000);
      const ctx = await PcscContext.open({ timeoutMs: 5000 });
      try {
        await ctx.reader(READER_1).waitForCard(5000);
      } finally {
        ctx.close();
      }
      const ref = Trace.parse(
        readFileSync(join(import.meta.dirname, '../../apdu-traces/iso-fs-basic.trace'), 'utf8'),
      );
      const script = join(dir, 'ref.script');
      writeFileSync(script, exportScriptorScript(ref));
      const r = await runTool('scriptor', ['-r', READER_1, script], pcscd.env, { timeoutMs: 30_000 });
      expect(r.code).toBe(0);
      const got = importScriptorOutput(r.stdout);
      expect(got.exchanges).toHaveLength(ref.exchanges.length);
      const reader = new VirtualReader('in-process', buildCard('iso-fs'));
      const report = await replayTrace(got, await reader.connect(), { rules: [GET_CHALLENGE_RULE] });
      expect(report.differences).toEqual([]);
    } finally {
      await bridge1.stop();
    }
  });

  it('an unknown reader name: exit 2 naming it', async () => {
    const r = await run(
      'trace',
      'replay',
      join(import.meta.dirname, '../../apdu-traces/iso-fs-basic.trace'),
      '--reader',
      'No Such Reader',
    );
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/No Such Reader/);
  });
});
