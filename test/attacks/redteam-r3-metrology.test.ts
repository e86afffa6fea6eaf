/**
 * Red team R3: metrology of the offline heat and hot-water meters at their field maxima and
 * thresholds, and what the readings record (SFI 04, meter/cardslot/offlineReadings.ts) says when
 * the registers saturate; a configuration at u32 max or 0; a 16-step tariff and a 1-step one.
 * All held (no fix needed): the tests stay as regressions.
 */
import { describe, expect, it } from 'vitest';
import { OfflineReading } from '../../card/applets/purse/offline.js';
import { Meter } from '../../meter/Meter.js';
import { offlineReading } from '../../meter/cardslot/offlineReadings.js';
import { HEAT_DELTA_THETA_MIN_MK, HeatCalculator } from '../../meter/metrology/HeatCalculator.js';
import { HOT_WATER_MIN_MILLI_C, HotWaterCalculator } from '../../meter/metrology/HotWaterCalculator.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import { TariffTable } from '../../protocol/TariffTable.js';
import { MemoryCreditRegister } from '../meter/MemoryCreditRegister.js';

const U32 = 0xffff_ffff;
const start = RtcTime.of(2026, 11, 23, 0);
const ctx = { purse: 4, sequence: 1, state: { configVersion: 0, flags: 0 }, ktVersion: 1 };

/** Sixteen steps of 90 minutes each, step k at k·90 min, percents 50, 70, … 350. */
function sixteenSteps(unitCharge = 100): TariffTable {
  const day = Array.from({ length: 16 }, (_, k) => ({ from: k * 90, to: (k + 1) * 90, step: k }));
  return TariffTable.create({
    unitCharge,
    steps: Array.from({ length: 16 }, (_, k) => 50 + 20 * k),
    seasons: [{ fromMonth: 1, toMonth: 12, weekday: day, weekend: day, holiday: day }],
  });
}

async function meter(commodity: 'heat' | 'hot water', tariff: TariffTable, credit = 1e12): Promise<Meter> {
  const m = new Meter(
    { start, commodity, tariff, meterId: Uint8Array.of(0, 4, 0x56) },
    new MemoryCreditRegister(credit),
  );
  await m.service();
  return m;
}

describe('red team R3: heat and hot-water thresholds', () => {
  it('Δθ exactly at Δθmin (3 K) is in range; 1 mK below is counted apart; ΔT < 0 gives no heat', () => {
    const h = new HeatCalculator();
    h.add(1000, HEAT_DELTA_THETA_MIN_MK);
    expect(h.belowMinMl).toBe(0);
    h.add(1000, HEAT_DELTA_THETA_MIN_MK - 1);
    expect(h.belowMinMl).toBe(1000);
    const before = h.totalMWh;
    expect(h.addTemperatures(5000, 40_000, 45_000)).toBe(0); // return warmer than flow
    expect([h.totalMWh, h.belowMinMl, h.volumeMl]).toEqual([before, 6000, 7000]);
    // a sample with zero volume changes nothing, at any ΔT
    const carry = h.carry;
    expect(h.add(0, 80_000)).toBe(0);
    expect([h.carry, h.volumeMl]).toEqual([carry, 7000]);
  });

  it('a product beyond 2^53 is refused whole: no register moves (split it)', () => {
    const h = new HeatCalculator();
    h.add(1234, 20_000);
    const s = [h.totalMWh, h.carry, h.volumeMl, h.belowMinMl];
    expect(() => h.add(U32, U32)).toThrow(RangeError);
    expect([h.totalMWh, h.carry, h.volumeMl, h.belowMinMl]).toEqual(s);
    // u32 litres at 100 K, split: exact against the closed form
    let sum = 0;
    for (let k = 0; k < 1000; k++) sum += h.add(U32, 100);
    expect(sum + s[0]!).toBe(Math.floor((1234 * 20_000 * 4186 + 1000 * U32 * 100 * 4186) / 3_600_000));
  });

  it('hot water at exactly 50 °C is billed; 49.999 °C is cold; zero volume is nothing', () => {
    const w = new HotWaterCalculator();
    expect(w.add(700, HOT_WATER_MIN_MILLI_C)).toBe(700);
    expect(w.add(300, HOT_WATER_MIN_MILLI_C - 1)).toBe(0);
    expect(w.add(0, 90_000)).toBe(0);
    expect([w.hotMl, w.coldMl]).toEqual([700, 300]);
    expect(() => new HotWaterCalculator(100_001)).toThrow(/minimumMilliC/);
    expect(() => w.add(-1, 60_000)).toThrow(/volumeMl/);
  });
});

