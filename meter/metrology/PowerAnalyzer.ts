import { Adc } from './Adc.js';
import { EnergyRegister } from './EnergyRegister.js';

/** Largest window: keeps every sum of code products an exact integer in a double (2^34 · 2^18 = 2^52). */
export const MAX_WINDOW = 1 << 18;

/** How the current stands to the voltage. */
export type PhaseRelation = 'lagging' | 'leading' | 'in-phase' | 'no-load';

/** One analysed window. Floating point is used for the signal math only; `energyMJ` is the integer quantity that goes on. */
export interface PowerReading {
  readonly samples: number;
  readonly seconds: number;
  readonly vrms: number;
  readonly irms: number;
  /** Real power, W (mean of v·i: includes harmonics). Negative = reverse flow. */
  readonly realW: number;
  /** Apparent power Vrms·Irms, VA. */
  readonly apparentVA: number;
  /** True power factor realW / apparentVA (0 when there is no current). */
  readonly powerFactor: number;
  /** Measured fundamental frequency, Hz. */
  readonly frequencyHz: number;
  /** Phase of the fundamental voltage minus that of the fundamental current, degrees in (−180, 180]: positive = current lags. */
  readonly phaseDeg: number;
  /** cos(phase): the displacement power factor of the fundamentals. */
  readonly displacementPf: number;
  /** Reactive power of the fundamentals, var (positive = inductive). */
  readonly reactiveVar: number;
  readonly relation: PhaseRelation;
  /** Energy power flowed backwards in this window. */
  readonly reverse: boolean;
  /** Energy of the window in integer milli-joules (signed), rounding residue carried to the next window. */
  readonly energyMJ: number;
}

/** Options of the analyser. */
export interface PowerAnalyzerOptions {
  sampleRateHz: number;
  voltage: Adc;
  current: Adc;
  /** Used when a window holds fewer than two voltage zero crossings. Default 50. */
  nominalHz?: number;
  /** Phase within ±this many degrees counts as in phase. Default 0.5. */
  inPhaseDeg?: number;
  /** Below this rms current the phase is not judged ('no-load'). Default 0.05 A. */
  noLoadA?: number;
}

/**
 * The electric power consumption operating circuit of seed 000 (Fig. 5 item 9): multiplies V-ADC
 * by I-ADC samples, gives real and apparent power, and "compares the phase of the voltage with the
 * phase of the current". Works window by window on the raw integer codes; windows need not hold a
 * whole number of cycles.
 *
 * Phase: the frequency is measured from the voltage's rising zero crossings (linear
 * interpolation); then the fundamental of both channels is taken with a single-bin DFT at exactly
 * that frequency under a Hann window, which keeps leakage from harmonics and from a fractional
 * cycle count small; the phase difference of the two phasors is the displacement angle.
 *
 * Energy: the exact window energy (Σ v·i · Δt) is rounded to integer mJ with the rounding residue
 * carried into the next window, and added to an `EnergyRegister` (integer mWh, remainder carried).
 */
export class PowerAnalyzer {
  readonly sampleRateHz: number;
  readonly voltage: Adc;
  readonly current: Adc;
  readonly nominalHz: number;
  readonly inPhaseDeg: number;
  readonly noLoadA: number;
  readonly register = new EnergyRegister();
  #residualMJ = 0;

  /** @throws RangeError / TypeError naming the option. */
  constructor(o: PowerAnalyzerOptions) {
    if (!(o.sampleRateHz > 0) || !Number.isFinite(o.sampleRateHz))
      throw new RangeError(`sampleRateHz must be positive, got ${o.sampleRateHz}`);
    if (!(o.voltage instanceof Adc) || !(o.current instanceof Adc))
      throw new TypeError('voltage and current must be Adc');
    this.sampleRateHz = o.sampleRateHz;
    this.voltage = o.voltage;
    this.current = o.current;
    this.nominalHz = o.nominalHz ?? 50;
    this.inPhaseDeg = o.inPhaseDeg ?? 0.5;
    this.noLoadA = o.noLoadA ?? 0.05;
    if (!(this.nominalHz > 0) || this.nominalHz >= this.sampleRateHz / 2)
      throw new RangeError(`nominalHz must be above 0 and below half the sample rate, got ${this.nominalHz}`);
  }

