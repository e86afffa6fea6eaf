/**
 * The host service as one object: the facade the HTTP API (api.ts) and the command line use over
 * the services that each do one job —
 *
 * ```
 *   KeyService      KH versions: load, rotate, retire
 *   MeterRegistry   subscribers, meters, cards, blacklist
 *   MeterSessions   a meter's key reference and terminal over the field; session failures → 502/504
 *   CreditSales     recharge through the payment gateway, exactly-once delivery, auto top-up, recovery
 *   TariffService   tariff mode change
 *   UsageService    usage and timer check, theft report per LS
 * ```
 * with all SQL in HostDb and host/service/db/*. It holds no state of its own: everything comes from
 * the container a composition root filled with `registerHost` (host/register.ts):
 *
 * ```ts
 * const host = new HostService(registerHost(container.createChildContainer(), { db, gateway, field, ... }));
 * ```
 */
import 'reflect-metadata';
import { container as rootContainer } from 'tsyringe';
import type { DependencyContainer } from 'tsyringe';
import type { HostProtocol } from '../protocol/HostProtocol.js';
import type { LsReport } from '../theft/TheftDetector.js';
import type { DeliveryOutcome, ValueStoreDispatcher } from '../ValueStoreDispatcher.js';
import { registerHost } from '../register.js';
import type { HostServiceRegistration } from '../register.js';
import {
  diApiKeyService,
  diAuditRepository,
  diRelay,
  diCreditSales,
  diField,
  diHostDb,
  diHostProtocol,
  diKeyService,
  diMeterRegistry,
  diTariffService,
  diUsageService,
  diValueStoreDispatcher,
} from '../tokens.js';
import type { FieldPort } from '../tokens.js';
import type { ApiKeyService } from './ApiKeyService.js';
import type { CreditSales, RechargeResult } from './CreditSales.js';
import type { AuditRepository } from './db/AuditRepository.js';
import { HostDbError } from './HostDb.js';
import type { HostDb } from './HostDb.js';
import type { KeyService } from './KeyService.js';
import type { MeterRegistry } from './MeterRegistry.js';
import type { MeterRecord } from './db/MeterRepository.js';
import type { PaymentMethod } from './PaymentGateway.js';
import type { RtcTime } from '../../protocol/index.js';
import type { TariffService } from './TariffService.js';
import type { UsageService } from './UsageService.js';
import { ClearingRepository } from './db/ClearingRepository.js';
import type { ClearingPort } from './ClearingPort.js';
import type { RelayApi } from './RelayApi.js';
import { reconcileCard, reconcileMeter } from './reconcile.js';
import type { CardReconciliation, MeterReconciliation } from './reconcile.js';
import { ServiceError } from './ServiceError.js';

export { ServiceError } from './ServiceError.js';
export type { FieldPort } from '../tokens.js';

/** The options of `new HostService(options)`: the backends (see {@link HostServiceRegistration}). */
export type HostServiceOptions = HostServiceRegistration;

export class HostService {
  /** The container this host was resolved from (one per host). */
  readonly container: DependencyContainer;
  readonly db: HostDb;
  readonly protocol: HostProtocol;
  readonly dispatcher: ValueStoreDispatcher;
  readonly field: FieldPort;
  readonly keyService: KeyService;
  readonly registry: MeterRegistry;
  readonly sales: CreditSales;
  readonly tariffs: TariffService;
  readonly usage: UsageService;
  /** The HTTP API's keys and its audit trail (host/service/access.ts). */
  readonly apiKeys: ApiKeyService;
  readonly audit: AuditRepository;
  /** The relay for other utilities' card commands (issue 17; host/relay/ behind RelayApi). */
  readonly relay: RelayApi;
  /**
   * Clearing (host/clearing/), when the composition root gave it the scheme's keys and a link
   * (`attachClearing`); the blacklist and its version are in the database either way.
   */
  #clearing: ClearingPort | undefined;
  /** The clearing tables, for what needs no keys (blacklist, reconciliation). */
  readonly #clearingRecords: ClearingRepository;

