/**
 * The personalisation gate of a chip (docs/personalisation.md §1, §2): it stands in front of the
 * real application (purse, SAM, SVM, commissioning) on the same records and keeps the life cycle.
 *
 * ```
 *   x.life  LCS(1) ‖ kind(1) ‖ ICSN(8) ‖ tkv(1) ‖ K_tr(16)      the last record of the layout
 *
 *   LCS 03  SELECT → 6F { 84 AID, 8A 03, A5 { C9 ICSN, CA tkv, CB kind } }; app commands 6985
 *   LCS 05  the application (its own FCI); PUT KEY, STORE DATA 6985
 *   LCS 04  SELECT → the application's FCI with 6283; app commands 6985
 *   LCS 0C  SELECT → 6F { 84 AID, 8A 0C } with 6285; every command 6985
 * ```
 *
 * Why one commit: keys and data are staged in RAM and only SET STATUS 05 writes them, through a
 * store that adds the `x.life` write (LCS 05) to the application's own single `personalise`
 * commit — so a power cut leaves either the blank chip (LCS 03, nothing else) or the whole card.
 *
 * The gate owns CLA 80 INS 84, 82, D8, E2, F0; every other command is the application's (CLA 00
 * 84 / 82 are the purse's and SVM's GET CHALLENGE / MUTUAL AUTHENTICATE). Its session is volatile:
 * a reset, a SELECT, a power loss or any refusal of a session command ends it and drops what was
 * staged.
 */
import type { CommandApdu } from '../../iso7816/CommandApdu.js';
import { SwError } from '../../iso7816/errors.js';
import { ResponseApdu } from '../../iso7816/ResponseApdu.js';
import {
  SW_CONDITIONS_NOT_SATISFIED,
  SW_INCORRECT_P1P2,
  SW_INS_NOT_SUPPORTED,
  SW_NOT_ENOUGH_MEMORY,
  SW_SM_DATA_OBJECTS_INCORRECT,
  SW_VERIFICATION_FAILED,
  SW_WRONG_DATA,
  SW_WRONG_LENGTH,
} from '../../iso7816/sw.js';
import type { BlockCipherProvider, Rng } from '../../crypto/types.js';
import { verifyMac } from '../../crypto/mac.js';
import { wipe } from '../../crypto/wipe.js';
import { CardPowerLostError } from '../../os/CardOs.js';
import type { CommandContext, HandlerResult } from '../../os/Applet.js';
import { concatBytes } from '../../util/hex.js';
import type { Application } from '../platform/RuntimeApplet.js';
import type { RecordStore, StoreWrite } from '../platform/RecordStore.js';
import {
  INS_PERSO_EXTERNAL_AUTH,
  INS_PERSO_GET_CHALLENGE,
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
  PUT_KEY_DATA_LENGTH,
  SAM_KEY_KT_BASE,
  STORE_DATA_MAX,
  macHeader,
  subjectLength,
  type PersoKind,
} from './channel.js';
import { ownSubject, type StagedKey, type StagedPerso } from './persoData.js';

/** The gate's record (added at the end of the application's layout). */
export const KEY_LIFE = 'x.life';
export const LIFE_RECORD_LENGTH = 1 + 1 + 8 + 1 + 16;

/** ISO/IEC 7816-4 warnings answered to SELECT of a blocked / terminated card. */
export const SW_SELECTED_FILE_DEACTIVATED = 0x6283;
export const SW_SELECTED_FILE_TERMINATED = 0x6285;

/** The instructions the gate owns (with CLA 80). */
export const GATE_INS: readonly number[] = [
  INS_PERSO_GET_CHALLENGE,
  INS_PERSO_EXTERNAL_AUTH,
  INS_PUT_KEY,
  INS_STORE_DATA,
  INS_SET_STATUS,
];

/** LCS transitions SET STATUS may make (from → to). */
const TRANSITIONS: ReadonlyMap<number, readonly number[]> = new Map([
  [LCS_INITIALISATION, [LCS_ACTIVATED]],
  [LCS_ACTIVATED, [LCS_DEACTIVATED, LCS_TERMINATED]],
  [LCS_DEACTIVATED, [LCS_ACTIVATED, LCS_TERMINATED]],
]);

/** The manufacture record of a blank chip: LCS 03, its kind, ICSN, tkv and K_tr. */
export function lifeRecord(
  kind: PersoKind,
  icsn: Uint8Array,
  tkv: number,
  transportKey: Uint8Array,
): Uint8Array {
  if (!(icsn instanceof Uint8Array) || icsn.length !== 8) throw new RangeError('icsn must be 8 bytes');
  if (!Number.isInteger(tkv) || tkv < 1 || tkv > 15) throw new RangeError(`tkv must be 1..15, got ${tkv}`);
  if (!(transportKey instanceof Uint8Array) || transportKey.length !== 16)
    throw new RangeError('transportKey must be 16 bytes');
  return concatBytes(Uint8Array.of(LCS_INITIALISATION, kind), icsn, Uint8Array.of(tkv), transportKey);
}

