// Recording is lazy (issue 14): exchanges are kept as APDU objects and formatted at flush. These
// tests pin down when the text goes out and that it is the same text, in the same order.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import type { CardChannel } from '../../reader/CardChannel.js';
import { fromHex } from '../../card/util/hex.js';
import { CardRemovedError } from '../../reader/errors.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import {
  MemoryTraceSink,
  RecordingChannel,
  Trace,
  TraceRecorder,
  type RecordingOptions,
} from '../../reader/trace/index.js';
import { TRC_AID, TraceTestCard } from './TraceTestCard.js';

const SELECT = new CommandApdu({ cla: 0, ins: 0xa4, p1: 4, p2: 0, data: TRC_AID });
const READ = CommandApdu.decode(fromHex('00B0000010'));
const CHALLENGE = CommandApdu.decode(fromHex('0084000008'));
const VERIFY_BAD = CommandApdu.decode(fromHex('002000010439393939'));
const MIX = [SELECT, READ, CHALLENGE, VERIFY_BAD];

const dir = mkdtempSync(join(tmpdir(), 'mp-rec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fixed = (): Pick<RecordingOptions, 'clock' | 'now' | 'tool'> => {
  let t = 10;
  return { clock: () => (t += 0.25), now: () => new Date('2026-01-02T03:04:05Z'), tool: 'recording.test' };
};
const tick = () => new Promise((r) => setImmediate(r));
const card = () => {
  let seed = 7;
  return new TraceTestCard((n) => Uint8Array.from({ length: n }, () => seed++ & 0xff));
};

/**
 * Two channels of one version 2 trace, exchanges interleaved, with comments and a reset; the
 * event loop turns (or not) between exchanges. Returns the text and what the sink held midway.
 */
async function twoChannels(
  options: RecordingOptions,
  yieldEvery: number,
): Promise<{ text: string; midway: string }> {
  const sink = new MemoryTraceSink();
  const rec = new TraceRecorder(sink, { ...fixed(), ...options });
  const a = rec.channel(await new VirtualReader('Reader A', card()).connect());
  const b = rec.channel(await new VirtualReader('Reader B', card()).connect());
  let midway = '';
  for (let i = 0; i < 40; i++) {
    const ch = i % 3 === 0 ? b : a;
    if (i % 7 === 0) ch.comment(`step ${i}`);
    if (i === 20) {
      await a.reset();
      midway = sink.text();
    }
    await ch.transmit(MIX[i % MIX.length]!);
    if (yieldEvery && i % yieldEvery === 0) await tick();
  }
  await a.disconnect();
  await b.disconnect();
  await rec.close();
  return { text: sink.text(), midway };
}

describe('lazy recording', () => {
  it('keeps the order of events across size-limit flushes: the text is the same whatever the limit', async () => {
    const whole = await twoChannels({}, 0);
    expect(whole.midway).not.toMatch(/^reader-[ab] > /m);
    expect(Trace.parse(whole.text).events).toHaveLength(40 + 1 + 2);
    for (const [limit, yieldEvery] of [
      [1, 1],
      [3, 1],
      [3, 2],
      [5, 0], // never yields: formatted on the path at 4 × the limit
      [2, 5],
    ] as const) {
      const run = await twoChannels({ bufferLimit: limit }, yieldEvery);
      expect(run.midway, `limit ${limit}`).toMatch(/^reader-[ab] > /m);
      expect(run.text, `limit ${limit}, yield every ${yieldEvery}`).toBe(whole.text);
    }
  });

  it('writes every APDU form as formatEvent does (short, extended, Le 256 / 65536, bare SW)', async () => {
    const commands = [
      new CommandApdu({ cla: 0x80, ins: 0xca, p1: 0, p2: 0 }),
      new CommandApdu({ cla: 0, ins: 0xb0, p1: 0, p2: 0, ne: 256 }),
      new CommandApdu({ cla: 0, ins: 0xb0, p1: 0, p2: 0, ne: 65536 }),
      new CommandApdu({ cla: 0, ins: 0xd6, p1: 0, p2: 0, data: new Uint8Array(300).fill(0xa5), ne: 2 }),
      new CommandApdu({ cla: 0, ins: 0xd6, p1: 0, p2: 0, data: Uint8Array.of(1, 2), extended: true }),
      SELECT,
    ];
    // A channel that echoes the command's data (none: a bare SW), so no card refuses a form.
    const echo: CardChannel = {
      readerName: 'echo',
      atr: Uint8Array.of(0x3b, 0),
      protocol: 'T=1',
      transmit: async (c) => ResponseApdu.of(c.nc ? 0x9000 : 0x6a82, c.dataView()),
      reset: async () => Uint8Array.of(0x3b, 0),
      disconnect: async () => undefined,
    };
    const sink = new MemoryTraceSink();
    const rec = new RecordingChannel(echo, sink, fixed());
    for (const c of commands) await rec.transmit(c);
    await rec.disconnect();
    const t = sink.trace();
    expect(t.exchanges.map((e) => Buffer.from(e.command).toString('hex'))).toEqual(
      commands.map((c) => Buffer.from(c.encode()).toString('hex')),
    );
    expect(sink.text()).toBe(t.format());
  });

  it('formats nothing on the exchange path below the limit, then in a later macrotask', async () => {
    const sink = new MemoryTraceSink();
    const rec = new RecordingChannel(await new VirtualReader('R', card()).connect(), sink, {
      ...fixed(),
      bufferLimit: 4,
    });
    const header = sink.text();
    for (const c of MIX.slice(0, 3)) await rec.transmit(c);
    await tick();
    expect(sink.text()).toBe(header);
    await rec.transmit(MIX[3]!);
    expect(sink.text()).toBe(header); // at the limit: scheduled, not done on the path
    await tick();
    expect(Trace.parse(sink.text()).exchanges).toHaveLength(4);
    // A caller that never yields: at 4 × the limit the text is made at once.
    for (let i = 0; i < 16; i++) await rec.transmit(MIX[i % 4]!);
    expect(Trace.parse(sink.text()).exchanges).toHaveLength(20);
    await rec.disconnect();
  });

  it('flushes at disconnect: one channel of a shared recorder leaves, the recorder stays open', async () => {
    const sink = new MemoryTraceSink();
    const rec = new TraceRecorder(sink, fixed());
    const a = rec.channel(await new VirtualReader('Reader A', card()).connect());
    const b = rec.channel(await new VirtualReader('Reader B', card()).connect());
    await a.transmit(SELECT);
    await b.transmit(SELECT);
    await a.transmit(READ);
    await tick();
    expect(sink.text()).not.toContain('@channel');
    await a.disconnect();
    expect(sink.closed).toBe(false);
    const t = Trace.parse(sink.text());
    expect(t.events.map((e) => `${e.channel} ${e.type}`)).toEqual([
      'reader-a exchange',
      'reader-b exchange',
      'reader-a exchange',
      'reader-a disconnect',
    ]);
    await b.transmit(READ);
    await rec.flush();
    expect(Trace.parse(sink.text()).events).toHaveLength(5);
    await rec.close();
    expect(sink.closed).toBe(true);
  });

  it('a channel that throws (card removed) records the error line in order, at once', async () => {
    const sink = new MemoryTraceSink();
    const rec = new TraceRecorder(sink, fixed());
    const readerA = new VirtualReader('Reader A', card());
    const a = rec.channel(await readerA.connect());
    const b = rec.channel(await new VirtualReader('Reader B', card()).connect());
    await a.transmit(SELECT);
    await b.transmit(SELECT);
    a.comment('the card is pulled');
    readerA.remove();
    await expect(a.transmit(READ)).rejects.toBeInstanceOf(CardRemovedError);
    // No disconnect, no flush, no turn of the event loop: the error is written already.
    const t = Trace.parse(sink.text());
    expect(
      t.events.map((e) => `${e.channel} ${e.type}${e.type === 'exchange' && e.error ? ' error' : ''}`),
    ).toEqual(['reader-a exchange', 'reader-b exchange', 'reader-a exchange error']);
    expect(t.exchanges[2]!.error).toMatch(/^CardRemovedError: /);
    expect(t.events[2]!.comments).toEqual([' the card is pulled']);
    await b.transmit(READ);
    await rec.close();
    expect(Trace.parse(sink.text()).events.at(-1)!.channel).toBe('reader-b');
  });

  it('a process that exits without disconnecting still writes what it recorded (exit flush)', () => {
    const url = (p: string) => JSON.stringify(pathToFileURL(resolve(p)).href);
    for (const how of ['void "end of the script"', 'process.exit(3)', 'throw new Error("boom")']) {
      const path = join(dir, `exit-${how.length}.trace`);
      const script = join(dir, `exit-${how.length}.mts`);
      writeFileSync(
        script,
        `import { CommandApdu } from ${url('card/iso7816/CommandApdu.ts')};
import { buildCard } from ${url('card/os/CardProfiles.ts')};
import { VirtualReader } from ${url('reader/VirtualReader.ts')};
import { FileTraceSink, RecordingChannel } from ${url('reader/trace/index.ts')};
const ch = new RecordingChannel(
  await new VirtualReader('exit', buildCard('iso-fs')).connect(),
  new FileTraceSink(${JSON.stringify(path)}),
);
for (let i = 0; i < 10; i++) await ch.transmit(new CommandApdu({ cla: 0, ins: 0xb0, p1: 0, p2: i, ne: 4 }));
${how};
`,
      );
      const run = spawnSync(process.execPath, ['--import', 'tsx', script], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(run.status, run.stderr).toBe(how.startsWith('void') ? 0 : how.startsWith('process') ? 3 : 1);
      const t = Trace.parse(readFileSync(path, 'utf8'));
      expect(
        t.exchanges.map((e) => e.command[3]),
        how,
      ).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(t.events.at(-1)!.type).toBe('exchange');
    }
  });
});
