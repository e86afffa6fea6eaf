import { Certificate } from './Certificate.js';
import { checkBytes, checkInt, checkTime, enc, type Node } from './internal/der.js';
import { construct, decodePlain } from './internal/signed.js';
import {
  ID_MAX_LENGTH,
  ID_MIN_LENGTH,
  MAX_SIGNATURE_LENGTH,
  MAX_VALUE,
  NONCE_MAX_LENGTH,
  NONCE_MIN_LENGTH,
  PKI_VERSION,
  checkId,
  checkNonce,
} from './limits.js';
import { TS_MAX_UPDATES } from './timeStamp.js';

export interface UsageInfoFields {
  /** IDU of the card holding this record. */
  readonly cardId: Uint8Array;
  /** IDT of the terminal that last served the card. */
  readonly terminalId: Uint8Array;
  /** That terminal's certificate, SA(nT‖IDT), carrying nT. */
  readonly terminalCertificate: Certificate;
  /** That terminal's time-stamp update counter t at the service. */
  readonly updateCounter: number;
  /** R (the terminal's random number). */
  readonly terminalNonce: Uint8Array;
  /** X (the card's random number). */
  readonly cardNonce: Uint8Array;
  /** V, the remaining value the terminal wrote. */
  readonly value: number;
  /** S = ST(R‖X‖V‖IDU) over {@link terminalValueInput}. */
  readonly valueSignature: Uint8Array;
  /** ST(TS_t‖S) over {@link timeStampInput}. */
  readonly timeStampSignature: Uint8Array;
  /** Date-time of the service (the terminal's clock), whole second. */
  readonly dateTime: number;
}

/**
 * The card's "previous usage information" (Figs. 9–12, area 6M2): what the last terminal wrote,
 * shown to the next terminal, which checks S, the terminal certificate, and — if the last terminal
 * is on the troubled-terminal list — ST(TS_t‖S) and t. Not signed as a whole: each part carries its
 * own signature.
 *
 * ```asn1
 * UsageInfo ::= SEQUENCE {
 *   version Version, cardId Id, terminalId Id, terminalCertificate Certificate,
 *   updateCounter UpdateCounter, terminalNonce Nonce, cardNonce Nonce, value Value,
 *   valueSignature OCTET STRING (SIZE (1..512)), timeStampSignature OCTET STRING (SIZE (1..512)),
 *   dateTime Time }
 * ```
 */
export class UsageInfo implements UsageInfoFields {
  readonly cardId: Uint8Array;
  readonly terminalId: Uint8Array;
  readonly terminalCertificate: Certificate;
  readonly updateCounter: number;
  readonly terminalNonce: Uint8Array;
  readonly cardNonce: Uint8Array;
  readonly value: number;
  readonly valueSignature: Uint8Array;
  readonly timeStampSignature: Uint8Array;
  readonly dateTime: number;

  /** @throws TypeError/RangeError naming the field. */
  constructor(f: UsageInfoFields) {
    if (f === null || typeof f !== 'object') throw new TypeError('fields must be an object');
    this.cardId = checkId('cardId', f.cardId);
    this.terminalId = checkId('terminalId', f.terminalId);
    if (!(f.terminalCertificate instanceof Certificate))
      throw new TypeError('terminalCertificate must be a Certificate');
    this.terminalCertificate = f.terminalCertificate;
    this.updateCounter = checkInt('updateCounter', f.updateCounter, 0, TS_MAX_UPDATES);
    this.terminalNonce = checkNonce('terminalNonce', f.terminalNonce);
    this.cardNonce = checkNonce('cardNonce', f.cardNonce);
    this.value = checkInt('value', f.value, 0, MAX_VALUE);
    this.valueSignature = checkBytes('valueSignature', f.valueSignature, 1, MAX_SIGNATURE_LENGTH);
    this.timeStampSignature = checkBytes('timeStampSignature', f.timeStampSignature, 1, MAX_SIGNATURE_LENGTH);
    this.dateTime = checkTime('dateTime', f.dateTime);
  }

  /** @throws MalformedDataError (kind 'usage-info') with the offset; never another error. */
  static decode(der: Uint8Array): UsageInfo {
    return decodePlain(der, 'usage-info', 11, (n, root) => {
      const [ver, card, term, cert, t, r, x, v, s, sts, dt] = n as [
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
        Node,
      ];
      ver.integer('version', PKI_VERSION, PKI_VERSION);
      const fields: UsageInfoFields = {
        cardId: card.octets('cardId', ID_MIN_LENGTH, ID_MAX_LENGTH),
        terminalId: term.octets('terminalId', ID_MIN_LENGTH, ID_MAX_LENGTH),
        terminalCertificate: Certificate.fromNode(cert),
        updateCounter: t.integer('updateCounter', 0, TS_MAX_UPDATES),
        terminalNonce: r.octets('terminalNonce', NONCE_MIN_LENGTH, NONCE_MAX_LENGTH),
        cardNonce: x.octets('cardNonce', NONCE_MIN_LENGTH, NONCE_MAX_LENGTH),
        value: v.integer('value', 0, MAX_VALUE),
        valueSignature: s.octets('valueSignature', 1, MAX_SIGNATURE_LENGTH),
        timeStampSignature: sts.octets('timeStampSignature', 1, MAX_SIGNATURE_LENGTH),
        dateTime: dt.time('dateTime'),
      };
      return construct(root, () => new UsageInfo(fields));
    });
  }

  encode(): Uint8Array {
    return enc.toDer(
      enc.seq([
        enc.int(PKI_VERSION),
        enc.octets(this.cardId),
        enc.octets(this.terminalId),
        enc.raw(this.terminalCertificate.encode()),
        enc.int(this.updateCounter),
        enc.octets(this.terminalNonce),
        enc.octets(this.cardNonce),
        enc.int(this.value),
        enc.octets(this.valueSignature),
        enc.octets(this.timeStampSignature),
        enc.time(this.dateTime),
      ]),
    );
  }
}
