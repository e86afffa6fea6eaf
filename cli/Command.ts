import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Where a command writes; tests pass their own to capture output without a subprocess. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

/** The command line itself, as a command may call back into it (`trace record -- <command>`). */
export interface CommandLine {
  main(argv: string[], io: Io): Promise<number>;
}

/** One sub-command of the `meterpurse` command line. */
export interface Command {
  /** Words that select it, e.g. ['card', 'serve'] for `meterpurse card serve`. */
  readonly path: readonly string[];
  readonly summary: string;
  readonly usage: string;
  /** Returns the process exit status. Throws only for bugs; user errors are printed and return 2. */
  run(args: string[], io: Io, cli?: CommandLine): Promise<number>;
}

/** A user error: printed as one line without a stack, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

/**
 * `node:util` parseArgs in strict mode, with its errors (unknown option, missing value) turned into
 * a UsageError (with the command's usage line when given) and exit status 2.
 */
export function parseOptions<const O extends OptionSpecs, const P extends boolean = false>(
  args: string[],
  options: O,
  allowPositionals?: P,
  usage?: string,
): ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: P }>> {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: (allowPositionals ?? false) as P });
  } catch (e) {
    const hint = usage === undefined ? '' : `\nusage: meterpurse ${usage}`;
    throw new UsageError(`${(e as Error).message}${hint}`);
  }
}
