import { toHex } from '../util/hex.js';
import { u16 } from '../util/bigEndian.js';

/**
 * Decoding of the historical bytes T1…TK of an ATR (ISO/IEC 7816-4:2020 §8.1.1, "Historical
 * bytes"; tables of card service data, card capabilities and life cycle status).
 *
 * ```
 *  T1 = category indicator
 *    00        COMPACT-TLV objects, then a mandatory status indicator in the last 3 bytes
 *              (LCS SW1 SW2), not TLV-coded
 *    10        the next byte is a DIR data reference
 *    80        COMPACT-TLV objects; a status indicator, if any, is the object with tag 8
 *    81…8F     RFU
 *    others    proprietary
 *
 *  COMPACT-TLV object:  [ tag(4 bits) | length(4 bits) ] value(length bytes)
 * ```
 *
 * The historical bytes belong to the card, so a malformed COMPACT-TLV never makes the ATR
 * invalid: the decoder never throws and reports the problem (offset and reason) in `problem`.
 */

export type HistoricalCategory =
  'none' | 'compact-tlv-with-status' | 'dir-data-reference' | 'compact-tlv' | 'rfu' | 'proprietary';

/** One COMPACT-TLV data object (ISO/IEC 7816-4 §8.1.1.2). */
export interface CompactTlvObject {
  /** Tag nibble 0..15. */
  tag: number;
  /** Name of the tag, or 'unknown'. */
  name: string;
  /** Value, upper-case hex. */
  value: string;
  /** Offset of the tag-length byte inside the historical bytes. */
  offset: number;
}

/** Card service data byte (ISO/IEC 7816-4 §8.1.1.2.3, tag 3). */
export interface CardServiceData {
  applicationSelectionByFullDfName: boolean;
  applicationSelectionByPartialDfName: boolean;
  berTlvDataObjectsInEfDir: boolean;
  berTlvDataObjectsInEfAtr: boolean;
  /** How EF.DIR and EF.ATR are read: b4-b2 = 100, 000, 010; anything else is RFU. */
  efDirAtrAccess: 'READ BINARY' | 'READ RECORD(S)' | 'GET DATA' | 'RFU';
  /** b1 = 0: the card has an MF. */
  hasMasterFile: boolean;
}

/** Card capabilities (ISO/IEC 7816-4 §8.1.1.2.7, tag 7): the three software function tables. */
export interface CardCapabilities {
  /** First software function table: DF selection and EF referencing methods. */
  selection: {
    byFullDfName: boolean;
    byPartialDfName: boolean;
    byPath: boolean;
    byFileIdentifier: boolean;
    implicitDf: boolean;
    shortEfIdentifier: boolean;
    recordNumber: boolean;
    recordIdentifier: boolean;
  };
  /** Second software function table (data coding byte), when present. */
  dataCoding?: {
    efsOfTlvStructure: boolean;
    writeBehaviour: 'one-time write' | 'proprietary' | 'write OR' | 'write AND';
    /** b5 = 1: 'FF' is a valid first byte of a BER-TLV tag. */
    ffTagValid: boolean;
    /** Data unit size in quartets (a power of two: 2^(b4-b1)). */
    dataUnitQuartets: number;
  };
  /** Third software function table, when present. */
  commands?: {
    commandChaining: boolean;
    extendedLcLe: boolean;
    /** b6: extended length information in EF.ATR/INFO (ISO/IEC 7816-4:2013 and later). */
    extendedLengthInfoInEfAtr: boolean;
    /** Logical channel number assignment (b5: by the card, b4: by the interface device). */
    logicalChannelAssignment:
      'none' | 'by the interface device' | 'by the card' | 'by the card and the interface device';
    /** Maximum number of logical channels: 1..7, or 8 meaning "8 or more" (b3-b1 = 111). */
    maxLogicalChannels: number;
  };
}

/** Status indicator (tag 8, or the last 3 bytes after category 00). */
export interface StatusIndicator {
  /** Life cycle status byte (ISO/IEC 7816-4 §7.4.10, table "LCS byte"). */
  lcs?: number;
  lifeCycle?: string;
  /** SW1-SW2 as a number, e.g. 0x9000. */
  sw?: number;
}

