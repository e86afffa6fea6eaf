// API figures (issue 15, "Measured"): recharges per second through the host's HTTP API over real
// HTTP on 127.0.0.1 with durable commits (SQLite WAL, synchronous=FULL: the payment + pending credit
// transaction and the confirmation each fsync before the answer), one client and 32 concurrent
// clients (each its own meter, as 32 vending points serving 32 households), in three builds of the
// same API:
//   authenticated   the real one: API key (Bearer) checked per request, role check, audit row
//                   written (one more durable transaction) before the answer;
//   auth, no audit  the same key and role check with the audit trail switched off (bench only),
//                   to split the price of the two;
//   open            no access layer at all (bench only: `host serve` cannot build it).
// The simulated power line has zero latency here, so the figure is the host's, not the line's.
// Throughput on a shared machine follows its disk's fsync time; the CPU time per recharge (this
// process: HTTP client and server) does not, and shows what the key check and the audit cost.
// API_BENCH_MS, API_BENCH_ROUNDS set the round length and count; API_BENCH_VERBOSE=1 prints rounds.
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Figure } from './run.js';
import { opsPerSecondAsync } from './measure.js';
import { NodeCipherProvider, SeededRng } from '../card/crypto/index.js';
import { HostDb } from '../host/service/HostDb.js';
import { HostService } from '../host/service/HostService.js';
import { SimulatedPaymentGateway } from '../host/service/PaymentGateway.js';
import { buildApi } from '../host/service/api.js';
import { keyAccess, type AccessLayer } from '../host/service/access.js';
import type { AuditRepository } from '../host/service/db/AuditRepository.js';
import { SimulatedField } from '../host/sim/SimulatedField.js';

const CLIENTS = 32;
/** Each build runs ROUNDS rounds of ROUND_MS with one client and ROUND_MS with 32. */
const ROUND_MS = Number(process.env['API_BENCH_MS'] ?? 1000);
const ROUNDS = Number(process.env['API_BENCH_ROUNDS'] ?? 9);
const CARD = '4111111111111111';

type Build = 'authenticated' | 'auth, no audit' | 'open';

/** The access layer of each build. */
function accessOf(build: Build, svc: HostService): AccessLayer | undefined {
  if (build === 'authenticated') return undefined; // buildApi's default, as `host serve` runs it
  if (build === 'open') return { install: () => undefined };
  const noAudit = { append: () => undefined } as unknown as AuditRepository;
  return keyAccess(svc.apiKeys, noAudit);
}

