/**
 * The host column of seed 000 Figs. 1–3 run against a {@link Terminal}: one call = one session
 * (STEP 10 → 16). Retrying and the ledger live above this (host/ValueStoreDispatcher.ts); this class
 * only makes one attempt and reports exactly what happened.
 */
import type { BlockCipherProvider, Rng } from '../../card/index.js';
import type { HostKeyRing } from '../../card/index.js';
import { wipe } from '../../card/index.js';
import { toHex } from '../../card/index.js';
import type { RtcTime } from '../../protocol/index.js';
import type { TariffTable } from '../../protocol/index.js';
import { H_TARIFF, H_USAGE, H_VALUE_STORE, TARIFF_STORED } from '../../protocol/index.js';
import {
  BL_APPLIED,
  H_BLACKLIST,
  H_CLEARING_UPLOAD,
  decodeBlacklistAnswer,
  decodeUploadAnswer,
  encodeBlacklistUpdate,
  encodeUploadRequest,
  UPLOAD_CHALLENGE_LENGTH,
} from '../../protocol/index.js';
import type { BlacklistAnswer, BlacklistUpdate, UploadAnswer } from '../../protocol/index.js';
import {
  H_CARD_COMMANDS,
  OUTCOME_REFUSED,
  decodeCardCommandsAnswer,
  encodeCardCommandsRequest,
} from '../../protocol/index.js';
import type { CardCommandsAnswer, CardCommandsRequest } from '../../protocol/index.js';
import { ProtocolError } from '../../protocol/index.js';
import {
  decodeTariffAnswer,
  decodeUsageInfo,
  decodeValueStoreAnswer,
  encodeTariffPayload,
  encodeUsagePayload,
  encodeValueStorePlain,
} from '../../protocol/index.js';
import type { TariffAnswer, UsageInfo, ValueStoreAnswer } from '../../protocol/index.js';
import type { TxId } from '../../protocol/index.js';
import type { ConsumptionLogView } from '../../protocol/index.js';
import { encrypt, hostAuthenticate, hostCommand, hostOpen, hostOpenAnswer } from '../../protocol/index.js';
import type { Terminal } from '../../protocol/index.js';
import { MalformedDataError } from '../../card/index.js';
import { equalBytes } from '../../card/index.js';
import type { SettlePayload } from '../../card/index.js';
import { H_SETTLE } from '../../protocol/index.js';
import { decodeSettleAnswer, type SettleAnswer } from '../../terminal/index.js';

/** Which meter, under which key version. */
export interface MeterKeyRef {
  /** 3-byte meter / terminal ID. */
  readonly id: Uint8Array;
  /** Version n of KT[n] the meter holds. */
  readonly keyVersion: number;
}

/** Optional trace of one session, in wire order (used by the doc generator and tests). */
export interface SessionTrace {
  ks?: Uint8Array;
  r1?: Uint8Array;
  r2?: Uint8Array;
  s1t?: Uint8Array;
  r3?: Uint8Array;
  payload?: Uint8Array;
  s2h?: Uint8Array;
  m?: Uint8Array;
  answer?: Uint8Array;
}

export class HostProtocol {
  constructor(
    readonly cipher: BlockCipherProvider,
    readonly rng: Rng,
    /** KH versions; a function so key rotation takes effect without rebuilding the protocol. */
    readonly keys: () => HostKeyRing,
  ) {}

  /**
   * Runs one session: STEPs 10–16 with header `h` and the payload made from Ks by `payloadOf`.
   * @throws ProtocolError (terminal-auth-failed, id-mismatch, refused, bad-answer…), LinkError,
   *   UnknownKeyVersionError when KH[n] is not held.
   */
  async session(
    terminal: Terminal,
    meter: MeterKeyRef,
    h: number,
    payloadOf: (ks: Uint8Array) => Uint8Array,
    trace?: SessionTrace,
  ): Promise<Uint8Array> {
    const kt = this.keys().terminalKey(this.cipher, meter.keyVersion, meter.id);
    const opened = hostOpen(this.cipher, this.rng, kt, meter.keyVersion);
    wipe(kt);
    try {
      const init = await terminal.init(opened.request.r1, opened.request.r2, opened.request.n);
      const r3 = hostAuthenticate(opened, { kind: 'init-response', s1t: init.s1t, r3: init.r3 });
      const payload = payloadOf(opened.ks);
      const cmd = hostCommand(this.cipher, opened.ks, r3, h, payload);
      const m = await terminal.command(h, cmd.payload, cmd.s2h);
      const answer = hostOpenAnswer(this.cipher, opened.ks, m, meter.id);
      if (trace)
        Object.assign(trace, {
          ks: Uint8Array.from(opened.ks),
          r1: opened.request.r1,
          r2: opened.request.r2,
          s1t: init.s1t,
          r3,
          payload,
          s2h: cmd.s2h,
          m,
          answer,
        });
      return answer;
    } finally {
      wipe(opened.ks);
    }
  }

