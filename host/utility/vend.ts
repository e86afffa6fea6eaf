/**
 * The utility's vending point as a second carrier (issue 17): with a subscriber card in its reader,
 * it collects the card's offline reading (as {@link collectReadings}) and delivers everything the
 * utility has outstanding for the card — the newest configuration not yet seen on a card here (applied
 * on the relay's word alone is not seen: a PUT CONFIG answer has no receipt) and the sales in
 * transit — as the very bytes the utility signed for the relay, never signed again. The card's
 * answers are settled exactly as relay answers are (UtilityServer rule 6).
 *
 * ```
 *   SELECT          00 A4 04 00 08 <purse AID> 00     -> FCI: 5A CSN, C2 purse ids (record n = index + 1)
 *   READ RECORD     00 B2 n 24 00                     -> SFI 04 reading (144 bytes; 6A83: no record)
 *   CLEAR READINGS  80 5A 00 p 10 readingMac ‖ MAC    -> 9000 | 6985           (an authentic reading only)
 *   READ RECORD     00 B2 n 1C 00                     -> SFI 03 configuration  (a configuration outstanding)
 *   PUT CONFIG      80 58 00 p 2C config ‖ MAC        -> 9000 | 9407 | ...     (unless SFI 03 holds it already)
 *   REMOTE LOAD     80 56 00 p 1A data(26) 00         -> outcome ‖ balance ‖ counter ‖ receipt, 9000
 *                                                        (one per sale in transit, by seq)
 * ```
 *
 * Why double delivery is harmless: a REMOTE LOAD applies a seq once (a second delivery answers
 * outcome 02 and the same receipt), PUT CONFIG refuses a version not above the stored one (9407),
 * CLEAR READINGS names the reading's MAC (6985 once it is gone). So the vending point and the relay
 * may both carry the same command, in either order, and a card pulled at any APDU costs only a
 * repeat at the next visit: each answer is settled in its own transaction as soon as it arrives,
 * and a command whose answer was lost stays outstanding. A PUT CONFIG whose answer was lost is
 * found at the next visit by reading SFI 03 (its record byte for byte), not by sending it again into
 * a 9407 that could not tell "mine" from "a newer one".
 *
 * Why the loads stop at the first one not booked: the card applies seqs in order (9409 for a gap),
 * so after a refusal (9402 purse full, 6985 blocked) or an answer without a verifiable receipt, the
 * later seqs could not be applied anyway.
 *
 * Why only the reading on the card is cleared: CLEAR READINGS clears the record it names and the
 * card holds one record per purse; an uncleared stored reading that is no longer on the card (a
 * newer one was written over it, or a clear's answer was lost) cannot be cleared by anything and is
 * only counted in the report.
 */
import type { CardChannel } from '../../reader/index.js';
import {
  AID_PURSE,
  SW_NO_ERROR,
  SW_RECORD_NOT_FOUND,
  equalBytes,
  findTlv,
  toHex,
  u32,
} from '../../card/index.js';
import { apdus as A, expectOk, TransferError } from '../../terminal/index.js';
import type { IngestedReading, UtilityServer, VendedResult } from './UtilityServer.js';

const READING_LENGTH = 144;
const MAC_OFFSET = 135;

/** One REMOTE LOAD the vending point delivered, and how the server took the card's answer. */
export interface VendedLoad {
  readonly ref: string;
  readonly seq: number;
  readonly amount: number;
  readonly sw: number;
  /** 01 applied now, 02 already applied (from the card's answer, when it has one). */
  readonly outcome?: number;
  readonly balanceAfter?: number;
  readonly result: VendedResult;
}

/** What {@link vend} did with the card in the reader. */
export interface VendReport {
  readonly csn: Uint8Array;
  /** The reading step; null when this purse has no SFI 04 record on the card (position 7 or later). */
  readonly reading: {
    readonly result: IngestedReading;
    /** The card's status word to CLEAR READINGS, when it was sent. */
    readonly clearSw?: number;
    readonly cleared?: VendedResult;
  } | null;
  /** The configuration step; null when none was outstanding. `sw` 'on-card': SFI 03 held it already. */
  readonly config: {
    readonly version: number;
    readonly sw: number | 'on-card';
    readonly result: VendedResult;
  } | null;
  readonly loads: readonly VendedLoad[];
  /** Sales in transit not sent because an earlier seq was not booked. */
  readonly loadsHeld: number;
  /** Stored readings not confirmed cleared that the card no longer holds (not sendable). */
  readonly clearsNotOnCard: number;
}

