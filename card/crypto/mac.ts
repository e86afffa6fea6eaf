/**
 * Message authentication codes: ISO/IEC 9797-1 MAC algorithms 1 and 3 and CMAC
 * (NIST SP 800-38B, RFC 4493), written over any {@link BlockCipherProvider}.
 *
 * Seed 000 Fig. 4 ("MAC CBC using the triple-DES") is MAC algorithm 1 with a two-key TDES key:
 *
 * ```
 *   D1        D2                 DN          (padded data, 8-byte blocks)
 *   |         |                  |
 *   E_K -> O1 -XOR-> E_K -> O2 ... -XOR-> E_K -> ON = MAC
 * ```
 */
import type { BlockAlgorithm, BlockCipherProvider } from './types.js';
import { blockSizeOf } from './internal/check.js';
import { PaddingError } from './errors.js';
import { wipe } from './wipe.js';

/** ISO/IEC 9797-1 padding method 1 (zeros) or 2 (80 then zeros). */
export type PaddingMethod = 1 | 2;

function checkBytes(value: unknown, name: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
}

function checkPadding(padding: unknown): asserts padding is PaddingMethod {
  if (padding !== 1 && padding !== 2) throw new RangeError(`padding must be 1 or 2, got ${String(padding)}`);
}

/**
 * ISO/IEC 9797-1 padding methods 1 and 2, into a new array.
 *
 * - Method 1: right-pad with as few 00 bytes as needed to reach a *positive* multiple of
 *   `blockSize` (so empty data becomes one zero block; data already aligned gets nothing).
 * - Method 2: append 80, then method 1 (always adds 1..blockSize bytes).
 *
 * @throws RangeError naming `method` or `blockSize` when either is not supported.
 */
export function pad(data: Uint8Array, method: PaddingMethod, blockSize: number): Uint8Array {
  checkBytes(data, 'data');
  if (method !== 1 && method !== 2) throw new RangeError(`method must be 1 or 2, got ${String(method)}`);
  if (blockSize !== 8 && blockSize !== 16)
    throw new RangeError(`blockSize must be 8 or 16, got ${blockSize}`);
  const base = method === 2 ? data.length + 1 : data.length;
  const len = Math.max(blockSize, Math.ceil(base / blockSize) * blockSize);
  const out = new Uint8Array(len);
  out.set(data, 0);
  if (method === 2) out[data.length] = 0x80;
  return out;
}

/**
 * Removes ISO/IEC 9797-1 padding method 2 (the inverse of `pad(data, 2, n)`): strips trailing
 * 00 bytes and the 80 before them. Returns a copy.
 * @throws PaddingError when there is no 80 marker, i.e. the data is empty or all zeros, or ends
 *   in a byte other than 00/80 (offset = where the check failed).
 */
export function unpadMethod2(data: Uint8Array): Uint8Array {
  checkBytes(data, 'data');
  let i = data.length - 1;
  while (i >= 0 && data[i] === 0) i--;
  if (i < 0) throw new PaddingError('no 80 marker', 0);
  if (data[i] !== 0x80)
    throw new PaddingError(`expected 80, found ${data[i]!.toString(16).padStart(2, '0')}`, i);
  return data.slice(0, i);
}

function checkMacKey(alg: BlockAlgorithm, key: Uint8Array): void {
  checkBytes(key, 'key');
  if (alg === 'tdes' && key.length !== 16 && key.length !== 24)
    throw new RangeError(`key must be 16 or 24 bytes for tdes, got ${key.length}`);
  if (alg === 'aes' && key.length !== 16 && key.length !== 32)
    throw new RangeError(`key must be 16 or 32 bytes for aes, got ${key.length}`);
  if (alg !== 'tdes' && alg !== 'aes')
    throw new RangeError(`alg must be 'tdes' or 'aes', got ${String(alg)}`);
}

/**
 * ISO/IEC 9797-1 MAC algorithm 1: CBC-MAC with the full block cipher on every block, zero IV,
 * output = last cipher block (no truncation; callers truncate if their protocol says so).
 * With alg 'tdes' and a 16-byte key this is the "MAC CBC using triple-DES" of seed 000 Fig. 4.
 * @throws RangeError naming `key` or `padding` when they are invalid.
 */
