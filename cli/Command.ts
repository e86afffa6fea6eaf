/** Where a command writes; tests pass their own to capture output without a subprocess. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

/** One sub-command of the `meterpurse` command line. */
export interface Command {
  /** Words that select it, e.g. ['card', 'serve'] for `meterpurse card serve`. */
  readonly path: readonly string[];
  readonly summary: string;
  readonly usage: string;
  /** Returns the process exit status. Throws only for bugs; user errors are printed and return 2. */
  run(args: string[], io: Io): Promise<number>;
}

/** A user error: printed as one line without a stack, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
