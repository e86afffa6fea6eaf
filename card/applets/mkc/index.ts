// The master-key card of issue 12 (docs/personalisation.md §3).
export {
  INS_MKC_CHANGE_REFERENCE_DATA,
  INS_MKC_VERIFY,
  MKC_INS,
  MKC_LAYOUT,
  MKC_PIN_REFERENCE,
  MKC_PIN_TRIES,
  MasterKeyApplet,
} from './MasterKeyApplet.js';
export type { MasterKeyPersonalisation } from './MasterKeyApplet.js';
export {
  KEY_MKC_COUNTER,
  KEY_MKC_IDENTITY,
  KEY_MKC_PIN,
  MKC_KH_VERSIONS,
  MKC_MAX_COMPONENTS,
  MKC_SLOTS,
  MKC_TRANSPORT_VERSIONS,
  MkcIdentity,
  MkcSlot,
  isMkcSlot,
  keyMkcSlot,
} from './records.js';
export { ATR_MKC, PROFILE_MASTER_KEY, makeMasterKeyCard, masterKeyCardOf } from './makeMasterKeyCard.js';
export type { MasterKeyCard, MasterKeyCardConfig, MasterKeyCardOptions } from './makeMasterKeyCard.js';
