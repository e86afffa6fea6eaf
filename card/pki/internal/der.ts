/**
 * Strict DER for the settlement profile, with asn1js (BER-tolerant by design) as the codec of the
 * non-trivial values.
 *
 * Decoding runs in three steps, so that a decoder of outside bytes can only ever throw
 * {@link MalformedDataError} with an offset (STYLE.md rule 3):
 *
 * 1. {@link scanDer}: an iterative walk over all the raw TLVs. It refuses indefinite lengths,
 *    non-minimal length octets, high tag numbers, constructed forms of primitive types, any
 *    universal type this profile does not use, nesting deeper than {@link MAX_DER_DEPTH}, more than
 *    {@link MAX_DER_NODES} elements, and a GeneralizedTime that is not exactly `YYYYMMDDHHMMSSZ`.
 *    Being iterative, it cannot blow the stack on deep nesting.
 * 2. {@link Node} walks the validated tree lazily and reads typed fields, each read checking the
 *    tag, the range and the size, failing at the element's offset. OBJECT IDENTIFIER and
 *    UTF8String values are decoded by `asn1js.fromBER` on that one element; OCTET STRING,
 *    GeneralizedTime and non-negative INTEGER content is read directly (X.690 §8.3, §8.7, §11.7).
 *    No asn1js tree of the whole input is built: a million-entry list would need gigabytes.
 * 3. The decoded value is encoded again and compared byte for byte with the input: whatever BER
 *    freedom survived steps 1–2 shows up as a difference.
 */
import * as asn1js from 'asn1js';
import { MalformedDataError } from '../../iso7816/errors.js';

/** Deepest nesting of constructed elements in any structure of this profile (a top-level element is depth 1). */
export const MAX_DER_DEPTH = 8;
/** Largest encoding accepted by any decoder: 256 MiB. */
export const MAX_DER_BYTES = 256 * 1024 * 1024;
/**
 * Most elements (TLVs) in one encoding (bounds the scan's time; the scan allocates nothing per
 * element): enough for a 1,000,000-record upload of 16-element records.
 */
export const MAX_DER_NODES = 17_000_000;

const T_INTEGER = 0x02;
const T_OCTET_STRING = 0x04;
const T_OID = 0x06;
const T_ENUMERATED = 0x0a;
const T_UTF8 = 0x0c;
const T_SEQUENCE = 0x10;
const T_GENERALIZED_TIME = 0x18;

const UNIVERSAL_PRIMITIVE = new Set([
  T_INTEGER,
  T_OCTET_STRING,
  T_OID,
  T_ENUMERATED,
  T_UTF8,
  T_GENERALIZED_TIME,
]);

const TIME_RE = /^[0-9]{14}Z$/;

export function malformed(reason: string, offset: number, raw: Uint8Array, kind: string): never {
  throw new MalformedDataError(reason, offset, raw, kind);
}

/**
 * Step 1 (see the file comment). `raw` must be exactly one element.
 * @throws MalformedDataError with the offset of the first offending byte.
 */
