/**
 * Bad input on every route (issue 15, "Bad input"): missing, extra, wrong-typed, out-of-range and
 * oversized fields each answer 400 `{ error: 'validation', message, field }` naming the field, and
 * nothing changes in the database. Then the bounds that used to escape (amounts wider than their u32
 * field, an opening balance over the SVM maximum, a feeder reading of 1e300), and a concurrent burst
 * of recharges to one meter.
 */
import { describe, expect, it } from 'vitest';
import { BODY_LIMIT } from '../../host/service/api.js';
import { FEEDER_WH_MAX, U32_MAX } from '../../host/service/schemas.js';
import { CARD, businessState, open } from './apiHarness.js';

const SERIAL = '0123456789ABCDEF';
const rc = (o: Record<string, unknown> = {}) => ({
  requestId: 'r-1',
  meterId: 'AA0001',
  amount: 10,
  method: 'card',
  account: CARD,
  ...o,
});
const meter = (o: Record<string, unknown> = {}) => ({ id: 'AA0002', subscriberId: 1, ls: 1, modem: 2, ...o });
const without = (o: Record<string, unknown>, k: string) =>
  Object.fromEntries(Object.entries(o).filter(([x]) => x !== k));

type Case = [label: string, method: 'GET' | 'POST', url: string, payload: unknown, field: string];

