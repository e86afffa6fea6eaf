import { CommandApdu } from '../card/index.js';
import { ResponseApdu } from '../card/index.js';
import { concatBytes, toHex } from '../card/index.js';
import type { Protocol } from './CardChannel.js';
import { TransportError } from './errors.js';
import { readAtr } from './internal/atrInfo.js';
import { SW_BYTES_REMAINING_00, SW_CORRECT_LENGTH_00, sw1 } from '../card/index.js';

/** SW1 61: xx more bytes wait for GET RESPONSE; SW1 6C: resend with Le = xx (ISO/IEC 7816-4 §5.6). */
const SW1_BYTES_REMAINING = sw1(SW_BYTES_REMAINING_00);
const SW1_WRONG_LE = sw1(SW_CORRECT_LENGTH_00);

/** Sends raw command bytes to the card (one TPDU/APDU) and returns the raw response bytes. */
export type RawTransmit = (command: Uint8Array) => Promise<Uint8Array>;

/**
 * Told of every exchange as its caller sees it (the command handed to `transmit()`, the response
 * after GET RESPONSE assembly and 6Cxx re-sending), synchronously, once the response (or the error)
 * is final and before the caller's promise settles — no promise of its own. Used by recording
 * (`RecordingChannel` over a `VirtualChannel`), where a wrapper's extra `then()` would be a
 * measurable share of an in-process exchange.
 */
export interface ExchangeObserver {
  /** Called when `transmit()` is called; its result is handed back as `start` (a clock reading). */
  begin(): number;
  /** An answered exchange. */
  answered(command: CommandApdu, response: ResponseApdu, start: number): void;
  /** An exchange that failed with `error` (thrown on to the caller unchanged). */
  failed(command: CommandApdu, error: unknown, start: number): void;
}

/** A channel that can tell an `ExchangeObserver` of the exchanges sent through one call. */
export interface ObservableChannel {
  /** `transmit(command)`, with `observer` told of the exchange as the caller sees it. */
  transmitObserved(command: CommandApdu, observer: ExchangeObserver): Promise<ResponseApdu>;
}

/** Switches for the transport rules; every backend accepts them in its `connect()` options. */
export interface TransportOptions {
  /** On 61xx fetch the rest with GET RESPONSE and join it (ISO/IEC 7816-4 §5.3.4). Default true. */
  getResponse?: boolean;
  /** On 6Cxx resend the same command with Le = xx (ISO/IEC 7816-3 §12.2.2). Default true. */
  resendOnWrongLe?: boolean;
  /**
   * Over T=0, send a case 4 command as case 3 (no Le) and collect the data with GET RESPONSE, as
   * the TPDU layer does (ISO/IEC 7816-3 §12.2.5). Default true; ignored over T=1.
   */
  t0Case4?: boolean;
  /**
   * Whether extended APDUs may be sent: 'auto' (default) follows the card capabilities in the
   * ATR's historical bytes (ISO/IEC 7816-4 §8.1.1.2.7); true/false force it.
   */
  extendedLength?: 'auto' | boolean;
}

/** GET RESPONSE (ISO/IEC 7816-4 §7.6.1). */
export const INS_GET_RESPONSE = 0xc0;
/** Longest response data a chain of GET RESPONSE may collect (Ne max, ISO/IEC 7816-3 §12.1.3). */
const MAX_RESPONSE_DATA = 65536;
/** A card answering 61xx more often than this is broken (65536 / 256 = 256 full chunks). */
const MAX_GET_RESPONSE = 300;
/** A card answering 6Cxx to a command that already carries its corrected Le is broken. */
const MAX_RESEND = 2;

/**
 * The transport rules of ISO/IEC 7816-3 §12 and 7816-4 §5.3, written once and used by every
 * backend (in-process, PC/SC): T=0 case 4 transformation, 61xx GET RESPONSE chaining, 6Cxx
 * re-send with the corrected Le, and the extended-length gate.
 */
