/**
 * The meter's modem: its end of the power line (seed 000 Figs. 1–3, the terminal column). It takes
 * the host's messages, runs the three commands through the meter's own SAM and SVM (reached through
 * the meter's `ModuleLink`, terminal/MeterModules.ts) and its meter core, and answers:
 *
 * ```
 *  INIT   10 R1 R2 n      SAM HOST INIT                        -> 11 S1t R3
 *  H=51   value store     SVM GET CHALLENGE, SAM HOST COMMAND (S2h, EnAmnt), SVM HOST CREDIT
 *                         (exactly once per tx id), SAM HOST FINISH P1=51    -> 21 M
 *                         then the core: credit entered (reference = the TxId), token tank refilled
 *  H=52   tariff change   SAM HOST COMMAND (S2h) -> core loads the table for its activation time
 *                         -> SAM HOST FINISH P1=52 (status ‖ activation; SAM adds balance, ID)
 *  H=53   usage / timer   SAM HOST COMMAND (S2h) -> core: Log, ModeTB, Timer (before setting),
 *                         energy, flags -> clock set to the host's Time (forward or back)
 *                         -> SAM HOST FINISH P1=53 (SAM adds the SVM's balance and the ID)
 *  H=55   record upload   SAM HOST COMMAND (S2h) -> journal acknowledged below `from`; pending
 *                         transfers (SVM READ PENDING), SVM records from log sequence number
 *                         `svmFrom` (SVM READ LOG, each with the SVM's MAC), the journal page
 *                         -> SAM HOST FINISH P1=55 (SAM adds balance, ID)
 *  H=56   blacklist       SAM HOST COMMAND (S2h) -> applied only above the version held
 *                         -> SAM HOST FINISH P1=56 (status ‖ version held ‖ count; balance, ID)
 *  H=54   host settle     relayed to the SVM's HOST SETTLE (terminal hostSettle)  -> 21 M
 *  H=57   card commands   SAM HOST COMMAND (S2h) -> the slot's CardCommandQueue: outbox acknowledged
 *                         below ackBelow, forget list dropped, commands stored once per id
 *                         -> SAM HOST FINISH P1=57 (answers, readings; SAM adds balance, ID)
 *  anything wrong         7F reason (never an exception to the line)
 * ```
 * The clearing commands are specified in docs/host-protocol.md "Clearing".
 *
 * Ks never leaves the SAM: every M is the SAM's encryption, and the balance and ID inside it are
 * the ones the SAM vouches for (the SVM's state signed for R3, its own meter id). A session serves
 * one command: the modem forgets it when a COMMAND arrives, whatever happens next.
 *
 * The SAM work runs inside the module link's queue (never interleaved with a token request or a
 * card transfer); entering a credit in the core runs after it, because that asks the SVM for tokens
 * through the same queue.
 */
