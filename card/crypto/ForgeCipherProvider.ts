import forge from 'node-forge';
import type { BlockAlgorithm, BlockCipherProvider, BlockMode } from './types.js';
import { checkBlockArgs } from './internal/check.js';
import { wipe } from './wipe.js';

/**
 * Raw TDES and AES block encryption over `node-forge` (pure JavaScript).
 *
 * forge's DES takes 8-byte (DES) or 24-byte (3DES) keys, so a two-key TDES key K1‖K2 is expanded
 * to K1‖K2‖K1 (keying option 2 of NIST SP 800-67). forge pads with PKCS#7 by default; a no-op
 * padding function is passed to `finish()` so whole blocks go through untouched.
 *
 * forge works on "binary strings", so key bytes are copied into an immutable JS string that cannot
 * be wiped (see wipe.ts); the expanded key array is wiped.
 */
export class ForgeCipherProvider implements BlockCipherProvider {
  readonly name = 'forge';

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

/** Uint8Array → forge binary string (one char per byte). */
export function toBinary(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 4096) {
    s += String.fromCharCode.apply(null, Array.from(bytes.subarray(i, i + 4096)));
  }
  return s;
}

/** forge binary string → Uint8Array. */
export function fromBinary(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

const NO_PADDING = (): boolean => true;

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
  let k = key;
  if (alg === 'tdes' && key.length === 16) {
    k = new Uint8Array(24);
    k.set(key, 0);
    k.set(key.subarray(0, 8), 16);
  }
  const forgeAlg =
    `${alg === 'aes' ? 'AES' : '3DES'}-${mode === 'ecb' ? 'ECB' : 'CBC'}` as forge.cipher.Algorithm;
  const keyBuf = forge.util.createBuffer(toBinary(k));
  if (k !== key) wipe(k);
  const c = encrypt
    ? forge.cipher.createCipher(forgeAlg, keyBuf)
    : forge.cipher.createDecipher(forgeAlg, keyBuf);
  const ivBytes = mode === 'cbc' ? (iv ?? new Uint8Array(bs)) : undefined;
  c.start(ivBytes ? { iv: toBinary(ivBytes) } : {});
  c.update(forge.util.createBuffer(toBinary(data)));
  // @types/node-forge omits finish()'s padding-function parameter; it exists (lib/cipher.js).
  const finish = c.finish.bind(c) as (pad: () => boolean) => boolean;
  if (!finish(NO_PADDING)) throw new RangeError('data must be a whole number of blocks');
  const out = fromBinary(c.output.getBytes());
  keyBuf.clear();
  return out;
}
