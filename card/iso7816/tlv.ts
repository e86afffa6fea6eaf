import { MalformedDataError } from './errors.js';
import { toHex } from '../util/hex.js';

/**
 * BER-TLV data objects as ISO/IEC 7816-4 §5.2 uses them (a profile of ISO/IEC 8825-1 BER).
 *
 * Tag field (1..3 bytes; longer tags are RFU in ISO/IEC 7816-4):
 * ```
 *  first byte   b8 b7 class (00 universal, 01 application, 10 context-specific, 11 private)
 *               b6    0 primitive, 1 constructed
 *               b5-b1 tag number 0..30, or 11111: the number follows in more bytes
 *  next bytes   b8 = 1: another byte follows; b7-b1: tag number bits
 *               the second byte may not be 00..1E (the number would fit the first byte)
 *               nor 80 (a leading zero group); a third byte must have b8 = 0
 *  (EMV breaks this rule with BF0C; second bytes 01..1E are accepted unless `strictTags`,
 *  00 and 80 never)
 *  00 and FF are not valid first tag bytes: between, before and after data objects they are
 *  padding (e.g. erased data) and are skipped — and remembered, see below.
 * ```
 * Length field (definite form only; ISO/IEC 7816-4 does not use the indefinite form 80):
 * ```
 *  00..7F          length 0..127 in one byte
 *  81 xx           0..255          83 xx xx xx      0..16 777 215
 *  82 xx xx        0..65 535       84 xx xx xx xx   0..4 294 967 295
 *  80, 85..FF      rejected
 * ```
 * Round trips are byte-exact: a node remembers how many length octets it was decoded with
 * (so a non-minimal `81 05` stays `81 05`) and the padding bytes that preceded it inside its
 * parent; a constructed node also remembers padding after its last child.
 *
 * Decoding copies the input once; nodes then share views of that private copy (never of the
 * caller's buffer), so no copy per node is needed and the tree stays immutable: `value` hands
 * out copies, `valueView()` a read-only-by-contract view.
 */

export interface TlvLimits {
  /** Maximum nesting of constructed objects (a top-level object is depth 1). Default 16. */
  maxDepth?: number;
  /** Maximum input length in bytes. Default 1 MiB. */
  maxLength?: number;
  /**
   * Reject two-byte tags whose second byte is 01..1E, as ISO/IEC 7816-4 §5.2.2.1 says.
   * Default false, because EMV uses such tags (BF0C, FCI issuer discretionary data).
   */
  strictTags?: boolean;
}

export const TLV_DEFAULT_MAX_DEPTH = 16;
export const TLV_DEFAULT_MAX_LENGTH = 1 << 20;
/** Highest accepted `maxDepth`. */
export const TLV_MAX_DEPTH_CAP = 256;

export type TlvTagClass = 'universal' | 'application' | 'context' | 'private';

const EMPTY = new Uint8Array(0);
const NO_CHILDREN: readonly TlvNode[] = Object.freeze([]);
const CLASSES: readonly TlvTagClass[] = ['universal', 'application', 'context', 'private'];
const MAX_LENGTH_VALUE = 0xffffffff;

/** The first byte of a tag given as a number (0x62, 0x9F38, 0xDF8101 ...). */
function firstTagByte(tag: number): number {
  return tag > 0xffff ? tag >>> 16 : tag > 0xff ? tag >>> 8 : tag;
}

function tagSize(tag: number): number {
  return tag > 0xffff ? 3 : tag > 0xff ? 2 : 1;
}

/**
 * Checks a tag number against the ISO/IEC 7816-4 §5.2.2.1 rules; without `strict`, a second
 * byte 01..1E is accepted as EMV does (BF0C), see the module comment.
 * @throws RangeError naming the problem.
 */
