/**
 * The meter SAM application (docs/purse-spec.md §4): mutual authentication with a subscriber card,
 * the DEBIT MAC for the card and the matching BEGIN TRANSFER authorisation for the SVM in one
 * command, and TOKEN REQUEST authorisations for its own meter core. A SAM serves ONE utility (one
 * purse id): it holds that utility's MK_auth, MK_debit, MK_comm and its meter's K_svm — never
 * MK_credit, never MK_proof, never another utility's key — so nothing it computes can load a card,
 * forge a debit proof, or touch another utility's purse.
 *
 * Persistent records (prefix `s.`): identity (meter id, terminal id), keys (purse ‖ MK_auth ‖
 * MK_debit ‖ K_svm ‖ MK_comm), terminal keys KT[n]. Nothing in the SAM changes during a transfer;
 * its card session is volatile.
 */
import type { CommandApdu } from '../../iso7816/CommandApdu.js';
import { SwError } from '../../iso7816/errors.js';
import {
  SW_INCORRECT_P1P2,
  SW_INS_NOT_SUPPORTED,
  SW_SECURITY_STATUS_NOT_SATISFIED,
  SW_VERIFICATION_FAILED,
  SW_WRONG_DATA,
  SW_WRONG_LENGTH,
  SW_CONDITIONS_NOT_SATISFIED,
  SW_REFERENCED_DATA_NOT_FOUND,
} from '../../iso7816/sw.js';
import type { BlockCipherProvider, Rng } from '../../crypto/types.js';
import { verifyMac } from '../../crypto/mac.js';
import { wipe } from '../../crypto/wipe.js';
import { concatBytes, equalBytes } from '../../util/hex.js';
import type { Application } from '../platform/RuntimeApplet.js';
import type { RecordStore } from '../platform/RecordStore.js';
import { checkDateTime } from '../bytes.js';
import { be16, be32, u16, u32 } from '../../util/bigEndian.js';
import { checkPurse, deriveCoreKey, deriveOfflineKey } from '../IssuerKeys.js';
import {
  AID_SAM,
  HOST_TARIFF_MODE,
  HOST_USAGE_CHECK,
  HOST_CLEARING_UPLOAD,
  HOST_BLACKLIST,
  HOST_CARD_COMMANDS,
  HOST_VALUE_STORE,
  HOST_SETTLE,
  INS_AUTH_FINISH,
  INS_AUTH_INIT,
  INS_COMMISSION_CHECK,
  INS_CONFIG_CHECK,
  INS_SIGN_READINGS,
  INS_HOST_COMMAND,
  INS_HOST_FINISH,
  INS_HOST_INIT,
  INS_TOKEN_AUTH,
  INS_TRANSFER_AUTH,
} from '../constants.js';
import { deriveSessionKey } from '../../crypto/keyHierarchy.js';
import { pad } from '../../crypto/mac.js';
import {
  PurseCrypto,
  cardCryptogramInput,
  debitMacInput,
  hostCreditAnswerInput,
  hostCreditAuthInput,
  hostSettleAnswerInput,
  hostSettleAuthInput,
  samCryptogramInput,
  svmStateMacInput,
  tokenAuthInput,
  tokenCoreInput,
  transferAuthInput,
} from '../PurseCrypto.js';
import type { SamKeySet } from '../IssuerKeys.js';
import { commissionMacInput } from '../commissioning/commissionMac.js';
import {
  CONFIG_CHECK_LENGTH,
  OFFLINE_FORMAT,
  OfflineConfig,
  OfflineReading,
  checkReadingLayout,
  SIGN_READINGS_LENGTH,
  offlineConfigMacInput,
  offlineReadingMacInput,
} from '../purse/offline.js';

export const KEY_SAM_IDENTITY = 's.identity';
export const KEY_SAM_KEYS = 's.keys';
export const KEY_SAM_TERMINAL_KEYS = 's.kt';

export interface SamPersonalisation {
  meterId: Uint8Array; // 3
  terminalId: Uint8Array; // 4
  keys: SamKeySet;
}

