import { describe, expect, it } from 'vitest';
import { Adc, VOLTAGE_RANGES } from '../../meter/metrology/Adc.js';
import { EnergyRegister } from '../../meter/metrology/EnergyRegister.js';
import { PowerAnalyzer, type PowerReading } from '../../meter/metrology/PowerAnalyzer.js';
import { Meter } from '../../meter/Meter.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import { TariffTable } from '../../protocol/TariffTable.js';
import { MemoryCreditRegister } from './MemoryCreditRegister.js';

/** [harmonic order, peak amplitude, phase in degrees] of a sin(h·ωt + phase) component. */
type Component = readonly [number, number, number];

interface Case {
  range: 117 | 220 | 240;
  bits: 16 | 20;
  fs: number;
  f: number;
  window: number;
  seconds: number;
  v: Component[];
  i: Component[];
}

/** Samples the two signals through the ADC models and analyses them window by window. */
function run(c: Case): { readings: PowerReading[]; analyzer: PowerAnalyzer; expectedJ: number } {
  const V = Adc.voltage(c.range);
  const I = Adc.current(c.bits);
  const analyzer = new PowerAnalyzer({
    sampleRateHz: c.fs,
    voltage: V,
    current: I,
    nominalHz: Math.round(c.f / 10) * 10,
  });
  const total = Math.round(c.seconds * c.fs);
  const readings: PowerReading[] = [];
  const rad = Math.PI / 180;
  const at = (comps: Component[], t: number) =>
    comps.reduce((s, [h, a, p]) => s + a * Math.sin(2 * Math.PI * h * c.f * t + p * rad), 0);
  for (let n0 = 0; n0 < total; n0 += c.window) {
    const len = Math.min(c.window, total - n0);
    const v = new Int32Array(len);
    const i = new Int32Array(len);
    for (let k = 0; k < len; k++) {
      const t = (n0 + k) / c.fs;
      v[k] = V.quantise(at(c.v, t));
      i[k] = I.quantise(at(c.i, t));
    }
    readings.push(analyzer.analyse(v, i));
  }
  // Mean power of the two sums of sinusoids: Σ over matching orders of A·B/2·cos(φ − ψ).
  let p = 0;
  for (const [h, a, pv] of c.v)
    for (const [g, b, pi] of c.i) if (h === g) p += ((a * b) / 2) * Math.cos((pv - pi) * rad);
  return { readings, analyzer, expectedJ: p * (total / c.fs) };
}

const rms = (x: number) => x * Math.SQRT2;

describe('PowerAnalyzer on synthetic sinusoids', () => {
  const cases: [string, Case, number, string][] = [
    [
      '230 V / 20 A on the 240 V range, 16-bit I-ADC, 50.3 Hz, current lagging 30°, harmonics, 10.06 cycles per window',
      {
        range: 240,
        bits: 16,
        fs: 4000,
        f: 50.3,
        window: 800,
        seconds: 60,
        v: [
          [1, rms(230), 0],
          [3, rms(230) * 0.03, 40],
          [5, rms(230) * 0.02, -70],
        ],
        i: [
          [1, rms(20), -30],
          [3, rms(20) * 0.15, 10],
          [5, rms(20) * 0.08, 100],
          [7, rms(20) * 0.04, 0],
        ],
      },
      30,
      'lagging',
    ],
    [
      '117 V / 2 A, 20-bit I-ADC, 59.7 Hz, current leading 45°, 7.46 cycles per window',
      {
        range: 117,
        bits: 20,
        fs: 7680,
        f: 59.7,
        window: 960,
        seconds: 30,
        v: [
          [1, rms(117), 10],
          [3, rms(117) * 0.04, 0],
        ],
        i: [
          [1, rms(2), 55],
          [5, rms(2) * 0.1, 20],
        ],
      },
      -45,
      'leading',
    ],
    [
      '220 V / 60 A resistive, 20-bit, 49.8 Hz, 5.9 cycles per window',
      {
        range: 220,
        bits: 20,
        fs: 3000,
        f: 49.8,
        window: 355,
        seconds: 30,
        v: [[1, rms(220), 0]],
        i: [
          [1, rms(60), 0],
          [3, rms(60) * 0.2, 180],
        ],
      },
      0,
      'in-phase',
    ],
  ];

  it.each(cases)('%s', (_name, c, phase, relation) => {
    const { readings, analyzer, expectedJ } = run(c);
    const mWh = analyzer.register.importMWh + analyzer.register.importRemainderMJ / 3600;
    const expectedMWh = expectedJ / 3.6;
    expect(Math.abs(mWh - expectedMWh) / expectedMWh).toBeLessThan(0.001);
    for (const r of readings.slice(0, -1)) {
      expect(Math.abs(r.phaseDeg - phase)).toBeLessThan(0.1);
      expect(r.relation).toBe(relation);
      expect(Math.abs(r.frequencyHz - c.f)).toBeLessThan(0.01);
      expect(r.reverse).toBe(false);
      expect(r.powerFactor).toBeLessThanOrEqual(1);
    }
    // A window of a fractional number of cycles has rms ripple; over the whole run it averages out.
    const n = readings.reduce((s, r) => s + r.samples, 0);
    const vAll = Math.sqrt(readings.reduce((s, r) => s + r.vrms ** 2 * r.samples, 0) / n);
    const iAll = Math.sqrt(readings.reduce((s, r) => s + r.irms ** 2 * r.samples, 0) / n);
    const vr = Math.sqrt(c.v.reduce((s, [, a]) => s + (a * a) / 2, 0));
    const ir = Math.sqrt(c.i.reduce((s, [, a]) => s + (a * a) / 2, 0));
    expect(Math.abs(vAll - vr) / vr).toBeLessThan(0.001);
    expect(Math.abs(iAll - ir) / ir).toBeLessThan(0.001);
    expect(Math.abs(readings[0]!.displacementPf - Math.cos((phase * Math.PI) / 180))).toBeLessThan(0.002);
  });

  it('detects reverse energy flow and keeps it out of the import register', () => {
    const { readings, analyzer, expectedJ } = run({
      range: 240,
      bits: 16,
      fs: 4000,
      f: 50,
      window: 800,
      seconds: 10,
      v: [[1, rms(240), 0]],
      i: [[1, rms(10), 160]],
    });
    expect(expectedJ).toBeLessThan(0);
    expect(readings.every((r) => r.reverse)).toBe(true);
    expect(analyzer.register.importMWh).toBe(0);
    const exp = -expectedJ / 3.6;
    expect(Math.abs(analyzer.register.exportMWh - exp) / exp).toBeLessThan(0.001);
  });

  it('says no-load when there is no current', () => {
    const { readings } = run({
      range: 220,
      bits: 16,
      fs: 4000,
      f: 50,
      window: 800,
      seconds: 1,
      v: [[1, rms(220), 0]],
      i: [],
    });
    expect(readings[0]!.relation).toBe('no-load');
    expect(readings[0]!.realW).toBe(0);
  });

  it('rejects mismatched or out-of-range windows', () => {
    const a = new PowerAnalyzer({ sampleRateHz: 4000, voltage: Adc.voltage(240), current: Adc.current(16) });
    expect(() => a.analyse(new Int32Array(10), new Int32Array(11))).toThrow(RangeError);
    expect(() => a.analyse(new Int32Array([40000, 0]), new Int32Array(2))).toThrow(/V-ADC/);
    expect(
      () => new PowerAnalyzer({ sampleRateHz: 80, voltage: Adc.voltage(240), current: Adc.current(16) }),
    ).toThrow(/nominalHz/);
    expect(() => Adc.current(18 as 16)).toThrow(RangeError);
  });
});

