/**
 * The IC card terminal of seed 004 (EP0856821) for the settlement card: it serves a card offline,
 * checking everything against the management centre's key alone, and keeps what the centre needs
 * for clearing (usage records, the card-signed service records) for its daily upload.
 *
 * What each check binds (Figs. 5–12), in the order `serve` runs them — the first failure throws a
 * {@link SettlementError} with its own reason, is recorded in `refusals`, and no value moves:
 * ```
 *  SELECT            FCI: IDU, flags (disabled, password registered)
 *  READ OBJECT 01    card Certificate: centre signature, kind card, same centre, valid now;
 *                    its subject is the FCI's IDU; IDU not on the invalid-card list (Fig. 9)
 *  PRESENT TERMINAL  our Certificate → the card's SignedValue (centre's SA(V‖IDU), this IDU,
 *                    in term) and previous UsageInfo (Fig. 12: the last terminal's certificate
 *                    at the usage's time, S = ST(R^a‖X^a‖V^a‖IDU); if that terminal is on the
 *                    troubled list: ST(TS‖S) at TS recomputed from TS0 and t^a, and t^a ≤ t^j)
 *  [VERIFY]          the password, when the card has one
 *  SIGN VALUE R      X ‖ V ‖ SU(R‖X‖V): verifies under the certified card key; V is the value
 *                    of the LATEST record (C2 flags: the signed value's V after a recharge,
 *                    else the last usage's V')
 *  charge ≤ V        then V' = V − charge, S = ST(R‖X‖V'‖IDU), ST(TS_t‖S)
 *  UPDATE VALUE      → the card's ServiceRecord SU(M‖IDU): verifies, names this card, this
 *                    terminal, this R and X, the charge, V' and the date (the centre clears
 *                    a usage record only with it)
 * ```
 * Which record proves V: the card says (PRESENT TERMINAL's C2 flags, 02 = the last change was a
 * recharge) and V must equal THAT record's value — never "whichever matches", which let a card
 * roll V back to an older, larger signed value (issue 13).
 *
 * Power lost after UPDATE VALUE commits: the terminal keeps the session as unfinished (per IDU)
 * from the moment it sends UPDATE VALUE until it holds the verified service record. On the next
 * contact with that card ({@link SettlementTerminal.serve} or {@link SettlementTerminal.recover})
 * it reads objects 02 and 06: if the card's usage info is this terminal's update of that session
 * (same IDT, R, X, V', S), the usage record and the card's service record go into the upload —
 * once, the entry is then gone; if it is not, the card never took the update (or has moved on)
 * and the session is listed in `abandoned` for the operator, nothing uploaded.
 *
 * Time: the terminal's clock, floored to whole seconds (the pki's time unit).
 */
import type { CardChannel } from '../../reader/index.js';
import {
  Certificate,
  CentreTrust,
  InvalidCardList,
  MalformedDataError,
  PasswordSetting,
  ServiceRecord,
  SettlementPkiError,
  SignedValue,
  SETTLE_OBJ_CARD_CERTIFICATE,
  SETTLE_OBJ_SERVICE_RECORD,
  SETTLE_OBJ_STATUS,
  SETTLE_OBJ_USAGE_INFO,
  SETTLE_TAG_SIGNED_VALUE,
  SETTLE_TAG_STATE_FLAGS,
  TS_MAX_UPDATES,
  SETTLE_TAG_USAGE_INFO,
  SETTLE_NONCE_LENGTH,
  SW_NO_ERROR,
  TroubledTerminalList,
  UsageInfo,
  UsageUpload,
  cardValueInput,
  checkTimeStamp,
  findTlv,
  nextTimeStamp,
  passwordInput,
  settlePasswordBlock as pinBlock,
  signWith,
  terminalValueInput,
  timeStampInput,
  stateReference,
  toHex,
  u32,
  verifyServiceRecord,
  type BlockCipherProvider,
  type Rng,
  type UsageRecord,
  type CommandApdu,
} from '../../card/index.js';
import * as A from './apdus.js';
import { SettlementError, type SettlementRefusal } from './SettlementError.js';

/** card/crypto's Signer, Verifier and SignatureProvider, as card/index.ts hands them out through the pki. */
type Signer = Parameters<typeof signWith>[0];
type Verifier = ReturnType<CentreTrust['verifyCertificate']>;
type SignatureProvider = Parameters<typeof CentreTrust.fromAnchor>[1];
/** Milliseconds since the epoch (card/crypto's Clock). */
interface Clock {
  now(): number;
}

