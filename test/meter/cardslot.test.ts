import { describe, expect, it } from 'vitest';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import type { CardChannel } from '../../reader/CardChannel.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { MeterData } from '../../card/applets/purse/records.js';
import { PURSE_ELECTRICITY, PURSE_GAS } from '../../card/applets/constants.js';
import { SLOT_REFUSALS, type SlotOutcome } from '../../meter/cardslot/MeterCardSlot.js';
import { TariffTable } from '../../protocol/TariffTable.js';
import {
  CSN,
  CutPlan,
  cardView,
  demoIssuer,
  meterSide,
  newMeter,
  purseBalance,
  subscriber,
  svmView,
} from './cardWorld.js';

const kinds = (o: SlotOutcome) => o.events.map((e) => e.kind);

describe('meter card slot: transfer into the SVM', () => {
  it('moves the whole purse, writes the meter data, and the meter spends SVM tokens', async () => {
    const cm = await newMeter();
    const card = subscriber(cm.issuer, { balance: 10_000 });
    // Some consumption first, so the meter data has something to say (meter lives on debt: SVM empty).
    await cm.meter.advance(cm.meter.now + 60, 30_000);
    const o = await cm.slot.insert(card.os);
    expect(o).toMatchObject({ accepted: true, amount: 10_000, leftOnCard: 0, meterDataWritten: true });
    expect(o.csn).toBe(toHex(CSN));
    expect(kinds(o)).toEqual(
      expect.arrayContaining(['card-inserted', 'card-credit', 'card-data-written', 'debt-repaid']),
    );
    // The record on the card is exactly the one the slot built.
    const raw = card.store.read('p.meter.1');
    expect(toHex(raw!)).toBe(toHex(o.meterData!.encode()));
    const md = MeterData.decode(raw!);
    expect(toHex(md.meterId)).toBe('000123');
    expect(md.cumulative).toBe(30); // Wh
    expect(md.sinceLastCredit).toBe(30);
    expect(md.lastTransferKind).toBe(1);
    expect(toHex(md.lastTransferRef)).toBe(`${toHex(CSN)}0001`);
    expect(md.tariffPrices[0]).toBe(1000);
    // Value moved, none created: card + SVM + drawn into the meter.
    expect(purseBalance(card)).toBe(0);
    expect(meterSide(cm)).toBe(10_000);
    cm.slot.remove();
    const before = svmView(cm).balance;
    for (let i = 0; i < 10; i++) await cm.meter.advance(cm.meter.now + 60, 50_000); // 50 units a minute
    expect(svmView(cm).balance).toBeLessThan(before);
    expect(meterSide(cm)).toBe(10_000);
    expect(cm.meter.supply.connected).toBe(true);
  });

  it('moves only what fits when the SVM is near its maximum, leaving the rest on the card', async () => {
    const cm = await newMeter({ svmMax: 5_000, svmBalance: 3_000 });
    const card = subscriber(cm.issuer, { balance: 10_000 });
    const svmAtInsert = svmView(cm).balance; // after the power-up tank fill
    const o = await cm.slot.insert(card.os);
    expect(o.accepted).toBe(true);
    expect(o.amount).toBe(5_000 - svmAtInsert);
    expect(o.leftOnCard).toBe(10_000 - o.amount);
    expect(purseBalance(card)).toBe(o.leftOnCard);
    expect(meterSide(cm) + purseBalance(card)).toBe(13_000);
    // Full SVM: accepted, nothing moved, data still written.
    // Again later: only the room the meter made by drawing tokens is filled.
    cm.slot.remove();
    for (let i = 0; i < 5; i++) await cm.meter.advance(cm.meter.now + 60, 50_000);
    const room = 5_000 - svmView(cm).balance;
    expect(room).toBeGreaterThan(0);
    const again = await cm.slot.insert(card.os);
    expect(again).toMatchObject({ accepted: true, meterDataWritten: true, amount: room });
    expect(meterSide(cm) + purseBalance(card)).toBe(13_000);
  });

  it('repays used emergency credit first from the next card credit', async () => {
    const cm = await newMeter({ meter: { start: 0, exchanger: { emergencyCredit: 500 } } });
    await cm.meter.advance(cm.meter.now + 60, 1_000);
    expect(cm.meter.supply.connected).toBe(false); // nothing in the SVM: cut off
    expect(cm.meter.pressEmergencyCredit()).toBe(true);
    for (let i = 0; i < 3; i++) await cm.meter.advance(cm.meter.now + 60, 100_000); // 300 units
    const owed = cm.meter.exchanger.emergencyOwed;
    expect(owed).toBeGreaterThanOrEqual(300);
    const card = subscriber(cm.issuer, { balance: 2_000 });
    const o = await cm.slot.insert(card.os);
    expect(o.amount).toBe(2_000);
    expect(kinds(o)).toContain('emergency-repaid');
    // Repaid first: the card's 2000 went to the SVM, the meter drew owed + a tank from it.
    expect(cm.meter.exchanger.drawn).toBeGreaterThanOrEqual(owed);
    expect(cm.meter.exchanger.emergencyOwed).toBe(0);
    expect(cm.meter.supply.connected).toBe(true);
    // The record written before the repayment shows the emergency credit used.
    expect(MeterData.decode(card.store.read('p.meter.1')!).emergencyUsed).toBe(owed);
    expect(meterSide(cm)).toBe(2_000);
  });
});

