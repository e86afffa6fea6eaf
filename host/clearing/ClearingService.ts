/**
 * The host's clearing (issue 13): every uploaded record checked and stored once, reconciled per
 * card and per meter; pending transfers the cards can no longer recover settled exactly once;
 * value owed back to a card paid only against the card's own proof; the blacklist versioned and
 * distributed.
 *
 * Rules that keep value from being created or lost:
 * 1. A page is checked whole before anything is written: one record with a wrong MAC or proof, or
 *    one that does not parse, refuses the page (an event says which); the meter's cursor stays, so
 *    nothing after the bad record is skipped unseen. A forged record never reaches the tables.
 * 2. Records are stored under their natural keys — (meter, SVM counter) and (CSN, purse, card
 *    counter) — so a record uploaded twice, by two meters or by a meter and a vending point,
 *    counts once (a cancelled transfer repeats the SVM counter before it, so its reference is part
 *    of its key). A *different* valid record under the same key is kept apart as a conflict: for a
 *    card that is a clone (the counter never repeats on a genuine card), and the card is
 *    blacklisted in the same transaction (seed 004: the centre lists a card used twice).
 * 3. A settlement is decided and given its host tx id in one durable transaction before anything
 *    is sent; a retry sends the same decision under the same id, and the SVM answers a repeat
 *    'duplicate' and a recovered transfer 'no-such-pending' — both definite. So a kill -9 at any
 *    step, or a lost answer, never settles twice.
 * 4. 'complete' only on the card's debit record for exactly that transfer: its proof checked at
 *    ingest, amount and date-time matching, and the RV — the SVM's challenge the debit proof covers,
 *    which the pending entry carries — equal, so a debit made for another SVM's session (the same
 *    card counter reported pending by a second, forged or cloned, module) completes nothing. A
 *    transfer reported without its RV (an upload older than the field) is never completed and its
 *    credit-back is never paid on amount and date-time alone: it is cancelled at the term and the
 *    credit-back waits until a report brings the RV. 'cancel' when the card's record at
 *    that counter is another transaction, or when the term has run out with no evidence — then a
 *    credit-back is opened that is paid ONLY once the card's debit record surfaces, and never when
 *    the SVM's log shows the value arrived there (card credit 01, settled complete 05) or that the
 *    card itself cancelled (04). If the debit never happened, nothing is ever paid.
 * 5. Per meter, host tx ids are applied in increasing order, and credits and settlements take them
 *    from one sequence (the credits' AUTOINCREMENT). A settlement is sent holding the meter's line
 *    (the dispatcher's `exclusive`, so no credit overlaps it); on the line it first takes a new id
 *    when a credit above its id was created for that meter since (the credit may have reached the
 *    SVM, which would refuse the lower id with 9407), and waits while an older credit is pending.
 *    So a settlement is never refused because of a host credit. Refusals for any other reason
 *    (ids used by a restored backup, another host) still reissue after `reissueAfter` refusals.
 */
import { equalBytes, fromHex, toHex, type IssuerKeys } from '../../card/index.js';
import type { HostDb } from '../service/HostDb.js';
import { ProtocolError, REFUSE_SETTLE_CONFLICT } from '../../protocol/index.js';
import { ServiceError } from '../service/ServiceError.js';
import type { ClearingPort } from '../service/ClearingPort.js';
import type { MeterLine } from '../ValueStoreDispatcher.js';
import type { ClearingLink, SettleAnswer, UploadCursor } from './ClearingLink.js';
import {
  reconcileCard,
  reconcileMeter,
  type CardReconciliation,
  type MeterReconciliation,
} from '../service/reconcile.js';
import {
  ClearingRepository,
  type CardRecordRow,
  type CreditBackRow,
  type Decision,
  type PendingRow,
  type SvmRecordRow,
} from '../service/db/ClearingRepository.js';
import {
  CARD_LOG_DEBIT,
  CARD_LOG_LOAD,
  CARD_LOG_REMOTE_LOAD,
  CARD_RECORD_LENGTH,
  ClearingKeys,
  MAC_LENGTH,
  SVM_LOG_CANCEL,
  SVM_LOG_CARD_CREDIT,
  SVM_LOG_HOST_CREDIT,
  SVM_LOG_TOKEN,
  SVM_RECORD_LENGTH,
  cardRecordFields,
  pendingRecord,
  svmRecordFields,
  type CardRecordUpload,
  type MeterUpload,
} from './records.js';

export type {
  CardFinding,
  CardReconciliation,
  MeterFinding,
  MeterReconciliation,
} from '../service/reconcile.js';

/** SVM log types of issue 13's host settlement (card/applets/svm/records.ts). */
export const SVM_LOG_SETTLE_COMPLETE = 0x05;
export const SVM_LOG_SETTLE_CANCEL = 0x06;

