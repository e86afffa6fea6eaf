/**
 * `meterpurse trace …`: APDU traces for test labs (docs/trace-format.md).
 *
 *   trace replay <trace> (--card <file> | --profile <id> | --reader <name>) [--json] [--save] [--raw]
 *   trace replay <trace> (--card|--reader|--profile <channel>=<target>)… | --channel <id> …   (version 2)
 *   trace record (--card <file> | --profile <id> | --reader <name>) --out <trace>
 *                [--save] [--raw] [--no-timing] [--comment <text>] (<script> | -- <apdu hex>…)
 *   (a card file takes the card-file options of `card show`: --key-file <path>, --unsealed, --moved)
 *   trace record --out <trace> -- <meterpurse command…>   (channels opened through recordIfAsked)
 *   trace import (--pcsc-spy | --scriptor-output | --format pcapng) <log> [--out <trace>]
 *   trace export <trace> --scriptor [--out <file>]
 *   trace check <trace> [--json]
 *
 * Exit status: 0 success (replay: nothing unmasked differs), 1 replay found differences or an
 * output file cannot be written, 2 usage errors, unreadable or malformed files, unknown readers,
 * card files that cannot be opened, a log with no exchange (a script given as scriptor output).
 */
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { Command, CommandLine, Io, OptionDocs } from '../Command.js';
import { CommandError, UsageError } from '../Command.js';
import { Progress } from '../Progress.js';
import { CommandApdu } from '../../card/index.js';
import { MalformedDataError } from '../../card/index.js';
import { fromHex } from '../../card/index.js';
import type { CardFileOptions } from '../cardfile/index.js';
import { describeRngSeed, openCardFileSeeded, type SeededCardFile } from './card.js';
import { buildCard, listProfiles } from '../../card/index.js';
import { SeededRng } from '../../card/index.js';
import { CardChannelError, type CardChannel } from '../../reader/index.js';
import type { ConnectOptions } from '../../reader/index.js';
import { VirtualReader } from '../../reader/index.js';
import { importPcapng } from '../../reader/index.js';
import {
  FileTraceSink,
  RecordingChannel,
  Trace,
  TRACE_LIMITS,
  exportScriptorScript,
  importPcscSpy,
  importScriptorOutput,
  parseScriptorScript,
  closeRecording,
  recorderFor,
  recordIfAsked,
  replayTrace,
  TRACE_RECORD_ENV,
  spacedHex,
  responseText,
  type ReplayReport,
  type ScriptStep,
} from '../../reader/index.js';

const USAGE = `trace replay <trace> (--card <file> | --profile <id> | --reader <name>) [--json] [--save] [--raw]
       meterpurse trace replay <trace> (--card <ch>=<file> | --profile <ch>=<id> | --reader <ch>=<name>)… [--rng-seed <ch>=<seed>]… | --channel <ch> …
       meterpurse trace record (--card <file> | --profile <id> | --reader <name>) --out <trace> [--save] [--raw] [--no-timing] [--comment <text>] (<script> | -- <apdu hex>…)
       meterpurse trace record --out <trace> -- <meterpurse command…>
       meterpurse trace import (--pcsc-spy | --scriptor-output | --format pcapng) <log> [--out <trace>]
       meterpurse trace export <trace> --scriptor [--out <file>]
       meterpurse trace check <trace> [--json]
       (with --card <file>: [--key-file <path>] [--unsealed] [--moved], as for card show)`;

const TARGET_OPTIONS = {
  card: { type: 'string', value: '<file>', help: 'a card file (see card new) as the card' },
  profile: {
    type: 'string',
    value: '<id>',
    help: 'a fresh card of a built-in profile (e.g. iso-fs), kept nowhere',
  },
  reader: { type: 'string', value: '<name>', help: 'the card in a PC/SC reader (see readers)' },
  save: { type: 'boolean', help: "save the card file's new state afterwards (with --card)" },
  raw: {
    type: 'boolean',
    help: 'send the commands as they are: no automatic GET RESPONSE (61xx) or resend on wrong Le (6Cxx)',
  },
  'key-file': {
    type: 'string',
    value: '<path>',
    help: 'the card key of --card (as for card show)',
    byDefault: '~/.config/meterpurse/card.key',
  },
  unsealed: { type: 'boolean', help: '--card is an unsealed lab file' },
  moved: { type: 'boolean', help: '--card was moved or copied on purpose' },
  'rng-seed': {
    type: 'string',
    value: '<seed>',
    help: 'a deterministic card: its random source seeded (SeededRng) so challenges repeat; stated in the trace as @x-rng-seed; overrides the seed of a card file made with card new --rng-seed (used when no flag is given)',
  },
} as const satisfies OptionDocs;

