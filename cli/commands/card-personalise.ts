/**
 * `meterpurse card personalise` and `meterpurse card status` (issue 12, docs/personalisation.md
 * §5): one blank chip personalised through the master-key card — a subscriber card, a meter's SAM
 * or SVM, or a commissioning card (seed 002) — and the life cycle of a personalised card (block,
 * unblock, terminate). The chip is a blank card file (`card blank`) or the card in a PC/SC reader
 * (e.g. a blank card file served by `card serve --vpcd`).
 *
 * A card file is the chip: it is opened under its lock (as `card serve` does) and written back,
 * atomically, only once the chip's SET STATUS went through; a session that fails leaves the file
 * as it was (blank). The MKC's card file is saved after VERIFY (a wrong PIN spends a try) and
 * after the session (its issue counter, the serials it issued). The MKC's PIN comes from
 * `--pin-file` or $MP_MKC_PIN, a subscriber card's PIN from `--card-pin-file`: never from the
 * command line, which every user sees in `ps`.
 */
import { readFileSync } from 'node:fs';
import type { Command, Io, OptionDocs } from '../Command.js';
import { CommandError, UsageError, parseOptions } from '../Command.js';
import { cardOrigin, fromHex, toHex } from '../../card/index.js';
import { PcscContext, VirtualReader, type CardChannel } from '../../reader/index.js';
import {
  BureauError,
  MasterKeyCard,
  personalise,
  readChip,
  setStatus,
  type ChipInfo,
  type ChipKind,
  type LifeCycleAction,
  type PersoOrder,
  type PersoResult,
  type PurseInit,
} from '../../terminal/index.js';
import { CommissioningData, CommissioningError, TariffTable } from '../../meter/index.js';
import { CardFileLock, CardFileLockedError, type OpenedCardFile } from '../cardfile/index.js';
import { CARD_FILE_OPTIONS, cardFileOptions, openForCommand } from './card.js';
import { MKC_PIN_ENV, readMkcPin } from './ceremony.js';

const KINDS: readonly ChipKind[] = ['subscriber', 'sam', 'svm', 'commissioning'];

/** Purse limits of a subscriber card: those of `card new` and `card issue` (defaultPurses). */
const PURSE_MAX = 500_000;
const PURSE_LIMIT = 100_000;
const UNIT_EUR_CENTS = 978;

const LCS_BLANK = 0x03;
const lcsHex = (lcs: number) => lcs.toString(16).toUpperCase().padStart(2, '0');
const LCS_NAME: Readonly<Record<number, string>> = {
  0x03: 'blank',
  0x05: 'personalised',
  0x04: 'blocked',
  0x0c: 'terminated',
};

const USAGE =
  'card personalise --mkc <mkc card file> (--chip <blank card file> | --reader <name>) --as subscriber|sam|svm|commissioning [subscriber: --csn <hex8> [--purses 1:5000;2:0] [--card-pin-file <f>] [--expiry YYMMDD] [--issuer-id <hex4>]] [sam|svm: --meter-id <hex3> --terminal-id <hex4> --purse <1..15> --pairing <n> [svm: --max <n> --balance <n>]] [commissioning: --csn <hex8> --purse <n> --uses <n> (--payload <hex> | --meter-id <hex3> --reference <n> --unit-charge <n> [--emergency-credit <n>] [--initial-credit <n>])] [--pin-file <f>] [--card-timeout <s>] [--json] [--key-file <path>] [--unsealed] [--moved]';

const COMMON = {
  mkc: {
    type: 'string',
    value: '<file>',
    help: `the master-key card's card file (sealed); its PIN from --pin-file or $${MKC_PIN_ENV}`,
    byDefault: 'required',
  },
  chip: {
    type: 'string',
    value: '<card file>',
    help: 'the chip as a card file: written back (atomically) only when the session succeeded',
  },
  reader: {
    type: 'string',
    value: '<name>',
    help: 'the chip in this PC/SC reader (e.g. a card file served by `card serve --vpcd`)',
  },
  'pin-file': {
    type: 'string',
    value: '<file>',
    help: "the MKC's PIN (first line); never on the command line, where every user sees it in ps",
    byDefault: `$${MKC_PIN_ENV}`,
  },
  'card-timeout': {
    type: 'string',
    value: '<seconds>',
    help: '--reader: how long to wait for a card in the reader',
    byDefault: '60',
  },
  json: { type: 'boolean', help: 'print the result as JSON' },
  ...CARD_FILE_OPTIONS,
} as const satisfies OptionDocs;

