import { MalformedDataError } from './errors.js';
import { decodeHistoricalBytes, type HistoricalBytes } from './historicalBytes.js';
import { fromHex, toHex } from '../util/hex.js';

export type Convention = 'direct' | 'inverse';

/** One group of interface bytes, as written in a description passed to `Atr.build`. */
export interface AtrGroupDescription {
  /** For group i ≥ 2: the protocol type T announced by TD(i-1) (0..15). Absent for group 1. */
  t?: number;
  ta?: number;
  tb?: number;
  tc?: number;
}

/**
 * A lossless plain-object description of an ATR: `Atr.build(d).describe()` deep-equals `d`
 * when `historicalBytes` is upper-case hex and absent bytes are left out (not `undefined`).
 */
export interface AtrDescription {
  convention: Convention;
  /** groups[0] is group 1 (TA1 TB1 TC1); groups[k] (k ≥ 1) is group k+1, announced by TDk. At least one. */
  groups: AtrGroupDescription[];
  /** T1…TK, upper-case hex, 0 to 15 bytes. */
  historicalBytes: string;
}

/** A group of interface bytes as parsed. */
export interface AtrInterfaceGroup {
  /** i, starting at 1. */
  index: number;
  /** T announced by TD(i-1); undefined for group 1. */
  t?: number;
  ta?: number;
  tb?: number;
  tc?: number;
  td?: number;
}

export interface AtrParseOptions {
  /**
   * Accept an ATR whose TCK is present but wrong (reported as `tck.valid === false` and as a
   * warning) instead of rejecting it. Off by default.
   */
  tolerateWrongTck?: boolean;
  /**
   * Accept an ATR that lacks the TCK although a protocol other than T=0 is indicated (seen in
   * the field, e.g. some national eID cards): reported as `tck.present === false`,
   * `tck.valid === false` and as a warning with the value the TCK should have had. Off by default.
   */
  tolerateMissingTck?: boolean;
  /** Both of the above: read what a real card sends, reporting every TCK deviation as a finding. */
  tolerant?: boolean;
}

/** Specific mode announced by TA2 (ISO/IEC 7816-3 §8.3, "TA2"). */
export interface SpecificMode {
  /** The protocol the card works with in specific mode (b4-b1). */
  protocol: number;
  /** b8 = 0: the card is able to change to negotiable mode (after a warm reset). */
  canChangeMode: boolean;
  /** b5 = 1: the etu is implicitly defined, not by Fi/Di of TA1. */
  implicitEtu: boolean;
}

/** T=1 parameters (ISO/IEC 7816-3 §11.4), defaults applied where the ATR is silent. */
export interface T1Parameters {
  /** Information field size for the card (first TA for T=1); default 32. */
  ifsc: number;
  /** Character waiting integer (first TB for T=1, b4-b1); default 13. CWT = 11 + 2^CWI etu. */
  cwi: number;
  /** Block waiting integer (first TB for T=1, b8-b5); default 4. BWT = 11 etu + 2^BWI × 960 × Fd/f. */
  bwi: number;
  /** Character waiting time CWT = 11 + 2^CWI, in etu (§11.4.3). */
  cwtEtu: number;
  /** Error detection code (first TC for T=1, b1): LRC by default. */
  errorDetection: 'LRC' | 'CRC';
  /** Which of the above the ATR states (the others are the ISO defaults). */
  fromAtr: { ifsc: boolean; cwiBwi: boolean; errorDetection: boolean };
}

/** T=15 global parameters (ISO/IEC 7816-3 §8.3): clock stop, class indicator, SPU. */
export interface T15Parameters {
  /** Clock stop indicator X (first TA for T=15, b8-b7); default "not supported". */
  clockStop: 'not supported' | 'state L' | 'state H' | 'no preference';
  /** Classes of operating conditions (b6-b1: b1 A 5 V, b2 B 3 V, b3 C 1.8 V); default A only. */
  classes: ('A' | 'B' | 'C')[];
  /** Class indicator bits set that this standard reserves (b6-b4), as a number. */
  classRfuBits: number;
  /** Standard or proprietary use contact C6 (first TB for T=15); default "not used". */
  spu: 'not used' | 'standard' | 'proprietary';
  /** The SPU byte value, when present. */
  spuValue?: number;
  fromAtr: { ta: boolean; tb: boolean };
}

