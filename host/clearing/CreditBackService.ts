/**
 * Credit-back at a vending point: value a card lost to a transfer the host cancelled is loaded
 * back onto the card, through the authenticated path every card top-up takes — the vending LOAD
 * (terminal/loadCard.ts, a cryptogram under K_credit that only the issuer's side can make) — once
 * per (CSN, purse, card counter).
 *
 * Exactly once, the way CreditSales keeps a recharge once per request id:
 * ```
 *   payable --(durable: expected card counter c+1, terminal, date-time)--> loading --LOAD--> paid
 * ```
 * The state 'loading' is written before the LOAD goes out. If the answer is lost (card pulled, a
 * kill -9), the next visit of the card reads its log back first: the card's own load record at
 * the expected counter (its MAC checked like every record) with that amount, terminal and
 * date-time means the load happened → paid; a purse counter still below it, or another record at
 * that counter, means it did not → payable again. A card never gets the same credit-back twice,
 * and one that was never owed (no debit proof) is never 'payable' at all (ClearingService rule 4).
 *
 * Ledger: a paid credit-back posts Dr `clearing:credit-backs` / Cr `card:<CSN>:<purse>`.
 */
import type { CardChannel } from '../../reader/index.js';
import type { IssuerKeys } from '../../card/index.js';
import { equalBytes, PurseState, toHex } from '../../card/index.js';
import { apdus, expectOk, loadCard, readCardLog } from '../../terminal/index.js';
import type { CreditBackRow } from '../service/db/ClearingRepository.js';
import type { ClearingService } from './ClearingService.js';
import { CARD_LOG_LOAD } from './records.js';

/** The vending point a card is presented at. */
export interface VendingPoint {
  /** The card, in the vending point's reader. */
  readonly card: CardChannel;
  /** The utility's LOAD keys (the vending SAM's MK_credit). */
  readonly issuer: IssuerKeys;
  readonly terminalId: Uint8Array; // 4
  /** BCD YYMMDDhhmmss of this visit. */
  readonly dateTime: Uint8Array; // 6
}

/** What one visit did. */
export interface CreditBackVisit {
  readonly csn: string;
  /** Records read back and ingested (new ones). */
  readonly recordsStored: number;
  readonly paid: ReadonlyArray<{ purse: number; counter: number; amount: number; balance: number }>;
  /** Loads found to have happened before (a lost answer), now marked paid. */
  readonly recovered: number;
  /** Credit-backs still owed but not loaded (the LOAD failed; retried at the next visit). */
  readonly failed: ReadonlyArray<{ purse: number; counter: number; error: string }>;
}

export class CreditBackService {
  constructor(readonly clearing: ClearingService) {}

  /**
   * Reads the card's log back (and ingests it), settles any load left in doubt, then loads every
   * payable credit-back of the card.
   * @throws ClearingError when a record the card gave fails its proof (nothing is paid);
   *   TransferError / CardChannelError when the card cannot be read.
   */
  async visit(v: VendingPoint): Promise<CreditBackVisit> {
    if (v.terminalId.length !== 4) throw new RangeError('terminalId must be 4 bytes');
    if (v.dateTime.length !== 6) throw new RangeError('dateTime must be 6 bytes');
    const c = this.clearing;
    const repo = c.repo;
    const db = c.db;
    const readout = await readCardLog(v.card);
    const csn = toHex(readout.csn).toUpperCase();
    const stored = c.ingestCardRecords(readout.csn, readout.records, `vending:${toHex(v.terminalId)}`).stored;

    let recovered = 0;
    for (const cb of repo.creditBacksOf(csn, 'loading')) {
      const rec = repo.cardRecord(csn, cb.purse, cb.loadCounter!);
      if (rec && this.#isTheLoad(rec, cb)) {
        db.tx(() => {
          if (repo.moveCreditBackInTx(cb, 'loading', 'paid', { reason: 'load found on the card' }))
            repo.postCreditBackInTx(csn, cb.purse, cb.amount);
        });
        recovered++;
        continue;
      }
      const purse = await this.#purse(v.card, cb.purse);
      if (rec || purse.counter < cb.loadCounter!)
        db.tx(() => repo.moveCreditBackInTx(cb, 'loading', 'payable', { reason: 'the load did not happen' }));
      else
        db.event({
          kind: 'credit-back-in-doubt',
          detail: `card ${csn} purse ${cb.purse} counter ${cb.counter}: record ${cb.loadCounter} not read back`,
        });
    }

    const paid: Array<{ purse: number; counter: number; amount: number; balance: number }> = [];
    const failed: Array<{ purse: number; counter: number; error: string }> = [];
    for (const cb of repo.creditBacksOf(csn, 'payable')) {
      const state = await this.#purse(v.card, cb.purse);
      const loadCounter = state.counter + 1;
      const moved = db.tx(() =>
        repo.moveCreditBackInTx(cb, 'payable', 'loading', {
          loadCounter,
          loadTerminal: v.terminalId,
          loadDateTime: v.dateTime,
        }),
      );
      if (!moved) continue;
      this.#fault('loading');
      let after: { balance: number; counter: number };
      try {
        after = await loadCard(v.card, v.issuer, {
          purse: cb.purse,
          amount: cb.amount,
          terminalId: v.terminalId,
          dateTime: v.dateTime,
        });
      } catch (e) {
        // in doubt: 'loading' stays, and the next visit reads the card to know
        failed.push({ purse: cb.purse, counter: cb.counter, error: (e as Error).message });
        db.event({
          kind: 'credit-back-failed',
          detail: `card ${csn} counter ${cb.counter}: ${(e as Error).message}`,
        });
        continue;
      }
      if (after.counter !== loadCounter) {
        failed.push({ purse: cb.purse, counter: cb.counter, error: `card counter ${after.counter}` });
        continue;
      }
      db.tx(() => {
        if (repo.moveCreditBackInTx(cb, 'loading', 'paid', { reason: 'loaded' }))
          repo.postCreditBackInTx(csn, cb.purse, cb.amount);
        db.event({
          kind: 'credit-back-paid',
          detail: `card ${csn} purse ${cb.purse} counter ${cb.counter}: ${cb.amount} loaded at counter ${loadCounter}`,
        });
      });
      this.#fault('loaded');
      paid.push({ purse: cb.purse, counter: cb.counter, amount: cb.amount, balance: after.balance });
    }
    return { csn, recordsStored: stored, paid, recovered, failed };
  }

  #fault(step: 'loading' | 'loaded'): void {
    this.clearing.fault(step);
  }

  async #purse(card: CardChannel, purse: number): Promise<PurseState> {
    return PurseState.decode(await expectOk(card, apdus.readPurse(purse), 'card READ PURSE'));
  }

  #isTheLoad(
    rec: { type: number; amount: number; terminalId: Uint8Array; dateTime: Uint8Array },
    cb: CreditBackRow,
  ): boolean {
    return (
      rec.type === CARD_LOG_LOAD &&
      rec.amount === cb.amount &&
      cb.loadTerminal !== null &&
      cb.loadDateTime !== null &&
      equalBytes(rec.terminalId, cb.loadTerminal) &&
      equalBytes(rec.dateTime, cb.loadDateTime)
    );
  }
}
