/**
 * The meter side of the commissioning card (card/applets/commissioning):
 *
 * ```
 * card SELECT commissioning AID             → CSN, utility, uses left
 *   (a card of another utility is refused here, before anything is spent)
 * card GET CHALLENGE                        → RC
 * SAM  AUTH INIT P1 = 01 (CSN ‖ RC)          → RS ‖ S_sam        K_comm from MK_comm of the SAM's utility
 * card MUTUAL AUTHENTICATE P2 = utility      → S_card
 * SAM  AUTH FINISH (S_card)                  → 9000
 * card COMMISSION P1 = 00 / 01 (meter id)    → payload ‖ MAC     00: the meter takes a commissioning
 *                                                                payload, 01: a decommissioning one
 * SAM  COMMISSION CHECK (payload ‖ MAC)      → 9000              MAC(SK_comm, 'M' ‖ meter id ‖ payload)
 * decode the payload                          (only now: nothing the SAM did not vouch for is parsed)
 * ```
 * The meter core then applies it (`Meter.commission` / `Meter.decommission`), which checks its
 * state and the credit ceilings once more.
 */
import type { CardChannel } from '../../reader/index.js';
import { CommandApdu } from '../../card/index.js';
import { apdus as A } from '../../terminal/index.js';
import { expectOk, type MeterModules } from '../../terminal/index.js';
import { findTlv } from '../../card/index.js';
import { SW_NO_ERROR, SW_REFERENCED_DATA_NOT_FOUND, SW_VERIFICATION_FAILED } from '../../card/index.js';
import { TransferError } from '../../terminal/index.js';
import { INS_COMMISSION_CHECK } from '../../card/index.js';
import { AUTH_COMMISSIONING } from '../../card/index.js';
import {
  AID_COMMISSIONING,
  COMMISSION_WANT_COMMISSION,
  COMMISSION_WANT_DECOMMISSION,
  INS_COMMISSION,
} from '../../card/index.js';
import { toHex } from '../../card/index.js';
import { CommissioningError } from '../errors.js';
import type { CommissioningData } from './CommissioningData.js';
import { decodeCommissioningPayload, type DecommissioningData } from './DecommissioningData.js';

/** SW of the card's COMMISSION when its payload is not of the kind asked for (6A88). */
const SW_OTHER_KIND = SW_REFERENCED_DATA_NOT_FOUND;

export interface CommissioningRead {
  csn: Uint8Array;
  /** A CommissioningData, or a DecommissioningData (only when `commissioned` was true). */
  data: CommissioningData | DecommissioningData;
}

/**
 * The card's mutual authentication with the SAM in the commissioning key domain (AUTH INIT
 * P1 = 01: the SAM derives K_comm from its MK_comm, never K_auth).
 * @throws TransferError (6300 from the card or AUTH FINISH: not a commissioning card of this utility).
 */
export async function authenticateCommissioningCard(
  m: MeterModules,
  card: CardChannel,
  csn: Uint8Array,
  purse: number,
): Promise<void> {
  const rc = await expectOk(card, A.getChallenge(), 'card GET CHALLENGE');
  const init = await expectOk(m.sam, A.authInit(csn, rc, AUTH_COMMISSIONING), 'SAM AUTH INIT');
  const sCard = await expectOk(
    card,
    A.mutualAuthenticate(init.subarray(0, 8), init.subarray(8, 16), purse),
    'card MUTUAL AUTHENTICATE',
  );
  await expectOk(m.sam, A.authFinish(sCard), 'SAM AUTH FINISH');
}

/**
 * Reads a commissioning card in the slot of a meter of utility `purse` (see the file comment).
 * One use of the card is spent once the card answers COMMISSION.
 * @throws CommissioningError 'other-utility' for a card of another utility (nothing spent); TransferError on a
 *   card or SAM refusal (6A82 not a commissioning card, 6300 not authentic, 6A80 another meter,
 *   6985 no use left); CommissioningError 'already-commissioned' / 'not-commissioned' when the card
 *   holds the other kind of payload (nothing spent), 'payload-not-authentic' when the SAM refuses
 *   the MAC, 'credit-above-ceiling' from decoding; MalformedDataError / TariffTableError for a
 *   payload that does not parse.
 */
export async function readCommissioningCard(
  m: MeterModules,
  card: CardChannel,
  o: { purse: number; commissioned: boolean },
): Promise<CommissioningRead> {
  const fci = await expectOk(card, A.selectAid(AID_COMMISSIONING), 'commissioning SELECT');
  const csn = findTlv(fci, 0x5a);
  const utility = findTlv(fci, 0xc2);
  if (!csn || csn.length !== 8 || !utility || utility.length !== 1)
    throw new TransferError('commissioning SELECT', undefined, 'FCI lacks the CSN or the utility');
  // The FCI is not authenticated: this only saves a hopeless authentication. A card that lies
  // here still has to pass the SAM with the key of this meter's utility.
  if (utility[0] !== o.purse)
    throw new CommissioningError(
      'other-utility',
      `commissioning card of utility ${utility[0]}, this meter is utility ${o.purse}`,
    );
  await authenticateCommissioningCard(m, card, csn, o.purse);
  const want = o.commissioned ? COMMISSION_WANT_DECOMMISSION : COMMISSION_WANT_COMMISSION;
  const r = await card.transmit(
    new CommandApdu({ cla: 0x80, ins: INS_COMMISSION, p1: want, p2: 0, data: m.meterId, ne: 256 }),
  );
  if (r.sw === SW_OTHER_KIND)
    throw o.commissioned
      ? new CommissioningError(
          'already-commissioned',
          'the meter is commissioned; present a decommissioning card first',
          r.sw,
        )
      : new CommissioningError('not-commissioned', 'a decommissioning card for a meter not in service', r.sw);
  if (r.sw !== SW_NO_ERROR) throw new TransferError('card COMMISSION', r.sw);
  const answer = r.data;
  if (answer.length < 4 + 8) throw new TransferError('card COMMISSION', undefined, 'answer too short');
  const check = await m.sam.transmit(
    new CommandApdu({ cla: 0x80, ins: INS_COMMISSION_CHECK, p1: 0, p2: 0, data: answer }),
  );
  if (check.sw === SW_VERIFICATION_FAILED)
    throw new CommissioningError(
      'payload-not-authentic',
      `the SAM refused the commissioning payload of card ${toHex(csn)} (MAC wrong)`,
      check.sw,
    );
  if (check.sw !== SW_NO_ERROR) throw new TransferError('SAM COMMISSION CHECK', check.sw);
  return { csn, data: decodeCommissioningPayload(answer.subarray(0, answer.length - 8)) };
}