/** The stable JSON object of `meterpurse atr --json` (documented in docs/atr.md). */
export interface AtrJson {
  atr: string;
  length: number;
  convention: Convention;
  t0: number;
  groups: AtrInterfaceGroup[];
  protocols: number[];
  globalT15: boolean;
  fiIndex: number;
  diIndex: number;
  fi: number | null;
  di: number | null;
  fmax: number | null;
  ta1Present: boolean;
  cyclesPerEtu: number | null;
  baudRateAtFmax: number | null;
  baudRateAt3_5712MHz: number | null;
  n: number;
  guardTimeEtu: { t0: number; t1: number };
  wi: number;
  specificMode: SpecificMode | null;
  t1: T1Parameters | null;
  t15: T15Parameters | null;
  historicalBytes: HistoricalBytes;
  /** `present` false and `valid` false: a required TCK is missing (accepted on request). */
  tck: { present: boolean; value: number | null; valid: boolean };
  warnings: string[];
}

/** Fi by FI index (ISO/IEC 7816-3 Table 7); 0 for RFU. */
export const FI_TABLE: readonly number[] = [
  372, 372, 558, 744, 1116, 1488, 1860, 0, 0, 512, 768, 1024, 1536, 2048, 0, 0,
];
/** f(max) in Hz by FI index (Table 7); 0 for RFU. */
export const FMAX_TABLE: readonly number[] = [
  4e6, 5e6, 6e6, 8e6, 12e6, 16e6, 20e6, 0, 0, 5e6, 7.5e6, 10e6, 15e6, 20e6, 0, 0,
];
/** Di by DI index (Table 8); 0 for RFU. */
export const DI_TABLE: readonly number[] = [0, 1, 2, 4, 8, 16, 32, 64, 12, 20, 0, 0, 0, 0, 0, 0];

/** Longest ATR allowed: TS plus 32 characters (ISO/IEC 7816-3 §8.2.1). */
export const MAX_ATR_LENGTH = 33;
/** A common reader clock, 3.5712 MHz (372 × 9600): Fi=372, Di=1 gives exactly 9600 bit/s. */
export const CLOCK_3_5712_MHZ = 3_571_200;

const TS_DIRECT = 0x3b;
const TS_INVERSE = 0x3f;
const LETTERS = ['A', 'B', 'C', 'D'] as const;
const CLOCK_STOP: readonly T15Parameters['clockStop'][] = [
  'not supported',
  'state L',
  'state H',
  'no preference',
];

function fail(reason: string, offset: number, input: Uint8Array): never {
  throw new MalformedDataError(reason, offset, new Uint8Array(input), 'atr');
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

function hex2(b: number): string {
  return (b < 16 ? '0' : '') + b.toString(16).toUpperCase();
}

function checkByte(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 255)
    throw new RangeError(`${name} must be a byte 0..255, got ${String(value)}`);
  return value;
}

/**
 * Answer-to-Reset (ISO/IEC 7816-3:2006 §8.2):
 *
 * ```
 *  TS   3B direct convention, 3F inverse convention (as delivered by a reader, already decoded)
 *  T0   Y1 (b8-b5: TD1 TC1 TB1 TA1 present) | K (b4-b1: number of historical bytes)
 *  TA1 TB1 TC1 TD1    group 1: global interface bytes
 *  TAi TBi TCi TDi    group i ≥ 2, present because TD(i-1) is; TD(i-1) = Y(i) | T
 *  T1 … TK            historical bytes (at most 15)
 *  TCK                check byte: XOR of T0…TCK is 00; absent only when T=0 alone is indicated
 * ```
 * At most 33 bytes in all (TS + 32), §8.2.1: longer ATRs are rejected.
 *
 * An `Atr` is immutable. `Atr.parse` checks the structure and the TCK only (cheap: one pass,
 * one copy, no regex); every decoded parameter is computed on demand from the kept bytes.
 */
export class Atr {
  readonly #raw: Uint8Array;
  /** Interface bytes by group: index 4(i-1)+k for k = A,B,C,D; -1 when absent. */
  readonly #ib: number[];
  readonly #histStart: number;
  readonly #k: number;
  readonly #tckPresent: boolean;
  readonly #tckValid: boolean;
  /** TCK required (a protocol other than T=0 is indicated) but absent, accepted on request. */
  readonly #tckMissing: boolean;
  #historical: HistoricalBytes | undefined;
  #warnings: readonly string[] | undefined;

