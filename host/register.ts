/**
 * How a host is composed (STYLE.md rule 9). `register` binds the protocol core (cipher, random
 * source, key ring, credit store, meter directory → one HostProtocol and one exactly-once
 * dispatcher per container); `registerHost` binds a whole host service over the backends a
 * process chooses — database, payment gateway, field of meters, clock, random source — and the
 * services with one job each. Use a child container per host (and per test): every binding here is
 * one instance per container, nothing is a global singleton.
 */
import 'reflect-metadata';
import { instanceCachingFactory, Lifecycle } from 'tsyringe';
import type { DependencyContainer } from 'tsyringe';
import type { BlockCipherProvider, Rng } from '../card/index.js';
import type { HostKeyRing } from '../card/index.js';
import { HostProtocol } from './protocol/HostProtocol.js';
import type { CreditStore } from './CreditStore.js';
import { ValueStoreDispatcher } from './ValueStoreDispatcher.js';
import type { MeterDirectory } from './ValueStoreDispatcher.js';
import type { HostDb } from './service/HostDb.js';
import type { PaymentGateway } from './service/PaymentGateway.js';
import { CardRepository } from './service/db/CardRepository.js';
import { KeyRepository } from './service/db/KeyRepository.js';
import { MeterRepository } from './service/db/MeterRepository.js';
import { PaymentRepository } from './service/db/PaymentRepository.js';
import { SubscriberRepository } from './service/db/SubscriberRepository.js';
import { TariffRepository } from './service/db/TariffRepository.js';
import { UsageRepository } from './service/db/UsageRepository.js';
import { ApiKeyRepository } from './service/db/ApiKeyRepository.js';
import { AuditRepository } from './service/db/AuditRepository.js';
import { ApiKeyService } from './service/ApiKeyService.js';
import { KeyService } from './service/KeyService.js';
import { MeterRegistry } from './service/MeterRegistry.js';
import { MeterSessions } from './service/MeterSessions.js';
import { CreditSales } from './service/CreditSales.js';
import { TariffService } from './service/TariffService.js';
import { UsageService } from './service/UsageService.js';
import { RelayService } from './relay/RelayService.js';
import {
  diApiKeyRepository,
  diApiKeyService,
  diAuditRepository,
  diCardRepository,
  diCreditSales,
  diCreditStore,
  diField,
  diHostCipher,
  diHostClock,
  diHostDb,
  diHostKeys,
  diHostProtocol,
  diHostRng,
  diHostSettings,
  diKeyRepository,
  diKeyService,
  diMeterDirectory,
  diMeterRegistry,
  diMeterRepository,
  diMeterSessions,
  diPaymentGateway,
  diPaymentRepository,
  diSubscriberRepository,
  diTariffRepository,
  diTariffService,
  diUsageRepository,
  diUsageService,
  diRelay,
  diValueStoreDispatcher,
} from './tokens.js';
import type { FieldPort, HostClock, HostRegistration, HostServiceSettings } from './tokens.js';

/** The protocol and the dispatcher, one each per container, from whatever the container holds. */
function registerCore(container: DependencyContainer): void {
  container.register(diHostProtocol, {
    useFactory: instanceCachingFactory(
      (c) =>
        new HostProtocol(
          c.resolve<BlockCipherProvider>(diHostCipher),
          c.resolve<Rng>(diHostRng),
          c.resolve<() => HostKeyRing>(diHostKeys),
        ),
    ),
  });
  container.register(diValueStoreDispatcher, {
    useFactory: instanceCachingFactory(
      (c) =>
        new ValueStoreDispatcher(
          c.resolve<HostProtocol>(diHostProtocol),
          c.resolve<CreditStore>(diCreditStore),
          c.resolve<MeterDirectory>(diMeterDirectory),
        ),
    ),
  });
}

/**
 * Registers the protocol core of one host in `container` (a child container per host in tests).
 * Resolving `diHostProtocol` / `diValueStoreDispatcher` gives the same instance within that container.
 * @returns the container, for chaining.
 */