export interface PersoGateOptions<A extends Application> {
  kind: PersoKind;
  aid: Uint8Array;
  /** The application, made on `store`. */
  app: A;
  /** The instructions the application declared (its commands, whatever the CLA). */
  appIns: readonly number[];
  /** The records of both (the application's and `x.life`). */
  store: RecordStore;
  cipher: BlockCipherProvider;
  rng: Rng;
  /**
   * Decodes the staged data (persoData.ts) and calls the application's static `personalise` on
   * `store`, which must commit exactly once.
   */
  personalise(store: RecordStore, staged: StagedPerso): void;
}

interface Session {
  readonly skEnc: Uint8Array;
  readonly chain: MacChain;
  readonly subject: Uint8Array;
  readonly keys: Map<number, StagedKey>;
  readonly blocks: Uint8Array[];
  size: number;
  nextBlock: number;
  lastBlockSeen: boolean;
}

export class PersoGate<A extends Application = Application> implements Application {
  readonly kind: PersoKind;
  readonly aid: Uint8Array;
  /** The application behind the gate. */
  readonly app: A;
  readonly #appIns: ReadonlySet<number>;
  readonly #store: RecordStore;
  readonly #crypto: PersoCrypto;
  readonly #rng: Rng;
  readonly #personalise: PersoGateOptions<A>['personalise'];
  #rt: Uint8Array | undefined;
  #session: Session | undefined;

  constructor(o: PersoGateOptions<A>) {
    this.kind = o.kind;
    this.aid = Uint8Array.from(o.aid);
    this.app = o.app;
    this.#appIns = new Set(o.appIns);
    this.#store = o.store;
    this.#crypto = new PersoCrypto(o.cipher);
    this.#rng = o.rng;
    this.#personalise = o.personalise;
  }

  /** The instructions to register: the application's and the gate's. */
  static insOf(appIns: readonly number[]): number[] {
    return [...new Set([...appIns, ...GATE_INS])];
  }

  /** The life-cycle status (LCS byte of `x.life`). */
  get lcs(): number {
    return this.#life()[0]!;
  }

  /** The chip's serial (set at manufacture). */
  get icsn(): Uint8Array {
    return this.#life().slice(2, 10);
  }

  get tkv(): number {
    return this.#life()[10]!;
  }

