import type { Protocol } from '../CardChannel.js';

/** What the reader layer needs to know from an ATR. */
export interface AtrInfo {
  /** Protocols the ATR offers, in the order of the TDi bytes; T=0 when none is indicated. */
  readonly protocols: readonly Protocol[];
  /** The historical bytes T1..TK (empty when the ATR is too short to hold them). */
  readonly historical: Uint8Array;
  /** True when the card capabilities (tag 7x) announce extended Lc and Le fields. */
  readonly extendedLength: boolean;
}

const TAG_CARD_CAPABILITIES = 0x7;
/** ISO/IEC 7816-4 §8.1.1.2.7, third software function table, b7: "extended Lc and Le fields". */
const CAP3_EXTENDED_LENGTH = 0x40;

/**
 * Reads the interface bytes and historical bytes of an ATR (ISO/IEC 7816-3 §8.2) far enough to
 * choose a protocol and know whether extended APDUs are allowed (ISO/IEC 7816-4 §8.1.1).
 * Never throws: a short or odd ATR yields T=0 and no extended length, which is the safe reading.
 *
 * ```
 *  TS T0 [TA1 TB1 TC1 TD1] [TA2 TB2 TC2 TD2] ... T1..TK [TCK]
 *        Y1|K              TDi = Yi+1 | T (protocol)
 * ```
 */
export function readAtr(atr: Uint8Array): AtrInfo {
  const protocols: Protocol[] = [];
  let historical = new Uint8Array(0);
  if (atr.length >= 2) {
    const t0 = atr[1]!;
    const k = t0 & 0x0f;
    let y = t0 >> 4;
    let o = 2;
    // At most 16 groups of interface bytes can fit in 33 bytes; bound the loop anyway.
    for (let group = 0; group < 16 && o <= atr.length; group++) {
      if (y & 0x1) o++;
      if (y & 0x2) o++;
      if (y & 0x4) o++;
      if (!(y & 0x8)) break;
      const td = atr[o];
      if (td === undefined) break;
      o++;
      const t = td & 0x0f;
      const p: Protocol | undefined = t === 0 ? 'T=0' : t === 1 ? 'T=1' : undefined;
      if (p && !protocols.includes(p)) protocols.push(p);
      y = td >> 4;
    }
    if (o + k <= atr.length) historical = atr.slice(o, o + k);
  }
  if (protocols.length === 0) protocols.push('T=0');
  return { protocols, historical, extendedLength: hasExtendedLength(historical) };
}

/** Looks for the card capabilities data object in compact-TLV historical bytes (ISO/IEC 7816-4 §8.1.1.2.7). */
function hasExtendedLength(h: Uint8Array): boolean {
  const category = h[0];
  if (category !== 0x80 && category !== 0x00) return false;
  // Category 00 ends with three status bytes that are not compact-TLV.
  const end = category === 0x00 ? h.length - 3 : h.length;
  let o = 1;
  while (o < end) {
    const tl = h[o]!;
    const tag = tl >> 4;
    const len = tl & 0x0f;
    if (o + 1 + len > end) return false;
    if (tag === TAG_CARD_CAPABILITIES && len >= 3) return (h[o + 3]! & CAP3_EXTENDED_LENGTH) !== 0;
    o += 1 + len;
  }
  return false;
}
