import type { CommandApdu } from '../card/index.js';
import type { ResponseApdu } from '../card/index.js';

/** The transmission protocol in use with a card (ISO/IEC 7816-3). */
export type Protocol = 'T=0' | 'T=1';

/**
 * The one door to every card (DESIGN.md): virtual readers, PC/SC readers, recorders and replays
 * all implement it, so any of them can stand in for another (STYLE.md rule 6).
 */
export interface CardChannel {
  /** Name of the reader the card sits in (for traces and error messages). */
  readonly readerName: string;
  /** The ATR the card gave at connection or at the last reset. */
  readonly atr: Uint8Array;
  readonly protocol: Protocol;
  /**
   * Sends one command APDU and returns the response, after the transport rules of the channel
   * (61xx GET RESPONSE and 6Cxx re-send, when enabled).
   * @throws CardChannelError (or a subclass) when the card or reader is gone or times out.
   */
  transmit(command: CommandApdu): Promise<ResponseApdu>;
  /** Warm reset; resolves to the new ATR. */
  reset(): Promise<Uint8Array>;
  /** Ends the session with the card; further calls throw. */
  disconnect(): Promise<void>;
}

/** Base class of every error a channel throws: reader gone, card removed, timeout, protocol. */
export class CardChannelError extends Error {
  override readonly name: string = 'CardChannelError';
  constructor(
    message: string,
    readonly readerName?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
