/**
 * Red team R2 on issue 17 (the relay for other utilities and the utility server). Each test is an
 * attack; it asserts what must hold. Attackers: a utility with another purse's key or a revoked
 * one, an auditor, a meter (or its outbox) answering H = 57 with whatever it likes, a client of the
 * HTTP routes, and a utility server killed between its own steps (modelled by a failure inside or
 * right after a transaction: SQLite rolls the open transaction back exactly as at kill -9).
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../card/util/hex.js';
import { OfflineReading } from '../../card/applets/purse/offline.js';
import { ServiceError } from '../../host/service/ServiceError.js';
import { RelayService } from '../../host/relay/RelayService.js';
import type { RelayLink, RelayReply } from '../../host/relay/RelayLink.js';
import { InProcessRelayPort, type RelayPort } from '../../host/utility/RelayPort.js';
import {
  OUTCOME_CARD,
  OUTCOME_REFUSED,
  REFUSED_INS,
  CARD_COMMAND_PURSE_QUOTA,
} from '../../protocol/cardCommands.js';
import { RELAY_MAX_OPEN_PER_CARD } from '../../host/relay/RelayService.js';
import { GAS_METER } from '../applets/offline-helpers.js';
import { CardRepository } from '../../host/service/db/CardRepository.js';
import { open } from './apiHarness.js';
import { bearer } from './apiAuth.js';
import {
  CSN_HEX,
  GAS,
  METER_A,
  METER_B,
  WATER,
  gasServer,
  purseBalance,
  relayWorld,
  signedGasReading,
  writeGasReading,
  type RelayWorld,
} from './relayWorld.js';

const HEAT = 4;
const csnBytes = Uint8Array.from(Buffer.from(CSN_HEX, 'hex'));
const junkLoad = (b: number) => new Uint8Array(26).fill(b);
const cmd = (o: Partial<{ purse: number; ref: string; ins: number; p2: number; data: Uint8Array }> = {}) => ({
  purse: GAS,
  ref: 'r1',
  csn: CSN_HEX,
  ins: 0x56,
  p2: GAS,
  data: junkLoad(1),
  ...o,
});

function refused(f: () => unknown): { status: number; error: string } {
  try {
    f();
  } catch (e) {
    if (e instanceof ServiceError) return { status: e.status, error: e.error };
    throw e;
  }
  throw new Error('not refused');
}

/** A meter that answers `reply` whatever it was sent. */
const liar = (reply: Partial<RelayReply>): RelayLink => ({
  exchange: async () => ({ queued: 0, next: 1, more: false, answers: [], readings: [], ...reply }),
});

/** Relay round, card in meter A, relay round, relay round (the ack). */
async function carry(w: RelayWorld): Promise<void> {
  await w.relay.relayOnce();
  await w.insert();
  await w.relay.relayOnce();
  await w.relay.relayOnce();
}

