/**
 * Red team R3: two carriers at once — the vending point (host/utility/vend.ts) and the relay with
 * the electricity meter — delivering the same sale, configuration and clear, with the relay's word
 * in doubt, a card pulled and the utility server restarted between the card's answer and its
 * settling (a kill -9 between two transactions of the server is the same state: every settle is its
 * own transaction, test/host/redteam-relay-kill.test.ts kills the server process for real).
 *
 * Fixed (a success of the attack): a PUT CONFIG has no receipt, so a carrier that answers 9000 (or
 * 9407) for a configuration it never delivered had it marked applied — and `outstanding` then never
 * offered it to a vending point again: the card kept the old configuration for ever. Now a
 * configuration applied on a carrier's word only stays outstanding until a card in a vending
 * point's reader shows it (SFI 03 read byte for byte, or its own PUT CONFIG answered 9000).
 */
import { describe, expect, it } from 'vitest';
import { OfflineConfig } from '../../card/applets/purse/offline.js';
import { toHex } from '../../card/util/hex.js';
import type { CardChannel } from '../../reader/CardChannel.js';
import { CardRemovedError } from '../../reader/errors.js';
import { InProcessRelayPort, type RelayPort } from '../../host/utility/RelayPort.js';
import { vend } from '../../host/utility/vend.js';
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
} from '../host/relayWorld.js';

const METER = toHex(GAS_METER).toUpperCase();
const cfg = (n: number) => ({ meterId: METER, emergencyLimit: n, unitCharge: 80 + n, blacklistVersion: n });

/** The relay as the utility sees it, except that every PUT CONFIG is "answered" 9000 undelivered. */
function lyingAboutConfigs(w: RelayWorld): RelayPort {
  const real = new InProcessRelayPort(w.relay, w.principal(w.gasKey.key));
  const configs = new Set<number>();
  return {
    submit: async (c) => {
      const s = await real.submit(c);
      if (c.ins === 0x58) configs.add(s.id);
      return s;
    },
    command: async (id) =>
      configs.has(id)
        ? { id, state: 'answered', outcome: 0, sw: 0x9000, answer: new Uint8Array(0) }
        : real.command(id),
    readings: (after, limit) => real.readings(after, limit),
  };
}

async function vendAt(w: RelayWorld, wrap?: (c: CardChannel) => CardChannel) {
  w.world.reinsertCard();
  const ch = await w.world.cardChannel();
  return vend(wrap ? wrap(ch) : ch, w.gas);
}

/** Throws after the inner transmit of the k-th APDU: the card answered, nobody heard it. */
function deafAt(w: RelayWorld, k: number): (c: CardChannel) => CardChannel {
  return (inner) => {
    let n = 0;
    return {
      get readerName() {
        return inner.readerName;
      },
      get atr() {
        return inner.atr;
      },
      get protocol() {
        return inner.protocol;
      },
      transmit: async (c) => {
        const r = await inner.transmit(c);
        if (++n === k) {
          w.world.reinsertCard();
          throw new CardRemovedError(`answer of APDU ${k} lost`, inner.readerName);
        }
        return r;
      },
    } as CardChannel;
  };
}

async function carry(w: RelayWorld): Promise<void> {
  await w.relay.relayOnce();
  await w.insert();
  await w.relay.relayOnce();
  await w.relay.relayOnce();
}