export interface SettlementTerminalOptions {
  /** IDT. */
  idt: Uint8Array;
  /** The terminal's key (pT, qT of the seed). */
  signer: Signer;
  /** SA(nT‖IDT): the centre's certificate of this terminal's key, DER. */
  certificate: Uint8Array;
  /** The centre's self-signed certificate (nA), DER. */
  anchor: Uint8Array;
  provider: SignatureProvider;
  /** K of the time-stamp chain (16 bytes) and TS0 (16 bytes), from the centre at installation. */
  chainKey: Uint8Array;
  ts0: Uint8Array;
  cipher: BlockCipherProvider;
  clock: Clock;
  rng: Rng;
}

export interface ServeOptions {
  /** 4..8 digits, for a card with a registered password. */
  password?: string;
}

export interface ServeOutcome {
  readonly cardId: Uint8Array;
  readonly valueBefore: number;
  readonly valueAfter: number;
  readonly charge: number;
  /** The card's SU(M‖IDU), verified. */
  readonly serviceRecord: ServiceRecord;
  /** What the card stored as its usage information. */
  readonly usageInfo: UsageInfo;
}

export interface RefusalEntry {
  readonly time: number;
  readonly reason: SettlementRefusal;
  readonly detail: string;
  readonly cardId?: Uint8Array;
  readonly sw?: number;
}

/** A session whose UPDATE VALUE got no verified answer: what recovery checks the card against. */
interface Unfinished {
  readonly record: UsageRecord;
  readonly valueSignature: Uint8Array;
}

/** A signed upload and the service records of the same period (Figs. 9, 14, 17). */
export interface UploadBatch {
  readonly upload: UsageUpload;
  readonly serviceRecords: readonly ServiceRecord[];
}

function pkiReason(e: SettlementPkiError, what: 'card' | 'usage' | 'value'): SettlementRefusal {
  switch (e.reason) {
    case 'bad-signature':
      return what === 'card'
        ? 'forged-certificate'
        : what === 'usage'
          ? 'bad-usage-signature'
          : 'forged-certificate';
    case 'expired':
    case 'not-yet-valid':
      return 'expired';
    case 'other-centre':
      return 'other-centre';
    case 'wrong-kind':
      return 'wrong-kind';
    case 'wrong-subject':
      return 'wrong-subject';
    case 'troubled-terminal':
      return 'stolen-terminal';
    default:
      return 'malformed';
  }
}

