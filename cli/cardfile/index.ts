/** Public API of card files: sealing, keys, rollback state (STYLE.md rule 10). */
export { createCardFile, openCardFile } from './CardFile.js';
export type { CardFileOptions, CardFileSeal, OpenedCardFile } from './CardFile.js';
export { CardFileError } from './CardFileError.js';
export type { CardFileProblem } from './CardFileError.js';
export {
  CARD_KEY_ENV,
  CARD_KEY_FILE_ENV,
  CARD_STATE_ENV,
  CONFIG_DIR_ENV,
  CardKey,
  createKeyFile,
  defaultConfigDir,
  loadKeyFile,
  resolveCardKey,
} from './CardKey.js';
export type { ResolveKeyOptions } from './CardKey.js';
export { CARD_STATE_FORMAT, CardFileState, canonicalPath } from './CardFileState.js';
export type { CardStateEntry, SealedFileIdentity } from './CardFileState.js';
export {
  CARD_FILE_FORMAT,
  LAB_NOTICE,
  SEAL_AES_256_GCM,
  SEAL_NONE,
  decodeCardFile,
  encodeLabCardFile,
  encodeSealedCardFile,
} from './cardFileCodec.js';
export type { CardContent, DecodedCardFile, SealedFacts } from './cardFileCodec.js';
export { createFileExclusive, writeFileAtomic } from './writeFileAtomic.js';
export { CardFileLock, CardFileLockedError } from './CardFileLock.js';
