/**
 * The personalisation channel (docs/personalisation.md is the reference): the numbers and the
 * cryptography shared by the master-key card (card/applets/mkc/) and the personalisation gate of
 * every blank card (card/applets/perso/PersoGate.ts). The bureau's terminal (terminal/bureau/)
 * only carries the bytes between the two; it never holds a key.
 *
 * ```
 *   K_tr      = diversify(diversify(MK_tr[tkv], 'TR' ‖ kind), ICSN)   transport key of a blank chip
 *   SK_enc    = sessionKey(K_tr, RT, RM)                RT: the chip's challenge, RM: the MKC's
 *   SK_mac    = sessionKey(K_tr, ~RT, ~RM)              ~: every bit inverted
 *   host cryptogram = MAC(SK_mac, 'O' ‖ kind ‖ ICSN ‖ RT ‖ RM ‖ subject)
 *   card cryptogram = MAC(SK_mac, 'A' ‖ kind ‖ ICSN ‖ RM ‖ RT ‖ subject)     = first ICV
 *   command MAC     = MAC(SK_mac, ICV ‖ CLA INS P1 P2 ‖ data)                 = next ICV
 *   wrapped key     = TDES-CBC(SK_enc, IV 0, key) ‖ KCV(key)
 *   receipt         = MAC(SK_mac, ICV ‖ 'R' ‖ LCS)
 * ```
 * MAC is PurseCrypto.mac (ISO/IEC 9797-1 algorithm 1, TDES, padding 2); sessionKey is
 * PurseCrypto.sessionKey.
 */
import type { BlockCipherProvider } from '../../crypto/types.js';
import { kcv, KCV_LENGTH } from '../../crypto/kcv.js';
import { verifyMac } from '../../crypto/mac.js';
import { wipe } from '../../crypto/wipe.js';
import { concatBytes, fromHex } from '../../util/hex.js';
import { ascii } from '../bytes.js';
import { PurseCrypto } from '../PurseCrypto.js';

/** AID of the master-key card application: F0 "MPMKC" 01. */
export const AID_MKC = fromHex('F04D504D4B4301');

/** ISO/IEC 7816-4 §5.3.3.2 life cycle status byte (FCI tag 8A). */
export const LCS_INITIALISATION = 0x03; // blank: transport key only (pre-personalised)
export const LCS_ACTIVATED = 0x05; // personalised, in use
export const LCS_DEACTIVATED = 0x04; // blocked by the issuer (reversible)
export const LCS_TERMINATED = 0x0c; // terminated (for ever)

/** What a blank chip becomes. */
export const KIND_SUBSCRIBER = 0x01;
export const KIND_SAM = 0x02;
export const KIND_SVM = 0x03;
export const KIND_COMMISSIONING = 0x04;
export type PersoKind = 1 | 2 | 3 | 4;
export const KIND_NAMES: Readonly<Record<number, string>> = {
  1: 'subscriber',
  2: 'sam',
  3: 'svm',
  4: 'commissioning',
};

/**
 * The subject of a personalisation: what the card's keys are derived for, bound into both
 * cryptograms. subscriber: CSN(8); SAM, SVM: purse(1) ‖ meter id(3) ‖ pairing(2);
 * commissioning: purse(1) ‖ CSN(8).
 */
export function subjectLength(kind: number): number {
  switch (kind) {
    case KIND_SUBSCRIBER:
      return 8;
    case KIND_SAM:
    case KIND_SVM:
      return 6;
    case KIND_COMMISSIONING:
      return 9;
  }
  throw new RangeError(`unknown personalisation kind ${kind}`);
}

// ---- instructions (CLA 80) ----

/** Blank chip (the gate), in every life-cycle state but terminated. */
export const INS_PERSO_GET_CHALLENGE = 0x84; // 80 84 00 00 08 -> RT
export const INS_PERSO_EXTERNAL_AUTH = 0x82; // 80 82 00 00 RM ‖ subject ‖ host cryptogram -> card cryptogram
export const INS_PUT_KEY = 0xd8; // 80 D8 <key version> <key id> E(key) ‖ KCV ‖ MAC
export const INS_STORE_DATA = 0xe2; // 80 E2 <80 last | 00> <block no> TLVs ‖ MAC
export const INS_SET_STATUS = 0xf0; // 80 F0 00 <new LCS> MAC -> receipt

