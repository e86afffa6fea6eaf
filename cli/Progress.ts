import type { Io } from './Command.js';

/**
 * A progress line on stderr for work that takes seconds (`meter simulate` over years, a long trace
 * replay): `label  42 % (1533 of 3660 days)`, redrawn in place with a carriage return at most
 * every `intervalMs`, and erased by `done()` so the command's own output starts on a clean line.
 *
 * Why only on a terminal: a log file or a pipe would collect hundreds of `\r` fragments, and a
 * script reading stderr wants its one error line, nothing else. So when `io.errIsTTY` is not true
 * this object draws nothing at all.
 */
export class Progress {
  readonly #io: Io;
  readonly #label: string;
  readonly #unit: string;
  readonly #intervalMs: number;
  readonly #now: () => number;
  #last = -Infinity;
  #drawn = false;

  constructor(
    io: Io,
    label: string,
    unit: string,
    options: { intervalMs?: number; now?: () => number } = {},
  ) {
    this.#io = io;
    this.#label = label;
    this.#unit = unit;
    this.#intervalMs = options.intervalMs ?? 100;
    this.#now = options.now ?? Date.now;
  }

  /** Is anything drawn at all (stderr is a terminal)? */
  get enabled(): boolean {
    return this.#io.errIsTTY === true;
  }

  /** Reports `done` of `total`; redraws when the interval has passed (always for the last step). */
  update(done: number, total: number): void {
    if (!this.enabled) return;
    const t = this.#now();
    if (done < total && t - this.#last < this.#intervalMs) return;
    this.#last = t;
    const pct = total > 0 ? Math.floor((done * 100) / total) : 100;
    this.#io.err(`\r${this.#label} ${String(pct).padStart(3)} % (${done} of ${total} ${this.#unit})\x1b[K`);
    this.#drawn = true;
  }

  /** Erases the line, if one was drawn. */
  done(): void {
    if (this.#drawn) this.#io.err('\r\x1b[K');
    this.#drawn = false;
  }
}
