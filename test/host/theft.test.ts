import { describe, expect, it } from 'vitest';
import { detect, robustZ } from '../../host/theft/TheftDetector.js';
import { FLAG_BYPASS, FLAG_LOAD_VOLTAGE_RELAY_OPEN } from '../../protocol/constants.js';

const steady = [10_000, 10_400, 9_800, 10_100, 9_900, 10_200, 10_050];
const honest = (id: string, wh = 10_000) => ({ meterId: id, energyWh: wh, flags: 0, history: steady });

describe('theft and anomaly detection', () => {
  it('an honest LS within line losses is not flagged', () => {
    const r = detect(4, 41_500, [honest('A'), honest('B'), honest('C'), honest('D')]);
    expect(r.unaccountedWh).toBe(1_500);
    expect(r.unaccountedPermille).toBe(36);
    expect(r.feederFlagged).toBe(false);
    expect(r.meters).toEqual([]);
  });

  it('a bypassed meter: the feeder sees more than the meters, and the meter drops below its history', () => {
    const r = detect(4, 41_000, [
      honest('A'),
      honest('B'),
      honest('C'),
      { meterId: 'D', energyWh: 1_200, flags: FLAG_BYPASS, history: steady },
    ]);
    expect(r.feederFlagged).toBe(true);
    expect(r.unaccountedPermille).toBe(239);
    expect(r.meters).toHaveLength(1);
    expect(r.meters[0]!.meterId).toBe('D');
    expect(r.meters[0]!.reasons).toEqual(['bypass sensor', 'consumption far below its history']);
    expect(r.meters[0]!.zScore!).toBeLessThan(-4);
  });

  it('load voltage with the relay open is flagged even when energy looks normal', () => {
    const r = detect(1, 20_500, [honest('A'), { ...honest('B'), flags: FLAG_LOAD_VOLTAGE_RELAY_OPEN }]);
    expect(r.meters).toHaveLength(1);
    expect(r.meters[0]).toMatchObject({ meterId: 'B', reasons: ['load voltage while the relay is open'] });
    expect(Math.abs(r.meters[0]!.zScore!)).toBeLessThan(1);
  });

  it('meters reporting more than the feeder (a broken CT or meter) is flagged too', () => {
    expect(detect(1, 10_000, [honest('A', 12_000)]).feederFlagged).toBe(true);
  });

  it('robust z ignores one outlier in the history and needs enough days', () => {
    expect(Math.abs(robustZ(10_000, [...steady, 90_000])!)).toBeLessThan(1);
    expect(detect(1, 100, [{ meterId: 'N', energyWh: 100, flags: 0, history: [5, 6] }]).meters).toEqual([]);
    expect(() => detect(1, -1, [])).toThrow(RangeError);
  });
});
