/**
 * The settlement card of seed 004 (EP0856821): a prepaid card whose remaining value is vouched
 * for by public-key signatures — the centre's SA(V‖IDU) at issue and recharge, the terminal's
 * ST(R‖X‖V'‖IDU) at every service — so an offline terminal can check a card it never saw and a
 * card can check a terminal it never saw, each against the management centre's key alone.
 *
 * ```
 *  terminal                                card
 *  READ OBJECT 01 ───────────────────────> card Certificate SA(nU‖IDU)
 *  PRESENT TERMINAL now ‖ SA(nT‖IDT) ────> now ≥ the last signed time seen; verify: centre
 *                                          signature, kind terminal, same centre, valid at now
 *                <──────────────────────── SignedValue SA(V‖IDU) ‖ previous UsageInfo (Fig. 12)
 *                                          ‖ state flags (02: the signed value is the latest)
 *  [VERIFY password]                       (three tries, the try spent before comparing)
 *  SIGN VALUE R ─────────────────────────> X := Rng; SU(R‖X‖V)
 *                <──────────────────────── X ‖ V ‖ SU
 *  … service …
 *  UPDATE VALUE UsageInfo(V', S=ST(R‖X‖V'‖IDU), t, ST(TS_t‖S)) ──> this session's R, X and
 *                                          terminal; S verifies; V' ≤ V (else: abnormality,
 *                                          card disabled); ONE commit of V' and the usage info
 *                <──────────────────────── ServiceRecord SU(M‖IDU) (Fig. 17 evidence)
 * ```
 *
 * Persistent records (prefix `st.`): see {@link SETTLE_LAYOUT}. Volatile (lost at SELECT, reset,
 * power loss): the verified terminal, the presented time, this session's R, X and V, whether its
 * update was used, the password challenge and the password-verified flag. Lost only at reset and
 * power loss (not at SELECT): the card's private key as imported for signing (issue 13).
 *
 * Why the card takes the terminal's time only as a lower bound: the chip has no clock. It keeps
 * the latest time it has seen under a signature (a service's date-time signed by a certified
 * terminal, never an unsigned claim) and refuses any earlier "now"; certificate validity is then
 * judged at the presented time, which cannot go below that mark. A terminal with an expired
 * certificate can lie about the present only back to the last signed time the card saw.
 *
 * Why a single update per session: the terminal's ST(R‖X‖V'‖IDU) binds the card's X, drawn
 * fresh by SIGN VALUE; the session forgets X after one UPDATE (accepted or refused), so an update
 * kept from an earlier session, or sent twice in this one, never matches.
 *
 * Why a recharge is an absolute V bound to the card's state (issue 13, the minting race): the
 * centre signs V_new = V + amount from the V the dispenser read; had the card been served in
 * between, writing V_new would give the spent value back. So the value's `challenge` opens with
 * the reference services(4) ‖ sequence(4) ‖ V(4) of the state the dispenser read (READ OBJECT 07),
 * and the card takes it only while it is still in exactly that state — refused with
 * {@link SW_SETTLE_STALE_VALUE} after any service or recharge. (services, sequence) only rise, so
 * the value applies at most once and, bound to IDU, on no other card; one not yet taken (a torn
 * recharge) can be presented again. An empty challenge is taken only as the first value of a card
 * that never held one (Fig. 4C, prepared in advance). The alternative, "amount added with a
 * strictly increasing sequence", would lose a paid recharge whose sequence a later one overtook.
 *
 * Every command that changes persistent state ends in exactly one `store.commit`, but for the
 * two that spend a try before comparing (VERIFY through PinRecord, as on the purse; REGISTER
 * PASSWORD for the setting number, whose try is not given back: a registration uses the setting
 * up, and a right number with a bad terminal signature has cost its try).
 */
