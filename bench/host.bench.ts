// Host figures (issue 7): value-store sessions to 65,536 simulated meters of one AS (256 LS × 256
// modems) over the framed power-line link, with durable SQLite commits (WAL, synchronous=FULL), and
// usage-and-timer check downloads per second.
//
// HOST_BENCH_FIELD=real puts REAL meters in the field: each a meter core with its own SAM and SVM
// applets behind its modem (meter/modem), built per LS like the simulated ones; HOST_BENCH_LS sets
// how many LS (default 256).
//
// Durability with batching: per LS, one transaction writes the 256 pending credits (fsync) BEFORE any
// frame goes out; the sessions run; one transaction confirms the 256 answers (fsync). A crash inside
// a batch leaves credits pending, which the host re-delivers with the same txIds (the meters answer
// DUPLICATE), so batching changes the number of fsyncs, not the exactly-once guarantee.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Figure } from './run.js';
import { HostKeyRing, NodeCipherProvider, SeededRng } from '../card/crypto/index.js';
import { fromHex, toHex } from '../card/util/hex.js';
import type { TxId } from '../protocol/TxId.js';
import { RtcTime } from '../protocol/RtcTime.js';
import { HostProtocol } from '../host/protocol/HostProtocol.js';
import { LocalService } from '../host/network/LocalService.js';
import { PowerLineChannel } from '../host/network/PowerLineChannel.js';
import { SimulatedMeterTerminal } from '../host/sim/SimulatedMeterTerminal.js';
import { HostDb } from '../host/service/HostDb.js';
import { IssuerKeys } from '../card/index.js';
import { createCardMeter, MeterModem } from '../meter/index.js';
import type { MessageEndpoint } from '../protocol/index.js';

export default async function bench(): Promise<Figure[]> {
  const cipher = new NodeCipherProvider();
  const real = process.env['HOST_BENCH_FIELD'] === 'real';
  const issuer = IssuerKeys.demo(cipher, 'bench');
  // With real meters the host holds the KH its meters' SAMs were personalised from.
  const ring = real
    ? HostKeyRing.of(issuer.utility(1).host)
    : HostKeyRing.of([[0, fromHex('0123456789ABCDEFFEDCBA9876543210')]]);
  const start = RtcTime.of(2026, 11, 22, 9, 0, 0);
  const realMeter = async (id: Uint8Array): Promise<MessageEndpoint> =>
    new MeterModem(
      await createCardMeter({
        meter: { start, commissioned: true },
        issuer,
        meterId: id,
        svmMax: 100_000_000,
        seed: `bench:${toHex(id)}`,
      }),
    );
  const host = new HostProtocol(cipher, new SeededRng('bench-host'), () => ring);
  const dir = mkdtempSync(join(tmpdir(), 'host-bench-'));
  const db = new HostDb(join(dir, 'host.db'));
  const LS = Number(process.env['HOST_BENCH_LS'] ?? 256);
  const PER = 256;
  let sessions = 0;
  let peakRss = 0;
  const insSub = db.db.prepare("INSERT INTO subscribers (name) VALUES ('bench')").run();
  const insMeter = db.db.prepare(
    'INSERT INTO meters (id, subscriber_id, key_version, as_id, ls_id, modem) VALUES (?, ?, 0, 0, ?, ?)',
  );
  const t0 = performance.now();
  for (let l = 0; l < LS; l++) {
    // the field of this LS (simulated meters are built per LS so the figure is the host's memory)
    const ls = new LocalService(
      0,
      l,
      new PowerLineChannel(new SeededRng(`bench-line-${l}`), { latencyMs: [5, 20] }),
    );
    const ids: string[] = [];
    const endpoints = real
      ? await Promise.all(Array.from({ length: PER }, (_, m) => realMeter(Uint8Array.of(0, l, m))))
      : [];
    db.tx(() => {
      for (let m = 1; m <= PER; m++) {
        const id = Uint8Array.of(0, l, m - 1);
        const key = toHex(id);
        ids.push(key);
        insMeter.run(key, Number(insSub.lastInsertRowid), l, m);
        const meter = real
          ? endpoints[m - 1]!
          : new SimulatedMeterTerminal(cipher, new SeededRng(key), {
              id,
              terminalKeys: new Map([[0, ring.terminalKey(cipher, 0, id)]]),
            });
        ls.attach(m, id, meter, 0);
      }
    });
    const txs = db.tx(() => ids.map((id) => db.createCreditInTx(id, 1000, 'bench', 'payments:bench')));
    const answers: Array<[TxId, number]> = [];
    for (let m = 1; m <= PER; m++) {
      const tx = txs[m - 1]!;
      const a = await host.valueStore(ls.terminal(m), ls.meterRef(m), tx.amount, tx.txId);
      answers.push([tx.txId, a.balanceAfter]);
      sessions++;
    }
    db.tx(() => {
      for (const [txId, bal] of answers) db.confirm(txId, bal);
    });
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  const seconds = (performance.now() - t0) / 1000;
  const pending = db.pending().length;
  const ledger = db.ledgerReport();
  if (pending !== 0 || !ledger.balanced) throw new Error(`bench ledger broken: ${pending} pending`);

  // usage-and-timer check downloads (2,973-byte log + table each) over the link
  const ls = new LocalService(
    0,
    0,
    new PowerLineChannel(new SeededRng('bench-usage'), { latencyMs: [5, 20] }),
  );
  for (let m = 1; m <= 64; m++) {
    const id = Uint8Array.of(9, 0, m);
    ls.attach(
      m,
      id,
      real
        ? await realMeter(id)
        : new SimulatedMeterTerminal(cipher, new SeededRng(`u${m}`), {
            id,
            terminalKeys: new Map([[0, ring.terminalKey(cipher, 0, id)]]),
          }),
      0,
    );
  }
  const now = RtcTime.of(2026, 11, 22, 9, 0, 0);
  let downloads = 0;
  const u0 = performance.now();
  while (performance.now() - u0 < 2000) {
    for (const m of ls.modems) {
      await host.usageCheck(ls.terminal(m), ls.meterRef(m), now);
      downloads++;
    }
  }
  const uSeconds = (performance.now() - u0) / 1000;
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return [
    {
      name: `value-store sessions, ${sessions} ${real ? 'REAL meter cores' : 'meters'} (${LS} LS × 256), durable`,
      value: seconds,
      unit: 's',
      target: '65,536 in < 30 s',
    },
    {
      name: 'value-store sessions per second (durable, batched per LS)',
      value: sessions / seconds,
      unit: 'sessions/s',
    },
    { name: 'peak resident memory during the value-store run', value: peakRss / 2 ** 20, unit: 'MiB' },
    { name: 'usage-and-timer check downloads per second', value: downloads / uSeconds, unit: 'downloads/s' },
  ];
}