describe('ADC models and the energy register', () => {
  it('divider ranges keep nominal peaks with headroom inside a 16-bit V-ADC', () => {
    for (const r of [117, 220, 240] as const) {
      const adc = Adc.voltage(r);
      expect(adc.bits).toBe(16);
      expect(VOLTAGE_RANGES[r].nominal).toBe(r);
      expect(adc.fullScale / (r * Math.SQRT2)).toBeGreaterThan(1.25);
      expect(adc.fullScale / (r * Math.SQRT2)).toBeLessThan(1.35);
    }
    expect(Adc.current(20).fullScale).toBeCloseTo(200, 9); // 20 mV over 0.1 mΩ
    expect(Adc.current(16).quantise(1e6)).toBe(32767);
    expect(Adc.current(16).quantise(-1e6)).toBe(-32768);
  });

  it('counts integer mWh and carries the remainder, so nothing is lost', () => {
    const r = new EnergyRegister();
    for (let k = 0; k < 3600; k++) r.addMilliJoules(1001);
    expect(r.importMWh).toBe(1001);
    expect(r.importRemainderMJ).toBe(0);
    r.addMilliJoules(3599);
    expect(r.importMWh).toBe(1001);
    r.addMilliJoules(1);
    expect(r.importMWh).toBe(1002);
    r.addMilliJoules(-7200);
    expect(r.exportMWh).toBe(2);
    expect(r.takeImportMWh()).toBe(1002);
    expect(r.importMWh).toBe(0);
    expect(() => r.addMilliJoules(0.5)).toThrow(RangeError);
  });
});

describe('metrology feeding the meter', () => {
  it('a minute of samples becomes integer mWh for the token exchanger; reverse flow becomes a tamper event', async () => {
    const fs = 2000;
    const V = Adc.voltage(220);
    const I = Adc.current(20);
    const analyzer = new PowerAnalyzer({ sampleRateHz: fs, voltage: V, current: I });
    const reg = new MemoryCreditRegister(10_000);
    const start = RtcTime.of(2026, 11, 23, 10);
    const meter = new Meter({ start, tariff: TariffTable.flat(100) }, reg);
    await meter.service();
    // Minute 1: 220 V, 10 A in phase (2.2 kW → 36 666.7 mWh). Minute 2: the same power flowing back.
    for (const sign of [1, -1]) {
      let reverse = false;
      for (let w = 0; w < 60; w++) {
        const v = new Int32Array(fs);
        const i = new Int32Array(fs);
        for (let k = 0; k < fs; k++) {
          const t = w + k / fs;
          v[k] = V.quantise(rms(220) * Math.sin(2 * Math.PI * 50 * t));
          i[k] = I.quantise(sign * rms(10) * Math.sin(2 * Math.PI * 50 * t));
        }
        reverse = analyzer.analyse(v, i).reverse || reverse;
      }
      await meter.advance(meter.now + 60, analyzer.register.takeImportMWh(), {
        reverseFlow: reverse,
        reverseQuantity: analyzer.register.takeExportMWh(),
      });
    }
    expect(Math.abs(meter.total - 36_667)).toBeLessThanOrEqual(1);
    expect(Math.abs(meter.reverseTotal - 36_667)).toBeLessThanOrEqual(1);
    expect(meter.exchanger.charged).toBe(Math.floor((meter.total * 100 * 100) / 100_000_000));
    expect(meter.events.entries().map((e) => [e.kind, e.at - start.seconds])).toEqual([
      ['reverse-flow', 120],
    ]);
  });
});
