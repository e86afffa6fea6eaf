/**
 * A PIN kept in one record, `tries left(1) ‖ maximum(1) ‖ PIN block(8)`, and the two ISO/IEC
 * 7816-4 commands on it (VERIFY §11.5.6, CHANGE REFERENCE DATA §11.5.7) as every applet with a
 * PIN runs them: the subscriber card (docs/purse-spec.md §3.10) and the master-key card
 * (docs/personalisation.md §3).
 *
 * Why the order of the writes: the try is spent in a commit of its own BEFORE the comparison, and
 * given back only when the PIN was right, in a second commit that also writes the new PIN block of
 * CHANGE REFERENCE DATA (all or nothing). A power cut before the first commit point leaves the card
 * as it was and the comparison never ran; a cut after it has cost a try, right PIN or wrong, unless
 * the second commit got through, which is the whole command. So no tear tells a right PIN from a
 * wrong one without a try spent. (Comparing first and writing only on a wrong PIN let a tear at
 * that write answer "wrong" for free.) `verifyMac` compares in constant time.
 */
import type { CommandApdu } from '../../iso7816/CommandApdu.js';
import { SwError } from '../../iso7816/errors.js';
import {
  SW_AUTHENTICATION_METHOD_BLOCKED,
  SW_COUNTER_BASE,
  SW_WRONG_DATA,
  SW_WRONG_LENGTH,
} from '../../iso7816/sw.js';
import { verifyMac } from '../../crypto/mac.js';
import { concatBytes } from '../../util/hex.js';
import type { RecordStore } from './RecordStore.js';

const EMPTY = new Uint8Array(0);

/** The ISO 9564 format-1-like block of a 4..8 digit PIN: ASCII digits padded with FF. */
export function pinBlock(pin: string): Uint8Array {
  if (!/^[0-9]{4,8}$/.test(pin)) throw new RangeError('pin must be 4..8 digits');
  const b = new Uint8Array(8).fill(0xff);
  for (let i = 0; i < pin.length; i++) b[i] = pin.charCodeAt(i);
  return b;
}

/** True for 8 bytes of 4..8 ASCII digits padded with FF. */
export function isPinBlock(b: Uint8Array): boolean {
  if (b.length !== 8) return false;
  let i = 0;
  while (i < 8 && b[i]! >= 0x30 && b[i]! <= 0x39) i++;
  if (i < 4) return false;
  for (let j = i; j < 8; j++) if (b[j] !== 0xff) return false;
  return true;
}

/** A fresh PIN record: `tries` of `tries` left. */
export function newPinRecord(pin: string, tries: number): Uint8Array {
  return concatBytes(Uint8Array.of(tries, tries), pinBlock(pin));
}

/** The PIN of an applet: its record key, and this session's verified flag. */
export class PinRecord {
  /** Set by a right VERIFY or CHANGE REFERENCE DATA in this session; `reset` clears it. */
  #verified = false;

  constructor(
    readonly store: RecordStore,
    readonly key: string,
  ) {}

  get verified(): boolean {
    return this.#verified;
  }

  reset(): void {
    this.#verified = false;
  }

  /**
   * VERIFY with record `rec` (the applet checked P1 P2 and that it has a PIN): 8 bytes check a
   * PIN block; empty data asks the tries left, comparing and writing nothing (9000 once verified
   * in this session, else 63Cx, 6983 blocked).
   * @throws SwError 6700, 6983, 63Cx; CardPowerLostError from either commit.
   */
  verify(c: CommandApdu, rec: Uint8Array): Uint8Array {
    if (c.nc === 0) {
      if (this.#verified) return EMPTY;
      throw new SwError(rec[0] === 0 ? SW_AUTHENTICATION_METHOD_BLOCKED : SW_COUNTER_BASE | rec[0]!);
    }
    if (c.nc !== 8) throw new SwError(SW_WRONG_LENGTH);
    this.#check(rec, c.dataView());
    return EMPTY;
  }

  /**
   * CHANGE REFERENCE DATA: old PIN block ‖ new PIN block; the new one is written in the commit
   * that gives the try back.
   * @throws SwError 6700, 6A80 (new block not 4..8 digits), 6983, 63Cx.
   */
  change(c: CommandApdu, rec: Uint8Array): Uint8Array {
    if (c.nc !== 16) throw new SwError(SW_WRONG_LENGTH);
    const d = c.dataView();
    const fresh = d.subarray(8, 16);
    if (!isPinBlock(fresh)) throw new SwError(SW_WRONG_DATA, 'new PIN must be 4..8 digits padded with FF');
    this.#check(rec, d.subarray(0, 8), fresh);
    return EMPTY;
  }

  #check(rec: Uint8Array, block: Uint8Array, replacement?: Uint8Array): void {
    this.#verified = false;
    const tries = rec[0]!;
    const max = rec[1]!;
    const reference = rec.subarray(2, 10);
    if (tries === 0) throw new SwError(SW_AUTHENTICATION_METHOD_BLOCKED);
    this.store.commit([[this.key, concatBytes(Uint8Array.of(tries - 1, max), reference)]]);
    if (!verifyMac(reference, block))
      throw new SwError(tries - 1 === 0 ? SW_AUTHENTICATION_METHOD_BLOCKED : SW_COUNTER_BASE | (tries - 1));
    this.store.commit([[this.key, concatBytes(Uint8Array.of(max, max), replacement ?? reference)]]);
    this.#verified = true;
  }
}
