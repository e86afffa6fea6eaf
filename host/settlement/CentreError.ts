/**
 * The management centre's refusals (seed 004, EP0856821). Every refusal carries one specific
 * `reason` from {@link CENTRE_ERROR_REASONS} and is recorded as an event row before it is thrown,
 * so a refused upload, certificate or refund leaves a trace even though nothing else was written.
 */
export const CENTRE_ERROR_REASONS = [
  /** A certificate whose centre signature does not verify (a forged SA(nU‖IDU) / SA(nT‖IDT)). */
  'forged-certificate',
  /** A certificate, list or signed value outside its term of validity. */
  'expired',
  /** A certificate not yet valid at the time it was used. */
  'not-yet-valid',
  /** A certificate issued by another management centre. */
  'other-centre',
  /** A certificate of the wrong kind (a card certificate used as a terminal's, …). */
  'wrong-kind',
  /** A certificate or structure about another subject than the one at hand. */
  'wrong-subject',
  /** A signature algorithm that differs from the signer key's, or that the provider cannot do. */
  'unsupported-algorithm',
  /** A certificate this centre never issued (well signed, but not in its register). */
  'unknown-certificate',
  /** A signature (upload, record, service record) over different data or by another key. */
  'bad-signature',
  /** Bytes that do not decode as the expected structure. */
  'malformed',
  /** An upload whose record count does not match what the terminal signed, or cut short. */
  'truncated-upload',
  /** The same upload (same terminal, same sequence, same bytes) presented again. */
  'duplicate-upload',
  /**
   * Another upload under a sequence number already used by this terminal; or a record giving a
   * second outcome (V', date) of a service session (IDU, IDT, R, X) already cleared.
   */
  'upload-conflict',
  /** A terminal's upload sequence skipped numbers (noted, not refused: they may still come). */
  'upload-gap',
  /** The same card state used twice (a cloned card at two terminals, or a replayed record). */
  'clone',
  /** A card's remaining value rose without a recharge. */
  'value-rise',
  /** A card's value chain has a hole (a record is missing). */
  'value-gap',
  /** A card declared destroyed that is still being served (found in a later record). */
  'used-after-destroyed',
  /** A terminal the centre never certified. */
  'unknown-terminal',
  /** A card the centre never certified. */
  'unknown-card',
  /** A terminal reported stolen, for anything it signed after its report. */
  'stolen-terminal',
  /** A card on the invalid-card list. */
  'invalid-card',
  /** A value above the configured maximum. */
  'amount-too-large',
  /** An identifier already certified (card, terminal or dispenser). */
  'already-registered',
  /** A destroyed card's refund asked for a second time. */
  'already-refunded',
  /** A refund asked for a card that was not declared destroyed. */
  'not-destroyed',
  /** The setting-number space of a card is exhausted. */
  'exhausted',
  /** An update counter t that went backwards or past the bound. */
  'bad-counter',
  /**
   * A usage record uploaded without the card-signed service record of the same session (IDU,
   * IDT, R, X) with the same charge, V' and date: the card never confirmed it took the update
   * (a terminal that stopped after SIGN VALUE and billed the card on its own word).
   */
  'unconfirmed-by-card',
  /** A usage record dated more than the centre's tolerance ahead of its clock (the terminal is named). */
  'future-dated',
] as const;

export type CentreErrorReason = (typeof CENTRE_ERROR_REASONS)[number];

/** A refusal by the {@link ManagementCentre}; `reason` says which check failed. */
export class CentreError extends Error {
  override readonly name = 'CentreError';
  constructor(
    readonly reason: CentreErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${reason}: ${message}`, options);
  }
}
