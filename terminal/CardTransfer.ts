/**
 * Moving value from a card purse into the meter's SVM, with recovery (docs/purse-spec.md §6).
 *
 * ```
 * 1 card SELECT (FCI: CSN, purses); card GET CHALLENGE; SAM AUTH INIT; card MUTUAL AUTHENTICATE;
 *   SAM AUTH FINISH                                                   (mutual authentication)
 * 2 SVM READ STATE (and READ PENDING when a slot is taken); when a transfer is pending for this
 *   card:                                                            (recovery first, its own slot)
 *     card READ PURSE; counter >= pending counter: READ RECORD of the log at that counter and
 *       COMPLETE TRANSFER with its proof (it is the pending debit) or CANCEL TRANSFER P1=01 with
 *       the record (it is another transaction: the counter never repeats)
 *     counter < pending counter: SVM GET CHALLENGE, card READ PURSE signed with it, CANCEL
 *       TRANSFER P1=00, and authenticate again (signing ended the card's SAM session)
 *   its record left the card's log: ClearingNeededError, the entry stays for the host (HOST SETTLE)
 *   pending for other cards: they hold their own slots and block nobody; only when every slot is
 *   taken is there no new transfer (`transferBlocked: 'slots-full'`), meter data still written
 * 3 amount = min(balance, per-transaction limit, SVM max - SVM balance - reserved by pending
 *   transfers, asked)                                                 (partial fill)
 * 4 SVM GET CHALLENGE; SAM TRANSFER AUTH; SVM BEGIN TRANSFER (lowest free slot); card DEBIT; SVM
 *   COMPLETE TRANSFER for that slot
 * 5 card UPDATE RECORD meter data                                     (authenticated meter only)
 * 6 optional (issue 17, offline meters): SAM SIGN READINGS over the readings record, card UPDATE
 *   RECORD SFI 04 in the same SAM session — best effort: a card without SFI 04 (made before issue
 *   17: 6A82 / 6A83), a refusal, or the card pulled here leaves the transfer as it is
 * ```
 * Whatever step is interrupted (card pulled, power cut, a torn write inside either chip), running
 * this again on the next insertion or power-up leaves card + SVM exactly as before or exactly
 * transferred — test/transfer/interruption.test.ts sweeps every such point.
 */
import type { CardChannel } from '../reader/index.js';
import { CardChannelError } from '../reader/index.js';
import { concatBytes, equalBytes, toHex } from '../card/index.js';
import { u16, u32 } from '../card/index.js';
import { AID_PURSE, LOG_RECORDS } from '../card/index.js';
import { LOG_TYPE_DEBIT, LogRecord, PurseState } from '../card/index.js';
import type { MeterData } from '../card/index.js';
import * as A from './apdus.js';
import { TransferError } from './TransferError.js';
import { findTlv } from '../card/index.js';
import {
  SW_FILE_NOT_FOUND,
  SW_NO_ERROR,
  SW_RECORD_NOT_FOUND,
  SW_VERIFICATION_FAILED,
} from '../card/index.js';
import { SVM_PENDING_SLOTS } from '../card/index.js';
import { expectOk, type MeterModules } from './MeterModules.js';
import { readPending, type PendingEntry } from './clearing/SvmClearing.js';

export interface TransferRequest {
  purse: number;
  /** BCD YYMMDDhhmmss of the meter's clock. */
  dateTime: Uint8Array;
  /** Upper bound of the amount to move (e.g. what the customer asked); default: as much as fits. */
  maxAmount?: number;
  /** False: recovery and meter data only. Default true. */
  transfer?: boolean;
  /** Meter data to write onto the card (built by the meter once the outcome so far is known). */
  meterData?: (o: Omit<TransferOutcome, 'meterDataWritten'>) => MeterData | undefined;
  /**
   * Issue 17: the offline readings record (card SFI 04, 144 bytes) to write right after the meter
   * data, in the same SAM session. Returns bytes 0..134 of the record (format … KT version n); the
   * SAM signs them (SIGN READINGS: the 'M' MAC under K_offline) and the purse's record gets
   * body ‖ MAC ‖ 00. Undefined: nothing written.
   */
  offlineReadings?: (o: Omit<TransferOutcome, 'meterDataWritten'>) => Uint8Array | undefined;
}

