import 'reflect-metadata';
import type { BlockCipherProvider, Rng } from '../card/index.js';
import type { HostKeyRing } from '../card/index.js';
import type { CreditStore } from './CreditStore.js';
import type { MeterDirectory } from './ValueStoreDispatcher.js';
import type { Terminal } from '../protocol/index.js';

/**
 * Injection tokens of the host (STYLE.md rule 9). This file holds tokens and the shapes of their
 * values only; `register` / `registerHost` (host/register.ts) bind them, and the classes that
 * take them say so with `@inject(token)` on each constructor parameter (the test runner emits no
 * decorator metadata, so nothing is resolved by type).
 */

// ---------------------------------------------------------------- the protocol core
export const diHostCipher = Symbol('host.BlockCipherProvider');
export const diHostRng = Symbol('host.Rng');
/** `() => HostKeyRing`: the current key ring (a function so that rotation takes effect). */
export const diHostKeys = Symbol('host.KeyRingSource');
export const diCreditStore = Symbol('host.CreditStore');
export const diMeterDirectory = Symbol('host.MeterDirectory');
export const diHostProtocol = Symbol('host.HostProtocol');
export const diValueStoreDispatcher = Symbol('host.ValueStoreDispatcher');

// ---------------------------------------------------------------- the backends a host process chooses
/** The database (host/service/HostDb.ts). */
export const diHostDb = Symbol('host.HostDb');
/** The payment gateway (host/service/PaymentGateway.ts). */
export const diPaymentGateway = Symbol('host.PaymentGateway');
/** The field of meters: a {@link FieldPort}. */
export const diField = Symbol('host.Field');
/** The wall clock: a {@link HostClock}. */
export const diHostClock = Symbol('host.Clock');
/** Options of the service layer: {@link HostServiceSettings}. */
export const diHostSettings = Symbol('host.Settings');

// ---------------------------------------------------------------- the database layer
export const diSubscriberRepository = Symbol('host.SubscriberRepository');
export const diMeterRepository = Symbol('host.MeterRepository');
export const diCardRepository = Symbol('host.CardRepository');
export const diKeyRepository = Symbol('host.KeyRepository');
export const diPaymentRepository = Symbol('host.PaymentRepository');
export const diTariffRepository = Symbol('host.TariffRepository');
export const diUsageRepository = Symbol('host.UsageRepository');
export const diApiKeyRepository = Symbol('host.ApiKeyRepository');
export const diAuditRepository = Symbol('host.AuditRepository');

// ---------------------------------------------------------------- the services (one job each)
export const diKeyService = Symbol('host.KeyService');
export const diMeterRegistry = Symbol('host.MeterRegistry');
export const diMeterSessions = Symbol('host.MeterSessions');
export const diCreditSales = Symbol('host.CreditSales');
export const diTariffService = Symbol('host.TariffService');
export const diUsageService = Symbol('host.UsageService');
/** The relay for other utilities (issue 17): host/service/RelayApi.ts, implemented in host/relay/. */
export const diRelay = Symbol('host.Relay');
export const diApiKeyService = Symbol('host.ApiKeyService');

/** Milliseconds since 1970 (`Date.now` in production; a fixed or stepped clock in tests). */
export type HostClock = () => number;

/** How the host reaches meters. */
export interface FieldPort {
  terminal(meterId: string): Terminal;
  install?(id: string, as: number, ls: number, modem: number, keyVersion: number, balance?: number): unknown;
  /** The SVM maximum balance of the meters this field installs (an opening balance may not exceed it). */
  readonly maxBalance?: number;
}

export interface HostServiceSettings {
  /** Real wait inside every value-store session (tests use it to kill the process mid-session). */
  readonly sessionDelayMs: number;
  /**
   * KH versions to start a new database with (the key ceremony); the highest becomes current.
   * Default: KH[0] and KH[1] drawn from the host's random source. Ignored when the database
   * already holds keys.
   */
  readonly initialKeys?: ReadonlyArray<readonly [number, Uint8Array]>;
}

/** What `register` needs: the protocol core of one host. */
export interface HostRegistration {
  cipher: BlockCipherProvider;
  rng: Rng;
  /** The current key ring (a function so rotation takes effect). */
  keys: () => HostKeyRing;
  store: CreditStore;
  meters: MeterDirectory;
}
