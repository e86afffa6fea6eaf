/**
 * The host's composition (issue 11, "One composition root"): a host is registered in a child
 * container, its services are one instance per container, the backends a composition root passes
 * (database, gateway, clock, random source, field) are the ones used; HostDb prepares each
 * statement once; no SQL outside the database layer.
 */
import 'reflect-metadata';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { container } from 'tsyringe';
import { NodeCipherProvider, SeededRng } from '../../card/crypto/index.js';
import type { HostKeyRing } from '../../card/crypto/keyHierarchy.js';
import { HostDb } from '../../host/service/HostDb.js';
import { HostService } from '../../host/service/HostService.js';
import { SimulatedPaymentGateway } from '../../host/service/PaymentGateway.js';
import type { PaymentGateway } from '../../host/service/PaymentGateway.js';
import { SimulatedField } from '../../host/sim/SimulatedField.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import {
  diCreditSales,
  diHostDb,
  diHostKeys,
  diKeyService,
  diMeterDirectory,
  diMeterRegistry,
  diMeterSessions,
  diValueStoreDispatcher,
  registerHost,
} from '../../host/index.js';
import type { CreditSales, KeyService, MeterRegistry, ValueStoreDispatcher } from '../../host/index.js';

const cipher = new NodeCipherProvider();
const CARD = '4111111111111111';

function host(o: { clock?: () => number; gateway?: PaymentGateway; seed?: string } = {}) {
  const db = new HostDb(':memory:');
  let fieldKeys: (() => HostKeyRing) | undefined;
  let field: SimulatedField | undefined;
  const c = registerHost(container.createChildContainer(), {
    db,
    cipher,
    rng: new SeededRng(o.seed ?? 'composition'),
    gateway: o.gateway ?? new SimulatedPaymentGateway(),
    ...(o.clock ? { clock: o.clock } : {}),
    field: (keys) => {
      fieldKeys = keys;
      return (field = new SimulatedField(cipher, keys));
    },
  });
  return { c, db, field: () => field!, fieldKeys: () => fieldKeys! };
}

describe('host composition (tsyringe, a child container per host)', () => {
  it('one instance of each service per container; two hosts share nothing', () => {
    const a = host({ seed: 'a' });
    const b = host({ seed: 'b' });
    const ra = a.c.resolve<MeterRegistry>(diMeterRegistry);
    expect(a.c.resolve<MeterRegistry>(diMeterRegistry)).toBe(ra);
    expect(b.c.resolve<MeterRegistry>(diMeterRegistry)).not.toBe(ra);
    expect(a.c.resolve<HostDb>(diHostDb)).toBe(a.db);
    // the dispatcher delivers through this host's meter sessions and records in this host's database
    const d = a.c.resolve<ValueStoreDispatcher>(diValueStoreDispatcher);
    expect(d.store).toBe(a.db);
    expect(d.meters).toBe(a.c.resolve(diMeterSessions));
    expect(a.c.resolve(diMeterDirectory)).toBe(a.c.resolve(diMeterSessions));
    expect(a.c.resolve<CreditSales>(diCreditSales)).toBe(new HostService(a.c).sales);
    // the random source drew different KH for the two hosts
    const ka = a.c.resolve<KeyService>(diKeyService).ring;
    const kb = b.c.resolve<KeyService>(diKeyService).ring;
    expect(ka.terminalKey(cipher, 1, Uint8Array.of(1, 2, 3))).not.toEqual(
      kb.terminalKey(cipher, 1, Uint8Array.of(1, 2, 3)),
    );
  });

  it('the field is built with the key ring in force, rotation included', () => {
    const h = host();
    const svc = new HostService(h.c);
    expect(svc.field).toBe(h.field());
    expect(h.fieldKeys()().current).toBe(1);
    svc.keyService.rotateKey();
    expect(h.fieldKeys()().current).toBe(2);
    expect(h.c.resolve<() => HostKeyRing>(diHostKeys)()).toBe(svc.keyService.ring);
  });

  it('the injected clock names automatic top-ups; the injected gateway is the one asked', async () => {
    const asked: string[] = [];
    const sim = new SimulatedPaymentGateway();
    const gateway: PaymentGateway = {
      authorize: (requestId, method, account, amount) => {
        asked.push(requestId);
        return sim.authorize(requestId, method, account, amount);
      },
    };
    const wall = Date.UTC(2026, 11, 2, 8, 0, 0) + 250;
    const h = host({ clock: () => wall, gateway });
    const svc = new HostService(h.c);
    const sub = svc.addSubscriber({
      name: 'auto',
      threshold: 1000,
      topupAmount: 3000,
      topupMethod: 'card',
      topupAccount: CARD,
    });
    svc.addMeter({ id: 'AC0101', subscriberId: sub, as: 0, ls: 2, modem: 1, initialBalance: 400 });
    h.field().meters.get('AC0101')!.clock = RtcTime.of(2026, 12, 2, 8, 0, 30).seconds;
    const p = await svc.poll('AC0101');
    expect(p.balance).toBe(400);
    expect(asked).toEqual([`auto-AC0101-${wall}`]);
    expect(h.field().meters.get('AC0101')!.balance).toBe(3400);
    // the poll's time comes from the same clock: the meter runs 30 s fast
    expect(p.driftSeconds).toBe(30);
  });
});

describe('HostDb statements', () => {
  it('prepares each statement once and reuses it', () => {
    const db = new HostDb(':memory:');
    const h = registerHost(container.createChildContainer(), {
      db,
      cipher,
      rng: new SeededRng('prep'),
      gateway: new SimulatedPaymentGateway(),
      field: (keys) => new SimulatedField(cipher, keys),
    });
    const svc = new HostService(h);
    const sub = svc.addSubscriber({ name: 'p' });
    svc.addMeter({ id: 'AB0101', subscriberId: sub, as: 0, ls: 1, modem: 1 });
    const round = () => {
      const t = db.createCredit('AB0101', 5, 'x');
      db.noteAttempt(t.txId);
      db.confirm(t.txId, 5);
      db.recordBalance('AB0101', 5);
      db.lastBalance('AB0101');
      db.pending('AB0101');
      db.ledgerReport();
      svc.registry.meter('AB0101');
    };
    round(); // first use prepares
    const prepare = vi.spyOn(db.db, 'prepare');
    for (let i = 0; i < 20; i++) round();
    expect(prepare).not.toHaveBeenCalled();
    expect(db.statement('SELECT 1')).toBe(db.statement('SELECT 1'));
    expect(db.ledgerReport()).toMatchObject({ balanced: true, inTransit: 0 });
    svc.close();
  });
});

describe('SQL lives in the database layer', () => {
  it("no file of host/ outside HostDb.ts, host/service/db/ and the settlement centre's own db/ prepares or holds SQL", () => {
    const root = new URL('../../host', import.meta.url).pathname;
    const files: string[] = [];
    const walk = (d: string) => {
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts')) files.push(p);
      }
    };
    walk(root);
    const allowed = (p: string) =>
      p === 'service/HostDb.ts' ||
      p.startsWith('service/db/') ||
      p.startsWith('settlement/db/') ||
      p.startsWith('utility/db/');
    const sql =
      /\.prepare\(|\.statement\(|\b(INSERT INTO|DELETE FROM|UPDATE \w+ SET)\b|\bSELECT\b[^'"`]*\bFROM\b/;
    const offenders = files
      .map((p) => relative(root, p))
      .filter((p) => !allowed(p) && sql.test(readFileSync(join(root, p), 'utf8')));
    expect(files.length).toBeGreaterThan(10);
    expect(offenders).toEqual([]);
  });
});
