/**
 * Why a settlement terminal refused a card, a list or a step of seed 004's service flow. One
 * reason per check, so a test (and an operator) can tell a forged certificate from an expired
 * one, a blacklisted card from one last served by a stolen terminal.
 *
 * | reason                 | check                                                                        |
 * |------------------------|------------------------------------------------------------------------------|
 * | forged-certificate     | the card's (or a usage's terminal) certificate is not signed by the centre   |
 * | expired                | certificate, signed value or list outside its term at the terminal's clock   |
 * | other-centre           | a certificate or list of another management centre                          |
 * | wrong-kind             | e.g. a terminal certificate presented as a card's                            |
 * | wrong-subject          | the card's FCI, certificate, usage info or signed value name different IDUs  |
 * | malformed              | the card answered bytes that do not decode                                   |
 * | card-disabled          | the card disabled itself after an abnormality (FCI flag, Fig. 5)             |
 * | blacklisted            | the card's IDU is on the invalid-card list (Fig. 9)                          |
 * | bad-usage-signature    | previous usage S = ST(R‖X‖V‖IDU) does not verify (Fig. 9)                   |
 * | bad-time-stamp         | ST(TS‖S) does not verify at the recomputed TS (Fig. 12 step 3)               |
 * | stolen-terminal        | last served by a troubled terminal after its report, t^a > t^j (step 6)      |
 * | bad-card-signature     | SU(R‖X‖V) does not verify under the certified card key (Fig. 6)              |
 * | value-unproven         | V is not the value of the card's latest record (C2 flag 02: the signed value |
 * |                        | after a recharge, else the last usage's V'), or that record is missing       |
 * | no-value               | the card was never issued a value                                            |
 * | insufficient-value     | charge > V                                                                   |
 * | password-required      | the card has a password and none was given                                   |
 * | wrong-password         | VERIFY answered 63Cx                                                         |
 * | password-blocked       | VERIFY answered 6983                                                         |
 * | bad-service-record     | the card's SU(M‖IDU) does not verify or does not match the service           |
 * | card-refused           | the card answered a status word other than 9000 (see `sw`)                   |
 * | list-version           | an invalid-card / troubled-terminal list not newer than the one held         |
 * | bad-list               | a list whose centre signature does not verify                                |
 */
export type SettlementRefusal =
  | 'forged-certificate'
  | 'expired'
  | 'other-centre'
  | 'wrong-kind'
  | 'wrong-subject'
  | 'malformed'
  | 'card-disabled'
  | 'blacklisted'
  | 'bad-usage-signature'
  | 'bad-time-stamp'
  | 'stolen-terminal'
  | 'bad-card-signature'
  | 'value-unproven'
  | 'no-value'
  | 'insufficient-value'
  | 'password-required'
  | 'wrong-password'
  | 'password-blocked'
  | 'bad-service-record'
  | 'card-refused'
  | 'list-version'
  | 'bad-list';

export class SettlementError extends Error {
  override readonly name = 'SettlementError';
  constructor(
    readonly reason: SettlementRefusal,
    detail: string,
    /** The card's status word when the card refused. */
    readonly sw?: number,
  ) {
    super(
      `${reason}: ${detail}${sw !== undefined ? ` (SW ${sw.toString(16).toUpperCase().padStart(4, '0')})` : ''}`,
    );
  }
}
