/**
 * The commissioning card of seed 002 ("when first installed the equipment is commissioned by
 * presenting a special token … zero all registers, enter meter identity, enter reference code,
 * number of tariffs, price per kilowatt hour for each tariff, emergency credit value, initial
 * credit"), as a small application: the installer's card of ONE utility carries one payload — a
 * commissioning payload, or a decommissioning payload (first byte 0xDC) — and a number of uses.
 *
 * Key domain: the card holds K_comm = diversify(MK_comm[u], CSN) of its utility u only. MK_comm is
 * in that utility's meter SAMs and nowhere else; no subscriber card holds it (IssuerKeys), so a
 * subscriber card's keys (K_auth) make no commissioning card, and another utility's SAM does not
 * authenticate it.
 *
 * AID `F0 4D 50 43 4F 4D 01` (F0 ‖ "MPCOM" ‖ 01). Authentication is the purse's (purse-spec §3.4)
 * with the meter SAM's AUTH INIT P1 = 01 (commissioning domain) / AUTH FINISH.
 *
 * ```
 * SELECT          00 A4 04 00 07 AID 00  → FCI 6F { 84 AID, A5 { 5A 08 CSN, C2 01 utility (purse id),
 *                                                            C7 02 uses left } }
 * GET CHALLENGE   00 84 00 00 08         → RC
 * MUTUAL AUTH     00 82 00 u 10 RS ‖ S_sam 08 → S_card
 *                 (P2 = the utility's purse id, 6A88 another; 6300 wrong S_sam)
 * COMMISSION      80 5E P1 00 03 meter id 00 → payload ‖ MAC(SK_comm, 'M' ‖ meter id ‖ payload)
 *                 P1 = what the meter takes: 00 a commissioning payload (it is not commissioned),
 *                 01 a decommissioning payload (it is). Refusals spend no use, in this order:
 *                 6982 no session; 6985 no use left; 6A80 the payload names another meter
 *                 (payload bytes 1–3); 6A88 the payload is not of the kind P1 asks. Otherwise uses − 1 is committed (atomic,
 *                 durable) BEFORE the answer is made, then payload ‖ MAC is returned.
 * ```
 * SK_comm = sessionKey(K_comm, RC, RS), the session key of the mutual authentication; the MAC
 * (commissionMac.ts) binds the payload to this session and this meter, and the meter's SAM checks
 * it (COMMISSION CHECK) before the meter applies a byte, so a device between card and slot cannot
 * change the payload, and a payload recorded in one session is worthless in any other.
 *
 * One COMMISSION per authentication, answered or refused: the session ends either way, so an
 * authenticated session is no oracle for meter ids or payload kinds. Tearing: the use is spent by
 * one atomic commit before the payload and MAC exist outside the card; a power cut before the
 * commit leaves the use and releases nothing, one after it loses that use (never hands out two
 * payloads for one use). Decommissioning is authorised the same way: a card of the meter's utility
 * whose payload (DecommissioningData, meter/commissioning) names that meter, presented to a
 * commissioned meter — the meter refuses any other commissioning until then (docs/meter.md).
 *
 * Persistent: CSN, utility, K_comm, uses left (u16), payload. Volatile: RC, SK_comm.
 */
import type { CommandApdu } from '../../iso7816/CommandApdu.js';
import { SwError } from '../../iso7816/errors.js';
import {
  SW_CONDITIONS_NOT_SATISFIED,
  SW_INCORRECT_P1P2,
  SW_INS_NOT_SUPPORTED,
  SW_REFERENCED_DATA_NOT_FOUND,
  SW_SECURITY_STATUS_NOT_SATISFIED,
  SW_VERIFICATION_FAILED,
  SW_WRONG_DATA,
  SW_WRONG_LENGTH,
} from '../../iso7816/sw.js';
import type { BlockCipherProvider, Rng } from '../../crypto/types.js';
import { wipe } from '../../crypto/wipe.js';
import { concatBytes, fromHex } from '../../util/hex.js';
import { be16, u16 } from '../../util/bigEndian.js';
import type { Application } from '../platform/RuntimeApplet.js';
import type { RecordStore } from '../platform/RecordStore.js';
import { PurseCrypto } from '../PurseCrypto.js';
import { INS_GET_CHALLENGE, INS_MUTUAL_AUTHENTICATE } from '../constants.js';
import { commissionMacInput } from './commissionMac.js';

export const AID_COMMISSIONING = fromHex('F04D50434F4D01');
export const INS_COMMISSION = 0x5e;
export const COMMISSIONING_INS = [INS_GET_CHALLENGE, INS_MUTUAL_AUTHENTICATE, INS_COMMISSION];
/** COMMISSION P1: the meter is not commissioned and takes a commissioning payload. */
export const COMMISSION_WANT_COMMISSION = 0x00;
/** COMMISSION P1: the meter is commissioned and takes a decommissioning payload only. */
export const COMMISSION_WANT_DECOMMISSION = 0x01;
/** First byte of a decommissioning payload (a commissioning payload starts with its format, 01). */
export const PAYLOAD_DECOMMISSION = 0xdc;
/** Largest payload: payload ‖ MAC(8) must fit one short response and the SAM's Lc. */
export const COMMISSIONING_MAX_PAYLOAD = 247;
export const COMMISSIONING_LAYOUT = [
  ['c.csn', 8],
  ['c.purse', 1],
  ['c.key', 16],
  ['c.uses', 2],
  ['c.data', COMMISSIONING_MAX_PAYLOAD],
] as const;

