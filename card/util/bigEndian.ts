/**
 * The project's one big-endian integer helper: every multi-byte integer on the wire, in the
 * applets' records and in the card's store is unsigned and big-endian (most significant byte
 * first, the ISO/IEC 7816-4 §5.1 habit).
 *
 * ```
 *  u16 / put16 / be16   b[at] b[at+1]                     0 … 65 535
 *  u32 / put32 / be32   b[at] … b[at+3]                   0 … 4 294 967 295
 *  u64 / put64 / be64   b[at] … b[at+7]  (bigint)         0 … 2^64 − 1
 *  e.g. 0x01020304 → 01 02 03 04
 * ```
 * Reads never invent bytes: a field that does not fit inside the array is a RangeError naming
 * `at`, not a silent zero. Callers that parse outside data check lengths first and throw their
 * own typed error (MalformedDataError, SwError); this RangeError only catches what they missed.
 * Writes check the value (RangeError naming `v`) so nothing is silently truncated.
 */

/** Highest value of a u16 field. */
export const U16_MAX = 0xffff;
/** Highest value of a u32 field. */
export const U32_MAX = 0xffff_ffff;
/** Highest value of a u64 field. */
export const U64_MAX = 0xffff_ffff_ffff_ffffn;

function span(b: Uint8Array, at: number, size: number): void {
  if (!(b instanceof Uint8Array)) throw new TypeError('b must be a Uint8Array');
  if (!Number.isInteger(at) || at < 0 || at + size > b.length)
    throw new RangeError(`at must leave ${size} bytes in a ${b.length}-byte array, got ${at}`);
}

function checkValue(v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max)
    throw new RangeError(`v must be an integer 0..${max}, got ${v}`);
}

/**
 * Reads an unsigned 16-bit big-endian integer at `at`.
 * @throws RangeError naming `at` when the two bytes are not inside `b`.
 */
export function u16(b: Uint8Array, at = 0): number {
  span(b, at, 2);
  return (b[at]! << 8) | b[at + 1]!;
}

/**
 * Reads an unsigned 32-bit big-endian integer at `at`.
 * @throws RangeError naming `at` when the four bytes are not inside `b`.
 */
export function u32(b: Uint8Array, at = 0): number {
  span(b, at, 4);
  // `* 2 ** 24` rather than `<< 24`: a shift would make values ≥ 2^31 negative.
  return b[at]! * 0x100_0000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
}

/**
 * Reads an unsigned 64-bit big-endian integer at `at`.
 * @throws RangeError naming `at` when the eight bytes are not inside `b`.
 */
export function u64(b: Uint8Array, at = 0): bigint {
  span(b, at, 8);
  return (BigInt(u32(b, at)) << 32n) | BigInt(u32(b, at + 4));
}

/**
 * Writes `v` (0…65535) big-endian at `at`.
 * @throws RangeError naming `v` when out of range, or `at` when the field does not fit.
 */
export function put16(b: Uint8Array, at: number, v: number): void {
  checkValue(v, U16_MAX);
  span(b, at, 2);
  b[at] = v >>> 8;
  b[at + 1] = v & 0xff;
}

/**
 * Writes `v` (0…4294967295) big-endian at `at`.
 * @throws RangeError naming `v` when out of range, or `at` when the field does not fit.
 */
export function put32(b: Uint8Array, at: number, v: number): void {
  checkValue(v, U32_MAX);
  span(b, at, 4);
  b[at] = v >>> 24;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

/**
 * Writes `v` (0…2^64 − 1) big-endian at `at`.
 * @throws RangeError naming `v` when out of range, or `at` when the field does not fit;
 *   TypeError when `v` is not a bigint.
 */
export function put64(b: Uint8Array, at: number, v: bigint): void {
  if (typeof v !== 'bigint') throw new TypeError('v must be a bigint');
  if (v < 0n || v > U64_MAX) throw new RangeError(`v must be 0..${U64_MAX}, got ${v}`);
  span(b, at, 8);
  put32(b, at, Number(v >> 32n));
  put32(b, at + 4, Number(v & 0xffff_ffffn));
}

/** `v` as 2 bytes big-endian. @throws RangeError naming `v` when not 0…65535. */
export function be16(v: number): Uint8Array {
  const b = new Uint8Array(2);
  put16(b, 0, v);
  return b;
}

/** `v` as 4 bytes big-endian. @throws RangeError naming `v` when not 0…4294967295. */
export function be32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  put32(b, 0, v);
  return b;
}

/** `v` as 8 bytes big-endian. @throws RangeError naming `v` when not 0…2^64 − 1. */
export function be64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  put64(b, 0, v);
  return b;
}
