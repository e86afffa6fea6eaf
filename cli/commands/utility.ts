/**
 * `meterpurse utility sell|configure|poll|status|vend`: the command line of a gas, water or heat
 * utility's own server (issue 17, host/utility/UtilityServer.ts, docs/host.md "Utility server
 * command line"). Each run opens the utility's SQLite file, does one thing and closes it; what it
 * could not hand to the electricity host's relay stays in the file's outbox for the next run.
 *
 * ```
 *   sell       sign one REMOTE LOAD (80 56) for a card purse, idempotent by --ref; submit it
 *   configure  sign the next PUT CONFIG (80 58) version for a card purse; submit it
 *   poll       one round with the relay: submit, fetch answers and book them, ingest readings
 *   status     the sales (or one) and the books, from the file alone (no keys, no host)
 *   vend       a vending point, the second carrier: SELECT; READ RECORD SFI 04, ingest, CLEAR READINGS
 *              (80 5A); the newest configuration (READ RECORD SFI 03, PUT CONFIG 80 58); every sale in
 *              transit (REMOTE LOAD 80 56, by seq), each booked on its receipt (host/utility/vend.ts)
 *   collect    the former name of vend, kept as an alias
 * ```
 *
 * The utility's masters come from the key ceremony's files (`--components` of every custodian and
 * the `--manifest`, docs/personalisation.md §4: the utility's six masters and its KH versions are
 * combined in memory, checked against the manifest's KCVs, never written) or, for tests and demos
 * only, from `--issuer-seed` (IssuerKeys.demo: public test keys, never real secrets).
 *
 * Why a failed relay is an exit status and not only an event: the server keeps a sale it could not
 * submit in its outbox (rule 5), which is right for a long-running process but silent for a
 * command; the command wraps the relay port to see the failure and names the host's URL, or the
 * relay's status and error code, so a script knows the sale is not on its way yet.
 */
import { readFileSync } from 'node:fs';
import type { Command, Io, OptionDocs } from '../Command.js';
import { CommandError, UsageError, parseOptions } from '../Command.js';
import { IssuerKeys, NodeCipherProvider, fromHex, persoChannel, toHex, wipe } from '../../card/index.js';
import {
  HostDbError,
  HttpRelayPort,
  RelayPortError,
  ServiceError,
  UtilityDb,
  UtilityServer,
  vend,
  type VendReport,
  type RelayCommandStatus,
  type RelayPort,
  type RelayedReading,
} from '../../host/index.js';
import { CardChannelError, PcscContext, type CardChannel } from '../../reader/index.js';
import {
  KeyComponentError,
  type ComponentFile,
  checkAgainstManifest,
  combineComponents,
  parseComponentFile,
  parseManifest,
  slotLabel,
  TransferError,
} from '../../terminal/index.js';

// ------------------------------------------------------------------ options

const DB = {
  type: 'string',
  value: '<file>',
  help: "the utility server's SQLite database, created when missing",
  byDefault: 'required',
} as const;
const PURSE = {
  type: 'string',
  value: '<2..15>',
  help: 'the purse this utility owns (2 gas, 3 water, 4 heat, 5 hot water)',
  byDefault: 'required',
} as const;
const KEYS = {
  components: {
    type: 'string',
    multiple: true,
    value: '<file>',
    help: "a custodian's key component file of `keys ceremony generate` (every custodian's, with --manifest)",
  },
  manifest: {
    type: 'string',
    value: '<file>',
    help: "the ceremony's manifest.json: the KCVs the combined masters must match",
  },
  'issuer-seed': {
    type: 'string',
    value: '<S>',
    help: 'instead of --components: the seeded DEMO issuer (IssuerKeys.demo) — PUBLIC TEST KEYS, never real secrets',
  },
} as const;
const RELAY = {
  host: {
    type: 'string',
    value: '<url>',
    help: "the electricity host's API (its /relay routes), e.g. http://127.0.0.1:8080",
    byDefault: 'required',
  },
  'api-key-file': {
    type: 'string',
    value: '<file>',
    help: "a file holding the utility's relay API key (POST /relay/keys, scoped to --purse)",
    byDefault: 'required',
  },
  timeout: {
    type: 'string',
    value: '<s>',
    help: 'seconds one call to the host may take before it counts as unreachable',
    byDefault: '30',
  },
} as const;
const CARD = {
  type: 'string',
  value: '<CSN hex>',
  help: "the card's serial number, 8 bytes (16 hex digits)",
  byDefault: 'required',
} as const;
const SELLER = {
  type: 'string',
  value: '<hex4>',
  help: "this point of sale's id in the card's log, 4 bytes",
  byDefault: '5554 4C0p ("UTL" and the purse)',
} as const;

