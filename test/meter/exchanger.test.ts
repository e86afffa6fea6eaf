import { describe, expect, it } from 'vitest';
import { Meter, type MeterOptions } from '../../meter/Meter.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import { TariffTable } from '../../protocol/TariffTable.js';
import { TokenExchanger } from '../../meter/TokenExchanger.js';
import { MemoryCreditRegister } from './MemoryCreditRegister.js';

/** Flat 100 units per kWh: 100 000 mWh (one minute at 6 kW) costs 10 units. */
const TEN_UNITS = 100_000;

function meterWith(reg: MemoryCreditRegister, start: RtcTime, extra: Partial<MeterOptions> = {}): Meter {
  return new Meter(
    {
      start,
      tariff: TariffTable.flat(100),
      exchanger: { lowCreditThreshold: 200, emergencyCredit: 300, retrySeconds: 600 },
      ...extra,
    },
    reg,
  );
}

/** Runs `minutes` one-minute steps of `q` mWh each. */
async function run(m: Meter, minutes: number, q: number): Promise<void> {
  for (let k = 0; k < minutes; k++) await m.advance(m.now + 60, m.supply.connected ? q : 0);
}

/** No unit created or lost: what the register gave = what was paid (less what is owed) + what is still in the meter. */
function conserved(m: Meter, reg: MemoryCreditRegister): void {
  const ex = m.exchanger;
  expect(reg.granted).toBe(ex.drawn);
  expect(ex.drawn).toBe(ex.charged - ex.debt - ex.emergencyOwed + ex.token + ex.tank);
}

const monday10 = RtcTime.of(2026, 11, 23, 10);

