/**
 * The meter's card slot (seed 000 Fig. 5, seed 002): a subscriber card presented to the meter moves
 * credit from its matching purse into the meter's SVM and takes the meter data back.
 *
 * ```
 * insertion → connect (ATR) → ATR parsed → SELECT purse application (FCI: CSN, expiry, purses)
 *   → READ PURSE (status, balance) → checks: blacklist, expiry, purse present and active
 *   → issue 17: the card's configuration for this meter (SFI 03, SAM CONFIG CHECK; applied when
 *     newer, refusal when bound to another meter or not authentic — offlineConfig.ts)
 *   → runCardSession (terminal): mutual authentication card ↔ meter SAM, recovery of a
 *     pending transfer, transfer min(card balance, purse limit, SVM room) into the SVM, meter data
 *     written onto the card (72-byte record, cardMeterData), and on an offline meter the signed
 *     readings with every tariff step (SFI 04, SAM SIGN READINGS — offlineReadings.ts)
 *   → the card's log read back (READ RECORD 1..10): its new records of this purse kept for the
 *     host's clearing (ClearingJournal, uploaded over the power line, docs/host-protocol.md)
 *   → credit entry in the meter core: debt and used emergency credit repaid first, new "since
 *     last credit" period; events in the meter's log
 * ```
 * A refused card (`SlotRefusal`) is recorded as `card-refused` with the reason's code and changes
 * no value: the meter keeps metering. When a refused card is the one the SVM is waiting for (a
 * transfer of it was interrupted), the recovery is still run — it only settles what the card
 * already agreed to — and no new transfer is made. Card removal or power failure at any instant
 * loses nothing: the applets' recovery protocol (docs/purse-spec.md §6) settles it at the next
 * insertion of that card. A blacklisted card's attempt is kept in the journal for the next upload;
 * the blacklist comes versioned from the host (H = 56) and lives in `saveState()`.
 */
import { CardChannelError, type CardChannel } from '../../reader/index.js';
import type { Reader } from '../../reader/index.js';
import { VirtualReader } from '../../reader/index.js';
import type { CardOs } from '../../card/index.js';
import { Atr } from '../../card/index.js';
import { MalformedDataError } from '../../card/index.js';
import { concatBytes, equalBytes, fromHex, toHex } from '../../card/index.js';
import { AID_PURSE } from '../../card/index.js';
import { PurseState, type MeterData } from '../../card/index.js';
import { apdus as A } from '../../terminal/index.js';
import { runCardSession, type RecoveryResult, type TransferOutcome } from '../../terminal/index.js';
import {
  ClearingNeededError,
  awaitedCardMessage,
  readPending,
  type PendingEntry,
} from '../../terminal/index.js';
import { expectOk, type MeterModules } from '../../terminal/index.js';
import { encodeTxId, type TxId } from '../../protocol/index.js';
import { findTlv } from '../../card/index.js';
import {
  SW_CONDITIONS_NOT_SATISFIED,
  SW_FILE_NOT_FOUND,
  SW_NO_ERROR,
  SW_VERIFICATION_FAILED,
  SW_WRONG_DATA,
} from '../../card/index.js';
import { bcdToNumber } from '../../card/index.js';
import { be16 } from '../../card/index.js';
import { TransferError } from '../../terminal/index.js';
import type { Meter } from '../Meter.js';
import type { EventKind, MeterEvent } from '../events/EventLog.js';
import { cardMeterData, NO_REFERENCE, purseOf, type TransferReference } from './cardMeterData.js';
import type { ChannelWrapper, ModuleLink } from './ModuleLink.js';
import { CommissioningData } from '../commissioning/CommissioningData.js';
import type { DecommissioningData } from '../commissioning/DecommissioningData.js';
import { readCommissioningCard } from '../commissioning/readCommissioningCard.js';
import { COMMISSIONING_REFUSALS, CommissioningError, TariffTableError } from '../errors.js';
import { ClearingJournal } from './ClearingJournal.js';
import { CardCommandQueue } from './CardCommandQueue.js';
import { checkCardConfig, describeVerdict, OfflineMeterState, type ConfigVerdict } from './offlineConfig.js';
import { METER_FLAG_BITS, offlineReading, samKtVersion } from './offlineReadings.js';
import type { ReadingsOutcome } from '../../terminal/index.js';

