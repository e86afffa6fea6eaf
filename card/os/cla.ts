/**
 * Class byte decoding (ISO/IEC 7816-4 §5.4.1, Tables 2-3).
 * ```
 *  000x xxcc  first interindustry   x: b5 chaining, b4-b3 SM; cc: channel 0..3
 *  01xx cccc  further interindustry b6 SM, b5 chaining; cccc: channel 4..19
 *  001x xxxx  RFU                   → 6E00
 *  100x xxcc  proprietary, coded like the first interindustry class (as GlobalPlatform does)
 *  11xx cccc  proprietary, coded like the further interindustry class
 *  101x xxxx  proprietary, channel 0, no SM/chaining bits
 *  1111 1111  invalid (PPS)         → 6E00
 * ```
 */
export interface ClassByte {
  channel: number;
  /** SM indicated (first: b4-b3 = 11 or 10; further: b6 = 1). */
  sm: boolean;
  /** SM with the command header included in the MAC (first interindustry b4-b3 = 11 only). */
  headerAuthenticated: boolean;
  /** b4-b3 = 01: proprietary SM, not supported. */
  proprietarySm: boolean;
  chaining: boolean;
  proprietary: boolean;
  /** The CLA with SM bits cleared (what a handler sees after SM is removed). */
  plain: number;
}

/** @returns undefined for an RFU or invalid class byte. */
export function decodeCla(cla: number): ClassByte | undefined {
  if (cla === 0xff || (cla & 0xe0) === 0x20) return undefined;
  const proprietary = (cla & 0x80) !== 0;
  if ((cla & 0x60) === 0x00) {
    const smBits = (cla >> 2) & 3;
    return {
      channel: cla & 3,
      sm: smBits >= 2,
      headerAuthenticated: smBits === 3,
      proprietarySm: smBits === 1,
      chaining: (cla & 0x10) !== 0,
      proprietary,
      plain: cla & ~0x0c,
    };
  }
  if ((cla & 0x40) !== 0) {
    return {
      channel: 4 + (cla & 0x0f),
      sm: (cla & 0x20) !== 0,
      headerAuthenticated: false,
      proprietarySm: false,
      chaining: (cla & 0x10) !== 0,
      proprietary,
      plain: cla & ~0x20,
    };
  }
  // 101x xxxx: proprietary without interindustry coding.
  return {
    channel: 0,
    sm: false,
    headerAuthenticated: false,
    proprietarySm: false,
    chaining: false,
    proprietary: true,
    plain: cla,
  };
}