const CASES: Case[] = [
  // POST /subscribers
  ['subscriber: missing name', 'POST', '/subscribers', {}, 'name'],
  ['subscriber: extra field', 'POST', '/subscribers', { name: 'a', admin: true }, 'admin'],
  ['subscriber: name not a string', 'POST', '/subscribers', { name: 5 }, 'name'],
  ['subscriber: empty name', 'POST', '/subscribers', { name: '' }, 'name'],
  ['subscriber: oversized name', 'POST', '/subscribers', { name: 'x'.repeat(201) }, 'name'],
  ['subscriber: negative threshold', 'POST', '/subscribers', { name: 'a', threshold: -1 }, 'threshold'],
  ['subscriber: threshold over u32', 'POST', '/subscribers', { name: 'a', threshold: 2 ** 32 }, 'threshold'],
  [
    'subscriber: topupAmount 2^33',
    'POST',
    '/subscribers',
    { name: 'a', topupAmount: 2 ** 33 },
    'topupAmount',
  ],
  [
    'subscriber: topupAmount as text',
    'POST',
    '/subscribers',
    { name: 'a', topupAmount: '100' },
    'topupAmount',
  ],
  ['subscriber: topupAmount 1.5', 'POST', '/subscribers', { name: 'a', topupAmount: 1.5 }, 'topupAmount'],
  ['subscriber: unknown method', 'POST', '/subscribers', { name: 'a', topupMethod: 'cash' }, 'topupMethod'],
  [
    'subscriber: account not digits',
    'POST',
    '/subscribers',
    { name: 'a', topupAccount: '41x1' },
    'topupAccount',
  ],
  [
    'subscriber: oversized account',
    'POST',
    '/subscribers',
    { name: 'a', topupAccount: '1'.repeat(35) },
    'topupAccount',
  ],
  // GET /subscribers
  ['subscribers: limit 0', 'GET', '/subscribers?limit=0', undefined, 'limit'],
  ['subscribers: after not a number', 'GET', '/subscribers?after=x', undefined, 'after'],
  ['subscribers: unknown query', 'GET', '/subscribers?sort=name', undefined, 'sort'],
  // POST /meters
  ['meter: missing ls', 'POST', '/meters', without(meter(), 'ls'), 'ls'],
  ['meter: missing id', 'POST', '/meters', without(meter(), 'id'), 'id'],
  ['meter: extra field', 'POST', '/meters', meter({ relay: 'open' }), 'relay'],
  ['meter: id not hex', 'POST', '/meters', meter({ id: 'XYZ123' }), 'id'],
  ['meter: oversized id', 'POST', '/meters', meter({ id: 'AA00021' }), 'id'],
  ['meter: subscriberId as text', 'POST', '/meters', meter({ subscriberId: '1' }), 'subscriberId'],
  ['meter: subscriberId 0', 'POST', '/meters', meter({ subscriberId: 0 }), 'subscriberId'],
  ['meter: as over u16', 'POST', '/meters', meter({ as: 65536 }), 'as'],
  ['meter: ls over u8', 'POST', '/meters', meter({ ls: 256 }), 'ls'],
  ['meter: modem 0', 'POST', '/meters', meter({ modem: 0 }), 'modem'],
  ['meter: modem 257', 'POST', '/meters', meter({ modem: 257 }), 'modem'],
  ['meter: keyVersion over u8', 'POST', '/meters', meter({ keyVersion: 256 }), 'keyVersion'],
  ['meter: initialBalance 2^32', 'POST', '/meters', meter({ initialBalance: 2 ** 32 }), 'initialBalance'],
  ['meter: initialBalance 1e300', 'POST', '/meters', meter({ initialBalance: 1e300 }), 'initialBalance'],
  ['meter: initialBalance negative', 'POST', '/meters', meter({ initialBalance: -1 }), 'initialBalance'],
  [
    'meter: initialBalance over the SVM max',
    'POST',
    '/meters',
    meter({ initialBalance: 100_000_001 }),
    'initialBalance',
  ],
  // GET /meters, /meters/:id, /meters/:id/usage, poll, tariff
  ['meters: limit 1001', 'GET', '/meters?limit=1001', undefined, 'limit'],
  ['meters: limit not a number', 'GET', '/meters?limit=ten', undefined, 'limit'],
  ['meters: after not a meter id', 'GET', '/meters?after=ZZ', undefined, 'after'],
  ['meter: bad id', 'GET', '/meters/XYZ', undefined, 'id'],
  ['usage: bad id', 'GET', '/meters/AA00/usage', undefined, 'id'],
  ['usage: limit 0', 'GET', '/meters/AA0001/usage?limit=0', undefined, 'limit'],
  ['usage: after -1', 'GET', '/meters/AA0001/usage?after=-1', undefined, 'after'],
  ['usage: limit over 100', 'GET', '/meters/AA0001/usage?limit=101', undefined, 'limit'],
  ['poll: bad id', 'POST', '/meters/AA00011/poll', undefined, 'id'],
  ['tariff: bad id', 'POST', '/meters/QQ0001/tariff', { activation: '261201000000', unitCharge: 1 }, 'id'],
  [
    'tariff: missing unitCharge',
    'POST',
    '/meters/AA0001/tariff',
    { activation: '261201000000' },
    'unitCharge',
  ],
  [
    'tariff: unitCharge 0',
    'POST',
    '/meters/AA0001/tariff',
    { activation: '261201000000', unitCharge: 0 },
    'unitCharge',
  ],
  [
    'tariff: unitCharge over u32',
    'POST',
    '/meters/AA0001/tariff',
    { activation: '261201000000', unitCharge: 2 ** 32 },
    'unitCharge',
  ],
  [
    'tariff: activation short',
    'POST',
    '/meters/AA0001/tariff',
    { activation: '2612', unitCharge: 1 },
    'activation',
  ],
  [
    'tariff: unknown profile',
    'POST',
    '/meters/AA0001/tariff',
    { activation: '261201000000', unitCharge: 1, profile: 'peak' },
    'profile',
  ],
  [
    'tariff: extra field',
    'POST',
    '/meters/AA0001/tariff',
    { activation: '261201000000', unitCharge: 1, now: true },
    'now',
  ],
  // cards
  ['card: missing serial', 'POST', '/cards', { subscriberId: 1 }, 'serial'],
  ['card: short serial', 'POST', '/cards', { serial: 'ABCD', subscriberId: 1 }, 'serial'],
  [
    'card: subscriberId as text',
    'POST',
    '/cards',
    { serial: 'ABCDEF0123456789', subscriberId: 'one' },
    'subscriberId',
  ],
  [
    'card: extra field',
    'POST',
    '/cards',
    { serial: 'ABCDEF0123456789', subscriberId: 1, pin: '1234' },
    'pin',
  ],
  ['cards: after not a serial', 'GET', '/cards?after=12', undefined, 'after'],
  ['blacklist: bad serial', 'POST', '/cards/0123/blacklist', undefined, 'serial'],
  // recharges
  ['recharge: missing requestId', 'POST', '/recharges', without(rc(), 'requestId'), 'requestId'],
  ['recharge: missing amount', 'POST', '/recharges', without(rc(), 'amount'), 'amount'],
  ['recharge: extra field', 'POST', '/recharges', rc({ balance: 1 }), 'balance'],
  ['recharge: amount as text', 'POST', '/recharges', rc({ amount: '10' }), 'amount'],
  ['recharge: amount 0', 'POST', '/recharges', rc({ amount: 0 }), 'amount'],
  ['recharge: amount 1.5', 'POST', '/recharges', rc({ amount: 1.5 }), 'amount'],
  ['recharge: amount 2^32', 'POST', '/recharges', rc({ amount: 2 ** 32 }), 'amount'],
  ['recharge: amount 2^33', 'POST', '/recharges', rc({ amount: 2 ** 33 }), 'amount'],
  ['recharge: empty requestId', 'POST', '/recharges', rc({ requestId: '' }), 'requestId'],
  ['recharge: oversized requestId', 'POST', '/recharges', rc({ requestId: 'r'.repeat(65) }), 'requestId'],
  ['recharge: meterId null', 'POST', '/recharges', rc({ meterId: null }), 'meterId'],
  ['recharge: unknown method', 'POST', '/recharges', rc({ method: 'cash' }), 'method'],
  ['recharge: account not digits', 'POST', '/recharges', rc({ account: '4111-1111' }), 'account'],
  // credits, events
  ['credits: unknown state', 'GET', '/credits?state=lost', undefined, 'state'],
  ['credits: bad meterId', 'GET', '/credits?meterId=12', undefined, 'meterId'],
  ['credits: after 0', 'GET', '/credits?after=0', undefined, 'after'],
  ['credits: limit twice', 'GET', '/credits?limit=1&limit=2', undefined, 'limit'],
  ['events: limit 0', 'GET', '/events?limit=0', undefined, 'limit'],
  ['events: limit 1001', 'GET', '/events?limit=1001', undefined, 'limit'],
  ['events: limit 2.5', 'GET', '/events?limit=2.5', undefined, 'limit'],
  ['events: empty limit', 'GET', '/events?limit=', undefined, 'limit'],
  // theft report
  ['theft: as over u16', 'POST', '/reports/theft/65536/1', { feederWh: 0 }, 'as'],
  ['theft: ls over u8', 'POST', '/reports/theft/0/256', { feederWh: 0 }, 'ls'],
  ['theft: ls not a number', 'POST', '/reports/theft/0/x', { feederWh: 0 }, 'ls'],
  ['theft: missing feederWh', 'POST', '/reports/theft/0/1', {}, 'feederWh'],
  ['theft: feederWh 1e300', 'POST', '/reports/theft/0/1', { feederWh: 1e300 }, 'feederWh'],
  [
    'theft: feederWh over 256 meters',
    'POST',
    '/reports/theft/0/1',
    { feederWh: FEEDER_WH_MAX + 1 },
    'feederWh',
  ],
  ['theft: feederWh negative', 'POST', '/reports/theft/0/1', { feederWh: -5 }, 'feederWh'],
  ['ledger: unknown query', 'GET', '/reports/ledger?account=x', undefined, 'account'],
  // keys
  ['keys: unknown query', 'GET', '/keys?all=1', undefined, 'all'],
  ['retire: version over u8', 'POST', '/keys/256/retire', undefined, 'version'],
  ['retire: version not a number', 'POST', '/keys/v1/retire', undefined, 'version'],
];

