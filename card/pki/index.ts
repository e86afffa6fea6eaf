/**
 * Public API of card/pki: the data formats of seed 004's public-key settlement (EP0856821) in
 * ASN.1 DER (module definition: Settlement.asn1; summary for callers: API.md).
 */
export { SettlementPkiError } from './errors.js';
export type { SettlementPkiReason } from './errors.js';
export {
  ID_MAX_LENGTH,
  ID_MIN_LENGTH,
  MAX_COUNTER,
  MAX_LIST_ENTRIES,
  MAX_SERVICE_TEXT,
  MAX_SIGNATURE_LENGTH,
  MAX_SPKI_LENGTH,
  MAX_VALUE,
  NONCE_MAX_LENGTH,
  NONCE_MIN_LENGTH,
  PKI_VERSION,
  SETTING_NUMBER_MAX_LENGTH,
  SETTING_NUMBER_MIN_LENGTH,
  SUBJECT_KINDS,
} from './limits.js';
export type { SubjectKind } from './limits.js';
export { MAX_DER_BYTES, MAX_DER_DEPTH, MAX_TIME } from './internal/der.js';
export {
  ECDSA_SIGNATURE_LENGTH,
  OID_ECDSA_WITH_SHA256,
  OID_RSASSA_PSS,
  OID_SHA256_WITH_RSA,
  algorithmOfOid,
  oidOfAlgorithm,
  signWith,
} from './algorithms.js';
export type { SignatureParts } from './internal/signed.js';
export { Certificate } from './Certificate.js';
export type { CertificateFields } from './Certificate.js';
export { SignedValue, STATE_REFERENCE_LENGTH, stateReference, stateReferenceOf } from './SignedValue.js';
export type { CardStateReference, SignedValueFields, ValueSignerKind } from './SignedValue.js';
export {
  cardAuthInput,
  cardValueInput,
  passwordInput,
  terminalValueInput,
  timeStampInput,
} from './signatureInputs.js';
export type { SessionBinding } from './signatureInputs.js';
export { UsageInfo } from './UsageInfo.js';
export type { UsageInfoFields } from './UsageInfo.js';
export { ServiceRecord } from './ServiceRecord.js';
export type { ServiceRecordFields } from './ServiceRecord.js';
export { INVALID_CARD_REASONS, InvalidCardList, TroubledTerminalList, compareIds } from './lists.js';
export type {
  InvalidCardEntry,
  InvalidCardReason,
  SignedListFields,
  TroubledTerminalEntry,
} from './lists.js';
export { PasswordSetting, PasswordTicket } from './PasswordSetting.js';
export type { PasswordSettingFields, PasswordTicketFields } from './PasswordSetting.js';
export { UsageUpload, checkUsageRecord, usageManagementKey } from './UsageUpload.js';
export type { PreviousUsage, UsageRecord, UsageUploadFields } from './UsageUpload.js';
export { MIN_RSA_PUBLIC_EXPONENT, checkSubjectKey } from './keyPolicy.js';
export { TIME_STAMP_LENGTH, TS_MAX_UPDATES, nextTimeStamp, timeStampAt } from './timeStamp.js';
export {
  CentreTrust,
  SUBJECT_KEY_CACHE_SIZE,
  SubjectKeyCache,
  checkTimeStamp,
  subjectVerifier,
  verifyServiceRecord,
  verifyUsageUpload,
} from './CentreTrust.js';
// The card/crypto signature API this module's signatures are written in (card/index.ts has no other
// export of it): what callers need to make signers, verifiers and a CentreTrust.
export { ForgeSignatureProvider } from '../crypto/ForgeSignatureProvider.js';
export { NodeSignatureProvider } from '../crypto/NodeSignatureProvider.js';
export { SIGNATURE_ALGORITHMS } from '../crypto/signature.js';
export type {
  KeyPairDer,
  SignatureAlgorithm,
  SignatureProvider,
  Signer,
  SignerOptions,
  Verifier,
} from '../crypto/signature.js';
