import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command, Io } from './Command.js';
import { CommandError, helpText, processIo, UsageError, watchStdout } from './Command.js';
import { MalformedDataError } from '../card/index.js';
import { keysDerive } from './commands/keys.js';
import { macCommand } from './commands/mac.js';
import { atrCommand } from './commands/atr.js';
import { cardServeCommand } from './commands/card-serve.js';
import { cardBlankCommand } from './commands/card-blank.js';
import { readersCommand } from './commands/readers.js';
import { meterSimulateCommand } from './commands/meter.js';
import { apduCommand } from './commands/apdu.js';
import { traceCommands } from './commands/trace.js';
import { cardCommands } from './commands/card.js';
import { cardIssueCommand } from './commands/issue.js';
import { hostServeCommand } from './commands/host.js';
import { hostKeysCommands } from './commands/host-keys.js';
import { demoCommand } from './commands/demo.js';
import { ceremonyCommands } from './commands/ceremony.js';
import { conformanceCommands } from './commands/conformance.js';
import { cardPersonaliseCommands } from './commands/card-personalise.js';
import { utilityCommands } from './commands/utility.js';

// Each command lives in its own file under commands/; add it here (one import, one entry).
const COMMANDS: Command[] = [
  keysDerive,
  ...ceremonyCommands,
  macCommand,
  atrCommand,
  ...cardCommands,
  cardIssueCommand,
  cardBlankCommand,
  ...cardPersonaliseCommands,
  cardServeCommand,
  readersCommand,
  meterSimulateCommand,
  apduCommand,
  ...traceCommands,
  hostServeCommand,
  ...hostKeysCommands,
  demoCommand,
  ...conformanceCommands,
  ...utilityCommands,
];

/** Every registered command (tests check each one's --help against its parser). */
export function registeredCommands(): readonly Command[] {
  return COMMANDS;
}

/**
 * Exit statuses (README, "Command line"): what a script may rely on.
 * 0 done; 1 the work failed (a file cannot be written, a port in use, a card file in use, a replay
 * found differences); 2 usage or bad input (unknown command or option, bad value, malformed or
 * missing input file, a file that would be overwritten); 70 an internal error (a bug);
 * 141 stdout was closed by its reader (`| head`), as a shell reports SIGPIPE.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, internal: 70, pipeClosed: 141 } as const;

function help(io: Io): void {
  io.out('meterpurse: smart-card prepaid metering, modelled to the APDU\n\nCommands:\n');
  listCommands(COMMANDS, io);
  io.out(
    '\nRun `meterpurse <command> --help` for its options; `meterpurse --version` for the version.\n' +
      'Global option: --verbose (a failure also prints its stack).\n',
  );
}

function listCommands(commands: readonly Command[], io: Io): void {
  const rows = commands
    .map((c) => [c.path.join(' '), c.summary] as const)
    .sort((a, b) => a[0].localeCompare(b[0]));
  const w = Math.max(0, ...rows.map((r) => r[0].length));
  for (const [p, s] of rows) io.out(`  ${p.padEnd(w)}  ${s}\n`);
}

/** The commands under a group of words (`card`, `host keys`), in registration order. */
function commandsUnder(words: readonly string[]): Command[] {
  return COMMANDS.filter((c) => c.path.length > words.length && words.every((w, i) => c.path[i] === w));
}

/** The package's version, read from its package.json at run time (source and dist layouts). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'meterpurse' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not here: one folder up
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

/** One line: the message with embedded usage lines dropped (`--help` shows them) and no line breaks. */
function oneLine(message: string): string {
  const cut = message.search(/(\n|; )usage: /);
  return (cut >= 0 ? message.slice(0, cut) : message).replace(/\s*\n\s*/g, ' ').trim();
}

function printStack(e: unknown, io: Io): void {
  let x: unknown = e;
  for (let depth = 0; x instanceof Error && depth < 5; depth++) {
    io.err(`${depth ? 'caused by: ' : ''}${x.stack ?? x.message}\n`);
    x = x.cause;
  }
  if (!(e instanceof Error)) io.err(`${String(e)}\n`);
}

/** Runs the command line; resolves to the exit status. Never throws: every failure is one line. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const stdoutGone = io === processIo ? watchStdout() : () => false;
  // --verbose is global: taken out wherever it stands before a `--` (after it, the words belong
  // to the command that `trace record --` runs).
  const dashes = argv.indexOf('--');
  const own = dashes < 0 ? argv : argv.slice(0, dashes);
  const verbose = own.includes('--verbose');
  if (verbose) argv = [...own.filter((a) => a !== '--verbose'), ...(dashes < 0 ? [] : argv.slice(dashes))];
  const status = await dispatch(argv, io, verbose);
  return stdoutGone() ? EXIT.pipeClosed : status;
}

async function dispatch(argv: string[], io: Io, verbose: boolean): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    help(io);
    return argv.length === 0 ? EXIT.usage : EXIT.ok;
  }
  if (argv[0] === '--version' || argv[0] === '-V') {
    io.out(`${packageVersion()}\n`);
    return EXIT.ok;
  }
  // Longest matching path wins (`card serve` before `card`).
  let best: Command | undefined;
  for (const c of COMMANDS) {
    if (c.path.length <= argv.length && c.path.every((w, i) => argv[i] === w)) {
      if (!best || c.path.length > best.path.length) best = c;
    }
  }
  if (!best) {
    // A group word (`keys`, `host keys`): its commands, or which of them was meant.
    let n = 0;
    while (n < argv.length && commandsUnder(argv.slice(0, n + 1)).length) n++;
    if (n > 0) {
      const group = argv.slice(0, n);
      const next = argv[n];
      const under = commandsUnder(group);
      if (next === undefined || next === '--help' || next === '-h') {
        io.out(`meterpurse ${group.join(' ')}: its commands\n\n`);
        listCommands(under, io);
        io.out(`\nRun \`meterpurse ${group.join(' ')} <command> --help\` for its options.\n`);
        return next === undefined ? EXIT.usage : EXIT.ok;
      }
      const words = [...new Set(under.map((c) => c.path[n]!))];
      io.err(
        `meterpurse ${group.join(' ')}: unknown sub-command '${next}': want one of ${words.join(', ')} (see meterpurse ${group.join(' ')} --help)\n`,
      );
      return EXIT.usage;
    }
    io.err(`meterpurse: unknown command '${argv.join(' ')}' (see meterpurse --help)\n`);
    return EXIT.usage;
  }
  const rest = argv.slice(best.path.length);
  const ownRest = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (ownRest.includes('--help') || ownRest.includes('-h')) {
    io.out(helpText(best));
    return EXIT.ok;
  }
  const name = `meterpurse ${best.errorName ?? best.path.join(' ')}`;
  try {
    return await best.run(rest, io, { main });
  } catch (e) {
    let status: number;
    if (e instanceof UsageError || e instanceof MalformedDataError) {
      io.err(`${name}: ${oneLine(e.message)}\n`);
      status = EXIT.usage;
    } else if (e instanceof CommandError) {
      io.err(`${name}: ${oneLine(e.message)}\n`);
      status = EXIT.failed;
    } else {
      const why = e instanceof Error ? e.message : String(e);
      io.err(`${name}: internal error: ${oneLine(why)}${verbose ? '' : ' (--verbose shows the stack)'}\n`);
      status = EXIT.internal;
    }
    if (verbose) printStack(e, io);
    return status;
  }
}
