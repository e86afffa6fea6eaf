/**
 * Batch issuance, one card per good CSV row, exactly once across kills (`meterpurse card issue`).
 *
 * For each row, in file order (BatchJournal.ts states the journal's rules):
 * ```
 *   journal.allocate ─► allocated (CSN fixed, durable)                       nothing touched yet
 *   station.obtain   ─► the row's card already exists? (file <CSN>.card / chip at LCS 05 with this CSN)
 *        yes ─► journal.personalised, audit 'recovered'                      (a kill cut the last run short)
 *        no  ─► a blank chip; journal.attempt (ICSN)
 *               personalise(MKC, chip, order)        the chip stages everything, one commit at SET STATUS
 *               mkc.save()                           the MKC's issue counter is durable
 *               audit 'issued'                       counter, ICSN, key versions and KCVs
 *               station.commit()                     the card exists: file written atomically / chip done
 *               journal.personalised
 *   host.register (POST /cards, idempotent) ─► journal.registered, audit 'registered'
 * ```
 * Why this order. The CSN is durable before any card exists, so a restart can only find the
 * row's own card, never allocate a second serial. A card is looked for before a new one is made,
 * so a card that exists is never made twice. The chip commits nothing before SET STATUS
 * (docs/personalisation.md §1), so a kill inside the session leaves no half-issued card: in
 * `--out` mode the chip only ever lived in memory, in `--reader` mode it is still blank (LCS 03)
 * and is personalised again from the start.
 *
 * The MKC's issue counter. It counts the personalisations the MKC completed (PERSO RECEIPT). The
 * MKC is saved before the card file is written, so the counter can run ahead of the cards, never
 * behind: a kill between `mkc.save()` and the card file leaves one count whose card was never
 * written; the restart personalises the row again (same CSN, a new chip) and the counter counts it
 * again. So issueCounter = cards issued + personalisations discarded that way, and each discarded
 * one shows as an extra attempt of its row in the journal (`attempts`) and in the audit log as an
 * `issued` line of the same CSN before the one whose ICSN the card has — or, killed between the
 * MKC's save and that line, as a gap between the counters of the `issued` lines. (The other order would make the counter run behind
 * the cards, hiding a card from the MKC's count — worse for an auditor.)
 */
import type { CardChannel } from '../../reader/index.js';
import { CommandApdu, ResponseApdu } from '../../card/index.js';
import { BureauError } from '../../terminal/index.js';
import type { BatchRow, MasterKeyCard, MkcStatus, PersoOrder, PersoResult } from '../../terminal/index.js';

/** How often one row's chip may be pulled and put back before the batch stops. */
export const PULL_RETRIES = 3;
import type { AuditKey, AuditLog } from './AuditLog.js';
import { BatchJournal, JournalError, digestOf, type JournalRow } from './BatchJournal.js';
import type { FaultPlan } from './faults.js';
import { RegistrationError, type HostRegistrar } from './HostRegistrar.js';

/** A row's card, as the station found it. */
export type Obtained =
  | { readonly done: true; readonly icsn: string | null }
  | {
      readonly done: false;
      readonly icsn: string;
      /** The chip's transport key version, when known (the audit log names MK_tr[tkv]). */
      readonly tkv?: number | undefined;
      readonly chip: CardChannel;
      /** Makes the personalised card durable (writes its file); the chip is never used again. */
      commit(): Promise<void>;
    };

/** Where cards come from and go to: card files in a folder, or a PC/SC reader. */
export interface IssueStation {
  /**
   * The card of `row` (journal state `allocated`): found already personalised as this row, or a
   * blank chip to personalise.
   */
  obtain(
    row: BatchRow,
    journal: JournalRow,
    order: PersoOrder,
    index: number,
    total: number,
  ): Promise<Obtained>;
  /** Said after a card is done (a reader asks to take the card out). */
  finished?(row: BatchRow, journal: JournalRow): Promise<void>;
  /**
   * The chip went away during its session (a reader's card pulled): told so, `obtain` is called
   * again for the same row. Absent: such an error stops the batch.
   */
  pulled?(row: BatchRow, journal: JournalRow, error: Error): Promise<void>;
}

/** The master-key card in use, and how to make its state durable. */
export interface MkcHandle {
  readonly mkc: MasterKeyCard;
  /** Saves the MKC's image (card file) after each personalisation; a reader-held MKC: nothing. */
  save(): void;
  /** GET DATA as the batch started: serial, key versions and KCVs for the audit log. */
  readonly status: MkcStatus;
}

export type RowOutcome =
  | {
      row: BatchRow;
      csn: string;
      result: 'issued' | 'recovered' | 'done-before';
      registered: RegistrationOutcome;
    }
  | { row: BatchRow; result: 'refused'; reason: string };

export type RegistrationOutcome = 'registered' | 'registered-before' | 'skipped' | { failed: string };