describe('R2: another utility, an auditor, a revoked key', () => {
  it("the water key neither sees nor changes gas's commands and readings; the auditor reads, never writes", async () => {
    const w = relayWorld();
    const gas = w.principal(w.gasKey.key);
    const water = w.principal(w.waterKey.key);
    const g = w.relay.submit(gas, cmd()).command;
    // a reading of the gas purse reaches the relay
    const r = signedGasReading(w, 1);
    writeGasReading(w, r);
    await w.insert();
    await w.relay.relayOnce(w.relay.repo.allMeters());
    expect(w.relay.readings(gas, {}).items).toHaveLength(1);

    expect(refused(() => w.relay.command(water, g.id))).toEqual({ status: 404, error: 'unknown-command' });
    expect(refused(() => w.relay.readings(water, { purse: GAS }))).toEqual({
      status: 403,
      error: 'purse-scope',
    });
    expect(w.relay.readings(water, {}).items).toEqual([]);
    // the same ref under water's purse is water's own command, not gas's
    const wc = w.relay.submit(water, cmd({ purse: WATER, p2: WATER })).command;
    expect(wc.id).not.toBe(g.id);
    expect(refused(() => w.relay.submit(water, cmd({ ref: 'x' })))).toEqual({
      status: 403,
      error: 'purse-scope',
    });

    const auditor = w.apiKeys.create(['auditor'], 'auditor');
    const a = w.principal(auditor.key);
    expect(w.relay.command(a, g.id).id).toBe(g.id);
    expect(w.relay.readings(a, { purse: GAS }).items).toHaveLength(1);
    expect(refused(() => w.relay.submit(a, cmd({ ref: 'aud' })))).toEqual({
      status: 403,
      error: 'no-purse-scope',
    });

    // a revoked gas key authenticates as nobody: no submit, no read
    w.apiKeys.revoke(w.gasKey.id);
    expect(w.apiKeys.authenticate(w.gasKey.key)).toBeUndefined();
    expect(refused(() => w.relay.submit(null, cmd({ ref: 'after-revoke' })))).toMatchObject({ status: 403 });
    expect(refused(() => w.relay.readings(null, {}))).toMatchObject({ status: 403 });
    expect(w.relay.repo.byRef(GAS, 'after-revoke')).toBeUndefined();
  });
});