describe('meter card slot: refusals (typed reason, event, no value moved, metering goes on)', () => {
  async function refused(
    setup: (
      cm: Awaited<ReturnType<typeof newMeter>>,
    ) =>
      | { os: Parameters<typeof cm.slot.insert>[0]; balance?: () => number }
      | Promise<{ os: Parameters<(typeof cm)['slot']['insert']>[0]; balance?: () => number }>,
    reason: keyof typeof SLOT_REFUSALS,
    o: Parameters<typeof newMeter>[0] = {},
  ) {
    const cm = await newMeter(o);
    const svmBefore = svmView(cm).balance;
    const c = await setup(cm);
    const before = c.balance?.();
    const out = await cm.slot.insert(c.os);
    expect(out.accepted).toBe(false);
    expect(out.refusal).toBe(reason);
    expect(out.message).toBeTruthy();
    const ev = out.events.find((e) => e.kind === 'card-refused');
    expect(ev?.data).toBe(SLOT_REFUSALS[reason]);
    expect(svmView(cm).balance).toBe(svmBefore);
    if (before !== undefined) expect(c.balance!()).toBe(before);
    expect(cm.meter.transferState).toBe('failed');
    cm.slot.remove();
    await cm.meter.advance(cm.meter.now + 60, 10_000); // still metering
    expect(cm.meter.total).toBe(10_000);
    return { cm, out };
  }

  it('a forged card (keys of another issuer) fails mutual authentication', async () => {
    await refused(() => {
      const card = subscriber(demoIssuer('forger'), { balance: 10_000 });
      return { os: card.os, balance: () => purseBalance(card) };
    }, 'authentication-failed');
  });

  it('an expired card', async () => {
    await refused((cm) => {
      const card = subscriber(cm.issuer, { balance: 10_000, expiry: fromHex('261122') });
      return { os: card.os, balance: () => purseBalance(card) };
    }, 'expired');
  });

  it('a blacklisted card', async () => {
    await refused((cm) => {
      cm.slot.block(CSN);
      const card = subscriber(cm.issuer, { balance: 10_000 });
      return { os: card.os, balance: () => purseBalance(card) };
    }, 'blacklisted');
  });

  it('a card without the meter’s purse', async () => {
    await refused((cm) => {
      const card = subscriber(cm.issuer, {
        purses: [{ id: PURSE_GAS, balance: 10_000, max: 50_000, limit: 10_000, unit: 978 }],
      });
      return { os: card.os, balance: () => purseBalance(card, PURSE_GAS) };
    }, 'no-matching-purse');
  });

  it('a card that is not a purse card (an SVM chip in the slot)', async () => {
    await refused((cm) => ({ os: cm.sam.os }), 'not-a-purse-card', { seed: 'x' });
  });

  it('a SAM that refuses (6985 to AUTH INIT)', async () => {
    const refuseAuth = (inner: CardChannel, role: string): CardChannel =>
      role !== 'sam'
        ? inner
        : {
            readerName: inner.readerName,
            atr: inner.atr,
            protocol: inner.protocol,
            transmit: (c: CommandApdu) =>
              c.ins === 0x10 ? Promise.resolve(ResponseApdu.decode(fromHex('6985'))) : inner.transmit(c),
            reset: () => inner.reset(),
            disconnect: () => inner.disconnect(),
          };
    const { out } = await refused(
      (cm) => {
        const card = subscriber(cm.issuer, { balance: 10_000 });
        return { os: card.os, balance: () => purseBalance(card) };
      },
      'sam-refused',
      { wrap: refuseAuth },
    );
    expect(out.sw).toBe(0x6985);
  });

  it('an empty slot', async () => {
    const cm = await newMeter();
    const out = await cm.slot.present();
    expect(out).toMatchObject({ accepted: false, refusal: 'no-card' });
  });

  it('a torn card (its memory cut at every write of the transfer): refused, then settled at re-insertion', async () => {
    const seen = new Set<number>();
    for (let k = 1; k < 40; k++) {
      const cm = await newMeter();
      const card = subscriber(cm.issuer, { balance: 10_000 });
      const writes = card.store.writeCount;
      card.store.armTear(k);
      const o = await cm.slot.insert(card.os);
      const fired = card.store.writeCount - writes >= k && !o.accepted;
      card.store.disarmTear();
      if (!fired) break;
      expect(o.refusal).toBe('card-removed');
      cm.slot.remove();
      const again = await cm.slot.insert(card.os);
      expect(again.accepted).toBe(true);
      expect(meterSide(cm) + purseBalance(card)).toBe(10_000);
      expect(svmView(cm).pending).toBeNull();
      seen.add(purseBalance(card));
    }
    expect(seen.size).toBeGreaterThan(0);
  });
});

