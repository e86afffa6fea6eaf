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
 *  anything wrong         7F reason (never an exception to the line)
 * ```
 *
 * Ks never leaves the SAM: every M is the SAM's encryption, and the balance and ID inside it are
 * the ones the SAM vouches for (the SVM's state signed for R3, its own meter id). A session serves
 * one command: the modem forgets it when a COMMAND arrives, whatever happens next.
 *
 * The SAM work runs inside the module link's queue (never interleaved with a token request or a
 * card transfer); entering a credit in the core runs after it, because that asks the SVM for tokens
 * through the same queue.
 */
import { TransferError } from '../../terminal/index.js';
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
  H_TARIFF,
  H_USAGE,
  H_VALUE_STORE,
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
import { ProtocolError, TariffTableError } from '../../protocol/index.js';
import type { MessageEndpoint, Terminal } from '../../protocol/index.js';
import { decodeMessage, encodeMessage } from '../../protocol/index.js';
import { decodeTariffPayload, decodeUsagePayload, encodeUsageBody } from '../../protocol/index.js';
import { decodeTxId, txIdReference, type TxId } from '../../protocol/index.js';
import type { Meter } from '../Meter.js';
import type { ModuleLink } from '../cardslot/ModuleLink.js';
import type { MeterCardSlot } from '../cardslot/MeterCardSlot.js';

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
  | { readonly kind: 'usage'; readonly clockFrom: number; readonly clockTo: number };

/** What the modem drives: a meter core with its module link and card slot (a `CardMeter`). */
export interface ModemMeter {
  readonly meter: Meter;
  readonly link: ModuleLink;
  /** When present, a host credit becomes the reference of the next meter data written on a card. */
  readonly slot?: MeterCardSlot;
}

export class MeterModem implements Terminal, MessageEndpoint {
  #open = false;
  readonly #listeners: ((e: ModemEvent) => void)[] = [];

  constructor(readonly target: ModemMeter) {}

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
    try {
      const a = await this.target.link.use((m) => m.hostInit(n, r1, r2));
      this.#open = true;
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
    if (h !== H_VALUE_STORE && h !== H_TARIFF && h !== H_USAGE) refuse(REFUSE_UNKNOWN_HEADER);
    try {
      if (h === H_VALUE_STORE) return await this.#valueStore(payload, s2h);
      return await this.target.link.use((m) =>
        h === H_TARIFF ? this.#tariff(m, payload, s2h) : this.#usage(m, payload, s2h),
      );
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
