/** Public API of card/ (STYLE.md rule 10): other packages import card/ through this file only. */
export { IssuerKeys } from './applets/IssuerKeys.js';
export {
  PurseCrypto,
  coreStateInput,
  loadMacInput,
  loadReceiptInput,
  tokenCoreInput,
  tokenGrantInput,
} from './applets/PurseCrypto.js';
export {
  AID_COMMISSIONING,
  COMMISSIONING_MAX_PAYLOAD,
  COMMISSION_WANT_COMMISSION,
  COMMISSION_WANT_DECOMMISSION,
  INS_COMMISSION,
  PAYLOAD_DECOMMISSION,
} from './applets/commissioning/CommissioningApplet.js';
export {
  AID_PURSE,
  AID_SAM,
  AID_SVM,
  HOST_VALUE_STORE,
  INS_AUTH_FINISH,
  INS_AUTH_INIT,
  INS_BEGIN_TRANSFER,
  INS_CANCEL_TRANSFER,
  INS_CHANGE_REFERENCE_DATA,
  INS_COMMISSION_CHECK,
  INS_COMPLETE_TRANSFER,
  INS_DEBIT,
  INS_GET_CHALLENGE,
  INS_HOST_COMMAND,
  INS_HOST_CREDIT,
  INS_HOST_FINISH,
  INS_HOST_INIT,
  INS_LOAD,
  INS_MUTUAL_AUTHENTICATE,
  INS_READ_PURSE,
  INS_READ_RECORD,
  INS_READ_STATE,
  INS_TOKEN_AUTH,
  INS_TOKEN_REQUEST,
  INS_TRANSFER_AUTH,
  INS_UPDATE_RECORD,
  INS_VERIFY,
  LOG_RECORDS,
  PURSE_ELECTRICITY,
  PURSE_NAMES,
  SFI_LOG,
  SFI_METER_DATA,
  SW_INSUFFICIENT_BALANCE,
  describeAppletSw,
} from './applets/constants.js';
// Issue 13: the SVM's pending slots and HOST SETTLE.
export {
  HOST_SETTLE,
  INS_HOST_SETTLE,
  INS_READ_PENDING,
  SETTLE_CANCEL,
  SETTLE_COMPLETE,
  SETTLED_CANCEL,
  SETTLED_COMPLETE,
  SETTLE_DUPLICATE,
  SETTLE_NO_SUCH_PENDING,
  SVM_PENDING_SLOTS,
  SW_PENDING_SLOTS_FULL,
  SW_TRANSFER_PENDING,
} from './applets/constants.js';
export { hostSettleAnswerInput, hostSettleAuthInput } from './applets/PurseCrypto.js';
// Issue 13: READ LOG — the SVM's MAC over each log record, and the host's check of it.
export { pendingMacInput, svmLogMacInput } from './applets/PurseCrypto.js';
export { verifySvmLogRecord, SVM_LOG_MAC_BYTES, SVM_LOG_RECORD_BYTES } from './applets/svm/verifySvmLog.js';
export type { SvmLogKey } from './applets/svm/verifySvmLog.js';
export { INS_READ_LOG, SVM_READ_LOG_MAX } from './applets/constants.js';
export { SettlePayload, SvmLogRecord } from './applets/svm/records.js';
export { readDevice } from './applets/inspect.js';
export type { DeviceView, SubscriberView, SvmView } from './applets/inspect.js';
export {
  PROFILE_NAMES,
  defaultPurses,
  deviceOf,
  makeSam,
  makeSubscriberCard,
  makeSvm,
} from './applets/profiles.js';
export type { Device, ProfileName } from './applets/profiles.js';
export {
  BLANK_KINDS,
  BLANK_PROFILE,
  KIND_COMMISSIONING,
  KIND_OF,
  KIND_SAM,
  KIND_SUBSCRIBER,
  KIND_SVM,
  PersoCrypto,
  PersoGate,
  demoTransportKey,
  demoTransportMaster,
  makeBlankCard,
} from './applets/perso/index.js';
export type { BlankCardOptions, BlankConfig, BlankDevice, BlankKind } from './applets/perso/index.js';
export {
  ATR_MKC,
  MKC_KH_VERSIONS,
  MKC_SLOTS,
  MasterKeyApplet,
  PROFILE_MASTER_KEY,
  isMkcSlot,
  makeMasterKeyCard,
  masterKeyCardOf,
} from './applets/mkc/index.js';
export type { MasterKeyCard as MasterKeyCardDevice, MasterKeyCardOptions } from './applets/mkc/index.js';
export { LOG_TYPE_DEBIT, LogRecord, MeterData, PurseState } from './applets/purse/records.js';
export { AUTH_COMMISSIONING } from './applets/sam/SamApplet.js';
export type { SamApplet } from './applets/sam/SamApplet.js';
export type { SvmApplet } from './applets/svm/SvmApplet.js';
export { PendingTransfer } from './applets/svm/records.js';
export { ForgeCipherProvider } from './crypto/ForgeCipherProvider.js';
export { NodeCipherProvider } from './crypto/NodeCipherProvider.js';
export { HostKeyRing, deriveSessionKey, diversify } from './crypto/keyHierarchy.js';
export { cmac, macIso9797Alg1, macIso9797Alg3, pad, unpadMethod2, verifyMac } from './crypto/mac.js';
export { SeededRng, SystemRng } from './crypto/rng.js';
export type { BlockCipherProvider, Rng } from './crypto/types.js';
export { wipe } from './crypto/wipe.js';
export { kcv, KCV_LENGTH } from './crypto/kcv.js';
export { Atr, CLOCK_3_5712_MHZ } from './iso7816/Atr.js';
export { Cla } from './iso7816/Cla.js';
export type { ClaInfo } from './iso7816/Cla.js';
export { CommandApdu } from './iso7816/CommandApdu.js';
export { ResponseApdu } from './iso7816/ResponseApdu.js';
export { MalformedDataError } from './iso7816/errors.js';
export type { CardCapabilities, CardServiceData, HistoricalBytes } from './iso7816/historicalBytes.js';
export { insInfo } from './iso7816/insTable.js';
export {
  SW_BYTES_REMAINING_00,
  SW_CONDITIONS_NOT_SATISFIED,
  SW_CORRECT_LENGTH_00,
  SW_FILE_NOT_FOUND,
  SW_NO_ERROR,
  SW_RECORD_NOT_FOUND,
  SW_REFERENCED_DATA_NOT_FOUND,
  SW_SECURITY_STATUS_NOT_SATISFIED,
  SW_UNKNOWN,
  SW_VERIFICATION_FAILED,
  SW_WRONG_DATA,
  sw1,
} from './iso7816/sw.js';
export { category, describeSw } from './iso7816/swTable.js';
export { TlvNode, findTlv } from './iso7816/tlv.js';
export { CardPowerLostError } from './os/CardOs.js';
export type { CardOs } from './os/CardOs.js';
export { buildCard, cardOrigin, listProfiles } from './os/CardProfiles.js';
export type { CardBuildOptions } from './os/CardProfiles.js';
export type { Iso7816Os } from './os/Iso7816Os.js';
export { decodeStoreFile, encodeStoreFile } from './store/StoreFile.js';
export {
  bcdDateTime,
  bcdToNumber,
  checkDateTimeFields,
  decodeBcdDateTime,
  encodeBcdPairs,
} from './util/bcd.js';
export type { DateTimeFields } from './util/bcd.js';
export { be16, be32, put16, u16, u32, u64 } from './util/bigEndian.js';
export { concatBytes, equalBytes, fromHex, toHex } from './util/hex.js';
// Issue 12 (terminal/bureau): the personalisation channel's numbers, and DES parity for key components.
export * as persoChannel from './applets/perso/channel.js';
export { adjustDesParity, hasOddParity } from './crypto/keyHierarchy.js';
// Issue 13 (seed 004): the settlement card applet, its profile and APDU table.
export * from './applets/settle/index.js';
// Issue 13 (seed 004 public-key settlement): certificates, signed values, lists, uploads — card/pki/API.md.
export * from './pki/index.js';
// Issue 17: remote loads over the power line, offline-meter configuration and readings.
export {
  CLEAR_READINGS_LENGTH,
  CONFIG_CHECK_LENGTH,
  OFFLINE_EVENT_FOREIGN_CARD,
  OFFLINE_EVENT_POWER_FAILURE,
  OFFLINE_EVENT_RELAY_OPEN_VOLTAGE,
  OFFLINE_EVENT_REVERSE_FLOW,
  OFFLINE_EVENT_TAMPER,
  OFFLINE_EVENT_UNAUTHENTIC_CONFIG,
  OFFLINE_FORMAT,
  OFFLINE_MAX_STEPS,
  OFFLINE_RECORD_PURSES,
  OfflineConfig,
  OfflineReading,
  PUT_CONFIG_LENGTH,
  REMOTE_ALREADY_APPLIED,
  REMOTE_APPLIED,
  REMOTE_LOAD_ANSWER_LENGTH,
  REMOTE_LOAD_LENGTH,
  SIGN_READINGS_LENGTH,
  clearReadingsMacInput,
  configWriteMacInput,
  offlineConfigMacInput,
  offlineReadingMacInput,
  remoteLoadMacInput,
  remoteReceiptInput,
  signClearReadings,
  signOfflineConfig,
  signRemoteLoad,
  verifyOfflineReading,
  verifyRemoteReceipt,
} from './applets/purse/offline.js';
export type { OfflineConfigFields, OfflineReadingFields, RemoteLoadFields } from './applets/purse/offline.js';
export { deriveOfflineKey, deriveRemoteKey } from './applets/IssuerKeys.js';
export {
  HOST_CARD_COMMANDS,
  INS_CLEAR_READINGS,
  INS_CONFIG_CHECK,
  INS_PUT_CONFIG,
  INS_REMOTE_LOAD,
  INS_SIGN_READINGS,
  SFI_OFFLINE_CONFIG,
  SFI_OFFLINE_READINGS,
  SW_REMOTE_LOAD_GAP,
  SW_MAX_BALANCE_EXCEEDED,
  SW_REPLAY,
  SW_COUNTER_EXHAUSTED,
} from './applets/constants.js';
export { LOG_TYPE_LOAD, LOG_TYPE_REMOTE_LOAD } from './applets/purse/records.js';
