/**
 * Small fixed-width big-endian integer and BCD helpers for the applets' byte layouts.
 * Every multi-byte integer on the wire and in the store is big-endian (ISO/IEC 7816-4 §5.1 habit).
 */
import { SwError } from '../iso7816/errors.js';
import { SW_WRONG_DATA } from '../iso7816/sw.js';

/** Reads an unsigned 16-bit big-endian integer at `at`. */
export function u16(b: Uint8Array, at: number): number {
  return ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);
}

/** Reads an unsigned 32-bit big-endian integer at `at`. */
export function u32(b: Uint8Array, at: number): number {
  return (((b[at] ?? 0) << 24) >>> 0) + ((b[at + 1] ?? 0) << 16) + ((b[at + 2] ?? 0) << 8) + (b[at + 3] ?? 0);
}

/** Writes `v` (0..FFFF) big-endian at `at`. @throws RangeError naming `v` when out of range. */
export function put16(b: Uint8Array, at: number, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`v must be 0..65535, got ${v}`);
  b[at] = v >>> 8;
  b[at + 1] = v & 0xff;
}

/** Writes `v` (0..FFFFFFFF) big-endian at `at`. @throws RangeError naming `v` when out of range. */
export function put32(b: Uint8Array, at: number, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw new RangeError(`v must be 0..4294967295, got ${v}`);
  b[at] = v >>> 24;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

/** 2 bytes big-endian. */
export function be16(v: number): Uint8Array {
  const b = new Uint8Array(2);
  put16(b, 0, v);
  return b;
}

/** 4 bytes big-endian. */
export function be32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  put32(b, 0, v);
  return b;
}

/** ASCII bytes of a short label ('D', 'S', 'T', ...) used as MAC domain separators. */
export function ascii(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0x7f;
  return b;
}

function bcdDigit(b: number): number {
  const hi = b >> 4;
  const lo = b & 15;
  if (hi > 9 || lo > 9) return -1;
  return hi * 10 + lo;
}

/**
 * True when the 6 bytes are a plausible BCD date-time YYMMDDhhmmss (month 1..12, day 1..31,
 * hour < 24, minute and second < 60).
 */
export function isBcdDateTime(b: Uint8Array): boolean {
  if (b.length !== 6) return false;
  const v = [...b].map(bcdDigit);
  if (v.some((x) => x < 0)) return false;
  const [, mo, d, h, mi, s] = v as [number, number, number, number, number, number];
  return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && s < 60;
}

/**
 * Checks a BCD date-time field of a command.
 * @throws SwError 6A80 (wrong data) when it is not a valid YYMMDDhhmmss.
 */
export function checkDateTime(b: Uint8Array): void {
  if (!isBcdDateTime(b)) throw new SwError(SW_WRONG_DATA, 'date-time is not BCD YYMMDDhhmmss');
}

/** BCD YYMMDDhhmmss of a UTC time in milliseconds. */
export function bcdDateTime(ms: number): Uint8Array {
  const d = new Date(ms);
  const parts = [
    d.getUTCFullYear() % 100,
    d.getUTCMonth() + 1,
    d.getUTCDate(),
    d.getUTCHours(),
    d.getUTCMinutes(),
    d.getUTCSeconds(),
  ];
  return Uint8Array.from(parts.map((x) => ((Math.floor(x / 10) << 4) | (x % 10)) & 0xff));
}

/** "20YY-MM-DD hh:mm:ss" of a BCD YYMMDDhhmmss (for display). */
export function showDateTime(b: Uint8Array): string {
  const h = [...b].map((x) => x.toString(16).padStart(2, '0'));
  return `20${h[0]}-${h[1]}-${h[2]} ${h[3]}:${h[4]}:${h[5]}`;
}
