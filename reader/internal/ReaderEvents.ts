import type { ReaderEvent, ReaderListener } from '../Reader.js';
import { CardTimeoutError, ReaderUnavailableError } from '../errors.js';

/** Listener bookkeeping and the waitForCard / waitForRemoval logic shared by every reader. */
export class ReaderEvents {
  readonly #listeners = new Set<ReaderListener>();

  constructor(readonly readerName: string) {}

  on(listener: ReaderListener): () => void {
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(event: ReaderEvent): void {
    for (const l of [...this.#listeners]) {
      try {
        l(event);
      } catch {
        // A listener's bug must not stop the reader or the other listeners.
      }
    }
  }

  /**
   * Resolves with `now()` if it is already defined, else with `fromEvent(e)` for the first event
   * that defines it. Rejects on timeout and when the reader becomes unavailable.
   */
  waitFor<T>(
    now: () => T | undefined,
    fromEvent: (e: ReaderEvent) => T | undefined,
    timeoutMs: number,
    operation: string,
  ): Promise<T> {
    const ready = now();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise<T>((resolve, reject) => {
      const off = this.on((e) => {
        if (e.type === 'unavailable') {
          done();
          reject(
            new ReaderUnavailableError(
              `reader '${this.readerName}' went away while ${operation}: ${e.reason}`,
              this.readerName,
            ),
          );
          return;
        }
        const v = fromEvent(e);
        if (v !== undefined) {
          done();
          resolve(v);
        }
      });
      const timer = setTimeout(() => {
        done();
        reject(new CardTimeoutError(operation, timeoutMs, this.readerName));
      }, timeoutMs);
      function done(): void {
        off();
        clearTimeout(timer);
      }
    });
  }
}
