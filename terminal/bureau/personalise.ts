/**
 * The bureau's personalisation session (docs/personalisation.md §2): the PC carries bytes between
 * the master-key card and a blank chip and holds no key. Every key, the PIN and every STORE DATA
 * block come out of the MKC wrapped or MACed for this one chip and this one subject.
 *
 * ```
 *   chip  80 84 00 00 08                         → RT
 *   MKC   80 70 kind 00 ICSN ‖ tkv ‖ RT ‖ subject → RM ‖ host cryptogram
 *   chip  80 82 00 00 RM ‖ subject ‖ host cryptogram → card cryptogram
 *   MKC   80 72 00 00 card cryptogram
 *   per key:   MKC 80 74 00 id → P1 ‖ data;   chip 80 D8 P1 id data
 *   PIN:       MKC 80 78 00 00 PIN block → E(SK_enc, PIN block)            (STORE DATA tag C8)
 *   per block: MKC 80 76 P1 P2 TLVs → MAC;    chip 80 E2 P1 P2 TLVs ‖ MAC  (≤ 200 bytes a block)
 *   MKC   80 7A 00 05 → MAC;  chip 80 F0 00 05 MAC → receipt;  MKC 80 7C 00 00 receipt
 * ```
 *
 * Why a restart is safe: the chip stages everything in RAM and writes keys, data and LCS 05 in
 * one commit at SET STATUS. A card pulled at any point is found at LCS 03 (start again from the
 * top) or at LCS 05 with everything (readChip shows who it was personalised for; the receipt
 * was lost, nothing else). `isPersonalisedAs` tells the batch runner which.
 */
import type { CardChannel } from '../../reader/index.js';
import { CardChannelError } from '../../reader/index.js';
import { CommandApdu, ResponseApdu, TlvNode, findTlv } from '../../card/index.js';
import { SW_NO_ERROR, be16, be32, concatBytes, equalBytes, toHex, u16 } from '../../card/index.js';
import { AID_COMMISSIONING, AID_PURSE, AID_SAM, AID_SVM, persoChannel } from '../../card/index.js';
import { BureauError } from './BureauError.js';
import { MasterKeyCard, mkcPinBlock } from './MasterKeyCard.js';

const {
  COMM_KEY,
  INS_MKC_PERSO_AUTH,
  INS_MKC_PERSO_CLOSE,
  INS_MKC_PERSO_DATA,
  INS_MKC_PERSO_KEY,
  INS_MKC_PERSO_OPEN,
  INS_MKC_PERSO_PIN,
  INS_MKC_PERSO_RECEIPT,
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
  SAM_KEY_AUTH,
  SAM_KEY_COMM,
  SAM_KEY_DEBIT,
  SAM_KEY_KT_BASE,
  SAM_KEY_SVM,
  SVM_KEY_PROOF,
  SVM_KEY_SVM,
  subscriberKeyId,
} = persoChannel;

/** What a chip is made for. */
export type ChipKind = 'subscriber' | 'sam' | 'svm' | 'commissioning';

const KIND_CODE: Readonly<Record<ChipKind, number>> = {
  subscriber: KIND_SUBSCRIBER,
  sam: KIND_SAM,
  svm: KIND_SVM,
  commissioning: KIND_COMMISSIONING,
};
const KIND_NAME: Readonly<Record<number, ChipKind>> = {
  [KIND_SUBSCRIBER]: 'subscriber',
  [KIND_SAM]: 'sam',
  [KIND_SVM]: 'svm',
  [KIND_COMMISSIONING]: 'commissioning',
};
/** The application AID a chip of each kind answers SELECT with, blank or personalised. */
const AID_OF: Readonly<Record<ChipKind, Uint8Array>> = {
  subscriber: AID_PURSE,
  sam: AID_SAM,
  svm: AID_SVM,
  commissioning: AID_COMMISSIONING,
};

/** One purse of a subscriber card (the purse applet's PurseInit). */
export interface PurseInit {
  id: number;
  balance?: number;
  max: number;
  limit: number;
  unit: number;
}

