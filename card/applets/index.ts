/** Public API of the purse, SAM and SVM applets (STYLE.md rule 10). */
export * from './constants.js';
export { IssuerKeys } from './IssuerKeys.js';
export type { CardKeySet, SamKeySet, SvmKeySet } from './IssuerKeys.js';
export * from './PurseCrypto.js';
export { bcdDateTime, showDateTime, isBcdDateTime } from '../util/bcd.js';
export { PurseApplet, pinBlock } from './purse/PurseApplet.js';
export type { PurseInit, PursePersonalisation } from './purse/PurseApplet.js';
export * from './purse/records.js';
export { SamApplet } from './sam/SamApplet.js';
export { SvmApplet } from './svm/SvmApplet.js';
export { SvmRegister, PendingTransfer, SvmLogRecord } from './svm/records.js';
export * from './profiles.js';
export { readDevice } from './inspect.js';
export * from './perso/index.js';
export type { RecordStore, StoreWrite } from './platform/RecordStore.js';
export { RegionRecordStore } from './platform/RegionRecordStore.js';
export { RuntimeApplet } from './platform/RuntimeApplet.js';
export type { Application } from './platform/RuntimeApplet.js';
// Issue 17: remote loads, offline-meter configuration and readings (purse/offline.ts).
export * from './purse/offline.js';
export { deriveOfflineKey, deriveRemoteKey } from './IssuerKeys.js';