const SELL_OPTIONS = {
  db: DB,
  purse: PURSE,
  ...RELAY,
  ...KEYS,
  card: CARD,
  amount: {
    type: 'string',
    value: '<n>',
    help: 'minor currency units, 1..4294967295',
    byDefault: 'required',
  },
  ref: {
    type: 'string',
    value: '<text>',
    help: "the sale reference, 1..48 characters without ':': the same ref again answers the same sale (same seq)",
    byDefault: 'required',
  },
  seller: SELLER,
} as const satisfies OptionDocs;

const CONFIGURE_OPTIONS = {
  db: DB,
  purse: PURSE,
  ...RELAY,
  ...KEYS,
  card: CARD,
  meter: {
    type: 'string',
    value: '<id hex>',
    help: 'the offline meter the purse is bound to, 3 bytes',
    byDefault: 'required',
  },
  emergency: {
    type: 'string',
    value: '<n>',
    help: 'emergency-credit limit, minor units (u32)',
    byDefault: 'required',
  },
  'unit-charge': {
    type: 'string',
    value: '<n>',
    help: 'minor units per m³ / kWh (u32); tariff steps are percentages of it',
    byDefault: 'required',
  },
  'blacklist-version': {
    type: 'string',
    value: '<n>',
    help: "the utility's blacklist version (u32)",
    byDefault: 'required',
  },
  seller: SELLER,
} as const satisfies OptionDocs;

const POLL_OPTIONS = {
  db: DB,
  purse: PURSE,
  ...RELAY,
  ...KEYS,
  seller: SELLER,
} as const satisfies OptionDocs;

const STATUS_OPTIONS = {
  db: DB,
  purse: PURSE,
  ref: { type: 'string', value: '<text>', help: 'show this sale only' },
} as const satisfies OptionDocs;

const VEND_OPTIONS = {
  db: DB,
  purse: PURSE,
  reader: {
    type: 'string',
    value: '<name>',
    help: 'the PC/SC reader holding the subscriber card (see `meterpurse readers`)',
    byDefault: 'required',
  },
  'card-timeout': {
    type: 'string',
    value: '<s>',
    help: 'how long to wait for a card in the reader',
    byDefault: '60',
  },
  ...KEYS,
  seller: SELLER,
} as const satisfies OptionDocs;

// ------------------------------------------------------------------ parsing

/** One utility's masters, as IssuerKeys takes them. */
type UtilityMasters = ConstructorParameters<typeof IssuerKeys>[1][number][1];

/** An unsigned integer option within [min, max]. @throws UsageError naming the option. */
function intOption(text: string | undefined, option: string, min: number, max: number): number {
  if (text === undefined) throw new UsageError(`${option} <n> is required`);
  if (!/^\d{1,10}$/.test(text) || Number(text) < min || Number(text) > max)
    throw new UsageError(`${option} must be an integer ${min}..${max}, got ${text}`);
  return Number(text);
}

function hexOption(text: string | undefined, option: string, bytes: number, what: string): string {
  if (text === undefined) throw new UsageError(`${option} <hex> is required`);
  if (!new RegExp(`^[0-9A-Fa-f]{${2 * bytes}}$`).test(text))
    throw new UsageError(
      `${option} must be ${what}, ${bytes} bytes (${2 * bytes} hex digits), got '${text}'`,
    );
  return text.toUpperCase();
}

const U32 = 0xffff_ffff;

