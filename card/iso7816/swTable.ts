import type { StatusWord } from './sw.js';

/**
 * The meanings of SW1-SW2 (ISO/IEC 7816-4:2013 §5.6, Tables 5 and 6), in one table, and
 * `describeSw()` which describes any 16-bit value.
 *
 * ```
 *  9000            normal processing
 *  61xx            normal processing, xx more bytes (GET RESPONSE)
 *  62xx 63xx       warning (62: non-volatile memory unchanged, 63: changed)
 *  64xx 65xx 66xx  execution error (64: unchanged, 65: changed, 66: security-related)
 *  6700 68xx 69xx 6Axx 6B00 6Cxx 6D00 6E00 6F00   checking error
 *  67xx 6Bxx 6Dxx 6Exx 6Fxx (SW2 != 00)            proprietary SW2 in an error group
 *  9xxx (except 9000)                              proprietary (application-specific)
 *  60xx, and anything not 6xxx/9xxx                 invalid (ISO/IEC 7816-3: 60 is the T=0 NULL byte)
 * ```
 */

/** Exact SW1-SW2 values. Sources: ISO/IEC 7816-4:2013 Table 6 unless marked. */
export const SW_TABLE: ReadonlyMap<StatusWord, string> = new Map<StatusWord, string>([
  [0x9000, 'normal processing: no further qualification'],
  [0x6200, 'warning, memory unchanged: no information given'],
  [0x6281, 'warning: part of returned data may be corrupted'],
  [0x6282, 'warning: end of file or record reached before reading Ne bytes'],
  [0x6283, 'warning: selected file deactivated'],
  [0x6284, 'warning: file control information not formatted according to ISO/IEC 7816-4 §5.3.3'],
  [0x6285, 'warning: selected file in termination state'],
  [0x6286, 'warning: no input data available from a sensor on the card'],
  [0x6287, 'warning: at least one of the referenced records is deactivated'],
  // ETSI TS 102 221 §10.2.1 (UICC) uses 62Fx/63Fx for "more data" signalling.
  [0x62f1, 'warning: more data available (ETSI TS 102 221)'],
  [0x62f2, 'warning: more data available and proactive command pending (ETSI TS 102 221)'],
  [0x62f3, 'warning: response data available (ETSI TS 102 221)'],
  [0x6300, 'warning, memory changed: no information given'],
  [0x6381, 'warning: file filled up by the last write'],
  [0x63f1, 'warning: more data expected (ETSI TS 102 221)'],
  [0x63f2, 'warning: more data expected and proactive command pending (ETSI TS 102 221)'],
  [0x6400, 'execution error, memory unchanged: no information given'],
  [0x6401, 'execution error: immediate response required by the card'],
  [0x6500, 'execution error, memory changed: no information given'],
  [0x6581, 'execution error: memory failure'],
  [0x6600, 'execution error: security-related issue, no information given'],
  [0x6700, 'checking error: wrong length, no further indication'],
  [0x6800, 'checking error: functions in CLA not supported, no information given'],
  [0x6881, 'checking error: logical channel not supported'],
  [0x6882, 'checking error: secure messaging not supported'],
  [0x6883, 'checking error: last command of the chain expected'],
  [0x6884, 'checking error: command chaining not supported'],
  [0x6900, 'checking error: command not allowed, no information given'],
  [0x6981, 'checking error: command incompatible with file structure'],
  [0x6982, 'checking error: security status not satisfied'],
  [0x6983, 'checking error: authentication method blocked'],
  [0x6984, 'checking error: reference data not usable'],
  [0x6985, 'checking error: conditions of use not satisfied'],
  [0x6986, 'checking error: command not allowed (no current EF)'],
  [0x6987, 'checking error: expected secure messaging data objects missing'],
  [0x6988, 'checking error: incorrect secure messaging data objects'],
  [0x6a00, 'checking error: wrong parameters P1-P2, no information given'],
  [0x6a80, 'checking error: incorrect parameters in the command data field'],
  [0x6a81, 'checking error: function not supported'],
  [0x6a82, 'checking error: file or application not found'],
  [0x6a83, 'checking error: record not found'],
  [0x6a84, 'checking error: not enough memory space in the file'],
  [0x6a85, 'checking error: Nc inconsistent with TLV structure'],
  [0x6a86, 'checking error: incorrect parameters P1-P2'],
  [0x6a87, 'checking error: Nc inconsistent with parameters P1-P2'],
  [0x6a88, 'checking error: referenced data or reference data not found'],
  [0x6a89, 'checking error: file already exists'],
  [0x6a8a, 'checking error: DF name already exists'],
  [0x6b00, 'checking error: wrong parameters P1-P2'],
  [0x6d00, 'checking error: instruction code not supported or invalid'],
  [0x6e00, 'checking error: class not supported'],
  [0x6f00, 'checking error: no precise diagnosis'],
]);