/** PC/SC Part 3 §3.1.3.2.3 pseudo-ATR of a contactless storage card ("80 4F 0C RID SS NN NN 00 00 00 00"). */
export interface PcscContactless {
  /** Registered application provider identifier, hex (A000000306 for PC/SC). */
  rid: string;
  /** Standard byte SS (e.g. 03 = ISO/IEC 14443 A part 3). */
  standard: number;
  /** Card name NN NN (e.g. 0001 = MIFARE Classic 1K). */
  cardName: number;
}

/** The decoded historical bytes. Every field is plain data (JSON-friendly). */
export interface HistoricalBytes {
  /** All historical bytes, upper-case hex. */
  hex: string;
  category: HistoricalCategory;
  /** T1, when K > 0. */
  categoryIndicator?: number;
  objects: CompactTlvObject[];
  /** Tag 1: country code (ISO 3166-1 numeric, 3 BCD digits) and national data. */
  country?: { code: string; nationalData: string };
  /** Tag 2: issuer identification number (ISO/IEC 7812-1), hex as given (BCD digits). */
  issuerIdentificationNumber?: string;
  cardServiceData?: CardServiceData;
  /** Tag 4, hex. */
  initialAccessData?: string;
  /** Tag 5, hex. */
  cardIssuerData?: string;
  /** Tag 6, hex. */
  preIssuingData?: string;
  cardCapabilities?: CardCapabilities;
  status?: StatusIndicator;
  /** Tag F: application identifier, hex. */
  applicationIdentifier?: string;
  /** Category 10: the DIR data reference byte. */
  dirDataReference?: number;
  pcscContactless?: PcscContactless;
  /** Why decoding stopped early, when the bytes do not follow their category's format. */
  problem?: { offset: number; reason: string };
}

const TAG_NAMES: readonly string[] = [
  'unknown',
  'country code and national data',
  'issuer identification number',
  'card service data',
  'initial access data',
  "card issuer's data",
  'pre-issuing data',
  'card capabilities',
  'status indicator',
  'unknown',
  'unknown',
  'unknown',
  'unknown',
  'unknown',
  'unknown',
  'application identifier',
];

/** Name of a COMPACT-TLV tag nibble. */
export function compactTlvTagName(tag: number): string {
  return TAG_NAMES[tag & 15] ?? 'unknown';
}

/** Meaning of a life cycle status byte (ISO/IEC 7816-4 §7.4.10). */
export function lifeCycleName(lcs: number): string {
  if (lcs === 0x00) return 'no information given';
  if (lcs === 0x01) return 'creation state';
  if (lcs === 0x03) return 'initialisation state';
  if (lcs >= 0x04 && lcs <= 0x07) {
    return lcs & 1 ? 'operational state (activated)' : 'operational state (deactivated)';
  }
  if (lcs >= 0x0c && lcs <= 0x0f) return 'termination state';
  if (lcs >= 0x10) return 'proprietary';
  return 'RFU';
}

const ACCESS: Record<number, CardServiceData['efDirAtrAccess']> = {
  4: 'READ BINARY',
  0: 'READ RECORD(S)',
  2: 'GET DATA',
};

function cardServiceData(b: number): CardServiceData {
  return {
    applicationSelectionByFullDfName: (b & 0x80) !== 0,
    applicationSelectionByPartialDfName: (b & 0x40) !== 0,
    berTlvDataObjectsInEfDir: (b & 0x20) !== 0,
    berTlvDataObjectsInEfAtr: (b & 0x10) !== 0,
    efDirAtrAccess: ACCESS[(b >> 1) & 7] ?? 'RFU',
    hasMasterFile: (b & 1) === 0,
  };
}

const WRITE: readonly NonNullable<CardCapabilities['dataCoding']>['writeBehaviour'][] = [
  'one-time write',
  'proprietary',
  'write OR',
  'write AND',
];
const CHANNELS: readonly NonNullable<CardCapabilities['commands']>['logicalChannelAssignment'][] = [
  'none',
  'by the interface device',
  'by the card',
  'by the card and the interface device',
];

