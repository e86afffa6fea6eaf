import { describe, expect, it } from 'vitest';
import { CURRENCY_EUR, currencyCode, formatMoney } from '../../protocol/index.js';
import { DAY_SECONDS, RtcTime } from '../../protocol/index.js';
import { EventRuns } from '../../cli/demo/EventRuns.js';
import { describeMeterData } from '../../cli/MeterDataText.js';

describe('formatMoney: integers of minor units shown in their ISO 4217 currency', () => {
  it.each([
    [4995, CURRENCY_EUR, '49.95 EUR'],
    [5, 978, '0.05 EUR'],
    [0, 978, '0.00 EUR'],
    [-9490, 978, '-94.90 EUR'],
    [-5, 978, '-0.05 EUR'],
    [500000, 826, '5000.00 GBP'],
    [1234, 840, '12.34 USD'],
    [500, 392, '500 JPY'],
    [-7, 392, '-7 JPY'],
    [4995, 999, '4995 (unit 999)'],
    [-1, 0, '-1 (unit 0)'],
  ])('%i in unit %i → %s', (amount, unit, text) => {
    expect(formatMoney(amount, unit)).toBe(text);
  });

  it('knows the alphabetic codes it names, and refuses amounts that are not integers', () => {
    expect(currencyCode(978)).toBe('EUR');
    expect(currencyCode(999)).toBeUndefined();
    expect(() => formatMoney(1.5, 978)).toThrow(/amount must be a safe integer/);
    expect(() => formatMoney(1, Number.NaN)).toThrow(/unit must be a safe integer/);
  });
});

describe('EventRuns: a run of one repeated event is told once', () => {
  const t0 = RtcTime.of(2026, 11, 18, 15, 10).seconds;
  const morning = RtcTime.of(2026, 11, 19, 7).seconds;

  it('says the first, counts the rest, and says when they came and why when the run ends', () => {
    const lines: string[] = [];
    const runs = new EventRuns((l) => lines.push(l));
    runs.event(t0 - 3600, 'low-credit warning');
    runs.event(t0, 'credit exhausted: relay open', (_f, _l, daily) => `daily ${daily ?? 'no'}`);
    for (let d = 0; d < 5; d++) runs.event(morning + d * DAY_SECONDS, 'credit exhausted: relay open');
    runs.event(morning + 5 * DAY_SECONDS + 60, 'low-credit warning');
    runs.flush();
    expect(lines).toEqual([
      '2026-11-18 14:10:00 low-credit warning',
      '2026-11-18 15:10:00 credit exhausted: relay open',
      '2026-11-19 07:00:00 … 2026-11-23 07:00:00 credit exhausted: relay open — 5 more times, every day at 07:00 (daily 07:00)',
      '2026-11-24 07:01:00 low-credit warning',
    ]);
  });

  it('one repeat is "once more"; irregular repeats are counted without "every day"; a line ends a run', () => {
    const lines: string[] = [];
    const runs = new EventRuns((l) => lines.push(l));
    runs.event(t0, 'x');
    runs.event(t0 + 60, 'x');
    runs.line('-- a section --');
    runs.event(t0 + 120, 'x');
    runs.event(t0 + 180, 'x');
    runs.event(t0 + 3600, 'x');
    runs.flush();
    runs.flush(); // nothing left to say
    expect(lines).toEqual([
      '2026-11-18 15:10:00 x',
      '2026-11-18 15:11:00 x — once more',
      '-- a section --',
      '2026-11-18 15:12:00 x',
      '2026-11-18 15:13:00 … 2026-11-18 16:10:00 x — 2 more times',
    ]);
  });
});

describe('describeMeterData: the meter data on the card, as a vending point reads it', () => {
  const record = (purse: number) => ({
    meterId: '000242',
    purse,
    dateTime: '2026-11-27 16:12:00',
    cumulative: 13638,
    tariffRegisters: [13638, 0],
    sinceLastCredit: 1500,
    lastTransfer: { kind: 1, ref: '4D500000000010010003' },
    emergencyLimit: 500,
    emergencyUsed: 120,
    tariffPrices: [110, 0],
    events: { powerFailure: false, tamper: true },
  });

  it('gas in m³ and prices per m³; electricity in kWh; money in the purse unit', () => {
    const gas = describeMeterData(record(2), 978);
    expect(gas[0]).toBe('meter data on the card, written by meter 000242 at 2026-11-27 16:12:00:');
    expect(gas[1]).toBe('  cumulative 13.638 m³; per tariff register 13.638 / 0.000 m³');
    expect(gas[2]).toBe('  since the last credit 1.500 m³; last credit: card 4D50000000001001 counter 3');
    expect(gas[3]).toBe(
      '  emergency credit 5.00 EUR, used 1.20 EUR; prices 1.10 EUR / 0.00 EUR per m³; flags tamper',
    );
    expect(describeMeterData(record(1), 999)[3]).toContain('emergency credit 500 (unit 999)');
    expect(describeMeterData(record(1), 978)[1]).toContain('cumulative 13.638 kWh');
  });
});
