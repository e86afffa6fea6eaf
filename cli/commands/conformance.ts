/**
 * `meterpurse conformance card|terminal|replay` (docs/conformance.md): the purse specification's
 * cases against a card in a PC/SC reader, a checking card served to vpcd for a terminal under
 * test, and a recorded session replayed as the documented terminal.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command, Io } from '../Command.js';
import { CommandError, UsageError, parseOptions } from '../Command.js';
import { IssuerKeys, MalformedDataError, NodeCipherProvider, buildCard, fromHex } from '../../card/index.js';
import { CardChannelError, PcscContext, Trace, VpcdBridge, type CardChannel } from '../../reader/index.js';
import { conformance as C } from '../../terminal/index.js';
import { parseVpcdAddress } from './card-serve.js';

const KEY_OPTIONS = {
  'issuer-seed': {
    type: 'string',
    value: '<seed>',
    help: 'keys of the documented demo issuer of this seed (our own cards)',
  },
  keys: {
    type: 'string',
    value: '<file>',
    help: 'keys file of the lab: per purse the four card keys, or the masters (docs/conformance.md)',
  },
} as const;
const OUT_OPTIONS = {
  report: {
    type: 'string',
    value: '<file>',
    help: 'write the readable report here (it always goes to stdout too)',
  },
  junit: { type: 'string', value: '<file>', help: 'write JUnit XML here, for CI systems' },
} as const;

function keysFrom(
  v: { 'issuer-seed'?: string; keys?: string },
  required: boolean,
): C.ConformanceKeys | undefined {
  const cipher = new NodeCipherProvider();
  if (v['issuer-seed'] !== undefined && v.keys !== undefined)
    throw new UsageError('give --issuer-seed or --keys, not both');
  if (v['issuer-seed'] !== undefined) return C.keysFromIssuer(IssuerKeys.demo(cipher, v['issuer-seed']));
  if (v.keys !== undefined) {
    let text: string;
    try {
      text = readFileSync(v.keys, 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read keys file '${v.keys}': ${(e as Error).message}`);
    }
    return C.parseKeysFile(text, cipher);
  }
  if (required) throw new UsageError('which keys? give --issuer-seed <seed> or --keys <file>');
  return undefined;
}

function write(path: string | undefined, text: string): void {
  if (!path) return;
  try {
    writeFileSync(path, text);
  } catch (e) {
    throw new CommandError(`cannot write '${path}': ${(e as Error).message}`);
  }
}

function emit(r: C.SuiteReport, v: { report?: string; junit?: string }, io: Io): number {
  const text = C.textReport(r);
  io.out(text);
  write(v.report, text);
  write(v.junit, C.junitXml(r));
  return C.passed(r) ? 0 : 1;
}

async function withReader<T>(name: string, fn: (ch: CardChannel) => Promise<T>): Promise<T> {
  let ctx: PcscContext;
  try {
    ctx = await PcscContext.open();
  } catch (e) {
    throw new UsageError(`PC/SC is not available: ${(e as Error).message}`);
  }
  try {
    let ch: CardChannel;
    try {
      ch = await ctx.reader(name).connect();
    } catch (e) {
      if (e instanceof CardChannelError) throw new UsageError(`reader '${name}': ${e.message}`);
      throw e;
    }
    try {
      return await fn(ch);
    } finally {
      await ch.disconnect().catch(() => undefined);
    }
  } finally {
    ctx.close();
  }
}

const CARD_USAGE =
  'conformance card --reader <name> (--issuer-seed <seed> | --keys <file>) [--csn <hex8>] [--purse <id>] [--pin <digits>] [--only <case-prefix>] [--report <file>] [--junit <file>]';

export const conformanceCardCommand: Command = {
  path: ['conformance', 'card'],
  summary: "run the purse specification's cases against the subscriber card in a PC/SC reader",
  usage: CARD_USAGE,
  options: {
    reader: {
      type: 'string',
      value: '<name>',
      help: 'the PC/SC reader the card under test sits in',
      byDefault: 'required',
    },
    ...KEY_OPTIONS,
    csn: { type: 'string', value: '<hex8>', help: 'the CSN the card must have' },
    purse: {
      type: 'string',
      value: '<id>',
      help: 'the purse under test',
      byDefault: '1, else the first purse of the FCI',
    },
    pin: { type: 'string', value: '<digits>', help: 'the cardholder PIN, when the card has one' },
    only: {
      type: 'string',
      value: '<prefix>',
      multiple: true,
      help: 'run only the cases whose id starts with this (select.fci always runs)',
    },
    ...OUT_OPTIONS,
  },
  examples: [
    "conformance card --reader 'Virtual PCD 00 00' --issuer-seed 0 --junit conformance.xml",
    "conformance card --reader 'ACS ACR39U 00 00' --keys lab-keys.json --csn 4D50000000000001 --report card.txt",
  ],
  async run(args, io) {
    const { values: v } = parseOptions(args, this.options as never, false, CARD_USAGE) as unknown as {
      values: Record<string, string | string[] | undefined>;
    };
    const reader = v['reader'] as string | undefined;
    if (!reader) throw new UsageError(`--reader is required\nusage: meterpurse ${CARD_USAGE}`);
    const keys = keysFrom(v as never, true)!;
    let csn: Uint8Array | undefined;
    if (v['csn'] !== undefined) {
      if (!/^[0-9A-Fa-f]{16}$/.test(v['csn'] as string)) throw new UsageError('--csn must be 8 bytes of hex');
      csn = fromHex(v['csn'] as string);
    }
    let purse: number | undefined;
    if (v['purse'] !== undefined) {
      purse = Number(v['purse']);
      if (!Number.isInteger(purse) || purse < 1 || purse > 15) throw new UsageError('--purse must be 1..15');
    }
    const pin = v['pin'] as string | undefined;
    if (pin !== undefined && !/^[0-9]{4,8}$/.test(pin)) throw new UsageError('--pin must be 4..8 digits');
    const r = await withReader(reader, (ch) =>
      C.runCardSuite(ch, {
        keys,
        cipher: new NodeCipherProvider(),
        ...(csn ? { csn } : {}),
        ...(purse !== undefined ? { purse } : {}),
        ...(pin ? { pin } : {}),
        ...(v['only'] ? { only: v['only'] as string[] } : {}),
      }),
    );
    const facts = [
      `keys: ${r.keys}`,
      ...(r.csn ? [`csn: ${r.csn}`] : []),
      `purse: ${r.purse}`,
      ...(r.before && r.after
        ? [
            `purse before: balance ${r.before.balance} counter ${r.before.counter}`,
            `purse after: balance ${r.after.balance} counter ${r.after.counter}`,
          ]
        : []),
    ];
    return emit({ suite: r.suite, target: r.target, cases: r.cases, ms: r.ms, facts }, v as never, io);
  },
};

const TERMINAL_USAGE =
  'conformance terminal [--vpcd <host:port>] (--issuer-seed <seed> | --keys <file>) [--csn <hex8>] [--balance <n>] [--pin <digits>] [--report <file>] [--junit <file>]';

export const conformanceTerminalCommand: Command = {
  path: ['conformance', 'terminal'],
  summary:
    'serve (to vpcd) a subscriber card that reports every deviation of the terminal under test from the spec',
  usage: TERMINAL_USAGE,
  options: {
    vpcd: { type: 'string', value: '<host:port>', help: 'where vpcd listens', byDefault: '127.0.0.1:35963' },
    ...KEY_OPTIONS,
    csn: { type: 'string', value: '<hex8>', help: 'CSN of the served card', byDefault: '4D50000000000001' },
    balance: {
      type: 'string',
      value: '<n>',
      help: 'units on each purse of the served card',
      byDefault: '10000',
    },
    pin: { type: 'string', value: '<digits>', help: 'give the served card a cardholder PIN' },
    ...OUT_OPTIONS,
  },
  examples: ['conformance terminal --vpcd 127.0.0.1:35963 --issuer-seed 0 --junit terminal.xml'],
  async run(args, io) {
    const { values: v } = parseOptions(args, this.options as never, false, TERMINAL_USAGE) as unknown as {
      values: Record<string, string | undefined>;
    };
    const address = parseVpcdAddress(v['vpcd'] ?? '127.0.0.1:35963');
    if (v['keys'] !== undefined)
      throw new UsageError(
        'the served card is made from --issuer-seed; --keys is for conformance card and replay',
      );
    const seed = v['issuer-seed'] ?? '0';
    const csn = v['csn'] ?? '4D50000000000001';
    if (!/^[0-9A-Fa-f]{16}$/.test(csn)) throw new UsageError('--csn must be 8 bytes of hex');
    const balance = Number(v['balance'] ?? 10000);
    if (!Number.isInteger(balance) || balance < 0 || balance > 500000)
      throw new UsageError('--balance must be 0..500000');
    const cipher = new NodeCipherProvider();
    const { defaultPurses } = await import('../../card/index.js');
    const inner = buildCard('subscriber', {
      demoIssuerSeed: seed,
      csn,
      purses: defaultPurses(balance),
      ...(v['pin'] ? { pin: v['pin'] } : {}),
    });
    const card = new C.SpecCheckingCard(inner, C.keysFromIssuer(IssuerKeys.demo(cipher, seed)), cipher);
    let seen = 0;
    const bridge = new VpcdBridge(card, {
      ...address,
      log: (line) => io.err(`conformance terminal: ${line}\n`),
      afterEvent: () => {
        for (; seen < card.deviations.length; seen++)
          io.err(`deviation: ${C.deviationLines([card.deviations[seen]!])[0]}\n`);
      },
    });
    const stop = new AbortController();
    const onSignal = (): void => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const t0 = performance.now();
    bridge.onConnected(() =>
      io.out(
        `serving a checking subscriber card (CSN ${csn}, demo issuer "${seed}") to vpcd at ${bridge.host}:${bridge.port}; stop with Ctrl-C for the report\n`,
      ),
    );
    bridge.start();
    try {
      await new Promise<void>((resolve) =>
        stop.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await bridge.stop();
    }
    return emit(C.terminalReport(card, `vpcd ${bridge.host}:${bridge.port}`, performance.now() - t0), v, io);
  },
};

const REPLAY_USAGE =
  'conformance replay <trace> --reader <name> (--issuer-seed <seed> | --keys <file>) [--channel <id>]';

export const conformanceReplayCommand: Command = {
  path: ['conformance', 'replay'],
  summary: 'replay a recorded authenticated session as the documented terminal, with fresh cryptograms',
  usage: REPLAY_USAGE,
  options: {
    reader: {
      type: 'string',
      value: '<name>',
      help: 'the PC/SC reader the card sits in',
      byDefault: 'required',
    },
    ...KEY_OPTIONS,
    channel: {
      type: 'string',
      value: '<id>',
      help: "a version 2 trace of several channels (@channel <id> …): the card's channel",
      byDefault: 'the only channel of the trace',
    },
  },
  examples: [
    "conformance replay session.trace --reader 'Virtual PCD 00 00' --issuer-seed 0",
    "conformance replay meter.trace --channel virtual-pcd-00-00 --reader 'Virtual PCD 00 00' --issuer-seed 0",
  ],
  async run(args, io) {
    const { values: v, positionals } = parseOptions(
      args,
      this.options as never,
      true,
      REPLAY_USAGE,
    ) as unknown as {
      values: Record<string, string | undefined>;
      positionals: string[];
    };
    if (positionals.length !== 1)
      throw new UsageError(`one trace file, please\nusage: meterpurse ${REPLAY_USAGE}`);
    if (!v['reader']) throw new UsageError('--reader is required');
    const keys = keysFrom(v as never, true)!;
    let text: string;
    try {
      text = readFileSync(positionals[0]!, 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read trace '${positionals[0]}': ${(e as Error).message}`);
    }
    let trace: Trace;
    try {
      trace = Trace.parse(text);
    } catch (e) {
      if (e instanceof MalformedDataError)
        throw new UsageError(`${positionals[0]}: not a trace: ${e.message}`);
      throw e;
    }
    // A version 2 trace holds several channels (card, SAM, SVM…): replay the card's only.
    let card: Trace;
    try {
      card = C.cardChannelOf(trace, v['channel']);
    } catch (e) {
      if (e instanceof RangeError)
        throw new UsageError(`${positionals[0]}: ${e.message}; give --channel <id>`);
      throw e;
    }
    if (!card.exchanges.length)
      throw new UsageError(
        `${positionals[0]}: no exchange${v['channel'] !== undefined ? ` on channel ${v['channel']}` : ''} to replay`,
      );
    const r = await withReader(v['reader'], (ch) =>
      C.replayAsTerminal(card, ch, keys, new NodeCipherProvider()),
    );
    for (const d of r.differences) io.out(`exchange ${d.exchange} (line ${d.line}): ${d.message}\n`);
    io.out(
      `${r.exchanges} exchanges replayed as the terminal: ${r.differences.length} difference${r.differences.length === 1 ? '' : 's'}\n`,
    );
    return r.differences.length ? 1 : 0;
  },
};

export const conformanceCommands: Command[] = [
  conformanceCardCommand,
  conformanceTerminalCommand,
  conformanceReplayCommand,
];