/** Why a card was refused; the code is the datum of the `card-refused` event. */
export const SLOT_REFUSALS = {
  'no-card': 1,
  'unreadable-atr': 2,
  'not-a-purse-card': 3,
  'no-matching-purse': 4,
  expired: 5,
  blacklisted: 6,
  'authentication-failed': 7,
  'sam-refused': 8,
  'svm-refused': 9,
  'purse-blocked': 10,
  'card-refused': 11,
  'card-removed': 12,
  'module-failure': 13,
  'clearing-needed': 14,
  'malformed-card-data': 15,
  'meter-off': 16,
  'wrong-meter': 17,
  'commissioning-used-up': 18,
  ...COMMISSIONING_REFUSALS,
  /** Issue 13: the card's key version (FCI C3) is not on the host's whitelist (H = 56). */
  'card-key-withdrawn': 24,
  /** Issue 17: the card's configuration (SFI 03) binds it to another offline meter. */
  'bound-to-another-meter': 25,
  /** Issue 17: the card's configuration is malformed or the meter's SAM did not vouch for it. */
  'config-not-authentic': 26,
  /** Issue 17: the meter requires a binding (`requireBinding`) and the card carries no configuration. */
  'card-not-bound': 27,
} as const;
export type SlotRefusal = keyof typeof SLOT_REFUSALS;

/** What one presentation of a card did. */
export interface SlotOutcome {
  /** True when the session ran to its end (a transfer of 0 is still accepted: card empty or SVM full). */
  accepted: boolean;
  refusal?: SlotRefusal;
  /** Human-readable reason or note (also for the display). */
  message?: string;
  /** Status word behind a refusal, when a card or module answered one. */
  sw?: number;
  /** Card serial number, hex, once read. */
  csn?: string;
  purse: number;
  recovery: RecoveryResult;
  /** Credit moved into the SVM by settling an earlier interrupted transfer. */
  recovered: number;
  /** Credit moved into the SVM by this insertion's transfer. */
  amount: number;
  /** What stays on the card's purse (known once read). */
  leftOnCard?: number;
  svmBalance?: number;
  meterDataWritten: boolean;
  /** The record written onto the card, when one was. */
  meterData?: MeterData;
  /**
   * Every pending slot of the SVM holds another card's interrupted transfer: no new transfer was
   * made (issue 13); their cards, hex. (One stranger's pulled card no longer blocks anyone.)
   */
  slotsFullOf?: string[];
  /**
   * Refusal 'clearing-needed': this card's transfer the SVM keeps pending for the host's HOST SETTLE
   * (its record left the card's log), for the meter to upload.
   */
  pendingForHost?: PendingEntry;
  /** Set when the card was a commissioning card and the meter was commissioned from it. */
  commissioning?: CommissioningData;
  /** Set when the card was a decommissioning card and the meter was decommissioned by it. */
  decommissioning?: DecommissioningData;
  /** Events the meter recorded during this presentation (card events and credit entry). */
  events: MeterEvent[];
  /** Issue 17: what the card's configuration (SFI 03) meant for this meter, once read. */
  config?: ConfigVerdict;
  /** Issue 17: the signed readings record (SFI 04), when the meter writes readings. */
  readings?: ReadingsOutcome;
}

export interface MeterCardSlotOptions {
  /**
   * Purse to take from; default: the meter's commodity (electricity 01, gas 02, water 03, heat 04,
   * hot water 05).
   */
  purse?: number;
  /**
   * Issue 17: refuse a card that carries no configuration for this meter ('card-not-bound');
   * default false (a card with no configuration is served).
   */
  requireBinding?: boolean;
  /**
   * Issue 17: write the signed readings record (SFI 04) at every session; default true for an
   * offline meter (every commodity but electricity), false for the electricity meter.
   */
  offlineReadings?: boolean;
  /** Card serial numbers (8 bytes, hex or bytes) refused at this meter. */
  blacklist?: Iterable<string | Uint8Array>;
  /** Upper bound of one transfer (e.g. what the customer asked); default: all that fits. */
  maxAmount?: number;
  /** Wraps the card channel (trace, fault injection). */
  wrap?: ChannelWrapper;
}