  /**
   * Value store (Fig. 1): EnAmnt = E(amount ‖ txId, Ks). The answer must name the same txId.
   * @throws as {@link session}; ProtocolError 'tx-mismatch' when the answer names another tx.
   */
  async valueStore(
    terminal: Terminal,
    meter: MeterKeyRef,
    amount: number,
    txId: TxId,
    trace?: SessionTrace,
  ): Promise<ValueStoreAnswer> {
    const plain = encodeValueStorePlain({ amount, txId });
    const answer = await this.session(
      terminal,
      meter,
      H_VALUE_STORE,
      (ks) => encrypt(this.cipher, ks, plain),
      trace,
    );
    const a = this.#decode(() => decodeValueStoreAnswer(answer));
    if (a.txId !== txId) throw new ProtocolError('tx-mismatch', `answer names tx ${a.txId}, asked ${txId}`);
    return a;
  }

  /** Tariff mode change (Fig. 2): payload = activation ‖ mode table (plaintext, signed by S2h). */
  async changeTariff(
    terminal: Terminal,
    meter: MeterKeyRef,
    activation: RtcTime,
    table: TariffTable,
    trace?: SessionTrace,
  ): Promise<TariffAnswer> {
    const payload = encodeTariffPayload({ activation, table });
    const answer = await this.session(terminal, meter, H_TARIFF, () => payload, trace);
    const a = this.#decode(() => decodeTariffAnswer(answer));
    if (a.status !== TARIFF_STORED || a.activation.seconds !== activation.seconds)
      throw new ProtocolError(
        'bad-answer',
        `tariff answer status ${a.status}, activation ${a.activation.toString()} (meter ${toHex(meter.id)})`,
      );
    return a;
  }

  /** Usage and timer check (Fig. 3): payload = host Time; answer = Info. */
  async usageCheck(
    terminal: Terminal,
    meter: MeterKeyRef,
    time: RtcTime,
    trace?: SessionTrace,
  ): Promise<UsageInfo & { readonly logView: ConsumptionLogView }> {
    const answer = await this.session(terminal, meter, H_USAGE, () => encodeUsagePayload(time), trace);
    return this.#decode(() => decodeUsageInfo(answer));
  }

  /**
   * Record upload (H = 55), one page: acknowledges the meter's journal below `from` and returns its
   * entries from `from`, its pending transfers and its SVM records from `svmFrom`. Ask again from
   * `answer.next` / `answer.svmNext` while `moreJournal` / `moreSvm`. The answer carries the
   * page's fresh challenge, for which the SVM signed the pending entries (the caller checks them). A lost answer is simply asked
   * for again (nothing at or above `from` is dropped). When `answer.oldest > from` the meter lost
   * entries to its bound.
   * @throws as {@link session}; ProtocolError 'bad-answer' for a malformed or truncated page, or one
   *   that does not answer `from` (an entry below it, `next` below it).
   */
  async uploadRecords(
    terminal: Terminal,
    meter: MeterKeyRef,
    from: number,
    svmFrom = 0,
    trace?: SessionTrace,
  ): Promise<UploadAnswer & { readonly challenge: Uint8Array }> {
    // fresh per page: the pending entries come signed by the SVM for it (docs/host-protocol.md)
    const challenge = this.rng.bytes(UPLOAD_CHALLENGE_LENGTH);
    const payload = encodeUploadRequest({ from, svmFrom, challenge });
    const answer = await this.session(terminal, meter, H_CLEARING_UPLOAD, () => payload, trace);
    const a = this.#decode(() => decodeUploadAnswer(answer));
    if (a.next < Math.min(from, a.oldest) || a.journal.some((e) => e.seq < from) || a.svmNext < svmFrom)
      throw new ProtocolError('bad-answer', `upload page does not answer from ${from} / svmFrom ${svmFrom}`);
    return { ...a, challenge };
  }

