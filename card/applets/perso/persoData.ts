/**
 * What a personalisation session staged (keys from PUT KEY, TLVs from STORE DATA), decoded per
 * kind into the application's own personalisation object (docs/personalisation.md §2, "STORE DATA
 * contents"), and the subject of an already personalised card.
 *
 * ```
 *   subscriber     5A CSN(8) | 42 issuer id(4) | 5F24 expiry(3) | C8 E(SK_enc, PIN block)(8)?
 *                  A0 { C2 purse id(1), C4 max(4), C5 limit(4), C6 unit(2), C7 balance(4)? } × n
 *   SAM            C1 meter id(3) | C2 terminal id(4) | C3 purse(1) | C4 pairing(2)
 *   SVM            as SAM, and C5 maximum(4) | C6 opening balance(4)?
 *   commissioning  5A CSN(8) | C3 purse(1) | C5 uses(2) | C9 payload(4..247)
 * ```
 *
 * Refusals: identity data that disagrees with the session's subject, a malformed or unknown
 * object, a key that belongs to nothing listed: `6A80`; a key or a field the kind needs that was
 * not given: `6985`. Nothing here writes; the gate hands the result to the application's
 * `personalise`.
 */
import { SwError } from '../../iso7816/errors.js';
import { SW_CONDITIONS_NOT_SATISFIED, SW_WRONG_DATA } from '../../iso7816/sw.js';
import { TlvNode } from '../../iso7816/tlv.js';
import { u16, u32 } from '../../util/bigEndian.js';
import { concatBytes } from '../../util/hex.js';
import { CardIdentity } from '../purse/records.js';
import { KEY_IDENTITY, type PurseInit, type PursePersonalisation } from '../purse/PurseApplet.js';
import { KEY_SAM_IDENTITY, KEY_SAM_KEYS, type SamPersonalisation } from '../sam/SamApplet.js';
import { KEY_SVM_IDENTITY, KEY_SVM_KEYS, type SvmPersonalisation } from '../svm/SvmApplet.js';
import type { CommissioningPersonalisation } from '../commissioning/CommissioningApplet.js';
import type { RecordStore } from '../platform/RecordStore.js';
import {
  COMM_KEY,
  KIND_COMMISSIONING,
  KIND_SAM,
  KIND_SUBSCRIBER,
  KIND_SVM,
  SAM_KEY_AUTH,
  SAM_KEY_COMM,
  SAM_KEY_DEBIT,
  SAM_KEY_KT_BASE,
  SAM_KEY_SVM,
  SVM_KEY_PROOF,
  SVM_KEY_SVM,
  subscriberKeyId,
} from './channel.js';

/** A key given by PUT KEY: its version (P1) and the key itself. */
export interface StagedKey {
  readonly version: number;
  readonly key: Uint8Array;
}

/** Everything a session staged before SET STATUS 05. */
export interface StagedPerso {
  /** The subject the session's cryptograms were made for. */
  readonly subject: Uint8Array;
  /** By key id (PUT KEY P2). */
  readonly keys: ReadonlyMap<number, StagedKey>;
  /** All STORE DATA blocks' TLVs, in order (MACs removed). */
  readonly data: Uint8Array;
  /** Decrypts a `C8` object: E(SK_enc, PIN block) → PIN block. */
  readonly unwrapPin: (wrapped: Uint8Array) => Uint8Array;
}

const wrong = (why: string): SwError => new SwError(SW_WRONG_DATA, why);
const missing = (why: string): SwError => new SwError(SW_CONDITIONS_NOT_SATISFIED, why);

/** The top-level objects by tag, each at most once except `repeatable` ones. */
function objects(data: Uint8Array, allowed: readonly number[], repeatable: readonly number[] = []) {
  let nodes: readonly TlvNode[];
  try {
    const list = TlvNode.decodeAll(data, { maxDepth: 2 });
    if (list.trailingPadding.length !== 0) throw wrong('padding after the STORE DATA objects');
    nodes = list.nodes;
  } catch (e) {
    if (e instanceof SwError) throw e;
    throw wrong('malformed STORE DATA objects');
  }
  const once = new Map<number, Uint8Array>();
  const many = new Map<number, TlvNode[]>();
  for (const n of nodes) {
    if (!allowed.includes(n.tag)) throw wrong(`unexpected object ${n.tag.toString(16)}`);
    if (repeatable.includes(n.tag)) {
      many.set(n.tag, [...(many.get(n.tag) ?? []), n]);
      continue;
    }
    if (once.has(n.tag)) throw wrong(`object ${n.tag.toString(16)} given twice`);
    once.set(n.tag, n.value);
  }
  return { once, many };
}

function field(m: ReadonlyMap<number, Uint8Array>, tag: number, name: string, length: number): Uint8Array {
  const v = m.get(tag);
  if (v === undefined) throw missing(`${name} missing`);
  if (v.length !== length) throw wrong(`${name} must be ${length} bytes`);
  return v;
}

