import { CardTimeoutError } from '../errors.js';

/**
 * Settles with `promise`, or rejects with a `CardTimeoutError` naming `operation` after `ms`.
 * The timer is cleared as soon as the promise settles.
 */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  operation: string,
  readerName?: string,
): Promise<T> {
  if (!Number.isFinite(ms)) return promise;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new CardTimeoutError(operation, ms, readerName)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** Checks a time limit argument. */
export function checkTimeout(ms: number, name: string): number {
  if (typeof ms !== 'number' || Number.isNaN(ms) || ms < 0)
    throw new RangeError(`${name} must be a number of milliseconds >= 0, got ${ms}`);
  return ms;
}