function readText(option: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`${option} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * Utility `purse`'s masters from the ceremony's files: every custodian's components checked against
 * the manifest, the six masters and the KH versions combined (the combined keys live only in the
 * returned IssuerKeys; the components are wiped).
 * @throws UsageError when the files are unreadable, do not match, or lack a slot of the utility.
 */
function mastersFromCeremony(paths: string[], manifestPath: string, purse: number): IssuerKeys {
  const cipher = new NodeCipherProvider();
  const { slotOf, SLOT_KH_BASE } = persoChannel;
  // every combined key and component is wiped on the way out, however it goes (IssuerKeys copies)
  const made: Uint8Array[] = [];
  let files: ComponentFile[] = [];
  try {
    const manifest = parseManifest(readText('--manifest', manifestPath), `manifest '${manifestPath}'`);
    files = checkAgainstManifest(
      cipher,
      paths.map((p) => parseComponentFile(readText('--components', p), cipher, `'${p}'`)),
      manifest,
    );
    const key = (slot: number): Uint8Array => {
      const parts = files.map((f) => f.components.find((c) => c.slot === slot)?.component);
      if (parts.some((p) => p === undefined))
        throw new UsageError(
          `the ceremony's files hold no key in slot ${slotLabel(slot)} for purse ${purse}`,
        );
      const k = combineComponents(parts as Uint8Array[]);
      made.push(k);
      return k;
    };
    const six = [1, 2, 3, 4, 5, 6].map((t) => key(slotOf(purse, t))) as [
      Uint8Array,
      Uint8Array,
      Uint8Array,
      Uint8Array,
      Uint8Array,
      Uint8Array,
    ];
    const host: Array<readonly [number, Uint8Array]> = [];
    for (let n = 0; n < 8; n++) {
      const slot = slotOf(purse, SLOT_KH_BASE + n);
      if (manifest.slots.some((s) => s.slot === slot)) host.push([n, key(slot)] as const);
    }
    if (host.length === 0) throw new UsageError(`the ceremony's files hold no KH version of purse ${purse}`);
    const [auth, debit, credit, proof, svm, commission] = six;
    const masters: UtilityMasters = { auth, debit, credit, proof, svm, commission, host };
    return new IssuerKeys(cipher, [[purse, masters]]);
  } catch (e) {
    if (e instanceof KeyComponentError) throw new UsageError(`key ceremony files: ${e.message}`);
    throw e;
  } finally {
    for (const k of made) wipe(k);
    for (const f of files) for (const c of f.components) wipe(c.component);
  }
}

interface KeyValues {
  components?: string[] | undefined;
  manifest?: string | undefined;
  'issuer-seed'?: string | undefined;
  /** Words after `--components a.json`, as `keys ceremony load` takes them (`--components a.json b.json`). */
  more?: string[];
}

function issuerOf(v: KeyValues, purse: number): IssuerKeys {
  if (v.more?.length) {
    if (v.components === undefined) throw new UsageError(`unexpected argument '${v.more[0]}'`);
    v = { ...v, components: [...v.components, ...v.more] };
  }
  const ceremony = v.components !== undefined || v.manifest !== undefined;
  if (ceremony && v['issuer-seed'] !== undefined)
    throw new UsageError('give either --components with --manifest or --issuer-seed, not both');
  if (ceremony) {
    if (v.manifest === undefined) throw new UsageError('--components needs --manifest <file>');
    if ((v.components ?? []).length < 2)
      throw new UsageError('--components needs the files of every custodian (2 or 3)');
    return mastersFromCeremony(v.components!, v.manifest, purse);
  }
  if (v['issuer-seed'] === undefined)
    throw new UsageError(
      "the utility's masters are required: --components <file> … --manifest <file> (key ceremony), or --issuer-seed <S> (demo, public test keys)",
    );
  return IssuerKeys.demo(new NodeCipherProvider(), v['issuer-seed']);
}

function purseOf(v: { purse?: string | undefined }): number {
  return intOption(v.purse, '--purse', 2, 15);
}

