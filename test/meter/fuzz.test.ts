import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { ClockBackwardsError, MeterStateError, TariffTableError } from '../../meter/errors.js';
import { EventLog } from '../../meter/events/EventLog.js';
import { ConsumptionLog } from '../../protocol/ConsumptionLog.js';
import { Meter } from '../../meter/Meter.js';
import { MeterReadings } from '../../meter/MeterReadings.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import { TariffChange } from '../../meter/tariff/TariffSchedule.js';
import { TariffTable } from '../../protocol/TariffTable.js';
import { MemoryCreditRegister } from './MemoryCreditRegister.js';

type Op =
  | { k: 'step'; seconds: number; q: number; cover: boolean; reverse: boolean; load: boolean }
  | { k: 'emergency' }
  | { k: 'topUp'; units: number }
  | { k: 'creditEntered'; ref: number }
  | { k: 'refuse'; on: boolean }
  | { k: 'failBalance'; on: boolean }
  | { k: 'clock'; delta: number }
  | { k: 'tariff'; delay: number; corrupt: number; value: number }
  | { k: 'power'; outage: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      k: fc.constant('step' as const),
      seconds: fc.oneof(fc.constant(60), fc.integer({ min: 1, max: 900 })),
      q: fc.integer({ min: 0, max: 400_000 }),
      cover: fc.boolean(),
      reverse: fc.boolean(),
      load: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('emergency' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('topUp' as const), units: fc.integer({ min: 0, max: 3000 }) }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('creditEntered' as const), ref: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('refuse' as const), on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('failBalance' as const), on: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('clock' as const), delta: fc.integer({ min: -7200, max: 7200 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('tariff' as const),
      delay: fc.integer({ min: -600, max: 3600 }),
      corrupt: fc.integer({ min: -1, max: 200 }),
      value: fc.integer({ min: 0, max: 255 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('power' as const), outage: fc.integer({ min: 0, max: 200_000 }) }),
  },
);

const TYPED = [ClockBackwardsError, MalformedDataError, TariffTableError, MeterStateError];

describe('meter under random operations', () => {
  it('never loses or creates a unit, keeps the supply rules, and throws only typed errors', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 3000 }),
        fc.array(op, { maxLength: 80 }),
        async (initial, ops) => {
          const reg = new MemoryCreditRegister(initial);
          let credited = 0;
          const m = new Meter(
            {
              start: RtcTime.of(2026, 11, 20, 20),
              tariff: TariffTable.example(100, [{ month: 11, day: 21 }]),
              friendly: { nightFrom: 23 * 60, nightTo: 6 * 60, holidays: true },
              exchanger: { emergencyCredit: 200, lowCreditThreshold: 150, retrySeconds: 300 },
              eventCapacity: 64,
            },
            reg,
          );
          await m.service();
          for (const o of ops) {
            try {
              switch (o.k) {
                case 'step':
                  if (!m.powered) {
                    expect(() => m.step(m.now + o.seconds, o.q)).toThrow(MeterStateError);
                    break;
                  }
                  await m.advance(m.now + o.seconds, m.supply.connected ? o.q : 0, {
                    coverOpen: o.cover,
                    reverseFlow: o.reverse,
                    loadSideVoltage: o.load,
                  });
                  // Supply rules hold right after a step.
                  expect(!m.supply.connected).toBe(m.exchanger.exhausted && !m.friendlyNow);
                  break;
                case 'emergency':
                  m.pressEmergencyCredit();
                  break;
                case 'topUp':
                  reg.credit(o.units);
                  credited += o.units;
                  if (m.powered) await m.notifyCredit();
                  break;
                case 'creditEntered':
                  if (m.powered) await m.creditEntered(o.ref);
                  break;
                case 'refuse':
                  reg.refuseWith = o.on ? 0x6985 : undefined;
                  break;
                case 'failBalance':
                  reg.failBalance = o.on;
                  break;
                case 'clock':
                  m.setClock(m.now + o.delta);
                  break;
                case 'tariff': {
                  const b = new TariffChange(
                    RtcTime.fromSeconds(m.now + o.delay),
                    o.value % 2 ? TariffTable.flat(100 + o.value) : TariffTable.example(o.value + 1),
                  ).encode();
                  if (o.corrupt >= 0 && o.corrupt < b.length) b[o.corrupt] = o.value;
                  m.loadTariffBytes(b);
                  break;
                }
                case 'power':
                  if (m.powered) m.powerFail();
                  else m.powerRestore(m.now + o.outage);
                  break;
              }
            } catch (e) {
              if (!TYPED.some((t) => e instanceof t)) throw e;
            }
            const ex = m.exchanger;
            expect(reg.granted).toBe(ex.drawn);
            expect(ex.drawn).toBe(ex.charged - ex.debt - ex.emergencyOwed + ex.token + ex.tank);
            expect(reg.balanceUnits + reg.granted).toBe(initial + credited);
            expect(ex.debt).toBeGreaterThanOrEqual(0);
            expect(m.events.size).toBeLessThanOrEqual(64);
          }
          // Everything the meter encodes can be decoded.
          expect(ConsumptionLog.decode(m.log.encode()).minutes.length).toBe(m.log.minutes().length);
          expect(EventLog.decode(m.events.encode()).entries).toEqual(m.events.entries());
          expect(MeterReadings.decode(m.readings().encode()).total).toBe(Math.floor(m.total / 1000));
          expect(m.byStep.reduce((a, b) => a + b, 0)).toBe(m.total);
        },
      ),
      { numRuns: 150 },
    );
  });
});