import { TransferError, hostSettle, readPendingSigned, readSvmLog } from '../../terminal/index.js';
import type { MeterModules } from '../../terminal/index.js';
import {
  SW_CONDITIONS_NOT_SATISFIED,
  SW_REFERENCED_DATA_NOT_FOUND,
  SW_SECURITY_STATUS_NOT_SATISFIED,
  SW_VERIFICATION_FAILED,
} from '../../card/index.js';
import { MalformedDataError } from '../../card/index.js';
import { concatBytes } from '../../card/index.js';
import {
  FLAG_COVER_OPEN,
  FLAG_LOAD_VOLTAGE_RELAY_OPEN,
  FLAG_RELAY_OPEN,
  H_BLACKLIST,
  H_CARD_COMMANDS,
  H_CLEARING_UPLOAD,
  H_SETTLE,
  H_TARIFF,
  H_USAGE,
  H_VALUE_STORE,
  UPLOAD_MAX_PENDING,
  UPLOAD_PAGE_BUDGET,
  SVM_RECORD_WIRE_SIZE,
  decodeBlacklistUpdate,
  decodeCardCommandsRequest,
  encodeCardCommandsBody,
  decodeUploadRequest,
  encodeBlacklistBody,
  encodeUploadBody,
  uploadBodyBaseSize,
  type PendingEntryWire,
  type SvmRecordWire,
  REFUSAL_NAMES,
  REFUSE_BAD_PAYLOAD,
  REFUSE_BAD_SIGNATURE,
  REFUSE_MALFORMED,
  REFUSE_NO_SESSION,
  REFUSE_UNKNOWN_HEADER,
  REFUSE_UNKNOWN_KEY_VERSION,
  TARIFF_STORED,
  VS_CREDITED,
} from '../../protocol/index.js';
import { ProtocolError, REFUSE_SETTLE_CONFLICT, TariffTableError } from '../../protocol/index.js';
import type { MessageEndpoint, Terminal } from '../../protocol/index.js';
import { decodeMessage, encodeMessage } from '../../protocol/index.js';
import { decodeTariffPayload, decodeUsagePayload, encodeUsageBody } from '../../protocol/index.js';
import { decodeTxId, txIdReference, type TxId } from '../../protocol/index.js';
import type { Meter } from '../Meter.js';
import type { ModuleLink } from '../cardslot/ModuleLink.js';
import type { MeterCardSlot } from '../cardslot/MeterCardSlot.js';

/** SVM counter of an SVM log record (bytes 19..22, card/applets/svm/records.ts). */
function svmCounterOf(record: Uint8Array): number {
  return ((record[19]! << 24) | (record[20]! << 16) | (record[21]! << 8) | record[22]!) >>> 0;
}

/** A page of SVM records with its own cursor (the default source's answer). */
export interface SvmRecordPage {
  readonly records: SvmRecordWire[];
  /** The `svmFrom` of the next page. */
  readonly next: number;
  /** Lowest log sequence number the SVM still holds. */
  readonly oldest: number;
}

/**
 * The default SVM record source: SVM READ LOG pages (at most SVM_READ_LOG_MAX records each) from log
 * sequence number `from` until `max` records or the newest. `next` is the sequence number after the
 * last record taken; when `from` is beyond the newest record (nothing there yet), `from` itself, so
 * the host asks again from where it stands. Records below `oldest` left the SVM's ring: the answer
 * starts at `oldest` and the host sees the gap (upload event `svmOldest`).
 * @throws TransferError when the SVM refuses READ LOG; MalformedDataError on a malformed answer.
 */
export async function svmLogSource(m: MeterModules, from: number, max: number): Promise<SvmRecordPage> {
  const records: SvmRecordWire[] = [];
  let at = from;
  let oldest: number | undefined;
  while (records.length < max) {
    const page = await readSvmLog(m, at);
    oldest ??= page.oldest;
    if (page.records.length === 0) {
      // next < at: asked beyond the newest record; keep the host's cursor where it is.
      if (page.next > at) at = page.next;
      break;
    }
    const take = page.records.slice(0, max - records.length);
    records.push(...take.map((r) => ({ record: r.raw, mac: r.mac })));
    // The page's records are the sequence numbers [next - n, next).
    at = page.next - page.records.length + take.length;
  }
  return { records, next: at, oldest: oldest ?? from };
}

/** Length of the SVM's settle payload (card SettlePayload.LENGTH, docs/purse-spec.md §5.8). */
const SETTLE_PAYLOAD_LENGTH = 25;
/** HOST SETTLE answer status: the SVM was credited with the pending amount (card SETTLED_COMPLETE). */
const SETTLED_COMPLETE = 0x00;

function refuse(reason: number, detail?: string): never {
  const name = REFUSAL_NAMES[reason] ?? `reason ${reason}`;
  throw new ProtocolError('refused', detail ? `${name} (${detail})` : name, reason);
}