const REPLAY_OPTIONS = {
  ...TARGET_OPTIONS,
  json: { type: 'boolean', help: 'print the report as JSON' },
  channel: {
    type: 'string',
    value: '<id>',
    help: 'replay one channel of a multi-channel (version 2) trace; several channels take one target each: --card <channel>=<file>, --reader <channel>=<name>, --profile <channel>=<id>, --rng-seed <channel>=<seed>, repeated',
  },
} as const satisfies OptionDocs;

const RECORD_OPTIONS = {
  ...TARGET_OPTIONS,
  out: { type: 'string', value: '<trace>', help: 'the trace file to write', byDefault: 'required' },
  'no-timing': { type: 'boolean', help: 'leave the timing of each exchange out of the trace' },
  comment: { type: 'string', value: '<text>', help: 'a note written at the top of the trace' },
} as const satisfies OptionDocs;

const IMPORT_OPTIONS = {
  'pcsc-spy': { type: 'boolean', help: 'the log is the output of pcsc-spy' },
  'scriptor-output': { type: 'boolean', help: "the log is scriptor's output (not its script)" },
  format: {
    type: 'string',
    value: 'pcsc-spy|scriptor-output|pcapng',
    help: 'the kind of log; pcapng: USB CCID captured by Wireshark/usbmon (APDU-level readers)',
  },
  out: { type: 'string', value: '<trace>', help: 'the trace file to write', byDefault: 'stdout' },
} as const satisfies OptionDocs;

const EXPORT_OPTIONS = {
  scriptor: {
    type: 'boolean',
    help: 'export as a scriptor script (the one export format)',
    byDefault: 'required',
  },
  out: { type: 'string', value: '<file>', help: 'the file to write', byDefault: 'stdout' },
} as const satisfies OptionDocs;

const CHECK_OPTIONS = {
  json: { type: 'boolean', help: 'print the summary as JSON' },
} as const satisfies OptionDocs;

/** Where the commands go: a card file, a fresh card of a profile, or a PC/SC reader. */
export interface Target {
  card?: string;
  /** How to open `card`: key file, lab mode, a deliberate move (cli/cardfile/). */
  cardOptions?: CardFileOptions;
  profile?: string;
  reader?: string;
  save: boolean;
  raw: boolean;
  /** Seed of the card's random source (a deterministic lab card; card file or profile only). */
  rngSeed?: string;
}

/** An open channel to the target and how to end the session (save the card file when asked). */
export interface OpenTarget {
  channel: CardChannel;
  describe: string;
  /** The seed of the card's random source (the flag's or the card file's own), for a trace header. */
  rngSeed?: string;
  close(): Promise<void>;
}