/** Master-key card. */
export const INS_MKC_LOAD_COMPONENT = 0x50; // 80 50 <slot> <component no> component ‖ KCV ‖ version
export const INS_MKC_SEAL = 0x52; // 80 52 00 00 n × (slot ‖ KCV)
export const INS_MKC_GET_DATA = 0xca; // 80 CA 00 00 00 -> status (no secret)
export const INS_MKC_PERSO_OPEN = 0x70; // 80 70 <kind> 00 ICSN ‖ tkv ‖ RT ‖ subject -> RM ‖ host cryptogram
export const INS_MKC_PERSO_AUTH = 0x72; // 80 72 00 00 card cryptogram
export const INS_MKC_PERSO_KEY = 0x74; // 80 74 00 <key id> -> P1 ‖ PUT KEY data
export const INS_MKC_PERSO_DATA = 0x76; // 80 76 <P1> <P2> TLVs -> MAC
export const INS_MKC_PERSO_PIN = 0x78; // 80 78 00 00 PIN block(8) -> E(SK_enc, PIN block)
export const INS_MKC_PERSO_CLOSE = 0x7a; // 80 7A 00 <new LCS> -> MAC
export const INS_MKC_PERSO_RECEIPT = 0x7c; // 80 7C 00 00 receipt

// ---- master-key card slots ----

/** Key types of a utility's slot: slot = utility << 4 | type. */
export const SLOT_AUTH = 1;
export const SLOT_DEBIT = 2;
export const SLOT_CREDIT = 3;
export const SLOT_PROOF = 4;
export const SLOT_SVM = 5;
export const SLOT_COMM = 6;
/** KH[n] of seed 000: type 8 + n, n = 0..7. */
export const SLOT_KH_BASE = 8;
/** Transport masters MK_tr[v] are slots 0x01..0x0F (utility 0, type = version). */
export function slotOf(utility: number, type: number): number {
  return ((utility & 0x0f) << 4) | (type & 0x0f);
}
export const SLOT_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'auth',
  2: 'debit',
  3: 'credit',
  4: 'proof',
  5: 'svm',
  6: 'comm',
};
/** 'MK_auth[2]', 'KH[1][3]', 'MK_tr[1]'. */
export function slotName(slot: number): string {
  const u = slot >> 4;
  const t = slot & 0x0f;
  if (u === 0) return `MK_tr[${t}]`;
  if (t >= SLOT_KH_BASE) return `KH[${u}][${t - SLOT_KH_BASE}]`;
  const n = SLOT_TYPE_NAMES[t];
  return n ? `MK_${n}[${u}]` : `slot ${slot.toString(16).padStart(2, '0')}`;
}

// ---- target key ids (PUT KEY P2) ----

/** Subscriber card: purse << 4 | type (1 auth, 2 debit, 3 credit, 4 proof). */
export const subscriberKeyId = (purse: number, type: 1 | 2 | 3 | 4): number => ((purse & 0x0f) << 4) | type;
/** SAM: MK_auth, MK_debit, MK_comm, K_svm, and KT[n] = 10 + n. */
export const SAM_KEY_AUTH = 0x01;
export const SAM_KEY_DEBIT = 0x02;
export const SAM_KEY_COMM = 0x03;
export const SAM_KEY_SVM = 0x04;
export const SAM_KEY_KT_BASE = 0x10;
/** SVM: MK_proof, K_svm. */
export const SVM_KEY_PROOF = 0x01;
export const SVM_KEY_SVM = 0x02;
/** Commissioning card: K_comm. */
export const COMM_KEY = 0x01;

/** Most bytes of STORE DATA a gate stages (all blocks together). */
export const STORE_DATA_MAX = 1024;
export const PUT_KEY_DATA_LENGTH = 16 + KCV_LENGTH + 8;

const O = ascii('O');
const A = ascii('A');
const R = ascii('R');

/** The channel's cryptography; both ends use this one class. */
export class PersoCrypto {
  readonly crypto: PurseCrypto;
  readonly cipher: BlockCipherProvider;
  constructor(cipher: BlockCipherProvider) {
    this.cipher = cipher;
    this.crypto = new PurseCrypto(cipher);
  }

  /**
   * K_tr = diversify(diversify(MK_tr, 'T' 'R' kind), ICSN): the transport key of a chip made for
   * one kind. The kind is in the derivation so that the K_tr of one chip (a subscriber card in the
   * field keeps its own, for management sessions) cannot pose as a blank chip of another kind — a
   * SAM, which the MKC would give the utility's masters.
   */
  transportKey(mkTr: Uint8Array, icsn: Uint8Array, kind: number): Uint8Array {
    subjectLength(kind); // @throws RangeError for an unknown kind
    const perKind = this.crypto.cardKey(mkTr, Uint8Array.of(0x54, 0x52, kind));
    try {
      return this.crypto.cardKey(perKind, icsn);
    } finally {
      wipe(perKind);
    }
  }