/** One HTTP POST with keep-alive; resolves to the status code (the body is read and dropped). */
function post(agent: Agent, port: number, path: string, body: string, key: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${key}`,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** One host of one build, listening on 127.0.0.1, with 32 meters and a vending key. */
async function start(build: Build) {
  const cipher = new NodeCipherProvider();
  const dir = mkdtempSync(join(tmpdir(), 'api-bench-'));
  const svc = new HostService({
    db: new HostDb(join(dir, 'host.db')),
    cipher,
    rng: new SeededRng(`api-bench ${build}`),
    gateway: new SimulatedPaymentGateway(),
    field: (keys) => new SimulatedField(cipher, keys, undefined, { latencyMs: [0, 0] }),
  });
  const sub = svc.addSubscriber({ name: 'bench' });
  const meters = Array.from(
    { length: CLIENTS },
    (_, i) => `BE${i.toString(16).padStart(4, '0').toUpperCase()}`,
  );
  meters.forEach((id, i) => svc.addMeter({ id, subscriberId: sub, as: 0, ls: 1, modem: i + 1 }));
  const key = svc.apiKeys.create(['vending'], 'bench till').key;
  const auditorKey = svc.apiKeys.create(['auditor'], 'bench auditor').key;
  const access = accessOf(build, svc);
  const app = buildApi(svc, access ? { access } : {});
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  let n = 0;
  const recharge = async (meterId: string) => {
    const body = JSON.stringify({ requestId: `b-${n++}`, meterId, amount: 1, method: 'card', account: CARD });
    const status = await post(agent, port, '/recharges', body, key);
    if (status !== 200) throw new Error(`${build}: recharge answered ${status}`);
  };
  for (let i = 0; i < 50; i++) await recharge(meters[0]!); // warm-up: JIT, statements, connection
  return {
    build,
    /** Recharges per second of one client, back to back, for `ms`, and CPU µs per recharge. */
    async single(ms: number): Promise<{ perSecond: number; cpuUs: number }> {
      let done = 0;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      while (performance.now() - t0 < ms) {
        await recharge(meters[0]!);
        done++;
      }
      const cpu = process.cpuUsage(c0);
      return { perSecond: (done * 1000) / (performance.now() - t0), cpuUs: (cpu.user + cpu.system) / done };
    },
    /** Recharges per second of 32 clients, each recharging its own meter back to back, for `ms`. */
    async concurrent(ms: number): Promise<number> {
      let done = 0;
      const t0 = performance.now();
      await Promise.all(
        meters.map(async (m) => {
          while (performance.now() - t0 < ms) {
            await recharge(m);
            done++;
          }
        }),
      );
      return (done * 1000) / (performance.now() - t0);
    },
    /**
     * `GET /keys` (a constant-size answer) per second through `inject` (no socket, no disk write):
     * what the key check (a SHA-256 and one indexed SELECT) costs a request, apart from the fsyncs.
     */
    async reads(ms: number): Promise<number> {
      const headers = { authorization: `Bearer ${auditorKey}` };
      return opsPerSecondAsync(async () => {
        const r = await app.inject({ method: 'GET', url: '/keys', headers });
        if (r.statusCode !== 200) throw new Error(`${build}: GET answered ${r.statusCode}`);
      }, ms);
    },
    /** Checks the books and the audit trail, and stops. */
    async stop(): Promise<void> {
      try {
        const ledger = svc.db.ledgerReport();
        if (!ledger.balanced || ledger.pendingSum !== 0)
          throw new Error(`${build}: ledger ${JSON.stringify(ledger)}`);
        const audited = svc.audit.page(1).items[0]?.id ?? 0;
        if ((build === 'authenticated') !== audited > 0) throw new Error(`${build}: ${audited} audit rows`);
      } finally {
        agent.destroy();
        await app.close();
        svc.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * The three builds run side by side in interleaved rounds (the order rotates each round) and each
 * figure is the median of its rounds: on a shared machine the disk's fsync time drifts by a factor
 * of several within a minute, and a build measured alone in a quiet or a busy minute would show
 * that drift instead of its own cost.
 */
export default async function bench(): Promise<Figure[]> {
  const builds: Build[] = ['authenticated', 'auth, no audit', 'open'];
  const hosts = [];
  for (const b of builds) hosts.push(await start(b));
  const single = new Map<Build, number[]>(builds.map((b) => [b, []]));
  const cpu = new Map<Build, number[]>(builds.map((b) => [b, []]));
  const reads = new Map<Build, number[]>(builds.map((b) => [b, []]));
  const concurrent = new Map<Build, number[]>(builds.map((b) => [b, []]));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < hosts.length; i++) {
        const h = hosts[(i + round) % hosts.length]!;
        const one = await h.single(ROUND_MS);
        single.get(h.build)!.push(one.perSecond);
        cpu.get(h.build)!.push(one.cpuUs);
        reads.get(h.build)!.push(await h.reads(ROUND_MS / 2));
        concurrent.get(h.build)!.push(await h.concurrent(ROUND_MS));
      }
    }
  } finally {
    for (const h of hosts) await h.stop();
  }
  const show = (xs: number[]) => xs.map((v) => v.toFixed(0)).join(' ');
  if (process.env['API_BENCH_VERBOSE'])
    for (const b of builds)
      console.log(
        `  ${b}: 1 client ${show(single.get(b)!)}; ${CLIENTS} clients ${show(concurrent.get(b)!)}; CPU µs ${show(cpu.get(b)!)}; reads/s ${show(reads.get(b)!)}`,
      );
  return builds.flatMap((b) => [
    { name: `recharges/s, 1 client, ${b}`, value: median(single.get(b)!), unit: 'recharges/s' },
    {
      name: `recharges/s, ${CLIENTS} concurrent clients, ${b}`,
      value: median(concurrent.get(b)!),
      unit: 'recharges/s',
    },
    { name: `CPU time per recharge (client + server), ${b}`, value: median(cpu.get(b)!), unit: 'µs' },
    {
      name: `GET /keys per second (inject, no disk write), ${b}`,
      value: median(reads.get(b)!),
      unit: 'requests/s',
    },
  ]);
}