describe('token exchanger: tank of 10-unit tokens refilled by 100-unit requests', () => {
  it('draws 100 units at a time and pays 10-unit tokens from the tank', async () => {
    const reg = new MemoryCreditRegister(10_000);
    const m = meterWith(reg, monday10);
    await m.service();
    expect(reg.requests).toEqual([100]);
    expect(m.exchanger.tank).toBe(100);
    await m.advance(m.now + 60, TEN_UNITS / 2); // 5 units: one token taken, 5 left in it
    expect(m.exchanger.token).toBe(5);
    expect(m.exchanger.tank).toBe(90);
    await run(m, 100, 1.5 * TEN_UNITS); // 15 units a minute
    expect(m.exchanger.charged).toBe(5 + 1500);
    expect(reg.requests.every((u) => u === 100)).toBe(true);
    expect(m.exchanger.tank).toBeLessThanOrEqual(100);
    expect(m.exchanger.token).toBeLessThanOrEqual(10);
    // One request at power-up, then one each time the tank ran dry: 1505 units → 16 requests.
    expect(reg.requests.length).toBe(16);
    conserved(m, reg);
    expect(m.events.entries().filter((e) => e.kind !== 'low-credit')).toEqual([]);
  });

  it('carries fractions of a unit, so tiny loads are billed in full', async () => {
    const reg = new MemoryCreditRegister(10_000);
    const m = meterWith(reg, monday10);
    await m.service();
    await run(m, 1000, 333); // 333 mWh a minute = 0.0333 units
    expect(m.exchanger.charged).toBe(Math.floor((333 * 1000 * 100 * 100) / 100_000_000));
    expect(m.exchanger.fraction).toBe((333 * 1000 * 100 * 100) % 100_000_000);
  });

  it('raises last-tokens once, low-credit once, then opens the relay when credit is exhausted', async () => {
    const reg = new MemoryCreditRegister(450);
    const m = meterWith(reg, monday10);
    await m.service();
    await run(m, 60, TEN_UNITS); // 10 units a minute: 450 units last 45 minutes
    const kinds = m.events.entries().map((e) => e.kind);
    expect(kinds.filter((k) => k === 'last-tokens')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'low-credit')).toHaveLength(1);
    expect(kinds.indexOf('low-credit')).toBeLessThan(kinds.indexOf('last-tokens'));
    expect(kinds.slice(-2)).toEqual(['credit-exhausted', 'supply-off']);
    expect(m.supply.connected).toBe(false);
    expect(m.cutoffs).toBe(1);
    const off = m.events.entries().find((e) => e.kind === 'supply-off')!;
    expect(off.at).toBe(monday10.seconds + 45 * 60);
    expect(m.display().state).toBe('off-credit');
    conserved(m, reg);
  });

  it('a top-up repays the debt first and closes the relay again', async () => {
    const reg = new MemoryCreditRegister(95);
    const m = meterWith(reg, monday10);
    await m.service();
    await run(m, 10, TEN_UNITS); // 100 units consumed, 95 available: 5 owed, relay open
    expect(m.supply.connected).toBe(false);
    expect(m.exchanger.debt).toBe(5);
    reg.credit(1000);
    await m.notifyCredit();
    expect(m.supply.connected).toBe(true);
    expect(m.exchanger.debt).toBe(0);
    expect(m.exchanger.tank + m.exchanger.token).toBe(95);
    expect(m.events.entries().map((e) => e.kind)).toContain('debt-repaid');
    expect(m.events.entries().map((e) => e.kind)).toContain('credit-restored');
    conserved(m, reg);
    expect(reg.balanceUnits + reg.granted).toBe(1095);
  });

  it('emergency credit is granted when low, keeps the supply on, and is repaid first', async () => {
    const reg = new MemoryCreditRegister(100);
    const m = meterWith(reg, monday10);
    await m.service();
    await run(m, 12, TEN_UNITS);
    expect(m.supply.connected).toBe(false);
    expect(m.pressEmergencyCredit()).toBe(true);
    expect(m.supply.connected).toBe(true);
    expect(m.display().state).toBe('emergency-credit');
    await run(m, 5, TEN_UNITS);
    expect(m.exchanger.emergencyOwed).toBe(50);
    expect(m.exchanger.emergencyLeft).toBe(250);
    expect(m.pressEmergencyCredit()).toBe(false); // outstanding: refused and recorded
    reg.credit(1000);
    await m.notifyCredit();
    expect(m.exchanger.emergencyOwed).toBe(0);
    expect(m.exchanger.emergencyActive).toBe(false);
    expect(m.exchanger.tank + m.exchanger.token).toBe(50);
    const kinds = m.events.entries().map((e) => e.kind);
    expect(kinds).toEqual(
      expect.arrayContaining(['emergency-granted', 'emergency-refused', 'emergency-repaid']),
    );
    conserved(m, reg);
    expect(reg.granted).toBe(200);
  });

  it('emergency credit taken while the register still holds a little is spent only after it, and survives routine refills', async () => {
    const reg = new MemoryCreditRegister(150);
    const m = meterWith(reg, monday10);
    await m.service(); // tank 100, register 50: credit 150 < 200
    expect(m.pressEmergencyCredit()).toBe(true);
    await run(m, 15, TEN_UNITS); // 150 units: the tank, then the register's last 50
    expect(reg.balanceUnits).toBe(0);
    expect(m.exchanger.emergencyLeft).toBe(300);
    expect(m.exchanger.emergencyOwed).toBe(0);
    await run(m, 3, TEN_UNITS);
    expect(m.exchanger.emergencyOwed).toBe(30);
    expect(m.supply.connected).toBe(true);
    reg.credit(500);
    await m.notifyCredit();
    expect(m.exchanger.emergencyActive).toBe(false);
    expect(m.exchanger.tank + m.exchanger.token).toBe(70);
    conserved(m, reg);
  });

  it('the emergency switch does nothing while credit is above the threshold', async () => {
    const reg = new MemoryCreditRegister(5000);
    const m = meterWith(reg, monday10);
    await m.service();
    expect(m.pressEmergencyCredit()).toBe(false);
    expect(m.exchanger.emergencyLeft).toBe(0);
  });

  it('friendly night hours keep the relay closed; debt accrues and is repaid first', async () => {
    const reg = new MemoryCreditRegister(1000);
    const m = meterWith(reg, RtcTime.of(2026, 11, 23, 21), {
      friendly: { nightFrom: 22 * 60, nightTo: 7 * 60 },
    });
    await m.service();
    await run(m, 2 * 60, TEN_UNITS); // 21:00 → 23:00, 10 units a minute; credit runs out at 22:40
    expect(m.supply.connected).toBe(true);
    expect(m.display().state).toBe('friendly-credit');
    expect(m.display().debt).toBe(200);
    await run(m, 8 * 60, TEN_UNITS); // → 07:00
    expect(m.supply.connected).toBe(false);
    const off = m.events.entries().find((e) => e.kind === 'supply-off')!;
    expect(RtcTime.fromSeconds(off.at).toString()).toBe('261124070000');
    const fd = m.events.entries().find((e) => e.kind === 'friendly-debt')!;
    expect(RtcTime.fromSeconds(fd.at).toString()).toBe('261123224000');
    expect(m.exchanger.debt).toBe(500 * 10);
    reg.credit(10_000);
    await m.notifyCredit();
    expect(m.exchanger.debt).toBe(0);
    expect(m.supply.connected).toBe(true);
    expect(reg.balanceUnits).toBe(10_000 - 5000 - 100);
    conserved(m, reg);
  });

  it('a refusing credit register is recorded, loses nothing, and is retried', async () => {
    const reg = new MemoryCreditRegister(10_000);
    const m = meterWith(reg, monday10);
    await m.service();
    reg.refuseWith = 0x6982;
    await run(m, 10, TEN_UNITS);
    const refused = m.events.entries().find((e) => e.kind === 'credit-refused')!;
    expect(refused.data).toBe(0x6982);
    expect(m.supply.connected).toBe(false);
    expect(m.display().alarms).toContain('SVM REFUSED');
    expect(reg.balanceUnits).toBe(9900);
    reg.refuseWith = undefined;
    await run(m, 9, TEN_UNITS);
    expect(m.supply.connected).toBe(false); // retry is due 600 s after the refusal
    await run(m, 1, TEN_UNITS);
    expect(m.supply.connected).toBe(true);
    expect(m.now - refused.at).toBe(600);
    conserved(m, reg);
    expect(reg.balanceUnits + reg.granted).toBe(10_000);
  });

  it('an invalid grant counts as a refusal', async () => {
    const m = new Meter(
      { start: monday10, tariff: TariffTable.flat(100) },
      { requestTokens: () => Promise.resolve(Number.NaN), balance: () => Promise.resolve(100) },
    );
    await m.service();
    expect(m.exchanger.registerState).toBe('refused');
    expect(m.events.count('credit-refused')).toBe(1);
    expect(m.exchanger.tank).toBe(0);
  });

  it('rejects bad options and arguments with RangeError naming them', () => {
    const reg = new MemoryCreditRegister(0);
    expect(() => new TokenExchanger(reg, { tokenSize: 0 })).toThrow(/tokenSize/);
    expect(() => new TokenExchanger(reg, { requestSize: 1.5 })).toThrow(/requestSize/);
    const ex = new TokenExchanger(reg);
    expect(() => ex.consume(-1, 100, 100)).toThrow(/quantity/);
    expect(() => ex.consume(1.5, 100, 100)).toThrow(/quantity/);
    expect(() => ex.consume(1, 100, 0.5)).toThrow(/percent/);
    expect(() => ex.pay(Number.NaN)).toThrow(/units/);
    ex.consume(2 ** 40, 2 ** 20, 1000); // beyond 2^53: exact through BigInt
    expect(ex.charged).toBe(Number((2n ** 40n * 2n ** 20n * 1000n) / 100_000_000n));
  });
});