export interface SubscriberOrder {
  kind: 'subscriber';
  /** The card serial number the bureau allocated, 8 bytes. */
  csn: Uint8Array;
  /** 4 bytes; default 4D505552 ("MPUR"). */
  issuerId?: Uint8Array;
  /** YYMMDD BCD, 3 bytes; default 301231. */
  expiry?: Uint8Array;
  purses: PurseInit[];
  /** 4..8 digits; the card then asks for it before DEBIT and LOAD. */
  pin?: string;
}

export interface SamOrder {
  kind: 'sam';
  meterId: Uint8Array;
  terminalId: Uint8Array;
  purse: number;
  pairing: number;
}

export interface SvmOrder {
  kind: 'svm';
  meterId: Uint8Array;
  terminalId: Uint8Array;
  purse: number;
  pairing: number;
  max: number;
  balance?: number;
}

export interface CommissioningOrder {
  kind: 'commissioning';
  csn: Uint8Array;
  purse: number;
  uses: number;
  /** 4..247 bytes. */
  payload: Uint8Array;
}

/** What the bureau is asked to make of one blank chip. */
export type PersoOrder = SubscriberOrder | SamOrder | SvmOrder | CommissioningOrder;

/**
 * What SELECT tells of a chip. Blank (LCS 03): kind, ICSN and tkv. Personalised (05), blocked
 * (04): kind and its identity from the application's FCI. Terminated (0C): kind only.
 */
export interface ChipInfo {
  lcs: number;
  kind: ChipKind;
  /** Blank chips. */
  icsn?: Uint8Array;
  tkv?: number;
  /** Subscriber and commissioning cards. */
  csn?: Uint8Array;
  /** SAM, SVM. */
  meterId?: Uint8Array;
  terminalId?: Uint8Array;
  /** SAM, SVM, commissioning card. */
  purse?: number;
  /** SAM, SVM. */
  pairing?: number;
}

export interface PersoResult {
  kind: ChipKind;
  /** The chip's serial, hex. */
  icsn: string;
  /** The subject the keys were derived for, hex. */
  subject: string;
  /** The MKC's issue counter after this card. */
  issueCounter: number;
}

/** A personalised card to block, unblock or terminate: its order (or identity) and its chip serial. */
export interface CardOfRecord {
  kind: ChipKind;
  /** The subject, as for its order: built from `order` when given. */
  order?: PersoOrder;
  subject?: Uint8Array;
  /** ICSN and tkv of the chip (kept by the bureau when it was personalised). */
  icsn: Uint8Array;
  tkv: number;
}

export type LifeCycleAction = 'block' | 'unblock' | 'terminate';

const LE = 256;
const SW_DEACTIVATED = 0x6283;
const SW_TERMINATED = 0x6285;
const SW_FILE_NOT_FOUND = 0x6a82;
/** Most bytes of TLVs in one STORE DATA (the spec's bound; the MAC makes it 208). */
export const STORE_DATA_BLOCK = 200;
const DEFAULT_ISSUER_ID = Uint8Array.of(0x4d, 0x50, 0x55, 0x52);
const DEFAULT_EXPIRY = Uint8Array.of(0x30, 0x12, 0x31);

// ---- bytes of an order ----

function bytes(v: Uint8Array | undefined, n: number, name: string): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== n)
    throw new BureauError('bad-order', 'order', `${name} must be ${n} bytes`);
  return v;
}

function int(v: number | undefined, min: number, max: number, name: string): number {
  if (v === undefined || !Number.isInteger(v) || v < min || v > max)
    throw new BureauError('bad-order', 'order', `${name} must be an integer ${min}..${max}, got ${v}`);
  return v;
}

/**
 * The subject of an order (§2): subscriber CSN(8); SAM, SVM purse ‖ meter id ‖ pairing;
 * commissioning purse ‖ CSN. @throws BureauError 'bad-order'.
 */
