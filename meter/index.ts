// Public API of the meter core (STYLE.md rule 10).
export type { CreditRegister, CreditRegisterState } from './CreditRegister.js';
export {
  ClockBackwardsError,
  COMMISSIONING_REFUSALS,
  CommissioningError,
  CreditRefusedError,
  MeterStateError,
  TariffTableError,
} from './errors.js';
export type { CommissioningRefusal, TariffTableErrorCode } from './errors.js';
export { EventLog, EVENT_CODES } from './events/EventLog.js';
export type { EventKind, MeterEvent } from './events/EventLog.js';
export { ConsumptionLog, LOG_ENCODED_SIZE } from '../protocol/index.js';
export type { ConsumptionLogOptions, ConsumptionLogView } from '../protocol/index.js';
export type { DisplayModel, SupplyState } from './Display.js';
export { Meter, SNAPSHOT_VERSION } from './Meter.js';
export type { Commissioning, Commodity, MeterOptions, Sensors, TransferState } from './Meter.js';
export { MeterReadings, READING_FLAGS } from './MeterReadings.js';
export { TokenExchanger, COST_DENOMINATOR } from './TokenExchanger.js';
export type { RegisterState, TokenExchangerOptions } from './TokenExchanger.js';
export { RtcTime, dayNumberOf, weekdayOf, civilOf, DAY_SECONDS } from '../protocol/index.js';
export { TariffTable, DAY_TYPES, MINUTES_PER_DAY } from '../protocol/index.js';
export type { DayType, Holiday, TariffInterval, TariffSeason, TariffTableSpec } from '../protocol/index.js';
export { TariffChange, TariffSchedule } from './tariff/TariffSchedule.js';
export { Adc, VOLTAGE_RANGES, SHUNT_OHMS } from './metrology/Adc.js';
export type { PhaseRelation, PowerAnalyzerOptions, PowerReading } from './metrology/PowerAnalyzer.js';
export { HeatCalculator, HEAT_DELTA_THETA_MIN_MK, WATER_J_PER_L_K } from './metrology/HeatCalculator.js';
export { HotWaterCalculator, HOT_WATER_MIN_MILLI_C } from './metrology/HotWaterCalculator.js';
export type { SimulationOptions, SimulationResult } from './sim/simulate.js';
export { LoadGenerator, LOAD_PROFILES } from './sim/LoadProfile.js';
export type { Appliance, LoadProfileSpec } from './sim/LoadProfile.js';
export type { CreditRegisterFactory, SimulatedCredit } from './sim/SimulatedCredit.js';
export { register, diCreditRegister, diMeter, diMeterOptions } from './tokens.js';
export {
  CardMeter,
  MeterCardSlot,
  ModuleCreditRegister,
  ModuleLink,
  SLOT_REFUSALS,
  cardMeterData,
  checkCardConfig,
  createCardMeter,
  createMeterOnModules,
  describeVerdict,
  OfflineMeterState,
  offlineReading,
  purseOf,
  readCardConfig,
  samKtVersion,
} from './cardslot/index.js';
export type {
  CardMeterOptions,
  ChannelRole,
  ConfigCheckContext,
  ConfigVerdict,
  ReadingContext,
  ChannelWrapper,
  MeterCardSlotOptions,
  MeterOnModulesOptions,
  SimulatedCardMeter,
  SlotOutcome,
  SlotRefusal,
  TransferReference,
} from './cardslot/index.js';
export {
  CommissioningData,
  COMMISSIONING_MAX_BYTES,
  MAX_EMERGENCY_CREDIT,
  MAX_INITIAL_CREDIT,
} from './commissioning/CommissioningData.js';
export { decodeCommissioningPayload, DecommissioningData } from './commissioning/DecommissioningData.js';
export {
  authenticateCommissioningCard,
  readCommissioningCard,
} from './commissioning/readCommissioningCard.js';
export type { ModemEvent, ModemMeter } from './modem/index.js';
export { renderDisplay } from './Display.js';
export { FriendlyHours } from './FriendlyHours.js';
export type { FriendlyHoursSpec } from './FriendlyHours.js';
export type { MeterSnapshot } from './Meter.js';
export type { StepReading } from './MeterReadings.js';
export { SupplySwitch } from './SupplySwitch.js';
export type { OffReason } from './SupplySwitch.js';
export type { CommissioningRead } from './commissioning/readCommissioningCard.js';
export { EnergyRegister } from './metrology/EnergyRegister.js';
export { PowerAnalyzer } from './metrology/PowerAnalyzer.js';
export { PulseCounter } from './metrology/PulseCounter.js';
export { MeterModem } from './modem/index.js';
export { Prng } from './sim/Prng.js';
export { createSimulatedCredit } from './sim/SimulatedCredit.js';
export { createSvmCredit } from './sim/SvmCredit.js';
export type { SvmCredit } from './sim/SvmCredit.js';
export { simulate } from './sim/simulate.js';
export type { TariffPart } from './tariff/TariffSchedule.js';
export type { MeterRegistration } from './tokens.js';
