/**
 * The gas utility's server (host/utility/): sells onto its purse through the electricity host's
 * relay and a real card, books only verified receipts, configures the card for its offline meter,
 * and collects that meter's signed readings — from the relay and at a vending point — storing each
 * authentic one once and clearing only those. Attacks: a forged receipt, a forged refusal, a
 * replayed configuration, a tampered reading, a re-sent reading, two readings with one seq.
 */
import { describe, expect, it } from 'vitest';
import {
  OFFLINE_EVENT_REVERSE_FLOW,
  OFFLINE_EVENT_TAMPER,
  OfflineConfig,
  OfflineReading,
} from '../../card/applets/purse/offline.js';
import { toHex } from '../../card/util/hex.js';
import { ServiceError } from '../../host/service/ServiceError.js';
import { collectReadings } from '../../host/utility/collectReadings.js';
import { anomaliesOf } from '../../host/utility/anomalies.js';
import type { RelayPort } from '../../host/utility/RelayPort.js';
import { UtilityServer } from '../../host/utility/UtilityServer.js';
import { UtilityDb } from '../../host/utility/db/UtilityDb.js';
import { IssuerKeys } from '../../card/applets/IssuerKeys.js';
import { GAS_METER } from '../applets/offline-helpers.js';
import { cipher } from '../transfer/world.js';
import {
  CSN_HEX,
  GAS,
  METER_A,
  gasConfigOnCard,
  gasIssuer,
  gasReadingOnCard,
  purseBalance,
  relayWorld,
  signedGasReading,
  writeGasReading,
  type RelayWorld,
} from './relayWorld.js';

/** Relay round, card inserted, relay round: whatever the relay holds reaches the card and back. */
async function carry(w: RelayWorld): Promise<void> {
  await w.relay.relayOnce();
  await w.insert();
  await w.relay.relayOnce();
  await w.relay.relayOnce(); // the ack
}

describe('utility server: sales', () => {
  it('one signed message per (CSN, purse, seq): seqs 1, 2, 3; the same ref answers the stored sale', async () => {
    const w = relayWorld();
    const a = await w.gas.sell(CSN_HEX, 100, 'a');
    const b = await w.gas.sell(CSN_HEX, 200, 'b');
    const again = await w.gas.sell(CSN_HEX, 100, 'a');
    const c = await w.gas.sell(CSN_HEX, 300, 'c');
    expect([a.seq, b.seq, again.seq, c.seq]).toEqual([1, 2, 1, 3]);
    expect(again.relayId).toBe(a.relayId);
    await expect(w.gas.sell(CSN_HEX, 101, 'a')).rejects.toMatchObject({ status: 409, error: 'ref-reused' });
    await expect(w.gas.sell(CSN_HEX, 0, 'z')).rejects.toThrow(RangeError);
    await expect(w.gas.sell(CSN_HEX, 2 ** 32, 'z')).rejects.toThrow(/amount/);
    await expect(w.gas.sell('00', 1, 'z')).rejects.toThrow(/csn/);
    expect(w.gas.db.outbox('submitted').map((e) => e.ref)).toEqual(['L:a', 'L:b', 'L:c']);
    await carry(w);
    expect(purseBalance(w, GAS)).toBe(600);
    expect(await w.gas.poll()).toMatchObject({ answered: 3, booked: 3 });
    expect(w.gas.balanceCheck()).toEqual({ sold: 600, inTransit: 0, onCard: 600, balanced: true });
    expect(w.gas.sale('c')).toMatchObject({ state: 'on-card', balanceAfter: 600, outcome: 1 });
  });

  it('the ledger balances at every step: sold = in transit + on card', async () => {
    const w = relayWorld();
    await w.gas.sell(CSN_HEX, 250, 'a');
    expect(w.gas.balanceCheck()).toEqual({ sold: 250, inTransit: 250, onCard: 0, balanced: true });
    await carry(w);
    await w.gas.sell(CSN_HEX, 50, 'b');
    await w.gas.poll();
    expect(w.gas.balanceCheck()).toEqual({ sold: 300, inTransit: 50, onCard: 250, balanced: true });
    // a ledger row changed behind the server's back is found
    w.gas.db.db.prepare("UPDATE ledger SET credit = credit + 1 WHERE account = 'on-card'").run();
    expect(w.gas.balanceCheck().balanced).toBe(false);
  });

  it('a relay that cannot be reached keeps the load in the outbox; the next poll submits it', async () => {
    const w = relayWorld();
    const down: RelayPort = {
      submit: () => Promise.reject(new Error('connection refused')),
      command: () => Promise.reject(new Error('connection refused')),
      readings: () => Promise.reject(new Error('connection refused')),
    };
    const offline = new UtilityServer({
      db: new UtilityDb(w.gasFile),
      issuer: gasIssuer(w.world),
      purse: GAS,
      relay: down,
      clock: () => w.clock.now,
      sellerId: Uint8Array.of(1, 2, 3, 4),
    });
    const s = await offline.sell(CSN_HEX, 90, 'n');
    expect(s).toMatchObject({ seq: 1, relayId: null, state: 'in-transit' });
    offline.db.close();
    w.restartGas();
    expect(await w.gas.flush()).toBe(1);
    await carry(w);
    await w.gas.poll();
    expect(w.gas.sale('n')!.state).toBe('on-card');
    expect(purseBalance(w, GAS)).toBe(90);
  });
});