function cardCapabilities(v: Uint8Array): CardCapabilities {
  const s = v[0]!;
  const caps: CardCapabilities = {
    selection: {
      byFullDfName: (s & 0x80) !== 0,
      byPartialDfName: (s & 0x40) !== 0,
      byPath: (s & 0x20) !== 0,
      byFileIdentifier: (s & 0x10) !== 0,
      implicitDf: (s & 0x08) !== 0,
      shortEfIdentifier: (s & 0x04) !== 0,
      recordNumber: (s & 0x02) !== 0,
      recordIdentifier: (s & 0x01) !== 0,
    },
  };
  if (v.length >= 2) {
    const d = v[1]!;
    caps.dataCoding = {
      efsOfTlvStructure: (d & 0x80) !== 0,
      writeBehaviour: WRITE[(d >> 5) & 3]!,
      ffTagValid: (d & 0x10) !== 0,
      dataUnitQuartets: 2 ** (d & 0x0f),
    };
  }
  if (v.length >= 3) {
    const c = v[2]!;
    caps.commands = {
      commandChaining: (c & 0x80) !== 0,
      extendedLcLe: (c & 0x40) !== 0,
      extendedLengthInfoInEfAtr: (c & 0x20) !== 0,
      logicalChannelAssignment: CHANNELS[(c >> 3) & 3]!,
      maxLogicalChannels: (c & 7) + 1,
    };
  }
  return caps;
}

function status(v: Uint8Array): StatusIndicator {
  // Length 1: LCS; 2: SW1 SW2; 3: LCS SW1 SW2 (ISO/IEC 7816-4 §8.1.1.3).
  const out: StatusIndicator = {};
  if (v.length === 1 || v.length === 3) {
    out.lcs = v[0]!;
    out.lifeCycle = lifeCycleName(v[0]!);
  }
  if (v.length >= 2) out.sw = u16(v, v.length - 2);
  return out;
}

const PCSC_RID = 'A000000306';

/**
 * Decodes a run of COMPACT-TLV objects from `h[start..end)` into `out`.
 * Returns false (after setting `out.problem`) when an object overruns the end or has a length its tag forbids.
 */
function compactTlv(h: Uint8Array, start: number, end: number, out: HistoricalBytes): boolean {
  let p = start;
  while (p < end) {
    const tl = h[p]!;
    const tag = tl >> 4;
    const len = tl & 15;
    if (p + 1 + len > end) {
      out.problem = {
        offset: p,
        reason: `COMPACT-TLV object ${toHex(h.subarray(p, p + 1))} (tag ${tag.toString(16).toUpperCase()}, length ${len}) overruns the historical bytes by ${p + 1 + len - end} byte(s)`,
      };
      return false;
    }
    const v = h.subarray(p + 1, p + 1 + len);
    out.objects.push({ tag, name: compactTlvTagName(tag), value: toHex(v), offset: p });
    switch (tag) {
      case 0x1: {
        const hex = toHex(v);
        out.country = { code: hex.slice(0, 3), nationalData: hex.slice(3) };
        break;
      }
      case 0x2:
        out.issuerIdentificationNumber = toHex(v);
        break;
      case 0x3:
        if (len !== 1) return bad(out, p, `card service data must be 1 byte, got ${len}`);
        out.cardServiceData = cardServiceData(v[0]!);
        break;
      case 0x4:
        out.initialAccessData = toHex(v);
        break;
      case 0x5:
        out.cardIssuerData = toHex(v);
        break;
      case 0x6:
        out.preIssuingData = toHex(v);
        break;
      case 0x7:
        if (len < 1 || len > 3) return bad(out, p, `card capabilities must be 1 to 3 bytes, got ${len}`);
        out.cardCapabilities = cardCapabilities(v);
        break;
      case 0x8:
        if (len < 1 || len > 3) return bad(out, p, `status indicator must be 1 to 3 bytes, got ${len}`);
        out.status = status(v);
        break;
      case 0xf:
        out.applicationIdentifier = toHex(v);
        break;
      default:
        break;
    }
    p += 1 + len;
  }
  return true;
}

function bad(out: HistoricalBytes, offset: number, reason: string): false {
  out.problem = { offset, reason };
  return false;
}

/**
 * Decodes historical bytes per their category indicator (ISO/IEC 7816-4 §8.1.1).
 * Never throws: a format problem is reported in the result's `problem`.
 */