export interface BatchReport {
  outcomes: RowOutcome[];
  issued: number;
  recovered: number;
  doneBefore: number;
  refused: number;
  registered: number;
  registrationFailed: number;
  elapsedMs: number;
}

export interface BatchIssuerOptions {
  journal: BatchJournal;
  station: IssueStation;
  mkc: MkcHandle;
  audit: AuditLog;
  host?: HostRegistrar;
  faults?: FaultPlan;
  /** Told of each finished row (plain lines, progress). */
  onRow?: (outcome: RowOutcome, index: number, total: number) => void;
  now?: () => number;
}

/** Purse defaults of a subscriber card (card/applets defaultPurses): limits and unit. */
const PURSE_MAX = 500_000;
const PURSE_LIMIT = 100_000;
const UNIT_EUR_CENTS = 978;

/** The personalisation order of a row with its allocated CSN. */
export function orderOf(row: BatchRow, csn: string): PersoOrder {
  return {
    kind: 'subscriber',
    csn: hexBytes(csn),
    ...(row.expiry ? { expiry: hexBytes(row.expiry) } : {}),
    purses: row.purses.map((p) => ({
      id: p.id,
      balance: p.balance,
      max: PURSE_MAX,
      limit: PURSE_LIMIT,
      unit: UNIT_EUR_CENTS,
    })),
    ...(row.pin ? { pin: row.pin } : {}),
  };
}

function hexBytes(h: string): Uint8Array {
  return Uint8Array.from(h.match(/../g)!.map((x) => parseInt(x, 16)));
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).toUpperCase().padStart(2, '0')).join('');
const hex2 = (n: number) => n.toString(16).toUpperCase().padStart(2, '0');

/**
 * The masters a subscriber card of `row` is derived from: the transport master MK_tr[tkv] and
 * each purse's (utility's) auth, debit, credit and proof masters (slots u << 4 | 1..4).
 */
export function keysOf(status: MkcStatus, row: BatchRow, tkv: number | undefined): AuditKey[] {
  const want = new Set<number>();
  if (tkv !== undefined) want.add(tkv);
  for (const p of row.purses) for (let t = 1; t <= 4; t++) want.add((p.id << 4) | t);
  return status.slots
    .filter((s) => want.has(s.slot))
    .map((s) => ({ slot: hex2(s.slot), name: s.name, version: s.version, kcv: hex(s.kcv) }));
}

/** A channel that lets the fault plan kill the process before a given APDU (tests only). */
class FaultChannel implements CardChannel {
  #count = 0;
  constructor(
    private readonly inner: CardChannel,
    private readonly faults: FaultPlan,
    private readonly rowIndex: number,
  ) {}
  get readerName() {
    return this.inner.readerName;
  }
  get atr() {
    return this.inner.atr;
  }
  get protocol() {
    return this.inner.protocol;
  }
  transmit(command: CommandApdu): Promise<ResponseApdu> {
    this.faults.apdu(this.rowIndex, ++this.#count);
    return this.inner.transmit(command);
  }
  reset() {
    return this.inner.reset();
  }
  disconnect() {
    return this.inner.disconnect();
  }
}

/** A row the personalisation refused before its chip was touched. */
class RowRefused extends Error {}

export type Personalise = (mkc: MasterKeyCard, chip: CardChannel, order: PersoOrder) => Promise<PersoResult>;

export class BatchIssuer {
  readonly #o: BatchIssuerOptions;
  readonly #personalise: Personalise;

  constructor(options: BatchIssuerOptions, personalise: Personalise) {
    this.#o = options;
    this.#personalise = personalise;
  }

  /**
   * Issues every row (the good rows of the CSV, in file order).
   * @throws BureauError from the MKC or a chip (the batch stops; a restart resumes), a fatal
   *   RegistrationError (host unreachable, key refused), the fs / journal error that stopped it.
   */
  async run(rows: readonly BatchRow[]): Promise<BatchReport> {
    const now = this.#o.now ?? Date.now;
    const t0 = now();
    const report: BatchReport = {
      outcomes: [],
      issued: 0,
      recovered: 0,
      doneBefore: 0,
      refused: 0,
      registered: 0,
      registrationFailed: 0,
      elapsedMs: 0,
    };
    for (let i = 0; i < rows.length; i++) {
      const outcome = await this.#one(rows[i]!, i + 1, rows.length);
      report.outcomes.push(outcome);
      if (outcome.result === 'refused') report.refused++;
      else {
        if (outcome.result === 'issued') report.issued++;
        else if (outcome.result === 'recovered') report.recovered++;
        else report.doneBefore++;
        if (outcome.registered === 'registered') report.registered++;
        else if (typeof outcome.registered === 'object') report.registrationFailed++;
      }
      this.#o.onRow?.(outcome, i + 1, rows.length);
    }
    report.elapsedMs = now() - t0;
    return report;
  }