describe('utility server: fields at their maximum', () => {
  it('a load over the purse maximum waits in the meter (9402), shown as waiting; it stays in transit', async () => {
    const w = relayWorld();
    await w.gas.sell(CSN_HEX, 500_001, 'big'); // the card purse holds at most 500 000
    await carry(w);
    expect(w.relay.repo.get(1)).toMatchObject({ state: 'waiting', lastSw: 0x9402 });
    expect(w.meters.queue(METER_A).queuedIds()).toEqual([1]);
    await w.gas.poll();
    expect(w.gas.sale('big')!.state).toBe('in-transit');
    expect(w.gas.balanceCheck()).toEqual({ sold: 500_001, inTransit: 500_001, onCard: 0, balanced: true });
    expect(purseBalance(w, GAS)).toBe(0);
  });

  it('the seq of a card purse is u32: the last one is signed, the next sale is refused and records nothing', async () => {
    const w = relayWorld();
    await w.gas.sell(CSN_HEX, 1, 'one');
    w.gas.db.db.prepare('UPDATE card_purses SET last_seq = 4294967294').run();
    expect((await w.gas.sell(CSN_HEX, 1, 'last')).seq).toBe(0xffff_ffff);
    await expect(w.gas.sell(CSN_HEX, 1, 'past')).rejects.toThrow(/used up/);
    expect(w.gas.sale('past')).toBeUndefined();
    expect(w.gas.balanceCheck()).toMatchObject({ sold: 2, balanced: true });
  });
});

