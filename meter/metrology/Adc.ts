/**
 * The analog front end of seed 000 Fig. 5: a voltage divider (item 6) bringing 117, 220 or 240 V
 * into a 16-bit V-ADC (item 7), and a 0.1 mΩ manganin shunt (item 2) read by a 16- or 20-bit
 * I-ADC (item 8). Modelled as ideal bipolar ADCs: a code is round(x / LSB), clamped to the code range.
 */

/** V-ADC input full scale, volts peak (a typical metering ADC input range). */
export const V_ADC_INPUT_PEAK = 0.5;
/** The shunt of seed 000 Fig. 5 item 2: 0.1 mΩ. */
export const SHUNT_OHMS = 0.0001;
/** I-ADC input full scale, volts peak across the shunt (after its gain stage): 20 mV = 200 A peak. */
export const I_ADC_INPUT_PEAK = 0.02;

/** A voltage range of the divider: R1 (top) over R2 (bottom, 1 kΩ). */
export interface VoltageRange {
  readonly nominal: 117 | 220 | 240;
  readonly r1Ohms: number;
  readonly r2Ohms: number;
}

/**
 * The three divider settings. R1 is picked so that nominal × √2 × 1.3 (30 % headroom for swells
 * and peaks) stays under the V-ADC input full scale of 0.5 V.
 */
export const VOLTAGE_RANGES: Readonly<Record<117 | 220 | 240, VoltageRange>> = Object.freeze({
  117: { nominal: 117, r1Ohms: 430_000, r2Ohms: 1_000 },
  220: { nominal: 220, r1Ohms: 810_000, r2Ohms: 1_000 },
  240: { nominal: 240, r1Ohms: 880_000, r2Ohms: 1_000 },
});

/** An ideal bipolar ADC of `bits` bits whose full-scale code stands for `fullScale` (volts or amperes peak on the line). */
export class Adc {
  readonly bits: number;
  readonly fullScale: number;
  /** Line volts or amperes per code. */
  readonly lsb: number;
  readonly maxCode: number;
  readonly minCode: number;

  /** @throws RangeError naming the parameter. */
  constructor(bits: number, fullScale: number) {
    if (!Number.isInteger(bits) || bits < 8 || bits > 24)
      throw new RangeError(`bits must be an integer 8…24, got ${bits}`);
    if (!(fullScale > 0) || !Number.isFinite(fullScale))
      throw new RangeError(`fullScale must be a positive finite number, got ${fullScale}`);
    this.bits = bits;
    this.fullScale = fullScale;
    this.maxCode = 2 ** (bits - 1) - 1;
    this.minCode = -(2 ** (bits - 1));
    this.lsb = fullScale / 2 ** (bits - 1);
  }

  /** Code for a line value (clamped: an overload reads full scale). */
  quantise(x: number): number {
    const c = Math.round(x / this.lsb);
    return c > this.maxCode ? this.maxCode : c < this.minCode ? this.minCode : c;
  }

  /** Line value of a code. */
  value(code: number): number {
    return code * this.lsb;
  }

  /** The 16-bit V-ADC behind the divider for a voltage range. @throws RangeError for another range. */
  static voltage(range: 117 | 220 | 240): Adc {
    const r = VOLTAGE_RANGES[range];
    if (!r) throw new RangeError(`range must be 117, 220 or 240, got ${String(range)}`);
    return new Adc(16, (V_ADC_INPUT_PEAK * (r.r1Ohms + r.r2Ohms)) / r.r2Ohms);
  }

  /** The 16- or 20-bit I-ADC across the 0.1 mΩ shunt: 200 A peak full scale. @throws RangeError for other widths. */
  static current(bits: 16 | 20): Adc {
    if (bits !== 16 && bits !== 20) throw new RangeError(`bits must be 16 or 20, got ${String(bits)}`);
    return new Adc(bits, I_ADC_INPUT_PEAK / SHUNT_OHMS);
  }
}
