import { CardPowerLostError, type CardOs } from '../../card/os/CardOs.js';
import { concatBytes, fromHex } from '../../card/util/hex.js';

/** AID the test card answers to. */
export const TEST_AID = fromHex('F0 4D 50 54 45 53 54'); // F0 'MPTEST'
/** FCI it returns on SELECT. */
export const TEST_FCI = fromHex('6F 08 84 06 4D 50 54 45 53 54');
/** Its 16-byte transparent file (READ BINARY). */
export const TEST_FILE = fromHex('00 11 22 33 44 55 66 77 88 99 AA BB CC DD EE FF');
/** T=0 only: TS T0 (K=2) + 2 historical bytes. */
export const ATR_T0 = fromHex('3B 02 4D 50');
/** T=1 with card capabilities announcing extended Lc/Le (80 73 00 00 40), plus TCK. */
export const ATR_T1_EXTENDED = withTck(fromHex('3B 85 01 80 73 00 00 40'));

function withTck(atr: Uint8Array): Uint8Array {
  let x = 0;
  for (const b of atr.subarray(1)) x ^= b;
  return concatBytes(atr, Uint8Array.of(x));
}

/** The bytes GET DATA 00 CA 01 nn returns: nn * 8 bytes of a counting pattern (nn=0: 2048). */
export function getDataPayload(p2: number): Uint8Array {
  const n = (p2 === 0 ? 256 : p2) * 8;
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);
}

export interface TestCardOptions {
  atr?: Uint8Array;
  /** Answer like a strict T=0 card: data only through 61xx + GET RESPONSE, 6Cxx on a wrong Le. */
  t0?: boolean;
  /** Called before each command is executed (to pull the card or cut power mid-command). */
  onTransmit?: (command: Uint8Array) => void;
  /** Keep every command in `log` (default true; benchmarks turn it off). */
  keepLog?: boolean;
}

/**
 * A small card for reader tests, written here so that the reader layer can be tested without
 * the card runtime: SELECT by AID, READ BINARY of one 16-byte file, GET DATA of long patterns,
 * UPDATE BINARY (a state change), and GET RESPONSE. With `t0: true` it behaves like a T=0 card.
 */
export class TestCard implements CardOs {
  readonly atr: Uint8Array;
  readonly t0: boolean;
  powered = false;
  /** Every command received, in order (raw bytes). */
  readonly log: Uint8Array[] = [];
  /** Persistent state: the transparent file. */
  file: Uint8Array = TEST_FILE.slice();
  powerUps = 0;
  resets = 0;
  #pending: Uint8Array | undefined;
  #selected = false;

  constructor(private readonly options: TestCardOptions = {}) {
    this.t0 = options.t0 ?? false;
    this.atr = options.atr ?? (this.t0 ? ATR_T0 : ATR_T1_EXTENDED);
  }

  powerUp(): Uint8Array {
    this.powered = true;
    this.powerUps++;
    this.#pending = undefined;
    this.#selected = false;
    return this.atr.slice();
  }

  reset(): Uint8Array {
    this.resets++;
    return this.powerUp();
  }

  powerDown(): void {
    this.powered = false;
    this.#pending = undefined;
    this.#selected = false;
  }

  transmit(command: Uint8Array): Uint8Array {
    if (!this.powered) throw new CardPowerLostError('test card is not powered');
    if (this.options.keepLog !== false) this.log.push(command.slice());
    this.options.onTransmit?.(command);
    if (command.length < 4) return sw(0x6700);
    const [cla, ins, p1, p2] = command as unknown as [number, number, number, number];
    const body = command.subarray(4);
    // Short APDUs only in this decoder, plus extended case 2E (00 Le1 Le2) for GET DATA.
    let lc = 0;
    let data: Uint8Array = new Uint8Array(0);
    let le: number | undefined;
    if (body.length === 1) le = body[0] === 0 ? 256 : body[0];
    else if (body.length === 3 && body[0] === 0) le = (body[1]! << 8) | body[2]! || 65536;
    else if (body.length > 1) {
      lc = body[0]!;
      data = body.subarray(1, 1 + lc);
      if (data.length !== lc) return sw(0x6700);
      const rest = body.length - 1 - lc;
      if (rest === 1) le = body[1 + lc] === 0 ? 256 : body[1 + lc];
      else if (rest !== 0) return sw(0x6700);
    }
    if ((cla & 0x80) !== 0 && cla !== 0x80) return sw(0x6e00);
    if (ins !== 0xc0) this.#pending = undefined;

    switch (ins) {
      case 0xa4: {
        if (p1 !== 0x04) return sw(0x6a86);
        if (!eq(data, TEST_AID)) return sw(0x6a82);
        this.#selected = true;
        return this.#answer(TEST_FCI, le);
      }
      case 0xb0: {
        if (!this.#selected) return sw(0x6986);
        return this.#answer(this.file.slice(), le, true);
      }
      case 0xd6: {
        if (!this.#selected) return sw(0x6986);
        const offset = (p1 << 8) | p2;
        if (offset + data.length > this.file.length) return sw(0x6b00);
        this.file.set(data, offset);
        return sw(0x9000);
      }
      case 0xca: {
        if (p1 !== 0x01) return sw(0x6a88);
        return this.#answer(getDataPayload(p2), le);
      }
      case 0xc0: {
        const pending = this.#pending;
        if (!pending) return sw(0x6985);
        const n = le ?? 256;
        if (n > pending.length) return sw(0x6c00 | pending.length);
        const chunk = pending.subarray(0, n);
        const rest = pending.subarray(n);
        this.#pending = rest.length ? rest.slice() : undefined;
        return concatBytes(chunk, sw(rest.length ? 0x6100 | (rest.length >= 256 ? 0 : rest.length) : 0x9000));
      }
      default:
        return sw(0x6d00);
    }
  }

  /**
   * T=0 style: never data in the first answer; 61xx announces it (6Cxx when `exact` and Le is
   * wrong). T=1 style: up to Le bytes at once, 61xx when more remain.
   */
  #answer(payload: Uint8Array, le: number | undefined, exact = false): Uint8Array {
    if (this.t0) {
      if (exact && le !== undefined) {
        if (le !== payload.length) return sw(0x6c00 | (payload.length & 0xff));
        return concatBytes(payload, sw(0x9000));
      }
      this.#pending = payload.slice();
      return sw(0x6100 | (payload.length >= 256 ? 0 : payload.length));
    }
    if (le === undefined) return sw(0x9000);
    if (payload.length <= le) return concatBytes(payload, sw(0x9000));
    // More than Le: the first Le bytes now, 61xx for the rest (ISO/IEC 7816-4 §5.3.4).
    const rest = payload.subarray(le);
    this.#pending = rest.slice();
    return concatBytes(payload.subarray(0, le), sw(0x6100 | (rest.length >= 256 ? 0 : rest.length)));
  }
}

function sw(value: number): Uint8Array {
  return Uint8Array.of(value >> 8, value & 0xff);
}

function eq(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
