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