export function checkTag(tag: number, strict = false): void {
  if (!Number.isInteger(tag) || tag < 1 || tag > 0xffffff)
    throw new RangeError(`tag must be 1..3 bytes, got ${tag}`);
  const size = tagSize(tag);
  const t0 = firstTagByte(tag);
  if (t0 === 0x00 || t0 === 0xff)
    throw new RangeError(`tag ${tag.toString(16)}: first byte 00/FF is padding, not a tag`);
  const multi = (t0 & 0x1f) === 0x1f;
  if (size === 1) {
    if (multi) throw new RangeError(`tag ${tag.toString(16)}: low bits 11111 announce a further tag byte`);
    return;
  }
  if (!multi) throw new RangeError(`tag ${tag.toString(16)}: first byte does not announce further tag bytes`);
  const t1 = (tag >>> (size === 3 ? 8 : 0)) & 0xff;
  if (size === 2) {
    if (t1 < (strict ? 0x1f : 0x01) || t1 > 0x7f)
      throw new RangeError(`tag ${tag.toString(16)}: second byte must be ${strict ? '1F' : '01'}..7F`);
    return;
  }
  const t2 = tag & 0xff;
  if (t1 <= 0x80) throw new RangeError(`tag ${tag.toString(16)}: second byte of a 3-byte tag must be 81..FF`);
  if (t2 > 0x7f) throw new RangeError(`tag ${tag.toString(16)}: tags longer than 3 bytes are RFU`);
}

/** True when the tag's first byte has b6 set (constructed encoding). */
export function isConstructedTag(tag: number): boolean {
  return (firstTagByte(tag) & 0x20) !== 0;
}

/** Upper-case hex of a tag number, e.g. "9F38". */
export function tagHex(tag: number): string {
  return tag
    .toString(16)
    .toUpperCase()
    .padStart(tagSize(tag) * 2, '0');
}

function minimalLengthSize(n: number): number {
  return n < 0x80 ? 1 : n <= 0xff ? 2 : n <= 0xffff ? 3 : n <= 0xffffff ? 4 : 5;
}

