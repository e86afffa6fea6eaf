import type { Command, Io } from './Command.js';
import { processIo, UsageError } from './Command.js';
import { MalformedDataError } from '../card/index.js';
import { keysDerive } from './commands/keys.js';
import { macCommand } from './commands/mac.js';
import { atrCommand } from './commands/atr.js';
import { cardServeCommand } from './commands/card-serve.js';
import { readersCommand } from './commands/readers.js';
import { meterSimulateCommand } from './commands/meter.js';
import { apduCommand } from './commands/apdu.js';
import { traceCommand } from './commands/trace.js';
import { cardCommand } from './commands/card.js';
import { hostServeCommand } from './commands/host.js';
import { hostKeysCommands } from './commands/host-keys.js';
import { demoCommand } from './commands/demo.js';

// Each command lives in its own file under commands/; add it here (one import, one entry).
const COMMANDS: Command[] = [
  keysDerive,
  macCommand,
  atrCommand,
  cardServeCommand,
  readersCommand,
  meterSimulateCommand,
  apduCommand,
  traceCommand,
  cardCommand,
  hostServeCommand,
  ...hostKeysCommands,
  demoCommand,
];

function help(io: Io): void {
  io.out('meterpurse: smart-card prepaid metering, modelled to the APDU\n\nCommands:\n');
  const rows = COMMANDS.map((c) => [c.path.join(' '), c.summary] as const).sort((a, b) =>
    a[0].localeCompare(b[0]),
  );
  const w = Math.max(0, ...rows.map((r) => r[0].length));
  for (const [p, s] of rows) io.out(`  ${p.padEnd(w)}  ${s}\n`);
  io.out('\nRun `meterpurse <command> --help` for its options.\n');
}

/** Runs the command line; resolves to the exit status. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    help(io);
    return argv.length === 0 ? 2 : 0;
  }
  // Longest matching path wins (`card serve` before `card`).
  let best: Command | undefined;
  for (const c of COMMANDS) {
    if (c.path.length <= argv.length && c.path.every((w, i) => argv[i] === w)) {
      if (!best || c.path.length > best.path.length) best = c;
    }
  }
  if (!best) {
    io.err(`meterpurse: unknown command '${argv.join(' ')}'\n`);
    help(io);
    return 2;
  }
  const rest = argv.slice(best.path.length);
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(`usage: meterpurse ${best.usage}\n\n${best.summary}\n`);
    return 0;
  }
  try {
    return await best.run(rest, io, { main });
  } catch (e) {
    if (e instanceof UsageError || e instanceof MalformedDataError) {
      io.err(`meterpurse ${best.path.join(' ')}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