/** A SAM or SVM refusal as the power-line refusal the host sees. */
function refusal(e: unknown, step: 'init' | 'command'): never {
  if (e instanceof TransferError) {
    const reason =
      step === 'init' && e.sw === SW_REFERENCED_DATA_NOT_FOUND
        ? REFUSE_UNKNOWN_KEY_VERSION
        : e.sw === SW_VERIFICATION_FAILED
          ? REFUSE_BAD_SIGNATURE
          : e.sw === SW_SECURITY_STATUS_NOT_SATISFIED ||
              e.sw === SW_CONDITIONS_NOT_SATISFIED ||
              e.sw === undefined
            ? REFUSE_NO_SESSION
            : REFUSE_BAD_PAYLOAD;
    refuse(reason, e.message);
  }
  // An authenticated payload the core cannot take (bad BCD time, table that breaks a rule).
  if (e instanceof MalformedDataError || e instanceof TariffTableError || e instanceof RangeError)
    refuse(REFUSE_BAD_PAYLOAD, e.message);
  throw e;
}

/** What the modem did, for the meter's display, logs and tests. */
export type ModemEvent =
  | {
      readonly kind: 'value-store';
      readonly txId: TxId;
      readonly amount: number;
      readonly status: number;
      readonly balance: number;
    }
  | { readonly kind: 'tariff'; readonly activation: number }
  | { readonly kind: 'usage'; readonly clockFrom: number; readonly clockTo: number }
  | {
      readonly kind: 'upload';
      readonly from: number;
      readonly next: number;
      readonly entries: number;
      readonly svmRecords: number;
      /** Lowest SVM log sequence number the SVM still held (READ LOG); above svmFrom: records lost. */
      readonly svmOldest?: number;
    }
  | { readonly kind: 'blacklist'; readonly status: number; readonly version: number }
  | {
      readonly kind: 'card-commands';
      readonly received: number;
      readonly queued: number;
      readonly answers: number;
      readonly readings: number;
      readonly next: number;
    }
  | { readonly kind: 'settle'; readonly status: number };

/** Options of a modem. */
export interface MeterModemOptions {
  /**
   * The SVM's log records from `from` on (at most `max`), each with the SVM's MAC, for the record
   * upload. Default: `svmLogSource`, the SVM's READ LOG (`from` = log sequence number). A source
   * that answers a bare array pages by SVM counter instead (svmNext = last record's counter + 1).
   */
  readonly svmRecords?: (
    m: MeterModules,
    from: number,
    max: number,
  ) => Promise<SvmRecordWire[] | SvmRecordPage>;
  /**
   * The SVM's HOST SETTLE for a settle command (H = 54): the host's authenticated payload and S2h in,
   * M out. Default: terminal `hostSettle` (docs/purse-spec.md §5.8).
   */
  readonly settle?: (
    m: MeterModules,
    payload: Uint8Array,
    s2h: Uint8Array,
  ) => Promise<{ m: Uint8Array; status: number }>;
}

/** What the modem drives: a meter core with its module link and card slot (a `CardMeter`). */
export interface ModemMeter {
  readonly meter: Meter;
  readonly link: ModuleLink;
  /** When present, a host credit becomes the reference of the next meter data written on a card. */
  readonly slot?: MeterCardSlot;
}

export class MeterModem implements Terminal, MessageEndpoint {
  #open = false;
  /** KH[n] version of the session opened last (a key whitelist must keep it). */
  #keyVersion = -1;
  readonly #listeners: ((e: ModemEvent) => void)[] = [];

  constructor(
    readonly target: ModemMeter,
    readonly options: MeterModemOptions = {},
  ) {}

  /** Calls `f` after every command the modem carried out (before its answer goes back). */
  onEvent(f: (e: ModemEvent) => void): void {
    this.#listeners.push(f);
  }

  #emit(e: ModemEvent): void {
    for (const f of this.#listeners) f(e);
  }