describe('R2: a meter answering whatever it likes', () => {
  it('a refusal for a command its payload did not carry is stray, never final (fixed in RelayService.absorb)', async () => {
    const w = relayWorld();
    const sale = await w.gas.sell(CSN_HEX, 700, 's1');
    await w.relay.relayOnce(); // the meter holds it now
    // later, in a message that carries no command, the meter "refuses" it: not carried / FULL
    const relay = new RelayService(
      w.db,
      liar({
        next: 1,
        answers: [
          { seq: 0, id: sale.relayId!, outcome: OUTCOME_REFUSED, sw: REFUSED_INS, data: new Uint8Array(0) },
        ],
      }),
    );
    const [r] = await relay.relayOnce([METER_A]);
    expect(r).toMatchObject({ answersStored: 0, stray: 1 });
    expect(w.relay.repo.get(sale.relayId!)!.state).toBe('queued');
    expect(w.db.events(10).some((e) => e.kind === 'relay-stray-answer')).toBe(true);
    // the genuine delivery still books it, once
    await w.insert();
    await w.relay.relayOnce();
    await w.relay.relayOnce();
    expect(await w.gas.poll()).toMatchObject({ booked: 1 });
    expect(purseBalance(w, GAS)).toBe(700);
    expect(w.gas.balanceCheck()).toEqual({ sold: 700, inTransit: 0, onCard: 700, balanced: true });
  });

  it("sale A's answer carrying sale B's genuine receipt (and B's carrying A's) books neither; re-sends book each once", async () => {
    const w = relayWorld();
    const a = await w.gas.sell(CSN_HEX, 100, 'A');
    const b = await w.gas.sell(CSN_HEX, 200, 'B');
    await w.relay.relayOnce();
    await w.insert(); // the card applies both; the meter's outbox holds both genuine receipts
    expect(purseBalance(w, GAS)).toBe(300);
    // the meter swaps the two answers' data on the way back
    const swapping: RelayLink = {
      exchange: async (m, msg) => {
        const reply = await w.meters.exchange(m, msg);
        const da = reply.answers.find((x) => x.id === a.relayId)!.data;
        const db = reply.answers.find((x) => x.id === b.relayId)!.data;
        return {
          ...reply,
          answers: reply.answers.map((x) => ({
            ...x,
            data: x.id === a.relayId ? db : x.id === b.relayId ? da : x.data,
          })),
        };
      },
    };
    await new RelayService(w.db, swapping).relayOnce([METER_A]);
    expect(await w.gas.poll()).toMatchObject({ answered: 2, booked: 0 });
    expect(w.gas.db.events('forged-receipt')).toHaveLength(2);
    expect(w.gas.balanceCheck()).toMatchObject({ onCard: 0, inTransit: 300, balanced: true });
    // the same signed loads again: the card answers "already applied" with the genuine receipts
    await carry(w);
    await w.gas.poll();
    expect(purseBalance(w, GAS)).toBe(300);
    expect(w.gas.sale('A')).toMatchObject({ state: 'on-card' });
    expect(w.gas.sale('B')).toMatchObject({ state: 'on-card' });
    expect(w.gas.balanceCheck()).toEqual({ sold: 300, inTransit: 0, onCard: 300, balanced: true });
    await w.gas.poll(); // and again: nothing booked twice
    expect(w.gas.balanceCheck()).toEqual({ sold: 300, inTransit: 0, onCard: 300, balanced: true });
  });

  it("a meter altering the answer's balance and counter (outside the receipt MAC) moves no value: booked once, the amount sold", async () => {
    const w = relayWorld();
    await w.gas.sell(CSN_HEX, 100, 'a');
    await w.relay.relayOnce();
    await w.insert();
    const altering: RelayLink = {
      exchange: async (m, msg) => {
        const reply = await w.meters.exchange(m, msg);
        return {
          ...reply,
          answers: reply.answers.map((x) => {
            const d = x.data.slice();
            if (d.length === 15) d.fill(0xff, 1, 7);
            return { ...x, data: d };
          }),
        };
      },
    };
    await new RelayService(w.db, altering).relayOnce([METER_A]);
    expect(await w.gas.poll()).toMatchObject({ booked: 1 });
    expect(w.gas.balanceCheck()).toEqual({ sold: 100, inTransit: 0, onCard: 100, balanced: true });
    expect(purseBalance(w, GAS)).toBe(100);
    // residual (docs/security.md): balanceAfter and counter of a booked sale are the carrier's word
    expect(w.gas.sale('a')!.balanceAfter).toBe(0xffff_ffff);
  });

  it('an outbox `next` that jumps to FFFFFFFF, then goes backwards, loses no answer and books once', async () => {
    const w = relayWorld();
    const s = await w.gas.sell(CSN_HEX, 50, 's');
    await w.relay.relayOnce(); // the genuine meter reported next = 1
    await new RelayService(w.db, liar({ next: 0xffff_ffff })).relayOnce([METER_A]);
    expect(w.relay.repo.ackBelow(METER_A)).toBe(0xffff_ffff);
    await w.insert(); // the card answers: outbox seq 1
    // the real meter gets ackBelow FFFFFFFF, cuts it to what it ever reported, and keeps seq 1
    const [r] = await w.relay.relayOnce([METER_A]);
    expect(r).toMatchObject({ answersStored: 1 });
    expect(w.relay.repo.get(s.relayId!)!.outcome).toBe(OUTCOME_CARD);
    // next backwards (a meter reset): the host's ack does not move down, nothing is stored twice
    await new RelayService(w.db, liar({ next: 2 })).relayOnce([METER_A]);
    expect(w.relay.repo.ackBelow(METER_A)).toBe(0xffff_ffff);
    await w.gas.poll();
    await w.gas.poll();
    expect(w.gas.balanceCheck()).toEqual({ sold: 50, inTransit: 0, onCard: 50, balanced: true });
    expect(purseBalance(w, GAS)).toBe(50);
  });

  it('junk, foreign and mis-addressed readings: stored by the relay at most, refused by the utility, never cleared; poll goes on', async () => {
    const w = relayWorld({ meters: [METER_A, METER_B] });
    const genuine = signedGasReading(w, 1);
    const raw = genuine.encode();
    const junk = new Uint8Array(144);
    junk[0] = 1;
    junk[4] = GAS;
    junk[135] = 0x55; // not a record the decoder or the MAC accepts
    const flipped = raw.slice();
    flipped[10] = flipped[10]! ^ 1; // a field of the genuine one changed
    const otherCsn = Uint8Array.from(Buffer.from('0102030405060708', 'hex'));
    const shortPurse = raw.slice();
    const rfu = raw.slice();
    rfu[143] = 1; // the one byte outside the MAC: other bytes for the relay, malformed for the utility
    const relay = new RelayService(
      w.db,
      liar({
        next: 7,
        readings: [
          { seq: 1, csn: csnBytes, purse: GAS, record: junk },
          { seq: 2, csn: csnBytes, purse: GAS, record: flipped },
          { seq: 3, csn: otherCsn, purse: GAS, record: raw }, // the genuine record under another card
          { seq: 4, csn: csnBytes, purse: WATER, record: shortPurse }, // says water, record says gas
          { seq: 5, csn: csnBytes, purse: 0, record: junk },
          { seq: 6, csn: csnBytes, purse: GAS, record: rfu },
        ],
      }),
    );
    const [r] = await relay.relayOnce([METER_B]);
    expect(r).toMatchObject({ readingsStored: 4, stray: 2 });
    expect(await w.gas.poll()).toMatchObject({ readings: 0 });
    expect(w.gas.db.readingsOf(toHex(GAS_METER).toUpperCase())).toEqual([]);
    expect(
      w.gas.db
        .outbox('new')
        .concat(w.gas.db.outbox('submitted'))
        .filter((e) => e.kind === 'clear'),
    ).toEqual([]);
    expect(w.gas.db.events('tampered-reading').length + w.gas.db.events('malformed-reading').length).toBe(4);
    // the genuine reading, really on the card, still comes through: stored once and cleared
    writeGasReading(w, genuine);
    await w.insert(METER_A);
    await w.relay.relayOnce(w.relay.repo.allMeters());
    // and the same bytes reported again by the other meter: the relay keeps one row
    const [again] = await new RelayService(
      w.db,
      liar({ next: 8, readings: [{ seq: 7, csn: csnBytes, purse: GAS, record: raw }] }),
    ).relayOnce([METER_B]);
    expect(again).toMatchObject({ readingsStored: 0 });
    expect(await w.gas.poll()).toMatchObject({ readings: 1 });
    expect(w.gas.db.readingsOf(toHex(GAS_METER).toUpperCase())).toHaveLength(1);
    await carry(w);
    await w.gas.poll();
    expect(w.gas.db.readingsOf(toHex(GAS_METER).toUpperCase())[0]!.cleared).toBe(true);
    expect(
      OfflineReading.decode(w.gas.db.readingsOf(toHex(GAS_METER).toUpperCase())[0]!.record).sequence,
    ).toBe(1);
  });
});