  /**
   * SK_enc = sessionKey(K_tr, RT, RM) = E(RT) ‖ E(RM); SK_mac = sessionKey(K_tr, ~RT, ~RM) =
   * E(RT ⊕ FF..FF) ‖ E(RM ⊕ FF..FF) (parity set). Four different plaintexts: the two session keys
   * share no half (swapping the halves of one key would make related keys).
   */
  sessionKeys(kTr: Uint8Array, rt: Uint8Array, rm: Uint8Array): { enc: Uint8Array; mac: Uint8Array } {
    const not = (b: Uint8Array) => b.map((x) => x ^ 0xff);
    return { enc: this.crypto.sessionKey(kTr, rt, rm), mac: this.crypto.sessionKey(kTr, not(rt), not(rm)) };
  }

  hostCryptogram(
    skMac: Uint8Array,
    kind: number,
    icsn: Uint8Array,
    rt: Uint8Array,
    rm: Uint8Array,
    subject: Uint8Array,
  ): Uint8Array {
    return this.crypto.mac(skMac, O, Uint8Array.of(kind), icsn, rt, rm, subject);
  }

  cardCryptogram(
    skMac: Uint8Array,
    kind: number,
    icsn: Uint8Array,
    rt: Uint8Array,
    rm: Uint8Array,
    subject: Uint8Array,
  ): Uint8Array {
    return this.crypto.mac(skMac, A, Uint8Array.of(kind), icsn, rm, rt, subject);
  }

  /** TDES-CBC(SK_enc, IV 0, key) ‖ KCV(key) for a 16-byte key. */
  wrapKey(skEnc: Uint8Array, key: Uint8Array): Uint8Array {
    if (key.length !== 16) throw new RangeError(`a wrapped key is 16 bytes, got ${key.length}`);
    return concatBytes(
      this.cipher.encrypt('tdes', 'cbc', skEnc, key, new Uint8Array(8)),
      kcv(this.cipher, key),
    );
  }

  /** The key of a `wrapKey` block, or undefined (nothing kept) when its KCV does not match. */
  unwrapKey(skEnc: Uint8Array, wrapped: Uint8Array): Uint8Array | undefined {
    if (wrapped.length !== 16 + KCV_LENGTH) return undefined;
    const key = this.cipher.decrypt('tdes', 'cbc', skEnc, wrapped.subarray(0, 16), new Uint8Array(8));
    if (!verifyMac(kcv(this.cipher, key), wrapped.subarray(16))) {
      wipe(key);
      return undefined;
    }
    return key;
  }

  /** E(SK_enc, PIN block), TDES-CBC IV 0 (one block). */
  wrapPinBlock(skEnc: Uint8Array, block: Uint8Array): Uint8Array {
    if (block.length !== 8) throw new RangeError('a PIN block is 8 bytes');
    return this.cipher.encrypt('tdes', 'cbc', skEnc, block, new Uint8Array(8));
  }

  unwrapPinBlock(skEnc: Uint8Array, wrapped: Uint8Array): Uint8Array {
    return this.cipher.decrypt('tdes', 'cbc', skEnc, wrapped, new Uint8Array(8));
  }

  receipt(skMac: Uint8Array, icv: Uint8Array, lcs: number): Uint8Array {
    return this.crypto.mac(skMac, icv, R, Uint8Array.of(lcs));
  }
}

/**
 * The chained command MAC of one session (both ends keep one): each MAC covers the previous one,
 * so a command can be neither dropped, repeated nor reordered.
 */
export class MacChain {
  #icv: Uint8Array;
  constructor(
    readonly crypto: PersoCrypto,
    readonly skMac: Uint8Array,
    firstIcv: Uint8Array,
  ) {
    this.#icv = firstIcv.slice();
  }

  get icv(): Uint8Array {
    return this.#icv.slice();
  }

  /** The MAC of the next command (and the chain moves on). */
  next(header: Uint8Array, data: Uint8Array): Uint8Array {
    const m = this.crypto.crypto.mac(this.skMac, this.#icv, header, data);
    this.#icv = m;
    return m.slice();
  }

  /** Checks the next command's MAC in constant time; the chain moves on only when it is right. */
  check(header: Uint8Array, data: Uint8Array, mac: Uint8Array): boolean {
    const m = this.crypto.crypto.mac(this.skMac, this.#icv, header, data);
    if (!verifyMac(m, mac)) return false;
    this.#icv = m;
    return true;
  }

  /** The receipt of a SET STATUS (made after that command's MAC moved the chain). */
  receipt(lcs: number): Uint8Array {
    return this.crypto.receipt(this.skMac, this.#icv, lcs);
  }

  wipe(): void {
    wipe(this.skMac, this.#icv);
  }
}

/** The 4-byte header a command MAC covers. */
export function macHeader(cla: number, ins: number, p1: number, p2: number): Uint8Array {
  return Uint8Array.of(cla, ins, p1, p2);
}