/** Whole seconds, the pki's time unit. */
function seconds(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

export class SettlementTerminal {
  readonly idt: Uint8Array;
  readonly #signer: Signer;
  readonly #certificate: Certificate;
  readonly #trust: CentreTrust;
  /** Our own key (nT) as a verifier: recovery accepts any valid S of ours, not only our bytes. */
  readonly #ownVerifier: Verifier;
  readonly #chainKey: Uint8Array;
  readonly #cipher: BlockCipherProvider;
  readonly #clock: Clock;
  readonly #rng: Rng;
  #ts: Uint8Array;
  #t = 0;
  #invalid: InvalidCardList | undefined;
  #troubled: TroubledTerminalList | undefined;
  #records: UsageRecord[] = [];
  #services: ServiceRecord[] = [];
  #refusals: RefusalEntry[] = [];
  #unfinished = new Map<string, Unfinished>();
  #abandoned: UsageRecord[] = [];
  #uploadSequence = 0;
  #periodStart: number;

  /**
   * @throws SettlementPkiError when the anchor or this terminal's certificate does not verify
   *   (Fig. 4A: the terminal checks SA(nT‖IDT) before it records it); RangeError naming a field.
   */
  constructor(o: SettlementTerminalOptions) {
    if (o.chainKey.length !== 16) throw new RangeError('chainKey must be 16 bytes');
    if (o.ts0.length !== 16) throw new RangeError('ts0 must be 16 bytes');
    const now = seconds(o.clock.now());
    this.#trust = CentreTrust.fromAnchor(Certificate.decode(o.anchor), o.provider, now);
    this.#certificate = Certificate.decode(o.certificate);
    this.#ownVerifier = this.#trust.verifyCertificate(this.#certificate, 'terminal', now);
    if (this.#certificate.subjectId.length !== o.idt.length || !sameBytes(this.#certificate.subjectId, o.idt))
      throw new RangeError('certificate is not of idt');
    this.idt = o.idt.slice();
    this.#signer = o.signer;
    this.#chainKey = o.chainKey.slice();
    this.#ts = o.ts0.slice();
    this.#cipher = o.cipher;
    this.#clock = o.clock;
    this.#rng = o.rng;
    this.#periodStart = now;
  }

  /** Update counter t of the time-stamp chain. */
  get updateCounter(): number {
    return this.#t;
  }

  get refusals(): readonly RefusalEntry[] {
    return this.#refusals;
  }

  /** Usage records kept for the next upload. */
  get pendingRecords(): readonly UsageRecord[] {
    return this.#records;
  }

  /** Sessions whose UPDATE VALUE got no verified answer yet, by IDU (hex). */
  get unfinishedCount(): number {
    return this.#unfinished.size;
  }

  /** Unfinished sessions the card showed it never took (or moved on from): not uploaded. */
  get abandoned(): readonly UsageRecord[] {
    return this.#abandoned;
  }

  get invalidCardListVersion(): number | undefined {
    return this.#invalid?.listVersion;
  }

  get troubledTerminalListVersion(): number | undefined {
    return this.#troubled?.listVersion;
  }

  #now(): number {
    return seconds(this.#clock.now());
  }

  /** TS(t+1) = E_K(TS(t)) ⊕ TS(t), t := t + 1 (Figs. 10–11; e.g. daily). */
  updateTimeStamp(): void {
    // t is an UpdateCounter (0..100000): past it no card could store the usage info.
    if (this.#t >= TS_MAX_UPDATES)
      throw new RangeError(
        `updateCounter is at its bound ${TS_MAX_UPDATES}: the time-stamp chain is used up`,
      );
    this.#ts = nextTimeStamp(this.#cipher, this.#chainKey, this.#ts);
    this.#t++;
  }

  /**
   * Installs a centre-signed invalid-card list (verified before it is stored; its version must be
   * above the one held).
   * @throws SettlementError 'malformed', 'bad-list', 'other-centre', 'expired', 'list-version'.
   */
  installInvalidCardList(der: Uint8Array): void {
    const list = this.#decode(() => InvalidCardList.decode(der), 'invalid-card list');
    this.#listCheck(() => this.#trust.verifyInvalidCardList(list, this.#now(), this.#invalid?.listVersion));
    this.#invalid = list;
  }

  /**
   * Installs a centre-signed troubled-terminal list (stolen terminals with TS0, K and t at report).
   * @throws SettlementError as {@link installInvalidCardList}.
   */
  installTroubledTerminalList(der: Uint8Array): void {
    const list = this.#decode(() => TroubledTerminalList.decode(der), 'troubled-terminal list');
    this.#listCheck(() =>
      this.#trust.verifyTroubledTerminalList(list, this.#now(), this.#troubled?.listVersion),
    );
    this.#troubled = list;
  }

  #listCheck(f: () => void): void {
    try {
      f();
    } catch (e) {
      if (!(e instanceof SettlementPkiError)) throw e;
      const reason: SettlementRefusal =
        e.reason === 'version'
          ? 'list-version'
          : e.reason === 'bad-signature'
            ? 'bad-list'
            : e.reason === 'other-centre'
              ? 'other-centre'
              : e.reason === 'expired' || e.reason === 'not-yet-valid'
                ? 'expired'
                : 'bad-list';
      this.#refuse(new SettlementError(reason, e.message));
    }
  }

  #decode<T>(f: () => T, what: string): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof MalformedDataError)
        return this.#refuse(new SettlementError('malformed', `${what}: ${e.message}`));
      throw e;
    }
  }

  #refuse(e: SettlementError, cardId?: Uint8Array): never {
    this.#refusals.push({
      time: this.#now(),
      reason: e.reason,
      detail: e.message,
      ...(cardId ? { cardId: cardId.slice() } : {}),
      ...(e.sw !== undefined ? { sw: e.sw } : {}),
    });
    throw e;
  }

  async #ok(card: CardChannel, c: CommandApdu, step: string): Promise<Uint8Array> {
    const r = await card.transmit(c);
    if (r.sw !== SW_NO_ERROR) throw new SettlementError('card-refused', step, r.sw);
    return r.data;
  }

  /**
   * The service flow of Figs. 5–7 with Fig. 12's signatures, through APDUs: checks, charges
   * `charge`, and keeps the usage record and service record for the upload.
   * @throws RangeError naming `charge`; SettlementError (recorded in `refusals`) for each refusal.
   */
  async serve(card: CardChannel, charge: number, options: ServeOptions = {}): Promise<ServeOutcome> {
    if (!Number.isSafeInteger(charge) || charge < 0 || charge > 0xffffffff)
      throw new RangeError('charge must be an integer in 0..0xFFFFFFFF');
    let cardId: Uint8Array | undefined;
    try {
      const fci = await this.#ok(card, A.selectSettle(), 'SELECT');
      cardId = findTlv(fci, 0x5a);
      const flags = findTlv(fci, 0xc1)?.[0] ?? 0;
      if (!cardId) throw new SettlementError('malformed', 'FCI lacks the IDU');
      if (flags & 0x01)
        throw new SettlementError('card-disabled', 'the card disabled itself after an abnormality');
      return await this.#serve(card, cardId, flags, charge, options);
    } catch (e) {
      // a card's answer that is no TLV / DER at all is a refusal like any other (recorded)
      if (e instanceof MalformedDataError)
        this.#refuse(new SettlementError('malformed', `card answer: ${e.message}`), cardId);
      if (e instanceof SettlementError) this.#refuse(e, cardId);
      throw e;
    }
  }

  async #serve(
    card: CardChannel,
    idu: Uint8Array,
    flags: number,
    charge: number,
    options: ServeOptions,
  ): Promise<ServeOutcome> {
    const now = this.#now();
    // Fig. 5: the card's certificate first.
    const certDer = await this.#ok(card, A.readObject(SETTLE_OBJ_CARD_CERTIFICATE), 'READ CERTIFICATE');
    const cert = parse(() => Certificate.decode(certDer), 'card certificate');
    const cardVerifier = pki(() => this.#trust.verifyCertificate(cert, 'card', now), 'card');
    if (!sameBytes(cert.subjectId, idu))
      throw new SettlementError('wrong-subject', 'certificate of another IDU');
    // Value may already have moved in an unfinished session: settle that first.
    await this.#recover(card, idu, cardVerifier);
    // Fig. 9: the invalid-card list — and it must still be in its term: a line that keeps the
    // next list from arriving must not keep a listed clone in service for ever (fail closed)
    for (const [list, what] of [
      [this.#invalid, 'invalid-card list'],
      [this.#troubled, 'troubled-terminal list'],
    ] as const)
      if (list && now > list.notAfter)
        throw new SettlementError(
          'expired',
          `the ${what} held (version ${list.listVersion}) is past its term`,
        );
    if (this.#invalid?.has(idu))
      throw new SettlementError('blacklisted', 'the card is on the invalid-card list');

    const evidence = await this.#ok(
      card,
      A.presentTerminal(now, this.#certificate.encode()),
      'PRESENT TERMINAL',
    );
    const svDer = findTlv(evidence, SETTLE_TAG_SIGNED_VALUE);
    const usageDer = findTlv(evidence, SETTLE_TAG_USAGE_INFO);
    if (!svDer && !usageDer) throw new SettlementError('no-value', 'the card holds no value');
    let sv: SignedValue | undefined;
    if (svDer) {
      const v = parse(() => SignedValue.decode(svDer), 'signed value');
      pki(() => this.#trust.verifySignedValue(v, now, { cardId: idu }), 'value');
      sv = v;
    }
    let usage: UsageInfo | undefined;
    if (usageDer) {
      const u = parse(() => UsageInfo.decode(usageDer), 'usage info');
      const last = pki(() => this.#trust.verifyUsageInfo(u, now, idu), 'usage');
      const entry = this.#troubled?.entryFor(u.terminalId);
      if (entry) {
        try {
          checkTimeStamp(u, entry, last, this.#cipher);
        } catch (e) {
          if (e instanceof SettlementPkiError && e.reason === 'bad-signature')
            throw new SettlementError('bad-time-stamp', e.message);
          if (e instanceof SettlementPkiError) throw new SettlementError(pkiReason(e, 'usage'), e.message);
          throw e;
        }
      }
      usage = u;
    }
    // Which of the two proves V (checked after both verified: a forged record is named as such).
    const stateFlags = findTlv(evidence, SETTLE_TAG_STATE_FLAGS);
    if (stateFlags?.length !== 1)
      throw new SettlementError('malformed', 'PRESENT TERMINAL lacks the state flags');
    const lastWasRecharge = (stateFlags[0]! & 0x02) !== 0;

    if (flags & 0x02) {
      if (options.password === undefined)
        throw new SettlementError('password-required', 'the card has a password');
      const r = await card.transmit(A.verifyPassword(pinBlock(options.password)));
      if (r.sw === 0x6983) throw new SettlementError('password-blocked', 'password blocked', r.sw);
      if ((r.sw & 0xfff0) === 0x63c0)
        throw new SettlementError('wrong-password', `${r.sw & 0x0f} tries left`, r.sw);
      if (r.sw !== SW_NO_ERROR) throw new SettlementError('card-refused', 'VERIFY', r.sw);
    }

    // Fig. 6: R to the card, X ‖ V ‖ SU(R‖X‖V) back.
    const rNonce = this.#rng.bytes(SETTLE_NONCE_LENGTH);
    const signed = await this.#ok(card, A.signValue(rNonce), 'SIGN VALUE');
    if (signed.length < SETTLE_NONCE_LENGTH + 5)
      throw new SettlementError('malformed', 'SIGN VALUE answer too short');
    const x = signed.slice(0, SETTLE_NONCE_LENGTH);
    const v = u32(signed, SETTLE_NONCE_LENGTH);
    const su = signed.slice(SETTLE_NONCE_LENGTH + 4);
    const binding = { cardId: idu, terminalId: this.idt, terminalNonce: rNonce, cardNonce: x };
    if (!cardVerifier.verify(cardValueInput({ ...binding, value: v }), su))
      throw new SettlementError('bad-card-signature', 'SU(R||X||V) does not verify');
    const previous = this.#previousOf(v, lastWasRecharge, usage, sv);
    if (charge > v) throw new SettlementError('insufficient-value', `charge ${charge} above the value ${v}`);

    // After the service: V', S = ST(R‖X‖V'‖IDU), ST(TS_t‖S).
    const vNew = v - charge;
    const dateTime = this.#now();
    const s = signWith(this.#signer, terminalValueInput({ ...binding, value: vNew, dateTime }));
    const sts = signWith(
      this.#signer,
      timeStampInput({
        terminalId: this.idt,
        updateCounter: this.#t,
        timeStamp: this.#ts,
        valueSignature: s,
      }),
    );
    const info = new UsageInfo({
      cardId: idu,
      terminalId: this.idt,
      terminalCertificate: this.#certificate,
      updateCounter: this.#t,
      terminalNonce: rNonce,
      cardNonce: x,
      value: vNew,
      valueSignature: s,
      timeStampSignature: sts,
      dateTime,
    });
    const record: UsageRecord = {
      cardId: idu,
      valueBefore: v,
      valueAfter: vNew,
      charge,
      terminalNonce: rNonce,
      cardNonce: x,
      cardSignature: su,
      terminalSignature: s,
      dateTime,
      previous,
    };
    // From here the card may commit V' without our hearing of it (power cut, lost answer).
    const key = toHex(idu);
    this.#unfinished.set(key, { record, valueSignature: s });
    const answer = await card.transmit(A.updateValue(info.encode()));
    if (answer.sw !== SW_NO_ERROR) {
      this.#unfinished.delete(key); // the card refused: its commit did not happen
      throw new SettlementError('card-refused', 'UPDATE VALUE', answer.sw);
    }
    const rec = parse(() => ServiceRecord.decode(answer.data), 'service record');
    this.#checkServiceRecord(rec, cardVerifier, record);
    this.#unfinished.delete(key);
    this.#records.push(record);
    this.#services.push(rec);
    return { cardId: idu, valueBefore: v, valueAfter: vNew, charge, serviceRecord: rec, usageInfo: info };
  }

  /**
   * The previous state the card's V continues from (the seed's usage/management information h):
   * the record the card names as its latest (`lastWasRecharge`: the signed value, else the last
   * usage), whose value must be V. An older record that happens to match proves nothing.
   * @throws SettlementError 'value-unproven' when the latest record is missing or is not V.
   */
  #previousOf(
    v: number,
    lastWasRecharge: boolean,
    usage: UsageInfo | undefined,
    sv: SignedValue | undefined,
  ): UsageRecord['previous'] {
    if (!lastWasRecharge && usage && usage.value === v)
      return {
        terminalId: usage.terminalId,
        terminalNonce: usage.terminalNonce,
        cardNonce: usage.cardNonce,
        value: v,
      };
    if (lastWasRecharge && sv && sv.value === v) {
      const seq = new Uint8Array(4);
      new DataView(seq.buffer).setUint32(0, sv.sequence);
      return { terminalId: sv.signerId, terminalNonce: new Uint8Array(0), cardNonce: seq, value: v };
    }
    throw new SettlementError(
      'value-unproven',
      `V = ${v} is not the value of the card's latest record (${lastWasRecharge ? 'signed value' : 'usage'})`,
    );
  }

  /**
   * Settles this card's unfinished session, if any (see the header): reads the card's usage info
   * (02) and service record (06); when the usage info is this terminal's update of that session,
   * keeps the usage record and the verified service record for the upload, once.
   * @returns true when a session was recovered.
   * @throws SettlementError 'bad-service-record' when the update was taken but the card's record
   *   does not verify or is not of that session: the usage record is then listed in `abandoned`,
   *   not uploaded (the centre would refuse it without the card's record — 'unconfirmed-by-card').
   */
  async #recover(card: CardChannel, idu: Uint8Array, cardVerifier: Verifier): Promise<boolean> {
    const key = toHex(idu);
    const u = this.#unfinished.get(key);
    if (!u) return false;
    const usageDer = await this.#ok(card, A.readObject(SETTLE_OBJ_USAGE_INFO), 'READ USAGE INFO');
    const recDer = await this.#ok(card, A.readObject(SETTLE_OBJ_SERVICE_RECORD), 'READ SERVICE RECORD');
    this.#unfinished.delete(key);
    const r = u.record;
    let info: UsageInfo | undefined;
    try {
      info = usageDer.length > 0 ? UsageInfo.decode(usageDer) : undefined;
    } catch (e) {
      if (!(e instanceof MalformedDataError)) throw e;
    }
    const ours =
      info !== undefined &&
      sameBytes(info.cardId, idu) &&
      sameBytes(info.terminalId, this.idt) &&
      sameBytes(info.terminalNonce, r.terminalNonce) &&
      sameBytes(info.cardNonce, r.cardNonce) &&
      info.value === r.valueAfter &&
      info.dateTime === r.dateTime &&
      // our S over exactly this session's V' — not byte-equal to the one we sent: a second valid
      // signature over the same input (ECDSA s' = n - s, made on the way to the card) is still ours
      this.#ownVerifier.verify(
        terminalValueInput({
          cardId: idu,
          terminalId: this.idt,
          terminalNonce: r.terminalNonce,
          cardNonce: r.cardNonce,
          value: r.valueAfter,
          dateTime: r.dateTime,
        }),
        info.valueSignature,
      );
    if (!ours) {
      this.#abandoned.push(r);
      return false;
    }
    // the centre clears no usage record without the card's record of the same session: one whose
    // record does not verify stays out of the upload (listed as abandoned, with the refusal)
    try {
      const rec = parse(() => ServiceRecord.decode(recDer), 'recovered service record');
      this.#checkServiceRecord(rec, cardVerifier, r);
      this.#records.push(r);
      this.#services.push(rec);
    } catch (e) {
      this.#abandoned.push(r);
      throw e;
    }
    return true;
  }

  /**
   * Settles an unfinished session with this card at once (a retry after a lost UPDATE VALUE
   * answer): SELECT, the card's certificate checked, then as {@link serve} does first.
   * @returns true when a session was recovered (its records now wait for the upload).
   * @throws SettlementError (recorded) as serve's first steps.
   */
  async recover(card: CardChannel): Promise<boolean> {
    let cardId: Uint8Array | undefined;
    try {
      const fci = await this.#ok(card, A.selectSettle(), 'SELECT');
      cardId = findTlv(fci, 0x5a);
      if (!cardId) throw new SettlementError('malformed', 'FCI lacks the IDU');
      if (!this.#unfinished.has(toHex(cardId))) return false;
      const certDer = await this.#ok(card, A.readObject(SETTLE_OBJ_CARD_CERTIFICATE), 'READ CERTIFICATE');
      const cert = parse(() => Certificate.decode(certDer), 'card certificate');
      const verifier = pki(() => this.#trust.verifyCertificate(cert, 'card', this.#now()), 'card');
      if (!sameBytes(cert.subjectId, cardId))
        throw new SettlementError('wrong-subject', 'certificate of another IDU');
      return await this.#recover(card, cardId, verifier);
    } catch (e) {
      // a card's answer that is no TLV / DER at all is a refusal like any other (recorded)
      if (e instanceof MalformedDataError)
        this.#refuse(new SettlementError('malformed', `card answer: ${e.message}`), cardId);
      if (e instanceof SettlementError) this.#refuse(e, cardId);
      throw e;
    }
  }

  /** The card's record must verify and name exactly this session (R, X) and its V', charge and date. */
  #checkServiceRecord(rec: ServiceRecord, cardVerifier: Verifier, u: UsageRecord): void {
    try {
      verifyServiceRecord(rec, cardVerifier, { cardId: u.cardId, terminalId: this.idt });
    } catch (e) {
      if (e instanceof SettlementPkiError) throw new SettlementError('bad-service-record', e.message);
      throw e;
    }
    if (
      !sameBytes(rec.terminalNonce, u.terminalNonce) ||
      !sameBytes(rec.cardNonce, u.cardNonce) ||
      rec.charge !== u.charge ||
      rec.valueAfter !== u.valueAfter ||
      rec.dateTime !== u.dateTime
    )
      throw new SettlementError('bad-service-record', 'the record is not of this service');
  }

  /**
   * Registers a password (Figs. 13, 15): the card checks the keyed setting number against the
   * centre's PasswordSetting it holds (three tries), then the password signed by this terminal
   * over this session's R and the card's X.
   * @throws SettlementError; RangeError naming `password` / `settingNumber`.
   */
  async registerPassword(card: CardChannel, settingNumber: string, password: string): Promise<void> {
    const block = pinBlock(password);
    const ns = new TextEncoder().encode(settingNumber);
    if (ns.length < 4 || ns.length > 16) throw new RangeError('settingNumber must be 4..16 characters');
    let cardId: Uint8Array | undefined;
    try {
      const fci = await this.#ok(card, A.selectSettle(), 'SELECT');
      cardId = findTlv(fci, 0x5a);
      if (!cardId) throw new SettlementError('malformed', 'FCI lacks the IDU');
      const now = this.#now();
      const certDer = await this.#ok(card, A.readObject(SETTLE_OBJ_CARD_CERTIFICATE), 'READ CERTIFICATE');
      const cert = parse(() => Certificate.decode(certDer), 'card certificate');
      pki(() => this.#trust.verifyCertificate(cert, 'card', now), 'card');
      if (!sameBytes(cert.subjectId, cardId))
        throw new SettlementError('wrong-subject', 'certificate of another IDU');
      await this.#ok(card, A.presentTerminal(now, this.#certificate.encode()), 'PRESENT TERMINAL');
      const x = await this.#ok(card, A.getChallenge(), 'GET CHALLENGE');
      const r = this.#rng.bytes(SETTLE_NONCE_LENGTH);
      const digits = new TextEncoder().encode(password);
      const sig = signWith(
        this.#signer,
        passwordInput('terminal', {
          cardId,
          terminalId: this.idt,
          terminalNonce: r,
          cardNonce: x,
          password: digits,
        }),
      );
      const resp = await card.transmit(A.registerPassword(ns, r, block, sig));
      if (resp.sw === 0x6983)
        throw new SettlementError('password-blocked', 'setting number blocked', resp.sw);
      if ((resp.sw & 0xfff0) === 0x63c0)
        throw new SettlementError(
          'wrong-password',
          `setting number wrong, ${resp.sw & 0x0f} tries left`,
          resp.sw,
        );
      if (resp.sw !== SW_NO_ERROR) throw new SettlementError('card-refused', 'REGISTER PASSWORD', resp.sw);
    } catch (e) {
      // a card's answer that is no TLV / DER at all is a refusal like any other (recorded)
      if (e instanceof MalformedDataError)
        this.#refuse(new SettlementError('malformed', `card answer: ${e.message}`), cardId);
      if (e instanceof SettlementError) this.#refuse(e, cardId);
      throw e;
    }
  }

  /**
   * The daily upload (Fig. 9): every usage record since the last upload in one terminal-signed
   * UsageUpload, with the service records; both lists are emptied.
   */
  upload(): UploadBatch {
    const centreId = this.#trust.centreId;
    const periodEnd = Math.max(this.#now(), this.#periodStart);
    const upload = UsageUpload.sign(
      {
        centreId,
        terminalId: this.idt,
        uploadSequence: ++this.#uploadSequence,
        updateCounter: this.#t,
        periodStart: this.#periodStart,
        periodEnd,
        records: this.#records,
      },
      this.#signer,
    );
    const serviceRecords = this.#services;
    this.#records = [];
    this.#services = [];
    this.#periodStart = periodEnd;
    return { upload, serviceRecords };
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

function parse<T>(f: () => T, what: string): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof MalformedDataError) throw new SettlementError('malformed', `${what}: ${e.message}`);
    throw e;
  }
}

function pki<T>(f: () => T, what: 'card' | 'usage' | 'value'): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof SettlementPkiError)
      throw new SettlementError(pkiReason(e, what), `${what}: ${e.message}`);
    throw e;
  }
}

/** The card state a dispenser reads before asking the centre for a recharge (Fig. 7). */
export interface SettlementCardState {
  readonly cardId: Uint8Array;
  readonly value: number;
  readonly sequence: number;
  readonly services: number;
  /** stateReference of this state: the recharge value's `challenge` (card/pki SignedValue.ts). */
  readonly reference: Uint8Array;
}

/**
 * SELECT and READ OBJECT 07: the card's V, value sequence and service count, and the reference
 * the centre must bind the recharge value to (the card refuses one computed from another state).
 * @throws SettlementError 'card-refused' / 'malformed'.
 */
export async function readSettlementCardState(card: CardChannel): Promise<SettlementCardState> {
  const fci = await expectSettle(card, A.selectSettle(), 'SELECT');
  const cardId = findTlv(fci, 0x5a);
  if (!cardId) throw new SettlementError('malformed', 'FCI lacks the IDU');
  const st = await expectSettle(card, A.readObject(SETTLE_OBJ_STATUS), 'READ STATUS');
  if (st.length < 21) throw new SettlementError('malformed', 'status object too short');
  const value = u32(st, 0);
  const sequence = u32(st, 4);
  const services = u32(st, 16);
  return { cardId, value, sequence, services, reference: stateReference({ services, sequence, value }) };
}

/**
 * V + amount for a recharge of `amount` on top of `state`.
 * @throws RangeError naming `amount` when it is not an integer 0.. or the sum passes 0xFFFFFFFF.
 */
export function rechargedValue(state: Pick<SettlementCardState, 'value'>, amount: number): number {
  if (!Number.isSafeInteger(amount) || amount < 0)
    throw new RangeError('amount must be a non-negative integer');
  if (state.value + amount > 0xffffffff)
    throw new RangeError(`amount ${amount} would take V ${state.value} past 0xFFFFFFFF`);
  return state.value + amount;
}

/**
 * RECHARGE (Figs. 4C, 7): the centre's value, or a certified dispenser's with its certificate and
 * the time it presents (the card judges the certificate at that time).
 */
export async function rechargeSettlementCard(
  card: CardChannel,
  value: SignedValue,
  dispenser?: { certificate: Certificate; now: number },
): Promise<{ value: number; sequence: number }> {
  await expectSettle(card, A.selectSettle(), 'SELECT');
  const part = dispenser ? { certificate: dispenser.certificate.encode(), now: dispenser.now } : undefined;
  const r = await expectSettle(card, A.recharge(value.encode(), part), 'RECHARGE');
  return { value: u32(r, 0), sequence: u32(r, 4) };
}

/** PUT CERTIFICATE at personalisation. */
export async function certifySettlementCard(card: CardChannel, certificate: Certificate): Promise<void> {
  await expectSettle(card, A.selectSettle(), 'SELECT');
  await expectSettle(card, A.putCertificate(certificate.encode()), 'PUT CERTIFICATE');
}

/** INSTALL SETTING: the centre's PasswordSetting SA(Ns‖IDU) into the card. */
export async function installPasswordSetting(card: CardChannel, setting: PasswordSetting): Promise<void> {
  await expectSettle(card, A.selectSettle(), 'SELECT');
  await expectSettle(card, A.installSetting(setting.encode()), 'INSTALL SETTING');
}

async function expectSettle(card: CardChannel, c: CommandApdu, step: string): Promise<Uint8Array> {
  const r = await card.transmit(c);
  if (r.sw !== SW_NO_ERROR) throw new SettlementError('card-refused', step, r.sw);
  return r.data;
}