export interface CommissioningPersonalisation {
  csn: Uint8Array;
  /** The utility (purse id 1..15) whose meters the card commissions. */
  purse: number;
  /** K_comm of this CSN and utility (IssuerKeys.commissioningKey(csn, purse)). */
  kComm: Uint8Array;
  uses: number;
  /** The payload, 4…247 bytes (bytes 1–3 the meter id). */
  payload: Uint8Array;
}

interface Session {
  skComm: Uint8Array;
}

export class CommissioningApplet implements Application {
  readonly #store: RecordStore;
  readonly #crypto: PurseCrypto;
  readonly #rng: Rng;
  #rc: Uint8Array | undefined;
  #session: Session | undefined;

  constructor(store: RecordStore, cipher: BlockCipherProvider, rng: Rng) {
    this.#store = store;
    this.#crypto = new PurseCrypto(cipher);
    this.#rng = rng;
  }

  /** @throws RangeError naming the field that does not fit. */
  static personalise(store: RecordStore, p: CommissioningPersonalisation): void {
    if (p.csn.length !== 8) throw new RangeError('csn must be 8 bytes');
    if (!Number.isInteger(p.purse) || p.purse < 1 || p.purse > 15)
      throw new RangeError(`purse must be 1..15, got ${p.purse}`);
    if (p.kComm.length !== 16) throw new RangeError('kComm must be 16 bytes');
    if (!Number.isInteger(p.uses) || p.uses < 0 || p.uses > 0xffff)
      throw new RangeError(`uses must be 0..65535, got ${p.uses}`);
    if (p.payload.length < 4 || p.payload.length > COMMISSIONING_MAX_PAYLOAD)
      throw new RangeError(`payload must be 4..${COMMISSIONING_MAX_PAYLOAD} bytes, got ${p.payload.length}`);
    store.commit([
      ['c.csn', p.csn],
      ['c.purse', Uint8Array.of(p.purse)],
      ['c.key', p.kComm],
      ['c.uses', be16(p.uses)],
      ['c.data', p.payload],
    ]);
  }

  #purse(): number {
    return this.#store.view('c.purse')![0]!;
  }

  #endSession(): void {
    if (this.#session) wipe(this.#session.skComm);
    this.#session = undefined;
  }

  #uses(): number {
    return u16(this.#store.view('c.uses')!);
  }

  select(): Uint8Array {
    const csn = this.#store.view('c.csn')!;
    const a5 = concatBytes(
      Uint8Array.of(0x5a, 8),
      csn,
      Uint8Array.of(0xc2, 1, this.#purse()),
      Uint8Array.of(0xc7, 2),
      this.#store.view('c.uses')!,
    );
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
    this.#endSession();
  }

  process(c: CommandApdu): Uint8Array {
    if (c.cla === 0x00 && c.ins === INS_GET_CHALLENGE) {
      if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
      this.#rc = this.#rng.bytes(8);
      return this.#rc.slice();
    }
    if (c.cla === 0x00 && c.ins === INS_MUTUAL_AUTHENTICATE) return this.#mutualAuthenticate(c);
    if (c.cla === 0x80 && c.ins === INS_COMMISSION) return this.#commission(c);
    throw new SwError(SW_INS_NOT_SUPPORTED);
  }

  /** MUTUAL AUTHENTICATE 00 82 00 utility 10 RS ‖ S_sam 08 → S_card; SK_comm kept for COMMISSION. */
  #mutualAuthenticate(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 === 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.p2 !== this.#purse()) throw new SwError(SW_REFERENCED_DATA_NOT_FOUND, 'no key of that utility');
    if (c.nc !== 16) throw new SwError(SW_WRONG_LENGTH);
    this.#endSession();
    const rc = this.#rc;
    this.#rc = undefined;
    if (!rc) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'no challenge');
    const d = c.dataView();
    const csn = this.#store.view('c.csn')!;
    const key = this.#store.read('c.key')!;
    const auth = this.#crypto.cardAuthenticate(key, rc, d.slice(0, 8), d.subarray(8, 16), csn);
    wipe(key, rc);
    if (!auth) throw new SwError(SW_VERIFICATION_FAILED, 'SAM cryptogram wrong');
    this.#session = { skComm: auth.skAuth };
    return auth.sCard;
  }

  /** COMMISSION 80 5E P1 00 03 meter id 00 → payload ‖ MAC (see the file comment). */
  #commission(c: CommandApdu): Uint8Array {
    if ((c.p1 !== COMMISSION_WANT_COMMISSION && c.p1 !== COMMISSION_WANT_DECOMMISSION) || c.p2 !== 0)
      throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 3) throw new SwError(SW_WRONG_LENGTH);
    const s = this.#session;
    if (!s) throw new SwError(SW_SECURITY_STATUS_NOT_SATISFIED);
    // One COMMISSION per authentication, whatever its answer: SK_comm is gone after this command.
    this.#session = undefined;
    try {
      const uses = this.#uses();
      if (uses === 0) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'no commissioning left');
      const data = this.#store.view('c.data')!;
      const meterId = c.dataView();
      if (data[1] !== meterId[0] || data[2] !== meterId[1] || data[3] !== meterId[2])
        throw new SwError(SW_WRONG_DATA, 'payload is for another meter');
      const decommission = data[0] === PAYLOAD_DECOMMISSION;
      if (decommission !== (c.p1 === COMMISSION_WANT_DECOMMISSION))
        throw new SwError(SW_REFERENCED_DATA_NOT_FOUND, 'the payload is not of the kind asked for');
      // Durable before anything leaves the card: a cut after this loses a use, never gives two.
      this.#store.commit([['c.uses', be16(uses - 1)]]);
      const payload = this.#store.read('c.data')!;
      return concatBytes(payload, this.#crypto.mac(s.skComm, commissionMacInput(meterId, payload)));
    } finally {
      wipe(s.skComm);
    }
  }
}
