/**
 * Reader middleware figures: APDUs per second in-process through VirtualReader, and the round
 * trip through a real pcscd + vpcd for our card runtime (iso-fs) served by `meterpurse card serve`
 * (its own process, like vicc), side by side with
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
import { createCardFile } from '../cli/cardfile/index.js';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { TEST_AID, TestCard } from '../test/reader/TestCard.js';
import { DEMO_AID, buildCard, getProfile } from '../card/os/CardProfiles.js';
import {
  READER_0,
  READER_1,
  pcscMissing,
  startPcscd,
  startCardServe,
  startVicc,
  type PrivatePcscd,
} from '../test/pcsc/harness.js';

/**
 * The same commands for every card: SELECT of the demo application by AID (vicc answers 6A82),
 * READ BINARY of 16 bytes by SFI 1, GET CHALLENGE of 8 bytes.
 */
const COMMANDS = [
  CommandApdu.decode(fromHex(`00A4040C08${DEMO_AID}`)),
  CommandApdu.decode(fromHex('00B0810010')),
  CommandApdu.decode(fromHex('0084000008')),
];

/** A fresh card of the card runtime's sample ISO profile. */
function demoCard(profile = 'iso-fs') {
  return buildCard(profile, getProfile(profile).defaultConfig());
}

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
  const virtual = await new VirtualReader('bench', demoCard()).connect();
  await virtual.transmit(COMMANDS[0]!);
  const read = COMMANDS[1]!;
  figures.push({
    name: 'VirtualReader, card runtime (iso-fs), READ BINARY 16 bytes',
    value: await opsPerSecondAsync(() => virtual.transmit(read)),
    unit: 'APDU/s',
  });
  const selectFci = new CommandApdu({ cla: 0, ins: 0xa4, p1: 4, p2: 0, data: fromHex(DEMO_AID), ne: 256 });
  const t0 = await new VirtualReader('bench T=0', demoCard('iso-fs-t0')).connect();
  figures.push({
    name: 'VirtualReader, iso-fs-t0, SELECT + FCI (case 3, GET RESPONSE)',
    value: await opsPerSecondAsync(() => t0.transmit(selectFci)),
    unit: 'APDU/s',
  });
  const minimal = await new VirtualReader('bench test card', new TestCard({ keepLog: false })).connect();
  await minimal.transmit(new CommandApdu({ cla: 0, ins: 0xa4, p1: 4, p2: 0, data: TEST_AID }));
  const readPlain = CommandApdu.decode(fromHex('00B0000010'));
  figures.push({
    name: 'VirtualReader, minimal test CardOs, READ BINARY (reader cost)',
    value: await opsPerSecondAsync(() => minimal.transmit(readPlain)),
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
    const cardFile = join(pcscd.dir, 'bench.card');
    // A throwaway card key in the bench's folder, not the user's config directory.
    const env = { ...pcscd.env, MP_CONFIG_DIR: pcscd.dir };
    createCardFile(cardFile, demoCard(), { keyFile: join(pcscd.dir, 'card.key') });
    const served = await startCardServe(cardFile, pcscd.port, env);
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
      figures.push(...pair(`pcscd+vpcd, our card (meterpurse card serve), ${tag}`, sa));
      figures.push(...pair(`pcscd+vpcd, vicc -t iso7816, ${tag}`, sb));
      const sws = async (ch: CardChannel) => {
        const out: string[] = [];
        for (const c of COMMANDS) out.push((await ch.transmit(c)).sw.toString(16));
        return out.join('/');
      };
      console.log(
        `  (${tag}: ${n} round trips each; SW ours ${await sws(a)}, vicc ${await sws(b)}; ATR ours ${toHex(a.atr)}, vicc ${toHex(b.atr)})`,
      );
      await a.disconnect();
      await b.disconnect();
    } finally {
      ctx.close();
      await served.stop();
      await vicc.stop();
      await pcscd.stop();
    }
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
  return figures;
}
