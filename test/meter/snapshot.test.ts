import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { ClockBackwardsError, MeterStateError } from '../../meter/errors.js';
import { Meter, type MeterSnapshot } from '../../meter/Meter.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import { TariffChange } from '../../meter/tariff/TariffSchedule.js';
import { TariffTable } from '../../protocol/TariffTable.js';
import { MemoryCreditRegister } from './MemoryCreditRegister.js';

type Op =
  | { k: 'step'; seconds: number; q: number; cover: boolean }
  | { k: 'emergency' }
  | { k: 'topUp'; units: number }
  | { k: 'refuse'; on: boolean }
  | { k: 'clock'; delta: number }
  | { k: 'tariff'; delay: number; percent: number }
  | { k: 'power'; outage: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      k: fc.constant('step' as const),
      seconds: fc.oneof(fc.constant(60), fc.integer({ min: 1, max: 5000 })),
      q: fc.integer({ min: 0, max: 500_000 }),
      cover: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('emergency' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('topUp' as const), units: fc.integer({ min: 0, max: 2000 }) }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('refuse' as const), on: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('clock' as const), delta: fc.integer({ min: -600, max: 90_000 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('tariff' as const),
      delay: fc.integer({ min: 0, max: 3600 }),
      percent: fc.integer({ min: 1, max: 1000 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('power' as const), outage: fc.integer({ min: 0, max: 100_000 }) }),
  },
);

async function apply(m: Meter, reg: MemoryCreditRegister, o: Op): Promise<void> {
  try {
    switch (o.k) {
      case 'step':
        await m.advance(m.now + o.seconds, m.supply.connected ? o.q : 0, { coverOpen: o.cover });
        break;
      case 'emergency':
        m.pressEmergencyCredit();
        break;
      case 'topUp':
        reg.credit(o.units);
        await m.notifyCredit();
        break;
      case 'refuse':
        reg.refuseWith = o.on ? 0x6982 : undefined;
        break;
      case 'clock':
        m.setClock(m.now + o.delta);
        break;
      case 'tariff':
        m.loadTariff(new TariffChange(RtcTime.fromSeconds(m.now + o.delay), TariffTable.flat(90, o.percent)));
        break;
      case 'power':
        if (m.powered) m.powerFail();
        else m.powerRestore(m.now + o.outage);
        break;
    }
  } catch (e) {
    if (!(e instanceof ClockBackwardsError || e instanceof MeterStateError)) throw e;
  }
}

function newMeter(reg: MemoryCreditRegister): Meter {
  return new Meter(
    {
      start: RtcTime.of(2026, 3, 1, 21),
      meterId: new Uint8Array([9, 8, 7]),
      tariff: TariffTable.example(100),
      friendly: { nightFrom: 22 * 60, nightTo: 6 * 60, weekends: true },
      exchanger: { emergencyCredit: 150, lowCreditThreshold: 120, retrySeconds: 600 },
      eventCapacity: 32,
    },
    reg,
  );
}

describe('NVM snapshot', () => {
  it('a meter restored from its snapshot (through JSON) behaves exactly like the original from then on', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2000 }),
        fc.array(op, { maxLength: 60 }),
        fc.array(op, { maxLength: 60 }),
        async (initial, before, after) => {
          const regA = new MemoryCreditRegister(initial);
          const a = newMeter(regA);
          await a.service();
          for (const o of before) await apply(a, regA, o);
          const saved = JSON.parse(JSON.stringify(a.snapshot())) as MeterSnapshot;
          const regB = new MemoryCreditRegister(regA.balanceUnits);
          regB.refuseWith = regA.refuseWith;
          const b = Meter.restore(saved, regB);
          expect(b.snapshot()).toEqual(a.snapshot());
          for (const o of after) {
            await apply(a, regA, o);
            await apply(b, regB, o);
          }
          expect(b.snapshot()).toEqual(a.snapshot());
          expect(regB.balanceUnits).toBe(regA.balanceUnits);
          expect(b.log.encode()).toEqual(a.log.encode());
          expect(b.readings().encode()).toEqual(a.readings().encode());
        },
      ),
      { numRuns: 100 },
    );
  });

  it('refuses a damaged snapshot with a typed error naming the field', async () => {
    const reg = new MemoryCreditRegister(500);
    const m = newMeter(reg);
    await m.advance(m.now + 60, 10_000);
    const good = m.snapshot();
    const damaged = (path: string[], value: unknown): MeterSnapshot => {
      const copy = JSON.parse(JSON.stringify(good)) as Record<string, unknown>;
      let o = copy;
      for (const p of path.slice(0, -1)) o = o[p] as Record<string, unknown>;
      o[path[path.length - 1]!] = value;
      return copy as MeterSnapshot;
    };
    expect(() => Meter.restore(damaged(['exchanger', 'tank'], -1), reg)).toThrow(/snapshot\.exchanger\.tank/);
    expect(() => Meter.restore(damaged(['log', 'mHead'], 5000), reg)).toThrow(/snapshot\.log\.mHead/);
    expect(() => Meter.restore(damaged(['events', 'ring'], [{ at: 1, kind: 'nope', data: 0 }]), reg)).toThrow(
      /snapshot\.events\.ring\[0\]\.kind/,
    );
    expect(() => Meter.restore(damaged(['supply', 'reason'], 'credit'), reg)).toThrow(
      /snapshot\.supply\.reason/,
    );
    expect(() => Meter.restore(damaged(['version'], 3), reg)).toThrow(/snapshot\.version/);
    expect(() => Meter.restore(damaged(['tariff'], '0100'), reg)).toThrow(MalformedDataError);
    expect(() => Meter.restore(damaged(['meterId'], 'zz'), reg)).toThrow(/snapshot\.meterId/);
  });
});