const OPTIONS = {
  ...COMMON,
  as: {
    type: 'string',
    value: '<subscriber|sam|svm|commissioning>',
    help: 'what the blank chip becomes (it must be a blank chip of that kind)',
    byDefault: 'required',
  },
  csn: {
    type: 'string',
    value: '<hex8>',
    help: 'subscriber, commissioning: the card serial the bureau allocated (above every serial the MKC issued)',
  },
  purses: {
    type: 'string',
    value: '<id:balance;…>',
    help: 'subscriber: purses (utility 1..15) and opening balances in minor units',
    byDefault: '1:0',
  },
  'card-pin-file': {
    type: 'string',
    value: '<file>',
    help: "subscriber: the card's PIN (4..8 digits, first line); the card then asks for it",
    byDefault: 'no PIN',
  },
  expiry: { type: 'string', value: '<YYMMDD>', help: 'subscriber: expiry date', byDefault: '301231' },
  'issuer-id': {
    type: 'string',
    value: '<hex4>',
    help: 'subscriber: issuer id',
    byDefault: '4D505552 ("MPUR")',
  },
  'meter-id': {
    type: 'string',
    value: '<hex3>',
    help: "sam, svm: the meter's id; commissioning: the meter the payload commissions",
  },
  'terminal-id': { type: 'string', value: '<hex4>', help: 'sam, svm: the terminal id' },
  purse: {
    type: 'string',
    value: '<1..15>',
    help: 'sam, svm, commissioning: the utility (purse id)',
  },
  pairing: {
    type: 'string',
    value: '<n>',
    help: 'sam, svm: the pairing number (1..65535) the host registry gave the meter; the same for its SAM and SVM',
  },
  max: { type: 'string', value: '<n>', help: 'svm: largest balance', byDefault: '1000000' },
  balance: { type: 'string', value: '<n>', help: 'svm: opening balance', byDefault: '0' },
  uses: { type: 'string', value: '<n>', help: 'commissioning: how many times the card may be used' },
  payload: {
    type: 'string',
    value: '<hex>',
    help: 'commissioning: the payload itself (4..247 bytes; a CommissioningData or DecommissioningData)',
  },
  reference: {
    type: 'string',
    value: '<n>',
    help: 'commissioning: reference code of the commissioning transaction (u32)',
  },
  'unit-charge': {
    type: 'string',
    value: '<n>',
    help: 'commissioning: price per unit of a flat tariff (minor units per kWh, 1..2^32-1)',
  },
  'emergency-credit': {
    type: 'string',
    value: '<n>',
    help: 'commissioning: emergency-credit value (≤ 10000)',
    byDefault: '0',
  },
  'initial-credit': {
    type: 'string',
    value: '<n>',
    help: 'commissioning: initial test credit (≤ 10000)',
    byDefault: '0',
  },
} as const satisfies OptionDocs;

const STATUS_USAGE =
  'card status --mkc <mkc card file> (--chip <card file> | --reader <name> --icsn <hex8> --tkv <1..15>) --block|--unblock|--terminate [--pin-file <f>] [--card-timeout <s>] [--json] [--key-file <path>] [--unsealed] [--moved]';

const STATUS_OPTIONS = {
  ...COMMON,
  block: { type: 'boolean', help: 'block the card (LCS 05 → 04): it refuses every command until unblocked' },
  unblock: { type: 'boolean', help: 'unblock a blocked card (04 → 05)' },
  terminate: { type: 'boolean', help: 'terminate the card (05/04 → 0C), for ever' },
  icsn: {
    type: 'string',
    value: '<hex8>',
    help: "--reader: the chip's serial, from the bureau's records (a personalised card's FCI no longer shows it)",
  },
  tkv: {
    type: 'string',
    value: '<1..15>',
    help: "--reader: the chip's transport key version, from the bureau's records",
  },
} as const satisfies OptionDocs;