/** What a status word says about the outcome. */
export type SwCategory = 'ok' | 'warning' | 'error' | 'proprietary' | 'invalid';

/** Group descriptions by SW1, used when SW1-SW2 is not in the table. */
const GROUPS: ReadonlyMap<number, string> = new Map([
  [0x62, 'warning, non-volatile memory unchanged'],
  [0x63, 'warning, non-volatile memory changed'],
  [0x64, 'execution error, non-volatile memory unchanged'],
  [0x65, 'execution error, non-volatile memory changed'],
  [0x66, 'execution error, security-related issue (RFU)'],
  [0x67, 'wrong length (proprietary SW2)'],
  [0x68, 'functions in CLA not supported'],
  [0x69, 'command not allowed'],
  [0x6a, 'wrong parameters P1-P2'],
  [0x6b, 'wrong parameters P1-P2 (proprietary SW2)'],
  [0x6d, 'instruction code not supported or invalid (proprietary SW2)'],
  [0x6e, 'class not supported (proprietary SW2)'],
  [0x6f, 'no precise diagnosis (proprietary SW2)'],
]);

function hex4(sw: number): string {
  return sw.toString(16).toUpperCase().padStart(4, '0');
}

function checkSw(sw: number): void {
  if (!Number.isInteger(sw) || sw < 0 || sw > 0xffff)
    throw new RangeError(`sw must be 0000..FFFF, got ${sw}`);
}

/**
 * True for values ISO/IEC 7816-4 §5.6 allows at all: 6xxx except 60xx, and 9xxx.
 * @throws RangeError when `sw` is not 0..0xFFFF.
 */
export function isValidSw(sw: StatusWord): boolean {
  checkSw(sw);
  const s1 = sw >> 8;
  return (s1 >= 0x61 && s1 <= 0x6f) || (s1 >= 0x90 && s1 <= 0x9f);
}

/**
 * The outcome class of a status word (ISO/IEC 7816-4 §5.6, Table 5):
 * 'ok' for 9000 and 61xx; 'warning' for 62xx/63xx; 'error' for 64xx..6Fxx (also when SW2 is
 * proprietary, as in 6F12 — SW1 still says the command was aborted); 'proprietary' for 9xxx
 * other than 9000, whose outcome only the application knows; 'invalid' for 60xx and anything
 * outside 6xxx/9xxx.
 * @throws RangeError when `sw` is not 0..0xFFFF.
 */
export function category(sw: StatusWord): SwCategory {
  checkSw(sw);
  const s1 = sw >> 8;
  if (sw === 0x9000 || s1 === 0x61) return 'ok';
  if (s1 === 0x62 || s1 === 0x63) return 'warning';
  if (s1 >= 0x64 && s1 <= 0x6f) return 'error';
  if (s1 >= 0x90 && s1 <= 0x9f) return 'proprietary';
  return 'invalid';
}

/**
 * Describes any 16-bit status word, always starting with its four hex digits, e.g.
 * "6A82: checking error: file or application not found", "63C2: warning: counter 2 ...",
 * "6F12: 6Fxx: no precise diagnosis (proprietary SW2)".
 * @throws RangeError when `sw` is not 0..0xFFFF.
 */
export function describeSw(sw: StatusWord): string {
  checkSw(sw);
  const h = hex4(sw);
  const exact = SW_TABLE.get(sw);
  if (exact !== undefined) return `${h}: ${exact}`;
  const s1 = sw >> 8;
  const s2 = sw & 0xff;
  switch (s1) {
    case 0x61:
      return `${h}: normal processing: ${s2 === 0 ? '256 or more' : s2} response bytes still available (GET RESPONSE with Le=${hex4(s2).slice(2)})`;
    case 0x6c:
      return `${h}: checking error: wrong Le field; ${s2 === 0 ? '256' : s2} data bytes available (resend with Le=${hex4(s2).slice(2)})`;
    case 0x62:
    case 0x64:
      if (s2 >= 0x02 && s2 <= 0x80)
        return `${h}: ${s1 === 0x62 ? 'warning' : 'execution error'}: triggering by the card (${s2} bytes of query data, ISO/IEC 7816-4 §12.6.2)`;
      break;
    case 0x63:
      if ((s2 & 0xf0) === 0xc0)
        return `${h}: warning: counter ${s2 & 0x0f} (meaning depends on the command, e.g. tries left)`;
      break;
  }
  const group = GROUPS.get(s1);
  if (group !== undefined) return `${h}: ${s1.toString(16).toUpperCase()}xx: ${group}`;
  if (s1 >= 0x90 && s1 <= 0x9f) return `${h}: 9xxx: proprietary (application-specific status)`;
  if (s1 === 0x60) return `${h}: invalid: 60 is the T=0 NULL procedure byte, not a status (ISO/IEC 7816-3)`;
  return `${h}: invalid: SW1 must be 6x or 9x (ISO/IEC 7816-4 §5.6)`;
}
