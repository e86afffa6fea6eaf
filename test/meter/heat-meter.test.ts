/**
 * Issue 17: an offline heat meter (purse 04). Its metrology integrates heat from the flow volume and
 * the flow/return temperature difference (HeatCalculator, EN 1434 form Q = ∫ k·Δθ dV with a
 * constant k); it takes its purse from a card through the slot, closes its valve when the credit
 * runs out, and writes its readings — every tariff step — onto the card.
 */
import { describe, expect, it } from 'vitest';
import { fromHex } from '../../card/util/hex.js';
import { PURSE_ELECTRICITY, PURSE_GAS, PURSE_HEAT } from '../../card/applets/constants.js';
import { OfflineReading, verifyOfflineReading } from '../../card/applets/purse/offline.js';
import {
  HEAT_DELTA_THETA_MIN_MK,
  HeatCalculator,
  WATER_J_PER_L_K,
} from '../../meter/metrology/HeatCalculator.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import { TariffTable } from '../../protocol/TariffTable.js';
import { CSN, meterSide, newMeter, purseBalance, subscriber } from './cardWorld.js';
import { readCardRecord } from './offlineWorld.js';

const JULY = RtcTime.of(2026, 7, 20, 0, 0).seconds; // a summer Monday: all five steps of the example
const CSN2 = fromHex('4D50000000000002');

describe('heat metrology (EN 1434 form, constant k)', () => {
  it('integrates Δθ = θflow − θreturn over the volume, exactly and in any split', () => {
    expect(WATER_J_PER_L_K).toBe(4186);
    const h = new HeatCalculator();
    // 1 m³ from 70 °C down to 50 °C: 1000 L × 20 K × 4186 J/(L·K) = 83.72 MJ = 23 255.555… Wh.
    expect(h.addTemperatures(1_000_000, 70_000, 50_000)).toBe(23_255_555);
    const parts = new HeatCalculator();
    let sum = 0;
    for (let i = 0; i < 997; i++) sum += parts.addTemperatures(1_003, 70_000, 50_000);
    sum += parts.addTemperatures(1_000_000 - 997 * 1_003, 70_000, 50_000);
    expect(sum).toBe(23_255_555);
    expect(parts.carry).toBe(h.carry);
    expect(parts.volumeMl).toBe(1_000_000);
  });

  it('gives no heat for a return warmer than the flow, and counts the volume below Δθmin apart', () => {
    const h = new HeatCalculator();
    expect(h.addTemperatures(10_000, 40_000, 45_000)).toBe(0); // cooling, not heating: nothing billed
    expect(HEAT_DELTA_THETA_MIN_MK).toBe(3000); // MI-004 / EN 1434-1: Δθmin ∈ {3, 5, 10} K
    h.add(5_000, HEAT_DELTA_THETA_MIN_MK - 1);
    h.add(7_000, HEAT_DELTA_THETA_MIN_MK);
    expect(h.belowMinMl).toBe(15_000);
    expect(h.volumeMl).toBe(22_000);
    expect(h.totalMWh).toBe(Math.floor((5_000 * 2_999 * 4186 + 7_000 * 3_000 * 4186) / 3_600_000));
    expect(() => h.addTemperatures(1, 1.5, 0)).toThrow(/flowMilliC/);
    expect(() => h.addTemperatures(1, 0, Number.NaN)).toThrow(/returnMilliC/);
    expect(() => h.add(-1, 1)).toThrow(/volumeMl/);
    // Too large for one exact step: refused, nothing counted.
    const before = h.totalMWh;
    expect(() => h.add(Number.MAX_SAFE_INTEGER, 2)).toThrow(RangeError);
    expect(h.totalMWh).toBe(before);
  });
});

describe('offline heat meter (purse 04)', () => {
  it('takes the heat purse, meters heat, closes its valve when the credit runs out, writes every step', async () => {
    const cm = await newMeter({ meter: { commodity: 'heat', start: JULY, tariff: TariffTable.example(10) } });
    expect(cm.slot.purse).toBe(PURSE_HEAT);
    expect(cm.meter.supply.kind).toBe('valve');
    const card = subscriber(cm.issuer, { balance: 5_000 });
    const o = await cm.slot.insert(card.os);
    cm.slot.remove();
    expect(o).toMatchObject({ accepted: true, amount: 5_000, purse: PURSE_HEAT });
    expect(purseBalance(card, PURSE_HEAT)).toBe(0);
    for (const other of [PURSE_ELECTRICITY, PURSE_GAS]) expect(purseBalance(card, other)).toBe(5_000);

    // 10 L a minute cooled from 70 °C to 40 °C (≈ 20.9 kW), minute by minute, while the valve is open.
    const heat = new HeatCalculator();
    const exhausted = cm.meter.events.count('credit-exhausted'); // once at power-up, the SVM empty
    expect(cm.meter.supply.connected).toBe(true);
    let minutes = 0;
    while (cm.meter.supply.connected && minutes < 24 * 60) {
      await cm.meter.advance(cm.meter.now + 60, heat.addTemperatures(10_000, 70_000, 40_000));
      minutes++;
    }
    expect(cm.meter.supply.connected).toBe(false);
    expect(cm.meter.events.count('credit-exhausted')).toBe(exhausted + 1);
    // It ran past 16:00 (the 300 % hours were metered) and closed before midnight.
    expect(minutes).toBeGreaterThan(16 * 60);
    expect(minutes).toBeLessThan(24 * 60);
    expect(cm.meter.total).toBe(heat.totalMWh);
    expect(meterSide(cm)).toBe(5_000); // the SVM handed out all it took from the card, no more

    // Another card: the reading goes onto it, every step with its own register; the valve reopens.
    const next = subscriber(cm.issuer, { csn: CSN2, balance: 2_000 });
    const o2 = await cm.slot.insert(next.os);
    expect(o2).toMatchObject({ accepted: true, amount: 2_000, readings: { written: true } });
    expect(cm.meter.supply.connected).toBe(true);
    const raw = readCardRecord(next, 4, 4); // heat is the card's 4th purse
    expect(verifyOfflineReading(cm.issuer, CSN2, raw.data)).toBe(true);
    expect(verifyOfflineReading(cm.issuer, CSN, raw.data)).toBe(false);
    const r = OfflineReading.decode(raw.data);
    const steps = cm.meter.readings().steps;
    expect(r.purse).toBe(PURSE_HEAT);
    expect(r.stepPercents).toEqual([50, 75, 100, 200, 300]);
    expect(r.stepRegisters).toEqual(steps.map((s) => s.total));
    expect(r.stepRegisters.every((wh) => wh > 0)).toBe(true);
    // 14–16 h at 300 %: 120 min × 10 L × 30 K × 4186 J/(L·K) = 150.696 MJ = 41 860 Wh (±1: carried mWh).
    expect(Math.abs(r.stepRegisters[4]! - 41_860)).toBeLessThanOrEqual(1);
    expect(r.cumulative).toBe(Math.floor(heat.totalMWh / 1000)); // Wh of heat
    const sum = r.stepRegisters.reduce((a, b) => a + b, 0);
    expect(r.cumulative - sum).toBeGreaterThanOrEqual(0);
    expect(r.cumulative - sum).toBeLessThan(5); // each step's register is truncated to whole Wh
    expect(r.unitCharge).toBe(10);
  });
});
