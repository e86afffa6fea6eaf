/**
 * Verification of the settlement structures against a management centre (the seed's master public
 * key nA). Every check throws {@link SettlementPkiError} with one reason (see errors.ts); checks run
 * in this order, so the reason of a structure failing several is predictable:
 *
 * 1. the trust anchor's own validity at `now` ('expired' / 'not-yet-valid');
 * 2. the centre named in the structure ('other-centre');
 * 3. the signature algorithm OID against the signer's key ('unsupported-algorithm');
 * 4. the signature over `tbs()` ('bad-signature');
 * 5. the kind and the subject ('wrong-kind', 'wrong-subject');
 * 6. the time window of the structure at `now` ('not-yet-valid', 'expired');
 * 7. for lists, the version against the one held ('version').
 *
 * Verifiers this module makes use the provider's defaults — for ECDSA the raw r‖s form that
 * every signature of the profile has (algorithms.ts).
 */
import { KeyFormatError, UnsupportedAlgorithmError } from '../crypto/errors.js';
import type { SignatureAlgorithm, SignatureProvider, Verifier } from '../crypto/signature.js';
import type { BlockCipherProvider } from '../crypto/types.js';
import { equalBytes, toHex } from '../util/hex.js';
import { checkSubjectKey } from './keyPolicy.js';
import { requireSignature } from './algorithms.js';
import { Certificate } from './Certificate.js';
import { SettlementPkiError } from './errors.js';
import type { InvalidCardList, TroubledTerminalEntry, TroubledTerminalList } from './lists.js';
import type { PasswordSetting, PasswordTicket } from './PasswordSetting.js';
import type { ServiceRecord } from './ServiceRecord.js';
import { terminalValueInput, timeStampInput } from './signatureInputs.js';
import type { SignedValue } from './SignedValue.js';
import { timeStampAt } from './timeStamp.js';
import type { UsageInfo } from './UsageInfo.js';
import type { UsageUpload } from './UsageUpload.js';
import type { SubjectKind } from './limits.js';

function checkNow(now: unknown): number {
  if (typeof now !== 'number' || !Number.isFinite(now))
    throw new TypeError('now must be a finite number of milliseconds');
  return now;
}

function window(what: string, now: number, notBefore: number | undefined, notAfter: number): void {
  if (notBefore !== undefined && now < notBefore)
    throw new SettlementPkiError(
      'not-yet-valid',
      `${what} is valid from ${new Date(notBefore).toISOString()}`,
    );
  if (now > notAfter)
    throw new SettlementPkiError('expired', `${what} expired at ${new Date(notAfter).toISOString()}`);
}

/**
 * A verifier for a subject key given as SPKI DER.
 * @throws SettlementPkiError 'malformed' (unreadable key, or not a key of `alg`), 'unsupported-algorithm' (provider cannot do `alg`).
 */
export function subjectVerifier(
  provider: SignatureProvider,
  alg: SignatureAlgorithm,
  spki: Uint8Array,
): Verifier {
  try {
    const verifier = provider.verifier(alg, spki);
    checkSubjectKey(alg, spki);
    return verifier;
  } catch (e) {
    if (e instanceof UnsupportedAlgorithmError)
      throw new SettlementPkiError('unsupported-algorithm', e.message);
    if (e instanceof KeyFormatError) throw new SettlementPkiError('malformed', `subject key: ${e.message}`);
    throw e;
  }
}

/** Entries a {@link SubjectKeyCache} holds by default (issue 13: terminals and cards seen in a row). */
export const SUBJECT_KEY_CACHE_SIZE = 64;

/**
 * Parsed subject keys (verifiers) by exact SPKI bytes AND algorithm, least recently used first
 * out when full. It caches the imported key, never a verdict: a caller asks it only after the
 * certificate carrying the key verified, and checks every certificate in full each time. A miss
 * builds the verifier with `build` (the provider's import and the key policy); a failure is not
 * cached, so a refused key is refused again. Issue 13: importing keys was about 56 % of an
 * offline settlement.
 */
export class SubjectKeyCache {
  readonly #build: (alg: SignatureAlgorithm, spki: Uint8Array) => Verifier;
  readonly #entries = new Map<string, Verifier>();
  /** Most entries held (1..4096). */
  readonly capacity: number;

  /** @throws RangeError naming `capacity` when it is not an integer 1..4096. */
  constructor(
    build: (alg: SignatureAlgorithm, spki: Uint8Array) => Verifier,
    capacity: number = SUBJECT_KEY_CACHE_SIZE,
  ) {
    if (typeof build !== 'function') throw new TypeError('build must be a function');
    if (!Number.isSafeInteger(capacity) || capacity < 1 || capacity > 4096)
      throw new RangeError(`capacity must be an integer 1..4096, got ${String(capacity)}`);
    this.#build = build;
    this.capacity = capacity;
  }