  private constructor(
    raw: Uint8Array,
    ib: number[],
    histStart: number,
    k: number,
    tck: boolean,
    valid: boolean,
    missing: boolean,
  ) {
    this.#raw = raw;
    this.#ib = ib;
    this.#histStart = histStart;
    this.#k = k;
    this.#tckPresent = tck;
    this.#tckValid = valid;
    this.#tckMissing = missing;
  }

  /**
   * Parses an ATR as delivered by a reader (TS first; inverse-convention bytes already decoded).
   *
   * Checks, in byte order: TS; T0; every interface byte announced by T0 and the TDi chain; the
   * K historical bytes; TCK presence (required unless only T=0 is indicated) and its XOR; no
   * bytes after the end; the 33-byte limit. The work is bounded by 33 bytes whatever the input.
   *
   * @throws MalformedDataError (kind 'atr') with the offset and the precise reason.
   * @throws TypeError when `bytes` is not a Uint8Array.
   */
  static parse(bytes: Uint8Array, options?: AtrParseOptions): Atr {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
    const len = bytes.length;
    if (len === 0) fail('empty ATR: TS missing', 0, bytes);
    const ts = bytes[0]!;
    if (ts !== TS_DIRECT && ts !== TS_INVERSE) {
      fail(
        ts === 0x03
          ? 'invalid TS 03: this is an inverse-convention ATR read with the direct convention (TS should read 3F)'
          : `invalid TS ${hex2(ts)}: expected 3B (direct convention) or 3F (inverse convention)`,
        0,
        bytes,
      );
    }
    if (len < 2) fail('truncated: T0 missing', 1, bytes);
    const t0 = bytes[1]!;
    const k = t0 & 15;
    let y = t0 >> 4;
    let pos = 2;
    let group = 1;
    let needTck = false;
    const ib: number[] = [];
    while (true) {
      for (let bit = 0; bit < 4; bit++) {
        if ((y & (1 << bit)) === 0) {
          ib.push(-1);
          continue;
        }
        if (pos >= MAX_ATR_LENGTH) {
          fail(
            `too long: T${LETTERS[bit]}${group} would be byte ${pos + 1}, beyond the ${MAX_ATR_LENGTH}-byte maximum (ISO/IEC 7816-3 §8.2.1)`,
            MAX_ATR_LENGTH,
            bytes,
          );
        }
        if (pos >= len) {
          fail(
            `truncated interface bytes: T${LETTERS[bit]}${group} missing (announced by ${group === 1 ? 'T0' : `TD${group - 1}`})`,
            pos,
            bytes,
          );
        }
        ib.push(bytes[pos++]!);
      }
      const td = ib[ib.length - 1]!;
      if (td < 0) break;
      if ((td & 15) !== 0) needTck = true;
      y = td >> 4;
      group++;
    }
    const histStart = pos;
    const end = pos + k;
    const total = needTck ? end + 1 : end;
    if (total > MAX_ATR_LENGTH) {
      // The claim itself is impossible, even when the input stops early: report it at byte 33,
      // or at the end of a shorter input so the offset always lies inside [0, length].
      fail(
        `too long: ${k} historical byte(s)${needTck ? ' and TCK' : ''} would end at byte ${total}, beyond the ${MAX_ATR_LENGTH}-byte maximum (ISO/IEC 7816-3 §8.2.1)`,
        Math.min(MAX_ATR_LENGTH, len),
        bytes,
      );
    }
    if (end > len) {
      fail(`truncated historical bytes: K=${k} announced, ${len - pos} present`, len, bytes);
    }
    let valid = true;
    let missing = false;
    const tolerateWrong = options?.tolerant === true || options?.tolerateWrongTck === true;
    const tolerateMissing = options?.tolerant === true || options?.tolerateMissingTck === true;
    if (needTck && len === end && tolerateMissing) {
      valid = false;
      missing = true;
    } else if (needTck) {
      if (len === end) {
        fail(
          'missing TCK: a protocol other than T=0 is indicated, so TCK is mandatory (ISO/IEC 7816-3 §8.2.5)',
          len,
          bytes,
        );
      }
      if (len > end + 1) fail(`${len - end - 1} trailing byte(s) after TCK`, end + 1, bytes);
      let x = 0;
      for (let i = 1; i < end; i++) x ^= bytes[i]!;
      const found = bytes[end]!;
      if (x !== found) {
        if (!tolerateWrong) {
          fail(`wrong TCK: expected ${hex2(x)}, found ${hex2(found)}`, end, bytes);
        }
        valid = false;
      }
    } else if (len > end) {
      let x = 0;
      for (let i = 1; i < end; i++) x ^= bytes[i]!;
      fail(
        len === end + 1 && x === bytes[end]
          ? 'unexpected TCK: only T=0 is indicated, so TCK must be absent (ISO/IEC 7816-3 §8.2.5)'
          : `${len - end} trailing byte(s) after the historical bytes (only T=0 is indicated: no TCK)`,
        end,
        bytes,
      );
    }
    // Copy through a plain Uint8Array: Buffer#slice would share the caller's memory.
    const raw = new Uint8Array(len);
    raw.set(bytes);
    return new Atr(raw, ib, histStart, k, needTck && !missing, valid, missing);
  }