function csnHex(csn: string | Uint8Array, name: string): string {
  const b = typeof csn === 'string' ? fromHex(csn) : csn;
  if (!(b instanceof Uint8Array) || b.length !== 8) throw new RangeError(`${name} must be an 8-byte CSN`);
  return toHex(b);
}

/** The card's BCD YYMMDD expiry as a number YYMMDD, or undefined when it is not 3 BCD bytes. */
function bcdDate(b: Uint8Array): number | undefined {
  if (b.length !== 3) return undefined;
  try {
    return bcdToNumber(b);
  } catch (e) {
    if (e instanceof MalformedDataError) return undefined;
    throw e;
  }
}

class Refused extends Error {
  constructor(
    readonly refusal: SlotRefusal,
    message: string,
    readonly sw?: number,
    /** The meter core recorded the refusal itself (`commissioning-refused`). */
    readonly recorded = false,
  ) {
    super(message);
  }
}

/** Maps an error of the session onto a refusal. */
function classify(e: unknown, cardReader: string): Refused {
  if (e instanceof Refused) return e;
  if (e instanceof TransferError) {
    const s = e.step;
    const msg = e.message;
    if ((s === 'card MUTUAL AUTHENTICATE' || s === 'SAM AUTH FINISH') && e.sw === SW_VERIFICATION_FAILED)
      return new Refused('authentication-failed', `card not authentic (${msg})`, e.sw);
    if ((s === 'card SELECT' || s === 'commissioning SELECT') && e.sw === SW_FILE_NOT_FOUND)
      return new Refused('not-a-purse-card', msg, e.sw);
    if (s === 'card COMMISSION' && e.sw === SW_CONDITIONS_NOT_SATISFIED)
      return new Refused('commissioning-used-up', msg, e.sw);
    if ((s === 'card COMMISSION' || s === 'SAM COMMISSION CHECK') && e.sw === SW_WRONG_DATA)
      return new Refused('wrong-meter', msg, e.sw);
    if (s.startsWith('SAM') || s === 'SELECT SAM') return new Refused('sam-refused', msg, e.sw);
    if (s.startsWith('SVM') || s === 'SELECT SVM') return new Refused('svm-refused', msg, e.sw);
    if (s === 'recovery') return new Refused('clearing-needed', msg, e.sw);
    if (e.sw === SW_CONDITIONS_NOT_SATISFIED && s === 'card DEBIT')
      return new Refused('purse-blocked', msg, e.sw);
    return new Refused('card-refused', msg, e.sw);
  }
  if (e instanceof CardChannelError) {
    if (e.readerName === undefined || e.readerName === cardReader)
      return new Refused('card-removed', `card lost: ${e.message}; settled at its next insertion`);
    return new Refused('module-failure', `security module lost: ${e.message}`);
  }
  if (e instanceof CommissioningError) return new Refused(e.code, e.message, e.sw);
  if (e instanceof MalformedDataError || e instanceof TariffTableError)
    return new Refused('malformed-card-data', e.message);
  throw e;
}

/**
 * The card slot of one meter. It owns the card reader, and uses the meter's SAM and SVM through
 * the meter's `ModuleLink` (serialised with the token exchanger's requests).
 */
