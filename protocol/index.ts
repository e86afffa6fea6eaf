/**
 * The wire formats the host and the meter share (DESIGN.md: host/ and meter/ both import this,
 * host/ never imports meter/): seed 000's power-line messages, frames and payloads, the session
 * crypto both ends run, RTC time, tariff tables and consumption-log records.
 */
export * from './constants.js';
export * from './errors.js';
export * from './messages.js';
export * from './payloads.js';
export * from './clearing.js';
export * from './cardCommands.js';
export * from './TxId.js';
export * from './session.js';
export * from './Frame.js';
export { crc16 } from './crc16.js';
export * from './RtcTime.js';
export { CURRENCY_EUR, currencyCode, formatMoney } from './Money.js';
export * from './TariffTable.js';
export * from './ConsumptionLog.js';
export type { Terminal, MessageEndpoint } from './Terminal.js';
export { terminalOverMessages } from './messageTerminal.js';
export { FramedModem } from './FramedModem.js';
export { StateReader, type StateObject, type StateValue } from './state.js';