/** What became of the offline readings record (`TransferRequest.offlineReadings`). */
export interface ReadingsOutcome {
  /** The whole 144-byte record, once the SAM signed it. */
  record?: Uint8Array;
  written: boolean;
  /**
   * Why it was not written: 'old-card' (6A82 / 6A83: no SFI 04), 'sam-refused' / 'card-refused'
   * (with `sw`), 'card-removed' (the card went during the write: it may or may not hold it).
   */
  skipped?: 'old-card' | 'sam-refused' | 'card-refused' | 'card-removed';
  sw?: number;
}

export type RecoveryResult = 'none' | 'completed' | 'cancelled';

/** Why no new transfer was started although one was asked for (issue 13). */
export type TransferBlocked = 'slots-full';

export interface TransferOutcome {
  csn: Uint8Array;
  recovery: RecoveryResult;
  /**
   * 'slots-full': every pending slot of the SVM holds another card's interrupted transfer, so no
   * new transfer could start (meter data is still written); `pendingCsns` names those cards.
   */
  transferBlocked?: TransferBlocked;
  /** The cards whose transfers fill the SVM's pending slots, when `transferBlocked` is set. */
  pendingCsns?: Uint8Array[];
  /** Amount moved by the recovery (a completed earlier transfer). */
  recovered: number;
  /** Amount moved by this session's new transfer. */
  amount: number;
  /** Card counter of the new transfer's debit, when one happened. */
  counter?: number;
  cardBalance: number;
  svmBalance: number;
  meterDataWritten: boolean;
  /** Set when `offlineReadings` gave a record to write. */
  readings?: ReadingsOutcome;
}

interface CardSession {
  csn: Uint8Array;
  purses: Uint8Array;
}

async function selectCard(card: CardChannel): Promise<CardSession> {
  const fci = await expectOk(card, A.selectAid(AID_PURSE), 'card SELECT');
  const csn = findTlv(fci, 0x5a);
  const purses = findTlv(fci, 0xc2);
  if (!csn || csn.length !== 8 || !purses)
    throw new TransferError('card SELECT', undefined, 'FCI lacks CSN or purses');
  return { csn, purses };
}

/**
 * Mutual authentication of a card and the meter's SAM: GET CHALLENGE, AUTH INIT, MUTUAL
 * AUTHENTICATE, AUTH FINISH — for the SAM's own utility's purse (`m.purse`), the only one whose
 * keys it holds. `domain` 00 is a subscriber card, 01 a commissioning card.
 */
export async function authenticate(
  m: MeterModules,
  card: CardChannel,
  csn: Uint8Array,
  domain = 0,
): Promise<void> {
  const rc = await expectOk(card, A.getChallenge(), 'card GET CHALLENGE');
  const init = await expectOk(m.sam, A.authInit(csn, rc, domain), 'SAM AUTH INIT');
  const sCard = await expectOk(
    card,
    A.mutualAuthenticate(init.subarray(0, 8), init.subarray(8, 16), m.purse),
    'card MUTUAL AUTHENTICATE',
  );
  await expectOk(m.sam, A.authFinish(sCard), 'SAM AUTH FINISH');
}

async function readPurse(card: CardChannel, purse: number): Promise<PurseState> {
  return PurseState.decode(await expectOk(card, A.readPurse(purse), 'card READ PURSE'));
}

/** The card's log record for (purse, counter), or undefined when it is no longer in the log. */
async function findLogRecord(
  card: CardChannel,
  purse: number,
  counter: number,
): Promise<Uint8Array | undefined> {
  for (let n = 1; n <= LOG_RECORDS; n++) {
    const r = await card.transmit(A.readLogRecord(n));
    if (r.sw === SW_RECORD_NOT_FOUND) return undefined;
    if (r.sw !== SW_NO_ERROR) throw new TransferError('card READ RECORD', r.sw);
    const rec = LogRecord.decode(r.data);
    if (rec.purse === purse && rec.counter === counter) return r.data;
  }
  return undefined;
}

/**
 * The card's transfer is pending in the SVM but the record at its counter has left the card's log
 * (more than LOG_RECORDS - 1 transactions since): only the host can settle it now (HOST SETTLE,
 * docs/purse-spec.md §5.8). The entry stays in its slot; `pending` is what the meter uploads.
 * A TransferError with step 'recovery', so callers that knew only that still classify it.
 */
