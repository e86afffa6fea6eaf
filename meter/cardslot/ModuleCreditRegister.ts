/**
 * The meter core's `CreditRegister` over the real SVM, every token request authorised by the SAM
 * (seed 000 Fig. 5; docs/purse-spec.md §8): SVM READ STATE, SAM TOKEN AUTH (units, counter + 1),
 * SVM TOKEN REQUEST — the exchange of card/transfer `SvmCreditRegister`, through a `ModuleLink`
 * (serialised with card transfers, modules re-opened after a power failure), plus a journal for
 * the one case that class cannot settle: power lost while TOKEN REQUEST was in flight.
 *
 * Journal: before TOKEN REQUEST the register notes (expected SVM counter, balance before). When the
 * answer is lost and the state cannot be read at once (the modules lost power), the note stays,
 * and the first use of the modules after power-up reads the state before anything else: if the
 * SVM counter is the expected one, the SVM did grant, and the units (balance before − balance
 * now) are handed to the meter with the next grant. The SVM never grants twice (its counter
 * moved), and the meter never loses a grant the SVM made.
 */
import { CardChannelError } from '../../reader/CardChannel.js';
import * as A from '../../card/transfer/apdus.js';
import { expectOk, type SvmState } from '../../card/transfer/MeterModules.js';
import { TransferError } from '../../card/transfer/TransferError.js';
import { u16 } from '../../card/applets/bytes.js';
import { SW_INSUFFICIENT_BALANCE } from '../../card/applets/constants.js';
import type { CreditRegister } from '../CreditRegister.js';
import { CreditRefusedError } from '../errors.js';
import type { ModuleLink } from './ModuleLink.js';

function refusal(e: unknown): CreditRefusedError {
  if (e instanceof CreditRefusedError) return e;
  if (e instanceof TransferError) return new CreditRefusedError(e.message, e.sw, { cause: e });
  if (e instanceof CardChannelError)
    return new CreditRefusedError(`module unreachable: ${e.message}`, undefined, { cause: e });
  return new CreditRefusedError(e instanceof Error ? e.message : String(e), undefined, { cause: e });
}

export class ModuleCreditRegister implements CreditRegister {
  #journal: { counter: number; balanceBefore: number } | undefined;
  /** Units the SVM granted to a request whose answer was lost, not yet handed to the meter. */
  #recovered = 0;
  #requests = 0;

  constructor(readonly link: ModuleLink) {
    link.addGuard(async (m) => {
      if (this.#journal) this.#settle(await m.readState());
    });
  }

  /** TOKEN REQUESTs sent to the SVM. */
  get requests(): number {
    return this.#requests;
  }

  /** Units granted by the SVM to a lost request and not yet handed out (0 normally). */
  get recovered(): number {
    return this.#recovered;
  }

  #settle(st: SvmState): void {
    const j = this.#journal;
    if (!j) return;
    this.#journal = undefined;
    if (st.counter === j.counter) this.#recovered += j.balanceBefore - st.balance;
  }

  #handOut(granted: number): number {
    const n = granted + this.#recovered;
    this.#recovered = 0;
    return n;
  }

  /**
   * Takes up to `units` (1…65535) from the SVM. Resolves with the units granted — 0 when the SVM
   * is empty — plus any units recovered from an earlier lost answer.
   * @throws RangeError naming `units`; CreditRefusedError (with the SW when a module answered one)
   *   only when nothing was debited by this call.
   */
  requestTokens(units: number): Promise<number> {
    if (!Number.isInteger(units) || units < 1 || units > 0xffff)
      return Promise.reject(new RangeError(`units must be 1..65535, got ${units}`));
    return this.link
      .use(async (m) => {
        const st = await m.readState();
        if (st.balance === 0) return this.#handOut(0);
        const counter = st.counter + 1;
        const mac = await expectOk(m.sam, A.tokenAuth(units, counter), 'SAM TOKEN AUTH');
        this.#journal = { counter, balanceBefore: st.balance };
        this.#requests++;
        let granted: number;
        try {
          const r = await expectOk(m.svm, A.tokenRequest(units, counter, mac), 'SVM TOKEN REQUEST');
          this.#journal = undefined;
          granted = u16(r, 0);
        } catch (e) {
          if (e instanceof TransferError) {
            this.#journal = undefined;
            if (e.sw === SW_INSUFFICIENT_BALANCE) return this.#handOut(0);
            throw e;
          }
          if (!(e instanceof CardChannelError)) throw e;
          // The answer was lost. Read the state now if the SVM still answers; else the journal
          // stays and the first use after power-up settles it.
          try {
            this.#settle(await m.readState());
          } catch {
            /* settled by the guard later */
          }
          if (this.#recovered > 0) return this.#handOut(0);
          throw e;
        }
        return this.#handOut(granted);
      })
      .catch((e: unknown) => {
        throw refusal(e);
      });
  }

  /** What the SVM holds, plus recovered units not yet handed out. @throws CreditRefusedError. */
  balance(): Promise<number> {
    return this.link
      .use(async (m) => (await m.readState()).balance + this.#recovered)
      .catch((e: unknown) => {
        throw refusal(e);
      });
  }
}