import type { CommandApdu } from '../../iso7816/CommandApdu.js';
import { MalformedDataError, SwError } from '../../iso7816/errors.js';
import {
  SW_AUTHENTICATION_METHOD_BLOCKED,
  SW_COUNTER_BASE,
  SW_INCORRECT_P1P2,
  SW_INS_NOT_SUPPORTED,
  SW_REFERENCED_DATA_NOT_FOUND,
  SW_SECURITY_STATUS_NOT_SATISFIED,
  SW_WRONG_DATA,
  SW_WRONG_LENGTH,
} from '../../iso7816/sw.js';
import type { Rng } from '../../crypto/types.js';
import type { SignatureAlgorithm, SignatureProvider } from '../../crypto/signature.js';
import { checkSignatureAlgorithm } from '../../crypto/signature.js';
import { wipe } from '../../crypto/wipe.js';
import { verifyMac } from '../../crypto/mac.js';
import { be32, be64, u32, u64 } from '../../util/bigEndian.js';
import { concatBytes, equalBytes } from '../../util/hex.js';
import type { Application } from '../platform/RuntimeApplet.js';
import type { RecordStore, StoreWrite } from '../platform/RecordStore.js';
import type { RecordLayout } from '../platform/RegionRecordStore.js';
import { PinRecord, isPinBlock } from '../platform/PinRecord.js';
import { BlobRecords } from './BlobRecords.js';
import { generateCardKeyPair } from './cardKeyPair.js';
import {
  SETTLE_ABNORMAL_BAD_TERMINAL_SIGNATURE,
  SETTLE_ABNORMAL_VALUE_INCREASE,
  AID_SETTLE,
  INS_SETTLE_GET_CHALLENGE,
  INS_SETTLE_INSTALL_SETTING,
  INS_SETTLE_PRESENT_TERMINAL,
  INS_SETTLE_PUT_CERTIFICATE,
  INS_SETTLE_READ_OBJECT,
  INS_SETTLE_RECHARGE,
  INS_SETTLE_REGISTER_PASSWORD,
  INS_SETTLE_SIGN_VALUE,
  INS_SETTLE_UPDATE_VALUE,
  INS_SETTLE_VERIFY,
  SETTLE_OBJ_ABNORMALITY_LOG,
  SETTLE_OBJ_CARD_CERTIFICATE,
  SETTLE_OBJ_PUBLIC_KEY,
  SETTLE_OBJ_SERVICE_RECORD,
  SETTLE_OBJ_SIGNED_VALUE,
  SETTLE_OBJ_STATUS,
  SETTLE_OBJ_USAGE_INFO,
  SETTLE_ABNORMALITY_SLOTS,
  SETTLE_NONCE_LENGTH,
  SETTLE_PASSWORD_REF,
  SW_SETTLE_BAD_SIGNATURE,
  SW_SETTLE_DISABLED,
  SW_SETTLE_NOT_THIS_CARD,
  SW_SETTLE_NO_SESSION,
  SW_SETTLE_REPLAY,
  SW_SETTLE_TIME_BACKWARDS,
  SW_SETTLE_VALUE_INCREASE,
  SW_SETTLE_STALE_VALUE,
  SW_SETTLE_EXHAUSTED,
  SETTLE_TAG_SIGNED_VALUE,
  SETTLE_TAG_STATE_FLAGS,
  SETTLE_TAG_USAGE_INFO,
} from './constants.js';
import { stateReference } from '../../pki/SignedValue.js';
import {
  type Anchor,
  PkiRefusal,
  anchorOf,
  cardValueInput,
  decodeUsageInfo,
  passwordInput,
  signServiceRecord,
  swOfRefusal,
  terminalValueInput,
  verifyCertificate,
  verifyPasswordSetting,
  verifySignedValue,
} from './pkiAdapter.js';
import type { Signer } from '../../crypto/signature.js';

export const KEY_ID = 'st.id';
export const KEY_ALG = 'st.alg';
export const KEY_STATE = 'st.state';
export const KEY_SETTING_TERM = 'st.set.term';
export const KEY_SETTING_TRIES = 'st.set.tries';
export const KEY_PW = 'st.pw';
export const KEY_AB_HEAD = 'st.ab.h';
export const keyAb = (i: number): string => `st.ab.${i}`;
export const BLOB_PRIVATE = new BlobRecords('st.priv', 6);
export const BLOB_PUBLIC = new BlobRecords('st.pub', 2);
export const BLOB_ANCHOR = new BlobRecords('st.anchor', 5);
export const BLOB_CERT = new BlobRecords('st.cert', 5);
export const BLOB_SIGNED_VALUE = new BlobRecords('st.sv', 4);
export const BLOB_USAGE = new BlobRecords('st.usage', 14);
export const BLOB_SERVICE = new BlobRecords('st.svc', 4);
export const BLOB_SETTING = new BlobRecords('st.set', 3);

/** Record layout (positional: never reorder; add at the end). */
export const SETTLE_LAYOUT: RecordLayout = [
  [KEY_ID, 32],
  [KEY_ALG, 32],
  [KEY_STATE, 21],
  [KEY_SETTING_TERM, 8],
  [KEY_SETTING_TRIES, 1],
  [KEY_PW, 10],
  [KEY_AB_HEAD, 1],
  ...Array.from({ length: SETTLE_ABNORMALITY_SLOTS }, (_, i) => [keyAb(i), 64] as const),
  ...BLOB_PRIVATE.layout(),
  ...BLOB_PUBLIC.layout(),
  ...BLOB_ANCHOR.layout(),
  ...BLOB_CERT.layout(),
  ...BLOB_SIGNED_VALUE.layout(),
  ...BLOB_USAGE.layout(),
  ...BLOB_SERVICE.layout(),
  ...BLOB_SETTING.layout(),
];

export const SETTLE_INS: readonly number[] = [
  INS_SETTLE_READ_OBJECT,
  INS_SETTLE_PRESENT_TERMINAL,
  INS_SETTLE_SIGN_VALUE,
  INS_SETTLE_UPDATE_VALUE,
  INS_SETTLE_RECHARGE,
  INS_SETTLE_REGISTER_PASSWORD,
  INS_SETTLE_PUT_CERTIFICATE,
  INS_SETTLE_INSTALL_SETTING,
  INS_SETTLE_GET_CHALLENGE,
  INS_SETTLE_VERIFY,
];