/** Why a page was refused (ServiceError 422 with this code; 404 for an unknown meter). */
export type ClearingRefusal =
  'malformed' | 'bad-svm-mac' | 'bad-pending-mac' | 'bad-card-proof' | 'unknown-purse' | 'unknown-meter';

/** A refused upload; nothing of it was stored. */
export class ClearingError extends ServiceError {
  constructor(
    readonly code: ClearingRefusal,
    message: string,
    /** Index of the offending entry in its list. */
    readonly index?: number,
  ) {
    super(
      code === 'unknown-meter' ? 404 : 422,
      code,
      message,
      code === 'unknown-meter' ? 'meterId' : 'records',
    );
  }
}

/** What one ingested page did. */
export interface IngestResult {
  readonly svm: { stored: number; duplicates: number; conflicts: number };
  readonly card: { stored: number; duplicates: number; clones: number };
  /** Card records of the page that failed their check, kept in quarantine (rule 1). */
  readonly quarantined: number;
  readonly pending: number;
  readonly attempts: number;
}

/** The outcome of one pending transfer in a settlement run. */
export interface SettleOutcome {
  readonly id: number;
  readonly meterId: string;
  readonly csn: string;
  readonly counter: number;
  readonly state: 'open' | 'decided' | 'settled' | 'waiting';
  readonly decision?: Decision;
  readonly reason?: string;
  readonly answer?: string;
}

/** Named points of the settlement and credit-back paths where a test may "kill the process". */
export type ClearingStep = 'decided' | 'answered' | 'settled' | 'loading' | 'loaded';

export interface ClearingOptions {
  /** The scheme's masters (the host's own utility): K_svm and K_proof are derived from them. */
  readonly keys: IssuerKeys | ClearingKeys;
  /** The utility (purse id) whose SVMs this host clears. */
  readonly purse: number;
  /** The power line; without one, only ingest, reconciliation and the read-back work. */
  readonly link?: ClearingLink;
  /** How long a pending transfer is left for the card to recover before the host settles it. */
  readonly termMs: number;
  /** Wall clock (ms). */
  readonly clock?: () => number;
  /** The SAM + SVM pairing number of a meter (docs/purse-spec.md §2); default 1. */
  readonly pairing?: (meterId: string) => number;
  /**
   * The meter's line shared with the host's credits (the host's ValueStoreDispatcher): each
   * settlement is sent while no credit to that meter is in flight. Default: none (tests, bench).
   */
  readonly line?: MeterLine;
  /** Refusals of a settlement after which it is reissued under a new tx id (default 3). */
  readonly reissueAfter?: number;
  /** Blacklist a registered card found cloned (default true). */
  readonly blacklistClones?: boolean;
  /** Test hook: called after each named step has committed; a throw simulates a crash there. */
  readonly fault?: (step: ClearingStep) => void;
}

const hex = (b: Uint8Array) => toHex(b).toUpperCase();
/** A card record that failed its check, kept apart (rule 1). */
interface Quarantined {
  csn: string;
  raw: Uint8Array;
  reason: string;
  source: string;
  index: number;
}
const METER_ID = /^[0-9A-F]{6}$/;
/** Most pages one collect run takes from one meter (a meter always makes progress per page). */
const MAX_PAGES = 1000;

export class ClearingService implements ClearingPort {
  readonly repo: ClearingRepository;
  readonly keys: ClearingKeys;
  readonly #o: ClearingOptions;
  readonly #clock: () => number;

  constructor(
    readonly db: HostDb,
    options: ClearingOptions,
  ) {
    if (!Number.isInteger(options.termMs) || options.termMs < 0)
      throw new RangeError(`termMs must be a non-negative integer, got ${options.termMs}`);
    this.repo = new ClearingRepository(db);
    this.keys = options.keys instanceof ClearingKeys ? options.keys : new ClearingKeys(options.keys);
    if (!this.keys.hasPurse(options.purse))
      throw new RangeError(`purse: the scheme has no keys for ${options.purse}`);
    this.#o = options;
    this.#clock = options.clock ?? Date.now;
  }

  get link(): ClearingLink | undefined {
    return this.#o.link;
  }

  /** Calls the test hook of {@link ClearingOptions.fault} after a named step committed. */
  fault(step: ClearingStep): void {
    this.#o.fault?.(step);
  }