export function scanDer(raw: Uint8Array, kind: string): void {
  const fail = (reason: string, offset: number): never => malformed(reason, offset, raw, kind);
  if (raw.length === 0) fail('empty input', 0);
  if (raw.length > MAX_DER_BYTES) fail(`input of ${raw.length} bytes exceeds ${MAX_DER_BYTES}`, 0);
  // Stack of end offsets of the open constructed elements.
  const ends: number[] = [raw.length];
  let o = 0;
  let nodes = 0;
  let top = 0;
  while (o < raw.length) {
    while (ends.length > 1 && o === ends[ends.length - 1]) ends.pop();
    if (o === ends[ends.length - 1]) break;
    if (ends.length === 1) {
      if (top++ > 0) fail('trailing bytes after the outer element', o);
    }
    const start = o;
    if (++nodes > MAX_DER_NODES) fail(`more than ${MAX_DER_NODES} elements`, start);
    const id = raw[o]!;
    const cls = id >> 6;
    const constructed = (id & 0x20) !== 0;
    const num = id & 0x1f;
    if (num === 0x1f) fail('high-tag-number form is not used in this profile', start);
    if (cls === 0) {
      if (constructed ? num !== T_SEQUENCE : !UNIVERSAL_PRIMITIVE.has(num))
        fail(`unexpected universal tag ${id.toString(16).padStart(2, '0')}`, start);
    } else if (cls === 1) {
      if (!constructed) fail('an APPLICATION tag must be constructed', start);
    } else {
      fail(`unexpected ${cls === 2 ? 'context-specific' : 'private'} tag`, start);
    }
    o++;
    if (o >= raw.length) fail('truncated: no length', o);
    const first = raw[o]!;
    let len: number;
    if (first < 0x80) {
      len = first;
      o++;
    } else if (first === 0x80) {
      fail('indefinite length is not DER', o);
    } else {
      const n = first & 0x7f;
      if (n > 4) fail('length of more than 4 octets', o);
      if (o + 1 + n > raw.length) fail('truncated length', o);
      if (raw[o + 1] === 0) fail('non-minimal length (leading zero octet)', o);
      len = 0;
      for (let i = 1; i <= n; i++) len = len * 256 + raw[o + i]!;
      if (len < 0x80) fail('non-minimal length (long form for < 128)', o);
      o += 1 + n;
    }
    len = len!;
    const end = o + len;
    if (end > ends[ends.length - 1]!) fail(`length ${len} runs past the end of its container`, start + 1);
    if (constructed) {
      if (ends.length > MAX_DER_DEPTH) fail(`nesting deeper than ${MAX_DER_DEPTH}`, start);
      ends.push(end);
    } else {
      if (cls === 0 && num === T_GENERALIZED_TIME) {
        const s = String.fromCharCode(...raw.subarray(o, end));
        if (!TIME_RE.test(s)) fail('GeneralizedTime must be YYYYMMDDHHMMSSZ', o);
      }
      if (cls === 0 && (num === T_INTEGER || num === T_ENUMERATED || num === T_OID) && len === 0)
        fail('empty INTEGER/ENUMERATED/OBJECT IDENTIFIER', o);
      o = end;
    }
  }
  while (ends.length > 1 && o === ends[ends.length - 1]) ends.pop();
  if (ends.length !== 1) fail('truncated: a constructed element is not complete', o);
}

/** Steps 1 and 2: scan, then return the root {@link Node} (children are walked on demand). */
export function parseDer(input: Uint8Array, kind: string): Node {
  if (!(input instanceof Uint8Array)) throw new TypeError('der must be a Uint8Array');
  const raw = Uint8Array.from(input);
  scanDer(raw, kind);
  return Node.at(raw, 0, kind);
}

/** Step 3: compares the re-encoding of the decoded value with the input. */
export function requireSameEncoding(input: Uint8Array, again: Uint8Array, kind: string): void {
  const n = Math.min(input.length, again.length);
  for (let i = 0; i < n; i++)
    if (input[i] !== again[i])
      malformed('not DER: differs from the canonical encoding', i, Uint8Array.from(input), kind);
  if (input.length !== again.length)
    malformed('not DER: differs from the canonical encoding', n, Uint8Array.from(input), kind);
}

/**
 * One element of a scanned input, with its offset. The tree is walked lazily over the raw bytes
 * (which {@link scanDer} has validated), and each primitive value is decoded by asn1js from that
 * element's bytes alone: a million-entry list never becomes a million-node asn1js tree at once.
 * Every read checks tag, range and size and fails at the element's offset.
 */
export class Node {
  private constructor(
    readonly raw: Uint8Array,
    /** Offset of the identifier octet. */
    readonly offset: number,
    readonly id: number,
    readonly contentStart: number,
    readonly end: number,
    readonly kind: string,
  ) {}

  /** The element starting at `offset` of a scanned input. */
  static at(raw: Uint8Array, offset: number, kind: string): Node {
    const id = raw[offset]!;
    const first = raw[offset + 1]!;
    let len = first;
    let start = offset + 2;
    if (first & 0x80) {
      const n = first & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + raw[offset + 2 + i]!;
      start += n;
    }
    return new Node(raw, offset, id, start, start + len, kind);
  }

  fail(reason: string): never {
    return malformed(reason, this.offset, this.raw, this.kind);
  }

