import type { Signer } from '../crypto/signature.js';
import { checkBytes, checkInt, checkTime, enc, type Node } from './internal/der.js';
import { SignedStructure, decodeSigned, signFields, type SignatureParts } from './internal/signed.js';
import {
  ID_MAX_LENGTH,
  ID_MIN_LENGTH,
  MAX_COUNTER,
  MAX_VALUE,
  NONCE_MAX_LENGTH,
  PKI_VERSION,
  SUBJECT_KINDS,
  checkId,
  type SubjectKind,
} from './limits.js';
import { equalBytes } from '../util/hex.js';

/** [APPLICATION 2]: the TBS of a signed value. */
export const TAG_TBS_SIGNED_VALUE = 2;

/** Who may sign a value written at issue or recharge. */
export type ValueSignerKind = Extract<SubjectKind, 'centre' | 'dispenser'>;

export interface SignedValueFields {
  readonly centreId: Uint8Array;
  /** 'centre' (signerId = centreId) or 'dispenser' (signerId = IDC, with a dispenser certificate). */
  readonly signerKind: ValueSignerKind;
  readonly signerId: Uint8Array;
  /** IDU of the card the value is for. */
  readonly cardId: Uint8Array;
  /** Remaining value V in minor units, 0..MAX_VALUE. */
  readonly value: number;
  /** Per-card sequence number of issues/recharges: a card accepts only a higher one than it holds. */
  readonly sequence: number;
  /**
   * Binding to the card state the value was computed from (Fig. 7's X, made deterministic):
   * {@link stateReference} of the card as the dispenser read it, optionally followed by the
   * dispenser's Y (0..20 bytes). Empty only for the first value of a card never issued one
   * (Fig. 4C, prepared in advance). 0..32 bytes.
   */
  readonly challenge: Uint8Array;
  /** Term of validity of the value, ms since the epoch (whole second). */
  readonly notAfter: number;
}

/**
 * The centre- (or dispenser-) signed remaining value written at issue and recharge: the seed's
 * SA(V‖IDU) with IDC (Fig. 4C) and SA(Y‖X‖V‖IDU) (Fig. 7).
 *
 * ```asn1
 * SignedValue ::= SEQUENCE { tbs TBSSignedValue, signatureAlgorithm OBJECT IDENTIFIER, signature OCTET STRING }
 * TBSSignedValue ::= [APPLICATION 2] IMPLICIT SEQUENCE {
 *   version Version, centreId Id, signerKind SubjectKind (centre | dispenser), signerId Id, cardId Id,
 *   value Value, sequence Counter, challenge OCTET STRING (SIZE (0..32)), notAfter Time }
 * ```
 */
export class SignedValue extends SignedStructure implements SignedValueFields {
  readonly centreId: Uint8Array;
  readonly signerKind: ValueSignerKind;
  readonly signerId: Uint8Array;
  readonly cardId: Uint8Array;
  readonly value: number;
  readonly sequence: number;
  readonly challenge: Uint8Array;
  readonly notAfter: number;

  /** @throws TypeError/RangeError naming the field. */
  constructor(f: SignedValueFields & SignatureParts) {
    super(f);
    this.centreId = checkId('centreId', f.centreId);
    if (f.signerKind !== 'centre' && f.signerKind !== 'dispenser')
      throw new RangeError(`signerKind must be 'centre' or 'dispenser', got ${String(f.signerKind)}`);
    this.signerKind = f.signerKind;
    this.signerId = checkId('signerId', f.signerId);
    if (this.signerKind === 'centre' && !equalBytes(this.signerId, this.centreId))
      throw new RangeError('signerId of a centre-signed value must equal centreId');
    this.cardId = checkId('cardId', f.cardId);
    this.value = checkInt('value', f.value, 0, MAX_VALUE);
    this.sequence = checkInt('sequence', f.sequence, 0, MAX_COUNTER);
    this.challenge = checkBytes('challenge', f.challenge, 0, NONCE_MAX_LENGTH);
    this.notAfter = checkTime('notAfter', f.notAfter);
  }