describe('bad input on every route: 400 with the field named, nothing changed', () => {
  it.each(CASES)('%s', async (_label, method, url, payload, field) => {
    const { svc, app, headers } = open();
    const sub = svc.addSubscriber({ name: 'one' });
    svc.addMeter({ id: 'AA0001', subscriberId: sub, as: 0, ls: 1, modem: 1, initialBalance: 50 });
    svc.addCard({ serial: SERIAL, subscriberId: sub });
    const before = businessState(svc);
    const r = await app.inject({
      method,
      url,
      headers,
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });
    expect(r.statusCode, r.body).toBe(400);
    const body = r.json() as { error: string; message: string; field?: string };
    expect(body).toMatchObject({ error: 'validation', field });
    expect(typeof body.message).toBe('string');
    expect(body.message.length).toBeGreaterThan(0);
    expect(businessState(svc)).toEqual(before);
  });

  it('every route of the API is covered by the table above', async () => {
    const { app, headers } = open();
    const covered = new Set<string>();
    app.addHook('onResponse', async (req) => {
      covered.add(`${req.method} ${req.routeOptions.url ?? '(no route)'}`);
    });
    for (const [, method, url, payload] of CASES)
      await app.inject({
        method,
        url,
        headers,
        ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
      });
    const routes = [
      'POST /subscribers',
      'GET /subscribers',
      'POST /meters',
      'GET /meters',
      'GET /meters/:id',
      'GET /meters/:id/usage',
      'POST /meters/:id/poll',
      'POST /meters/:id/tariff',
      'POST /cards',
      'GET /cards',
      'POST /cards/:serial/blacklist',
      'POST /recharges',
      'GET /credits',
      'GET /events',
      'POST /reports/theft/:as/:ls',
      'POST /keys/:version/retire',
      'GET /reports/ledger',
      'GET /keys',
    ];
    for (const r of routes) expect(covered, r).toContain(r);
  });

  it('a body over the limit is refused with 413 before it is parsed; nothing changed', async () => {
    const { svc, app, headers } = open();
    const before = businessState(svc);
    const r = await app.inject({
      method: 'POST',
      url: '/subscribers',
      headers: { ...headers, 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'x'.repeat(BODY_LIMIT) }),
    });
    expect(r.statusCode).toBe(413);
    expect(r.json()).toMatchObject({ error: 'payload-too-large' });
    expect(businessState(svc)).toEqual(before);
  });

  it('unparseable JSON and a wrong content type are 4xx in the error shape; nothing changed', async () => {
    const { svc, app, headers } = open();
    const before = businessState(svc);
    const junk = await app.inject({
      method: 'POST',
      url: '/recharges',
      headers: { ...headers, 'content-type': 'application/json' },
      payload: '{"requestId":',
    });
    expect(junk.statusCode).toBe(400);
    expect(junk.json()).toMatchObject({ error: 'bad-request' });
    const xml = await app.inject({
      method: 'POST',
      url: '/recharges',
      headers: { ...headers, 'content-type': 'application/xml' },
      payload: '<amount>10</amount>',
    });
    expect(xml.statusCode).toBe(415);
    expect(Object.keys(xml.json()).sort()).toEqual(['error', 'message']);
    const text = await app.inject({
      method: 'POST',
      url: '/recharges',
      headers: { ...headers, 'content-type': 'text/plain' },
      payload: 'amount=10',
    });
    expect(text.statusCode).toBe(400);
    expect(text.json()).toMatchObject({ error: 'validation' });
    expect(businessState(svc)).toEqual(before);
  });
});

