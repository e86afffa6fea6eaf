/**
 * `meterpurse card new --profile subscriber|subscriber-t0|sam|svm --out <file> [--seed S] ...` and
 * `meterpurse card show <file> [--json]`, `card seal` / `card unseal`: purse-system cards as
 * files, sealed under the card key (cli/cardfile/), personalised with the documented seeded demo
 * issuer — public test keys, never real secrets. `--unsealed` is lab mode: unsealed files anyone
 * can edit, for fault injection. Importing this module registers the four profiles, so
 * `meterpurse card serve <file>` can serve these cards too.
 */
import type { Command, Io, OptionDocs } from '../Command.js';
import { CommandError, UsageError, parseOptions } from '../Command.js';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  canonicalPath,
  createCardFile,
  openCardFile,
  type CardFileOptions,
  type CardFileSeal,
  type OpenedCardFile,
} from '../cardfile/index.js';
import { buildCard, cardOrigin, SeededRng, type Iso7816Os } from '../../card/index.js';
import { fromHex, toHex } from '../../card/index.js';
import { NodeCipherProvider } from '../../card/index.js';
import { IssuerKeys } from '../../card/index.js';
import { PROFILE_NAMES, defaultPurses, deviceOf, type ProfileName } from '../../card/index.js';
import { readDevice, type DeviceView } from '../../card/index.js';
import { bcdDateTime } from '../../card/index.js';
import { PURSE_NAMES } from '../../card/index.js';
import { loadCard } from '../../terminal/index.js';
import { CURRENCY_EUR, formatMoney } from '../../protocol/index.js';
import { describeMeterData } from '../MeterDataText.js';
import { VirtualReader } from '../../reader/index.js';
import { MKC_PIN_ENV, newMasterKeyCardFile } from './ceremony.js';

const USAGE_NEW =
  'card new --profile subscriber|subscriber-t0|sam|svm|master-key --out <file> [--force] [--seed <S>] [--csn <hex8>] [--balance <n>] [--pin <digits>] [--meter-id <hex3>] [--terminal-id <hex4>] [--max <n>] [--pin-file <file>] [--serial <hex8>] [--key-file <path>] [--unsealed] [--rng-seed <S>] [--json]';
const USAGE_SHOW = 'card show <file> [--json] [--key-file <path>] [--unsealed] [--moved]';
const USAGE_SEAL = 'card seal <lab-file> --out <file> [--force] [--key-file <path>]';
const USAGE_UNSEAL = 'card unseal <file> --out <lab-file> [--force] [--key-file <path>] [--moved]';

const KEY_FILE_DOC = {
  type: 'string',
  value: '<path>',
  help: 'the card key file that seals the card file (or $MP_CARD_KEY_FILE)',
  byDefault: '~/.config/meterpurse/card.key, created when missing',
} as const;

/** The options every card-file command takes: where the key is, lab mode, a deliberate move. */
export const CARD_FILE_OPTIONS = {
  'key-file': KEY_FILE_DOC,
  unsealed: { type: 'boolean', help: 'lab mode: an unsealed card file anyone can edit (fault injection)' },
  moved: {
    type: 'boolean',
    help: 'the card file was moved or copied on purpose: accept it at its new path',
  },
} as const satisfies OptionDocs;