export class MeterCardSlot {
  readonly purse: number;
  /** Refused card serial numbers, hex upper case. */
  readonly blacklist = new Set<string>();
  /** Blacklist version, key-version whitelist, and the records / attempts kept for the host's clearing. */
  readonly clearing = new ClearingJournal(this.blacklist);
  /** Issue 17: utilities' card commands waiting for their card, answers and readings for the host (H = 57). */
  readonly commands = new CardCommandQueue();
  maxAmount: number | undefined;
  /** Issue 17: configuration version applied, reading sequence, flags owed (part of `saveState`). */
  readonly offline = new OfflineMeterState();
  readonly requireBinding: boolean;
  readonly writesReadings: boolean;
  #last: TransferReference = NO_REFERENCE;
  readonly #wrap: ChannelWrapper;

  /** @throws RangeError for a bad purse, CSN or maxAmount. */
  constructor(
    readonly meter: Meter,
    readonly link: ModuleLink,
    readonly reader: Reader,
    options: MeterCardSlotOptions = {},
  ) {
    this.purse = options.purse ?? purseOf(meter.commodity);
    if (!Number.isInteger(this.purse) || this.purse < 1 || this.purse > 0xff)
      throw new RangeError(`purse must be 1..255, got ${this.purse}`);
    for (const c of options.blacklist ?? []) this.blacklist.add(csnHex(c, 'blacklist entry'));
    if (
      options.maxAmount !== undefined &&
      (!Number.isSafeInteger(options.maxAmount) || options.maxAmount < 1)
    )
      throw new RangeError(`maxAmount must be a positive integer, got ${options.maxAmount}`);
    this.maxAmount = options.maxAmount;
    this.#wrap = options.wrap ?? ((c) => c);
    this.requireBinding = options.requireBinding ?? false;
    this.writesReadings = options.offlineReadings ?? meter.commodity !== 'electricity';
    if (typeof this.requireBinding !== 'boolean') throw new TypeError('requireBinding must be a boolean');
    if (typeof this.writesReadings !== 'boolean') throw new TypeError('offlineReadings must be a boolean');
  }

  /** Adds a card serial number (hex or 8 bytes) to the blacklist. @throws RangeError. */
  block(csn: string | Uint8Array): void {
    this.blacklist.add(csnHex(csn, 'csn'));
  }

