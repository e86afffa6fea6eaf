import type { BlockAlgorithm, BlockMode } from '../types.js';

/** Block size in bytes: 8 for DES/TDES, 16 for AES. */
export function blockSizeOf(alg: BlockAlgorithm): number {
  return alg === 'aes' ? 16 : 8;
}

/**
 * Checks the arguments of a raw block operation and returns the block size.
 * @throws TypeError when an argument has the wrong type; RangeError naming the parameter when a
 *   length is wrong (key: TDES 16/24, AES 16/32; iv: one block, CBC only; data: whole blocks).
 */
export function checkBlockArgs(
  alg: BlockAlgorithm,
  mode: BlockMode,
  key: Uint8Array,
  data: Uint8Array,
  iv: Uint8Array | undefined,
): number {
  if (alg !== 'tdes' && alg !== 'aes')
    throw new RangeError(`alg must be 'tdes' or 'aes', got ${String(alg)}`);
  if (mode !== 'ecb' && mode !== 'cbc')
    throw new RangeError(`mode must be 'ecb' or 'cbc', got ${String(mode)}`);
  if (!(key instanceof Uint8Array)) throw new TypeError('key must be a Uint8Array');
  if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
  if (iv !== undefined && !(iv instanceof Uint8Array)) throw new TypeError('iv must be a Uint8Array');
  const bs = blockSizeOf(alg);
  if (alg === 'tdes' && key.length !== 16 && key.length !== 24)
    throw new RangeError(`key must be 16 or 24 bytes for tdes, got ${key.length}`);
  if (alg === 'aes' && key.length !== 16 && key.length !== 32)
    throw new RangeError(`key must be 16 or 32 bytes for aes, got ${key.length}`);
  if (data.length % bs !== 0)
    throw new RangeError(`data must be a whole number of ${bs}-byte blocks, got ${data.length} bytes`);
  if (mode === 'ecb' && iv !== undefined) throw new RangeError('iv must be absent in ecb mode');
  if (mode === 'cbc' && iv !== undefined && iv.length !== bs)
    throw new RangeError(`iv must be ${bs} bytes for ${alg}, got ${iv.length}`);
  return bs;
}
