/**
 * What the settlement applet needs of card/pki, in the applet's terms: each check either returns
 * the fields the applet uses or throws `SettlementPkiError` (mapped to a status word by
 * {@link swOfRefusal}) / `MalformedDataError` (6A80). The checks are the seed's: a certificate is
 * the anchor centre's signature over the subject's key and id (SA(nT‖IDT), Fig. 5), of the kind
 * asked for, of the same centre, within its validity; a value is the centre's SA(V‖IDU).
 */
import { SettlementPkiError, type SettlementPkiReason } from '../../pki/errors.js';
import { Certificate } from '../../pki/Certificate.js';
import { SignedValue } from '../../pki/SignedValue.js';
import { UsageInfo } from '../../pki/UsageInfo.js';
import { PasswordSetting } from '../../pki/PasswordSetting.js';
import { ServiceRecord } from '../../pki/ServiceRecord.js';
import { requireSignature } from '../../pki/algorithms.js';
import { SubjectKeyCache } from '../../pki/CentreTrust.js';
import { checkSubjectKey } from '../../pki/keyPolicy.js';
import type { SubjectKind } from '../../pki/limits.js';
import type { SignatureAlgorithm, SignatureProvider, Signer, Verifier } from '../../crypto/signature.js';
import { equalBytes } from '../../util/hex.js';
import {
  SW_SETTLE_BAD_CERTIFICATE,
  SW_SETTLE_BAD_SIGNATURE,
  SW_SETTLE_EXPIRED,
  SW_SETTLE_NOT_THIS_CARD,
  SW_SETTLE_OTHER_CENTRE,
  SW_SETTLE_REPLAY,
  SW_SETTLE_WRONG_KIND,
} from './constants.js';
import { SW_WRONG_DATA } from '../../iso7816/sw.js';

export { SettlementPkiError as PkiRefusal };
export { cardValueInput, terminalValueInput, passwordInput } from '../../pki/signatureInputs.js';

/** The status word of each pki refusal reason. */
export function swOfRefusal(reason: SettlementPkiReason): number {
  switch (reason) {
    case 'bad-signature':
      return SW_SETTLE_BAD_CERTIFICATE;
    case 'expired':
    case 'not-yet-valid':
      return SW_SETTLE_EXPIRED;
    case 'other-centre':
      return SW_SETTLE_OTHER_CENTRE;
    case 'wrong-kind':
      return SW_SETTLE_WRONG_KIND;
    case 'wrong-subject':
      return SW_SETTLE_NOT_THIS_CARD;
    case 'version':
      return SW_SETTLE_REPLAY;
    case 'unsupported-algorithm':
      return SW_SETTLE_BAD_SIGNATURE;
    default:
      return SW_WRONG_DATA;
  }
}

/**
 * The centre as the card knows it: its id, a verifier of its key (the seed's nA), and the subject
 * keys of certificates that verified under it (parsed keys, not verdicts: issue 13).
 */
export interface Anchor {
  readonly centreId: Uint8Array;
  readonly verifier: Verifier;
  readonly provider: SignatureProvider;
  readonly subjects: SubjectKeyCache;
}

function verifierOf(
  provider: SignatureProvider,
  alg: SignatureAlgorithm,
  spki: Uint8Array,
  what: string,
): Verifier {
  try {
    const verifier = provider.verifier(alg, spki);
    checkSubjectKey(alg, spki);
    return verifier;
  } catch (e) {
    if (e instanceof SettlementPkiError) throw new SettlementPkiError(e.reason, `${what}: ${e.message}`);
    throw new SettlementPkiError('malformed', `${what}: key unusable (${(e as Error).message})`);
  }
}

/**
 * The anchor from the centre's self-signed certificate (verified under its own key).
 * @throws MalformedDataError; SettlementPkiError 'wrong-kind' / 'bad-signature' / 'malformed'.
 */
export function anchorOf(der: Uint8Array, provider: SignatureProvider): Anchor {
  const c = Certificate.decode(der);
  if (c.subjectKind !== 'centre')
    throw new SettlementPkiError('wrong-kind', 'the anchor is not a centre certificate');
  const verifier = verifierOf(provider, c.subjectKeyAlgorithm, c.subjectPublicKey, 'anchor');
  requireSignature(verifier, c.signatureAlgorithm, c.tbs(), c.signature, 'anchor');
  const subjects = new SubjectKeyCache((alg, spki) => verifierOf(provider, alg, spki, 'subject'));
  return { centreId: c.centreId, verifier, provider, subjects };
}

