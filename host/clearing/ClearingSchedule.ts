/**
 * The clearing on a schedule, as `meterpurse host serve` runs it (docs/clearing.md "Schedule"):
 * every `intervalMs`, one round —
 *
 * ```
 *   for each registered meter:  collect (H = 55 upload pages from its cursor) → ingest
 *   then once:                  settlePending (decide what is due, send H = 54 settlements)
 *   then, when the blacklist version moved past what a meter confirmed:
 *                               distributeBlacklist to those meters (H = 56)
 * ```
 *
 * Why it is shaped so:
 * - One round at a time: the next round is timed from the *end* of the previous one (a chain of
 *   timeouts, not an interval), and `runRound` called while a round runs returns that round. A slow
 *   field therefore stretches the schedule instead of piling rounds on top of each other.
 * - A meter's failure is its own: a lost frame, a refused page or a dead modem is logged (and an
 *   event 'clearing-collect-failed' in the database) and the round goes on with the next meter.
 *   Nothing is lost by it — the meter's cursor stays where it was, so the next round asks again.
 * - Every step is already safe to repeat and to cut at any point (ClearingService rules 1–5), so
 *   stopping means only: no new round, and wait for the one in flight to end.
 */
import { RoundTimer } from '../RoundTimer.js';
import type { ClearingService, IngestResult, SettleOutcome } from './ClearingService.js';

/** What one round did. */
export interface ClearingRound {
  /** 1, 2, … since this schedule was made. */
  readonly round: number;
  /** Meters asked for their records, and the ones that failed (with why). */
  readonly meters: number;
  readonly failed: ReadonlyArray<{ readonly meterId: string; readonly step: string; readonly error: string }>;
  /** Records stored new in this round (SVM and card), pending transfers noted. */
  readonly stored: { readonly svm: number; readonly card: number; readonly pending: number };
  readonly settlements: readonly SettleOutcome[];
  /** Meters the blacklist was sent to (version confirmed or not), when it moved. */
  readonly blacklist: { readonly version: number; readonly sentTo: number };
}

export interface ClearingScheduleOptions {
  /** Time from the end of one round to the start of the next (ms, ≥ 1). */
  readonly intervalMs: number;
  /** The meters a round collects from (default: every meter registered in the host database). */
  readonly meters?: () => readonly string[];
  /** One line per noteworthy thing: a failed meter ('error'), a round that did something ('info'). */
  readonly log?: (level: 'info' | 'error', line: string) => void;
}

export class ClearingSchedule {
  readonly #c: ClearingService;
  readonly #o: ClearingScheduleOptions;
  readonly #timer: RoundTimer<ClearingRound>;
  /** Set by `stop()`: the round in flight ends after the meter it is at, and settles nothing more. */
  #halting = false;
  #round = 0;

  /**
   * @throws RangeError when `intervalMs` is not a positive integer.
   */
  constructor(clearing: ClearingService, options: ClearingScheduleOptions) {
    this.#c = clearing;
    this.#o = options;
    this.#timer = new RoundTimer(
      options.intervalMs,
      () => this.#roundBody(),
      // a round that could not even start (the database gone): said, and the schedule goes on
      (e) => options.log?.('error', `clearing round failed: ${e instanceof Error ? e.message : String(e)}`),
    );
  }

  /** Starts the schedule: the first round after one interval. Starting twice changes nothing. */
  start(): void {
    if (this.#timer.start()) this.#halting = false;
  }

  /** Stops the schedule and waits for the round in flight, if any, to end. */
  stop(): Promise<void> {
    this.#halting = true;
    return this.#timer.stop();
  }

  /** Whether a round is running now. */
  get busy(): boolean {
    return this.#timer.busy;
  }

  /**
   * Runs one round now (or joins the one running). Never throws for a meter's failure; the
   * settlement and blacklist steps' own failures are logged and reported in `failed` as meter '*'.
   */
  runRound(): Promise<ClearingRound> {
    return this.#timer.runRound();
  }

  async #roundBody(): Promise<ClearingRound> {
    const c = this.#c;
    const round = ++this.#round;
    const failed: Array<{ meterId: string; step: string; error: string }> = [];
    const fail = (meterId: string, step: string, e: unknown) => {
      const error = e instanceof Error ? e.message : String(e);
      failed.push({ meterId, step, error });
      this.#o.log?.('error', `clearing round ${round}: ${step} ${meterId}: ${error}`);
      try {
        c.db.event({
          kind: `clearing-${step}-failed`,
          ...(meterId !== '*' ? { meterId } : {}),
          detail: error,
        });
      } catch {
        // the database itself failing is logged above; the round goes on
      }
    };
    const meters = [...(this.#o.meters?.() ?? c.repo.meterIds())];
    const stored = { svm: 0, card: 0, pending: 0 };
    for (const m of meters) {
      if (this.#halting) break; // stopping: the meters not reached yet wait for the next start
      try {
        for (const r of await c.collect(m)) add(stored, r);
      } catch (e) {
        fail(m, 'collect', e);
      }
    }
    let settlements: SettleOutcome[] = [];
    if (this.#halting)
      return {
        round,
        meters: meters.length,
        failed,
        stored,
        settlements,
        blacklist: { version: 0, sentTo: 0 },
      };
    try {
      settlements = await c.settlePending();
    } catch (e) {
      fail('*', 'settle', e);
    }
    const blacklist = { version: 0, sentTo: 0 };
    try {
      const list = c.repo.blacklist();
      blacklist.version = list.version;
      const behind = meters.filter((m) => (c.repo.meterBlacklistVersion(m) ?? 0) < list.version);
      if (list.version > 0 && behind.length > 0) {
        const sent = await c.distributeBlacklist(behind);
        blacklist.sentTo = sent.length;
        for (const s of sent)
          if (s.status.startsWith('failed')) fail(s.meterId, 'blacklist', new Error(s.status));
      }
    } catch (e) {
      fail('*', 'blacklist', e);
    }
    const done = settlements.filter((s) => s.state === 'settled').length;
    if (stored.svm + stored.card + stored.pending + done + blacklist.sentTo > 0)
      this.#o.log?.(
        'info',
        `clearing round ${round}: ${meters.length} meter(s), stored ${stored.svm} SVM / ${stored.card} card record(s), ` +
          `${stored.pending} pending noted, ${done} settled, blacklist v${blacklist.version} sent to ${blacklist.sentTo}`,
      );
    return { round, meters: meters.length, failed, stored, settlements, blacklist };
  }
}

function add(into: { svm: number; card: number; pending: number }, r: IngestResult): void {
  into.svm += r.svm.stored;
  into.card += r.card.stored;
  into.pending += r.pending;
}
