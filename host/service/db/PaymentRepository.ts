import 'reflect-metadata';
import { txId, type TxId } from '../../../protocol/index.js';
import { inject, injectable } from 'tsyringe';
import { diHostDb } from '../../tokens.js';
import type { HostDb } from '../HostDb.js';
import type { PaymentMethod } from '../PaymentGateway.js';

/** The `payments` table: one row per guaranteed payment, keyed by the client's request id. */
@injectable()
export class PaymentRepository {
  constructor(@inject(diHostDb) private readonly db: HostDb) {}

  /** The host transaction an earlier request with this id created, if any. */
  txOf(requestId: string): TxId | undefined {
    const r = this.db.statement('SELECT tx_id FROM payments WHERE request_id = ?').get(requestId) as
      { tx_id: number } | undefined;
    return r && txId(r.tx_id);
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
  }): void {
    this.db
      .statement(
        'INSERT INTO payments (request_id, gateway_ref, subscriber_id, meter_id, amount, method, tx_id) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(p.requestId, p.gatewayRef, p.subscriberId, p.meterId, p.amount, p.method, p.txId);
  }
}