/**
 * One vending session with the card in `card` for `server`'s purse (UtilityServer rule 6).
 * Everything settled before a failure stays settled; the rest stays outstanding.
 * @throws TransferError when SELECT or READ RECORD of SFI 04 fails or the FCI lacks the CSN or the
 *   purse; CardChannelError (CardRemovedError, ...) when the card or reader goes during the session.
 */
export async function vend(card: CardChannel, server: UtilityServer): Promise<VendReport> {
  const fci = await expectOk(card, A.selectAid(AID_PURSE), 'card SELECT');
  const csnRaw = findTlv(fci, 0x5a);
  const purses = findTlv(fci, 0xc2);
  if (!csnRaw || csnRaw.length !== 8 || !purses)
    throw new TransferError('card SELECT', undefined, 'FCI lacks CSN or purses');
  const csn = Uint8Array.from(csnRaw);
  const p = server.purse;
  const n = purses.indexOf(p) + 1;
  if (n === 0) throw new TransferError('card SELECT', undefined, `the card has no purse ${p}`);

  // 1. the reading: read, verify and store, clear the one on the card
  let reading: VendReport['reading'] = null;
  let onCardMac: string | undefined;
  const rr = await card.transmit(A.readOfflineReadings(n));
  if (rr.sw !== SW_RECORD_NOT_FOUND) {
    if (rr.sw !== SW_NO_ERROR) throw new TransferError('card READ RECORD (offline readings)', rr.sw);
    const record = Uint8Array.from(rr.data);
    if (record.length === READING_LENGTH)
      onCardMac = toHex(record.subarray(MAC_OFFSET, MAC_OFFSET + 8)).toUpperCase();
    const [result] = server.ingestReadings(csn, [record], 'vending');
    if (!result!.clear) reading = { result: result! };
    else {
      const c = await card.transmit(A.clearReadings(p, result!.clear));
      const cleared = server.settleVendedClear(csn, result!.clear.subarray(0, 8), c.sw);
      reading = { result: result!, clearSw: c.sw, cleared };
    }
  }

  const due = server.outstanding(csn);
  const clearsNotOnCard = due.clears.filter((c) => toHex(c.readingMac).toUpperCase() !== onCardMac).length;

  // 2. the newest configuration not yet seen applied on a card (read SFI 03 first: no PUT into a 9407)
  let config: VendReport['config'] = null;
  if (due.config) {
    const { version, record, data } = due.config;
    const held = await card.transmit(A.readOfflineConfig(n));
    if (held.sw === SW_NO_ERROR && equalBytes(held.data, record))
      config = { version, sw: 'on-card', result: server.settleVendedConfig(csn, version, 'on-card') };
    else {
      const r = await card.transmit(A.putConfig(p, data));
      config = { version, sw: r.sw, result: server.settleVendedConfig(csn, version, r.sw) };
    }
  }

  // 3. the sales in transit, by seq
  const loads: VendedLoad[] = [];
  for (const l of due.loads) {
    const r = await card.transmit(A.remoteLoad(p, l.data));
    const answer = Uint8Array.from(r.data);
    const result = server.settleVendedLoad(l.ref, r.sw, answer);
    loads.push({
      ref: l.ref,
      seq: l.seq,
      amount: l.amount,
      sw: r.sw,
      ...(r.sw === SW_NO_ERROR && answer.length === 15
        ? { outcome: answer[0]!, balanceAfter: u32(answer, 1) }
        : {}),
      result,
    });
    if (result !== 'booked' && result !== 'already-booked') break;
  }
  return { csn, reading, config, loads, loadsHeld: due.loads.length - loads.length, clearsNotOnCard };
}