function readText(path: string, what: string): string {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (e) {
    throw new UsageError(`cannot read ${what} '${path}': ${(e as Error).message}`);
  }
  if (size > TRACE_LIMITS.maxChars * 4) throw new UsageError(`${what} '${path}' is too big (${size} bytes)`);
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${what} '${path}': ${(e as Error).message}`);
  }
}

/** Parses with a file name in the error; MalformedDataError becomes a usage error (exit 2). */
function parsed<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof MalformedDataError) throw new UsageError(`${path}: ${e.message}`);
    throw e;
  }
}

function loadTrace(path: string): Trace {
  const text = readText(path, 'trace');
  return parsed(path, () => Trace.parse(text));
}

/**
 * Opens the channel of a target.
 * @throws UsageError for a card file that cannot be opened, an unknown profile or reader, or a
 * PC/SC layer that is missing.
 */
export async function openTarget(t: Target): Promise<OpenTarget> {
  const connect: ConnectOptions = t.raw ? { getResponse: false, resendOnWrongLe: false } : {};
  const given = [t.card, t.profile, t.reader].filter((x) => x !== undefined).length;
  if (given !== 1) throw new UsageError('give exactly one of --card <file>, --profile <id>, --reader <name>');
  if (t.card !== undefined) {
    const path = t.card;
    let seeded: SeededCardFile;
    try {
      // --rng-seed, else the seed the card file stores (card new --rng-seed), else the OS's.
      seeded = openCardFileSeeded(path, t.cardOptions ?? {}, t.rngSeed);
    } catch (e) {
      throw new UsageError(`cannot open card file '${path}': ${(e as Error).message}`);
    }
    const handle = seeded.opened;
    const reader = new VirtualReader(`card file ${path}`, handle.card);
    const channel = await reader.connect(connect);
    // Say where the seed came from whenever the card file has one of its own (used or overridden).
    const own = seeded.rngSeedFrom === 'card file' || seeded.overridden !== undefined;
    return {
      channel,
      describe: `card file ${path}${own ? ` (${describeRngSeed(seeded)})` : ''}`,
      ...(seeded.rngSeed !== undefined ? { rngSeed: seeded.rngSeed } : {}),
      close: async () => {
        await channel.disconnect();
        if (t.save) handle.save();
      },
    };
  }
  if (t.profile !== undefined) {
    if (t.save) throw new UsageError('--save needs --card (a fresh profile card is not kept anywhere)');
    let card;
    try {
      card = buildCard(
        t.profile,
        undefined,
        undefined,
        t.rngSeed !== undefined ? { rng: new SeededRng(t.rngSeed) } : {},
      );
    } catch (e) {
      const known = listProfiles()
        .map((p) => p.id)
        .join(', ');
      throw new UsageError(
        `cannot build a card of profile '${t.profile}': ${(e as Error).message} (profiles: ${known})`,
      );
    }
    const reader = new VirtualReader(`profile ${t.profile}`, card);
    const channel = await reader.connect(connect);
    return { channel, describe: `fresh ${t.profile} card`, close: () => channel.disconnect() };
  }
  if (t.save) throw new UsageError('--save needs --card');
  if (t.rngSeed !== undefined)
    throw new UsageError(
      '--rng-seed seeds a card file or a profile card; seed a served card with card serve --rng-seed',
    );
  const name = t.reader!;
  const { PcscContext } = await import('../../reader/index.js');
  let ctx: Awaited<ReturnType<typeof PcscContext.open>>;
  try {
    ctx = await PcscContext.open();
  } catch (e) {
    throw new UsageError(`PC/SC is not available: ${(e as Error).message}`);
  }
  try {
    const channel = await ctx.reader(name).connect(connect);
    return {
      channel,
      describe: `PC/SC reader '${name}'`,
      close: async () => {
        try {
          await channel.disconnect();
        } finally {
          ctx.close();
        }
      },
    };
  } catch (e) {
    ctx.close();
    if (e instanceof CardChannelError) throw new UsageError(`reader '${name}': ${e.message}`);
    throw e;
  }
}

interface Parsed {
  positional: string[];
  flags: Set<string>;
  values: Map<string, string>;
  afterDashes: string[] | undefined;
}

/** The hand-written parser over a documented option table (boolean options are flags). */
function parseWith(args: string[], docs: OptionDocs): Parsed {
  const names = Object.entries(docs);
  return parseArgs(
    args,
    names.filter(([, o]) => o.type === 'boolean').map(([n]) => `--${n}`),
    names.filter(([, o]) => o.type === 'string').map(([n]) => `--${n}`),
  );
}

function parseArgs(args: string[], flags: string[], values: string[]): Parsed {
  const out: Parsed = { positional: [], flags: new Set(), values: new Map(), afterDashes: undefined };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.afterDashes = args.slice(i + 1);
      break;
    }
    if (flags.includes(a)) out.flags.add(a);
    else if (values.includes(a)) {
      const v = args[++i];
      if (v === undefined || v === '') throw new UsageError(`${a} needs a value`);
      if (out.values.has(a)) throw new UsageError(`${a} given twice`);
      out.values.set(a, v);
    } else if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`);
    else out.positional.push(a);
  }
  return out;
}

function targetOf(p: Parsed, perChannelCards = false): Target {
  const t: Target = { save: p.flags.has('--save'), raw: p.flags.has('--raw') };
  const card = p.values.get('--card');
  const profile = p.values.get('--profile');
  const reader = p.values.get('--reader');
  if (card !== undefined) t.card = card;
  const keyFile = p.values.get('--key-file');
  const cardOptions: CardFileOptions = {
    ...(keyFile !== undefined ? { keyFile } : {}),
    ...(p.flags.has('--unsealed') ? { unsealed: true } : {}),
    ...(p.flags.has('--moved') ? { moved: true } : {}),
  };
  if (Object.keys(cardOptions).length > 0) {
    if (card === undefined && !perChannelCards)
      throw new UsageError('--key-file, --unsealed and --moved go with --card <file>');
    t.cardOptions = cardOptions;
  }
  if (profile !== undefined) t.profile = profile;
  if (reader !== undefined) t.reader = reader;
  const seed = p.values.get('--rng-seed');
  if (seed !== undefined) t.rngSeed = seed;
  return t;
}

