import 'reflect-metadata';
import { txId, type TxId } from '../../../protocol/index.js';
import { inject, injectable } from 'tsyringe';
import { diHostDb } from '../../tokens.js';
import type { HostDb } from '../HostDb.js';
import type { PaymentMethod } from '../PaymentGateway.js';

/** What an earlier request with the same id paid for. */
export interface PriorPayment {
  readonly txId: TxId;
  readonly meterId: string;
  readonly amount: number;
  readonly method: PaymentMethod;
  /** The account's fingerprint; null for payments made before fingerprints were kept. */
  readonly accountHash: string | null;
}

/** The `payments` table: one row per guaranteed payment, keyed by the client's request id. */
@injectable()
export class PaymentRepository {
  constructor(@inject(diHostDb) private readonly db: HostDb) {}

  /** The host transaction an earlier request with this id created, if any. */
  txOf(requestId: string): TxId | undefined {
    return this.prior(requestId)?.txId;
  }

  /** What an earlier request with this id paid for, if any. */
  prior(requestId: string): PriorPayment | undefined {
    const r = this.db
      .statement('SELECT tx_id, meter_id, amount, method, account_hash FROM payments WHERE request_id = ?')
      .get(requestId) as
      | {
          tx_id: number;
          meter_id: string;
          amount: number;
          method: PaymentMethod;
          account_hash: string | null;
        }
      | undefined;
    return (
      r && {
        txId: txId(r.tx_id),
        meterId: r.meter_id,
        amount: r.amount,
        method: r.method,
        accountHash: r.account_hash,
      }
    );
  }

  /** Inside the caller's transaction (with the credit it pays for). */
  insertInTx(p: {
    requestId: string;
    gatewayRef: string;
    subscriberId: number;
    meterId: string;
    amount: number;
    method: PaymentMethod;
    txId: TxId;
    /** A fingerprint of the account (never the account number itself). */
    accountHash: string;
  }): void {
    this.db
      .statement(
        'INSERT INTO payments (request_id, gateway_ref, subscriber_id, meter_id, amount, method, tx_id, account_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(p.requestId, p.gatewayRef, p.subscriberId, p.meterId, p.amount, p.method, p.txId, p.accountHash);
  }
}
