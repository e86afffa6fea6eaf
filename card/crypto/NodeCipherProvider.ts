import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { BlockAlgorithm, BlockCipherProvider, BlockMode } from './types.js';
import { checkBlockArgs } from './internal/check.js';
import { wipe } from './wipe.js';

/**
 * Raw TDES and AES block encryption over `node:crypto` (OpenSSL 3).
 *
 * OpenSSL cipher names used (all in the OpenSSL 3 default provider):
 *
 * | alg  | key bytes | ecb            | cbc            |
 * |------|-----------|----------------|----------------|
 * | tdes | 16        | des-ede-ecb    | des-ede-cbc    |
 * | tdes | 24        | des-ede3-ecb   | des-ede3-cbc   |
 * | aes  | 16        | aes-128-ecb    | aes-128-cbc    |
 * | aes  | 32        | aes-256-ecb    | aes-256-cbc    |
 *
 * Single DES (`des-ecb`) lives in OpenSSL's legacy provider and is not used: callers needing it
 * (ISO/IEC 9797-1 MAC algorithm 3) pass the two-key TDES key K‖K, for which EDE equals single DES.
 * Padding is switched off; CBC without an `iv` uses the all-zero IV (ISO/IEC 9797-1 CBC-MAC).
 */
export class NodeCipherProvider implements BlockCipherProvider {
  readonly name = 'node';

  /** @throws RangeError naming the parameter when the key, IV or data length is wrong. */
  encrypt(
    alg: BlockAlgorithm,
    mode: BlockMode,
    key: Uint8Array,
    data: Uint8Array,
    iv?: Uint8Array,
  ): Uint8Array {
    return run(true, alg, mode, key, data, iv);
  }

  /** @throws RangeError naming the parameter when the key, IV or data length is wrong. */
  decrypt(
    alg: BlockAlgorithm,
    mode: BlockMode,
    key: Uint8Array,
    data: Uint8Array,
    iv?: Uint8Array,
  ): Uint8Array {
    return run(false, alg, mode, key, data, iv);
  }
}

function opensslName(alg: BlockAlgorithm, mode: BlockMode, keyLength: number): string {
  if (alg === 'tdes') return `${keyLength === 16 ? 'des-ede' : 'des-ede3'}-${mode}`;
  return `aes-${keyLength * 8}-${mode}`;
}

function run(
  encrypt: boolean,
  alg: BlockAlgorithm,
  mode: BlockMode,
  key: Uint8Array,
  data: Uint8Array,
  iv: Uint8Array | undefined,
): Uint8Array {
  const bs = checkBlockArgs(alg, mode, key, data, iv);
  if (data.length === 0) return new Uint8Array(0);
  const ivBytes = mode === 'ecb' ? null : (iv ?? new Uint8Array(bs));
  const name = opensslName(alg, mode, key.length);
  const c = encrypt ? createCipheriv(name, key, ivBytes) : createDecipheriv(name, key, ivBytes);
  c.setAutoPadding(false);
  const a = c.update(data);
  const b = c.final();
  // Copy out of the Buffers (STYLE.md rule 1) and clear them; OpenSSL's key schedule inside `c`
  // is beyond our reach (see wipe.ts).
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  wipe(a, b);
  return out;
}