function printReport(path: string, target: string, r: ReplayReport, io: Io): void {
  const out: string[] = [`trace ${path} against ${target}`];
  for (const d of r.differences) {
    out.push(`#${d.index} (line ${d.line})${d.channel !== undefined ? ` ${d.channel}` : ''} ${d.command}`);
    if (d.marked) {
      out.push(`  expected: ${d.marked.expected}`);
      out.push(`  actual:   ${d.marked.actual}`);
    } else {
      out.push(`  expected: ${d.expected}`);
      out.push(`  actual:   ${d.actual}`);
    }
  }
  if (r.aborted) out.push(`aborted: ${r.aborted}`);
  const same = r.exchanges - r.masked - r.differences.filter((d) => d.kind !== 'atr').length;
  out.push(
    `${r.exchanges} exchanges, ${r.resets} resets: ${same} identical, ${r.masked} equal under masks, ${r.differences.length} different — ${r.ok ? 'OK' : 'DIFFERENT'}`,
  );
  io.out(out.join('\n') + '\n');
}

/** Options of `trace replay` that may be given once per channel of a multi-channel trace (`<channel>=<value>`). */
const PER_CHANNEL = ['--card', '--reader', '--profile', '--rng-seed'] as const;
type PerChannelOption = (typeof PER_CHANNEL)[number];

/**
 * Splits `<channel>=<value>` targets of a version 2 trace out of the arguments: what is left is
 * parsed as for one card. A value whose part before `=` is not a channel of the trace is left
 * alone (a card file may have `=` in its name).
 */
function splitChannelTargets(
  args: string[],
  channelIds: readonly string[],
): { rest: string[]; only: string | undefined; targets: Map<string, Map<PerChannelOption, string>> } {
  const rest: string[] = [];
  const targets = new Map<string, Map<PerChannelOption, string>>();
  let only: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      rest.push(...args.slice(i));
      break;
    }
    if (a === '--channel') {
      const v = args[++i];
      if (v === undefined || v === '') throw new UsageError('--channel needs a channel id');
      if (only !== undefined) throw new UsageError('--channel given twice');
      only = v;
      continue;
    }
    const v = args[i + 1];
    const m = v !== undefined ? /^([^=]+)=(.+)$/.exec(v) : null;
    if ((PER_CHANNEL as readonly string[]).includes(a) && m && channelIds.includes(m[1]!)) {
      const t = targets.get(m[1]!) ?? new Map<PerChannelOption, string>();
      if (t.has(a as PerChannelOption)) throw new UsageError(`${a} ${m[1]}=… given twice`);
      t.set(a as PerChannelOption, m[2]!);
      targets.set(m[1]!, t);
      i++;
      continue;
    }
    rest.push(a);
  }
  return { rest, only, targets };
}

/** The positional trace path of `trace replay` (before the options are known to be valid). */
function replayPath(args: string[]): string | undefined {
  const valued = new Set(
    [...Object.entries(REPLAY_OPTIONS)].filter(([, o]) => o.type === 'string').map(([n]) => `--${n}`),
  );
  valued.add('--channel');
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return undefined;
    if (valued.has(a)) i++;
    else if (!a.startsWith('--')) return a;
  }
  return undefined;
}

/** The target of one channel from its `<channel>=` options (the card-file options are shared). */
function channelTarget(id: string, given: Map<PerChannelOption, string>, base: Target): Target {
  const t: Target = {
    save: base.save,
    raw: base.raw,
    ...(base.cardOptions ? { cardOptions: base.cardOptions } : {}),
  };
  const card = given.get('--card');
  const reader = given.get('--reader');
  const profile = given.get('--profile');
  const seed = given.get('--rng-seed') ?? base.rngSeed;
  if (card !== undefined) t.card = card;
  if (reader !== undefined) t.reader = reader;
  if (profile !== undefined) t.profile = profile;
  if (seed !== undefined) t.rngSeed = seed;
  if ([card, reader, profile].filter((x) => x !== undefined).length !== 1)
    throw new UsageError(
      `channel ${id}: give exactly one of --card ${id}=<file>, --reader ${id}=<name>, --profile ${id}=<id>`,
    );
  return t;
}

