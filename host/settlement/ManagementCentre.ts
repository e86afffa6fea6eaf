/**
 * The management centre of seed 004 (EP0856821, Figs. 1–2, 4, 7–17): it certifies card, terminal
 * and dispenser keys, signs remaining values at issue and recharge, clears the terminals' daily
 * usage uploads, detects cloned cards, keeps the invalid-card and troubled-terminal lists, the
 * remaining-value database for destroyed cards, password setting numbers and signed service
 * records for post-paid billing.
 *
 * The rules it keeps, stated first (the code below keeps them in this order):
 *
 * 1. **Verify before storing.** An upload is decoded and every signature in it — the terminal's
 *    over the upload, and in each record the card's SU(R‖X‖V) and the terminal's
 *    ST(R‖X‖V'‖IDU) — is checked against certificates this centre issued, before anything is
 *    written. One bad signature refuses the whole upload (the terminal vouched for it).
 * 2. **One upload, one transaction, one durable commit.** A refused upload writes nothing but
 *    its event row; an accepted one is stored whole.
 * 3. **Exactly once.** An upload is keyed by (IDT, upload sequence) and the SHA-256 of its signed
 *    content (tbs, so a second valid signature over it is the same upload): the same content
 *    again is refused as 'duplicate-upload' and changes nothing; other content under a used
 *    sequence is an 'upload-conflict'. A service record likewise is keyed by its tbs. A record is keyed by the SHA-256 of its
 *    TerminalValueInput (IDU, IDT, R, X, V', date-time: one service session): it is stored once,
 *    however many uploads carry it (a re-sent record counts as 'repeated', never twice).
 * 4. **Clones.** Two different records continuing from the same card state — the same usage
 *    management information h = (IDU, R^a, X, IDT^a, V') of Fig. 9, card/pki usageManagementKey —
 *    mean the card's state was used twice: the card goes on the invalid-card list and the list
 *    version is bumped in the same transaction, so the next list signed carries it. Both records
 *    are kept as evidence; nothing is counted twice.
 * 5. **Value chain.** Outside a recharge a card's V only falls. A record whose V-before is above
 *    the V of the card's own previous usage information, or above the V-after of the card's
 *    record just before it in time with no signed value between them, is a 'value-rise' and the
 *    card is listed (checked both ways, whichever upload arrives first). V-before below the
 *    previous usage's V is a 'value-gap', reported, not listed (no value was created); holes
 *    between records are reported by {@link ManagementCentre.reconcile} (a missing record may
 *    still be on its way in another terminal's upload).
 * 6. **Every refusal** is a {@link CentreError} with a specific reason, and an event row.
 * 7. **The card's word, not the terminal's.** A usage record is cleared only together with the
 *    card-signed ServiceRecord of the same session (IDU, IDT, R, X) naming the same charge, V'
 *    and date-time. The card signs it in the commit that takes the update, so a terminal that
 *    got SU(R‖X‖V) and never sent UPDATE VALUE cannot bill the card: 'unconfirmed-by-card', the
 *    whole upload refused. A session recovered after a lost UPDATE answer carries the record
 *    read back from the card (object 06).
 * 8. **No records from the future.** The card has no clock: a terminal dating a service ahead
 *    sets the card's "last signed time" ahead and honest terminals then refuse the card (9419).
 *    A record dated more than {@link FUTURE_TOLERANCE_MS} (option `futureToleranceMs`) after the
 *    centre's clock refuses the whole upload as 'future-dated', with an event row naming the
 *    terminal (decision: refuse, not store-and-flag — a date the centre cannot place in time
 *    would corrupt the card's value chain order and the theft-report cut-off; the terminal keeps
 *    the batch and the operator settles it once the terminal is examined).
 */
import { createHash } from 'node:crypto';
import {
  CentreTrust,
  Certificate,
  InvalidCardList,
  MalformedDataError,
  PasswordSetting,
  PasswordTicket,
  ServiceRecord,
  SettlementPkiError,
  SignedValue,
  TS_MAX_UPDATES,
  TroubledTerminalList,
  UsageUpload,
  cardAuthInput,
  cardValueInput,
  checkSubjectKey,
  equalBytes,
  terminalValueInput,
  toHex,
  usageManagementKey,
  verifyServiceRecord,
  verifyUsageUpload,
} from '../../card/index.js';
import type { InvalidCardReason, Rng } from '../../card/index.js';
import { CentreError, type CentreErrorReason } from './CentreError.js';
import {
  SettlementDb,
  type CardRow,
  type EventRow,
  type SubjectKind,
  type TerminalRow,
} from './db/SettlementDb.js';

// The crypto interfaces (card/crypto/signature.ts) as card/index.ts exposes them through card/pki.
export type SignatureProvider = Parameters<typeof CentreTrust.fromAnchor>[1];
export type SignatureAlgorithm = Certificate['subjectKeyAlgorithm'];
type Signer = Parameters<typeof Certificate.sign>[1];
type Verifier = CentreTrust['verifier'];
type KeyPairDer = ReturnType<SignatureProvider['generateKeyPair']>;
/** Time source, ms since the epoch (card/crypto's Clock). */
export interface Clock {
  now(): number;
}

/** Default term of validity of a signed list: one day (terminals call daily, Fig. 9). */
export const LIST_VALIDITY_MS = 24 * 3600_000;
/** How far ahead of the centre's clock a record may be dated (terminal clock drift): 5 minutes. */
export const FUTURE_TOLERANCE_MS = 5 * 60_000;
/** Digits of a password setting number Ns (Figs. 13–14), ASCII as keyed. */
export const SETTING_NUMBER_DIGITS = 8;
/** Length of a terminal's time-stamp chain key K and origin TS0 (AES-128 block, card/pki). */
export const CHAIN_BLOCK_LENGTH = 16;
/** Verifiers of card keys kept in memory (building one parses the key). */
const VERIFIER_CACHE = 4096;

/** A term of validity, ms since the epoch, whole seconds. */
export interface Validity {
  readonly notBefore: number;
  readonly notAfter: number;
}

export interface ManagementCentreOptions {
  /** Database file, or ':memory:'. */
  readonly file: string;
  readonly provider: SignatureProvider;
  readonly clock: Clock;
  readonly rng: Rng;
  /** The highest remaining value the centre signs (minor units). */
  readonly maxValue: number;
  /** For a new database: the centre's id (1..32 bytes). Checked against the stored one otherwise. */
  readonly centreId?: Uint8Array;
  /** For a new database: the algorithm of the centre key; default ECDSA P-256. */
  readonly algorithm?: SignatureAlgorithm;
  /** For a new database: the centre's key pair; generated with `provider` when absent. */
  readonly keyPair?: KeyPairDer;
  /** Term of validity of the anchor certificate (ms); default 10 years. */
  readonly anchorValidityMs?: number;
  /** Term of validity of signed lists (ms); default {@link LIST_VALIDITY_MS}. */
  readonly listValidityMs?: number;
  /** How far ahead of the clock a record may be dated (ms, ≥ 0); default {@link FUTURE_TOLERANCE_MS}. */
  readonly futureToleranceMs?: number;
}

/**
 * What a terminal sends the centre (the terminal's UploadBatch fits): its signed upload and the
 * card-signed service records of the same records (rule 7). A bare upload DER carries none.
 */