  /**
   * Blacklist distribution (H = 56): the meter applies `update` only when its version is higher than
   * the one it holds (a delta only on its base). The answer names the version the meter holds now;
   * a status other than applied changed nothing on the meter.
   * @throws as {@link session}; ProtocolError 'bad-answer' when an applied answer names another version.
   */
  async sendBlacklist(
    terminal: Terminal,
    meter: MeterKeyRef,
    update: BlacklistUpdate,
    trace?: SessionTrace,
  ): Promise<BlacklistAnswer> {
    const payload = encodeBlacklistUpdate(update);
    const answer = await this.session(terminal, meter, H_BLACKLIST, () => payload, trace);
    const a = this.#decode(() => decodeBlacklistAnswer(answer));
    if (a.status === BL_APPLIED && a.version !== update.version)
      throw new ProtocolError('bad-answer', `blacklist applied but the meter holds version ${a.version}`);
    return a;
  }

  /**
   * Card commands (H = 57, issue 17): `request.commands` go to the meter's queue (each stored once
   * per id), `request.ackBelow` lets it drop the answers and readings the caller stored, `forget`
   * drops queued commands. The answer lists this request's refusals (outcome 01, seq 0, not stored:
   * send again later when FULL), the meter's outbox from its oldest entry (final card answers and
   * offline readings, each with its seq: store it once, then send `ackBelow` = `answer.next`), and
   * the commands still waiting with the card's last SW. A lost answer loses nothing: everything not
   * acknowledged comes again.
   * @throws as {@link session}; ProtocolError 'bad-answer' for a malformed answer, or a refusal that
   *   names a command this request did not carry.
   */
  async cardCommands(
    terminal: Terminal,
    meter: MeterKeyRef,
    request: CardCommandsRequest,
    trace?: SessionTrace,
  ): Promise<CardCommandsAnswer> {
    const payload = encodeCardCommandsRequest(request);
    const answer = await this.session(terminal, meter, H_CARD_COMMANDS, () => payload, trace);
    const a = this.#decode(() => decodeCardCommandsAnswer(answer));
    const sent = new Set(request.commands.map((c) => c.id));
    if (a.answers.some((x) => x.outcome === OUTCOME_REFUSED && !sent.has(x.id)))
      throw new ProtocolError('bad-answer', 'the meter refused a card command this request did not carry');
    return a;
  }

  /**
   * Host settle relay (H = 54): the settle payload (decision, slot, CSN, purse, card counter, amount,
   * host tx id — docs/purse-spec.md §5.8) goes to the meter's SVM HOST SETTLE, authorised by S2h
   * through the SAM. The answer is the SVM's, signed for R3 and encrypted by the SAM: settled-complete,
   * settled-cancel, no-such-pending or duplicate, each a definite answer. A lost answer is retried
   * with the same payload (same tx id): the SVM answers duplicate / no-such-pending, never twice.
   * @throws as {@link session}; ProtocolError 'bad-answer' when the answer names another payload.
   */
  async settle(
    terminal: Terminal,
    meter: MeterKeyRef,
    request: SettlePayload,
    trace?: SessionTrace,
  ): Promise<SettleAnswer> {
    const payload = request.encode();
    const answer = await this.session(terminal, meter, H_SETTLE, () => payload, trace);
    const a = this.#decode(() => decodeSettleAnswer(answer, true));
    if (!equalBytes(a.payload.encode(), payload))
      throw new ProtocolError('bad-answer', 'the settle answer names another settlement than the one sent');
    const { meterId: _, ...rest } = a;
    void _;
    return rest;
  }

  #decode<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof MalformedDataError) throw new ProtocolError('bad-answer', e.message);
      throw e;
    }
  }
}