const FLAG_DISABLED = 0x01;
const FLAG_LAST_RECHARGE = 0x02;
const PASSWORD_TRIES = 3;
const EMPTY = new Uint8Array(0);

/**
 * `st.state` (21 bytes):
 * ```
 *   0 V (4)   4 sequence of the last SignedValue (4)   8 last signed time, ms (8)
 *  16 services done (4)   20 flags (1: 01 disabled, 02 the last change was a recharge)
 * ```
 */
export class SettleState {
  constructor(
    readonly value: number,
    readonly sequence: number,
    readonly lastTime: number,
    readonly services: number,
    readonly flags: number,
  ) {}
  static decode(b: Uint8Array): SettleState {
    return new SettleState(u32(b, 0), u32(b, 4), Number(u64(b, 8)), u32(b, 16), b[20]!);
  }
  encode(): Uint8Array {
    return concatBytes(
      be32(this.value),
      be32(this.sequence),
      be64(BigInt(this.lastTime)),
      be32(this.services),
      Uint8Array.of(this.flags),
    );
  }
  get disabled(): boolean {
    return (this.flags & FLAG_DISABLED) !== 0;
  }
  with(f: Partial<Pick<SettleState, 'value' | 'sequence' | 'lastTime' | 'services' | 'flags'>>): SettleState {
    return new SettleState(
      f.value ?? this.value,
      f.sequence ?? this.sequence,
      f.lastTime ?? this.lastTime,
      f.services ?? this.services,
      f.flags ?? this.flags,
    );
  }
}

/** What a fresh settlement card is personalised with (its key pair it makes itself). */
export interface SettlementPersonalisation {
  /** IDU, 1..32 bytes. */
  idu: Uint8Array;
  /** The centre's self-signed certificate (trust anchor). */
  anchor: Uint8Array;
  /** The card's key algorithm. */
  algorithm: SignatureAlgorithm;
}

interface TerminalSession {
  readonly cert: Uint8Array;
  readonly idt: Uint8Array;
  readonly notAfter: number;
  readonly verify: (data: Uint8Array, sig: Uint8Array) => boolean;
}

interface ValueSession {
  readonly r: Uint8Array;
  readonly x: Uint8Array;
  readonly v: number;
}

export class SettlementApplet implements Application {
  readonly aid = AID_SETTLE;
  readonly #store: RecordStore;
  readonly #rng: Rng;
  readonly #provider: SignatureProvider;
  readonly #pin: PinRecord;
  #anchor: Anchor | undefined;
  #terminal: TerminalSession | undefined;
  #now = 0;
  #signed: ValueSession | undefined;
  #used = false;
  #challenge: Uint8Array | undefined;
  /**
   * The card's private key imported once (issue 13: importing it for each signature was a third
   * of a settlement), kept while the card is powered and dropped by {@link powerReset}. The key's
   * bytes stay only in the store; the copy read to import it is wiped at once.
   */
  #keySigner: Signer | undefined;

  constructor(store: RecordStore, rng: Rng, provider: SignatureProvider) {
    this.#store = store;
    this.#rng = rng;
    this.#provider = provider;
    this.#pin = new PinRecord(store, KEY_PW);
  }

  /**
   * Writes a fresh card's records in one commit, with a key pair the card draws from its Rng.
   * @throws RangeError / TypeError naming the field that does not fit; PkiRefusal when the
   *   anchor is not a valid self-signed centre certificate.
   */
  static personalise(
    store: RecordStore,
    rng: Rng,
    provider: SignatureProvider,
    p: SettlementPersonalisation,
  ): void {
    if (!(p.idu instanceof Uint8Array) || p.idu.length < 1 || p.idu.length > 32)
      throw new RangeError('idu must be 1..32 bytes');
    checkSignatureAlgorithm(p.algorithm);
    anchorOf(p.anchor, provider); // refuses a bad anchor before anything is written
    const pair = generateCardKeyPair(p.algorithm, rng);
    const alg = new TextEncoder().encode(p.algorithm);
    const writes: StoreWrite[] = [
      [KEY_ID, p.idu.slice()],
      [KEY_ALG, alg],
      [KEY_STATE, new SettleState(0, 0, 0, 0, 0).encode()],
      [KEY_AB_HEAD, Uint8Array.of(0)],
      ...BLOB_PRIVATE.writes(pair.privateKey),
      ...BLOB_PUBLIC.writes(pair.publicKey),
      ...BLOB_ANCHOR.writes(p.anchor),
    ];
    store.commit(writes);
    wipe(pair.privateKey);
  }

  reset(): void {
    this.#terminal = undefined;
    this.#now = 0;
    this.#endValueSession();
    this.#used = false;
    if (this.#challenge) wipe(this.#challenge);
    this.#challenge = undefined;
    this.#pin.reset();
  }

  /**
   * Power-down, warm or cold reset (the OS's, not a SELECT): {@link reset}, and the card's
   * imported private key is forgotten. The anchor's verifier and the parsed subject keys of
   * verified certificates are public and stay, as the anchor did before (issue 13).
   */
  powerReset(): void {
    this.reset();
    this.#keySigner = undefined;
  }

  #endValueSession(): void {
    if (this.#signed) wipe(this.#signed.r, this.#signed.x);
    this.#signed = undefined;
  }

  get #idu(): Uint8Array {
    return this.#store.view(KEY_ID)!;
  }

