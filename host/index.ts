/** Public API of the host (STYLE.md rule 10); see docs/host.md and docs/host-protocol.md. */
export * from '../protocol/index.js';
export { encodeMessage, decodeMessage } from '../protocol/index.js';
export type {
  Message,
  InitRequest,
  InitResponse,
  CommandRequest,
  CommandResponse,
  Refusal,
} from '../protocol/index.js';
export {
  sig,
  encrypt,
  decrypt,
  sessionKey,
  hostOpen,
  hostAuthenticate,
  hostCommand,
  hostOpenAnswer,
  terminalOpen,
  terminalVerify,
} from '../protocol/index.js';
export type { HostOpened, TerminalOpened } from '../protocol/index.js';
export type { Terminal, MessageEndpoint } from '../protocol/index.js';
export type { MeterKeyRef, SessionTrace } from './protocol/HostProtocol.js';
export type { CreditStore, CreditTx, CreditState, HostEvent } from './CreditStore.js';
export { ValueStoreDispatcher, meterKey } from './ValueStoreDispatcher.js';
export type { DeliveryOutcome, MeterDirectory, MeterLine } from './ValueStoreDispatcher.js';
export { SimulatedMeterTerminal, RECENT_TX } from './sim/SimulatedMeterTerminal.js';
export { encodeFrame, decodeFrame, FrameError, FRAME_HEADER, FRAME_MAX_PAYLOAD } from '../protocol/index.js';
export type { Frame, FrameAddress, FrameErrorCode } from '../protocol/index.js';
export type { ChannelOptions, ChannelStats } from './network/PowerLineChannel.js';
export { LocalService, AreaService, MODEMS_PER_LS, LS_PER_AS } from './network/LocalService.js';
export type { PollRecord, LinkStats } from './network/LocalService.js';
export { LinkTimeoutError, UnknownMeterError } from './network/errors.js';
export { HostDb, HostDbError, MIGRATIONS } from './service/HostDb.js';
export * from './service/db/index.js';
export { SimulatedPaymentGateway, luhn } from './service/PaymentGateway.js';
export type { PaymentGateway, PaymentMethod, PaymentResult } from './service/PaymentGateway.js';
export { detect, robustZ } from './theft/TheftDetector.js';
export type { LsReport, MeterFinding, MeterObservation, DetectorOptions } from './theft/TheftDetector.js';
export { register, registerHost } from './register.js';
export * from './tokens.js';
export { ProtocolError, crc16, terminalOverMessages } from '../protocol/index.js';
export type { ProtocolErrorCode } from '../protocol/index.js';
export { MemoryCreditStore } from './CreditStore.js';
export { PowerLineChannel } from './network/PowerLineChannel.js';
export { PowerLineField } from './network/PowerLineField.js';
export { HostProtocol } from './protocol/HostProtocol.js';
export type { HostServiceRegistration } from './register.js';
export { CreditSales } from './service/CreditSales.js';
export type { RechargeResult } from './service/CreditSales.js';
export { HostService } from './service/HostService.js';
export type { HostServiceOptions } from './service/HostService.js';
export { KeyService } from './service/KeyService.js';
export { MeterRegistry } from './service/MeterRegistry.js';
export { MeterSessions } from './service/MeterSessions.js';
export { ServiceError } from './service/ServiceError.js';
export { TariffService } from './service/TariffService.js';
export { UsageService } from './service/UsageService.js';
export { buildApi } from './service/api.js';
export type { ApiOptions } from './service/api.js';
export { BODY_LIMIT, OPENAPI_PATH } from './service/api.js';
export { LOG_LEVELS, redactUrl } from './service/requestLog.js';
export type { LogLevel } from './service/requestLog.js';
export { FEEDER_WH_MAX, PAGE_MAX, U32_MAX } from './service/schemas.js';
export { ROLES, ROUTE_ACCESS, accessOf, keyAccess } from './service/access.js';
export type { AccessLayer, Role, RouteAccess } from './service/access.js';
export { ApiKeyService, hashApiKey } from './service/ApiKeyService.js';
export type { ApiPrincipal } from './service/ApiKeyService.js';
export { SimulatedField } from './sim/SimulatedField.js';
export * from './clearing/index.js';
export * from './settlement/index.js';
export * from './relay/index.js';
export * from './utility/index.js';