export function decodeHistoricalBytes(h: Uint8Array): HistoricalBytes {
  if (h.length === 0) return { hex: '', category: 'none', objects: [] };
  const ci = h[0]!;
  const out: HistoricalBytes = { hex: toHex(h), category: 'none', categoryIndicator: ci, objects: [] };
  if (ci === 0x00) {
    out.category = 'compact-tlv-with-status';
    if (h.length < 4) {
      bad(out, h.length, `category 00 needs a 3-byte status indicator after it, got ${h.length - 1} byte(s)`);
      return out;
    }
    const s = h.length - 3;
    compactTlv(h, 1, s, out);
    out.status = status(h.subarray(s));
  } else if (ci === 0x10) {
    out.category = 'dir-data-reference';
    if (h.length !== 2) {
      bad(out, 1, `category 10 is followed by exactly one DIR data reference byte, got ${h.length - 1}`);
      if (h.length > 1) out.dirDataReference = h[1]!;
      return out;
    }
    out.dirDataReference = h[1]!;
  } else if (ci === 0x80) {
    out.category = 'compact-tlv';
    // PC/SC Part 3 pseudo-ATRs of contactless storage cards reuse category 80 with a BER-TLV
    // "4F 0C RID ..." that is not COMPACT-TLV: recognise it before trying COMPACT-TLV.
    if (h.length >= 10 && h[1] === 0x4f && h[2] === 0x0c && toHex(h.subarray(3, 8)) === PCSC_RID) {
      out.pcscContactless = {
        rid: PCSC_RID,
        standard: h[8]!,
        cardName: h.length >= 11 ? u16(h, 9) : h[9]!,
      };
      return out;
    }
    compactTlv(h, 1, h.length, out);
  } else if (ci >= 0x81 && ci <= 0x8f) {
    out.category = 'rfu';
  } else {
    out.category = 'proprietary';
  }
  return out;
}

/** What `encodeHistoricalBytes` needs: a category and COMPACT-TLV objects. */
export interface HistoricalBytesInit {
  /** 80: COMPACT-TLV objects only; 00: objects then the mandatory status indicator. */
  category: 0x00 | 0x80;
  /** Tag nibble 0..15 and value as hex (0..15 bytes each). */
  objects: { tag: number; value: string }[];
  /** Category 00 only: LCS SW1 SW2, 3 bytes of hex. */
  status?: string;
}

function hexArg(text: unknown, name: string): string {
  if (typeof text !== 'string' || text.length % 2 !== 0 || /[^0-9A-Fa-f]/.test(text))
    throw new RangeError(`${name} must be hex text with an even number of digits`);
  return text.toUpperCase();
}

/**
 * Encodes historical bytes (ISO/IEC 7816-4 §8.1.1) as upper-case hex, ready for
 * `AtrDescription.historicalBytes`: the category indicator, then `[tag|length] value` for each
 * object, then for category 00 the 3-byte status indicator.
 * @throws RangeError naming the field: bad tag, a value over 15 bytes, missing or misplaced
 *   status, or more than 15 historical bytes in all.
 */
export function encodeHistoricalBytes(init: HistoricalBytesInit): string {
  if (init.category !== 0x00 && init.category !== 0x80)
    throw new RangeError(`category must be 0x00 or 0x80, got ${String(init.category)}`);
  let out = init.category === 0 ? '00' : '80';
  init.objects.forEach((o, i) => {
    if (!Number.isInteger(o.tag) || o.tag < 0 || o.tag > 15)
      throw new RangeError(`objects[${i}].tag must be 0..15, got ${String(o.tag)}`);
    const v = hexArg(o.value, `objects[${i}].value`);
    if (v.length > 30) throw new RangeError(`objects[${i}].value must be at most 15 bytes`);
    out += ((o.tag << 4) | (v.length / 2)).toString(16).toUpperCase().padStart(2, '0') + v;
  });
  if (init.category === 0) {
    const s = hexArg(init.status, 'status');
    if (s.length !== 6) throw new RangeError('status must be 3 bytes (LCS SW1 SW2) for category 00');
    out += s;
  } else if (init.status !== undefined) {
    throw new RangeError('status is only for category 00; use an object with tag 8 for category 80');
  }
  if (out.length > 30)
    throw new RangeError(`historical bytes must be at most 15 bytes, got ${out.length / 2}`);
  return out;
}
