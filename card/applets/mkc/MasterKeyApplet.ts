/**
 * The master-key card (MKC) application (docs/personalisation.md §3, and its side of §2): the
 * issuer's masters on a card of their own, behind a PIN. Custodians load each master as 2 or 3
 * components at LCS 03; SEAL combines and checks them all at once and moves the card to LCS 05;
 * from then on the card derives, for a blank chip that proved it holds its transport key, exactly
 * the keys of the subject the session was opened for — wrapped under the session key — and never
 * gives out a master, a component or a derived key in clear.
 *
 * ```
 *   LCS 03   VERIFY ─> LOAD COMPONENT (slot, 1, 2[, 3]) … ─> SEAL (all slots, their KCVs) ─> LCS 05
 *   LCS 05   VERIFY ─> PERSO OPEN ─> PERSO AUTH ─> { PERSO KEY | PERSO PIN | PERSO DATA }*
 *                                              ─> PERSO CLOSE ─> PERSO RECEIPT
 * ```
 * Persistent records: see records.ts. Volatile: the PIN-verified flag and the one personalisation
 * session (kind, ICSN, subject, SK_enc, SK_mac, MAC chain) — lost on reset, power loss or SELECT.
 *
 * Why the MKC derives from the session's subject only: the PC that carries the bytes names the
 * subject once, at PERSO OPEN, where it is bound into both cryptograms; a PERSO KEY names a key id
 * and nothing else, so a PC cannot ask the card for another card's keys in the middle of a session
 * the chip authenticated. Every answer the chip needs (PUT KEY data, STORE DATA MAC, SET STATUS
 * MAC) comes out of the one MAC chain, so the PC can neither drop, repeat nor reorder them.
 */
import type { CommandApdu } from '../../iso7816/CommandApdu.js';
import { SwError } from '../../iso7816/errors.js';
import {
  SW_CONDITIONS_NOT_SATISFIED,
  SW_FILE_ALREADY_EXISTS,
  SW_INCORRECT_P1P2,
  SW_INS_NOT_SUPPORTED,
  SW_REFERENCED_DATA_NOT_FOUND,
  SW_SECURITY_STATUS_NOT_SATISFIED,
  SW_VERIFICATION_FAILED,
  SW_WRONG_DATA,
  SW_WRONG_LENGTH,
} from '../../iso7816/sw.js';
import type { BlockCipherProvider, Rng } from '../../crypto/types.js';
import { kcv, KCV_LENGTH } from '../../crypto/kcv.js';
import { adjustDesParity } from '../../crypto/keyHierarchy.js';
import { verifyMac } from '../../crypto/mac.js';
import { wipe } from '../../crypto/wipe.js';
import { be32, u16, u32, U32_MAX } from '../../util/bigEndian.js';
import { concatBytes, toHex } from '../../util/hex.js';
import { IssuerKeys, MAX_PURSE_ID, MIN_PURSE_ID, type UtilityMasters } from '../IssuerKeys.js';
import type { Application } from '../platform/RuntimeApplet.js';
import type { RecordStore, StoreWrite } from '../platform/RecordStore.js';
import type { RecordLayout } from '../platform/RegionRecordStore.js';
import { PinRecord, isPinBlock, newPinRecord } from '../platform/PinRecord.js';
import {
  AID_MKC,
  COMM_KEY,
  INS_MKC_GET_DATA,
  INS_MKC_LOAD_COMPONENT,
  INS_MKC_PERSO_AUTH,
  INS_MKC_PERSO_CLOSE,
  INS_MKC_PERSO_DATA,
  INS_MKC_PERSO_KEY,
  INS_MKC_PERSO_OPEN,
  INS_MKC_PERSO_PIN,
  INS_MKC_PERSO_RECEIPT,
  INS_MKC_SEAL,
  INS_PUT_KEY,
  INS_SET_STATUS,
  INS_STORE_DATA,
  KIND_COMMISSIONING,
  KIND_SAM,
  KIND_SUBSCRIBER,
  KIND_SVM,
  LCS_ACTIVATED,
  LCS_DEACTIVATED,
  LCS_INITIALISATION,
  LCS_TERMINATED,
  MacChain,
  PersoCrypto,
  SAM_KEY_AUTH,
  SAM_KEY_COMM,
  SAM_KEY_DEBIT,
  SAM_KEY_KT_BASE,
  SAM_KEY_SVM,
  SLOT_AUTH,
  SLOT_COMM,
  SLOT_CREDIT,
  SLOT_DEBIT,
  SLOT_KH_BASE,
  SLOT_PROOF,
  SLOT_SVM,
  STORE_DATA_MAX,
  SVM_KEY_PROOF,
  SVM_KEY_SVM,
  macHeader,
  slotOf,
  subjectLength,
} from '../perso/channel.js';
import {
  KEY_MKC_COUNTER,
  KEY_MKC_IDENTITY,
  keyMkcIssued,
  KEY_MKC_PIN,
  MKC_KH_VERSIONS,
  MKC_MAX_COMPONENTS,
  MKC_SLOTS,
  MkcIdentity,
  MkcSlot,
  isMkcSlot,
  keyMkcSlot,
} from './records.js';