describe('meter card slot: interruption sweep at the meter level', () => {
  for (const kind of ['card pulled', 'power failure'] as const) {
    it(`${kind} before every APDU of the insertion: card + SVM + meter conserved`, async () => {
      const CARD = 7_000;
      // How many APDUs a clean insertion takes.
      const probe = new CutPlan(-1);
      const p = await newMeter({ wrap: probe.wrap, svmBalance: 1_000 });
      probe.armed = true;
      await p.slot.insert(subscriber(p.issuer, { balance: CARD }).os);
      const total = probe.count;
      expect(total).toBeGreaterThan(15);
      const outcomes = new Set<string>();
      for (let i = 0; i < total; i++) {
        const plan = new CutPlan(i);
        const cm = await newMeter({ wrap: plan.wrap, svmBalance: 1_000 });
        const card = subscriber(cm.issuer, { balance: CARD });
        const sum = meterSide(cm) + CARD;
        plan.cut =
          kind === 'card pulled'
            ? () => {
                cm.slot.remove();
              }
            : () => cm.powerFail();
        plan.armed = true;
        await cm.slot.insert(card.os);
        plan.armed = false;
        // Unless a transfer is in flight (pending in the SVM), the sum already holds.
        if (!svmView(cm).pending) expect(meterSide(cm) + purseBalance(card)).toBe(sum);
        if (kind === 'power failure') {
          await cm.powerRestore(cm.meter.now + 60); // the card is still in the slot: served again
        } else {
          await cm.slot.insert(card.os);
        }
        expect(svmView(cm).pending).toBeNull();
        expect(meterSide(cm) + purseBalance(card)).toBe(sum);
        expect([0, CARD]).toContain(purseBalance(card) === 0 ? 0 : purseBalance(card));
        outcomes.add(cardView(card).purses[0]!.counter === 1 ? 'moved' : 'not moved');
        // Metering goes on afterwards.
        if (cm.slot.cardPresent) cm.slot.remove();
        await cm.meter.advance(cm.meter.now + 60, 20_000);
        expect(meterSide(cm) + purseBalance(card)).toBe(sum);
      }
      expect(outcomes.has('moved')).toBe(true);
    });
  }

  it('a refused (blacklisted) card that the SVM waits for is still settled, without a new transfer', async () => {
    const plan = new CutPlan(-1);
    const cm = await newMeter({ wrap: plan.wrap, svmBalance: 1_000 });
    const card = subscriber(cm.issuer, { balance: 5_000 });
    const sum = meterSide(cm) + 5_000;
    // Cut just before the card DEBIT (the 6th card APDU of this insertion after SELECT, READ PURSE).
    plan.cut = () => {
      cm.slot.remove();
    };
    plan.armed = true;
    // find the DEBIT: cut when the SVM holds a pending record — search the cut point.
    let found = false;
    for (let i = 0; i < 30 && !found; i++) {
      plan.count = 0;
      plan.cutAt = i;
      plan.armed = true;
      if (!cm.slot.cardPresent) await cm.slot.insert(card.os);
      else await cm.slot.present();
      plan.armed = false;
      if (svmView(cm).pending) found = true;
      else if (purseBalance(card) === 0) break;
      if (cm.slot.cardPresent) cm.slot.remove();
    }
    expect(found).toBe(true);
    cm.slot.block(CSN);
    if (cm.slot.cardPresent) cm.slot.remove();
    const o = await cm.slot.insert(card.os);
    expect(o).toMatchObject({ accepted: false, refusal: 'blacklisted', amount: 0 });
    expect(['cancelled', 'completed']).toContain(o.recovery);
    expect(svmView(cm).pending).toBeNull();
    expect(meterSide(cm) + purseBalance(card)).toBe(sum);
  });
});

