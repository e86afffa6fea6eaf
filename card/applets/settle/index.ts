/** Public API of the settlement card of seed 004 (STYLE.md rule 10). */
export * from './constants.js';
export { SettlementApplet, SettleState, SETTLE_LAYOUT } from './SettlementApplet.js';
export type { SettlementPersonalisation } from './SettlementApplet.js';
export {
  ATR_SETTLE,
  demoSettlementAnchor,
  PROFILE_SETTLEMENT,
  makeSettlementCard,
  rebuildSettlementCard,
  settlementCardOf,
} from './makeSettlementCard.js';
export type { SettlementCard, SettlementCardConfig, SettlementCardOptions } from './makeSettlementCard.js';
export { generateCardKeyPair } from './cardKeyPair.js';
/** The password block of VERIFY (4..8 ASCII digits padded with FF), as PinRecord keeps it. */
export { pinBlock as settlePasswordBlock } from '../platform/PinRecord.js';