interface HostSession {
  ks: Uint8Array;
  r3: Uint8Array;
  commanded: boolean;
  /** The tx id of a value-store command, once decrypted. */
  txId?: Uint8Array;
  /** H of the command the host authenticated in this session (HOST FINISH P1 must name it). */
  h?: number;
  /** H = 52: the activation RTC(6) the host signed, which the tariff answer must echo. */
  activation?: Uint8Array;
  /** H = 54: the settle payload the host signed, which the SVM's answer must echo. */
  settle?: Uint8Array;
}

/** HOST SETTLE payload and signed answer lengths (docs/purse-spec.md §5.8). */
const SETTLE_PAYLOAD = 25;
const SETTLE_ANSWER = 63;

/** HOST FINISH P1 = 52 / 53: the longest core answer the SAM encrypts (M ≤ 8192 bytes). */
const MAX_CORE_ANSWER = 8192 - 4 - 4 - 3;
/** Issue 13 clearing commands the meter core answers (record upload, blacklist): like H = 53. */
const CLEARING_CORE: ReadonlySet<number> = new Set([
  HOST_CLEARING_UPLOAD,
  HOST_BLACKLIST,
  HOST_CARD_COMMANDS,
]);

/** AUTH INIT P1: which key domain the card in the session belongs to. */
export const AUTH_SUBSCRIBER = 0x00;
export const AUTH_COMMISSIONING = 0x01;

interface CardSession {
  /** AUTH_SUBSCRIBER (MK_auth) or AUTH_COMMISSIONING (MK_comm). */
  domain: number;
  csn: Uint8Array;
  rc: Uint8Array;
  rs: Uint8Array;
  skAuth: Uint8Array;
  skDebit: Uint8Array;
  authenticated: boolean;
}

export class SamApplet implements Application {
  readonly aid = AID_SAM;
  readonly #store: RecordStore;
  readonly #crypto: PurseCrypto;
  readonly #rng: Rng;
  #session: CardSession | undefined;
  #host: HostSession | undefined;
  #cardKeys: { csn: Uint8Array; domain: number; kAuth: Uint8Array; kDebit: Uint8Array } | undefined;
  #coreKey: Uint8Array | undefined;

  constructor(store: RecordStore, cipher: BlockCipherProvider, rng: Rng) {
    this.#store = store;
    this.#crypto = new PurseCrypto(cipher);
    this.#rng = rng;
  }

  /** @throws RangeError naming the field that does not fit. */
  static personalise(store: RecordStore, p: SamPersonalisation): void {
    if (p.meterId.length !== 3) throw new RangeError('meterId must be 3 bytes');
    if (p.terminalId.length !== 4) throw new RangeError('terminalId must be 4 bytes');
    if (p.keys.terminal.length < 2) throw new RangeError('a SAM holds at least two KT versions');
    checkPurse(p.keys.purse, 'keys.purse');
    store.commit([
      [KEY_SAM_IDENTITY, concatBytes(p.meterId, p.terminalId, be16(p.keys.pairing))],
      [
        KEY_SAM_KEYS,
        concatBytes(
          Uint8Array.of(p.keys.purse),
          p.keys.mkAuth,
          p.keys.mkDebit,
          p.keys.svm,
          p.keys.mkCommission,
        ),
      ],
      [
        KEY_SAM_TERMINAL_KEYS,
        concatBytes(...p.keys.terminal.map(([n, k]) => concatBytes(Uint8Array.of(n), k))),
      ],
    ]);
  }

  reset(): void {
    this.#endCardSession();
    this.#endHostSession();
    if (this.#cardKeys) wipe(this.#cardKeys.kAuth, this.#cardKeys.kDebit);
    this.#cardKeys = undefined;
    if (this.#coreKey) wipe(this.#coreKey);
    this.#coreKey = undefined;
  }

  #endCardSession(): void {
    const s = this.#session;
    if (s) wipe(s.skAuth, s.skDebit);
    this.#session = undefined;
  }

  #endHostSession(): void {
    if (this.#host) wipe(this.#host.ks, this.#host.r3);
    this.#host = undefined;
  }

  #identity(): { meterId: Uint8Array; terminalId: Uint8Array; pairing: Uint8Array } {
    const b = this.#store.view(KEY_SAM_IDENTITY)!;
    return { meterId: b.slice(0, 3), terminalId: b.slice(3, 7), pairing: b.slice(7, 9) };
  }

