import { MalformedDataError } from './errors.js';
import { TlvNode } from './tlv.js';
import { be16, u16 } from '../util/bigEndian.js';

/**
 * File control information templates of ISO/IEC 7816-4 §5.3.3 (2013: §7.4):
 * ```
 *  62 FCP  file control parameters      64 FMD  file management data
 *  6F FCI  file control information (FCP and FMD objects together, e.g. the answer to SELECT)
 * ```
 * Data objects handled here (Table 10 of ISO/IEC 7816-4:2005 / Table 12 of 2013):
 * ```
 *  80 number of data bytes in the file        81 number of bytes incl. structural information
 *  82 file descriptor (+ data coding byte, max record size, number of records)
 *  83 file identifier (2 bytes)              84 DF name (1..16 bytes)
 *  85 proprietary, primitive                  A5 proprietary, constructed
 *  88 short EF identifier (b8-b4; empty = no SFI)
 *  8A life cycle status byte                  8B security attributes, referenced expanded format
 *  8C security attributes, compact format     AB security attributes, expanded format
 * ```
 * Other objects are kept in `others`, in order, so nothing is lost.
 */

export type FileCategory = 'working-ef' | 'internal-ef' | 'proprietary-ef' | 'df';
export type EfStructure =
  | 'no-information'
  | 'transparent'
  | 'linear-fixed'
  | 'linear-fixed-tlv'
  | 'linear-variable'
  | 'linear-variable-tlv'
  | 'cyclic'
  | 'cyclic-tlv';

export interface FileDescriptor {
  /** The file descriptor byte itself. */
  byte: number;
  shareable: boolean;
  category: FileCategory;
  /** EF structure (b3-b1); undefined for a DF. */
  structure: EfStructure | undefined;
  /** Data coding byte, when present. */
  dataCoding?: number;
  /** Maximum record size (1 or 2 bytes in the object). */
  maxRecordSize?: number;
  /** Number of records (1 or 2 bytes in the object). */
  numberOfRecords?: number;
}

export interface FileControlParameters {
  fileSize?: number;
  totalSize?: number;
  descriptor?: FileDescriptor;
  fileId?: number;
  dfName?: Uint8Array;
  proprietary?: Uint8Array;
  proprietaryTemplate?: TlvNode;
  /** Short EF identifier 1..30; null when 88 is present and empty (no SFI supported). */
  sfi?: number | null;
  lifeCycle?: number;
  securityReferenced?: Uint8Array;
  securityCompact?: Uint8Array;
  securityExpanded?: TlvNode;
  /** Any other objects of the template, in order. */
  others?: TlvNode[];
}

const STRUCTURES: readonly EfStructure[] = [
  'no-information',
  'transparent',
  'linear-fixed',
  'linear-fixed-tlv',
  'linear-variable',
  'linear-variable-tlv',
  'cyclic',
  'cyclic-tlv',
];

/**
 * Reads a file descriptor byte: b8 = 0, b7 shareable, b6-b4 category (000 working EF,
 * 001 internal EF, 010..110 proprietary EF, 111 DF), b3-b1 EF structure.
 * @throws RangeError when b8 is set (the byte is then RFU / proprietary).
 */
export function decodeFileDescriptorByte(byte: number): FileDescriptor {
  if (!Number.isInteger(byte) || byte < 0 || byte > 0x7f)
    throw new RangeError(`file descriptor byte must be 00..7F, got ${byte}`);
  const cat = (byte >> 3) & 7;
  const category: FileCategory =
    cat === 0 ? 'working-ef' : cat === 1 ? 'internal-ef' : cat === 7 ? 'df' : 'proprietary-ef';
  return {
    byte,
    shareable: (byte & 0x40) !== 0,
    category,
    structure: category === 'df' ? undefined : STRUCTURES[byte & 7],
  };
}

/** A name for a life cycle status byte (ISO/IEC 7816-4 §5.3.3.2, Table 13 of 2013). */
export function lifeCycleName(lcs: number): string {
  if (lcs === 0x00) return 'no information given';
  if (lcs === 0x01) return 'creation state';
  if (lcs === 0x03) return 'initialisation state';
  if ((lcs & 0xfd) === 0x05) return 'operational state (activated)';
  if ((lcs & 0xfd) === 0x04) return 'operational state (deactivated)';
  if ((lcs & 0xfc) === 0x0c) return 'termination state';
  if (lcs >= 0x10) return 'proprietary';
  return 'RFU';
}

function uintBytes(n: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let k = size - 1; k >= 0; k--) {
    out[k] = n & 0xff;
    n = Math.floor(n / 256);
  }
  return out;
}