describe('bounds: every amount fits the field that carries it', () => {
  it('the widest accepted amounts are the u32 maxima, and they are handled, not stuck', async () => {
    const { svc, app, headers, field } = open();
    // an auto top-up of 2^32-1 (the widest EnAmnt) on a meter whose SVM holds at most 10^8 is refused
    // by the meter and refunded — settled, not in doubt — so the next credit goes through
    const s = await app.inject({
      method: 'POST',
      url: '/subscribers',
      headers,
      payload: {
        name: 'wide',
        threshold: 1000,
        topupAmount: U32_MAX,
        topupMethod: 'card',
        topupAccount: CARD,
      },
    });
    expect(s.statusCode).toBe(201);
    const sub = s.json().id as number;
    const m = await app.inject({
      method: 'POST',
      url: '/meters',
      headers,
      payload: { id: 'AB0001', subscriberId: sub, ls: 1, modem: 1, initialBalance: 400 },
    });
    expect(m.statusCode).toBe(201);
    const p = await app.inject({ method: 'POST', url: '/meters/AB0001/poll', headers });
    expect(p.statusCode).toBe(200);
    expect(svc.db.pending('AB0001')).toEqual([]);
    const refused = await app.inject({ method: 'GET', url: '/credits?state=refused', headers });
    expect(refused.json().items).toMatchObject([{ meterId: 'AB0001', amount: U32_MAX, state: 'refused' }]);
    const r = await app.inject({
      method: 'POST',
      url: '/recharges',
      headers,
      payload: { requestId: 'after-wide', meterId: 'AB0001', amount: 500, method: 'card', account: CARD },
    });
    expect(r.json()).toMatchObject({ state: 'confirmed', balance: 900 });
    expect(field.meters.get('AB0001')!.balance).toBe(900);
  });

  it('an opening balance at the SVM maximum is accepted; one unit more is refused and nothing is registered', async () => {
    const { svc, app, headers, field } = open();
    const sub = svc.addSubscriber({ name: 'max' });
    const over = await app.inject({
      method: 'POST',
      url: '/meters',
      headers,
      payload: { id: 'AB0002', subscriberId: sub, ls: 1, modem: 2, initialBalance: field.maxBalance + 1 },
    });
    expect(over.statusCode).toBe(400);
    expect(over.json()).toMatchObject({ error: 'validation', field: 'initialBalance' });
    expect(field.meters.has('AB0002')).toBe(false);
    expect(svc.registry.meterPage(10).items).toEqual([]);
    const at = await app.inject({
      method: 'POST',
      url: '/meters',
      headers,
      payload: { id: 'AB0002', subscriberId: sub, ls: 1, modem: 2, initialBalance: field.maxBalance },
    });
    expect(at.statusCode).toBe(201);
    expect(field.meters.get('AB0002')!.balance).toBe(field.maxBalance);
  });

  it('a feeder reading of 1e300 is a 400 on feederWh (it was a 500); the widest accepted one works', async () => {
    const { svc, app, headers } = open();
    const sub = svc.addSubscriber({ name: 'ls' });
    svc.addMeter({ id: 'AB0101', subscriberId: sub, as: 0, ls: 7, modem: 1 });
    const huge = await app.inject({
      method: 'POST',
      url: '/reports/theft/0/7',
      headers,
      payload: { feederWh: 1e300 },
    });
    expect(huge.statusCode).toBe(400);
    expect(huge.json()).toMatchObject({ error: 'validation', field: 'feederWh' });
    const widest = await app.inject({
      method: 'POST',
      url: '/reports/theft/0/7',
      headers,
      payload: { feederWh: FEEDER_WH_MAX },
    });
    expect(widest.statusCode).toBe(200);
    expect(widest.json()).toMatchObject({ ls: 7, feederWh: FEEDER_WH_MAX, feederFlagged: true });
  });
});