export class ApduTransport {
  readonly getResponse: boolean;
  readonly resendOnWrongLe: boolean;
  readonly t0Case4: boolean;
  readonly extendedLength: boolean;
  #queue: Promise<void> = Promise.resolve();

  constructor(
    readonly protocol: Protocol,
    atr: Uint8Array,
    readonly readerName: string,
    options: TransportOptions = {},
  ) {
    this.getResponse = options.getResponse ?? true;
    this.resendOnWrongLe = options.resendOnWrongLe ?? true;
    this.t0Case4 = options.t0Case4 ?? true;
    const ext = options.extendedLength ?? 'auto';
    this.extendedLength = ext === 'auto' ? readAtr(atr).extendedLength : ext;
  }

  /**
   * Sends `command` through `raw` under the transport rules and returns the joined response.
   *
   * ```
   *  T=0 case 4S  CLA INS P1 P2 Lc data Le  ->  CLA INS P1 P2 Lc data      (case 3S)
   *               <- 61 xx                  ->  CLA' C0 00 00 xx          (GET RESPONSE)
   *               <- data 90 00
   *  any case 2   CLA INS P1 P2 Le          <-  6C xx  ->  CLA INS P1 P2 xx  (same command, Le=xx)
   * ```
   * CLA' keeps the logical channel bits of CLA (ISO/IEC 7816-4 §5.4.1) and clears SM and chaining.
   * @throws TransportError for an extended APDU the card does not support, a response shorter
   * than a status word, or a card that never stops answering 61xx/6Cxx.
   * @throws whatever `raw` throws (CardRemovedError, CardTimeoutError, ReaderUnavailableError...).
   * Concurrent calls are queued: each exchange (with its GET RESPONSE chain) runs alone.
   */
  transmit(command: CommandApdu, raw: RawTransmit, observer?: ExchangeObserver): Promise<ResponseApdu> {
    // One exchange at a time: a second caller's command must not land between a command and
    // its GET RESPONSE chain.
    const run = this.#run(command, raw, observer, observer === undefined ? 0 : observer.begin());
    this.#queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /**
   * One exchange after the ones queued before it; `observer` (if any) is told of it from here (a
   * try around the awaits, no promise more), when its result is final, before the caller's turn.
   */
  async #run(
    command: CommandApdu,
    raw: RawTransmit,
    observer: ExchangeObserver | undefined,
    start: number,
  ): Promise<ResponseApdu> {
    let response: ResponseApdu;
    try {
      await this.#queue;
      response = await this.#exchange(command, raw);
    } catch (e) {
      if (observer !== undefined) observer.failed(command, e, start);
      throw e;
    }
    if (observer !== undefined) observer.answered(command, response, start);
    return response;
  }

  async #exchange(command: CommandApdu, raw: RawTransmit): Promise<ResponseApdu> {
    let first = command;
    if (command.extended) {
      if (!this.extendedLength) {
        throw new TransportError(
          `extended APDU (case ${command.case}, Nc=${command.nc}${command.ne !== undefined ? ` Ne=${command.ne}` : ''}) ` +
            `refused: the card in '${this.readerName}' does not announce extended Lc/Le in its ATR ` +
            `(ISO/IEC 7816-4 §8.1.1.2.7); split the command or connect with extendedLength: true`,
          this.readerName,
        );
      }
      if (this.protocol === 'T=0') first = this.#t0Extended(command);
    }
    if (this.protocol === 'T=0' && this.t0Case4 && first.nc > 0 && first.ne !== undefined) {
      first = new CommandApdu({
        cla: first.cla,
        ins: first.ins,
        p1: first.p1,
        p2: first.p2,
        data: first.dataView(),
      });
    }

    let response = await this.#sendResendingOnWrongLe(first, raw);
    if (!this.getResponse || response.sw1 !== SW1_BYTES_REMAINING) return response;