  /**
   * Parses hex text (spaces and ':' allowed), e.g. `Atr.fromHex('3B 02 14 50')`.
   * @throws MalformedDataError (kind 'hex' for bad text, 'atr' for a bad ATR).
   */
  static fromHex(text: string, options?: AtrParseOptions): Atr {
    return Atr.parse(fromHex(text), options);
  }

  /**
   * Builds an ATR from a description (see `AtrDescription`); TD bytes, T0 and TCK are computed.
   * @throws TypeError / RangeError naming the field when the description is not a valid ATR
   *   (bad byte, T out of 0..15, t on group 1, more than 15 historical bytes, more than 33 bytes).
   */
  static build(description: AtrDescription): Atr {
    if (typeof description !== 'object' || description === null)
      throw new TypeError('description must be an object');
    const { convention, groups, historicalBytes } = description;
    if (convention !== 'direct' && convention !== 'inverse')
      throw new RangeError(`convention must be 'direct' or 'inverse', got ${String(convention)}`);
    if (!Array.isArray(groups) || groups.length === 0)
      throw new RangeError('groups must be a non-empty array (groups[0] is group 1)');
    if (typeof historicalBytes !== 'string' || !/^([0-9A-Fa-f]{2})*$/.test(historicalBytes))
      throw new RangeError('historicalBytes must be hex text with an even number of digits');
    const k = historicalBytes.length / 2;
    if (k > 15) throw new RangeError(`historicalBytes must be at most 15 bytes, got ${k}`);
    const out: number[] = [convention === 'direct' ? TS_DIRECT : TS_INVERSE, 0];
    let yPos = 1; // where the Y nibble of the current group goes (T0, then each TD)
    let needTck = false;
    for (let g = 0; g < groups.length; g++) {
      const grp = groups[g];
      if (typeof grp !== 'object' || grp === null) throw new TypeError(`groups[${g}] must be an object`);
      if (g === 0 && grp.t !== undefined)
        throw new RangeError('groups[0].t must be absent: group 1 has no TD before it');
      if (g > 0) {
        if (typeof grp.t !== 'number' || !Number.isInteger(grp.t) || grp.t < 0 || grp.t > 15)
          throw new RangeError(`groups[${g}].t must be 0..15, got ${String(grp.t)}`);
        if (grp.t !== 0) needTck = true;
        // TD(g) of the previous group: Y nibble filled below, T here.
        out.push(grp.t);
        out[yPos] = out[yPos]! | 0x80;
        yPos = out.length - 1;
      }
      let y = 0;
      if (grp.ta !== undefined) {
        out.push(checkByte(grp.ta, `groups[${g}].ta`));
        y |= 1;
      }
      if (grp.tb !== undefined) {
        out.push(checkByte(grp.tb, `groups[${g}].tb`));
        y |= 2;
      }
      if (grp.tc !== undefined) {
        out.push(checkByte(grp.tc, `groups[${g}].tc`));
        y |= 4;
      }
      out[yPos] = out[yPos]! | (y << 4);
    }
    out[1] = out[1]! | k;
    for (let i = 0; i < k; i++) out.push(parseInt(historicalBytes.slice(2 * i, 2 * i + 2), 16));
    if (needTck) {
      let x = 0;
      for (let i = 1; i < out.length; i++) x ^= out[i]!;
      out.push(x);
    }
    if (out.length > MAX_ATR_LENGTH)
      throw new RangeError(
        `description makes a ${out.length}-byte ATR; at most ${MAX_ATR_LENGTH} are allowed`,
      );
    return Atr.parse(Uint8Array.from(out));
  }

