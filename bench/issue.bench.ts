// Batch issuance figures (issue 12, "Measured"): `meterpurse card issue --out` through the real
// command (in process, output captured), cards per second for a batch of ISSUE_BENCH_CARDS (default
// 10,000) subscriber cards written as sealed card files, each personalised over APDUs through the
// master-key card (VirtualReader), its CSN journalled before and after (SQLite WAL,
// synchronous=FULL), the MKC card file saved after each card, an fsync'd audit line, and each card
// registered with an in-process host over real HTTP on 127.0.0.1 (POST /cards: API key check,
// audit row, durable insert). Also: the same without registration (ISSUE_BENCH_LOCAL cards,
// default 1,000), and a resume over the finished batch (rows skipped per second).
//
// PC/SC: a 100-card batch through `card issue --reader` needs blank cards served through vpcd into
// pcscd (root, `unshare -m`: test/pcsc/harness.ts) and one `card serve` per card; it is not run
// here — see docs/batch-issuance.md for how to run it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Figure } from './run.js';
import { main } from '../cli/main.js';
import { makeBureau, MKC_PIN, startHost, subscribersCsv } from '../test/cli/issueFixture.js';

const CARDS = Number(process.env['ISSUE_BENCH_CARDS'] ?? 10_000);
const LOCAL = Number(process.env['ISSUE_BENCH_LOCAL'] ?? 1_000);

async function issueRun(
  dir: string,
  n: number,
  extra: string[],
): Promise<{ seconds: number; status: number; out: string }> {
  const b = await makeBureau(dir, 'issue-bench');
  const csv = join(dir, 'batch.csv');
  writeFileSync(csv, subscribersCsv(n));
  let out = '';
  const args = [
    'card',
    'issue',
    '--batch',
    csv,
    '--mkc',
    b.mkcPath,
    '--out',
    join(dir, 'out'),
    '--transport-key-file',
    b.transportPath,
    '--key-file',
    b.keyFile,
    '--serial-start',
    '4D50000000000001',
    ...extra,
  ];
  const io = { out: (t: string) => void (out += t), err: (t: string) => void (out += t) };
  const t0 = performance.now();
  const status = await main(args, io);
  const seconds = (performance.now() - t0) / 1000;
  if (status !== 0) throw new Error(`card issue exited ${status}: ${out.slice(-2000)}`);
  return { seconds, status, out: args.join('\u0000') };
}

export default async function bench(): Promise<Figure[]> {
  process.env['MP_MKC_PIN'] = MKC_PIN;
  const figures: Figure[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'issue-bench-'));
  try {
    const host = await startHost(join(dir, 'host'), CARDS);
    try {
      const withHost = join(dir, 'with-host');
      const r = await issueRun(withHost, CARDS, ['--host', host.url, '--api-key-file', host.keyPath]);
      figures.push({
        name: `card files + host registration, batch of ${CARDS}`,
        value: CARDS / r.seconds,
        unit: 'cards/s',
      });
      figures.push({ name: `  elapsed for ${CARDS}`, value: r.seconds, unit: 's' });
      if (host.cards().length !== CARDS) throw new Error(`host holds ${host.cards().length} cards`);
      // the same command again: every row found done
      const argv = r.out.split('\u0000');
      const t0 = performance.now();
      let out = '';
      const status = await main(argv, { out: (t) => void (out += t), err: (t) => void (out += t) });
      const s = (performance.now() - t0) / 1000;
      if (status !== 0 || !out.includes(`skipped (done before) ${CARDS}`))
        throw new Error(`resume: ${out.slice(-500)}`);
      figures.push({ name: `resume over the finished batch of ${CARDS}`, value: CARDS / s, unit: 'rows/s' });
    } finally {
      await host.close();
    }
    const local = await issueRun(join(dir, 'local'), LOCAL, []);
    figures.push({
      name: `card files, no registration, batch of ${LOCAL}`,
      value: LOCAL / local.seconds,
      unit: 'cards/s',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return figures;
}
