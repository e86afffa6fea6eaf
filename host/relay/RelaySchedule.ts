/**
 * The relay on a timer, as `meterpurse host serve --relay-interval s` runs it: every `intervalMs`
 * one {@link RelayService.relayOnce} round, on the host's RoundTimer (as the clearing's schedule): the
 * next round is timed from the end of the previous one, `runRound` during a round joins it, `stop`
 * waits for the round in flight. Every step of a round is safe to cut (RelayService rules 4, 5).
 */
import { RoundTimer } from '../RoundTimer.js';
import type { RelayMeterResult, RelayService } from './RelayService.js';

export interface RelayScheduleOptions {
  /** Time from the end of one round to the start of the next (ms, ≥ 1). */
  readonly intervalMs: number;
  /**
   * Every this many rounds, a round asks every registered meter (not only those with commands), so
   * the offline readings meters found on cards come in (default 10; 1 = every round).
   */
  readonly collectEvery?: number;
  readonly log?: (level: 'info' | 'error', line: string) => void;
}

export class RelaySchedule {
  readonly #relay: RelayService;
  readonly #o: RelayScheduleOptions;
  readonly #timer: RoundTimer<RelayMeterResult[]>;
  #round = 0;

  /** @throws RangeError when `intervalMs` or `collectEvery` is not a positive integer. */
  constructor(relay: RelayService, options: RelayScheduleOptions) {
    if (
      options.collectEvery !== undefined &&
      (!Number.isInteger(options.collectEvery) || options.collectEvery < 1)
    )
      throw new RangeError(`collectEvery must be a positive integer, got ${options.collectEvery}`);
    this.#relay = relay;
    this.#o = options;
    this.#timer = new RoundTimer(
      options.intervalMs,
      () => this.#roundBody(),
      (e) => options.log?.('error', `relay round failed: ${e instanceof Error ? e.message : String(e)}`),
    );
  }

  /** Starts the schedule: the first round after one interval. Starting twice changes nothing. */
  start(): void {
    this.#timer.start();
  }

  /** Stops the schedule and waits for the round in flight, if any. */
  stop(): Promise<void> {
    return this.#timer.stop();
  }

  get busy(): boolean {
    return this.#timer.busy;
  }

  /** Runs one round now, or joins the one running. */
  runRound(): Promise<RelayMeterResult[]> {
    return this.#timer.runRound();
  }

  async #roundBody(): Promise<RelayMeterResult[]> {
    const round = ++this.#round;
    const all = round % (this.#o.collectEvery ?? 10) === 0;
    const results = await this.#relay.relayOnce(all ? this.#relay.repo.allMeters() : undefined);
    for (const r of results)
      if (r.error) this.#o.log?.('error', `relay round ${round}: meter ${r.meterId}: ${r.error}`);
    const stored = results.reduce((s, r) => s + r.answersStored + r.readingsStored, 0);
    if (stored > 0)
      this.#o.log?.(
        'info',
        `relay round ${round}: ${results.length} meter(s), ${stored} answer(s)/reading(s) stored`,
      );
    return results;
  }
}
