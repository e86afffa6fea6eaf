import { describe, expect, it } from 'vitest';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { renderDisplay } from '../../meter/Display.js';
import { ClockBackwardsError, MeterStateError, TariffTableError } from '../../meter/errors.js';
import { EventLog } from '../../meter/events/EventLog.js';
import { FriendlyHours } from '../../meter/FriendlyHours.js';
import { Meter } from '../../meter/Meter.js';
import { MeterReadings, READING_FLAGS } from '../../meter/MeterReadings.js';
import { HeatCalculator } from '../../meter/metrology/HeatCalculator.js';
import { PulseCounter } from '../../meter/metrology/PulseCounter.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import { TariffChange } from '../../meter/tariff/TariffSchedule.js';
import { TariffTable } from '../../protocol/TariffTable.js';
import { ConsumptionLog } from '../../protocol/ConsumptionLog.js';
import { MemoryCreditRegister } from './MemoryCreditRegister.js';

const start = RtcTime.of(2026, 11, 23, 10);

async function powered(
  units = 100_000,
  tariff = TariffTable.flat(100),
): Promise<{ m: Meter; reg: MemoryCreditRegister }> {
  const reg = new MemoryCreditRegister(units);
  const m = new Meter({ start, tariff, meterId: new Uint8Array([0x12, 0x34, 0x56]) }, reg);
  await m.service();
  return { m, reg };
}

describe('Meter: tamper and supply events with RTC timestamps', () => {
  it('records cover open/closed and reverse flow on each change only', async () => {
    const { m } = await powered();
    await m.advance(m.now + 60, 1000, { coverOpen: true });
    await m.advance(m.now + 60, 1000, { coverOpen: true });
    await m.advance(m.now + 60, 0, { coverOpen: false, reverseFlow: true, reverseQuantity: 500 });
    await m.advance(m.now + 60, 0, { reverseFlow: false });
    expect(m.events.entries().map((e) => [e.kind, e.at - start.seconds])).toEqual([
      ['cover-open', 60],
      ['cover-closed', 180],
      ['reverse-flow', 180],
      ['reverse-flow-end', 240],
    ]);
    expect(m.reverseTotal).toBe(500);
    expect(m.total).toBe(2000);
  });

  it('flags theft only when the load side has voltage while the relay is open', async () => {
    const { m } = await powered(50);
    await m.advance(m.now + 60, 0, { loadSideVoltage: true });
    expect(m.events.count('theft-load-voltage')).toBe(0);
    for (let k = 0; k < 10 && m.supply.connected; k++) await m.advance(m.now + 60, 100_000);
    expect(m.supply.connected).toBe(false);
    await m.advance(m.now + 60, 0, { loadSideVoltage: true });
    await m.advance(m.now + 60, 0, { loadSideVoltage: true });
    expect(m.events.count('theft-load-voltage')).toBe(1);
    expect(m.display().alarms).toContain('THEFT');
  });

  it('power failure stops metering; restore logs the outage and fills the minutes with 0', async () => {
    const { m } = await powered();
    await m.advance(m.now + 60, 5000);
    m.powerFail();
    expect(() => m.step(m.now + 60, 1)).toThrow(MeterStateError);
    expect(m.display().state).toBe('power-off');
    m.powerRestore(start.seconds + 60 + 3600);
    const ev = m.events.entries();
    expect(ev.map((e) => e.kind)).toEqual(['power-fail', 'power-restore']);
    expect(ev[1]!.data).toBe(3600);
    expect(ev[1]!.at).toBe(start.seconds + 3660);
    const minutes = m.log.minutes();
    expect(minutes.length).toBe(61);
    expect(minutes[0]).toBe(500);
    expect(minutes.slice(1).every((v) => v === 0)).toBe(true);
    expect(() => m.powerRestore(0)).not.toThrow(); // already powered: nothing happens
  });
});

