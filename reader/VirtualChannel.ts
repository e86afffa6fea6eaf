import type { CommandApdu } from '../card/index.js';
import type { ResponseApdu } from '../card/index.js';
import { CardPowerLostError, type CardOs } from '../card/index.js';
import { CardChannelError, type CardChannel, type Protocol } from './CardChannel.js';
import {
  ApduTransport,
  type ExchangeObserver,
  type ObservableChannel,
  type TransportOptions,
} from './ApduTransport.js';
import { CardRemovedError, ChannelClosedError, ReaderUnavailableError } from './errors.js';

/** How a `VirtualReader` channel reaches its slot; the reader owns the card and its insertion count. */
export interface VirtualSlot {
  readonly name: string;
  /** The card in the slot and the number of the insertion it belongs to. */
  current(): { card: CardOs; insertion: number } | undefined;
  /** Why the reader is gone (unplugged), or undefined while it is there. */
  readonly unplugged: string | undefined;
}

/** What to do with the card on `disconnect()` (PC/SC's disposition). */
export type Disposition = 'leave' | 'reset' | 'unpower';

/**
 * A channel to a `CardOs` in a `VirtualReader`. It belongs to one insertion of one card: once
 * that card is removed (or loses power mid-command) every call fails with `CardRemovedError`.
 */
export class VirtualChannel implements CardChannel, ObservableChannel {
  readonly readerName: string;
  readonly protocol: Protocol;
  #atr: Uint8Array;
  #closed = false;
  readonly disposition: Disposition;
  readonly #transport: ApduTransport;
  readonly #rawBound = (bytes: Uint8Array): Promise<Uint8Array> => this.#raw(bytes);

  constructor(
    private readonly slot: VirtualSlot,
    private readonly card: CardOs,
    private readonly insertion: number,
    protocol: Protocol,
    atr: Uint8Array,
    options: TransportOptions & { disposition?: Disposition } = {},
  ) {
    this.readerName = slot.name;
    this.disposition = options.disposition ?? 'unpower';
    this.protocol = protocol;
    this.#atr = atr.slice();
    this.#transport = new ApduTransport(protocol, atr, slot.name, options);
  }

  get atr(): Uint8Array {
    return this.#atr.slice();
  }

  /**
   * Sends one command under the transport rules (see `ApduTransport`).
   * @throws CardRemovedError when the card left the slot or lost power; ChannelClosedError after
   * `disconnect()`; TransportError when the transport rules are broken.
   */
  transmit(command: CommandApdu): Promise<ResponseApdu> {
    return this.#transport.transmit(command, this.#rawBound);
  }

  /**
   * `transmit(command)`, with `observer` told of the exchange as the caller sees it (after GET
   * RESPONSE assembly and 6Cxx re-sending), or of its error, synchronously before the returned
   * promise settles. This is how a `RecordingChannel` records an in-process channel without a
   * promise of its own on the exchange's path.
   */
  transmitObserved(command: CommandApdu, observer: ExchangeObserver): Promise<ResponseApdu> {
    return this.#transport.transmit(command, this.#rawBound, observer);
  }

  /** Warm reset of the card (ISO/IEC 7816-3 §6.2.3); resolves to the ATR. */
  async reset(): Promise<Uint8Array> {
    this.#check('reset');
    try {
      this.#atr = this.card.reset().slice();
    } catch (e) {
      throw this.#cardFailure(e, 'reset');
    }
    return this.atr;
  }

  async disconnect(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#stillInserted()) return;
    if (this.disposition === 'unpower') this.card.powerDown();
    else if (this.disposition === 'reset') this.card.reset();
  }

  async #raw(bytes: Uint8Array): Promise<Uint8Array> {
    this.#check('transmit');
    let response: Uint8Array;
    try {
      response = this.card.transmit(bytes);
    } catch (e) {
      throw this.#cardFailure(e, 'transmit');
    }
    // The card may have been pulled while it worked (a listener or the card itself removed it).
    this.#checkReader();
    if (!this.#stillInserted()) {
      throw new CardRemovedError(
        `card removed from '${this.readerName}' during the command; its response is lost`,
        this.readerName,
      );
    }
    return response;
  }

  #stillInserted(): boolean {
    const now = this.slot.current();
    return now !== undefined && now.insertion === this.insertion;
  }

  #checkReader(): void {
    const why = this.slot.unplugged;
    if (why !== undefined) {
      throw new ReaderUnavailableError(
        `reader '${this.readerName}' is gone (${why}); its card is unreachable`,
        this.readerName,
      );
    }
  }

  #check(operation: string): void {
    if (this.#closed)
      throw new ChannelClosedError(
        `${operation} on a disconnected channel to '${this.readerName}'`,
        this.readerName,
      );
    this.#checkReader();
    if (!this.#stillInserted()) {
      throw new CardRemovedError(
        `card removed from '${this.readerName}'; connect again after inserting a card`,
        this.readerName,
      );
    }
    if (!this.card.powered) {
      throw new CardRemovedError(
        `card in '${this.readerName}' is not powered (powered down since connect)`,
        this.readerName,
      );
    }
  }

  #cardFailure(e: unknown, operation: string): CardChannelError {
    if (e instanceof CardPowerLostError) {
      return new CardRemovedError(
        `card in '${this.readerName}' lost power during ${operation}; its response is lost`,
        this.readerName,
        { cause: e },
      );
    }
    // CardOs.transmit must not throw; if it does, say so instead of crashing the caller.
    const msg = e instanceof Error ? e.message : String(e);
    return new CardChannelError(
      `card OS in '${this.readerName}' failed during ${operation}: ${msg}`,
      this.readerName,
      { cause: e },
    );
  }
}