export function subjectOf(order: PersoOrder): Uint8Array {
  switch (order.kind) {
    case 'subscriber':
      return bytes(order.csn, 8, 'csn').slice();
    case 'sam':
    case 'svm':
      return concatBytes(
        Uint8Array.of(int(order.purse, 1, 15, 'purse')),
        bytes(order.meterId, 3, 'meterId'),
        be16(int(order.pairing, 1, 0xffff, 'pairing')),
      );
    case 'commissioning':
      return concatBytes(Uint8Array.of(int(order.purse, 1, 15, 'purse')), bytes(order.csn, 8, 'csn'));
  }
  throw new BureauError('bad-order', 'order', `unknown kind ${(order as { kind: unknown }).kind as string}`);
}

const tlv = (tag: number, value: Uint8Array): TlvNode => TlvNode.primitive(tag, value);

/** The STORE DATA objects of an order (§2 table); `wrappedPin` is the MKC's PERSO PIN answer. */
export function storeDataOf(order: PersoOrder, wrappedPin?: Uint8Array): Uint8Array {
  const nodes: TlvNode[] = [];
  switch (order.kind) {
    case 'subscriber': {
      if (order.purses.length < 1)
        throw new BureauError('bad-order', 'order', 'a subscriber card has at least one purse');
      nodes.push(
        tlv(0x5a, bytes(order.csn, 8, 'csn')),
        tlv(0x42, bytes(order.issuerId ?? DEFAULT_ISSUER_ID, 4, 'issuerId')),
        tlv(0x5f24, bytes(order.expiry ?? DEFAULT_EXPIRY, 3, 'expiry')),
      );
      for (const p of order.purses)
        nodes.push(
          TlvNode.constructed(0xa0, [
            tlv(0xc2, Uint8Array.of(int(p.id, 1, 15, 'purse id'))),
            tlv(0xc4, be32(int(p.max, 0, 0xffffffff, 'max'))),
            tlv(0xc5, be32(int(p.limit, 0, 0xffffffff, 'limit'))),
            tlv(0xc6, be16(int(p.unit, 0, 0xffff, 'unit'))),
            ...(p.balance !== undefined ? [tlv(0xc7, be32(int(p.balance, 0, 0xffffffff, 'balance')))] : []),
          ]),
        );
      if (wrappedPin) nodes.push(tlv(0xc8, wrappedPin));
      break;
    }
    case 'sam':
    case 'svm':
      nodes.push(
        tlv(0xc1, bytes(order.meterId, 3, 'meterId')),
        tlv(0xc2, bytes(order.terminalId, 4, 'terminalId')),
        tlv(0xc3, Uint8Array.of(int(order.purse, 1, 15, 'purse'))),
        tlv(0xc4, be16(int(order.pairing, 1, 0xffff, 'pairing'))),
      );
      if (order.kind === 'svm') {
        nodes.push(tlv(0xc5, be32(int(order.max, 0, 0xffffffff, 'max'))));
        if (order.balance !== undefined)
          nodes.push(tlv(0xc6, be32(int(order.balance, 0, 0xffffffff, 'balance'))));
      }
      break;
    case 'commissioning':
      if (!(order.payload instanceof Uint8Array) || order.payload.length < 4 || order.payload.length > 247)
        throw new BureauError('bad-order', 'order', 'payload must be 4..247 bytes');
      nodes.push(
        tlv(0x5a, bytes(order.csn, 8, 'csn')),
        tlv(0xc3, Uint8Array.of(int(order.purse, 1, 15, 'purse'))),
        tlv(0xc5, be16(int(order.uses, 0, 0xffff, 'uses'))),
        tlv(0xc9, order.payload),
      );
      break;
  }
  return TlvNode.encodeAll(nodes);
}