  #life(): Uint8Array {
    const v = this.#store.view(KEY_LIFE);
    if (!v || v.length !== LIFE_RECORD_LENGTH)
      throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'no life-cycle record');
    return v;
  }

  reset(): void {
    this.#endSession();
    this.app.reset();
  }

  #endSession(): void {
    if (this.#rt) wipe(this.#rt);
    this.#rt = undefined;
    const s = this.#session;
    if (!s) return;
    s.chain.wipe();
    wipe(s.skEnc, ...[...s.keys.values()].map((k) => k.key), ...s.blocks);
    this.#session = undefined;
  }

  /** ISO/IEC 7816-4 §5.3.3: the FCI of the life-cycle state (see the table on top). */
  select(): Uint8Array | ResponseApdu {
    const life = this.#life();
    switch (life[0]) {
      case LCS_ACTIVATED:
        return this.app.select();
      case LCS_DEACTIVATED: {
        const fci = this.app.select();
        return new ResponseApdu(fci instanceof ResponseApdu ? fci.data : fci, SW_SELECTED_FILE_DEACTIVATED);
      }
      case LCS_TERMINATED:
        return new ResponseApdu(
          fci(this.aid, LCS_TERMINATED, new Uint8Array(0)),
          SW_SELECTED_FILE_TERMINATED,
        );
    }
    const a5 = concatBytes(
      Uint8Array.of(0xc9, 8),
      life.subarray(2, 10),
      Uint8Array.of(0xca, 1, life[10]!, 0xcb, 1, life[1]!),
    );
    return fci(this.aid, life[0]!, concatBytes(Uint8Array.of(0xa5, a5.length), a5));
  }

  process(c: CommandApdu, ctx: CommandContext): HandlerResult {
    const lcs = this.lcs;
    if (lcs === LCS_TERMINATED) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'card terminated');
    if (c.cla === 0x80 && GATE_INS.includes(c.ins)) return this.#gate(c, lcs);
    if (!this.#appIns.has(c.ins)) throw new SwError(SW_INS_NOT_SUPPORTED);
    if (lcs !== LCS_ACTIVATED) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'application not active');
    return this.app.process(c, ctx);
  }

  #gate(c: CommandApdu, lcs: number): HandlerResult {
    switch (c.ins) {
      case INS_PERSO_GET_CHALLENGE:
        return this.#getChallenge(c);
      case INS_PERSO_EXTERNAL_AUTH:
        return this.#externalAuthenticate(c, lcs);
    }
    // Every refusal inside a session ends it (and drops what was staged).
    try {
      const s = this.#session;
      if (!s) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'no personalisation session');
      switch (c.ins) {
        case INS_PUT_KEY:
          return this.#putKey(c, s, lcs);
        case INS_STORE_DATA:
          return this.#storeData(c, s, lcs);
        default:
          return this.#setStatus(c, s, lcs);
      }
    } catch (e) {
      this.#endSession();
      throw e;
    }
  }

  /** GET CHALLENGE 80 84 00 00 08 → RT(8); starts afresh. */
  #getChallenge(c: CommandApdu): Uint8Array {
    this.#endSession();
    if (c.p1 !== 0 || c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (c.nc !== 0 || (c.ne !== 8 && c.ne !== 256)) throw new SwError(SW_WRONG_LENGTH);
    this.#rt = this.#rng.bytes(8);
    return this.#rt.slice();
  }

  /**
   * EXTERNAL AUTHENTICATE 80 82 00 00 RM(8) ‖ subject ‖ host cryptogram(8) → card cryptogram(8).
   * P1 may also name the chip's own kind; another kind, or a subject of another kind's length:
   * 6A80. A wrong cryptogram: 6300 and the challenge is spent.
   */
  #externalAuthenticate(c: CommandApdu, lcs: number): Uint8Array {
    const rt = this.#rt;
    this.#rt = undefined;
    this.#endSession();
    try {
      if (c.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
      if (c.p1 !== 0 && c.p1 !== this.kind) {
        if (c.p1 >= KIND_SUBSCRIBER && c.p1 <= KIND_COMMISSIONING)
          throw new SwError(SW_WRONG_DATA, 'another kind');
        throw new SwError(SW_INCORRECT_P1P2);
      }
      const n = subjectLength(this.kind);
      if (c.nc !== 16 + n) {
        const other = [KIND_SUBSCRIBER, KIND_SAM, KIND_COMMISSIONING].some(
          (k) => c.nc === 16 + subjectLength(k),
        );
        throw new SwError(other ? SW_WRONG_DATA : SW_WRONG_LENGTH);
      }
      if (!rt) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'no challenge');
      const d = c.dataView();
      const rm = d.subarray(0, 8);
      const subject = d.slice(8, 8 + n);
      const life = this.#life();
      const icsn = life.subarray(2, 10);
      const sk = this.#crypto.sessionKeys(life.subarray(11, 27), rt, rm);
      const host = this.#crypto.hostCryptogram(sk.mac, this.kind, icsn, rt, rm, subject);
      const good = verifyMac(host, d.subarray(8 + n, 16 + n));
      wipe(host);
      if (!good) {
        wipe(sk.enc, sk.mac);
        throw new SwError(SW_VERIFICATION_FAILED, 'host cryptogram');
      }
      if (lcs !== LCS_INITIALISATION) {
        const own = ownSubject(this.kind, this.#store);
        if (own.length !== subject.length || !verifyMac(own, subject)) {
          wipe(sk.enc, sk.mac);
          throw new SwError(SW_WRONG_DATA, 'not this card');
        }
      }
      const card = this.#crypto.cardCryptogram(sk.mac, this.kind, icsn, rt, rm, subject);
      this.#session = {
        skEnc: sk.enc,
        chain: new MacChain(this.#crypto, sk.mac, card),
        subject,
        keys: new Map(),
        blocks: [],
        size: 0,
        nextBlock: 0,
        lastBlockSeen: false,
      };
      return card;
    } finally {
      if (rt) wipe(rt);
    }
  }

  /** The MAC (last 8 bytes) of a session command, checked over its header and the rest. */
  #checkMac(c: CommandApdu, s: Session): Uint8Array {
    const d = c.dataView();
    if (d.length < 8) throw new SwError(SW_WRONG_LENGTH);
    const body = d.subarray(0, d.length - 8);
    if (!s.chain.check(macHeader(c.cla, c.ins, c.p1, c.p2), body, d.subarray(d.length - 8)))
      throw new SwError(SW_SM_DATA_OBJECTS_INCORRECT, 'command MAC');
    return body;
  }

  /** PUT KEY 80 D8 <key version> <key id> E(key)(16) ‖ KCV(3) ‖ MAC(8): staged in RAM. */
  #putKey(c: CommandApdu, s: Session, lcs: number): void {
    if (lcs !== LCS_INITIALISATION) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'card personalised');
    if (!validKeyId(this.kind, c.p2)) throw new SwError(SW_INCORRECT_P1P2, 'no such key id');
    if (c.nc !== PUT_KEY_DATA_LENGTH) throw new SwError(SW_WRONG_LENGTH);
    const wrapped = this.#checkMac(c, s);
    const key = this.#crypto.unwrapKey(s.skEnc, wrapped);
    if (!key) throw new SwError(SW_WRONG_DATA, 'key check value');
    const old = s.keys.get(c.p2);
    if (old) wipe(old.key);
    s.keys.set(c.p2, { version: c.p1, key });
  }

  /** STORE DATA 80 E2 <80 last | 00> <block number> TLVs ‖ MAC(8): staged in RAM. */
  #storeData(c: CommandApdu, s: Session, lcs: number): void {
    if (lcs !== LCS_INITIALISATION) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'card personalised');
    if (s.lastBlockSeen) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'the last block was given');
    if ((c.p1 !== 0x00 && c.p1 !== 0x80) || c.p2 !== s.nextBlock)
      throw new SwError(SW_INCORRECT_P1P2, 'block out of order');
    if (c.nc < 8) throw new SwError(SW_WRONG_LENGTH);
    if (s.size + c.nc - 8 > STORE_DATA_MAX) throw new SwError(SW_NOT_ENOUGH_MEMORY, 'too much STORE DATA');
    const body = this.#checkMac(c, s);
    s.blocks.push(body.slice());
    s.size += body.length;
    s.nextBlock++;
    s.lastBlockSeen = c.p1 === 0x80;
  }

  /** SET STATUS 80 F0 00 <LCS> MAC(8) → receipt(8); one commit. */
  #setStatus(c: CommandApdu, s: Session, lcs: number): Uint8Array {
    if (c.p1 !== 0) throw new SwError(SW_INCORRECT_P1P2);
    if (!TRANSITIONS.get(lcs)?.includes(c.p2))
      throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'no such transition');
    if (c.nc !== 8) throw new SwError(SW_WRONG_LENGTH);
    this.#checkMac(c, s);
    const life = this.#life().slice();
    life[0] = c.p2;
    const lifeWrite: StoreWrite = [KEY_LIFE, life];
    if (lcs === LCS_INITIALISATION) {
      if (!s.lastBlockSeen) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'STORE DATA incomplete');
      const staged: StagedPerso = {
        subject: s.subject,
        keys: s.keys,
        data: concatBytes(...s.blocks),
        unwrapPin: (w) => this.#crypto.unwrapPinBlock(s.skEnc, w),
      };
      const store = new AppendingStore(this.#store, lifeWrite);
      try {
        this.#personalise(store, staged);
      } catch (e) {
        if (e instanceof SwError || e instanceof CardPowerLostError) throw e;
        if (e instanceof RangeError || e instanceof TypeError) throw new SwError(SW_WRONG_DATA, e.message);
        throw e;
      }
      if (store.commits !== 1) throw new Error('personalise must commit exactly once');
    } else this.#store.commit([lifeWrite]);
    const receipt = s.chain.receipt(c.p2);
    this.#endSession();
    return receipt;
  }
}

