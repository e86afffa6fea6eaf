import 'reflect-metadata';
import type { DependencyContainer } from 'tsyringe';
import type { BlockCipherProvider, Rng } from '../card/crypto/types.js';
import type { HostKeyRing } from '../card/crypto/keyHierarchy.js';
import { HostProtocol } from './protocol/HostProtocol.js';
import type { CreditStore } from './CreditStore.js';
import { ValueStoreDispatcher } from './ValueStoreDispatcher.js';
import type { MeterDirectory } from './ValueStoreDispatcher.js';

/** Injection tokens of the host (STYLE.md rule 9). */
export const diHostCipher = Symbol('host.BlockCipherProvider');
export const diHostRng = Symbol('host.Rng');
export const diHostKeys = Symbol('host.KeyRingSource');
export const diCreditStore = Symbol('host.CreditStore');
export const diMeterDirectory = Symbol('host.MeterDirectory');
export const diHostProtocol = Symbol('host.HostProtocol');
export const diValueStoreDispatcher = Symbol('host.ValueStoreDispatcher');

export interface HostRegistration {
  cipher: BlockCipherProvider;
  rng: Rng;
  /** The current key ring (a function so rotation takes effect). */
  keys: () => HostKeyRing;
  store: CreditStore;
  meters: MeterDirectory;
}

/**
 * Registers one host in `container` (a child container per host in tests). Resolving
 * `diHostProtocol` / `diValueStoreDispatcher` gives the same instance within that container.
 * @returns the container, for chaining.
 */
export function register(container: DependencyContainer, o: HostRegistration): DependencyContainer {
  container.register(diHostCipher, { useValue: o.cipher });
  container.register(diHostRng, { useValue: o.rng });
  container.register(diHostKeys, { useValue: o.keys });
  container.register(diCreditStore, { useValue: o.store });
  container.register(diMeterDirectory, { useValue: o.meters });
  let protocol: HostProtocol | undefined;
  let dispatcher: ValueStoreDispatcher | undefined;
  container.register(diHostProtocol, {
    useFactory: (c) =>
      (protocol ??= new HostProtocol(
        c.resolve<BlockCipherProvider>(diHostCipher),
        c.resolve<Rng>(diHostRng),
        c.resolve<() => HostKeyRing>(diHostKeys),
      )),
  });
  container.register(diValueStoreDispatcher, {
    useFactory: (c) =>
      (dispatcher ??= new ValueStoreDispatcher(
        c.resolve<HostProtocol>(diHostProtocol),
        c.resolve<CreditStore>(diCreditStore),
        c.resolve<MeterDirectory>(diMeterDirectory),
      )),
  });
  return container;
}
