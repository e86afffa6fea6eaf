import { Socket, connect } from 'node:net';
import { CardPowerLostError, type CardOs } from '../../card/index.js';
import { toHex } from '../../card/index.js';
import { be16, put16, u16 } from '../../card/index.js';
import { SW_UNKNOWN } from '../../card/index.js';
import { CardTimeoutError } from '../errors.js';

/** vpcd's first slot ("Virtual PCD 00 00"); the second listens on 35964. */
export const VPCD_DEFAULT_PORT = 35963;
export const VPCD_DEFAULT_HOST = '127.0.0.1';

/** Control messages of the vpcd/vicc protocol: one-byte payloads. */
export const VPCD_CTRL_OFF = 0x00;
export const VPCD_CTRL_ON = 0x01;
export const VPCD_CTRL_RESET = 0x02;
export const VPCD_CTRL_ATR = 0x04;

/** The largest payload a 2-byte length can frame. */
const MAX_FRAME = 0xffff;
/** The answer when the card OS throws (ISO/IEC 7816-4 6F00: no precise diagnosis). */
const ANSWER_UNKNOWN = be16(SW_UNKNOWN);

/** What happened on the bridge, for `afterEvent` (the CLI saves the card file there). */
export type BridgeEvent =
  | { kind: 'apdu'; command: Uint8Array; response: Uint8Array }
  | { kind: 'power-on' | 'power-off' | 'reset' | 'disconnected' };

export interface VpcdBridgeOptions {
  host?: string;
  port?: number;
  /** First wait before reconnecting to vpcd, doubled on each failure up to `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Where log lines go (one line each, no newline); default: nowhere. */
  log?: (line: string) => void;
  /**
   * Runs after each thing the card did, before the answer is sent; a throw is logged and the
   * bridge goes on (the card keeps serving).
   */
  afterEvent?: (event: BridgeEvent) => void;
}

type Listener = () => void;

/**
 * Serves a `CardOs` as the card of a vpcd reader slot, so every PC/SC application sees it in
 * "Virtual PCD 00 00" (vsmartcard's virtual smart card protocol). The bridge is the TCP client:
 *
 * ```
 *  frame     = length(2, big-endian) payload(length)
 *  payload   = 00 power off | 01 power on | 02 reset | 04 get ATR   (one byte: control)
 *            | command APDU                                          (anything longer)
 *  answers   : 04 -> ATR;  APDU -> response APDU;  00/01/02 -> nothing
 * ```
 * It reconnects with backoff when vpcd is not up yet or goes away, and never dies of the card:
 * an exception or a power loss inside `CardOs.transmit` is logged and answered with 6F00.
 */
export class VpcdBridge {
  readonly host: string;
  readonly port: number;
  readonly #initialDelay: number;
  readonly #maxDelay: number;
  readonly #log: (line: string) => void;
  #socket: Socket | undefined;
  #buffer = new Uint8Array(0);
  #running = false;
  #connected = false;
  #delay: number;
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  readonly #onConnected = new Set<Listener>();
  readonly #onDisconnected = new Set<Listener>();
  /** Counters for logs and tests. */
  readonly stats = { connects: 0, apdus: 0, cardErrors: 0 };