/** The key ids the chip of an order needs; for a SAM, KT[n] for each KH version `khVersions`. */
export function keyIdsOf(order: PersoOrder, khVersions: readonly number[] = []): number[] {
  switch (order.kind) {
    case 'subscriber':
      return order.purses.flatMap((p) => ([1, 2, 3, 4] as const).map((t) => subscriberKeyId(p.id, t)));
    case 'sam':
      // Seed 000 rotates the host master keys: a SAM holds two KT versions (SamApplet refuses fewer).
      if (khVersions.length < 2)
        throw new BureauError(
          'bad-order',
          'order',
          `the MKC holds ${khVersions.length} host master version(s) KH[${order.purse}][n]: a SAM needs two (keys ceremony generate --kh-versions 2)`,
        );
      return [
        SAM_KEY_AUTH,
        SAM_KEY_DEBIT,
        SAM_KEY_COMM,
        SAM_KEY_SVM,
        ...khVersions.map((n) => SAM_KEY_KT_BASE + n),
      ];
    case 'svm':
      return [SVM_KEY_PROOF, SVM_KEY_SVM];
    case 'commissioning':
      return [COMM_KEY];
  }
}

// ---- the chip ----

async function chipSend(chip: CardChannel, cmd: CommandApdu, step: string): Promise<ResponseApdu> {
  try {
    return await chip.transmit(cmd);
  } catch (e) {
    if (e instanceof CardChannelError)
      throw new BureauError('chip-missing', step, `the chip does not answer: ${e.message}`, { cause: e });
    throw e;
  }
}

async function chipExpect(chip: CardChannel, cmd: CommandApdu, step: string): Promise<Uint8Array> {
  const r = await chipSend(chip, cmd, step);
  if (r.sw !== SW_NO_ERROR) throw new BureauError('chip-refused', step, undefined, { sw: r.sw });
  return r.data;
}

function selectCmd(aid: Uint8Array): CommandApdu {
  return new CommandApdu({ cla: 0x00, ins: 0xa4, p1: 0x04, p2: 0x00, data: aid, ne: LE });
}

function decodeChipFci(kind: ChipKind, fci: Uint8Array, sw: number): ChipInfo {
  const lcsTag = findTlv(fci, 0x8a);
  if (sw === SW_TERMINATED) return { lcs: LCS_TERMINATED, kind };
  if (lcsTag?.length === 1 && lcsTag[0] === LCS_INITIALISATION) {
    const icsn = findTlv(fci, 0xc9);
    const tkv = findTlv(fci, 0xca);
    const k = findTlv(fci, 0xcb);
    if (icsn?.length !== 8 || tkv?.length !== 1 || k?.length !== 1)
      throw new BureauError(
        'chip-refused',
        'SELECT',
        'a blank chip whose FCI lacks ICSN (C9), tkv (CA) or kind (CB)',
      );
    const made = KIND_NAME[k[0]!];
    if (!made)
      throw new BureauError('chip-refused', 'SELECT', `the blank chip names an unknown kind ${k[0]}`);
    return { lcs: LCS_INITIALISATION, kind: made, icsn: icsn.slice(), tkv: tkv[0]! };
  }
  if (lcsTag?.length === 1 && lcsTag[0] === LCS_TERMINATED) return { lcs: LCS_TERMINATED, kind };
  const info: ChipInfo = { lcs: sw === SW_DEACTIVATED ? LCS_DEACTIVATED : LCS_ACTIVATED, kind };
  const csn = findTlv(fci, 0x5a);
  if (kind === 'subscriber' && csn) info.csn = csn.slice();
  if (kind === 'commissioning') {
    if (csn) info.csn = csn.slice();
    const p = findTlv(fci, 0xc2);
    if (p?.length === 1) info.purse = p[0]!;
  }
  if (kind === 'sam' || kind === 'svm') {
    const m = findTlv(fci, 0xc4);
    const t = findTlv(fci, 0xc5);
    const p = findTlv(fci, 0xc7);
    const pr = findTlv(fci, 0xc8);
    if (m) info.meterId = m.slice();
    if (t) info.terminalId = t.slice();
    if (p?.length === 1) info.purse = p[0]!;
    if (pr?.length === 2) info.pairing = u16(pr, 0);
  }
  return info;
}

/**
 * SELECTs the chip (the application AIDs of the four kinds, `prefer`'s first) and tells what it
 * is: blank (LCS 03: kind, ICSN, tkv), personalised (05) or blocked (04) with the identity its FCI
 * shows, or terminated (0C). A SELECT ends any personalisation session the chip had.
 * @throws BureauError 'chip-missing' when no chip answers or none of the four applications is on it.
 */
