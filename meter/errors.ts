/**
 * Typed errors of the meter core. Argument errors are plain `TypeError`/`RangeError` naming the
 * parameter (STYLE.md rule 1); parsers of outside bytes throw `MalformedDataError` (kind 'rtc',
 * 'tariff', 'log', 'events'); these classes cover the cases a caller wants to tell apart.
 */

export { TariffTableError, type TariffTableErrorCode } from '../protocol/index.js';

/** The real-time clock was asked to go backwards; the meter refuses and records the attempt. */
export class ClockBackwardsError extends Error {
  override readonly name = 'ClockBackwardsError';
  constructor(
    /** RTC seconds since 2000-01-01 00:00:00 now. */
    readonly current: number,
    /** The refused time. */
    readonly requested: number,
  ) {
    super(`clock set backwards refused: ${requested} < ${current} (seconds since 2000-01-01)`);
  }
}

/**
 * The credit register (SVM behind its SAM) refused or failed a token request. Implementations of
 * `CreditRegister` reject with this (or any error) only when nothing was debited.
 */
export class CreditRefusedError extends Error {
  override readonly name = 'CreditRefusedError';
  constructor(
    readonly reason: string,
    /** Status word from the SAM or SVM, when the refusal came from a card. */
    readonly sw?: number,
    options?: { cause?: unknown },
  ) {
    super(`credit register refused: ${reason}`, options);
  }
}

/** An operation needs the meter powered (or unpowered) and it is not. */
export class MeterStateError extends Error {
  override readonly name = 'MeterStateError';
  constructor(
    readonly state: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Why a commissioning or decommissioning card was refused, with the datum the `commissioning-refused`
 * event carries (the same number is the card slot's `card-refused` code, SLOT_REFUSALS).
 */
export const COMMISSIONING_REFUSALS = {
  /** A commissioned meter takes no commissioning payload until it is decommissioned. */
  'already-commissioned': 19,
  /** A decommissioning payload for a meter that is not commissioned. */
  'not-commissioned': 20,
  /** Initial test credit or emergency credit above the documented ceiling (CommissioningData). */
  'credit-above-ceiling': 21,
  /** The meter's SAM did not vouch for the payload (COMMISSION CHECK answered 6300). */
  'payload-not-authentic': 22,
  /** The card's FCI names another utility (purse id) than the meter's. */
  'other-utility': 23,
} as const;
export type CommissioningRefusal = keyof typeof COMMISSIONING_REFUSALS;

/** A commissioning payload refused before it changed anything. */
export class CommissioningError extends Error {
  override readonly name = 'CommissioningError';
  constructor(
    readonly code: CommissioningRefusal,
    message: string,
    /** Status word behind the refusal, when a card or the SAM answered one. */
    readonly sw?: number,
  ) {
    super(message);
  }
}
