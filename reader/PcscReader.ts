import { CardChannelError, type CardChannel, type Protocol } from './CardChannel.js';
import { PcscChannel, type PcscChannelOwner } from './PcscChannel.js';
import type { ConnectOptions, Reader, ReaderListener } from './Reader.js';
import { NoCardError, ReaderUnavailableError, TransportError } from './errors.js';
import { pcscCode, pcscError, SCARD, type AddonReader } from './internal/pcscAddon.js';
import { ReaderEvents } from './internal/ReaderEvents.js';
import { checkTimeout, withTimeout } from './internal/timeout.js';
import { recordIfAsked } from './trace/recordIfAsked.js';

/** Options of `PcscReader.connect()`. */
export interface PcscConnectOptions extends ConnectOptions {
  /** Share the card with other applications (default) or hold it exclusively. */
  share?: 'shared' | 'exclusive';
  /** What `disconnect()` does to the card; default 'unpower' (pcsclite's default). */
  disposition?: 'leave' | 'reset' | 'unpower';
}

/**
 * One PC/SC reader (a slot), obtained from `PcscContext.reader(name)`. Follows the addon's
 * status thread to know whether a card is present, and connects with protocol negotiation.
 * After the card is removed and a card inserted again, `connect()` opens a fresh channel.
 */
export class PcscReader implements Reader, PcscChannelOwner {
  readonly name: string;
  #present = false;
  #atr = new Uint8Array(0);
  #known = false;
  #gone: string | undefined;
  #owner: object | undefined;
  readonly #events: ReaderEvents;

  /** @internal Made by PcscContext. */
  constructor(
    private readonly addon: AddonReader,
    readonly timeoutMs: number,
  ) {
    this.name = addon.name;
    this.#events = new ReaderEvents(this.name);
    addon.on('status', (s: { state: number; atr?: Buffer }) => this.#status(s.state, s.atr));
    addon.on('error', (e: unknown) =>
      this.markGone(`status watch failed: ${e instanceof Error ? e.message : String(e)}`),
    );
  }

  get cardPresent(): boolean {
    return this.#present;
  }

  /** The ATR of the card in the reader, as last reported by pcscd (empty when none). */
  get atr(): Uint8Array {
    return this.#atr.slice();
  }

  #status(state: number, atr: Buffer | undefined): void {
    const a = this.addon;
    const present = (state & a.SCARD_STATE_PRESENT) !== 0 && (state & a.SCARD_STATE_EMPTY) === 0;
    if (atr && atr.length) this.#atr = new Uint8Array(atr);
    if ((state & a.SCARD_STATE_UNAVAILABLE) !== 0) {
      this.markGone('pcscd reports the reader unavailable');
      return;
    }
    const was = this.#present;
    this.#present = present;
    this.#known = true;
    if (present && !was)
      this.#events.emit({ type: 'inserted', readerName: this.name, atr: this.#atr.slice() });
    if (!present && was) {
      this.#atr = new Uint8Array(0);
      this.#events.emit({ type: 'removed', readerName: this.name });
    }
  }

