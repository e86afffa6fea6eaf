import type { Command, Io } from '../Command.js';
import { CommandError, UsageError } from '../Command.js';
import type { CardOs } from '../../card/index.js';
import { toHex } from '../../card/index.js';
import { CARD_FILE_OPTIONS, describeRngSeed, openCardFileSeeded } from './card.js';
import { CardFileLock, CardFileLockedError, openCardFile, type CardFileOptions } from '../cardfile/index.js';
import { VPCD_DEFAULT_HOST, VPCD_DEFAULT_PORT, VpcdBridge, type BridgeEvent } from '../../reader/index.js';

/** What `openCardFile` gives: the card and a way to persist it (atomically). */
export interface CardFileHandle {
  readonly card: CardOs;
  save(): void | Promise<void>;
  /** When the runtime says whether anything changed since the last save, only then is it saved. */
  readonly dirty?: boolean;
  /** false for a lab (unsealed) card file: the command warns that anyone can edit it. */
  readonly sealed?: boolean;
}

export type CardFileOpener = (path: string) => CardFileHandle | Promise<CardFileHandle>;

export interface ServeOptions {
  host?: string;
  port?: number;
  io: Io;
  /** Ends the serving (the command wires SIGINT/SIGTERM to it). */
  signal: AbortSignal;
  open?: CardFileOpener;
  /** Called once when vpcd accepted the card (tests wait on it). */
  onConnected?: () => void;
}

/**
 * Serves the card of a card file to vpcd until `signal` aborts, saving the card's state after
 * each command that changed it (known from the store's write count; after each command when the
 * runtime cannot tell), on power off, when vpcd goes away and on exit. The save runs before the
 * response goes back, so a card that answered has its state on disk. The runtime's save is atomic, so the file is never left
 * half-written whatever moment the process dies.
 * @returns 0, or 1 when a save failed (the error was printed).
 */
export async function serveCardFile(path: string, options: ServeOptions): Promise<number> {
  const { io } = options;
  let handle: CardFileHandle;
  try {
    handle = await (options.open ?? openCardFile)(path);
  } catch (e) {
    throw new UsageError(`cannot open card file '${path}': ${e instanceof Error ? e.message : String(e)}`);
  }
  if (handle.sealed === false)
    io.err(
      `card serve: WARNING: '${path}' is an UNSEALED LAB card file (--unsealed): anyone who can write it can change the card\n`,
    );
  let saveFailed = false;
  let saving: Promise<void> = Promise.resolve();
  const failed = (why: string, e: unknown): void => {
    saveFailed = true;
    io.err(
      `card serve: saving '${path}' after ${why} failed: ${e instanceof Error ? e.message : String(e)}\n`,
    );
  };
  // A synchronous save (the card runtime's) completes here, before the bridge sends the answer:
  // a card that answered has its state on disk even if the process is killed right after.
  // An asynchronous one is chained so that saves never overlap.
  const save = (why: string): Promise<void> => {
    try {
      const pending = handle.save();
      if (pending instanceof Promise)
        saving = saving.then(() => pending).catch((e: unknown) => failed(why, e));
    } catch (e) {
      failed(why, e);
    }
    return saving;
  };
  // Did the last command change persistent state? The runtime's dirty flag when it has one, else
  // its store's count of low-level writes (reads never write), else assume it did.
  const store = (handle.card as { store?: { writeCount?: unknown } }).store;
  const writes = (): number | undefined =>
    typeof store?.writeCount === 'number' ? store.writeCount : undefined;
  let savedAt = writes();
  const changed = (): boolean => {
    if (typeof handle.dirty === 'boolean') return handle.dirty;
    const now = writes();
    if (now === undefined) return true;
    if (now === savedAt) return false;
    savedAt = now;
    return true;
  };
  const afterEvent = (e: BridgeEvent): void => {
    if (e.kind === 'apdu') {
      if (changed()) void save(`command ${toHex(e.command.subarray(0, 4))}`);
    } else if (e.kind === 'power-off' || e.kind === 'disconnected') void save(e.kind);
  };

  let first = true;
  const bridge = new VpcdBridge(handle.card, {
    host: options.host,
    port: options.port,
    afterEvent,
    log: (line) => {
      if (first && line.startsWith('connected to vpcd')) return;
      io.err(`card serve: ${line}\n`);
    },
  });
  bridge.onConnected(() => {
    if (!first) return;
    first = false;
    io.out(`serving ${path} (ATR ${toHex(handle.card.atr)}) to vpcd at ${bridge.host}:${bridge.port}\n`);
    options.onConnected?.();
  });
  bridge.start();
  await new Promise<void>((resolve) => {
    if (options.signal.aborted) resolve();
    else options.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await bridge.stop();
  if (handle.card.powered) handle.card.powerDown();
  await save('exit');
  return saveFailed ? 1 : 0;
}

/** Parses `host:port` (IPv6 in brackets: `[::1]:35963`). */
export function parseVpcdAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535)
    throw new UsageError(
      `--vpcd wants host:port (e.g. ${VPCD_DEFAULT_HOST}:${VPCD_DEFAULT_PORT}), got '${text}'`,
    );
  return { host: m[1] ?? m[2]!, port };
}

