/**
 * The relay for other utilities (issue 17, host/relay/): who may address which purse, input
 * checks with typed errors, routing to the subscriber's meters, answers stored once, stray answers
 * refused, the forget list, readings per purse — and the HTTP routes with their schemas.
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../card/util/hex.js';
import { ServiceError } from '../../host/service/ServiceError.js';
import { RelayService } from '../../host/relay/RelayService.js';
import type { RelayLink } from '../../host/relay/RelayLink.js';
import { HttpRelayPort, RelayPortError } from '../../host/utility/RelayPort.js';
import { OUTCOME_CARD } from '../../protocol/cardCommands.js';
import { CardRepository } from '../../host/service/db/CardRepository.js';
import { open } from './apiHarness.js';
import { main } from '../../cli/main.js';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { spawnHostServe } from './spawnServe.js';
import Database from 'better-sqlite3';
import { TEST_ADMIN_KEY } from './apiAuth.js';
import { hostProtocolRelayLink } from '../../host/relay/hostProtocolRelayLink.js';
import { RelaySchedule } from '../../host/relay/RelaySchedule.js';
import { bearer, withKey } from './apiAuth.js';
import { CSN_HEX, GAS, METER_A, METER_B, WATER, purseBalance, relayWorld } from './relayWorld.js';

const load26 = (b = 1) => new Uint8Array(26).fill(b);
const cmd = (
  o: Partial<{ purse: number; ref: string; csn: string; ins: number; p2: number; data: Uint8Array }> = {},
) => ({
  purse: GAS,
  ref: 'r1',
  csn: CSN_HEX,
  ins: 0x56,
  p2: GAS,
  data: load26(),
  ...o,
});

function refused(f: () => unknown): { status: number; error: string; field?: string } {
  try {
    f();
  } catch (e) {
    if (e instanceof ServiceError)
      return { status: e.status, error: e.error, ...(e.field ? { field: e.field } : {}) };
    throw e;
  }
  throw new Error('not refused');
}

describe('relay: a utility addresses its own purse only', () => {
  it('a gas key posting for the water purse, or with P2 of another purse, is refused and nothing is stored', () => {
    const w = relayWorld();
    const gas = w.principal(w.gasKey.key);
    const water = w.principal(w.waterKey.key);
    expect(refused(() => w.relay.submit(water, cmd()))).toEqual({
      status: 403,
      error: 'purse-scope',
      field: 'purse',
    });
    expect(refused(() => w.relay.submit(gas, cmd({ purse: WATER, p2: WATER })))).toMatchObject({
      error: 'purse-scope',
    });
    expect(refused(() => w.relay.submit(gas, cmd({ p2: WATER })))).toEqual({
      status: 403,
      error: 'purse-scope',
      field: 'p2',
    });
    expect(refused(() => w.relay.submit(gas, cmd({ p2: 1 })))).toMatchObject({ field: 'p2' });
    expect(w.relay.repo.get(1)).toBeUndefined();
    // the gas key reads neither the water utility's commands nor its readings
    const mine = w.relay.submit(water, cmd({ purse: WATER, p2: WATER, ref: 'w1' })).command;
    expect(refused(() => w.relay.command(gas, mine.id))).toEqual({
      status: 404,
      error: 'unknown-command',
      field: 'id',
    });
    expect(refused(() => w.relay.readings(gas, { purse: WATER }))).toMatchObject({
      status: 403,
      error: 'purse-scope',
    });
  });

  it("a 'utility' key without a scope, or a key of another role, addresses nothing", () => {
    const w = relayWorld();
    const bare = w.principal(w.apiKeys.create(['utility'], 'no scope').key);
    const vending = w.principal(w.apiKeys.create(['vending'], 'vending').key);
    expect(refused(() => w.relay.submit(bare, cmd()))).toMatchObject({
      status: 403,
      error: 'no-purse-scope',
    });
    expect(refused(() => w.relay.submit(vending, cmd()))).toMatchObject({
      status: 403,
      error: 'no-purse-scope',
    });
    expect(refused(() => w.relay.submit(null, cmd()))).toMatchObject({ status: 403 });
    expect(() => w.relay.createUtilityKey(w.apiKeys, 1, 'electricity?')).toThrow(/purse must be 2..15/);
    expect(() => w.relay.createUtilityKey(w.apiKeys, 16, 'x')).toThrow(RangeError);
  });
});

describe('relay: input', () => {
  it('every bad input is a typed refusal naming its field; nothing is stored', () => {
    const w = relayWorld();
    const gas = w.principal(w.gasKey.key);
    expect(refused(() => w.relay.submit(gas, cmd({ ins: 0x52 })))).toEqual({
      status: 400,
      error: 'bad-ins',
      field: 'ins',
    });
    expect(refused(() => w.relay.submit(gas, cmd({ data: new Uint8Array(25) })))).toEqual({
      status: 400,
      error: 'bad-length',
      field: 'data',
    });
    expect(refused(() => w.relay.submit(gas, cmd({ data: new Uint8Array(27) })))).toMatchObject({
      error: 'bad-length',
    });
    expect(refused(() => w.relay.submit(gas, cmd({ ins: 0x58, data: new Uint8Array(26) })))).toMatchObject({
      error: 'bad-length',
    });
    expect(refused(() => w.relay.submit(gas, cmd({ ins: 0x5a, data: new Uint8Array(44) })))).toMatchObject({
      error: 'bad-length',
    });
    expect(refused(() => w.relay.submit(gas, cmd({ csn: '0000000000000000' })))).toEqual({
      status: 404,
      error: 'unknown-card',
      field: 'csn',
    });
    new CardRepository(w.db).insert('1111111111111111', 1);
    w.db.statement("UPDATE cards SET status = 'lost' WHERE serial = ?").run('1111111111111111');
    expect(refused(() => w.relay.submit(gas, cmd({ csn: '1111111111111111' })))).toMatchObject({
      status: 409,
      error: 'card-not-active',
    });
    expect(w.relay.repo.get(1)).toBeUndefined();
    // the right lengths pass
    expect(w.relay.submit(gas, cmd({ ins: 0x58, data: new Uint8Array(44), ref: 'c' })).created).toBe(true);
    expect(w.relay.submit(gas, cmd({ ins: 0x5a, data: new Uint8Array(16), ref: 'x' })).created).toBe(true);
  });

  it('idempotent per (purse, ref): the same command answers the stored one; other bytes under the ref are refused', () => {
    const w = relayWorld();
    const gas = w.principal(w.gasKey.key);
    const water = w.principal(w.waterKey.key);
    const a = w.relay.submit(gas, cmd());
    const b = w.relay.submit(gas, cmd());
    expect(a.created).toBe(true);
    expect(b).toEqual({ command: a.command, created: false });
    expect(refused(() => w.relay.submit(gas, cmd({ data: load26(2) })))).toEqual({
      status: 409,
      error: 'ref-reused',
      field: 'ref',
    });
    // another utility's same ref is its own
    const c = w.relay.submit(water, cmd({ purse: WATER, p2: WATER }));
    expect(c.created).toBe(true);
    expect(c.command.id).not.toBe(a.command.id);
  });

  it('at most RELAY_MAX_OPEN_PER_CARD unanswered commands per card purse', () => {
    const w = relayWorld();
    const gas = w.principal(w.gasKey.key);
    for (let i = 0; i < 32; i++) w.relay.submit(gas, cmd({ ref: `r${i}` }));
    expect(refused(() => w.relay.submit(gas, cmd({ ref: 'one-more' })))).toMatchObject({
      status: 409,
      error: 'too-many-queued',
    });
  });
});

describe('relay: fields at their maximum', () => {
  it('relay ids are u32: the last one is handed out, the next submit is refused and stores nothing', () => {
    const w = relayWorld();
    const gas = w.principal(w.gasKey.key);
    w.relay.submit(gas, cmd({ ref: 'first' }));
    w.db.statement("UPDATE sqlite_sequence SET seq = 4294967294 WHERE name = 'card_commands'").run();
    expect(w.relay.submit(gas, cmd({ ref: 'last' })).command.id).toBe(0xffff_ffff);
    expect(() => w.relay.submit(gas, cmd({ ref: 'past' }))).toThrow(/relay ids exhausted/);
    expect(w.relay.repo.byRef(GAS, 'past')).toBeUndefined();
    // the last id still travels: it is in the next message, encoded as u32
    expect(w.relay.messageFor(METER_A).commands.map((c) => c.id)).toEqual([1, 0xffff_ffff]);
  });
});

describe('relay over the power line', () => {
  it('a sale reaches the card through the meter and its receipt comes back once', async () => {
    const w = relayWorld();
    const sale = await w.gas.sell(CSN_HEX, 1500, 'sale-1');
    expect(sale.relayId).toBe(1);
    const round1 = await w.relay.relayOnce();
    expect(round1).toEqual([
      { meterId: METER_A, sent: 1, answersStored: 0, waiting: 0, readingsStored: 0, stray: 0 },
    ]);
    expect(w.meters.queue(METER_A).queuedIds()).toEqual([1]);
    await w.insert();
    expect(purseBalance(w, GAS)).toBe(1500);
    const round2 = await w.relay.relayOnce();
    expect(round2[0]).toMatchObject({ answersStored: 1 });
    const c = w.relay.repo.get(1)!;
    expect(c).toMatchObject({
      state: 'answered',
      outcome: OUTCOME_CARD,
      lastSw: 0x9000,
      answeredBy: METER_A,
    });
    expect(c.answer![0]).toBe(0x01);
    // the answer is acknowledged in the next message, and the meter then drops it
    expect(w.relay.repo.metersWithWork()).toEqual([METER_A]);
    await w.relay.relayOnce();
    expect(w.meters.queue(METER_A).outboxSize).toBe(0);
    expect(w.relay.repo.metersWithWork()).toEqual([]);
    // the utility books it
    expect(await w.gas.poll()).toMatchObject({ answered: 1, booked: 1 });
    expect(w.gas.sale('sale-1')).toMatchObject({ state: 'on-card', balanceAfter: 1500 });
    expect(w.gas.balanceCheck()).toEqual({ sold: 1500, inTransit: 0, onCard: 1500, balanced: true });
  });

  it('an answer for a relay id never sent to that meter is an event, never stored (a replayed or forged id)', async () => {
    const w = relayWorld({ meters: [METER_A, METER_B] });
    const gas = w.principal(w.gasKey.key);
    // a command only the other subscriber's meter would hold: none exists, so forge ids 1 and 99
    w.relay.submit(gas, cmd());
    const liar: RelayLink = {
      exchange: async () => ({
        queued: 0,
        next: 3,
        more: false,
        answers: [
          { seq: 1, id: 99, outcome: 0, sw: 0x9000, data: new Uint8Array(15) },
          { seq: 2, id: 1, outcome: 0, sw: 0x6a88, data: new Uint8Array(0) },
        ],
        readings: [],
      }),
    };
    const relay = new RelayService(w.db, liar);
    // to meter B only: id 1 is routed to both meters (same subscriber), id 99 to none
    w.db.statement('DELETE FROM card_command_routes WHERE meter_id = ? AND command_id = 1').run(METER_B);
    const [r] = await relay.relayOnce([METER_B]);
    expect(r).toMatchObject({ answersStored: 0, stray: 2 });
    expect(w.relay.repo.get(1)!.state).toBe('queued');
    expect(w.db.events(10).filter((e) => e.kind === 'relay-stray-answer')).toHaveLength(2);
    // and a repeated (replayed) final answer from the right meter is stored once
    const relayA = new RelayService(w.db, {
      exchange: async () => ({
        queued: 0,
        next: 2,
        more: false,
        answers: [{ seq: 1, id: 1, outcome: 0, sw: 0x9000, data: Uint8Array.of(1, 0, 0, 0, 9) }],
        readings: [],
      }),
    });
    await relayA.relayOnce([METER_A]);
    await relayA.relayOnce([METER_A]);
    const stored = w.relay.repo.get(1)!;
    expect(stored.answer).toEqual(Uint8Array.of(1, 0, 0, 0, 9));
    const again = new RelayService(w.db, {
      exchange: async () => ({
        queued: 0,
        next: 3,
        more: false,
        answers: [{ seq: 2, id: 1, outcome: 0, sw: 0x6a80, data: new Uint8Array(0) }],
        readings: [],
      }),
    });
    await again.relayOnce([METER_A]);
    expect(w.relay.repo.get(1)).toEqual(stored); // the first final answer stays
  });

  it('a subscriber with two meters: sent to both, answered through one, the other is told to forget it', async () => {
    const w = relayWorld({ meters: [METER_A, METER_B] });
    await w.gas.sell(CSN_HEX, 700, 's');
    await w.relay.relayOnce();
    expect(w.meters.queue(METER_A).queuedIds()).toEqual([1]);
    expect(w.meters.queue(METER_B).queuedIds()).toEqual([1]);
    await w.insert(METER_B);
    await w.relay.relayOnce();
    expect(w.relay.repo.get(1)).toMatchObject({ state: 'answered', answeredBy: METER_B });
    expect(w.relay.messageFor(METER_A).forget).toEqual([1]);
    await w.relay.relayOnce();
    expect(w.meters.queue(METER_A).queuedIds()).toEqual([]);
    expect(w.relay.messageFor(METER_A).forget).toEqual([]);
    // the card in meter A now gets nothing: credited once
    await w.insert(METER_A);
    expect(purseBalance(w, GAS)).toBe(700);
  });

  it('REMOTE LOADs arriving out of order wait (9409) and apply once their predecessor did', async () => {
    const w = relayWorld();
    // the utility's seq 2 reaches the relay before seq 1 (a retry after a network failure)
    await w.gas.sell(CSN_HEX, 100, 'a');
    await w.gas.sell(CSN_HEX, 200, 'b');
    const [a, b] = w.gas.db.outbox('submitted');
    expect(a!.relayId).toBe(1);
    // rebuild the order: a fresh relay where b's bytes come first
    const w2 = relayWorld();
    const g2 = w2.principal(w2.gasKey.key);
    w2.relay.submit(g2, { purse: GAS, ref: 'b', csn: CSN_HEX, ins: 0x56, p2: GAS, data: b!.data });
    await w2.relay.relayOnce();
    // the meter delivers in id order, and retries a gap after the card took another command
    w2.relay.submit(g2, { purse: GAS, ref: 'a', csn: CSN_HEX, ins: 0x56, p2: GAS, data: a!.data });
    const r1 = await w2.insert();
    expect(r1.waiting).toEqual([{ id: 1, sw: 0x9409 }]);
    await w2.relay.relayOnce(); // sends id 2, learns id 1 waits
    expect(w2.relay.repo.get(1)).toMatchObject({ state: 'waiting', lastSw: 0x9409 });
    await w2.insert();
    await w2.relay.relayOnce();
    expect(purseBalance(w2, GAS)).toBe(300);
    expect(w2.relay.repo.get(1)!.state).toBe('answered');
    expect(w2.relay.repo.get(2)!.state).toBe('answered');
  });

  it('a meter that cannot be reached is an event; nothing is lost, the next round delivers', async () => {
    const w = relayWorld();
    await w.gas.sell(CSN_HEX, 100, 'a');
    w.meters.down = true;
    const [r] = await w.relay.relayOnce();
    expect(r!.error).toMatch(/no answer/);
    expect(w.db.events(5).some((e) => e.kind === 'relay-exchange-failed')).toBe(true);
    w.meters.down = false;
    await w.relay.relayOnce();
    expect(w.meters.queue(METER_A).queuedIds()).toEqual([1]);
  });

  it('readings meters bring back are kept once per record, per purse', async () => {
    const w = relayWorld();
    const gas = w.principal(w.gasKey.key);
    const record = new Uint8Array(144);
    record[0] = 1;
    record[1] = 0x0a;
    record[4] = GAS;
    record[135] = 0x77;
    const bad = record.slice();
    bad[4] = WATER; // says purse 3 inside, reported as gas
    const relay = new RelayService(w.db, {
      exchange: async () => ({
        queued: 0,
        next: 4,
        more: false,
        answers: [],
        readings: [
          { seq: 1, csn: Uint8Array.from(Buffer.from(CSN_HEX, 'hex')), purse: GAS, record },
          { seq: 2, csn: Uint8Array.from(Buffer.from(CSN_HEX, 'hex')), purse: GAS, record },
          { seq: 3, csn: Uint8Array.from(Buffer.from(CSN_HEX, 'hex')), purse: GAS, record: bad },
        ],
      }),
    });
    const [r] = await relay.relayOnce([METER_A]);
    expect(r).toMatchObject({ readingsStored: 1, stray: 1 });
    await relay.relayOnce([METER_A]); // reported again before the ack reached the meter
    const page = w.relay.readings(gas, {});
    expect(page.items).toHaveLength(1);
    expect(page.items[0]).toMatchObject({ csn: CSN_HEX, purse: GAS, meterId: '0A0000', reportedBy: METER_A });
    expect(page.items[0]!.record).toBe(toHex(record).toUpperCase());
    expect(w.relay.readings(gas, { after: page.items[0]!.id }).items).toEqual([]);
    expect(w.relay.readings(w.principal(w.waterKey.key), {}).items).toEqual([]);
  });
});

describe('relay HTTP routes', () => {
  async function api() {
    const { svc, app, headers } = open();
    const sub = svc.registry.addSubscriber({ name: 's' });
    svc.registry.addMeter({ id: METER_A, subscriberId: sub, as: 0, ls: 1, modem: 1 });
    svc.registry.addCard({ serial: CSN_HEX, subscriberId: sub });
    const res = await app.inject({
      method: 'POST',
      url: '/relay/keys',
      headers,
      payload: { purse: GAS, name: 'gas' },
    });
    expect(res.statusCode).toBe(201);
    const gasKey = (res.json() as { key: string }).key;
    const fetchFn = (async (url: URL, init: RequestInit) => {
      const r = await app.inject({
        method: init.method as 'GET' | 'POST',
        url: url.pathname + url.search,
        headers: init.headers as Record<string, string>,
        ...(init.body ? { payload: init.body as string } : {}),
      });
      return new Response(r.body, { status: r.statusCode, headers: { 'content-type': 'application/json' } });
    }) as unknown as typeof fetch;
    return { svc, app, headers, gasKey, port: new HttpRelayPort('http://host.invalid', gasKey, fetchFn) };
  }
  const body = (o: Record<string, unknown> = {}) => ({
    purse: GAS,
    ref: 'r1',
    csn: CSN_HEX,
    ins: 0x56,
    p2: GAS,
    data: '01'.repeat(26),
    ...o,
  });

  it('POST /relay/card-commands: 201, then 200 for the same ref; GET by id; typed errors', async () => {
    const { svc, app, gasKey, headers } = await api();
    const h = bearer(gasKey);
    const a = await app.inject({ method: 'POST', url: '/relay/card-commands', headers: h, payload: body() });
    expect(a.statusCode).toBe(201);
    expect(a.json()).toMatchObject({ id: 1, state: 'queued', purse: GAS, answer: null });
    const b = await app.inject({ method: 'POST', url: '/relay/card-commands', headers: h, payload: body() });
    expect(b.statusCode).toBe(200);
    const g = await app.inject({ method: 'GET', url: '/relay/card-commands/1', headers: h });
    expect(g.json()).toMatchObject({ id: 1, state: 'queued' });
    const cases: Array<[Record<string, unknown>, number, string, string]> = [
      [{ purse: WATER, p2: WATER }, 403, 'purse-scope', 'purse'],
      [{ ins: 0x54 }, 400, 'bad-ins', 'ins'],
      [{ data: '01'.repeat(25) }, 400, 'bad-length', 'data'],
      [{ data: '0' }, 400, 'validation', 'data'],
      [{ csn: '4D5000000000000Z' }, 400, 'validation', 'csn'],
      [{ purse: 16 }, 400, 'validation', 'purse'],
      [{ extra: 1 }, 400, 'validation', 'extra'],
      [{ ref: 'r1', data: '02'.repeat(26) }, 409, 'ref-reused', 'ref'],
    ];
    for (const [o, status, error, field] of cases) {
      const r = await app.inject({
        method: 'POST',
        url: '/relay/card-commands',
        headers: h,
        payload: body(o),
      });
      expect([r.statusCode, r.json()]).toEqual([status, expect.objectContaining({ error, field })]);
    }
    expect((await app.inject({ method: 'GET', url: '/relay/card-commands/99', headers: h })).statusCode).toBe(
      404,
    );
    expect((await app.inject({ method: 'GET', url: '/relay/card-commands/0', headers: h })).statusCode).toBe(
      400,
    );
    // roles: a vending key may not use the relay; the admin may; a utility key may do nothing else
    const vending = withKey(svc, ['vending']);
    const vr = await app.inject({
      method: 'POST',
      url: '/relay/card-commands',
      headers: vending,
      payload: body({ ref: 'v' }),
    });
    expect([vr.statusCode, vr.json()]).toEqual([403, expect.objectContaining({ error: 'forbidden' })]);
    const v = await app.inject({
      method: 'POST',
      url: '/relay/card-commands',
      headers,
      payload: body({ ref: 'adm' }),
    });
    expect(v.statusCode).toBe(201);
    const other = await app.inject({ method: 'GET', url: '/meters', headers: h });
    expect(other.statusCode).toBe(403);
    const keys = await app.inject({
      method: 'POST',
      url: '/relay/keys',
      headers: h,
      payload: { purse: GAS, name: 'x' },
    });
    expect(keys.statusCode).toBe(403);
  });

  it('HttpRelayPort: the utility server speaks to the routes', async () => {
    const { port } = await api();
    const s = await port.submit({
      purse: GAS,
      ref: 'p1',
      csn: CSN_HEX,
      ins: 0x5a,
      p2: GAS,
      data: new Uint8Array(16),
    });
    expect(s).toMatchObject({ id: 1, state: 'queued', answer: null });
    expect(await port.command(1)).toEqual(s);
    await expect(port.command(7)).rejects.toMatchObject({ status: 404, code: 'unknown-command' });
    await expect(
      port.submit({ purse: WATER, ref: 'p2', csn: CSN_HEX, ins: 0x5a, p2: WATER, data: new Uint8Array(16) }),
    ).rejects.toBeInstanceOf(RelayPortError);
    expect(await port.readings(0)).toEqual({ items: [], next: null });
  });
});

describe('relay over the real host protocol (H = 57 sessions to simulated meters)', () => {
  it('commands reach the meter in an authenticated session; the answer and a reading come back once', async () => {
    const { svc, field } = open();
    const sub = svc.registry.addSubscriber({ name: 's' });
    svc.registry.addMeter({ id: METER_A, subscriberId: sub, as: 0, ls: 1, modem: 1 });
    svc.registry.addCard({ serial: CSN_HEX, subscriberId: sub });
    const relay = new RelayService(
      svc.db,
      hostProtocolRelayLink(svc.protocol, svc.dispatcher.meters, svc.dispatcher),
    );
    const gasKey = relay.createUtilityKey(svc.apiKeys, GAS, 'gas');
    const gas = svc.apiKeys.authenticate(gasKey.key)!;
    relay.submit(gas, cmd());
    const schedule = new RelaySchedule(relay, { intervalMs: 1_000_000, collectEvery: 2 });
    expect(await schedule.runRound()).toMatchObject([{ meterId: METER_A, sent: 1 }]);
    const meter = field.meters.get(METER_A)!;
    expect(meter.queuedCardCommands().map((c) => [c.id, toHex(c.data)])).toEqual([[1, toHex(load26())]]);
    meter.cardAnswered(1, 0x9000, Uint8Array.of(1, 0, 0, 0, 5, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8));
    const record = new Uint8Array(144);
    record[0] = 1;
    record[4] = GAS;
    meter.readingFound(Uint8Array.from(Buffer.from(CSN_HEX, 'hex')), GAS, record);
    // round 2 collects from every meter (collectEvery 2), round 3 delivers the ack
    expect(await schedule.runRound()).toMatchObject([{ answersStored: 1, readingsStored: 1 }]);
    expect(relay.repo.get(1)).toMatchObject({ state: 'answered', lastSw: 0x9000 });
    await schedule.runRound();
    expect(relay.repo.metersWithWork()).toEqual([]);
    expect(relay.readings(gas, {}).items).toHaveLength(1);
    await schedule.stop();
    expect(() => new RelaySchedule(relay, { intervalMs: 0 })).toThrow(RangeError);
    expect(() => new RelaySchedule(relay, { intervalMs: 5, collectEvery: 0 })).toThrow(/collectEvery/);
  });
});

describe('host serve --relay-interval', () => {
  it('a bad interval is a usage error (status 2, one line), before anything is opened', async () => {
    let err = '';
    const status = await main(
      ['host', 'serve', '--db', '/nonexistent/dir/host.db', '--relay-interval', '1x'],
      {
        out: () => undefined,
        err: (s) => void (err += s),
      },
    );
    expect(status).toBe(2);
    expect(err).toMatch(/--relay-interval must be seconds/);
    expect(err.trimEnd().split('\n')).toHaveLength(1);
  });
});

describe('host serve runs the relay over real meters', () => {
  const procs: ChildProcess[] = [];
  afterEach(() => {
    for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  });

  it('a command posted with a utility key goes out in an H = 57 session to the real meter, no failure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'relay-serve-'));
    const host = await spawnHostServe(
      [
        '--db',
        join(dir, 'host.db'),
        '--port',
        '0',
        '--meters',
        'real',
        '--relay-interval',
        '0.2',
        '--clearing-interval',
        '0',
      ],
      (p) => procs.push(p),
      20_000,
    );
    const admin = { ...bearer(TEST_ADMIN_KEY), 'content-type': 'application/json' };
    const post = async (path: string, body: unknown, headers = admin) =>
      fetch(`${host.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    const sub = (await (await post('/subscribers', { name: 'relay' })).json()) as { id: number };
    expect((await post('/meters', { id: METER_A, subscriberId: sub.id, ls: 1, modem: 1 })).status).toBe(201);
    expect((await post('/cards', { serial: CSN_HEX, subscriberId: sub.id })).status).toBe(201);
    const key = (await (await post('/relay/keys', { purse: GAS, name: 'gas' })).json()) as { key: string };
    const port = new HttpRelayPort(host.url, key.key);
    const c = await port.submit({
      purse: GAS,
      ref: 'serve-1',
      csn: CSN_HEX,
      ins: 0x56,
      p2: GAS,
      data: load26(),
    });
    expect(c).toMatchObject({ id: 1, state: 'queued' });
    // a few relay rounds pass; the events say whether the H = 57 sessions went through
    await new Promise((r) => setTimeout(r, 1500));
    const events = (await (await fetch(`${host.url}/events`, { headers: admin })).json()) as {
      events: Array<{ kind: string; detail: string }>;
    };
    expect(events.events.filter((e) => e.kind.startsWith('relay-'))).toEqual([]);
    expect(await port.command(1)).toMatchObject({ state: 'queued' }); // no card was inserted
    // the route is 'sent' only after the meter's authenticated answer to a message carrying it
    const db = new Database(join(dir, 'host.db'), { readonly: true });
    try {
      expect(db.prepare('SELECT meter_id, command_id, state FROM card_command_routes').all()).toEqual([
        { meter_id: METER_A, command_id: 1, state: 'sent' },
      ]);
    } finally {
      db.close();
    }
    expect(host.out()).not.toMatch(/relay round \d+: meter/);
  }, 40_000);
});
