/**
 * Typed failures of the seed-000 host protocol. Parsing errors of outside bytes are
 * `MalformedDataError` (kind 'host-protocol'); everything that is well-formed but wrong is a
 * `ProtocolError` with a code.
 */
export type ProtocolErrorCode =
  | 'terminal-auth-failed' // S1t != S1h (Fig. 1 STEP 14 "authentication failed")
  | 'host-auth-failed' // S2h != S2t, seen at the terminal
  | 'id-mismatch' // ID' != ID after decrypting M (STEP 16)
  | 'refused' // the terminal answered a refusal message
  | 'unexpected-message' // a well-formed message of the wrong kind
  | 'tx-mismatch' // the value-store answer names another transaction
  | 'bad-answer'; // M decrypted but its content is not what the command asked for

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
    /** Refusal reason byte when code is 'refused'. */
    readonly reason?: number,
  ) {
    super(`${code}: ${message}`);
  }
}

/** What is wrong with a tariff table. */
export type TariffTableErrorCode =
  | 'unit-charge'
  | 'steps'
  | 'step-percent'
  | 'weekend-days'
  | 'holiday'
  | 'seasons'
  | 'season-months'
  | 'season-gap'
  | 'season-overlap'
  | 'intervals'
  | 'interval-bounds'
  | 'interval-step'
  | 'gap'
  | 'overlap';

/**
 * A tariff table broke a rule: every month must belong to exactly one season, and every minute
 * of every day type of every season to exactly one interval. Carries the precise place.
 */
export class TariffTableError extends Error {
  override readonly name = 'TariffTableError';
  constructor(
    readonly code: TariffTableErrorCode,
    message: string,
    /** Where: season index, day type, minute of day (0…1440) or month (1…12), when they apply. */
    readonly where: {
      season?: number;
      dayType?: 'weekday' | 'weekend' | 'holiday';
      minute?: number;
      month?: number;
      index?: number;
    } = {},
  ) {
    super(message);
  }
}
