/**
 * The operator's read side of the API (issue 15, "Bounds and errors"): list endpoints with keyset
 * paging, every documented query string (coerced from text, and only there), the health check, the
 * error shape of unknown routes, and a request log that carries no secrets.
 */
import { describe, expect, it } from 'vitest';
import { RtcTime } from '../../protocol/RtcTime.js';
import { CARD, open } from './apiHarness.js';

type Page<T> = { items: T[]; next: string | number | null };

/** Follows `next` from the first page to the last, `limit` at a time. */
async function all<T>(
  get: (q: string) => Promise<{ statusCode: number; json(): unknown }>,
  limit: number,
): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let after: string | number | null = null;
  let pages = 0;
  do {
    const r = await get(`limit=${limit}${after === null ? '' : `&after=${after}`}`);
    expect(r.statusCode).toBe(200);
    const p = r.json() as Page<T>;
    expect(p.items.length).toBeLessThanOrEqual(limit);
    items.push(...p.items);
    after = p.next;
    pages++;
  } while (after !== null);
  return { items, pages };
}

describe('list endpoints with paging', () => {
  it('meters, subscribers, cards and credits page by their key; following next yields each once, in order', async () => {
    const { svc, app, headers } = open();
    const get = (url: string) => (q: string) => app.inject({ method: 'GET', url: `${url}?${q}`, headers });
    const subs = [1, 2, 3, 4, 5].map((i) =>
      svc.addSubscriber({ name: `s${i}`, topupAmount: 10, topupMethod: 'card', topupAccount: CARD }),
    );
    const ids = ['BB0005', 'bb0001', 'BB0003', 'BB0002', 'BB0004'];
    ids.forEach((id, i) => svc.addMeter({ id, subscriberId: subs[i]!, as: 0, ls: 1, modem: i + 1 }));
    const serials = ['00000000000000A3', '00000000000000a1', '00000000000000A2'];
    for (const s of serials) svc.addCard({ serial: s, subscriberId: subs[0]! });
    for (let i = 0; i < 5; i++)
      await svc.recharge({
        requestId: `p${i}`,
        meterId: 'BB0001',
        amount: 10 + i,
        method: 'card',
        account: CARD,
      });

    const meters = await all<{ id: string; subscriberId: number; ls: number }>(get('/meters'), 2);
    expect(meters.items.map((m) => m.id)).toEqual(['BB0001', 'BB0002', 'BB0003', 'BB0004', 'BB0005']);
    expect(meters.pages).toBe(3);
    expect(meters.items[0]).toMatchObject({
      id: 'BB0001',
      subscriberId: subs[1],
      ls: 1,
      modem: 2,
      keyVersion: 1,
    });

    const subscribers = await all<{ id: number; name: string; topupAccount: string }>(get('/subscribers'), 3);
    expect(subscribers.items.map((s) => s.name)).toEqual(['s1', 's2', 's3', 's4', 's5']);
    // an account number is never listed in full
    expect(subscribers.items[0]!.topupAccount).toBe('************1111');

    const cards = await all<{ serial: string; blacklisted: boolean }>(get('/cards'), 1);
    expect(cards.items.map((c) => c.serial)).toEqual([
      '00000000000000A1',
      '00000000000000A2',
      '00000000000000A3',
    ]);
    expect(cards.pages).toBe(3);

    const credits = await all<{ txId: number; amount: number; state: string }>(get('/credits'), 2);
    expect(credits.items.map((c) => c.amount)).toEqual([10, 11, 12, 13, 14]);
    expect(credits.items.every((c) => c.state === 'confirmed')).toBe(true);
    // an exact last page says so: next is null
    const exact = (
      await app.inject({ method: 'GET', url: '/credits?limit=5', headers })
    ).json() as Page<unknown>;
    expect(exact).toMatchObject({ next: null });
    expect(exact.items).toHaveLength(5);
    // a cursor in lower case is the same cursor
    const lower = (await app.inject({ method: 'GET', url: '/meters?after=bb0003', headers })).json() as Page<{
      id: string;
    }>;
    expect(lower.items.map((m) => m.id)).toEqual(['BB0004', 'BB0005']);
  });

  it('credits filter by meter and state; a blacklisted card lists as such', async () => {
    const { svc, app, headers } = open();
    const sub = svc.addSubscriber({ name: 'f' });
    svc.addMeter({ id: 'BC0001', subscriberId: sub, as: 0, ls: 1, modem: 1 });
    svc.addMeter({ id: 'BC0002', subscriberId: sub, as: 0, ls: 1, modem: 2 });
    await svc.recharge({ requestId: 'a', meterId: 'BC0001', amount: 5, method: 'card', account: CARD });
    await svc.recharge({ requestId: 'b', meterId: 'BC0002', amount: 6, method: 'card', account: CARD });
    await svc.recharge({ requestId: 'c', meterId: 'BC0001', amount: 7, method: 'card', account: CARD });
    const one = (
      await app.inject({ method: 'GET', url: '/credits?meterId=bc0001&state=confirmed', headers })
    ).json();
    expect(one.items.map((c: { amount: number }) => c.amount)).toEqual([5, 7]);
    const none = (await app.inject({ method: 'GET', url: '/credits?state=pending', headers })).json();
    expect(none).toEqual({ items: [], next: null });
    svc.addCard({ serial: 'ABCDEF0123456789', subscriberId: sub });
    await app.inject({ method: 'POST', url: '/cards/abcdef0123456789/blacklist', headers });
    const cards = (await app.inject({ method: 'GET', url: '/cards', headers })).json();
    expect(cards.items).toEqual([
      { serial: 'ABCDEF0123456789', subscriberId: sub, status: 'blocked', blacklisted: true },
    ]);
  });

  it("a meter's usage backups page oldest first, with the consumption log decoded", async () => {
    const { svc, app, headers, field } = open();
    const sub = svc.addSubscriber({ name: 'u' });
    svc.addMeter({ id: 'BD0001', subscriberId: sub, as: 0, ls: 1, modem: 1, initialBalance: 5000 });
    field.meters.get('BD0001')!.clock = RtcTime.of(2026, 12, 1).seconds;
    for (let i = 0; i < 3; i++) {
      field.meters.get('BD0001')!.consume(100 * (i + 1));
      await svc.poll('BD0001', RtcTime.of(2026, 12, 1, 0, i + 1, 0));
    }
    const r = await app.inject({ method: 'GET', url: '/meters/bd0001/usage?limit=2', headers });
    expect(r.statusCode).toBe(200);
    const p1 = r.json();
    expect(p1.items).toHaveLength(2);
    expect(p1.items.map((b: { at: string }) => b.at)).toEqual(['261201000100', '261201000200']);
    expect(p1.items[1].energyWh).toBeGreaterThan(p1.items[0].energyWh);
    const log = p1.items[0].log;
    expect(log.minutes).toHaveLength(1440);
    expect(log.days).toHaveLength(7);
    expect(log.months.length).toBeLessThanOrEqual(12);
    expect(log.at).toMatch(/^[0-9]{12}$/);
    const p2 = (
      await app.inject({ method: 'GET', url: `/meters/BD0001/usage?limit=2&after=${p1.next}`, headers })
    ).json();
    expect(p2.items.map((b: { at: string }) => b.at)).toEqual(['261201000300']);
    expect(p2.next).toBeNull();
    const unknown = await app.inject({ method: 'GET', url: '/meters/BD0099/usage', headers });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ error: 'unknown-meter' });
  });
});

