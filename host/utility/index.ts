/** A utility's own server (issue 17): sells over the electricity host's relay, configures offline meters' cards, collects their readings. */
export { UtilityServer, MAX_LOAD_SENDS } from './UtilityServer.js';
export type {
  BalanceCheck,
  IngestedReading,
  Outstanding,
  UtilityServerOptions,
  VendedResult,
} from './UtilityServer.js';
export { UtilityDb, UTILITY_MIGRATIONS } from './db/UtilityDb.js';
export type { OutboxEntry, SaleRecord, StoredOfflineReading } from './db/UtilityDb.js';
export { HttpRelayPort, InProcessRelayPort, RelayPortError } from './RelayPort.js';
export type { RelayCommandStatus, RelayPort, RelayedReading } from './RelayPort.js';
export {
  anomaliesOf,
  CUMULATIVE_SATURATED,
  JUMP_MIN_HISTORY,
  JUMP_MIN_INTERVAL_S,
  JUMP_Z,
  type ReadingPoint,
} from './anomalies.js';
export { collectReadings } from './collectReadings.js';
export type { CollectedReading } from './collectReadings.js';
export { vend } from './vend.js';
export type { VendReport, VendedLoad } from './vend.js';
