/**
 * terminal/: the other side of the card protocols (DESIGN.md) — the APDU builders and the flows a
 * vending point, a bureau and a meter's modules run against cards, SAMs and SVMs, through
 * `CardChannel`s. Public API (STYLE.md rule 10).
 */
export * as apdus from './apdus.js';
export { runCardSession, awaitedCardMessage, authenticate } from './CardTransfer.js';
export type { TransferRequest, TransferOutcome, RecoveryResult } from './CardTransfer.js';
export { MeterModules, decodeSvmState, expectOk } from './MeterModules.js';
export type { SvmState, MeterCore } from './MeterModules.js';
export { loadCard } from './loadCard.js';
export type { LoadRequest } from './loadCard.js';
export { CountingChannel, ExchangeCounter } from './CountingChannel.js';
export { TransferError } from './TransferError.js';