  /** Entries held now. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The verifier of `spki` under `alg`, from the cache or built (then kept).
   * @throws whatever `build` throws (nothing is kept then).
   */
  verifier(alg: SignatureAlgorithm, spki: Uint8Array): Verifier {
    if (!(spki instanceof Uint8Array)) throw new TypeError('spki must be a Uint8Array');
    // The key is a copy of the bytes as they are now (hex), so a later change to `spki` cannot
    // make an entry answer for other bytes; the algorithm is part of it.
    const key = `${alg}:${toHex(spki)}`;
    const hit = this.#entries.get(key);
    if (hit !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit;
    }
    const built = this.#build(alg, spki);
    if (built.algorithm !== alg) throw new Error(`build gave a ${built.algorithm} verifier for ${alg}`);
    if (this.#entries.size >= this.capacity) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(key, built);
    return built;
  }

  /** Forgets every entry. */
  clear(): void {
    this.#entries.clear();
  }
}

/** The trust anchor: a centre's self-signed certificate, its key, and a signature provider. */
export class CentreTrust {
  /** The centre's key (nA) as a verifier (built once per trust). */
  readonly verifier: Verifier;
  /** Subject keys of certificates that verified under this trust (see {@link SubjectKeyCache}). */
  readonly #subjects: SubjectKeyCache;

  private constructor(
    readonly anchor: Certificate,
    readonly provider: SignatureProvider,
  ) {
    this.verifier = subjectVerifier(provider, anchor.subjectKeyAlgorithm, anchor.subjectPublicKey);
    this.#subjects = new SubjectKeyCache((alg, spki) => subjectVerifier(provider, alg, spki));
  }

  /** The centre id (the anchor's subjectId = centreId). */
  get centreId(): Uint8Array {
    return this.anchor.centreId;
  }

  /**
   * Checks the anchor — kind 'centre', self-signed, valid at `now` — and returns the trust.
   * @throws SettlementPkiError ('wrong-kind', 'unsupported-algorithm', 'bad-signature', 'malformed', 'expired', 'not-yet-valid').
   */
  static fromAnchor(anchor: Certificate, provider: SignatureProvider, now: number): CentreTrust {
    if (!(anchor instanceof Certificate)) throw new TypeError('anchor must be a Certificate');
    checkNow(now);
    if (anchor.subjectKind !== 'centre')
      throw new SettlementPkiError('wrong-kind', `anchor is a ${anchor.subjectKind} certificate`);
    const trust = new CentreTrust(anchor, provider);
    requireSignature(
      trust.verifier,
      anchor.signatureAlgorithm,
      anchor.tbs(),
      anchor.signature,
      'centre certificate',
    );
    window('centre certificate', now, anchor.notBefore, anchor.notAfter);
    return trust;
  }

  #prelude(what: string, centreId: Uint8Array, now: number): void {
    checkNow(now);
    window('centre certificate', now, this.anchor.notBefore, this.anchor.notAfter);
    if (!equalBytes(centreId, this.anchor.centreId))
      throw new SettlementPkiError(
        'other-centre',
        `${what} is of centre ${toHex(centreId)}, not ${toHex(this.anchor.centreId)}`,
      );
  }

  /**
   * Verifies a certificate issued by this centre for a subject of `kind`, valid at `now`, and
   * returns a verifier for the subject's key (nU, nT, or the dispenser's key).
   * @throws SettlementPkiError (see the file comment for the order of checks).
   */
  verifyCertificate(cert: Certificate, kind: SubjectKind, now: number): Verifier {
    if (!(cert instanceof Certificate)) throw new TypeError('cert must be a Certificate');
    this.#prelude('certificate', cert.centreId, now);
    requireSignature(this.verifier, cert.signatureAlgorithm, cert.tbs(), cert.signature, 'certificate');
    if (cert.subjectKind !== kind)
      throw new SettlementPkiError(
        'wrong-kind',
        `certificate is of a ${cert.subjectKind}, expected a ${kind}`,
      );
    window('certificate', now, cert.notBefore, cert.notAfter);
    // Only now, with the certificate verified in full, is its key looked up or parsed.
    return this.#subjects.verifier(cert.subjectKeyAlgorithm, cert.subjectPublicKey);
  }

