import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import type { CardChannel } from '../../reader/CardChannel.js';
import { CardRemovedError } from '../../reader/errors.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import {
  FileTraceSink,
  MemoryTraceSink,
  RecordingChannel,
  ReplayChannel,
  ReplayedChannelError,
  ReplayMismatchError,
  Trace,
  markDiff,
  replayTrace,
} from '../../reader/trace/index.js';
import { TRC_AID, TRC_ATR, TraceTestCard } from './TraceTestCard.js';

const SELECT = new CommandApdu({ cla: 0, ins: 0xa4, p1: 4, p2: 0, data: TRC_AID });
const READ = CommandApdu.decode(fromHex('00B0000010'));
const CHALLENGE = CommandApdu.decode(fromHex('0084000008'));
const MAC = CommandApdu.decode(fromHex('80F0000004'));
const VERIFY_BAD = CommandApdu.decode(fromHex('002000010439393939'));

const dir = mkdtempSync(join(tmpdir(), 'mp-trace-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let seed = 1;
const counting = (n: number) => Uint8Array.from({ length: n }, () => seed++ & 0xff);

async function session(ch: CardChannel): Promise<string[]> {
  const out: string[] = [];
  for (const c of [SELECT, READ, CHALLENGE, MAC]) out.push((await ch.transmit(c)).toString());
  await ch.reset();
  out.push((await ch.transmit(SELECT)).toString());
  return out;
}

async function record(card = new TraceTestCard(counting)): Promise<{ text: string; answers: string[] }> {
  const reader = new VirtualReader('Virtual 0', card);
  const sink = new MemoryTraceSink();
  let t = 100;
  const rec = new RecordingChannel(await reader.connect(), sink, {
    tool: 'channels.test',
    clock: () => (t += 0.5),
    now: () => new Date('2026-11-22T08:00:00Z'),
  });
  rec.comment('select the test application');
  const answers = await session(rec);
  await rec.disconnect();
  expect(sink.closed).toBe(true);
  return { text: sink.text(), answers };
}

describe('RecordingChannel', () => {
  it('writes a header and every exchange, reset and disconnect', async () => {
    const { text, answers } = await record();
    const t = Trace.parse(text);
    expect(t.header.reader).toBe('Virtual 0');
    expect(t.header.protocol).toBe('T=1');
    expect(toHex(t.header.atr!)).toBe(toHex(TRC_ATR));
    expect(t.header.start).toBe('2026-11-22T08:00:00.000Z');
    expect(t.header.rules.map((r) => r.command.toString())).toEqual(['.. 84 00 00 ..']);
    expect(t.events.map((e) => e.type)).toEqual([
      'exchange',
      'exchange',
      'exchange',
      'exchange',
      'reset',
      'exchange',
      'disconnect',
    ]);
    expect(t.exchanges.map((e) => toHex(e.response!))).toEqual(answers);
    expect(t.exchanges[0]!.comments).toEqual([' select the test application']);
    // The injected clock advances 0.5 ms per reading: each exchange took exactly 0.5 ms.
    expect(t.exchanges.every((e) => e.durationMs === 0.5)).toBe(true);
    expect(text).toContain('< 6F 08 84 06 F0 4D 50 54 52 43 | 90 00 ; d=0.5ms t=+0.5ms');
  });

  it('records a channel error as ! error and rethrows it', async () => {
    const card = new TraceTestCard(counting);
    const reader = new VirtualReader('Virtual 1', card);
    const sink = new MemoryTraceSink();
    const rec = new RecordingChannel(await reader.connect(), sink, { timing: false });
    await rec.transmit(SELECT);
    reader.remove();
    await expect(rec.transmit(READ)).rejects.toBeInstanceOf(CardRemovedError);
    const t = sink.trace();
    expect(t.exchanges[1]!.error).toMatch(/^CardRemovedError: /);
    expect(sink.text()).not.toMatch(/d=|@start/);
  });

  it('writes to a file (the header at once, the rest by disconnect)', async () => {
    const path = join(dir, 'file.trace');
    const reader = new VirtualReader('Virtual 2', new TraceTestCard(counting));
    const rec = new RecordingChannel(await reader.connect(), new FileTraceSink(path));
    expect(readFileSync(path, 'utf8')).toContain('@trace 1');
    await session(rec);
    await rec.disconnect();
    const t = Trace.parse(readFileSync(path, 'utf8'));
    expect(t.exchanges).toHaveLength(5);
  });

  it('a file trace holds the exchanges one event-loop turn after the buffer limit, without disconnect', async () => {
    const path = join(dir, 'crash.trace');
    const reader = new VirtualReader('Virtual 7', new TraceTestCard(counting));
    const rec = new RecordingChannel(await reader.connect(), new FileTraceSink(path), { bufferLimit: 2 });
    await rec.transmit(SELECT);
    await rec.transmit(READ);
    await new Promise((r) => setImmediate(r));
    const t = Trace.parse(readFileSync(path, 'utf8'));
    expect(t.exchanges.map((e) => toHex(e.command))).toEqual([toHex(SELECT.encode()), toHex(READ.encode())]);
    expect(t.events.at(-1)!.type).toBe('exchange');
    await rec.disconnect();
  });

  it('a sink on a path that cannot be created fails at once', () => {
    expect(() => new FileTraceSink(join(dir, 'no', 'such', 'dir', 'x.trace'))).toThrow(/ENOENT/);
  });
});

describe('ReplayChannel', () => {
  it('strict mode answers the recorded session, challenge included', async () => {
    const { text, answers } = await record();
    const replay = new ReplayChannel(Trace.parse(text));
    expect(replay.readerName).toBe('Virtual 0');
    expect(toHex(replay.atr)).toBe(toHex(TRC_ATR));
    expect(await session(replay)).toEqual(answers);
    expect(replay.remaining).toBe(0);
  });

  it('strict mode: a command out of order is a ReplayMismatchError naming index and hex', async () => {
    const { text } = await record();
    const replay = new ReplayChannel(Trace.parse(text));
    await replay.transmit(SELECT);
    const err = await replay.transmit(CHALLENGE).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReplayMismatchError);
    const m = err as ReplayMismatchError;
    expect(m.index).toBe(2);
    expect(m.expected).toBe('00 B0 00 00 10');
    expect(m.got).toBe('00 84 00 00 08');
    expect(m.message).toContain('expected 00 B0 00 00 10, got 00 84 00 00 08');
  });

  it('strict mode: a reset where the trace has a command, and past the end', async () => {
    const { text } = await record();
    const replay = new ReplayChannel(Trace.parse(text));
    await expect(replay.reset()).rejects.toMatchObject({
      name: 'ReplayMismatchError',
      index: 1,
      got: 'reset',
    });
    const short = new ReplayChannel(Trace.parse('@trace 1\n> 00 B0 00 00 10\n< 90 00\n'));
    await short.transmit(READ);
    await expect(short.transmit(READ)).rejects.toMatchObject({ index: 2, expected: undefined });
  });

  it('match mode finds commands out of order and reuses answers', async () => {
    const { text, answers } = await record();
    const replay = new ReplayChannel(Trace.parse(text), { mode: 'match' });
    expect((await replay.transmit(READ)).toString()).toBe(answers[1]);
    expect((await replay.transmit(SELECT)).toString()).toBe(answers[0]);
    expect((await replay.transmit(READ)).toString()).toBe(answers[1]);
    await expect(replay.transmit(VERIFY_BAD)).rejects.toBeInstanceOf(ReplayMismatchError);
  });

  it('command masks let a MAC-bearing command match', async () => {
    const trace = Trace.parse(
      '@trace 1\n@mask-command 80 F0 .. .. *\n> 80 F0 00 00 04\n< 01 02 03 04 | 90 00\n> 00 20 00 01 04 31 32 33 34\n< 90 00\n~> 00 20 00 01 04 .. .. .. ..\n',
    );
    const replay = new ReplayChannel(trace);
    expect((await replay.transmit(CommandApdu.decode(fromHex('80F0070004')))).toString()).toBe(
      '010203049000',
    );
    expect((await replay.transmit(VERIFY_BAD)).toString()).toBe('9000');
  });

  it('a recorded error is thrown again', async () => {
    const replay = new ReplayChannel(
      Trace.parse('@trace 1\n> 00 B0 00 00 10\n! error CardRemovedError: gone\n'),
    );
    await expect(replay.transmit(READ)).rejects.toBeInstanceOf(ReplayedChannelError);
  });

  it('disconnect closes it', async () => {
    const replay = new ReplayChannel(Trace.parse('@trace 1\n'));
    await replay.disconnect();
    await expect(replay.transmit(READ)).rejects.toMatchObject({ name: 'ChannelClosedError' });
  });
});

describe('replayTrace against a card', () => {
  it('a recorded session replays clean on a fresh card: the challenge and its MAC differ only under masks', async () => {
    const { text } = await record(new TraceTestCard(counting));
    // A MAC depends on the challenge: mask its response in the trace by hand, as a lab would.
    const masked = text.replace(/(> 80 F0 00 00 04\n<[^\n]*\n)/, '$1~< .. .. .. .. 90 00\n');
    const fresh = new VirtualReader(
      'Virtual 3',
      new TraceTestCard(() => Uint8Array.of(9, 9, 9, 9, 9, 9, 9, 9)),
    );
    const report = await replayTrace(Trace.parse(masked), await fresh.connect());
    expect(report.differences).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.exchanges).toBe(5);
    expect(report.resets).toBe(1);
    expect(report.masked).toBe(2);
  });

  it('without the mask the MAC is reported, differing bytes marked', async () => {
    const { text } = await record(new TraceTestCard(counting));
    const fresh = new VirtualReader('Virtual 4', new TraceTestCard(() => new Uint8Array(8)));
    const report = await replayTrace(Trace.parse(text), await fresh.connect());
    expect(report.ok).toBe(false);
    expect(report.differences).toHaveLength(1);
    const d = report.differences[0]!;
    expect(d.index).toBe(4);
    expect(d.kind).toBe('response');
    expect(d.command).toBe('80 F0 00 00 04');
    expect(d.actual).toBe('5A 5A 5A 5A | 90 00');
    expect(d.marked!.actual).toBe('[5A] [5A] [5A] [5A] | 90 00');
  });

  it('a card in another state reports the changed status word', async () => {
    const { text } = await record();
    const card = new TraceTestCard(counting);
    const reader = new VirtualReader('Virtual 5', card);
    const ch = await reader.connect();
    const trace = Trace.parse(text.replace('> 00 B0 00 00 10', '> 00 20 00 01 04 39 39 39 39'));
    const report = await replayTrace(trace, ch, { rules: [] });
    const d = report.differences.find((x) => x.index === 2)!;
    expect(d.expected.endsWith('| 90 00')).toBe(true);
    expect(d.actual).toBe('63 C2');
    expect(d.marked!.actual).toBe('[63] [C2]');
  });

  it('stops with aborted when the card is gone', async () => {
    const { text } = await record();
    const reader = new VirtualReader('Virtual 6', new TraceTestCard(counting));
    const ch = await reader.connect();
    reader.remove();
    const report = await replayTrace(Trace.parse(text), ch);
    expect(report.ok).toBe(false);
    expect(report.aborted).toMatch(/exchange 1: CardRemovedError/);
    expect(report.differences[0]!.kind).toBe('error');
  });
});

describe('markDiff', () => {
  it('compares data by position and SW apart', () => {
    const d = markDiff(fromHex('0102039000'), fromHex('01029000'));
    expect(d.actual).toBe('01 02 | 90 00');
    expect(d.expected).toBe('01 02 [03] | 90 00');
    expect(d.offsets).toEqual([2]);
  });
});