function checkUint(n: number, max: number, name: string): number {
  if (!Number.isInteger(n) || n < 0 || n > max) throw new RangeError(`${name} must be 0..${max}, got ${n}`);
  return n;
}

function fail(node: TlvNode, reason: string): never {
  throw new MalformedDataError(`tag ${node.tagHex}: ${reason}`, node.offset ?? 0, undefined, 'tlv');
}

function uintOf(node: TlvNode, min: number, max: number): number {
  const v = node.valueView();
  if (v.length < min || v.length > max) fail(node, `expected ${min}..${max} bytes, got ${v.length}`);
  let n = 0;
  for (const b of v) n = n * 256 + b;
  return n;
}

/** The children of a 62/64/6F template as FCP data objects. */
function readObjects(children: readonly TlvNode[]): FileControlParameters {
  const p: FileControlParameters = {};
  const others: TlvNode[] = [];
  for (const c of children) {
    switch (c.tag) {
      case 0x80:
        p.fileSize = uintOf(c, 1, 6);
        break;
      case 0x81:
        p.totalSize = uintOf(c, 1, 6);
        break;
      case 0x82: {
        const v = c.valueView();
        if (v.length < 1 || v.length > 6) fail(c, `file descriptor has 1..6 bytes, got ${v.length}`);
        if (v[0]! & 0x80) fail(c, 'file descriptor byte with b8 set is RFU');
        const d = decodeFileDescriptorByte(v[0]!);
        if (v.length >= 2) d.dataCoding = v[1]!;
        // 3: 1-byte record size; 4: 2-byte; 5: 2-byte size + 1-byte count; 6: 2 + 2.
        if (v.length === 3) d.maxRecordSize = v[2]!;
        if (v.length >= 4) d.maxRecordSize = u16(v, 2);
        if (v.length === 5) d.numberOfRecords = v[4]!;
        if (v.length === 6) d.numberOfRecords = u16(v, 4);
        p.descriptor = d;
        break;
      }
      case 0x83:
        if (c.length !== 2) fail(c, `file identifier has 2 bytes, got ${c.length}`);
        p.fileId = uintOf(c, 2, 2);
        break;
      case 0x84:
        if (c.length < 1 || c.length > 16) fail(c, `DF name has 1..16 bytes, got ${c.length}`);
        p.dfName = c.value;
        break;
      case 0x85:
        p.proprietary = c.value;
        break;
      case 0xa5:
        p.proprietaryTemplate = c;
        break;
      case 0x88: {
        if (c.length === 0) p.sfi = null;
        else {
          const b = uintOf(c, 1, 1);
          if ((b & 7) !== 0 || b >> 3 === 0 || b >> 3 === 31)
            fail(c, `SFI byte ${b} must be b8-b4 = 1..30, b3-b1 = 000`);
          p.sfi = b >> 3;
        }
        break;
      }
      case 0x8a:
        p.lifeCycle = uintOf(c, 1, 1);
        break;
      case 0x8b:
        p.securityReferenced = c.value;
        break;
      case 0x8c:
        p.securityCompact = c.value;
        break;
      case 0xab:
        p.securityExpanded = c;
        break;
      default:
        others.push(c);
    }
  }
  if (others.length > 0) p.others = others;
  return p;
}

function template(tag: number, input: TlvNode | Uint8Array): TlvNode {
  const node = input instanceof Uint8Array ? TlvNode.decode(input) : input;
  if (node.tag !== tag)
    throw new MalformedDataError(
      `expected template ${tag.toString(16).toUpperCase()}, got ${node.tagHex}`,
      node.offset ?? 0,
      input instanceof Uint8Array ? input : undefined,
      'tlv',
    );
  return node;
}

/**
 * Reads an FCP template (tag 62).
 * @throws MalformedDataError for a wrong tag, malformed TLV or a data object of the wrong size.
 */
export function parseFcp(input: TlvNode | Uint8Array): FileControlParameters {
  return readObjects(template(0x62, input).children);
}

/**
 * Reads an FCI template (tag 6F): FCP and FMD objects side by side.
 * @throws MalformedDataError as parseFcp.
 */
export function parseFci(input: TlvNode | Uint8Array): FileControlParameters {
  return readObjects(template(0x6f, input).children);
}

/**
 * Reads an FMD template (tag 64): its data objects, in order.
 * @throws MalformedDataError for a wrong tag or malformed TLV.
 */
export function parseFmd(input: TlvNode | Uint8Array): readonly TlvNode[] {
  return template(0x64, input).children;
}