async function replay(args: string[], io: Io): Promise<number> {
  // Unknown options are refused before the trace is read (its channels decide the rest).
  const known = new Set([...Object.keys(REPLAY_OPTIONS).map((n) => `--${n}`), '--channel']);
  for (const a of args) {
    if (a === '--') break;
    if (a.startsWith('--') && !known.has(a)) throw new UsageError(`unknown option ${a}`);
  }
  const first = replayPath(args);
  const whole = first !== undefined ? loadTrace(first) : undefined;
  const ids = whole?.header.channels.map((c) => c.id) ?? [];
  const split = splitChannelTargets(args, ids);
  const p = parseWith(split.rest, REPLAY_OPTIONS);
  if (p.positional.length !== 1 || p.afterDashes) throw new UsageError('trace replay wants one trace file');
  const path = p.positional[0]!;
  let trace = whole ?? loadTrace(path);
  if (trace.exchanges.length === 0) throw new UsageError(`${path}: the trace holds no exchange (truncated?)`);
  if (split.only !== undefined) {
    if (!ids.includes(split.only))
      throw new UsageError(
        ids.length === 0
          ? `${path}: --channel ${split.only}: the trace has no channels (version 1: one card)`
          : `${path}: no channel ${split.only} (channels: ${ids.join(', ')})`,
      );
    for (const id of split.targets.keys())
      if (id !== split.only)
        throw new UsageError(`--channel ${split.only} replays one channel: drop the target of ${id}`);
    trace = trace.channel(split.only);
  }
  const channels = trace.header.channels;
  const base = targetOf(
    p,
    [...split.targets.values()].some((t) => t.has('--card')),
  );
  const hasBase = base.card !== undefined || base.profile !== undefined || base.reader !== undefined;
  // One target: a version 1 trace, one channel (or --channel), with a target given plainly or
  // as <channel>=.
  if (channels.length <= 1 && split.targets.size <= 1) {
    const id = split.only ?? channels[0]?.id;
    const given = id !== undefined ? split.targets.get(id) : undefined;
    if (given && hasBase) throw new UsageError(`channel ${id} has two targets: one plain, one as ${id}=`);
    const t = given ? channelTarget(id!, given, base) : base;
    return replayOne(path, trace, await openTarget(t), p.flags.has('--json'), io);
  }
  if (channels.length > 1 && hasBase)
    throw new UsageError(
      `${path} has ${channels.length} channels (${channels.map((c) => c.id).join(', ')}): give each its card with <channel>=, e.g. --card ${channels[0]!.id}=<file> --reader ${channels[1]!.id}=<PC/SC reader>, or replay one with --channel <id>`,
    );
  // Per-channel targets: every channel needs one before anything is sent.
  const perChannel = new Map<string, Target>();
  for (const c of channels) {
    const given = split.targets.get(c.id);
    if (!given)
      throw new UsageError(
        `channel ${c.id} (${c.reader ?? 'reader not named'}) has no target: give --card ${c.id}=<file>, --reader ${c.id}=<PC/SC reader> or --profile ${c.id}=<id>`,
      );
    const t = channelTarget(c.id, given, base);
    perChannel.set(c.id, t);
  }
  const opened: OpenTarget[] = [];
  const described: string[] = [];
  let report: ReplayReport;
  const progress = new Progress(io, `replaying ${path}`, 'exchanges');
  try {
    report = await replayTrace(
      trace,
      async (c) => {
        const target = await openTarget(perChannel.get(c.id)!);
        opened.push(target);
        described.push(`${c.id}: ${target.describe}`);
        return recordIfAsked(target.channel, { tool: `meterpurse trace replay ${path}` });
      },
      { onProgress: (done, total) => progress.update(done, total) },
    );
  } finally {
    progress.done();
    for (const t of opened) await t.close().catch(() => undefined);
  }
  const describe = described.join(', ');
  if (p.flags.has('--json')) {
    io.out(JSON.stringify({ trace: path, target: describe, ...report }, null, 2) + '\n');
  } else printReport(path, describe, report, io);
  return report.ok ? 0 : 1;
}

async function replayOne(
  path: string,
  trace: Trace,
  target: OpenTarget,
  json: boolean,
  io: Io,
): Promise<number> {
  let report: ReplayReport;
  try {
    // Under `trace record --out <actual> -- trace replay …` the card's actual answers are recorded.
    const channel = recordIfAsked(target.channel, { tool: `meterpurse trace replay ${path}` });
    const progress = new Progress(io, `replaying ${path}`, 'exchanges');
    try {
      report = await replayTrace(trace, channel, {
        onProgress: (done, total) => progress.update(done, total),
      });
    } finally {
      progress.done();
    }
    if (channel !== target.channel) await channel.disconnect();
  } finally {
    await target.close();
  }
  if (json) {
    io.out(JSON.stringify({ trace: path, target: target.describe, ...report }, null, 2) + '\n');
  } else printReport(path, target.describe, report, io);
  return report.ok ? 0 : 1;
}