  get #algorithm(): SignatureAlgorithm {
    return new TextDecoder().decode(this.#store.view(KEY_ALG)!) as SignatureAlgorithm;
  }

  #state(): SettleState {
    return SettleState.decode(this.#store.view(KEY_STATE)!);
  }

  #getAnchor(): Anchor {
    return (this.#anchor ??= anchorOf(BLOB_ANCHOR.read(this.#store)!, this.#provider));
  }

  /**
   * Signs with the card's private key (it never leaves the chip): imported at the first signature
   * after power-up (the bytes read for it wiped at once), then kept until {@link powerReset}.
   */
  #sign(data: Uint8Array): Uint8Array {
    if (this.#keySigner === undefined) {
      const key = BLOB_PRIVATE.read(this.#store)!;
      try {
        this.#keySigner = this.#provider.signer(this.#algorithm, key);
      } finally {
        wipe(key);
      }
    }
    return this.#keySigner.sign(data);
  }

  /** FCI: 6F { 84 AID, A5 { 5A IDU, C1 flags (01 disabled, 02 password registered, 04 certified) } }. */
  select(): Uint8Array {
    const idu = this.#idu;
    const s = this.#state();
    const flags =
      (s.disabled ? 1 : 0) | (this.#store.view(KEY_PW) ? 2 : 0) | (BLOB_CERT.read(this.#store) ? 4 : 0);
    const a5 = concatBytes(Uint8Array.of(0x5a, idu.length), idu, Uint8Array.of(0xc1, 1, flags));
    const body = concatBytes(
      Uint8Array.of(0x84, this.aid.length),
      this.aid,
      Uint8Array.of(0xa5, a5.length),
      a5,
    );
    return concatBytes(Uint8Array.of(0x6f, body.length), body);
  }

  process(c: CommandApdu): Uint8Array {
    if (c.cla === 0x80 && c.ins === INS_SETTLE_READ_OBJECT) return this.#readObject(c);
    const known =
      c.cla === 0x80
        ? [
            INS_SETTLE_PRESENT_TERMINAL,
            INS_SETTLE_SIGN_VALUE,
            INS_SETTLE_UPDATE_VALUE,
            INS_SETTLE_RECHARGE,
            INS_SETTLE_REGISTER_PASSWORD,
            INS_SETTLE_PUT_CERTIFICATE,
            INS_SETTLE_INSTALL_SETTING,
          ].includes(c.ins)
        : c.ins === INS_SETTLE_GET_CHALLENGE || c.ins === INS_SETTLE_VERIFY;
    if (!known) throw new SwError(SW_INS_NOT_SUPPORTED);
    // A disabled card answers nothing but SELECT and READ OBJECT (Fig. 5: "to prevent its further use").
    if (this.#state().disabled) throw new SwError(SW_SETTLE_DISABLED);
    if (c.cla === 0x80) {
      switch (c.ins) {
        case INS_SETTLE_PRESENT_TERMINAL:
          return this.#presentTerminal(c);
        case INS_SETTLE_SIGN_VALUE:
          return this.#signValue(c);
        case INS_SETTLE_UPDATE_VALUE:
          return this.#updateValue(c);
        case INS_SETTLE_RECHARGE:
          return this.#recharge(c);
        case INS_SETTLE_REGISTER_PASSWORD:
          return this.#registerPassword(c);
        case INS_SETTLE_INSTALL_SETTING:
          return this.#installSetting(c);
        default:
          return this.#putCertificate(c);
      }
    }
    return c.ins === INS_SETTLE_GET_CHALLENGE ? this.#getChallenge(c) : this.#verify(c);
  }

  #p1p2zero(c: CommandApdu): void {
    if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
  }

  /** READ OBJECT 80 30 obj 00: public objects only (never the private key). */
  #readObject(c: CommandApdu): Uint8Array {
    if (c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 0) throw new SwError(SW_WRONG_LENGTH);
    const need = (b: Uint8Array | undefined): Uint8Array => {
      if (!b) throw new SwError(SW_REFERENCED_DATA_NOT_FOUND);
      return b;
    };
    switch (c.p1) {
      case SETTLE_OBJ_CARD_CERTIFICATE:
        return need(BLOB_CERT.read(this.#store));
      case SETTLE_OBJ_USAGE_INFO:
        return BLOB_USAGE.read(this.#store) ?? EMPTY;
      case SETTLE_OBJ_SIGNED_VALUE:
        return need(BLOB_SIGNED_VALUE.read(this.#store));
      case SETTLE_OBJ_ABNORMALITY_LOG:
        return this.#abnormalityLog();
      case SETTLE_OBJ_PUBLIC_KEY:
        return need(BLOB_PUBLIC.read(this.#store));
      case SETTLE_OBJ_SERVICE_RECORD:
        return BLOB_SERVICE.read(this.#store) ?? EMPTY;
      case SETTLE_OBJ_STATUS: {
        const pw = this.#store.view(KEY_PW);
        return concatBytes(this.#state().encode(), Uint8Array.of(pw ? pw[0]! : 0xff));
      }
    }
    throw new SwError(SW_INCORRECT_P1P2);
  }

  /** Newest first; each entry `code(1) ‖ time(8) ‖ V(4) ‖ V'(4) ‖ n(1) ‖ IDT(n)`, prefixed by its length. */
  #abnormalityLog(): Uint8Array {
    const head = this.#store.view(KEY_AB_HEAD)?.[0] ?? 0;
    const out: Uint8Array[] = [];
    for (let i = 1; i <= SETTLE_ABNORMALITY_SLOTS; i++) {
      const e = this.#store.view(keyAb((head - i + 2 * SETTLE_ABNORMALITY_SLOTS) % SETTLE_ABNORMALITY_SLOTS));
      if (e) out.push(Uint8Array.of(e.length), e);
    }
    return concatBytes(...out);
  }

  /** The writes that add one abnormality entry (to go in the same commit as what it explains). */
  #abnormality(code: number, v: number, vNew: number, idt: Uint8Array): StoreWrite[] {
    const head = this.#store.view(KEY_AB_HEAD)?.[0] ?? 0;
    const entry = concatBytes(
      Uint8Array.of(code),
      be64(BigInt(this.#now)),
      be32(v),
      be32(vNew),
      Uint8Array.of(idt.length),
      idt.subarray(0, 32),
    );
    return [
      [keyAb(head % SETTLE_ABNORMALITY_SLOTS), entry],
      [KEY_AB_HEAD, Uint8Array.of((head + 1) % SETTLE_ABNORMALITY_SLOTS)],
    ];
  }

  /**
   * PUT CERTIFICATE 80 3C 00 00 Lc Certificate: the centre's SA(nU‖IDU) for this card's own key
   * (personalisation, Fig. 4B: "the IC card verifies the master digital signature ... and, if it
   * is valid, records"). Must be of kind card, of the anchor's centre, for this IDU and for the
   * public key the card generated.
   * @throws SwError 9411..9414 for a bad certificate, 9418 when it names another card or key.
   */
  #putCertificate(c: CommandApdu): Uint8Array {
    this.#p1p2zero(c);
    if (c.nc === 0 || c.nc > BLOB_CERT.maxLength) throw new SwError(SW_WRONG_LENGTH);
    const der = c.data;
    const { info } = this.#pki(() => verifyCertificate(this.#getAnchor(), der, 'card', undefined));
    if (!equalBytes(info.subjectId, this.#idu))
      throw new SwError(SW_SETTLE_NOT_THIS_CARD, 'certificate of another IDU');
    if (!equalBytes(info.subjectPublicKey, BLOB_PUBLIC.read(this.#store)!))
      throw new SwError(SW_SETTLE_NOT_THIS_CARD, 'certificate of another key');
    if (info.subjectKeyAlgorithm !== this.#algorithm)
      throw new SwError(SW_SETTLE_NOT_THIS_CARD, 'certificate of another algorithm');
    this.#store.commit(BLOB_CERT.writes(der));
    return EMPTY;
  }

  /** Runs a pki check; its typed refusal becomes the matching status word. */
  #pki<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof PkiRefusal) throw new SwError(swOfRefusal(e.reason), e.message);
      if (e instanceof MalformedDataError) throw new SwError(SW_WRONG_DATA, e.message);
      throw e;
    }
  }

  /**
   * PRESENT TERMINAL 80 32 00 00 Lc now(8, ms) ‖ Certificate: the terminal's SA(nT‖IDT), checked
   * before anything else of the session; the answer is the card's value evidence, BER-TLV
   * `E1 SignedValue` (when issued) `E2 UsageInfo` (when served before) `C2 flags` (always; 02 =
   * the last change of V was a recharge, so E1 proves V, else E2 does).
   * @throws SwError 9419 when now is before the last signed time; 9411..9414 for the certificate.
   */
  #presentTerminal(c: CommandApdu): Uint8Array {
    this.#p1p2zero(c);
    if (c.nc < 9) throw new SwError(SW_WRONG_LENGTH);
    this.reset();
    const d = c.data;
    const now = Number(u64(d, 0));
    const st = this.#state();
    if (!Number.isSafeInteger(now) || now < st.lastTime) throw new SwError(SW_SETTLE_TIME_BACKWARDS);
    const der = d.slice(8);
    const { info, verify } = this.#pki(() => verifyCertificate(this.#getAnchor(), der, 'terminal', now));
    this.#terminal = { cert: der, idt: info.subjectId, notAfter: info.notAfter, verify };
    this.#now = now;
    const sv = BLOB_SIGNED_VALUE.read(this.#store);
    const usage = BLOB_USAGE.read(this.#store);
    // C2: which of the two proves V — the terminal must not pick whichever matches (issue 13).
    return concatBytes(
      sv ? berTlv(SETTLE_TAG_SIGNED_VALUE, sv) : EMPTY,
      usage ? berTlv(SETTLE_TAG_USAGE_INFO, usage) : EMPTY,
      berTlv(SETTLE_TAG_STATE_FLAGS, Uint8Array.of(st.flags)),
    );
  }

  /**
   * SIGN VALUE 80 34 00 00 10 R 00 → X(16) ‖ V(4) ‖ SU(R‖X‖V) (Fig. 6; the signed input also
   * names IDU and IDT). Once per session, after PRESENT TERMINAL, and after VERIFY when a
   * password is registered.
   * @throws SwError 941A without a verified terminal; 9417 for a second one; 6982 password first;
   *   941C when the service counter is at 0xFFFFFFFF (no record could be numbered).
   */
  #signValue(c: CommandApdu): Uint8Array {
    this.#p1p2zero(c);
    if (c.nc !== SETTLE_NONCE_LENGTH) throw new SwError(SW_WRONG_LENGTH);
    const t = this.#terminal;
    if (!t) throw new SwError(SW_SETTLE_NO_SESSION, 'present a terminal certificate first');
    if (this.#signed || this.#used) throw new SwError(SW_SETTLE_REPLAY, 'one value per session');
    if (this.#store.view(KEY_PW) && !this.#pin.verified) throw new SwError(SW_SECURITY_STATUS_NOT_SATISFIED);
    // The service record's cardSequence is a Counter (u32): the last one is 0xFFFFFFFF. Refused
    // here, before an X is drawn, so no update can come that the card could not record.
    if (this.#state().services >= 0xffffffff) throw new SwError(SW_SETTLE_EXHAUSTED);
    const r = c.data;
    const x = this.#rng.bytes(SETTLE_NONCE_LENGTH);
    const v = this.#state().value;
    const sig = this.#sign(
      cardValueInput({ cardId: this.#idu, terminalId: t.idt, terminalNonce: r, cardNonce: x, value: v }),
    );
    this.#signed = { r, x, v };
    return concatBytes(x, be32(v), sig);
  }

  /**
   * UPDATE VALUE 80 36 00 00 Lc UsageInfo → ServiceRecord (Figs. 6, 12, 17). The usage info must
   * carry this session's terminal certificate, R and X, and S = ST(R‖X‖V'‖IDU) under that
   * terminal's key; V' ≤ V. One commit writes V', the last signed time, the usage info and the
   * card's service record SU(M‖IDU); a V' above V instead commits the abnormality and the
   * disabled flag.
   * @throws SwError 941A out of session; 9417 used or another session's; 9418 another terminal /
   *   card; 9415 bad signature (logged); 9416 value increase (card disabled); 9419 bad time.
   */
  #updateValue(c: CommandApdu): Uint8Array {
    this.#p1p2zero(c);
    if (c.nc === 0 || c.nc > BLOB_USAGE.maxLength) throw new SwError(SW_WRONG_LENGTH);
    const t = this.#terminal;
    const signed = this.#signed;
    if (this.#used) throw new SwError(SW_SETTLE_REPLAY, 'the session’s update was used');
    if (!t || !signed) throw new SwError(SW_SETTLE_NO_SESSION, 'no signed value in this session');
    const s = { r: signed.r.slice(), x: signed.x.slice(), v: signed.v };
    const der = c.data;
    const u = this.#pki(() => decodeUsageInfo(der));
    // From here on the session's X is spent, whatever the outcome.
    this.#used = true;
    this.#endValueSession();
    if (!equalBytes(u.terminalNonce, s.r) || !equalBytes(u.cardNonce, s.x))
      throw new SwError(SW_SETTLE_REPLAY, 'R or X of another session');
    if (!equalBytes(u.terminalCertificate.encode(), t.cert) || !equalBytes(u.terminalId, t.idt))
      throw new SwError(SW_SETTLE_NOT_THIS_CARD, 'another terminal than the one presented');
    const idu = this.#idu;
    if (!equalBytes(u.cardId, idu)) throw new SwError(SW_SETTLE_NOT_THIS_CARD, 'usage of another card');
    const st = this.#state();
    const input = terminalValueInput({
      cardId: idu,
      terminalId: t.idt,
      terminalNonce: s.r,
      cardNonce: s.x,
      value: u.value,
      dateTime: u.dateTime,
    });
    if (!t.verify(input, u.valueSignature)) {
      this.#store.commit(this.#abnormality(SETTLE_ABNORMAL_BAD_TERMINAL_SIGNATURE, s.v, u.value, t.idt));
      throw new SwError(SW_SETTLE_BAD_SIGNATURE);
    }
    if (u.dateTime < st.lastTime || u.dateTime < this.#now || u.dateTime > t.notAfter)
      throw new SwError(SW_SETTLE_TIME_BACKWARDS, 'usage time outside the session');
    if (u.value > s.v) {
      this.#store.commit([
        [KEY_STATE, st.with({ flags: st.flags | FLAG_DISABLED }).encode()],
        ...this.#abnormality(SETTLE_ABNORMAL_VALUE_INCREASE, s.v, u.value, t.idt),
      ]);
      throw new SwError(SW_SETTLE_VALUE_INCREASE);
    }
    const services = st.services + 1;
    const record = signServiceRecord(
      {
        cardId: idu,
        terminalId: t.idt,
        cardSequence: services,
        terminalNonce: s.r,
        cardNonce: s.x,
        charge: s.v - u.value,
        valueAfter: u.value,
        dateTime: u.dateTime,
      },
      this.#signer(),
    );
    this.#store.commit([
      [
        KEY_STATE,
        st
          .with({ value: u.value, lastTime: u.dateTime, services, flags: st.flags & ~FLAG_LAST_RECHARGE })
          .encode(),
      ],
      ...BLOB_USAGE.writes(der),
      ...BLOB_SERVICE.writes(record),
    ]);
    return record;
  }

  #signer(): Signer {
    return { algorithm: this.#algorithm, sign: (d) => this.#sign(d) };
  }

  /**
   * RECHARGE 80 38 00 00 Lc SignedValue → V(4) ‖ seq(4) (Figs. 4C, 7): the centre's SA(V‖IDU)
   * for this card; P1 = 01: `now(8) ‖ n(2) ‖ SignedValue(n) ‖ Certificate`, a certified
   * dispenser's value, its certificate judged at the presented `now` (not before the last signed
   * time the card saw). Its sequence strictly above the last one taken, its term not over at the
   * last signed time the card saw (or this session's / the presented time), and its challenge
   * the reference of the card's present state (see the header; empty only for a first value).
   * V becomes the signed value.
   * @throws SwError 9411 not the centre's; 9418 another card; 9417 sequence not fresh; 9413
   *   expired; 941B computed from another card state; 9419 presented time before the last signed.
   */
  #recharge(c: CommandApdu): Uint8Array {
    if (c.p1 > 1 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    const st = this.#state();
    let now = Math.max(st.lastTime, this.#now);
    let der = c.data;
    let dispenser: Uint8Array | undefined;
    if (c.p1 === 1) {
      if (der.length < 10) throw new SwError(SW_WRONG_LENGTH);
      const presented = Number(u64(der, 0));
      if (!Number.isSafeInteger(presented) || presented < st.lastTime)
        throw new SwError(SW_SETTLE_TIME_BACKWARDS);
      now = Math.max(now, presented);
      const n = (der[8]! << 8) | der[9]!;
      if (n === 0 || 10 + n >= der.length) throw new SwError(SW_WRONG_LENGTH);
      dispenser = der.slice(10 + n);
      der = der.slice(10, 10 + n);
    }
    if (der.length === 0 || der.length > BLOB_SIGNED_VALUE.maxLength) throw new SwError(SW_WRONG_LENGTH);
    const sv = this.#pki(() => verifySignedValue(this.#getAnchor(), der, now, dispenser));
    if (!equalBytes(sv.cardId, this.#idu))
      throw new SwError(SW_SETTLE_NOT_THIS_CARD, 'value for another card');
    if (sv.sequence <= st.sequence) throw new SwError(SW_SETTLE_REPLAY, 'sequence not above the last');
    const first = st.sequence === 0 && st.services === 0 && sv.challenge.length === 0;
    const ref = stateReference(st);
    if (!first && !equalBytes(sv.challenge.subarray(0, ref.length), ref))
      throw new SwError(SW_SETTLE_STALE_VALUE, 'value computed from another card state');
    this.#store.commit([
      [
        KEY_STATE,
        st.with({ value: sv.value, sequence: sv.sequence, flags: st.flags | FLAG_LAST_RECHARGE }).encode(),
      ],
      ...BLOB_SIGNED_VALUE.writes(der),
    ]);
    this.reset();
    return concatBytes(be32(sv.value), be32(sv.sequence));
  }

  /**
   * INSTALL SETTING 80 3E 00 00 Lc PasswordSetting (Fig. 13, at issue or when the centre issues
   * a new one): the centre's SA(Ns‖IDU) for this card, with a term later than the last setting
   * the card took (an old setting cannot be put back); the setting's three tries start afresh.
   * @throws SwError 9411/9413/9414 for the setting; 9418 another card; 9417 not newer.
   */
  #installSetting(c: CommandApdu): Uint8Array {
    this.#p1p2zero(c);
    if (c.nc === 0 || c.nc > BLOB_SETTING.maxLength) throw new SwError(SW_WRONG_LENGTH);
    const der = c.data;
    const st = this.#state();
    const ps = this.#pki(() =>
      verifyPasswordSetting(this.#getAnchor(), der, Math.max(st.lastTime, this.#now)),
    );
    if (!equalBytes(ps.cardId, this.#idu))
      throw new SwError(SW_SETTLE_NOT_THIS_CARD, 'setting for another card');
    const last = this.#store.view(KEY_SETTING_TERM);
    if (last && ps.notAfter <= Number(u64(last, 0))) throw new SwError(SW_SETTLE_REPLAY, 'setting not newer');
    this.#store.commit([
      ...BLOB_SETTING.writes(der),
      [KEY_SETTING_TERM, be64(BigInt(ps.notAfter))],
      [KEY_SETTING_TRIES, Uint8Array.of(PASSWORD_TRIES)],
    ]);
    return EMPTY;
  }

  /** GET CHALLENGE 00 84 00 00 10 → X (the password registration's card nonce, Fig. 15). */
  #getChallenge(c: CommandApdu): Uint8Array {
    this.#p1p2zero(c);
    if (c.nc !== 0) throw new SwError(SW_WRONG_LENGTH);
    if (!this.#terminal) throw new SwError(SW_SETTLE_NO_SESSION, 'present a terminal certificate first');
    if (this.#challenge) wipe(this.#challenge);
    this.#challenge = this.#rng.bytes(SETTLE_NONCE_LENGTH);
    return this.#challenge.slice();
  }

  /**
   * REGISTER PASSWORD 80 3A 00 00 Lc n(1) ‖ Ns'(n) ‖ R(16) ‖ block(8) ‖ ST(R‖X‖Nc) (Figs. 13, 15):
   * the setting number the user keyed, checked against the installed setting with three tries
   * (the try spent in its own commit BEFORE comparing, as PinRecord does); then the password
   * signed by this session's certified terminal over this session's R and the card's challenge X.
   * The setting is used up: the next registration needs a fresh one from the centre.
   * @throws SwError 941A no terminal / challenge; 6A88 no setting; 63Cx / 6983 wrong Ns;
   *   9415 bad terminal signature; 6A80 not a 4..8-digit block.
   */
  #registerPassword(c: CommandApdu): Uint8Array {
    this.#p1p2zero(c);
    const d = c.data;
    const n = d[0] ?? 0;
    if (n < 4 || n > 16 || d.length < 1 + n + SETTLE_NONCE_LENGTH + 8 + 1) throw new SwError(SW_WRONG_LENGTH);
    const t = this.#terminal;
    const x = this.#challenge;
    this.#challenge = undefined;
    if (!t || !x) throw new SwError(SW_SETTLE_NO_SESSION, 'terminal and GET CHALLENGE first');
    const setting = BLOB_SETTING.read(this.#store);
    if (!setting) throw new SwError(SW_REFERENCED_DATA_NOT_FOUND, 'no password setting installed');
    const ns = d.subarray(1, 1 + n);
    const r = d.subarray(1 + n, 1 + n + SETTLE_NONCE_LENGTH);
    const block = d.subarray(1 + n + SETTLE_NONCE_LENGTH, 1 + n + SETTLE_NONCE_LENGTH + 8);
    const sig = d.subarray(1 + n + SETTLE_NONCE_LENGTH + 8);
    const tries = this.#store.view(KEY_SETTING_TRIES)?.[0] ?? 0;
    if (tries === 0) throw new SwError(SW_AUTHENTICATION_METHOD_BLOCKED);
    this.#store.commit([[KEY_SETTING_TRIES, Uint8Array.of(tries - 1)]]);
    const ps = this.#pki(() => verifyPasswordSetting(this.#getAnchor(), setting, this.#now));
    if (ns.length !== ps.settingNumber.length || !verifyMac(ps.settingNumber, ns))
      throw new SwError(tries - 1 === 0 ? SW_AUTHENTICATION_METHOD_BLOCKED : SW_COUNTER_BASE | (tries - 1));
    if (!isPinBlock(block)) throw new SwError(SW_WRONG_DATA, 'password must be 4..8 digits padded with FF');
    const digits = block.subarray(0, block.indexOf(0xff) < 0 ? 8 : block.indexOf(0xff));
    const input = passwordInput('terminal', {
      cardId: this.#idu,
      terminalId: t.idt,
      terminalNonce: r,
      cardNonce: x,
      password: digits,
    });
    if (!t.verify(input, sig)) throw new SwError(SW_SETTLE_BAD_SIGNATURE);
    this.#store.commit([
      [KEY_PW, concatBytes(Uint8Array.of(PASSWORD_TRIES, PASSWORD_TRIES), block)],
      ...BLOB_SETTING.writes(undefined),
      [KEY_SETTING_TRIES, Uint8Array.of(0)],
    ]);
    this.#pin.reset();
    return EMPTY;
  }

  /** VERIFY 00 20 00 81 [08 block] (ISO/IEC 7816-4 §11.5.6), three tries (PinRecord). */
  #verify(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 !== SETTLE_PASSWORD_REF) throw new SwError(SW_INCORRECT_P1P2);
    const rec = this.#store.view(KEY_PW);
    if (!rec) throw new SwError(SW_REFERENCED_DATA_NOT_FOUND, 'no password registered');
    return this.#pin.verify(c, rec);
  }
}

/** BER-TLV with a one-byte tag and a definite length (81 / 82 forms for 128..65535). */
function berTlv(tag: number, v: Uint8Array): Uint8Array {
  const n = v.length;
  const len =
    n < 0x80 ? Uint8Array.of(n) : n < 0x100 ? Uint8Array.of(0x81, n) : Uint8Array.of(0x82, n >> 8, n & 0xff);
  return concatBytes(Uint8Array.of(tag), len, v);
}