  /**
   * Verifies a signed value (SA(V‖IDU)): signed by the centre, or by a dispenser whose certificate
   * is given; for `cardId` when given; within its term at `now`.
   * @throws SettlementPkiError; 'wrong-kind' for a dispenser-signed value without a dispenser certificate.
   */
  verifySignedValue(
    sv: SignedValue,
    now: number,
    opts: { cardId?: Uint8Array; dispenserCertificate?: Certificate } = {},
  ): void {
    this.#prelude('signed value', sv.centreId, now);
    let verifier = this.verifier;
    if (sv.signerKind === 'dispenser') {
      const cert = opts.dispenserCertificate;
      if (cert === undefined)
        throw new SettlementPkiError(
          'wrong-kind',
          'a dispenser-signed value needs the dispenser certificate',
        );
      verifier = this.verifyCertificate(cert, 'dispenser', now);
      if (!equalBytes(cert.subjectId, sv.signerId))
        throw new SettlementPkiError('wrong-subject', 'the dispenser certificate is not of the value signer');
    }
    requireSignature(verifier, sv.signatureAlgorithm, sv.tbs(), sv.signature, 'signed value');
    if (opts.cardId !== undefined && !equalBytes(opts.cardId, sv.cardId))
      throw new SettlementPkiError('wrong-subject', 'the signed value is for another card');
    window('signed value', now, undefined, sv.notAfter);
  }

  /**
   * Verifies a blacklist; `heldVersion` is the version the caller holds (the new one must be above).
   * @throws SettlementPkiError ('version' last).
   */
  verifyInvalidCardList(list: InvalidCardList, now: number, heldVersion?: number): void {
    this.#verifyList('invalid-card list', list, now, heldVersion);
  }

  /** As {@link verifyInvalidCardList}, for the troubled-terminal list. */
  verifyTroubledTerminalList(list: TroubledTerminalList, now: number, heldVersion?: number): void {
    this.#verifyList('troubled-terminal list', list, now, heldVersion);
  }

  #verifyList(
    what: string,
    list: InvalidCardList | TroubledTerminalList,
    now: number,
    heldVersion?: number,
  ): void {
    this.#prelude(what, list.centreId, now);
    requireSignature(this.verifier, list.signatureAlgorithm, list.tbs(), list.signature, what);
    window(what, now, list.issued, list.notAfter);
    if (heldVersion !== undefined && list.listVersion <= heldVersion)
      throw new SettlementPkiError(
        'version',
        `${what} version ${list.listVersion} is not above the held ${heldVersion}`,
      );
  }

  /** Verifies SA(Ns‖IDU) (inside the card, at issue). @throws SettlementPkiError. */
  verifyPasswordSetting(ps: PasswordSetting, now: number, cardId?: Uint8Array): void {
    this.#prelude('password setting', ps.centreId, now);
    requireSignature(this.verifier, ps.signatureAlgorithm, ps.tbs(), ps.signature, 'password setting');
    if (cardId !== undefined && !equalBytes(cardId, ps.cardId))
      throw new SettlementPkiError('wrong-subject', 'the password setting is for another card');
    window('password setting', now, undefined, ps.notAfter);
  }

  /**
   * Verifies SA(IDU‖SA(Ns)) as a terminal does; with `setting` (the card does, at issue) also that
   * the ticket is the one of that setting.
   * @throws SettlementPkiError.
   */
  verifyPasswordTicket(
    ticket: PasswordTicket,
    now: number,
    opts: { cardId?: Uint8Array; setting?: PasswordSetting } = {},
  ): void {
    this.#prelude('password ticket', ticket.centreId, now);
    requireSignature(
      this.verifier,
      ticket.signatureAlgorithm,
      ticket.tbs(),
      ticket.signature,
      'password ticket',
    );
    if (opts.cardId !== undefined && !equalBytes(opts.cardId, ticket.cardId))
      throw new SettlementPkiError('wrong-subject', 'the password ticket is for another card');
    if (opts.setting !== undefined && !equalBytes(opts.setting.digest(), ticket.settingDigest))
      throw new SettlementPkiError('wrong-subject', 'the password ticket is not of this setting');
    window('password ticket', now, undefined, ticket.notAfter);
  }

  /**
   * Verifies a card's previous usage information as the next terminal does (Figs. 9, 12): the
   * last terminal's certificate (kind 'terminal', valid at the usage's date-time), that it is the
   * terminal named, that the usage is this card's, and S = ST(R‖X‖V‖IDU). Returns the last
   * terminal's verifier, for {@link checkTimeStamp}.
   * @throws SettlementPkiError.
   */
  verifyUsageInfo(info: UsageInfo, now: number, cardId: Uint8Array): Verifier {
    checkNow(now);
    const cert = info.terminalCertificate;
    const verifier = this.verifyCertificate(cert, 'terminal', info.dateTime);
    window('centre certificate', now, this.anchor.notBefore, this.anchor.notAfter);
    if (!equalBytes(cert.subjectId, info.terminalId))
      throw new SettlementPkiError('wrong-subject', 'the terminal certificate is not of the terminal named');
    if (!equalBytes(info.cardId, cardId))
      throw new SettlementPkiError('wrong-subject', 'the usage information is of another card');
    const input = terminalValueInput({
      cardId: info.cardId,
      terminalId: info.terminalId,
      terminalNonce: info.terminalNonce,
      cardNonce: info.cardNonce,
      value: info.value,
      dateTime: info.dateTime,
    });
    if (!verifier.verify(input, info.valueSignature))
      throw new SettlementPkiError('bad-signature', 'S = ST(R||X||V||IDU) does not verify');
    return verifier;
  }
}