  /**
   * STEPs 10→12: HOST INIT in the SAM.
   * @throws ProtocolError 'refused' (01 unknown key version, 03 otherwise).
   */
  async init(r1: Uint8Array, r2: Uint8Array, n: number): Promise<{ s1t: Uint8Array; r3: Uint8Array }> {
    this.#open = false;
    // The host's whitelist of key versions (blacklist command): a withdrawn KH[n] opens no session.
    if (this.target.slot && !this.target.slot.clearing.acceptsKeyVersion(n))
      refuse(REFUSE_UNKNOWN_KEY_VERSION, `key version ${n} withdrawn by the host`);
    try {
      const a = await this.target.link.use((m) => m.hostInit(n, r1, r2));
      this.#open = true;
      this.#keyVersion = n;
      return a;
    } catch (e) {
      return refusal(e, 'init');
    }
  }

  /**
   * STEPs 14→16: one command of the open session.
   * @throws ProtocolError 'refused' with the reason the host protocol names.
   */
  async command(h: number, payload: Uint8Array, s2h: Uint8Array): Promise<Uint8Array> {
    const open = this.#open;
    this.#open = false; // one command per session, whatever its outcome
    if (!open) refuse(REFUSE_NO_SESSION);
    const known = [
      H_VALUE_STORE,
      H_TARIFF,
      H_USAGE,
      H_CLEARING_UPLOAD,
      H_BLACKLIST,
      H_SETTLE,
      H_CARD_COMMANDS,
    ];
    if (!known.includes(h)) refuse(REFUSE_UNKNOWN_HEADER);
    try {
      if (h === H_VALUE_STORE) return await this.#valueStore(payload, s2h);
      if (h === H_SETTLE) return await this.#settle(payload, s2h);
      return await this.target.link.use((m) => {
        if (h === H_TARIFF) return this.#tariff(m, payload, s2h);
        if (h === H_USAGE) return this.#usage(m, payload, s2h);
        if (h === H_CLEARING_UPLOAD) return this.#upload(m, payload, s2h);
        if (h === H_CARD_COMMANDS) return this.#cardCommands(m, payload, s2h);
        return this.#blacklist(m, payload, s2h);
      });
    } catch (e) {
      return refusal(e, 'command');
    }
  }

