import { describe, expect, it } from 'vitest';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { ConsumptionLog, LOG_ENCODED_SIZE } from '../../protocol/ConsumptionLog.js';
import { RtcTime } from '../../protocol/RtcTime.js';

const start = RtcTime.of(2026, 1, 31, 23).seconds;

function fill(log: ConsumptionLog, from: number, minutes: number, q: number): void {
  for (let k = 0; k < minutes; k++) {
    log.add(q);
    log.advanceTo(from + (k + 1) * 60);
  }
}

describe('ConsumptionLog (NVM ring buffers)', () => {
  it('keeps 16-bit minute entries in 10 mWh with the remainder carried, daily and monthly Wh totals', () => {
    const log = new ConsumptionLog(start);
    fill(log, start, 60 + 2 * 1440, 12_345);
    const minutes = log.minutes();
    expect(minutes.length).toBe(1440);
    expect(new Set(minutes)).toEqual(new Set([1234, 1235]));
    // The last closed day's 1440 entries plus the carry are that day's consumption in 10 mWh.
    const sum = minutes.reduce((a, b) => a + b, 0);
    expect(Math.abs(sum * 10 - 1440 * 12_345)).toBeLessThan(10);
    // 23:00–24:00 on 31 January, then two full days of 17 776 800 mWh with 700 then 500 mWh carried in.
    expect([...log.days()]).toEqual([740, 17_777, 17_777]);
    expect([...log.months()]).toEqual([740]);
  });

  it('saturates a minute at 65535 counts and keeps the day exact', () => {
    const log = new ConsumptionLog(start);
    fill(log, start, 2, 700_000);
    expect([...log.minutes()]).toEqual([65535, 65535]);
    expect(log.saturated).toBe(2);
    fill(log, start + 120, 58, 0);
    expect([...log.days()]).toEqual([1400]);
  });

  it('keeps only the last 7 days and 12 months', () => {
    const log = new ConsumptionLog(RtcTime.of(2026, 1, 1).seconds);
    const t0 = RtcTime.of(2026, 1, 1).seconds;
    for (let d = 0; d < 400; d++) {
      log.add(1000 * (d + 1));
      log.advanceTo(t0 + (d + 1) * 86_400);
    }
    expect([...log.days()]).toEqual([394, 395, 396, 397, 398, 399, 400]);
    expect(log.months().length).toBe(12);
    const jan2027 = Array.from({ length: 31 }, (_, k) => 366 + k).reduce((a, b) => a + b, 0);
    expect(log.months()[11]).toBe(jan2027);
  });

  it('skipping whole days at once (outage, clock jump) gives the same log as minute by minute', () => {
    const a = new ConsumptionLog(start);
    const b = new ConsumptionLog(start);
    fill(a, start, 77, 12_345);
    fill(b, start, 77, 12_345);
    const end = start + 77 * 60 + 3 * 86_400 + 4321;
    a.advanceTo(end);
    for (let t = start + 77 * 60 + 60; t <= end; t += 60) b.advanceTo(t);
    expect(a.encode()).toEqual(b.encode());
    expect([...a.days()]).toEqual([740, 210, 0, 0]); // 31 Jan 23:00–24:00, 1 Feb (17 minutes), 2 and 3 Feb
  });

  it('round-trips its byte encoding (the host usage-check "Log")', () => {
    const log = new ConsumptionLog(start);
    fill(log, start, 100, 5_000);
    const b = log.encode();
    expect(b.length).toBe(LOG_ENCODED_SIZE);
    const v = ConsumptionLog.decode(b);
    expect(v.at.seconds).toBe(start + 6000);
    expect([...v.minutes]).toEqual([...log.minutes()]);
    expect([...v.days]).toEqual([...log.days()]);
    expect([...v.months]).toEqual([...log.months()]);
    expect(v.minuteUnit).toBe(10);
    expect(v.totalUnit).toBe(1000);
  });

  it('rejects malformed encodings with offsets', () => {
    const b = new ConsumptionLog(start).encode();
    const bad = (mut: (x: Uint8Array) => Uint8Array, offset: number) => {
      try {
        ConsumptionLog.decode(mut(b.slice()));
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(MalformedDataError);
        expect((e as MalformedDataError).offset).toBe(offset);
      }
    };
    bad((x) => x.subarray(0, 100), 100);
    bad((x) => ((x[0] = 2), x), 0);
    bad((x) => ((x[11] = 0x06), (x[12] = 0xa1), x), 11);
    bad((x) => ((x[2893] = 8), x), 2893);
    bad((x) => ((x[2] = 0x13), x), 2); // month 13 in the RTC stamp
  });
});
