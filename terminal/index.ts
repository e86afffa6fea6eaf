/**
 * terminal/: the other side of the card protocols (DESIGN.md) — the APDU builders and the flows a
 * vending point, a bureau and a meter's modules run against cards, SAMs and SVMs, through
 * `CardChannel`s. Public API (STYLE.md rule 10).
 */
export * as apdus from './apdus.js';
export { runCardSession, awaitedCardMessage, authenticate, ClearingNeededError } from './CardTransfer.js';
export type {
  TransferRequest,
  TransferOutcome,
  RecoveryResult,
  TransferBlocked,
  ReadingsOutcome,
} from './CardTransfer.js';
// Issue 13: the SVM's pending slots and the host's settlement of one.
export { decodePending, decodeSettleAnswer, hostSettle, pendingRef, readPending } from './clearing/index.js';
export { decodeSvmLog, readLogApdu, readSvmLog } from './clearing/index.js';
// Red team of issue 13: pending entries signed by the SVM for the host's challenge.
export { decodeSignedPending, readPendingSigned, readPendingSignedApdu } from './clearing/index.js';
export type { SignedPendingEntry } from './clearing/index.js';
export type { SvmLogEntry, SvmLogPage } from './clearing/index.js';
export type {
  HostSettleAnswer,
  HostSettleRequest,
  PendingEntry,
  SettleAnswer,
  SettleStatusName,
} from './clearing/index.js';
export { MeterModules, decodeSvmState, expectOk } from './MeterModules.js';
export type { SvmState, MeterCore } from './MeterModules.js';
export { loadCard } from './loadCard.js';
export type { LoadRequest } from './loadCard.js';
export { readCardLog, CARD_LOG_RECORDS } from './clearing/readCardLog.js';
export type { CardLogReadout } from './clearing/readCardLog.js';
export { CountingChannel, ExchangeCounter } from './CountingChannel.js';
export { TransferError } from './TransferError.js';
// Issue 12: the bureau — key ceremony files, the master-key card, personalisation over APDUs.
export { BureauError } from './bureau/BureauError.js';
export type { BureauErrorCode } from './bureau/BureauError.js';
export { MasterKeyCard, decodeMkcStatus, mkcPinBlock } from './bureau/MasterKeyCard.js';
export type { MkcSlotStatus, MkcStatus } from './bureau/MasterKeyCard.js';
export {
  STORE_DATA_BLOCK,
  isPersonalisedAs,
  keyIdsOf,
  personalise,
  readChip,
  setStatus,
  storeDataOf,
  subjectOf,
} from './bureau/personalise.js';
export type {
  CardOfRecord,
  ChipInfo,
  ChipKind,
  CommissioningOrder,
  LifeCycleAction,
  PersoOrder,
  PersoResult,
  PurseInit,
  SamOrder,
  SubscriberOrder,
  SvmOrder,
} from './bureau/personalise.js';
export {
  COMPONENT_FILE_FORMAT,
  KeyComponentError,
  MANIFEST_FORMAT,
  ceremonySlots,
  checkAgainstManifest,
  combineComponents,
  combinedKcv,
  componentFileFromTyped,
  encodeComponentFile,
  encodeManifest,
  generateComponents,
  parseComponentFile,
  parseManifest,
  slotLabel,
  wipeComponents,
} from './bureau/keyComponents.js';
export type {
  ComponentFile,
  KeyComponent,
  KeyComponentProblem,
  Manifest,
  ManifestSlot,
  SlotVersion,
  TypedComponent,
} from './bureau/keyComponents.js';
// Issue 12: the subscribers CSV of a batch issuance (cli/commands/issue.ts).
export {
  CSV_MAX_BYTES,
  CSV_MAX_FIELDS,
  CSV_MAX_FIELD_BYTES,
  CSV_MAX_ROWS,
  PURSE_ID_MAX,
  PURSE_MAX_BALANCE,
  parseBatchCsv,
  shown,
} from './bureau/batchCsv.js';
export type { BadRow, BatchRow, ParseOptions, ParsedBatch, PurseOrder } from './bureau/batchCsv.js';
// Issue 14: conformance runs (card under test, terminal under test, replay as terminal).
export * as conformance from './conformance/index.js';
// Issue 13 (seed 004): the settlement terminal and the dispenser steps on the settlement card.
export * from './settlement/index.js';