describe('query strings are coerced; bodies are not', () => {
  it('GET /events?limit=N answers N events (it always answered 400)', async () => {
    const { svc, app, headers } = open();
    const sub = svc.addSubscriber({ name: 'e' });
    for (let m = 1; m <= 5; m++) svc.addMeter({ id: `BE000${m}`, subscriberId: sub, as: 0, ls: 1, modem: m });
    const r = await app.inject({ method: 'GET', url: '/events?limit=3', headers });
    expect(r.statusCode).toBe(200);
    expect(r.json().events.map((e: { meterId: string }) => e.meterId)).toEqual([
      'BE0005',
      'BE0004',
      'BE0003',
    ]);
    expect((await app.inject({ method: 'GET', url: '/events', headers })).json().events).toHaveLength(5);
    // a number in a JSON body stays a number only if it is one
    const body = await app.inject({
      method: 'POST',
      url: '/recharges',
      headers,
      payload: { requestId: 'x', meterId: 'BE0001', amount: '10', method: 'card', account: CARD },
    });
    expect(body.json()).toMatchObject({ error: 'validation', field: 'amount' });
  });

  it('path parameters are coerced too: /reports/theft/:as/:ls and /keys/:version/retire take numbers', async () => {
    const { svc, app, headers } = open();
    const sub = svc.addSubscriber({ name: 'p' });
    svc.addMeter({ id: 'BF0001', subscriberId: sub, as: 300, ls: 9, modem: 1, keyVersion: 0 });
    const t = await app.inject({
      method: 'POST',
      url: '/reports/theft/300/9',
      headers,
      payload: { feederWh: 0 },
    });
    expect(t.statusCode).toBe(200);
    expect(t.json()).toMatchObject({ ls: 9 });
    expect((await app.inject({ method: 'POST', url: '/keys/rotate', headers })).json()).toEqual({
      version: 2,
    });
    const inUse = await app.inject({ method: 'POST', url: '/keys/0/retire', headers });
    expect(inUse.json()).toMatchObject({ error: 'key-in-use', field: 'version' });
    const retired = await app.inject({ method: 'POST', url: '/keys/1/retire', headers });
    expect(retired.json()).toEqual({ retired: 1 });
  });
});

