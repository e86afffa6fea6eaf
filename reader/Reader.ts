import type { CardChannel, Protocol } from './CardChannel.js';
import type { TransportOptions } from './ApduTransport.js';

/** Options of `Reader.connect()`. */
export interface ConnectOptions extends TransportOptions {
  /** Protocol to ask for; default: what the card offers (T=1 preferred when both). */
  protocol?: Protocol | 'any';
  /** Time limit of the connection and of every later exchange on the channel, in ms. */
  timeoutMs?: number;
}

/** What a reader reports to its listeners. */
export type ReaderEvent =
  | { type: 'inserted'; readerName: string; atr: Uint8Array }
  | { type: 'removed'; readerName: string }
  /** The reader itself went away (unplugged, service stopped); no further events follow. */
  | { type: 'unavailable'; readerName: string; reason: string };

export type ReaderListener = (event: ReaderEvent) => void;

/**
 * A card reader slot (PC/SC's "reader"): it may hold a card, connects to it, and tells when a
 * card comes or goes. Implemented by `VirtualReader` (in-process) and `PcscReader` (PC/SC).
 */
export interface Reader {
  readonly name: string;
  /** True while a card sits in the slot (as last reported). */
  readonly cardPresent: boolean;
  /**
   * Powers the card and opens a channel to it.
   * @throws NoCardError when the slot is empty, ReaderUnavailableError when the reader is gone,
   * CardTimeoutError when the card does not answer in time.
   */
  connect(options?: ConnectOptions): Promise<CardChannel>;
  /**
   * Resolves with the ATR once a card is present (at once if one already is).
   * @throws CardTimeoutError after `timeoutMs`; ReaderUnavailableError if the reader goes away.
   */
  waitForCard(timeoutMs: number): Promise<Uint8Array>;
  /**
   * Resolves once the slot is empty (at once if it already is).
   * @throws CardTimeoutError after `timeoutMs`; ReaderUnavailableError if the reader goes away.
   */
  waitForRemoval(timeoutMs: number): Promise<void>;
  /** Subscribes to insertion/removal events; returns the unsubscribe function. */
  onEvent(listener: ReaderListener): () => void;
}

/** Default time limit of reader operations when the caller gives none. */
export const DEFAULT_TIMEOUT_MS = 10_000;