/**
 * A certificate of `kind` by the anchor's centre, valid at `now` (undefined: validity not
 * judged, personalisation) → its fields and a verifier of the subject's key.
 * @throws MalformedDataError; SettlementPkiError with the reason of the first failed check.
 */
export function verifyCertificate(
  anchor: Anchor,
  der: Uint8Array,
  kind: SubjectKind,
  now: number | undefined,
): { info: Certificate; verifier: Verifier; verify: (data: Uint8Array, sig: Uint8Array) => boolean } {
  const c = Certificate.decode(der);
  if (!equalBytes(c.centreId, anchor.centreId))
    throw new SettlementPkiError('other-centre', 'certificate of another centre');
  requireSignature(anchor.verifier, c.signatureAlgorithm, c.tbs(), c.signature, 'certificate');
  if (c.subjectKind !== kind)
    throw new SettlementPkiError('wrong-kind', `a ${c.subjectKind} certificate, not a ${kind}'s`);
  if (now !== undefined && now > c.notAfter) throw new SettlementPkiError('expired', 'certificate expired');
  if (now !== undefined && now < c.notBefore)
    throw new SettlementPkiError('not-yet-valid', 'certificate not yet valid');
  // Only after every check of the certificate above: its key looked up (or parsed and kept).
  const verifier = anchor.subjects.verifier(c.subjectKeyAlgorithm, c.subjectPublicKey);
  return { info: c, verifier, verify: (d, s) => verifier.verify(d, s) };
}

/**
 * The centre's SignedValue SA(V‖IDU), not expired at `now`; or a certified dispenser's (Fig. 4C:
 * IDC), when its certificate — kind dispenser, of the anchor's centre, valid at `now`, of the
 * signer named — comes with it.
 * @throws MalformedDataError; SettlementPkiError ('wrong-kind' for a dispenser value without its
 *   certificate, 'wrong-subject' for a certificate of another dispenser).
 */
export function verifySignedValue(
  anchor: Anchor,
  der: Uint8Array,
  now: number,
  dispenser?: Uint8Array,
): SignedValue {
  const v = SignedValue.decode(der);
  if (!equalBytes(v.centreId, anchor.centreId))
    throw new SettlementPkiError('other-centre', 'value of another centre');
  let verifier = anchor.verifier;
  if (v.signerKind === 'dispenser') {
    if (!dispenser)
      throw new SettlementPkiError('wrong-kind', 'a dispenser value needs the dispenser certificate');
    // Judged at `now` like every other certificate, also on a card that has seen no signed time
    // (issue 13: skipping it let an expired or not-yet-valid dispenser load a new card).
    const d = verifyCertificate(anchor, dispenser, 'dispenser', now);
    if (!equalBytes(d.info.subjectId, v.signerId))
      throw new SettlementPkiError('wrong-subject', 'the certificate is of another dispenser');
    verifier = d.verifier;
  }
  requireSignature(verifier, v.signatureAlgorithm, v.tbs(), v.signature, 'signed value');
  if (now > v.notAfter) throw new SettlementPkiError('expired', 'value past its term');
  return v;
}

/** @throws MalformedDataError. */
export function decodeUsageInfo(der: Uint8Array): UsageInfo {
  return UsageInfo.decode(der);
}

/**
 * The centre's PasswordSetting SA(Ns‖IDU) (Fig. 13), for `now`.
 * @throws MalformedDataError; SettlementPkiError.
 */
export function verifyPasswordSetting(anchor: Anchor, der: Uint8Array, now: number): PasswordSetting {
  const p = PasswordSetting.decode(der);
  if (!equalBytes(p.centreId, anchor.centreId))
    throw new SettlementPkiError('other-centre', 'setting of another centre');
  requireSignature(anchor.verifier, p.signatureAlgorithm, p.tbs(), p.signature, 'password setting');
  if (now > p.notAfter) throw new SettlementPkiError('expired', 'setting past its term');
  return p;
}

/** The card's service record SU(M‖IDU) (Fig. 17) of the session (R, X) that left it with V', DER. */
export function signServiceRecord(
  f: {
    cardId: Uint8Array;
    terminalId: Uint8Array;
    cardSequence: number;
    terminalNonce: Uint8Array;
    cardNonce: Uint8Array;
    charge: number;
    valueAfter: number;
    dateTime: number;
  },
  signer: Signer,
): Uint8Array {
  return ServiceRecord.sign({ ...f, service: '' }, signer).encode();
}
