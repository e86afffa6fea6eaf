/**
 * The key ceremony (docs/personalisation.md §3, §4):
 *
 *   meterpurse keys ceremony generate --utilities 1,2 --custodians 2 --out <dir>
 *   meterpurse keys ceremony import   --custodian 1 --of 2 --slot 11 --component <hex> --kcv <hex> … --out <file>
 *   meterpurse keys ceremony load     --mkc <card file> --pin-file <f> --components a.json b.json --manifest manifest.json
 *   meterpurse keys ceremony status   --mkc <card file>
 *   meterpurse card new --profile master-key --out <card file> --pin-file <f> [--serial <hex8>]
 *
 * No whole key is ever written or printed: custodian files hold components (mode 0600), the
 * manifest and the output KCVs only. The MKC's PIN is read from a file or MP_MKC_PIN, never
 * from the command line (a command line is visible to every user in `ps`).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command, Io, OptionDocs } from '../Command.js';
import { CommandError, UsageError, parseOptions } from '../Command.js';
import {
  createCardFile,
  createFileExclusive,
  openCardFile,
  writeFileAtomic,
  type CardFileOptions,
  type CardFileSeal,
} from '../cardfile/index.js';
import { NodeCipherProvider, SystemRng, buildCard, cardOrigin, fromHex, toHex } from '../../card/index.js';
import { PROFILE_MASTER_KEY } from '../../card/index.js';
import { VirtualReader } from '../../reader/index.js';
import { encodeTransportMaster } from '../issue/transportMasterFile.js';
import {
  BureauError,
  KeyComponentError,
  MasterKeyCard,
  ceremonySlots,
  checkAgainstManifest,
  combineComponents,
  componentFileFromTyped,
  encodeComponentFile,
  encodeManifest,
  generateComponents,
  parseComponentFile,
  parseManifest,
  slotLabel,
  wipeComponents,
  type ComponentFile,
  type Manifest,
  type TypedComponent,
} from '../../terminal/index.js';

/** The environment variable the MKC's PIN may come from. */
export const MKC_PIN_ENV = 'MP_MKC_PIN';
/** Exit status of a KCV mismatch (sysexits EX_DATAERR): a component or key is not what was recorded. */
export const EXIT_KCV_MISMATCH = 65;

const PIN_NOTE = `the MKC's PIN, read from this file (its first line) or from $${MKC_PIN_ENV}; never on the command line, where every user sees it in ps`;

const KEY_FILE = {
  type: 'string',
  value: '<path>',
  help: 'the card key file that seals the card file (or $MP_CARD_KEY_FILE)',
  byDefault: '~/.config/meterpurse/card.key',
} as const;

function cardOptions(v: {
  'key-file'?: string | undefined;
  unsealed?: boolean | undefined;
}): CardFileOptions {
  return {
    ...(v['key-file'] !== undefined ? { keyFile: v['key-file'] } : {}),
    ...(v.unsealed ? { unsealed: true } : {}),
  };
}

/**
 * The MKC's PIN from `--pin-file` or $MP_MKC_PIN.
 * @throws UsageError when neither gives 4..8 digits.
 */
export function readMkcPin(pinFile: string | undefined): string {
  let pin: string | undefined;
  if (pinFile !== undefined) {
    try {
      pin = readFileSync(pinFile, 'utf8').split(/\r?\n/)[0]!.trim();
    } catch (e) {
      throw new UsageError(`cannot read --pin-file '${pinFile}': ${(e as Error).message}`);
    }
  } else pin = process.env[MKC_PIN_ENV];
  if (pin === undefined)
    throw new UsageError(`the MKC's PIN is needed: --pin-file <file> or $${MKC_PIN_ENV}`);
  if (!/^[0-9]{4,8}$/.test(pin)) throw new UsageError(`the MKC's PIN must be 4..8 digits`);
  return pin;
}

function intList(v: string | undefined, name: string): number[] {
  if (v === undefined) throw new UsageError(`${name} is required`);
  const out = v.split(',').map((x) => x.trim());
  if (out.some((x) => !/^[0-9]+$/.test(x)))
    throw new UsageError(`${name} must be a comma-separated list of numbers, got ${v}`);
  return out.map(Number);
}