describe('opening balances enter through the ledger', () => {
  it("a meter's ledger account holds its opening balance and every confirmed credit; the ledger balances", async () => {
    const { app, headers, field } = open();
    const sub = (
      await app.inject({ method: 'POST', url: '/subscribers', headers, payload: { name: 'o' } })
    ).json().id as number;
    for (const [id, modem, initialBalance] of [
      ['AC0001', 1, 400],
      ['AC0002', 2, 0],
    ] as const)
      await app.inject({
        method: 'POST',
        url: '/meters',
        headers,
        payload: { id, subscriberId: sub, ls: 1, modem, initialBalance },
      });
    await app.inject({
      method: 'POST',
      url: '/recharges',
      headers,
      payload: { requestId: 'o1', meterId: 'AC0001', amount: 250, method: 'bank', account: '12345678' },
    });
    const led = (await app.inject({ method: 'GET', url: '/reports/ledger', headers })).json();
    expect(led).toMatchObject({ balanced: true, inTransit: 0, pendingSum: 0 });
    expect(led.accounts['opening-balances']).toBe(400);
    // what the host put on each meter is what each meter holds
    expect(-led.accounts['meter:AC0001']).toBe(field.meters.get('AC0001')!.balance);
    expect(field.meters.get('AC0001')!.balance).toBe(650);
    expect(led.accounts['meter:AC0002']).toBeUndefined();
  });
});

describe('a concurrent burst of recharges to one meter', () => {
  it('every recharge is credited once, in txId order; retries of the same request credit nothing more', async () => {
    const { svc, app, headers, field } = open();
    const sub = svc.addSubscriber({ name: 'burst' });
    svc.addMeter({ id: 'AD0001', subscriberId: sub, as: 0, ls: 1, modem: 1 });
    const amounts = Array.from({ length: 24 }, (_, i) => 100 + i);
    const send = (i: number) =>
      app.inject({
        method: 'POST',
        url: '/recharges',
        headers,
        payload: {
          requestId: `burst-${i}`,
          meterId: 'AD0001',
          amount: amounts[i],
          method: 'card',
          account: CARD,
        },
      });
    // the burst includes two client retries racing their originals (same requestId, in flight together)
    const all = await Promise.all([...amounts.map((_, i) => send(i)), send(3), send(7)]);
    const answers = all.slice(0, amounts.length);
    for (const a of all) expect(a.statusCode, a.body).toBe(200);
    expect(all[amounts.length]!.json().txId).toBe(answers[3]!.json().txId);
    expect(all[amounts.length + 1]!.json().txId).toBe(answers[7]!.json().txId);
    expect(answers.map((a) => a.json().state)).toEqual(amounts.map(() => 'confirmed'));
    const total = amounts.reduce((s, x) => s + x, 0);
    expect(field.meters.get('AD0001')!.balance).toBe(total);
    // in order: each credit's balance-after is the running sum in txId order
    const credits = (
      await app.inject({ method: 'GET', url: '/credits?meterId=AD0001&limit=1000', headers })
    ).json().items as Array<{ txId: number; amount: number; balanceAfter: number }>;
    expect(credits).toHaveLength(amounts.length);
    let running = 0;
    for (const c of credits) {
      running += c.amount;
      expect(c.balanceAfter).toBe(running);
    }
    // a burst of client retries of already-answered requests: answered from the record, nothing more
    const retries = await Promise.all([0, 5, 5, 23].map((i) => send(i)));
    for (const r of retries) expect(r.json()).toMatchObject({ state: 'confirmed', outcome: 'repeated' });
    expect(field.meters.get('AD0001')!.balance).toBe(total);
    expect((await app.inject({ method: 'GET', url: '/reports/ledger', headers })).json()).toMatchObject({
      balanced: true,
      inTransit: 0,
    });
  });
});
