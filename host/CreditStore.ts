/**
 * The durable side of exactly-once value store: every credit is a transaction with an identity
 * (txId, u64) written *before* anything is sent to a meter, and confirmed only from an
 * authenticated answer of that meter. Implementations: {@link MemoryCreditStore} (tests, bench)
 * and host/service/HostDb.ts (SQLite, durable).
 */
import { txId, type TxId } from '../protocol/index.js';
export type CreditState = 'pending' | 'confirmed' | 'refused';

export interface CreditTx {
  readonly txId: TxId;
  /** Meter id, 6 upper-case hex digits. */
  readonly meterId: string;
  readonly amount: number;
  readonly state: CreditState;
  readonly attempts: number;
  /** The meter's balance right after this credit (from its answer), when confirmed. */
  readonly balanceAfter?: number;
  /** Free reference (payment id, top-up rule...). */
  readonly ref: string;
}

export interface HostEvent {
  readonly kind: string;
  readonly meterId?: string;
  readonly detail: string;
}

export interface CreditStore {
  /** Records a pending credit; durable when this returns. */
  createCredit(meterId: string, amount: number, ref: string): CreditTx;
  get(txId: TxId): CreditTx | undefined;
  /** Pending credits, oldest first (optionally of one meter). */
  pending(meterId?: string): CreditTx[];
  /** Marks a pending credit confirmed (idempotent: confirming a confirmed tx changes nothing). */
  confirm(txId: TxId, balanceAfter: number): void;
  /** Marks a pending credit refused by the meter (authenticated refusal); the value goes back. */
  refuse(txId: TxId, reason: string): void;
  noteAttempt(txId: TxId): void;
  /** Latest balance a meter reported, and the txId confirmed up to then. */
  recordBalance(meterId: string, balance: number): void;
  lastBalance(meterId: string): { balance: number; creditsSince: number } | undefined;
  event(e: HostEvent): void;
}

interface MutableTx {
  txId: TxId;
  meterId: string;
  amount: number;
  state: CreditState;
  attempts: number;
  balanceAfter?: number;
  ref: string;
}

/** In-memory store: the "durable" state is this object; a host restart is a new dispatcher over it. */
export class MemoryCreditStore implements CreditStore {
  readonly #txs = new Map<bigint, MutableTx>();
  readonly #balances = new Map<string, { balance: number; creditsSince: number }>();
  readonly events: HostEvent[] = [];
  #next = 1n;

  createCredit(meterId: string, amount: number, ref: string): CreditTx {
    const tx: MutableTx = { txId: txId(this.#next++), meterId, amount, state: 'pending', attempts: 0, ref };
    this.#txs.set(tx.txId, tx);
    return { ...tx };
  }
  get(txId: TxId): CreditTx | undefined {
    const t = this.#txs.get(txId);
    return t && { ...t };
  }
  pending(meterId?: string): CreditTx[] {
    return [...this.#txs.values()]
      .filter((t) => t.state === 'pending' && (meterId === undefined || t.meterId === meterId))
      .map((t) => ({ ...t }));
  }
  confirm(txId: TxId, balanceAfter: number): void {
    const t = this.#txs.get(txId);
    if (!t) throw new RangeError(`unknown tx ${txId}`);
    if (t.state === 'confirmed') return;
    if (t.state !== 'pending') throw new RangeError(`tx ${txId} is ${t.state}`);
    t.state = 'confirmed';
    t.balanceAfter = balanceAfter;
    const b = this.#balances.get(t.meterId);
    if (b) b.creditsSince += t.amount;
  }
  refuse(txId: TxId, reason: string): void {
    const t = this.#txs.get(txId);
    if (!t || t.state !== 'pending') throw new RangeError(`tx ${txId} is not pending`);
    t.state = 'refused';
    this.event({ kind: 'credit-refused', meterId: t.meterId, detail: `tx ${txId}: ${reason}` });
  }
  noteAttempt(txId: TxId): void {
    const t = this.#txs.get(txId);
    if (t) t.attempts++;
  }
  recordBalance(meterId: string, balance: number): void {
    this.#balances.set(meterId, { balance, creditsSince: 0 });
  }
  lastBalance(meterId: string): { balance: number; creditsSince: number } | undefined {
    const b = this.#balances.get(meterId);
    return b && { ...b };
  }
  event(e: HostEvent): void {
    this.events.push(e);
  }
}
