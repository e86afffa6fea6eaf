/**
 * The issuer / vending point's LOAD of a card purse (docs/purse-spec.md §3.7). Only a holder of
 * MK_credit (the issuer, its host or vending SAM) can compute the cryptogram; a meter SAM cannot.
 */
import type { CardChannel } from '../reader/index.js';
import { wipe } from '../card/index.js';
import { verifyMac } from '../card/index.js';
import { u16, u32 } from '../card/index.js';
import { AID_PURSE } from '../card/index.js';
import type { IssuerKeys } from '../card/index.js';
import { loadMacInput, loadReceiptInput } from '../card/index.js';
import { PurseState } from '../card/index.js';
import * as A from './apdus.js';
import { findTlv } from '../card/index.js';
import { expectOk } from './MeterModules.js';
import { TransferError } from './TransferError.js';

export interface LoadRequest {
  purse: number;
  amount: number;
  terminalId: Uint8Array; // 4
  dateTime: Uint8Array; // 6 BCD
  /** PIN to present first when the card asks for one. */
  pinBlock?: Uint8Array;
}

/**
 * SELECT, READ PURSE (counter), [VERIFY], GET CHALLENGE, LOAD; checks the card's receipt.
 * @returns balance and counter after the load.
 * @throws TransferError on a refusal or a wrong receipt.
 */
export async function loadCard(
  card: CardChannel,
  issuer: IssuerKeys,
  req: LoadRequest,
): Promise<{ balance: number; counter: number }> {
  const fci = await expectOk(card, A.selectAid(AID_PURSE), 'card SELECT');
  const csn = findTlv(fci, 0x5a);
  if (!csn || csn.length !== 8) throw new TransferError('card SELECT', undefined, 'FCI lacks the CSN');
  const purse = PurseState.decode(await expectOk(card, A.readPurse(req.purse), 'card READ PURSE'));
  if (req.pinBlock) await expectOk(card, A.verifyPin(req.pinBlock), 'card VERIFY');
  const rc = await expectOk(card, A.getChallenge(), 'card GET CHALLENGE');
  const t = {
    csn,
    purse: req.purse,
    amount: req.amount,
    counter: purse.counter + 1,
    terminalId: req.terminalId,
    dateTime: req.dateTime,
  };
  const c = issuer.crypto;
  const kCredit = issuer.creditKey(csn, req.purse);
  const sk = c.creditSessionKey(kCredit, rc);
  try {
    const r = await expectOk(
      card,
      A.load(req.purse, req.amount, req.terminalId, req.dateTime, c.mac(sk, loadMacInput(t))),
      'card LOAD',
    );
    const balance = u32(r, 0);
    if (!verifyMac(c.mac(sk, loadReceiptInput(t, balance)), r.subarray(6, 14)))
      throw new TransferError('card LOAD', undefined, 'receipt MAC wrong');
    return { balance, counter: u16(r, 4) };
  } finally {
    wipe(kCredit, sk);
  }
}