describe('R2: sale references', () => {
  it("a sale ref that spells another sale's re-send ref ('x:2') is refused: no sale whose load is never sent (fixed)", async () => {
    const w = relayWorld();
    const x = await w.gas.sell(CSN_HEX, 10, 'x');
    // a lying meter: junk 9000 for x's load, so the server queues x's re-send
    w.relay.repo.db.tx(() =>
      w.relay.repo.answerInTx(x.relayId!, {
        outcome: 0,
        sw: 0x9000,
        data: new Uint8Array(15),
        meterId: METER_A,
      }),
    );
    await w.gas.poll();
    const resend = w.gas.db.outbox('submitted').filter((e) => e.subject === 'x' && e.ref !== 'L:x');
    expect(resend).toHaveLength(1);
    const clash = resend[0]!.ref.slice(2); // the sale ref whose first load would carry the re-send's ref
    await expect(w.gas.sell(CSN_HEX, 20, clash)).rejects.toThrow(RangeError);
    expect(w.gas.sale(clash)).toBeUndefined();
    expect(w.gas.balanceCheck()).toEqual({ sold: 10, inTransit: 10, onCard: 0, balanced: true });
    // every sale recorded has a load at the relay
    const y = await w.gas.sell(CSN_HEX, 30, 'y');
    expect(y.relayId).not.toBeNull();
  });
});