  /** @internal The reader went away (unplugged, pcscd stopped, context closed). */
  markGone(reason: string): void {
    if (this.#gone) return;
    this.#gone = reason;
    const had = this.#present;
    this.#present = false;
    if (had) this.#events.emit({ type: 'removed', readerName: this.name });
    this.#events.emit({ type: 'unavailable', readerName: this.name, reason });
  }

  /** @internal */
  close(): void {
    this.markGone('the PC/SC context was closed');
    try {
      this.addon.close();
    } catch {
      // The status thread already ended.
    }
  }

  /**
   * Connects to the card (SCardConnect), negotiating T=0 or T=1, and opens a channel that
   * applies the transport rules.
   * @throws NoCardError when the slot is empty; ReaderUnavailableError when the reader or
   * pcscd is gone; CardTimeoutError; TransportError when the asked protocol cannot be used.
   */
  async connect(options: PcscConnectOptions = {}): Promise<CardChannel> {
    this.#checkAvailable();
    const timeoutMs = checkTimeout(options.timeoutMs ?? this.timeoutMs, 'timeoutMs');
    const a = this.addon;
    if (!this.#known) await this.waitForCard(Math.min(timeoutMs, 2000)).catch(() => undefined);
    if (!this.#present) throw new NoCardError(`no card in PC/SC reader '${this.name}'`, this.name);
    // A handle left from a card that was removed must go before a new SCardConnect: the addon
    // would otherwise report success without connecting.
    if (a.connected) {
      // The addon has one card handle per reader: a second channel would cut the first one off.
      if (this.#owner instanceof PcscChannel && this.#owner.open) {
        throw new CardChannelError(
          `PC/SC reader '${this.name}' already has an open channel in this process; disconnect it first`,
          this.name,
        );
      }
      await this.release('leave', timeoutMs);
    }
    const want = options.protocol ?? 'any';
    const mask =
      want === 'T=0'
        ? a.SCARD_PROTOCOL_T0
        : want === 'T=1'
          ? a.SCARD_PROTOCOL_T1
          : a.SCARD_PROTOCOL_T0 | a.SCARD_PROTOCOL_T1;
    const share = options.share === 'exclusive' ? a.SCARD_SHARE_EXCLUSIVE : a.SCARD_SHARE_SHARED;
    const once = () =>
      withTimeout(
        new Promise<number>((resolve, reject) =>
          a.connect({ share_mode: share, protocol: mask }, (err, p) => (err ? reject(err) : resolve(p))),
        ),
        timeoutMs,
        'connect',
        this.name,
      );
    let got: number;
    for (let attempt = 0; ; attempt++) {
      try {
        got = await once();
        break;
      } catch (e) {
        // Right after insertion pcscd may not have powered the card yet: try again briefly.
        const code = pcscCode(e);
        const transient =
          code === SCARD.W_UNPOWERED_CARD ||
          code === SCARD.W_UNRESPONSIVE_CARD ||
          code === SCARD.E_NO_SMARTCARD;
        if (!transient || attempt >= 10) throw pcscError(e, 'connect', this.name);
        a.connected = false;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    let protocol: Protocol;
    if (got === a.SCARD_PROTOCOL_T0) protocol = 'T=0';
    else if (got === a.SCARD_PROTOCOL_T1) protocol = 'T=1';
    else {
      await this.release('leave', timeoutMs).catch(() => undefined);
      throw new TransportError(
        `PC/SC reader '${this.name}' negotiated protocol ${got}, neither T=0 nor T=1`,
        this.name,
      );
    }
    const channel = new PcscChannel(this, a, protocol, this.#atr, options, timeoutMs);
    this.#owner = channel;
    // Under MP_TRACE_RECORD (`trace record -- <command>`) every channel a command opens is recorded.
    return recordIfAsked(channel);
  }

  /**
   * @internal Ends the addon's connection (SCardDisconnect) with a disposition. Even when
   * pcscd refuses (the card is already gone) the addon is left ready for a new connect.
   */
  async release(
    disposition: 'leave' | 'reset' | 'unpower',
    timeoutMs: number,
    owner?: object,
  ): Promise<void> {
    const a = this.addon;
    // A channel of an earlier card must not end the connection of a later one.
    if (owner !== undefined && owner !== this.#owner) return;
    const d =
      disposition === 'leave'
        ? a.SCARD_LEAVE_CARD
        : disposition === 'reset'
          ? a.SCARD_RESET_CARD
          : a.SCARD_UNPOWER_CARD;
    try {
      await withTimeout(
        new Promise<void>((resolve, reject) =>
          a.disconnect(d, (err) => (err ? reject(pcscError(err, 'disconnect', this.name)) : resolve())),
        ),
        timeoutMs,
        'disconnect',
        this.name,
      );
    } finally {
      a.connected = false;
    }
  }

  async waitForCard(timeoutMs: number = this.timeoutMs): Promise<Uint8Array> {
    checkTimeout(timeoutMs, 'timeoutMs');
    this.#checkAvailable();
    return this.#events.waitFor(
      () => (this.#present ? this.#atr.slice() : undefined),
      (e) => (e.type === 'inserted' ? e.atr : undefined),
      timeoutMs,
      `waiting for a card in '${this.name}'`,
    );
  }

  async waitForRemoval(timeoutMs: number = this.timeoutMs): Promise<void> {
    checkTimeout(timeoutMs, 'timeoutMs');
    this.#checkAvailable();
    return this.#events
      .waitFor(
        () => (this.#known && !this.#present ? true : undefined),
        (e) => (e.type === 'removed' ? true : undefined),
        timeoutMs,
        `waiting for the card to leave '${this.name}'`,
      )
      .then(() => undefined);
  }

  onEvent(listener: ReaderListener): () => void {
    return this.#events.on(listener);
  }

  /** @internal The channel that owns the addon's one card handle from now on. */
  adopt(owner: object): void {
    this.#owner = owner;
  }

  /** @internal */
  checkAvailable(): void {
    this.#checkAvailable();
  }

  #checkAvailable(): void {
    if (this.#gone)
      throw new ReaderUnavailableError(
        `PC/SC reader '${this.name}' is unavailable: ${this.#gone}`,
        this.name,
      );
  }
}
