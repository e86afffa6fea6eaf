/**
 * The vending point's part in offline readings (issue 17): with a subscriber card in its reader,
 * it reads the utility's SFI 04 record, hands it to the utility's server, and clears it on the card
 * with the CLEAR READINGS the server signed — only for a record the server verified and stored.
 *
 * ```
 *   SELECT          00 A4 04 00 08 <purse AID> 00     -> FCI: 5A CSN, C2 purse ids (record n = index + 1)
 *   READ RECORD     00 B2 n 24 00                     -> 144-byte SFI 04 record (all zero: none)
 *   CLEAR READINGS  80 5A 00 p 10 readingMac ‖ MAC    -> 9000 cleared | 6985 a newer reading is there
 * ```
 */
import type { CardChannel } from '../../reader/index.js';
import { AID_PURSE, findTlv, SW_NO_ERROR } from '../../card/index.js';
import { apdus as A, expectOk, TransferError } from '../../terminal/index.js';
import type { IngestedReading, UtilityServer } from './UtilityServer.js';

/** What {@link collectReadings} did with the card in the reader. */
export interface CollectedReading {
  readonly csn: Uint8Array;
  /** The server's verdict on the record (status 'empty' when there was none). */
  readonly result: IngestedReading;
  /** The card's status word to CLEAR READINGS, when it was sent. */
  readonly clearSw?: number;
}

/**
 * Reads purse `server.purse`'s offline reading from the card, has the server check and store it,
 * and clears it on the card when the server gave a CLEAR READINGS for it.
 * @throws TransferError when SELECT or READ RECORD fails, the FCI lacks the CSN or the purse.
 */
export async function collectReadings(card: CardChannel, server: UtilityServer): Promise<CollectedReading> {
  const fci = await expectOk(card, A.selectAid(AID_PURSE), 'card SELECT');
  const csn = findTlv(fci, 0x5a);
  const purses = findTlv(fci, 0xc2);
  if (!csn || csn.length !== 8 || !purses)
    throw new TransferError('card SELECT', undefined, 'FCI lacks CSN or purses');
  const n = purses.indexOf(server.purse) + 1;
  if (n === 0) throw new TransferError('card SELECT', undefined, `the card has no purse ${server.purse}`);
  const record = await expectOk(card, A.readOfflineReadings(n), 'card READ RECORD (offline readings)');
  const [result] = server.ingestReadings(csn, [Uint8Array.from(record)], 'vending');
  if (!result!.clear) return { csn: Uint8Array.from(csn), result: result! };
  const r = await card.transmit(A.clearReadings(server.purse, result!.clear));
  if (r.sw === SW_NO_ERROR) server.clearedAtVendingPoint(csn, result!.clear.subarray(0, 8));
  return { csn: Uint8Array.from(csn), result: result!, clearSw: r.sw };
}