describe('R2: starving one utility with another’s traffic', () => {
  it('gas and water each queue 32 for the card; heat still gets in (fixed: the host sent the oldest 16 FULL-refused ones for ever); nothing is lost', async () => {
    const w = relayWorld();
    const heatKey = w.relay.createUtilityKey(w.apiKeys, HEAT, 'heat');
    const gas = w.principal(w.gasKey.key);
    const water = w.principal(w.waterKey.key);
    const heat = w.principal(heatKey.key);
    for (let i = 0; i < RELAY_MAX_OPEN_PER_CARD; i++) {
      w.relay.submit(gas, cmd({ ref: `g${i}`, data: junkLoad(i + 1) }));
      w.relay.submit(water, cmd({ purse: WATER, p2: WATER, ref: `w${i}`, data: junkLoad(i + 1) }));
    }
    expect(refused(() => w.relay.submit(gas, cmd({ ref: 'g-more' })))).toEqual({
      status: 409,
      error: 'too-many-queued',
    });
    await w.relay.relayOnce();
    const held = (purse: number) =>
      w.meters
        .queue(METER_A)
        .queuedIds()
        .filter((id) => w.relay.repo.get(id)!.purse === purse).length;
    expect([held(GAS), held(WATER)]).toEqual([CARD_COMMAND_PURSE_QUOTA, CARD_COMMAND_PURSE_QUOTA]);
    const h = w.relay.submit(heat, cmd({ purse: HEAT, p2: HEAT, ref: 'h1' })).command;
    await w.relay.relayOnce();
    expect(w.meters.queue(METER_A).queuedIds()).toContain(h.id);
    // those refused FULL were kept (pending) and go in as places free: every one answered once
    for (let i = 0; i < 3; i++) {
      await w.insert();
      for (let k = 0; k < 3; k++) await w.relay.relayOnce();
    }
    const all = [...w.relay.repo.commandsOf(GAS, CSN_HEX), ...w.relay.repo.commandsOf(WATER, CSN_HEX)];
    expect(all).toHaveLength(2 * RELAY_MAX_OPEN_PER_CARD);
    expect(all.every((c) => c.state === 'answered' && c.lastSw === 0x6300)).toBe(true);
    expect(w.relay.repo.get(h.id)!.state).toBe('answered');
  });
});

describe('R2: one utility alone, through two cards of one subscriber', () => {
  it('cannot fill the meter: the purse quota is per meter, and the host sends the oldest of each purse first, so water goes in (fixed)', async () => {
    const w = relayWorld();
    const second = '0102030405060708';
    new CardRepository(w.db).insert(second, w.relay.repo.card(CSN_HEX)!.subscriberId);
    const gas = w.principal(w.gasKey.key);
    for (let i = 0; i < RELAY_MAX_OPEN_PER_CARD; i++) {
      w.relay.submit(gas, cmd({ ref: `a${i}` }));
      w.relay.submit(gas, { ...cmd({ ref: `b${i}` }), csn: second });
    }
    await w.relay.relayOnce();
    expect(w.meters.queue(METER_A).size).toBe(CARD_COMMAND_PURSE_QUOTA);
    // a round whose commands the meter all refuses FULL stops after that one exchange (not 8)
    const before = w.meters.exchanges;
    await w.relay.relayOnce();
    expect(w.meters.exchanges - before).toBe(1);
    const water = w.relay.submit(
      w.principal(w.waterKey.key),
      cmd({ purse: WATER, p2: WATER, ref: 'w' }),
    ).command;
    await w.relay.relayOnce();
    expect(w.meters.queue(METER_A).queuedIds()).toContain(water.id);
    expect(w.relay.repo.metersWithWork()).toContain(METER_A); // the gas backlog: tried again every round
  });
});