  #tag(id: number, what: string): void {
    if (this.id !== id) this.fail(`expected ${what}`);
  }

  #asn1<T>(): T {
    let res: ReturnType<typeof asn1js.fromBER>;
    try {
      res = asn1js.fromBER(this.raw.subarray(this.offset, this.end), { maxDepth: 1, maxNodes: 1 });
    } catch (e) {
      return this.fail(`asn1js: ${(e as Error).message}`);
    }
    if (res.offset === -1 || res.result.error) this.fail(`asn1js: ${res.result.error || 'decode failed'}`);
    return res.result as T;
  }

  /** The elements of a SEQUENCE (or, given `app`, of an [APPLICATION app] IMPLICIT SEQUENCE), exactly `count` of them unless `count` is undefined. */
  sequence(what: string, count?: number, app?: number, max = Number.MAX_SAFE_INTEGER): Node[] {
    if (app === undefined) this.#tag(0x30, `${what} (SEQUENCE)`);
    else this.#tag(0x60 | app, `${what} ([APPLICATION ${app}])`);
    const out: Node[] = [];
    for (let o = this.contentStart; o < this.end;) {
      const n = Node.at(this.raw, o, this.kind);
      // stop at the first element past `max`: a hostile list costs no more than an allowed one
      if (out.length === max) n.fail(`${what} has more than ${max} elements`);
      out.push(n);
      o = n.end;
    }
    if (count !== undefined && out.length !== count)
      this.fail(`${what} must have ${count} elements, has ${out.length}`);
    return out;
  }

  /**
   * A non-negative INTEGER in min..max (both safe integers). Read from the content octets directly
   * (hot in long lists): two's complement, so a first octet ≥ 80 is negative; DER forbids a leading
   * 00 before an octet < 80 (X.690 §8.3.2).
   */
  integer(what: string, min: number, max: number, tag = T_INTEGER): number {
    this.#tag(tag, `${what} (${tag === T_INTEGER ? 'INTEGER' : 'ENUMERATED'})`);
    const n = this.end - this.contentStart;
    const c = this.raw;
    const o = this.contentStart;
    if (c[o]! & 0x80) this.fail(`${what} is negative`);
    if (n > 1 && c[o] === 0 && !(c[o + 1]! & 0x80))
      this.fail(`not DER: ${what} has a superfluous leading 00`);
    if (n > 8) this.fail(`${what} is out of range`);
    let v = 0n;
    for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(c[o + i]!);
    if (v < BigInt(min) || v > BigInt(max)) this.fail(`${what} ${v} is outside ${min}..${max}`);
    return Number(v);
  }

  enumerated(what: string, max: number): number {
    return this.integer(what, 0, max, T_ENUMERATED);
  }

  octets(what: string, min: number, max: number): Uint8Array {
    this.#tag(T_OCTET_STRING, `${what} (OCTET STRING)`);
    const n = this.end - this.contentStart;
    if (n < min || n > max) this.fail(`${what} is ${n} bytes, must be ${min}..${max}`);
    return this.raw.slice(this.contentStart, this.end);
  }

  oid(what: string): string {
    this.#tag(T_OID, `${what} (OBJECT IDENTIFIER)`);
    if (this.end - this.contentStart > 64) this.fail(`${what} is longer than 64 bytes`);
    return this.#asn1<asn1js.ObjectIdentifier>().getValue();
  }

  utf8(what: string, maxBytes: number): string {
    this.#tag(T_UTF8, `${what} (UTF8String)`);
    const bytes = this.raw.subarray(this.contentStart, this.end);
    if (bytes.length > maxBytes) this.fail(`${what} is ${bytes.length} bytes, at most ${maxBytes}`);
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      return this.fail(`${what} is not valid UTF-8`);
    }
    return this.#asn1<asn1js.Utf8String>().getValue();
  }

  /** GeneralizedTime `YYYYMMDDHHMMSSZ` → milliseconds since the epoch (a whole second). */
  time(what: string): number {
    this.#tag(T_GENERALIZED_TIME, `${what} (GeneralizedTime)`);
    // the scan checked the form YYYYMMDDHHMMSSZ; read the text itself (asn1js would normalise 30 Feb)
    const s = String.fromCharCode(...this.raw.subarray(this.contentStart, this.end));
    const ms = parseTime(s);
    if (ms === undefined) this.fail(`${what} ${s} is not a valid time in ${MIN_TIME_TEXT}..${MAX_TIME_TEXT}`);
    return ms;
  }

  /** The exact bytes of this element. */
  der(): Uint8Array {
    return this.raw.slice(this.offset, this.end);
  }
}

// ---------------------------------------------------------------------------------------------
// Time: GeneralizedTime, UTC, whole seconds, years 1970..9999.

const MIN_TIME_TEXT = '19700101000000Z';
const MAX_TIME_TEXT = '99991231235959Z';
/** Latest representable time (9999-12-31T23:59:59Z) in milliseconds. */
export const MAX_TIME = Date.UTC(9999, 11, 31, 23, 59, 59);

function parseTime(s: string): number | undefined {
  if (!TIME_RE.test(s)) return undefined;
  const n = (a: number, b: number) => Number(s.slice(a, b));
  const [y, mo, d, h, mi, se] = [n(0, 4), n(4, 6), n(6, 8), n(8, 10), n(10, 12), n(12, 14)];
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59) return undefined;
  const ms = Date.UTC(y, mo - 1, d, h, mi, se);
  return formatTime(ms) === s ? ms : undefined;
}

