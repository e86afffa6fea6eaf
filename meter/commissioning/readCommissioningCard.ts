/**
 * The meter side of the commissioning card (card/applets/commissioning): SELECT, mutual
 * authentication with the meter's SAM (the purse's scheme, docs/purse-spec.md §3.4), COMMISSION.
 */
import type { CardChannel } from '../../reader/CardChannel.js';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import * as A from '../../card/transfer/apdus.js';
import { expectOk, fciField, type MeterModules } from '../../card/transfer/MeterModules.js';
import { TransferError } from '../../card/transfer/TransferError.js';
import { authenticate } from '../../card/transfer/CardTransfer.js';
import { AID_COMMISSIONING, INS_COMMISSION } from '../../card/applets/commissioning/CommissioningApplet.js';
import { CommissioningData } from './CommissioningData.js';

/**
 * @returns the card's CSN and the decoded payload (one use of the card is spent).
 * @throws TransferError on a refusal (6A82 not a commissioning card, 6300 not authentic, 6985 no
 *   use left); MalformedDataError / TariffTableError for a bad payload.
 */
export async function readCommissioningCard(
  m: MeterModules,
  card: CardChannel,
): Promise<{ csn: Uint8Array; data: CommissioningData }> {
  const fci = await expectOk(card, A.selectAid(AID_COMMISSIONING), 'commissioning SELECT');
  const csn = fciField(fci, 0x5a);
  if (!csn || csn.length !== 8)
    throw new TransferError('commissioning SELECT', undefined, 'FCI lacks the CSN');
  await authenticate(m, card, csn);
  const payload = await expectOk(
    card,
    new CommandApdu({ cla: 0x80, ins: INS_COMMISSION, p1: 0, p2: 0, data: m.meterId, ne: 256 }),
    'card COMMISSION',
  );
  return { csn, data: CommissioningData.decode(payload) };
}
