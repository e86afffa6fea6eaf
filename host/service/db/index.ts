/** The host's repositories: with HostDb, the only place that holds SQL. */
export { SubscriberRepository } from './SubscriberRepository.js';
export type { SubscriberRecord, TopUpRule } from './SubscriberRepository.js';
export { MeterRepository } from './MeterRepository.js';
export type { MeterRecord } from './MeterRepository.js';
export { CardRepository } from './CardRepository.js';
export type { CardRecord } from './CardRepository.js';
export { KeyRepository } from './KeyRepository.js';
export type { StoredKey } from './KeyRepository.js';
export { PaymentRepository } from './PaymentRepository.js';
export { TariffRepository } from './TariffRepository.js';
export { UsageRepository } from './UsageRepository.js';
export type { UsageRecord } from './UsageRepository.js';
export type { Page } from './paging.js';
export { ApiKeyRepository } from './ApiKeyRepository.js';
export type { ApiKeyRecord } from './ApiKeyRepository.js';
export { AuditRepository } from './AuditRepository.js';
export type { AuditEntry, NewAuditEntry } from './AuditRepository.js';