export function macIso9797Alg1(
  cipher: BlockCipherProvider,
  alg: BlockAlgorithm,
  key: Uint8Array,
  data: Uint8Array,
  padding: PaddingMethod,
): Uint8Array {
  checkMacKey(alg, key);
  checkBytes(data, 'data');
  checkPadding(padding);
  const bs = blockSizeOf(alg);
  const padded = pad(data, padding, bs);
  const chain = cipher.encrypt(alg, 'cbc', key, padded);
  const mac = chain.slice(chain.length - bs);
  wipe(padded, chain);
  return mac;
}

/**
 * ISO/IEC 9797-1 MAC algorithm 3 ("retail MAC", ANSI X9.19): single-DES CBC with K1 over all
 * blocks, then the last output is decrypted with K2 and encrypted with K1. Equivalently: single-DES
 * CBC-MAC over blocks 1..N-1, then two-key TDES (K1,K2) on the last chained block — which is how
 * it is computed here, since single DES with K equals TDES-EDE with K‖K (no legacy DES needed).
 * @param key16 K1‖K2, 16 bytes.
 * @throws RangeError naming `key16` or `padding` when they are invalid.
 */
export function macIso9797Alg3(
  cipher: BlockCipherProvider,
  key16: Uint8Array,
  data: Uint8Array,
  padding: PaddingMethod,
): Uint8Array {
  checkBytes(key16, 'key16');
  if (key16.length !== 16) throw new RangeError(`key16 must be 16 bytes (K1‖K2), got ${key16.length}`);
  checkBytes(data, 'data');
  checkPadding(padding);
  const padded = pad(data, padding, 8);
  const k1k1 = new Uint8Array(16);
  k1k1.set(key16.subarray(0, 8), 0);
  k1k1.set(key16.subarray(0, 8), 8);
  const head = padded.subarray(0, padded.length - 8);
  const last = padded.slice(padded.length - 8);
  let chain: Uint8Array | undefined;
  if (head.length > 0) {
    chain = cipher.encrypt('tdes', 'cbc', k1k1, head);
    for (let i = 0; i < 8; i++) last[i]! ^= chain[chain.length - 8 + i]!;
  }
  const mac = cipher.encrypt('tdes', 'ecb', key16, last);
  wipe(padded, k1k1, last, chain);
  return mac;
}

/** Doubling in GF(2^64) / GF(2^128) (SP 800-38B §6.1: shift left, XOR Rb if the top bit was set). */
function dbl(block: Uint8Array): Uint8Array {
  const out = new Uint8Array(block.length);
  let carry = 0;
  for (let i = block.length - 1; i >= 0; i--) {
    const b = block[i]!;
    out[i] = ((b << 1) | carry) & 0xff;
    carry = b >> 7;
  }
  // Rb = 0x87 for 128-bit blocks, 0x1B for 64-bit blocks; applied without a branch on the secret bit.
  out[block.length - 1]! ^= (block.length === 16 ? 0x87 : 0x1b) & -(block[0]! >> 7);
  return out;
}

/**
 * CMAC (NIST SP 800-38B; RFC 4493 for AES-128): full-length tag (16 bytes for AES, 8 for TDES);
 * callers truncate (most significant bytes first) if their protocol says so.
 * @throws RangeError naming `key` when its length does not suit `alg`.
 */
export function cmac(
  cipher: BlockCipherProvider,
  alg: BlockAlgorithm,
  key: Uint8Array,
  data: Uint8Array,
): Uint8Array {
  checkMacKey(alg, key);
  checkBytes(data, 'data');
  const bs = blockSizeOf(alg);
  const zero = new Uint8Array(bs);
  const l = cipher.encrypt(alg, 'ecb', key, zero);
  const k1 = dbl(l);
  const k2 = dbl(k1);
  const complete = data.length > 0 && data.length % bs === 0;
  const m = complete ? Uint8Array.from(data) : pad(data, 2, bs);
  const sub = complete ? k1 : k2;
  const lastAt = m.length - bs;
  for (let i = 0; i < bs; i++) m[lastAt + i]! ^= sub[i]!;
  const chain = cipher.encrypt(alg, 'cbc', key, m);
  const tag = chain.slice(chain.length - bs);
  wipe(l, k1, k2, m, chain);
  return tag;
}

/**
 * Constant-time MAC comparison (time depends only on the lengths, never on where bytes differ).
 * @returns false when the lengths differ or any byte differs.
 */
export function verifyMac(expected: Uint8Array, actual: Uint8Array): boolean {
  checkBytes(expected, 'expected');
  checkBytes(actual, 'actual');
  if (expected.length !== actual.length) return false;
  let d = 0;
  for (let i = 0; i < expected.length; i++) d |= expected[i]! ^ actual[i]!;
  return d === 0;
}
