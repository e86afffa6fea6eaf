// The commissioning card of seed 002 (issue 6).
export {
  AID_COMMISSIONING,
  CommissioningApplet,
  COMMISSION_WANT_COMMISSION,
  COMMISSION_WANT_DECOMMISSION,
  COMMISSIONING_INS,
  COMMISSIONING_LAYOUT,
  COMMISSIONING_MAX_PAYLOAD,
  INS_COMMISSION,
  PAYLOAD_DECOMMISSION,
} from './CommissioningApplet.js';
export { commissionMacInput } from './commissionMac.js';
export type { CommissioningPersonalisation } from './CommissioningApplet.js';
export { ATR_COMMISSIONING, buildCommissioningCard, makeCommissioningCard } from './makeCommissioningCard.js';
export type { CommissioningCard, CommissioningCardOptions } from './makeCommissioningCard.js';
