/**
 * POST /cards is idempotent (issue 12, batch issuance): a bureau that lost the answer to its
 * registration sends it again and gets the card back (200), so "registered once" survives a kill
 * between the request and its journal entry; only a serial of another subscriber is a conflict.
 */
import { describe, expect, it } from 'vitest';
import { open } from './apiHarness.js';

describe('POST /cards: idempotent card registration', () => {
  it('201 the first time, 200 with the card for the same subscriber again, 409 for another subscriber', async () => {
    const { svc, app, headers } = open();
    const a = svc.addSubscriber({ name: 'a' });
    const b = svc.addSubscriber({ name: 'b' });
    const post = (serial: string, subscriberId: number) =>
      app.inject({ method: 'POST', url: '/cards', headers, payload: { serial, subscriberId } });

    const first = await post('4d50000000000007', a);
    expect(first.statusCode).toBe(201);
    expect(first.json()).toEqual({ serial: '4D50000000000007' });

    const again = await post('4D50000000000007', a);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({
      serial: '4D50000000000007',
      subscriberId: a,
      status: 'active',
      blacklisted: false,
    });

    const other = await post('4D50000000000007', b);
    expect(other.statusCode).toBe(409);
    expect(other.json()).toMatchObject({ error: 'card-taken', field: 'serial' });

    const cards = (await app.inject({ method: 'GET', url: '/cards', headers })).json() as {
      items: unknown[];
    };
    expect(cards.items).toEqual([
      { serial: '4D50000000000007', subscriberId: a, status: 'active', blacklisted: false },
    ]);
  });

  it('404 unknown-subscriber for a subscriber the host does not know (nothing written)', async () => {
    const { app, headers } = open();
    const r = await app.inject({
      method: 'POST',
      url: '/cards',
      headers,
      payload: { serial: '4D50000000000001', subscriberId: 99 },
    });
    expect(r.statusCode).toBe(404);
    expect(r.json()).toMatchObject({ error: 'unknown-subscriber', field: 'subscriberId' });
    const cards = (await app.inject({ method: 'GET', url: '/cards', headers })).json() as {
      items: unknown[];
    };
    expect(cards.items).toEqual([]);
  });

  it('a blacklisted card registered again for its subscriber is answered as it is, not re-activated', async () => {
    const { svc, app, headers } = open();
    const a = svc.addSubscriber({ name: 'a' });
    const payload = { serial: '4D50000000000002', subscriberId: a };
    expect((await app.inject({ method: 'POST', url: '/cards', headers, payload })).statusCode).toBe(201);
    await app.inject({ method: 'POST', url: '/cards/4D50000000000002/blacklist', headers });
    const r = await app.inject({ method: 'POST', url: '/cards', headers, payload });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ status: 'blocked', blacklisted: true });
  });
});
