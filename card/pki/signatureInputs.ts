/**
 * The exact bytes the card and the terminal sign during a service, so card, terminal and centre
 * sign and verify the same bytes. Each input is the DER of its own [APPLICATION n] SEQUENCE: the
 * tag is the domain-separation label, so a signature made for one purpose never verifies as
 * another (a card's SU(R‖X‖V) is not a terminal's ST(R‖X‖V'‖IDU) even over equal numbers, and
 * neither is any signed structure, whose TBS tags are 1..8). Every input starts with the version.
 *
 * Beyond the seed, each input also names the card and the terminal, so a signature obtained in a
 * session with one terminal cannot be presented in a session with another.
 *
 * ```asn1
 * CardValueInput ::= [APPLICATION 20] IMPLICIT SEQUENCE {      -- SU(R‖X‖V), Figs. 6, 9, 12
 *   version Version, cardId Id, terminalId Id, terminalNonce Nonce, cardNonce Nonce, value Value }
 * TerminalValueInput ::= [APPLICATION 21] IMPLICIT SEQUENCE {  -- S = ST(R‖X‖V'‖IDU), Figs. 6, 9, 12
 *   version Version, cardId Id, terminalId Id, terminalNonce Nonce, cardNonce Nonce, value Value,
 *   dateTime Time }
 * TimeStampInput ::= [APPLICATION 22] IMPLICIT SEQUENCE {      -- ST(TS_t‖S), Figs. 10, 12
 *   version Version, terminalId Id, updateCounter UpdateCounter, timeStamp OCTET STRING (SIZE (16)),
 *   valueSignature OCTET STRING (SIZE (1..512)) }
 * CardAuthInput ::= [APPLICATION 23] IMPLICIT SEQUENCE {       -- SU(R‖X), Figs. 15, 16
 *   version Version, cardId Id, terminalId Id, terminalNonce Nonce, cardNonce Nonce }
 * PasswordInput ::= [APPLICATION 24 (terminal, Fig. 15 ST(R‖X‖Nc)) | 25 (card, Fig. 17 SU(R‖X‖Nc))]
 *   IMPLICIT SEQUENCE { version Version, cardId Id, terminalId Id, terminalNonce Nonce, cardNonce Nonce,
 *   password OCTET STRING (SIZE (4..16)) }
 * ```
 *
 * Caution on PasswordInput: a signature over a low-entropy password lets anyone who sees the
 * signature and its input test password guesses offline. Send it only over the encrypted card
 * channel (seed Fig. 8), never store it outside the card.
 */
import { checkBytes, checkInt, checkTime, enc } from './internal/der.js';
import {
  MAX_SIGNATURE_LENGTH,
  MAX_VALUE,
  PKI_VERSION,
  SETTING_NUMBER_MAX_LENGTH,
  SETTING_NUMBER_MIN_LENGTH,
  checkId,
  checkNonce,
} from './limits.js';
import { TIME_STAMP_LENGTH, TS_MAX_UPDATES } from './timeStamp.js';

export const TAG_CARD_VALUE_INPUT = 20;
export const TAG_TERMINAL_VALUE_INPUT = 21;
export const TAG_TIME_STAMP_INPUT = 22;
export const TAG_CARD_AUTH_INPUT = 23;
export const TAG_TERMINAL_PASSWORD_INPUT = 24;
export const TAG_CARD_PASSWORD_INPUT = 25;

/** The parties and the two random numbers of one session (Fig. 6: R from the terminal, X from the card). */
export interface SessionBinding {
  /** IDU */
  readonly cardId: Uint8Array;
  /** IDT */
  readonly terminalId: Uint8Array;
  /** R, 8..32 bytes */
  readonly terminalNonce: Uint8Array;
  /** X, 8..32 bytes */
  readonly cardNonce: Uint8Array;
}

function session(s: SessionBinding) {
  if (s === null || typeof s !== 'object') throw new TypeError('input must be an object');
  return [
    enc.int(PKI_VERSION),
    enc.octets(checkId('cardId', s.cardId)),
    enc.octets(checkId('terminalId', s.terminalId)),
    enc.octets(checkNonce('terminalNonce', s.terminalNonce)),
    enc.octets(checkNonce('cardNonce', s.cardNonce)),
  ];
}

/**
 * Input of the card's signature SU(R‖X‖V) over its current remaining value `value` (V).
 * @throws TypeError/RangeError naming the field.
 */
export function cardValueInput(s: SessionBinding & { readonly value: number }): Uint8Array {
  return enc.toDer(
    enc.app(TAG_CARD_VALUE_INPUT, [...session(s), enc.int(checkInt('value', s.value, 0, MAX_VALUE))]),
  );
}

/**
 * Input of the terminal's signature S = ST(R‖X‖V'‖IDU) over the new remaining value `value` (V'),
 * with the date-time of the service.
 * @throws TypeError/RangeError naming the field.
 */
export function terminalValueInput(
  s: SessionBinding & { readonly value: number; readonly dateTime: number },
): Uint8Array {
  return enc.toDer(
    enc.app(TAG_TERMINAL_VALUE_INPUT, [
      ...session(s),
      enc.int(checkInt('value', s.value, 0, MAX_VALUE)),
      enc.time(checkTime('dateTime', s.dateTime)),
    ]),
  );
}

/**
 * Input of the terminal's second signature ST(TS_t‖S): the time stamp TS_t after `updateCounter` (t)
 * updates, and the terminal's value signature S.
 * @throws TypeError/RangeError naming the field.
 */
export function timeStampInput(f: {
  readonly terminalId: Uint8Array;
  readonly updateCounter: number;
  readonly timeStamp: Uint8Array;
  readonly valueSignature: Uint8Array;
}): Uint8Array {
  if (f === null || typeof f !== 'object') throw new TypeError('input must be an object');
  return enc.toDer(
    enc.app(TAG_TIME_STAMP_INPUT, [
      enc.int(PKI_VERSION),
      enc.octets(checkId('terminalId', f.terminalId)),
      enc.int(checkInt('updateCounter', f.updateCounter, 0, TS_MAX_UPDATES)),
      enc.octets(checkBytes('timeStamp', f.timeStamp, TIME_STAMP_LENGTH, TIME_STAMP_LENGTH)),
      enc.octets(checkBytes('valueSignature', f.valueSignature, 1, MAX_SIGNATURE_LENGTH)),
    ]),
  );
}

/** Input of the card's authentication signature SU(R‖X) (Figs. 15, 16). */
export function cardAuthInput(s: SessionBinding): Uint8Array {
  return enc.toDer(enc.app(TAG_CARD_AUTH_INPUT, session(s)));
}

/**
 * Input of a password signature: by the terminal at registration, ST(R‖X‖Nc) (Fig. 15), or by the
 * card at service, SU(R‖X‖Nc) (Fig. 17). See the caution in the file comment.
 * @throws TypeError/RangeError naming the field; RangeError naming `signer`.
 */
export function passwordInput(
  signer: 'terminal' | 'card',
  s: SessionBinding & { readonly password: Uint8Array },
): Uint8Array {
  if (signer !== 'terminal' && signer !== 'card')
    throw new RangeError(`signer must be 'terminal' or 'card', got ${String(signer)}`);
  return enc.toDer(
    enc.app(signer === 'terminal' ? TAG_TERMINAL_PASSWORD_INPUT : TAG_CARD_PASSWORD_INPUT, [
      ...session(s),
      enc.octets(checkBytes('password', s.password, SETTING_NUMBER_MIN_LENGTH, SETTING_NUMBER_MAX_LENGTH)),
    ]),
  );
}