describe('R2: the utility server killed between its own steps', () => {
  it('dead after booking a forged answer (re-send queued), before the final flush: the restart sends it, books once', async () => {
    const w = relayWorld();
    await w.gas.sell(CSN_HEX, 80, 'k');
    await w.relay.relayOnce();
    await w.insert();
    // junk 9000 answer stored at the relay for the load (a lying meter)
    const id = w.gas.db.outbox('submitted')[0]!.relayId!;
    w.relay.repo.db.tx(() =>
      w.relay.repo.answerInTx(id, { outcome: 0, sw: 0x9000, data: new Uint8Array(15), meterId: METER_A }),
    );
    const inner = new InProcessRelayPort(w.relay, w.principal(w.gasKey.key));
    const dies: RelayPort = {
      submit: () => Promise.reject(new Error('killed')),
      command: (i) => inner.command(i),
      readings: () => Promise.reject(new Error('killed')),
    };
    w.gas.db.close();
    w.gas = gasServer(w, dies);
    await expect(w.gas.poll()).rejects.toThrow('killed');
    const resend = w.gas.db.outbox('new');
    expect(resend.map((e) => [e.kind, e.subject])).toEqual([['load', 'k']]);
    w.restartGas();
    await w.gas.poll(); // submits the re-send
    await w.relay.relayOnce();
    await w.insert(); // the card: "already applied", the genuine receipt
    await w.relay.relayOnce();
    await w.gas.poll();
    expect(w.gas.sale('k')).toMatchObject({ state: 'on-card' });
    expect(w.gas.balanceCheck()).toEqual({ sold: 80, inTransit: 0, onCard: 80, balanced: true });
    expect(purseBalance(w, GAS)).toBe(80);
  });

  it('dead inside the booking transaction: nothing booked; the restart books once', async () => {
    const w = relayWorld();
    await w.gas.sell(CSN_HEX, 90, 'k');
    await carry(w);
    const orig = w.gas.db.doneInTx.bind(w.gas.db);
    w.gas.db.doneInTx = (...args) => {
      orig(...args);
      throw new Error('killed inside the transaction');
    };
    await expect(w.gas.poll()).rejects.toThrow('killed');
    expect(w.gas.sale('k')).toMatchObject({ state: 'in-transit' });
    w.restartGas();
    expect(await w.gas.poll()).toMatchObject({ booked: 1 });
    expect(await w.gas.poll()).toMatchObject({ booked: 0 });
    expect(w.gas.balanceCheck()).toEqual({ sold: 90, inTransit: 0, onCard: 90, balanced: true });
  });

  it('dead after storing a reading, before saving the readings cursor: stored once, one CLEAR READINGS', async () => {
    const w = relayWorld();
    writeGasReading(w, signedGasReading(w, 1));
    await w.insert();
    await w.relay.relayOnce(w.relay.repo.allMeters());
    w.gas.db.setCursor = () => {
      throw new Error('killed before the cursor');
    };
    await expect(w.gas.poll()).rejects.toThrow('killed');
    w.restartGas();
    await w.gas.poll();
    const meter = toHex(GAS_METER).toUpperCase();
    expect(w.gas.db.readingsOf(meter)).toHaveLength(1);
    const clears = [...w.gas.db.outbox('new'), ...w.gas.db.outbox('submitted')].filter(
      (e) => e.kind === 'clear',
    );
    expect(clears).toHaveLength(1);
    await carry(w);
    await w.gas.poll();
    expect(w.gas.db.readingsOf(meter)[0]!.cleared).toBe(true);
  });
});

describe('R2: a hostile relay host answering the utility server', () => {
  it("a readings page that says 'more' but carries nothing ends the poll (fixed: it looped for ever)", async () => {
    const w = relayWorld();
    const inner = new InProcessRelayPort(w.relay, w.principal(w.gasKey.key));
    let calls = 0;
    const hostile: RelayPort = {
      submit: (c) => inner.submit(c),
      command: (id) => inner.command(id),
      readings: async () => {
        if (++calls > 50) throw new Error('looping');
        return { items: [], next: 7 };
      },
    };
    w.gas.db.close();
    w.gas = gasServer(w, hostile);
    expect(await w.gas.poll()).toMatchObject({ readings: 0 });
    expect(calls).toBe(1);
  });
});