describe('Meter: clock and tariff commands', () => {
  it('refuses a clock set backwards, records it, and keeps metering', async () => {
    const { m } = await powered();
    await m.advance(m.now + 120, 2000);
    const before = m.now;
    expect(() => m.setClock(before - 30)).toThrow(ClockBackwardsError);
    expect(m.now).toBe(before);
    const e = m.events.entries().at(-1)!;
    expect(e.kind).toBe('clock-backwards-refused');
    expect(e.data).toBe(30);
    await m.advance(m.now + 60, 1000);
    expect(m.total).toBe(3000);
    m.setClock(RtcTime.fromSeconds(m.now + 600));
    expect(m.events.entries().at(-1)!.kind).toBe('clock-set');
    expect(m.events.entries().at(-1)!.data).toBe(600);
  });

  it("the host's authenticated correction sets a fast clock back: recorded, nothing metered rewound", async () => {
    const { m } = await powered();
    await m.advance(m.now + 600, 6000);
    const fast = m.now;
    const logBefore = m.log.encode();
    expect(m.correctClock(fast - 150)).toEqual({ from: fast, to: fast - 150 });
    expect(m.now).toBe(fast - 150);
    expect(m.events.entries().at(-1)).toEqual({ at: fast - 150, kind: 'clock-set-back', data: 150 });
    expect(m.log.encode()).toEqual(logBefore); // the log keeps its open minute
    expect(m.flags & READING_FLAGS['clock-backwards-refused']).toBe(0); // not a refusal
    // metering goes on from the corrected clock; every mWh is counted once
    await m.advance(m.now + 60, 1000);
    await m.advance(m.now + 600, 4000);
    expect(m.total).toBe(11_000);
    await m.advance(m.now + 1200, 0); // every minute closed
    const log = ConsumptionLog.decode(m.log.encode());
    expect(log.minutes.reduce((s, v) => s + v, 0) * log.minuteUnit).toBe(11_000);
    // forward is the ordinary clock-set
    expect(m.correctClock(m.now + 30).to).toBe(m.now);
    expect(m.events.entries().at(-1)).toMatchObject({ kind: 'clock-set', data: 30 });
    expect(() => m.correctClock(-1)).toThrow(RangeError);
    // every other caller is still refused going back
    expect(() => m.setClock(m.now - 1)).toThrow(ClockBackwardsError);
  });

  it('applies a new table exactly at its activation second and splits the minute across it', async () => {
    const { m } = await powered(100_000, TariffTable.flat(100, 100));
    const act = start.seconds + 90;
    m.loadTariffBytes(new TariffChange(RtcTime.fromSeconds(act), TariffTable.flat(100, 300)).encode());
    await m.advance(m.now + 60, 600_000); // 10:00–10:01, all at 100 %
    const charged1 = m.exchanger.charged;
    expect(charged1).toBe(60);
    await m.advance(m.now + 60, 600_000); // 10:01–10:02: 30 s at 100 %, 30 s at 300 %
    expect(m.exchanger.charged - charged1).toBe(30 + 90);
    const kinds = m.events.entries().map((e) => [e.kind, e.at]);
    expect(kinds).toEqual([
      ['tariff-loaded', start.seconds],
      ['tariff-activated', act],
    ]);
    expect(m.schedule.active.steps).toEqual([300]);
  });

  it('rejects a malformed or invalid tariff change, records it, and keeps the old table', async () => {
    const { m } = await powered();
    const good = new TariffChange(
      RtcTime.fromSeconds(start.seconds + 60),
      TariffTable.flat(100, 200),
    ).encode();
    expect(() => m.loadTariffBytes(good.subarray(0, 10))).toThrow(MalformedDataError);
    const gap = good.slice();
    gap[gap.length - 3 * 6 + 1 + 2 + 1] = 0; // weekday interval ends at 1280 instead of 1440
    expect(() => m.loadTariffBytes(gap)).toThrow(TariffTableError);
    expect(m.events.count('tariff-rejected')).toBe(2);
    expect(m.schedule.active.steps).toEqual([100]);
    expect(m.schedule.pending).toBeUndefined();
  });

  it('commissioning sets identity, tariff and emergency value, zeroes registers, loads test credit', async () => {
    const { m, reg } = await powered();
    await m.advance(m.now + 60, 60_000);
    m.commission({
      meterId: new Uint8Array([1, 2, 3]),
      tariff: TariffTable.example(120),
      emergencyCredit: 700,
      initialCredit: 25,
      time: RtcTime.of(2026, 12, 1),
    });
    expect(m.total).toBe(0);
    expect(m.exchanger.tank).toBe(25);
    expect(m.exchanger.emergencyCredit).toBe(700);
    expect(m.schedule.active.unitCharge).toBe(120);
    expect(m.events.entries().map((e) => [e.kind, e.data])).toEqual([['commissioned', 25]]);
    expect(m.display().meterId).toBe('010203');
    expect(reg.granted).toBe(100); // the test credit came from the card, not the register
    expect(() =>
      m.commission({
        meterId: new Uint8Array(2),
        tariff: TariffTable.flat(1),
        emergencyCredit: 0,
        initialCredit: 0,
      }),
    ).toThrow(TypeError);
  });

  it('renders the display as text', async () => {
    const { m } = await powered(1000);
    await m.advance(m.now + 60, 50_000); // 3 kW for a minute
    const text = renderDisplay(m.display());
    expect(text).toContain('METER 123456 ELECTRICITY');
    expect(text).toContain('2026-11-23 10:01:00');
    expect(text).toContain('POWER 3000 W  RATE 100%');
    expect(text).toContain('TOTAL 0.050 kWh');
    // 995 euro cents shown as money, in the currency the meter was set up with (default 978, EUR).
    expect(text).toContain('CREDIT 9.95 EUR\n');
    expect(text).not.toContain('CREDIT 995');
    expect(text).toContain('TRANSFER IDLE');
  });

  it("shows credit and debt in the meter's currency, kept across a snapshot; an unknown code as stored", async () => {
    const reg = new MemoryCreditRegister(0);
    const gbp = new Meter({ start, tariff: TariffTable.flat(100), currency: 826 }, reg);
    expect(renderDisplay({ ...gbp.display(), balance: -250, debt: 250 })).toContain(
      'CREDIT -2.50 GBP  OWED 2.50 GBP\n',
    );
    const again = Meter.restore(
      JSON.parse(JSON.stringify(gbp.snapshot())) as ReturnType<Meter['snapshot']>,
      reg,
    );
    expect(again.display().currency).toBe(826);
    // A snapshot written before the display knew its currency was in euro cents.
    const old = { ...gbp.snapshot() } as Record<string, unknown>;
    delete old['currency'];
    expect(Meter.restore(old as ReturnType<Meter['snapshot']>, reg).currency).toBe(978);
    expect(renderDisplay({ ...gbp.display(), currency: 999, balance: 4995 })).toContain(
      'CREDIT 4995 (unit 999)',
    );
    expect(() => new Meter({ start, currency: 1000 }, reg)).toThrow(
      /currency must be an ISO 4217 numeric code/,
    );
  });
});

