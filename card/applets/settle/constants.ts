/**
 * The settlement card's table (seed 004, EP0856821): its AID, instructions, the objects READ
 * OBJECT hands out, and its proprietary status words. docs/settlement.md is the reference.
 *
 * ```
 *  CLA INS P1 P2  data                                   response                       seed
 *  00  A4  04 00  AID                                    FCI                            —
 *  80  30  obj 00 —                                      the object (table below)       Figs. 5, 9
 *  80  32  00 00  now(8) ‖ terminal Certificate          E1 SignedValue? E2 UsageInfo?  Figs. 5, 12
 *                                                        C2 state flags (02: recharge last)
 *  80  34  00 00  R(16)                                  X(16) ‖ V(4) ‖ SU(R‖X‖V)       Fig. 6
 *  80  36  00 00  UsageInfo (the terminal's update)      ServiceRecord SU(M‖IDU)        Figs. 6, 12, 17
 *  80  38  00 00  SignedValue (issue / recharge)         V(4) ‖ seq(4)                  Figs. 4C, 7
 *  80  38  01 00  now(8) ‖ n(2) ‖ SignedValue ‖ disp. Cert. V(4) ‖ seq(4)              Fig. 4C (IDC)
 *  00  84  00 00  —                                      X(16)  (password registration) Fig. 15
 *  80  3E  00 00  PasswordSetting SA(Ns‖IDU)             —                              Fig. 13
 *  80  3A  00 00  n ‖ Ns' ‖ R ‖ block(8) ‖ ST(R‖X‖Nc)    — / 63Cx / 6983                Figs. 13, 15
 *  00  20  00 81  password block (8) or nothing          — / 63Cx / 6983                Figs. 14, 16
 *  80  3C  00 00  card Certificate (personalisation)     —                              Fig. 4B
 * ```
 * Every command but SELECT and READ OBJECT answers {@link SW_SETTLE_DISABLED} once the card has
 * disabled itself (an update that would have raised its value, Fig. 5's abnormality code).
 */
import { fromHex } from '../../util/hex.js';
import { describeSw } from '../../iso7816/swTable.js';

/** ISO/IEC 7816-5 category F (proprietary) AID: F0 "MPSETL" 01. */
export const AID_SETTLE = fromHex('F04D505345544C01');

export const INS_SETTLE_READ_OBJECT = 0x30;
export const INS_SETTLE_PRESENT_TERMINAL = 0x32;
export const INS_SETTLE_SIGN_VALUE = 0x34;
export const INS_SETTLE_UPDATE_VALUE = 0x36;
export const INS_SETTLE_RECHARGE = 0x38;
export const INS_SETTLE_REGISTER_PASSWORD = 0x3a;
export const INS_SETTLE_PUT_CERTIFICATE = 0x3c;
export const INS_SETTLE_INSTALL_SETTING = 0x3e;
/** ISO/IEC 7816-4 GET CHALLENGE and VERIFY (the password, reference 81). */
export const INS_SETTLE_GET_CHALLENGE = 0x84;
export const INS_SETTLE_VERIFY = 0x20;
export const SETTLE_PASSWORD_REF = 0x81;

/** P1 of READ OBJECT. */
export const SETTLE_OBJ_CARD_CERTIFICATE = 0x01;
export const SETTLE_OBJ_USAGE_INFO = 0x02;
export const SETTLE_OBJ_SIGNED_VALUE = 0x03;
export const SETTLE_OBJ_ABNORMALITY_LOG = 0x04;
export const SETTLE_OBJ_PUBLIC_KEY = 0x05;
export const SETTLE_OBJ_SERVICE_RECORD = 0x06;
export const SETTLE_OBJ_STATUS = 0x07;

/** Tags of the PRESENT TERMINAL answer (private class, primitive). */
export const SETTLE_TAG_SIGNED_VALUE = 0xe1;
export const SETTLE_TAG_USAGE_INFO = 0xe2;
/** The card's state flags (01 disabled, 02 the last change of V was a recharge): which of E1/E2 is V's proof. */
export const SETTLE_TAG_STATE_FLAGS = 0xc2;

/** Lengths of the session nonces R (terminal) and X (card), bytes. */
export const SETTLE_NONCE_LENGTH = 16;

/** Abnormality codes written to the card's log (Fig. 5: "a code representing the abnormality"). */
export const SETTLE_ABNORMAL_VALUE_INCREASE = 0x01;
export const SETTLE_ABNORMAL_BAD_TERMINAL_SIGNATURE = 0x02;
/** Abnormality log slots (cyclic, newest overwrites oldest). */
export const SETTLE_ABNORMALITY_SLOTS = 4;

/** Proprietary status words of the settlement card (94 1x; the purse uses 94 0x). */
export const SW_SETTLE_DISABLED = 0x9410;
export const SW_SETTLE_BAD_CERTIFICATE = 0x9411;
export const SW_SETTLE_WRONG_KIND = 0x9412;
export const SW_SETTLE_EXPIRED = 0x9413;
export const SW_SETTLE_OTHER_CENTRE = 0x9414;
export const SW_SETTLE_BAD_SIGNATURE = 0x9415;
export const SW_SETTLE_VALUE_INCREASE = 0x9416;
export const SW_SETTLE_REPLAY = 0x9417;
export const SW_SETTLE_NOT_THIS_CARD = 0x9418;
export const SW_SETTLE_TIME_BACKWARDS = 0x9419;
export const SW_SETTLE_NO_SESSION = 0x941a;
/** A recharge value computed from another card state than the present one (the minting race). */
export const SW_SETTLE_STALE_VALUE = 0x941b;
/** The card's service counter is at 0xFFFFFFFF: it can serve no more (nothing written). */
export const SW_SETTLE_EXHAUSTED = 0x941c;

const NAMES: ReadonlyMap<number, string> = new Map([
  [SW_SETTLE_DISABLED, 'card disabled after an abnormality'],
  [SW_SETTLE_BAD_CERTIFICATE, 'certificate not signed by the centre or malformed'],
  [SW_SETTLE_WRONG_KIND, 'certificate of the wrong kind'],
  [SW_SETTLE_EXPIRED, 'outside the term of validity'],
  [SW_SETTLE_OTHER_CENTRE, 'certificate of another centre'],
  [SW_SETTLE_BAD_SIGNATURE, 'signature does not verify'],
  [SW_SETTLE_VALUE_INCREASE, 'new value above the old one: card disabled'],
  [SW_SETTLE_REPLAY, 'replay refused (session used, or sequence not fresh)'],
  [SW_SETTLE_NOT_THIS_CARD, 'signed for another card or another session'],
  [SW_SETTLE_TIME_BACKWARDS, 'time before the last signed time the card saw'],
  [SW_SETTLE_NO_SESSION, 'no verified terminal / no signed value in this session'],
  [SW_SETTLE_STALE_VALUE, 'recharge value computed from another card state'],
  [SW_SETTLE_EXHAUSTED, 'service counter exhausted'],
]);

/** "9416: settlement: new value above the old one: card disabled", or the ISO meaning. */
export function describeSettleSw(sw: number): string {
  const n = NAMES.get(sw);
  return n === undefined ? describeSw(sw) : `${describeSw(sw).slice(0, 4)}: settlement: ${n}`;
}