// ---- option values ----

function hexOpt(v: string | undefined, name: string, length: number): Uint8Array {
  if (v === undefined) throw new UsageError(`${name} <hex${length}> is required`);
  if (!new RegExp(`^[0-9A-Fa-f]{${length * 2}}$`).test(v))
    throw new UsageError(`${name} must be ${length} bytes hex (${length * 2} digits), got '${v}'`);
  return fromHex(v);
}

function intOpt(v: string | undefined, name: string, min: number, max: number, fallback?: number): number {
  if (v === undefined) {
    if (fallback === undefined) throw new UsageError(`${name} is required`);
    return fallback;
  }
  if (!/^[0-9]{1,10}$/.test(v) || Number(v) < min || Number(v) > max)
    throw new UsageError(`${name} must be an integer ${min}..${max}, got '${v}'`);
  return Number(v);
}

/** `1:5000;2:0` → purses with the limits of `card new`. @throws UsageError. */
function parsePurses(text: string): PurseInit[] {
  const out: PurseInit[] = [];
  for (const part of text.split(/[;,]/)) {
    const p = part.trim();
    if (p === '') continue;
    const m = /^([0-9]{1,2}):([0-9]{1,10})$/.exec(p);
    if (!m) throw new UsageError(`--purses: '${p}' is not id:balance (e.g. 1:5000;2:0)`);
    const id = Number(m[1]);
    const balance = Number(m[2]);
    if (id < 1 || id > 15) throw new UsageError(`--purses: purse id ${id} is not 1..15`);
    if (out.some((o) => o.id === id)) throw new UsageError(`--purses: purse ${id} given twice`);
    if (balance > PURSE_MAX)
      throw new UsageError(
        `--purses: balance ${balance} of purse ${id} is above the purse maximum ${PURSE_MAX}`,
      );
    out.push({ id, balance, max: PURSE_MAX, limit: PURSE_LIMIT, unit: UNIT_EUR_CENTS });
  }
  if (out.length === 0) throw new UsageError('--purses: give at least one purse, e.g. 1:0');
  return out.sort((a, b) => a.id - b.id);
}

/** A subscriber card's PIN from its file (first line). @throws UsageError. */
function readCardPin(path: string): string {
  let pin: string;
  try {
    pin = readFileSync(path, 'utf8').split(/\r?\n/)[0]!.trim();
  } catch (e) {
    throw new UsageError(`cannot read --card-pin-file '${path}': ${(e as Error).message}`);
  }
  if (!/^[0-9]{4,8}$/.test(pin)) throw new UsageError(`--card-pin-file: the card's PIN must be 4..8 digits`);
  return pin;
}

type Values = ReturnType<typeof parseOptions<typeof OPTIONS>>['values'];

/** Refuses options of another kind than `--as`'s, so that a typo does not go unnoticed. */
function refuseOthers(values: Values, kind: ChipKind): void {
  const own: Record<ChipKind, string[]> = {
    subscriber: ['csn', 'purses', 'card-pin-file', 'expiry', 'issuer-id'],
    sam: ['meter-id', 'terminal-id', 'purse', 'pairing'],
    svm: ['meter-id', 'terminal-id', 'purse', 'pairing', 'max', 'balance'],
    commissioning: [
      'csn',
      'purse',
      'uses',
      'payload',
      'meter-id',
      'reference',
      'unit-charge',
      'emergency-credit',
      'initial-credit',
    ],
  };
  const all = new Set(Object.values(own).flat());
  for (const name of all)
    if (!own[kind].includes(name) && (values as Record<string, unknown>)[name] !== undefined)
      throw new UsageError(`--${name} is not an option of --as ${kind}`);
}

