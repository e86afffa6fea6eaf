import { MalformedDataError } from '../iso7816/errors.js';

const HEX = '0123456789ABCDEF';

/** Upper-case hex of `bytes`, no separators. */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    out += HEX[b >> 4]! + HEX[b & 15]!;
  }
  return out;
}

/**
 * Parses hex, ignoring white space, ':' and '-' separators (as written in ATR lists and traces).
 * @throws MalformedDataError naming the offset of the first bad character or an odd digit count.
 */
export function fromHex(text: string): Uint8Array {
  const clean: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x3a || c === 0x2d) continue;
    let v: number;
    if (c >= 0x30 && c <= 0x39) v = c - 0x30;
    else if (c >= 0x41 && c <= 0x46) v = c - 0x37;
    else if (c >= 0x61 && c <= 0x66) v = c - 0x57;
    else throw new MalformedDataError(`not a hex digit: ${JSON.stringify(text[i])}`, i, undefined, 'hex');
    clean.push(v);
  }
  if (clean.length % 2 !== 0)
    throw new MalformedDataError('odd number of hex digits', text.length, undefined, 'hex');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = (clean[2 * i]! << 4) | clean[2 * i + 1]!;
  return out;
}

/** Copies and checks that `value` is a Uint8Array (Buffers are accepted and copied). */
export function bytesArg(value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  return Uint8Array.from(value);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Constant-time comparison of two byte strings (MACs, cryptograms). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}
