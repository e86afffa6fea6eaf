/**
 * Overhead of recording: the cost of an exchange through a VirtualReader channel to the `iso-fs`
 * card, bare and wrapped in a RecordingChannel writing to a file (the sink a lab uses), and to a
 * sink that only counts characters (the formatting alone). `npx tsx bench/run.ts trace`.
 *
 * The machine is shared and loaded, so besides wall-clock rates the bench measures the process's
 * own CPU time (`process.cpuUsage`, user + system, GC threads included) per exchange, which other
 * processes do not inflate. The variants alternate over nine rounds of 50,000 exchanges and each
 * keeps its best round. The file sink's time includes its writes and the final fsync.
 * Aim (issue 5): recording costs under 10 %.
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
import { FileTraceSink, RecordingChannel, type TraceSink } from '../reader/trace/index.js';

/** A read-only mix, so the card's state (and its speed) stays the same all along. */
const COMMANDS = [
  CommandApdu.decode(fromHex('00A4040C08A000000999010203')),
  CommandApdu.decode(fromHex('00A4020C025001')),
  CommandApdu.decode(fromHex('00B0000020')),
  CommandApdu.decode(fromHex('00B2021400')),
];
const N = 50_000;

async function channel(): Promise<CardChannel> {
  return new VirtualReader('bench', buildCard('iso-fs')).connect();
}

/** One round: N exchanges (and the sink's close, for recorders); µs of CPU and of wall time each. */
async function round(
  make: () => Promise<{ ch: CardChannel; end: () => Promise<void> }>,
): Promise<{ cpu: number; wall: number }> {
  const { ch, end } = await make();
  for (let i = 0; i < 1000; i++) await ch.transmit(COMMANDS[i % COMMANDS.length]!);
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  for (let i = 0; i < N; i++) await ch.transmit(COMMANDS[i % COMMANDS.length]!);
  await end();
  const c = process.cpuUsage(c0);
  return { cpu: (c.user + c.system) / N, wall: ((performance.now() - w0) * 1000) / N };
}

export default async function bench(): Promise<Figure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'mp-trace-bench-'));
  const counting: TraceSink = { write: () => undefined };
  const variants = {
    bare: async () => {
      const ch = await channel();
      return { ch, end: () => ch.disconnect() };
    },
    file: async () => {
      const ch = new RecordingChannel(await channel(), new FileTraceSink(join(dir, 'bench.trace')));
      return { ch, end: () => ch.disconnect() };
    },
    format: async () => {
      const ch = new RecordingChannel(await channel(), counting);
      return { ch, end: () => ch.disconnect() };
    },
  };
  const best = {
    bare: { cpu: Infinity, wall: Infinity },
    file: { cpu: Infinity, wall: Infinity },
    format: { cpu: Infinity, wall: Infinity },
  };
  try {
    for (let r = 0; r < 9; r++) {
      for (const k of ['bare', 'file', 'format'] as const) {
        const m = await round(variants[k]);
        best[k].cpu = Math.min(best[k].cpu, m.cpu);
        best[k].wall = Math.min(best[k].wall, m.wall);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const pct = (a: number, b: number) => (a / b - 1) * 100;
  return [
    { name: 'bare VirtualReader channel, wall', value: 1e6 / best.bare.wall, unit: 'exchanges/s' },
    { name: 'RecordingChannel → file, wall', value: 1e6 / best.file.wall, unit: 'exchanges/s' },
    { name: 'bare VirtualReader channel, CPU per exchange', value: best.bare.cpu, unit: 'µs' },
    { name: 'RecordingChannel → file, CPU per exchange', value: best.file.cpu, unit: 'µs' },
    { name: 'RecordingChannel → no I/O, CPU per exchange', value: best.format.cpu, unit: 'µs' },
    {
      name: 'recording overhead, file sink (CPU)',
      value: pct(best.file.cpu, best.bare.cpu),
      unit: '%',
      target: '< 10 %',
    },
    {
      name: 'recording overhead, formatting only (CPU)',
      value: pct(best.format.cpu, best.bare.cpu),
      unit: '%',
    },
    {
      name: 'recording overhead, file sink (wall)',
      value: pct(best.file.wall, best.bare.wall),
      unit: '%',
      target: '< 10 %',
    },
  ];
}