/** The order `--as` and its options describe. @throws UsageError. */
export function orderFromOptions(values: Values): PersoOrder {
  const kind = values.as as ChipKind | undefined;
  if (kind === undefined) throw new UsageError(`--as ${KINDS.join('|')} is required`);
  if (!KINDS.includes(kind)) throw new UsageError(`--as must be one of ${KINDS.join(', ')}, got '${kind}'`);
  refuseOthers(values, kind);
  switch (kind) {
    case 'subscriber': {
      const expiry = values.expiry;
      if (expiry !== undefined && !/^[0-9]{6}$/.test(expiry))
        throw new UsageError(`--expiry must be YYMMDD, got '${expiry}'`);
      if (expiry !== undefined) {
        const m = Number(expiry.slice(2, 4));
        const d = Number(expiry.slice(4, 6));
        if (m < 1 || m > 12 || d < 1 || d > 31) throw new UsageError(`--expiry ${expiry} is not a date`);
      }
      return {
        kind,
        csn: hexOpt(values.csn, '--csn', 8),
        purses: parsePurses(values.purses ?? '1:0'),
        ...(expiry !== undefined ? { expiry: fromHex(expiry) } : {}),
        ...(values['issuer-id'] !== undefined
          ? { issuerId: hexOpt(values['issuer-id'], '--issuer-id', 4) }
          : {}),
        ...(values['card-pin-file'] !== undefined ? { pin: readCardPin(values['card-pin-file']) } : {}),
      };
    }
    case 'sam':
    case 'svm': {
      const meter = {
        meterId: hexOpt(values['meter-id'], '--meter-id', 3),
        terminalId: hexOpt(values['terminal-id'], '--terminal-id', 4),
        purse: intOpt(values.purse, '--purse', 1, 15),
        pairing: intOpt(values.pairing, '--pairing', 1, 0xffff),
      };
      if (kind === 'sam') return { kind, ...meter };
      const max = intOpt(values.max, '--max', 0, 0xffffffff, 1_000_000);
      const balance = intOpt(values.balance, '--balance', 0, 0xffffffff, 0);
      if (balance > max) throw new UsageError(`--balance ${balance} is above --max ${max}`);
      return { kind, ...meter, max, balance };
    }
    case 'commissioning': {
      const csn = hexOpt(values.csn, '--csn', 8);
      const purse = intOpt(values.purse, '--purse', 1, 15);
      const uses = intOpt(values.uses, '--uses', 1, 0xffff);
      const friendly = ['meter-id', 'reference', 'unit-charge', 'emergency-credit', 'initial-credit'].filter(
        (n) => (values as Record<string, unknown>)[n] !== undefined,
      );
      let payload: Uint8Array;
      if (values.payload !== undefined) {
        if (friendly.length)
          throw new UsageError(`--payload is the whole payload: --${friendly[0]} does not go with it`);
        if (!/^([0-9A-Fa-f]{2}){4,247}$/.test(values.payload))
          throw new UsageError('--payload must be 4..247 bytes hex');
        payload = fromHex(values.payload);
      } else {
        if (
          values['meter-id'] === undefined ||
          values.reference === undefined ||
          values['unit-charge'] === undefined
        )
          throw new UsageError(
            'a commissioning card needs --payload <hex>, or --meter-id, --reference and --unit-charge (a flat tariff) to build one',
          );
        try {
          payload = new CommissioningData(
            hexOpt(values['meter-id'], '--meter-id', 3),
            intOpt(values.reference, '--reference', 0, 0xffffffff),
            intOpt(values['emergency-credit'], '--emergency-credit', 0, 0xffffffff, 0),
            intOpt(values['initial-credit'], '--initial-credit', 0, 0xffffffff, 0),
            TariffTable.flat(intOpt(values['unit-charge'], '--unit-charge', 1, 0xffffffff)),
          ).encode();
        } catch (e) {
          if (e instanceof UsageError) throw e;
          if (e instanceof CommissioningError || e instanceof RangeError || e instanceof TypeError)
            throw new UsageError(`commissioning payload: ${e.message}`);
          throw e;
        }
      }
      return { kind, csn, purse, uses, payload };
    }
  }
}

// ---- the cards ----