function sellerOf(v: { seller?: string | undefined }, purse: number): Uint8Array {
  if (v.seller === undefined) return Uint8Array.of(0x55, 0x54, 0x4c, purse);
  return fromHex(hexOption(v.seller, '--seller', 4, "the point of sale's id"));
}

function openDb(file: string | undefined): UtilityDb {
  if (!file) throw new UsageError('--db <file> is required');
  try {
    return new UtilityDb(file);
  } catch (e) {
    if (e instanceof HostDbError)
      throw new CommandError(`--db ${file}: ${e.code}: ${e.message}`, { cause: e });
    throw e;
  }
}

// ------------------------------------------------------------------ the relay, watched

/**
 * The HTTP relay port with its failures kept: UtilityServer keeps what it cannot submit in its
 * outbox and carries on, so the command asks this wrapper what went wrong to report it.
 */
class WatchedRelayPort implements RelayPort {
  readonly failures: unknown[] = [];
  constructor(
    readonly url: string,
    private readonly inner: RelayPort,
  ) {}

  async #watch<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      this.failures.push(e);
      throw e;
    }
  }

  submit(c: Parameters<RelayPort['submit']>[0]): Promise<RelayCommandStatus> {
    return this.#watch(() => this.inner.submit(c));
  }

  command(id: number): Promise<RelayCommandStatus> {
    return this.#watch(() => this.inner.command(id));
  }

  readings(after: number, limit?: number): Promise<{ items: RelayedReading[]; next: number | null }> {
    return this.#watch(() => this.inner.readings(after, limit));
  }

  /** One line for a failure of the relay: the URL and why it cannot be reached, or the relay's refusal. */
  describe(e: unknown): string {
    if (e instanceof RelayPortError)
      return `the host at ${this.url} refused: ${e.status} ${e.code}: ${e.message}`;
    const cause = (e as Error).cause as NodeJS.ErrnoException | undefined;
    const why = cause?.code ?? cause?.message ?? (e as Error).message;
    return `cannot reach the host at ${this.url}: ${why}`;
  }
}