  #refuse(meterId: string | null, code: ClearingRefusal, message: string, index?: number): never {
    this.db.event({
      kind: 'clearing-refused',
      ...(meterId ? { meterId } : {}),
      detail: `${code}: ${message}`,
    });
    throw new ClearingError(code, message, index);
  }

  // ------------------------------------------------------------------ ingest

  /**
   * Checks and stores one upload page of a meter (rule 1, 2): SVM records under that meter's
   * K_svm, card records under K_proof(CSN), pending transfers, blacklist attempts; and moves the
   * meter's upload cursor to `cursor` in the same transaction.
   * @throws ClearingError (nothing stored) for an unknown meter, a malformed entry, a wrong MAC or
   *   proof, a purse the scheme does not know; HostDbError when the database fails (nothing stored).
   */
  ingest(meterId: string, upload: MeterUpload, cursor?: UploadCursor): IngestResult {
    const id = meterId.toUpperCase();
    if (!METER_ID.test(id) || !this.repo.meterExists(id))
      this.#refuse(null, 'unknown-meter', `no meter ${meterId}`);
    const meterBytes = fromHex(id);
    const pairing = this.#o.pairing?.(id) ?? 1;
    const svmRows: SvmRecordRow[] = upload.svmRecords.map((s, i) => {
      if (!(s.record instanceof Uint8Array) || s.record.length !== SVM_RECORD_LENGTH)
        this.#refuse(id, 'malformed', `SVM record ${i} is not ${SVM_RECORD_LENGTH} bytes`, i);
      if (!(s.mac instanceof Uint8Array) || s.mac.length !== MAC_LENGTH)
        this.#refuse(id, 'malformed', `SVM record ${i}: MAC is not ${MAC_LENGTH} bytes`, i);
      if (!this.keys.checkSvmRecord(meterBytes, this.#o.purse, s.record, s.mac, pairing))
        this.#refuse(id, 'bad-svm-mac', `SVM record ${i}: MAC wrong`, i);
      const f = svmRecordFields(s.record);
      return {
        meterId: id,
        svmCounter: f.svmCounter,
        rkey: svmRecordKey(f.type, f.ref),
        type: f.type,
        ref: f.ref,
        amount: f.amount,
        balanceAfter: f.balanceAfter,
        dateTime: f.dateTime,
        raw: Uint8Array.from(s.record),
        mac: Uint8Array.from(s.mac),
      };
    });
    const { rows: cardRows, quarantine } = this.#checkCardRecords(id, upload.cardRecords, `meter:${id}`);
    upload.pending.forEach((p, i) => {
      const ok =
        p.csn instanceof Uint8Array &&
        p.csn.length === 8 &&
        p.dateTime instanceof Uint8Array &&
        p.dateTime.length === 6 &&
        (p.rv === undefined || (p.rv instanceof Uint8Array && p.rv.length === 8)) &&
        Number.isInteger(p.counter) &&
        p.counter > 0 &&
        p.counter <= 0xffff &&
        Number.isInteger(p.amount) &&
        p.amount > 0 &&
        p.amount <= 0xffffffff &&
        Number.isInteger(p.slot) &&
        p.slot >= 0 &&
        p.slot <= 0xff &&
        p.purse === this.#o.purse;
      if (!ok) this.#refuse(id, 'malformed', `pending transfer ${i} does not fit`, i);
    });
    // A signed page (it came over the power line with the host's challenge): each pending entry is
    // the SVM's own, signed for this page — a wrong or missing MAC means the meter (or its bus) is
    // lying, and the page is refused whole with an event, as for an SVM record (rule 1).
    const signed = upload.challenge !== undefined;
    if (signed && !(upload.challenge instanceof Uint8Array && upload.challenge.length === 8))
      this.#refuse(id, 'malformed', 'challenge is not 8 bytes');
    upload.pending.forEach((p, i) => {
      if (!signed) return;
      if (!p.rv || !(p.mac instanceof Uint8Array) || p.mac.length !== MAC_LENGTH)
        this.#refuse(id, 'bad-pending-mac', `pending transfer ${i}: no SVM MAC`, i);
      const record = pendingRecord({ ...p, rv: p.rv });
      if (
        !this.keys.checkPending(meterBytes, this.#o.purse, p.slot, record, upload.challenge!, p.mac, pairing)
      )
        this.#refuse(id, 'bad-pending-mac', `pending transfer ${i}: SVM MAC wrong`, i);
    });
    upload.attempts.forEach((a, i) => {
      if (
        !(a.serial instanceof Uint8Array) ||
        a.serial.length !== 8 ||
        typeof a.at !== 'string' ||
        a.at.length > 40
      )
        this.#refuse(id, 'malformed', `blacklist attempt ${i} does not fit`, i);
    });

    const now = this.#clock();
    const result = this.db.tx(() => {
      const svm = { stored: 0, duplicates: 0, conflicts: 0 };
      for (const r of svmRows) {
        const s = this.repo.storeSvmRecordInTx(r);
        if (s === 'new') svm.stored++;
        else if (s === 'duplicate') svm.duplicates++;
        else {
          svm.conflicts++;
          this.db.event({
            kind: 'svm-record-conflict',
            meterId: id,
            detail: `two different valid SVM records at counter ${r.svmCounter}`,
          });
        }
      }
      const card = this.#storeCardRowsInTx(cardRows);
      this.#quarantineInTx(id, quarantine);
      let pending = 0;
      for (const p of upload.pending)
        if (
          this.repo.notePendingInTx(
            id,
            {
              csn: hex(p.csn),
              purse: p.purse,
              counter: p.counter,
              amount: p.amount,
              dateTime: p.dateTime,
              // an unsigned entry's RV is the meter's word: never enough to complete a transfer
              rv: signed ? (p.rv ?? null) : null,
              slot: p.slot,
            },
            now,
          )
        )
          pending++;
      let attempts = 0;
      for (const a of upload.attempts)
        if (this.repo.noteAttemptInTx(id, hex(a.serial), a.purse, a.at)) {
          attempts++;
          this.db.event({
            kind: 'blacklist-attempt',
            meterId: id,
            detail: `card ${hex(a.serial)} purse ${a.purse} at ${a.at}`,
          });
        }
      if (cursor) this.repo.setCursorInTx(id, cursor);
      return { svm, card, quarantined: quarantine.length, pending, attempts };
    });
    this.#refreshCreditBacks(
      new Set([
        ...cardRows.map((r) => r.csn),
        ...svmRows
          .filter((r) => r.type !== SVM_LOG_TOKEN && r.type !== SVM_LOG_HOST_CREDIT)
          .map((r) => hex(r.ref.subarray(0, 8))),
      ]),
    );
    return result;
  }

  /**
   * Checks and stores card log records read back at a vending point (POST /clearing/card-records):
   * the same checks and once-only storage as a meter's upload.
   * @throws ClearingError (nothing stored) for a malformed record, a wrong proof or unknown purse.
   */
  ingestCardRecords(csn: Uint8Array, records: readonly Uint8Array[], source: string): IngestResult['card'] {
    if (!(csn instanceof Uint8Array) || csn.length !== 8)
      this.#refuse(null, 'malformed', 'csn must be 8 bytes');
    const { rows } = this.#checkCardRecords(
      null,
      records.map((record) => ({ csn, record })),
      source,
      false,
    );
    const r = this.db.tx(() => this.#storeCardRowsInTx(rows));
    this.#refreshCreditBacks(new Set([hex(csn)]));
    return r;
  }

  #checkCardRecords(
    meterId: string | null,
    list: readonly CardRecordUpload[],
    source: string,
    /** Quarantine a record that does not check (a meter's page) instead of refusing (a vending point). */
    quarantineBad = true,
  ): { rows: CardRecordRow[]; quarantine: Quarantined[] } {
    const quarantine: Quarantined[] = [];
    const rows = list.flatMap((c, i): CardRecordRow[] => {
      if (!(c.csn instanceof Uint8Array) || c.csn.length !== 8)
        this.#refuse(meterId, 'malformed', `card record ${i}: CSN is not 8 bytes`, i);
      if (!(c.record instanceof Uint8Array) || c.record.length !== CARD_RECORD_LENGTH)
        this.#refuse(meterId, 'malformed', `card record ${i} is not ${CARD_RECORD_LENGTH} bytes`, i);
      // What the card slot handed the meter is not the meter's word: a shim there can inject any
      // record. One that does not check is quarantined with its reason; the page goes on (rule 1).
      const f = cardRecordFields(c.record);
      const bad =
        f.type !== CARD_LOG_DEBIT && f.type !== CARD_LOG_LOAD && f.type !== CARD_LOG_REMOTE_LOAD
          ? `type ${f.type}`
          : !this.keys.hasPurse(f.purse)
            ? `unknown purse ${f.purse}`
            : !this.keys.checkCardRecord(c.csn, f)
              ? 'proof wrong'
              : undefined;
      if (bad && !quarantineBad)
        this.#refuse(
          meterId,
          bad.startsWith('type')
            ? 'malformed'
            : bad.startsWith('unknown')
              ? 'unknown-purse'
              : 'bad-card-proof',
          `card record ${i} of ${hex(c.csn)}: ${bad}`,
          i,
        );
      if (bad) {
        quarantine.push({ csn: hex(c.csn), raw: Uint8Array.from(c.record), reason: bad, source, index: i });
        return [];
      }
      return [
        {
          csn: hex(c.csn),
          purse: f.purse,
          counter: f.counter,
          type: f.type,
          amount: f.amount,
          balanceAfter: f.balanceAfter,
          terminalId: f.terminalId,
          dateTime: f.dateTime,
          rv: f.rv,
          raw: Uint8Array.from(c.record),
          source,
        },
      ];
    });
    return { rows, quarantine };
  }

  #quarantineInTx(meterId: string | null, list: readonly Quarantined[]): void {
    for (const q of list)
      if (this.repo.quarantineInTx({ meterId, csn: q.csn, raw: q.raw, reason: q.reason, source: q.source }))
        this.db.event({
          kind: 'card-record-quarantined',
          ...(meterId ? { meterId } : {}),
          detail: `card record ${q.index} of ${q.csn} (${q.source}): ${q.reason}`,
        });
  }

  /** Card records quarantined (all, or those a meter uploaded). */
  quarantined(meterId?: string): ReturnType<ClearingRepository['quarantined']> {
    return this.repo.quarantined(meterId?.toUpperCase());
  }

  #storeCardRowsInTx(rows: readonly CardRecordRow[]): IngestResult['card'] {
    const card = { stored: 0, duplicates: 0, clones: 0 };
    for (const r of rows) {
      const s = this.repo.storeCardRecordInTx(r);
      if (s === 'new') card.stored++;
      else if (s === 'duplicate') card.duplicates++;
      else {
        card.clones++;
        // seed 004: the same usage presented twice is a cloned card; the card goes on the list
        // (in this transaction: the blacklist version moves with it) and the next distribution
        // takes it to every meter
        const listed = this.#o.blacklistClones !== false && this.repo.blacklistCardInTx(r.csn);
        this.db.event({
          kind: 'card-clone',
          detail: `card ${r.csn} purse ${r.purse}: two different valid records at counter ${r.counter} (${r.source})${listed ? '; blacklisted' : ''}`,
        });
      }
    }
    return card;
  }

  /**
   * Takes every upload page a meter holds, from its stored cursor, and ingests each (the cursor
   * moves with each page, in the same transaction).
   * @returns the pages' results.
   * @throws Error when no link is configured; ClearingError when a page is refused (earlier pages stay).
   */
  async collect(meterId: string): Promise<IngestResult[]> {
    const link = this.#needLink();
    const id = meterId.toUpperCase();
    const out: IngestResult[] = [];
    let from = this.repo.cursor(id);
    for (let i = 0; i < MAX_PAGES; i++) {
      const page = await link.upload(id, from);
      out.push(this.ingest(id, page.upload, page.next));
      // the page is the meter's authenticated word on the blacklist version it holds
      if (page.blacklistVersion !== undefined) this.repo.setMeterBlacklistVersion(id, page.blacklistVersion);
      if (!page.more || (page.next.journal <= from.journal && page.next.svm <= from.svm)) break;
      from = page.next;
    }
    return out;
  }

  #needLink(): ClearingLink {
    if (!this.#o.link) throw new ServiceError(503, 'clearing-offline', 'clearing has no power-line link');
    return this.#o.link;
  }

  // ------------------------------------------------------------------ reconciliation

  /** The card's records per purse: counter gaps, clones, balance breaks (see reconcile.ts). */
  reconcileCard(csn: string): CardReconciliation {
    return reconcileCard(this.repo, csn);
  }

  /** The meter's SVM records: counter continuity, conflicts, balance evolution (see reconcile.ts). */
  reconcileMeter(meterId: string): MeterReconciliation {
    return reconcileMeter(this.repo, meterId);
  }

  // ------------------------------------------------------------------ settlement

  /**
   * Settles what is due (rules 3–5): decides every open pending transfer older than the term (or
   * proven now), then sends every decided one not yet answered. Safe to run again at any time, and
   * after a crash at any step.
   * @throws Error when no link is configured.
   */
  async settlePending(): Promise<SettleOutcome[]> {
    const link = this.#needLink();
    const now = this.#clock();
    const out: SettleOutcome[] = [];
    for (const p of this.repo.pendingIn('open')) {
      const d = this.#decide(p, now);
      if (!d) {
        out.push(outcome(p, 'open'));
        continue;
      }
      this.db.tx(() => {
        const txId = this.repo.allocateTxIdInTx();
        this.repo.decideInTx(p.id, d.decision, d.reason, txId);
        if (d.creditBack)
          this.repo.openCreditBackInTx({
            csn: p.csn,
            purse: p.purse,
            counter: p.counter,
            amount: p.amount,
            pendingId: p.id,
          });
        this.db.event({
          kind: 'settle-decided',
          meterId: p.meterId,
          detail: `card ${p.csn} purse ${p.purse} counter ${p.counter} amount ${p.amount}: ${d.decision} (${d.reason}), tx ${txId}`,
        });
      });
      this.fault('decided');
    }
    for (const p of this.repo.pendingIn('decided')) out.push(await this.#send(link, p));
    return out;
  }

  /** What the records say of one open pending transfer, or undefined: not yet (wait). */
  #decide(
    p: PendingRow,
    now: number,
  ): { decision: Decision; reason: string; creditBack: boolean } | undefined {
    const rec = this.repo.cardRecord(p.csn, p.purse, p.counter);
    if (rec) {
      const m = debitMatch(rec, p);
      if (m === 'this' && this.#arrivedAnywhere(p.csn, p.counter))
        return { decision: 'cancel', reason: 'credited-elsewhere', creditBack: false };
      if (m === 'this') return { decision: 'complete', reason: 'debit-proven', creditBack: false };
      if (m === 'other') return { decision: 'cancel', reason: 'counter-used-otherwise', creditBack: false };
      // 'unproven': it looks like this debit but no RV binds it to this SVM: the term decides
    }
    if (now - p.firstSeenMs >= this.#o.termMs)
      return { decision: 'cancel', reason: 'term-expired', creditBack: true };
    return undefined;
  }

  /**
   * A decided 'complete' the SVM can no longer take: its signed log (uploaded) shows this card
   * counter credited there (01) or host-completed (05). The SVM would answer 6985 for ever, so the
   * stale slot is cancelled instead, under a new tx id, with no credit-back (the value arrived).
   * @returns true when it re-decided.
   */
  #completeOverruled(p: PendingRow): boolean {
    const ref = Uint8Array.of(...fromHex(p.csn), p.counter >> 8, p.counter & 0xff);
    const credited =
      this.repo.svmRecordsWithRef(p.meterId, SVM_LOG_CARD_CREDIT, ref) +
      this.repo.svmRecordsWithRef(p.meterId, SVM_LOG_SETTLE_COMPLETE, ref);
    if (credited === 0) return false;
    this.db.tx(() => {
      const txId = this.repo.allocateTxIdInTx();
      this.repo.redecideCancelInTx(p.id, 'svm-already-credited', txId);
      this.db.event({
        kind: 'settle-redecided',
        meterId: p.meterId,
        detail: `pending ${p.id}: the SVM's log shows card ${p.csn} counter ${p.counter} credited; 'complete' -> cancel tx ${txId}`,
      });
    });
    return true;
  }

  /**
   * Has any meter's SVM logged this (card, counter) as credited (card credit 01) or host-completed
   * (05)? The value of one card debit arrives once: a second meter's entry for it is never completed.
   */
  #arrivedAnywhere(csn: string, counter: number): boolean {
    const ref = Uint8Array.of(...fromHex(csn), counter >> 8, counter & 0xff);
    return (
      this.repo.svmRecordsWithRefAnywhere(SVM_LOG_CARD_CREDIT, ref) +
        this.repo.svmRecordsWithRefAnywhere(SVM_LOG_SETTLE_COMPLETE, ref) >
      0
    );
  }

  #send(link: ClearingLink, p: PendingRow): Promise<SettleOutcome> {
    const line = this.#o.line;
    return line
      ? line.exclusive(p.meterId, () => this.#sendOnLine(link, p.id))
      : this.#sendOnLine(link, p.id);
  }

  /** Sends one decided settlement; the caller holds the meter's line (rule 5). */
  async #sendOnLine(link: ClearingLink, id: number): Promise<SettleOutcome> {
    let p = this.repo.pending(id)!;
    if (p.state !== 'decided') return outcome(p, p.state);
    if (p.decision === 'complete' && this.#completeOverruled(p)) p = this.repo.pending(id)!;
    if (this.repo.newerCredits(p.meterId, p.txId!) > 0) {
      this.db.tx(() => {
        const txId = this.repo.allocateTxIdInTx();
        this.repo.reissueInTx(p.id, txId);
        this.db.event({
          kind: 'settle-renumbered',
          meterId: p.meterId,
          detail: `pending ${p.id}: a host credit above tx ${p.txId} went to the meter first, now tx ${txId}`,
        });
      });
      p = this.repo.pending(id)!;
    }
    if (this.repo.olderCreditsPending(p.meterId, p.txId!) > 0) return outcome(p, 'waiting');
    this.repo.noteSettleAttempt(p.id);
    let a: SettleAnswer;
    try {
      a = await link.settle(p.meterId, {
        decision: p.decision!,
        slot: p.slot,
        csn: fromHex(p.csn),
        purse: p.purse,
        counter: p.counter,
        amount: p.amount,
        txId: p.txId!,
      });
    } catch (e) {
      this.db.event({
        kind: 'settle-in-doubt',
        meterId: p.meterId,
        detail: `pending ${p.id} tx ${p.txId}: ${(e as Error).message}`,
      });
      if (
        e instanceof ProtocolError &&
        e.code === 'refused' &&
        e.reason === REFUSE_SETTLE_CONFLICT &&
        p.decision === 'complete'
      ) {
        // The SVM says it already credited that card counter (6985). A refusal is unsigned, so it
        // changes nothing by itself: the next upload brings the SVM's signed log (01 / 05 for this
        // card counter) and only that turns the decision into 'cancel' (#completeOverruled). Not a
        // refusal to count towards a reissue either: a new id would be refused the same way.
        this.repo.noteSettleRefusal(p.id);
        return outcome(p, 'decided');
      }
      if (e instanceof ProtocolError && e.code === 'refused') this.#refused(p);
      return outcome(p, 'decided');
    }
    this.fault('answered');
    this.db.tx(() => {
      this.repo.settleInTx(p.id, a.status, a.raw ?? null);
      this.db.event({
        kind: 'settled',
        meterId: p.meterId,
        detail: `pending ${p.id} (card ${p.csn} counter ${p.counter}) tx ${p.txId}: ${p.decision} -> ${a.status}`,
      });
    });
    this.fault('settled');
    // a no-such-pending answer carries how the transfer ended, as the SVM logged it: evidence
    if (a.logRecord && a.logRecord.some((b) => b !== 0)) this.#noteSvmEvidence(p, a.logRecord);
    this.#refreshCreditBacks(new Set([p.csn]));
    return outcome(this.repo.pending(p.id)!, 'settled');
  }

  /**
   * The meter refused the settlement outright (a refusal message, not a lost frame). The one
   * refusal that repeats for ever is the SVM's 9407: a newer host credit reached it first and ids
   * only grow there. After `reissueAfter` refusals the same decision gets a new, higher tx id —
   * safe because the slot, not the id, is what a settlement consumes: had an earlier attempt been
   * applied after all, the SVM answers the new id 'no-such-pending' with its own record of that
   * settlement (05 / 06), and a credit-back still waits for that evidence (rule 4).
   */
  #refused(p: PendingRow): void {
    if (this.repo.noteSettleRefusal(p.id) < (this.#o.reissueAfter ?? 3)) return;
    this.db.tx(() => {
      const txId = this.repo.allocateTxIdInTx();
      this.repo.reissueInTx(p.id, txId);
      this.db.event({
        kind: 'settle-reissued',
        meterId: p.meterId,
        detail: `pending ${p.id}: tx ${p.txId} refused ${this.#o.reissueAfter ?? 3} times, now tx ${txId}`,
      });
    });
  }

  /** An SVM log record returned inside a settle answer (signed there) is stored like an uploaded one. */
  #noteSvmEvidence(p: PendingRow, record: Uint8Array): void {
    if (record.length !== SVM_RECORD_LENGTH) return;
    const f = svmRecordFields(record);
    this.db.tx(() =>
      this.repo.storeSvmRecordInTx({
        meterId: p.meterId,
        svmCounter: f.svmCounter,
        rkey: svmRecordKey(f.type, f.ref),
        type: f.type,
        ref: f.ref,
        amount: f.amount,
        balanceAfter: f.balanceAfter,
        dateTime: f.dateTime,
        raw: Uint8Array.from(record),
        mac: new Uint8Array(MAC_LENGTH),
      }),
    );
  }

  /**
   * Credit-backs awaiting the card's debit become payable when (rule 4): the settlement answered
   * (cancel applied, or a duplicate of it — or no-such-pending with the SVM's own record that the
   * host cancelled it), the card's debit record for that transfer is stored, and no SVM record says
   * the value reached the SVM. They become void when the SVM's records say the value arrived there
   * or the card cancelled, or the card's record at that counter is another transaction.
   */
  #refreshCreditBacks(csns: ReadonlySet<string>): void {
    for (const csn of csns)
      for (const cb of this.repo.creditBacksOf(csn, 'awaiting-debit')) {
        const p = this.repo.pending(cb.pendingId)!;
        const verdict = this.#creditBackVerdict(cb, p);
        if (verdict === 'wait') continue;
        this.db.tx(() => {
          if (this.repo.moveCreditBackInTx(cb, 'awaiting-debit', verdict.to, { reason: verdict.reason }))
            this.db.event({
              kind: verdict.to === 'payable' ? 'credit-back-payable' : 'credit-back-void',
              meterId: p.meterId,
              detail: `card ${cb.csn} purse ${cb.purse} counter ${cb.counter} amount ${cb.amount}: ${verdict.reason}`,
            });
        });
      }
  }

  #creditBackVerdict(cb: CreditBackRow, p: PendingRow): 'wait' | { to: 'payable' | 'void'; reason: string } {
    const ref = Uint8Array.of(...fromHex(cb.csn), cb.counter >> 8, cb.counter & 0xff);
    const arrived =
      this.repo.svmRecordsWithRef(p.meterId, SVM_LOG_CARD_CREDIT, ref) +
      this.repo.svmRecordsWithRef(p.meterId, SVM_LOG_SETTLE_COMPLETE, ref);
    if (arrived > 0) return { to: 'void', reason: 'the SVM was credited with it' };
    if (this.repo.svmRecordsWithRef(p.meterId, SVM_LOG_CANCEL, ref) > 0)
      return { to: 'void', reason: 'the card cancelled it (the debit did not happen)' };
    const rec = this.repo.cardRecord(cb.csn, cb.purse, cb.counter);
    const m = rec ? debitMatch(rec, p) : undefined;
    if (m === 'other') return { to: 'void', reason: 'the card counter was used otherwise' };
    if (m === 'unproven') return 'wait'; // no RV yet: paid only once a report binds the debit to this SVM
    if (p.state !== 'settled') return 'wait';
    // 'duplicate' says only that the tx id was used before: it is a cancel only when the answer's
    // log record is the SVM's host-cancel (06) of this very card and counter (else: double value)
    const hostCancelled =
      p.answer === 'settled-cancel' ||
      (p.answer === 'duplicate' && this.#answerIsHostCancel(p, ref)) ||
      this.repo.svmRecordsWithRef(p.meterId, SVM_LOG_SETTLE_CANCEL, ref) > 0;
    if (!hostCancelled) return 'wait';
    return rec ? { to: 'payable', reason: 'debit proven, transfer cancelled' } : 'wait';
  }

  /** The stored answer's log record (last 29 bytes of the raw answer) is a 06 for `ref`. */
  #answerIsHostCancel(p: PendingRow, ref: Uint8Array): boolean {
    const raw = this.repo.pendingAnswerRaw(p.id);
    if (!raw || raw.length < SVM_RECORD_LENGTH) return false;
    const record = raw.subarray(raw.length - SVM_RECORD_LENGTH);
    if (record.every((b) => b === 0)) return false;
    const f = svmRecordFields(record);
    return f.type === SVM_LOG_SETTLE_CANCEL && equalBytes(f.ref.subarray(0, ref.length), ref);
  }

  /** A card's credit-backs (all states). */
  creditBacks(csn: string): CreditBackRow[] {
    return this.repo.creditBacksOf(csn.toUpperCase());
  }

  // ------------------------------------------------------------------ blacklist

  /** The blacklist as vending points and meters get it (GET /clearing/blacklist). */
  blacklist(): { version: number; serials: string[] } {
    return this.repo.blacklist();
  }

  /**
   * Sends the current blacklist to every meter (or `meterIds`) that has not confirmed this
   * version, and records the version each confirms. A failure is an event, never an exception.
   */
  async distributeBlacklist(
    meterIds?: readonly string[],
  ): Promise<Array<{ meterId: string; version?: number; status: string }>> {
    const link = this.#needLink();
    const list = this.repo.blacklist();
    const serials = list.serials.map((s) => fromHex(s));
    const out: Array<{ meterId: string; version?: number; status: string }> = [];
    for (const m of meterIds?.map((x) => x.toUpperCase()) ?? this.repo.meterIds()) {
      const held = this.repo.meterBlacklistVersion(m);
      if (list.version === 0) {
        out.push({ meterId: m, version: 0, status: 'nothing to send' }); // no card was ever listed
        continue;
      }
      if (held !== undefined && held >= list.version) {
        out.push({ meterId: m, version: held, status: 'current' });
        continue;
      }
      try {
        const a = await link.sendBlacklist(m, { version: list.version, serials });
        this.repo.setMeterBlacklistVersion(m, a.version);
        // a meter holding another version (older: it refused ours; newer: another host's list)
        // does not hold this list: say so, an operator must look
        if (a.version !== list.version)
          this.db.event({
            kind: 'blacklist-not-applied',
            meterId: m,
            detail: `meter holds v${a.version} after v${list.version} was sent (${a.status})`,
          });
        out.push({ meterId: m, version: a.version, status: a.status });
      } catch (e) {
        this.db.event({ kind: 'blacklist-failed', meterId: m, detail: (e as Error).message });
        out.push({ meterId: m, status: `failed: ${(e as Error).message}` });
      }
    }
    return out;
  }

  /** Blacklist attempts meters reported (all, or of one meter). */
  attempts(meterId?: string): ReturnType<ClearingRepository['attempts']> {
    return this.repo.attempts(meterId?.toUpperCase());
  }
}