describe('health and unknown routes', () => {
  it('GET /health answers without a key and checks the database', async () => {
    const { svc, app } = open();
    const ok = await app.inject({ method: 'GET', url: '/health' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ status: 'ok', schemaVersion: svc.db.schemaVersion });
    svc.close();
    const down = await app.inject({ method: 'GET', url: '/health' });
    expect(down.statusCode).toBe(503);
    expect(down.json()).toMatchObject({ error: 'unhealthy' });
  });

  it('unknown routes and methods answer 404 in the error shape, with or without a key', async () => {
    const { app, headers } = open();
    for (const [method, url, h] of [
      ['GET', '/nope', {}],
      ['GET', '/nope?x=1', headers],
      ['DELETE', '/meters/AA0001', headers],
      ['POST', '/meters/AA0001/explode', {}],
    ] as const) {
      const r = await app.inject({ method, url, headers: h });
      expect(r.statusCode, `${method} ${url}`).toBe(404);
      expect(r.json()).toEqual({ error: 'not-found', message: `no route ${method} ${url.split('?')[0]}` });
    }
  });
});

describe('request log', () => {
  it('logs every request at info with method, route and status, and never a key, card or account number', async () => {
    const lines: string[] = [];
    const { svc, app, headers } = open({
      logLevel: 'info',
      logStream: { write: (l: string) => lines.push(l) },
    });
    const sub = svc.addSubscriber({ name: 'l' });
    svc.addMeter({ id: 'B60001', subscriberId: sub, as: 0, ls: 1, modem: 1 });
    svc.addCard({ serial: 'FEDCBA9876543210', subscriberId: sub });
    const key = headers.authorization.replace(/^Bearer /, '');
    await app.inject({
      method: 'POST',
      url: '/recharges',
      headers,
      payload: { requestId: 'log-1', meterId: 'B60001', amount: 5, method: 'card', account: CARD },
    });
    await app.inject({
      method: 'POST',
      url: '/recharges',
      headers,
      payload: {
        requestId: 'log-2',
        meterId: 'B60001',
        amount: 5,
        method: 'card',
        account: '4111111111111112',
      },
    });
    await app.inject({ method: 'POST', url: '/cards/FEDCBA9876543210/blacklist', headers });
    await app.inject({ method: 'GET', url: '/cards?after=FEDCBA9876543200', headers });
    await app.inject({ method: 'POST', url: '/cards/FEDCBA9876543211/blacklist', headers });
    await app.inject({ method: 'GET', url: `/nope/${CARD}`, headers });
    const text = lines.join('');
    const records = lines.map(
      (l) => JSON.parse(l) as { req?: { method: string; url: string }; res?: { statusCode: number } },
    );
    const completed = records.filter((r) => r.res);
    expect(completed.map((r) => r.res!.statusCode)).toEqual([200, 402, 200, 200, 404, 404]);
    expect(records.filter((r) => r.req).map((r) => r.req!.url)).toContain(
      '/cards/************3210/blacklist',
    );
    for (const secret of [
      key,
      CARD,
      '4111111111111112',
      'FEDCBA9876543210',
      'FEDCBA9876543211',
      'FEDCBA9876543200',
    ])
      expect(text, secret).not.toContain(secret);
  });

  it('is silent by default', async () => {
    const lines: string[] = [];
    const { app } = open({ logStream: { write: (l: string) => lines.push(l) } });
    await app.inject({ method: 'GET', url: '/health' });
    expect(lines).toEqual([]);
  });
});
