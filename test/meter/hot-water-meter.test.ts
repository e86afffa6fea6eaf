/**
 * Issue 17: an offline hot-water meter (commodity 'hot water', purse 05). Its metrology bills the
 * volume delivered at or above a minimum temperature (HotWaterCalculator: 50 °C by default); it
 * takes its purse from a card through the slot, closes its valve when the credit runs out, and
 * writes its readings — every tariff step — onto the card.
 */
import { describe, expect, it } from 'vitest';
import { fromHex } from '../../card/util/hex.js';
import { PURSE_GAS, PURSE_HOT_WATER, PURSE_WATER } from '../../card/applets/constants.js';
import { OfflineReading, verifyOfflineReading } from '../../card/applets/purse/offline.js';
import { HOT_WATER_MIN_MILLI_C, HotWaterCalculator } from '../../meter/metrology/HotWaterCalculator.js';
import { Meter } from '../../meter/Meter.js';
import { MeterReadings } from '../../meter/MeterReadings.js';
import { purseOf } from '../../meter/cardslot/cardMeterData.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import { TariffTable } from '../../protocol/TariffTable.js';
import { MemoryCreditRegister } from './MemoryCreditRegister.js';
import { meterSide, newMeter, purseBalance, subscriber } from './cardWorld.js';
import { readCardRecord } from './offlineWorld.js';

const JULY = RtcTime.of(2026, 7, 20, 0, 0).seconds; // a summer Monday: all five steps of the example
const CSN2 = fromHex('4D50000000000002');

describe('hot-water metrology', () => {
  it('bills the volume delivered at or above the minimum temperature, and keeps the rest apart', () => {
    expect(HOT_WATER_MIN_MILLI_C).toBe(50_000);
    const h = new HotWaterCalculator();
    expect(h.add(6_000, 50_000)).toBe(6_000); // exactly the minimum: hot
    expect(h.add(6_000, 49_999)).toBe(0); // a thousandth of a degree below: not billed
    expect(h.add(2_000, 12_000)).toBe(0); // cold water standing in the pipe
    expect(h.add(0, 60_000)).toBe(0);
    expect(h.hotMl).toBe(6_000);
    expect(h.coldMl).toBe(8_000);
    const tepid = new HotWaterCalculator(40_000);
    expect(tepid.add(1_000, 45_000)).toBe(1_000);
    expect(() => new HotWaterCalculator(100_001)).toThrow(/minimumMilliC/);
    expect(() => new HotWaterCalculator(-1)).toThrow(/minimumMilliC/);
    expect(() => h.add(1.5, 60_000)).toThrow(/volumeMl/);
    expect(() => h.add(-1, 60_000)).toThrow(/volumeMl/);
    expect(() => h.add(1, Number.POSITIVE_INFINITY)).toThrow(/temperatureMilliC/);
    expect(h.hotMl + h.coldMl).toBe(14_000); // refused samples change nothing
  });

  it('is a commodity of the meter core: purse 05, a valve, litres, and its NVM image and readings name it', async () => {
    expect(purseOf('hot water')).toBe(PURSE_HOT_WATER);
    const m = new Meter(
      { start: JULY, commodity: 'hot water', tariff: TariffTable.flat(900) },
      new MemoryCreditRegister(10_000),
    );
    await m.service();
    expect(m.supply.kind).toBe('valve');
    await m.advance(m.now + 60, 6_000);
    const again = Meter.restore(JSON.parse(JSON.stringify(m.snapshot())), new MemoryCreditRegister(0));
    expect(again.commodity).toBe('hot water');
    const bytes = m.readings().encode();
    expect(bytes[4]).toBe(4); // commodity byte: 4 = hot water
    expect(MeterReadings.decode(bytes).commodity).toBe('hot water');
    expect(m.readings().total).toBe(6); // litres
    expect(() => new Meter({ start: 0, commodity: 'steam' as never }, new MemoryCreditRegister(0))).toThrow(
      /hot water/,
    );
  });
});

describe('offline hot-water meter (purse 05)', () => {
  it('takes the hot-water purse, bills hot litres, closes its valve when the credit runs out, writes every step', async () => {
    // 10.00 EUR per m³ of hot water at 100 %.
    const cm = await newMeter({
      meter: { commodity: 'hot water', start: JULY, tariff: TariffTable.example(1_000) },
    });
    expect(cm.slot.purse).toBe(PURSE_HOT_WATER);
    const card = subscriber(cm.issuer, { balance: 5_000 });
    const o = await cm.slot.insert(card.os);
    cm.slot.remove();
    expect(o).toMatchObject({ accepted: true, amount: 5_000, purse: PURSE_HOT_WATER });
    expect(purseBalance(card, PURSE_HOT_WATER)).toBe(0);
    for (const other of [PURSE_GAS, PURSE_WATER]) expect(purseBalance(card, other)).toBe(5_000);

    // 6 L a minute; the first 10 minutes of every hour arrive cold (25 °C), the rest at 55 °C.
    const hot = new HotWaterCalculator();
    const exhausted = cm.meter.events.count('credit-exhausted');
    let minutes = 0;
    while (cm.meter.supply.connected && minutes < 24 * 60) {
      const t = minutes % 60 < 10 ? 25_000 : 55_000;
      await cm.meter.advance(cm.meter.now + 60, hot.add(6_000, t));
      minutes++;
    }
    expect(cm.meter.supply.connected).toBe(false);
    expect(cm.meter.events.count('credit-exhausted')).toBe(exhausted + 1);
    // Per hour 300 L hot: 0–7 h 50 %, 7–9 h 75 %, 9–10 h 100 %, 10–14 h 200 % cost 4 200; the
    // remaining 800 units last 800 / 18 per minute of hot water at 300 % into the 14–16 h step.
    expect(minutes).toBeGreaterThan(14 * 60);
    expect(minutes).toBeLessThan(16 * 60);
    expect(cm.meter.total).toBe(hot.hotMl); // only hot water is metered
    expect(hot.coldMl).toBeGreaterThan(0);
    expect(meterSide(cm)).toBe(5_000);

    const next = subscriber(cm.issuer, { csn: CSN2, balance: 1_000 });
    const o2 = await cm.slot.insert(next.os);
    expect(o2).toMatchObject({ accepted: true, amount: 1_000, readings: { written: true } });
    expect(cm.meter.supply.connected).toBe(true);
    const raw = readCardRecord(next, 4, 5); // hot water is the card's 5th purse
    expect(verifyOfflineReading(cm.issuer, CSN2, raw.data)).toBe(true);
    const r = OfflineReading.decode(raw.data);
    expect(r.purse).toBe(PURSE_HOT_WATER);
    expect(r.stepPercents).toEqual([50, 75, 100, 200, 300]);
    // Litres per step: 7 h + 0 h at 50 %, 2 h at 75 %, 1 h at 100 %, 4 h at 200 %, the rest at 300 %.
    const at300 = hot.hotMl / 1000 - (7 + 2 + 1 + 4) * 300;
    expect(r.stepRegisters).toEqual([2_100, 600, 300, 1_200, at300]);
    expect(at300).toBeGreaterThan(0);
    expect(r.cumulative).toBe(hot.hotMl / 1000);
    expect(r.sinceLastCredit).toBe(hot.hotMl / 1000);
    expect(r.unitCharge).toBe(1_000);
  });
});
