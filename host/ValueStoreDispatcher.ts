/**
 * Exactly-once delivery of value-store credits (seed 000 Fig. 1 with a transaction id).
 *
 * Rules that make it safe:
 * 1. A credit is written to the {@link CreditStore} as *pending* before the first byte goes out.
 * 2. Every attempt re-runs the whole handshake (fresh R1, R2, R3) with the *same* txId; the meter
 *    remembers its recent txIds and answers a repeat with status DUPLICATE and the original result,
 *    so a lost answer, a duplicated frame or a host restart never credits twice.
 * 3. Only an authenticated answer (S1 checked, M decrypted, ID' = ID, txId echoed) changes the
 *    stored state: CREDITED/DUPLICATE → confirmed; REFUSED_MAX_BALANCE → refused (value returned).
 *    Anything else (timeout, refusal message, bad frame) leaves the credit pending: in doubt, retried.
 * 4. Per meter, credits go strictly in txId order; a newer credit waits while an older one is in
 *    doubt, so the meter's window of remembered ids (64) always covers every id the host may repeat.
 * 5. One sequence, one line per meter: host credits and host settlements (host/clearing/) take
 *    their ids from the same sequence of the host database and reach a meter one session at a
 *    time through {@link ValueStoreDispatcher.exclusive}. The SVM applies host ids only in
 *    increasing order, so whichever session holds the line checks, before sending, that no id above
 *    its own went first (clearing renumbers a settlement then; a credit is always the newest id).
 */
import { toHex } from '../card/index.js';
import { VS_CREDITED, VS_DUPLICATE, VS_REFUSED_MAX_BALANCE } from '../protocol/index.js';
import type { HostProtocol, MeterKeyRef } from './protocol/HostProtocol.js';
import type { Terminal, TxId } from '../protocol/index.js';
import type { CreditStore, CreditTx } from './CreditStore.js';

export type DeliveryOutcome =
  | {
      readonly txId: TxId;
      readonly result: 'confirmed';
      readonly duplicate: boolean;
      readonly balance: number;
    }
  | { readonly txId: TxId; readonly result: 'refused'; readonly reason: string }
  | { readonly txId: TxId; readonly result: 'in-doubt'; readonly error: string }
  | { readonly txId: TxId; readonly result: 'waiting'; readonly behind: TxId };

export interface MeterDirectory {
  /** Key reference of a meter (hex id). @throws when the meter is unknown. */
  ref(meterId: string): MeterKeyRef;
  /** The terminal (over the link) of a meter. */
  terminal(meterId: string): Terminal;
}

/** Runs one piece of power-line work on a meter while no other such piece runs on it. */
export interface MeterLine {
  exclusive<T>(meterId: string, f: () => Promise<T>): Promise<T>;
}

export class ValueStoreDispatcher implements MeterLine {
  /** The tail of the work queued per meter (credits, settlements): the next waits for it. */
  readonly #lines = new Map<string, Promise<unknown>>();

  constructor(
    readonly protocol: HostProtocol,
    readonly store: CreditStore,
    readonly meters: MeterDirectory,
    readonly maxAttempts = 4,
  ) {}

  /** Creates a pending credit and delivers it. */
  async credit(meterId: string, amount: number, ref = ''): Promise<DeliveryOutcome> {
    const tx = this.store.createCredit(meterId, amount, ref);
    return this.deliver(tx.txId);
  }