const NEW_OPTIONS = {
  profile: {
    type: 'string',
    value: 'subscriber|subscriber-t0|sam|svm|master-key',
    help: "the kind of card: subscriber card (T=1 or T=0), meter SAM, SVM, the issuer's master-key card",
    byDefault: 'required',
  },
  out: { type: 'string', value: '<file>', help: 'the card file to write', byDefault: 'required' },
  force: { type: 'boolean', help: 'overwrite an existing card file (that card is lost)' },
  seed: {
    type: 'string',
    value: '<S>',
    help: 'seed of the demo issuer whose public test keys personalise it',
    byDefault: '0',
  },
  csn: {
    type: 'string',
    value: '<hex8>',
    help: 'card serial number, 8 bytes hex (subscriber)',
    byDefault: '4D50000000000001',
  },
  balance: {
    type: 'string',
    value: '<n>',
    help: 'units loaded onto each purse (subscriber)',
    byDefault: '0',
  },
  pin: {
    type: 'string',
    value: '<digits>',
    help: 'a 4..8 digit PIN the card asks for (subscriber)',
    byDefault: 'no PIN',
  },
  'meter-id': {
    type: 'string',
    value: '<hex3>',
    help: 'meter id, 3 bytes hex (sam, svm)',
    byDefault: '000123',
  },
  'terminal-id': {
    type: 'string',
    value: '<hex4>',
    help: 'terminal id, 4 bytes hex (sam, svm)',
    byDefault: '00000123',
  },
  max: { type: 'string', value: '<n>', help: 'largest balance the SVM holds (svm)', byDefault: '1000000' },
  'pin-file': {
    type: 'string',
    value: '<file>',
    help: `master-key: the MKC's PIN (4..8 digits) from this file, or $${MKC_PIN_ENV}; never on the command line (ps shows it)`,
    byDefault: `$${MKC_PIN_ENV}`,
  },
  serial: {
    type: 'string',
    value: '<hex8>',
    help: "master-key: the MKC's serial, 8 bytes hex",
    byDefault: 'random',
  },
  'key-file': KEY_FILE_DOC,
  unsealed: CARD_FILE_OPTIONS.unsealed,
  'rng-seed': {
    type: 'string',
    value: '<S>',
    help: 'a DETERMINISTIC LAB card: its random source seeded (SeededRng) from the card file, so card serve and trace replay --card replay recorded authenticated sessions without --rng-seed; its challenges repeat: NOT for real use (subscriber, sam, svm)',
    byDefault: 'the OS random source',
  },
  json: { type: 'boolean', help: 'print the file, its seal and the card as JSON' },
} as const satisfies OptionDocs;

const SHOW_OPTIONS = {
  json: { type: 'boolean', help: 'print the card as JSON' },
  ...CARD_FILE_OPTIONS,
} as const satisfies OptionDocs;

const FORCE_DOC = { type: 'boolean', help: 'overwrite an existing card file (that card is lost)' } as const;

const SEAL_OPTIONS = {
  out: { type: 'string', value: '<file>', help: 'the sealed card file to write', byDefault: 'required' },
  force: FORCE_DOC,
  'key-file': KEY_FILE_DOC,
} as const satisfies OptionDocs;

const UNSEAL_OPTIONS = {
  out: { type: 'string', value: '<lab-file>', help: 'the unsealed lab file to write', byDefault: 'required' },
  force: FORCE_DOC,
  'key-file': KEY_FILE_DOC,
  moved: CARD_FILE_OPTIONS.moved,
} as const satisfies OptionDocs;

/** What the user asked for, as `openCardFile` / `createCardFile` options. */
export function cardFileOptions(values: {
  'key-file'?: string | undefined;
  unsealed?: boolean | undefined;
  moved?: boolean | undefined;
}): CardFileOptions {
  return {
    ...(values['key-file'] !== undefined ? { keyFile: values['key-file'] } : {}),
    ...(values.unsealed ? { unsealed: true } : {}),
    ...(values.moved ? { moved: true } : {}),
  };
}

/** One line saying how a card file is protected. */
export function describeSeal(s: CardFileSeal): string {
  return s.sealed
    ? `sealed (AES-256-GCM) under card key ${s.keyId} from ${s.keySource}; card id ${s.cardId}, generation ${s.generation}`
    : 'UNSEALED LAB FILE (--unsealed): anyone can edit it, nothing but a CRC guards it';
}

/**
 * Warns when the key file sits in the card file's folder: whoever can edit the card could then
 * read the key, and the seal protects nothing.
 */
function warnKeyBeside(seal: CardFileSeal, cardPath: string, io: Io): void {
  if (seal.keyFile !== undefined && dirname(canonicalPath(seal.keyFile)) === dirname(canonicalPath(cardPath)))
    io.err(
      `card: WARNING: the card key ${seal.keyFile} is in the same folder as ${cardPath}; keep it where whoever can edit card files cannot reach it\n`,
    );
}