describe('meter readings for the card (seed 002)', () => {
  it('carries totals per step, since-last-credit figures and indicator flags; a credit entry starts a new period', async () => {
    const { m, reg } = await powered(100_000, TariffTable.example(100));
    // Monday 10:00–11:00 at 200 %, with the cover opened once.
    for (let k = 0; k < 60; k++) await m.advance(m.now + 60, 20_000, { coverOpen: k === 5 });
    m.powerFail();
    m.powerRestore(m.now + 60);
    let r = m.readings();
    expect(r.total).toBe(1200);
    expect(r.steps.map((s) => [s.percent, s.total, s.sinceCredit])).toEqual([
      [50, 0, 0],
      [75, 0, 0],
      [100, 0, 0],
      [200, 1200, 1200],
      [300, 0, 0],
    ]);
    expect(r.flagNames()).toEqual(['power-fail', 'cover-open']);
    expect(r.flags).toBe(READING_FLAGS['power-fail'] | READING_FLAGS['cover-open']);
    expect(r.unitCharge).toBe(100);
    expect(r.emergencyLimit).toBe(500);
    expect(r.balance).toBe(100_000 - 240);
    const back = MeterReadings.decode(r.encode());
    expect(back).toEqual(r);
    expect(back.encode()).toEqual(r.encode());

    reg.credit(1000);
    await m.creditEntered(0xdeadbeef);
    await m.advance(m.now + 60, 1_000_000);
    r = m.readings();
    expect(r.reference).toBe(0xdeadbeef);
    expect(r.flags).toBe(0);
    expect(r.steps[3]).toEqual({ percent: 200, total: 2200, sinceCredit: 1000 });
    await expect(m.creditEntered(-1)).rejects.toThrow(RangeError);
  });

  it('rejects malformed readings with offsets', () => {
    const b = new MeterReadings(new Uint8Array(3), 'gas', start, 1, 2, 3, 4, -5, 0, [
      { percent: 100, total: 1, sinceCredit: 1 },
    ]).encode();
    expect(MeterReadings.decode(b).balance).toBe(-5);
    const bad = (mut: (x: Uint8Array) => Uint8Array, offset: number) => {
      try {
        MeterReadings.decode(mut(b.slice()));
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(MalformedDataError);
        expect((e as MalformedDataError).offset).toBe(offset);
      }
    };
    bad((x) => ((x[0] = 9), x), 0);
    bad((x) => ((x[4] = 5), x), 4); // 0..4: electricity, gas, water, heat, hot water (issue 17)
    bad((x) => ((x[33] = 0), x), 33);
    bad((x) => ((x[33] = 2), x), b.length);
    bad((x) => x.subarray(0, 20), 20);
    bad((x) => ((x[6] = 0x13), x), 6);
  });
});

describe('event log', () => {
  it('is bounded, counts what it drops, and round-trips its encoding', () => {
    const log = new EventLog(3);
    for (let k = 0; k < 5; k++) log.record(start.seconds + k, 'cover-open', k);
    expect(log.size).toBe(3);
    expect(log.dropped).toBe(2);
    expect(log.count('cover-open')).toBe(5);
    expect(log.entries().map((e) => e.data)).toEqual([2, 3, 4]);
    const d = EventLog.decode(log.encode());
    expect(d.dropped).toBe(2);
    expect(d.entries).toEqual(log.entries());
    const b = log.encode();
    b[7 + 6] = 0xee;
    expect(() => EventLog.decode(b)).toThrow(MalformedDataError);
    expect(() => EventLog.decode(b.subarray(0, 10))).toThrow(MalformedDataError);
  });
});

