import type { CardOs } from '../card/index.js';
import type { CardChannel, Protocol } from './CardChannel.js';
import { DEFAULT_TIMEOUT_MS, type ConnectOptions, type Reader, type ReaderListener } from './Reader.js';
import { VirtualChannel, type Disposition, type VirtualSlot } from './VirtualChannel.js';
import { NoCardError, ReaderUnavailableError, TransportError } from './errors.js';
import { readAtr } from './internal/atrInfo.js';
import { ReaderEvents } from './internal/ReaderEvents.js';
import { checkTimeout } from './internal/timeout.js';
import { recordIfAsked } from './trace/recordIfAsked.js';

/** Options of `VirtualReader.connect()`. */
export interface VirtualConnectOptions extends ConnectOptions {
  /** What `disconnect()` does to the card; default 'unpower' (as pcsclite does). */
  disposition?: Disposition;
}

/**
 * An in-process reader slot holding any `CardOs` (jcardsim's CardTerminalSimulator plays the
 * same part). Cards are inserted and removed by calling `insert` / `remove`; a channel opened on
 * one insertion fails with `CardRemovedError` once that card is gone.
 *
 * ```ts
 * const reader = new VirtualReader('Virtual 0', card);
 * const ch = await reader.connect();
 * const r = await ch.transmit(CommandApdu.decode(fromHex('00A4040007A0000000031010')));
 * ```
 */
export class VirtualReader implements Reader, VirtualSlot {
  #card: CardOs | undefined;
  #insertion = 0;
  #unplugged: string | undefined;
  readonly #events: ReaderEvents;

  /** @throws TypeError when `name` is empty. */
  constructor(
    readonly name: string,
    card?: CardOs,
  ) {
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('name must be a non-empty string');
    this.#events = new ReaderEvents(name);
    if (card) this.insert(card);
  }

  get cardPresent(): boolean {
    return this.#card !== undefined;
  }

  /** The card in the slot, if any. */
  get card(): CardOs | undefined {
    return this.#card;
  }

  current(): { card: CardOs; insertion: number } | undefined {
    return this.#card ? { card: this.#card, insertion: this.#insertion } : undefined;
  }

  /** Why the reader is gone, once `unplug()` was called. */
  get unplugged(): string | undefined {
    return this.#unplugged;
  }

  /**
   * Simulates pulling the reader itself (USB unplug, terminal power loss): the card loses power,
   * listeners get 'unavailable', and every channel, connect and wait fails with
   * `ReaderUnavailableError` from now on.
   */
  unplug(reason = 'reader unplugged'): void {
    if (this.#unplugged !== undefined) return;
    this.#unplugged = reason;
    if (this.#card?.powered) this.#card.powerDown();
    this.#events.emit({ type: 'unavailable', readerName: this.name, reason });
  }

  #checkPlugged(): void {
    if (this.#unplugged !== undefined) {
      throw new ReaderUnavailableError(`reader '${this.name}' is gone (${this.#unplugged})`, this.name);
    }
  }

  /**
   * Puts a card into the slot and tells the listeners.
   * @throws Error when the slot already holds a card.
   */
  insert(card: CardOs): void {
    if (!card || typeof card.transmit !== 'function') throw new TypeError('card must be a CardOs');
    if (this.#card) throw new Error(`reader '${this.name}' already holds a card; remove() it first`);
    this.#card = card;
    this.#insertion++;
    this.#events.emit({ type: 'inserted', readerName: this.name, atr: card.atr.slice() });
  }

  /** Takes the card out (its power goes with it) and returns it; channels on it fail from now on. */
  remove(): CardOs | undefined {
    const card = this.#card;
    if (!card) return undefined;
    this.#card = undefined;
    this.#insertion++;
    if (card.powered) card.powerDown();
    this.#events.emit({ type: 'removed', readerName: this.name });
    return card;
  }

  /**
   * Powers the card (cold reset when it is unpowered) and opens a channel.
   * @throws NoCardError when the slot is empty; ReaderUnavailableError after `unplug()`; TransportError when the asked protocol is not
   * offered by the card's ATR.
   */
  async connect(options: VirtualConnectOptions = {}): Promise<CardChannel> {
    this.#checkPlugged();
    const card = this.#card;
    if (!card) throw new NoCardError(`no card in reader '${this.name}'`, this.name);
    const atr = card.powered ? card.atr : card.powerUp();
    const offered = readAtr(atr).protocols;
    const want = options.protocol ?? 'any';
    let protocol: Protocol;
    if (want === 'any') protocol = offered.includes('T=1') ? 'T=1' : offered[0]!;
    else if (offered.includes(want)) protocol = want;
    else
      throw new TransportError(
        `the card in '${this.name}' offers ${offered.join(', ')}, not ${want}`,
        this.name,
      );
    // Under MP_TRACE_RECORD (`trace record -- <command>`) every channel a command opens is recorded.
    return recordIfAsked(new VirtualChannel(this, card, this.#insertion, protocol, atr, options));
  }

  async waitForCard(timeoutMs: number = DEFAULT_TIMEOUT_MS): Promise<Uint8Array> {
    checkTimeout(timeoutMs, 'timeoutMs');
    this.#checkPlugged();
    return this.#events.waitFor(
      () => this.#card?.atr.slice(),
      (e) => (e.type === 'inserted' ? e.atr : undefined),
      timeoutMs,
      `waiting for a card in '${this.name}'`,
    );
  }

  async waitForRemoval(timeoutMs: number = DEFAULT_TIMEOUT_MS): Promise<void> {
    checkTimeout(timeoutMs, 'timeoutMs');
    this.#checkPlugged();
    return this.#events
      .waitFor(
        () => (this.#card ? undefined : true),
        (e) => (e.type === 'removed' ? true : undefined),
        timeoutMs,
        `waiting for the card to leave '${this.name}'`,
      )
      .then(() => undefined);
  }

  onEvent(listener: ReaderListener): () => void {
    return this.#events.on(listener);
  }
}