export class ClearingNeededError extends TransferError {
  constructor(readonly pending: PendingEntry) {
    super(
      'recovery',
      undefined,
      `card log no longer holds counter ${pending.counter}: host clearing needed (SVM slot ${pending.slot})`,
    );
  }
}

/**
 * Settles a transfer the SVM has pending for this card, in its own slot.
 * @returns the amount credited to the SVM by the recovery (0 when cancelled) and whether the card
 *   needs a new authentication (a signed status ends its SAM session).
 * @throws ClearingNeededError when the record at the pending counter has left the card's log: the
 *   host's clearing must settle it.
 */
async function recover(
  m: MeterModules,
  card: CardChannel,
  pending: PendingEntry,
): Promise<{ result: 'completed' | 'cancelled'; credited: number; reauth: boolean }> {
  const purse = await readPurse(card, pending.purse);
  if (purse.counter >= pending.counter) {
    const raw = await findLogRecord(card, pending.purse, pending.counter);
    if (!raw) throw new ClearingNeededError(pending);
    const rec = LogRecord.decode(raw);
    if (rec.type === LOG_TYPE_DEBIT && rec.amount === pending.amount) {
      const r = await m.svm.transmit(A.completeTransfer(rec.balanceAfter, rec.mac, pending.slot));
      if (r.sw === SW_NO_ERROR) return { result: 'completed', credited: pending.amount, reauth: false };
      if (r.sw !== SW_VERIFICATION_FAILED) throw new TransferError('SVM COMPLETE TRANSFER (recovery)', r.sw);
      // 6300: a debit of the same amount at that counter, but not this transfer's: cancel with it.
    }
    await expectOk(m.svm, A.cancelWithRecord(raw, pending.slot), 'SVM CANCEL TRANSFER (record)');
    return { result: 'cancelled', credited: 0, reauth: false };
  }
  const rv = await expectOk(m.svm, A.getChallenge(), 'SVM GET CHALLENGE');
  const signed = await expectOk(card, A.readPurse(pending.purse, rv), 'card READ PURSE (signed)');
  const st = PurseState.decode(signed.subarray(0, 17));
  await expectOk(
    m.svm,
    A.cancelWithStatus(st.balance, st.counter, signed.subarray(17, 25), pending.slot),
    'SVM CANCEL TRANSFER (status)',
  );
  return { result: 'cancelled', credited: 0, reauth: true };
}

/**
 * One card session at the meter's slot: authentication, recovery, transfer, meter data.
 * @throws TransferError on a refusal; CardChannelError when the card goes away — in both cases
 *   nothing is lost: running it again (after re-insertion / power-up) recovers.
 */
