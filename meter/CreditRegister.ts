import type { StateObject } from '../protocol/index.js';

/** A credit register's part of the meter's NVM image (`Meter.snapshot().register`); JSON-safe. */
export type CreditRegisterState = StateObject;

/**
 * The meter's source of credit: in the real meter the SVM, each token request authorised by the
 * SAM, both reached only through `CardChannel`s (seed 000 Fig. 5, items 164/166; DESIGN.md).
 * The meter core is written against this interface only; an SVM/SAM-over-CardChannel
 * implementation satisfies it later. All amounts are integer credit units (minor currency units).
 *
 * Contract (the meter relies on it to never lose a unit):
 * - `requestTokens(n)` resolves with the units actually debited from the register, an integer
 *   0 ≤ granted (normally ≤ n; fewer when the register holds less). 0 means the register is empty.
 * - It rejects (with `CreditRefusedError` or any error) only when nothing was debited.
 * - `balance()` reads what the register still holds, without changing it.
 *
 * Persistence (optional; docs/meter.md "NVM snapshot"). A register that can have debited units the
 * meter has not booked yet — a token answer lost to a power failure, or an answer on its way to the
 * meter when the snapshot is taken — keeps what it needs to hand them out after a restart in
 * `saveState()`, which `Meter.snapshot()` stores and `Meter.restore` gives back to `loadState()`.
 * The two halves of one hand-out must never both be in the image or both be missing from it, so
 * the meter calls `acknowledge(units)` in the same synchronous turn in which it books the units a
 * request resolved with: before that call the register's state still owes them, after it the
 * meter's state holds them.
 */
export interface CreditRegister {
  requestTokens(units: number): Promise<number>;
  balance(): Promise<number>;
  /** The meter booked `units` that `requestTokens` resolved with (see above). */
  acknowledge?(units: number): void;
  /** What the register must keep across a restart (part of `Meter.snapshot()`); JSON-safe. */
  saveState?(): CreditRegisterState;
  /**
   * Loads `saveState()` output (`Meter.restore`), before the register is used. Every field is
   * checked before any is set.
   * @throws RangeError naming the bad field under `snapshot.register`.
   */
  loadState?(state: CreditRegisterState): void;
}