describe('utility server: attacks on sales', () => {
  it('a forged receipt is not booked; the same signed load goes again and the genuine receipt books it once', async () => {
    const w = relayWorld();
    await w.gas.sell(CSN_HEX, 400, 'f');
    await carry(w);
    // the electricity host (or anything on the way) rewrites the card's answer: balance and receipt
    const real = w.relay.repo.get(1)!.answer!;
    const forged = real.slice();
    forged[7]! ^= 0x01;
    w.db.statement('UPDATE card_commands SET answer = ? WHERE id = 1').run(Buffer.from(forged));
    expect(await w.gas.poll()).toMatchObject({ answered: 1, booked: 0 });
    expect(w.gas.sale('f')!.state).toBe('in-transit');
    expect(w.gas.db.events('forged-receipt')).toHaveLength(1);
    expect(w.gas.balanceCheck()).toMatchObject({ inTransit: 400, onCard: 0, balanced: true });
    // the re-send carries the very bytes of seq 1 (one message per seq, ever)
    const resend = w.gas.db.outbox('submitted').find((e) => e.ref === 'L:f:2')!;
    expect(toHex(resend.data)).toBe(toHex(w.gas.sale('f')!.data));
    await carry(w);
    expect(w.relay.repo.get(resend.relayId!)!.answer![0]).toBe(0x02); // already applied
    expect(await w.gas.poll()).toMatchObject({ booked: 1 });
    expect(w.gas.sale('f')).toMatchObject({ state: 'on-card', outcome: 2, balanceAfter: 400 });
    expect(purseBalance(w, GAS)).toBe(400);
    expect(w.gas.balanceCheck()).toEqual({ sold: 400, inTransit: 0, onCard: 400, balanced: true });
  });

  it('a receipt made for another sale (replayed) does not book this one', async () => {
    const w = relayWorld();
    await w.gas.sell(CSN_HEX, 10, 'x');
    await w.gas.sell(CSN_HEX, 10, 'y');
    await carry(w);
    // swap the answers: each is a genuine receipt, of the other seq
    const [ax, ay] = [w.relay.repo.get(1)!.answer!, w.relay.repo.get(2)!.answer!];
    w.db.statement('UPDATE card_commands SET answer = ? WHERE id = 1').run(Buffer.from(ay));
    w.db.statement('UPDATE card_commands SET answer = ? WHERE id = 2').run(Buffer.from(ax));
    expect(await w.gas.poll()).toMatchObject({ booked: 0 });
    expect(w.gas.db.events('forged-receipt')).toHaveLength(2);
  });

  it('a refusal is unauthenticated: nothing is refunded, the same signed load goes again, and the genuine receipt of the card books it', async () => {
    const w = relayWorld();
    await w.gas.sell(CSN_HEX, 70, 'r');
    await w.relay.relayOnce();
    // the host claims the card refused (it may have applied it)
    w.relay.absorb(METER_A, w.relay.messageFor(METER_A), {
      queued: 0,
      next: 2,
      more: false,
      answers: [{ seq: 1, id: 1, outcome: 0, sw: 0x6a88, data: new Uint8Array(0) }],
      readings: [],
    });
    await w.gas.poll();
    expect(w.gas.sale('r')).toMatchObject({ state: 'in-transit' });
    expect(w.gas.sale('r')!.note).toMatch(/refused.*6A88/);
    expect(w.gas.balanceCheck()).toMatchObject({ sold: 70, inTransit: 70, balanced: true });
    expect(w.gas.db.events('load-refused')).toHaveLength(1);
    // The lie strands nothing: the very bytes of seq 1 go again; the card applies seq 1 once (from
    // whichever copy reaches it first) and its genuine receipt books the sale once.
    const resend = w.gas.db.outbox('submitted').find((e) => e.ref === 'L:r:2')!;
    expect(toHex(resend.data)).toBe(toHex(w.gas.sale('r')!.data));
    await carry(w);
    expect(await w.gas.poll()).toMatchObject({ booked: 1 });
    expect(w.gas.sale('r')).toMatchObject({ state: 'on-card' });
    expect(purseBalance(w, GAS)).toBe(70);
    expect(w.gas.balanceCheck()).toEqual({ sold: 70, inTransit: 0, onCard: 70, balanced: true });
  });

  it("the server signs with its own purse's keys only: a gas server cannot be made for another purse", () => {
    const w = relayWorld();
    expect(
      () =>
        new UtilityServer({
          db: new UtilityDb(':memory:'),
          issuer: gasIssuer(w.world),
          purse: 3,
          relay: {} as RelayPort,
          clock: () => 0,
          sellerId: new Uint8Array(4),
        }),
    ).toThrow(/no keys for purse 3/);
    expect(
      () =>
        new UtilityServer({
          db: new UtilityDb(':memory:'),
          issuer: new IssuerKeys(cipher, [[GAS, w.world.issuer.utility(GAS)]]),
          purse: GAS,
          relay: {} as RelayPort,
          clock: () => 0,
          sellerId: new Uint8Array(3),
        }),
    ).toThrow(/sellerId/);
  });
});