  async #valueStore(enAmnt: Uint8Array, s2h: Uint8Array): Promise<Uint8Array> {
    const { meter, link, slot } = this.target;
    meter.setTransferState('host');
    let r;
    try {
      r = await link.use((m) => m.hostValueStore(enAmnt, s2h));
    } catch (e) {
      meter.setTransferState('failed');
      throw e;
    }
    const txId = decodeTxId(r.txId);
    if (r.status === VS_CREDITED) {
      // Credit entry (seed 002): the next meter data written onto a card names this transaction.
      slot?.noteHostCredit(txId);
      await meter.creditEntered(txIdReference(txId));
    } else await meter.service();
    meter.setTransferState('done');
    this.#emit({ kind: 'value-store', txId, amount: r.amount, status: r.status, balance: r.balance });
    return r.m;
  }

  async #tariff(m: MeterModules, payload: Uint8Array, s2h: Uint8Array): Promise<Uint8Array> {
    const authentic = await m.hostAuthenticated(H_TARIFF, payload, s2h);
    this.target.meter.loadTariffBytes(authentic); // a bad one is recorded (tariff-rejected) and refused
    const p = decodeTariffPayload(authentic);
    const body = concatBytes(Uint8Array.of(TARIFF_STORED), p.activation.encodeBcd());
    const a = await m.hostFinishAnswer(H_TARIFF, body);
    this.#emit({ kind: 'tariff', activation: p.activation.seconds });
    return a.m;
  }

  async #usage(m: MeterModules, payload: Uint8Array, s2h: Uint8Array): Promise<Uint8Array> {
    const time = decodeUsagePayload(await m.hostAuthenticated(H_USAGE, payload, s2h));
    const meter = this.target.meter;
    const t = meter.tamper;
    const flags =
      (t.coverOpen ? FLAG_COVER_OPEN : 0) |
      (t.loadVoltageRelayOpen ? FLAG_LOAD_VOLTAGE_RELAY_OPEN : 0) |
      (meter.supply.connected ? 0 : FLAG_RELAY_OPEN);
    // Timer is the clock before it is set (SET TIME after the Info is taken), so the host sees drift.
    const body = encodeUsageBody({
      log: meter.log.encode(),
      table: meter.schedule.active,
      timer: meter.time,
      energyWh: Math.min(0xffffffff, Math.floor(meter.total / 1000)),
      flags,
    });
    const clock = meter.correctClock(time);
    const a = await m.hostFinishAnswer(H_USAGE, body);
    this.#emit({ kind: 'usage', clockFrom: clock.from, clockTo: clock.to });
    return a.m;
  }

  /**
   * H = 55: the host acknowledges the journal below `from` and gets one page: the SVM's pending
   * transfers, its records from `svmFrom` (when a source is given), journal entries from `from`.
   */
  async #upload(m: MeterModules, payload: Uint8Array, s2h: Uint8Array): Promise<Uint8Array> {
    const req = decodeUploadRequest(await m.hostAuthenticated(H_CLEARING_UPLOAD, payload, s2h));
    const clearing = this.target.slot?.clearing;
    clearing?.acknowledge(req.from);
    const st = await m.readState();
    // signed by the SVM for the host's challenge: the meter core cannot make up or alter an entry
    const pending: PendingEntryWire[] = (st.pending ? await readPendingSigned(m, req.challenge) : [])
      .slice(0, UPLOAD_MAX_PENDING)
      .map((p) => ({
        slot: p.slot,
        csn: p.csn,
        purse: p.purse,
        amount: p.amount,
        counter: p.counter,
        dateTime: p.dateTime,
        rv: p.rv,
        mac: p.mac,
      }));
    let budget = UPLOAD_PAGE_BUDGET - uploadBodyBaseSize(pending.length);
    const maxSvm = Math.floor(budget / SVM_RECORD_WIRE_SIZE);
    const source = await (this.options.svmRecords ?? svmLogSource)(m, req.svmFrom, maxSvm);
    const svm = (Array.isArray(source) ? source : source.records).slice(0, maxSvm);
    budget -= svm.length * SVM_RECORD_WIRE_SIZE;
    const svmNext = Array.isArray(source)
      ? svm.length > 0
        ? svmCounterOf(svm[svm.length - 1]!.record) + 1
        : req.svmFrom
      : svm.length === source.records.length
        ? source.next
        : source.next - (source.records.length - svm.length);
    const page = clearing ? clearing.page(req.from, budget) : { entries: [], next: req.from, more: false };
    const body = encodeUploadBody({
      blacklistVersion: clearing?.blacklistVersion ?? 0,
      next: page.next,
      oldest: Math.min(clearing?.oldest ?? page.next, page.next),
      svmNext,
      moreJournal: page.more,
      moreSvm: svm.length === maxSvm && maxSvm > 0,
      pending: pending.slice(0, UPLOAD_MAX_PENDING),
      svmRecords: svm,
      journal: page.entries,
    });
    const a = await m.hostFinishAnswer(H_CLEARING_UPLOAD, body);
    this.#emit({
      kind: 'upload',
      from: req.from,
      next: page.next,
      entries: page.entries.length,
      svmRecords: svm.length,
      ...(Array.isArray(source) ? {} : { svmOldest: source.oldest }),
    });
    return a.m;
  }

  /** H = 56: a versioned blacklist; applied only above the version held (else nothing changes). */
  async #blacklist(m: MeterModules, payload: Uint8Array, s2h: Uint8Array): Promise<Uint8Array> {
    const update = decodeBlacklistUpdate(await m.hostAuthenticated(H_BLACKLIST, payload, s2h));
    const slot = this.target.slot;
    if (!slot) throw new RangeError('this meter has no card slot to hold a blacklist');
    const r = slot.clearing.apply(update, this.#keyVersion);
    const a = await m.hostFinishAnswer(H_BLACKLIST, encodeBlacklistBody(r));
    this.#emit({ kind: 'blacklist', status: r.status, version: r.version });
    return a.m;
  }

  /**
   * H = 57 (issue 17): utilities' card commands for the slot to hand to their cards; the answer
   * carries the cards' answers and the offline readings the slot found (CardCommandQueue.serve).
   */
  async #cardCommands(m: MeterModules, payload: Uint8Array, s2h: Uint8Array): Promise<Uint8Array> {
    // MeterModules types its H list without 57; the SAM serves 57 like 55/56 (HOST_CARD_COMMANDS).
    const h = H_CARD_COMMANDS as number as typeof H_BLACKLIST;
    const req = decodeCardCommandsRequest(await m.hostAuthenticated(h, payload, s2h));
    const slot = this.target.slot;
    if (!slot) throw new RangeError('this meter has no card slot to deliver card commands');
    const body = slot.commands.serve(req);
    const a = await m.hostFinishAnswer(h, encodeCardCommandsBody(body));
    this.#emit({
      kind: 'card-commands',
      received: req.commands.length,
      queued: body.queued,
      answers: body.answers.length,
      readings: body.readings.length,
      next: body.next,
    });
    return a.m;
  }

  /**
   * H = 54: the host's settle authorisation relayed to the SVM's HOST SETTLE; its MAC'd answer back.
   * A settled-complete credited the SVM: the core then refills its token tank (outside the module
   * queue, as after a value store).
   */
  async #settle(payload: Uint8Array, s2h: Uint8Array): Promise<Uint8Array> {
    const settle =
      this.options.settle ??
      (async (mm: MeterModules, p: Uint8Array, s: Uint8Array) => {
        // A malformed payload is the SVM's to refuse, as the host's signature is the SAM's to check.
        if (p.length !== SETTLE_PAYLOAD_LENGTH || s.length !== 8)
          throw new RangeError(`settle payload must be ${SETTLE_PAYLOAD_LENGTH} bytes`);
        return hostSettle(mm, { payload: p, s2h: s });
      });
    let r: Awaited<ReturnType<typeof settle>>;
    try {
      r = await this.target.link.use((m) => settle(m, payload, s2h));
    } catch (e) {
      // The SVM refuses to complete a card counter it already credited (6985): a definite answer
      // the host must tell from "no session", or it would retry for ever (docs/host-protocol.md).
      if (e instanceof TransferError && e.sw === SW_CONDITIONS_NOT_SATISFIED)
        refuse(REFUSE_SETTLE_CONFLICT, e.message);
      throw e;
    }
    if (r.status === SETTLED_COMPLETE) await this.target.meter.notifyCredit();
    this.#emit({ kind: 'settle', status: r.status });
    return r.m;
  }

  /**
   * One encoded message from the line in, one encoded answer out: the response, or a REFUSAL
   * (04 for anything that does not parse). Never throws on what the line brings.
   */
  async handle(bytes: Uint8Array): Promise<Uint8Array> {
    let msg;
    try {
      msg = decodeMessage(bytes);
    } catch {
      this.#open = false;
      return encodeMessage({ kind: 'refusal', reason: REFUSE_MALFORMED });
    }
    try {
      if (msg.kind === 'init-request') {
        const a = await this.init(msg.r1, msg.r2, msg.n);
        return encodeMessage({ kind: 'init-response', s1t: a.s1t, r3: a.r3 });
      }
      if (msg.kind === 'command-request')
        return encodeMessage({
          kind: 'command-response',
          m: await this.command(msg.h, msg.payload, msg.s2h),
        });
      this.#open = false;
      return encodeMessage({ kind: 'refusal', reason: REFUSE_MALFORMED });
    } catch (e) {
      if (e instanceof ProtocolError && e.reason !== undefined)
        return encodeMessage({ kind: 'refusal', reason: e.reason });
      return encodeMessage({ kind: 'refusal', reason: REFUSE_BAD_PAYLOAD });
    }
  }
}
