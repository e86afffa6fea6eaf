/**
 * The vending point as a second carrier (issue 17, host/utility/vend.ts, UtilityServer rule 6): the
 * same signed REMOTE LOAD, PUT CONFIG and CLEAR READINGS bytes reach the card over the vending
 * point's APDUs and over the electricity host's relay, in either order; each sale is booked once on
 * a receipt that verifies, the configuration is applied and never marked refused because the other
 * carrier was first, the reading is stored once and cleared. Attacks: the card pulled before and
 * after every APDU of the session, a reader that forges the receipt, a purse that is full, a
 * receipt answered for another sale, a vending point that asks to settle what does not exist.
 */
import { describe, expect, it } from 'vitest';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import type { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import { OfflineConfig } from '../../card/applets/purse/offline.js';
import { AID_PURSE } from '../../card/applets/constants.js';
import { apdus } from '../../terminal/index.js';
import { toHex } from '../../card/util/hex.js';
import type { CardChannel } from '../../reader/CardChannel.js';
import { CardRemovedError } from '../../reader/errors.js';
import type { RelayPort } from '../../host/utility/RelayPort.js';
import { vend, type VendReport } from '../../host/utility/vend.js';
import { GAS_METER } from '../applets/offline-helpers.js';
import {
  CSN_HEX,
  GAS,
  gasConfigOnCard,
  gasReadingOnCard,
  gasServer,
  purseBalance,
  relayWorld,
  signedGasReading,
  writeGasReading,
  type RelayWorld,
} from './relayWorld.js';

const METER = toHex(GAS_METER).toUpperCase();
const ZEROS = '00'.repeat(144);

/** Relay round, card in the electricity meter, relay round, relay round (the ack). */
async function carry(w: RelayWorld): Promise<void> {
  await w.relay.relayOnce();
  await w.insert();
  await w.relay.relayOnce();
  await w.relay.relayOnce();
}

/** The card goes into the vending point's reader: one session over a fresh channel. */
async function vendAt(w: RelayWorld, wrap?: (c: CardChannel) => CardChannel): Promise<VendReport> {
  w.world.reinsertCard();
  const ch = await w.world.cardChannel();
  return vend(wrap ? wrap(ch) : ch, w.gas);
}

/** A fresh session with the card, the purse application selected. */
async function selected(w: RelayWorld): Promise<CardChannel> {
  w.world.reinsertCard();
  const ch = await w.world.cardChannel();
  expect((await ch.transmit(apdus.selectAid(AID_PURSE))).sw).toBe(0x9000);
  return ch;
}

/** Records every command APDU's INS (and can rewrite answers). */
class Spy implements CardChannel {
  readonly ins: number[] = [];
  constructor(
    private readonly inner: CardChannel,
    private readonly rewrite?: (c: CommandApdu, r: ResponseApdu) => ResponseApdu,
  ) {}
  get readerName(): string {
    return this.inner.readerName;
  }
  get atr(): Uint8Array {
    return this.inner.atr;
  }
  get protocol(): CardChannel['protocol'] {
    return this.inner.protocol;
  }
  async transmit(c: CommandApdu): Promise<ResponseApdu> {
    this.ins.push(c.ins);
    const r = await this.inner.transmit(c);
    return this.rewrite ? this.rewrite(c, r) : r;
  }
  reset(): Promise<Uint8Array> {
    return this.inner.reset();
  }
  disconnect(): Promise<void> {
    return this.inner.disconnect();
  }
}

/**
 * The card leaves the reader at the k-th APDU: 'before' it reached the card (nothing done), or
 * 'after' the card processed it (its answer lost). Either way the session ends in CardRemovedError.
 */
function pullAt(w: RelayWorld, k: number, when: 'before' | 'after'): (c: CardChannel) => CardChannel {
  return (inner) => {
    let n = 0;
    const s = new Spy(inner);
    s.transmit = async (c) => {
      if (++n === k) {
        if (when === 'after') await inner.transmit(c);
        w.world.reinsertCard();
        throw new CardRemovedError(`card pulled at APDU ${k} (${when})`, inner.readerName);
      }
      return inner.transmit(c);
    };
    return s;
  };
}

/** Two sales, a configuration and a reading on the card: everything a session can carry. */
async function stocked(): Promise<RelayWorld> {
  const w = relayWorld();
  await w.gas.sell(CSN_HEX, 300, 'a');
  await w.gas.sell(CSN_HEX, 200, 'b');
  await w.gas.configure(CSN_HEX, {
    meterId: METER,
    emergencyLimit: 500,
    unitCharge: 85,
    blacklistVersion: 4,
  });
  writeGasReading(w, signedGasReading(w, 3, { cumulative: 900 }));
  return w;
}

/** What must hold once every carrier has delivered everything: nothing lost, nothing twice. */
function settledOnce(w: RelayWorld): void {
  expect(purseBalance(w, GAS)).toBe(500);
  expect(w.gas.balanceCheck()).toEqual({ sold: 500, inTransit: 0, onCard: 500, balanced: true });
  for (const ref of ['a', 'b']) {
    expect(w.gas.sale(ref)!.state).toBe('on-card');
    // one pair at the sale, one at the receipt: never booked twice
    expect(w.gas.db.db.prepare('SELECT COUNT(*) AS n FROM ledger WHERE ref = ?').get(ref)).toEqual({ n: 4 });
  }
  const [config, ...more] = w.gas.db.configs(CSN_HEX, GAS);
  expect(more).toEqual([]);
  expect(config).toMatchObject({ version: 1, meterId: METER, state: 'applied' });
  // 9000 from whichever carrier was first, or the relay's 9407 after a vending answer was lost
  expect([0x9000, 0x9407]).toContain(config!.sw);
  expect(OfflineConfig.decode(gasConfigOnCard(w))).toMatchObject({ version: 1, blacklistVersion: 4 });
  expect(w.gas.db.events('config-refused')).toEqual([]);
  expect(w.gas.db.events('forged-receipt')).toEqual([]);
  expect(w.gas.db.events('clear-superseded')).toEqual([]);
  expect(w.gas.db.readingsOf(METER).map((r) => [r.seq, r.cumulative])).toEqual([[3, 900]]);
  expect(toHex(gasReadingOnCard(w))).toBe(ZEROS);
  expect(w.gas.outstanding(CSN_HEX).loads).toEqual([]);
  expect(w.gas.outstanding(CSN_HEX).config).toBeNull();
}

describe('vending point: one session carries everything outstanding', () => {
  it('reads and clears the reading, puts the configuration, delivers the loads by seq and books each on its receipt', async () => {
    const w = await stocked();
    const due = w.gas.outstanding(CSN_HEX);
    expect(due.loads.map((l) => [l.ref, l.seq, l.amount])).toEqual([
      ['a', 1, 300],
      ['b', 2, 200],
    ]);
    // the very bytes signed for the relay: the sale's, the outbox's
    expect(toHex(due.loads[0]!.data)).toBe(toHex(w.gas.sale('a')!.data));
    expect(toHex(due.config!.data)).toBe(toHex(w.gas.db.outboxEntry(`C:${CSN_HEX}:1`)!.data));
    let spy!: Spy;
    const r = await vendAt(w, (c) => (spy = new Spy(c)));
    expect(spy.ins).toEqual([0xa4, 0xb2, 0x5a, 0xb2, 0x58, 0x56, 0x56]);
    expect(r.reading).toMatchObject({
      result: { status: 'stored', seq: 3 },
      clearSw: 0x9000,
      cleared: 'cleared',
    });
    expect(r.config).toEqual({ version: 1, sw: 0x9000, result: 'applied' });
    expect(r.loads).toEqual([
      { ref: 'a', seq: 1, amount: 300, sw: 0x9000, outcome: 1, balanceAfter: 300, result: 'booked' },
      { ref: 'b', seq: 2, amount: 200, sw: 0x9000, outcome: 1, balanceAfter: 500, result: 'booked' },
    ]);
    expect([r.loadsHeld, r.clearsNotOnCard]).toEqual([0, 0]);
    expect(w.gas.db.readingsOf(METER)[0]!.cleared).toBe(true);
    // a second visit finds nothing outstanding and sends only the reads
    const again = await vendAt(w, (c) => (spy = new Spy(c)));
    expect(spy.ins).toEqual([0xa4, 0xb2]);
    expect(again).toMatchObject({ reading: { result: { status: 'empty' } }, config: null, loads: [] });
  });

  it("vending point first, relay second: the relay's 'already applied' and 9407 change nothing", async () => {
    const w = await stocked();
    await vendAt(w);
    await carry(w);
    // the relay carried the same bytes: the card answered 02 (same receipt) and 9407
    const answers = w.relay.repo.commandsOf(GAS, CSN_HEX).map((c) => [c.ins, c.lastSw, c.answer?.[0]]);
    expect(answers).toEqual([
      [0x56, 0x9000, 2],
      [0x56, 0x9000, 2],
      [0x58, 0x9407, undefined],
    ]);
    expect(await w.gas.poll()).toMatchObject({ answered: 3, booked: 0 });
    settledOnce(w);
    expect(w.gas.db.configs(CSN_HEX, GAS)[0]!.state).toBe('applied');
  });

  it('relay first (answers not yet fetched), vending point second: receipts 02 book the sales, SFI 03 shows the configuration', async () => {
    const w = await stocked();
    await carry(w); // the card holds both loads and the configuration; the utility has not polled
    let spy!: Spy;
    const r = await vendAt(w, (c) => (spy = new Spy(c)));
    expect(r.loads.map((l) => [l.outcome, l.result])).toEqual([
      [2, 'booked'],
      [2, 'booked'],
    ]);
    expect(r.config).toEqual({ version: 1, sw: 'on-card', result: 'applied' });
    expect(spy.ins).not.toContain(0x58); // not sent into a 9407
    expect(await w.gas.poll()).toMatchObject({ answered: 3, booked: 0 });
    settledOnce(w);
  });

  it('a reading the relay collected and queued a clear for: the vending point clears it, the relay’s 6985 is no error', async () => {
    const w = relayWorld();
    writeGasReading(w, signedGasReading(w, 5, { cumulative: 50 }));
    await w.insert();
    await w.relay.relayOnce(w.relay.repo.allMeters());
    expect(await w.gas.poll()).toMatchObject({ readings: 1 }); // CLEAR READINGS submitted to the relay
    expect(w.gas.outstanding(CSN_HEX).clears.map((c) => c.seq)).toEqual([5]);
    const r = await vendAt(w);
    expect(r.reading).toMatchObject({ result: { status: 'duplicate' }, cleared: 'cleared' });
    await carry(w);
    expect(w.relay.repo.commandsOf(GAS, CSN_HEX).find((c) => c.ins === 0x5a)!.lastSw).toBe(0x6985);
    await w.gas.poll();
    expect(w.gas.db.events('clear-superseded')).toEqual([]);
    expect(w.gas.db.readingsOf(METER)[0]!.cleared).toBe(true);
    // the same 6985 for a reading nobody cleared is still reported (a newer one is on the card)
    expect(w.gas.settleVendedClear(CSN_HEX, new Uint8Array(8), 0x6985)).toBe('not-cleared');
    expect(w.gas.db.events('clear-superseded')).toHaveLength(1);
  });

  it('with the relay unreachable, the vending point delivers and the outbox entries never submitted are retired', async () => {
    const w = relayWorld();
    const down: RelayPort = {
      submit: () => Promise.reject(new Error('connection refused')),
      command: () => Promise.reject(new Error('connection refused')),
      readings: () => Promise.reject(new Error('connection refused')),
    };
    w.gas.db.close();
    w.gas = gasServer(w, down);
    await w.gas.sell(CSN_HEX, 40, 'x');
    await w.gas.configure(CSN_HEX, { meterId: METER, emergencyLimit: 1, unitCharge: 2, blacklistVersion: 3 });
    expect(w.gas.db.outbox('new')).toHaveLength(2);
    const r = await vendAt(w);
    expect(r.loads[0]).toMatchObject({ result: 'booked', outcome: 1 });
    expect(r.config!.result).toBe('applied');
    expect(w.gas.db.outbox('new')).toEqual([]);
    expect(w.gas.db.outbox('done').map((e) => [e.ref, e.relayId])).toEqual([
      ['L:x', null],
      [`C:${CSN_HEX}:1`, null],
    ]);
    w.restartGas(); // the relay is back: there is nothing left to submit
    expect(await w.gas.flush()).toBe(0);
    expect(purseBalance(w, GAS)).toBe(40);
  });
});

describe('vending point: the card pulled at every APDU, then both carriers in both orders', () => {
  const APDUS = 7; // SELECT, READ 04, CLEAR, READ 03, PUT CONFIG, REMOTE LOAD a, REMOTE LOAD b
  for (let k = 1; k <= APDUS; k++)
    for (const when of ['before', 'after'] as const)
      for (const order of ['vend-then-relay', 'relay-then-vend'] as const)
        it(`pulled ${when} APDU ${k}, then ${order}`, async () => {
          const w = await stocked();
          await expect(vendAt(w, pullAt(w, k, when))).rejects.toThrow(CardRemovedError);
          // what was settled before the pull stays settled; the books balance at every step
          expect(w.gas.balanceCheck().balanced).toBe(true);
          let second: VendReport;
          if (order === 'vend-then-relay') {
            second = await vendAt(w);
            await carry(w);
            await w.gas.poll();
          } else {
            await carry(w);
            await w.gas.poll();
            second = await vendAt(w);
          }
          await w.gas.poll();
          settledOnce(w);
          // the one loss a pull can cause: a CLEAR READINGS the card committed whose answer was lost
          // leaves the reading stored but unconfirmed; it is reported, never sent into a 6985
          const lostClear = k === 3 && when === 'after';
          expect(w.gas.db.readingsOf(METER)[0]!.cleared).toBe(!lostClear);
          if (order === 'vend-then-relay') expect(second.clearsNotOnCard).toBe(lostClear ? 1 : 0);
        });
});

describe('vending point: attacks', () => {
  it('a reader that forges the receipt books nothing, holds the later seqs, and the honest session books the sale once', async () => {
    const w = await stocked();
    const liar = (c: CardChannel) =>
      new Spy(c, (cmd, r) => {
        if (cmd.ins !== 0x56) return r;
        const forged = Uint8Array.from(r.data);
        forged[1]! ^= 0x10; // a bigger balance; the receipt no longer matches … or the receipt itself
        forged[14]! ^= 0x01;
        return { ...r, data: forged } as ResponseApdu;
      });
    const r = await vendAt(w, liar);
    expect(r.loads).toHaveLength(1);
    expect(r.loads[0]).toMatchObject({ ref: 'a', result: 'not-booked' });
    expect(r.loadsHeld).toBe(1);
    expect(w.gas.sale('a')).toMatchObject({ state: 'in-transit' });
    expect(w.gas.sale('a')!.note).toMatch(/vending point: the receipt does not verify/);
    expect(w.gas.db.events('forged-receipt')).toHaveLength(1);
    expect(w.gas.balanceCheck()).toMatchObject({ inTransit: 500, onCard: 0, balanced: true });
    // seq 1 is on the card (the card applied it; the reader lied about the answer)
    expect(purseBalance(w, GAS)).toBe(300);
    const honest = await vendAt(w);
    expect(honest.loads.map((l) => [l.seq, l.outcome, l.result])).toEqual([
      [1, 2, 'booked'],
      [2, 1, 'booked'],
    ]);
    await carry(w);
    await w.gas.poll();
    expect(w.gas.db.events('forged-receipt')).toHaveLength(1);
    expect(w.gas.balanceCheck()).toEqual({ sold: 500, inTransit: 0, onCard: 500, balanced: true });
  });

  it('a genuine receipt of another sale does not book this one; an unknown sale or version is a RangeError', async () => {
    const w = relayWorld();
    await w.gas.sell(CSN_HEX, 300, 'a');
    await w.gas.sell(CSN_HEX, 300, 'other'); // the same amount, seq 2
    const ch = await selected(w);
    const real = Uint8Array.from((await ch.transmit(apdus.remoteLoad(GAS, w.gas.sale('a')!.data))).data);
    expect(real[0]).toBe(1);
    expect(w.gas.settleVendedLoad('other', 0x9000, real)).toBe('not-booked');
    expect(w.gas.settleVendedLoad('a', 0x9000, real)).toBe('booked');
    expect(w.gas.settleVendedLoad('a', 0x9000, real)).toBe('already-booked');
    // once on the card, a later refusal or forgery from any carrier changes nothing
    expect(w.gas.settleVendedLoad('a', 0x6300, new Uint8Array(0))).toBe('already-booked');
    expect(w.gas.balanceCheck()).toEqual({ sold: 600, inTransit: 300, onCard: 300, balanced: true });
    expect(w.gas.db.events('forged-receipt')).toHaveLength(1);
    expect(() => w.gas.settleVendedLoad('nope', 0x9000, real)).toThrow(/ref/);
    expect(() => w.gas.settleVendedConfig(CSN_HEX, 9, 0x9000)).toThrow(/version/);
    expect(() => w.gas.outstanding('00')).toThrow(/csn/);
  });

  it("a reader that names another card (its CSN in the FCI) gets that card's loads, which this card refuses (6300): nothing moves", async () => {
    const w = relayWorld();
    const OTHER = '4D50000000000002';
    await w.gas.sell(OTHER, 900, 'theirs'); // the relay knows no such card: it waits in the outbox
    const spoof = (c: CardChannel) =>
      new Spy(c, (cmd, r) => {
        if (cmd.ins !== 0xa4) return r;
        const d = Uint8Array.from(r.data);
        const at = toHex(d).indexOf(`5A08${CSN_HEX}`) / 2 + 2;
        expect(at).toBeGreaterThan(2);
        d.set(Buffer.from(OTHER, 'hex'), at);
        return { ...r, data: d } as ResponseApdu;
      });
    const r = await vendAt(w, spoof);
    expect(toHex(r.csn).toUpperCase()).toBe(OTHER);
    expect(r.loads).toEqual([{ ref: 'theirs', seq: 1, amount: 900, sw: 0x6300, result: 'not-booked' }]);
    expect(purseBalance(w, GAS)).toBe(0);
    expect(w.gas.sale('theirs')).toMatchObject({ state: 'in-transit' });
    expect(w.gas.db.events('load-refused')).toHaveLength(1);
    expect(w.gas.balanceCheck()).toEqual({ sold: 900, inTransit: 900, onCard: 0, balanced: true });
  });

  it('a purse that would pass its maximum: 9402, not booked, later seqs held; the sale waits in transit', async () => {
    const w = relayWorld();
    await w.gas.sell(CSN_HEX, 500_000, 'full'); // the purse's maximum
    await w.gas.sell(CSN_HEX, 1, 'one-past');
    await w.gas.sell(CSN_HEX, 5, 'later');
    const r = await vendAt(w);
    expect(r.loads.map((l) => [l.ref, l.sw, l.result])).toEqual([
      ['full', 0x9000, 'booked'],
      ['one-past', 0x9402, 'not-booked'],
    ]);
    expect(r.loadsHeld).toBe(1);
    expect(purseBalance(w, GAS)).toBe(500_000);
    expect(w.gas.sale('one-past')!.note).toMatch(/refused sw 9402/);
    expect(w.gas.db.events('load-refused')).toHaveLength(1);
    expect(w.gas.balanceCheck()).toEqual({ sold: 500_006, inTransit: 6, onCard: 500_000, balanced: true });
  });

  it('a newer configuration put at the vending point: the relay’s older version answers 9407 and is superseded, not refused', async () => {
    const w = relayWorld();
    const cfg = (n: number) => ({
      meterId: METER,
      emergencyLimit: n,
      unitCharge: 80 + n,
      blacklistVersion: n,
    });
    await w.gas.configure(CSN_HEX, cfg(1));
    await w.gas.configure(CSN_HEX, cfg(2));
    const r = await vendAt(w);
    expect(r.config).toEqual({ version: 2, sw: 0x9000, result: 'applied' });
    await carry(w);
    expect(w.relay.repo.commandsOf(GAS, CSN_HEX).map((c) => c.lastSw)).toEqual([0x9407, 0x9407]);
    await w.gas.poll();
    expect(w.gas.db.events('config-refused')).toEqual([]);
    expect(w.gas.db.events('config-superseded')).toHaveLength(1);
    expect(w.gas.db.configs(CSN_HEX, GAS).map((c) => c.state)).toEqual(['queued', 'applied']);
    expect(OfflineConfig.decode(gasConfigOnCard(w)).version).toBe(2);
    // an older record put back by anyone is still refused by the card: version 1's bytes again
    const ch = await selected(w);
    const v1 = w.gas.db.outboxEntry(`C:${CSN_HEX}:1`)!.data;
    expect((await ch.transmit(apdus.putConfig(GAS, v1))).sw).toBe(0x9407);
    // a 9407 for a configuration nobody applied is a refusal as before
    expect(w.gas.settleVendedConfig(CSN_HEX, 1, 0x9407)).toBe('refused');
    expect(w.gas.db.events('config-refused')).toHaveLength(1);
  });
});