  #keys(): {
    purse: number;
    mkAuth: Uint8Array;
    mkDebit: Uint8Array;
    svm: Uint8Array;
    mkCommission: Uint8Array;
  } {
    const k = this.#store.view(KEY_SAM_KEYS)!;
    return {
      purse: k[0]!,
      mkAuth: k.slice(1, 17),
      mkDebit: k.slice(17, 33),
      svm: k.slice(33, 49),
      mkCommission: k.slice(49, 65),
    };
  }

  /** The purse (utility) this SAM serves. */
  #purse(): number {
    return this.#store.view(KEY_SAM_KEYS)![0]!;
  }

  /** K_core of this meter (derived from K_svm, kept in RAM until reset). */
  #core(): Uint8Array {
    if (!this.#coreKey) {
      const svm = this.#keys().svm;
      this.#coreKey = deriveCoreKey(this.#crypto, svm);
      wipe(svm);
    }
    return this.#coreKey;
  }

  /**
   * FCI: 6F { 84 AID, A5 { C4 meter id(3), C5 terminal id(4), C6 KT versions, C7 purse(1),
   * C8 pairing(2) } }.
   */
  select(): Uint8Array {
    const id = this.#identity();
    const kt = this.#store.view(KEY_SAM_TERMINAL_KEYS)!;
    const versions: number[] = [];
    for (let i = 0; i < kt.length; i += 17) versions.push(kt[i]!);
    const a5 = concatBytes(
      Uint8Array.of(0xc4, 3),
      id.meterId,
      Uint8Array.of(0xc5, 4),
      id.terminalId,
      Uint8Array.of(0xc6, versions.length),
      Uint8Array.from(versions),
      Uint8Array.of(0xc7, 1, this.#purse(), 0xc8, 2),
      id.pairing,
    );
    const body = concatBytes(
      Uint8Array.of(0x84, this.aid.length),
      this.aid,
      Uint8Array.of(0xa5, a5.length),
      a5,
    );
    return concatBytes(Uint8Array.of(0x6f, body.length), body);
  }

  process(c: CommandApdu): Uint8Array {
    if (c.cla === 0x80) {
      switch (c.ins) {
        case INS_AUTH_INIT:
          return this.#authInit(c);
        case INS_AUTH_FINISH:
          return this.#authFinish(c);
        case INS_TRANSFER_AUTH:
          return this.#transferAuth(c);
        case INS_TOKEN_AUTH:
          return this.#tokenAuth(c);
        case INS_COMMISSION_CHECK:
          return this.#commissionCheck(c);
        case INS_CONFIG_CHECK:
          return this.#configCheck(c);
        case INS_SIGN_READINGS:
          return this.#signReadings(c);
        case INS_HOST_INIT:
          return this.#hostInit(c);
        case INS_HOST_COMMAND:
          return this.#hostCommand(c);
        case INS_HOST_FINISH:
          return this.#hostFinish(c);
      }
    }
    throw new SwError(SW_INS_NOT_SUPPORTED);
  }

  /**
   * AUTH INIT 80 10 P1 00 10 CSN(8) ‖ RC(8) 00 -> RS(8) ‖ S_sam(8). Starts a new card session with
   * a subscriber card (P1 = 00: K_auth from MK_auth) or a commissioning card (P1 = 01: K_comm from
   * MK_comm) of this SAM's utility.
   */
  #authInit(c: CommandApdu): Uint8Array {
    if ((c.p1 !== AUTH_SUBSCRIBER && c.p1 !== AUTH_COMMISSIONING) || c.p2 !== 0)
      throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 16) throw new SwError(SW_WRONG_LENGTH);
    this.#endCardSession();
    const d = c.dataView();
    const csn = d.slice(0, 8);
    const rc = d.slice(8, 16);
    const rs = this.#rng.bytes(8);
    const keys = this.#keys();
    // The card keys of the last card are kept in RAM (a meter sees the same card again and again).
    const domain = c.p1;
    let ck = this.#cardKeys;
    if (!ck || ck.domain !== domain || !equalBytes(ck.csn, csn)) {
      if (ck) wipe(ck.kAuth, ck.kDebit);
      ck =
        domain === AUTH_SUBSCRIBER
          ? {
              csn,
              domain,
              kAuth: this.#crypto.cardKey(keys.mkAuth, csn),
              kDebit: this.#crypto.cardKey(keys.mkDebit, csn),
            }
          : { csn, domain, kAuth: this.#crypto.cardKey(keys.mkCommission, csn), kDebit: new Uint8Array(16) };
      this.#cardKeys = ck;
    }
    wipe(keys.mkAuth, keys.mkDebit, keys.mkCommission, keys.svm);
    const { kAuth, kDebit } = ck;
    const skAuth = this.#crypto.sessionKey(kAuth, rc, rs);
    // A commissioning card has no debit key: its session can never authorise a debit.
    const skDebit = domain === AUTH_SUBSCRIBER ? this.#crypto.sessionKey(kDebit, rc, rs) : new Uint8Array(16);
    this.#session = { domain, csn, rc, rs, skAuth, skDebit, authenticated: false };
    return concatBytes(rs, this.#crypto.mac(skAuth, samCryptogramInput(rc, rs, csn)));
  }

  /** AUTH FINISH 80 12 00 00 08 S_card(8) -> 9000, or 6300 (session dropped). */
  #authFinish(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 8) throw new SwError(SW_WRONG_LENGTH);
    const s = this.#session;
    if (!s || s.authenticated) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'AUTH INIT first');
    if (!verifyMac(this.#crypto.mac(s.skAuth, cardCryptogramInput(s.rc, s.rs, s.csn)), c.dataView())) {
      this.#endCardSession();
      throw new SwError(SW_VERIFICATION_FAILED, 'card cryptogram wrong');
    }
    s.authenticated = true;
    return new Uint8Array(0);
  }

  /**
   * TRANSFER AUTH 80 14 00 purse 14 amount(4) counter(2) datetime(6) RV(8) 00
   * -> debit MAC(8) for the card's DEBIT ‖ SVM authorisation(8) for BEGIN TRANSFER.
   */
  #transferAuth(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 === 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 20) throw new SwError(SW_WRONG_LENGTH);
    // Key separation: this SAM signs for its own utility's purse only.
    if (c.p2 !== this.#purse())
      throw new SwError(SW_REFERENCED_DATA_NOT_FOUND, `this SAM holds no key for purse ${c.p2}`);
    const s = this.#session;
    if (!s?.authenticated || s.domain !== AUTH_SUBSCRIBER)
      throw new SwError(SW_SECURITY_STATUS_NOT_SATISFIED, 'no authenticated subscriber card');
    const d = c.dataView();
    const amount = u32(d, 0);
    const counter = u16(d, 4);
    const dateTime = d.slice(6, 12);
    const rv = d.slice(12, 20);
    checkDateTime(dateTime);
    if (amount === 0 || counter === 0) throw new SwError(SW_WRONG_DATA, 'amount and counter must be > 0');
    const id = this.#identity();
    const debitMac = this.#crypto.mac(
      s.skDebit,
      debitMacInput({ csn: s.csn, purse: c.p2, amount, counter, terminalId: id.terminalId, dateTime }, rv),
    );
    const samMac = this.#crypto.mac(
      this.#keys().svm,
      transferAuthInput(rv, s.csn, c.p2, amount, counter, dateTime),
    );
    return concatBytes(debitMac, samMac);
  }

  /**
   * TOKEN AUTH 80 18 00 00 0E units(2) ‖ SVM counter(4) ‖ core MAC(8) 00 -> authorisation(8).
   * The core MAC = MAC(K_core, 'Q' ‖ meter id ‖ units ‖ SVM counter) proves the request comes from
   * this meter's own core (6300 otherwise): the SAM is no open oracle for anything on the bus.
   */
  #tokenAuth(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 14) throw new SwError(SW_WRONG_LENGTH);
    const d = c.dataView();
    const units = u16(d, 0);
    const counter = u32(d, 2);
    const meterId = this.#identity().meterId;
    if (!this.#crypto.check(this.#core(), d.subarray(6, 14), tokenCoreInput(meterId, units, counter)))
      throw new SwError(SW_VERIFICATION_FAILED, 'meter core MAC wrong');
    if (units === 0) throw new SwError(SW_WRONG_DATA, 'units must be > 0');
    if (counter === 0) throw new SwError(SW_WRONG_DATA, 'SVM counter must be > 0');
    return this.#crypto.mac(this.#keys().svm, tokenAuthInput(meterId, units, counter));
  }

  /**
   * COMMISSION CHECK 80 1A 00 00 Lc payload ‖ MAC(8) -> 9000: vouches for a commissioning card's
   * answer to COMMISSION, so the meter core applies only a payload this SAM checked. Only in an
   * authenticated commissioning session (AUTH INIT P1 = 01; 6982 otherwise — a subscriber card's
   * session never qualifies); MAC = MAC(SK_comm, 'M' ‖ this SAM's meter id ‖ payload) with the
   * session's key (6300 otherwise: a changed byte, or a payload recorded in another session or at
   * another meter); payload bytes 1–3 must be this meter's id (6A80). The session ends whatever the
   * answer: one payload per authentication.
   */
  #commissionCheck(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc < 4 + 8) throw new SwError(SW_WRONG_LENGTH);
    const s = this.#session;
    if (!s?.authenticated || s.domain !== AUTH_COMMISSIONING)
      throw new SwError(SW_SECURITY_STATUS_NOT_SATISFIED, 'no authenticated commissioning card');
    const d = c.dataView();
    const payload = d.subarray(0, d.length - 8);
    const meterId = this.#identity().meterId;
    const mac = d.subarray(d.length - 8);
    const ok = this.#crypto.check(s.skAuth, mac, commissionMacInput(meterId, payload));
    this.#endCardSession();
    if (!ok) throw new SwError(SW_VERIFICATION_FAILED, 'commissioning payload MAC wrong');
    if (!equalBytes(payload.subarray(1, 4), meterId))
      throw new SwError(SW_WRONG_DATA, 'the payload is for another meter');
    return new Uint8Array(0);
  }

  /** K_offline(n) = diversify(KT[n], "OFFLINE") of this meter (issue 17); 6A88 for an unknown n. */
  #offlineKey(n: number): Uint8Array {
    const kt = this.#terminalKey(n);
    try {
      return deriveOfflineKey(this.#crypto, kt);
    } finally {
      wipe(kt);
    }
  }

  /**
   * CONFIG CHECK 80 1C 00 00 2C CSN(8) ‖ config(36) -> 9000 (issue 17, the offline meter's SAM):
   * the configuration is this utility's (purse), for this meter (meter id; 6A80 also means "the
   * card is bound to another meter"), and its meter MAC = MAC(K_offline(n), 'C' ‖ CSN ‖ config
   * bytes 0..27) with n = config[27] (6A88 unknown, 6300 wrong). The CSN binds it to one card.
   */
  #configCheck(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== CONFIG_CHECK_LENGTH) throw new SwError(SW_WRONG_LENGTH);
    const d = c.dataView();
    const csn = d.subarray(0, 8);
    const config = d.subarray(8, 8 + OfflineConfig.LENGTH);
    if (config[0] !== OFFLINE_FORMAT) throw new SwError(SW_WRONG_DATA, 'not an offline configuration');
    if (config[4] !== this.#purse()) throw new SwError(SW_WRONG_DATA, "another utility's configuration");
    if (!equalBytes(config.subarray(1, 4), this.#identity().meterId))
      throw new SwError(SW_WRONG_DATA, 'the card is bound to another meter');
    const k = this.#offlineKey(config[27]!);
    const ok = this.#crypto.check(
      k,
      config.subarray(28, 36),
      offlineConfigMacInput(csn, config.subarray(0, OfflineConfig.SIGNED_LENGTH)),
    );
    wipe(k);
    if (!ok) throw new SwError(SW_VERIFICATION_FAILED, 'configuration meter MAC wrong');
    return new Uint8Array(0);
  }

  /**
   * SIGN READINGS 80 1E 00 00 8F CSN(8) ‖ record bytes 0..134 00 -> MAC(8) = MAC(K_offline(n),
   * 'M' ‖ CSN ‖ record[0..134]), n = record[134] (issue 17). Only in an authenticated subscriber
   * card session (6982) and for that card's CSN (6A80); only a reading of this meter (meter id) for
   * this utility (purse) in format 01, with a BCD date-time, a sequence > 0 and 1..16 steps (6A80
   * otherwise); 6A88 for an unknown n.
   */
  #signReadings(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== SIGN_READINGS_LENGTH) throw new SwError(SW_WRONG_LENGTH);
    // Only for the card this SAM has just authenticated: nothing on the meter's bus gets readings
    // signed for a card that is not in the slot.
    const s = this.#session;
    if (!s?.authenticated || s.domain !== AUTH_SUBSCRIBER)
      throw new SwError(SW_SECURITY_STATUS_NOT_SATISFIED, 'no authenticated subscriber card');
    const d = c.dataView();
    const csn = d.subarray(0, 8);
    if (!equalBytes(csn, s.csn)) throw new SwError(SW_WRONG_DATA, 'not the card of this session');
    const record = d.subarray(8, 8 + OfflineReading.SIGNED_LENGTH);
    if (record[0] !== OFFLINE_FORMAT) throw new SwError(SW_WRONG_DATA, 'not an offline reading');
    if (!equalBytes(record.subarray(1, 4), this.#identity().meterId))
      throw new SwError(SW_WRONG_DATA, "another meter's reading");
    if (record[4] !== this.#purse()) throw new SwError(SW_WRONG_DATA, "another utility's reading");
    checkReadingLayout(record);
    const k = this.#offlineKey(record[134]!);
    try {
      return this.#crypto.mac(k, offlineReadingMacInput(csn, record));
    } finally {
      wipe(k);
    }
  }

  #terminalKey(n: number): Uint8Array {
    const kt = this.#store.view(KEY_SAM_TERMINAL_KEYS)!;
    for (let i = 0; i + 17 <= kt.length; i += 17) if (kt[i] === n) return kt.slice(i + 1, i + 17);
    throw new SwError(SW_REFERENCED_DATA_NOT_FOUND, `no terminal key version ${n}`);
  }

  /**
   * HOST INIT 80 20 00 n 10 R1(8) ‖ R2(8) 00 -> S1t(8) ‖ R3(8) (seed 000 steps 10-12 / 20-22 / 30-32):
   * Ks = Encrypt(R1, KT[n]) (card/crypto deriveSessionKey), S1t = Sig(R2, Ks) = MAC(Ks, R2).
   */
  #hostInit(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 16) throw new SwError(SW_WRONG_LENGTH);
    this.#endHostSession();
    const kt = this.#terminalKey(c.p2);
    const d = c.dataView();
    const ks = deriveSessionKey(this.#crypto.cipher, kt, d.slice(0, 8), 'tdes');
    wipe(kt);
    const r3 = this.#rng.bytes(8);
    this.#host = { ks, r3, commanded: false };
    return concatBytes(this.#crypto.mac(ks, d.subarray(8, 16)), r3);
  }

  /**
   * HOST COMMAND 80 22 H 00 Lc payload ‖ S2h(8) [‖ SVM challenge RV (8) when H = 51] 00 (steps 14,
   * 24, 34): checks S2h = Sig(H ‖ R3 ‖ payload, Ks). H = 51 value store: payload = EnAmnt (16) =
   * TDES-CBC(Ks, amount(4) ‖ host tx id(8) ‖ 80 00 00 00); the answer is amount ‖ tx id ‖ the SVM's
   * HOST CREDIT authorisation MAC(K_svm, 'H' ‖ meter id ‖ amount ‖ tx id ‖ RV): bound to the SVM's
   * single-use challenge, so it cannot be kept and applied later, twice, or in another SVM.
   * H = 02 tariff mode / 03 usage and timer check: the answer is the authenticated payload.
   * H = 54 settle (issue 13): payload = the 25-byte settle payload in clear (decision ‖ slot ‖ CSN ‖
   * purse ‖ card counter ‖ amount ‖ host tx id: nothing secret, S2h makes it the host's word),
   * followed by the SVM's RV; the answer is the SVM's HOST SETTLE authorisation
   * MAC(K_svm, 'X' ‖ meter id ‖ payload ‖ RV).
   * One command per host session.
   */
  #hostCommand(c: CommandApdu): Uint8Array {
    const h = c.p1;
    if (
      c.p2 !== 0 ||
      (h !== HOST_VALUE_STORE &&
        h !== HOST_TARIFF_MODE &&
        h !== HOST_USAGE_CHECK &&
        h !== HOST_SETTLE &&
        !CLEARING_CORE.has(h))
    )
      throw new SwError(SW_INCORRECT_P1P2);
    const host = this.#host;
    if (!host) throw new SwError(SW_SECURITY_STATUS_NOT_SATISFIED, 'HOST INIT first');
    if (host.commanded) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'one command per host session');
    const d = c.dataView();
    const tail = h === HOST_VALUE_STORE || h === HOST_SETTLE ? 8 : 0;
    if (
      d.length < 8 + tail ||
      (h === HOST_VALUE_STORE && d.length !== 32) ||
      (h === HOST_SETTLE && d.length !== SETTLE_PAYLOAD + 16)
    )
      throw new SwError(SW_WRONG_LENGTH);
    const payload = d.subarray(0, d.length - 8 - tail);
    const s2h = d.subarray(d.length - 8 - tail, d.length - tail);
    if (!this.#crypto.check(host.ks, s2h, Uint8Array.of(h), host.r3, payload)) {
      this.#endHostSession();
      throw new SwError(SW_VERIFICATION_FAILED, 'host signature wrong');
    }
    host.commanded = true;
    host.h = h;
    if (h === HOST_TARIFF_MODE && payload.length >= 6) host.activation = payload.slice(0, 6);
    if (h === HOST_SETTLE) {
      host.settle = payload.slice();
      return this.#crypto.mac(
        this.#keys().svm,
        hostSettleAuthInput(this.#identity().meterId, payload, d.subarray(d.length - 8)),
      );
    }
    if (h !== HOST_VALUE_STORE) return payload.slice();
    const plain = this.#crypto.cipher.decrypt('tdes', 'cbc', host.ks, payload);
    if (plain[12] !== 0x80 || plain[13] !== 0 || plain[14] !== 0 || plain[15] !== 0)
      throw new SwError(SW_WRONG_DATA, 'EnAmnt does not decrypt to amount ‖ tx id ‖ padding');
    const amount = u32(plain, 0);
    const txId = plain.slice(4, 12);
    host.txId = txId;
    wipe(plain);
    const mac = this.#crypto.mac(
      this.#keys().svm,
      hostCreditAuthInput(this.#identity().meterId, amount, txId, d.subarray(24, 32)),
    );
    return concatBytes(be32(amount), txId, mac);
  }

  /**
   * HOST FINISH 80 24 P1 00 Lc data 00 -> M (steps 16, 26, 36); ends the host session.
   * - P1 = 51 (after a value store): data = the SVM's signed HOST CREDIT answer (25 bytes) for R3
   *   and the session's tx id; M = E(status ‖ tx id ‖ balance after ‖ balance ‖ meter id, Ks).
   * - P1 = 00: data = balance(4) ‖ SVM counter(4) ‖ MAC(8), the SVM state signed for R3 (READ STATE
   *   P1 = 01); M = E(balance ‖ meter id, Ks).
   * - P1 = 52 / 53 (after a tariff mode change / usage check that this session authenticated, 6985
   *   otherwise): data = that signed SVM state(16) ‖ the meter core's answer body. The SAM puts the
   *   SVM-vouched balance and its own meter id in place, so Ks never leaves it and the balance the
   *   host reconciles is the SVM's:
   *   ```
   *   P1 = 52  body = status(1) ‖ activation RTC(6)  ->  M = E(status ‖ balance ‖ activation ‖ ID, Ks)
   *            (the activation must be the one the host signed: 6A80)
   *   P1 = 53  body = Info up to the flags byte       ->  M = E(body ‖ balance ‖ ID, Ks)
   *   P1 = 55 / 56 (record upload / blacklist, docs/host-protocol.md "Clearing"): as P1 = 53
   *   ```
   * E(x, Ks) = TDES-CBC, zero IV, x padded with ISO/IEC 9797-1 method 2 (docs/host-protocol.md).
   */
  #hostFinish(c: CommandApdu): Uint8Array {
    const p1 = c.p1;
    if (p1 === HOST_SETTLE && c.p2 === 0) return this.#hostFinishSettle(c);
    const core = p1 === HOST_TARIFF_MODE || p1 === HOST_USAGE_CHECK || CLEARING_CORE.has(p1);
    if (c.p2 !== 0 || (p1 !== 0 && p1 !== HOST_VALUE_STORE && !core)) throw new SwError(SW_INCORRECT_P1P2);
    if (
      core
        ? c.nc < 16 + (p1 === HOST_TARIFF_MODE ? 7 : 1) ||
          (p1 === HOST_TARIFF_MODE && c.nc !== 23) ||
          c.nc > 16 + MAX_CORE_ANSWER
        : c.nc !== (p1 === 0 ? 16 : 25)
    )
      throw new SwError(SW_WRONG_LENGTH);
    const host = this.#host;
    if (!host) throw new SwError(SW_SECURITY_STATUS_NOT_SATISFIED, 'HOST INIT first');
    const d = c.dataView();
    const meterId = this.#identity().meterId;
    const svmKey = this.#keys().svm;
    let answer: Uint8Array;
    if (p1 === 0 || core) {
      if (core && host.h !== p1)
        throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'not the command this session authenticated');
      if (
        !this.#crypto.check(
          svmKey,
          d.subarray(8, 16),
          svmStateMacInput(meterId, u32(d, 0), u32(d, 4), host.r3),
        )
      )
        throw new SwError(SW_VERIFICATION_FAILED, 'SVM state MAC wrong');
      const balance = d.subarray(0, 4);
      const body = d.subarray(16);
      if (p1 === 0) answer = concatBytes(balance, meterId);
      else if (p1 === HOST_USAGE_CHECK || CLEARING_CORE.has(p1)) answer = concatBytes(body, balance, meterId);
      else {
        // The tariff answer echoes the activation the host signed: the core cannot confirm another.
        if (!host.activation || !equalBytes(host.activation, body.subarray(1, 7)))
          throw new SwError(SW_WRONG_DATA, 'the answer names another activation than the host signed');
        answer = concatBytes(body.subarray(0, 1), balance, body.subarray(1, 7), meterId);
      }
    } else {
      if (!host.txId || !equalBytes(host.txId, d.subarray(1, 9)))
        throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'not the value store of this session');
      const input = hostCreditAnswerInput(meterId, d[0]!, d.subarray(1, 9), u32(d, 9), u32(d, 13), host.r3);
      if (!this.#crypto.check(svmKey, d.subarray(17, 25), input))
        throw new SwError(SW_VERIFICATION_FAILED, 'SVM answer MAC wrong');
      answer = concatBytes(d.subarray(0, 17), meterId);
    }
    const m = this.#crypto.cipher.encrypt('tdes', 'cbc', host.ks, pad(answer, 2, 8));
    this.#endHostSession();
    return m;
  }

  /**
   * HOST FINISH P1 = 54 (issue 13): data = the SVM's signed HOST SETTLE answer (71 bytes) for R3,
   * echoing the payload this session's host signed (6985 otherwise); M = E(answer(63) ‖ meter id, Ks).
   */
  #hostFinishSettle(c: CommandApdu): Uint8Array {
    if (c.nc !== SETTLE_ANSWER + 8) throw new SwError(SW_WRONG_LENGTH);
    const host = this.#host;
    if (!host) throw new SwError(SW_SECURITY_STATUS_NOT_SATISFIED, 'HOST INIT first');
    const d = c.dataView();
    if (host.h !== HOST_SETTLE || !host.settle || !equalBytes(host.settle, d.subarray(1, 1 + SETTLE_PAYLOAD)))
      throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'not the settlement of this session');
    const meterId = this.#identity().meterId;
    const answer = d.subarray(0, SETTLE_ANSWER);
    const svmKey = this.#keys().svm;
    const ok = this.#crypto.check(
      svmKey,
      d.subarray(SETTLE_ANSWER),
      hostSettleAnswerInput(meterId, answer, host.r3),
    );
    wipe(svmKey);
    if (!ok) throw new SwError(SW_VERIFICATION_FAILED, 'SVM answer MAC wrong');
    const m = this.#crypto.cipher.encrypt('tdes', 'cbc', host.ks, pad(concatBytes(answer, meterId), 2, 8));
    this.#endHostSession();
    return m;
  }
}
