import type { StatusWord } from './sw.js';

/**
 * The only error a parser of outside bytes (APDU, ATR, TLV, trace, hex) throws.
 * Carries the offset where parsing failed, the reason, and the raw input.
 */
export class MalformedDataError extends Error {
  override readonly name = 'MalformedDataError';
  constructor(
    readonly reason: string,
    readonly offset: number,
    readonly raw?: Uint8Array,
    /** What was being parsed: 'apdu', 'atr', 'tlv', 'hex', 'trace', ... */
    readonly kind: string = 'data',
  ) {
    super(`malformed ${kind} at offset ${offset}: ${reason}`);
  }
}

/**
 * Thrown by applets and the card OS to answer with a status word (STYLE.md rule 4).
 * Only `CardOs.transmit` catches it and turns it into SW1-SW2.
 */
export class SwError extends Error {
  override readonly name = 'SwError';
  constructor(
    readonly sw: StatusWord,
    detail?: string,
  ) {
    super(`SW ${sw.toString(16).toUpperCase().padStart(4, '0')}${detail ? `: ${detail}` : ''}`);
  }
}
