/**
 * Reconciliation of stored clearing records (issue 13), read-only over the database. It lives in
 * host/service/ (pure functions over ClearingRepository) so the service needs nothing of
 * host/clearing/; host/clearing re-exports it.
 *
 *
 * - per card and purse: the card counter moves by exactly 1 per transaction and never repeats, so
 *   a missing counter between two stored ones is a gap (records not collected yet), a second valid
 *   record at one counter a clone, and between neighbours c and c+1 the balance must move by the
 *   amount of c+1 (load up, debit down) or it breaks;
 * - per meter: the SVM counter moves by 1 per card credit, token, host credit or host-settled
 *   credit (a cancel repeats the counter before it and keeps its balance), so the same checks hold
 *   for the SVM's log.
 */
import type { ClearingRepository, SvmRecordRow } from './db/ClearingRepository.js';

/** Card log type of a load and SVM log type of a token (the same values as host/clearing/records.ts). */
const CARD_LOG_LOAD = 0x01;
/** A remote load (issue 17) credits the purse like a load. */
const CARD_LOG_REMOTE_LOAD = 0x03;
const SVM_LOG_TOKEN = 0x02;

export type CardFinding =
  | { readonly kind: 'gap'; readonly purse: number; readonly from: number; readonly to: number }
  | { readonly kind: 'clone'; readonly purse: number; readonly counter: number }
  | {
      readonly kind: 'balance-break';
      readonly purse: number;
      readonly counter: number;
      readonly expected: number;
      readonly got: number;
    };

export type MeterFinding =
  | { readonly kind: 'gap'; readonly from: number; readonly to: number }
  | { readonly kind: 'conflict'; readonly counter: number }
  | {
      readonly kind: 'balance-break';
      readonly counter: number;
      readonly expected: number;
      readonly got: number;
    };

export interface CardReconciliation {
  readonly csn: string;
  readonly purses: ReadonlyArray<{
    purse: number;
    first: number;
    last: number;
    records: number;
    balance: number;
  }>;
  readonly findings: readonly CardFinding[];
}

export interface MeterReconciliation {
  readonly meterId: string;
  readonly first: number | null;
  readonly last: number | null;
  readonly records: number;
  readonly balance: number | null;
  readonly findings: readonly MeterFinding[];
}

/** The card's records per purse: counter gaps, clones, balance breaks between neighbours. */
export function reconcileCard(repo: ClearingRepository, csn: string): CardReconciliation {
  const id = csn.toUpperCase();
  const rows = repo.cardRecords(id);
  const findings: CardFinding[] = [];
  const purses: Array<{ purse: number; first: number; last: number; records: number; balance: number }> = [];
  for (let i = 0; i < rows.length;) {
    const purse = rows[i]!.purse;
    let j = i;
    while (j < rows.length && rows[j]!.purse === purse) j++;
    const list = rows.slice(i, j);
    for (let k = 1; k < list.length; k++) {
      const a = list[k - 1]!;
      const b = list[k]!;
      if (b.counter !== a.counter + 1)
        findings.push({ kind: 'gap', purse, from: a.counter + 1, to: b.counter - 1 });
      else {
        const expected =
          b.type === CARD_LOG_LOAD || b.type === CARD_LOG_REMOTE_LOAD
            ? a.balanceAfter + b.amount
            : a.balanceAfter - b.amount;
        if (expected !== b.balanceAfter)
          findings.push({
            kind: 'balance-break',
            purse,
            counter: b.counter,
            expected,
            got: b.balanceAfter,
          });
      }
    }
    purses.push({
      purse,
      first: list[0]!.counter,
      last: list[list.length - 1]!.counter,
      records: list.length,
      balance: list[list.length - 1]!.balanceAfter,
    });
    i = j;
  }
  for (const c of repo.conflicts('card', id))
    findings.push({ kind: 'clone', purse: c.purse!, counter: c.counter });
  return { csn: id, purses, findings };
}

/** The meter's SVM records: counter continuity, conflicts, balance evolution record to record. */
export function reconcileMeter(repo: ClearingRepository, meterId: string): MeterReconciliation {
  const id = meterId.toUpperCase();
  const rows = repo.svmRecords(id);
  const findings: MeterFinding[] = [];
  let prev: SvmRecordRow | undefined;
  for (const r of rows) {
    if (prev) {
      const moves = r.rkey === '';
      const step = r.svmCounter - prev.svmCounter;
      if (moves && step > 1) findings.push({ kind: 'gap', from: prev.svmCounter + 1, to: r.svmCounter - 1 });
      const expected =
        moves && step === 1
          ? r.type === SVM_LOG_TOKEN
            ? prev.balanceAfter - r.amount
            : prev.balanceAfter + r.amount
          : !moves && step === 0
            ? prev.balanceAfter
            : undefined;
      if (expected !== undefined && expected !== r.balanceAfter)
        findings.push({ kind: 'balance-break', counter: r.svmCounter, expected, got: r.balanceAfter });
    }
    prev = r;
  }
  for (const c of repo.conflicts('svm', id)) findings.push({ kind: 'conflict', counter: c.counter });
  return {
    meterId: id,
    first: rows[0]?.svmCounter ?? null,
    last: prev?.svmCounter ?? null,
    records: rows.length,
    balance: prev?.balanceAfter ?? null,
    findings,
  };
}
