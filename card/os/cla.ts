import { Cla } from '../iso7816/Cla.js';

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

/**
 * The OS's view of a class byte, read by the one decoder of the ISO core (`Cla.decode`).
 * @returns undefined for an RFU or invalid class byte (the OS answers 6E00).
 */
export function decodeCla(cla: number): ClassByte | undefined {
  const c = Cla.decode(cla);
  if (c.invalid || c.rfu) return undefined;
  const sm = c.secureMessaging;
  return {
    channel: c.channel,
    sm: sm === 'header-not-processed' || sm === 'header-authenticated' || sm === 'header-not-authenticated',
    headerAuthenticated: sm === 'header-authenticated',
    proprietarySm: sm === 'proprietary',
    chaining: c.chaining,
    proprietary: c.proprietary,
    // The CLA with the SM bits cleared; a class without a layout (A0..BF) has none to clear.
    plain: c.layout === 'first' ? cla & ~0x0c : c.layout === 'further' ? cla & ~0x20 : cla,
  };
}