/** The MKC from its card file, PIN verified; the file saved whatever VERIFY said. */
async function openMkc(
  path: string,
  pin: string,
  values: Parameters<typeof cardFileOptions>[0],
): Promise<{ mkc: MasterKeyCard; save: () => void }> {
  const opened = openForCommand(path, cardFileOptions(values));
  const save = () => {
    try {
      opened.save();
    } catch (e) {
      throw new CommandError(`cannot save the master-key card '${path}': ${(e as Error).message}`, {
        cause: e,
      });
    }
  };
  let mkc: MasterKeyCard;
  try {
    mkc = await MasterKeyCard.open(await new VirtualReader('mkc', opened.card).connect(), pin);
  } catch (e) {
    save(); // a wrong PIN spent a try: the file says so
    if (e instanceof BureauError)
      throw new CommandError(`master-key card '${path}': ${e.message}`, { cause: e });
    throw e;
  }
  save();
  const status = await mkc.status();
  if (!status.sealed)
    throw new CommandError(
      `master-key card '${path}' is not sealed: load and seal it first (keys ceremony load)`,
    );
  return { mkc, save };
}

/** Where the chip is: a card file (locked, saved on demand) or a PC/SC reader. */
interface Chip {
  channel: CardChannel;
  /** How messages name it. */
  name: string;
  file?: OpenedCardFile;
  close(): Promise<void>;
}

function lockFile(path: string, cleanups: Array<() => unknown>): void {
  try {
    const lock = CardFileLock.acquire(path);
    cleanups.push(() => lock.release());
  } catch (e) {
    if (e instanceof CardFileLockedError)
      throw new CommandError(`'${path}' is in use by another process (pid ${e.owner ?? '?'})`, { cause: e });
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new UsageError(`cannot open card file '${path}': ${(e as Error).message}`);
    throw new CommandError(`cannot lock '${path}': ${(e as Error).message}`, { cause: e });
  }
}

async function openChip(
  values: {
    chip?: string | undefined;
    reader?: string | undefined;
    'card-timeout'?: string | undefined;
  } & Parameters<typeof cardFileOptions>[0],
  cleanups: Array<() => unknown>,
): Promise<Chip> {
  if (values.chip !== undefined) {
    lockFile(values.chip, cleanups);
    const file = openForCommand(values.chip, cardFileOptions(values));
    const reader = new VirtualReader('chip', file.card);
    const channel = await reader.connect();
    return { channel, name: values.chip, file, close: async () => void reader.remove() };
  }
  const timeoutMs = intOpt(values['card-timeout'], '--card-timeout', 1, 86_400, 60) * 1000;
  const ctx = await PcscContext.open().catch((e: unknown) => {
    throw new CommandError(`PC/SC is not available: ${(e as Error).message}`, { cause: e });
  });
  cleanups.push(() => ctx.close());
  const reader = await ctx.waitForReader(values.reader!, 5000).catch((e: unknown) => {
    throw new CommandError(`no PC/SC reader '${values.reader}': ${(e as Error).message}`, { cause: e });
  });
  try {
    await reader.waitForCard(timeoutMs);
  } catch (e) {
    throw new CommandError(`no card in reader '${values.reader}': ${(e as Error).message}`, { cause: e });
  }
  const channel = await reader.connect().catch((e: unknown) => {
    throw new CommandError(`cannot connect to the card in '${values.reader}': ${(e as Error).message}`, {
      cause: e,
    });
  });
  return {
    channel,
    name: `the card in reader '${values.reader}'`,
    close: () => channel.disconnect().catch(() => undefined),
  };
}

function checkWhere(values: {
  chip?: string | undefined;
  reader?: string | undefined;
  mkc?: string | undefined;
}): void {
  if (!values.mkc) throw new UsageError('--mkc <mkc card file> is required');
  if ((values.chip === undefined) === (values.reader === undefined))
    throw new UsageError('give exactly one of --chip <card file> and --reader <name>');
}

