import 'reflect-metadata';
import type { DependencyContainer } from 'tsyringe';
import type { CreditRegister } from './CreditRegister.js';
import { Meter, type MeterOptions } from './Meter.js';

/** Injection tokens of the meter core (STYLE.md rule 9). */
export const diCreditRegister = Symbol('meter.CreditRegister');
export const diMeterOptions = Symbol('meter.MeterOptions');
export const diMeter = Symbol('meter.Meter');

/** What `register` needs: the meter's options and its credit register (the SVM/SAM pair, later over CardChannels). */
export interface MeterRegistration {
  meter: MeterOptions;
  credit: CreditRegister;
}

/**
 * Registers one meter in `container` — use a child container per simulated device
 * (`container.createChildContainer()`), since a meter is never a singleton across devices.
 * Resolving `diMeter` gives the same Meter within that container.
 * @returns the container, for chaining.
 */
export function register(container: DependencyContainer, options: MeterRegistration): DependencyContainer {
  container.register(diMeterOptions, { useValue: options.meter });
  container.register(diCreditRegister, { useValue: options.credit });
  let meter: Meter | undefined;
  container.register(diMeter, {
    useFactory: (c) =>
      (meter ??= new Meter(
        c.resolve<MeterOptions>(diMeterOptions),
        c.resolve<CreditRegister>(diCreditRegister),
      )),
  });
  return container;
}