function stepsFromArgs(p: Parsed): ScriptStep[] {
  if (p.afterDashes !== undefined) {
    if (p.positional.length) throw new UsageError('give a script file or APDUs after --, not both');
    if (p.afterDashes.length === 0) throw new UsageError('no APDU after --');
    return p.afterDashes.map((a, i) => {
      if (/^reset$/i.test(a)) return { type: 'reset', line: i + 1, comments: [] };
      const bytes = parsed(`APDU ${i + 1}`, () => fromHex(a));
      parsed(`APDU ${i + 1}`, () => CommandApdu.decode(bytes));
      return { type: 'apdu', command: bytes, line: i + 1, comments: [] };
    });
  }
  if (p.positional.length !== 1)
    throw new UsageError('trace record wants a scriptor script file, or APDUs after --');
  const path = p.positional[0]!;
  const text = readText(path, 'script');
  return parsed(path, () => parseScriptorScript(text));
}

/** True when the words after `--` are a meterpurse command rather than APDUs. */
function isSubcommand(words: string[] | undefined): words is string[] {
  const w = words?.[0];
  return w !== undefined && !/^[0-9A-Fa-f:\s-]+$/.test(w) && !/^reset$/i.test(w);
}

/**
 * `trace record --out <trace> -- <meterpurse command…>`: runs the command in this process with
 * MP_TRACE_RECORD set, so every channel it opens through `recordIfAsked` is recorded.
 */
async function recordCommand(p: Parsed, out: string, io: Io, cli: CommandLine | undefined): Promise<number> {
  if (p.values.has('--card') || p.values.has('--profile') || p.values.has('--reader') || p.positional.length)
    throw new UsageError(
      'with -- <meterpurse command>, the command itself chooses its card: drop --card/--profile/--reader',
    );
  const words = p.afterDashes!;
  if (words[0] === 'trace' && words[1] !== 'replay')
    throw new UsageError('of the trace commands, only trace replay can be recorded');
  if (!cli) throw new UsageError('trace record -- <command> runs only from the meterpurse command line');
  const { main } = cli;
  // One version 2 trace for every channel the command opens (VirtualReader / PcscReader connect).
  const seed = p.values.get('--rng-seed');
  try {
    recorderFor(out, {
      tool: `meterpurse ${words.join(' ')}`,
      timing: !p.flags.has('--no-timing'),
      ...(seed !== undefined ? { extra: { 'rng-seed': seed } } : {}),
    });
  } catch (e) {
    throw new UsageError(`cannot write '${out}': ${(e as Error).message}`);
  }
  const saved = process.env[TRACE_RECORD_ENV];
  process.env[TRACE_RECORD_ENV] = out;
  let code: number;
  let n: number;
  try {
    code = await main(words, io);
  } finally {
    if (saved === undefined) delete process.env[TRACE_RECORD_ENV];
    else process.env[TRACE_RECORD_ENV] = saved;
    n = await closeRecording(out);
  }
  if (n === 0) {
    rmSync(out, { force: true });
    io.err(`trace record: 'meterpurse ${words.join(' ')}' opened no card channel; nothing was recorded\n`);
    return code === 0 ? 2 : code;
  }
  io.err(`trace record: ${n} channel(s) recorded to ${out}\n`);
  return code;
}

