// A RecordingChannel over a VirtualChannel records through the channel's exchange observer (no
// promise of its own on the exchange's path, issue 14). These tests hold it to the wrapper's
// record: the same text, byte for byte, for the same session — exchanges, comments, concurrent
// calls, errors, resets, disconnects, T=0 GET RESPONSE chains — and through MP_TRACE_RECORD.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import type { CardChannel } from '../../reader/CardChannel.js';
import { CardRemovedError } from '../../reader/errors.js';
import { VirtualChannel } from '../../reader/VirtualChannel.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import {
  closeRecording,
  MemoryTraceSink,
  RecordingChannel,
  Trace,
  TraceRecorder,
  type RecordingOptions,
} from '../../reader/trace/index.js';
import { TEST_AID, TestCard } from '../reader/TestCard.js';
import { TRC_AID, TraceTestCard } from './TraceTestCard.js';

const SELECT = new CommandApdu({ cla: 0, ins: 0xa4, p1: 4, p2: 0, data: TRC_AID });
const READ = CommandApdu.decode(fromHex('00B0000010'));
const CHALLENGE = CommandApdu.decode(fromHex('0084000008'));
const VERIFY_BAD = CommandApdu.decode(fromHex('002000010439393939'));

const dir = mkdtempSync(join(tmpdir(), 'mp-observer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

const fixed = (): Pick<RecordingOptions, 'clock' | 'now' | 'tool'> => {
  let t = 10;
  return { clock: () => (t += 0.25), now: () => new Date('2026-01-02T03:04:05Z'), tool: 'observer.test' };
};
const card = () => {
  let seed = 7;
  return new TraceTestCard((n) => Uint8Array.from({ length: n }, () => seed++ & 0xff));
};

/** The same channel without `transmitObserved`: a RecordingChannel over it is the plain wrapper. */
function plain(ch: CardChannel): CardChannel {
  return {
    get readerName() {
      return ch.readerName;
    },
    get atr() {
      return ch.atr;
    },
    get protocol() {
      return ch.protocol;
    },
    transmit: (c) => ch.transmit(c),
    reset: () => ch.reset(),
    disconnect: () => ch.disconnect(),
  };
}

/**
 * One session through a RecordingChannel (observer path, or the wrapper when `wrap`): exchanges,
 * a comment, two concurrent calls, a reset, a card pulled (`! error`), a disconnect.
 */
async function session(wrap: boolean, options: RecordingOptions = {}): Promise<string> {
  const sink = new MemoryTraceSink();
  const reader = new VirtualReader('Reader A', card());
  const inner = await reader.connect();
  const ch = new RecordingChannel(wrap ? plain(inner) : inner, sink, { ...fixed(), ...options });
  await ch.transmit(SELECT);
  ch.comment('two at once');
  await Promise.all([ch.transmit(READ), ch.transmit(CHALLENGE)]);
  await ch.transmit(VERIFY_BAD);
  await ch.reset();
  await ch.transmit(SELECT);
  reader.remove();
  await expect(ch.transmit(READ)).rejects.toBeInstanceOf(CardRemovedError);
  await ch.disconnect();
  expect(ch.count).toBe(6);
  return sink.text();
}

describe('recording through the exchange observer (in-process channels)', () => {
  it('a RecordingChannel over a VirtualChannel uses the observer, not a then() of its own', async () => {
    const observed = vi.spyOn(VirtualChannel.prototype, 'transmitObserved');
    const plainTransmit = vi.spyOn(VirtualChannel.prototype, 'transmit');
    const ch = new RecordingChannel(await new VirtualReader('v', card()).connect(), new MemoryTraceSink());
    await ch.transmit(SELECT);
    expect(observed).toHaveBeenCalledTimes(1);
    expect(plainTransmit).not.toHaveBeenCalled();
  });

  it('writes byte for byte what the wrapper writes: order, comments, concurrency, errors, resets, disconnect', async () => {
    const viaObserver = await session(false);
    expect(viaObserver).toBe(await session(true));
    expect(await session(false, { timing: false })).toBe(await session(true, { timing: false }));
    const t = Trace.parse(viaObserver);
    expect(t.events.map((e) => e.type)).toEqual([
      'exchange',
      'exchange',
      'exchange',
      'exchange',
      'reset',
      'exchange',
      'exchange',
      'disconnect',
    ]);
    expect(t.events[6]).toMatchObject({ error: expect.stringMatching(/^CardRemovedError: /) });
    expect(viaObserver).toMatch(/^# two at once\n> 00 B0 00 00 10\n/m);
    // The clock is read at the call and when the response is final: the concurrent pair overlap.
    expect(viaObserver).toMatch(/> 00 B0 00 00 10\n< [^\n]* ; d=0\.5ms t=\+0\.75ms\n/);
    expect(viaObserver).toMatch(/> 00 84 00 00 08\n< [^\n]* ; d=0\.5ms t=\+1ms\n/);
  });

  it('T=0: records the command the caller gave and the response GET RESPONSE assembled, not the 61xx', async () => {
    const record = async (wrap: boolean) => {
      const t0 = new TestCard({ t0: true });
      const inner = await new VirtualReader('T0 reader', t0).connect();
      expect(inner.protocol).toBe('T=0');
      const sink = new MemoryTraceSink();
      const ch = new RecordingChannel(wrap ? plain(inner) : inner, sink, fixed());
      const select = new CommandApdu({ cla: 0, ins: 0xa4, p1: 4, p2: 0, data: TEST_AID, ne: 256 });
      const r = await ch.transmit(select);
      await ch.transmit(CommandApdu.decode(fromHex('00B0000010')));
      await ch.disconnect();
      return { text: sink.text(), sent: t0.log.map(toHex), fci: toHex(r.encode()) };
    };
    const observed = await record(false);
    expect(observed.text).toBe((await record(true)).text);
    // The card saw case 3 + GET RESPONSE; the trace holds the case 4 command and the joined answer.
    expect(observed.sent.some((c) => c.startsWith('00C00000'))).toBe(true);
    const t = Trace.parse(observed.text);
    expect(t.exchanges.map((e) => toHex(e.command))).toEqual([
      toHex(new CommandApdu({ cla: 0, ins: 0xa4, p1: 4, p2: 0, data: TEST_AID, ne: 256 }).encode()),
      '00B0000010',
    ]);
    expect(toHex(t.exchanges[0]!.response!)).toBe(observed.fci);
    expect(observed.text).not.toMatch(/< 61 /);
  });

  it('the observer of one RecordingChannel sees only its own calls, not the inner channel used directly', async () => {
    const inner = await new VirtualReader('v', card()).connect();
    const sink = new MemoryTraceSink();
    const ch = new RecordingChannel(inner, sink, fixed());
    await inner.transmit(SELECT);
    await ch.transmit(READ);
    await ch.disconnect();
    expect(Trace.parse(sink.text()).exchanges.map((e) => toHex(e.command))).toEqual(['00B0000010']);
  });

  it('channels of a shared recorder: labels and interleaving as the wrapper writes them', async () => {
    const run = async (wrap: boolean) => {
      const sink = new MemoryTraceSink();
      const rec = new TraceRecorder(sink, fixed());
      const open = async (name: string) => {
        const inner = await new VirtualReader(name, card()).connect();
        return rec.channel(wrap ? plain(inner) : inner);
      };
      const a = await open('SAM 01');
      const b = await open('card slot');
      for (let i = 0; i < 6; i++) await (i % 2 ? a : b).transmit([SELECT, READ, CHALLENGE][i % 3]!);
      await a.disconnect();
      await b.disconnect();
      await rec.close();
      return sink.text();
    };
    const text = await run(false);
    expect(text).toBe(await run(true));
    expect(text).toMatch(/^sam-01 > /m);
    expect(text).toMatch(/^card-slot < /m);
  });

  it('MP_TRACE_RECORD: VirtualReader.connect records through the observer, the same exchanges as the wrapper', async () => {
    const path = join(dir, 'hook.trace');
    const observed = vi.spyOn(VirtualChannel.prototype, 'transmitObserved');
    const before = process.env.MP_TRACE_RECORD;
    process.env.MP_TRACE_RECORD = path;
    let ch: CardChannel;
    try {
      ch = await new VirtualReader('hooked', card()).connect();
    } finally {
      if (before === undefined) delete process.env.MP_TRACE_RECORD;
      else process.env.MP_TRACE_RECORD = before;
    }
    expect(ch).toBeInstanceOf(RecordingChannel);
    for (const c of [SELECT, READ, CHALLENGE, VERIFY_BAD]) await ch.transmit(c);
    await ch.disconnect();
    expect(await closeRecording(path)).toBe(1);
    expect(observed).toHaveBeenCalledTimes(4);

    // The same session through the wrapper, into a version 2 trace of its own.
    const sink = new MemoryTraceSink();
    const rec = new TraceRecorder(sink, { tool: 'meterpurse (MP_TRACE_RECORD)' });
    const w = rec.channel(plain(await new VirtualReader('hooked', card()).connect()));
    for (const c of [SELECT, READ, CHALLENGE, VERIFY_BAD]) await w.transmit(c);
    await w.disconnect();
    await rec.close();
    // Equal but for the start time and the measured durations.
    const body = (s: string) =>
      s
        .split('\n')
        .filter((l) => !l.startsWith('@start'))
        .map((l) => l.replace(/ ; d=\S+ t=\+\S+$/, '').replace(/ ; t=\+\S+$/, ''))
        .join('\n');
    const file = readFileSync(path, 'utf8');
    expect(body(file)).toBe(body(sink.text()));
    expect(Trace.parse(file).exchanges).toHaveLength(4);
    expect(file).toMatch(/^hooked < [^\n]* ; d=\S+ms t=\+\S+ms$/m);
  });
});