function intOpt(v: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max)
    throw new UsageError(`${name} must be ${min}..${max}, got ${v}`);
  return Number(v);
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${what} '${path}': ${(e as Error).message}`);
  }
}

// ---- generate ----

const GENERATE_USAGE =
  'keys ceremony generate --utilities <1,2,…> --custodians 2|3 --out <dir> [--kh-versions <n>] [--transport-versions <n>] [--key-version <v>] [--force]';
const GENERATE_OPTIONS = {
  utilities: {
    type: 'string',
    value: '<1,2,…>',
    help: 'the utilities (purse ids 1..15) to make masters for',
    byDefault: 'required',
  },
  custodians: {
    type: 'string',
    value: '2|3',
    help: 'how many custodians each hold one component of every key',
    byDefault: 'required',
  },
  out: {
    type: 'string',
    value: '<dir>',
    help: 'folder for custodian-1.json … and manifest.json (made if missing)',
    byDefault: 'required',
  },
  'kh-versions': {
    type: 'string',
    value: '<n>',
    help: 'seed 000 host master versions KH[u][0..n-1] per utility',
    byDefault: '2',
  },
  'transport-versions': {
    type: 'string',
    value: '<n>',
    help: 'transport masters MK_tr[1..n]',
    byDefault: '1',
  },
  'key-version': { type: 'string', value: '<v>', help: 'the version recorded for every key', byDefault: '1' },
  force: { type: 'boolean', help: 'overwrite files of an earlier ceremony in --out' },
} as const satisfies OptionDocs;

async function generate(args: string[], io: Io): Promise<number> {
  const { values } = parseOptions(args, GENERATE_OPTIONS, false, GENERATE_USAGE);
  const utilities = intList(values.utilities, '--utilities');
  const custodians = intOpt(values.custodians, '--custodians', 0, 2, 3);
  if (values.custodians === undefined) throw new UsageError('--custodians 2|3 is required');
  if (!values.out) throw new UsageError('--out <dir> is required');
  let slots;
  try {
    slots = ceremonySlots(
      utilities,
      intOpt(values['kh-versions'], '--kh-versions', 2, 1, 4),
      intOpt(values['transport-versions'], '--transport-versions', 1, 1, 15),
      intOpt(values['key-version'], '--key-version', 1, 0, 255),
    );
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const dir = values.out;
  const names = [...Array.from({ length: custodians }, (_, i) => `custodian-${i + 1}.json`), 'manifest.json'];
  if (!values.force)
    for (const n of names)
      if (existsSync(join(dir, n)))
        throw new UsageError(`'${join(dir, n)}' exists: give --force to overwrite it`);
  const cipher = new NodeCipherProvider();
  const { files, manifest } = generateComponents(new SystemRng(), cipher, slots, custodians as 2 | 3);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const write = (name: string, text: string) => {
      const p = join(dir, name);
      if (values.force) writeFileAtomic(p, new TextEncoder().encode(text));
      else createFileExclusive(p, new TextEncoder().encode(text));
    };
    files.forEach((f, i) => write(names[i]!, encodeComponentFile(f)));
    write('manifest.json', encodeManifest(manifest));
  } catch (e) {
    throw new CommandError(`cannot write the ceremony files in '${dir}': ${(e as Error).message}`, {
      cause: e,
    });
  } finally {
    wipeComponents(files);
  }
  io.out(`wrote ${names.map((n) => join(dir, n)).join(', ')} (mode 0600)\n`);
  io.out(`give each custodian their own file; keep manifest.json (KCVs only) with the MKC's records\n`);
  io.out(`slot               version  KCV     component KCVs\n`);
  for (const s of manifest.slots)
    io.out(
      `${slotLabel(s.slot).padEnd(18)} ${String(s.version).padStart(7)}  ${toHex(s.kcv)}  ${s.components.map((k) => toHex(k)).join(' ')}\n`,
    );
  return 0;
}

