/**
 * The meter core's credit register (meter/CreditRegister.ts, structurally — card/ does not import
 * meter/) over the meter's SAM and SVM: every token request authorised by the SAM (seed 000 Fig. 5).
 *
 * Never loses a unit: when the SVM's answer to TOKEN REQUEST is lost (channel error), the SVM
 * state is read again — if its counter moved, the request was done and the units granted are the
 * difference of the balances; only when the counter did not move is the error passed on.
 */
import { CardChannelError } from '../reader/CardChannel.js';
import { SW_INSUFFICIENT_BALANCE } from '../card/applets/constants.js';
import type { MeterModules } from './MeterModules.js';
import { TransferError } from './TransferError.js';

export class SvmCreditRegister {
  constructor(readonly modules: MeterModules) {}

  /**
   * Takes up to `units` (1..65535) from the SVM; resolves 0 when it is empty.
   * @throws RangeError naming `units`; TransferError / CardChannelError only when nothing was debited.
   */
  async requestTokens(units: number): Promise<number> {
    if (!Number.isInteger(units) || units < 1 || units > 0xffff)
      throw new RangeError(`units must be 1..65535, got ${units}`);
    const m = this.modules;
    const before = await m.readStateVerified();
    if (before.balance === 0) return 0;
    const counter = before.counter + 1;
    const mac = await m.authoriseTokens(units, counter);
    try {
      return (await m.takeTokens(units, counter, mac)).granted;
    } catch (e) {
      if (e instanceof TransferError && e.sw === SW_INSUFFICIENT_BALANCE) return 0;
      if (!(e instanceof CardChannelError)) throw e;
      // The answer was lost: did the SVM do it?
      const after = await m.readStateVerified();
      if (after.counter === counter) return before.balance - after.balance;
      throw e;
    }
  }

  /** What the SVM holds. */
  async balance(): Promise<number> {
    return (await this.modules.readState()).balance;
  }
}