  /** The reference of the last credit transaction entered (written in the meter data). */
  get lastReference(): TransferReference {
    return { kind: this.#last.kind, ref: this.#last.ref.slice() };
  }

  /**
   * A host value store was entered (seed 000 over the power line): the next meter data written
   * onto a card names it (kind 02, host tx id as its 8 bytes ‖ 00 00).
   * @throws RangeError unless `txId` is a u64.
   */
  noteHostCredit(txId: TxId): void {
    this.#last = { kind: 2, ref: concatBytes(encodeTxId(txId), new Uint8Array(2)) };
  }

  /** The slot's non-volatile state (blacklist, last reference) as JSON-safe data. */
  saveState(): {
    blacklist: string[];
    lastKind: number;
    lastRef: string;
    clearing: ReturnType<ClearingJournal['saveState']>;
    commands: ReturnType<CardCommandQueue['saveState']>;
    offline: ReturnType<OfflineMeterState['saveState']>;
  } {
    return {
      blacklist: [...this.blacklist].sort(),
      lastKind: this.#last.kind,
      lastRef: toHex(this.#last.ref),
      clearing: this.clearing.saveState(),
      commands: this.commands.saveState(),
      offline: this.offline.saveState(),
    };
  }

  /**
   * Loads `saveState()` output (checked before anything is set). A state saved before the clearing
   * journal existed (no `clearing`) loads with blacklist version 0 and an empty journal.
   * @throws RangeError naming the bad field.
   */
  loadState(state: {
    blacklist: unknown;
    lastKind: unknown;
    lastRef: unknown;
    clearing?: unknown;
    offline?: unknown;
    commands?: unknown;
  }): void {
    if (!Array.isArray(state.blacklist)) throw new RangeError('state.blacklist must be an array');
    const list = state.blacklist.map((c, i) => {
      if (typeof c !== 'string') throw new RangeError(`state.blacklist[${i}] must be a hex CSN`);
      return csnHex(c, `state.blacklist[${i}]`);
    });
    const kind = state.lastKind;
    if (kind !== 0 && kind !== 1 && kind !== 2) throw new RangeError('state.lastKind must be 0, 1 or 2');
    if (typeof state.lastRef !== 'string') throw new RangeError('state.lastRef must be hex');
    const ref = fromHex(state.lastRef);
    if (ref.length !== 10) throw new RangeError('state.lastRef must be 10 bytes');
    const fresh = new ClearingJournal(new Set());
    fresh.loadState(state.clearing ?? fresh.saveState()); // throws before anything is set
    // Issue 17 (a state saved before it has none: no card commands held).
    const commands = new CardCommandQueue();
    if (state.commands !== undefined) commands.loadState(state.commands); // throws before anything is set
    // Issue 17 (a state saved before it has none: nothing applied, no reading signed yet).
    const offline = new OfflineMeterState();
    if (state.offline !== undefined) offline.loadState(state.offline); // throws before anything is set
    this.offline.loadState(offline.saveState());
    this.clearing.loadState(fresh.saveState());
    this.commands.loadState(commands.saveState());
    this.blacklist.clear();
    for (const c of list) this.blacklist.add(c);
    this.#last = { kind, ref };
  }

  /** Whether a card sits in the slot. */
  get cardPresent(): boolean {
    return this.reader.cardPresent;
  }

  /**
   * Puts `card` into the slot (the slot must be a `VirtualReader`) and runs `present()`.
   * Rejects with TypeError when the reader is not virtual, Error when the slot already holds a card.
   */
  async insert(card: CardOs): Promise<SlotOutcome> {
    if (!(this.reader instanceof VirtualReader))
      throw new TypeError('insert() needs a VirtualReader slot; with a real reader use present()');
    this.reader.insert(card);
    return this.present();
  }

  /** Takes the card out of a virtual slot; returns it. */
  remove(): CardOs | undefined {
    if (!(this.reader instanceof VirtualReader)) throw new TypeError('remove() needs a VirtualReader slot');
    return this.reader.remove();
  }

  /** This card's pending transfer in the SVM, when it has one (READ PENDING only if a slot is taken). */
  async #pendingOf(m: MeterModules, csn: Uint8Array): Promise<PendingEntry | undefined> {
    if (!(await m.readState()).pending) return undefined;
    return (await readPending(m)).find((p) => equalBytes(p.csn, csn));
  }

  #record(kind: EventKind, data = 0): void {
    this.meter.events.record(this.meter.now, kind, data);
  }

  /**
   * Runs the card session with the card in the slot (after insertion, or at power-up with a card
   * left in). Never throws for anything the card, the modules or the user does: the outcome says
   * what happened.
   */
  async present(): Promise<SlotOutcome> {
    const meter = this.meter;
    const ev = meter.events;
    const mark = ev.size + ev.dropped;
    const out: SlotOutcome = {
      accepted: false,
      purse: this.purse,
      recovery: 'none',
      recovered: 0,
      amount: 0,
      meterDataWritten: false,
      events: [],
    };
    const finish = (): SlotOutcome => {
      if (out.commissioning) {
        out.events = ev.entries(); // commissioning zeroed the log: all of it is this presentation's
        return out;
      }
      const n = ev.size + ev.dropped - mark;
      out.events = n > 0 ? ev.entries().slice(-Math.min(n, ev.size)) : [];
      return out;
    };
    if (!meter.powered) {
      out.refusal = 'meter-off';
      out.message = 'the meter is powered down';
      return finish();
    }
    meter.setTransferState('card');
    let svmBefore: number | undefined;
    try {
      if (!this.reader.cardPresent) throw new Refused('no-card', 'no card in the slot');
      const card = this.#wrap(await this.reader.connect(), 'card');
      try {
        Atr.parse(card.atr);
      } catch (e) {
        throw new Refused('unreadable-atr', e instanceof Error ? e.message : String(e));
      }
      this.#record('card-inserted');
      svmBefore = await this.link.use(async (m) => (await m.readState()).balance);
      await this.#session(card, out);
      out.accepted = true;
      meter.setTransferState('done');
    } catch (e) {
      const r = classify(e, this.reader.name);
      if (e instanceof ClearingNeededError) out.pendingForHost = e.pending;
      out.refusal = r.refusal;
      out.message = r.message;
      if (r.sw !== undefined) out.sw = r.sw;
      if (r.refusal in COMMISSIONING_REFUSALS && !r.recorded)
        this.#record('commissioning-refused', SLOT_REFUSALS[r.refusal]);
      this.#record('card-refused', SLOT_REFUSALS[r.refusal]);
      meter.setTransferState('failed');
      // A transfer may have reached the SVM before the card went: let the meter see it now.
      if (svmBefore !== undefined && meter.powered) {
        try {
          const after = await this.link.use(async (m) => (await m.readState()).balance);
          if (after > svmBefore) await meter.notifyCredit();
        } catch {
          /* the meter asks again at its next retry */
        }
      }
    }
    return finish();
  }