/** VERIFY / CHANGE REFERENCE DATA (CLA 00). */
export const INS_MKC_VERIFY = 0x20;
export const INS_MKC_CHANGE_REFERENCE_DATA = 0x24;
/** P2 of VERIFY / CHANGE REFERENCE DATA: the MKC's PIN (specific reference data 01). */
export const MKC_PIN_REFERENCE = 0x81;
export const MKC_PIN_TRIES = 3;

/** Every instruction the MKC handles. */
export const MKC_INS: readonly number[] = [
  INS_MKC_VERIFY,
  INS_MKC_CHANGE_REFERENCE_DATA,
  INS_MKC_LOAD_COMPONENT,
  INS_MKC_SEAL,
  INS_MKC_GET_DATA,
  INS_MKC_PERSO_OPEN,
  INS_MKC_PERSO_AUTH,
  INS_MKC_PERSO_KEY,
  INS_MKC_PERSO_DATA,
  INS_MKC_PERSO_PIN,
  INS_MKC_PERSO_CLOSE,
  INS_MKC_PERSO_RECEIPT,
];

/** The MKC's records, in allocation order (identity, PIN, issue counter, then every slot). */
export const MKC_LAYOUT: RecordLayout = [
  [KEY_MKC_IDENTITY, MkcIdentity.LENGTH],
  [KEY_MKC_PIN, 10],
  [KEY_MKC_COUNTER, 4],
  ...MKC_SLOTS.map((s) => [keyMkcSlot(s), MkcSlot.LENGTH] as const),
  [keyMkcIssued(KIND_SUBSCRIBER), 16],
  [keyMkcIssued(KIND_COMMISSIONING), 16],
];

export interface MasterKeyPersonalisation {
  /** The MKC's own serial number (8 bytes). */
  serial: Uint8Array;
  /** 4..8 digits. */
  pin: string;
}

const EMPTY = new Uint8Array(0);
const KEY_LENGTH = 16;
const CARD_KEY_FIELD: Readonly<Record<number, 'auth' | 'debit' | 'credit' | 'proof'>> = {
  [SLOT_AUTH]: 'auth',
  [SLOT_DEBIT]: 'debit',
  [SLOT_CREDIT]: 'credit',
  [SLOT_PROOF]: 'proof',
};
/** The slot type a SAM's key id (KT[n] aside) and an SVM's key id come from. */
const SAM_KEY_SLOT: Readonly<Record<number, number>> = {
  [SAM_KEY_AUTH]: SLOT_AUTH,
  [SAM_KEY_DEBIT]: SLOT_DEBIT,
  [SAM_KEY_COMM]: SLOT_COMM,
  [SAM_KEY_SVM]: SLOT_SVM,
};
const SVM_KEY_SLOT: Readonly<Record<number, number>> = {
  [SVM_KEY_PROOF]: SLOT_PROOF,
  [SVM_KEY_SVM]: SLOT_SVM,
};
/** The six masters every utility on the card must hold. */
const MASTER_TYPES = [SLOT_AUTH, SLOT_DEBIT, SLOT_CREDIT, SLOT_PROOF, SLOT_SVM, SLOT_COMM] as const;
const CLOSE_TARGETS = new Set([LCS_ACTIVATED, LCS_DEACTIVATED, LCS_TERMINATED]);

interface PersoSession {
  kind: number;
  subject: Uint8Array;
  skEnc: Uint8Array;
  skMac: Uint8Array;
  /** What the chip must answer to EXTERNAL AUTHENTICATE (kept until PERSO AUTH). */
  cardCryptogram: Uint8Array;
  chain: MacChain | undefined;
  state: 'opened' | 'authenticated' | 'closed';
  /** A key was handed out: the session personalises (not only a life-cycle change). */
  keysGiven: boolean;
  /** Target LCS of PERSO CLOSE. */
  lcs: number;
  /** The chip's serial (for the issued-serial record). */
  icsn: Uint8Array;
}