  async #one(row: BatchRow, index: number, total: number): Promise<RowOutcome> {
    const { journal, station, faults, mkc } = this.#o;
    // A purse of a utility the MKC holds no keys of is this row's fault, not the batch's: refused
    // before a serial is allocated (it stopped every run of the batch at this row before).
    const missing = row.purses.find((p) =>
      [1, 2, 3, 4].some((t) => !mkc.status.slots.some((s) => s.slot === ((p.id << 4) | t))),
    );
    if (missing)
      return {
        row,
        result: 'refused',
        reason: `purse ${missing.id}: master-key card ${mkc.mkc.serial} holds no keys of utility ${missing.id}`,
      };
    let j: JournalRow;
    try {
      j = journal.allocate(row.subscriberId, row.line, digestOf(row.canonical));
    } catch (e) {
      if (e instanceof JournalError) return { row, result: 'refused', reason: e.message };
      throw e;
    }
    faults?.at(index, 'after-allocate');
    let result: 'issued' | 'recovered' | 'done-before' = 'done-before';
    const order = orderOf(row, j.csn);
    if (j.state === 'allocated') {
      try {
        result = await this.#make(row, j, order, index, total);
      } catch (e) {
        if (e instanceof RowRefused) return { row, result: 'refused', reason: e.message };
        throw e;
      }
      faults?.at(index, 'after-personalise');
      await station.finished?.(row, j);
      j = journal.get(row.subscriberId)!;
    }
    const registered = await this.#register(row, j, index);
    faults?.at(index, 'done');
    return { row, csn: j.csn, result, registered };
  }

  /**
   * The card of a row in state `allocated`: found, or made. A chip pulled from the reader during
   * its session (BureauError 'chip-missing') kept nothing — it commits only at SET STATUS — and is
   * asked for again, up to {@link PULL_RETRIES} times; the stations that cannot lose a chip (card
   * files) never see that error.
   */
  async #make(
    row: BatchRow,
    j: JournalRow,
    order: PersoOrder,
    index: number,
    total: number,
  ): Promise<'issued' | 'recovered'> {
    const { journal, station, mkc, audit, faults } = this.#o;
    for (let pulls = 0; ; pulls++) {
      const got = await station.obtain(row, j, order, index, total);
      if (got.done) {
        const icsn = got.icsn ?? j.icsn ?? '';
        audit.append({
          event: 'recovered',
          line: row.line,
          subscriber: row.subscriberId,
          csn: j.csn,
          ...(icsn ? { icsn } : {}),
          kind: 'subscriber',
          mkcSerial: mkc.mkc.serial,
        });
        journal.personalised(j.csn, icsn, null);
        return 'recovered';
      }
      journal.attempt(j.csn, got.icsn);
      const chip = faults?.active ? new FaultChannel(got.chip, faults, index) : got.chip;
      let done: PersoResult;
      try {
        done = await this.#personalise(mkc.mkc, chip, order);
      } catch (e) {
        if (e instanceof BureauError && e.code === 'chip-missing' && station.pulled && pulls < PULL_RETRIES) {
          await station.pulled(row, j, e);
          continue;
        }
        // An order the personalisation refuses before the chip is touched: this row only.
        if (e instanceof BureauError && e.code === 'bad-order') throw new RowRefused(e.message);
        throw e;
      }
      mkc.save();
      faults?.at(index, 'after-mkc-save');
      // Before the card is made durable: every personalisation the MKC counted and saved has
      // its line, also one whose card a kill then discards (the row's later line is its card).
      audit.append({
        event: 'issued',
        line: row.line,
        subscriber: row.subscriberId,
        csn: j.csn,
        icsn: done.icsn,
        kind: done.kind,
        mkcSerial: mkc.mkc.serial,
        mkcIssueCounter: done.issueCounter,
        keys: keysOf(mkc.status, row, got.tkv),
      });
      await got.commit();
      faults?.at(index, 'after-card-write');
      journal.personalised(j.csn, done.icsn, done.issueCounter);
      return 'issued';
    }
  }

  async #register(row: BatchRow, j: JournalRow, index: number): Promise<RegistrationOutcome> {
    const { host, journal, audit, faults } = this.#o;
    if (j.state === 'registered') return 'registered-before';
    if (!host) return 'skipped';
    try {
      await host.register(j.csn, row.subscriberId);
    } catch (e) {
      if (e instanceof RegistrationError && !e.fatal) return { failed: e.message };
      throw e;
    }
    faults?.at(index, 'after-register-request');
    audit.append({
      event: 'registered',
      line: row.line,
      subscriber: row.subscriberId,
      csn: j.csn,
      host: host.url,
    });
    journal.registered(j.csn);
    return 'registered';
  }
}