export async function readChip(chip: CardChannel, prefer?: ChipKind): Promise<ChipInfo> {
  const kinds: ChipKind[] = ['subscriber', 'sam', 'svm', 'commissioning'];
  if (prefer) kinds.sort((a, b) => (a === prefer ? -1 : b === prefer ? 1 : 0));
  let last: number | undefined;
  for (const kind of kinds) {
    const r = await chipSend(chip, selectCmd(AID_OF[kind]), 'SELECT');
    if (r.sw === SW_NO_ERROR || r.sw === SW_DEACTIVATED || r.sw === SW_TERMINATED)
      return decodeChipFci(kind, r.data, r.sw);
    last = r.sw;
    if (r.sw !== SW_FILE_NOT_FOUND) break;
  }
  throw new BureauError(
    'chip-missing',
    'SELECT',
    'no subscriber, SAM, SVM or commissioning application answers on this chip',
    last !== undefined ? { sw: last } : {},
  );
}

/**
 * Is the chip personalised as `order` asks? (LCS 05 or 04, the same kind, and the identity its
 * FCI shows equal to the order's.) What a restart asks of a chip found at LCS 05.
 */
export function isPersonalisedAs(info: ChipInfo, order: PersoOrder): boolean {
  if ((info.lcs !== LCS_ACTIVATED && info.lcs !== LCS_DEACTIVATED) || info.kind !== order.kind) return false;
  const same = (a: Uint8Array | undefined, b: Uint8Array) => a !== undefined && equalBytes(a, b);
  switch (order.kind) {
    case 'subscriber':
      return same(info.csn, order.csn);
    case 'sam':
    case 'svm':
      return (
        same(info.meterId, order.meterId) &&
        same(info.terminalId, order.terminalId) &&
        info.purse === order.purse &&
        info.pairing === order.pairing
      );
    case 'commissioning':
      return same(info.csn, order.csn) && info.purse === order.purse;
  }
}

const mkcCmd = (ins: number, p1: number, p2: number, data?: Uint8Array, ne?: number): CommandApdu =>
  new CommandApdu({
    cla: 0x80,
    ins,
    p1,
    p2,
    ...(data && data.length ? { data } : {}),
    ...(ne ? { ne } : {}),
  });

/**
 * GET CHALLENGE, PERSO OPEN, EXTERNAL AUTHENTICATE, PERSO AUTH: an authenticated session between
 * the MKC and the chip for `subject`.
 */
async function openSession(
  mkc: MasterKeyCard,
  chip: CardChannel,
  kind: number,
  icsn: Uint8Array,
  tkv: number,
  subject: Uint8Array,
): Promise<void> {
  const rt = await chipExpect(chip, mkcCmd(INS_PERSO_GET_CHALLENGE, 0, 0, undefined, 8), 'GET CHALLENGE');
  if (rt.length !== 8)
    throw new BureauError('chip-refused', 'GET CHALLENGE', `challenge of ${rt.length} bytes, not 8`);
  const open = await mkc.expect(
    mkcCmd(INS_MKC_PERSO_OPEN, kind, 0, concatBytes(icsn, Uint8Array.of(tkv), rt, subject), LE),
    'MKC PERSO OPEN',
  );
  if (open.length !== 16)
    throw new BureauError('mkc-refused', 'MKC PERSO OPEN', `answer of ${open.length} bytes, not 16`);
  const r = await chipSend(
    chip,
    mkcCmd(
      INS_PERSO_EXTERNAL_AUTH,
      0,
      0,
      concatBytes(open.subarray(0, 8), subject, open.subarray(8, 16)),
      LE,
    ),
    'EXTERNAL AUTHENTICATE',
  );
  if (r.sw === 0x6300)
    throw new BureauError(
      'chip-refused',
      'EXTERNAL AUTHENTICATE',
      `the chip does not accept the MKC's cryptogram: the MKC's transport master MK_tr[${tkv}] is not this chip's`,
      { sw: r.sw },
    );
  if (r.sw !== SW_NO_ERROR)
    throw new BureauError('chip-refused', 'EXTERNAL AUTHENTICATE', undefined, { sw: r.sw });
  const a = await mkc.transmit(mkcCmd(INS_MKC_PERSO_AUTH, 0, 0, r.data), 'MKC PERSO AUTH');
  if (a.sw === 0x6300)
    throw new BureauError(
      'mkc-refused',
      'MKC PERSO AUTH',
      "the chip's cryptogram is wrong: not a genuine chip",
      {
        sw: a.sw,
      },
    );
  if (a.sw !== SW_NO_ERROR) throw new BureauError('mkc-refused', 'MKC PERSO AUTH', undefined, { sw: a.sw });
}

