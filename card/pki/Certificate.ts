import { checkSignatureAlgorithm, type SignatureAlgorithm, type Signer } from '../crypto/signature.js';
import { algorithmOfOid, oidOfAlgorithm } from './algorithms.js';
import { checkBytes, checkInt, checkTime, enc, type Node } from './internal/der.js';
import { SignedStructure, decodeSigned, signFields, type SignatureParts } from './internal/signed.js';
import {
  ID_MAX_LENGTH,
  ID_MIN_LENGTH,
  MAX_COUNTER,
  MAX_SPKI_LENGTH,
  PKI_VERSION,
  SUBJECT_KINDS,
  checkId,
  checkKind,
  type SubjectKind,
} from './limits.js';
import { equalBytes } from '../util/hex.js';
import { MalformedDataError } from '../iso7816/errors.js';

/** [APPLICATION 1]: the TBS of a certificate. */
export const TAG_TBS_CERTIFICATE = 1;

export interface CertificateFields {
  /** Id of the issuing management centre. */
  readonly centreId: Uint8Array;
  /** Serial number, unique per centre. */
  readonly serial: number;
  readonly subjectKind: SubjectKind;
  /** IDU (card), IDT (terminal), IDC (dispenser), or the centre's own id. */
  readonly subjectId: Uint8Array;
  /** The subject's public key: SubjectPublicKeyInfo DER (RFC 5280 §4.1.2.7). */
  readonly subjectPublicKey: Uint8Array;
  /** The algorithm the subject signs with. */
  readonly subjectKeyAlgorithm: SignatureAlgorithm;
  /** Validity, ms since the epoch, whole seconds, notBefore ≤ notAfter. */
  readonly notBefore: number;
  readonly notAfter: number;
}

/**
 * The management centre's certificate of a subject's key — the seed's SA(nU‖IDU) (card, Fig. 4B),
 * SA(nT‖IDT) (terminal, Fig. 4A) and SA(IDC) (dispenser, Fig. 17 end); a self-signed
 * `subjectKind: 'centre'` certificate is the trust anchor (the seed's nA).
 *
 * ```asn1
 * Certificate ::= SEQUENCE { tbs TBSCertificate, signatureAlgorithm OBJECT IDENTIFIER, signature OCTET STRING }
 * TBSCertificate ::= [APPLICATION 1] IMPLICIT SEQUENCE {
 *   version Version, centreId Id, serial Counter, subjectKind SubjectKind, subjectId Id,
 *   subjectPublicKey OCTET STRING (CONTAINING SubjectPublicKeyInfo), subjectKeyAlgorithm OBJECT IDENTIFIER,
 *   notBefore Time, notAfter Time }
 * ```
 */
export class Certificate extends SignedStructure implements CertificateFields {
  readonly centreId: Uint8Array;
  readonly serial: number;
  readonly subjectKind: SubjectKind;
  readonly subjectId: Uint8Array;
  readonly subjectPublicKey: Uint8Array;
  readonly subjectKeyAlgorithm: SignatureAlgorithm;
  readonly notBefore: number;
  readonly notAfter: number;

  /** @throws TypeError/RangeError naming the field. */
  constructor(f: CertificateFields & SignatureParts) {
    super(f);
    this.centreId = checkId('centreId', f.centreId);
    this.serial = checkInt('serial', f.serial, 0, MAX_COUNTER);
    this.subjectKind = checkKind('subjectKind', f.subjectKind);
    this.subjectId = checkId('subjectId', f.subjectId);
    this.subjectPublicKey = checkBytes('subjectPublicKey', f.subjectPublicKey, 1, MAX_SPKI_LENGTH);
    checkSignatureAlgorithm(f.subjectKeyAlgorithm);
    this.subjectKeyAlgorithm = f.subjectKeyAlgorithm;
    this.notBefore = checkTime('notBefore', f.notBefore);
    this.notAfter = checkTime('notAfter', f.notAfter);
    if (this.notAfter < this.notBefore) throw new RangeError('notAfter must not be before notBefore');
    if (this.subjectKind === 'centre' && !equalBytes(this.subjectId, this.centreId))
      throw new RangeError('subjectId of a centre certificate must equal centreId');
  }

  /** Signs `fields` with the issuing centre's key (or, for the anchor, the centre's own key). */
  static sign(fields: CertificateFields, signer: Signer): Certificate {
    return signFields(fields, signer, (f) => new Certificate(f));
  }

  /** @throws MalformedDataError (kind 'certificate') with the offset; never another error. */
  static decode(der: Uint8Array): Certificate {
    return decodeSigned(der, 'certificate', TAG_TBS_CERTIFICATE, 9, readTbs, (f) => new Certificate(f));
  }

  /** Reads a certificate from an already-decoded element (one nested in another structure). */
  static fromNode(n: Node): Certificate {
    try {
      return Certificate.decode(n.der());
    } catch (e) {
      if (e instanceof MalformedDataError)
        throw new MalformedDataError(e.reason, n.offset + e.offset, n.raw, n.kind);
      throw e;
    }
  }

  protected tbsBlock(): Uint8Array {
    return enc.app(TAG_TBS_CERTIFICATE, [
      enc.int(PKI_VERSION),
      enc.octets(this.centreId),
      enc.int(this.serial),
      enc.enumerated(SUBJECT_KINDS.indexOf(this.subjectKind)),
      enc.octets(this.subjectId),
      enc.octets(this.subjectPublicKey),
      enc.oid(oidOfAlgorithm(this.subjectKeyAlgorithm)),
      enc.time(this.notBefore),
      enc.time(this.notAfter),
    ]);
  }
}

function readTbs(n: Node[]): CertificateFields {
  const [ver, centre, serial, kind, subject, spki, keyAlg, nb, na] = n as [
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
  const oid = keyAlg.oid('subjectKeyAlgorithm');
  const subjectKeyAlgorithm =
    algorithmOfOid(oid) ?? keyAlg.fail(`subjectKeyAlgorithm ${oid} is not a profile algorithm`);
  return {
    centreId: centre.octets('centreId', ID_MIN_LENGTH, ID_MAX_LENGTH),
    serial: serial.integer('serial', 0, MAX_COUNTER),
    subjectKind: SUBJECT_KINDS[kind.enumerated('subjectKind', SUBJECT_KINDS.length - 1)]!,
    subjectId: subject.octets('subjectId', ID_MIN_LENGTH, ID_MAX_LENGTH),
    subjectPublicKey: spki.octets('subjectPublicKey', 1, MAX_SPKI_LENGTH),
    subjectKeyAlgorithm,
    notBefore: nb.time('notBefore'),
    notAfter: na.time('notAfter'),
  };
}