/** The card serial a subscriber or commissioning subject carries (undefined for modules). */
function serialOf(kind: number, subject: Uint8Array): Uint8Array | undefined {
  if (kind === KIND_SUBSCRIBER) return subject;
  if (kind === KIND_COMMISSIONING) return subject.subarray(1, 9);
  return undefined;
}

/** -1, 0, 1 as big-endian unsigned a is below, equal to, above b (same lengths). */
function compareSerials(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return 0;
}

export class MasterKeyApplet implements Application {
  readonly aid = AID_MKC;
  readonly #store: RecordStore;
  readonly #cipher: BlockCipherProvider;
  readonly #perso: PersoCrypto;
  readonly #rng: Rng;
  readonly #pin: PinRecord;
  #session: PersoSession | undefined;

  constructor(store: RecordStore, cipher: BlockCipherProvider, rng: Rng) {
    this.#store = store;
    this.#cipher = cipher;
    this.#perso = new PersoCrypto(cipher);
    this.#rng = rng;
    this.#pin = new PinRecord(store, KEY_MKC_PIN);
  }

  /**
   * Writes a fresh MKC: serial, LCS 03, PIN with 3 tries, issue counter 0, no slot loaded.
   * @throws RangeError naming the field that does not fit.
   */
  static personalise(store: RecordStore, p: MasterKeyPersonalisation): void {
    if (!(p.serial instanceof Uint8Array) || p.serial.length !== 8)
      throw new RangeError('serial must be 8 bytes');
    store.commit([
      [KEY_MKC_IDENTITY, new MkcIdentity(p.serial, LCS_INITIALISATION).encode()],
      [KEY_MKC_PIN, newPinRecord(p.pin, MKC_PIN_TRIES)],
      [KEY_MKC_COUNTER, be32(0)],
    ]);
  }

  reset(): void {
    this.#pin.reset();
    this.#endSession();
  }

