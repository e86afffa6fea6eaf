// The commissioning card of seed 002 (issue 6).
export {
  AID_COMMISSIONING,
  CommissioningApplet,
  COMMISSIONING_INS,
  COMMISSIONING_LAYOUT,
  INS_COMMISSION,
} from './CommissioningApplet.js';
export type { CommissioningPersonalisation } from './CommissioningApplet.js';
export { ATR_COMMISSIONING, makeCommissioningCard } from './makeCommissioningCard.js';
export type { CommissioningCard, CommissioningCardOptions } from './makeCommissioningCard.js';