describe('red team R3: the readings record at the registers’ maxima', () => {
  it('a heat register past u32 Wh saturates the record at 2^32 - 1 (never wraps to a small number)', async () => {
    const m = await meter('heat', TariffTable.flat(1));
    m.step(m.now + 60, (U32 + 5) * 1000); // mWh: u32 Wh and 5 more
    const r = offlineReading(m, ctx);
    expect([r.cumulative, r.sinceLastCredit, r.stepRegisters[0]]).toEqual([U32, U32, U32]);
    const back = OfflineReading.decode(r.encode());
    expect(back.cumulative).toBe(U32);
    // one more minute: still saturated, not wrapped (the utility flags cumulative-saturated)
    m.step(m.now + 60, 1_000_000);
    expect(offlineReading(m, ctx).cumulative).toBe(U32);
  });

  it('a 16-step tariff keeps every step in the record; a 1-step one keeps one', async () => {
    const m = await meter('hot water', sixteenSteps());
    for (let k = 0; k < 24 * 60; k++) m.step(m.now + 60, 1000); // 1 L a minute, whole day
    const r = offlineReading(m, ctx);
    expect(r.stepRegisters).toEqual(Array(16).fill(90));
    expect(r.stepPercents).toEqual(Array.from({ length: 16 }, (_, k) => 50 + 20 * k));
    expect(r.cumulative).toBe(1440);
    const back = OfflineReading.decode(r.encode());
    expect(back.stepRegisters).toEqual(r.stepRegisters);
    const one = await meter('heat', TariffTable.flat(80));
    one.step(one.now + 60, 7000);
    expect(offlineReading(one, ctx)).toMatchObject({
      stepRegisters: [7],
      stepPercents: [100],
      cumulative: 7,
    });
  });

  it('a configuration at u32 max is taken on a 16-step table; unit charge 0 changes nothing', async () => {
    const m = await meter('heat', sixteenSteps(100));
    m.applyOfflineConfig({ emergencyCredit: U32, unitCharge: U32 });
    expect(m.schedule.active.unitCharge).toBe(U32);
    expect(m.schedule.active.steps).toHaveLength(16);
    const charged = m.exchanger.charged;
    m.step(m.now + 60, 1_000_000); // 1 kWh at step 0 (50 %) of 2^32-1: beyond 2^53 in the product
    expect(m.exchanger.charged - charged).toBe(Number((1_000_000n * BigInt(U32) * 50n) / 100_000_000n));
    expect(() => m.applyOfflineConfig({ emergencyCredit: 0, unitCharge: 0 })).toThrow(/unitCharge/);
    expect(() => m.applyOfflineConfig({ emergencyCredit: U32 + 1, unitCharge: 1 })).toThrow(
      /emergencyCredit/,
    );
    expect(m.schedule.active.unitCharge).toBe(U32);
    expect(offlineReading(m, ctx).unitCharge).toBe(U32);
  });

  it('an emergency-credit limit of 2^32 - 1: granted, used past 2^31 units, recorded exactly or clamped, never wrapped', async () => {
    const m = await meter('heat', TariffTable.flat(1_000_000), 0);
    m.applyOfflineConfig({ emergencyCredit: U32, unitCharge: 1_000_000 });
    expect(m.pressEmergencyCredit()).toBe(true);
    expect(m.exchanger.emergencyLeft).toBe(U32);
    // 3.5 MWh of heat at 1 000 000 per kWh (100 %): 3.5·10^9 units of emergency credit used
    m.step(m.now + 60, 3_500_000_000);
    expect(m.exchanger.emergencyOwed).toBe(3_500_000_000);
    const r = offlineReading(m, ctx);
    expect(r.emergencyUsed).toBe(3_500_000_000); // above i32, within u32: exact
    expect(r.cumulative).toBe(3_500_000); // Wh
    expect(OfflineReading.decode(r.encode()).emergencyUsed).toBe(3_500_000_000);
    // credit = left − owed = (2^32 − 1 − 3.5·10^9) − 3.5·10^9 < −2^31: the signed field is clamped
    expect(m.exchanger.credit).toBe(U32 - 7_000_000_000);
    expect(m.readings().balance).toBe(-0x8000_0000);
  });
});