/** 6F { 84 AID, 8A LCS, more }. */
function fci(aid: Uint8Array, lcs: number, more: Uint8Array): Uint8Array {
  const body = concatBytes(Uint8Array.of(0x84, aid.length), aid, Uint8Array.of(0x8a, 1, lcs), more);
  return concatBytes(Uint8Array.of(0x6f, body.length), body);
}

function validKeyId(kind: number, id: number): boolean {
  switch (kind) {
    case KIND_SUBSCRIBER:
      return id >> 4 >= 1 && (id & 0x0f) >= 1 && (id & 0x0f) <= 4;
    case KIND_SAM:
      return (id >= 1 && id <= 4) || (id >= SAM_KEY_KT_BASE && id < SAM_KEY_KT_BASE + 8);
    case KIND_SVM:
      return id === 1 || id === 2;
    default:
      return id === 1;
  }
}

/**
 * The application's records, with `extra` added to its (one) commit: personalisation and LCS 05
 * in the same atomic transaction.
 */
class AppendingStore implements RecordStore {
  commits = 0;
  constructor(
    readonly inner: RecordStore,
    readonly extra: StoreWrite,
  ) {}
  view(key: string): Uint8Array | undefined {
    return this.inner.view(key);
  }
  read(key: string): Uint8Array | undefined {
    return this.inner.read(key);
  }
  commit(writes: readonly StoreWrite[]): void {
    if (this.commits++ > 0) throw new Error('personalise must commit exactly once');
    this.inner.commit([...writes, this.extra]);
  }
}
