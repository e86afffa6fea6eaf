import { CardChannelError } from './CardChannel.js';

/**
 * The card left the reader (or lost power) before or during an exchange. The response of the
 * command in flight, if any, is lost; a new `connect()` is needed once a card is back.
 */
export class CardRemovedError extends CardChannelError {
  override readonly name: string = 'CardRemovedError';
}

/** The reader slot is empty: there is no card to connect to. */
export class NoCardError extends CardChannelError {
  override readonly name: string = 'NoCardError';
}

/**
 * The reader itself is gone or cannot be reached: unplugged, pcscd stopped, the vpcd peer
 * disappeared, or the PC/SC service is not running.
 */
export class ReaderUnavailableError extends CardChannelError {
  override readonly name: string = 'ReaderUnavailableError';
}

/** No reader of that name exists; `available` lists the names that do. */
export class UnknownReaderError extends CardChannelError {
  override readonly name: string = 'UnknownReaderError';
  constructor(
    readerName: string,
    readonly available: readonly string[],
  ) {
    super(
      `no reader named '${readerName}'; available: ${
        available.length ? available.map((n) => `'${n}'`).join(', ') : '(none)'
      }`,
      readerName,
    );
  }
}

/** An operation with the card or reader did not finish within its time limit. */
export class CardTimeoutError extends CardChannelError {
  override readonly name: string = 'CardTimeoutError';
  constructor(
    readonly operation: string,
    readonly timeoutMs: number,
    readerName?: string,
  ) {
    super(
      `${operation} timed out${Number.isFinite(timeoutMs) ? ` after ${timeoutMs} ms` : ''}${readerName ? ` on '${readerName}'` : ''}`,
      readerName,
    );
  }
}

/**
 * The exchange broke the transport rules: an extended APDU to a card that does not announce
 * extended length support, a response longer than the transport can carry, a card that keeps
 * answering 61xx/6Cxx forever, or a malformed response (fewer than two bytes).
 */
export class TransportError extends CardChannelError {
  override readonly name: string = 'TransportError';
}

/** The channel was used after `disconnect()`. */
export class ChannelClosedError extends CardChannelError {
  override readonly name: string = 'ChannelClosedError';
}

/** The optional `pcsclite` addon (or the PC/SC library under it) is not installed. */
export class PcscNotInstalledError extends CardChannelError {
  override readonly name: string = 'PcscNotInstalledError';
}