function formatTime(ms: number): string {
  const d = new Date(ms);
  const p = (v: number, w = 2) => String(v).padStart(w, '0');
  return `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
}

// ---------------------------------------------------------------------------------------------
// Argument checks (RangeError/TypeError naming the parameter, STYLE.md rule 1) and encoders.

export function checkInt(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v))
    throw new TypeError(`${name} must be a safe integer`);
  if (v < min || v > max) throw new RangeError(`${name} must be in ${min}..${max}, got ${v}`);
  return v;
}

export function checkBytes(name: string, v: unknown, min: number, max: number): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (v.length < min || v.length > max)
    throw new RangeError(`${name} must be ${min}..${max} bytes, got ${v.length}`);
  return Uint8Array.from(v);
}

/** A time in ms since the epoch: a whole second between 1970 and 9999. */
export function checkTime(name: string, v: unknown): number {
  checkInt(name, v, 0, MAX_TIME);
  if ((v as number) % 1000 !== 0)
    throw new RangeError(`${name} must be a whole second (ms % 1000 === 0), got ${v}`);
  return v as number;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function checkUtf8(name: string, v: unknown, maxBytes: number): string {
  if (typeof v !== 'string') throw new TypeError(`${name} must be a string`);
  const n = new TextEncoder().encode(v).length;
  if (n > maxBytes) throw new RangeError(`${name} must be at most ${maxBytes} UTF-8 bytes, got ${n}`);
  if (LONE_SURROGATE.test(v)) throw new RangeError(`${name} must be well-formed Unicode (no lone surrogate)`);
  return v;
}

/** DER header (identifier + minimal length) around `content`. */
function frame(id: number, parts: readonly Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const lenOctets: number[] = [];
  for (let l = len; l > 0; l = Math.floor(l / 256)) lenOctets.unshift(l % 256);
  const header = len < 0x80 ? [id, len] : [id, 0x80 | lenOctets.length, ...lenOctets];
  const out = new Uint8Array(header.length + len);
  out.set(header, 0);
  let o = header.length;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const ber = (b: asn1js.BaseBlock): Uint8Array => new Uint8Array(b.toBER(false));

/**
 * Content octets of a non-negative safe integer as DER INTEGER/ENUMERATED (X.690 §8.3): minimal
 * big-endian, with a 00 in front when the top bit is set. Written here rather than with asn1js
 * because lists and uploads encode millions of them; test/pki/der.test.ts checks it against
 * asn1js's `Integer.fromBigInt` over the edges of every octet length.
 */
function uintContent(v: number): Uint8Array {
  const out: number[] = [];
  let x = v;
  do {
    out.unshift(x % 256);
    x = Math.floor(x / 256);
  } while (x > 0);
  if (out[0]! & 0x80) out.unshift(0);
  return Uint8Array.from(out);
}

function ascii(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * Encoders: each returns the DER of one element. OBJECT IDENTIFIERs and UTF8Strings are encoded by
 * asn1js; constructed elements, OCTET STRINGs, GeneralizedTime (fixed text) and non-negative
 * INTEGER/ENUMERATED are framed here, so a large list is never one asn1js tree nor millions of
 * asn1js objects.
 */
export const enc = {
  int: (v: number): Uint8Array => frame(T_INTEGER, [uintContent(v)]),
  enumerated: (v: number): Uint8Array => frame(T_ENUMERATED, [uintContent(v)]),
  // an OCTET STRING's DER is its bytes framed; no asn1js object per string (lists hold millions)
  octets: (v: Uint8Array): Uint8Array => frame(0x04, [v]),
  oid: (v: string): Uint8Array => ber(new asn1js.ObjectIdentifier({ value: v })),
  utf8: (v: string): Uint8Array => ber(new asn1js.Utf8String({ value: v })),
  time: (ms: number): Uint8Array => frame(T_GENERALIZED_TIME, [ascii(formatTime(ms))]),
  seq: (parts: readonly Uint8Array[]): Uint8Array => frame(0x30, parts),
  app: (tag: number, parts: readonly Uint8Array[]): Uint8Array => frame(0x60 | tag, parts),
  /** An already-encoded element placed as is (checked DER by its own decoder). */
  raw: (der: Uint8Array): Uint8Array => der,
  toDer: (der: Uint8Array): Uint8Array => der,
};
