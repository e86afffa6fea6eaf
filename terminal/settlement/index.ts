/** Seed 004's settlement terminal and the dispenser steps on the settlement card (issue 13). */
export * as settleApdus from './apdus.js';
export {
  SettlementTerminal,
  certifySettlementCard,
  installPasswordSetting,
  readSettlementCardState,
  rechargeSettlementCard,
  rechargedValue,
} from './SettlementTerminal.js';
export type {
  RefusalEntry,
  ServeOptions,
  ServeOutcome,
  SettlementCardState,
  SettlementTerminalOptions,
  UploadBatch,
} from './SettlementTerminal.js';
export { SettlementError } from './SettlementError.js';
export type { SettlementRefusal } from './SettlementError.js';