describe('red team R3: a configuration marked applied that is not on the card', () => {
  it('a carrier that answers 9000 undelivered does not stop the vending point delivering it (fixed)', async () => {
    const w = relayWorld();
    w.gas.db.close();
    w.gas = gasServer(w, lyingAboutConfigs(w));
    await w.gas.configure(CSN_HEX, cfg(1));
    await w.gas.poll();
    // the utility believes the carrier ...
    expect(w.gas.db.configs(CSN_HEX, GAS)[0]).toMatchObject({ version: 1, state: 'applied' });
    expect(toHex(gasConfigOnCard(w))).toBe('00'.repeat(36)); // ... the card has nothing
    // the vending point still takes it, and the card confirms it there
    const due = w.gas.outstanding(CSN_HEX);
    expect(due.config?.version).toBe(1);
    const r = await vendAt(w);
    expect(r.config).toEqual({ version: 1, sw: 0x9000, result: 'applied' });
    expect(OfflineConfig.decode(gasConfigOnCard(w)).version).toBe(1);
    expect(w.gas.outstanding(CSN_HEX).config).toBeNull();
    // the next visit sends nothing more
    const again = await vendAt(w);
    expect(again.config).toBeNull();
  });

  it('an honest relay delivery is confirmed at the next vending visit by reading SFI 03 only', async () => {
    const w = relayWorld();
    await w.gas.configure(CSN_HEX, cfg(1));
    await carry(w);
    await w.gas.poll();
    expect(w.gas.db.configs(CSN_HEX, GAS)[0]).toMatchObject({ state: 'applied', sw: 0x9000 });
    const r = await vendAt(w);
    expect(r.config).toEqual({ version: 1, sw: 'on-card', result: 'applied' });
    expect(w.gas.outstanding(CSN_HEX).config).toBeNull();
    expect(w.gas.db.events('config-refused')).toEqual([]);
  });

  it("a PUT CONFIG committed on the card whose answer was lost, the server restarted: SFI 03 settles it, no 9407 'refusal'", async () => {
    const w = relayWorld();
    await w.gas.configure(CSN_HEX, cfg(1));
    // APDUs: SELECT, READ 04, READ 03, PUT CONFIG — deaf at PUT CONFIG
    await expect(vendAt(w, deafAt(w, 4))).rejects.toThrow(CardRemovedError);
    w.restartGas();
    expect(w.gas.db.configs(CSN_HEX, GAS)[0]!.state).toBe('queued');
    await carry(w); // the relay's copy: the card answers 9407
    await w.gas.poll();
    expect(w.gas.db.configs(CSN_HEX, GAS)[0]).toMatchObject({ state: 'applied', sw: 0x9407 });
    const r = await vendAt(w);
    expect(r.config).toEqual({ version: 1, sw: 'on-card', result: 'applied' });
    expect(w.gas.db.events('config-refused')).toEqual([]);
  });
});

describe('red team R3: a sale and a reading carried by both, answers lost, server restarted', () => {
  it('the relay delivers, the server dies before polling; the vending point books on 02; the relay answer is then nothing', async () => {
    const w = relayWorld();
    await w.gas.sell(CSN_HEX, 250, 's');
    await w.gas.sell(CSN_HEX, 750, 't');
    await carry(w);
    expect(purseBalance(w, GAS)).toBe(1000);
    w.restartGas(); // the server died before it polled: nothing booked
    expect(w.gas.balanceCheck()).toEqual({ sold: 1000, inTransit: 1000, onCard: 0, balanced: true });
    // the vending point: the first answer is lost, the server restarts again
    await expect(vendAt(w, deafAt(w, 3))).rejects.toThrow(CardRemovedError); // SELECT, READ 04, LOAD s
    w.restartGas();
    expect(w.gas.balanceCheck().onCard).toBe(0);
    const r = await vendAt(w);
    expect(r.loads.map((l) => [l.ref, l.outcome, l.result])).toEqual([
      ['s', 2, 'booked'],
      ['t', 2, 'booked'],
    ]);
    expect(await w.gas.poll()).toMatchObject({ booked: 0 });
    expect(purseBalance(w, GAS)).toBe(1000);
    expect(w.gas.balanceCheck()).toEqual({ sold: 1000, inTransit: 0, onCard: 1000, balanced: true });
    expect(w.gas.db.db.prepare("SELECT COUNT(*) AS n FROM ledger WHERE account = 'on-card'").get()).toEqual({
      n: 2,
    });
  });

  it('a reading the meter overwrote before the relay clear arrived: both stored once, the newer cleared, the older never erased unseen', async () => {
    const w = relayWorld();
    writeGasReading(w, signedGasReading(w, 7, { cumulative: 70 }));
    await w.insert();
    await w.relay.relayOnce(w.relay.repo.allMeters());
    expect(await w.gas.poll()).toMatchObject({ readings: 1 }); // seq 7 stored, clear queued
    writeGasReading(w, signedGasReading(w, 8, { cumulative: 80 })); // the gas meter writes over it
    const r = await vendAt(w);
    expect(r.reading).toMatchObject({ result: { status: 'stored', seq: 8 }, cleared: 'cleared' });
    expect(r.clearsNotOnCard).toBe(1); // seq 7's clear cannot reach anything now
    await carry(w);
    await w.gas.poll();
    expect(w.gas.db.readingsOf(METER).map((x) => [x.seq, x.cleared])).toEqual([
      [7, false],
      [8, true],
    ]);
    expect(toHex(gasReadingOnCard(w))).toBe('00'.repeat(144));
    // the relay carried seq 7's clear into a card holding nothing: 6985, reported, nothing lost
    expect(w.gas.db.events('clear-superseded')).toHaveLength(1);
  });
});