/** A BureauError as one line naming the chip; CommandError (exit 1). */
function bureauFailure(e: BureauError, chip: Chip, order?: PersoOrder): CommandError {
  let why = e.message;
  if (e.code === 'serial-issued' && order && (order.kind === 'subscriber' || order.kind === 'commissioning'))
    why = `card serial ${toHex(order.csn)} is issued already: the master-key card issued it, or a higher one, to another chip; allocate a serial above the highest issued (${e.message})`;
  return new CommandError(`${chip.name}: ${why}`, { cause: e });
}

function describeChip(info: ChipInfo): string {
  const state = LCS_NAME[info.lcs] ?? `LCS ${lcsHex(info.lcs)}`;
  const who = info.csn
    ? `, CSN ${toHex(info.csn)}`
    : info.meterId
      ? `, meter id ${toHex(info.meterId)}${info.pairing !== undefined ? ` pairing ${info.pairing}` : ''}`
      : '';
  return `a ${state} ${info.kind} (LCS ${lcsHex(info.lcs)}${who})`;
}

function whatIssued(order: PersoOrder): Record<string, unknown> {
  switch (order.kind) {
    case 'subscriber':
      return {
        csn: toHex(order.csn),
        purses: order.purses.map((p) => ({ id: p.id, balance: p.balance ?? 0 })),
        pin: order.pin !== undefined,
        ...(order.expiry ? { expiry: toHex(order.expiry) } : {}),
      };
    case 'sam':
    case 'svm':
      return {
        meterId: toHex(order.meterId),
        terminalId: toHex(order.terminalId),
        purse: order.purse,
        pairing: order.pairing,
        ...(order.kind === 'svm' ? { max: order.max, balance: order.balance ?? 0 } : {}),
      };
    case 'commissioning':
      return {
        csn: toHex(order.csn),
        purse: order.purse,
        uses: order.uses,
        payloadBytes: order.payload.length,
      };
  }
}

function describeIssued(order: PersoOrder): string {
  const w = whatIssued(order);
  switch (order.kind) {
    case 'subscriber':
      return `CSN ${w['csn'] as string}, purses ${order.purses.map((p) => `${p.id}:${p.balance ?? 0}`).join(';')}, ${order.pin !== undefined ? 'with a PIN' : 'no PIN'}`;
    case 'sam':
    case 'svm':
      return `meter id ${w['meterId'] as string}, terminal id ${w['terminalId'] as string}, purse ${order.purse}, pairing ${order.pairing}${order.kind === 'svm' ? `, max ${order.max}, balance ${order.balance ?? 0}` : ''}`;
    case 'commissioning':
      return `CSN ${w['csn'] as string}, purse ${order.purse}, ${order.uses} use(s), payload of ${order.payload.length} bytes`;
  }
}

