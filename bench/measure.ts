/** Runs `fn` repeatedly for at least `ms` milliseconds (after a warm-up) and returns operations per second. */
export function opsPerSecond(fn: () => unknown, ms = 1000, batch = 1000): number {
  const warm = performance.now() + Math.min(200, ms / 4);
  while (performance.now() < warm) for (let i = 0; i < batch; i++) fn();
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < batch; i++) fn();
    n += batch;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

/** The same for an async function, one call at a time. */
export async function opsPerSecondAsync(fn: () => Promise<unknown>, ms = 1000): Promise<number> {
  const warm = performance.now() + Math.min(200, ms / 4);
  while (performance.now() < warm) await fn();
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    await fn();
    n++;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

/** Median and 99th percentile of a list of durations. */
export function percentiles(samples: number[]): { median: number; p99: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { median: at(0.5), p99: at(0.99) };
}
