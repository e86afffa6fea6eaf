/**
 * The two lists the centre distributes to every terminal (seed 004): the invalid-card list
 * (blacklist, Fig. 9 and Figs. 14–16: lost, stolen, cloned cards) and the troubled-terminal list
 * (Fig. 10: stolen terminals, with TS0 and t at report). Both are signed by the centre, carry a
 * strictly increasing list version (a terminal refuses a version not above the one it holds:
 * reason 'version'), an issue time and a term of validity, and keep their entries in strictly
 * ascending id order (no duplicates; lookup by binary search).
 *
 * ```asn1
 * InvalidCardList ::= SEQUENCE { tbs TBSInvalidCardList, signatureAlgorithm OBJECT IDENTIFIER, signature OCTET STRING }
 * TBSInvalidCardList ::= [APPLICATION 4] IMPLICIT SEQUENCE {
 *   version Version, centreId Id, listVersion Counter, issued Time, notAfter Time,
 *   entries SEQUENCE (SIZE (0..1000000)) OF InvalidCardEntry }      -- ascending cardId
 * InvalidCardEntry ::= SEQUENCE { cardId Id, reason InvalidCardReason, listedAt Time }
 * InvalidCardReason ::= ENUMERATED { lost(0), stolen(1), cloned(2), abnormal(3), other(4) }
 *
 * TroubledTerminalList ::= SEQUENCE { tbs TBSTroubledTerminalList, signatureAlgorithm OBJECT IDENTIFIER, signature OCTET STRING }
 * TBSTroubledTerminalList ::= [APPLICATION 5] IMPLICIT SEQUENCE {
 *   version Version, centreId Id, listVersion Counter, issued Time, notAfter Time,
 *   entries SEQUENCE (SIZE (0..1000000)) OF TroubledTerminalEntry }  -- ascending terminalId
 * TroubledTerminalEntry ::= SEQUENCE {
 *   terminalId Id, chainKey OCTET STRING (SIZE (16)), timeStampOrigin OCTET STRING (SIZE (16)),
 *   updateCounterAtReport UpdateCounter, reportedAt Time }
 * ```
 */
import type { Signer } from '../crypto/signature.js';
import { checkBytes, checkInt, checkTime, enc, type Node } from './internal/der.js';
import { SignedStructure, decodeSigned, signFields, type SignatureParts } from './internal/signed.js';
import {
  ID_MAX_LENGTH,
  ID_MIN_LENGTH,
  MAX_COUNTER,
  MAX_LIST_ENTRIES,
  PKI_VERSION,
  checkId,
} from './limits.js';
import { TIME_STAMP_LENGTH, TS_MAX_UPDATES } from './timeStamp.js';

export const TAG_TBS_INVALID_CARD_LIST = 4;
export const TAG_TBS_TROUBLED_TERMINAL_LIST = 5;

