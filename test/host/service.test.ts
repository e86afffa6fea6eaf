import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { HostDb, HostDbError, MIGRATIONS } from '../../host/service/HostDb.js';
import { luhn } from '../../host/service/PaymentGateway.js';
import { open } from './apiHarness.js';
import { FLAG_BYPASS } from '../../protocol/constants.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import { TariffTable } from '../../protocol/TariffTable.js';
import { SimulatedField } from '../../host/sim/SimulatedField.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'host-svc-'));
  dirs.push(d);
  return d;
}

function service() {
  return open({ seed: 'svc' });
}

const CARD = '4111111111111111';

describe('host database', () => {
  it('migrates to the latest schema with WAL and synchronous FULL', () => {
    const { svc } = service();
    expect(svc.db.schemaVersion).toBe(MIGRATIONS.length);
    expect(svc.db.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(svc.db.db.pragma('synchronous', { simple: true })).toBe(2);
  });

  it('a corrupt file is refused with a typed error, not opened', () => {
    const f = join(tmp(), 'bad.db');
    writeFileSync(f, Buffer.alloc(8192, 0x5a));
    const err = (() => {
      try {
        new HostDb(f);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(HostDbError);
    expect((err as HostDbError).code).toBe('corrupt');
  });

  it('a database locked by another writer gives a typed "locked" error and no credit', async () => {
    const { svc, app, dir, headers } = service();
    const sub = svc.addSubscriber({ name: 'a' });
    svc.addMeter({ id: 'AA0001', subscriberId: sub, as: 0, ls: 1, modem: 1 });
    const other = new Database(join(dir, 'host.db'), { timeout: 0 });
    other.exec('BEGIN IMMEDIATE');
    svc.db.db.pragma('busy_timeout = 50');
    const r = await app.inject({
      headers,
      method: 'POST',
      url: '/recharges',
      payload: { requestId: 'r1', meterId: 'AA0001', amount: 10, method: 'card', account: CARD },
    });
    other.exec('ROLLBACK');
    other.close();
    expect(r.statusCode).toBe(503);
    expect(r.json().error).toBe('db-locked');
    expect(svc.db.pending()).toHaveLength(0);
    expect(svc.field.terminal).toBeDefined();
  });
});

describe('host database, full disk', () => {
  it('a full database answers 503 db-full; after space returns, recovery leaves the meter with exactly the confirmed sum', async () => {
    const { svc, app, headers } = service();
    const sub = svc.addSubscriber({ name: 'f' });
    svc.addMeter({ id: 'AF0001', subscriberId: sub, as: 0, ls: 1, modem: 1 });
    const pages = svc.db.db.pragma('page_count', { simple: true }) as number;
    svc.db.db.pragma(`max_page_count = ${pages}`);
    const big = 'x'.repeat(200);
    let r;
    for (let i = 0; i < 200; i++) {
      r = await app.inject({
        headers,
        method: 'POST',
        url: '/recharges',
        payload: {
          requestId: `${big.slice(0, 60)}${i}`,
          meterId: 'AF0001',
          amount: 1,
          method: 'card',
          account: CARD,
        },
      });
      if (r.statusCode !== 200) break;
    }
    expect(r!.statusCode).toBe(503);
    expect(r!.json().error).toBe('db-full');
    // whatever was written is either confirmed or still pending (in doubt, never lost); once space
    // is back, recovery settles it and the meter holds exactly the confirmed sum
    svc.db.db.pragma('max_page_count = 1073741823');
    await svc.recover();
    expect(svc.db.pending()).toHaveLength(0);
    const confirmed = svc.db.db
      .prepare("SELECT COALESCE(SUM(amount), 0) AS s, COUNT(*) AS n FROM credits WHERE state = 'confirmed'")
      .get() as { s: number; n: number };
    expect(confirmed.n).toBeGreaterThan(0);
    expect((svc.field as SimulatedField).meters.get('AF0001')!.balance).toBe(confirmed.s);
    expect(svc.db.ledgerReport()).toMatchObject({ balanced: true, inTransit: 0 });
  });
});

describe('host API', () => {
  it('registers, recharges by card and bank exactly once, keeps the ledger balanced', async () => {
    const { svc, app, headers } = service();
    const s = await app.inject({ headers, method: 'POST', url: '/subscribers', payload: { name: 'Kim' } });
    expect(s.statusCode).toBe(201);
    const sub = s.json().id as number;
    const m = await app.inject({
      headers,
      method: 'POST',
      url: '/meters',
      payload: { id: 'ab0001', subscriberId: sub, ls: 3, modem: 7 },
    });
    expect(m.statusCode).toBe(201);
    const r1 = await app.inject({
      headers,
      method: 'POST',
      url: '/recharges',
      payload: { requestId: 'p-1', meterId: 'AB0001', amount: 5000, method: 'card', account: CARD },
    });
    expect(r1.statusCode).toBe(200);
    expect(r1.json()).toMatchObject({ state: 'confirmed', balance: 5000, outcome: 'confirmed' });
    // the same request again (client retry): nothing new
    const again = await app.inject({
      headers,
      method: 'POST',
      url: '/recharges',
      payload: { requestId: 'p-1', meterId: 'AB0001', amount: 5000, method: 'card', account: CARD },
    });
    expect(again.json()).toMatchObject({ txId: r1.json().txId, state: 'confirmed', outcome: 'repeated' });
    const r2 = await app.inject({
      headers,
      method: 'POST',
      url: '/recharges',
      payload: { requestId: 'p-2', meterId: 'AB0001', amount: 700, method: 'bank', account: '12345678' },
    });
    expect(r2.json().balance).toBe(5700);
    expect((svc.field as SimulatedField).meters.get('AB0001')!.balance).toBe(5700);
    const led = (await app.inject({ headers, method: 'GET', url: '/reports/ledger' })).json();
    expect(led.balanced).toBe(true);
    expect(led.accounts['meter:AB0001']).toBe(-5700);
    expect(led.inTransit).toBe(0);
    const meter = (await app.inject({ headers, method: 'GET', url: '/meters/ab0001' })).json();
    expect(meter.credits).toHaveLength(2);
  });

  it('declined payments send no value; the event is logged', async () => {
    const { svc, app, headers } = service();
    const sub = svc.addSubscriber({ name: 'x' });
    svc.addMeter({ id: 'AB0002', subscriberId: sub, as: 0, ls: 1, modem: 2 });
    const r = await app.inject({
      headers,
      method: 'POST',
      url: '/recharges',
      payload: { requestId: 'd', meterId: 'AB0002', amount: 5, method: 'bank', account: '99990000' },
    });
    expect(r.statusCode).toBe(402);
    expect(r.json()).toEqual({ error: 'payment-declined', message: 'insufficient funds', field: 'account' });
    const bad = await app.inject({
      headers,
      method: 'POST',
      url: '/recharges',
      payload: { requestId: 'e', meterId: 'AB0002', amount: 5, method: 'card', account: '4111111111111112' },
    });
    expect(bad.statusCode).toBe(402);
    expect((svc.field as SimulatedField).meters.get('AB0002')!.balance).toBe(0);
    const ev = (await app.inject({ headers, method: 'GET', url: '/events' })).json().events as Array<{
      kind: string;
    }>;
    expect(ev.filter((e) => e.kind === 'payment-declined')).toHaveLength(2);
  });

  it('missing, wrong and extra fields get 400 with the field named; unknown meters 404', async () => {
    const { app, headers } = service();
    const miss = await app.inject({
      headers,
      method: 'POST',
      url: '/recharges',
      payload: { meterId: 'AB0001', amount: 1, method: 'card', account: CARD },
    });
    expect(miss.statusCode).toBe(400);
    expect(miss.json()).toMatchObject({ error: 'validation', field: 'requestId' });
    const neg = await app.inject({
      headers,
      method: 'POST',
      url: '/recharges',
      payload: { requestId: 'x', meterId: 'AB0001', amount: -1, method: 'card', account: CARD },
    });
    expect(neg.json()).toMatchObject({ error: 'validation', field: 'amount' });
    const str = await app.inject({
      headers,
      method: 'POST',
      url: '/recharges',
      payload: { requestId: 'x', meterId: 'AB0001', amount: '10', method: 'card', account: CARD },
    });
    expect(str.json()).toMatchObject({ error: 'validation', field: 'amount' });
    const extra = await app.inject({
      headers,
      method: 'POST',
      url: '/subscribers',
      payload: { name: 'a', admin: true },
    });
    expect(extra.json()).toMatchObject({ error: 'validation', field: 'admin' });
    const id = await app.inject({
      headers,
      method: 'POST',
      url: '/meters',
      payload: { id: 'XYZ', subscriberId: 1, ls: 1, modem: 1 },
    });
    expect(id.json()).toMatchObject({ error: 'validation', field: 'id' });
    const unk = await app.inject({
      headers,
      method: 'POST',
      url: '/recharges',
      payload: { requestId: 'x', meterId: 'FFFFFF', amount: 1, method: 'card', account: CARD },
    });
    expect(unk.statusCode).toBe(404);
    expect(unk.json()).toMatchObject({ error: 'unknown-meter', field: 'meterId' });
    const junk = await app.inject({
      method: 'POST',
      url: '/subscribers',
      headers: { ...headers, 'content-type': 'application/json' },
      payload: '{"name":',
    });
    expect(junk.statusCode).toBe(400);
    expect(junk.json().error).toBe('bad-request');
  });

  it('a usage poll stores a backup and triggers automatic top-up below the threshold', async () => {
    const { svc, app, headers } = service();
    const sub = svc.addSubscriber({
      name: 'auto',
      threshold: 1000,
      topupAmount: 3000,
      topupMethod: 'card',
      topupAccount: CARD,
    });
    svc.addMeter({ id: 'AC0001', subscriberId: sub, as: 0, ls: 2, modem: 1, initialBalance: 400 });
    const p = await app.inject({ headers, method: 'POST', url: '/meters/AC0001/poll' });
    expect(p.statusCode).toBe(200);
    expect(p.json().balance).toBe(400);
    expect((svc.field as SimulatedField).meters.get('AC0001')!.balance).toBe(3400);
    const n = svc.db.db.prepare('SELECT COUNT(*) AS n FROM usage_backups').get() as { n: number };
    expect(n.n).toBe(1);
    // above the threshold now: a second poll tops up nothing
    await app.inject({ headers, method: 'POST', url: '/meters/AC0001/poll' });
    expect((svc.field as SimulatedField).meters.get('AC0001')!.balance).toBe(3400);
  });

  it('key management: rotation, which meters hold which version, retirement only when unused', async () => {
    const { svc, app, headers } = service();
    const sub = svc.addSubscriber({ name: 'k' });
    svc.addMeter({ id: 'AD0001', subscriberId: sub, as: 0, ls: 1, modem: 1, keyVersion: 0 });
    svc.addMeter({ id: 'AD0002', subscriberId: sub, as: 0, ls: 1, modem: 2 });
    const k = (await app.inject({ headers, method: 'GET', url: '/keys' })).json();
    expect(k.versions).toEqual([
      { version: 0, current: false, meters: 1 },
      { version: 1, current: true, meters: 1 },
    ]);
    const rot = (await app.inject({ headers, method: 'POST', url: '/keys/rotate' })).json();
    expect(rot.version).toBe(2);
    const ret = await app.inject({ headers, method: 'POST', url: '/keys/0/retire' });
    expect(ret.statusCode).toBe(409);
    expect(ret.json()).toMatchObject({ error: 'key-in-use', field: 'version' });
    // meters on the old versions still work
    const r = await app.inject({
      headers,
      method: 'POST',
      url: '/recharges',
      payload: { requestId: 'k1', meterId: 'AD0001', amount: 9, method: 'card', account: CARD },
    });
    expect(r.json().state).toBe('confirmed');
    expect(luhn(CARD)).toBe(true);
  });

  it('a tariff change is stored pending, sent and marked stored; a bad activation is a 400 on its field', async () => {
    const { svc, app, headers } = service();
    const sub = svc.addSubscriber({ name: 't' });
    svc.addMeter({ id: 'AE0001', subscriberId: sub, as: 0, ls: 1, modem: 1 });
    const r = await app.inject({
      headers,
      method: 'POST',
      url: '/meters/AE0001/tariff',
      payload: { activation: '261201000000', unitCharge: 130, profile: 'example' },
    });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ state: 'stored', balance: 0 });
    const row = svc.db.db.prepare('SELECT state, activation FROM tariff_assignments').get();
    expect(row).toEqual({ state: 'stored', activation: '261201000000' });
    // a poll after activation finds the assigned table in force: no mismatch event; a meter whose table
    // was changed behind the host's back is reported
    const f = svc.field as SimulatedField;
    f.meters.get('AE0001')!.clock = RtcTime.of(2026, 12, 2).seconds;
    await svc.poll('AE0001', RtcTime.of(2026, 12, 2, 0, 0, 5));
    expect(
      svc.db.db.prepare("SELECT COUNT(*) AS n FROM events WHERE kind = 'tariff-mismatch'").get(),
    ).toEqual({ n: 0 });
    f.meters.get('AE0001')!.restoreState({
      ...f.meters.get('AE0001')!.exportState(),
      table: TariffTable.flat(1).encode(),
      pendingTable: undefined,
    });
    await svc.poll('AE0001', RtcTime.of(2026, 12, 2, 0, 1, 0));
    expect(
      svc.db.db.prepare("SELECT COUNT(*) AS n FROM events WHERE kind = 'tariff-mismatch'").get(),
    ).toEqual({ n: 1 });
    const bad = await app.inject({
      headers,
      method: 'POST',
      url: '/meters/AE0001/tariff',
      payload: { activation: '261301000000', unitCharge: 130 },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'validation', field: 'activation' });
  });

  it('theft report per LS: feeder vs the meters since the last backup, tamper flags, events', async () => {
    const { svc, app, headers } = service();
    const sub = svc.addSubscriber({ name: 'lsfive' });
    for (let m = 1; m <= 3; m++) svc.addMeter({ id: `AF050${m}`, subscriberId: sub, as: 0, ls: 5, modem: m });
    const base = await app.inject({
      headers,
      method: 'POST',
      url: '/reports/theft/0/5',
      payload: { feederWh: 0 },
    });
    expect(base.json()).toMatchObject({ feederFlagged: false, metersWh: 0 });
    const f = svc.field as SimulatedField;
    f.meters.get('AF0501')!.consume(1000);
    f.meters.get('AF0502')!.consume(1000);
    f.meters.get('AF0503')!.consume(200);
    f.meters.get('AF0503')!.flags = FLAG_BYPASS;
    const r = (
      await app.inject({ headers, method: 'POST', url: '/reports/theft/0/5', payload: { feederWh: 3000 } })
    ).json();
    expect(r).toMatchObject({
      ls: 5,
      feederWh: 3000,
      metersWh: 2200,
      unaccountedWh: 800,
      feederFlagged: true,
    });
    expect(r.meters).toEqual([{ meterId: 'AF0503', reasons: ['bypass sensor'] }]);
    const ev = (await app.inject({ headers, method: 'GET', url: '/events' })).json().events as Array<{
      kind: string;
      meterId: string | null;
    }>;
    expect(ev.filter((e) => e.kind === 'theft-suspected').map((e) => e.meterId)).toEqual(['AF0503', null]);
    const none = await app.inject({
      headers,
      method: 'POST',
      url: '/reports/theft/0/9',
      payload: { feederWh: 1 },
    });
    expect(none.statusCode).toBe(404);
  });

  it('a meter that does not hold the key version the host believes: 502, an event, no state change', async () => {
    const { svc, app, headers } = service();
    const sub = svc.addSubscriber({ name: 'kv' });
    svc.addMeter({ id: 'AF0601', subscriberId: sub, as: 0, ls: 6, modem: 1, initialBalance: 77 });
    svc.rotateKey();
    svc.db.db.prepare('UPDATE meters SET key_version = 2 WHERE id = ?').run('AF0601');
    const r = await app.inject({ headers, method: 'POST', url: '/meters/AF0601/poll' });
    expect(r.json()).toMatchObject({ error: 'meter-session-failed' });
    expect(r.statusCode).toBe(502);
    const rc = await app.inject({
      headers,
      method: 'POST',
      url: '/recharges',
      payload: { requestId: 'kv1', meterId: 'AF0601', amount: 5, method: 'card', account: CARD },
    });
    expect(rc.json()).toMatchObject({ state: 'pending', outcome: 'in-doubt' });
    expect((svc.field as SimulatedField).meters.get('AF0601')!.balance).toBe(77);
    const ev = (await app.inject({ headers, method: 'GET', url: '/events' })).json().events as Array<{
      kind: string;
    }>;
    expect(ev.map((e) => e.kind)).toEqual(
      expect.arrayContaining(['meter-session-failed', 'credit-in-doubt']),
    );
  });
});