/** PERSO CLOSE <lcs>, SET STATUS <lcs>, PERSO RECEIPT. */
async function closeSession(mkc: MasterKeyCard, chip: CardChannel, lcs: number): Promise<void> {
  const hex = lcs.toString(16).toUpperCase().padStart(2, '0');
  const mac = await mkc.expect(mkcCmd(INS_MKC_PERSO_CLOSE, 0, lcs, undefined, LE), `MKC PERSO CLOSE ${hex}`);
  const receipt = await chipExpect(chip, mkcCmd(INS_SET_STATUS, 0, lcs, mac, LE), `SET STATUS ${hex}`);
  const r = await mkc.transmit(mkcCmd(INS_MKC_PERSO_RECEIPT, 0, 0, receipt), 'MKC PERSO RECEIPT');
  if (r.sw === 0x6300)
    throw new BureauError(
      'mkc-refused',
      'MKC PERSO RECEIPT',
      `the chip's receipt does not prove LCS ${hex}`,
      { sw: r.sw },
    );
  if (r.sw !== SW_NO_ERROR)
    throw new BureauError('mkc-refused', 'MKC PERSO RECEIPT', undefined, { sw: r.sw });
}

/**
 * Personalises the blank chip in `chip` as `order` asks, through the MKC (opened with its PIN):
 * the whole §2 session, ending with the chip at LCS 05 and the MKC's receipt check.
 * @returns kind, ICSN, subject and the MKC's issue counter after this card.
 * @throws BureauError: 'chip-not-blank' (the chip is at LCS 05, 04 or 0C; `isPersonalisedAs`
 *   tells whether it is this order's card), 'chip-wrong-kind', 'chip-missing' (gone mid-session:
 *   call again after readChip), 'chip-refused' / 'mkc-refused' naming the step and status word,
 *   'mkc-not-sealed', 'mkc-missing', 'bad-order'.
 */
