/** Public API of the security module (STYLE.md rule 10). */
export { isSatisfied, parseAccessRule } from './AccessCondition.js';
export type { AccessRule, SecurityView } from './AccessCondition.js';
export { SecurityState } from './SecurityState.js';
export { PinManager } from './PinManager.js';
export type { Pin, PinSpec, VerifyOutcome } from './PinManager.js';
export { KeyStore } from './KeyStore.js';
export type { CardKey, KeySpec, KeyUsage } from './KeyStore.js';
export {
  SmSession,
  smObject,
  unwrapCommand,
  wrapResponse,
  wrapCommand,
  unwrapResponse,
  TAG_SM_CRYPTOGRAM,
  TAG_SM_PLAIN,
  TAG_SM_LE,
  TAG_SM_STATUS,
  TAG_SM_MAC,
} from './SecureMessaging.js';
export {
  INS_VERIFY,
  INS_CHANGE_REFERENCE_DATA,
  INS_RESET_RETRY_COUNTER,
  INS_GET_CHALLENGE,
  INS_EXTERNAL_AUTHENTICATE,
  INS_INTERNAL_AUTHENTICATE,
  deriveSmSession,
} from './SecurityCommands.js';