/** Byte-wise order of ids: lexicographic, a proper prefix first. */
export function compareIds(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

export interface SignedListFields<E> {
  readonly centreId: Uint8Array;
  /** Strictly increasing per centre and list kind. */
  readonly listVersion: number;
  readonly issued: number;
  readonly notAfter: number;
  /** Strictly ascending by id (see {@link compareIds}); at most 1,000,000. */
  readonly entries: readonly E[];
}

abstract class SignedList<E> extends SignedStructure implements SignedListFields<E> {
  readonly centreId: Uint8Array;
  readonly listVersion: number;
  readonly issued: number;
  readonly notAfter: number;
  readonly entries: readonly E[];

  protected constructor(
    f: SignedListFields<E> & SignatureParts,
    checkEntry: (e: unknown, i: number) => E,
    id: (e: E) => Uint8Array,
  ) {
    super(f);
    this.centreId = checkId('centreId', f.centreId);
    this.listVersion = checkInt('listVersion', f.listVersion, 0, MAX_COUNTER);
    this.issued = checkTime('issued', f.issued);
    this.notAfter = checkTime('notAfter', f.notAfter);
    if (this.notAfter < this.issued) throw new RangeError('notAfter must not be before issued');
    if (!Array.isArray(f.entries)) throw new TypeError('entries must be an array');
    if (f.entries.length > MAX_LIST_ENTRIES)
      throw new RangeError(`entries must hold at most ${MAX_LIST_ENTRIES}, got ${f.entries.length}`);
    const out: E[] = new Array(f.entries.length);
    for (let i = 0; i < f.entries.length; i++) {
      out[i] = checkEntry(f.entries[i], i);
      if (i > 0 && compareIds(id(out[i - 1]!), id(out[i]!)) >= 0)
        throw new RangeError(`entries[${i}] is not in strictly ascending id order`);
    }
    this.entries = Object.freeze(out);
    this.#id = id;
  }

  readonly #id: (e: E) => Uint8Array;

  /** The entry for `id`, by binary search. */
  protected find(id: Uint8Array): E | undefined {
    let lo = 0;
    let hi = this.entries.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareIds(this.#id(this.entries[mid]!), id);
      if (c === 0) return this.entries[mid];
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  protected listBlock(tag: number, entry: (e: E) => Uint8Array): Uint8Array {
    return enc.app(tag, [
      enc.int(PKI_VERSION),
      enc.octets(this.centreId),
      enc.int(this.listVersion),
      enc.time(this.issued),
      enc.time(this.notAfter),
      enc.seq(this.entries.map(entry)),
    ]);
  }
}

function readList<E>(n: Node[], readEntry: (n: Node) => E, id: (e: E) => Uint8Array): SignedListFields<E> {
  const [ver, centre, lv, issued, na, list] = n as [Node, Node, Node, Node, Node, Node];
  ver.integer('version', PKI_VERSION, PKI_VERSION);
  const nodes = list.sequence('entries', undefined, undefined, MAX_LIST_ENTRIES);
  if (nodes.length > MAX_LIST_ENTRIES) list.fail(`more than ${MAX_LIST_ENTRIES} entries`);
  const entries: E[] = new Array(nodes.length);
  for (let i = 0; i < nodes.length; i++) {
    entries[i] = readEntry(nodes[i]!);
    if (i > 0 && compareIds(id(entries[i - 1]!), id(entries[i]!)) >= 0)
      nodes[i]!.fail(`entry ${i} is not in strictly ascending id order`);
  }
  return {
    centreId: centre.octets('centreId', ID_MIN_LENGTH, ID_MAX_LENGTH),
    listVersion: lv.integer('listVersion', 0, MAX_COUNTER),
    issued: issued.time('issued'),
    notAfter: na.time('notAfter'),
    entries,
  };
}

// ---------------------------------------------------------------------------------------------

export type InvalidCardReason = 'lost' | 'stolen' | 'cloned' | 'abnormal' | 'other';
export const INVALID_CARD_REASONS: readonly InvalidCardReason[] = [
  'lost',
  'stolen',
  'cloned',
  'abnormal',
  'other',
];

export interface InvalidCardEntry {
  readonly cardId: Uint8Array;
  readonly reason: InvalidCardReason;
  readonly listedAt: number;
}

function checkInvalidCardEntry(e: unknown, i: number): InvalidCardEntry {
  if (e === null || typeof e !== 'object') throw new TypeError(`entries[${i}] must be an object`);
  const x = e as InvalidCardEntry;
  if (!INVALID_CARD_REASONS.includes(x.reason))
    throw new RangeError(`entries[${i}].reason must be one of ${INVALID_CARD_REASONS.join(', ')}`);
  return Object.freeze({
    cardId: checkId(`entries[${i}].cardId`, x.cardId),
    reason: x.reason,
    listedAt: checkTime(`entries[${i}].listedAt`, x.listedAt),
  });
}

/** The centre-signed invalid-card list (blacklist), area 2M2 of the terminals. See the file comment. */
export class InvalidCardList extends SignedList<InvalidCardEntry> {
  /** @throws TypeError/RangeError naming the field (entries out of order included). */
  constructor(f: SignedListFields<InvalidCardEntry> & SignatureParts) {
    super(f, checkInvalidCardEntry, (e) => e.cardId);
  }

  static sign(fields: SignedListFields<InvalidCardEntry>, signer: Signer): InvalidCardList {
    return signFields(fields, signer, (f) => new InvalidCardList(f));
  }

  /** @throws MalformedDataError (kind 'invalid-card-list') with the offset; never another error. */
  static decode(der: Uint8Array): InvalidCardList {
    return decodeSigned(
      der,
      'invalid-card-list',
      TAG_TBS_INVALID_CARD_LIST,
      6,
      (n) =>
        readList(
          n,
          (e) => {
            const [id, reason, at] = e.sequence('InvalidCardEntry', 3) as [Node, Node, Node];
            return {
              cardId: id.octets('cardId', ID_MIN_LENGTH, ID_MAX_LENGTH),
              reason: INVALID_CARD_REASONS[reason.enumerated('reason', INVALID_CARD_REASONS.length - 1)]!,
              listedAt: at.time('listedAt'),
            };
          },
          (e) => e.cardId,
        ),
      (f) => new InvalidCardList(f),
    );
  }

  /** The entry of a listed card, or undefined. */
  entryFor(cardId: Uint8Array): InvalidCardEntry | undefined {
    return this.find(cardId);
  }

  /** Whether the card is listed (refuse it). */
  has(cardId: Uint8Array): boolean {
    return this.find(cardId) !== undefined;
  }

  protected tbsBlock(): Uint8Array {
    return this.listBlock(TAG_TBS_INVALID_CARD_LIST, (e) =>
      enc.seq([
        enc.octets(e.cardId),
        enc.enumerated(INVALID_CARD_REASONS.indexOf(e.reason)),
        enc.time(e.listedAt),
      ]),
    );
  }
}

// ---------------------------------------------------------------------------------------------

export interface TroubledTerminalEntry {
  readonly terminalId: Uint8Array;
  /** K of the terminal's time-stamp chain (16 bytes; publishing it is harmless: the chain is one-way). */
  readonly chainKey: Uint8Array;
  /** TS0, the chain's initial value (16 bytes). */
  readonly timeStampOrigin: Uint8Array;
  /** t at the time the trouble was reported: cards with t ≤ this were served before. */
  readonly updateCounterAtReport: number;
  readonly reportedAt: number;
}

function checkTroubledEntry(e: unknown, i: number): TroubledTerminalEntry {
  if (e === null || typeof e !== 'object') throw new TypeError(`entries[${i}] must be an object`);
  const x = e as TroubledTerminalEntry;
  return Object.freeze({
    terminalId: checkId(`entries[${i}].terminalId`, x.terminalId),
    chainKey: checkBytes(`entries[${i}].chainKey`, x.chainKey, TIME_STAMP_LENGTH, TIME_STAMP_LENGTH),
    timeStampOrigin: checkBytes(
      `entries[${i}].timeStampOrigin`,
      x.timeStampOrigin,
      TIME_STAMP_LENGTH,
      TIME_STAMP_LENGTH,
    ),
    updateCounterAtReport: checkInt(
      `entries[${i}].updateCounterAtReport`,
      x.updateCounterAtReport,
      0,
      TS_MAX_UPDATES,
    ),
    reportedAt: checkTime(`entries[${i}].reportedAt`, x.reportedAt),
  });
}

/** The centre-signed troubled-terminal list, area 2M5 of the terminals. See the file comment. */
export class TroubledTerminalList extends SignedList<TroubledTerminalEntry> {
  /** @throws TypeError/RangeError naming the field (entries out of order included). */
  constructor(f: SignedListFields<TroubledTerminalEntry> & SignatureParts) {
    super(f, checkTroubledEntry, (e) => e.terminalId);
  }

  static sign(fields: SignedListFields<TroubledTerminalEntry>, signer: Signer): TroubledTerminalList {
    return signFields(fields, signer, (f) => new TroubledTerminalList(f));
  }

  /** @throws MalformedDataError (kind 'troubled-terminal-list') with the offset; never another error. */
  static decode(der: Uint8Array): TroubledTerminalList {
    return decodeSigned(
      der,
      'troubled-terminal-list',
      TAG_TBS_TROUBLED_TERMINAL_LIST,
      6,
      (n) =>
        readList(
          n,
          (e) => {
            const [id, k, ts0, t, at] = e.sequence('TroubledTerminalEntry', 5) as [
              Node,
              Node,
              Node,
              Node,
              Node,
            ];
            return {
              terminalId: id.octets('terminalId', ID_MIN_LENGTH, ID_MAX_LENGTH),
              chainKey: k.octets('chainKey', TIME_STAMP_LENGTH, TIME_STAMP_LENGTH),
              timeStampOrigin: ts0.octets('timeStampOrigin', TIME_STAMP_LENGTH, TIME_STAMP_LENGTH),
              updateCounterAtReport: t.integer('updateCounterAtReport', 0, TS_MAX_UPDATES),
              reportedAt: at.time('reportedAt'),
            };
          },
          (e) => e.terminalId,
        ),
      (f) => new TroubledTerminalList(f),
    );
  }

  /** The entry of a listed terminal, or undefined. */
  entryFor(terminalId: Uint8Array): TroubledTerminalEntry | undefined {
    return this.find(terminalId);
  }

  protected tbsBlock(): Uint8Array {
    return this.listBlock(TAG_TBS_TROUBLED_TERMINAL_LIST, (e) =>
      enc.seq([
        enc.octets(e.terminalId),
        enc.octets(e.chainKey),
        enc.octets(e.timeStampOrigin),
        enc.int(e.updateCounterAtReport),
        enc.time(e.reportedAt),
      ]),
    );
  }
}
