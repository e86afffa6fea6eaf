import { describe, expect, it } from 'vitest';
import { txId } from '../../protocol/index.js';
import { fromHex } from '../../card/util/hex.js';
import { SeededRng } from '../../card/crypto/index.js';
import { MemoryCreditStore } from '../../host/CreditStore.js';
import type { Terminal } from '../../protocol/Terminal.js';
import { ValueStoreDispatcher } from '../../host/ValueStoreDispatcher.js';
import type { SimulatedMeterTerminal } from '../../host/sim/SimulatedMeterTerminal.js';
import { makeHost, makeMeter } from './helpers.js';

const ID = fromHex('00A001');
const KEY = '00A001';

class Crash extends Error {}

/** A terminal whose link (or host) fails at a chosen point of the session. */
function faulty(
  meter: SimulatedMeterTerminal,
  point:
    | 'before-init'
    | 'init-answer-lost'
    | 'before-command'
    | 'command-answer-lost'
    | 'command-duplicated'
    | 'meter-power-loss'
    | null,
): Terminal {
  const t = meter.asTerminal();
  return {
    async init(r1, r2, n) {
      if (point === 'before-init') throw new Crash('before init');
      const a = await t.init(r1, r2, n);
      if (point === 'init-answer-lost') throw new Crash('init answer lost');
      return a;
    },
    async command(h, p, s) {
      if (point === 'before-command') throw new Crash('before command');
      if (point === 'meter-power-loss') meter.powerCycle();
      const m = await t.command(h, p, s);
      if (point === 'command-duplicated') {
        // the duplicate reaches the meter after the original: no session, refused, nothing credited
        await t.command(h, p, s).catch(() => undefined);
      }
      if (point === 'command-answer-lost') throw new Crash('answer lost');
      return m;
    },
  };
}

function setup(point: Parameters<typeof faulty>[1], faultsLeft = 1) {
  const meter = makeMeter(ID, 'meter', { balance: 1000 });
  const store = new MemoryCreditStore();
  let left = faultsLeft;
  const dispatcher = (maxAttempts = 4) =>
    new ValueStoreDispatcher(
      makeHost(`host-${Math.random()}`),
      store,
      {
        ref: () => ({ id: ID, keyVersion: 1 }),
        terminal: () => (left-- > 0 ? faulty(meter, point) : meter.asTerminal()),
      },
      maxAttempts,
    );
  return { meter, store, dispatcher };
}