async function runPersonalise(args: string[], io: Io): Promise<number> {
  const { values } = parseOptions(args, OPTIONS, false, USAGE);
  checkWhere(values);
  const order = orderFromOptions(values);
  const pin = readMkcPin(values['pin-file']);
  const cleanups: Array<() => unknown> = [];
  try {
    lockFile(values.mkc!, cleanups);
    const chip = await openChip(values, cleanups);
    cleanups.push(() => chip.close());
    // The chip first: a chip that cannot become this card is refused before the MKC is asked.
    let info: ChipInfo;
    try {
      info = await readChip(chip.channel, order.kind);
    } catch (e) {
      if (e instanceof BureauError) throw bureauFailure(e, chip);
      throw e;
    }
    if (info.lcs !== LCS_BLANK)
      throw new CommandError(
        `${chip.name} is not a blank chip: it is ${describeChip(info)}; nothing was changed`,
      );
    if (info.kind !== order.kind)
      throw new CommandError(
        `${chip.name} is a blank ${info.kind} chip, not a blank ${order.kind} chip (--as ${order.kind}); nothing was changed`,
      );

    const { mkc, save: saveMkc } = await openMkc(values.mkc!, pin, values);
    if (order.kind === 'sam') {
      // A SAM holds at least two terminal key versions KT[n] (card/applets/sam): one per KH[u][n]
      // the MKC holds. Said here, before a session the chip would refuse only at SET STATUS.
      const kh = MasterKeyCard.khVersions(await mkc.status(), order.purse);
      if (kh.length < 2)
        throw new CommandError(
          `master-key card '${values.mkc}' holds ${kh.length} host master version(s) KH[${order.purse}][n] of utility ${order.purse}; a SAM needs at least two (keys ceremony generate --kh-versions 2); nothing was changed`,
        );
    }
    let result: PersoResult;
    try {
      result = await personalise(mkc, chip.channel, order);
    } catch (e) {
      saveMkc(); // the MKC's state is the card's: what it recorded stays recorded
      if (e instanceof BureauError) throw bureauFailure(e, chip, order);
      throw e;
    }
    // SET STATUS went through: the card file becomes the personalised card, then the MKC is saved.
    if (chip.file) {
      try {
        chip.file.save();
      } catch (e) {
        throw new CommandError(`cannot save the card file '${chip.name}': ${(e as Error).message}`, {
          cause: e,
        });
      }
    }
    saveMkc();
    const origin = chip.file ? cardOrigin(chip.file.card) : undefined;
    if (values.json)
      io.out(
        `${JSON.stringify({
          kind: result.kind,
          icsn: result.icsn,
          tkv: info.tkv,
          ...whatIssued(order),
          subject: result.subject,
          mkc: { serial: mkc.serial, issueCounter: result.issueCounter },
          ...(values.chip !== undefined
            ? { file: values.chip, profile: origin?.profile }
            : { reader: values.reader }),
        })}\n`,
      );
    else
      io.out(
        `personalised ${values.chip ?? chip.name} as a ${result.kind}: ICSN ${result.icsn} (transport key v${info.tkv}), ${describeIssued(order)}; life cycle 05 (personalised); master-key card ${mkc.serial} issue counter ${result.issueCounter}\n`,
      );
    return 0;
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // closing what is already closed
      }
    }
  }
}

/** The subject of a personalised card from what its FCI shows. */
function subjectFromInfo(info: ChipInfo): Uint8Array | undefined {
  switch (info.kind) {
    case 'subscriber':
      return info.csn;
    case 'sam':
    case 'svm':
      if (!info.meterId || info.purse === undefined || info.pairing === undefined) return undefined;
      return Uint8Array.of(info.purse, ...info.meterId, info.pairing >> 8, info.pairing & 0xff);
    case 'commissioning':
      if (!info.csn || info.purse === undefined) return undefined;
      return Uint8Array.of(info.purse, ...info.csn);
  }
}