/**
 * The data objects for `p` in ascending tag order (80 81 82 83 84 85 88 8A 8B 8C A5 AB), then
 * `others`. @throws RangeError for bad fields.
 */
function buildObjects(p: FileControlParameters): TlvNode[] {
  const out: TlvNode[] = [];
  if (p.fileSize !== undefined) {
    const n = checkUint(p.fileSize, 0xffffffff, 'fileSize');
    out.push(TlvNode.primitive(0x80, uintBytes(n, n > 0xffff ? 4 : 2)));
  }
  if (p.totalSize !== undefined) {
    const n = checkUint(p.totalSize, 0xffffffff, 'totalSize');
    out.push(TlvNode.primitive(0x81, uintBytes(n, n > 0xffff ? 4 : 2)));
  }
  if (p.descriptor !== undefined) {
    const d = p.descriptor;
    const bytes = [checkUint(d.byte, 0x7f, 'descriptor.byte')];
    const hasRecords = d.maxRecordSize !== undefined || d.numberOfRecords !== undefined;
    if (d.dataCoding !== undefined || hasRecords)
      bytes.push(checkUint(d.dataCoding ?? 0x21, 0xff, 'dataCoding'));
    if (d.numberOfRecords !== undefined) {
      const m = checkUint(d.maxRecordSize ?? 0, 0xffff, 'maxRecordSize');
      const r = checkUint(d.numberOfRecords, 0xffff, 'numberOfRecords');
      bytes.push(...be16(m));
      if (r > 0xff) bytes.push(r >> 8);
      bytes.push(r & 0xff);
    } else if (d.maxRecordSize !== undefined) {
      const m = checkUint(d.maxRecordSize, 0xffff, 'maxRecordSize');
      if (m > 0xff) bytes.push(m >> 8);
      bytes.push(m & 0xff);
    }
    out.push(TlvNode.primitive(0x82, Uint8Array.from(bytes)));
  }
  if (p.fileId !== undefined)
    out.push(TlvNode.primitive(0x83, uintBytes(checkUint(p.fileId, 0xffff, 'fileId'), 2)));
  if (p.dfName !== undefined) {
    if (p.dfName.length < 1 || p.dfName.length > 16) throw new RangeError('dfName must be 1..16 bytes');
    out.push(TlvNode.primitive(0x84, p.dfName));
  }
  if (p.proprietary !== undefined) out.push(TlvNode.primitive(0x85, p.proprietary));
  if (p.sfi !== undefined) {
    if (p.sfi === null) out.push(TlvNode.primitive(0x88, new Uint8Array(0)));
    else {
      if (!Number.isInteger(p.sfi) || p.sfi < 1 || p.sfi > 30)
        throw new RangeError(`sfi must be 1..30, got ${p.sfi}`);
      out.push(TlvNode.primitive(0x88, Uint8Array.of(p.sfi << 3)));
    }
  }
  if (p.lifeCycle !== undefined)
    out.push(TlvNode.primitive(0x8a, Uint8Array.of(checkUint(p.lifeCycle, 0xff, 'lifeCycle'))));
  if (p.securityReferenced !== undefined) out.push(TlvNode.primitive(0x8b, p.securityReferenced));
  if (p.securityCompact !== undefined) out.push(TlvNode.primitive(0x8c, p.securityCompact));
  if (p.proprietaryTemplate !== undefined) {
    if (p.proprietaryTemplate.tag !== 0xa5) throw new RangeError('proprietaryTemplate must have tag A5');
    out.push(p.proprietaryTemplate);
  }
  if (p.securityExpanded !== undefined) {
    if (p.securityExpanded.tag !== 0xab) throw new RangeError('securityExpanded must have tag AB');
    out.push(p.securityExpanded);
  }
  for (const o of p.others ?? []) out.push(o);
  return out;
}

/** Builds an FCP template (62). @throws RangeError for out-of-range fields. */
export function buildFcp(p: FileControlParameters): TlvNode {
  return TlvNode.constructed(0x62, buildObjects(p));
}

/** Builds an FCI template (6F), optionally with FMD objects after the FCP ones. @throws RangeError. */
export function buildFci(p: FileControlParameters, fmdObjects: readonly TlvNode[] = []): TlvNode {
  return TlvNode.constructed(0x6f, [...buildObjects(p), ...fmdObjects]);
}

/** Builds an FMD template (64) from data objects. */
export function buildFmd(objects: readonly TlvNode[]): TlvNode {
  return TlvNode.constructed(0x64, objects);
}
