/** Seed 004's management centre (issue 13): certification, clearing, lists, refunds, billing. */
export {
  ManagementCentre,
  LIST_VALIDITY_MS,
  SETTING_NUMBER_DIGITS,
  CHAIN_BLOCK_LENGTH,
  FUTURE_TOLERANCE_MS,
} from './ManagementCentre.js';
export type {
  CentreFinding,
  ManagementCentreOptions,
  UploadReport,
  UploadSubmission,
  Validity,
} from './ManagementCentre.js';
export { CentreError, CENTRE_ERROR_REASONS } from './CentreError.js';
export type { CentreErrorReason } from './CentreError.js';
export { SettlementDb, SETTLEMENT_MIGRATIONS } from './db/SettlementDb.js';
export type {
  CardRow,
  CardState,
  CertificateRow,
  EventRow,
  TerminalRow,
  UsageRow,
} from './db/SettlementDb.js';
