/**
 * The conformance commands through a private pcscd + vpcd, each as a lab runs it:
 * - `conformance card` against `card serve` of a `card new --profile subscriber` file: our own
 *   card passes, the JUnit XML says so;
 * - `conformance terminal --vpcd` run as its own process, driven through pcscd by our terminal
 *   (no deviation) and by a bad one (each deviation named in the report and the JUnit XML);
 * - `conformance replay` of a version 2 trace (card + SAM + SVM recorded together) against a
 *   fresh copy of the card (no difference) and a card with another balance (named, exit 1).
 * Skips with the reason without root/pcscd; MP_REQUIRE_PCSC=1 (CI) makes that a failure.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli/main.js';
import { CommandApdu, IssuerKeys, NodeCipherProvider, fromHex, makeSam, makeSvm } from '../../card/index.js';
import { PcscContext } from '../../reader/PcscContext.js';
import { Trace, VirtualReader, type CardChannel } from '../../reader/index.js';
import { MemoryTraceSink, TraceRecorder } from '../../reader/trace/index.js';
import { MeterModules, apdus as A, loadCard, runCardSession } from '../../terminal/index.js';
import {
  READER_0,
  REPO,
  REQUIRE_PCSC,
  pcscMissing,
  startCardServe,
  startChild,
  startPcscd,
  type Child,
  type PrivatePcscd,
} from './harness.js';

const missing = pcscMissing(['cc']);
if (missing) console.warn(`conformance through pcscd ${REQUIRE_PCSC ? 'FAILS' : 'skipped'}: ${missing}`);

/**
 * One directory for every pcscd of this file: libpcsclite reads the socket path once per process,
 * so each test's own pcscd serves the same path (a fresh vpcd port pair each time).
 */
let pcscdDir: string | undefined;
async function privatePcscd(): Promise<PrivatePcscd> {
  if (!pcscdDir) {
    pcscdDir = mkdtempSync(join(tmpdir(), 'mp-pcscd-'));
    // Owned from the start: the harness removes ownerless mp-pcscd-* directories.
    writeFileSync(join(pcscdDir, 'owner.pid'), String(process.pid));
  }
  const p = await startPcscd({ nodelay: true, dir: pcscdDir, keepDir: true });
  process.env.PCSCLITE_CSOCK_NAME = p.socket;
  return p;
}
afterAll(() => {
  if (pcscdDir) rmSync(pcscdDir, { recursive: true, force: true });
});

const io = () => {
  const o = { out: '', err: '' };
  return { o, io: { out: (t: string) => void (o.out += t), err: (t: string) => void (o.err += t) } };
};

const cipher = new NodeCipherProvider();
const issuer = IssuerKeys.demo(cipher, '0');
const NOW = fromHex('261122083000');

/** A meter's SAM and SVM of the demo issuer "0", in process (named `sam` / `svm` when recorded). */
async function meter(wrap: (ch: CardChannel) => CardChannel = (ch) => ch): Promise<MeterModules> {
  const ids = { meterId: fromHex('000123'), terminalId: fromHex('00000123') };
  const sam = makeSam(issuer, ids);
  const svm = makeSvm(issuer, { ...ids, max: 1_000_000 });
  return MeterModules.open(
    wrap(await new VirtualReader('SAM', sam.os).connect()),
    wrap(await new VirtualReader('SVM', svm.os).connect()),
  );
}