export async function runCardSession(
  m: MeterModules,
  card: CardChannel,
  req: TransferRequest,
): Promise<TransferOutcome> {
  const session = await selectCard(card);
  const { csn } = session;
  const purseIndex = session.purses.indexOf(req.purse);
  if (purseIndex < 0) throw new TransferError('card SELECT', undefined, `the card has no purse ${req.purse}`);
  if (req.purse !== m.purse)
    throw new TransferError(
      'card SELECT',
      undefined,
      `this meter's SAM serves purse ${m.purse}, not ${req.purse}`,
    );
  await authenticate(m, card, csn);

  let state = await m.readState();
  // READ PENDING only when READ STATE says a slot is taken: the common path sends what it always did.
  let pendings = state.pending ? await readPending(m) : [];
  let recovery: RecoveryResult = 'none';
  let recovered = 0;
  const mine = pendings.find((p) => equalBytes(p.csn, csn));
  if (mine) {
    const r = await recover(m, card, mine);
    recovery = r.result;
    recovered = r.credited;
    if (r.reauth) await authenticate(m, card, csn);
    state = await m.readState();
    pendings = state.pending ? await readPending(m) : [];
  }
  const full = pendings.length >= SVM_PENDING_SLOTS;
  const reserved = pendings.reduce((a, p) => a + p.amount, 0);

  let purse = await readPurse(card, req.purse);
  let amount = 0;
  let counter: number | undefined;
  if (
    req.transfer !== false &&
    !full &&
    purse.status === 0 &&
    purse.counter < 0xffff &&
    state.counter < 0xffffffff
  ) {
    amount = Math.max(
      0,
      Math.min(
        purse.balance,
        purse.limit,
        state.max - state.balance - reserved,
        req.maxAmount ?? Number.MAX_SAFE_INTEGER,
      ),
    );
    if (amount > 0) {
      // BEGIN TRANSFER takes the lowest free slot (docs/purse-spec.md §5.7).
      const taken = new Set(pendings.map((p) => p.slot));
      let slot = 0;
      while (taken.has(slot)) slot++;
      counter = purse.counter + 1;
      const rv = await expectOk(m.svm, A.getChallenge(), 'SVM GET CHALLENGE');
      const auth = await expectOk(
        m.sam,
        A.transferAuth(req.purse, amount, counter, req.dateTime, rv),
        'SAM TRANSFER AUTH',
      );
      await expectOk(
        m.svm,
        A.beginTransfer(csn, req.purse, amount, counter, req.dateTime, auth.subarray(8, 16)),
        'SVM BEGIN TRANSFER',
      );
      const d = await expectOk(
        card,
        A.debit(req.purse, amount, m.terminalId, req.dateTime, rv, auth.subarray(0, 8)),
        'card DEBIT',
      );
      const balanceAfter = u32(d, 0);
      if (u16(d, 4) !== counter)
        throw new TransferError('card DEBIT', undefined, 'counter in the response is not the expected one');
      const c = await expectOk(
        m.svm,
        A.completeTransfer(balanceAfter, d.subarray(6, 14), slot),
        'SVM COMPLETE TRANSFER',
      );
      purse = purse.with(balanceAfter, counter);
      state = { ...state, balance: u32(c, 0), counter: u32(c, 4) };
    }
  }

  const outcome: Omit<TransferOutcome, 'meterDataWritten'> = {
    csn,
    recovery,
    ...(full && req.transfer !== false
      ? { transferBlocked: 'slots-full' as const, pendingCsns: pendings.map((p) => p.csn) }
      : {}),
    recovered,
    amount,
    ...(counter !== undefined ? { counter } : {}),
    cardBalance: purse.balance,
    svmBalance: state.balance,
  };
  const md = req.meterData?.(outcome);
  if (md)
    await expectOk(card, A.updateMeterData(purseIndex + 1, md.encode()), 'card UPDATE RECORD (meter data)');
  const body = req.offlineReadings?.(outcome);
  const readings = body ? await writeReadings(m, card, csn, purseIndex + 1, body) : undefined;
  return { ...outcome, meterDataWritten: md !== undefined, ...(readings ? { readings } : {}) };
}

/**
 * SAM SIGN READINGS, then card UPDATE RECORD SFI 04 record `n` (issue 17). The value already moved,
 * so nothing here fails the session: a refusal or an old card is reported in the outcome, and a card
 * pulled during its write too (its next insertion gets a new record). A failing SAM channel still
 * throws (the meter must reopen its modules).
 */
async function writeReadings(
  m: MeterModules,
  card: CardChannel,
  csn: Uint8Array,
  n: number,
  body: Uint8Array,
): Promise<ReadingsOutcome> {
  const s = await m.sam.transmit(A.samSignReadings(csn, body));
  if (s.sw !== SW_NO_ERROR || s.data.length !== 8)
    return { written: false, skipped: 'sam-refused', sw: s.sw };
  const record = concatBytes(body, s.data, Uint8Array.of(0));
  let r;
  try {
    r = await card.transmit(A.updateOfflineReadings(n, record));
  } catch (e) {
    if (e instanceof CardChannelError) return { record, written: false, skipped: 'card-removed' };
    throw e;
  }
  if (r.sw === SW_NO_ERROR) return { record, written: true };
  const old = r.sw === SW_FILE_NOT_FOUND || r.sw === SW_RECORD_NOT_FOUND;
  return { record, written: false, skipped: old ? 'old-card' : 'card-refused', sw: r.sw };
}

/**
 * "meter busy: 4 interrupted transfers await their cards (0102…, …)" — what the meter displays when
 * every pending slot is taken by other cards; undefined otherwise.
 */
export function awaitedCardMessage(o: TransferOutcome): string | undefined {
  if (o.transferBlocked !== 'slots-full') return undefined;
  const csns = (o.pendingCsns ?? []).map((c) => toHex(c)).join(', ');
  return `meter busy: ${o.pendingCsns?.length ?? 0} interrupted transfers await their cards (${csns})`;
}
