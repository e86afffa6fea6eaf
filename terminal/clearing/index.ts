/** terminal/clearing: the SVM's pending slots and the host's settlement of one (issue 13). */
export { decodePending, decodeSettleAnswer, hostSettle, pendingRef, readPending } from './SvmClearing.js';
export { decodeSignedPending, readPendingSigned, readPendingSignedApdu } from './SvmClearing.js';
export type { SignedPendingEntry } from './SvmClearing.js';
export type {
  HostSettleAnswer,
  HostSettleRequest,
  PendingEntry,
  SettleAnswer,
  SettleStatusName,
} from './SvmClearing.js';
// Issue 13: the SVM's log, MAC'd record by record for the host (READ LOG).
export { decodeSvmLog, readLogApdu, readSvmLog } from './SvmLog.js';
export type { SvmLogEntry, SvmLogPage } from './SvmLog.js';