  static sign(fields: SignedValueFields, signer: Signer): SignedValue {
    return signFields(fields, signer, (f) => new SignedValue(f));
  }

  /** @throws MalformedDataError (kind 'signed-value') with the offset; never another error. */
  static decode(der: Uint8Array): SignedValue {
    return decodeSigned(der, 'signed-value', TAG_TBS_SIGNED_VALUE, 9, readTbs, (f) => new SignedValue(f));
  }

  protected tbsBlock(): Uint8Array {
    return enc.app(TAG_TBS_SIGNED_VALUE, [
      enc.int(PKI_VERSION),
      enc.octets(this.centreId),
      enc.enumerated(SUBJECT_KINDS.indexOf(this.signerKind)),
      enc.octets(this.signerId),
      enc.octets(this.cardId),
      enc.int(this.value),
      enc.int(this.sequence),
      enc.octets(this.challenge),
      enc.time(this.notAfter),
    ]);
  }
}

function readTbs(n: Node[]): SignedValueFields {
  const [ver, centre, kind, signer, card, value, seq, challenge, na] = n as [
    Node,
    Node,
    Node,
    Node,
    Node,
    Node,
    Node,
    Node,
    Node,
  ];
  ver.integer('version', PKI_VERSION, PKI_VERSION);
  const k = SUBJECT_KINDS[kind.enumerated('signerKind', SUBJECT_KINDS.length - 1)]!;
  if (k !== 'centre' && k !== 'dispenser') kind.fail(`signerKind ${k} may not sign values`);
  return {
    centreId: centre.octets('centreId', ID_MIN_LENGTH, ID_MAX_LENGTH),
    signerKind: k as ValueSignerKind,
    signerId: signer.octets('signerId', ID_MIN_LENGTH, ID_MAX_LENGTH),
    cardId: card.octets('cardId', ID_MIN_LENGTH, ID_MAX_LENGTH),
    value: value.integer('value', 0, MAX_VALUE),
    sequence: seq.integer('sequence', 0, MAX_COUNTER),
    challenge: challenge.octets('challenge', 0, NONCE_MAX_LENGTH),
    notAfter: na.time('notAfter'),
  };
}

/** Length of the card-state reference that opens a recharge value's `challenge`. */
export const STATE_REFERENCE_LENGTH = 12;

/**
 * The card state a recharge value was computed from: the card's count of services done, the
 * sequence of the last SignedValue it took, and its remaining value V. The pair (services,
 * sequence) only rises over a card's life — every service adds one to the first, every recharge
 * raises the second — so a state, once left, never comes back.
 */
export interface CardStateReference {
  readonly services: number;
  readonly sequence: number;
  readonly value: number;
}

/**
 * The reference a recharge value binds (the start of its `challenge`):
 * ```
 *  0 services (4)   4 sequence (4)   8 V (4)        big-endian; then the dispenser's Y (0..20), free
 * ```
 * The card takes a recharge only when the reference is its present state, so a value computed
 * before a service (the minting race) or already taken (the sequence moved) is refused.
 * @throws RangeError naming the field that is not 0..0xFFFFFFFF.
 */
export function stateReference(s: CardStateReference): Uint8Array {
  const out = new Uint8Array(STATE_REFERENCE_LENGTH);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, checkInt('services', s.services, 0, MAX_COUNTER));
  dv.setUint32(4, checkInt('sequence', s.sequence, 0, MAX_COUNTER));
  dv.setUint32(8, checkInt('value', s.value, 0, MAX_VALUE));
  return out;
}

/** The state reference at the start of `challenge`, or undefined when it is shorter than one. */
export function stateReferenceOf(challenge: Uint8Array): CardStateReference | undefined {
  if (challenge.length < STATE_REFERENCE_LENGTH) return undefined;
  const dv = new DataView(challenge.buffer, challenge.byteOffset, STATE_REFERENCE_LENGTH);
  return { services: dv.getUint32(0), sequence: dv.getUint32(4), value: dv.getUint32(8) };
}