export function register(container: DependencyContainer, o: HostRegistration): DependencyContainer {
  container.register(diHostCipher, { useValue: o.cipher });
  container.register(diHostRng, { useValue: o.rng });
  container.register(diHostKeys, { useValue: o.keys });
  container.register(diCreditStore, { useValue: o.store });
  container.register(diMeterDirectory, { useValue: o.meters });
  registerCore(container);
  return container;
}

/** The backends one host process chooses (its composition root passes them). */
export interface HostServiceRegistration {
  db: HostDb;
  cipher: BlockCipherProvider;
  rng: Rng;
  gateway: PaymentGateway;
  /**
   * How the host reaches meters, built once the key ring is known (a simulated field derives its
   * meters' terminal keys from it). Resolved under `diField`.
   */
  field: (keys: () => HostKeyRing) => FieldPort;
  /** Wall clock in ms since 1970; default `Date.now`. */
  clock?: HostClock;
  /** Real wait inside every value-store session (tests use it to kill the process mid-session). */
  sessionDelayMs?: number;
  /** The KH versions a new database starts with (see {@link HostServiceSettings}). */
  initialKeys?: ReadonlyArray<readonly [number, Uint8Array]>;
}

/** One instance per container that resolves it (a child container gets its own). */
const scope = { lifecycle: Lifecycle.ContainerScoped } as const;

/**
 * Registers a whole host service in `container`: the backends from `o`, the repositories, the
 * services (keys, registry, meter sessions, credit sales, tariffs, usage) and the protocol core over
 * them (the database is the credit store; the meter sessions are the meter directory). Resolve
 * `diHostService` for the facade the HTTP API uses.
 * @returns the container, for chaining.
 */
export function registerHost(
  container: DependencyContainer,
  o: HostServiceRegistration,
): DependencyContainer {
  const settings: HostServiceSettings = {
    sessionDelayMs: o.sessionDelayMs ?? 0,
    ...(o.initialKeys ? { initialKeys: o.initialKeys } : {}),
  };
  container.register(diHostDb, { useValue: o.db });
  container.register(diCreditStore, { useValue: o.db });
  container.register(diPaymentGateway, { useValue: o.gateway });
  container.register(diHostCipher, { useValue: o.cipher });
  container.register(diHostRng, { useValue: o.rng });
  container.register(diHostClock, { useValue: o.clock ?? Date.now });
  container.register(diHostSettings, { useValue: settings });

  container.register(diSubscriberRepository, { useClass: SubscriberRepository }, scope);
  container.register(diMeterRepository, { useClass: MeterRepository }, scope);
  container.register(diCardRepository, { useClass: CardRepository }, scope);
  container.register(diKeyRepository, { useClass: KeyRepository }, scope);
  container.register(diPaymentRepository, { useClass: PaymentRepository }, scope);
  container.register(diTariffRepository, { useClass: TariffRepository }, scope);
  container.register(diUsageRepository, { useClass: UsageRepository }, scope);
  container.register(diApiKeyRepository, { useClass: ApiKeyRepository }, scope);
  container.register(diAuditRepository, { useClass: AuditRepository }, scope);
  container.register(diApiKeyService, { useClass: ApiKeyService }, scope);

  container.register(diKeyService, { useClass: KeyService }, scope);
  container.register(diHostKeys, {
    useFactory: instanceCachingFactory((c) => {
      const keys = c.resolve<KeyService>(diKeyService);
      return () => keys.ring;
    }),
  });
  container.register(diField, {
    useFactory: instanceCachingFactory((c) => o.field(c.resolve<() => HostKeyRing>(diHostKeys))),
  });
  container.register(diMeterRegistry, { useClass: MeterRegistry }, scope);
  container.register(diMeterSessions, { useClass: MeterSessions }, scope);
  container.register(diMeterDirectory, { useFactory: (c) => c.resolve<MeterSessions>(diMeterSessions) });
  registerCore(container);
  container.register(diCreditSales, { useClass: CreditSales }, scope);
  container.register(diTariffService, { useClass: TariffService }, scope);
  container.register(diUsageService, { useClass: UsageService }, scope);
  container.register(diRelay, {
    useFactory: instanceCachingFactory((c) => new RelayService(c.resolve<HostDb>(diHostDb))),
  });
  return container;
}