function optional(m: ReadonlyMap<number, Uint8Array>, tag: number, name: string, length: number) {
  return m.has(tag) ? field(m, tag, name, length) : undefined;
}

function key(staged: StagedPerso, id: number, name: string): Uint8Array {
  const k = staged.keys.get(id);
  if (!k) throw missing(`key ${name} (${id.toString(16).padStart(2, '0')}) missing`);
  // Not a copy: the gate wipes the staged keys when the session ends.
  return k.key;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The PIN of a decrypted PIN block: ASCII digits (4..8) padded with FF. */
function pinOf(block: Uint8Array): string {
  let n = 0;
  while (n < block.length && block[n] !== 0xff) n++;
  if (n < 4 || n > 8 || block.subarray(n).some((b) => b !== 0xff)) throw wrong('PIN block malformed');
  const digits = block.subarray(0, n);
  if (digits.some((b) => b < 0x30 || b > 0x39)) throw wrong('PIN block malformed');
  return String.fromCharCode(...digits);
}

/** Subscriber card: identity, purses, every listed purse's four keys, the optional PIN. */
export function decodeSubscriber(staged: StagedPerso): PursePersonalisation {
  const { once, many } = objects(staged.data, [0x5a, 0x42, 0x5f24, 0xa0, 0xc8], [0xa0]);
  const csn = field(once, 0x5a, 'CSN', 8);
  if (!equal(csn, staged.subject)) throw wrong('CSN is not the subject');
  const issuerId = field(once, 0x42, 'issuer id', 4);
  const expiry = field(once, 0x5f24, 'expiry', 3);
  const purses: PurseInit[] = [];
  for (const node of many.get(0xa0) ?? []) {
    const inner = new Map<number, Uint8Array>();
    for (const c of node.children) {
      if (![0xc2, 0xc4, 0xc5, 0xc6, 0xc7].includes(c.tag) || inner.has(c.tag))
        throw wrong('purse object malformed');
      inner.set(c.tag, c.value);
    }
    const id = field(inner, 0xc2, 'purse id', 1)[0]!;
    if (id < 1 || id > 15) throw wrong('purse id must be 1..15');
    if (purses.some((p) => p.id === id)) throw wrong(`purse ${id} listed twice`);
    const balance = optional(inner, 0xc7, 'balance', 4);
    purses.push({
      id,
      max: u32(field(inner, 0xc4, 'max', 4), 0),
      limit: u32(field(inner, 0xc5, 'limit', 4), 0),
      unit: u16(field(inner, 0xc6, 'unit', 2), 0),
      ...(balance ? { balance: u32(balance, 0) } : {}),
    });
  }
  if (purses.length === 0) throw missing('no purse listed');
  // Every key given must belong to a listed purse, all of one version (the card records one).
  const versions = new Set<number>();
  for (const [id, k] of staged.keys) {
    const type = id & 0x0f;
    if (type < 1 || type > 4 || !purses.some((p) => p.id === id >> 4))
      throw wrong(`key ${id.toString(16)} belongs to no listed purse`);
    versions.add(k.version);
  }
  if (versions.size > 1) throw wrong('keys of different versions');
  const keys = new Map(
    purses.map((p) => [
      p.id,
      {
        auth: key(staged, subscriberKeyId(p.id, 1), 'K_auth'),
        debit: key(staged, subscriberKeyId(p.id, 2), 'K_debit'),
        credit: key(staged, subscriberKeyId(p.id, 3), 'K_credit'),
        proof: key(staged, subscriberKeyId(p.id, 4), 'K_proof'),
      },
    ]),
  );
  const wrappedPin = optional(once, 0xc8, 'PIN', 8);
  let pin: string | undefined;
  if (wrappedPin) {
    const block = staged.unwrapPin(wrappedPin);
    try {
      pin = pinOf(block);
    } finally {
      block.fill(0);
    }
  }
  return {
    csn: csn.slice(),
    issuerId: issuerId.slice(),
    expiry: expiry.slice(),
    profileVersion: 1,
    keyVersion: [...versions][0]!,
    keys,
    purses,
    ...(pin !== undefined ? { pin } : {}),
  };
}

/** SAM / SVM identity objects, checked against the subject purse ‖ meter id ‖ pairing. */
function meterIdentity(once: ReadonlyMap<number, Uint8Array>, subject: Uint8Array) {
  const meterId = field(once, 0xc1, 'meter id', 3);
  const terminalId = field(once, 0xc2, 'terminal id', 4);
  const purse = field(once, 0xc3, 'purse', 1)[0]!;
  const pairing = field(once, 0xc4, 'pairing', 2);
  if (!equal(concatBytes(Uint8Array.of(purse), meterId, pairing), subject))
    throw wrong('meter identity is not the subject');
  if (purse < 1 || purse > 15) throw wrong('purse must be 1..15');
  return { meterId: meterId.slice(), terminalId: terminalId.slice(), purse, pairing: u16(pairing, 0) };
}

function onlyKeys(staged: StagedPerso, ok: (id: number) => boolean): void {
  for (const id of staged.keys.keys())
    if (!ok(id)) throw wrong(`key ${id.toString(16)} is not one of this kind`);
}

/** Meter SAM: MK_auth, MK_debit, MK_comm, K_svm and the KT[n] given (at least one). */
export function decodeSam(staged: StagedPerso): SamPersonalisation {
  const { once } = objects(staged.data, [0xc1, 0xc2, 0xc3, 0xc4]);
  const id = meterIdentity(once, staged.subject);
  onlyKeys(staged, (k) => (k >= 1 && k <= 4) || (k >= SAM_KEY_KT_BASE && k < SAM_KEY_KT_BASE + 8));
  const terminal = [...staged.keys.keys()]
    .filter((k) => k >= SAM_KEY_KT_BASE)
    .sort((a, b) => a - b)
    .map((k) => [k - SAM_KEY_KT_BASE, key(staged, k, 'KT')] as const);
  if (terminal.length === 0) throw missing('no terminal key KT[n]');
  return {
    meterId: id.meterId,
    terminalId: id.terminalId,
    keys: {
      purse: id.purse,
      pairing: id.pairing,
      mkAuth: key(staged, SAM_KEY_AUTH, 'MK_auth'),
      mkDebit: key(staged, SAM_KEY_DEBIT, 'MK_debit'),
      mkCommission: key(staged, SAM_KEY_COMM, 'MK_comm'),
      svm: key(staged, SAM_KEY_SVM, 'K_svm'),
      terminal,
    },
  };
}

/** SVM: MK_proof, K_svm, the register's maximum and opening balance. */
export function decodeSvm(staged: StagedPerso): SvmPersonalisation {
  const { once } = objects(staged.data, [0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6]);
  const id = meterIdentity(once, staged.subject);
  onlyKeys(staged, (k) => k === SVM_KEY_PROOF || k === SVM_KEY_SVM);
  const balance = optional(once, 0xc6, 'opening balance', 4);
  return {
    meterId: id.meterId,
    terminalId: id.terminalId,
    keys: {
      purse: id.purse,
      pairing: id.pairing,
      mkProof: key(staged, SVM_KEY_PROOF, 'MK_proof'),
      svm: key(staged, SVM_KEY_SVM, 'K_svm'),
    },
    max: u32(field(once, 0xc5, 'maximum', 4), 0),
    ...(balance ? { balance: u32(balance, 0) } : {}),
  };
}

/** Commissioning card: CSN, utility, uses, payload and K_comm. */
export function decodeCommissioning(staged: StagedPerso): CommissioningPersonalisation {
  const { once } = objects(staged.data, [0x5a, 0xc3, 0xc5, 0xc9]);
  const csn = field(once, 0x5a, 'CSN', 8);
  const purse = field(once, 0xc3, 'purse', 1)[0]!;
  if (!equal(concatBytes(Uint8Array.of(purse), csn), staged.subject))
    throw wrong('CSN or purse is not the subject');
  onlyKeys(staged, (k) => k === COMM_KEY);
  const payload = once.get(0xc9);
  if (!payload) throw missing('payload missing');
  return {
    csn: csn.slice(),
    purse,
    kComm: key(staged, COMM_KEY, 'K_comm'),
    uses: u16(field(once, 0xc5, 'uses', 2), 0),
    payload: payload.slice(),
  };
}

/**
 * The subject of a personalised card, from its records (a management session must name it).
 * @throws SwError 6985 when the records are not there.
 */
export function ownSubject(kind: number, store: RecordStore): Uint8Array {
  const need = (k: string): Uint8Array => {
    const v = store.view(k);
    if (!v) throw missing('the card holds no application data');
    return v;
  };
  switch (kind) {
    case KIND_SUBSCRIBER:
      return CardIdentity.decode(need(KEY_IDENTITY)).csn.slice();
    case KIND_SAM:
    case KIND_SVM: {
      const id = need(kind === KIND_SAM ? KEY_SAM_IDENTITY : KEY_SVM_IDENTITY);
      const keys = need(kind === KIND_SAM ? KEY_SAM_KEYS : KEY_SVM_KEYS);
      return concatBytes(keys.subarray(0, 1), id.subarray(0, 3), id.subarray(7, 9));
    }
    case KIND_COMMISSIONING:
      return concatBytes(need('c.purse'), need('c.csn'));
  }
  throw new RangeError(`unknown personalisation kind ${kind}`);
}