    const parts: Uint8Array[] = [response.dataView()];
    let total = response.dataView().length;
    for (let i = 0; response.sw1 === SW1_BYTES_REMAINING; i++) {
      if (i >= MAX_GET_RESPONSE) {
        throw new TransportError(
          `the card in '${this.readerName}' answered 61xx to ${MAX_GET_RESPONSE} GET RESPONSE commands in a row`,
          this.readerName,
        );
      }
      const le = response.sw2 === 0 ? 256 : response.sw2;
      const getResponse = new CommandApdu({
        cla: getResponseCla(command.cla),
        ins: INS_GET_RESPONSE,
        p1: 0,
        p2: 0,
        ne: le,
      });
      response = await this.#sendResendingOnWrongLe(getResponse, raw);
      const chunk = response.dataView();
      total += chunk.length;
      if (total > MAX_RESPONSE_DATA) {
        throw new TransportError(
          `the card in '${this.readerName}' returned more than ${MAX_RESPONSE_DATA} bytes through GET RESPONSE`,
          this.readerName,
        );
      }
      parts.push(chunk);
    }
    return new ResponseApdu(concatBytes(...parts), response.sw);
  }

  async #sendResendingOnWrongLe(command: CommandApdu, raw: RawTransmit): Promise<ResponseApdu> {
    let current = command;
    for (let attempt = 0; ; attempt++) {
      const bytes = await raw(current.encode());
      if (bytes.length < 2) {
        throw new TransportError(
          `the card in '${this.readerName}' answered ${bytes.length} byte(s) (${toHex(bytes)}) to ${toHex(current.encode())}; a response has at least SW1 SW2`,
          this.readerName,
        );
      }
      const response = ResponseApdu.decode(bytes);
      // 6Cxx only makes sense for a command that carries an Le field.
      if (response.sw1 !== SW1_WRONG_LE || !this.resendOnWrongLe || current.ne === undefined) return response;
      if (attempt >= MAX_RESEND) {
        throw new TransportError(
          `the card in '${this.readerName}' keeps answering 6Cxx to ${toHex(current.encode())}`,
          this.readerName,
        );
      }
      const ne = response.sw2 === 0 ? 256 : response.sw2;
      current = new CommandApdu({
        cla: current.cla,
        ins: current.ins,
        p1: current.p1,
        p2: current.p2,
        data: current.dataView(),
        ne,
        extended: current.extended,
      });
    }
  }

  /**
   * Over T=0 an extended APDU is carried in short form when its data fits (ISO/IEC 7816-3
   * §12.2.6): Le becomes 00 and GET RESPONSE brings the rest. Longer data would need ENVELOPE.
   */
  #t0Extended(command: CommandApdu): CommandApdu {
    if (command.nc > 255) {
      throw new TransportError(
        `case ${command.case} with Nc=${command.nc} cannot be sent over T=0 without ENVELOPE, which this reader layer does not implement`,
        this.readerName,
      );
    }
    return new CommandApdu({
      cla: command.cla,
      ins: command.ins,
      p1: command.p1,
      p2: command.p2,
      data: command.dataView(),
      ne: command.ne === undefined ? undefined : Math.min(command.ne, 256),
    });
  }
}

/**
 * The CLA of a GET RESPONSE that follows a command sent with `cla`: the same logical channel,
 * no secure messaging, no chaining (ISO/IEC 7816-4 §5.4.1).
 *
 * ```
 *  first interindustry   000x SSCC  -> 0000 00CC   channels 0..3
 *  further interindustry 01xS CCCC  -> 0100 CCCC   channels 4..19
 *  proprietary           1xxx xxCC  -> 0000 00CC   (GlobalPlatform keeps the channel in b2-b1)
 * ```
 */
export function getResponseCla(cla: number): number {
  if ((cla & 0xc0) === 0x40) return 0x40 | (cla & 0x0f);
  return cla & 0x03;
}