export interface UploadSubmission {
  readonly upload: Uint8Array | { encode(): Uint8Array };
  readonly serviceRecords: readonly (Uint8Array | { encode(): Uint8Array })[];
}

/** What one accepted upload did. */
export interface UploadReport {
  readonly terminalId: Uint8Array;
  readonly uploadSequence: number;
  /** Records stored by this upload. */
  readonly stored: number;
  /** Records already stored from an earlier upload of the same terminal (counted once). */
  readonly repeated: number;
  /** Upload sequence numbers of this terminal skipped just before this one (not yet received). */
  readonly skippedUploads: number;
  /** Clone and value-chain findings, one per record concerned. */
  readonly findings: readonly CentreFinding[];
  /** Invalid-card list version after this upload (a new version when it listed cards). */
  readonly invalidListVersion: number;
}

export interface CentreFinding {
  readonly reason: Extract<CentreErrorReason, 'clone' | 'value-rise' | 'value-gap' | 'used-after-destroyed'>;
  readonly cardId: Uint8Array;
  readonly detail: string;
}

/** A record decoded and verified, ready to be cleared. */
interface ClearedRecord {
  readonly idu: Uint8Array;
  readonly vBefore: number;
  readonly vAfter: number;
  readonly charge: number;
  readonly at: number;
  /** The V the card's previous usage information says it was left with. */
  readonly prevValue: number;
  /** SHA-256 of the record's TerminalValueInput: one service session, whoever uploads it. */
  readonly digest: Uint8Array;
  /** SHA-256 of the record's CardAuthInput (IDU, IDT, R, X): the service session. */
  readonly session: Uint8Array;
  /** The seed's usage/management information h (card/pki usageManagementKey). */
  readonly stateKey: Uint8Array;
  /** The previous usage is a signed value (issue/recharge), not a service: h alone is not unique. */
  readonly fresh: boolean;
}

/** Reasons of the invalid-card list for the centre's reasons of listing. */
const LIST_REASON: Record<string, InvalidCardReason> = {
  clone: 'cloned',
  'value-rise': 'abnormal',
  destroyed: 'other',
  lost: 'lost',
  stolen: 'stolen',
};

const sha256 = (data: Uint8Array): Uint8Array => Uint8Array.from(createHash('sha256').update(data).digest());

/** Whole seconds (the profile's times are GeneralizedTime to the second). */
const sec = (ms: number): number => ms - (((ms % 1000) + 1000) % 1000);

