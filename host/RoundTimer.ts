/**
 * One piece of background work run in rounds on a timer (the clearing and the relay of `host
 * serve`): the next round is timed from the *end* of the previous one (a chain of timeouts, not
 * an interval), `runRound` called while a round runs returns that round, and `stop` waits for the
 * round in flight. A slow field therefore stretches the schedule instead of piling rounds up.
 */
export class RoundTimer<T> {
  readonly #intervalMs: number;
  readonly #body: () => Promise<T>;
  readonly #onError: (e: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<T> | undefined;
  #stopped = true;

  /**
   * @param body one round
   * @param onError told of a round that failed as a whole (the schedule goes on)
   * @throws RangeError when `intervalMs` is not a positive integer.
   */
  constructor(intervalMs: number, body: () => Promise<T>, onError: (e: unknown) => void) {
    if (!Number.isInteger(intervalMs) || intervalMs < 1)
      throw new RangeError(`intervalMs must be a positive integer, got ${intervalMs}`);
    this.#intervalMs = intervalMs;
    this.#body = body;
    this.#onError = onError;
  }

  /** Starts the rounds: the first after one interval. @returns false when already started. */
  start(): boolean {
    if (!this.#stopped) return false;
    this.#stopped = false;
    this.#arm();
    return true;
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.runRound()
        .catch((e: unknown) => this.#onError(e))
        .finally(() => this.#arm());
    }, this.#intervalMs);
  }

  /** Stops the rounds and waits for the one in flight, if any, to end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#running) await this.#running.catch(() => undefined);
  }

  /** Whether a round is running now. */
  get busy(): boolean {
    return this.#running !== undefined;
  }

  /** Runs one round now, or joins the one running. */
  runRound(): Promise<T> {
    if (this.#running) return this.#running;
    const run = this.#body().finally(() => {
      this.#running = undefined;
    });
    this.#running = run;
    return run;
  }
}