async function record(args: string[], io: Io, cli?: CommandLine): Promise<number> {
  const p = parseWith(args, RECORD_OPTIONS);
  const out = p.values.get('--out');
  if (!out) throw new UsageError('trace record needs --out <trace>');
  if (isSubcommand(p.afterDashes)) return recordCommand(p, out, io, cli);
  const steps = stepsFromArgs(p);
  const target = await openTarget(targetOf(p));
  let sink: FileTraceSink;
  try {
    sink = new FileTraceSink(out);
  } catch (e) {
    await target.close();
    throw new UsageError(`cannot write '${out}': ${(e as Error).message}`);
  }
  const comment = p.values.get('--comment');
  // The flag's seed, or the seed of a card file made with card new --rng-seed.
  const seed = p.values.get('--rng-seed') ?? target.rngSeed;
  const rec = new RecordingChannel(target.channel, sink, {
    tool: 'meterpurse trace record',
    timing: !p.flags.has('--no-timing'),
    ...(seed !== undefined ? { extra: { 'rng-seed': seed } } : {}),
    ...(comment ? { notes: [comment] } : {}),
  });
  let failed: string | undefined;
  let n = 0;
  try {
    for (const s of steps) {
      for (const c of s.comments) rec.comment(c.trim());
      if (s.type === 'reset') await rec.reset();
      else {
        const r = await rec.transmit(CommandApdu.decode(s.command));
        n++;
        io.out(`> ${spacedHex(s.command)}\n< ${responseText(r.encode())}\n`);
      }
    }
  } catch (e) {
    if (!(e instanceof CardChannelError)) throw e;
    failed = e.message;
  } finally {
    await rec.disconnect();
    await target.close();
  }
  if (failed) {
    io.err(`trace record: the channel failed after ${n} exchanges: ${failed} (recorded in ${out})\n`);
    return 2;
  }
  io.err(`trace record: ${n} exchanges written to ${out}\n`);
  return 0;
}

async function importLog(args: string[], io: Io): Promise<number> {
  const p = parseWith(args, IMPORT_OPTIONS);
  const kinds = ['--pcsc-spy', '--scriptor-output'].filter((k) => p.flags.has(k));
  const format = p.values.get('--format');
  if (format !== undefined) {
    if (!['pcsc-spy', 'scriptor-output', 'pcapng'].includes(format))
      throw new UsageError(`--format must be pcsc-spy, scriptor-output or pcapng, got ${format}`);
    kinds.push(`--${format}`);
  }
  if (kinds.length !== 1)
    throw new UsageError('trace import wants one of --pcsc-spy, --scriptor-output, --format pcapng');
  if (p.positional.length !== 1) throw new UsageError('trace import wants one log file');
  const path = p.positional[0]!;
  if (kinds[0] === '--pcapng') {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(path));
    } catch (e) {
      throw new CommandError(`cannot read '${path}': ${(e as Error).message}`, { cause: e });
    }
    const t = parsed(path, () => importPcapng(bytes));
    if (t.exchanges.length === 0) throw new UsageError(`${path}: no APDU exchange in the capture`);
    return write(p.values.get('--out'), t.format(), io);
  }
  const text = readText(path, 'log');
  const trace = parsed(path, () =>
    kinds[0] === '--pcsc-spy' ? importPcscSpy(text) : importScriptorOutput(text),
  );
  // A log with no exchange is not a log of this kind (a scriptor script given as its output reads
  // as nothing): an empty trace would replay as "OK" and prove nothing.
  if (trace.exchanges.length === 0)
    throw new UsageError(
      `${path}: no exchange found: not ${kinds[0] === '--pcsc-spy' ? 'a pcsc-spy log' : "scriptor's output (a scriptor script? run it with trace record, or import its output)"}`,
    );
  return write(p.values.get('--out'), trace.format(), io);
}

function write(out: string | undefined, text: string, io: Io): number {
  if (out === undefined) {
    io.out(text);
    return 0;
  }
  try {
    writeFileSync(out, text);
  } catch (e) {
    throw new CommandError(`cannot write '${out}': ${(e as Error).message}`, { cause: e });
  }
  return 0;
}

async function exportTrace(args: string[], io: Io): Promise<number> {
  const p = parseWith(args, EXPORT_OPTIONS);
  if (!p.flags.has('--scriptor'))
    throw new UsageError('trace export wants --scriptor (the one export format)');
  if (p.positional.length !== 1) throw new UsageError('trace export wants one trace file');
  return write(p.values.get('--out'), exportScriptorScript(loadTrace(p.positional[0]!)), io);
}

async function check(args: string[], io: Io): Promise<number> {
  const p = parseWith(args, CHECK_OPTIONS);
  if (p.positional.length !== 1) throw new UsageError('trace check wants one trace file');
  const path = p.positional[0]!;
  const t = loadTrace(path);
  const summary = {
    trace: path,
    reader: t.header.reader ?? null,
    protocol: t.header.protocol ?? null,
    atr: t.header.atr ? spacedHex(t.header.atr) : null,
    exchanges: t.exchanges.length,
    resets: t.events.filter((e) => e.type === 'reset').length,
    errors: t.exchanges.filter((e) => e.error !== undefined).length,
    rules: t.header.rules.length,
    masks: t.exchanges.filter((e) => e.commandMask || e.responseMask).length,
    /** A recording ends with `! disconnect`; a trace without it may have been cut between lines. */
    ended: t.events.at(-1)?.type === 'disconnect',
  };
  if (p.flags.has('--json')) io.out(JSON.stringify(summary, null, 2) + '\n');
  else
    io.out(
      `${path}: well-formed trace, ${summary.exchanges} exchanges (${summary.errors} errors), ${summary.resets} resets, ${summary.rules} mask rules, ${summary.masks} masked exchanges${summary.ended ? ', ends with ! disconnect' : '; no final ! disconnect (cut short, or written by hand)'}\n`,
    );
  return 0;
}

