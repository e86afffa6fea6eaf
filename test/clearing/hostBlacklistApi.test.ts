/**
 * Blacklist distribution and the clearing routes (issue 13): the version lives in the database and
 * moves with every change of a card's flag; `distributeBlacklist` records what each meter
 * confirmed; vending points fetch {version, serials} and post a card's log read back — with the
 * roles of host/service/access.ts.
 */
import { describe, expect, it } from 'vitest';
import { buildApi } from '../../host/service/api.js';
import { readCardLog } from '../../terminal/clearing/readCardLog.js';
import { loadCard } from '../../terminal/loadCard.js';
import { World, VENDING_TERMINAL } from '../transfer/world.js';
import { withKey } from '../host/apiAuth.js';
import { CSN_HEX, METER, NOW, SimulatedSvmLink, cardRecord, clearingOf, openHost } from './hostHarness.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase();

describe('blacklist distribution', () => {
  it('the version moves on every change of a flag, not on a repeat; meters confirm, a stale meter is re-sent', async () => {
    const { svc } = openHost();
    const link = new SimulatedSvmLink();
    const c = clearingOf(svc, { link });
    expect(svc.blacklist()).toEqual({ version: 0, serials: [] });
    svc.blacklistCard(CSN_HEX);
    svc.blacklistCard(CSN_HEX); // already blacklisted: no new version
    expect(svc.blacklist()).toEqual({ version: 1, serials: [CSN_HEX] });
    // un-blacklisting (no route yet) is a flag change too
    svc.db.db.prepare('UPDATE cards SET blacklisted = 0 WHERE serial = ?').run(CSN_HEX);
    svc.db.db.prepare('UPDATE cards SET blacklisted = 1 WHERE serial = ?').run(CSN_HEX);
    expect(svc.blacklist().version).toBe(3);

    link.blacklistDown.add('000124');
    const out = await c.distributeBlacklist();
    expect(out).toEqual([
      { meterId: METER, version: 3, status: 'applied' },
      { meterId: '000124', status: 'failed: no answer' },
    ]);
    expect(link.blacklistHeld.get(METER)).toEqual({ version: 3, serials: [CSN_HEX] });
    expect(c.repo.meterBlacklistVersion(METER)).toBe(3);
    expect(c.repo.meterBlacklistVersion('000124')).toBeUndefined();
    expect(svc.db.events(5).some((e) => e.kind === 'blacklist-failed' && e.meterId === '000124')).toBe(true);

    link.blacklistDown.clear();
    const again = await c.distributeBlacklist();
    expect(again).toEqual([
      { meterId: METER, version: 3, status: 'current' },
      { meterId: '000124', version: 3, status: 'applied' },
    ]);
  });

  it('a meter that holds a higher version refuses ours as stale: its version is recorded and an event says so', async () => {
    const { svc } = openHost();
    const link = new SimulatedSvmLink();
    link.blacklistHeld.set(METER, { version: 9, serials: [] }); // holds a version from another host
    svc.blacklistCard(CSN_HEX);
    const c = clearingOf(svc, { link });
    const [m] = await c.distributeBlacklist([METER]);
    expect(m).toEqual({ meterId: METER, version: 9, status: 'stale version' });
    expect(c.repo.meterBlacklistVersion(METER)).toBe(9);
    expect(svc.db.events(5)[0]).toMatchObject({ kind: 'blacklist-not-applied', meterId: METER });
  });
});

describe('clearing routes', () => {
  async function api() {
    const h = openHost();
    h.svc.attachClearing(clearingOf(h.svc));
    const app = buildApi(h.svc);
    return { ...h, app, vending: withKey(h.svc, ['vending']), engineer: withKey(h.svc, ['engineer']) };
  }

  it('GET /clearing/blacklist answers {version, serials} to the vending role only', async () => {
    const { app, vending, engineer } = await api();
    const post = await app.inject({ method: 'POST', url: `/cards/${CSN_HEX}/blacklist`, headers: vending });
    expect(post.statusCode).toBe(200);
    const r = await app.inject({ method: 'GET', url: '/clearing/blacklist', headers: vending });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ version: 1, serials: [CSN_HEX] });
    expect(
      (await app.inject({ method: 'GET', url: '/clearing/blacklist', headers: engineer })).statusCode,
    ).toBe(403);
    expect((await app.inject({ method: 'GET', url: '/clearing/blacklist' })).statusCode).toBe(401);
    await app.close();
  });

  it("POST /clearing/card-records ingests a real card's log read back at a vending point, once", async () => {
    const { app, vending, engineer, svc } = await api();
    const w = new World({ seed: 'test' });
    const ch = await w.cardChannel();
    await loadCard(ch, w.issuer, { purse: 1, amount: 10, terminalId: VENDING_TERMINAL, dateTime: NOW });
    const log = await readCardLog(ch);
    const body = { csn: hex(log.csn), records: log.records.map(hex) };
    const first = await app.inject({
      method: 'POST',
      url: '/clearing/card-records',
      headers: vending,
      payload: body,
    });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ stored: 1, duplicates: 0, clones: 0 });
    const again = await app.inject({
      method: 'POST',
      url: '/clearing/card-records',
      headers: vending,
      payload: body,
    });
    expect(again.json()).toEqual({ stored: 0, duplicates: 1, clones: 0 });
    const denied = await app.inject({
      method: 'POST',
      url: '/clearing/card-records',
      headers: engineer,
      payload: body,
    });
    expect(denied.statusCode).toBe(403);
    const card = await app.inject({ method: 'GET', url: `/clearing/cards/${CSN_HEX}`, headers: engineer });
    expect(card.json()).toMatchObject({ csn: CSN_HEX, purses: [{ purse: 1, records: 1 }], findings: [] });
    const meter = await app.inject({ method: 'GET', url: `/clearing/meters/${METER}`, headers: engineer });
    expect(meter.json()).toMatchObject({ meterId: METER, records: 0, findings: [] });
    expect(svc.db.db.prepare('SELECT source FROM card_records').get()).toEqual({
      source: expect.stringMatching(/^vending:key-\d+$/) as string,
    });
    await app.close();
  });

  it('refuses a tampered record 422 (nothing stored), a short one 400, and answers 503 without clearing', async () => {
    const { app, vending, svc } = await api();
    const rec = cardRecord({ amount: 5, balanceAfter: 5, counter: 1 });
    rec[2] = 1; // amount raised after the card signed
    const bad = await app.inject({
      method: 'POST',
      url: '/clearing/card-records',
      headers: vending,
      payload: { csn: CSN_HEX, records: [hex(rec)] },
    });
    expect(bad.statusCode).toBe(422);
    expect(bad.json()).toMatchObject({ error: 'bad-card-proof' });
    const short = await app.inject({
      method: 'POST',
      url: '/clearing/card-records',
      headers: vending,
      payload: { csn: CSN_HEX, records: [hex(rec).slice(0, 74)] },
    });
    expect(short.statusCode).toBe(400);
    expect(svc.db.db.prepare('SELECT COUNT(*) AS n FROM card_records').get()).toEqual({ n: 0 });
    await app.close();

    const bare = openHost();
    const app2 = buildApi(bare.svc);
    const r = await app2.inject({
      method: 'POST',
      url: '/clearing/card-records',
      headers: withKey(bare.svc, ['vending']),
      payload: { csn: CSN_HEX, records: [hex(rec)] },
    });
    expect(r.statusCode).toBe(503);
    expect(r.json()).toMatchObject({ error: 'clearing-not-configured' });
    await app2.close();
  });
});