/** `meterpurse card serve <card-file> [--vpcd host:port] [--key-file PATH] [--unsealed] [--moved]` */
export const cardServeCommand: Command = {
  path: ['card', 'serve'],
  summary: "serve a card file as a card in vpcd's reader (PC/SC), saving its state",
  usage: `card serve <card-file> [--vpcd ${VPCD_DEFAULT_HOST}:${VPCD_DEFAULT_PORT}] [--key-file <path>] [--unsealed] [--moved] [--rng-seed <seed>]`,
  options: {
    vpcd: {
      type: 'string',
      value: '<host:port>',
      help: "where vpcd (vsmartcard's virtual PC/SC reader) listens; IPv6 in brackets",
      byDefault: `${VPCD_DEFAULT_HOST}:${VPCD_DEFAULT_PORT}`,
    },
    ...CARD_FILE_OPTIONS,
    'rng-seed': {
      type: 'string',
      value: '<seed>',
      help: "seed the card's random source (a deterministic lab card, NOT for real keys): state it in traces as @x-rng-seed; overrides the seed a card file made with card new --rng-seed stores",
      byDefault: "the card file's own seed (card new --rng-seed), else the OS random source",
    },
  },
  examples: [
    'card serve my.card',
    'card serve my.card --vpcd 127.0.0.1:35963 --key-file /etc/meterpurse/card.key',
  ],
  async run(args, io) {
    let file: string | undefined;
    let address = { host: VPCD_DEFAULT_HOST, port: VPCD_DEFAULT_PORT };
    const fileOptions: CardFileOptions = {};
    let rngSeed: string | undefined;
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (a === '--vpcd') {
        const v = args[++i];
        if (v === undefined) throw new UsageError('--vpcd needs host:port');
        address = parseVpcdAddress(v);
      } else if (a.startsWith('--vpcd=')) address = parseVpcdAddress(a.slice(7));
      else if (a === '--key-file') {
        const v = args[++i];
        if (v === undefined) throw new UsageError('--key-file needs a path');
        fileOptions.keyFile = v;
      } else if (a.startsWith('--key-file=')) fileOptions.keyFile = a.slice(11);
      else if (a === '--unsealed') fileOptions.unsealed = true;
      else if (a === '--moved') fileOptions.moved = true;
      else if (a === '--rng-seed') {
        // A deterministic lab card: its challenges repeat, so a recorded authenticated session replays.
        const v = args[++i];
        if (v === undefined || v === '') throw new UsageError('--rng-seed needs a seed');
        rngSeed = v;
      } else if (a.startsWith('-')) throw new UsageError(`unknown option '${a}'`);
      else if (file === undefined) file = a;
      else throw new UsageError(`one card file only, got '${file}' and '${a}'`);
    }
    if (file === undefined)
      throw new UsageError('which card file? usage: meterpurse card serve <card-file> [--vpcd host:port]');
    // One process per card file: the second would save over the first (cli/cardfile/CardFileLock.ts).
    let lock: CardFileLock;
    try {
      lock = CardFileLock.acquire(file);
    } catch (e) {
      if (e instanceof CardFileLockedError) throw new CommandError(e.message);
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new UsageError(`cannot open card file '${file}': ${(e as Error).message}`);
      throw new CommandError(`cannot lock card file '${file}': ${(e as Error).message}`, { cause: e });
    }
    const stop = new AbortController();
    const onSignal = (): void => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      return await serveCardFile(file, {
        ...address,
        io,
        signal: stop.signal,
        open: (p) => {
          // The flag, else the seed the card file stores (card new --rng-seed), else the OS's.
          const s = openCardFileSeeded(p, fileOptions, rngSeed);
          if (s.rngSeed !== undefined)
            io.err(
              `card serve: ${describeRngSeed(s)}: a DETERMINISTIC LAB card (its challenges repeat), NOT for real use\n`,
            );
          return s.opened;
        },
      });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      lock.release();
    }
  },
};
