/**
 * Red team R2: kill -9 of the gas utility's server between its own steps (sell, flush, poll:
 * booking, readings, cursor), which test/host/relay-kill.test.ts does not kill (it kills the
 * electricity host). The server runs in a child process (redteam-relay-utilityChild.ts) on its own
 * database file; the relay (in-process, the gas key's scope), the meter and the card live here. The
 * child is SIGKILLed at the n-th passing of one point, restarted without its plan, and the operation
 * asked again. Whatever the point: each sale signed once (seqs 1, 2), credited once, booked once,
 * the ledger balanced with everything on the card, one relay command per outbox reference, the
 * reading stored once and cleared.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { toHex } from '../../card/util/hex.js';
import { InProcessRelayPort, RelayPortError } from '../../host/utility/RelayPort.js';
import {
  CSN_HEX,
  GAS,
  METER_A,
  gasReadingOnCard,
  purseBalance,
  relayWorld,
  signedGasReading,
  writeGasReading,
  type RelayWorld,
} from './relayWorld.js';
import { runInChild } from './childOp.js';

const child = fileURLToPath(new URL('./redteam-relay-utilityChild.ts', import.meta.url));
const procs: ChildProcess[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

type Point = 'in-sale' | 'before-record' | 'in-settle' | 'in-reading' | 'before-cursor';
type Op = { op: 'sell'; csn: string; amount: number; ref: string } | { op: 'poll' };

class UtilityProcess {
  #proc: ChildProcess | undefined;
  #plan: { point: Point; n: number } | undefined;
  kills = 0;

  constructor(
    private readonly w: RelayWorld,
    plan: { point: Point; n: number } | undefined,
  ) {
    this.#plan = plan;
  }

  #start(): Promise<ChildProcess> {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env['KILL_POINT'];
    delete env['KILL_N'];
    if (this.#plan) {
      env['KILL_POINT'] = this.#plan.point;
      env['KILL_N'] = String(this.#plan.n);
    }
    const p = fork(child, [this.w.gasFile], {
      execArgv: ['--import', 'tsx'],
      env,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    procs.push(p);
    this.#proc = p;
    const relay = new InProcessRelayPort(this.w.relay, this.w.principal(this.w.gasKey.key));
    p.on('message', (m: { op: string; id: number; method: string; args: unknown[] }) => {
      if (m.op !== 'relay') return;
      const reply = (r: Record<string, unknown>) => {
        if (p.connected) p.send({ op: 'relay-reply', id: m.id, ...r });
      };
      let run: Promise<unknown>;
      if (m.method === 'submit') {
        const c = m.args[0] as { data: string } & Parameters<typeof relay.submit>[0];
        run = relay.submit({ ...c, data: new Uint8Array(Buffer.from(c.data, 'hex')) });
      } else if (m.method === 'command') run = relay.command(m.args[0] as number);
      else run = relay.readings(m.args[0] as number, m.args[1] as number | undefined);
      run.then(
        (v) => {
          const o = v as Record<string, unknown>;
          if (m.method === 'readings') {
            const pg = o as { items: Array<{ record: Uint8Array }>; next: number | null };
            reply({
              value: { ...pg, items: pg.items.map((r) => ({ ...r, record: toHex(r.record) })) },
            });
          } else reply({ value: { ...o, answer: o['answer'] ? toHex(o['answer'] as Uint8Array) : null } });
        },
        (e: unknown) =>
          reply({
            error:
              e instanceof RelayPortError
                ? { status: e.status, code: e.code, message: e.message }
                : String(e),
          }),
      );
    });
    return new Promise((resolve, reject) => {
      p.once('message', (m: { op: string }) => (m.op === 'ready' ? resolve(p) : reject(new Error(m.op))));
      p.once('exit', (code, signal) => reject(new Error(`child exited ${code ?? signal} before ready`)));
    });
  }

  /** Runs `op`; a killed server is restarted (without its plan) and asked again. */
  async run(op: Op): Promise<void> {
    for (let attempt = 0; attempt < 4; attempt++) {
      const alive = this.#proc && this.#proc.exitCode === null && this.#proc.signalCode === null;
      const p = alive ? this.#proc! : await this.#start();
      const outcome = await runInChild(p, op);
      if (outcome === 'done') return;
      this.kills++;
      this.#plan = undefined;
    }
    throw new Error('the utility server did not complete in 4 starts');
  }

  async stop(): Promise<void> {
    const p = this.#proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.send({ op: 'exit' });
    });
  }
}

async function scenario(plan?: { point: Point; n: number }): Promise<number> {
  const w = relayWorld();
  w.gas.db.close(); // the child owns the utility's database while it runs
  const u = new UtilityProcess(w, plan);
  const carry = async () => {
    await w.relay.relayOnce(w.relay.repo.allMeters());
    await w.insert();
    await w.relay.relayOnce(w.relay.repo.allMeters());
    await w.relay.relayOnce(w.relay.repo.allMeters());
  };
  try {
    writeGasReading(w, signedGasReading(w, 1, { cumulative: 100 }));
    await u.run({ op: 'sell', csn: CSN_HEX, amount: 100, ref: 'a' });
    await u.run({ op: 'sell', csn: CSN_HEX, amount: 200, ref: 'b' });
    for (let i = 0; i < 3; i++) {
      await carry();
      await u.run({ op: 'poll' });
    }
    await carry();
    await u.run({ op: 'poll' });
  } finally {
    await u.stop();
  }
  w.restartGas();
  expect(purseBalance(w, GAS)).toBe(300);
  expect(w.world.cardView().purses.find((p) => p.id === GAS)!.counter).toBe(2);
  expect([w.gas.sale('a')?.seq, w.gas.sale('b')?.seq]).toEqual([1, 2]);
  expect(w.gas.balanceCheck()).toEqual({ sold: 300, inTransit: 0, onCard: 300, balanced: true });
  // one relay command per outbox reference: loads a, b and the reading's CLEAR READINGS
  const outbox = w.gas.db.outbox('done');
  expect(outbox.map((e) => e.kind).sort()).toEqual(['clear', 'load', 'load']);
  expect(new Set(outbox.map((e) => e.relayId)).size).toBe(3);
  expect(w.relay.repo.get(4)).toBeUndefined();
  const readings = w.gas.db.readingsOf('0A0B0C');
  expect(readings.map((r) => [r.seq, r.cleared])).toEqual([[1, true]]);
  expect(toHex(gasReadingOnCard(w))).toBe('00'.repeat(144));
  expect(w.meters.queue(METER_A).size).toBe(0);
  return u.kills;
}

describe('R2: kill -9 of the utility server between its own steps', () => {
  it('no kill: the scenario itself holds', async () => {
    expect(await scenario()).toBe(0);
  }, 60_000);
  // every passing of each point in the scenario (one reading: in-reading passes once)
  const plans: Array<[Point, number[]]> = [
    ['in-sale', [1, 2]],
    ['before-record', [1, 2, 3]],
    ['in-settle', [1, 2, 3]],
    ['in-reading', [1]],
    ['before-cursor', [1, 2]],
  ];
  for (const [point, passes] of plans)
    it(`killed at ${point}, at each of its ${passes.length} passing(s): each sale once, ledger balanced, reading stored once and cleared`, async () => {
      for (const n of passes) expect(await scenario({ point, n })).toBe(1);
    }, 120_000);
});
