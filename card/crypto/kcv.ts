/**
 * Key check value (KCV): the first 3 bytes of the key's encryption of one block of zeros — the
 * usual way custodians and tools compare keys and key components without showing them
 * (ANSI X9.24-1 / the "KCV" printed by every HSM). TDES keys (16 or 24 bytes) encrypt 8 zero bytes.
 *
 * Published vector (TDES, 2 keys): 0123456789ABCDEF FEDCBA9876543210 → 08D7B4.
 */
import type { BlockCipherProvider } from './types.js';

export const KCV_LENGTH = 3;

/** KCV of a TDES key. @throws RangeError when the key is not 16 or 24 bytes. */
export function kcv(cipher: BlockCipherProvider, key: Uint8Array): Uint8Array {
  if (!(key instanceof Uint8Array) || (key.length !== 16 && key.length !== 24))
    throw new RangeError(
      `a TDES key is 16 or 24 bytes, got ${key instanceof Uint8Array ? key.length : typeof key}`,
    );
  return cipher.encrypt('tdes', 'ecb', key, new Uint8Array(8)).subarray(0, KCV_LENGTH).slice();
}