  #endSession(): void {
    const s = this.#session;
    if (s) {
      wipe(s.skEnc, s.skMac, s.cardCryptogram);
      s.chain?.wipe();
    }
    this.#session = undefined;
  }

  #identity(): MkcIdentity {
    return MkcIdentity.decode(this.#store.view(KEY_MKC_IDENTITY)!);
  }

  #counter(): number {
    return u32(this.#store.view(KEY_MKC_COUNTER)!, 0);
  }

  /** The slot's record (components 0 when never loaded). */
  #slot(slot: number): MkcSlot {
    const b = this.#store.view(keyMkcSlot(slot));
    return b ? MkcSlot.decode(b) : new MkcSlot(0, 0, new Uint8Array(KEY_LENGTH));
  }

  #loadedSlots(): number[] {
    return MKC_SLOTS.filter((s) => (this.#store.view(keyMkcSlot(s))?.[1] ?? 0) > 0);
  }

  /**
   * FCI: 6F { 84 AID, 8A LCS, A5 { C9 MKC serial(8), CC issue counter(4), CD sealed slots(1) } }.
   */
  select(): Uint8Array {
    const id = this.#identity();
    const sealed = id.lcs === LCS_ACTIVATED ? this.#loadedSlots().length : 0;
    const a5 = concatBytes(
      Uint8Array.of(0xc9, 8),
      id.serial,
      Uint8Array.of(0xcc, 4),
      be32(this.#counter()),
      Uint8Array.of(0xcd, 1, Math.min(sealed, 0xff)),
    );
    const body = concatBytes(
      Uint8Array.of(0x84, this.aid.length),
      this.aid,
      Uint8Array.of(0x8a, 1, id.lcs, 0xa5, a5.length),
      a5,
    );
    return concatBytes(Uint8Array.of(0x6f, body.length), body);
  }

  process(c: CommandApdu): Uint8Array {
    if (c.cla === 0x00) {
      if (c.ins === INS_MKC_VERIFY) return this.#verify(c);
      if (c.ins === INS_MKC_CHANGE_REFERENCE_DATA) return this.#changePin(c);
    } else if (c.cla === 0x80) {
      switch (c.ins) {
        case INS_MKC_LOAD_COMPONENT:
          return this.#loadComponent(c);
        case INS_MKC_SEAL:
          return this.#seal(c);
        case INS_MKC_GET_DATA:
          return this.#getData(c);
        case INS_MKC_PERSO_OPEN:
          return this.#persoOpen(c);
        case INS_MKC_PERSO_AUTH:
          return this.#persoAuth(c);
        case INS_MKC_PERSO_KEY:
          return this.#persoKey(c);
        case INS_MKC_PERSO_DATA:
          return this.#persoData(c);
        case INS_MKC_PERSO_PIN:
          return this.#persoPin(c);
        case INS_MKC_PERSO_CLOSE:
          return this.#persoClose(c);
        case INS_MKC_PERSO_RECEIPT:
          return this.#persoReceipt(c);
      }
    }
    throw new SwError(SW_INS_NOT_SUPPORTED);
  }

  // ---- PIN (ISO/IEC 7816-4 §11.5.6, §11.5.7) ----

  #pinRecord(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 !== MKC_PIN_REFERENCE) throw new SwError(SW_INCORRECT_P1P2);
    return this.#store.read(KEY_MKC_PIN)!;
  }

  /** VERIFY 00 20 00 81 [08 PIN block] (platform/PinRecord.ts: the try is spent before the comparison). */
  #verify(c: CommandApdu): Uint8Array {
    return this.#pin.verify(c, this.#pinRecord(c));
  }

  /** CHANGE REFERENCE DATA 00 24 00 81 10 old PIN block ‖ new PIN block. */
  #changePin(c: CommandApdu): Uint8Array {
    return this.#pin.change(c, this.#pinRecord(c));
  }

  /** PIN verified in this session (6982), and the card in life-cycle state `lcs` (6985). */
  #require(lcs: number): void {
    if (!this.#pin.verified) throw new SwError(SW_SECURITY_STATUS_NOT_SATISFIED, 'PIN not verified');
    if (this.#identity().lcs !== lcs)
      throw new SwError(SW_CONDITIONS_NOT_SATISFIED, `the MKC is not in life-cycle state ${lcs}`);
  }

  // ---- key ceremony ----

  /**
   * LOAD COMPONENT 80 50 <slot> <n> 14 component(16) ‖ KCV(3) ‖ version(1): XORs component n
   * (1, 2, 3 in order: 6A86 otherwise) into the slot. A component whose KCV is wrong, or whose
   * version differs from the slot's earlier components, is refused (6A80) and nothing is kept.
   */
  #loadComponent(c: CommandApdu): Uint8Array {
    this.#require(LCS_INITIALISATION);
    const slot = c.p1;
    if (!isMkcSlot(slot)) throw new SwError(SW_INCORRECT_P1P2, `no slot ${slot.toString(16)}`);
    const cur = this.#slot(slot);
    if (c.p2 !== cur.components + 1 || c.p2 > MKC_MAX_COMPONENTS)
      throw new SwError(SW_INCORRECT_P1P2, `component ${cur.components + 1} of this slot expected`);
    if (c.nc !== KEY_LENGTH + KCV_LENGTH + 1) throw new SwError(SW_WRONG_LENGTH);
    const d = c.dataView();
    const component = d.slice(0, KEY_LENGTH);
    const version = d[KEY_LENGTH + KCV_LENGTH]!;
    try {
      if (!verifyMac(kcv(this.#cipher, component), d.subarray(KEY_LENGTH, KEY_LENGTH + KCV_LENGTH)))
        throw new SwError(SW_WRONG_DATA, 'component KCV wrong');
      if (cur.components > 0 && version !== cur.version)
        throw new SwError(SW_WRONG_DATA, 'version differs from the slot’s earlier components');
      const key = cur.key;
      for (let i = 0; i < KEY_LENGTH; i++) key[i]! ^= component[i]!;
      const next = new MkcSlot(version, c.p2, key);
      wipe(key);
      const rec = next.encode();
      wipe(next.key);
      this.#store.commit([[keyMkcSlot(slot), rec]]);
      wipe(rec);
      return EMPTY;
    } finally {
      wipe(component, cur.key);
    }
  }

  /**
   * SEAL 80 52 00 00 <4k> k × (slot ‖ KCV of the whole key). All or nothing (6A80, nothing
   * changes): every loaded slot listed once, each with ≥ 2 components, each combined key (XOR of
   * its components, DES parity set) matching its KCV; at least one transport master; every
   * utility with a slot complete (6 masters and ≥ 1 KH); every key different from every other
   * (IssuerKeys checks the masters too). Then, in one commit, the combined keys and LCS 05.
   */
  #seal(c: CommandApdu): Uint8Array {
    this.#require(LCS_INITIALISATION);
    if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc === 0 || c.nc % 4 !== 0) throw new SwError(SW_WRONG_LENGTH);
    const d = c.dataView();
    const listed = new Map<number, Uint8Array>();
    for (let i = 0; i < d.length; i += 4) {
      const slot = d[i]!;
      if (!isMkcSlot(slot) || listed.has(slot)) throw new SwError(SW_WRONG_DATA, `slot ${slot} listed wrong`);
      listed.set(slot, d.subarray(i + 1, i + 4));
    }
    const loaded = this.#loadedSlots();
    if (loaded.length !== listed.size || loaded.some((s) => !listed.has(s)))
      throw new SwError(SW_WRONG_DATA, 'every loaded slot must be listed, and only those');
    const combined = new Map<number, { slot: MkcSlot; key: Uint8Array }>();
    try {
      const seen = new Set<string>();
      for (const s of loaded) {
        const rec = this.#slot(s);
        const key = adjustDesParity(rec.key);
        wipe(rec.key);
        combined.set(s, { slot: rec, key });
        if (rec.components < 2) throw new SwError(SW_WRONG_DATA, 'a slot needs at least two components');
        if (!verifyMac(kcv(this.#cipher, key), listed.get(s)!))
          throw new SwError(SW_WRONG_DATA, 'combined key does not match its KCV');
        const hex = toHex(key);
        if (seen.has(hex)) throw new SwError(SW_WRONG_DATA, 'keys must all be different');
        seen.add(hex);
      }
      if (!loaded.some((s) => s >> 4 === 0)) throw new SwError(SW_WRONG_DATA, 'no transport master');
      const utilities: [number, UtilityMasters][] = [];
      for (const u of new Set(loaded.map((s) => s >> 4).filter((u) => u > 0))) {
        const m = this.#masters(u, (s) => combined.get(s)?.key);
        if (!m) throw new SwError(SW_WRONG_DATA, `utility ${u} is not complete`);
        utilities.push([u, m]);
      }
      if (utilities.length > 0) {
        try {
          new IssuerKeys(this.#cipher, utilities).wipe();
        } catch (e) {
          if (e instanceof RangeError) throw new SwError(SW_WRONG_DATA, e.message);
          throw e;
        }
      }
      const id = this.#identity();
      this.#store.commit([
        ...[...combined].map(
          ([s, { slot, key }]) =>
            [
              keyMkcSlot(s),
              new MkcSlot(slot.version, slot.components, key, kcv(this.#cipher, key)).encode(),
            ] as const,
        ),
        [KEY_MKC_IDENTITY, new MkcIdentity(id.serial, LCS_ACTIVATED).encode()],
      ]);
      return EMPTY;
    } finally {
      for (const { key } of combined.values()) wipe(key);
    }
  }

  /**
   * The masters of utility `u` as `key(slot)` gives them (the same arrays, not copies), or
   * undefined when one of its six masters or every KH is missing.
   */
  #masters(u: number, key: (slot: number) => Uint8Array | undefined): UtilityMasters | undefined {
    const [auth, debit, credit, proof, svm, commission] = MASTER_TYPES.map((t) => key(slotOf(u, t)));
    const host: [number, Uint8Array][] = [];
    for (let n = 0; n < MKC_KH_VERSIONS; n++) {
      const k = key(slotOf(u, SLOT_KH_BASE + n));
      if (k) host.push([n, k]);
    }
    if (!auth || !debit || !credit || !proof || !svm || !commission || host.length === 0) return undefined;
    return { auth, debit, credit, proof, svm, commission, host };
  }

  /**
   * GET DATA 80 CA 00 00 00 -> LCS ‖ issue counter(4) ‖ k × (slot ‖ version ‖ components ‖ KCV(3))
   * for every loaded slot, ascending (KCV 000000 until sealed). No PIN: nothing secret.
   */
  #getData(c: CommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 0) throw new SwError(SW_WRONG_LENGTH);
    const id = this.#identity();
    const parts = [Uint8Array.of(id.lcs), be32(this.#counter())];
    for (const s of this.#loadedSlots()) {
      const b = this.#store.view(keyMkcSlot(s))!;
      parts.push(Uint8Array.of(s, b[0]!, b[1]!), b.subarray(18, 18 + KCV_LENGTH));
    }
    return concatBytes(...parts);
  }

  // ---- personalisation sessions (docs/personalisation.md §2) ----

  /** The sealed key of `slot` (a copy) and its version, or undefined when the slot is empty. */
  #sealed(slot: number): { key: Uint8Array; version: number } | undefined {
    const b = this.#store.view(keyMkcSlot(slot));
    if (!b || b[1] === 0) return undefined;
    return { key: b.slice(2, 18), version: b[0]! };
  }

  /** The scheme of utility `u` from its sealed slots (the caller wipes it), or undefined. */
  #issuer(u: number): IssuerKeys | undefined {
    if (!Number.isInteger(u) || u < MIN_PURSE_ID || u > MAX_PURSE_ID) return undefined;
    const keys = new Map<number, Uint8Array>();
    const m = this.#masters(u, (s) => {
      const k = this.#sealed(s)?.key;
      if (k) keys.set(s, k);
      return k;
    });
    try {
      return m ? new IssuerKeys(this.#cipher, [[u, m]]) : undefined;
    } finally {
      for (const k of keys.values()) wipe(k);
    }
  }

  #session0(): PersoSession {
    this.#require(LCS_ACTIVATED);
    const s = this.#session;
    if (!s) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'no personalisation session');
    return s;
  }

  /** The session, authenticated and not yet closed (6985 otherwise). */
  #authenticated(): PersoSession & { chain: MacChain } {
    const s = this.#session0();
    if (s.state !== 'authenticated' || !s.chain)
      throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'PERSO AUTH first, and not after PERSO CLOSE');
    return s as PersoSession & { chain: MacChain };
  }

  /**
   * PERSO OPEN 80 70 <kind> 00 ICSN(8) ‖ tkv(1) ‖ RT(8) ‖ subject -> RM(8) ‖ host cryptogram(8).
   * Ends any earlier session. The transport master MK_tr[tkv] must be sealed (6A88), and so must
   * the utility named in the subject of a SAM, SVM or commissioning card (6A88). The serial is
   * checked at the first PERSO KEY (6A89), so a management session reaches any card issued.
   */
  #persoOpen(c: CommandApdu): Uint8Array {
    this.#require(LCS_ACTIVATED);
    this.#endSession();
    const kind = c.p1;
    if (kind < KIND_SUBSCRIBER || kind > KIND_COMMISSIONING || c.p2 !== 0)
      throw new SwError(SW_INCORRECT_P1P2);
    const n = subjectLength(kind);
    if (c.nc !== 8 + 1 + 8 + n) throw new SwError(SW_WRONG_LENGTH);
    const d = c.dataView();
    const icsn = d.subarray(0, 8);
    const tkv = d[8]!;
    const rt = d.subarray(9, 17);
    const subject = d.slice(17, 17 + n);
    if (kind !== KIND_SUBSCRIBER) {
      const u = subject[0]!;
      if (u < MIN_PURSE_ID || u > MAX_PURSE_ID || !this.#sealed(slotOf(u, SLOT_AUTH)))
        throw new SwError(SW_REFERENCED_DATA_NOT_FOUND, `no keys of utility ${u}`);
      if ((kind === KIND_SAM || kind === KIND_SVM) && u16(subject, 4) === 0)
        throw new SwError(SW_WRONG_DATA, 'pairing must be 1..65535');
    }
    const tr = tkv >= 1 && tkv <= 0x0f ? this.#sealed(slotOf(0, tkv)) : undefined;
    if (!tr) throw new SwError(SW_REFERENCED_DATA_NOT_FOUND, `no transport master version ${tkv}`);
    const kTr = this.#perso.transportKey(tr.key, icsn, kind);
    wipe(tr.key);
    const rm = this.#rng.bytes(8);
    const { enc, mac } = this.#perso.sessionKeys(kTr, rt, rm);
    wipe(kTr);
    this.#session = {
      kind,
      subject,
      skEnc: enc,
      skMac: mac,
      cardCryptogram: this.#perso.cardCryptogram(mac, kind, icsn, rt, rm, subject),
      chain: undefined,
      state: 'opened',
      keysGiven: false,
      lcs: 0,
      icsn: icsn.slice(),
    };
    return concatBytes(rm, this.#perso.hostCryptogram(mac, kind, icsn, rt, rm, subject));
  }

  /**
   * PERSO AUTH 80 72 00 00 08 card cryptogram -> 9000: the chip proved it holds K_tr; the MAC chain
   * starts from its cryptogram. Wrong (constant-time compare): 6300 and the session is gone.
   */
  #persoAuth(c: CommandApdu): Uint8Array {
    const s = this.#session0();
    if (s.state !== 'opened') throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'PERSO OPEN first');
    if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 8) throw new SwError(SW_WRONG_LENGTH);
    if (!verifyMac(s.cardCryptogram, c.dataView())) {
      this.#endSession();
      throw new SwError(SW_VERIFICATION_FAILED, 'card cryptogram wrong');
    }
    s.chain = new MacChain(this.#perso, s.skMac.slice(), s.cardCryptogram);
    s.state = 'authenticated';
    return EMPTY;
  }

  /**
   * The key `keyId` of the session's chip, derived from its kind and subject only, and the
   * version of the master it comes from. @throws SwError 6A88 for a key id the kind has not, or
   * whose master is not on the card.
   */
  #deriveKey(s: PersoSession, keyId: number): { key: Uint8Array; version: number } {
    const missing = () =>
      new SwError(SW_REFERENCED_DATA_NOT_FOUND, `no key ${keyId.toString(16)} for this card`);
    const subject = s.subject;
    const purse = s.kind === KIND_SUBSCRIBER ? keyId >> 4 : subject[0]!;
    let type: number;
    switch (s.kind) {
      case KIND_SUBSCRIBER:
        type = keyId & 0x0f;
        if (!CARD_KEY_FIELD[type]) throw missing();
        break;
      case KIND_SAM:
        if (keyId >= SAM_KEY_KT_BASE && keyId < SAM_KEY_KT_BASE + MKC_KH_VERSIONS)
          type = SLOT_KH_BASE + keyId - SAM_KEY_KT_BASE;
        else type = SAM_KEY_SLOT[keyId] ?? 0;
        break;
      case KIND_SVM:
        type = SVM_KEY_SLOT[keyId] ?? 0;
        break;
      default:
        type = keyId === COMM_KEY ? SLOT_COMM : 0;
    }
    if (type === 0) throw missing();
    const issuer = this.#issuer(purse);
    if (!issuer) throw missing();
    try {
      const master = this.#sealed(slotOf(purse, type));
      if (!master) throw missing();
      wipe(master.key);
      let key: Uint8Array;
      if (s.kind === KIND_SUBSCRIBER) {
        const set = issuer.cardKeys(subject, purse);
        key = set[CARD_KEY_FIELD[type]!].slice();
        wipe(set.auth, set.debit, set.credit, set.proof);
      } else if (s.kind === KIND_COMMISSIONING) {
        key = issuer.commissioningKey(subject.subarray(1, 9), purse);
      } else {
        const meterId = subject.subarray(1, 4);
        const pairing = u16(subject, 4);
        if (s.kind === KIND_SVM) {
          const k = issuer.svmKeys(meterId, purse, pairing);
          key = (type === SLOT_PROOF ? k.mkProof : k.svm).slice();
          wipe(k.mkProof, k.svm);
        } else {
          const k = issuer.samKeys(meterId, purse, pairing);
          const kt = k.terminal.find(([n]) => n === type - SLOT_KH_BASE)?.[1];
          const chosen =
            type === SLOT_AUTH
              ? k.mkAuth
              : type === SLOT_DEBIT
                ? k.mkDebit
                : type === SLOT_COMM
                  ? k.mkCommission
                  : type === SLOT_SVM
                    ? k.svm
                    : kt;
          key = chosen!.slice();
          wipe(k.mkAuth, k.mkDebit, k.mkCommission, k.svm, ...k.terminal.map(([, t]) => t));
        }
      }
      return { key, version: master.version };
    } finally {
      issuer.wipe();
    }
  }

  /**
   * PERSO KEY 80 74 00 <key id> -> key version(1) ‖ E(SK_enc, key)(16) ‖ KCV(3) ‖ MAC(8): the P1
   * and data of the chip's PUT KEY 80 D8 <key version> <key id>, its MAC the next of the chain.
   */
  #persoKey(c: CommandApdu): Uint8Array {
    const s = this.#authenticated();
    if (c.p1 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 0) throw new SwError(SW_WRONG_LENGTH);
    // One serial, one chip — checked before any key is derived, here and not at PERSO OPEN: a
    // management session (no key) must reach every card issued, not only the newest, or an
    // older stolen card could never be blocked.
    try {
      this.#checkSerialUnissued(s.kind, s.subject, s.icsn);
    } catch (e) {
      this.#endSession();
      throw e;
    }
    const { key, version } = this.#deriveKey(s, c.p2);
    const wrapped = this.#perso.wrapKey(s.skEnc, key);
    wipe(key);
    const mac = s.chain.next(macHeader(0x80, INS_PUT_KEY, version, c.p2), wrapped);
    s.keysGiven = true;
    return concatBytes(Uint8Array.of(version), wrapped, mac);
  }

  /**
   * PERSO PIN 80 78 00 00 08 PIN block -> E(SK_enc, PIN block), for the chip's STORE DATA tag C8.
   * Only a well-formed PIN block (4..8 digits padded with FF, 6A80): the card is no encryption
   * oracle under SK_enc for any other block.
   */
  #persoPin(c: CommandApdu): Uint8Array {
    const s = this.#authenticated();
    if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 8) throw new SwError(SW_WRONG_LENGTH);
    if (!isPinBlock(c.dataView())) throw new SwError(SW_WRONG_DATA, 'not a PIN block');
    return this.#perso.wrapPinBlock(s.skEnc, c.dataView());
  }

  /** PERSO DATA 80 76 <P1> <P2> TLVs -> MAC of the chip's STORE DATA 80 E2 P1 P2 TLVs. */
  #persoData(c: CommandApdu): Uint8Array {
    const s = this.#authenticated();
    if (c.p1 !== 0x00 && c.p1 !== 0x80) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc === 0 || c.nc > STORE_DATA_MAX) throw new SwError(SW_WRONG_LENGTH);
    return s.chain.next(macHeader(0x80, INS_STORE_DATA, c.p1, c.p2), c.dataView());
  }

  /**
   * PERSO CLOSE 80 7A 00 <LCS> -> MAC of the chip's SET STATUS 80 F0 00 LCS. A personalisation
   * (target 05 in a session that handed out keys) adds one to the issue counter in this
   * command's commit; a life-cycle change of a personalised card (no keys) does not.
   */
  #persoClose(c: CommandApdu): Uint8Array {
    const s = this.#authenticated();
    if (c.p1 !== 0 || !CLOSE_TARGETS.has(c.p2)) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 0) throw new SwError(SW_WRONG_LENGTH);
    const issue = c.p2 === LCS_ACTIVATED && s.keysGiven;
    const counter = this.#counter();
    if (issue && counter === U32_MAX)
      throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'issue counter exhausted');
    const mac = s.chain.next(macHeader(0x80, INS_SET_STATUS, 0, c.p2), EMPTY);
    s.state = 'closed';
    s.lcs = c.p2;
    if (issue) {
      const writes: StoreWrite[] = [[KEY_MKC_COUNTER, be32(counter + 1)]];
      const serial = serialOf(s.kind, s.subject);
      if (serial) writes.push([keyMkcIssued(s.kind), concatBytes(serial, s.icsn)]);
      this.#store.commit(writes);
    }
    return mac;
  }

  /**
   * One card serial, one chip: a subscriber or commissioning serial must be above the highest
   * this card has issued of that kind, or be that very serial again for the same chip (a
   * personalisation interrupted after PERSO CLOSE and resumed). Anything else would make a
   * second card with a serial already in use — a clone — and is refused 6A89 before any key is
   * derived. (Serials are allocated in ascending order, as host tx ids are; modules are bound to
   * meter id and pairing number, which the host's meter registry hands out.)
   */
  #checkSerialUnissued(kind: number, subject: Uint8Array, icsn: Uint8Array): void {
    const serial = serialOf(kind, subject);
    const last = serial && this.#store.view(keyMkcIssued(kind));
    if (!serial || !last) return;
    const order = compareSerials(serial, last.subarray(0, 8));
    if (order > 0) return;
    if (order === 0 && compareSerials(icsn, last.subarray(8, 16)) === 0) return;
    throw new SwError(
      SW_FILE_ALREADY_EXISTS,
      order === 0 ? 'this serial was issued to another chip' : 'a serial at or below one already issued',
    );
  }

  /** PERSO RECEIPT 80 7C 00 00 08 receipt -> 9000, or 6300 (the chip did not do what was asked). Ends the session. */
  #persoReceipt(c: CommandApdu): Uint8Array {
    const s = this.#session0();
    if (s.state !== 'closed' || !s.chain) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'PERSO CLOSE first');
    if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 8) throw new SwError(SW_WRONG_LENGTH);
    const expected = s.chain.receipt(s.lcs);
    const ok = verifyMac(expected, c.dataView());
    wipe(expected);
    this.#endSession();
    if (!ok) throw new SwError(SW_VERIFICATION_FAILED, 'receipt wrong');
    return EMPTY;
  }
}