describe('meter wired to the real SVM and SAM', () => {
  it('token requests go through TOKEN AUTH / TOKEN REQUEST: the SVM falls in 100-unit steps', async () => {
    const cm = await newMeter({ svmBalance: 1_000, meter: { tariff: TariffTable.flat(1000) } });
    expect(svmView(cm).balance).toBe(900); // power-up fill of the tank
    for (let i = 0; i < 4; i++) await cm.meter.advance(cm.meter.now + 60, 50_000);
    // 4 minutes × 50 units: the tank (100) is refilled twice.
    expect(svmView(cm).balance).toBe(700);
    expect(cm.register.requests).toBe(3);
    expect(svmView(cm).log.filter((l) => l['type'] === 'token')).toHaveLength(3);
  });

  it('a token request whose answer is lost to a power failure is handed out after power-up', async () => {
    let cut = false;
    const ref: { cm?: Awaited<ReturnType<typeof newMeter>> } = {};
    const wrap = (inner: CardChannel, role: string): CardChannel =>
      role !== 'svm'
        ? inner
        : {
            readerName: inner.readerName,
            atr: inner.atr,
            protocol: inner.protocol,
            async transmit(c: CommandApdu) {
              const r = await inner.transmit(c);
              if (c.ins === 0x40 && cut) {
                cut = false;
                ref.cm!.powerFail(); // the SVM did it; the answer never reaches the meter
                return inner.transmit(c); // → CardRemovedError
              }
              return r;
            },
            reset: () => inner.reset(),
            disconnect: () => inner.disconnect(),
          };
    const cm = await newMeter({ svmBalance: 1_000, wrap });
    ref.cm = cm;
    const total = meterSide(cm);
    cut = true;
    for (let i = 0; i < 3 && cm.meter.powered; i++) await cm.meter.advance(cm.meter.now + 60, 50_000);
    expect(cm.meter.powered).toBe(false);
    expect(svmView(cm).balance).toBe(800); // the SVM granted the second 100
    expect(cm.meter.exchanger.drawn).toBe(100); // …which the meter has not seen yet
    await cm.powerRestore(cm.meter.now + 60);
    await cm.meter.advance(cm.meter.now + 60, 50_000);
    expect(cm.meter.exchanger.drawn + svmView(cm).balance + cm.register.recovered).toBe(total);
    expect(cm.meter.exchanger.drawn).toBeGreaterThanOrEqual(200);
  });
});

describe('offline meters (gas, water): the matching purse', () => {
  for (const [commodity, purse] of [
    ['gas', PURSE_GAS],
    ['water', 3],
  ] as const) {
    it(`${commodity}: purse ${purse} into the meter's credit, valve closes when exhausted, readings on the card`, async () => {
      const cm = await newMeter({
        meter: { commodity, tariff: TariffTable.flat(2_000), exchanger: { emergencyCredit: 0 } },
      });
      const card = subscriber(cm.issuer, { balance: 1_000 });
      const o = await cm.slot.insert(card.os);
      expect(o).toMatchObject({ accepted: true, purse, amount: 1_000, meterDataWritten: true });
      expect(purseBalance(card, purse)).toBe(0);
      expect(purseBalance(card, PURSE_ELECTRICITY)).toBe(1_000); // other purses untouched
      cm.slot.remove();
      expect(cm.meter.supply.describe()).toMatch(/valve/i);
      // 2000 units per m³: 1000 units = 500 L. 100 L a minute.
      for (let i = 0; i < 8; i++) await cm.meter.advance(cm.meter.now + 60, 100_000);
      expect(cm.meter.supply.connected).toBe(false);
      expect(meterSide(cm)).toBe(1_000);
      // Readings go back onto the card at the next insertion (record of this purse).
      const again = await cm.slot.insert(card.os);
      expect(again).toMatchObject({ accepted: true, amount: 0, meterDataWritten: true });
      const idx = cardView(card).purses.findIndex((p) => p.id === purse);
      const md = MeterData.decode(card.store.read(`p.meter.${idx + 1}`)!);
      expect(md.purse).toBe(purse);
      expect(md.cumulative).toBe(Math.floor(cm.meter.total / 1000)); // litres
      expect(md.cumulative).toBeGreaterThanOrEqual(500);
    });
  }
});