async function runStatus(args: string[], io: Io): Promise<number> {
  const { values } = parseOptions(args, STATUS_OPTIONS, false, STATUS_USAGE);
  checkWhere(values);
  const actions = (['block', 'unblock', 'terminate'] as const).filter((a) => values[a]);
  if (actions.length !== 1) throw new UsageError('give exactly one of --block, --unblock and --terminate');
  const action: LifeCycleAction = actions[0]!;
  let icsn: Uint8Array | undefined;
  let tkv: number | undefined;
  if (values.reader !== undefined) {
    // A personalised card's FCI no longer shows ICSN and tkv (only a blank chip's does): the
    // bureau keeps them from personalisation and gives them here.
    icsn = hexOpt(values.icsn, '--icsn', 8);
    tkv = intOpt(values.tkv, '--tkv', 1, 15);
  } else if (values.icsn !== undefined || values.tkv !== undefined)
    throw new UsageError('--icsn and --tkv are for --reader: a card file holds its own');
  const pin = readMkcPin(values['pin-file']);
  const cleanups: Array<() => unknown> = [];
  try {
    lockFile(values.mkc!, cleanups);
    const chip = await openChip(values, cleanups);
    cleanups.push(() => chip.close());
    if (chip.file) {
      const config = cardOrigin(chip.file.card)?.config ?? {};
      if (typeof config['icsn'] !== 'string' || typeof config['tkv'] !== 'number')
        throw new CommandError(
          `${chip.name} was not made as a blank chip (card blank): it has no ICSN and transport key, and no master-key card manages it`,
        );
      icsn = fromHex(config['icsn']);
      tkv = config['tkv'];
    }
    let info: ChipInfo;
    try {
      info = await readChip(chip.channel);
    } catch (e) {
      if (e instanceof BureauError) throw bureauFailure(e, chip);
      throw e;
    }
    if (info.lcs === LCS_BLANK)
      throw new CommandError(
        `${chip.name} is a blank ${info.kind} chip: personalise it first (card personalise)`,
      );
    if (info.lcs === 0x0c)
      throw new CommandError(`${chip.name} is terminated: nothing more can be done with it`);
    const subject = subjectFromInfo(info);
    if (!subject) throw new CommandError(`${chip.name}: its FCI does not show whom it was personalised for`);
    const { mkc, save: saveMkc } = await openMkc(values.mkc!, pin, values);
    let lcs: number;
    try {
      ({ lcs } = await setStatus(
        mkc,
        chip.channel,
        { kind: info.kind, subject, icsn: icsn!, tkv: tkv! },
        action,
      ));
    } catch (e) {
      saveMkc();
      if (e instanceof BureauError) {
        if (e.code === 'chip-refused' && e.sw === 0x6985)
          throw new CommandError(
            `${chip.name} refuses to ${action}: ${describeChip(info)} cannot go there (${e.message})`,
            { cause: e },
          );
        throw bureauFailure(e, chip);
      }
      throw e;
    }
    if (chip.file) {
      try {
        chip.file.save();
      } catch (e) {
        throw new CommandError(`cannot save the card file '${chip.name}': ${(e as Error).message}`, {
          cause: e,
        });
      }
    }
    saveMkc();
    if (values.json)
      io.out(
        `${JSON.stringify({ kind: info.kind, action, lcs: lcsHex(lcs), state: LCS_NAME[lcs], icsn: toHex(icsn!) })}\n`,
      );
    else
      io.out(
        `${action === 'block' ? 'blocked' : action === 'unblock' ? 'unblocked' : 'terminated'} ${values.chip ?? chip.name}: ${info.kind} ICSN ${toHex(icsn!)}, life cycle ${lcsHex(info.lcs)} → ${lcsHex(lcs)} (${LCS_NAME[lcs]})\n`,
      );
    return 0;
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // closing what is already closed
      }
    }
  }
}

export const cardPersonaliseCommand: Command = {
  path: ['card', 'personalise'],
  summary:
    'personalise one blank chip (card file or PC/SC reader) through the master-key card: subscriber card, SAM, SVM or commissioning card',
  usage: USAGE,
  errorName: 'card personalise',
  options: OPTIONS,
  examples: [
    'card personalise --mkc mkc.card --chip blank.card --as subscriber --csn 4D50000000000001 --purses "1:5000;2:0" --card-pin-file pin.txt',
    'card personalise --mkc mkc.card --chip sam.card --as sam --meter-id 000123 --terminal-id 00000123 --purse 1 --pairing 1',
    'card personalise --mkc mkc.card --chip svm.card --as svm --meter-id 000123 --terminal-id 00000123 --purse 1 --pairing 1 --max 1000000',
    'card personalise --mkc mkc.card --chip comm.card --as commissioning --csn C0DE000000000001 --purse 1 --uses 3 --meter-id 000123 --reference 1 --unit-charge 25',
    'card personalise --mkc mkc.card --reader "Virtual PCD 00 00" --as sam --meter-id 000123 --terminal-id 00000123 --purse 1 --pairing 1',
  ],
  run: (args, io) => runPersonalise(args, io),
};

export const cardStatusCommand: Command = {
  path: ['card', 'status'],
  summary: 'block, unblock or terminate a personalised card through the master-key card',
  usage: STATUS_USAGE,
  errorName: 'card status',
  options: STATUS_OPTIONS,
  examples: [
    'card status --mkc mkc.card --chip my.card --block',
    'card status --mkc mkc.card --reader "Virtual PCD 00 00" --icsn 4943534E00000001 --tkv 1 --terminate',
  ],
  run: (args, io) => runStatus(args, io),
};

/** Both, for cli/main.ts. */
export const cardPersonaliseCommands: readonly Command[] = [cardPersonaliseCommand, cardStatusCommand];