  /**
   * @param from a container filled by `registerHost` (a composition root), or the backends — then
   *   this host gets its own child of the global container (the short form tests and the demo use).
   */
  constructor(from: DependencyContainer | HostServiceOptions) {
    this.container = 'resolve' in from ? from : registerHost(rootContainer.createChildContainer(), from);
    const r = this.container;
    this.db = r.resolve<HostDb>(diHostDb);
    this.keyService = r.resolve<KeyService>(diKeyService);
    this.field = r.resolve<FieldPort>(diField);
    this.registry = r.resolve<MeterRegistry>(diMeterRegistry);
    this.protocol = r.resolve<HostProtocol>(diHostProtocol);
    this.dispatcher = r.resolve<ValueStoreDispatcher>(diValueStoreDispatcher);
    this.sales = r.resolve<CreditSales>(diCreditSales);
    this.tariffs = r.resolve<TariffService>(diTariffService);
    this.usage = r.resolve<UsageService>(diUsageService);
    this.apiKeys = r.resolve<ApiKeyService>(diApiKeyService);
    this.audit = r.resolve<AuditRepository>(diAuditRepository);
    this.relay = r.resolve<RelayApi>(diRelay);
    this.#clearingRecords = new ClearingRepository(this.db);
  }

  // Shortcuts to the services (the API and the tests speak to "the host").
  recover(): Promise<DeliveryOutcome[]> {
    return this.sales.recover();
  }
  addSubscriber(s: Parameters<MeterRegistry['addSubscriber']>[0]): number {
    return this.registry.addSubscriber(s);
  }
  addMeter(m: Parameters<MeterRegistry['addMeter']>[0]): void {
    this.registry.addMeter(m);
  }
  addCard(c: { serial: string; subscriberId: number }): void {
    this.registry.addCard(c);
  }
  blacklistCard(serial: string): void {
    this.registry.blacklistCard(serial);
  }
  meter(id: string): MeterRecord {
    return this.registry.meter(id);
  }
  recharge(r: {
    requestId: string;
    meterId: string;
    amount: number;
    method: PaymentMethod;
    account: string;
  }): Promise<RechargeResult> {
    return this.sales.recharge(r);
  }
  poll(
    meterId: string,
    now?: RtcTime,
  ): Promise<{ balance: number; energyWh: number; flags: number; driftSeconds: number }> {
    return this.usage.poll(meterId, now);
  }
  changeTariff(
    meterId: string,
    activation: string,
    unitCharge: number,
    profile: 'flat' | 'example',
  ): Promise<{ id: number; state: string; balance: number }> {
    return this.tariffs.changeTariff(meterId, activation, unitCharge, profile);
  }
  theftReport(as: number, ls: number, feederWh: number): Promise<LsReport> {
    return this.usage.theftReport(as, ls, feederWh);
  }
  keys(): ReturnType<KeyService['keys']> {
    return this.keyService.keys();
  }
  rotateKey(): number {
    return this.keyService.rotateKey();
  }
  retireKey(version: number): void {
    this.keyService.retireKey(version);
  }

  /** Attaches the clearing service (it needs the scheme's keys, which the host does not hold itself). */
  attachClearing(c: ClearingPort): void {
    this.#clearing = c;
  }

  /** @throws ServiceError 503 clearing-not-configured when no clearing service is attached. */
  get clearing(): ClearingPort {
    if (!this.#clearing)
      throw new ServiceError(503, 'clearing-not-configured', 'this host has no clearing service attached');
    return this.#clearing;
  }

  /** The blacklist with its version (bumped by the database on every change of a card's flag). */
  blacklist(): { version: number; serials: string[] } {
    return this.#clearingRecords.blacklist();
  }

  /** A card's clearing reconciliation (host/service/reconcile.ts): needs no keys. */
  reconcileCard(csn: string): CardReconciliation {
    return reconcileCard(this.#clearingRecords, csn);
  }

  /** A meter's clearing reconciliation (host/service/reconcile.ts): needs no keys. */
  reconcileMeter(meterId: string): MeterReconciliation {
    return reconcileMeter(this.#clearingRecords, meterId);
  }

  close(): void {
    this.db.close();
  }
}

export { HostDbError };
