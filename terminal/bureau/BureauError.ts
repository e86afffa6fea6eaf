/**
 * The one error of the bureau's flows (terminal/bureau): what went wrong as a stable `code` a
 * script or the batch runner can branch on, the step (the command in plain words) and the status
 * word the card answered, when it answered one.
 */
import { describeAppletSw } from '../../card/index.js';

export type BureauErrorCode =
  /** No master-key card answers (SELECT 6A82, an empty reader, a card that is not an MKC). */
  | 'mkc-missing'
  /** VERIFY 63Cx with x > 0: `triesLeft` says how many. */
  | 'mkc-pin-wrong'
  /** VERIFY 6983 (or 63C0): the MKC's PIN is blocked. */
  | 'mkc-blocked'
  /** The MKC is still at LCS 03: custodians have not sealed it, it personalises nothing. */
  | 'mkc-not-sealed'
  /** The MKC is sealed already: no more components, no second SEAL. */
  | 'mkc-sealed'
  /** The MKC refused a command (wrong component KCV, a SEAL it does not accept, a session refused). */
  | 'mkc-refused'
  /**
   * PERSO OPEN 6A89: the MKC issued this card serial (or a higher one) already — to another chip.
   * Serials only grow; a resumed personalisation of the same chip is allowed. Allocate a new one.
   */
  | 'serial-issued'
  /** No chip in the reader, or the chip went away during the session. */
  | 'chip-missing'
  /** The chip is not blank (LCS 05, 04 or 0C) and was asked to be personalised. */
  | 'chip-not-blank'
  /** The chip was made for another kind than the order's. */
  | 'chip-wrong-kind'
  /** The chip refused a command of the session. */
  | 'chip-refused'
  /** The order itself is wrong (a field of the wrong length, a key the MKC does not hold). */
  | 'bad-order';

export class BureauError extends Error {
  override readonly name = 'BureauError';
  readonly code: BureauErrorCode;
  /** The step that failed, e.g. 'PUT KEY 11' or 'MKC VERIFY'. */
  readonly step: string;
  /** The status word the card answered, when it answered. */
  readonly sw: number | undefined;
  /** VERIFY of the MKC: tries left after this one. */
  readonly triesLeft: number | undefined;

  constructor(
    code: BureauErrorCode,
    step: string,
    detail?: string,
    options: { sw?: number; triesLeft?: number; cause?: unknown } = {},
  ) {
    const sw = options.sw;
    const why = detail ?? (sw !== undefined ? describeAppletSw(sw) : code);
    super(
      `${step}: ${why}${detail !== undefined && sw !== undefined ? ` (${describeAppletSw(sw)})` : ''}`,
      options.cause !== undefined ? { cause: options.cause } : undefined,
    );
    this.code = code;
    this.step = step;
    this.sw = sw;
    this.triesLeft = options.triesLeft;
  }
}