describe('utility server: configuration', () => {
  it('PUT CONFIG reaches the card with increasing versions; a replayed older one is refused by the card', async () => {
    const w = relayWorld();
    const c1 = await w.gas.configure(CSN_HEX, {
      meterId: toHex(GAS_METER),
      emergencyLimit: 500,
      unitCharge: 85,
      blacklistVersion: 1,
    });
    const c2 = await w.gas.configure(CSN_HEX, {
      meterId: toHex(GAS_METER),
      emergencyLimit: 600,
      unitCharge: 90,
      blacklistVersion: 2,
    });
    expect([c1.version, c2.version]).toEqual([1, 2]);
    await carry(w);
    await w.gas.poll();
    expect(w.gas.db.configs(CSN_HEX, GAS).map((c) => c.state)).toEqual(['applied', 'applied']);
    const onCard = OfflineConfig.decode(gasConfigOnCard(w));
    expect(onCard).toMatchObject({ version: 2, unitCharge: 90, emergencyLimit: 600, purse: GAS });
    expect(toHex(onCard.encode())).toBe(toHex(c2.record));
    // the host replays version 1's bytes under a new relay reference: the card keeps version 2
    const v1 = w.relay.repo.get(1)!;
    w.relay.submit(w.principal(w.gasKey.key), {
      purse: GAS,
      ref: 'replay',
      csn: CSN_HEX,
      ins: 0x58,
      p2: GAS,
      data: v1.data,
    });
    await carry(w);
    expect(w.relay.repo.byRef(GAS, 'replay')).toMatchObject({ state: 'answered', lastSw: 0x9407 });
    expect(OfflineConfig.decode(gasConfigOnCard(w)).version).toBe(2);
  });
});