/**
 * Fig. 10 steps (1)–(6) for a card whose last terminal is on the troubled-terminal list: recompute
 * TS_t from the entry's TS0 and the card's t, verify ST(TS_t‖S) with the last terminal's verifier,
 * and accept only t ≤ the t at report.
 * @throws SettlementPkiError 'wrong-subject' (entry of another terminal), 'bad-signature', 'troubled-terminal'.
 */
export function checkTimeStamp(
  info: UsageInfo,
  entry: TroubledTerminalEntry,
  lastTerminal: Verifier,
  cipher: BlockCipherProvider,
): void {
  if (!equalBytes(entry.terminalId, info.terminalId))
    throw new SettlementPkiError('wrong-subject', 'the list entry is of another terminal');
  const ts = timeStampAt(cipher, entry.chainKey, entry.timeStampOrigin, info.updateCounter);
  const input = timeStampInput({
    terminalId: info.terminalId,
    updateCounter: info.updateCounter,
    timeStamp: ts,
    valueSignature: info.valueSignature,
  });
  if (!lastTerminal.verify(input, info.timeStampSignature))
    throw new SettlementPkiError('bad-signature', 'ST(TS_t||S) does not verify for the claimed t');
  if (info.updateCounter > entry.updateCounterAtReport)
    throw new SettlementPkiError(
      'troubled-terminal',
      `served at t=${info.updateCounter}, after the report at t=${entry.updateCounterAtReport}`,
    );
}

/**
 * Verifies a card-signed service record with the card's verifier (from {@link CentreTrust.verifyCertificate}).
 * @throws SettlementPkiError 'unsupported-algorithm', 'bad-signature', 'wrong-subject'.
 */
export function verifyServiceRecord(
  rec: ServiceRecord,
  cardVerifier: Verifier,
  expect: { cardId?: Uint8Array; terminalId?: Uint8Array } = {},
): void {
  requireSignature(cardVerifier, rec.signatureAlgorithm, rec.tbs(), rec.signature, 'service record');
  if (expect.cardId !== undefined && !equalBytes(expect.cardId, rec.cardId))
    throw new SettlementPkiError('wrong-subject', 'the service record is of another card');
  if (expect.terminalId !== undefined && !equalBytes(expect.terminalId, rec.terminalId))
    throw new SettlementPkiError('wrong-subject', 'the service record is of another terminal');
}

/**
 * Verifies a terminal-signed upload with the terminal's verifier (from {@link CentreTrust.verifyCertificate});
 * `expect.terminalId` should be the certificate's subjectId, `expect.centreId` the centre's id.
 * Individual records' signatures are the centre's next step (cardValueInput / terminalValueInput).
 * @throws SettlementPkiError 'unsupported-algorithm', 'bad-signature', 'wrong-subject', 'other-centre'.
 */
export function verifyUsageUpload(
  upload: UsageUpload,
  terminalVerifier: Verifier,
  expect: { terminalId?: Uint8Array; centreId?: Uint8Array } = {},
): void {
  if (expect.centreId !== undefined && !equalBytes(expect.centreId, upload.centreId))
    throw new SettlementPkiError('other-centre', 'the upload is addressed to another centre');
  requireSignature(
    terminalVerifier,
    upload.signatureAlgorithm,
    upload.tbs(),
    upload.signature,
    'usage upload',
  );
  if (expect.terminalId !== undefined && !equalBytes(expect.terminalId, upload.terminalId))
    throw new SettlementPkiError('wrong-subject', 'the upload is of another terminal');
}