/**
 * Opens a card file for a command; every way it can fail is one UsageError line naming the file.
 * @throws UsageError
 */
export function openForCommand(path: string, options: CardFileOptions): OpenedCardFile {
  try {
    return openCardFile(path, options);
  } catch (e) {
    throw new UsageError(`cannot open card file '${path}': ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * The key of a card file's configuration that holds the seed of its random source (`card new
 * --rng-seed`): a deterministic lab card. The configuration is inside the seal, so a sealed file
 * keeps it encrypted and authenticated; `card seal` / `card unseal` carry it over.
 */
export const RNG_SEED_CONFIG_KEY = 'rngSeed';

/** The seed a card file stores for its card's random source, if any. */
export function storedRngSeed(card: Iso7816Os): string | undefined {
  const v = cardOrigin(card)?.config[RNG_SEED_CONFIG_KEY];
  return typeof v === 'string' ? v : undefined;
}

/** A card file opened with the random source it asks for, and where that source's seed came from. */
export interface SeededCardFile {
  readonly opened: OpenedCardFile;
  /** The seed the card's random source was made from; undefined: the OS random source. */
  readonly rngSeed?: string;
  /** Where `rngSeed` came from: the command's `--rng-seed` or the card file's configuration. */
  readonly rngSeedFrom?: 'flag' | 'card file';
  /** The seed the card file stores, when a flag overrode it. */
  readonly overridden?: string;
}

/**
 * Opens a card file, its card's random source `SeededRng(flag)` when a `--rng-seed` is given (it
 * overrides the file's own), else `SeededRng(seed)` of the seed the file stores (`card new
 * --rng-seed`), else the OS random source.
 * @throws what `openCardFile` throws.
 */
export function openCardFileSeeded(path: string, options: CardFileOptions, flag?: string): SeededCardFile {
  if (flag !== undefined) {
    const opened = openCardFile(path, { ...options, rng: new SeededRng(flag) });
    const stored = storedRngSeed(opened.card);
    return {
      opened,
      rngSeed: flag,
      rngSeedFrom: 'flag',
      ...(stored !== undefined && stored !== flag ? { overridden: stored } : {}),
    };
  }
  const first = openCardFile(path, options);
  const stored = storedRngSeed(first.card);
  if (stored === undefined || options.rng !== undefined) return { opened: first };
  // The seed is in the (sealed) configuration: known only once the file is open. Open it again
  // with the seeded source, so the card's random source is exactly a fresh SeededRng(seed), as
  // with the flag; nothing was sent to the first card.
  return {
    opened: openCardFile(path, { ...options, rng: new SeededRng(stored) }),
    rngSeed: stored,
    rngSeedFrom: 'card file',
  };
}

/** One phrase on a seeded card's random source, for the commands' output; '' when not seeded. */
export function describeRngSeed(s: Pick<SeededCardFile, 'rngSeed' | 'rngSeedFrom' | 'overridden'>): string {
  if (s.rngSeed === undefined) return '';
  const from =
    s.rngSeedFrom === 'flag'
      ? `--rng-seed${s.overridden !== undefined ? ` (overrides the card file's seed ${JSON.stringify(s.overridden)})` : ''}`
      : "the card file's own seed (card new --rng-seed)";
  return `random source SeededRng(${JSON.stringify(s.rngSeed)}) from ${from}`;
}

/** What `card show` / `card new` say of a card file that stores a seed. */
export function rngSeedWarning(seed: string): string {
  return `random source: SeededRng(${JSON.stringify(seed)}) from the card file — a DETERMINISTIC LAB card: its challenges and session keys repeat on every run; NOT fit for real use`;
}

function hexArg(v: string | undefined, name: string, length: number, fallback: string): string {
  const s = v ?? fallback;
  let b: Uint8Array;
  try {
    b = fromHex(s);
  } catch {
    throw new UsageError(`${name} must be hex, got ${s}`);
  }
  if (b.length !== length) throw new UsageError(`${name} must be ${length} bytes, got ${b.length}`);
  return toHex(b);
}

function intArg(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (!/^[0-9]+$/.test(v) || Number(v) > 0xffffffff)
    throw new UsageError(`${name} must be an integer 0..4294967295, got ${v}`);
  return Number(v);
}

async function cardNew(args: string[], io: Io): Promise<number> {
  const { values } = parseOptions(args, NEW_OPTIONS, false, USAGE_NEW);
  if (values.profile === 'master-key') {
    if (values['rng-seed'] !== undefined)
      throw new UsageError(
        '--rng-seed makes a deterministic lab card: subscriber, sam or svm, never the master-key card',
      );
    // The issuer's master-key card (docs/personalisation.md §3): empty, for `keys ceremony load`.
    if (!values.out) throw new UsageError('--out <file> is required');
    refuseOverwrite(values.out, values.force);
    const seal = newMasterKeyCardFile(values.out, values['pin-file'], values.serial, cardFileOptions(values));
    io.out(`created master-key card file ${values.out}: ${describeSeal(seal)}\n`);
    io.out(`LCS 03, no keys: load the custodians' components with 'meterpurse keys ceremony load'\n`);
    return 0;
  }
  const profile = values.profile as ProfileName | undefined;
  if (!profile || !PROFILE_NAMES.includes(profile))
    throw new UsageError(`--profile must be one of ${PROFILE_NAMES.join(', ')}`);
  if (!values.out) throw new UsageError('--out <file> is required');
  // A card file is a card: writing over one silently loses its purses (issue 16).
  refuseOverwrite(values.out, values.force);
  const json = values.json === true;
  const seed = values.seed ?? '0';
  const meter = {
    meterId: hexArg(values['meter-id'], '--meter-id', 3, '000123'),
    terminalId: hexArg(values['terminal-id'], '--terminal-id', 4, '00000123'),
  };
  const rngSeed = values['rng-seed'];
  if (rngSeed === '') throw new UsageError('--rng-seed needs a seed');
  let config: Record<string, unknown>;
  if (profile === 'subscriber' || profile === 'subscriber-t0') {
    if (values.pin !== undefined && !/^[0-9]{4,8}$/.test(values.pin))
      throw new UsageError('--pin must be 4..8 digits');
    config = {
      demoIssuerSeed: seed,
      csn: hexArg(values.csn, '--csn', 8, '4D50000000000001'),
      purses: defaultPurses(),
      ...(values.pin ? { pin: values.pin } : {}),
    };
  } else if (profile === 'sam') {
    config = { demoIssuerSeed: seed, ...meter };
  } else {
    config = { demoIssuerSeed: seed, ...meter, max: intArg(values.max, '--max', 1_000_000) };
  }
  // A deterministic lab card: the seed goes into the configuration (inside the seal), and the card
  // is built with that source, so even the LOADs of --balance repeat.
  if (rngSeed !== undefined) config[RNG_SEED_CONFIG_KEY] = rngSeed;
  const card = buildCard(
    profile,
    config,
    undefined,
    rngSeed !== undefined ? { rng: new SeededRng(rngSeed) } : {},
  );
  const balance = intArg(values.balance, '--balance', 0);
  if (balance > 0) {
    if (profile !== 'subscriber' && profile !== 'subscriber-t0')
      throw new UsageError('--balance is for subscriber cards');
    // Real LOAD commands with the demo issuer's credit key, as a vending point would send them.
    const issuer = IssuerKeys.demo(new NodeCipherProvider(), seed);
    const reader = new VirtualReader('issuer', card);
    const pinBlock = values.pin
      ? Uint8Array.from(
          [...values.pin].map((c) => c.charCodeAt(0)).concat(Array(8 - values.pin.length).fill(0xff)),
        )
      : undefined;
    for (const p of defaultPurses()) {
      try {
        await loadCard(await reader.connect(), issuer, {
          purse: p.id,
          amount: balance,
          terminalId: fromHex('49535355'), // "ISSU"
          dateTime: bcdDateTime(Date.now()),
          ...(pinBlock ? { pinBlock } : {}),
        });
      } catch (e) {
        throw new UsageError(`cannot load ${balance} onto purse ${p.id}: ${(e as Error).message}`);
      }
    }
    reader.remove();
  }
  let seal: CardFileSeal;
  let keyCreated: string | undefined;
  try {
    seal = createCardFile(values.out, card, {
      ...cardFileOptions(values),
      onKeyCreated: (p) => {
        keyCreated = p;
        (json ? io.err : io.out)(
          `created card key file ${p} (mode 0600; keep it away from the card files)\n`,
        );
      },
    });
  } catch (e) {
    throw new CommandError(`cannot write card file '${values.out}': ${(e as Error).message}`, { cause: e });
  }
  if (json) {
    warnKeyBeside(seal, values.out, io);
    const view = readDevice(deviceOf(card, profile).store);
    io.out(
      `${JSON.stringify({ file: values.out, profile, demoIssuerSeed: seed, ...(rngSeed !== undefined ? { rngSeed, deterministic: true } : {}), seal, keyFileCreated: keyCreated ?? null, ...view }, null, 2)}\n`,
    );
    return 0;
  }
  io.out(`created ${profile} card file ${values.out}: ${describeSeal(seal)}\n`);
  warnKeyBeside(seal, values.out, io);
  io.out(
    `keys: the seeded DEMO issuer "${seed}" (IssuerKeys.demo, docs/purse-spec.md §2) — public test keys, never real secrets\n`,
  );
  if (rngSeed !== undefined) io.out(`${rngSeedWarning(rngSeed)}\n`);
  show(readDevice(deviceOf(card, profile).store), io);
  return 0;
}

function show(v: DeviceView, io: Io): void {
  const o: string[] = [];
  if (v.kind === 'subscriber') {
    o.push(
      `subscriber card  CSN ${v.csn}  issuer ${v.issuerId}  expires ${v.expiry}  profile v${v.profileVersion}  keys v${v.keyVersion}`,
    );
    o.push(`PIN: ${v.pin.required ? `required, ${v.pin.triesLeft} tries left` : 'none'}`);
    o.push('purses:');
    for (const p of v.purses)
      o.push(
        `  ${p.id.toString(16).padStart(2, '0')} ${p.name.padEnd(11)} balance ${formatMoney(p.balance, p.unit).padStart(14)}  max ${formatMoney(p.max, p.unit)}  limit ${formatMoney(p.limit, p.unit)}  counter ${p.counter}  ${p.status}`,
      );
    o.push(`log (${v.log.length} of 10, newest first):`);
    for (const r of v.log) {
      // A log record names its purse; the amounts are in that purse's unit.
      const purse = v.purses.find((p) => p.id === r['purse']);
      const money = (a: unknown) => (purse && typeof a === 'number' ? formatMoney(a, purse.unit) : String(a));
      o.push(
        `  ${String(r['type']).padEnd(5)} ${purse?.name ?? `purse ${String(r['purse'])}`} ${money(r['amount'])}, balance ${money(r['balanceAfter'])}  counter ${r['counter']}  terminal ${r['terminalId']}  at ${r['dateTime']}  mac ${r['mac']}`,
      );
    }
    o.push('meter data:');
    v.meterData.forEach((m, i) => {
      const id = v.purses[i]?.id ?? 0;
      const unit = v.purses[i]?.unit ?? CURRENCY_EUR;
      if (!m) o.push(`  ${PURSE_NAMES[id] ?? id}: (empty)`);
      else o.push(`  ${PURSE_NAMES[id] ?? id}: ${describeMeterData(m, unit).join('\n    ')}`);
    });
  } else if (v.kind === 'sam') {
    o.push(
      `meter SAM  meter id ${v.meterId}  terminal id ${v.terminalId}  KT versions ${v.terminalKeyVersions.join(', ')}`,
    );
  } else if (v.kind === 'blank') {
    o.push(`blank ${v.chip} chip (LCS 0${v.lcs}, not personalised)  ICSN ${v.icsn}  transport key v${v.tkv}`);
  } else if (v.kind === 'commissioning') {
    o.push(`commissioning card  CSN ${v.csn}  purse ${v.purse}  uses left ${v.uses}`);
  } else {
    o.push(`SVM  meter id ${v.meterId}  terminal id ${v.terminalId}`);
    // The SVM's register holds no currency code: it takes the credit of one utility's purses
    // and the host's, which for the demo issuer are euro cents.
    o.push(
      `balance ${formatMoney(v.balance, CURRENCY_EUR)}  max ${formatMoney(v.max, CURRENCY_EUR)}  counter ${v.counter}  (the demo issuer's unit: euro cents)`,
    );
    o.push(`pending transfer: ${v.pending ? JSON.stringify(v.pending) : 'none'}`);
    o.push(`log (${v.log.length}, newest first):`);
    for (const r of v.log) o.push(`  ${JSON.stringify(r)}`);
  }
  io.out(`${o.join('\n')}\n`);
}

async function cardShow(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseOptions(args, SHOW_OPTIONS, true, USAGE_SHOW);
  if (positionals.length !== 1) throw new UsageError(`usage: meterpurse ${USAGE_SHOW}`);
  const path = positionals[0]!;
  const opened = openForCommand(path, cardFileOptions(values));
  const origin = cardOrigin(opened.card);
  const profile = origin?.profile as ProfileName | undefined;
  if (!profile || !PROFILE_NAMES.includes(profile))
    throw new UsageError(`'${path}' holds a ${origin?.profile ?? 'unknown'} card, not a purse-system card`);
  let view: DeviceView;
  try {
    opened.card.powerUp(); // recovers a transaction torn before the file was saved (in memory only)
    view = readDevice(deviceOf(opened.card, profile).store);
  } catch (e) {
    // Only a lab file can get here with contents the applets do not expect.
    throw new UsageError(`cannot read the card in '${path}': ${e instanceof Error ? e.message : String(e)}`);
  }
  const seed = origin?.config['demoIssuerSeed'];
  const rngSeed = storedRngSeed(opened.card);
  const file = opened.sealed
    ? { sealed: true, cardId: opened.cardId, keyId: opened.keyId, generation: opened.generation }
    : { sealed: false, lab: true };
  if (values.json) {
    io.out(
      `${JSON.stringify({ profile, demoIssuerSeed: seed ?? null, ...(rngSeed !== undefined ? { rngSeed, deterministic: true } : {}), file, ...view }, null, 2)}\n`,
    );
    return 0;
  }
  const what =
    profile.startsWith('blank-') && view.kind !== 'blank'
      ? `${view.kind} card (personalised over APDUs from a ${profile} chip)`
      : `${profile} card`;
  io.out(`${path}: ${what}${typeof seed === 'string' ? ` (demo issuer "${seed}": public test keys)` : ''}\n`);
  io.out(`file: ${describeSeal(opened)}\n`);
  if (rngSeed !== undefined) io.out(`${rngSeedWarning(rngSeed)}\n`);
  if (view.kind !== 'blank' && view.issuance)
    io.out(
      `life cycle: ${view.issuance.lcs.toString(16).padStart(2, '0').toUpperCase()} ${view.issuance.state}  chip ICSN ${view.issuance.icsn}  transport key v${view.issuance.tkv}\n`,
    );
  show(view, io);
  return 0;
}

/** A card file is a card: writing over one needs --force. @throws UsageError. */
function refuseOverwrite(out: string, force: boolean | undefined): void {
  if (existsSync(out) && !force)
    throw new UsageError(`'${out}' exists (a card file is a card): give --force to overwrite it`);
}

/** `card seal <lab-file> --out <file>`: a lab file made into a sealed card (a new card id). */
async function cardSeal(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseOptions(args, SEAL_OPTIONS, true, USAGE_SEAL);
  if (positionals.length !== 1 || !values.out) throw new UsageError(`usage: meterpurse ${USAGE_SEAL}`);
  const from = positionals[0]!;
  refuseOverwrite(values.out, values.force);
  const opened = openForCommand(from, { unsealed: true, ...cardFileOptions(values) });
  if (opened.sealed) throw new UsageError(`'${from}' is sealed already`);
  let seal: CardFileSeal;
  try {
    seal = createCardFile(values.out, opened.card, {
      ...cardFileOptions(values),
      onKeyCreated: (p) =>
        io.out(`created card key file ${p} (mode 0600; keep it away from the card files)\n`),
    });
  } catch (e) {
    throw new CommandError(`cannot write card file '${values.out}': ${(e as Error).message}`, { cause: e });
  }
  io.out(`sealed ${from} into ${values.out}: ${describeSeal(seal)}\n`);
  warnKeyBeside(seal, values.out, io);
  return 0;
}

/** `card unseal <file> --out <lab-file>`: a lab copy of a sealed card, for fault injection. */
async function cardUnseal(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseOptions(args, UNSEAL_OPTIONS, true, USAGE_UNSEAL);
  if (positionals.length !== 1 || !values.out) throw new UsageError(`usage: meterpurse ${USAGE_UNSEAL}`);
  const from = positionals[0]!;
  refuseOverwrite(values.out, values.force);
  const opened = openForCommand(from, cardFileOptions(values));
  try {
    createCardFile(values.out, opened.card, { unsealed: true });
  } catch (e) {
    throw new CommandError(`cannot write card file '${values.out}': ${(e as Error).message}`, { cause: e });
  }
  io.out(
    `wrote an UNSEALED LAB copy of ${from} to ${values.out}: anyone can edit it (lab mode, --unsealed)\n`,
  );
  return 0;
}

export const cardNewCommand: Command = {
  path: ['card', 'new'],
  summary:
    'create a sealed purse-system card file: subscriber card, meter SAM or SVM (demo issuer keys), or an empty master-key card',
  usage: USAGE_NEW,
  errorName: 'card',
  options: NEW_OPTIONS,
  examples: [
    'card new --profile subscriber --out my.card --balance 5000',
    'card new --profile svm --out meter.svm --meter-id 000123 --json',
    'card new --profile svm --out lab.svm --rng-seed lab:svm --unsealed   # deterministic LAB card, not for real use',
  ],
  run: (args, io) => cardNew(args, io),
};

export const cardShowCommand: Command = {
  path: ['card', 'show'],
  summary: "show a card file's purses, counters, logs and meter data",
  usage: USAGE_SHOW,
  errorName: 'card',
  options: SHOW_OPTIONS,
  examples: ['card show my.card', 'card show my.card --json'],
  run: (args, io) => cardShow(args, io),
};

export const cardSealCommand: Command = {
  path: ['card', 'seal'],
  summary: 'seal an unsealed lab card file into a card file (a new card id)',
  usage: USAGE_SEAL,
  errorName: 'card',
  options: SEAL_OPTIONS,
  examples: ['card seal lab.card --out my.card'],
  run: (args, io) => cardSeal(args, io),
};

export const cardUnsealCommand: Command = {
  path: ['card', 'unseal'],
  summary: 'write an unsealed lab copy of a card file, for fault injection',
  usage: USAGE_UNSEAL,
  errorName: 'card',
  options: UNSEAL_OPTIONS,
  examples: ['card unseal my.card --out lab.card'],
  run: (args, io) => cardUnseal(args, io),
};

/** The four card-file commands, for cli/main.ts (`card serve` is its own). */
export const cardCommands: readonly Command[] = [
  cardNewCommand,
  cardShowCommand,
  cardSealCommand,
  cardUnsealCommand,
];

/** `meterpurse card new|show|seal|unseal` (`card serve` is its own command). */
export const cardCommand: Command = {
  path: ['card'],
  summary:
    'create a sealed purse-system card file (new), show its purses, counters, logs and meter data (show), convert lab files (seal, unseal)',
  usage: `${USAGE_NEW}\n       meterpurse ${USAGE_SHOW}\n       meterpurse ${USAGE_SEAL}\n       meterpurse ${USAGE_UNSEAL}`,
  async run(args: string[], io: Io): Promise<number> {
    const [sub, ...rest] = args;
    if (sub === 'new') return cardNew(rest, io);
    if (sub === 'show') return cardShow(rest, io);
    if (sub === 'seal') return cardSeal(rest, io);
    if (sub === 'unseal') return cardUnseal(rest, io);
    throw new UsageError(
      `unknown sub-command '${sub ?? ''}': use 'card new', 'card show', 'card seal', 'card unseal' or 'card serve'`,
    );
  },
};
