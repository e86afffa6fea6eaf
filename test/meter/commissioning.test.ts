import { describe, expect, it } from 'vitest';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { makeCommissioningCard } from '../../card/applets/commissioning/makeCommissioningCard.js';
import { SeededRng } from '../../card/crypto/rng.js';
import type { IssuerKeys } from '../../card/applets/IssuerKeys.js';
import { CommissioningData } from '../../meter/commissioning/CommissioningData.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import { TariffTable } from '../../protocol/TariffTable.js';
import { SLOT_REFUSALS } from '../../meter/cardslot/MeterCardSlot.js';
import { Meter, type MeterSnapshot } from '../../meter/Meter.js';
import { demoIssuer, meterSide, newMeter, svmView } from './cardWorld.js';

const COM_CSN = fromHex('4D43000000000001');
const METER = fromHex('000123');

function payload(o: { meterId?: Uint8Array; table?: TariffTable; time?: RtcTime } = {}): CommissioningData {
  return new CommissioningData(
    o.meterId ?? METER,
    0x00c0ffee,
    300,
    50,
    o.table ?? TariffTable.example(),
    o.time,
  );
}

function comCard(issuer: IssuerKeys, data: CommissioningData, uses = 1) {
  return makeCommissioningCard(issuer, {
    csn: COM_CSN,
    payload: data.encode(),
    uses,
    rng: new SeededRng('com'),
  });
}

const usesLeft = (c: ReturnType<typeof comCard>) => {
  const u = c.store.read('c.uses')!;
  return (u[0]! << 8) | u[1]!;
};

describe('CommissioningData (seed 002 commissioning payload)', () => {
  it('round-trips, with and without a clock', () => {
    for (const time of [undefined, RtcTime.of(2026, 12, 1, 9, 30)]) {
      const d = payload({ ...(time ? { time } : {}) });
      const b = d.encode();
      expect(b.length).toBe(22 + TariffTable.example().encode().length);
      const back = CommissioningData.decode(b);
      expect(toHex(back.encode())).toBe(toHex(b));
      expect(back).toMatchObject({ reference: 0xc0ffee, emergencyCredit: 300, initialCredit: 50 });
      expect(back.time?.seconds).toBe(time?.seconds);
    }
  });

  it('refuses bad bytes with the offset', () => {
    const b = payload().encode();
    const err = (x: Uint8Array) => {
      try {
        CommissioningData.decode(x);
      } catch (e) {
        return e;
      }
      return undefined;
    };
    expect(err(b.subarray(0, 10))).toBeInstanceOf(MalformedDataError);
    const v = b.slice();
    v[0] = 2;
    expect(err(v)).toMatchObject({ kind: 'commissioning', offset: 0 });
    const t = b.slice();
    t[18] = 0x1a; // day not BCD
    expect(err(t)).toMatchObject({ kind: 'commissioning', offset: 18 });
    const tab = b.slice(0, b.length - 1); // truncated table
    expect(err(tab)).toMatchObject({ kind: 'commissioning' });
    expect((err(tab) as MalformedDataError).offset).toBeGreaterThanOrEqual(22);
  });

  it('refuses a payload that would not fit the card (RangeError)', () => {
    const big = TariffTable.create({
      unitCharge: 100,
      steps: [50, 100],
      seasons: [
        {
          fromMonth: 1,
          toMonth: 12,
          weekday: Array.from({ length: 48 }, (_, i) => ({ from: i * 30, to: i * 30 + 30, step: i % 2 })),
          weekend: [{ from: 0, to: 1440, step: 0 }],
          holiday: [{ from: 0, to: 1440, step: 0 }],
        },
      ],
    });
    expect(() => payload({ table: big }).encode()).toThrow(RangeError);
  });
});