  /** SELECT, READ PURSE, checks, then the transfer session; fills `out`. */
  async #session(card: CardChannel, out: SlotOutcome): Promise<void> {
    const meter = this.meter;
    const sel = await card.transmit(A.selectAid(AID_PURSE));
    if (sel.sw === SW_FILE_NOT_FOUND) return this.#commission(card, out);
    if (sel.sw !== SW_NO_ERROR) throw new TransferError('card SELECT', sel.sw);
    const fci = sel.data;
    const csn = findTlv(fci, 0x5a);
    const expiry = findTlv(fci, 0x5f24);
    const purses = findTlv(fci, 0xc2);
    if (!csn || csn.length !== 8 || !purses)
      throw new Refused('malformed-card-data', 'card FCI lacks the CSN or the purse list');
    // Issue 17: the utilities' card commands for this card, and (at a meter on the power line, i.e.
    // one that writes no offline readings itself) the offline readings on it — before this meter's
    // own checks (a gas load is delivered to a card the electricity side refuses).
    await this.commands.deliver(
      card,
      csn,
      this.writesReadings ? undefined : { purses: [...purses], own: this.purse },
    );
    const hex = toHex(csn);
    out.csn = hex;
    let refusal: Refused | undefined;
    if (this.blacklist.has(hex)) {
      refusal = new Refused('blacklisted', `card ${hex} is blacklisted`);
      this.clearing.noteAttempt(csn, this.purse, meter.time); // reported in the next upload
    } else if (!this.clearing.acceptsCardKeyVersion(findTlv(fci, 0xc3)?.[0])) {
      refusal = new Refused('card-key-withdrawn', `card ${hex}: its key version is not accepted any more`);
    } else if (expiry) {
      const exp = bcdDate(expiry);
      const t = meter.time;
      const today = ((t.year - 2000) * 100 + t.month) * 100 + t.day;
      if (exp === undefined || expiry.length !== 3)
        refusal = new Refused('malformed-card-data', 'card expiry is not BCD YYMMDD');
      else if (today > exp) refusal = new Refused('expired', `card expired ${toHex(expiry)} (YYMMDD)`);
    }
    if (!refusal && !purses.includes(this.purse))
      refusal = new Refused('no-matching-purse', `the card has no purse ${this.purse}`);
    if (!refusal) {
      const st = PurseState.decode(await expectOk(card, A.readPurse(this.purse), 'card READ PURSE'));
      out.leftOnCard = st.balance;
      if (st.status !== 0) refusal = new Refused('purse-blocked', `purse ${this.purse} is blocked`);
    }
    if (!refusal) refusal = await this.#checkConfig(card, csn, purses, out);
    const dateTime = meter.time.encodeBcd();
    if (refusal) {
      // Refused — but if the SVM waits for this very card, settle that (no new transfer, no data).
      const pending = await this.link.use(async (m) => this.#pendingOf(m, csn));
      if (pending && purses.includes(pending.purse)) {
        const o = await this.link.use((m) =>
          runCardSession(m, card, { purse: pending.purse, dateTime, transfer: false }),
        );
        out.recovery = o.recovery;
        out.recovered = o.recovered;
        out.svmBalance = o.svmBalance;
        if (o.recovered > 0) {
          this.#last = {
            kind: 1,
            ref: concatBytes(csn, Uint8Array.of(pending.counter >> 8, pending.counter)),
          };
          this.#record('card-recovered', o.recovered);
          // no reading went onto the card: the flags the credit entry clears stay owed (red team R3)
          if (this.writesReadings) this.offline.raise(meter.flags & METER_FLAG_BITS);
          await meter.creditEntered(this.#reference(pending.counter, csn));
        }
      }
      throw refusal;
    }
    let written: MeterData | undefined;
    let pendingCounter: number | undefined;
    const o: TransferOutcome = await this.link.use(async (m) => {
      const readings = this.writesReadings ? await this.#readingsWriter(m) : undefined;
      pendingCounter = (await this.#pendingOf(m, csn))?.counter;
      return runCardSession(m, card, {
        purse: this.purse,
        dateTime,
        ...(this.maxAmount !== undefined ? { maxAmount: this.maxAmount } : {}),
        ...(readings ? { offlineReadings: readings } : {}),
        meterData: (r) => {
          const counter = r.counter ?? (r.recovered > 0 ? pendingCounter : undefined);
          const last: TransferReference =
            counter !== undefined ? { kind: 1, ref: concatBytes(r.csn, be16(counter)) } : this.#last;
          written = cardMeterData(meter, last);
          return written;
        },
      });
    });
    out.recovery = o.recovery;
    out.recovered = o.recovered;
    out.amount = o.amount;
    out.leftOnCard = o.cardBalance;
    out.svmBalance = o.svmBalance;
    out.meterDataWritten = o.meterDataWritten;
    if (written) out.meterData = written;
    await this.#collectRecords(card, csn);
    if (o.transferBlocked === 'slots-full') {
      out.slotsFullOf = (o.pendingCsns ?? []).map((c) => toHex(c));
      out.message = awaitedCardMessage(o)!;
      this.#record('card-slots-full');
    }
    if (o.recovered > 0) this.#record('card-recovered', o.recovered);
    if (o.amount > 0) this.#record('card-credit', o.amount);
    if (o.meterDataWritten) this.#record('card-data-written');
    if (o.readings) {
      out.readings = o.readings;
      if (o.readings.written && o.readings.record) this.offline.noteReadingWritten(o.readings.record);
      if (o.readings.written) this.#record('readings-written', this.offline.readingSequence);
    }
    const counter = o.counter ?? (o.recovered > 0 ? pendingCounter : undefined);
    if (counter !== undefined) {
      this.#last = { kind: 1, ref: concatBytes(csn, be16(counter)) };
      // a reading that did not reach the card carried nothing: its flags stay owed (red team R3)
      if (this.writesReadings && !o.readings?.written) this.offline.raise(meter.flags & METER_FLAG_BITS);
      await meter.creditEntered(this.#reference(counter, csn));
    } else if (o.recovered > 0 || o.amount > 0) await meter.notifyCredit();
  }

  /**
   * Issue 17: the card's configuration for this meter (offlineConfig.ts): read, checked by the SAM,
   * applied when newer. @returns the refusal it calls for, if any.
   */
  async #checkConfig(
    card: CardChannel,
    csn: Uint8Array,
    purses: Uint8Array,
    out: SlotOutcome,
  ): Promise<Refused | undefined> {
    const v = await this.link.use((m) =>
      checkCardConfig({
        meter: this.meter,
        modules: m,
        card,
        csn,
        record: purses.indexOf(this.purse) + 1,
        state: this.offline,
        blacklistVersion: this.clearing.blacklistVersion,
      }),
    );
    out.config = v;
    if (v.kind === 'bound-elsewhere') return new Refused('bound-to-another-meter', describeVerdict(v));
    if (v.kind === 'not-authentic') return new Refused('config-not-authentic', describeVerdict(v), v.sw);
    if (v.kind === 'none' && this.requireBinding) return new Refused('card-not-bound', describeVerdict(v));
    return undefined;
  }

  /**
   * Issue 17: builds the readings record (offlineReadings.ts) when the session asks for it, taking
   * the next reading sequence then; undefined once the u32 sequence is used up (no more readings).
   */
  async #readingsWriter(m: MeterModules): Promise<(() => Uint8Array | undefined) | undefined> {
    const ktVersion = await samKtVersion(m);
    return () => {
      if (this.offline.readingSequence >= 0xffffffff) return undefined;
      const sequence = this.offline.nextSequence();
      // the meter's flags become owed to the utility until a configuration answers a reading
      // that carried them (a credit entry clears them in the meter: red team R3)
      this.offline.raise(this.meter.flags & METER_FLAG_BITS);
      return offlineReading(this.meter, {
        purse: this.purse,
        sequence,
        state: this.offline,
        ktVersion,
      }).signedPart();
    };
  }

