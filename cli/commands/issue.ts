/**
 * `meterpurse card issue --batch <subscribers.csv> --mkc <file> (--out <dir> --transport-key-file
 * <f> | --reader <name>) [--host <url> --api-key-file <f>] [--strict] [--serial-start <hex16>]
 * [--journal <file>]`: batch issuance of subscriber cards through the master-key card (issue 12).
 * One card per good CSV row (terminal/bureau/batchCsv.ts), exactly once across kills
 * (cli/issue/BatchIssuer.ts, BatchJournal.ts), registered with the host over its API, an audit
 * line per card (cli/issue/AuditLog.ts).
 */
import { mkdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { Command, Io, OptionDocs } from '../Command.js';
import { CommandError, UsageError, parseOptions } from '../Command.js';
import { NodeCipherProvider } from '../../card/index.js';
import { VirtualReader, PcscContext } from '../../reader/index.js';
import {
  BureauError,
  CSV_MAX_BYTES,
  MasterKeyCard,
  parseBatchCsv,
  personalise,
  type BadRow,
} from '../../terminal/index.js';
import { CardFileLock, CardFileLockedError } from '../cardfile/index.js';
import { CARD_FILE_OPTIONS, cardFileOptions, openForCommand } from './card.js';
import { Progress } from '../Progress.js';
import { AuditLog } from '../issue/AuditLog.js';
import { BatchIssuer, type BatchReport, type IssueStation, type RowOutcome } from '../issue/BatchIssuer.js';
import { BatchJournal, JournalError } from '../issue/BatchJournal.js';
import { FAULT_ENV, FaultPlan } from '../issue/faults.js';
import { HostRegistrar, RegistrationError } from '../issue/HostRegistrar.js';
import { FileStation, ReaderStation } from '../issue/stations.js';
import { readTransportMasterFile } from '../issue/transportMasterFile.js';
import { readMkcPin } from './ceremony.js';

/** EX_DATAERR (sysexits.h): the CSV had bad rows (with --strict nothing was issued). */
export const EXIT_BAD_ROWS = 65;

const USAGE =
  'card issue --batch <subscribers.csv> --mkc <mkc card file> (--out <dir> --transport-key-file <file> | --reader <name>) [--host <url> --api-key-file <file>] [--strict] [--serial-start <hex16>] [--journal <file>] [--audit-log <file>] [--pin-file <file>] [--operator <name>] [--card-timeout <seconds>] [--key-file <path>]';

const OPTIONS = {
  batch: {
    type: 'string',
    value: '<subscribers.csv>',
    help: 'the batch: UTF-8 CSV with a header row subscriber,purses[,pin,expiry,name] (docs/batch-issuance.md)',
    byDefault: 'required',
  },
  mkc: {
    type: 'string',
    value: '<file>',
    help: "the master-key card's card file (sealed); its PIN from $MP_MKC_PIN or --pin-file",
    byDefault: 'required',
  },
  out: {
    type: 'string',
    value: '<dir>',
    help: 'write each card to <dir>/<CSN>.card (sealed); needs --transport-key-file',
  },
  'transport-key-file': {
    type: 'string',
    value: '<file>',
    help: "--out: the chip manufacturer's transport master MK_tr (meterpurse-transport-master JSON), to make blank chips",
  },
  reader: {
    type: 'string',
    value: '<name>',
    help: 'personalise blank cards in this PC/SC reader, one per row',
  },
  host: {
    type: 'string',
    value: '<url>',
    help: 'register each card with this host (POST /cards)',
    byDefault: 'no registration',
  },
  'api-key-file': {
    type: 'string',
    value: '<file>',
    help: "--host: a file holding the host's API key (vending role)",
  },
  strict: { type: 'boolean', help: 'issue nothing when any row is bad' },
  'serial-start': {
    type: 'string',
    value: '<hex16>',
    help: 'the first card serial (CSN) to allocate; required for a new journal',
    byDefault: "the journal's next serial",
  },
  journal: {
    type: 'string',
    value: '<file>',
    help: 'the journal that makes the batch resumable (SQLite)',
    byDefault: '<out>/issue.journal; required with --reader',
  },
  'audit-log': {
    type: 'string',
    value: '<file>',
    help: 'the audit log (JSON lines, appended)',
    byDefault: '<journal>.audit.jsonl',
  },
  'pin-file': {
    type: 'string',
    value: '<file>',
    help: "a file holding the MKC's PIN",
    byDefault: '$MP_MKC_PIN',
  },
  operator: {
    type: 'string',
    value: '<name>',
    help: 'who issues, for the audit log',
    byDefault: 'the OS user',
  },
  'card-timeout': {
    type: 'string',
    value: '<seconds>',
    help: '--reader: how long to wait for a card to be inserted or taken out',
    byDefault: '600',
  },
  'key-file': CARD_FILE_OPTIONS['key-file'],
} as const satisfies OptionDocs;

function readSmallFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${what} '${path}': ${(e as Error).message}`);
  }
}

function describeBad(b: BadRow): string {
  return `bad row: line ${b.line}${b.subscriber !== undefined ? ` (subscriber ${b.subscriber})` : ''}: ${b.reason}`;
}

function describeOutcome(o: RowOutcome, index: number, total: number): string {
  const head = `row ${index}/${total} line ${o.row.line} subscriber ${o.row.subscriberId}`;
  if (o.result === 'refused') return `${head}: refused: ${o.reason}`;
  const what =
    o.result === 'issued'
      ? 'issued'
      : o.result === 'recovered'
        ? 'found issued (resumed)'
        : 'issued before (skipped)';
  const reg =
    o.registered === 'registered'
      ? 'registered'
      : o.registered === 'registered-before'
        ? 'registered before'
        : o.registered === 'skipped'
          ? 'not registered (no --host)'
          : `NOT REGISTERED: ${o.registered.failed}`;
  return `${head}: CSN ${o.csn} ${what}, ${reg}`;
}

function summary(r: BatchReport, bad: number, host: boolean): string {
  const secs = r.elapsedMs / 1000;
  const rate = r.issued > 0 && secs > 0 ? (r.issued / secs).toFixed(1) : '0';
  return [
    `issued ${r.issued}, skipped (done before) ${r.doneBefore + r.recovered}${r.recovered ? ` (${r.recovered} found issued after an interruption)` : ''}, bad rows ${bad + r.refused}`,
    host
      ? `registered ${r.registered}${r.registrationFailed ? `, registration FAILED for ${r.registrationFailed}` : ''}`
      : 'registration skipped: no --host',
    `elapsed ${secs.toFixed(1)} s, ${rate} cards/s`,
  ].join('\n');
}

async function issue(args: string[], io: Io): Promise<number> {
  const { values } = parseOptions(args, OPTIONS, false, USAGE);
  if (!values.batch) throw new UsageError('--batch <subscribers.csv> is required');
  if (!values.mkc) throw new UsageError('--mkc <mkc card file> is required');
  if ((values.out === undefined) === (values.reader === undefined))
    throw new UsageError('give exactly one of --out <dir> and --reader <name>');
  if (values.out !== undefined && !values['transport-key-file'])
    throw new UsageError(
      "--out needs --transport-key-file: this mode makes the blank chips itself, with the manufacturer's transport master",
    );
  if (values.host !== undefined && !values['api-key-file'])
    throw new UsageError('--host needs --api-key-file <file> (an API key with the vending role)');
  if (values['api-key-file'] !== undefined && values.host === undefined)
    throw new UsageError('--api-key-file is for --host');
  const journalPath =
    values.journal ?? (values.out !== undefined ? join(values.out, 'issue.journal') : undefined);
  if (!journalPath) throw new UsageError('--reader needs --journal <file> (it makes the batch resumable)');
  const timeoutSeconds = Number(values['card-timeout'] ?? '600');
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 86_400)
    throw new UsageError('--card-timeout must be 1..86400 seconds');
  let faults: FaultPlan;
  try {
    faults = new FaultPlan(process.env[FAULT_ENV]);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }

  // The batch first: a bad file is refused before anything is opened.
  let csv: Uint8Array;
  try {
    // Its size before reading it: a 10 GB file (or /dev/zero) is refused, not read into memory.
    const st = statSync(values.batch);
    if (!st.isFile()) throw new UsageError(`the batch '${values.batch}' is not a regular file`);
    if (st.size > CSV_MAX_BYTES)
      throw new UsageError(`the batch '${values.batch}' is over ${CSV_MAX_BYTES} bytes (${st.size})`);
    csv = new Uint8Array(readFileSync(values.batch));
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read the batch '${values.batch}': ${(e as Error).message}`);
  }
  const batch = parseBatchCsv(csv); // MalformedDataError: one line, exit 2 (cli/main.ts)
  for (const b of batch.bad) io.out(`${describeBad(b)}\n`);
  if (batch.bad.length && values.strict) {
    io.out(
      `nothing issued (--strict): ${batch.bad.length} bad row(s) of ${batch.bad.length + batch.rows.length}\n`,
    );
    return EXIT_BAD_ROWS;
  }
  if (batch.rows.length === 0 && batch.bad.length === 0)
    throw new UsageError(`the batch '${values.batch}' has a header but no subscriber rows: nothing to issue`);

  const pin = readMkcPin(values['pin-file']);
  const cipher = new NodeCipherProvider();
  const transport = values['transport-key-file']
    ? readTransportMasterFile(values['transport-key-file'], cipher)
    : undefined;
  let host: HostRegistrar | undefined;
  if (values.host !== undefined) {
    const apiKey = readSmallFile(values['api-key-file']!, 'API key file').trim();
    if (!apiKey) throw new UsageError(`API key file '${values['api-key-file']}' is empty`);
    try {
      host = new HostRegistrar(values.host, apiKey);
    } catch (e) {
      // Before any card: a --host that can never work would stop the batch after its first card.
      if (e instanceof RegistrationError) throw new UsageError(e.message);
      throw e;
    }
  }
  const files = cardFileOptions(values);

  if (values.out !== undefined) {
    try {
      mkdirSync(values.out, { recursive: true });
    } catch (e) {
      throw new CommandError(`cannot make the folder '${values.out}': ${(e as Error).message}`, { cause: e });
    }
  }
  const cleanups: Array<() => unknown> = [];
  try {
    // One process per journal and per MKC: two would issue the same rows twice.
    for (const f of [journalPath, values.mkc]) {
      try {
        const lock = CardFileLock.acquire(f);
        cleanups.push(() => lock.release());
      } catch (e) {
        if (e instanceof CardFileLockedError)
          throw new CommandError(`'${f}' is in use by another process (pid ${e.owner ?? '?'})`, { cause: e });
        throw new CommandError(`cannot lock '${f}': ${(e as Error).message}`, { cause: e });
      }
    }
    let journal: BatchJournal;
    try {
      journal = BatchJournal.open(journalPath, values['serial-start']);
    } catch (e) {
      if (e instanceof JournalError) throw new UsageError(e.message);
      throw new CommandError(`cannot open the journal '${journalPath}': ${(e as Error).message}`, {
        cause: e,
      });
    }
    cleanups.push(() => journal.close());

    // The MKC, from its card file through a virtual reader; its image changes (PIN tries, the
    // issue counter), so it is saved after VERIFY and after each card.
    const opened = openForCommand(values.mkc, files);
    const mkcReader = new VirtualReader('mkc', opened.card);
    const saveMkc = () => {
      try {
        opened.save();
      } catch (e) {
        throw new CommandError(`cannot save the master-key card '${values.mkc}': ${(e as Error).message}`, {
          cause: e,
        });
      }
    };
    let mkc: MasterKeyCard;
    try {
      mkc = await MasterKeyCard.open(await mkcReader.connect(), pin);
    } catch (e) {
      saveMkc(); // a wrong PIN spent a try: the file says so
      if (e instanceof BureauError)
        throw new CommandError(`master-key card '${values.mkc}': ${e.message}`, { cause: e });
      throw e;
    }
    saveMkc();
    const status = await mkc.status();
    if (!status.sealed)
      throw new CommandError(
        `master-key card '${values.mkc}' is not sealed: load and seal it first (keys ceremony load)`,
      );
    try {
      journal.bind('mkc', mkc.serial);
      journal.bind('station', values.out !== undefined ? `out:${realpathSync(values.out)}` : 'reader');
    } catch (e) {
      if (e instanceof JournalError) throw new UsageError(e.message);
      throw e;
    }

    let station: IssueStation;
    if (values.out !== undefined) {
      station = new FileStation(values.out, { tkv: transport!.tkv, master: transport!.key }, files, cipher);
    } else {
      const ctx = await PcscContext.open().catch((e: unknown) => {
        throw new CommandError(`PC/SC is not available: ${(e as Error).message}`, { cause: e });
      });
      cleanups.push(() => ctx.close());
      const reader = await ctx.waitForReader(values.reader!, 5000).catch((e: unknown) => {
        throw new CommandError(`no PC/SC reader '${values.reader}': ${(e as Error).message}`, { cause: e });
      });
      station = new ReaderStation(reader, io, timeoutSeconds * 1000);
    }
    const audit = new AuditLog(
      values['audit-log'] ?? `${journalPath}.audit.jsonl`,
      values.operator ?? safeUser(),
    );

    io.out(
      `issuing ${batch.rows.length} card(s) with master-key card ${mkc.serial} (issue counter ${status.issueCounter}) into ${values.out !== undefined ? `card files in ${values.out}` : `reader ${values.reader}`}; journal ${journalPath}, next serial ${journal.nextSerial}\n`,
    );
    const progress = new Progress(io, 'issuing', 'cards');
    const issuer = new BatchIssuer(
      {
        journal,
        station,
        mkc: { mkc, status, save: saveMkc },
        audit,
        ...(host ? { host } : {}),
        faults,
        onRow: (o, i, total) => {
          if (progress.enabled) {
            progress.update(i, total);
            if (o.result === 'refused' || typeof o.registered === 'object') {
              progress.done();
              io.out(`${describeOutcome(o, i, total)}\n`);
            }
          } else io.out(`${describeOutcome(o, i, total)}\n`);
        },
      },
      personalise,
    );
    let report: BatchReport;
    try {
      report = await issuer.run(batch.rows);
    } catch (e) {
      progress.done();
      if (e instanceof BureauError || e instanceof RegistrationError || isSystemError(e))
        throw new CommandError(`batch stopped (run the same command again to resume): ${e.message}`, {
          cause: e,
        });
      throw e;
    }
    progress.done();
    io.out(`${summary(report, batch.bad.length, host !== undefined)}\n`);
    if (batch.bad.length || report.refused) return EXIT_BAD_ROWS;
    return report.registrationFailed ? 1 : 0;
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        c();
      } catch {
        // closing what is already closed
      }
    }
  }
}

/**
 * An error of the file system or the journal's database (disk full, a folder not writable, a file
 * in the way: `ENOSPC`, `EACCES`, `SQLITE_FULL`…): the batch stops and says why, it is no bug.
 */
function isSystemError(e: unknown): e is Error {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && /^(E[A-Z]+|SQLITE_[A-Z_]+)$/.test(code);
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env['USER'] ?? 'unknown';
  }
}

export const cardIssueCommand: Command = {
  path: ['card', 'issue'],
  summary:
    'issue a batch of subscriber cards through the master-key card: resumable, registered with the host, audited',
  usage: USAGE,
  errorName: 'card issue',
  options: OPTIONS,
  examples: [
    'card issue --batch subscribers.csv --mkc mkc.card --out cards/ --transport-key-file mk-tr.json --serial-start 4D50000000000001',
    'card issue --batch subscribers.csv --mkc mkc.card --reader "Virtual PCD 00 00" --journal batch.journal --host http://127.0.0.1:8080 --api-key-file vending.key',
  ],
  run: (args, io) => issue(args, io),
};