function checkId(id: unknown, name: string): asserts id is Uint8Array {
  if (!(id instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (id.length < 1 || id.length > 32) throw new RangeError(`${name} must be 1..32 bytes, got ${id.length}`);
}

function checkBlock(v: unknown, name: string): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (v.length !== CHAIN_BLOCK_LENGTH)
    throw new RangeError(`${name} must be ${CHAIN_BLOCK_LENGTH} bytes, got ${v.length}`);
}

function checkValidity(v: Validity): Validity {
  if (!v || typeof v !== 'object') throw new TypeError('validity must be an object');
  for (const k of ['notBefore', 'notAfter'] as const)
    if (!Number.isSafeInteger(v[k]) || v[k] < 0 || v[k] % 1000 !== 0)
      throw new RangeError(`validity.${k} must be a whole second in ms, got ${v[k]}`);
  if (v.notAfter <= v.notBefore) throw new RangeError('validity.notAfter must be after validity.notBefore');
  return v;
}

/** A certificate refusal for a PKI reason ('bad-signature' over a certificate is a forgery). */
function certificateReason(e: SettlementPkiError): CentreErrorReason {
  switch (e.reason) {
    case 'bad-signature':
      return 'forged-certificate';
    case 'expired':
    case 'not-yet-valid':
    case 'other-centre':
    case 'wrong-kind':
    case 'wrong-subject':
    case 'unsupported-algorithm':
    case 'malformed':
      return e.reason;
    default:
      return 'bad-signature';
  }
}

/** A refusal for a PKI reason over a signed structure other than a certificate. */
function structureReason(e: SettlementPkiError): CentreErrorReason {
  return e.reason === 'bad-signature' ? 'bad-signature' : certificateReason(e);
}

/** The upload DER and the service records' DER of a submission (objects are re-encoded, never trusted). */
function submissionParts(sub: Uint8Array | UploadSubmission): {
  der: Uint8Array;
  serviceRecords: Uint8Array[];
} {
  if (sub instanceof Uint8Array) return { der: sub, serviceRecords: [] };
  if (sub === null || typeof sub !== 'object' || !Array.isArray(sub.serviceRecords))
    throw new TypeError('submission must be a Uint8Array or { upload, serviceRecords[] }');
  const bytes = (x: unknown, name: string): Uint8Array => {
    const b =
      x instanceof Uint8Array
        ? x
        : x !== null && typeof x === 'object' && typeof (x as { encode?: unknown }).encode === 'function'
          ? (x as { encode(): unknown }).encode()
          : undefined;
    if (!(b instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array or encodable`);
    return b;
  };
  return {
    der: bytes(sub.upload, 'submission.upload'),
    serviceRecords: sub.serviceRecords.map((s, i) => bytes(s, `submission.serviceRecords[${i}]`)),
  };
}

/** The management centre. See the file comment for the rules it keeps. */
export class ManagementCentre {
  readonly #db: SettlementDb;
  readonly #provider: SignatureProvider;
  readonly #clock: Clock;
  readonly #rng: Rng;
  readonly #maxValue: number;
  readonly #listValidityMs: number;
  readonly #futureToleranceMs: number;
  readonly #centreId: Uint8Array;
  readonly #anchor: Certificate;
  readonly #signer: Signer;
  readonly #trust: CentreTrust;
  /** Card key verifiers by IDU (hex), with the certificate's window. */
  readonly #cardVerifiers = new Map<string, { verifier: Verifier; notBefore: number; notAfter: number }>();

  /**
   * Opens (or creates) a centre. A new database gets the centre id, key pair (generated when not
   * given) and a self-signed anchor certificate; an existing one keeps its own, and must be opened
   * with the same centre id when one is given.
   * @throws TypeError/RangeError naming the option; HostDbError from the database;
   *   CentreError 'other-centre' when `centreId` differs from the stored centre's.
   */
  constructor(options: ManagementCentreOptions) {
    const o = options;
    if (!o || typeof o !== 'object') throw new TypeError('options must be an object');
    if (!Number.isSafeInteger(o.maxValue) || o.maxValue <= 0 || o.maxValue > 0xffffffff)
      throw new RangeError(`maxValue must be an integer in 1..2^32-1, got ${o.maxValue}`);
    if (o.centreId !== undefined) checkId(o.centreId, 'centreId');
    this.#listValidityMs = o.listValidityMs ?? LIST_VALIDITY_MS;
    if (!Number.isSafeInteger(this.#listValidityMs) || this.#listValidityMs < 2000)
      throw new RangeError(`listValidityMs must be an integer ≥ 2000, got ${this.#listValidityMs}`);
    this.#futureToleranceMs = o.futureToleranceMs ?? FUTURE_TOLERANCE_MS;
    if (!Number.isSafeInteger(this.#futureToleranceMs) || this.#futureToleranceMs < 0)
      throw new RangeError(`futureToleranceMs must be an integer ≥ 0, got ${this.#futureToleranceMs}`);
    this.#provider = o.provider;
    this.#clock = o.clock;
    this.#rng = o.rng;
    this.#maxValue = o.maxValue;
    this.#db = new SettlementDb(o.file);
    try {
      let row = this.#db.centre();
      if (!row) {
        if (!o.centreId) throw new TypeError('centreId is required for a new centre database');
        const alg = o.algorithm ?? 'ecdsa-p256-sha256';
        const pair = o.keyPair ?? o.provider.generateKeyPair(alg);
        const now = sec(o.clock.now());
        const anchor = Certificate.sign(
          {
            centreId: o.centreId,
            serial: 0,
            subjectKind: 'centre',
            subjectId: o.centreId,
            subjectPublicKey: pair.publicKey,
            subjectKeyAlgorithm: alg,
            notBefore: now,
            notAfter: sec(now + (o.anchorValidityMs ?? 10 * 365 * 86_400_000)),
          },
          o.provider.signer(alg, pair.privateKey),
        );
        row = {
          centreId: o.centreId,
          alg,
          privateKey: pair.privateKey,
          publicKey: pair.publicKey,
          anchor: anchor.encode(),
        };
        const r = row;
        this.#db.tx(() => this.#db.insertCentre(r));
      } else if (o.centreId && !equalBytes(o.centreId, row.centreId)) {
        throw new CentreError('other-centre', `the database belongs to centre ${toHex(row.centreId)}`);
      }
      this.#centreId = row.centreId;
      this.#anchor = Certificate.decode(row.anchor);
      this.#signer = o.provider.signer(row.alg as SignatureAlgorithm, row.privateKey);
      this.#trust = CentreTrust.fromAnchor(this.#anchor, o.provider, this.#anchor.notBefore);
    } catch (e) {
      this.#db.close();
      throw e;
    }
  }

  /** The centre's id. */
  get centreId(): Uint8Array {
    return Uint8Array.from(this.#centreId);
  }

  /** The self-signed anchor certificate (the seed's nA) that cards and terminals trust. */
  get anchor(): Certificate {
    return this.#anchor;
  }

  close(): void {
    this.#cardVerifiers.clear();
    this.#db.close();
  }

  /** Every event row (refusals and findings), oldest first. */
  events(): EventRow[] {
    return this.#db.events();
  }

  /** Number of usage records cleared so far. */
  clearedRecords(): number {
    return this.#db.usageCount();
  }

  /** The centre's view of a card (state, last known V, value sequence). */
  card(idu: Uint8Array): CardRow | undefined {
    checkId(idu, 'idu');
    return this.#db.card(idu);
  }

  /** The centre's view of a terminal (TS0, t, theft report). */
  terminal(idt: Uint8Array): TerminalRow | undefined {
    checkId(idt, 'idt');
    return this.#db.terminal(idt);
  }

  /** Records the refusal as an event (its own commit: the refused work wrote nothing) and returns it. */
  #refuse(
    reason: CentreErrorReason,
    kind: string,
    subject: Uint8Array | null,
    message: string,
    cause?: unknown,
  ): CentreError {
    // a refusal that cannot be recorded surfaces as the database's error (HostDbError) instead
    this.#db.tx(() =>
      this.#db.insertEvent(this.#clock.now(), kind, reason, subject ? toHex(subject) : null, message),
    );
    return new CentreError(reason, message, cause === undefined ? undefined : { cause });
  }

  // -----------------------------------------------------------------------------------------
  // Certification (Figs. 4A–4C: SA(nT‖IDT), SA(nU‖IDU), SA(IDC))

  #certify(
    kind: SubjectKind,
    id: Uint8Array,
    spki: Uint8Array,
    alg: SignatureAlgorithm,
    validity: Validity,
    register: (serial: number) => void,
  ): Certificate {
    if (!(spki instanceof Uint8Array)) throw new TypeError('spki must be a Uint8Array');
    try {
      this.#provider.verifier(alg, spki);
      checkSubjectKey(alg, spki);
    } catch (e) {
      throw new RangeError(`spki must be a ${alg} public key: ${(e as Error).message}`);
    }
    if (this.#db.certificateOf(kind, id))
      throw this.#refuse(
        'already-registered',
        `certify-${kind}`,
        id,
        `${kind} ${toHex(id)} is already certified`,
      );
    return this.#db.tx(() => {
      const serial = this.#db.takeSerial();
      const cert = Certificate.sign(
        {
          centreId: this.#centreId,
          serial,
          subjectKind: kind,
          subjectId: id,
          subjectPublicKey: spki,
          subjectKeyAlgorithm: alg,
          notBefore: validity.notBefore,
          notAfter: validity.notAfter,
        },
        this.#signer,
      );
      this.#db.insertCertificate({
        serial,
        kind,
        subjectId: id,
        spki,
        alg,
        notBefore: validity.notBefore,
        notAfter: validity.notAfter,
        der: cert.encode(),
      });
      register(serial);
      return cert;
    });
  }

  /**
   * Certifies a card's key — the seed's SA(nU‖IDU) (Fig. 4B) — and registers the card as active
   * in the remaining-value database (its V is known from its first signed value).
   * @throws TypeError/RangeError naming the argument; CentreError 'already-registered'.
   */
  certifyCard(idu: Uint8Array, spki: Uint8Array, validity: Validity, alg: SignatureAlgorithm): Certificate {
    checkId(idu, 'idu');
    return this.#certify('card', idu, spki, alg, checkValidity(validity), (serial) =>
      this.#db.insertCard(idu, serial),
    );
  }

  /**
   * Certifies a terminal's key, SA(nT‖IDT) (Fig. 4A), and registers its time-stamp chain — key K
   * and origin TS0 — with update counter t = 0 (Fig. 10).
   * @throws TypeError/RangeError naming the argument; CentreError 'already-registered'.
   */
  certifyTerminal(
    idt: Uint8Array,
    spki: Uint8Array,
    chain: { readonly key: Uint8Array; readonly ts0: Uint8Array },
    validity: Validity,
    alg: SignatureAlgorithm,
  ): Certificate {
    checkId(idt, 'idt');
    if (!chain || typeof chain !== 'object') throw new TypeError('chain must be { key, ts0 }');
    checkBlock(chain.key, 'chain.key');
    checkBlock(chain.ts0, 'chain.ts0');
    return this.#certify('terminal', idt, spki, alg, checkValidity(validity), (serial) =>
      this.#db.insertTerminal(idt, serial, chain.key, chain.ts0),
    );
  }

  /**
   * Certifies a card dispenser, the seed's SA(IDC) (end of the Fig. 17 description).
   * @throws TypeError/RangeError naming the argument; CentreError 'already-registered'.
   */
  certifyDispenser(
    idc: Uint8Array,
    spki: Uint8Array,
    validity: Validity,
    alg: SignatureAlgorithm,
  ): Certificate {
    checkId(idc, 'idc');
    return this.#certify('dispenser', idc, spki, alg, checkValidity(validity), (serial) =>
      this.#db.insertDispenser(idc, serial),
    );
  }

  /**
   * Checks a certificate presented to the centre: decodes, this centre's signature, kind, term
   * at `at` (default now).
   * @throws CentreError 'malformed', 'other-centre', 'forged-certificate', 'wrong-kind', 'expired',
   *   'not-yet-valid', 'unsupported-algorithm'.
   */
  checkCertificate(
    der: Uint8Array,
    kind: SubjectKind,
    at?: number,
  ): { certificate: Certificate; verifier: Verifier } {
    if (!(der instanceof Uint8Array)) throw new TypeError('der must be a Uint8Array');
    let cert: Certificate;
    try {
      cert = Certificate.decode(der);
    } catch (e) {
      if (e instanceof MalformedDataError) throw this.#refuse('malformed', 'certificate', null, e.message, e);
      throw e;
    }
    try {
      return {
        certificate: cert,
        verifier: this.#trust.verifyCertificate(cert, kind, at ?? this.#clock.now()),
      };
    } catch (e) {
      if (e instanceof SettlementPkiError)
        throw this.#refuse(certificateReason(e), 'certificate', cert.subjectId, e.message, e);
      throw e;
    }
  }

  // -----------------------------------------------------------------------------------------
  // Signed values (Figs. 4C and 7: SA(V‖IDU) at issue and recharge)

  /**
   * Signs the remaining value `value` for card `idu` at issue or recharge. The card's value
   * sequence goes up by one (the card accepts only a sequence above the last it stored, so an old
   * signed value cannot be replayed) and the value goes into the remaining-value database.
   * `challenge` is the card's X (and dispenser's Y) of Fig. 7 when online, else empty.
   * @throws RangeError naming `value`/`notAfter`; CentreError 'unknown-card', 'invalid-card',
   *   'amount-too-large'.
   */
  signValue(
    idu: Uint8Array,
    value: number,
    notAfter: number,
    challenge: Uint8Array = new Uint8Array(0),
  ): SignedValue {
    checkId(idu, 'idu');
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(`value must be a non-negative integer, got ${value}`);
    const now = this.#clock.now();
    if (!Number.isSafeInteger(notAfter) || notAfter % 1000 !== 0 || notAfter <= now)
      throw new RangeError(`notAfter must be a whole second after now, got ${notAfter}`);
    const card = this.#db.card(idu);
    if (!card)
      throw this.#refuse('unknown-card', 'sign-value', idu, `card ${toHex(idu)} was never certified`);
    if (card.state !== 'active')
      throw this.#refuse('invalid-card', 'sign-value', idu, `card ${toHex(idu)} is ${card.state}`);
    if (value > this.#maxValue)
      throw this.#refuse(
        'amount-too-large',
        'sign-value',
        idu,
        `value ${value} is above the maximum ${this.#maxValue}`,
      );
    return this.#db.tx(() => {
      const seq = this.#db.card(idu)!.valueSeq + 1;
      const sv = SignedValue.sign(
        {
          centreId: this.#centreId,
          signerKind: 'centre',
          signerId: this.#centreId,
          cardId: idu,
          value,
          sequence: seq,
          challenge,
          notAfter,
        },
        this.#signer,
      );
      this.#db.insertSignedValue(idu, seq, value, notAfter, now, sv.encode());
      this.#db.setCardSignedValue(idu, seq, value, now);
      return sv;
    });
  }

  // -----------------------------------------------------------------------------------------
  // Terminals: daily calls, theft reports (Figs. 10–11)

  /**
   * A terminal's daily call with its update counter t (Fig. 10). The centre keeps the latest t;
   * a t that goes back is refused (the chain only moves forward, Fig. 11).
   * @throws RangeError naming `t`; CentreError 'unknown-terminal', 'stolen-terminal', 'bad-counter'.
   */
  terminalCalled(idt: Uint8Array, t: number): void {
    checkId(idt, 'idt');
    if (!Number.isSafeInteger(t) || t < 0) throw new RangeError(`t must be a non-negative integer, got ${t}`);
    const term = this.#db.terminal(idt);
    if (!term)
      throw this.#refuse('unknown-terminal', 'terminal-call', idt, `terminal ${toHex(idt)} is unknown`);
    if (term.stolenT !== null)
      throw this.#refuse(
        'stolen-terminal',
        'terminal-call',
        idt,
        `terminal ${toHex(idt)} was reported stolen at t=${term.stolenT}`,
      );
    if (t < term.t)
      throw this.#refuse('bad-counter', 'terminal-call', idt, `t ${t} is below the last reported ${term.t}`);
    // past the chain's bound no list could carry it (UpdateCounter 0..100000)
    if (t > TS_MAX_UPDATES)
      throw this.#refuse('bad-counter', 'terminal-call', idt, `t ${t} is past the bound ${TS_MAX_UPDATES}`);
    this.#db.tx(() => this.#db.setTerminalT(idt, t));
  }

  /**
   * A terminal reported stolen. The t recorded is the last t it called in with — the centre's
   * knowledge at the report (Fig. 10) — or `t` when the operator knows a later one (never an
   * earlier one). It goes on the troubled-terminal list with K, TS0 and that t; terminals then
   * refuse cards it served at a later t, and this centre refuses its uploads signed at a later t.
   * Reporting again changes nothing.
   * @returns the t recorded. @throws CentreError 'unknown-terminal', 'bad-counter'.
   */
  reportStolen(idt: Uint8Array, t?: number): number {
    checkId(idt, 'idt');
    const term = this.#db.terminal(idt);
    if (!term)
      throw this.#refuse('unknown-terminal', 'report-stolen', idt, `terminal ${toHex(idt)} is unknown`);
    if (term.stolenT !== null) return term.stolenT;
    const at = t ?? term.t;
    if (!Number.isSafeInteger(at) || at < term.t || at > TS_MAX_UPDATES)
      throw this.#refuse(
        'bad-counter',
        'report-stolen',
        idt,
        `t ${String(t)} is below the last reported ${term.t} or past the bound ${TS_MAX_UPDATES}`,
      );
    const now = this.#clock.now();
    this.#db.tx(() => {
      this.#db.markStolen(idt, at, now, this.#db.bumpTroubledVersion());
      this.#db.insertEvent(now, 'report-stolen', 'stolen-terminal', toHex(idt), `t=${at}`);
    });
    return at;
  }

  // -----------------------------------------------------------------------------------------
  // Clearing (Fig. 9: the terminals' daily uploads)

  /**
   * Clears one terminal upload (rules 1–8 of the file comment): `submission` is the signed
   * upload with the card's service records of its records (a bare DER carries none, so any record
   * in it is refused as 'unconfirmed-by-card'). `terminalCertificate`, when the
   * terminal sends it with the upload, is checked as presented (forged, other centre, expired,
   * wrong kind); otherwise the certificate in the centre's register is checked again.
   * @returns what was stored and found.
   * @throws TypeError when `der` is not bytes; CentreError 'truncated-upload', 'malformed',
   *   'other-centre', 'unknown-terminal', 'stolen-terminal', the certificate reasons of
   *   {@link checkCertificate}, 'wrong-subject', 'bad-signature', 'unknown-card', 'expired' (a
   *   record outside its card certificate's term), 'future-dated', 'unconfirmed-by-card',
   *   'duplicate-upload', 'upload-conflict'.
   */
  ingestUpload(submission: Uint8Array | UploadSubmission, terminalCertificate?: Uint8Array): UploadReport {
    const { der, serviceRecords } = submissionParts(submission);
    const { upload, records } = this.#verifyUpload(der, terminalCertificate, serviceRecords);
    const idt = upload.terminalId;
    const seq = upload.uploadSequence;
    // the signed content, not the DER: the same upload under a second valid signature (ECDSA
    // s' = n - s, or re-signed after a crash) is a duplicate, not a conflict
    const digest = sha256(upload.tbs());
    const sameSequence = (): CentreError | undefined => {
      const prior = this.#db.uploadDigest(idt, seq);
      if (!prior) return undefined;
      return equalBytes(prior, digest) || equalBytes(prior, sha256(der))
        ? new CentreError('duplicate-upload', `upload ${seq} of terminal ${toHex(idt)} was already cleared`)
        : new CentreError('upload-conflict', `terminal ${toHex(idt)} already used upload sequence ${seq}`);
    };
    const early = sameSequence();
    if (early) throw this.#refuse(early.reason, 'upload', idt, early.message);
    const now = this.#clock.now();
    const outcome = this.#db.tx((): UploadReport | CentreError => {
      // again inside the write lock: another connection may have stored it meanwhile
      const late = sameSequence();
      if (late) return late;
      // one outcome per service session: X is the card's, fresh per session, and the card takes
      // one update for it — a second V' (or date) under the same (IDU, IDT, R, X) is the terminal
      // signing twice, never a card clone (checked before anything is written)
      const outcomes = new Map<string, string>();
      for (let i = 0; i < records.length; i++) {
        const r = records[i]!;
        const held = this.#db.sessionDigest(r.session);
        const mine = toHex(r.digest);
        const other = held && !equalBytes(held, r.digest) ? toHex(held) : outcomes.get(toHex(r.session));
        if (other !== undefined && other !== mine)
          return new CentreError(
            'upload-conflict',
            `record ${i}: a second outcome of a service session of card ${toHex(r.idu)} already cleared (the terminal signed two)`,
          );
        outcomes.set(toHex(r.session), mine);
      }
      // uploads may arrive out of order; a sequence skipped is noted (the terminal still holds it)
      const last = this.#db.lastUploadSeq(idt);
      const skipped = last !== undefined && seq > last + 1 ? seq - last - 1 : 0;
      if (skipped > 0)
        this.#db.insertEvent(
          now,
          'clearing',
          'upload-gap',
          toHex(idt),
          `uploads ${last! + 1}..${seq - 1} not received`,
        );
      this.#db.insertUpload(idt, seq, digest, records.length, now);
      const findings: CentreFinding[] = [];
      let version: number | undefined;
      const flag = (reason: CentreFinding['reason'], idu: Uint8Array, detail: string) => {
        findings.push({ reason, cardId: idu, detail });
        this.#db.insertEvent(now, 'clearing', reason, toHex(idu), detail);
        if (
          reason === 'value-gap' ||
          reason === 'used-after-destroyed' ||
          this.#db.card(idu)?.state !== 'active'
        )
          return;
        // one new list version per upload, however many cards it lists
        version ??= this.#db.bumpInvalidVersion();
        this.#db.invalidateCard(idu, reason, version, now);
      };
      let stored = 0;
      let repeated = 0;
      for (const r of records) {
        // the digest covers IDT, so a record already held came from this terminal: a re-send
        if (this.#db.hasUsage(r.digest)) {
          repeated++;
          continue;
        }
        let mark: string | null = null;
        const stateKey = this.#stateKey(r);
        const twin = this.#db.usageBySameState(stateKey, r.digest);
        if (twin) {
          mark = 'clone';
          flag(
            'clone',
            r.idu,
            `card state V=${r.vBefore} was used at terminal ${toHex(twin.idt)} and at ${toHex(idt)}`,
          );
        }
        // a clone's chain branches from a used state: its neighbours in time are the other copy's
        const rise = twin ? undefined : this.#riseAround(r);
        if (rise) {
          mark ??= 'value-rise';
          flag('value-rise', r.idu, rise);
        }
        this.#db.insertSession(r.session, r.digest);
        this.#db.insertUsage({
          digest: r.digest,
          stateKey,
          idu: r.idu,
          idt,
          uploadSeq: seq,
          vBefore: r.vBefore,
          vAfter: r.vAfter,
          charge: r.charge,
          at: r.at,
          flag: mark,
        });
        stored++;
        if (r.vBefore < r.prevValue)
          flag(
            'value-gap',
            r.idu,
            `V-before ${r.vBefore} is below the V ${r.prevValue} of the card's previous usage`,
          );
        const card = this.#db.card(r.idu)!;
        // a card declared destroyed that is still being spent: its refund was (or would be) too much
        const refunded = this.#db.refundOf(r.idu);
        if ((card.state === 'destroyed' || card.state === 'refunded') && r.at > (card.invalidAt ?? 0))
          flag(
            'used-after-destroyed',
            r.idu,
            `served at ${new Date(r.at).toISOString()}, after it was declared destroyed`,
          );
        // spent before the declaration, cleared after the refund: the refund paid value already spent
        else if (card.state === 'refunded' && refunded !== undefined && r.vAfter < refunded)
          flag(
            'used-after-destroyed',
            r.idu,
            `a record cleared after the refund of ${refunded} leaves V ${r.vAfter}: the refund was too much`,
          );
        if (card.lastValueAt === null || r.at >= card.lastValueAt)
          this.#db.setCardValue(r.idu, r.vAfter, r.at);
      }
      const term = this.#db.terminal(idt)!;
      if (upload.updateCounter > term.t) this.#db.setTerminalT(idt, upload.updateCounter);
      return {
        terminalId: idt,
        uploadSequence: seq,
        stored,
        repeated,
        skippedUploads: skipped,
        findings,
        invalidListVersion: this.#db.listVersions().invalid,
      };
    });
    if (outcome instanceof CentreError) throw this.#refuse(outcome.reason, 'upload', idt, outcome.message);
    return outcome;
  }

  /** Rule 1: decode and verify everything in an upload, writing nothing. */
  #verifyUpload(
    der: Uint8Array,
    certDer: Uint8Array | undefined,
    serviceDers: readonly Uint8Array[],
  ): { upload: UsageUpload; records: ClearedRecord[] } {
    let upload: UsageUpload;
    try {
      upload = UsageUpload.decode(der);
    } catch (e) {
      if (!(e instanceof MalformedDataError)) throw e;
      // cut short in transit or storage: the outer length promises more than arrived
      const truncated = /truncated|runs past the end|not complete/.test(e.reason);
      throw this.#refuse(truncated ? 'truncated-upload' : 'malformed', 'upload', null, e.message, e);
    }
    const idt = upload.terminalId;
    if (!equalBytes(upload.centreId, this.#centreId))
      throw this.#refuse(
        'other-centre',
        'upload',
        idt,
        `the upload is addressed to centre ${toHex(upload.centreId)}`,
      );
    const term = this.#db.terminal(idt);
    if (!term) throw this.#refuse('unknown-terminal', 'upload', idt, `terminal ${toHex(idt)} is unknown`);
    if (term.stolenT !== null && upload.updateCounter > term.stolenT)
      throw this.#refuse(
        'stolen-terminal',
        'upload',
        idt,
        `signed at t=${upload.updateCounter}, after the theft report at t=${term.stolenT}`,
      );
    const now = this.#clock.now();
    const registered = this.#db.certificate(term.certSerial)!.der;
    const { certificate, verifier } = this.checkCertificate(certDer ?? registered, 'terminal', now);
    if (!equalBytes(certificate.subjectId, idt))
      throw this.#refuse('wrong-subject', 'upload', idt, 'the terminal certificate is of another terminal');
    // well signed by this centre's key, but not the certificate its register holds for the terminal
    if (!equalBytes(certificate.encode(), registered))
      throw this.#refuse(
        'unknown-certificate',
        'upload',
        idt,
        `certificate serial ${certificate.serial} is not in the register`,
      );
    try {
      verifyUsageUpload(upload, verifier, { terminalId: idt, centreId: this.#centreId });
    } catch (e) {
      if (e instanceof SettlementPkiError)
        throw this.#refuse(structureReason(e), 'upload', idt, e.message, e);
      throw e;
    }
    // the card-signed service records sent along, by session (IDU, IDT, R, X); decoded here,
    // verified against the card's key where a record names them (rule 7)
    const services = new Map<string, ServiceRecord[]>();
    for (let j = 0; j < serviceDers.length; j++) {
      let s: ServiceRecord;
      try {
        s = ServiceRecord.decode(serviceDers[j]!);
      } catch (e) {
        if (!(e instanceof MalformedDataError)) throw e;
        throw this.#refuse('malformed', 'upload', idt, `service record ${j}: ${e.message}`, e);
      }
      const key = toHex(
        cardAuthInput({
          cardId: s.cardId,
          terminalId: s.terminalId,
          terminalNonce: s.terminalNonce,
          cardNonce: s.cardNonce,
        }),
      );
      const list = services.get(key) ?? [];
      list.push(s);
      services.set(key, list);
    }
    const records: ClearedRecord[] = new Array(upload.records.length);
    for (let i = 0; i < upload.records.length; i++) {
      const r = upload.records[i]!;
      // a stolen terminal's records dated after the report (dates are its own: a thief may
      // backdate, which the cards' time-stamp check of Fig. 10 covers, not this)
      if (term.stolenAt !== null && r.dateTime > term.stolenAt)
        throw this.#refuse('stolen-terminal', 'upload', idt, `record ${i}: dated after the theft report`);
      const card = this.#cardVerifier(r.cardId, idt, i);
      if (r.dateTime < card.notBefore || r.dateTime > card.notAfter)
        throw this.#refuse('expired', 'upload', idt, `record ${i}: outside the card certificate's term`);
      // rule 8: the terminal signed this date (the upload verified above)
      if (r.dateTime > now + this.#futureToleranceMs)
        throw this.#refuse(
          'future-dated',
          'upload',
          idt,
          `record ${i}: dated ${new Date(r.dateTime).toISOString()}, ahead of the centre's ${new Date(now).toISOString()} by more than ${this.#futureToleranceMs} ms (card ${toHex(r.cardId)})`,
        );
      const binding = {
        cardId: r.cardId,
        terminalId: idt,
        terminalNonce: r.terminalNonce,
        cardNonce: r.cardNonce,
      };
      if (!card.verifier.verify(cardValueInput({ ...binding, value: r.valueBefore }), r.cardSignature))
        throw this.#refuse(
          'bad-signature',
          'upload',
          idt,
          `record ${i}: the card's SU(R||X||V) does not verify`,
        );
      const tin = terminalValueInput({ ...binding, value: r.valueAfter, dateTime: r.dateTime });
      if (!verifier.verify(tin, r.terminalSignature))
        throw this.#refuse(
          'bad-signature',
          'upload',
          idt,
          `record ${i}: the terminal's ST(R||X||V'||IDU) does not verify`,
        );
      // rule 7: the card's own record of this session, naming the same outcome
      const session = cardAuthInput(binding);
      const candidates = services.get(toHex(session)) ?? [];
      if (candidates.length === 0)
        throw this.#refuse(
          'unconfirmed-by-card',
          'upload',
          idt,
          `record ${i}: no service record of card ${toHex(r.cardId)} for this session (R, X)`,
        );
      const confirmed = candidates.some(
        (s) =>
          s.charge === r.charge &&
          s.valueAfter === r.valueAfter &&
          s.dateTime === r.dateTime &&
          card.verifier.verify(s.tbs(), s.signature),
      );
      if (!confirmed)
        throw this.#refuse(
          'unconfirmed-by-card',
          'upload',
          idt,
          `record ${i}: the card's service record of this session does not verify or names another charge, V' or date`,
        );
      records[i] = {
        idu: r.cardId,
        vBefore: r.valueBefore,
        vAfter: r.valueAfter,
        charge: r.charge,
        at: r.dateTime,
        prevValue: r.previous.value,
        digest: sha256(tin),
        session: sha256(session),
        stateKey: usageManagementKey(r),
        fresh: r.previous.terminalNonce.length === 0,
      };
    }
    return { upload, records };
  }

  /** The verifier of a card's certified key (cached), refusing an unknown card. */
  #cardVerifier(idu: Uint8Array, idt: Uint8Array, index: number) {
    const key = toHex(idu);
    let v = this.#cardVerifiers.get(key);
    if (v) return v;
    const card = this.#db.card(idu);
    if (!card)
      throw this.#refuse('unknown-card', 'upload', idt, `record ${index}: card ${key} was never certified`);
    const cert = this.#db.certificate(card.certSerial)!;
    // the centre's own register: the key is taken as certified (it signed it itself)
    v = {
      verifier: this.#provider.verifier(cert.alg as SignatureAlgorithm, cert.spki),
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
    };
    if (this.#cardVerifiers.size >= VERIFIER_CACHE)
      this.#cardVerifiers.delete(this.#cardVerifiers.keys().next().value!);
    this.#cardVerifiers.set(key, v);
    return v;
  }

  /**
   * The card state a record continues from. After an issue or recharge the previous usage names
   * only the signer and V (no R, X), so two recharges to the same V would give the same h: the
   * sequence of the signed value in force at the record's time is added to tell them apart.
   */
  #stateKey(r: ClearedRecord): Uint8Array {
    if (!r.fresh) return r.stateKey;
    const seq = this.#db.signedValueBetween(r.idu, Number.MIN_SAFE_INTEGER, r.at)?.seq ?? 0;
    const h = createHash('sha256').update(r.stateKey);
    h.update(Uint8Array.of(seq >>> 24, (seq >>> 16) & 0xff, (seq >>> 8) & 0xff, seq & 0xff));
    return Uint8Array.from(h.digest());
  }

  /**
   * Rule 5 for one record: V may rise only through a signed value. Checked against the V the
   * card's previous usage information records, and against the card's neighbouring records in
   * time (whichever arrived first). Returns why it rose, or undefined.
   */
  #riseAround(r: ClearedRecord): string | undefined {
    if (r.vBefore > r.prevValue)
      return `V-before ${r.vBefore} is above the V ${r.prevValue} of the card's previous usage information`;
    // records of the same second: no order between them, so a rise only when neither order
    // makes a chain (an honest card's services in one second always chain one way)
    if (!this.#db.signedValueBetween(r.idu, r.at - 1000, r.at))
      for (const s of this.#db.usageAt(r.idu, r.at))
        if (!equalBytes(s.digest, r.digest) && r.vBefore > s.vAfter && s.vBefore > r.vAfter)
          return `V-before ${r.vBefore} is above the V-after ${s.vAfter} of a record of the same second, which also starts above this one's V-after ${r.vAfter}`;
    // a recharge between two records lets V rise to the value signed, not above it
    const { prev, next } = this.#db.usageNeighbours(r.idu, r.at);
    if (prev && r.vBefore > prev.vAfter) {
      const signed = this.#db.maxSignedValueBetween(r.idu, prev.at, r.at);
      if (signed === undefined || r.vBefore > signed)
        return `V-before ${r.vBefore} is above the previous V-after ${prev.vAfter} with ${signed === undefined ? 'no recharge' : `no recharge above ${signed}`} between`;
    }
    if (next && next.vBefore > r.vAfter) {
      const signed = this.#db.maxSignedValueBetween(r.idu, r.at, next.at);
      if (signed === undefined || next.vBefore > signed)
        return `the next record's V-before ${next.vBefore} is above this V-after ${r.vAfter} with ${signed === undefined ? 'no recharge' : `no recharge above ${signed}`} between`;
    }
    return undefined;
  }

  /**
   * Walks a card's cleared records in time order against its signed values: each V-before must
   * equal the previous V-after, or the value signed since. Returns the findings ('clone' for
   * records marked so, 'value-rise', 'value-gap'); writes nothing.
   */
  reconcile(idu: Uint8Array): CentreFinding[] {
    checkId(idu, 'idu');
    const out: CentreFinding[] = [];
    let expected: number | undefined;
    let lastAt = Number.MIN_SAFE_INTEGER;
    for (const r of this.#db.usageOfCard(idu)) {
      const sv = this.#db.signedValueBetween(idu, lastAt, r.at);
      if (sv) expected = sv.value;
      if (r.flag === 'clone')
        out.push({
          reason: 'clone',
          cardId: idu,
          detail: `record at ${r.at} continues a state already used`,
        });
      else if (expected !== undefined && r.vBefore > expected)
        out.push({
          reason: 'value-rise',
          cardId: idu,
          detail: `V-before ${r.vBefore} above ${expected} at ${r.at}`,
        });
      else if (expected !== undefined && r.vBefore < expected)
        out.push({
          reason: 'value-gap',
          cardId: idu,
          detail: `V-before ${r.vBefore} below ${expected} at ${r.at}: a record is missing`,
        });
      expected = r.vAfter;
      lastAt = r.at;
    }
    return out;
  }

  // -----------------------------------------------------------------------------------------
  // Lists (Fig. 9's invalid-card list 4L; Fig. 10's troubled-terminal list)

  /**
   * Lists a card reported lost or stolen (Fig. 16's black list). Listing again changes nothing.
   * @throws CentreError 'unknown-card'.
   */
  reportCard(idu: Uint8Array, reason: 'lost' | 'stolen'): void {
    checkId(idu, 'idu');
    if (reason !== 'lost' && reason !== 'stolen')
      throw new RangeError(`reason must be 'lost' or 'stolen', got ${String(reason)}`);
    if (!this.#db.card(idu))
      throw this.#refuse('unknown-card', 'report-card', idu, `card ${toHex(idu)} was never certified`);
    const now = this.#clock.now();
    this.#db.tx(() => {
      if (this.#db.card(idu)!.state !== 'active') return;
      this.#db.invalidateCard(idu, reason, this.#db.bumpInvalidVersion(), now);
      this.#db.insertEvent(now, 'report-card', null, toHex(idu), reason);
    });
  }

  /**
   * The signed invalid-card list. A new version is signed when the set of listed cards changed
   * since the last one (a clone, a value rise, a destroyed, lost or stolen card) or when the last
   * one has run through half its term; versions only go up.
   */
  invalidCardList(): InvalidCardList {
    return this.#currentList('invalid-cards', (version, issued, notAfter) =>
      InvalidCardList.sign(
        {
          centreId: this.#centreId,
          listVersion: version,
          issued,
          notAfter,
          entries: this.#db.invalidCards().map((c) => ({
            cardId: c.idu,
            reason: LIST_REASON[c.reason] ?? 'other',
            listedAt: sec(c.at),
          })),
        },
        this.#signer,
      ),
    ) as InvalidCardList;
  }

  /** The signed troubled-terminal list (IDT, K, TS0, t at the report), versioned as the card list. */
  troubledTerminalList(): TroubledTerminalList {
    return this.#currentList('troubled-terminals', (version, issued, notAfter) =>
      TroubledTerminalList.sign(
        {
          centreId: this.#centreId,
          listVersion: version,
          issued,
          notAfter,
          entries: this.#db.troubledTerminals().map((t) => ({
            terminalId: t.idt,
            chainKey: t.chainKey,
            timeStampOrigin: t.ts0,
            updateCounterAtReport: t.stolenT!,
            reportedAt: sec(t.stolenAt!),
          })),
        },
        this.#signer,
      ),
    ) as TroubledTerminalList;
  }

  #currentList(
    kind: 'invalid-cards' | 'troubled-terminals',
    sign: (version: number, issued: number, notAfter: number) => InvalidCardList | TroubledTerminalList,
  ): InvalidCardList | TroubledTerminalList {
    const now = sec(this.#clock.now());
    const bump = () =>
      kind === 'invalid-cards' ? this.#db.bumpInvalidVersion() : this.#db.bumpTroubledVersion();
    return this.#db.tx(() => {
      const versions = this.#db.listVersions();
      let version = kind === 'invalid-cards' ? versions.invalid : versions.troubled;
      const held = version > 0 ? this.#db.list(kind, version) : undefined;
      if (held && held.notAfter - now > this.#listValidityMs / 2)
        return kind === 'invalid-cards'
          ? InvalidCardList.decode(held.der)
          : TroubledTerminalList.decode(held.der);
      // each version is signed once: the first list, or a re-sign of an expiring one, moves it on
      if (held || version === 0) version = bump();
      const list = sign(version, now, sec(now + this.#listValidityMs));
      this.#db.insertList(kind, version, list.notAfter, list.encode());
      return list;
    });
  }

  // -----------------------------------------------------------------------------------------
  // Remaining-value database for destroyed cards (end of the Fig. 9 description)

  /**
   * A card reported destroyed: returns its last known V (from its latest cleared record, or its
   * latest signed value when later) and lists it, so nothing more can be spent with it. Asking
   * again returns the same V. Records of the card dated after this are reported
   * ('used-after-destroyed').
   * @throws CentreError 'unknown-card'; 'already-refunded' once refunded; 'invalid-card' for a card
   *   listed as a clone or for a value rise (its value may be in a copy's hands).
   */
  destroyedCard(idu: Uint8Array): number {
    checkId(idu, 'idu');
    const card = this.#db.card(idu);
    if (!card)
      throw this.#refuse('unknown-card', 'destroyed-card', idu, `card ${toHex(idu)} was never certified`);
    if (card.state === 'refunded')
      throw this.#refuse(
        'already-refunded',
        'destroyed-card',
        idu,
        `card ${toHex(idu)} was already refunded`,
      );
    // a card listed for a clone or a value rise: its "last known V" may be in a copy's hands
    if (card.state === 'invalid' && (card.invalidReason === 'clone' || card.invalidReason === 'value-rise'))
      throw this.#refuse(
        'invalid-card',
        'destroyed-card',
        idu,
        `card ${toHex(idu)} is listed: ${card.invalidReason}`,
      );
    const now = this.#clock.now();
    this.#db.tx(() => {
      const c = this.#db.card(idu)!;
      if (c.state === 'destroyed') return;
      this.#db.setCardState(idu, 'destroyed', 'destroyed', this.#db.bumpInvalidVersion(), now);
      this.#db.insertEvent(now, 'destroyed-card', null, toHex(idu), `last known V ${c.lastValue ?? 0}`);
    });
    return this.#db.card(idu)!.lastValue ?? 0;
  }

  /**
   * Refunds a destroyed card's last known V, exactly once: the refund row (primary key IDU) and the
   * state change commit together.
   * @throws CentreError 'unknown-card', 'not-destroyed', 'already-refunded'.
   */
  refundDestroyed(idu: Uint8Array): number {
    checkId(idu, 'idu');
    const now = this.#clock.now();
    const outcome = this.#db.tx((): number | CentreError => {
      const c = this.#db.card(idu);
      if (!c) return new CentreError('unknown-card', `card ${toHex(idu)} was never certified`);
      if (c.state === 'refunded' || this.#db.refundOf(idu) !== undefined)
        return new CentreError('already-refunded', `card ${toHex(idu)} was already refunded`);
      if (c.state !== 'destroyed')
        return new CentreError('not-destroyed', `card ${toHex(idu)} is ${c.state}`);
      const amount = c.lastValue ?? 0;
      this.#db.insertRefund(idu, amount, now);
      this.#db.setCardState(idu, 'refunded', 'destroyed', c.invalidVersion ?? 0, now);
      this.#db.insertEvent(now, 'refund', null, toHex(idu), `refunded ${amount}`);
      return amount;
    });
    if (outcome instanceof CentreError) throw this.#refuse(outcome.reason, 'refund', idu, outcome.message);
    return outcome;
  }

  // -----------------------------------------------------------------------------------------
  // Password registration (Figs. 13–14)

  /**
   * A fresh password setting number Ns for card `idu`, with the centre's SA(Ns‖IDU) (kept in the
   * card) and SA(IDU‖SA(Ns)) (shown to terminals), valid as long as the card's certificate. Ns is
   * drawn from the injected Rng and never repeats for a card: every Ns issued is kept.
   * @throws CentreError 'unknown-card', 'invalid-card', 'exhausted'.
   */
  passwordSetting(idu: Uint8Array): { setting: PasswordSetting; ticket: PasswordTicket } {
    checkId(idu, 'idu');
    const card = this.#db.card(idu);
    if (!card)
      throw this.#refuse('unknown-card', 'password-setting', idu, `card ${toHex(idu)} was never certified`);
    if (card.state !== 'active')
      throw this.#refuse('invalid-card', 'password-setting', idu, `card ${toHex(idu)} is ${card.state}`);
    const notAfter = this.#db.certificate(card.certSerial)!.notAfter;
    const now = this.#clock.now();
    const out = this.#db.tx(() => {
      for (let tries = 0; tries < 64; tries++) {
        const ns = this.#settingNumber();
        if (this.#db.hasSettingNumber(idu, ns)) continue;
        this.#db.insertSettingNumber(idu, ns, now);
        const setting = PasswordSetting.sign(
          { centreId: this.#centreId, cardId: idu, settingNumber: ns, notAfter },
          this.#signer,
        );
        return { setting, ticket: PasswordTicket.forSetting(setting, this.#signer) };
      }
      return undefined;
    });
    if (!out)
      throw this.#refuse('exhausted', 'password-setting', idu, 'no unused setting number in 64 draws');
    return out;
  }

  /** Ns: 8 decimal digits as keyed (ASCII), uniform from the Rng by rejection sampling. */
  #settingNumber(): Uint8Array {
    let n: number;
    do {
      const b = this.#rng.bytes(4);
      n = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    } while (n >= 4_200_000_000); // the largest multiple of 10^8 below 2^32
    return new TextEncoder().encode(String(n % 100_000_000).padStart(SETTING_NUMBER_DIGITS, '0'));
  }

  // -----------------------------------------------------------------------------------------
  // Service records SU(M‖IDU) and post-paid billing (Figs. 14, 16–17)

  /**
   * Stores a card-signed service record as evidence, verified against the card's certificate
   * first, once per (IDU, card sequence). The same record again is not stored twice; another
   * record under the same card sequence means two cards counting from one state — a clone: the
   * card is listed and the record refused.
   * @returns true when stored, false when the same record was already held.
   * @throws CentreError 'malformed', 'unknown-card', 'bad-signature', 'wrong-subject', 'clone'.
   */
  storeServiceRecord(der: Uint8Array): boolean {
    if (!(der instanceof Uint8Array)) throw new TypeError('der must be a Uint8Array');
    let rec: ServiceRecord;
    try {
      rec = ServiceRecord.decode(der);
    } catch (e) {
      if (e instanceof MalformedDataError)
        throw this.#refuse('malformed', 'service-record', null, e.message, e);
      throw e;
    }
    const idu = rec.cardId;
    const card = this.#db.card(idu);
    if (!card)
      throw this.#refuse('unknown-card', 'service-record', idu, `card ${toHex(idu)} was never certified`);
    const cert = this.#db.certificate(card.certSerial)!;
    try {
      verifyServiceRecord(rec, this.#provider.verifier(cert.alg as SignatureAlgorithm, cert.spki), {
        cardId: idu,
      });
    } catch (e) {
      if (e instanceof SettlementPkiError)
        throw this.#refuse(structureReason(e), 'service-record', idu, e.message, e);
      throw e;
    }
    // keyed by the signed content, not the DER: a second valid signature over the same record
    // (ECDSA s' = n - s, or a randomised re-signature) is the same record, never a clone
    const digest = sha256(rec.tbs());
    const now = this.#clock.now();
    const outcome = this.#db.tx((): boolean | CentreError => {
      const held = this.#db.serviceRecordDigest(idu, rec.cardSequence);
      if (held) {
        // (a database written before this rule holds the digest of the DER: the same too)
        if (equalBytes(held, digest) || equalBytes(held, sha256(der))) return false;
        const message = `card sequence ${rec.cardSequence} already carries another service record`;
        this.#db.insertEvent(now, 'service-record', 'clone', toHex(idu), message);
        if (this.#db.card(idu)!.state === 'active')
          this.#db.invalidateCard(idu, 'clone', this.#db.bumpInvalidVersion(), now);
        return new CentreError('clone', message);
      }
      this.#db.insertServiceRecord(
        digest,
        idu,
        rec.cardSequence,
        rec.terminalId,
        rec.charge,
        rec.dateTime,
        der,
      );
      return true;
    });
    if (outcome instanceof CentreError) throw outcome; // its event row committed with the listing
    return outcome;
  }

  /**
   * The post-paid bill of card `idu` for `period` (from ≤ date of use < to): the sum of the
   * charges of its stored service records, and their count.
   * @throws RangeError naming `period`.
   */
  billing(
    idu: Uint8Array,
    period: { readonly from: number; readonly to: number },
  ): { total: number; count: number } {
    checkId(idu, 'idu');
    if (
      !period ||
      !Number.isSafeInteger(period.from) ||
      !Number.isSafeInteger(period.to) ||
      period.to <= period.from
    )
      throw new RangeError('period must be { from, to } integers (ms) with to > from');
    return this.#db.billing(idu, period.from, period.to);
  }
}