  /**
   * Not a purse card: perhaps the commissioning card (seed 002) of this meter's utility,
   * authenticated by the meter's SAM in the commissioning key domain; its payload MAC'd in that
   * session and vouched for by the SAM (COMMISSION CHECK); its meter identity must be the SAM's.
   * An uncommissioned meter is then commissioned: identity, tariffs and prices, emergency-credit
   * value, registers and logs zeroed, the initial test credit (≤ 10 000 units) in the token tank,
   * the transaction's reference code kept. A commissioned meter takes only a decommissioning
   * payload (it then waits for a commissioning card again). The SVM's balance is not touched (it
   * is value, and only a host credit or a card purse can change it).
   */
  async #commission(card: CardChannel, out: SlotOutcome): Promise<void> {
    const meter = this.meter;
    const { csn, data, samMeterId } = await this.link.use(async (m) => ({
      ...(await readCommissioningCard(m, card, { purse: this.purse, commissioned: meter.commissioned })),
      samMeterId: m.meterId,
    }));
    out.csn = toHex(csn);
    if (!equalBytes(data.meterId, samMeterId))
      throw new Refused(
        'wrong-meter',
        `commissioning card is for meter ${toHex(data.meterId)}, this meter's SAM is ${toHex(samMeterId)}`,
      );
    try {
      if (data instanceof CommissioningData) {
        meter.commission({
          meterId: data.meterId,
          tariff: data.tariff,
          emergencyCredit: data.emergencyCredit,
          initialCredit: data.initialCredit,
          ...(data.time ? { time: data.time } : {}),
        });
      } else {
        meter.decommission(data.reference);
        out.decommissioning = data;
        return;
      }
    } catch (e) {
      // The core refused (its state or a ceiling) and recorded it: nothing changed.
      if (e instanceof CommissioningError) throw new Refused(e.code, e.message, e.sw, true);
      throw e;
    }
    this.#last = NO_REFERENCE;
    out.commissioning = data;
    await meter.creditEntered(data.reference);
  }

  /**
   * Reads the card's log (READ RECORD 1..10, SFI 01: each record with its MAC under K_proof(CSN))
   * and keeps the records of this meter's purse not collected before, for the host's clearing.
   * Best effort after the transfer: a card pulled now changed no value, and its records come with
   * its next presentation (or through a vending point).
   */
  async #collectRecords(card: CardChannel, csn: Uint8Array): Promise<void> {
    const records: Uint8Array[] = [];
    try {
      for (let i = 1; i <= 10; i++) {
        const r = await card.transmit(A.readLogRecord(i));
        if (r.sw !== SW_NO_ERROR) break;
        records.push(r.data);
      }
    } catch (e) {
      if (!(e instanceof CardChannelError)) throw e;
    }
    this.clearing.collect(csn, this.purse, records);
  }

  /** The meter core's u32 reference code of a card transaction: CSN bytes 6–7 ‖ card counter. */
  #reference(counter: number, csn: Uint8Array): number {
    return ((csn[6]! << 24) | (csn[7]! << 16) | (counter & 0xffff)) >>> 0;
  }
}
