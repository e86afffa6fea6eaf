import type { Signer } from '../crypto/signature.js';
import { checkInt, checkTime, checkUtf8, enc, type Node } from './internal/der.js';
import { SignedStructure, decodeSigned, signFields, type SignatureParts } from './internal/signed.js';
import {
  ID_MAX_LENGTH,
  ID_MIN_LENGTH,
  MAX_COUNTER,
  MAX_SERVICE_TEXT,
  MAX_VALUE,
  NONCE_MAX_LENGTH,
  NONCE_MIN_LENGTH,
  PKI_VERSION,
  checkId,
  checkNonce,
} from './limits.js';

/** [APPLICATION 3]: the TBS of a service record. */
export const TAG_TBS_SERVICE_RECORD = 3;

export interface ServiceRecordFields {
  /** IDU of the card that signs. */
  readonly cardId: Uint8Array;
  /** IDT of the terminal that served. */
  readonly terminalId: Uint8Array;
  /** The card's own counter of service records: the centre stores (cardId, cardSequence) once. */
  readonly cardSequence: number;
  /** R, the terminal's random number of the session. */
  readonly terminalNonce: Uint8Array;
  /**
   * X, the card's random number of the session: with R, names exactly the one session whose
   * update the card took (the centre clears a usage record only with the card's record of it).
   */
  readonly cardNonce: Uint8Array;
  /** Service details (what was served), UTF-8, at most 256 bytes. */
  readonly service: string;
  /** Charge V of the seed's M, minor units. */
  readonly charge: number;
  /** V', the remaining value the card took in that session (valueAfter + charge = V). */
  readonly valueAfter: number;
  /** Date of use D, whole second. */
  readonly dateTime: number;
}

/**
 * The card-signed service record SU(M‖IDU), M = (V‖D‖IDT) (Figs. 15–17): kept by the terminal,
 * uploaded, and stored by the centre as evidence and for post-paid billing.
 *
 * ```asn1
 * ServiceRecord ::= SEQUENCE { tbs TBSServiceRecord, signatureAlgorithm OBJECT IDENTIFIER, signature OCTET STRING }
 * TBSServiceRecord ::= [APPLICATION 3] IMPLICIT SEQUENCE {
 *   version Version, cardId Id, terminalId Id, cardSequence Counter, terminalNonce Nonce,
 *   cardNonce Nonce, service UTF8String (SIZE (0..256)), charge Value, valueAfter Value,
 *   dateTime Time }
 * ```
 *
 * The card signs it only in the same commit in which it takes the update (UPDATE VALUE), so it is
 * the card's own word that the session (IDU, IDT, R, X) left it with V': the centre accepts a
 * terminal's usage record only together with it (a terminal that stopped after SIGN VALUE holds
 * the card's SU(R‖X‖V) but no service record, and cannot bill the card).
 *
 * ```asn1
 * ```
 */
export class ServiceRecord extends SignedStructure implements ServiceRecordFields {
  readonly cardId: Uint8Array;
  readonly terminalId: Uint8Array;
  readonly cardSequence: number;
  readonly terminalNonce: Uint8Array;
  readonly cardNonce: Uint8Array;
  readonly service: string;
  readonly charge: number;
  readonly valueAfter: number;
  readonly dateTime: number;

  /** @throws TypeError/RangeError naming the field. */
  constructor(f: ServiceRecordFields & SignatureParts) {
    super(f);
    this.cardId = checkId('cardId', f.cardId);
    this.terminalId = checkId('terminalId', f.terminalId);
    this.cardSequence = checkInt('cardSequence', f.cardSequence, 0, MAX_COUNTER);
    this.terminalNonce = checkNonce('terminalNonce', f.terminalNonce);
    this.cardNonce = checkNonce('cardNonce', f.cardNonce);
    this.service = checkUtf8('service', f.service, MAX_SERVICE_TEXT);
    this.charge = checkInt('charge', f.charge, 0, MAX_VALUE);
    this.valueAfter = checkInt('valueAfter', f.valueAfter, 0, MAX_VALUE);
    if (this.charge + this.valueAfter > MAX_VALUE)
      throw new RangeError(`charge + valueAfter must be at most ${MAX_VALUE} (it is V)`);
    this.dateTime = checkTime('dateTime', f.dateTime);
  }

  /** Signed by the card's key (SU). */
  static sign(fields: ServiceRecordFields, signer: Signer): ServiceRecord {
    return signFields(fields, signer, (f) => new ServiceRecord(f));
  }

  /** @throws MalformedDataError (kind 'service-record') with the offset; never another error. */
  static decode(der: Uint8Array): ServiceRecord {
    return decodeSigned(
      der,
      'service-record',
      TAG_TBS_SERVICE_RECORD,
      10,
      readTbs,
      (f) => new ServiceRecord(f),
    );
  }

  protected tbsBlock(): Uint8Array {
    return enc.app(TAG_TBS_SERVICE_RECORD, [
      enc.int(PKI_VERSION),
      enc.octets(this.cardId),
      enc.octets(this.terminalId),
      enc.int(this.cardSequence),
      enc.octets(this.terminalNonce),
      enc.octets(this.cardNonce),
      enc.utf8(this.service),
      enc.int(this.charge),
      enc.int(this.valueAfter),
      enc.time(this.dateTime),
    ]);
  }
}

function readTbs(n: Node[]): ServiceRecordFields {
  const [ver, card, term, seq, r, x, svc, charge, after, dt] = n as [
    Node,
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
  return {
    cardId: card.octets('cardId', ID_MIN_LENGTH, ID_MAX_LENGTH),
    terminalId: term.octets('terminalId', ID_MIN_LENGTH, ID_MAX_LENGTH),
    cardSequence: seq.integer('cardSequence', 0, MAX_COUNTER),
    terminalNonce: r.octets('terminalNonce', NONCE_MIN_LENGTH, NONCE_MAX_LENGTH),
    cardNonce: x.octets('cardNonce', NONCE_MIN_LENGTH, NONCE_MAX_LENGTH),
    service: svc.utf8('service', MAX_SERVICE_TEXT),
    charge: charge.integer('charge', 0, MAX_VALUE),
    valueAfter: after.integer('valueAfter', 0, MAX_VALUE),
    dateTime: dt.time('dateTime'),
  };
}