const SUB: Record<string, (args: string[], io: Io, cli?: CommandLine) => Promise<number>> = {
  replay,
  record,
  import: importLog,
  export: exportTrace,
  check,
};

/** `trace <sub>` as its own command (for --help and the command list); runs through traceCommand. */
function traceSub(
  sub: keyof typeof SUB,
  summary: string,
  usage: string,
  options: OptionDocs,
  examples: string[],
): Command {
  return {
    path: ['trace', sub],
    summary,
    usage: `${usage}${options === REPLAY_OPTIONS || options === RECORD_OPTIONS ? '\n       (with --card <file>: [--key-file <path>] [--unsealed] [--moved], as for card show)' : ''}`,
    errorName: 'trace',
    options,
    examples,
    run: (args, io, cli) => traceCommand.run([sub, ...args], io, cli),
  };
}

/** The five trace commands, for cli/main.ts. */
export const traceCommands: readonly Command[] = [
  traceSub(
    'replay',
    'replay a trace against a card and report every response that differs outside the masks (exit 1 if any)',
    'trace replay <trace> (--card <file> | --profile <id> | --reader <name>) [--json] [--save] [--raw]\n       meterpurse trace replay <trace> (--card <ch>=<file> | --profile <ch>=<id> | --reader <ch>=<name>)… [--rng-seed <ch>=<seed>]… | --channel <ch> …',
    REPLAY_OPTIONS,
    [
      'trace replay session.trace --card my.card',
      'trace replay session.trace --reader "ACS ACR39U" --json',
      "trace replay flow.trace --card card=card.card --rng-seed card=s:card --reader sam='Virtual PCD 00 01'",
      'trace replay flow.trace --channel card --card card.card',
    ],
  ),
  traceSub(
    'record',
    'send a scriptor script or APDUs to a card and record the exchanges; or record the card channels of a meterpurse command',
    'trace record (--card <file> | --profile <id> | --reader <name>) --out <trace> [--save] [--raw] [--no-timing] [--comment <text>] (<script> | -- <apdu hex>…)\n       meterpurse trace record --out <trace> -- <meterpurse command…>',
    RECORD_OPTIONS,
    [
      'trace record --profile iso-fs --out select.trace -- 00A4040007A0000000031010',
      'trace record --out replay.trace -- trace replay session.trace --card my.card',
    ],
  ),
  traceSub(
    'import',
    'convert a pcsc-spy log or scriptor output into a trace',
    'trace import (--pcsc-spy | --scriptor-output) <log> [--out <trace>]',
    IMPORT_OPTIONS,
    ['trace import --pcsc-spy spy.log --out session.trace'],
  ),
  traceSub(
    'export',
    'export a trace as a scriptor script',
    'trace export <trace> --scriptor [--out <file>]',
    EXPORT_OPTIONS,
    ['trace export session.trace --scriptor --out session.script'],
  ),
  traceSub(
    'check',
    'check that a trace is well-formed and summarise it',
    'trace check <trace> [--json]',
    CHECK_OPTIONS,
    ['trace check session.trace --json'],
  ),
];

/** `meterpurse trace <replay|record|import|export|check> …` */
export const traceCommand: Command = {
  path: ['trace'],
  summary:
    'APDU traces for test labs: replay against a card, record, import pcsc-spy/scriptor, export scriptor',
  usage: USAGE,
  async run(args: string[], io: Io, cli?: CommandLine): Promise<number> {
    const sub = args[0];
    const f = sub !== undefined ? SUB[sub] : undefined;
    if (!f) throw new UsageError(`want one of ${Object.keys(SUB).join(', ')}; usage: meterpurse ${USAGE}`);
    try {
      return await f(args.slice(1), io, cli);
    } catch (e) {
      // Channel failures while opening or replaying are the lab's problem to see, not a crash.
      if (e instanceof CardChannelError) throw new UsageError(e.message);
      throw e;
    }
  },
};