// ---- import ----

const IMPORT_USAGE =
  'keys ceremony import --custodian <n> --of 2|3 (--from <file>|- | --slot <hex> --component <hex> --kcv <hex> […]) [--key-version <v>] --out <file> [--force]';
const IMPORT_OPTIONS = {
  custodian: { type: 'string', value: '<n>', help: "this custodian's number, 1..of", byDefault: 'required' },
  of: {
    type: 'string',
    value: '2|3',
    help: 'how many custodians hold components of these keys',
    byDefault: 'required',
  },
  from: {
    type: 'string',
    value: '<file>|-',
    help: 'read the components from a file or standard input (typed in, never on the command line): one per line, "<slot> <component> <kcv>" in hex; # starts a comment',
  },
  slot: {
    type: 'string',
    multiple: true,
    value: '<hex>',
    help: 'the MKC slot of the next component, e.g. 11 for MK_auth[1], 01 for MK_tr[1] (or use --from)',
  },
  component: {
    type: 'string',
    multiple: true,
    value: '<hex>',
    help: "the slot's component, 32 hex digits (visible in ps and the shell's history: prefer --from -)",
  },
  kcv: {
    type: 'string',
    multiple: true,
    value: '<hex>',
    help: "the component's KCV, 6 hex digits",
  },
  'key-version': { type: 'string', value: '<v>', help: 'the version recorded for every key', byDefault: '1' },
  out: {
    type: 'string',
    value: '<file>',
    help: "the custodian's component file to write (mode 0600)",
    byDefault: 'required',
  },
  force: { type: 'boolean', help: 'overwrite --out' },
} as const satisfies OptionDocs;

/**
 * Component lines of a typed-in file or standard input: "<slot> <component> <kcv>" in hex, blanks
 * and dashes inside the component allowed, `#` to the end of a line a comment.
 * @throws UsageError naming the line.
 */
function readTypedComponents(from: string): { slots: string[]; comps: string[]; kcvs: string[] } {
  let text: string;
  try {
    text = readFileSync(from === '-' ? 0 : from, 'utf8');
  } catch (e) {
    throw new UsageError(
      `cannot read ${from === '-' ? 'standard input' : `'${from}'`}: ${(e as Error).message}`,
    );
  }
  const out = { slots: [] as string[], comps: [] as string[], kcvs: [] as string[] };
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const words = line.split(/\s+/);
    if (words.length < 3)
      throw new UsageError(`line ${i + 1}: want "<slot> <component> <kcv>", got ${words.length} word(s)`);
    out.slots.push(words[0]!);
    out.comps.push(words.slice(1, -1).join(''));
    out.kcvs.push(words[words.length - 1]!);
  });
  return out;
}