  /**
   * Analyses one window of simultaneous V and I codes and adds its energy to `register`.
   * @throws RangeError when the lengths differ, a window is empty or longer than MAX_WINDOW, or a
   * code is outside its ADC's range.
   */
  analyse(v: Int32Array, i: Int32Array): PowerReading {
    if (!(v instanceof Int32Array) || !(i instanceof Int32Array))
      throw new TypeError('v and i must be Int32Array');
    const n = v.length;
    if (n !== i.length) throw new RangeError(`v and i must have the same length, got ${n} and ${i.length}`);
    if (n < 2 || n > MAX_WINDOW) throw new RangeError(`window must hold 2…${MAX_WINDOW} samples, got ${n}`);
    const V = this.voltage;
    const I = this.current;
    let svv = 0;
    let sii = 0;
    let svi = 0;
    for (let k = 0; k < n; k++) {
      const a = v[k]!;
      const b = i[k]!;
      if (a > V.maxCode || a < V.minCode) throw new RangeError(`v[${k}] = ${a} is outside the V-ADC range`);
      if (b > I.maxCode || b < I.minCode) throw new RangeError(`i[${k}] = ${b} is outside the I-ADC range`);
      svv += a * a;
      sii += b * b;
      svi += a * b;
    }
    const vrms = Math.sqrt(svv / n) * V.lsb;
    const irms = Math.sqrt(sii / n) * I.lsb;
    const realW = (svi / n) * V.lsb * I.lsb;
    const apparentVA = vrms * irms;
    const seconds = n / this.sampleRateHz;

    const exact = realW * seconds * 1000 + this.#residualMJ;
    const energyMJ = Math.round(exact);
    this.#residualMJ = exact - energyMJ;
    this.register.addMilliJoules(energyMJ);

    const f = this.#frequency(v);
    const w = (2 * Math.PI * f) / this.sampleRateHz;
    // Single-bin DFT with a Hann window, by rotating phasor (cos/sin recurrence, renormalised).
    let vr = 0;
    let vi = 0;
    let ir = 0;
    let ii = 0;
    let wsum = 0;
    let c = 1;
    let s = 0;
    const cw = Math.cos(w);
    const sw = Math.sin(w);
    for (let k = 0; k < n; k++) {
      const win = 0.5 - 0.5 * Math.cos((2 * Math.PI * k) / (n - 1));
      const a = v[k]! * win;
      const b = i[k]! * win;
      vr += a * c;
      vi -= a * s;
      ir += b * c;
      ii -= b * s;
      wsum += win;
      const c2 = c * cw - s * sw;
      s = s * cw + c * sw;
      c = c2;
      if ((k & 1023) === 1023) {
        const m = Math.hypot(c, s);
        c /= m;
        s /= m;
      }
    }
    const vPeak = (2 * Math.hypot(vr, vi) * V.lsb) / wsum;
    const iPeak = (2 * Math.hypot(ir, ii) * I.lsb) / wsum;
    let relation: PhaseRelation;
    let phaseDeg = 0;
    if (irms < this.noLoadA || iPeak === 0 || vPeak === 0) relation = 'no-load';
    else {
      let d = Math.atan2(vi, vr) - Math.atan2(ii, ir);
      while (d <= -Math.PI) d += 2 * Math.PI;
      while (d > Math.PI) d -= 2 * Math.PI;
      phaseDeg = (d * 180) / Math.PI;
      relation = Math.abs(phaseDeg) <= this.inPhaseDeg ? 'in-phase' : phaseDeg > 0 ? 'lagging' : 'leading';
    }
    const rad = (phaseDeg * Math.PI) / 180;
    return {
      samples: n,
      seconds,
      vrms,
      irms,
      realW,
      apparentVA,
      powerFactor: apparentVA > 0 ? realW / apparentVA : 0,
      frequencyHz: f,
      phaseDeg,
      displacementPf: Math.cos(rad),
      reactiveVar: relation === 'no-load' ? 0 : ((vPeak * iPeak) / 2) * Math.sin(rad),
      relation,
      reverse: realW < 0,
      energyMJ,
    };
  }

  /** Frequency from rising zero crossings of the voltage (with a small hysteresis against noise). */
  #frequency(v: Int32Array): number {
    const hyst = Math.max(2, Math.round(0.02 * Math.sqrt(this.#meanSquare(v))));
    let first = -1;
    let last = -1;
    let count = 0;
    let armed = false;
    for (let k = 1; k < v.length; k++) {
      const a = v[k - 1]!;
      const b = v[k]!;
      if (b < -hyst) armed = true;
      if (armed && a < 0 && b >= 0) {
        const t = k - 1 + -a / (b - a);
        if (first < 0) first = t;
        last = t;
        count++;
        armed = false;
      }
    }
    if (count < 2) return this.nominalHz;
    return ((count - 1) * this.sampleRateHz) / (last - first);
  }

  #meanSquare(v: Int32Array): number {
    let s = 0;
    for (let k = 0; k < v.length; k++) s += v[k]! * v[k]!;
    return s / v.length;
  }
}
