/** The host's clearing (issue 13): public API of host/clearing/ (STYLE.md rule 10). */
export { ClearingService, ClearingError, svmRecordKey } from './ClearingService.js';
export type {
  CardFinding,
  CardReconciliation,
  ClearingOptions,
  ClearingRefusal,
  ClearingStep,
  IngestResult,
  MeterFinding,
  MeterReconciliation,
  SettleOutcome,
} from './ClearingService.js';
export { CreditBackService } from './CreditBackService.js';
export type { CreditBackVisit, VendingPoint } from './CreditBackService.js';
export { ClearingRepository } from '../service/db/ClearingRepository.js';
export { reconcileCard, reconcileMeter } from '../service/reconcile.js';
export { hostProtocolLink } from './hostProtocolLink.js';
export type { CreditBackRow, CreditBackState, PendingRow } from '../service/db/ClearingRepository.js';
export type { ClearingLink, SettleAnswer, SettleRequest, UploadCursor, UploadPage } from './ClearingLink.js';
export { ClearingKeys, cardRecordMacInput, svmRecordMacInput } from './records.js';
export type {
  BlacklistAttemptReport,
  CardRecordUpload,
  MeterUpload,
  PendingReport,
  SvmRecordUpload,
} from './records.js';
export { ClearingSchedule } from './ClearingSchedule.js';
export type { ClearingRound, ClearingScheduleOptions } from './ClearingSchedule.js';
