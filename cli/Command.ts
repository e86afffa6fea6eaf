import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Where a command writes; tests pass their own to capture output without a subprocess. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /**
   * Is `err` a terminal? Only then do long commands draw a progress line there (a log file or a
   * pipe gets none). Absent means no.
   */
  readonly errIsTTY?: boolean;
}

/** Set once stdout failed (EPIPE: `meterpurse … | head` closed it); later output is dropped. */
let stdoutGone = false;
let watching = false;

export const processIo: Io = {
  out: (t) => {
    if (!stdoutGone) process.stdout.write(t);
  },
  err: (t) => process.stderr.write(t),
  get errIsTTY() {
    return process.stderr.isTTY === true;
  },
};

/**
 * Makes a closed stdout (the reader of a pipe went away) end the output quietly instead of an
 * unhandled 'error' event and a stack trace. Idempotent.
 * @returns a function telling whether stdout has gone.
 */
export function watchStdout(): () => boolean {
  if (!watching) {
    watching = true;
    process.stdout.on('error', () => {
      // EPIPE, or any other failure of the stream: nothing more can be written there. The write
      // fails asynchronously, maybe after main() returned: the status is set here too (141, as a
      // shell reports SIGPIPE; cli/main.ts EXIT.pipeClosed).
      stdoutGone = true;
      process.exitCode = 141;
    });
  }
  return () => stdoutGone;
}

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
  /** Every option the command accepts, for its `--help` (and, where it uses parseOptions, its parser). */
  readonly options?: OptionDocs;
  /**
   * The words its one-line errors start with (default: `path`). The card and trace sub-commands
   * keep `card` / `trace`, as when they were one command, so scripts matching those lines still do.
   */
  readonly errorName?: string;
  /** Whole command lines shown under `--help`, without the leading `meterpurse`. */
  readonly examples?: readonly string[];
  /**
   * Returns the process exit status. Throws UsageError for bad input (2), CommandError when the
   * work fails (1); anything else is a bug (70). cli/main.ts prints each as one line.
   */
  run(args: string[], io: Io, cli?: CommandLine): Promise<number>;
}

/** A user error: printed as one line without a stack, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * A failure of the command's work, not of its arguments (a file that cannot be written, a port in
 * use, a card file in use): printed as one line, exit status 1; `cause` is shown under --verbose.
 */
export class CommandError extends Error {
  override readonly name = 'CommandError';
}

/**
 * One option as documented in `--help`: its parseArgs type, the placeholder of its value, what it
 * does and what it is when not given. Extra fields are ignored by parseArgs, so the same table is
 * the parser's spec.
 */
export interface OptionDoc {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  /** Placeholder of the value, e.g. `<file>`; string options only. */
  readonly value?: string;
  readonly help: string;
  /** The value used when the option is absent, as the user would write it; or 'required'. */
  readonly byDefault?: string;
}

export type OptionDocs = Readonly<Record<string, OptionDoc>>;

/** The `--help` text of a command: usage, summary, each option with its default, examples. */
export function helpText(c: Command): string {
  const lines = [`usage: meterpurse ${c.usage}`, '', c.summary];
  const opts = Object.entries(c.options ?? {});
  if (opts.length) {
    lines.push('', 'Options:');
    const heads = opts.map(([n, o]) => `--${n}${o.type === 'string' ? ` ${o.value ?? '<value>'}` : ''}`);
    const w = Math.min(28, Math.max(...heads.map((h) => h.length)));
    opts.forEach(([, o], i) => {
      const head = heads[i]!;
      const extra = [
        o.multiple ? 'may be repeated' : '',
        o.byDefault === undefined ? '' : o.byDefault === 'required' ? 'required' : `default: ${o.byDefault}`,
      ].filter(Boolean);
      const text = `${o.help}${extra.length ? ` (${extra.join('; ')})` : ''}`;
      lines.push(
        head.length > w
          ? `  ${head}
  ${''.padEnd(w)}  ${text}`
          : `  ${head.padEnd(w)}  ${text}`,
      );
    });
  }
  lines.push('', 'Global options: --verbose (a failure also prints its stack), --help');
  if (c.examples?.length) lines.push('', 'Examples:', ...c.examples.map((e) => `  meterpurse ${e}`));
  return `${lines.join('\n')}\n`;
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
