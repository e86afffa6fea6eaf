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
 */
export interface CreditRegister {
  requestTokens(units: number): Promise<number>;
  balance(): Promise<number>;
}
