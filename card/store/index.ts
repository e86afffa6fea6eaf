/** Public API of the persistent store (STYLE.md rule 10). */
export { PersistentStore } from './PersistentStore.js';
export type { PersistentStoreOptions, StoreRegion } from './PersistentStore.js';
export { StoreCapacityError, StoreStateError } from './errors.js';
export {
  STORE_FILE_MAGIC,
  STORE_FILE_VERSION,
  STORE_FILE_VERSIONS,
  encodeStoreFile,
  decodeStoreFile,
} from './StoreFile.js';
export type { StoreFileContents } from './StoreFile.js';
export { crc32 } from './crc32.js';
