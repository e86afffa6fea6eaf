import type { CreditRegister } from '../CreditRegister.js';
import { CreditRefusedError } from '../errors.js';

/** A credit register the simulation can top up (a purchase reaching the SVM). */
export interface SimulatedCredit {
  readonly register: CreditRegister;
  /** Adds purchased units to the register. */
  topUp(units: number): void | Promise<void>;
}

/** Makes the credit register of one simulated meter, holding `initialUnits`. */
export type CreditRegisterFactory = (initialUnits: number) => SimulatedCredit | Promise<SimulatedCredit>;

/**
 * The default factory of `simulate` and the `meter simulate` command: an in-memory register that
 * stands in for the SVM/SAM pair until those cards exist on the card runtime; the later
 * SVM/SAM-over-CardChannel register plugs in through the same factory type. Integer units;
 * grants min(asked, balance); never goes negative.
 */
export function createSimulatedCredit(initialUnits: number): SimulatedCredit {
  if (!Number.isSafeInteger(initialUnits) || initialUnits < 0)
    throw new RangeError(`initialUnits must be a safe non-negative integer, got ${initialUnits}`);
  let balance = initialUnits;
  return {
    register: {
      requestTokens(units: number): Promise<number> {
        if (!Number.isSafeInteger(units) || units < 1)
          return Promise.reject(new CreditRefusedError(`bad token request ${units}`));
        const g = Math.min(units, balance);
        balance -= g;
        return Promise.resolve(g);
      },
      balance(): Promise<number> {
        return Promise.resolve(balance);
      },
    },
    topUp(units: number): void {
      if (!Number.isSafeInteger(units) || units < 0)
        throw new RangeError(`units must be a safe non-negative integer, got ${units}`);
      balance += units;
    },
  };
}