/**
 * The part of an SVM record's key beyond (meter, SVM counter): empty for records that move the
 * counter, the reference for those that repeat the counter before them (cancel 04, host cancel 06).
 */
export function svmRecordKey(type: number, ref: Uint8Array): string {
  return type === SVM_LOG_CANCEL || type === SVM_LOG_SETTLE_CANCEL ? hex(ref) : '';
}

/**
 * Is a card record the debit of exactly this pending transfer? 'this': a debit of that amount and
 * date-time, made toward this meter (terminal id), whose proof covers the SVM's RV; 'other': another transaction at that
 * counter (a load, another amount, date-time or RV); 'unproven': it fits but the transfer's RV is
 * unknown, so nothing binds the debit to this SVM.
 */
function debitMatch(
  rec: CardRecordRow,
  p: { meterId: string; amount: number; dateTime: Uint8Array; rv: Uint8Array | null },
): 'this' | 'other' | 'unproven' {
  if (rec.type !== CARD_LOG_DEBIT || rec.amount !== p.amount || !equalBytes(rec.dateTime, p.dateTime))
    return 'other';
  // a debit made toward another meter (terminal id 00 ‖ meter id) is never this meter's transfer
  if (!equalBytes(rec.terminalId, Uint8Array.of(0, ...fromHex(p.meterId)))) return 'other';
  if (p.rv === null) return 'unproven';
  return equalBytes(rec.rv, p.rv) ? 'this' : 'other';
}

function outcome(p: PendingRow, state: SettleOutcome['state']): SettleOutcome {
  return {
    id: p.id,
    meterId: p.meterId,
    csn: p.csn,
    counter: p.counter,
    state,
    ...(p.decision ? { decision: p.decision } : {}),
    ...(p.reason ? { reason: p.reason } : {}),
    ...(p.answer ? { answer: p.answer } : {}),
  };
}
