/**
 * kill -9 of the electricity host between every step of relaying (issue 17). The relay runs in a
 * child process (relayKillChild.ts) over the host's database file; the meter (its card-command
 * queue) and the subscriber's card live here, reached by the child over IPC through the H = 57
 * wire codec. The child is SIGKILLed at the n-th passing of one point:
 *
 *   before-exchange   message built from committed state, not sent        (host dies before the line)
 *   meter-served      the meter stored the commands and answered; the answer never reaches the host
 *   in-absorb         inside the transaction storing answers and readings, before its commit
 *   after-absorb      answers committed; the ack (ackBelow) not yet delivered to the meter
 *
 * then restarted on the same file. Whatever the point, at the end: every command answered and its
 * answer stored once, the card credited exactly once per sale, the utility's ledger balanced with
 * everything on the card, the reading stored once and cleared, and no relay id ever carried two
 * different commands. The utility server's own crash points (after its sale committed, after the
 * relay stored a submission it did not record) are exercised in-process at the end.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { toHex } from '../../card/util/hex.js';
import type { RelayPort } from '../../host/utility/RelayPort.js';
import { InProcessRelayPort } from '../../host/utility/RelayPort.js';
import { GAS_METER } from '../applets/offline-helpers.js';
import {
  CSN_HEX,
  GAS,
  METER_A,
  gasReadingOnCard,
  gasServer,
  purseBalance,
  relayWorld,
  signedGasReading,
  writeGasReading,
  type RelayWorld,
} from './relayWorld.js';
import { runInChild } from './childOp.js';

const child = fileURLToPath(new URL('./relayKillChild.ts', import.meta.url));
const procs: ChildProcess[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

type Point = 'before-exchange' | 'meter-served' | 'in-absorb' | 'after-absorb';

/** The host process: (re)started on demand; `round` survives kills by restarting and asking again. */
class HostProcess {
  #proc: ChildProcess | undefined;
  #ready: Promise<void> | undefined;
  #plan: { point: Point; n: number } | undefined;
  #served = 0;
  kills = 0;
  readonly errors: string[] = [];

  constructor(
    private readonly w: RelayWorld,
    plan?: { point: Point; n: number },
  ) {
    this.#plan = plan;
  }

