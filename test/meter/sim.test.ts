import { describe, expect, it } from 'vitest';
import { LoadGenerator, LOAD_PROFILES } from '../../meter/sim/LoadProfile.js';
import { Prng } from '../../meter/sim/Prng.js';
import { simulate } from '../../meter/sim/simulate.js';
import { TariffTable } from '../../protocol/TariffTable.js';
import { MemoryCreditRegister } from './MemoryCreditRegister.js';

describe('simulation', () => {
  it('same seed → identical results; different seed → different', async () => {
    const a = await simulate({ days: 14, seed: 42 });
    const b = await simulate({ days: 14, seed: 42 });
    const c = await simulate({ days: 14, seed: 43 });
    expect(b).toEqual(a);
    expect(c.energyWh).not.toBe(a.energyWh);
    expect(c.log.days).not.toEqual(a.log.days);
  });

  it('the seeded generators are reproducible sequences', () => {
    const p = new Prng(7);
    const q = new Prng(7);
    const xs = Array.from({ length: 5 }, () => p.nextU32());
    expect(Array.from({ length: 5 }, () => q.nextU32())).toEqual(xs);
    expect(new Prng(8).nextU32()).not.toBe(xs[0]);
    const g = new LoadGenerator(LOAD_PROFILES.flat!, 1);
    expect(g.watts(0, 1, false)).toBe(500);
  });

  it('a year of a household: energy per step adds up, credit is conserved, logs are full', async () => {
    let reg: MemoryCreditRegister | undefined;
    const r = await simulate({
      days: 365,
      seed: 3,
      useEmergency: false,
      credit: (initial) => {
        reg = new MemoryCreditRegister(initial);
        return { register: reg, topUp: (u) => reg!.credit(u) };
      },
    });
    expect(r.end).toBe('270101000000');
    const stepSum = r.energyByStep.reduce((s, x) => s + x.wh, 0);
    expect(r.energyWh - stepSum).toBeGreaterThanOrEqual(0);
    expect(r.energyWh - stepSum).toBeLessThan(r.energyByStep.length);
    expect(r.energyWh).toBeGreaterThan(1_000_000);
    expect(r.energyByStep.every((s) => s.wh > 0)).toBe(true);
    expect(reg!.granted).toBe(r.creditDrawn);
    // Without emergency credit: everything bought is either charged or still there.
    expect(5000 + r.topUpUnits).toBe(r.creditUsed + r.finalBalance);
    expect(r.log.months.length).toBe(12);
    expect(r.log.days.length).toBe(7);
    expect(r.log.months.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(r.energyWh);
    expect(r.energyWh - r.log.months.reduce((a, b) => a + b, 0)).toBeLessThan(12);
    expect(r.events['last-tokens'] ?? 0).toBe(r.alarms.lastTokens);
    expect(r.cutoffs).toBe(r.events['credit-exhausted'] ?? 0);
  });

  it('a flat load on a flat tariff costs exactly what arithmetic says', async () => {
    const r = await simulate({
      days: 2,
      load: 'flat',
      tariff: TariffTable.flat(100),
      initialCredit: 1_000_000,
      useEmergency: false,
    });
    expect(r.energyWh).toBe(500 * 48); // 500 W for 48 h
    expect(r.creditUsed).toBe(2400); // 24 kWh × 100 units
    expect(r.cutoffs).toBe(0);
  });

  it('rejects bad options', async () => {
    await expect(simulate({ days: 0 })).rejects.toThrow(/days/);
    await expect(simulate({ days: 1, load: 'factory' })).rejects.toThrow(/unknown load profile/);
  });
});