function relayOf(v: {
  host?: string | undefined;
  'api-key-file'?: string | undefined;
  timeout?: string | undefined;
}): WatchedRelayPort {
  const timeoutMs = intOption(v.timeout ?? '30', '--timeout', 1, 3600) * 1000;
  if (v.host === undefined) throw new UsageError('--host <url> is required');
  let url: URL;
  try {
    url = new URL(v.host);
  } catch {
    throw new UsageError(`--host must be an http(s) URL, got '${v.host}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`--host must be an http(s) URL, got '${v.host}'`);
  if (v['api-key-file'] === undefined) throw new UsageError('--api-key-file <file> is required');
  const key = readText('--api-key-file', v['api-key-file']).trim();
  if (!key) throw new UsageError(`--api-key-file ${v['api-key-file']} is empty`);
  const base = url.toString();
  // a host that accepts the connection and never answers must not hang a script: each call has
  // --timeout, after which it is a failure like a refused connection
  const timed: typeof fetch = (input, init) =>
    fetch(input, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  return new WatchedRelayPort(base.replace(/\/$/, ''), new HttpRelayPort(base, key, timed));
}

/** Runs `f` over a server of the given options, closing the database whatever happens. */
async function withServer<T>(
  v: KeyValues & { db?: string | undefined; purse?: string | undefined; seller?: string | undefined },
  relay: RelayPort,
  f: (server: UtilityServer) => Promise<T>,
): Promise<T> {
  const purse = purseOf(v);
  const sellerId = sellerOf(v, purse);
  const issuer = issuerOf(v, purse);
  let db: UtilityDb;
  try {
    db = openDb(v.db);
  } catch (e) {
    issuer.wipe();
    throw e;
  }
  try {
    const server = new UtilityServer({ db, issuer, purse, relay, clock: Date.now, sellerId });
    return await f(server);
  } catch (e) {
    if (e instanceof HostDbError)
      throw new CommandError(`--db ${v.db}: ${e.code}: ${e.message}`, { cause: e });
    throw e;
  } finally {
    db.close();
    issuer.wipe();
  }
}

function booksLine(server: UtilityServer): { line: string; balanced: boolean } {
  const b = server.balanceCheck();
  return {
    line: `books: sold ${b.sold} = in transit ${b.inTransit} + on card ${b.onCard}: ${b.balanced ? 'balanced' : 'NOT BALANCED'}\n`,
    balanced: b.balanced,
  };
}

// ------------------------------------------------------------------ sell

async function sell(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseOptions(args, SELL_OPTIONS, true, sellCommand.usage);
  const v = { ...values, more: positionals };
  const csn = hexOption(v.card, '--card', 8, 'a card serial number');
  const amount = intOption(v.amount, '--amount', 1, U32);
  if (v.ref === undefined) throw new UsageError('--ref <text> is required');
  if (v.ref.length < 1 || v.ref.length > 48 || v.ref.includes(':'))
    throw new UsageError(`--ref must be 1..48 characters without ':'`);
  const relay = relayOf(v);
  return withServer(v, relay, async (server) => {
    let s: Awaited<ReturnType<UtilityServer['sell']>>;
    try {
      s = await server.sell(csn, amount, v.ref!);
    } catch (e) {
      if (e instanceof ServiceError) throw new UsageError(`--ref ${v.ref}: ${e.error}: ${e.message}`);
      throw e;
    }
    // a sale asked for again after the relay answered it: its load is done, not waiting
    const loads = (state: 'new' | 'done') =>
      server.db.outbox(state).filter((e) => e.kind === 'load' && e.subject === s.ref);
    const relayId = s.relayId ?? loads('done').at(-1)?.relayId ?? null;
    io.out(
      `sale ${s.ref}: card ${csn} purse ${server.purse} amount ${amount} seq ${s.seq} state ${s.state} relay id ${relayId ?? 'none'}\n`,
    );
    if (loads('new').length > 0) {
      const why = relay.failures.length ? relay.describe(relay.failures.at(-1)) : 'not submitted';
      throw new CommandError(
        `sale ${s.ref} (seq ${s.seq}) is recorded but not submitted: ${why}; it stays in the outbox (run utility poll, or sell again with the same --ref)`,
      );
    }
    return 0;
  });
}

// ------------------------------------------------------------------ configure

async function configure(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseOptions(args, CONFIGURE_OPTIONS, true, configureCommand.usage);
  const v = { ...values, more: positionals };
  const csn = hexOption(v.card, '--card', 8, 'a card serial number');
  const meterId = hexOption(v.meter, '--meter', 3, 'an offline meter id');
  const emergencyLimit = intOption(v.emergency, '--emergency', 0, U32);
  const unitCharge = intOption(v['unit-charge'], '--unit-charge', 0, U32);
  const blacklistVersion = intOption(v['blacklist-version'], '--blacklist-version', 0, U32);
  const relay = relayOf(v);
  return withServer(v, relay, async (server) => {
    const c = await server.configure(csn, { meterId, emergencyLimit, unitCharge, blacklistVersion });
    const sent = server.db
      .outbox('submitted')
      .find((e) => e.kind === 'config' && e.ref === `C:${csn}:${c.version}`);
    io.out(
      `configuration ${c.version}: card ${csn} purse ${server.purse} bound to meter ${meterId}, emergency ${emergencyLimit}, unit charge ${unitCharge}, blacklist ${blacklistVersion}; relay id ${sent?.relayId ?? 'none'}\n`,
    );
    if (!sent) {
      const why = relay.failures.length ? relay.describe(relay.failures.at(-1)) : 'not submitted';
      throw new CommandError(
        `configuration ${c.version} is signed but not submitted: ${why}; it stays in the outbox (run utility poll)`,
      );
    }
    return 0;
  });
}

// ------------------------------------------------------------------ poll

async function poll(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseOptions(args, POLL_OPTIONS, true, pollCommand.usage);
  const v = { ...values, more: positionals };
  const relay = relayOf(v);
  return withServer(v, relay, async (server) => {
    const before = server.db.events().length;
    let r: Awaited<ReturnType<UtilityServer['poll']>>;
    try {
      r = await server.poll();
    } catch (e) {
      if (relay.failures.includes(e)) throw new CommandError(relay.describe(e), { cause: e });
      throw e;
    }
    const pending = server.db.outbox('new').length;
    const waiting = server.db.outbox('submitted').length;
    io.out(
      `poll: ${r.answered} answer(s), ${r.booked} sale(s) booked on card, ${r.readings} reading(s) stored; outbox: ${pending} not submitted, ${waiting} awaiting an answer\n`,
    );
    for (const e of server.db.events().slice(before))
      io.out(`event ${e.kind}: ${e.csn ?? '-'} ${e.detail}\n`);
    const books = booksLine(server);
    io.out(books.line);
    // a relay that could not be reached (the server stopped the round there) or refused a call
    // (the entry stays for the next round): the round did not do all it should
    const failed = relay.failures.find((e) => !(e instanceof RelayPortError)) ?? relay.failures[0];
    if (failed) throw new CommandError(relay.describe(failed), { cause: failed });
    if (!books.balanced) throw new CommandError('the books do not balance (sold ≠ in transit + on card)');
    return 0;
  });
}

// ------------------------------------------------------------------ status

async function status(args: string[], io: Io): Promise<number> {
  const { values: v } = parseOptions(args, STATUS_OPTIONS, false, statusCommand.usage);
  const purse = purseOf(v);
  const db = openDb(v.db);
  try {
    // Status signs and sends nothing: the server is built only to read its books, so it gets the
    // public demo keys and a relay that refuses every call.
    const issuer = IssuerKeys.demo(new NodeCipherProvider(), 'status: never signs');
    const server = new UtilityServer({
      db,
      issuer,
      purse,
      relay: NO_RELAY,
      clock: Date.now,
      sellerId: Uint8Array.of(0, 0, 0, 0),
    });
    const refs =
      v.ref !== undefined
        ? [v.ref]
        : [
            ...new Set(
              (['new', 'submitted', 'done'] as const)
                .flatMap((s) =>
                  db
                    .outbox(s)
                    .filter((e) => e.kind === 'load' && e.purse === purse)
                    .map((e) => ({ id: e.id, ref: e.subject })),
                )
                .sort((a, b) => a.id - b.id)
                .map((x) => x.ref),
            ),
          ];
    for (const ref of refs) {
      const s = server.sale(ref);
      if (!s) {
        if (v.ref !== undefined) throw new CommandError(`no sale with --ref ${ref} in ${v.db}`);
        continue;
      }
      io.out(
        `sale ${s.ref}: card ${s.csn} purse ${s.purse} amount ${s.amount} seq ${s.seq} state ${s.state}` +
          `${s.balanceAfter !== null ? ` balance after ${s.balanceAfter}` : ''}${s.note ? ` (${s.note})` : ''}\n`,
      );
    }
    io.out(
      `outbox: ${db.outbox('new').length} not submitted, ${db.outbox('submitted').length} awaiting an answer, ${db.outbox('done').length} done\n`,
    );
    const books = booksLine(server);
    io.out(books.line);
    issuer.wipe();
    return books.balanced ? 0 : 1;
  } catch (e) {
    if (e instanceof HostDbError)
      throw new CommandError(`--db ${v.db}: ${e.code}: ${e.message}`, { cause: e });
    throw e;
  } finally {
    db.close();
  }
}

const NO_RELAY: RelayPort = {
  submit: () => Promise.reject(new Error('utility status sends nothing')),
  command: () => Promise.reject(new Error('utility status sends nothing')),
  readings: () => Promise.reject(new Error('utility status sends nothing')),
};

// ------------------------------------------------------------------ vend (collect)

const sw4 = (sw: number) => sw.toString(16).toUpperCase().padStart(4, '0');

/** The lines `utility vend` prints for one session, and whether everything went as it should. */
function vendLines(r: VendReport, purse: number): { lines: string[]; ok: boolean } {
  const at = `card ${toHex(r.csn).toUpperCase()} purse ${purse}:`;
  const lines: string[] = [];
  let ok = true;
  if (r.reading === null) lines.push(`${at} no offline-readings record for this purse`);
  else {
    const x = r.reading.result;
    const what =
      x.status === 'empty'
        ? 'no reading on the card'
        : `reading of meter ${x.meterId} seq ${x.seq}: ${x.status}${x.reason ? ` (${x.reason})` : ''}` +
          `${x.anomalies?.length ? `, anomalies ${x.anomalies.join(',')}` : ''}`;
    const sw = r.reading.clearSw;
    const cleared =
      sw === undefined
        ? 'not cleared'
        : sw === 0x9000
          ? 'cleared on the card'
          : `not cleared (card SW ${sw4(sw)})`;
    lines.push(`${at} ${what}; ${cleared}`);
    if (x.status === 'refused' || (sw !== undefined && sw !== 0x9000)) ok = false;
  }
  if (r.config) {
    const c = r.config;
    const how =
      c.result === 'applied'
        ? c.sw === 'on-card'
          ? 'applied (already on the card)'
          : 'applied'
        : `refused (card SW ${sw4(c.sw as number)})`;
    lines.push(`${at} configuration version ${c.version}: ${how}`);
    if (c.result !== 'applied') ok = false;
  }
  for (const l of r.loads) {
    const how =
      l.result === 'booked'
        ? `booked (${l.outcome === 2 ? 'already applied' : 'applied now'}), balance ${l.balanceAfter}`
        : l.result === 'already-booked'
          ? 'already booked'
          : `not booked (card SW ${sw4(l.sw)}${l.sw === 0x9000 ? ', receipt does not verify' : ''})`;
    lines.push(`${at} load ${l.ref} seq ${l.seq} amount ${l.amount}: ${how}`);
    if (l.result === 'not-booked') ok = false;
  }
  const booked = r.loads.filter((l) => l.result === 'booked');
  lines.push(
    `${at} delivered ${r.loads.length} load(s), booked ${booked.length} (amount ${booked.reduce((a, l) => a + l.amount, 0)})` +
      `${r.loadsHeld ? `, ${r.loadsHeld} held` : ''}${r.clearsNotOnCard ? `; ${r.clearsNotOnCard} uncleared reading(s) no longer on the card` : ''}`,
  );
  return { lines, ok };
}

/** `utility vend` (and its alias `utility collect`, its name before the vending point carried sales). */
function vendWith(usage: () => string) {
  return async (args: string[], io: Io): Promise<number> => {
    const { values, positionals } = parseOptions(args, VEND_OPTIONS, true, usage());
    const v = { ...values, more: positionals };
    if (v.reader === undefined) throw new UsageError('--reader <name> is required');
    const timeoutMs = intOption(v['card-timeout'] ?? '60', '--card-timeout', 1, 86_400) * 1000;
    // the vending point is a carrier of its own: nothing goes to the relay (what it delivers, the
    // relay may deliver as well; the card's seq and version make that harmless)
    return withServer(v, NO_RELAY, async (server) => {
      const ctx = await PcscContext.open().catch((e: unknown) => {
        throw new CommandError(`PC/SC is not available: ${(e as Error).message}`, { cause: e });
      });
      let channel: CardChannel | undefined;
      try {
        const reader = await ctx.waitForReader(v.reader!, 5000).catch((e: unknown) => {
          throw new CommandError(`no PC/SC reader '${v.reader}': ${(e as Error).message}`, { cause: e });
        });
        await reader.waitForCard(timeoutMs).catch((e: unknown) => {
          throw new CommandError(`no card in reader '${v.reader}': ${(e as Error).message}`, { cause: e });
        });
        channel = await reader.connect().catch((e: unknown) => {
          throw new CommandError(`cannot connect to the card in '${v.reader}': ${(e as Error).message}`, {
            cause: e,
          });
        });
        let r: VendReport;
        try {
          r = await vend(channel, server);
        } catch (e) {
          if (e instanceof TransferError || e instanceof CardChannelError)
            throw new CommandError(
              `the card in '${v.reader}': ${(e as Error).message} (what was answered before is booked; the rest stays outstanding)`,
              { cause: e },
            );
          throw e;
        }
        const out = vendLines(r, server.purse);
        for (const l of out.lines) io.out(`${l}\n`);
        return out.ok ? 0 : 1;
      } finally {
        await channel?.disconnect().catch(() => undefined);
        ctx.close();
      }
    });
  };
}

// ------------------------------------------------------------------ the commands

const KEYS_USAGE =
  '(--components <file> --components <file> [--components <file>] --manifest <file> | --issuer-seed <S>)';
const RELAY_USAGE = '--host <url> --api-key-file <file> [--timeout <s>]';

export const sellCommand: Command = {
  path: ['utility', 'sell'],
  summary:
    "sell credit onto the utility's purse of a card through the electricity host's relay (idempotent by --ref)",
  usage: `utility sell --db <file> --purse <2..15> ${RELAY_USAGE} ${KEYS_USAGE} --card <CSN hex> --amount <n> --ref <text> [--seller <hex4>]`,
  options: SELL_OPTIONS,
  examples: [
    'utility sell --db gas.db --purse 2 --host http://127.0.0.1:8080 --api-key-file gas.key --issuer-seed 0 --card 4D50000000000001 --amount 5000 --ref order-17',
  ],
  run: sell,
};

export const configureCommand: Command = {
  path: ['utility', 'configure'],
  summary:
    "sign the next offline-meter configuration of a card's purse (PUT CONFIG) and send it through the relay",
  usage: `utility configure --db <file> --purse <2..15> ${RELAY_USAGE} ${KEYS_USAGE} --card <CSN hex> --meter <id hex> --emergency <n> --unit-charge <n> --blacklist-version <n>`,
  options: CONFIGURE_OPTIONS,
  examples: [
    'utility configure --db gas.db --purse 2 --host http://127.0.0.1:8080 --api-key-file gas.key --issuer-seed 0 --card 4D50000000000001 --meter 0A0B0C --emergency 500 --unit-charge 85 --blacklist-version 3',
  ],
  run: configure,
};

export const pollCommand: Command = {
  path: ['utility', 'poll'],
  summary:
    'one round with the relay: submit the outbox, book verified receipts, store readings; print the books',
  usage: `utility poll --db <file> --purse <2..15> ${RELAY_USAGE} ${KEYS_USAGE}`,
  options: POLL_OPTIONS,
  examples: [
    'utility poll --db gas.db --purse 2 --host http://127.0.0.1:8080 --api-key-file gas.key --issuer-seed 0',
  ],
  run: poll,
};

export const statusCommand: Command = {
  path: ['utility', 'status'],
  summary: "the utility server's sales (or one) and its books, from its database alone",
  usage: 'utility status --db <file> --purse <2..15> [--ref <text>]',
  options: STATUS_OPTIONS,
  examples: ['utility status --db gas.db --purse 2', 'utility status --db gas.db --purse 2 --ref order-17'],
  run: status,
};

export const vendCommand: Command = {
  path: ['utility', 'vend'],
  summary:
    "vending point: deliver the card's outstanding loads and configuration over PC/SC, book the receipts, collect and clear its reading",
  usage: `utility vend --db <file> --purse <2..15> --reader <name> [--card-timeout <s>] ${KEYS_USAGE}`,
  options: VEND_OPTIONS,
  examples: ['utility vend --db gas.db --purse 2 --reader "Virtual PCD 00 00" --issuer-seed 0'],
  run: vendWith(() => vendCommand.usage),
};

export const collectCommand: Command = {
  path: ['utility', 'collect'],
  summary: 'the former name of `utility vend` (same options, same session)',
  usage: `utility collect --db <file> --purse <2..15> --reader <name> [--card-timeout <s>] ${KEYS_USAGE}`,
  options: VEND_OPTIONS,
  examples: ['utility collect --db gas.db --purse 2 --reader "Virtual PCD 00 00" --issuer-seed 0'],
  run: vendWith(() => collectCommand.usage),
};

export const utilityCommands: Command[] = [
  sellCommand,
  configureCommand,
  pollCommand,
  statusCommand,
  vendCommand,
  collectCommand,
];