describe('friendly hours', () => {
  it('covers nights across midnight, weekends and holidays as configured', () => {
    const f = new FriendlyHours({ nightFrom: 22 * 60, nightTo: 7 * 60, weekends: true, holidays: false });
    expect(f.isFriendly(23 * 60, 'weekday')).toBe(true);
    expect(f.isFriendly(6 * 60 + 59, 'weekday')).toBe(true);
    expect(f.isFriendly(7 * 60, 'weekday')).toBe(false);
    expect(f.isFriendly(12 * 60, 'weekend')).toBe(true);
    expect(f.isFriendly(12 * 60, 'holiday')).toBe(false);
    expect(() => new FriendlyHours({ nightFrom: 1440 })).toThrow(RangeError);
  });
});

describe('offline gas, water and heat meters', () => {
  it('a gas meter debits volume from its credit and closes its valve when exhausted', async () => {
    const reg = new MemoryCreditRegister(300); // e.g. transferred from the card's gas purse
    const m = new Meter({ start, commodity: 'gas', tariff: TariffTable.flat(1000) }, reg); // 1000 units per m³
    await m.service();
    const pulses = new PulseCounter(10_000); // 10 L per pulse
    for (let k = 0; k < 60 && m.supply.connected; k++) await m.advance(m.now + 60, pulses.add(1));
    expect(m.supply.kind).toBe('valve');
    expect(m.supply.connected).toBe(false);
    expect(m.total).toBe(30 * 10_000); // 300 units = 0.3 m³ = 30 pulses
    expect(renderDisplay(m.display())).toContain('valve CLOSED');
    expect(m.events.count('credit-exhausted')).toBe(1);
  });

  it('a heat meter charges integer mWh of heat from flow and ΔT', async () => {
    const reg = new MemoryCreditRegister(1000);
    const m = new Meter({ start, commodity: 'heat', tariff: TariffTable.flat(80) }, reg);
    await m.service();
    const heat = new HeatCalculator();
    const flow = new PulseCounter(1000); // 1 L per pulse
    for (let k = 0; k < 60; k++) await m.advance(m.now + 60, heat.add(flow.add(5), 15_000)); // 5 L/min cooled by 15 K
    expect(m.total).toBe(heat.totalMWh);
    expect(heat.totalMWh).toBe(Math.floor((300_000 * 15_000 * 4186) / 3_600_000));
    expect(m.exchanger.charged).toBe(Math.floor((heat.totalMWh * 80 * 100) / 100_000_000));
    expect(m.supply.kind).toBe('valve');
  });

  it('heat = volume × ΔT × 4186 J/(L·K) in integer mWh, remainders carried', () => {
    const one = new HeatCalculator();
    // 1 m³ cooled by 20 K: 4186 × 1000 × 20 J = 83.72 MJ = 23 255.555… Wh
    expect(one.add(1_000_000, 20_000)).toBe(23_255_555);
    const many = new HeatCalculator();
    let sum = 0;
    for (let k = 0; k < 1000; k++) sum += many.add(1000, 20_000);
    expect(sum).toBe(23_255_555);
    expect(many.carry).toBe(one.carry);
    expect(new HeatCalculator().add(1000, -5000)).toBe(0);
    expect(() => new HeatCalculator().add(1.5, 1)).toThrow(RangeError);
    expect(() => new PulseCounter(0)).toThrow(RangeError);
  });
});

describe('wiring', () => {
  it('serialises concurrent service calls, so the tank is filled once', async () => {
    const reg = new MemoryCreditRegister(10_000);
    const m = new Meter({ start, tariff: TariffTable.flat(100) }, reg);
    await Promise.all([m.service(), m.service(), m.notifyCredit()]);
    expect(reg.requests).toEqual([100]);
    expect(m.exchanger.tank).toBe(100);
  });

  it('registers one meter per child container', async () => {
    const { register, diMeter } = await import('../../meter/tokens.js'); // loads reflect-metadata first
    const { container } = await import('tsyringe');
    const a = register(container.createChildContainer(), {
      meter: { start },
      credit: new MemoryCreditRegister(1),
    });
    const b = register(container.createChildContainer(), {
      meter: { start },
      credit: new MemoryCreditRegister(2),
    });
    const ma = a.resolve<Meter>(diMeter);
    expect(a.resolve<Meter>(diMeter)).toBe(ma);
    expect(b.resolve<Meter>(diMeter)).not.toBe(ma);
    expect(ma).toBeInstanceOf(Meter);
  });
});