describe('R2: the HTTP routes under a hostile client', () => {
  async function api() {
    const { svc, app, headers } = open();
    const sub = svc.registry.addSubscriber({ name: 's' });
    svc.registry.addMeter({ id: METER_A, subscriberId: sub, as: 0, ls: 1, modem: 1 });
    svc.registry.addCard({ serial: CSN_HEX, subscriberId: sub });
    const res = await app.inject({
      method: 'POST',
      url: '/relay/keys',
      headers,
      payload: { purse: GAS, name: 'g' },
    });
    return { app, h: bearer((res.json() as { key: string }).key) };
  }
  const body = (o: Record<string, unknown> = {}) => ({
    purse: GAS,
    ref: 'r1',
    csn: CSN_HEX,
    ins: 0x56,
    p2: GAS,
    data: 'ab'.repeat(26),
    ...o,
  });

  it('malformed JSON, a huge body, ids at and past u32, oversize fields: typed 4xx; the same bytes in other case are one command', async () => {
    const { app, h } = await api();
    const post = (payload: unknown, extra: Record<string, string> = {}) =>
      app.inject({
        method: 'POST',
        url: '/relay/card-commands',
        headers: { ...h, 'content-type': 'application/json', ...extra },
        payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
      });
    expect((await post('{"purse": 2, "ref": ')).statusCode).toBe(400);
    expect((await post(body({ pad: 'x'.repeat(2_000_000) }))).statusCode).toBe(413);
    expect((await post(body({ ref: 'r'.repeat(65) }))).statusCode).toBe(400);
    expect((await post(body({ data: 'ab'.repeat(65) }))).statusCode).toBe(400);
    expect((await post(body({ purse: 2 ** 32 + GAS }))).statusCode).toBe(400);
    expect((await post(body({ extra: 1 }))).statusCode).toBe(400);
    const first = await post(body());
    expect(first.statusCode).toBe(201);
    const same = await post(body({ csn: CSN_HEX.toLowerCase(), data: 'AB'.repeat(26) }));
    expect(same.statusCode).toBe(200);
    expect((same.json() as { id: number }).id).toBe((first.json() as { id: number }).id);
    expect((await post(body({ data: 'ac'.repeat(26) }))).json()).toMatchObject({ error: 'ref-reused' });
    const get = (id: string) => app.inject({ method: 'GET', url: `/relay/card-commands/${id}`, headers: h });
    expect((await get('4294967295')).statusCode).toBe(404);
    expect((await get('4294967296')).statusCode).toBe(400);
    expect((await get('0')).statusCode).toBe(400);
    expect((await get('-1')).statusCode).toBe(400);
    expect((await get('1e3')).statusCode).toBe(400);
    const readings = (q: string) => app.inject({ method: 'GET', url: `/relay/readings?${q}`, headers: h });
    expect((await readings('after=-1')).statusCode).toBe(400);
    expect((await readings('limit=0')).statusCode).toBe(400);
    expect((await readings('purse=3')).statusCode).toBe(403);
    expect((await readings('after=9007199254740992')).statusCode).toBe(400);
  });

  it('a utility key reaches no other route; a revoked one reaches nothing', async () => {
    const { svc, app, headers } = open();
    const res = await app.inject({
      method: 'POST',
      url: '/relay/keys',
      headers,
      payload: { purse: GAS, name: 'g' },
    });
    const k = res.json() as { id: number; key: string };
    const h = bearer(k.key);
    expect((await app.inject({ method: 'GET', url: '/cards', headers: h })).statusCode).toBe(403);
    expect((await app.inject({ method: 'GET', url: '/events', headers: h })).statusCode).toBe(403);
    expect(
      (
        await app.inject({
          method: 'POST',
          url: '/relay/keys',
          headers: h,
          payload: { purse: WATER, name: 'w' },
        })
      ).statusCode,
    ).toBe(403);
    expect((await app.inject({ method: 'GET', url: '/relay/readings', headers: h })).statusCode).toBe(200);
    svc.apiKeys.revoke(k.id);
    expect((await app.inject({ method: 'GET', url: '/relay/readings', headers: h })).statusCode).toBe(401);
  });
});