/** Our PcscReader's channel to the card in READER_0, once pcscd reports it present. */
async function connectReader0(ctx: PcscContext): Promise<CardChannel> {
  const reader = await ctx.waitForReader(READER_0, 10_000);
  const end = Date.now() + 10_000;
  for (;;) {
    try {
      return await reader.connect();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe('conformance through pcscd: prerequisites', () => {
  it('are installed, or not required', () => {
    expect(REQUIRE_PCSC && missing ? `MP_REQUIRE_PCSC=1 but ${missing}` : undefined).toBeUndefined();
  });
});

describe.skipIf(missing !== undefined)('conformance card through pcscd + vpcd', () => {
  let pcscd: PrivatePcscd;
  let serve: Child;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mp-conf-'));
    pcscd = await privatePcscd();
    const file = join(dir, 'sub.card');
    const keyFile = join(dir, 'card.key');
    process.env.MP_CARD_KEY_FILE = keyFile;
    const c = io();
    expect(
      await main(
        ['card', 'new', '--profile', 'subscriber', '--out', file, '--key-file', keyFile, '--balance', '2500'],
        c.io,
      ),
    ).toBe(0);
    serve = await startCardServe(file, pcscd.port, { ...pcscd.env, MP_CARD_KEY_FILE: keyFile });
  }, 60_000);

  afterAll(async () => {
    await serve?.stop();
    await pcscd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('our subscriber card passes every case; the JUnit XML has a testcase per case and no failure', async () => {
    const c = io();
    const xml = join(dir, 'conformance.xml');
    const report = join(dir, 'conformance.txt');
    const code = await main(
      ['conformance', 'card', '--reader', READER_0, '--issuer-seed', '0', '--junit', xml, '--report', report],
      c.io,
    );
    expect(c.o.err).toBe('');
    expect(c.o.out).toContain('RESULT: PASS');
    expect(code).toBe(0);
    const x = readFileSync(xml, 'utf8');
    expect(x).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>/);
    expect(x).toMatch(/<testsuite name="purse-spec card conformance"[^>]* failures="0" errors="0"/);
    expect((x.match(/<testcase /g) ?? []).length).toBeGreaterThanOrEqual(30);
    expect(x).not.toContain('<failure');
    expect(readFileSync(report, 'utf8')).toContain('purse before: balance 2500');
    expect(c.o.out).toContain('purse after: balance 2500');
  }, 120_000);
});

/**
 * Starts `meterpurse conformance terminal --vpcd 127.0.0.1:<port> …` as its own process and waits
 * until it serves the checking card.
 */
async function startConformanceTerminal(
  port: number,
  env: NodeJS.ProcessEnv,
  args: string[],
): Promise<Child> {
  const child = startChild(
    process.execPath,
    [
      '--import',
      'tsx',
      join(REPO, 'test', 'pcsc', 'cli-entry.ts'),
      'conformance',
      'terminal',
      '--vpcd',
      `127.0.0.1:${port}`,
      ...args,
    ],
    env,
    REPO,
  );
  const end = Date.now() + 20_000;
  while (!child.output().includes('serving a checking subscriber card')) {
    if (child.process.exitCode !== null || Date.now() > end) {
      await child.stop();
      throw new Error(`meterpurse conformance terminal did not come up: ${child.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return child;
}

/** Ctrl-C: the command prints its report and exits; its exit code. */
async function interrupt(child: Child): Promise<number | null> {
  await child.stop('SIGINT');
  return child.process.exitCode;
}

describe.skipIf(missing !== undefined)('conformance terminal --vpcd, a process driven through pcscd', () => {
  let pcscd: PrivatePcscd | undefined;
  let terminal: Child | undefined;
  let ctx: PcscContext | undefined;
  let dir: string;

  afterEach(async () => {
    ctx?.close();
    ctx = undefined;
    await terminal?.stop('SIGKILL');
    terminal = undefined;
    await pcscd?.stop();
    pcscd = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function serveChecking(): Promise<{ report: string; xml: string }> {
    dir = mkdtempSync(join(tmpdir(), 'mp-conf-term-'));
    pcscd = await privatePcscd();
    const files = { report: join(dir, 'terminal.txt'), xml: join(dir, 'terminal.xml') };
    terminal = await startConformanceTerminal(pcscd.port, pcscd.env, [
      '--issuer-seed',
      '0',
      '--balance',
      '5000',
      '--report',
      files.report,
      '--junit',
      files.xml,
    ]);
    ctx = await PcscContext.open({ timeoutMs: 5000 });
    return files;
  }

  it('our terminal (LOAD, then a card session with SAM + SVM) through PcscReader: no deviation, exit 0', async () => {
    const files = await serveChecking();
    const card = await connectReader0(ctx!);
    expect(card.readerName).toBe(READER_0);
    const loaded = await loadCard(card, issuer, {
      purse: 1,
      amount: 300,
      terminalId: fromHex('56454E44'),
      dateTime: NOW,
    });
    expect(loaded.balance).toBe(5300);
    const out = await runCardSession(await meter(), card, { purse: 1, dateTime: NOW, maxAmount: 700 });
    expect(out.amount).toBe(700);
    expect(out.cardBalance).toBe(4600);
    await card.reset();
    await runCardSession(await meter(), card, { purse: 1, dateTime: NOW, transfer: false });
    await card.disconnect();
    ctx!.close();
    ctx = undefined;

    const code = await interrupt(terminal!);
    const output = terminal!.output();
    expect(output).not.toContain('deviation:');
    expect(code).toBe(0);
    const report = readFileSync(files.report, 'utf8');
    expect(output).toContain(report);
    expect(report).toContain('purse-spec terminal conformance');
    expect(report).toMatch(/^target: vpcd 127\.0\.0\.1:\d+$/m);
    const checked = Number(/APDUs checked: (\d+)/.exec(report)?.[1]);
    expect(checked).toBeGreaterThan(10);
    expect(report).not.toMatch(/^FAIL/m);
    expect(report).toContain('RESULT: PASS');
    const xml = readFileSync(files.xml, 'utf8');
    expect(xml).toMatch(/<testsuite name="purse-spec terminal conformance"[^>]* failures="0" errors="0"/);
    expect(xml).not.toContain('<failure');
  }, 120_000);

  it('a bad terminal (raw APDUs: DEBIT before authentication, wrong Le) through PcscReader: each deviation named, exit 1', async () => {
    const files = await serveChecking();
    const card = await connectReader0(ctx!);
    const raw = (hex: string) => card.transmit(CommandApdu.decode(fromHex(hex)));
    expect((await card.transmit(A.selectAid())).sw).toBe(0x9000);
    // READ PURSE with Le = 04 (the state is 17 bytes: Le absent or 00/11).
    await raw('805C000104');
    // DEBIT of 1 unit with no MUTUAL AUTHENTICATE in the card session: the card refuses it.
    const debit = await raw(
      '805400011E' + '00000001' + '00000123' + '261122083000' + '0102030405060708' + '0000000000000000',
    );
    expect(debit.sw).toBe(0x6982);
    await card.disconnect();
    ctx!.close();
    ctx = undefined;

    const code = await interrupt(terminal!);
    const output = terminal!.output();
    // Printed as they happened, before the report.
    expect(output).toMatch(/deviation: .*\ble\b/);
    expect(output).toMatch(/deviation: .*order\.debit-before-auth/);
    expect(code).toBe(1);
    const report = readFileSync(files.report, 'utf8');
    expect(report).toMatch(/^FAIL .* order\.debit-before-auth /m);
    expect(report).toMatch(/^FAIL .* le /m);
    expect(report).toContain('no MUTUAL AUTHENTICATE in this card session');
    expect(report).toContain('RESULT: FAIL');
    // Nothing else was wrong: SELECT and the APDUs' form were right.
    expect(report).not.toMatch(/^FAIL .* (order\.select-first|cla|ins|lc) /m);
    const xml = readFileSync(files.xml, 'utf8');
    expect(xml).toMatch(/<testsuite name="purse-spec terminal conformance"[^>]* failures="2" errors="0"/);
    const failed = [...xml.matchAll(/<testcase [^>]*name="([^":]+):[^"]*"[^>]*>\s*<failure /g)].map(
      (m) => m[1],
    );
    expect(failed.sort()).toEqual(['le', 'order.debit-before-auth']);
    expect(xml).toContain('805400011E');
  }, 120_000);
});

describe.skipIf(missing !== undefined)('conformance replay of a version 2 trace through pcscd', () => {
  let pcscd: PrivatePcscd | undefined;
  let serve: Child | undefined;
  let dir: string;
  const keyFile = () => join(dir, 'card.key');

  afterEach(async () => {
    await serve?.stop();
    serve = undefined;
    await pcscd?.stop();
    pcscd = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function newCard(name: string, balance: number): Promise<string> {
    const file = join(dir, name);
    const c = io();
    const code = await main(
      [
        'card',
        'new',
        '--profile',
        'subscriber',
        '--out',
        file,
        '--key-file',
        keyFile(),
        '--balance',
        String(balance),
      ],
      c.io,
    );
    expect(code, c.o.err).toBe(0);
    return file;
  }

  async function serveCard(file: string): Promise<void> {
    await serve?.stop();
    serve = await startCardServe(file, pcscd!.port, { ...pcscd!.env, MP_CARD_KEY_FILE: keyFile() });
  }

  const replay = async (trace: string, extra: string[]) => {
    const c = io();
    const code = await main(
      ['conformance', 'replay', trace, '--reader', READER_0, '--issuer-seed', '0', ...extra],
      c.io,
    );
    return { code, ...c.o };
  };

  it('a card + SAM + SVM session recorded in one v2 trace replays on its card channel: fresh card no difference; another balance named, exit 1', async () => {
    dir = mkdtempSync(join(tmpdir(), 'mp-conf-replay-'));
    process.env.MP_CARD_KEY_FILE = keyFile();
    pcscd = await privatePcscd();
    const recorded = await newCard('recorded.card', 1000);
    // The same card as it was before the session (a copy of the file would be refused as
    // rolled back): made as it was made, with the same CSN and balance.
    const fresh = await newCard('fresh.card', 1000);
    const poorer = await newCard('poorer.card', 900);

    // Record: the card through pcscd, the meter's SAM and SVM in process, all in one trace.
    await serveCard(recorded);
    const sink = new MemoryTraceSink();
    const rec = new TraceRecorder(sink, { tool: 'test/pcsc/conformance.test.ts' });
    const ctx = await PcscContext.open({ timeoutMs: 5000 });
    let cardId: string;
    try {
      const m = await meter((ch) => rec.channel(ch));
      const card = rec.channel(await connectReader0(ctx));
      const out = await runCardSession(m, card, { purse: 1, dateTime: NOW, maxAmount: 250 });
      expect(out.amount).toBe(250);
      expect(out.cardBalance).toBe(750);
      await card.disconnect();
      cardId = 'virtual-pcd-00-00';
    } finally {
      ctx.close();
    }
    await rec.close();
    const file = join(dir, 'session.trace');
    writeFileSync(file, sink.text());
    const trace = Trace.parse(readFileSync(file, 'utf8'));
    expect(trace.header.version).toBe(2);
    expect(trace.header.channels.map((c) => c.id)).toEqual(['sam', 'svm', cardId]);
    expect(trace.header.channels[2]!.reader).toBe(READER_0);
    const cardIns = trace.channel(cardId).exchanges.map((e) => e.command[1]);
    expect(cardIns).toEqual(expect.arrayContaining([0xa4, 0x84, 0x82, 0x5c, 0x54]));

    // A freshly served copy of the card as it was: no difference.
    await serveCard(fresh);
    const same = await replay(file, ['--channel', cardId]);
    expect(same.err).toBe('');
    expect(same.out).toContain(`${cardIns.length} exchanges replayed as the terminal: 0 differences`);
    expect(same.code).toBe(0);

    // Several channels and none named: the command says which there are.
    const which = await replay(file, []);
    expect(which.code).toBe(2);
    expect(which.err).toMatch(
      /3 channels: say which is the card's \(sam \("SAM"\), svm \("SVM"\), virtual-pcd-00-00 \("Virtual PCD 00 00"\)\); give --channel/,
    );
    const unknown = await replay(file, ['--channel', 'reader-9']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('the trace has no channel "reader-9"');

    // A card with 900 instead of 1000 units: the difference is named, exit 1.
    await serveCard(poorer);
    const other = await replay(file, ['--channel', cardId]);
    expect(other.out).toContain('READ PURSE 1: balance 900, recorded 1000');
    expect(other.out).toContain('DEBIT: balance after 650, recorded 750');
    expect(other.out).toMatch(/exchanges replayed as the terminal: [1-9]\d* differences?/);
    expect(other.code).toBe(1);
  }, 180_000);
});
