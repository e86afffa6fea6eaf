/**
 * The payment-gateway port (seed 000 Fig. 6: "payment to a bank or a VAN company is guaranteed, by a
 * user selecting one among a credit card number, a direct payment card number, and a bank account
 * number"). Value is sent to a meter only after `authorize` answered 'guaranteed'.
 */
export type PaymentMethod = 'card' | 'bank';

export interface PaymentResult {
  readonly status: 'guaranteed' | 'declined';
  readonly reference: string;
  readonly reason?: string;
}

export interface PaymentGateway {
  /** Idempotent per `requestId`: the same request id always gives the same result. */
  authorize(
    requestId: string,
    method: PaymentMethod,
    account: string,
    amount: number,
  ): Promise<PaymentResult>;
}

/**
 * A SIMULATED gateway: declines accounts ending in "0000" (insufficient funds) and card numbers that
 * fail the Luhn check (ISO/IEC 7812-1 Annex B); guarantees everything else.
 */
export class SimulatedPaymentGateway implements PaymentGateway {
  readonly #seen = new Map<string, PaymentResult>();

  async authorize(
    requestId: string,
    method: PaymentMethod,
    account: string,
    amount: number,
  ): Promise<PaymentResult> {
    const prior = this.#seen.get(requestId);
    if (prior) return prior;
    let r: PaymentResult;
    if (method === 'card' && !luhn(account))
      r = { status: 'declined', reference: `SIM-${requestId}`, reason: 'card number fails the Luhn check' };
    else if (account.endsWith('0000'))
      r = { status: 'declined', reference: `SIM-${requestId}`, reason: 'insufficient funds' };
    else r = { status: 'guaranteed', reference: `SIM-${requestId}-${amount}` };
    this.#seen.set(requestId, r);
    return r;
  }
}

/** Luhn mod-10 check (ISO/IEC 7812-1 Annex B). */
export function luhn(digits: string): boolean {
  if (!/^\d{12,19}$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}