export async function personalise(
  mkc: MasterKeyCard,
  chip: CardChannel,
  order: PersoOrder,
): Promise<PersoResult> {
  const subject = subjectOf(order);
  const kind = KIND_CODE[order.kind];
  const status = await mkc.status();
  if (!status.sealed)
    throw new BureauError(
      'mkc-not-sealed',
      'MKC GET DATA',
      'the master-key card is not sealed (LCS 03): load and seal it first',
    );
  const utilities = order.kind === 'subscriber' ? order.purses.map((p) => p.id) : [order.purse];
  for (const u of utilities)
    if (!status.slots.some((s) => s.slot === ((u << 4) | 1)))
      throw new BureauError('bad-order', 'order', `the master-key card holds no keys of utility ${u}`);
  const keyIds = keyIdsOf(order, order.kind === 'sam' ? MasterKeyCard.khVersions(status, order.purse) : []);
  let pinBlock: Uint8Array | undefined;
  if (order.kind === 'subscriber' && order.pin !== undefined) {
    try {
      pinBlock = mkcPinBlock(order.pin);
    } catch {
      throw new BureauError('bad-order', 'order', 'pin must be 4..8 digits');
    }
  }
  storeDataOf(order); // refuse a bad order before the chip is touched

  const info = await readChip(chip, order.kind);
  if (info.lcs !== LCS_INITIALISATION)
    throw new BureauError(
      'chip-not-blank',
      'SELECT',
      `the chip is not blank (LCS ${info.lcs.toString(16).padStart(2, '0')}, ${info.kind}${isPersonalisedAs(info, order) ? ', personalised as this order asks already' : ''})`,
    );
  if (info.kind !== order.kind)
    throw new BureauError(
      'chip-wrong-kind',
      'SELECT',
      `the chip is a blank ${info.kind}, the order is for a ${order.kind}`,
    );
  const icsn = info.icsn!;

  await openSession(mkc, chip, kind, icsn, info.tkv!, subject);
  for (const id of keyIds) {
    const hex = id.toString(16).toUpperCase().padStart(2, '0');
    const k = await mkc.expect(mkcCmd(INS_MKC_PERSO_KEY, 0, id, undefined, LE), `MKC PERSO KEY ${hex}`);
    if (k.length < 2)
      throw new BureauError('mkc-refused', `MKC PERSO KEY ${hex}`, `answer of ${k.length} bytes`);
    await chipExpect(chip, mkcCmd(INS_PUT_KEY, k[0]!, id, k.subarray(1)), `PUT KEY ${hex}`);
  }
  let wrappedPin: Uint8Array | undefined;
  if (pinBlock) {
    wrappedPin = await mkc.expect(mkcCmd(INS_MKC_PERSO_PIN, 0, 0, pinBlock, LE), 'MKC PERSO PIN');
    pinBlock.fill(0);
  }
  const data = storeDataOf(order, wrappedPin);
  const blocks = Math.ceil(data.length / STORE_DATA_BLOCK);
  for (let b = 0; b < blocks; b++) {
    const part = data.subarray(b * STORE_DATA_BLOCK, (b + 1) * STORE_DATA_BLOCK);
    const p1 = b === blocks - 1 ? 0x80 : 0x00;
    const mac = await mkc.expect(mkcCmd(INS_MKC_PERSO_DATA, p1, b, part, LE), `MKC PERSO DATA block ${b}`);
    await chipExpect(chip, mkcCmd(INS_STORE_DATA, p1, b, concatBytes(part, mac)), `STORE DATA block ${b}`);
  }
  await closeSession(mkc, chip, LCS_ACTIVATED);
  const after = await mkc.status();
  return { kind: order.kind, icsn: toHex(icsn), subject: toHex(subject), issueCounter: after.issueCounter };
}

/**
 * Blocks (05 → 04), unblocks (04 → 05) or terminates (05/04 → 0C, for ever) a personalised card
 * in a management session: the same authentication, no key, PERSO CLOSE with the new LCS. The
 * chip checks the subject is its own.
 * @throws BureauError as `personalise`, and 'chip-refused' for a transition the chip does not
 *   make (SET STATUS 6985) or another card's subject (EXTERNAL AUTHENTICATE 6A80).
 */
export async function setStatus(
  mkc: MasterKeyCard,
  chip: CardChannel,
  card: CardOfRecord,
  action: LifeCycleAction,
): Promise<{ lcs: number }> {
  const subject = card.subject ?? (card.order ? subjectOf(card.order) : undefined);
  if (!subject) throw new BureauError('bad-order', 'order', 'give the card its order or its subject');
  const lcs = action === 'block' ? LCS_DEACTIVATED : action === 'unblock' ? LCS_ACTIVATED : LCS_TERMINATED;
  const info = await readChip(chip, card.kind);
  if (info.kind !== card.kind)
    throw new BureauError('chip-wrong-kind', 'SELECT', `the chip is a ${info.kind}, not a ${card.kind}`);
  if (info.lcs === LCS_INITIALISATION)
    throw new BureauError('chip-refused', 'SELECT', 'the chip is blank: personalise it first');
  if (info.lcs === LCS_TERMINATED) throw new BureauError('chip-refused', 'SELECT', 'the card is terminated');
  await openSession(mkc, chip, KIND_CODE[card.kind], bytes(card.icsn, 8, 'icsn'), card.tkv, subject);
  await closeSession(mkc, chip, lcs);
  return { lcs };
}