async function importComponents(args: string[], io: Io): Promise<number> {
  const { values } = parseOptions(args, IMPORT_OPTIONS, false, IMPORT_USAGE);
  const of = intOpt(values.of, '--of', 0, 2, 3);
  if (values.of === undefined) throw new UsageError('--of 2|3 is required');
  if (values.custodian === undefined) throw new UsageError('--custodian <n> is required');
  const custodian = intOpt(values.custodian, '--custodian', 0, 1, of);
  if (!values.out) throw new UsageError('--out <file> is required');
  let slots = values.slot ?? [];
  let comps = values.component ?? [];
  let kcvs = values.kcv ?? [];
  if (values.from !== undefined) {
    if (slots.length + comps.length + kcvs.length > 0)
      throw new UsageError(
        'give the components either with --from or with --slot/--component/--kcv, not both',
      );
    ({ slots, comps, kcvs } = readTypedComponents(values.from));
  } else if (comps.length > 0)
    io.err(
      'meterpurse keys ceremony import: components given on the command line are visible in ps and the shell history; --from - reads them from standard input\n',
    );
  if (slots.length === 0 || slots.length !== comps.length || slots.length !== kcvs.length)
    throw new UsageError(
      values.from !== undefined
        ? `--from ${values.from}: no component lines ("<slot> <component> <kcv>")`
        : 'give --slot, --component and --kcv once for each component, in the same order (or --from <file>|-)',
    );
  const version = intOpt(values['key-version'], '--key-version', 1, 0, 255);
  const typed: TypedComponent[] = slots.map((s, i) => {
    if (!/^[0-9a-fA-F]{2}$/.test(s)) throw new UsageError(`--slot must be 2 hex digits, got ${s}`);
    const hex = (v: string, n: number, name: string) => {
      const clean = v.replace(/[\s-]/g, '');
      if (!new RegExp(`^[0-9a-fA-F]{${2 * n}}$`).test(clean))
        throw new UsageError(`${name} of slot ${s} must be ${2 * n} hex digits`);
      return fromHex(clean);
    };
    return {
      slot: parseInt(s, 16),
      version,
      component: hex(comps[i]!, 16, '--component'),
      kcv: hex(kcvs[i]!, 3, '--kcv'),
    };
  });
  if (existsSync(values.out) && !values.force)
    throw new UsageError(`'${values.out}' exists: give --force to overwrite it`);
  let file: ComponentFile;
  try {
    file = componentFileFromTyped(new NodeCipherProvider(), custodian, of, typed);
  } catch (e) {
    if (e instanceof KeyComponentError && e.problem === 'kcv-mismatch') {
      io.err(`meterpurse keys ceremony import: ${e.message}\n`);
      return EXIT_KCV_MISMATCH;
    }
    if (e instanceof KeyComponentError || e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  } finally {
    for (const t of typed) t.component.fill(0);
  }
  try {
    const bytes = new TextEncoder().encode(encodeComponentFile(file));
    if (values.force) writeFileAtomic(values.out, bytes);
    else createFileExclusive(values.out, bytes);
  } catch (e) {
    throw new CommandError(`cannot write '${values.out}': ${(e as Error).message}`, { cause: e });
  } finally {
    wipeComponents([file]);
  }
  io.out(
    `wrote ${values.out} (custodian ${custodian} of ${of}, mode 0600): every component matches its KCV\n`,
  );
  for (const c of file.components) io.out(`${slotLabel(c.slot).padEnd(18)} component KCV ${toHex(c.kcv)}\n`);
  return 0;
}

// ---- load ----

const LOAD_USAGE =
  'keys ceremony load --mkc <card file> [--pin-file <file>] --components <a.json> <b.json> [<c.json>] --manifest <manifest.json> [--key-file <path>] [--unsealed]';
const LOAD_OPTIONS = {
  mkc: {
    type: 'string',
    value: '<card file>',
    help: 'the master-key card file (meterpurse card new --profile master-key)',
    byDefault: 'required',
  },
  'pin-file': { type: 'string', value: '<file>', help: PIN_NOTE, byDefault: `$${MKC_PIN_ENV}` },
  components: {
    type: 'string',
    multiple: true,
    value: '<file>',
    help: "the custodians' component files (more may follow as plain words)",
    byDefault: 'required',
  },
  manifest: {
    type: 'string',
    value: '<file>',
    help: "the ceremony's manifest: the KCV of every whole key",
    byDefault: 'required',
  },
  'key-file': KEY_FILE,
  unsealed: { type: 'boolean', help: 'lab mode: the MKC card file is an unsealed lab file' },
} as const satisfies OptionDocs;

/**
 * The custodians' component files, parsed and checked against the manifest (custodian order).
 * @throws KeyComponentError (a KCV mismatch names the slot); UsageError for an unreadable file.
 */
function checkedComponents(
  paths: string[],
  manifestPath: string,
  cipher: NodeCipherProvider,
): { files: ComponentFile[]; manifest: Manifest } {
  const manifest = parseManifest(readText(manifestPath, 'manifest'), `manifest '${manifestPath}'`);
  const parsed = paths.map((p) => parseComponentFile(readText(p, 'component file'), cipher, `'${p}'`));
  return { files: checkAgainstManifest(cipher, parsed, manifest), manifest };
}

async function load(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseOptions(args, LOAD_OPTIONS, true, LOAD_USAGE);
  if (!values.mkc) throw new UsageError('--mkc <card file> is required');
  if (!values.manifest) throw new UsageError('--manifest <file> is required');
  const paths = [...(values.components ?? []), ...positionals];
  if (paths.length < 2) throw new UsageError('--components needs the files of every custodian (2 or 3)');
  const pin = readMkcPin(values['pin-file']);
  const cipher = new NodeCipherProvider();
  let files: ComponentFile[];
  try {
    const checked = checkedComponents(paths, values.manifest, cipher);
    files = checked.files;
    const manifest = checked.manifest;
    const opened = openMkcFile(values.mkc, cardOptions(values));
    try {
      const reader = new VirtualReader('MKC', opened.card);
      const mkc = await MasterKeyCard.open(await reader.connect(), pin);
      for (const f of files) await mkc.loadComponents(f);
      await mkc.seal(manifest);
      const st = await mkc.status();
      reader.remove();
      opened.save();
      io.out(
        `loaded ${files.length} custodians' components of ${manifest.slots.length} slots into ${values.mkc} and sealed it (LCS ${st.lcs.toString(16).padStart(2, '0')})\n`,
      );
      for (const s of st.slots)
        io.out(`${slotLabel(s.slot).padEnd(18)} v${s.version}  KCV ${toHex(s.kcv)}\n`);
      return 0;
    } finally {
      wipeComponents(files);
    }
  } catch (e) {
    if (e instanceof KeyComponentError) {
      if (e.problem === 'kcv-mismatch') {
        io.err(`meterpurse keys ceremony load: KCV mismatch, nothing loaded: ${e.message}\n`);
        return EXIT_KCV_MISMATCH;
      }
      throw new UsageError(e.message);
    }
    if (e instanceof BureauError) {
      if (e.code === 'mkc-refused' && e.sw === 0x6a80) {
        io.err(
          `meterpurse keys ceremony load: the master-key card refused a KCV, nothing saved: ${e.message}\n`,
        );
        return EXIT_KCV_MISMATCH;
      }
      throw new CommandError(e.message, { cause: e });
    }
    throw e;
  }
}

function openMkcFile(path: string, options: CardFileOptions) {
  let opened;
  try {
    opened = openCardFile(path, options);
  } catch (e) {
    throw new UsageError(`cannot open card file '${path}': ${e instanceof Error ? e.message : String(e)}`);
  }
  if (cardOrigin(opened.card)?.profile !== PROFILE_MASTER_KEY)
    throw new UsageError(
      `'${path}' holds a ${cardOrigin(opened.card)?.profile ?? 'unknown'} card, not a master-key card`,
    );
  return opened;
}

// ---- status ----

const STATUS_USAGE = 'keys ceremony status --mkc <card file> [--json] [--key-file <path>] [--unsealed]';
const STATUS_OPTIONS = {
  mkc: { type: 'string', value: '<card file>', help: 'the master-key card file', byDefault: 'required' },
  json: { type: 'boolean', help: 'print the status as JSON' },
  'key-file': KEY_FILE,
  unsealed: LOAD_OPTIONS.unsealed,
} as const satisfies OptionDocs;

async function status(args: string[], io: Io): Promise<number> {
  const { values } = parseOptions(args, STATUS_OPTIONS, false, STATUS_USAGE);
  if (!values.mkc) throw new UsageError('--mkc <card file> is required');
  const opened = openMkcFile(values.mkc, cardOptions(values));
  const reader = new VirtualReader('MKC', opened.card);
  let mkc: MasterKeyCard;
  let st;
  try {
    mkc = await MasterKeyCard.open(await reader.connect());
    st = await mkc.status();
  } catch (e) {
    if (e instanceof BureauError) throw new CommandError(e.message, { cause: e });
    throw e;
  }
  reader.remove();
  if (values.json) {
    io.out(
      `${JSON.stringify(
        {
          serial: mkc.serial,
          lcs: st.lcs,
          sealed: st.sealed,
          issueCounter: st.issueCounter,
          slots: st.slots.map((s) => ({ ...s, slot: toHex(Uint8Array.of(s.slot)), kcv: toHex(s.kcv) })),
        },
        null,
        2,
      )}\n`,
    );
    return 0;
  }
  io.out(
    `master-key card ${mkc.serial}: ${st.sealed ? 'sealed (LCS 05)' : `loading components (LCS ${st.lcs.toString(16).padStart(2, '0')})`}, issue counter ${st.issueCounter}\n`,
  );
  for (const s of st.slots)
    io.out(
      `${slotLabel(s.slot).padEnd(18)} v${s.version}  ${s.components} components  KCV ${toHex(s.kcv)}\n`,
    );
  return 0;
}

// ---- card new --profile master-key ----

/**
 * `card new --profile master-key`: a fresh MKC (LCS 03, 3 PIN tries) as a card file.
 * @returns what createCardFile returns. @throws UsageError / CommandError.
 */
export function newMasterKeyCardFile(
  out: string,
  pinFile: string | undefined,
  serialHex: string | undefined,
  options: CardFileOptions,
): CardFileSeal {
  const pin = readMkcPin(pinFile);
  let serial: Uint8Array;
  if (serialHex === undefined) serial = new SystemRng().bytes(8);
  else {
    if (!/^[0-9a-fA-F]{16}$/.test(serialHex))
      throw new UsageError(`--serial must be 8 bytes hex, got ${serialHex}`);
    serial = fromHex(serialHex);
  }
  const card = buildCard(PROFILE_MASTER_KEY, { serial: toHex(serial), pin });
  try {
    return createCardFile(out, card, options);
  } catch (e) {
    throw new CommandError(`cannot write card file '${out}': ${(e as Error).message}`, { cause: e });
  }
}

export const ceremonyGenerateCommand: Command = {
  path: ['keys', 'ceremony', 'generate'],
  summary: 'key ceremony: random components of every master, one file per custodian, and a manifest of KCVs',
  usage: GENERATE_USAGE,
  options: GENERATE_OPTIONS,
  examples: ['keys ceremony generate --utilities 1,2 --custodians 2 --out ceremony/'],
  run: (args, io) => generate(args, io),
};

export const ceremonyImportCommand: Command = {
  path: ['keys', 'ceremony', 'import'],
  summary: "key ceremony: a custodian's component file from typed-in components and KCVs (existing keys)",
  usage: IMPORT_USAGE,
  options: IMPORT_OPTIONS,
  examples: [
    'keys ceremony import --custodian 1 --of 2 --from - --out custodian-1.json   (then type: 11 0123456789ABCDEF FEDCBA9876543210 08D7B4)',
    'keys ceremony import --custodian 1 --of 2 --slot 11 --component 0123456789ABCDEFFEDCBA9876543210 --kcv 08D7B4 --out custodian-1.json',
  ],
  run: (args, io) => importComponents(args, io),
};

export const ceremonyLoadCommand: Command = {
  path: ['keys', 'ceremony', 'load'],
  summary:
    "key ceremony: load the custodians' components into a master-key card file and seal it (exit 65 on a KCV mismatch)",
  usage: LOAD_USAGE,
  options: LOAD_OPTIONS,
  examples: [
    'keys ceremony load --mkc issuer.mkc --pin-file mkc.pin --components ceremony/custodian-1.json ceremony/custodian-2.json --manifest ceremony/manifest.json',
  ],
  run: (args, io) => load(args, io),
};

export const ceremonyStatusCommand: Command = {
  path: ['keys', 'ceremony', 'status'],
  summary: "key ceremony: a master-key card's slots, versions, KCVs and issue counter (no PIN needed)",
  usage: STATUS_USAGE,
  options: STATUS_OPTIONS,
  examples: ['keys ceremony status --mkc issuer.mkc'],
  run: (args, io) => status(args, io),
};

// ---- transport-master ----

const TRANSPORT_USAGE =
  'keys ceremony transport-master --components <a.json> <b.json> [<c.json>] --manifest <manifest.json> [--tkv <1..15>] --out <file> [--force]';
const TRANSPORT_OPTIONS = {
  components: {
    type: 'string',
    multiple: true,
    value: '<file>',
    help: "the custodians' component files (more may follow as plain words)",
    byDefault: 'required',
  },
  manifest: { type: 'string', value: '<file>', help: "the ceremony's manifest", byDefault: 'required' },
  tkv: { type: 'string', value: '<1..15>', help: 'which transport master MK_tr[v]', byDefault: '1' },
  out: {
    type: 'string',
    value: '<file>',
    help: 'the transport master file to write (mode 0600)',
    byDefault: 'required',
  },
  force: { type: 'boolean', help: 'overwrite an existing file' },
} as const satisfies OptionDocs;

/**
 * The hand-over to the chip manufacturer: MK_tr[tkv] combined from the custodians' components of
 * its slot (checked against the manifest) into the manufacturer's transport master file, which
 * `card blank` and `card issue --out` make blank chips with. The one whole key this tool ever
 * writes — the transport master is the manufacturer's, not an issuer master, and it personalises
 * nothing without the master-key card and its PIN (docs/personalisation.md §6).
 */
async function transportMaster(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseOptions(args, TRANSPORT_OPTIONS, true, TRANSPORT_USAGE);
  if (!values.manifest) throw new UsageError('--manifest <file> is required');
  if (!values.out) throw new UsageError('--out <file> is required');
  const paths = [...(values.components ?? []), ...positionals];
  if (paths.length < 2) throw new UsageError('--components needs the files of every custodian (2 or 3)');
  const tkv = intOpt(values.tkv, '--tkv', 1, 1, 15);
  const cipher = new NodeCipherProvider();
  let files: ComponentFile[];
  try {
    files = checkedComponents(paths, values.manifest, cipher).files;
  } catch (e) {
    if (e instanceof KeyComponentError) {
      if (e.problem === 'kcv-mismatch') {
        io.err(`meterpurse keys ceremony transport-master: KCV mismatch, nothing written: ${e.message}\n`);
        return EXIT_KCV_MISMATCH;
      }
      throw new UsageError(e.message);
    }
    throw e;
  }
  try {
    const parts = files.map((f) => f.components.find((c) => c.slot === tkv)?.component);
    if (parts.some((p) => p === undefined))
      throw new UsageError(
        `the components hold no transport master MK_tr[${tkv}] (slot ${tkv.toString(16).padStart(2, '0')})`,
      );
    const key = combineComponents(parts as Uint8Array[]);
    const text = encodeTransportMaster(cipher, tkv, key);
    key.fill(0);
    const bytes = new TextEncoder().encode(text);
    if (existsSync(values.out) && !values.force)
      throw new UsageError(`${values.out} exists; --force to overwrite it`);
    if (values.force) writeFileAtomic(values.out, bytes);
    else createFileExclusive(values.out, bytes);
    const kcv = (JSON.parse(text) as { kcv: string }).kcv;
    io.out(
      `wrote transport master MK_tr[${tkv}] (KCV ${kcv}) to ${values.out} (mode 0600): hand it to the chip manufacturer only\n`,
    );
    return 0;
  } finally {
    wipeComponents(files);
  }
}

export const ceremonyTransportMasterCommand: Command = {
  path: ['keys', 'ceremony', 'transport-master'],
  summary:
    "key ceremony: the chip manufacturer's transport master file, combined from the custodians' components",
  usage: TRANSPORT_USAGE,
  options: TRANSPORT_OPTIONS,
  examples: [
    'keys ceremony transport-master --components ceremony/custodian-1.json ceremony/custodian-2.json --manifest ceremony/manifest.json --out transport.json',
  ],
  run: (args, io) => transportMaster(args, io),
};

/** The ceremony commands, for cli/main.ts. */
export const ceremonyCommands: readonly Command[] = [
  ceremonyGenerateCommand,
  ceremonyImportCommand,
  ceremonyLoadCommand,
  ceremonyStatusCommand,
  ceremonyTransportMasterCommand,
];
