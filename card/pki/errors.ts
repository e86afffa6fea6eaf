/**
 * Why a verification of a settlement structure failed (seed 004). Each check of the `verify*`
 * functions and of {@link CentreTrust} has exactly one reason:
 *
 * - `malformed`: a field decodes but cannot be used (a subject key that is not a valid SPKI for
 *   its algorithm, a signature of impossible length for the algorithm).
 * - `bad-signature`: the signature does not verify over `tbs()` (forged, or altered after signing).
 * - `expired`: `now` is after notAfter (of the structure, the certificate or the trust anchor).
 * - `not-yet-valid`: `now` is before notBefore / issued.
 * - `other-centre`: the structure names another management centre than the trust anchor's.
 * - `wrong-kind`: a certificate of another subject kind than asked for (a card certificate shown
 *   as a terminal's), or a signed value signed by someone who may not sign values.
 * - `wrong-subject`: the structure is about another card/terminal than the one at hand (a signed
 *   value of card A presented by card B; a certificate whose subject is not the signer named).
 * - `unsupported-algorithm`: the signature algorithm OID is unknown, differs from the signer's
 *   key algorithm, or the provider cannot do it (node-forge and ECDSA).
 * - `version`: a list whose version is not strictly above the version already held (a replayed,
 *   older blacklist).
 * - `troubled-terminal`: the card was last served by a terminal on the troubled-terminal list
 *   after its report (update counter t above the t at report; seed Fig. 10 step (6)).
 */
export type SettlementPkiReason =
  | 'malformed'
  | 'bad-signature'
  | 'expired'
  | 'not-yet-valid'
  | 'other-centre'
  | 'wrong-kind'
  | 'wrong-subject'
  | 'unsupported-algorithm'
  | 'version'
  | 'troubled-terminal';

/** A settlement structure decoded but failed verification; `reason` says which check. */
export class SettlementPkiError extends Error {
  override readonly name = 'SettlementPkiError';
  constructor(
    readonly reason: SettlementPkiReason,
    detail: string,
  ) {
    super(`${reason}: ${detail}`);
  }
}