  /**
   * Runs `f` when every earlier piece of work given for `meterId` has ended (resolved or thrown),
   * and holds the meter's line until `f` ends: value-store credits and clearing settlements to one
   * meter never overlap, so their host ids reach the SVM in the order they were checked in.
   * @returns what `f` returns (or throws).
   */
  exclusive<T>(meterId: string, f: () => Promise<T>): Promise<T> {
    const key = meterId.toUpperCase();
    const prev = this.#lines.get(key) ?? Promise.resolve();
    const run = prev.then(f);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#lines.set(key, tail);
    // forget an idle meter's entry, so the map holds only meters with work in flight
    void tail.then(() => {
      if (this.#lines.get(key) === tail) this.#lines.delete(key);
    });
    return run;
  }

  /**
   * Delivers one pending credit (up to `maxAttempts` handshakes), holding the meter's line
   * ({@link exclusive}) for the whole delivery.
   * @throws RangeError when the tx is unknown.
   */
  async deliver(txId: TxId): Promise<DeliveryOutcome> {
    const first = this.store.get(txId);
    if (!first) throw new RangeError(`unknown tx ${txId}`);
    return this.exclusive(first.meterId, () => this.#deliver(txId));
  }

  async #deliver(txId: TxId): Promise<DeliveryOutcome> {
    // read again on the line: a delivery queued before this one may have settled it
    const tx = this.store.get(txId)!;
    if (tx.state === 'confirmed')
      return { txId, result: 'confirmed', duplicate: true, balance: tx.balanceAfter ?? 0 };
    if (tx.state === 'refused') return { txId, result: 'refused', reason: 'refused earlier' };
    const older = this.store.pending(tx.meterId).find((t) => t.txId < txId);
    if (older) return { txId, result: 'waiting', behind: older.txId };
    let lastError = '';
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      this.store.noteAttempt(txId);
      try {
        return this.#settle(
          tx,
          await this.protocol.valueStore(
            this.meters.terminal(tx.meterId),
            this.meters.ref(tx.meterId),
            tx.amount,
            txId,
          ),
        );
      } catch (e) {
        lastError = e instanceof Error ? e.message : String(e);
      }
    }
    this.store.event({ kind: 'credit-in-doubt', meterId: tx.meterId, detail: `tx ${txId}: ${lastError}` });
    return { txId, result: 'in-doubt', error: lastError };
  }

  /** After a restart: delivers every pending credit, per meter in txId order. */
  async recover(): Promise<DeliveryOutcome[]> {
    const out: DeliveryOutcome[] = [];
    const byMeter = new Map<string, CreditTx[]>();
    for (const t of this.store.pending()) byMeter.set(t.meterId, [...(byMeter.get(t.meterId) ?? []), t]);
    for (const txs of byMeter.values()) {
      for (const t of txs.sort((a, b) => (a.txId < b.txId ? -1 : 1))) {
        const o = await this.deliver(t.txId);
        out.push(o);
        if (o.result === 'in-doubt') break;
      }
    }
    return out;
  }

  #settle(
    tx: CreditTx,
    a: { status: number; balanceAfter: number; balance: number; id: Uint8Array },
  ): DeliveryOutcome {
    if (a.status === VS_REFUSED_MAX_BALANCE) {
      this.store.refuse(tx.txId, `meter at maximum balance (${a.balance})`);
      this.reconcile(tx.meterId, a.balance);
      return { txId: tx.txId, result: 'refused', reason: 'maximum balance' };
    }
    if (a.status !== VS_CREDITED && a.status !== VS_DUPLICATE) throw new RangeError(`status ${a.status}`);
    this.store.confirm(tx.txId, a.balanceAfter);
    this.reconcile(tx.meterId, a.balance);
    return { txId: tx.txId, result: 'confirmed', duplicate: a.status === VS_DUPLICATE, balance: a.balance };
  }

  /**
   * Reconciles a balance the meter reported with the ledger: it may only have gone down (metered
   * use) since the last report plus the credits confirmed since. A higher figure means value
   * appeared that the host never sent: an event 'balance-above-ledger'. Returns true when consistent.
   */
  reconcile(meterId: string, reported: number): boolean {
    const last = this.store.lastBalance(meterId);
    let ok = true;
    if (last && reported > last.balance + last.creditsSince) {
      ok = false;
      this.store.event({
        kind: 'balance-above-ledger',
        meterId,
        detail: `reported ${reported} > last ${last.balance} + credits ${last.creditsSince}`,
      });
    }
    this.store.recordBalance(meterId, reported);
    return ok;
  }
}

/** Hex form of a 3-byte meter id used as the key everywhere in the host. */
export function meterKey(id: Uint8Array): string {
  return toHex(id);
}