describe('commissioning card in the meter slot', () => {
  it('sets identity, tariffs, emergency credit, zeroes registers, loads the test credit', async () => {
    const cm = await newMeter({ svmBalance: 1_000 });
    for (let i = 0; i < 5; i++) await cm.meter.advance(cm.meter.now + 60, 30_000);
    cm.meter.powerFail();
    cm.meter.powerRestore(cm.meter.now + 60);
    expect(cm.meter.total).toBe(150_000);
    const svmBefore = svmView(cm).balance;
    const drawnBefore = cm.meter.exchanger.drawn;
    const setTo = cm.meter.now + 3600;
    const card = comCard(cm.issuer, payload({ time: RtcTime.fromSeconds(setTo) }));
    const o = await cm.slot.insert(card.os);
    expect(o).toMatchObject({ accepted: true, csn: toHex(COM_CSN), amount: 0 });
    expect(o.commissioning?.reference).toBe(0xc0ffee);
    const m = cm.meter;
    expect(m.total).toBe(0);
    expect(m.now).toBe(setTo);
    expect(m.byStep.every((x) => x === 0)).toBe(true);
    expect(m.flags).toBe(0);
    expect(toHex(m.schedule.active.encode())).toBe(toHex(TariffTable.example().encode()));
    expect(m.exchanger.emergencyCredit).toBe(300);
    expect(m.readings().reference).toBe(0xc0ffee);
    expect(m.events.count('commissioned')).toBe(1);
    expect(m.events.count('power-fail')).toBe(0); // the log was zeroed
    expect(o.events.map((e) => e.kind)).toContain('commissioned');
    // The 50 test units are in the tank; the SVM keeps its value (nothing created or destroyed there).
    expect(m.exchanger.token + m.exchanger.tank).toBeGreaterThanOrEqual(50);
    // (commissioning starts a new token exchanger: its `drawn` counts from 0)
    expect(svmView(cm).balance + m.exchanger.drawn + drawnBefore).toBe(svmBefore + drawnBefore);
    expect(svmBefore + drawnBefore).toBe(1_000);
    expect(usesLeft(card)).toBe(0);
    // Used up: a second presentation is refused and changes nothing.
    cm.slot.remove();
    await m.advance(m.now + 60, 10_000);
    const again = await cm.slot.insert(card.os);
    expect(again).toMatchObject({ accepted: false, refusal: 'commissioning-used-up' });
    expect(again.events.find((e) => e.kind === 'card-refused')?.data).toBe(
      SLOT_REFUSALS['commissioning-used-up'],
    );
    expect(m.total).toBe(10_000);
  });

  it('the commissioned lock is part of the NVM image; images without it load as not commissioned', async () => {
    const cm = await newMeter();
    expect(cm.meter.commissioned).toBe(false);
    expect(await cm.slot.insert(comCard(cm.issuer, payload()).os)).toMatchObject({ accepted: true });
    const snap = JSON.parse(JSON.stringify(cm.meter.snapshot())) as MeterSnapshot;
    expect(snap['commissioned']).toBe(true);
    expect(Meter.restore(snap, cm.register).commissioned).toBe(true);
    delete snap['commissioned'];
    expect(Meter.restore(snap, cm.register).commissioned).toBe(false);
    expect(() => Meter.restore({ ...snap, commissioned: 1 }, cm.register)).toThrow(RangeError);
  });

  it('a commissioning card for another meter is refused without spending a use', async () => {
    const cm = await newMeter();
    const card = comCard(cm.issuer, payload({ meterId: fromHex('000999') }), 2);
    const o = await cm.slot.insert(card.os);
    expect(o).toMatchObject({ accepted: false, refusal: 'wrong-meter' });
    expect(usesLeft(card)).toBe(2);
    expect(cm.meter.events.count('commissioned')).toBe(0);
  });

  it('a forged commissioning card (another issuer) fails authentication, nothing changes', async () => {
    const cm = await newMeter({ svmBalance: 500 });
    await cm.meter.advance(cm.meter.now + 60, 30_000);
    const before = meterSide(cm);
    const card = comCard(demoIssuer('forger'), payload());
    const o = await cm.slot.insert(card.os);
    expect(o).toMatchObject({ accepted: false, refusal: 'authentication-failed' });
    expect(usesLeft(card)).toBe(1);
    expect(cm.meter.total).toBe(30_000);
    expect(meterSide(cm)).toBe(before);
  });
});
