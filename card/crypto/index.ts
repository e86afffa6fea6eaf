/** Public API of the crypto layer (STYLE.md rule 10); `internal/` is not exported. */
import type { BlockCipherProvider } from './types.js';
import { NodeCipherProvider } from './NodeCipherProvider.js';

export type { BlockAlgorithm, BlockMode, BlockCipherProvider, Rng, Clock } from './types.js';
export { NodeCipherProvider } from './NodeCipherProvider.js';
export { ForgeCipherProvider } from './ForgeCipherProvider.js';
export { UnsupportedAlgorithmError, PaddingError, UnknownKeyVersionError, KeyFormatError } from './errors.js';
export { pad, unpadMethod2, macIso9797Alg1, macIso9797Alg3, cmac, verifyMac } from './mac.js';
export type { PaddingMethod } from './mac.js';
export { SystemRng, SeededRng } from './rng.js';
export { SystemClock, ManualClock } from './clock.js';
export { wipe } from './wipe.js';
export { kcv, KCV_LENGTH } from './kcv.js';
export {
  TERMINAL_ID_LENGTH,
  adjustDesParity,
  hasOddParity,
  diversify,
  deriveTerminalKey,
  deriveSessionKey,
  deriveCardKey,
  IssuerMasterKeys,
  HostKeyRing,
} from './keyHierarchy.js';
export type { CardPurseKeys } from './keyHierarchy.js';

export {
  SIGNATURE_ALGORITHMS,
  PSS_SALT_LENGTH,
  RSA_BITS,
  pemEncode,
  pemDecode,
  keyToDer,
  derToJwk,
  ecdsaRawToDer,
  ecdsaDerToRaw,
} from './signature.js';
export type {
  SignatureAlgorithm,
  EcdsaSignatureFormat,
  Signer,
  Verifier,
  KeyPairDer,
  KeyInput,
  SignerOptions,
  SignatureProvider,
} from './signature.js';
export { NodeSignatureProvider } from './NodeSignatureProvider.js';
export { ForgeSignatureProvider } from './ForgeSignatureProvider.js';

let fallback: BlockCipherProvider | undefined;

/**
 * The provider to use when none is injected: `node:crypto`, chosen by the figures of
 * `bench/crypto.bench.ts` (see docs/crypto.md). One shared instance (providers are stateless).
 */
export function defaultCipherProvider(): BlockCipherProvider {
  return (fallback ??= new NodeCipherProvider());
}