  #start(): Promise<void> {
    const plan = this.#plan;
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env['KILL_POINT'];
    delete env['KILL_N'];
    if (plan && plan.point !== 'meter-served') {
      env['KILL_POINT'] = plan.point;
      env['KILL_N'] = String(plan.n);
    }
    const p = fork(child, [this.w.file], {
      execArgv: ['--import', 'tsx'],
      env,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    procs.push(p);
    this.#proc = p;
    p.on('message', (m: { op: string; id: number; meterId: string; message: string }) => {
      if (m.op !== 'exchange') return;
      let answer: string | undefined;
      let error: string | undefined;
      try {
        answer = Buffer.from(
          this.w.meters.serveWire(m.meterId, new Uint8Array(Buffer.from(m.message, 'hex'))),
        ).toString('hex');
      } catch (e) {
        error = String(e);
        this.errors.push(error);
      }
      if (this.#plan?.point === 'meter-served' && ++this.#served === this.#plan.n) {
        p.kill('SIGKILL'); // the meter served it; the host dies before the answer arrives
        return;
      }
      if (p.connected) p.send({ op: 'reply', id: m.id, ...(error === undefined ? { answer } : { error }) });
    });
    return new Promise((resolve, reject) => {
      p.once('message', (m: { op: string }) => (m.op === 'ready' ? resolve() : reject(new Error(m.op))));
      p.once('exit', (code, signal) => reject(new Error(`child exited ${code ?? signal} before ready`)));
    });
  }

  /** One relay round; a killed host is restarted (without its kill plan) and the round asked again. */
  async round(all = false): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (!this.#proc || this.#proc.exitCode !== null || this.#proc.signalCode !== null) {
        this.#ready = this.#start();
      }
      await this.#ready;
      const p = this.#proc!;
      const outcome = await runInChild(p, { op: 'round', all });
      if (outcome === 'done') return;
      this.kills++;
      this.#plan = undefined; // one kill per scenario; the restarted host runs clean
    }
    throw new Error('the host did not complete a round in 5 starts');
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

/**
 * Two sales, a configuration and a reading travel through the relay while the host dies once at
 * `plan`; then the invariants.
 */
async function scenario(plan?: { point: Point; n: number }): Promise<{ kills: number }> {
  const w = relayWorld();
  const host = new HostProcess(w, plan);
  try {
    writeGasReading(w, signedGasReading(w, 1, { cumulative: 100 }));
    await w.gas.sell(CSN_HEX, 100, 'a');
    await w.gas.configure(CSN_HEX, {
      meterId: toHex(GAS_METER),
      emergencyLimit: 50,
      unitCharge: 80,
      blacklistVersion: 1,
    });
    await host.round();
    await w.insert();
    await host.round(true);
    await w.gas.poll();
    await w.gas.sell(CSN_HEX, 200, 'b');
    for (let i = 0; i < 4; i++) {
      await host.round(true);
      await w.insert();
      await host.round(true);
      await w.gas.poll();
    }
    await host.round(true); // the last acks
  } finally {
    await host.stop();
  }
  // ---- the invariants
  expect(host.errors).toEqual([]); // no relay id ever came with other bytes
  const relay = w.relay.repo;
  const ids = [1, 2, 3, 4];
  expect(ids.map((id) => relay.get(id)?.state)).toEqual(['answered', 'answered', 'answered', 'answered']);
  expect(relay.get(5)).toBeUndefined(); // nothing re-submitted as a new command
  expect(purseBalance(w, GAS)).toBe(300);
  expect(w.world.cardView().purses.find((p) => p.id === GAS)!.counter).toBe(2); // two loads, once each
  expect(w.gas.balanceCheck()).toEqual({ sold: 300, inTransit: 0, onCard: 300, balanced: true });
  expect(w.gas.db.configs(CSN_HEX, GAS)).toEqual([
    { version: 1, meterId: '0A0B0C', state: 'applied', sw: 0x9000 },
  ]);
  const readings = w.gas.db.readingsOf('0A0B0C');
  expect(readings.map((r) => [r.seq, r.cleared])).toEqual([[1, true]]);
  expect(toHex(gasReadingOnCard(w))).toBe('00'.repeat(144));
  expect(w.relay.readings(w.principal(w.gasKey.key), {}).items).toHaveLength(1);
  expect(w.db.events(100).filter((e) => e.kind === 'relay-stray-answer')).toEqual([]);
  // the meter holds nothing and the host owes it nothing
  expect(w.meters.queue(METER_A).size).toBe(0);
  expect(w.meters.queue(METER_A).outboxSize).toBe(0);
  return { kills: host.kills };
}

describe('kill -9 of the host between every step of relaying', () => {
  it('no kill: the scenario itself holds', async () => {
    expect(await scenario()).toEqual({ kills: 0 });
  }, 60_000);

  for (const point of ['before-exchange', 'meter-served', 'in-absorb', 'after-absorb'] as const)
    // passings 1..6 are every exchange that carries something in the scenario: the first commands,
    // their answers with the reading, the CLEAR and the second sale, their answers, the last acks
    it(`killed at ${point}, at its 1st..6th passing: stored once, credited once, ledger balanced`, async () => {
      for (let n = 1; n <= 6; n++)
        expect(await scenario({ point, n }), `${point} #${n}`).toEqual({ kills: 1 });
    }, 240_000);
});

describe("the utility server's own crash points", () => {
  it('dead after its sale committed, before submitting: a restart submits it; the seq is not re-used', async () => {
    const w = relayWorld();
    const unreachable: RelayPort = {
      submit: () => Promise.reject(new Error('ECONNREFUSED')),
      command: () => Promise.reject(new Error('ECONNREFUSED')),
      readings: () => Promise.reject(new Error('ECONNREFUSED')),
    };
    w.gas.db.close();
    w.gas = gasServer(w, unreachable);
    await w.gas.sell(CSN_HEX, 100, 'a'); // committed; the submit failed
    w.restartGas();
    const b = await w.gas.sell(CSN_HEX, 5, 'b');
    expect(b.seq).toBe(2);
    expect(w.gas.db.outbox('submitted').map((e) => e.ref)).toEqual(['L:a', 'L:b']);
  });

  it('dead after the relay stored its submission, before recording the relay id: the re-submit is the same command', async () => {
    const w = relayWorld();
    const inner = new InProcessRelayPort(w.relay, w.principal(w.gasKey.key));
    const dies: RelayPort = {
      submit: async (c) => {
        await inner.submit(c);
        throw new Error('killed before the answer was read');
      },
      command: (id) => inner.command(id),
      readings: (a, l) => inner.readings(a, l),
    };
    w.gas.db.close();
    w.gas = gasServer(w, dies);
    await w.gas.sell(CSN_HEX, 100, 'a');
    expect(w.gas.db.outbox('new')).toHaveLength(1);
    w.restartGas();
    expect(await w.gas.flush()).toBe(1);
    expect(w.gas.db.outbox('submitted')[0]!.relayId).toBe(1);
    expect(w.relay.repo.get(2)).toBeUndefined(); // one relay command, not two
    await w.relay.relayOnce();
    await w.insert();
    await w.relay.relayOnce();
    await w.gas.poll();
    expect(purseBalance(w, GAS)).toBe(100);
    expect(w.gas.balanceCheck()).toEqual({ sold: 100, inTransit: 0, onCard: 100, balanced: true });
  });
});
