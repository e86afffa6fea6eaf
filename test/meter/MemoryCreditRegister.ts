import type { CreditRegister } from '../../meter/CreditRegister.js';
import { CreditRefusedError } from '../../meter/errors.js';

/** Test double of the SVM/SAM pair: an in-memory balance that can be told to refuse. */
export class MemoryCreditRegister implements CreditRegister {
  balanceUnits: number;
  /** When set, requestTokens rejects (nothing debited) with this status word. */
  refuseWith: number | undefined;
  /** When set, balance() rejects too. */
  failBalance = false;
  requests: number[] = [];
  granted = 0;

  constructor(initial: number) {
    this.balanceUnits = initial;
  }

  requestTokens(units: number): Promise<number> {
    this.requests.push(units);
    if (this.refuseWith !== undefined)
      return Promise.reject(new CreditRefusedError('SAM refused authorisation', this.refuseWith));
    const g = Math.min(units, this.balanceUnits);
    this.balanceUnits -= g;
    this.granted += g;
    return Promise.resolve(g);
  }

  balance(): Promise<number> {
    if (this.failBalance) return Promise.reject(new Error('SVM not answering'));
    return Promise.resolve(this.balanceUnits);
  }

  credit(units: number): void {
    this.balanceUnits += units;
  }
}
