/**
 * Reader middleware figures: APDUs per second in-process through VirtualReader, and the round
 * trip through a real pcscd + vpcd for our card served by VpcdBridge, side by side with
 * vsmartcard's vicc on the same commands, with and without the TCP_NODELAY shim.
 * `npx tsx bench/run.ts reader`. The PC/SC part needs root, pcscd, vpcd and vicc; it is left
 * out with a note when they are missing.
 */
import type { Figure } from './run.js';
import { opsPerSecondAsync, percentiles } from './measure.js';
import { CommandApdu } from '../card/iso7816/CommandApdu.js';
import { fromHex, toHex } from '../card/util/hex.js';
import type { CardChannel } from '../reader/CardChannel.js';
import { PcscContext } from '../reader/PcscContext.js';
import { VirtualReader } from '../reader/VirtualReader.js';
import { VpcdBridge } from '../reader/vpcd/VpcdBridge.js';
import { TEST_AID, TestCard } from '../test/reader/TestCard.js';
import {
  READER_0,
  READER_1,
  pcscMissing,
  startPcscd,
  startVicc,
  type PrivatePcscd,
} from '../test/pcsc/harness.js';

/** The same commands for every card: SELECT by AID, READ BINARY, GET DATA (card may refuse). */
const COMMANDS = [
  new CommandApdu({ cla: 0, ins: 0xa4, p1: 4, p2: 0, data: TEST_AID, ne: 256 }),
  CommandApdu.decode(fromHex('00B0000010')),
  CommandApdu.decode(fromHex('00CA010400')),
];

async function roundTrips(ch: CardChannel, n: number): Promise<number[]> {
  for (let i = 0; i < 20; i++) await ch.transmit(COMMANDS[i % COMMANDS.length]!);
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await ch.transmit(COMMANDS[i % COMMANDS.length]!);
    samples.push(performance.now() - t);
  }
  return samples;
}

function pair(name: string, samples: number[]): Figure[] {
  const { median, p99 } = percentiles(samples);
  return [
    { name: `${name}: median round trip`, value: median, unit: 'ms' },
    { name: `${name}: p99 round trip`, value: p99, unit: 'ms' },
  ];
}

export default async function bench(): Promise<Figure[]> {
  const figures: Figure[] = [];
  const virtual = await new VirtualReader('bench', new TestCard()).connect();
  await virtual.transmit(COMMANDS[0]!);
  const read = COMMANDS[1]!;
  figures.push({
    name: 'VirtualReader READ BINARY (16 bytes), in-process',
    value: await opsPerSecondAsync(() => virtual.transmit(read)),
    unit: 'APDU/s',
  });
  const t0 = await new VirtualReader('bench T=0', new TestCard({ t0: true })).connect();
  figures.push({
    name: 'VirtualReader SELECT over T=0 (case 3 + GET RESPONSE)',
    value: await opsPerSecondAsync(() => t0.transmit(COMMANDS[0]!)),
    unit: 'APDU/s',
  });

  const missing = pcscMissing(['vicc', 'cc']);
  if (missing) {
    console.log(`  (PC/SC figures left out: ${missing})`);
    return figures;
  }
  let pcscd: PrivatePcscd | undefined;
  let dir: string | undefined;
  for (const nodelay of [true, false]) {
    const n = nodelay ? 600 : 60;
    pcscd = await startPcscd({ nodelay, dir, keepDir: true });
    dir = pcscd.dir;
    process.env.PCSCLITE_CSOCK_NAME = pcscd.socket;
    const bridge = new VpcdBridge(new TestCard(), { port: pcscd.port }).start();
    const vicc = startVicc(pcscd.port + 1, pcscd.env);
    const ctx = await PcscContext.open({ timeoutMs: 10_000 });
    try {
      const ours = ctx.reader(READER_0);
      const theirs = ctx.reader(READER_1);
      await ours.waitForCard(10_000);
      await theirs.waitForCard(15_000);
      const a = await ours.connect();
      const b = await theirs.connect();
      const tag = nodelay ? 'with NODELAY shim' : 'no shim (Nagle + delayed ACK)';
      // Interleave the two cards in blocks so that both see the same machine load.
      const sa: number[] = [];
      const sb: number[] = [];
      for (let block = 0; block < 6; block++) {
        sa.push(...(await roundTrips(a, n / 6)));
        sb.push(...(await roundTrips(b, n / 6)));
      }
      figures.push(...pair(`pcscd+vpcd, our card (VpcdBridge), ${tag}`, sa));
      figures.push(...pair(`pcscd+vpcd, vicc -t iso7816, ${tag}`, sb));
      console.log(`  (${tag}: our ATR ${toHex(a.atr)}, vicc ATR ${toHex(b.atr)}, ${n} round trips each)`);
      await a.disconnect();
      await b.disconnect();
    } finally {
      ctx.close();
      await bridge.stop();
      await vicc.stop();
      await pcscd.stop();
    }
  }
  return figures;
}
