import type { CommandApdu } from '../card/index.js';
import type { ResponseApdu } from '../card/index.js';
import { toHex } from '../card/index.js';
import type { CardChannel, Protocol } from './CardChannel.js';
import type { Reader } from './Reader.js';
import { ApduTransport, type TransportOptions } from './ApduTransport.js';
import { CardRemovedError, ChannelClosedError, ReaderUnavailableError } from './errors.js';
import { pcscError, type AddonReader } from './internal/pcscAddon.js';
import { withTimeout } from './internal/timeout.js';

/**
 * Receive buffer of every SCardTransmit: the longest response APDU (Ne = 65536 data bytes plus
 * SW1 SW2), so that long and extended responses never fail with SCARD_E_INSUFFICIENT_BUFFER.
 * pcsc-lite accepts up to MAX_BUFFER_SIZE_EXTENDED (65548).
 */
export const PCSC_RECEIVE_BUFFER = 65538;

/**
 * What a PcscChannel needs of the PcscReader that made it (PcscReader implements it; declared here
 * so that the two files do not import each other).
 */
export interface PcscChannelOwner extends Reader {
  /** Ends the addon's connection with a disposition (ignored for a channel that no longer owns it). */
  release(disposition: 'leave' | 'reset' | 'unpower', timeoutMs: number, owner?: object): Promise<void>;
  /** The channel `owner` now owns the addon's connection (after a reconnect). */
  adopt(owner: object): void;
  /** @throws ReaderUnavailableError when the reader is gone. */
  checkAvailable(): void;
}

/**
 * A channel to a card in a PC/SC reader. The only place where `Buffer` appears: bytes go to the
 * addon as a Buffer and come back as a fresh Uint8Array.
 */
export class PcscChannel implements CardChannel {
  readonly readerName: string;
  #atr: Uint8Array;
  #closed = false;
  #lost: CardRemovedError | ReaderUnavailableError | undefined;
  readonly #transport: ApduTransport;
  readonly #protocolCode: number;
  readonly #offRemoved: () => void;

  /** @internal Made by PcscReader.connect. */
  constructor(
    private readonly reader: PcscChannelOwner,
    private readonly addon: AddonReader,
    readonly protocol: Protocol,
    atr: Uint8Array,
    private readonly options: TransportOptions & { disposition?: 'leave' | 'reset' | 'unpower' },
    readonly timeoutMs: number,
  ) {
    this.readerName = reader.name;
    this.#atr = atr.slice();
    this.#transport = new ApduTransport(protocol, atr, reader.name, options);
    this.#protocolCode = protocol === 'T=0' ? addon.SCARD_PROTOCOL_T0 : addon.SCARD_PROTOCOL_T1;
    // Once the card leaves, this channel is dead even if a new card arrives in the same slot.
    this.#offRemoved = reader.onEvent((e) => {
      if (e.type === 'removed') {
        this.#lost ??= new CardRemovedError(
          `card removed from PC/SC reader '${this.readerName}'; connect again after inserting a card`,
          this.readerName,
        );
      } else if (e.type === 'unavailable') {
        // The reader going away says more than the card removal it implies.
        this.#lost = new ReaderUnavailableError(
          `PC/SC reader '${this.readerName}' went away: ${e.reason}`,
          this.readerName,
        );
      }
    });
  }

  /** True until the channel is disconnected or its card or reader is gone. */
  get open(): boolean {
    return !this.#closed && this.#lost === undefined;
  }

  get atr(): Uint8Array {
    return this.#atr.slice();
  }

  /**
   * Sends one command under the transport rules (see `ApduTransport`).
   * @throws CardRemovedError, ReaderUnavailableError, CardTimeoutError, TransportError,
   * ChannelClosedError.
   */
  transmit(command: CommandApdu): Promise<ResponseApdu> {
    return this.#transport.transmit(command, (bytes) => this.#raw(bytes));
  }

  async #raw(bytes: Uint8Array): Promise<Uint8Array> {
    this.#check('transmit');
    const response = await withTimeout(
      new Promise<Buffer>((resolve, reject) =>
        this.addon.transmit(Buffer.from(bytes), PCSC_RECEIVE_BUFFER, this.#protocolCode, (err, data) =>
          err ? reject(pcscError(err, 'transmit', this.readerName)) : resolve(data),
        ),
      ),
      this.timeoutMs,
      'transmit',
      this.readerName,
    );
    if (response.length === 0) {
      // vpcd (and some drivers) report success with nothing when the card vanished mid-command.
      throw new CardRemovedError(
        `card in '${this.readerName}' gave no answer to ${toHex(bytes.subarray(0, 16))}${bytes.length > 16 ? '…' : ''}: removed, or its process died, mid-exchange`,
        this.readerName,
      );
    }
    return new Uint8Array(response);
  }

  /**
   * Warm reset: SCardDisconnect with SCARD_RESET_CARD and a new SCardConnect (the addon has no
   * SCardReconnect). Resolves to the ATR pcscd reports.
   */
  async reset(): Promise<Uint8Array> {
    this.#check('reset');
    try {
      await this.reader.release('reset', this.timeoutMs, this);
      const fresh = await this.reader.connect({
        ...this.options,
        protocol: this.protocol,
        timeoutMs: this.timeoutMs,
      });
      this.#atr = fresh.atr;
      // The fresh channel only served to reconnect the addon; this one stays the user's handle.
      (fresh as PcscChannel).#offRemoved();
      this.reader.adopt(this);
    } catch (e) {
      throw pcscError(e, 'reset', this.readerName);
    }
    return this.atr;
  }

  async disconnect(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#offRemoved();
    if (this.#lost) {
      await this.reader.release('leave', this.timeoutMs, this).catch(() => undefined);
      return;
    }
    await this.reader
      .release(this.options.disposition ?? 'unpower', this.timeoutMs, this)
      .catch(() => undefined);
  }

  #check(operation: string): void {
    if (this.#closed)
      throw new ChannelClosedError(
        `${operation} on a disconnected channel to '${this.readerName}'`,
        this.readerName,
      );
    if (this.#lost) throw this.#lost;
    this.reader.checkAvailable();
  }
}