  constructor(
    readonly card: CardOs,
    private readonly options: VpcdBridgeOptions = {},
  ) {
    if (!card || typeof card.transmit !== 'function') throw new TypeError('card must be a CardOs');
    this.host = options.host ?? VPCD_DEFAULT_HOST;
    this.port = options.port ?? VPCD_DEFAULT_PORT;
    if (!Number.isInteger(this.port) || this.port < 1 || this.port > 65535) {
      throw new RangeError(`port must be 1..65535, got ${this.port}`);
    }
    this.#initialDelay = options.initialDelayMs ?? 100;
    this.#maxDelay = options.maxDelayMs ?? 2000;
    this.#delay = this.#initialDelay;
    this.#log = options.log ?? (() => {});
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Starts connecting (and keeps reconnecting) to vpcd. */
  start(): this {
    if (this.#running) return this;
    this.#running = true;
    this.#connect();
    return this;
  }

  /** Closes the connection and stops reconnecting; the card is powered down like a removed card. */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const s = this.#socket;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.once('close', () => resolve());
      s.destroy();
    });
  }

  onConnected(l: Listener): () => void {
    this.#onConnected.add(l);
    return () => this.#onConnected.delete(l);
  }

  onDisconnected(l: Listener): () => void {
    this.#onDisconnected.add(l);
    return () => this.#onDisconnected.delete(l);
  }

  /**
   * Resolves once connected to vpcd (at once when already).
   * @throws CardTimeoutError after `timeoutMs`.
   */
  waitConnected(timeoutMs: number): Promise<void> {
    if (this.#connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new CardTimeoutError(`connecting to vpcd at ${this.host}:${this.port}`, timeoutMs));
      }, timeoutMs);
      const off = this.onConnected(() => {
        clearTimeout(timer);
        off();
        resolve();
      });
    });
  }

  #connect(): void {
    if (!this.#running) return;
    const socket = connect({ host: this.host, port: this.port });
    this.#socket = socket;
    this.#buffer = new Uint8Array(0);
    socket.setNoDelay(true);
    socket.on('connect', () => {
      this.#connected = true;
      this.#failures = 0;
      this.#delay = this.#initialDelay;
      this.stats.connects++;
      this.#log(`connected to vpcd at ${this.host}:${this.port}`);
      for (const l of [...this.#onConnected]) l();
    });
    socket.on('data', (chunk: Buffer) => this.#receive(socket, chunk));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      // Refused while vpcd is not up: say so once, then quietly retry.
      if (this.#failures++ === 0 || this.#connected)
        this.#log(`vpcd ${this.host}:${this.port}: ${e.code ?? e.message}`);
    });
    socket.on('close', () => {
      if (this.#socket === socket) this.#socket = undefined;
      const was = this.#connected;
      this.#connected = false;
      if (was) {
        if (this.#running) this.#log(`vpcd at ${this.host}:${this.port} closed the connection`);
        // Losing vpcd is pulling the card from the reader: volatile state goes with the power.
        if (this.card.powered) this.#safely('power off', () => this.card.powerDown());
        this.#after({ kind: 'disconnected' });
        for (const l of [...this.#onDisconnected]) l();
      }
      if (this.#running) {
        this.#timer = setTimeout(() => this.#connect(), this.#delay);
        this.#delay = Math.min(this.#maxDelay, this.#delay * 2);
      }
    });
  }

  #receive(socket: Socket, chunk: Buffer): void {
    const joined = new Uint8Array(this.#buffer.length + chunk.length);
    joined.set(this.#buffer, 0);
    joined.set(chunk, this.#buffer.length);
    let o = 0;
    while (joined.length - o >= 2) {
      const len = u16(joined, o);
      if (joined.length - o - 2 < len) break;
      const payload = joined.slice(o + 2, o + 2 + len);
      o += 2 + len;
      const answer = this.#handle(payload);
      if (answer && !socket.destroyed) socket.write(frame(answer));
    }
    this.#buffer = joined.slice(o);
  }

  /** Runs one message; returns the answer to send, if the message gets one. */
  #handle(payload: Uint8Array): Uint8Array | undefined {
    if (payload.length === 0) return undefined;
    if (payload.length === 1) {
      switch (payload[0]) {
        case VPCD_CTRL_OFF:
          this.#safely('power off', () => this.card.powerDown());
          this.#after({ kind: 'power-off' });
          return undefined;
        case VPCD_CTRL_ON:
          this.#safely('power on', () => this.card.powerUp());
          this.#after({ kind: 'power-on' });
          return undefined;
        case VPCD_CTRL_RESET:
          this.#safely('reset', () => (this.card.powered ? this.card.reset() : this.card.powerUp()));
          this.#after({ kind: 'reset' });
          return undefined;
        case VPCD_CTRL_ATR:
          return this.card.atr.slice();
        default:
          this.#log(`ignoring unknown vpcd control byte ${toHex(payload)}`);
          return undefined;
      }
    }
    this.stats.apdus++;
    if (!this.card.powered) {
      this.#log('APDU for an unpowered card: powering it up first');
      this.#safely('power on', () => this.card.powerUp());
    }
    let response: Uint8Array;
    try {
      response = this.card.transmit(payload);
      if (!(response instanceof Uint8Array) || response.length < 2) {
        throw new Error(
          `card answered ${response instanceof Uint8Array ? response.length : typeof response} bytes`,
        );
      }
    } catch (e) {
      this.stats.cardErrors++;
      const what = e instanceof CardPowerLostError ? 'lost power' : 'failed';
      this.#log(
        `card ${what} on ${toHex(payload.subarray(0, 4))}…: ${e instanceof Error ? e.message : String(e)}; answering 6F00`,
      );
      response = ANSWER_UNKNOWN.slice();
    }
    if (response.length > MAX_FRAME) {
      this.#log(
        `response of ${response.length} bytes does not fit a vpcd frame (max ${MAX_FRAME}); answering 6F00`,
      );
      response = ANSWER_UNKNOWN.slice();
    }
    this.#after({ kind: 'apdu', command: payload, response });
    return response;
  }

  #safely(what: string, fn: () => unknown): void {
    try {
      fn();
    } catch (e) {
      this.stats.cardErrors++;
      this.#log(`card ${what} failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  #after(event: BridgeEvent): void {
    const hook = this.options.afterEvent;
    if (!hook) return;
    try {
      hook(event);
    } catch (e) {
      this.#log(`after ${event.kind}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 2);
  put16(out, 0, payload.length);
  out.set(payload, 2);
  return out;
}