describe('utility server: offline readings', () => {
  const writeOnCard = writeGasReading;
  const signed = signedGasReading;

  it('a reading found on the card by the electricity meter is verified, stored once and cleared on the card', async () => {
    const w = relayWorld();
    const r = signed(w, 1);
    writeOnCard(w, r);
    expect((await w.insert()).readings).toBe(1); // the electricity meter reads the gas purse's SFI 04
    // a round with no command pending asks no meter; a collecting round asks every meter
    expect(await w.relay.relayOnce()).toEqual([]);
    await w.relay.relayOnce(w.relay.repo.allMeters());
    expect(await w.gas.poll()).toMatchObject({ readings: 1 });
    const stored = w.gas.db.readingsOf(toHex(GAS_METER).toUpperCase());
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ seq: 1, cleared: false, anomalies: [] });
    // the CLEAR READINGS goes out with the poll, through the relay, to the card
    await carry(w);
    await w.gas.poll();
    expect(w.gas.db.readingsOf(toHex(GAS_METER).toUpperCase())[0]!.cleared).toBe(true);
    expect(toHex(gasReadingOnCard(w))).toBe('00'.repeat(144));
  });

  it('a tampered reading is refused with a reason and an event, never stored, never cleared', async () => {
    const w = relayWorld();
    const r = signed(w, 1, { cumulative: 5000 });
    // the subscriber edits the record on the card (the card cannot check the MAC; SAM session only)
    const forged = OfflineReading.decode(
      Uint8Array.of(...r.encode().subarray(0, 15), 0, 0, 0, 1, ...r.encode().subarray(19)),
    );
    expect(forged.cumulative).toBe(1);
    writeOnCard(w, forged);
    await w.insert();
    await w.relay.relayOnce(w.relay.repo.allMeters());
    expect(await w.gas.poll()).toMatchObject({ readings: 0 });
    expect(w.gas.db.readingsOf(toHex(GAS_METER).toUpperCase())).toEqual([]);
    expect(w.gas.db.events('tampered-reading')).toHaveLength(1);
    expect(
      w.gas.db
        .outbox('new')
        .concat(w.gas.db.outbox('submitted'))
        .filter((e) => e.kind === 'clear'),
    ).toEqual([]);
    await carry(w);
    expect(toHex(gasReadingOnCard(w))).toBe(toHex(forged.encode()));
    // direct: the typed reasons
    const res = w.gas.ingestReadings(
      CSN_HEX,
      [forged.encode(), new Uint8Array(10), new Uint8Array(144)],
      'vending',
    );
    expect(res.map((x) => [x.status, x.reason, x.clear])).toEqual([
      ['refused', 'bad-mac', undefined],
      ['refused', 'malformed', undefined],
      ['empty', undefined, undefined],
    ]);
    // the genuine record of another card does not verify for this one (the CSN is under the MAC)
    expect(w.gas.ingestReadings('4D50000000000002', [r.encode()])[0]).toMatchObject({
      status: 'refused',
      reason: 'bad-mac',
    });
  });

  it('a reading re-sent is stored once; another authentic record with the same seq is a conflict', () => {
    const w = relayWorld();
    const r = signed(w, 1, { cumulative: 100 });
    const [a] = w.gas.ingestReadings(CSN_HEX, [r.encode()]);
    const [b] = w.gas.ingestReadings(CSN_HEX, [r.encode()], 'vending');
    expect([a!.status, b!.status]).toEqual(['stored', 'duplicate']);
    expect(toHex(a!.clear!)).toBe(toHex(b!.clear!));
    expect(w.gas.db.outbox('submitted').filter((e) => e.kind === 'clear')).toHaveLength(0); // not flushed yet
    expect(w.gas.db.outbox('new').filter((e) => e.kind === 'clear')).toHaveLength(1); // queued once
    const other = signed(w, 1, { cumulative: 101 });
    const [c] = w.gas.ingestReadings(CSN_HEX, [other.encode()]);
    expect(c).toMatchObject({ status: 'conflict', anomalies: ['sequence-repeat-differs'] });
    expect(w.gas.db.readingsOf(toHex(GAS_METER).toUpperCase()).map((x) => x.cumulative)).toEqual([100]);
    expect(w.gas.db.conflicts(toHex(GAS_METER).toUpperCase())).toBe(1);
    expect(w.gas.db.events('reading-conflict')).toHaveLength(1);
  });

  it('anomalies: backwards, gap, flags, a jump far above the history, a card bound to another meter', async () => {
    const w = relayWorld();
    const seqs: Array<[number, number, number]> = [
      [1, 1000, 0],
      [2, 1100, 0],
      [3, 1190, 0],
      [4, 1300, 0],
      [5, 1400, 0],
      [6, 1495, 0],
      [7, 9000, 0], // jump
      [9, 9100, 0], // gap
      [10, 9050, OFFLINE_EVENT_TAMPER | OFFLINE_EVENT_REVERSE_FLOW], // backwards + flags
    ];
    const out = seqs.map(
      ([seq, cumulative, events]) =>
        w.gas.ingestReadings(CSN_HEX, [signed(w, seq, { cumulative, events }).encode()])[0]!,
    );
    expect(out.map((x) => x.anomalies)).toEqual([
      [],
      [],
      [],
      [],
      [],
      [],
      ['consumption-jump'],
      ['sequence-gap'],
      ['cumulative-backwards', 'tamper', 'reverse-flow'],
    ]);
    // bound elsewhere: the card's configuration names another offline meter
    await w.gas.configure(CSN_HEX, {
      meterId: '0D0E0F',
      emergencyLimit: 0,
      unitCharge: 1,
      blacklistVersion: 0,
    });
    expect(
      w.gas.ingestReadings(CSN_HEX, [signed(w, 11, { cumulative: 9150 }).encode()])[0]!.anomalies,
    ).toEqual(['bound-elsewhere']);
    expect(w.gas.db.events('reading-anomaly')).toHaveLength(4);
    // the pure check at its edges: no previous, equal cumulative, short history
    expect(
      anomaliesOf({ meterId: 'A', sequence: 1, cumulative: 0, events: 0 }, undefined, [], undefined),
    ).toEqual([]);
    expect(
      anomaliesOf(
        { meterId: 'A', sequence: 2, cumulative: 5, events: 0 },
        { seq: 1, cumulative: 5 },
        [5],
        'A',
      ),
    ).toEqual([]);
    expect(
      anomaliesOf(
        { meterId: 'A', sequence: 4, cumulative: 999, events: 0 },
        { seq: 3, cumulative: 3 },
        [1, 2, 3],
        undefined,
      ),
    ).toEqual([]);
  });

  it('a vending point reads SFI 04 over APDUs, the server verifies it, the card is cleared with its CLEAR READINGS', async () => {
    const w = relayWorld();
    const r = signed(w, 4, { cumulative: 777 });
    writeOnCard(w, r);
    w.world.reinsertCard();
    const got = await collectReadings(await w.world.cardChannel(), w.gas);
    expect(got.result).toMatchObject({ status: 'stored', seq: 4 });
    expect(got.clearSw).toBe(0x9000);
    expect(toHex(gasReadingOnCard(w))).toBe('00'.repeat(144));
    expect(w.gas.db.readingsOf(toHex(GAS_METER).toUpperCase())[0]!.cleared).toBe(true);
    // nothing is queued to the relay for a vending-point reading
    expect(w.gas.db.outbox('new')).toEqual([]);
    // a tampered one at the vending point: refused, no CLEAR sent, the record stays
    const bad = r.encode().slice();
    bad[20]! ^= 1;
    writeOnCard(w, OfflineReading.decode(bad));
    w.world.reinsertCard();
    const again = await collectReadings(await w.world.cardChannel(), w.gas);
    expect(again).toMatchObject({ result: { status: 'refused', reason: 'bad-mac' } });
    expect(again.clearSw).toBeUndefined();
    expect(toHex(gasReadingOnCard(w))).toBe(toHex(bad));
    // an empty record: nothing to do
    const fresh = relayWorld();
    fresh.world.reinsertCard();
    expect((await collectReadings(await fresh.world.cardChannel(), fresh.gas)).result.status).toBe('empty');
  });

  it('a CLEAR READINGS for an older reading does not erase a newer one on the card (6985, an event)', async () => {
    const w = relayWorld();
    const r1 = signed(w, 1, { cumulative: 10 });
    writeOnCard(w, r1);
    w.gas.ingestReadings(CSN_HEX, [r1.encode()]); // queued CLEAR for r1
    const r2 = signed(w, 2, { cumulative: 20 });
    writeOnCard(w, r2); // the offline meter wrote again before the clear arrived
    await w.gas.flush();
    await carry(w);
    await w.gas.poll();
    expect(toHex(gasReadingOnCard(w))).toBe(toHex(r2.encode()));
    expect(w.gas.db.events('clear-superseded')).toHaveLength(1);
    expect(w.gas.db.readingsOf(toHex(GAS_METER).toUpperCase())[0]!.cleared).toBe(false);
  });

  it('typed argument errors', async () => {
    const w = relayWorld();
    await expect(
      w.gas.configure(CSN_HEX, { meterId: 'XYZ', emergencyLimit: 0, unitCharge: 0, blacklistVersion: 0 }),
    ).rejects.toThrow(/meterId/);
    await expect(
      w.gas.configure(CSN_HEX, { meterId: '0A0B0C', emergencyLimit: -1, unitCharge: 0, blacklistVersion: 0 }),
    ).rejects.toThrow(/emergencyLimit/);
    expect(() => w.gas.ingestReadings('XX', [])).toThrow(/csn/);
    expect(ServiceError).toBeDefined();
  });
});
