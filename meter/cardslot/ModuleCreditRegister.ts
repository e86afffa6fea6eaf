/**
 * The meter core's `CreditRegister` over the real SVM, every token request authorised by the SAM
 * (seed 000 Fig. 5; docs/purse-spec.md §8): SVM READ STATE (signed for the core), SAM TOKEN AUTH
 * (units, counter + 1, asked under K_core), SVM TOKEN REQUEST (grant MAC checked) — the project's
 * one implementation of that exchange, over `MeterModules`' authenticated steps and through a
 * `ModuleLink` (serialised with card transfers, modules re-opened after a power failure), plus a
 * journal for the case a lost answer cannot be settled at once: power lost while TOKEN REQUEST was
 * in flight.
 *
 * Journal: before TOKEN REQUEST the register notes (expected SVM counter, balance before). When the
 * answer is lost and the state cannot be read at once (the modules lost power), the note stays,
 * and the first use of the modules after power-up reads the state before anything else: if the
 * SVM counter is the expected one, the SVM did grant, and the units (balance before − balance
 * now) are handed to the meter with the next grant. The SVM never grants twice (its counter
 * moved), and the meter never loses a grant the SVM made.
 *
 * Persistence: the journal and the units owed to the meter — recovered from a lost answer, or
 * handed out and not yet acknowledged by the meter — are the register's NVM state (`saveState`,
 * stored in `Meter.snapshot()`). Why each step is where it is:
 * - the journal is set before TOKEN REQUEST is handed to the SVM's channel, so an image taken while
 *   the command is on its way, in the SVM, or its answer on its way back, can settle it;
 * - the journal is cleared in the same synchronous turn that turns the answer (or the settled
 *   state) into owed units, and owed units leave the state only when the meter acknowledges them in
 *   the turn it books them (`CreditRegister.acknowledge`).
 * So an image taken at any await point holds every unit the SVM debited exactly once: in the SVM's
 * balance, behind the journal, among the owed units, or in the meter's own registers.
 */
import { CardChannelError } from '../../reader/index.js';
import type { SvmState } from '../../terminal/index.js';
import { TransferError } from '../../terminal/index.js';
import { SW_INSUFFICIENT_BALANCE } from '../../card/index.js';
import type { CreditRegister, CreditRegisterState } from '../CreditRegister.js';
import { CreditRefusedError, MeterStateError } from '../errors.js';
import { StateReader } from '../../protocol/index.js';
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
  /** Units the last request resolved with that the meter has not acknowledged yet. */
  #handedOut = 0;
  #requests = 0;

  constructor(readonly link: ModuleLink) {
    link.addGuard(async (m) => {
      if (this.#journal) this.#settle(await m.readStateVerified());
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
    this.#handedOut += n;
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
    // A caller that asks again has the previous answer, acknowledged or not.
    this.#handedOut = 0;
    return this.link
      .use(async (m) => {
        // Signed for the core (K_core): the journal's balance is the SVM's word, not the bus's.
        const st = await m.readStateVerified();
        if (st.balance === 0) return this.#handOut(0);
        const counter = st.counter + 1;
        const mac = await m.authoriseTokens(units, counter);
        this.#journal = { counter, balanceBefore: st.balance };
        this.#requests++;
        let granted: number;
        try {
          const r = await m.takeTokens(units, counter, mac);
          this.#journal = undefined;
          granted = r.granted;
        } catch (e) {
          if (!(e instanceof CardChannelError) && !(e instanceof TransferError)) throw e;
          // A lost answer, a refusal, a grant whose MAC is wrong: none of them is the SVM's signed
          // word (status words are not authenticated), so only its state signed for the core says
          // whether it granted. Read it now if the SVM answers; else the journal stays and the
          // first use after power-up (or after the bus tells the truth) settles it.
          let settled = false;
          try {
            this.#settle(await m.readStateVerified());
            settled = true;
          } catch {
            /* settled by the guard later */
          }
          if (this.#recovered > 0) return this.#handOut(0);
          if (settled && e instanceof TransferError && e.sw === SW_INSUFFICIENT_BALANCE)
            return this.#handOut(0);
          throw e;
        }
        return this.#handOut(granted);
      })
      .catch((e: unknown) => {
        throw refusal(e);
      });
  }

  /** The meter booked `units` of the last answer: they leave this register's state. */
  acknowledge(units: number): void {
    if (!Number.isSafeInteger(units) || units < 0)
      throw new RangeError(`units must be a safe non-negative integer, got ${units}`);
    this.#handedOut = Math.max(0, this.#handedOut - units);
  }

  /**
   * The register's NVM state: the journal of a TOKEN REQUEST whose answer was not seen, and the
   * units owed to the meter (recovered, or handed out and not acknowledged).
   * ```
   * { journal: { counter: u32, balanceBefore: u32 } | null, recovered: units }
   * ```
   */
  saveState(): CreditRegisterState {
    const j = this.#journal;
    return {
      journal: j ? { counter: j.counter, balanceBefore: j.balanceBefore } : null,
      recovered: this.#recovered + this.#handedOut,
    };
  }

  /**
   * Loads `saveState()` output into a register not used yet. A journal is settled by the first use
   * of the modules (before anything else can move the SVM counter); owed units go out with the
   * next grant.
   * @throws RangeError naming the bad field (`snapshot.register.…`); MeterStateError when this
   *   register already holds a journal or owed units (loading over them would lose them).
   */
  loadState(state: CreditRegisterState): void {
    const r = new StateReader(state, 'snapshot.register');
    let journal: { counter: number; balanceBefore: number } | undefined;
    if (state['journal'] !== null) {
      const jr = r.child('journal');
      journal = {
        counter: jr.int('counter', 1, 0xffffffff),
        balanceBefore: jr.int('balanceBefore', 1, 0xffffffff),
      };
    }
    const recovered = r.int('recovered');
    if (this.#journal || this.#recovered > 0 || this.#handedOut > 0)
      throw new MeterStateError(
        'register-in-use',
        'the credit register already holds a journal or owed units',
      );
    this.#journal = journal;
    this.#recovered = recovered;
    this.#handedOut = 0;
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
