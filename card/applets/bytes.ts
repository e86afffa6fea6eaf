/**
 * Byte helpers only the applets need. Big-endian integers are `card/util/bigEndian.ts`, BCD is
 * `card/util/bcd.ts` (the project's one codec of each); this file adds what turns them into the
 * applets' answers.
 */
import { SwError } from '../iso7816/errors.js';
import { SW_WRONG_DATA } from '../iso7816/sw.js';
import { isBcdDateTime } from '../util/bcd.js';

/** ASCII bytes of a short label ('D', 'S', 'T', ...) used as MAC domain separators. */
export function ascii(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0x7f;
  return b;
}

/**
 * Checks a BCD date-time field of a command (card/util/bcd.ts `decodeBcdDateTime`).
 * @throws SwError 6A80 (wrong data) when it is not a valid YYMMDDhhmmss.
 */
export function checkDateTime(b: Uint8Array): void {
  if (!isBcdDateTime(b)) throw new SwError(SW_WRONG_DATA, 'date-time is not BCD YYMMDDhhmmss');
}