describe('exactly-once value store', () => {
  for (const point of [
    'before-init',
    'init-answer-lost',
    'before-command',
    'command-answer-lost',
    'command-duplicated',
    'meter-power-loss',
  ] as const) {
    it(`a fault "${point}" is retried with the same txId and credits exactly once`, async () => {
      const { meter, store, dispatcher } = setup(point, 1);
      const o = await dispatcher().credit(KEY, 250, 'pay-1');
      expect(o.result).toBe('confirmed');
      expect(meter.balance).toBe(1250);
      expect(meter.creditsApplied).toBe(1);
      expect(store.pending()).toHaveLength(0);
      expect(store.get(o.txId)!.state).toBe('confirmed');
      expect(store.get(o.txId)!.balanceAfter).toBe(1250);
      if (point === 'command-answer-lost' && o.result === 'confirmed') expect(o.duplicate).toBe(true);
    });

    if (point !== 'command-duplicated')
      it(`the host dies at "${point}" (no attempts left), restarts and recovers: exactly once`, async () => {
        const { meter, store, dispatcher } = setup(point, 100);
        const first = await dispatcher(1).credit(KEY, 300);
        expect(first.result).toBe('in-doubt');
        expect(store.get(first.txId)!.state).toBe('pending');
        // restart: a new dispatcher over the same durable store, link healthy again
        const healthy = new ValueStoreDispatcher(makeHost('restarted'), store, {
          ref: () => ({ id: ID, keyVersion: 0 }),
          terminal: () => meter.asTerminal(),
        });
        const outs = await healthy.recover();
        expect(outs.map((o) => o.result)).toEqual(['confirmed']);
        expect(meter.balance).toBe(1300);
        expect(meter.creditsApplied).toBe(1);
        // a second recovery finds nothing to do and changes nothing
        expect(await healthy.recover()).toEqual([]);
        expect(meter.balance).toBe(1300);
      });
  }

  it('the host dies after the answer but before writing the confirmation: the retry is a duplicate', async () => {
    const meter = makeMeter(ID, 'meter', { balance: 0 });
    const store = new MemoryCreditStore();
    const realConfirm = store.confirm.bind(store);
    let crash = true;
    store.confirm = (txId, b) => {
      if (crash) {
        crash = false;
        throw new Crash('power lost while writing');
      }
      realConfirm(txId, b);
    };
    const d = new ValueStoreDispatcher(
      makeHost('h'),
      store,
      { ref: () => ({ id: ID, keyVersion: 0 }), terminal: () => meter.asTerminal() },
      1,
    );
    const o = await d.credit(KEY, 40);
    expect(o.result).toBe('in-doubt');
    expect(meter.balance).toBe(40);
    const outs = await new ValueStoreDispatcher(makeHost('h2'), store, {
      ref: () => ({ id: ID, keyVersion: 0 }),
      terminal: () => meter.asTerminal(),
    }).recover();
    expect(outs).toEqual([{ txId: o.txId, result: 'confirmed', duplicate: true, balance: 40 }]);
    expect(meter.balance).toBe(40);
    expect(meter.creditsApplied).toBe(1);
  });

  it('credits to one meter go in order: a newer one waits while an older one is in doubt', async () => {
    const { meter, store, dispatcher } = setup('before-init', 100);
    const a = await dispatcher(1).credit(KEY, 10);
    expect(a.result).toBe('in-doubt');
    const b = await dispatcher(1).credit(KEY, 20);
    expect(b).toEqual({ txId: b.txId, result: 'waiting', behind: a.txId });
    const healthy = new ValueStoreDispatcher(makeHost('x'), store, {
      ref: () => ({ id: ID, keyVersion: 0 }),
      terminal: () => meter.asTerminal(),
    });
    const outs = await healthy.recover();
    expect(outs.map((o) => [o.txId, o.result])).toEqual([
      [a.txId, 'confirmed'],
      [b.txId, 'confirmed'],
    ]);
    expect(meter.balance).toBe(1030);
  });

  it('a credit over the meter maximum is refused with authentication, and the ledger returns it', async () => {
    const meter = makeMeter(ID, 'meter', { balance: 90, maxBalance: 100 });
    const store = new MemoryCreditStore();
    const d = new ValueStoreDispatcher(makeHost('h'), store, {
      ref: () => ({ id: ID, keyVersion: 0 }),
      terminal: () => meter.asTerminal(),
    });
    const o = await d.credit(KEY, 11);
    expect(o.result).toBe('refused');
    expect(store.get(o.txId)!.state).toBe('refused');
    expect(store.events.map((e) => e.kind)).toContain('credit-refused');
    expect(meter.balance).toBe(90);
  });

  it('reconciliation flags a reported balance above last report + confirmed credits', async () => {
    const meter = makeMeter(ID, 'meter', { balance: 100 });
    const store = new MemoryCreditStore();
    const d = new ValueStoreDispatcher(makeHost('h'), store, {
      ref: () => ({ id: ID, keyVersion: 0 }),
      terminal: () => meter.asTerminal(),
    });
    await d.credit(KEY, 50);
    expect(store.events).toHaveLength(0);
    meter.balance -= 30; // metered use
    expect(d.reconcile(KEY, meter.balance)).toBe(true);
    meter.balance += 500; // value from nowhere
    expect(d.reconcile(KEY, meter.balance)).toBe(false);
    expect(store.events.at(-1)!.kind).toBe('balance-above-ledger');
  });

  it('a seeded storm of faults over 200 credits: the meter gets exactly the confirmed sum', async () => {
    const meter = makeMeter(ID, 'meter', { balance: 0 });
    const store = new MemoryCreditStore();
    const pick = new SeededRng('storm-faults');
    const points = [
      'before-init',
      'init-answer-lost',
      'before-command',
      'command-answer-lost',
      'command-duplicated',
      'meter-power-loss',
      null,
      null,
    ] as const;
    const d = new ValueStoreDispatcher(
      makeHost('storm'),
      store,
      {
        ref: () => ({ id: ID, keyVersion: 1 }),
        terminal: () => faulty(meter, points[pick.bytes(1)[0]! % points.length]!),
      },
      2,
    );
    for (let i = 1; i <= 200; i++) {
      await d.credit(KEY, i);
      if (i % 20 === 0) await d.recover();
    }
    for (let round = 0; round < 2000 && store.pending().length > 0; round++) await d.recover();
    const confirmed = [...Array(200).keys()].map((i) => store.get(txId(i + 1))!);
    expect(confirmed.every((t) => t.state === 'confirmed')).toBe(true);
    expect(meter.balance).toBe((200 * 201) / 2);
    expect(meter.creditsApplied).toBe(200);
  });
});