function checkPadding(p: Uint8Array, name: string): Uint8Array {
  if (!(p instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  for (const b of p)
    if (b !== 0x00 && b !== 0xff) throw new RangeError(`${name} may only hold 00 and FF bytes`);
  return p.length === 0 ? EMPTY : new Uint8Array(p);
}

export interface TlvBuildOptions {
  /** Number of length octets, 1..5 (1 = short form). Default: the minimal form. */
  lengthSize?: number;
  /** 00/FF padding bytes to place before this object inside its parent. */
  paddingBefore?: Uint8Array;
  /** Constructed only: 00/FF padding after the last child. */
  paddingAfter?: Uint8Array;
}

/** Result of decoding a sequence of objects (e.g. a record, a GET DATA answer). */
export interface TlvList {
  readonly nodes: readonly TlvNode[];
  /** 00/FF bytes after the last object. */
  readonly trailingPadding: Uint8Array;
}

// The state of one decode() call, passed down the recursion.
interface Ctx {
  readonly buf: Uint8Array;
  readonly maxDepth: number;
  /** Lowest allowed second byte of a two-byte tag: 1F strict, 01 lenient. */
  readonly minSecondTagByte: number;
}

let internalCall = false;

/** One BER-TLV data object (ISO/IEC 7816-4 §5.2.2), primitive or constructed; immutable. */
export class TlvNode {
  /** The tag bytes read as a big-endian number: 0x62, 0x9F38, 0xDF8101. */
  readonly tag: number;
  /** Sub-objects of a constructed object; empty for a primitive one. */
  readonly children: readonly TlvNode[];
  /** Number of length octets used when encoding (1..5), as decoded or requested. */
  readonly lengthSize: number;
  /** Offset of the first tag byte in the decoded input; undefined for built nodes. */
  readonly offset: number | undefined;
  readonly #value: Uint8Array;
  readonly #padBefore: Uint8Array;
  readonly #padAfter: Uint8Array;
  readonly #valueLength: number;

  private constructor(
    tag: number,
    value: Uint8Array,
    children: readonly TlvNode[],
    lengthSize: number,
    padBefore: Uint8Array,
    padAfter: Uint8Array,
    offset: number | undefined,
  ) {
    if (!internalCall)
      throw new TypeError('use TlvNode.primitive(), TlvNode.constructed() or TlvNode.decode()');
    internalCall = false;
    this.tag = tag;
    this.children = children;
    this.lengthSize = lengthSize;
    this.offset = offset;
    this.#value = value;
    this.#padBefore = padBefore;
    this.#padAfter = padAfter;
    let n = value.length;
    if (children.length > 0 || padAfter.length > 0) {
      n = padAfter.length;
      for (const c of children) n += c.#padBefore.length + c.encodedLength;
    }
    this.#valueLength = n;
  }

  /** True when the tag says constructed (b6 of the first tag byte). */
  get constructed(): boolean {
    return isConstructedTag(this.tag);
  }
  get tagClass(): TlvTagClass {
    return CLASSES[firstTagByte(this.tag) >> 6]!;
  }
  /** The tag in upper-case hex, e.g. "9F38". */
  get tagHex(): string {
    return tagHex(this.tag);
  }
  /** Length of the value field in bytes. */
  get length(): number {
    return this.#valueLength;
  }
  /** Size of the whole encoded object (tag + length + value), without the padding before it. */
  get encodedLength(): number {
    return tagSize(this.tag) + this.lengthSize + this.#valueLength;
  }
  /** A copy of the value field (for a constructed object: the encoded children and padding). */
  get value(): Uint8Array {
    return this.constructed
      ? this.encode().subarray(tagSize(this.tag) + this.lengthSize)
      : this.#value.slice();
  }
  /** Primitive value without copying; callers must not modify it. Constructed: same as `value`. */
  valueView(): Uint8Array {
    return this.constructed ? this.value : this.#value;
  }
  /** A copy of the padding bytes before this object inside its parent. */
  get paddingBefore(): Uint8Array {
    return this.#padBefore.slice();
  }
  /** A copy of the padding after the last child (constructed objects). */
  get paddingAfter(): Uint8Array {
    return this.#padAfter.slice();
  }

  /** The value as an unsigned big-endian integer (1..6 bytes). @throws RangeError otherwise. */
  uint(): number {
    const v = this.#value;
    if (this.constructed || v.length === 0 || v.length > 6)
      throw new RangeError(`tag ${this.tagHex}: not a 1..6 byte primitive value`);
    let n = 0;
    for (const b of v) n = n * 256 + b;
    return n;
  }

  /** First direct child with `tag`. */
  find(tag: number): TlvNode | undefined {
    for (const c of this.children) if (c.tag === tag) return c;
    return undefined;
  }
  /** All direct children with `tag`. */
  findAll(tag: number): TlvNode[] {
    return this.children.filter((c) => c.tag === tag);
  }
  /** Follows a path of tags through children: `fci.at(0xA5, 0xBF0C)`. */
  at(...path: number[]): TlvNode | undefined {
    if (path.length === 0) return this;
    let node = this.find(path[0]!);
    for (let k = 1; k < path.length && node !== undefined; k++) node = node.find(path[k]!);
    return node;
  }
  /** Depth-first search of the descendants (not this node) for the first object with `tag`. */
  search(tag: number): TlvNode | undefined {
    for (const c of this.children) {
      if (c.tag === tag) return c;
      const d = c.search(tag);
      if (d !== undefined) return d;
    }
    return undefined;
  }

  /** Encodes tag, length (in the remembered number of octets) and value; byte-exact after decode. */
  encode(): Uint8Array {
    const out = new Uint8Array(this.encodedLength);
    this.#write(out, 0);
    return out;
  }

  #write(out: Uint8Array, o: number): number {
    const t = this.tag;
    const ts = tagSize(t);
    if (ts === 3) out[o++] = t >>> 16;
    if (ts >= 2) out[o++] = (t >>> 8) & 0xff;
    out[o++] = t & 0xff;
    const n = this.#valueLength;
    const ls = this.lengthSize;
    if (ls === 1) out[o++] = n;
    else {
      out[o++] = 0x80 + ls - 1;
      for (let k = ls - 2; k >= 0; k--) out[o++] = Math.floor(n / 2 ** (8 * k)) & 0xff;
    }
    if (this.children.length === 0 && this.#padAfter.length === 0) {
      const v = this.#value;
      // Short values are copied byte by byte: cheaper than a set() call for a handful of bytes.
      if (v.length > 16) out.set(v, o);
      else for (let k = 0; k < v.length; k++) out[o + k] = v[k]!;
      return o + v.length;
    }
    for (const c of this.children) {
      const pad = c.#padBefore;
      if (pad.length > 0) {
        out.set(pad, o);
        o += pad.length;
      }
      o = c.#write(out, o);
    }
    if (this.#padAfter.length > 0) out.set(this.#padAfter, o);
    return o + this.#padAfter.length;
  }

  toString(): string {
    return toHex(this.encode());
  }

  /**
   * Builds a primitive object.
   * @throws RangeError for an invalid or constructed tag, a bad lengthSize or padding.
   * @throws TypeError when value is not a Uint8Array.
   */
  static primitive(tag: number, value: Uint8Array, options: TlvBuildOptions = {}): TlvNode {
    checkTag(tag);
    if (isConstructedTag(tag))
      throw new RangeError(`tag ${tagHex(tag)} is constructed; use TlvNode.constructed()`);
    if (!(value instanceof Uint8Array)) throw new TypeError('value must be a Uint8Array');
    if (options.paddingAfter !== undefined && options.paddingAfter.length > 0)
      throw new RangeError('paddingAfter is only for constructed objects');
    const ls = TlvNode.#lengthSizeFor(value.length, options.lengthSize);
    internalCall = true;
    return new TlvNode(
      tag,
      value.length === 0 ? EMPTY : new Uint8Array(value),
      NO_CHILDREN,
      ls,
      checkPadding(options.paddingBefore ?? EMPTY, 'paddingBefore'),
      EMPTY,
      undefined,
    );
  }

  /**
   * Builds a constructed object from children.
   * @throws RangeError for an invalid or primitive tag, a bad lengthSize or padding.
   * @throws TypeError when a child is not a TlvNode.
   */
  static constructed(tag: number, children: readonly TlvNode[], options: TlvBuildOptions = {}): TlvNode {
    checkTag(tag);
    if (!isConstructedTag(tag))
      throw new RangeError(`tag ${tagHex(tag)} is primitive; use TlvNode.primitive()`);
    for (const c of children) if (!(c instanceof TlvNode)) throw new TypeError('children must be TlvNodes');
    const padBefore = checkPadding(options.paddingBefore ?? EMPTY, 'paddingBefore');
    const padAfter = checkPadding(options.paddingAfter ?? EMPTY, 'paddingAfter');
    let n = padAfter.length;
    for (const c of children) n += c.#padBefore.length + c.encodedLength;
    const ls = TlvNode.#lengthSizeFor(n, options.lengthSize);
    internalCall = true;
    return new TlvNode(
      tag,
      EMPTY,
      children.length === 0 ? NO_CHILDREN : Object.freeze([...children]),
      ls,
      padBefore,
      padAfter,
      undefined,
    );
  }

  static #lengthSizeFor(n: number, requested: number | undefined): number {
    if (n > MAX_LENGTH_VALUE) throw new RangeError(`value of ${n} bytes does not fit a 4-byte length`);
    const min = minimalLengthSize(n);
    if (requested === undefined) return min;
    if (!Number.isInteger(requested) || requested < min || requested > 5)
      throw new RangeError(`lengthSize must be ${min}..5 for a ${n}-byte value, got ${requested}`);
    return requested;
  }

  /**
   * Decodes exactly one BER-TLV object filling all of `bytes` (no padding around it).
   * @throws MalformedDataError (kind 'tlv') with the offset and reason for anything that is not
   *   one well-formed object within the limits.
   * @throws TypeError when `bytes` is not a Uint8Array.
   */
  static decode(bytes: Uint8Array, limits: TlvLimits = {}): TlvNode {
    const ctx = TlvNode.#context(bytes, limits);
    const buf = ctx.buf;
    if (buf.length === 0) throw new MalformedDataError('no data object', 0, bytes, 'tlv');
    if (buf[0] === 0x00 || buf[0] === 0xff)
      throw new MalformedDataError('00/FF is padding, not a tag (use decodeAll)', 0, bytes, 'tlv');
    try {
      const [node, end] = TlvNode.#parseOne(ctx, 0, buf.length, 1, EMPTY);
      if (end !== buf.length)
        throw new MalformedDataError(`${buf.length - end} bytes after the data object`, end, bytes, 'tlv');
      return node;
    } catch (e) {
      throw TlvNode.#withRaw(e, bytes);
    }
  }

  /**
   * Decodes a sequence of BER-TLV objects with optional 00/FF padding before, between and after
   * them (ISO/IEC 7816-4 §5.2.2). `encodeAll(decodeAll(b))` equals `b`.
   * @throws MalformedDataError (kind 'tlv') with the offset and reason.
   * @throws TypeError when `bytes` is not a Uint8Array.
   */
  static decodeAll(bytes: Uint8Array, limits: TlvLimits = {}): TlvList {
    const ctx = TlvNode.#context(bytes, limits);
    try {
      const [nodes, trailing] = TlvNode.#parseSeq(ctx, 0, ctx.buf.length, 0);
      return Object.freeze({ nodes, trailingPadding: trailing.slice() });
    } catch (e) {
      throw TlvNode.#withRaw(e, bytes);
    }
  }

  /**
   * Encodes a sequence of objects (each preceded by its remembered padding) and trailing padding.
   * @throws RangeError when trailingPadding holds bytes other than 00/FF.
   */
  static encodeAll(nodes: readonly TlvNode[] | TlvList, trailingPadding?: Uint8Array): Uint8Array {
    const list = Array.isArray(nodes) ? (nodes as readonly TlvNode[]) : (nodes as TlvList).nodes;
    const tail = checkPadding(
      trailingPadding ?? (Array.isArray(nodes) ? EMPTY : (nodes as TlvList).trailingPadding),
      'trailingPadding',
    );
    let n = tail.length;
    for (const c of list) n += c.#padBefore.length + c.encodedLength;
    const out = new Uint8Array(n);
    let o = 0;
    for (const c of list) {
      out.set(c.#padBefore, o);
      o = c.#write(out, o + c.#padBefore.length);
    }
    out.set(tail, o);
    return out;
  }

  static #context(bytes: Uint8Array, limits: TlvLimits): Ctx {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
    const maxDepth = limits.maxDepth ?? TLV_DEFAULT_MAX_DEPTH;
    const maxLength = limits.maxLength ?? TLV_DEFAULT_MAX_LENGTH;
    // The parser recurses once per level, so the depth limit also bounds the stack.
    if (!Number.isInteger(maxDepth) || maxDepth < 1 || maxDepth > TLV_MAX_DEPTH_CAP)
      throw new RangeError(`maxDepth must be 1..${TLV_MAX_DEPTH_CAP}, got ${maxDepth}`);
    if (!Number.isInteger(maxLength) || maxLength < 0)
      throw new RangeError(`maxLength must be a non-negative integer, got ${maxLength}`);
    if (bytes.length > maxLength)
      throw new MalformedDataError(
        `input of ${bytes.length} bytes exceeds the limit of ${maxLength}`,
        maxLength,
        bytes,
        'tlv',
      );
    // One private copy; nodes keep views into it.
    return {
      buf: new Uint8Array(bytes),
      maxDepth,
      minSecondTagByte: limits.strictTags === true ? 0x1f : 0x01,
    };
  }

  static #withRaw(e: unknown, raw: Uint8Array): unknown {
    return e instanceof MalformedDataError && e.raw === undefined
      ? new MalformedDataError(e.reason, e.offset, raw, 'tlv')
      : e;
  }

  /** Objects and padding in buf[start, end). */
  static #parseSeq(ctx: Ctx, start: number, end: number, depth: number): [readonly TlvNode[], Uint8Array] {
    const buf = ctx.buf;
    const nodes: TlvNode[] = [];
    let i = start;
    while (i < end) {
      const ps = i;
      while (i < end && (buf[i] === 0x00 || buf[i] === 0xff)) i++;
      if (i === end) return [nodes.length === 0 ? NO_CHILDREN : Object.freeze(nodes), buf.subarray(ps, end)];
      const [node, next] = TlvNode.#parseOne(ctx, i, end, depth + 1, ps === i ? EMPTY : buf.subarray(ps, i));
      nodes.push(node);
      i = next;
    }
    return [nodes.length === 0 ? NO_CHILDREN : Object.freeze(nodes), EMPTY];
  }

  /** One object at buf[i] (not padding), which must end by `end`. Returns it and the next offset. */
  static #parseOne(
    ctx: Ctx,
    i: number,
    end: number,
    depth: number,
    padBefore: Uint8Array,
  ): [TlvNode, number] {
    const buf = ctx.buf;
    const t0 = buf[i]!;
    let tag = t0;
    let j = i + 1;
    if ((t0 & 0x1f) === 0x1f) {
      if (j >= end) throw new MalformedDataError(`tag ${hex2(t0)} announces a second tag byte`, j);
      const t1 = buf[j]!;
      if (t1 < ctx.minSecondTagByte || t1 === 0x80)
        throw new MalformedDataError(
          `second tag byte ${hex2(t1)} is invalid (${ctx.minSecondTagByte === 1 ? '00' : '00..1E'} and 80 are not allowed)`,
          j,
        );
      tag = (tag << 8) | t1;
      j++;
      if (t1 & 0x80) {
        if (j >= end) throw new MalformedDataError('tag announces a third tag byte', j);
        const t2 = buf[j]!;
        if (t2 & 0x80) throw new MalformedDataError('tags longer than 3 bytes are RFU in ISO/IEC 7816-4', j);
        tag = (tag << 8) | t2;
        j++;
      }
    }
    if (j >= end) throw new MalformedDataError(`tag ${tagHex(tag)} has no length field`, j);
    const l0 = buf[j]!;
    const lenAt = j;
    j++;
    let len: number;
    let lengthSize: number;
    if (l0 < 0x80) {
      len = l0;
      lengthSize = 1;
    } else if (l0 === 0x80) {
      throw new MalformedDataError('indefinite length (80) is not used in ISO/IEC 7816-4', lenAt);
    } else if (l0 <= 0x84) {
      const k = l0 - 0x80;
      if (j + k > end) throw new MalformedDataError(`length field ${hex2(l0)} needs ${k} more bytes`, end);
      len = 0;
      for (let q = 0; q < k; q++) len = len * 256 + buf[j + q]!;
      j += k;
      lengthSize = k + 1;
    } else {
      throw new MalformedDataError(
        `length field ${hex2(l0)}: at most 4 length bytes (81..84) are allowed`,
        lenAt,
      );
    }
    if (len > end - j)
      throw new MalformedDataError(
        `tag ${tagHex(tag)}: length ${len} exceeds the ${end - j} bytes available`,
        lenAt,
      );
    let node: TlvNode;
    if (t0 & 0x20) {
      if (depth > ctx.maxDepth)
        throw new MalformedDataError(`constructed objects nested deeper than ${ctx.maxDepth}`, i);
      const [children, tail] = TlvNode.#parseSeq(ctx, j, j + len, depth);
      internalCall = true;
      node = new TlvNode(tag, EMPTY, children, lengthSize, padBefore, tail, i);
    } else {
      internalCall = true;
      node = new TlvNode(
        tag,
        len === 0 ? EMPTY : buf.subarray(j, j + len),
        NO_CHILDREN,
        lengthSize,
        padBefore,
        EMPTY,
        i,
      );
    }
    return [node, j + len];
  }
}

function hex2(b: number): string {
  return b.toString(16).toUpperCase().padStart(2, '0');
}

/**
 * The value of the first data object with `tag` in `bytes` — a sequence of BER-TLV objects such
 * as an FCI (6F …) or a GET DATA answer — searching depth-first, in encoding order, through
 * constructed objects (an FCI's template, its A5 proprietary template, BF0C …). The one
 * find-a-tag walker: terminals read the applets' FCIs with it.
 * @returns a copy of the value, or undefined when no object has the tag.
 * @throws MalformedDataError (kind 'tlv') with the offset when `bytes` is not well-formed BER-TLV
 *   within `limits` (see `TlvNode.decodeAll`).
 * @throws TypeError when `bytes` is not a Uint8Array.
 */
export function findTlv(bytes: Uint8Array, tag: number, limits?: TlvLimits): Uint8Array | undefined {
  for (const node of TlvNode.decodeAll(bytes, limits).nodes) {
    const hit = node.tag === tag ? node : node.search(tag);
    if (hit !== undefined) return hit.value;
  }
  return undefined;
}