  /** The ATR bytes (a copy). */
  encode(): Uint8Array {
    return this.#raw.slice();
  }

  /** Upper-case hex, no separators. */
  toHex(): string {
    return toHex(this.#raw);
  }

  toString(): string {
    return `Atr(${this.toHex()})`;
  }

  get length(): number {
    return this.#raw.length;
  }

  equals(other: Atr): boolean {
    if (other.#raw.length !== this.#raw.length) return false;
    for (let i = 0; i < this.#raw.length; i++) if (other.#raw[i] !== this.#raw[i]) return false;
    return true;
  }

  /** The lossless description (inverse of `Atr.build`). */
  describe(): AtrDescription {
    const groups: AtrGroupDescription[] = [];
    const n = this.#ib.length >> 2;
    for (let g = 0; g < n; g++) {
      const d: AtrGroupDescription = {};
      if (g > 0) d.t = this.#ib[4 * g - 1]! & 15;
      const a = this.#ib[4 * g]!;
      const b = this.#ib[4 * g + 1]!;
      const c = this.#ib[4 * g + 2]!;
      if (a >= 0) d.ta = a;
      if (b >= 0) d.tb = b;
      if (c >= 0) d.tc = c;
      groups.push(d);
    }
    return { convention: this.convention, groups, historicalBytes: toHex(this.#historicalView()) };
  }

  /** TS: 'direct' (3B) or 'inverse' (3F). */
  get convention(): Convention {
    return this.#raw[0] === TS_DIRECT ? 'direct' : 'inverse';
  }

  get ts(): number {
    return this.#raw[0]!;
  }

  /** Format byte T0 = Y1 | K. */
  get t0(): number {
    return this.#raw[1]!;
  }

  /** Number of historical bytes K (T0 b4-b1). */
  get k(): number {
    return this.#k;
  }

  /** Number of interface byte groups (1 + number of TD bytes). */
  get groupCount(): number {
    return this.#ib.length >> 2;
  }

  /** TAi (i ≥ 1), or undefined when absent. */
  ta(i: number): number | undefined {
    return this.#byte(i, 0);
  }
  /** TBi (i ≥ 1), or undefined when absent. */
  tb(i: number): number | undefined {
    return this.#byte(i, 1);
  }
  /** TCi (i ≥ 1), or undefined when absent. */
  tc(i: number): number | undefined {
    return this.#byte(i, 2);
  }
  /** TDi (i ≥ 1), or undefined when absent. */
  td(i: number): number | undefined {
    return this.#byte(i, 3);
  }

  #byte(i: number, kind: number): number | undefined {
    const v = this.#ib[4 * (i - 1) + kind];
    return v === undefined || v < 0 ? undefined : v;
  }

  /** All interface byte groups with their qualifying T. */
  get groups(): AtrInterfaceGroup[] {
    const out: AtrInterfaceGroup[] = [];
    const n = this.#ib.length >> 2;
    for (let g = 0; g < n; g++) {
      const d: AtrInterfaceGroup = { index: g + 1 };
      if (g > 0) d.t = this.#ib[4 * g - 1]! & 15;
      for (let kind = 0; kind < 4; kind++) {
        const v = this.#ib[4 * g + kind]!;
        if (v >= 0) d[(['ta', 'tb', 'tc', 'td'] as const)[kind]!] = v;
      }
      out.push(d);
    }
    return out;
  }

  /**
   * The first byte of kind (0 A, 1 B, 2 C) in a group i ≥ 3 announced by T = `t`: "the first
   * TA/TB/TC for T=t" (§8.3). Bytes of group 2 never count: TA2, TB2 and TC2 have their own meanings.
   */
  #firstFor(t: number, kind: number): number | undefined {
    const n = this.#ib.length >> 2;
    for (let g = 2; g < n; g++) {
      if ((this.#ib[4 * g - 1]! & 15) !== t) continue;
      const v = this.#ib[4 * g + kind]!;
      if (v >= 0) return v;
    }
    return undefined;
  }

  /**
   * The transmission protocols offered, in the order of the TD bytes, without duplicates and
   * without T=15 (which only qualifies global bytes). No TD1 means T=0 only (§8.2.3).
   */
  get protocols(): number[] {
    const out: number[] = [];
    const n = this.#ib.length >> 2;
    for (let g = 0; g < n; g++) {
      const td = this.#ib[4 * g + 3]!;
      if (td < 0) break;
      const t = td & 15;
      if (t !== 15 && !out.includes(t)) out.push(t);
    }
    if (out.length === 0) out.push(0);
    return out;
  }

  /** True when some TDi (i ≥ 2) indicates T=15, i.e. global interface bytes follow. */
  get globalT15(): boolean {
    const n = this.#ib.length >> 2;
    for (let g = 0; g < n; g++)
      if (this.#ib[4 * g + 3]! >= 0 && (this.#ib[4 * g + 3]! & 15) === 15) return true;
    return false;
  }

  /** FI index (TA1 b8-b5); 1 when TA1 is absent (Fd = 372, f(max) 5 MHz). */
  get fiIndex(): number {
    const ta1 = this.#ib[0]!;
    return ta1 < 0 ? 1 : ta1 >> 4;
  }

  /** DI index (TA1 b4-b1); 1 when TA1 is absent (Dd = 1). */
  get diIndex(): number {
    const ta1 = this.#ib[0]!;
    return ta1 < 0 ? 1 : ta1 & 15;
  }

  /** Clock rate conversion integer Fi (Table 7); 372 when TA1 is absent; undefined when RFU. */
  get fi(): number | undefined {
    return FI_TABLE[this.fiIndex] || undefined;
  }

  /** Baud rate adjustment integer Di (Table 8); 1 when TA1 is absent; undefined when RFU. */
  get di(): number | undefined {
    return DI_TABLE[this.diIndex] || undefined;
  }

  /** f(max) in Hz (Table 7); 5 MHz when TA1 is absent; undefined when RFU. */
  get fmax(): number | undefined {
    return FMAX_TABLE[this.fiIndex] || undefined;
  }

  /**
   * Bit rate in bit/s with Fi/Di at clock `clockHz`: f × Di / Fi (1 etu = Fi / (Di × f)).
   * The default clock is the card's f(max) (so this is the fastest rate the ATR offers); pass
   * `CLOCK_3_5712_MHZ` for the usual reader clock. Undefined when Fi or Di is RFU.
   * @throws RangeError when clockHz is not a positive finite number.
   */
  baudRate(clockHz?: number): number | undefined {
    const f = this.#clock(clockHz);
    const fi = this.fi;
    const di = this.di;
    if (fi === undefined || di === undefined || f === undefined) return undefined;
    return (f * di) / fi;
  }

  /** Extra guard time integer N (TC1); 0 when absent. */
  get n(): number {
    const tc1 = this.#ib[2]!;
    return tc1 < 0 ? 0 : tc1;
  }

  /**
   * Minimum delay between the leading edges of two characters sent to the card, in etu
   * (§8.3, TC1): 12 + N for N = 0..254 (when T=15 is present the N part is counted in
   * Fi/Di-etus, which is the same as long as F/D = Fi/Di); N = 255 means 12 etu for T=0 and
   * 11 etu for T=1.
   */
  guardTimeEtu(protocol: 0 | 1): number {
    const n = this.n;
    if (n === 255) return protocol === 1 ? 11 : 12;
    return 12 + n;
  }

  /** Waiting time integer WI for T=0 (TC2); 10 when absent. WT = WI × 960 × Fi / f. */
  get wi(): number {
    const tc2 = this.#ib[6];
    return tc2 === undefined || tc2 < 0 ? 10 : tc2;
  }

  /**
   * T=0 waiting time WT = WI × 960 × Fi / f in seconds (§10.2), at `clockHz` (default f(max)).
   * Undefined when Fi is RFU or there is no f(max).
   * @throws RangeError when clockHz is not a positive finite number.
   */
  waitingTimeSeconds(clockHz?: number): number | undefined {
    const f = this.#clock(clockHz);
    const fi = this.fi;
    return fi === undefined || f === undefined ? undefined : (this.wi * 960 * fi) / f;
  }

  /**
   * T=1 block waiting time BWT = 11 etu + 2^BWI × 960 × 372 / f in seconds (§11.4.3), with the
   * etu of Fi/Di (in force after PPS or in specific mode) at `clockHz` (default f(max)).
   * Undefined when T=1 is not offered or Fi/Di is RFU.
   * @throws RangeError when clockHz is not a positive finite number.
   */
  blockWaitingTimeSeconds(clockHz?: number): number | undefined {
    const f = this.#clock(clockHz);
    const t1 = this.t1;
    const fi = this.fi;
    const di = this.di;
    if (t1 === undefined || f === undefined || fi === undefined || di === undefined) return undefined;
    return (11 * fi) / (di * f) + (2 ** t1.bwi * 960 * 372) / f;
  }

  #clock(clockHz: number | undefined): number | undefined {
    if (clockHz !== undefined && !(Number.isFinite(clockHz) && clockHz > 0))
      throw new RangeError(`clockHz must be a positive number, got ${clockHz}`);
    return clockHz ?? this.fmax;
  }

  /** Specific mode from TA2, or undefined (negotiable mode) when TA2 is absent. */
  get specificMode(): SpecificMode | undefined {
    const ta2 = this.#ib[4];
    if (ta2 === undefined || ta2 < 0) return undefined;
    return { protocol: ta2 & 15, canChangeMode: (ta2 & 0x80) === 0, implicitEtu: (ta2 & 0x10) !== 0 };
  }

  /** T=1 parameters, or undefined when T=1 is not offered. */
  get t1(): T1Parameters | undefined {
    if (!this.protocols.includes(1)) return undefined;
    const ta = this.#firstFor(1, 0);
    const tb = this.#firstFor(1, 1);
    const tc = this.#firstFor(1, 2);
    return {
      ifsc: ta ?? 32,
      cwi: tb === undefined ? 13 : tb & 15,
      bwi: tb === undefined ? 4 : tb >> 4,
      cwtEtu: 11 + 2 ** (tb === undefined ? 13 : tb & 15),
      errorDetection: tc !== undefined && (tc & 1) === 1 ? 'CRC' : 'LRC',
      fromAtr: { ifsc: ta !== undefined, cwiBwi: tb !== undefined, errorDetection: tc !== undefined },
    };
  }

  /** T=15 global parameters, or undefined when no TDi indicates T=15. */
  get t15(): T15Parameters | undefined {
    if (!this.globalT15) return undefined;
    const ta = this.#firstFor(15, 0);
    const tb = this.#firstFor(15, 1);
    const classes: T15Parameters['classes'] = [];
    const y = ta === undefined ? 1 : ta & 0x3f;
    if (y & 1) classes.push('A');
    if (y & 2) classes.push('B');
    if (y & 4) classes.push('C');
    const out: T15Parameters = {
      clockStop: CLOCK_STOP[ta === undefined ? 0 : ta >> 6]!,
      classes,
      classRfuBits: y & 0x38,
      spu: tb === undefined || tb === 0 ? 'not used' : tb & 0x80 ? 'proprietary' : 'standard',
      fromAtr: { ta: ta !== undefined, tb: tb !== undefined },
    };
    if (tb !== undefined) out.spuValue = tb;
    return out;
  }

  /**
   * TCK: whether present, its value, and whether the ATR is right about it (always true once
   * parsed strictly; false for a wrong TCK or, with `present` false, a missing one, both
   * accepted on request).
   */
  get tck(): { present: boolean; value: number | undefined; valid: boolean } {
    return {
      present: this.#tckPresent,
      value: this.#tckPresent ? this.#raw[this.#raw.length - 1] : undefined,
      valid: this.#tckValid,
    };
  }

  /** The TCK this ATR needs (XOR of T0 up to the last historical byte), or undefined for T=0 alone. */
  get expectedTck(): number | undefined {
    if (!this.#tckPresent && !this.#tckMissing) return undefined;
    const end = this.#histStart + this.#k;
    let x = 0;
    for (let i = 1; i < end; i++) x ^= this.#raw[i]!;
    return x;
  }

  /** The historical bytes T1…TK (a copy). */
  get historicalBytes(): Uint8Array {
    return this.#raw.slice(this.#histStart, this.#histStart + this.#k);
  }

  #historicalView(): Uint8Array {
    return this.#raw.subarray(this.#histStart, this.#histStart + this.#k);
  }

  /**
   * The historical bytes decoded per their category indicator (ISO/IEC 7816-4 §8.1.1).
   * Decoded once, then shared: the object is deeply frozen.
   */
  get historical(): Readonly<HistoricalBytes> {
    return this.#decodedHistorical();
  }

  #decodedHistorical(): HistoricalBytes {
    this.#historical ??= deepFreeze(decodeHistoricalBytes(this.#historicalView()));
    return this.#historical;
  }

  /**
   * Deviations that do not stop the ATR from being read: RFU values, T=15 in TD1, deprecated
   * programming bytes, a wrong or missing TCK accepted on request, malformed historical bytes.
   */
  get warnings(): readonly string[] {
    this.#warnings ??= Object.freeze(this.#computeWarnings());
    return this.#warnings;
  }

  #computeWarnings(): string[] {
    const w: string[] = [];
    const ta1 = this.#ib[0]!;
    if (ta1 >= 0) {
      if (!FI_TABLE[ta1 >> 4]) w.push(`TA1 ${hex2(ta1)}: FI ${(ta1 >> 4).toString(16).toUpperCase()} is RFU`);
      if (!DI_TABLE[ta1 & 15]) w.push(`TA1 ${hex2(ta1)}: DI ${(ta1 & 15).toString(16).toUpperCase()} is RFU`);
    }
    const td1 = this.#ib[3]!;
    if (td1 >= 0 && (td1 & 15) === 15)
      w.push('TD1 indicates T=15, which §8.2.3 forbids (T=15 may only follow in TD2 and later)');
    const ta2 = this.#ib[4];
    if (ta2 !== undefined && ta2 >= 0 && (ta2 & 0x60) !== 0) w.push(`TA2 ${hex2(ta2)}: RFU bits b7-b6 set`);
    const tc2 = this.#ib[6];
    if (tc2 === 0) w.push('TC2 = 00: WI 0 is RFU');
    const t1 = this.t1;
    if (t1?.fromAtr.ifsc && (t1.ifsc === 0 || t1.ifsc === 255)) w.push(`IFSC ${t1.ifsc} is RFU (1..254)`);
    if (t1?.fromAtr.cwiBwi && t1.bwi > 9) w.push(`BWI ${t1.bwi} is RFU (0..9)`);
    const t15 = this.t15;
    if (t15 && t15.classRfuBits) w.push('class indicator uses RFU bits (b6-b4)');
    if (this.#tckMissing) {
      w.push(
        `missing TCK accepted: a protocol other than T=0 is indicated, so TCK is mandatory (ISO/IEC 7816-3 §8.2.5); expected ${hex2(this.expectedTck!)}`,
      );
    } else if (!this.#tckValid) {
      w.push(
        `wrong TCK accepted: expected ${hex2(this.expectedTck!)}, found ${hex2(this.#raw[this.#raw.length - 1]!)}`,
      );
    }
    const p = this.#decodedHistorical().problem;
    if (p) w.push(`historical bytes at offset ${p.offset}: ${p.reason}`);
    return w;
  }

  /** The stable JSON object (see docs/atr.md). */
  toJSON(): AtrJson {
    const fi = this.fi;
    const di = this.di;
    const tck = this.tck;
    return {
      atr: this.toHex(),
      length: this.length,
      convention: this.convention,
      t0: this.t0,
      groups: this.groups,
      protocols: this.protocols,
      globalT15: this.globalT15,
      fiIndex: this.fiIndex,
      diIndex: this.diIndex,
      fi: fi ?? null,
      di: di ?? null,
      fmax: this.fmax ?? null,
      ta1Present: this.#ib[0]! >= 0,
      cyclesPerEtu: fi !== undefined && di !== undefined ? fi / di : null,
      baudRateAtFmax: this.baudRate() ?? null,
      baudRateAt3_5712MHz: this.baudRate(CLOCK_3_5712_MHZ) ?? null,
      n: this.n,
      guardTimeEtu: { t0: this.guardTimeEtu(0), t1: this.guardTimeEtu(1) },
      wi: this.wi,
      specificMode: this.specificMode ?? null,
      t1: this.t1 ?? null,
      t15: this.t15 ?? null,
      historicalBytes: this.historical,
      tck: { present: tck.present, value: tck.value ?? null, valid: tck.valid },
      warnings: [...this.warnings],
    };
  }
}
