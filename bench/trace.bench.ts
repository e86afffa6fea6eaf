/**
 * Cost of recording (issue 14): an exchange through a VirtualReader channel to the `iso-fs` card,
 * bare and wrapped in a RecordingChannel writing to a file (the sink a lab uses).
 * `npx tsx bench/run.ts trace`.
 *
 * Recording is split in two, and both halves are reported, with their sum:
 *  (a) the exchange path: what `transmit()` costs more while a session runs — two clock
 *      readings and a copy of the APDU bytes, told by the VirtualChannel's exchange observer. Timed over the loop of N exchanges,
 *      with a `bufferLimit` above N so that no flush falls inside it. Aim: < 10 % of a bare
 *      exchange.
 *  (b) formatting + writing: the text, the file write and the fsync, done when the recorder is
 *      flushed (here: `disconnect()`, timed alone), per exchange.
 *  total: (a) + (b), and, as a check, a session with the default `bufferLimit` (4096) timed
 *      loop and disconnect together. This bench's loop never lets the event loop turn, so there
 *      the text is made on the exchange path every 4 × 4096 exchanges: the worst case.
 *
 * The machine is shared and loaded, so the bench measures the process's own CPU time
 * (`process.cpuUsage`, user + system, GC threads included), which other processes do not
 * inflate. The variants alternate over nine rounds of 50,000 exchanges; each keeps its best round.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Figure } from './run.js';
import { CommandApdu } from '../card/iso7816/CommandApdu.js';
import { fromHex } from '../card/util/hex.js';
import { buildCard } from '../card/os/CardProfiles.js';
import type { CardChannel } from '../reader/CardChannel.js';
import { VirtualReader } from '../reader/VirtualReader.js';
import { FileTraceSink, RecordingChannel } from '../reader/trace/index.js';

/** A read-only mix, so the card's state (and its speed) stays the same all along. */
const COMMANDS = [
  CommandApdu.decode(fromHex('00A4040C08A000000999010203')),
  CommandApdu.decode(fromHex('00A4020C025001')),
  CommandApdu.decode(fromHex('00B0000020')),
  CommandApdu.decode(fromHex('00B2021400')),
];
const N = 50_000;
const ROUNDS = 9;

async function channel(): Promise<CardChannel> {
  return new VirtualReader('bench', buildCard('iso-fs')).connect();
}

const cpuNow = (): number => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

/**
 * One round: µs of CPU per exchange spent in the loop of N exchanges, then in `end()` (the
 * flush), and in both.
 */
async function round(make: () => Promise<CardChannel>): Promise<{ loop: number; end: number; all: number }> {
  const ch = await make();
  for (let i = 0; i < 1000; i++) await ch.transmit(COMMANDS[i % COMMANDS.length]!);
  if (ch instanceof RecordingChannel) await ch.flush();
  const c0 = cpuNow();
  for (let i = 0; i < N; i++) await ch.transmit(COMMANDS[i % COMMANDS.length]!);
  const c1 = cpuNow();
  await ch.disconnect();
  const c2 = cpuNow();
  return { loop: (c1 - c0) / N, end: (c2 - c1) / N, all: (c2 - c0) / N };
}

export default async function bench(): Promise<Figure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'mp-trace-bench-'));
  const variants = {
    bare: () => channel(),
    // No flush inside the timed loop: (a) alone, then (b) at disconnect.
    lazy: async () =>
      new RecordingChannel(await channel(), new FileTraceSink(join(dir, 'lazy.trace')), {
        bufferLimit: 2 * N,
      }),
    // The default limit, in a loop that never yields: formatting falls on the path every 16384.
    default: async () => new RecordingChannel(await channel(), new FileTraceSink(join(dir, 'default.trace'))),
  };
  const inf = () => ({ loop: Infinity, end: Infinity, all: Infinity });
  const best = { bare: inf(), lazy: inf(), default: inf() };
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const k of ['bare', 'lazy', 'default'] as const) {
        const m = await round(variants[k]);
        best[k].loop = Math.min(best[k].loop, m.loop);
        best[k].end = Math.min(best[k].end, m.end);
        best[k].all = Math.min(best[k].all, m.all);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const bare = best.bare.loop;
  const a = best.lazy.loop - bare;
  const b = best.lazy.end;
  const pct = (x: number) => (x / bare) * 100;
  return [
    { name: 'bare VirtualReader exchange, CPU', value: bare, unit: 'µs' },
    { name: 'recording exchange (a: path only, no flush in loop), CPU', value: best.lazy.loop, unit: 'µs' },
    { name: '(a) recording overhead on the exchange path', value: a, unit: 'µs' },
    { name: '(a) recording overhead on the exchange path', value: pct(a), unit: '%', target: '< 10 %' },
    { name: '(b) formatting + file write + fsync at flush, per exchange', value: b, unit: 'µs' },
    { name: '(b) the same, against a bare exchange', value: pct(b), unit: '%' },
    { name: 'total (a) + (b)', value: a + b, unit: 'µs' },
    { name: 'total (a) + (b), against a bare exchange', value: pct(a + b), unit: '%' },
    {
      name: 'check: default bufferLimit, loop + disconnect, over bare',
      value: (best.default.all / bare - 1) * 100,
      unit: '%',
    },
  ];
}
