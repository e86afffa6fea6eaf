/**
 * The vending point's read-back of a subscriber card's transaction log (docs/purse-spec.md §3.1,
 * §3.8), so the card's records reach the host's clearing even when no meter uploads them.
 *
 * ```
 *   SELECT        00 A4 04 00 08 F04D505552534501 00   -> FCI (5A 08 CSN)
 *   READ RECORD   00 B2 n 0C 00, n = 1 (newest) .. 10  -> 38-byte log record | 6A83 (no record n)
 * ```
 * The records are returned raw, exactly as the card gave them: each carries the card's MAC under
 * K_proof(CSN), which only the host (and the issuer's SVMs) can check, so this function judges
 * nothing — it only refuses an answer that cannot be a log record (wrong length).
 */
import type { CardChannel } from '../../reader/index.js';
import { AID_PURSE, findTlv, SW_NO_ERROR, SW_RECORD_NOT_FOUND } from '../../card/index.js';
import * as A from '../apdus.js';
import { expectOk } from '../MeterModules.js';
import { TransferError } from '../TransferError.js';

/** Records in the card's cyclic log (docs/purse-spec.md §3.1). */
export const CARD_LOG_RECORDS = 10;
/** Bytes of one card log record. */
export const CARD_LOG_RECORD_LENGTH = 38;

/** What {@link readCardLog} read: the card's serial and its log records, newest first. */
export interface CardLogReadout {
  /** CSN, 8 bytes, from the FCI (tag 5A). */
  readonly csn: Uint8Array;
  /** Raw 38-byte records, record 1 (newest) first; fewer than 10 when the log is not full. */
  readonly records: readonly Uint8Array[];
}

/**
 * SELECT the purse application, then READ RECORD 1..10 of the log until the card answers 6A83.
 * @throws TransferError when SELECT fails, the FCI has no 8-byte CSN, a READ RECORD answers any
 *   status other than 9000 / 6A83, or a record is not 38 bytes.
 */
export async function readCardLog(card: CardChannel): Promise<CardLogReadout> {
  const fci = await expectOk(card, A.selectAid(AID_PURSE), 'card SELECT');
  const csn = findTlv(fci, 0x5a);
  if (!csn || csn.length !== 8) throw new TransferError('card SELECT', undefined, 'FCI lacks the CSN');
  const records: Uint8Array[] = [];
  for (let n = 1; n <= CARD_LOG_RECORDS; n++) {
    const r = await card.transmit(A.readLogRecord(n));
    if (r.sw === SW_RECORD_NOT_FOUND) break;
    if (r.sw !== SW_NO_ERROR) throw new TransferError(`card READ RECORD ${n}`, r.sw);
    if (r.data.length !== CARD_LOG_RECORD_LENGTH)
      throw new TransferError(
        `card READ RECORD ${n}`,
        undefined,
        `record is ${r.data.length} bytes, expected ${CARD_LOG_RECORD_LENGTH}`,
      );
    records.push(Uint8Array.from(r.data));
  }
  return { csn: Uint8Array.from(csn), records };
}
