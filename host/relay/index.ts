/** The relay for other utilities (issue 17): card commands over the power line (H = 57), offline readings back. */
export { RelayService, RELAY_INS, RELAY_MAX_OPEN_PER_CARD, RELAY_PAGES_PER_ROUND } from './RelayService.js';
export type { CardCommandView, RelayMeterResult } from './RelayService.js';
export { RelaySchedule } from './RelaySchedule.js';
export type { RelayScheduleOptions } from './RelaySchedule.js';
export type { RelayLink, RelayMessage, RelayReply } from './RelayLink.js';
export { hostProtocolRelayLink } from './hostProtocolRelayLink.js';
