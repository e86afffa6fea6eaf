// Card slot and SVM/SAM wiring of the meter core (issue 6).
export { MeterCardSlot, SLOT_REFUSALS } from './MeterCardSlot.js';
export type { MeterCardSlotOptions, SlotOutcome, SlotRefusal } from './MeterCardSlot.js';
export { ModuleLink } from './ModuleLink.js';
export type { ChannelRole, ChannelWrapper } from './ModuleLink.js';
export { ModuleCreditRegister } from './ModuleCreditRegister.js';
export { cardMeterData, purseOf, NO_REFERENCE } from './cardMeterData.js';
export type { TransferReference } from './cardMeterData.js';
export { CardMeter, createCardMeter, createMeterOnModules } from './createCardMeter.js';
export type { CardMeterOptions, MeterOnModulesOptions, SimulatedCardMeter } from './createCardMeter.js';
// Issue 17: offline meters — configuration at insertion, signed readings onto the card (SFI 03 / 04).
export { checkCardConfig, describeVerdict, OfflineMeterState, readCardConfig } from './offlineConfig.js';
export type { ConfigCheckContext, ConfigVerdict } from './offlineConfig.js';
export { offlineReading, samKtVersion } from './offlineReadings.js';
export type { ReadingContext } from './offlineReadings.js';
// Issue 17: utilities' card commands carried over the power line (H = 57).
export {
  CardCommandQueue,
  CARD_FINISHED_MEMORY,
  CARD_OUTBOX_ANSWERS,
  CARD_OUTBOX_READINGS,
  CARD_SEEN_READINGS,
  isFinalCardAnswer,
} from './CardCommandQueue.js';
export type { CardCommandQueueState, DeliveryReport } from './CardCommandQueue.js';
