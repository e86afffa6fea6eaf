/**
 * Credit sales: a recharge paid through the payment gateway becomes a pending credit and is
 * delivered to the meter exactly once (host/ValueStoreDispatcher.ts); automatic top-up buys more
 * when a reported balance falls below the subscriber's threshold; `recover` delivers what a
 * restart left pending. Deliveries to one meter are serialised (rule 4 of exactly-once).
 */
import { formatTxId, type TxId } from '../../protocol/index.js';
import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import type { DeliveryOutcome, ValueStoreDispatcher } from '../ValueStoreDispatcher.js';
import {
  diHostClock,
  diHostDb,
  diMeterRegistry,
  diPaymentGateway,
  diPaymentRepository,
  diSubscriberRepository,
  diValueStoreDispatcher,
} from '../tokens.js';
import type { HostClock } from '../tokens.js';
import type { HostDb } from './HostDb.js';
import type { MeterRegistry } from './MeterRegistry.js';
import type { PaymentGateway, PaymentMethod } from './PaymentGateway.js';
import type { PaymentRepository } from './db/PaymentRepository.js';
import type { SubscriberRepository } from './db/SubscriberRepository.js';
import { ServiceError } from './ServiceError.js';

/**
 * The fingerprint a payment keeps of its account: SHA-256 over the request id and the account, so
 * a re-used request id can be compared without storing the card or bank account number (and the
 * same account gives different fingerprints under different request ids).
 */
export function accountFingerprint(requestId: string, account: string): string {
  return createHash('sha256').update(`${requestId}\0${account}`, 'utf8').digest('hex');
}

export interface RechargeResult {
  txId: string;
  state: string;
  balance?: number;
  outcome: string;
}

@injectable()
export class CreditSales {
  /** The delivery in progress per meter; the next one waits for it. */
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(
    @inject(diMeterRegistry) private readonly registry: MeterRegistry,
    @inject(diPaymentRepository) private readonly payments: PaymentRepository,
    @inject(diSubscriberRepository) private readonly subscribers: SubscriberRepository,
    @inject(diHostDb) private readonly db: HostDb,
    @inject(diPaymentGateway) private readonly gateway: PaymentGateway,
    @inject(diValueStoreDispatcher) private readonly dispatcher: ValueStoreDispatcher,
    @inject(diHostClock) private readonly clock: HostClock,
  ) {}

  /** Delivers every pending credit (run at start-up: a restart loses nothing). */
  async recover(): Promise<DeliveryOutcome[]> {
    const out: DeliveryOutcome[] = [];
    for (const t of this.db.pending()) out.push(await this.#deliver(t.meterId, t.txId));
    return out;
  }

  #deliver(meterId: string, txId: TxId): Promise<DeliveryOutcome> {
    const prev = this.#queues.get(meterId) ?? Promise.resolve();
    const next = prev.then(() => this.dispatcher.deliver(txId));
    this.#queues.set(
      meterId,
      next.catch(() => undefined),
    );
    return next;
  }

  /**
   * A recharge paid by card or bank account. Idempotent per `requestId`: the same request again
   * answers the first one's outcome ('repeated'); the same id with another meter, amount, method
   * or account is a 409 conflict and pays nothing. Order: the gateway must
   * guarantee the payment; then payment, pending credit and ledger entries commit in one durable
   * transaction; then the credit is delivered (exactly once).
   * @throws ServiceError 404 unknown-meter, 409 request-id-reused, 402 payment-declined;
   *   HostDbError when the database fails (nothing was credited).
   */
  async recharge(r: {
    requestId: string;
    meterId: string;
    amount: number;
    method: PaymentMethod;
    account: string;
  }): Promise<RechargeResult> {
    const meterId = r.meterId.toUpperCase();
    const meter = this.registry.meter(meterId);
    const accountHash = accountFingerprint(r.requestId, r.account);
    const prior = this.payments.prior(r.requestId);
    if (prior !== undefined) {
      const differs =
        prior.meterId !== meterId
          ? 'meter'
          : prior.amount !== r.amount
            ? 'amount'
            : prior.method !== r.method
              ? 'method'
              : prior.accountHash !== null && prior.accountHash !== accountHash
                ? 'account'
                : undefined;
      if (differs)
        throw new ServiceError(
          409,
          'request-id-reused',
          `requestId ${r.requestId} was used for another recharge (its ${differs} differs)`,
          'requestId',
        );
      const t = this.db.get(prior.txId)!;
      const o = t.state === 'pending' ? await this.#deliver(meterId, t.txId) : undefined;
      const now = this.db.get(t.txId)!;
      return {
        txId: formatTxId(now.txId),
        state: now.state,
        outcome: o?.result ?? 'repeated',
        ...(now.balanceAfter === undefined ? {} : { balance: now.balanceAfter }),
      };
    }
    const pay = await this.gateway.authorize(r.requestId, r.method, r.account, r.amount);
    if (pay.status !== 'guaranteed') {
      this.db.event({
        kind: 'payment-declined',
        meterId,
        detail: `${r.requestId}: ${pay.reason ?? 'declined'}`,
      });
      throw new ServiceError(402, 'payment-declined', pay.reason ?? 'payment declined', 'account');
    }
    const tx = this.db.tx(() => {
      const t = this.db.createCreditInTx(meterId, r.amount, `payment ${r.requestId}`, `payments:${r.method}`);
      this.payments.insertInTx({
        requestId: r.requestId,
        gatewayRef: pay.reference,
        subscriberId: meter.subscriberId,
        meterId,
        amount: r.amount,
        method: r.method,
        txId: t.txId,
        accountHash,
      });
      return t;
    });
    const o = await this.#deliver(meterId, tx.txId);
    const now = this.db.get(tx.txId)!;
    if (o.result === 'confirmed') await this.autoTopUp(meterId, o.balance);
    return {
      txId: formatTxId(tx.txId),
      state: now.state,
      outcome: o.result,
      ...(o.result === 'confirmed' ? { balance: o.balance } : {}),
    };
  }

  /**
   * Automatic top-up when a reported balance is below the subscriber's threshold (and nothing is
   * pending for the meter). A failure is an event 'auto-topup-failed', never an exception.
   */
  async autoTopUp(meterId: string, balance: number): Promise<void> {
    const m = this.registry.meter(meterId);
    const s = this.subscribers.topUpRule(m.subscriberId);
    if (!s || s.amount <= 0 || !s.method || !s.account || balance >= s.threshold) return;
    if (this.db.pending(meterId).length > 0) return;
    const requestId = `auto-${meterId}-${this.clock()}`;
    this.db.event({
      kind: 'auto-topup',
      meterId,
      detail: `balance ${balance} < threshold ${s.threshold}: ${s.amount}`,
    });
    try {
      await this.recharge({ requestId, meterId, amount: s.amount, method: s.method, account: s.account });
    } catch (e) {
      this.db.event({ kind: 'auto-topup-failed', meterId, detail: (e as Error).message });
    }
  }
}
