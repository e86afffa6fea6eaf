/**
 * The commissioning card of seed 002 ("when first installed the equipment is commissioned by
 * presenting a special token … zero all registers, enter meter identity, enter reference code,
 * number of tariffs, price per kilowatt hour for each tariff, emergency credit value, initial
 * credit"), as a small application beside the purse: the installer's card carries one
 * commissioning payload and a number of uses.
 *
 * AID `F0 4D 50 43 4F 4D 01` (F0 ‖ "MPCOM" ‖ 01). Authentication is the purse's (purse-spec §3.4):
 * GET CHALLENGE, then MUTUAL AUTHENTICATE with the meter SAM's AUTH INIT / AUTH FINISH — the card
 * holds K_auth = diversify(MK_auth, CSN), so only an issuer-made card passes a meter's SAM.
 *
 * ```
 * SELECT          00 A4 04 00 07 AID 00   → FCI 6F { 84 AID, A5 { 5A 08 CSN, C7 02 uses left } }
 * GET CHALLENGE   00 84 00 00 08          → RC
 * MUTUAL AUTH     00 82 00 00 10 RS ‖ S_sam 08 → S_card        (6300 wrong S_sam)
 * COMMISSION      80 5E 00 00 03 meter id 00 → payload         (6982 no session; 6A80 the payload
 *                 names another meter (payload bytes 1–3), no use spent; 6985 no use left);
 *                 atomically uses − 1, then the payload (≤ 255 bytes, meter/commissioning
 *                 CommissioningData) is returned
 * ```
 * Persistent: CSN, K_auth, uses left (u16), payload. Volatile: RC, the session key.
 */
import type { CommandApdu } from '../../iso7816/CommandApdu.js';
import { SwError } from '../../iso7816/errors.js';
import {
  SW_CONDITIONS_NOT_SATISFIED,
  SW_INCORRECT_P1P2,
  SW_INS_NOT_SUPPORTED,
  SW_SECURITY_STATUS_NOT_SATISFIED,
  SW_VERIFICATION_FAILED,
  SW_WRONG_DATA,
  SW_WRONG_LENGTH,
} from '../../iso7816/sw.js';
import type { BlockCipherProvider, Rng } from '../../crypto/types.js';
import { wipe } from '../../crypto/wipe.js';
import { concatBytes, fromHex } from '../../util/hex.js';
import type { Application } from '../platform/RuntimeApplet.js';
import type { RecordStore } from '../platform/RecordStore.js';
import { PurseCrypto } from '../PurseCrypto.js';
import { INS_GET_CHALLENGE, INS_MUTUAL_AUTHENTICATE } from '../constants.js';

export const AID_COMMISSIONING = fromHex('F04D50434F4D01');
export const INS_COMMISSION = 0x5e;
export const COMMISSIONING_INS = [INS_GET_CHALLENGE, INS_MUTUAL_AUTHENTICATE, INS_COMMISSION];
export const COMMISSIONING_LAYOUT = [
  ['c.csn', 8],
  ['c.key', 16],
  ['c.uses', 2],
  ['c.data', 255],
] as const;

export interface CommissioningPersonalisation {
  csn: Uint8Array;
  /** K_auth of this CSN (IssuerKeys.cardKeys(csn).auth). */
  kAuth: Uint8Array;
  uses: number;
  /** The payload, 1…255 bytes. */
  payload: Uint8Array;
}

export class CommissioningApplet implements Application {
  readonly #store: RecordStore;
  readonly #crypto: PurseCrypto;
  readonly #rng: Rng;
  #rc: Uint8Array | undefined;
  #session = false;

  constructor(store: RecordStore, cipher: BlockCipherProvider, rng: Rng) {
    this.#store = store;
    this.#crypto = new PurseCrypto(cipher);
    this.#rng = rng;
  }

  /** @throws RangeError naming the field that does not fit. */
  static personalise(store: RecordStore, p: CommissioningPersonalisation): void {
    if (p.csn.length !== 8) throw new RangeError('csn must be 8 bytes');
    if (p.kAuth.length !== 16) throw new RangeError('kAuth must be 16 bytes');
    if (!Number.isInteger(p.uses) || p.uses < 0 || p.uses > 0xffff)
      throw new RangeError(`uses must be 0..65535, got ${p.uses}`);
    if (p.payload.length < 1 || p.payload.length > 255)
      throw new RangeError(`payload must be 1..255 bytes, got ${p.payload.length}`);
    store.commit([
      ['c.csn', p.csn],
      ['c.key', p.kAuth],
      ['c.uses', Uint8Array.of(p.uses >> 8, p.uses & 0xff)],
      ['c.data', p.payload],
    ]);
  }

  #uses(): number {
    const u = this.#store.view('c.uses')!;
    return (u[0]! << 8) | u[1]!;
  }

  select(): Uint8Array {
    const csn = this.#store.view('c.csn')!;
    const a5 = concatBytes(Uint8Array.of(0x5a, 8), csn, Uint8Array.of(0xc7, 2), this.#store.view('c.uses')!);
    const inner = concatBytes(
      Uint8Array.of(0x84, AID_COMMISSIONING.length),
      AID_COMMISSIONING,
      Uint8Array.of(0xa5, a5.length),
      a5,
    );
    return concatBytes(Uint8Array.of(0x6f, inner.length), inner);
  }

  reset(): void {
    if (this.#rc) wipe(this.#rc);
    this.#rc = undefined;
    this.#session = false;
  }

  process(c: CommandApdu): Uint8Array {
    if (c.cla === 0x00 && c.ins === INS_GET_CHALLENGE) {
      if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
      this.#rc = this.#rng.bytes(8);
      return this.#rc.slice();
    }
    if (c.cla === 0x00 && c.ins === INS_MUTUAL_AUTHENTICATE) {
      if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
      if (c.nc !== 16) throw new SwError(SW_WRONG_LENGTH);
      this.#session = false;
      const rc = this.#rc;
      this.#rc = undefined;
      if (!rc) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'no challenge');
      const d = c.dataView();
      const rs = d.slice(0, 8);
      const csn = this.#store.view('c.csn')!;
      const auth = this.#crypto.cardAuthenticate(this.#store.view('c.key')!, rc, rs, d.subarray(8, 16), csn);
      if (!auth) throw new SwError(SW_VERIFICATION_FAILED, 'SAM cryptogram wrong');
      wipe(auth.skAuth); // COMMISSION carries no MAC: the session is only a flag
      this.#session = true;
      return auth.sCard;
    }
    if (c.cla === 0x80 && c.ins === INS_COMMISSION) {
      if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
      if (c.nc !== 3) throw new SwError(SW_WRONG_LENGTH);
      if (!this.#session) throw new SwError(SW_SECURITY_STATUS_NOT_SATISFIED);
      const data = this.#store.view('c.data')!;
      const meterId = c.dataView();
      if (data[1] !== meterId[0] || data[2] !== meterId[1] || data[3] !== meterId[2])
        throw new SwError(SW_WRONG_DATA, 'payload is for another meter');
      const uses = this.#uses();
      if (uses === 0) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'no commissioning left');
      this.#store.commit([['c.uses', Uint8Array.of((uses - 1) >> 8, (uses - 1) & 0xff)]]);
      this.#session = false; // one commissioning per authentication
      return this.#store.read('c.data')!;
    }
    throw new SwError(SW_INS_NOT_SUPPORTED);
  }
}
