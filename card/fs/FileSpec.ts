/**
 * JSON description of a card's file tree (ISO/IEC 7816-4 §7.1), as a profile and a card file
 * hold it. Contents given here are written once, when a fresh card is personalised; afterwards
 * they live in the persistent store.
 */
import { parseAccessRule, type AccessRule } from '../security/AccessCondition.js';
import { fromHex } from '../util/hex.js';

/** ISO/IEC 7816-4 §7.3 EF structures. */
export type EfStructure = 'transparent' | 'linear-fixed' | 'linear-variable' | 'cyclic';

/** Per-operation access conditions; anything not given is 'always'. `append` defaults to `update`. */
export interface AccessRules {
  read?: AccessRule;
  update?: AccessRule;
  append?: AccessRule;
}

export interface EfSpec {
  type: 'ef';
  /** File identifier, 4 hex digits. */
  fid: string;
  /** Short EF identifier 1..30. */
  sfi?: number;
  structure: EfStructure;
  /** Transparent: size in bytes. */
  size?: number;
  /** Record EFs: record length (the maximum for linear-variable), 1..254. */
  recordLength?: number;
  /** Record EFs: number of record slots, 1..254. */
  maxRecords?: number;
  /** Transparent: initial content (hex, at most `size` bytes; the rest is 00). */
  content?: string;
  /** Record EFs: initial records (hex), record 1 first (for cyclic: record 1 is the newest). */
  records?: string[];
  access?: AccessRules;
}

export interface DfSpec {
  type: 'df';
  fid: string;
  /** DF name (AID), hex, 1..16 bytes. */
  name?: string;
  children?: FileSpec[];
}

export type FileSpec = EfSpec | DfSpec;

const MAX_DEPTH = 8;
const MAX_FILES = 1024;

function fid(value: unknown, where: string): number {
  if (typeof value !== 'string' || !/^[0-9A-Fa-f]{4}$/.test(value))
    throw new TypeError(`${where}.fid must be 4 hex digits`);
  const n = parseInt(value, 16);
  // 7816-4 §7.1.1: FFFF is reserved; 3FFF is the current-DF path marker.
  if (n === 0xffff || n === 0x3fff) throw new RangeError(`${where}.fid ${value} is reserved`);
  return n;
}

function intIn(value: unknown, lo: number, hi: number, where: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < lo || value > hi)
    throw new RangeError(`${where} must be an integer ${lo}..${hi}, got ${JSON.stringify(value)}`);
  return value;
}

/**
 * Checks a file tree before it is built, so a bad profile or card file fails with a message
 * naming the place (`fs.children[2].size`), never half way through.
 * @throws TypeError / RangeError naming the field.
 */
export function validateFileSpec(spec: unknown): DfSpec {
  let count = 0;
  const walk = (s: unknown, where: string, depth: number): void => {
    if (++count > MAX_FILES) throw new RangeError(`more than ${MAX_FILES} files`);
    if (depth > MAX_DEPTH) throw new RangeError(`${where}: deeper than ${MAX_DEPTH} levels`);
    if (typeof s !== 'object' || s === null) throw new TypeError(`${where} must be an object`);
    const o = s as Record<string, unknown>;
    fid(o.fid, where);
    if (o.type === 'df') {
      if (o.name !== undefined) {
        if (typeof o.name !== 'string') throw new TypeError(`${where}.name must be hex`);
        const n = fromHex(o.name).length;
        if (n < 1 || n > 16) throw new RangeError(`${where}.name must be 1..16 bytes`);
      }
      if (o.children !== undefined && !Array.isArray(o.children))
        throw new TypeError(`${where}.children must be an array`);
      const seen = new Set<number>();
      for (const [i, c] of ((o.children as unknown[]) ?? []).entries()) {
        walk(c, `${where}.children[${i}]`, depth + 1);
        const f = fid((c as Record<string, unknown>).fid, `${where}.children[${i}]`);
        if (seen.has(f)) throw new RangeError(`${where}.children[${i}]: duplicate FID`);
        seen.add(f);
      }
      return;
    }
    if (o.type !== 'ef') throw new TypeError(`${where}.type must be 'df' or 'ef'`);
    if (o.sfi !== undefined) intIn(o.sfi, 1, 30, `${where}.sfi`);
    if (o.access !== undefined) {
      if (typeof o.access !== 'object' || o.access === null)
        throw new TypeError(`${where}.access must be an object`);
      for (const [k, v] of Object.entries(o.access)) {
        if (k !== 'read' && k !== 'update' && k !== 'append')
          throw new TypeError(`${where}.access.${k} is not an operation`);
        parseAccessRule(v, `${where}.access.${k}`);
      }
    }
    switch (o.structure) {
      case 'transparent': {
        const size = intIn(o.size, 0, 32767, `${where}.size`);
        if (o.content !== undefined) {
          if (typeof o.content !== 'string') throw new TypeError(`${where}.content must be hex`);
          if (fromHex(o.content).length > size) throw new RangeError(`${where}.content is longer than size`);
        }
        return;
      }
      case 'linear-fixed':
      case 'linear-variable':
      case 'cyclic': {
        const len = intIn(o.recordLength, 1, 254, `${where}.recordLength`);
        const max = intIn(o.maxRecords, 1, 254, `${where}.maxRecords`);
        const recs = o.records ?? [];
        if (!Array.isArray(recs)) throw new TypeError(`${where}.records must be an array`);
        if (recs.length > max) throw new RangeError(`${where}.records has more than maxRecords`);
        for (const [i, r] of recs.entries()) {
          if (typeof r !== 'string') throw new TypeError(`${where}.records[${i}] must be hex`);
          const n = fromHex(r).length;
          if (o.structure === 'linear-variable' ? n < 1 || n > len : n !== len)
            throw new RangeError(`${where}.records[${i}] has ${n} bytes; recordLength is ${len}`);
        }
        return;
      }
      default:
        throw new TypeError(
          `${where}.structure must be transparent, linear-fixed, linear-variable or cyclic`,
        );
    }
  };
  walk(spec, 'fs', 0);
  const root = spec as DfSpec;
  if (root.type !== 'df' || root.fid.toUpperCase() !== '3F00')
    throw new RangeError('fs must be the MF: a df with fid 3F00');
  return root;
}
