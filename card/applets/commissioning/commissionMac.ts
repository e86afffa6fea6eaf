import { concatBytes } from '../../util/hex.js';
import { ascii } from '../bytes.js';

/** Label of the commissioning payload MAC. */
const LABEL_COMMISSION = ascii('M');

/**
 * Input of the commissioning payload MAC (docs/purse-spec.md, commissioning card):
 * `'M' ‖ meter id (3) ‖ payload`, MAC'd with the session key SK_comm = sessionKey(K_comm(CSN), RC,
 * RS) of the card's mutual authentication with the meter's SAM. The session key binds it to that
 * one session (both challenges) and the meter id to that one meter; the label keeps it apart from
 * the session's authentication cryptograms (RC ‖ RS ‖ CSN, RS ‖ RC ‖ CSN).
 */
export function commissionMacInput(meterId: Uint8Array, payload: Uint8Array): Uint8Array {
  return concatBytes(LABEL_COMMISSION, meterId, payload);
}
