import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { container } from 'tsyringe';
import type { Command, Io, OptionDocs } from '../Command.js';
import { CommandError, UsageError, parseOptions } from '../Command.js';
import { NodeCipherProvider, SystemRng } from '../../card/index.js';
import { HostDb, HostDbError } from '../../host/index.js';
import { HostService } from '../../host/index.js';
import { registerHost } from '../../host/index.js';
import { SimulatedPaymentGateway } from '../../host/index.js';
import { buildApi } from '../../host/index.js';
import { SimulatedField } from '../../host/index.js';
import { IssuerKeys } from '../../card/index.js';
import { CardMeterField } from '../field/cardMeterField.js';
import { ServiceError } from '../../host/index.js';
import { LOG_LEVELS, type LogLevel } from '../../host/index.js';
import { ClearingSchedule, ClearingService, hostProtocolLink } from '../../host/index.js';
import { RelaySchedule, RelayService, hostProtocolRelayLink } from '../../host/index.js';

/** Is `host` a loopback address (or `localhost`)? Anything else is reachable from elsewhere. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** A file's text for an option, or a UsageError naming the option. */
function readOptionFile(option: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`${option} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** The utility (purse id) whose SVMs `host serve` clears: electricity, as the demo meters hold. */
const CLEARING_PURSE = 1;

const SERVE_OPTIONS = {
  db: {
    type: 'string',
    value: '<file>',
    help: 'the SQLite database, created when missing',
    byDefault: 'required',
  },
  port: {
    type: 'string',
    value: '<N>',
    help: 'TCP port of the HTTP/JSON API (0: any free port)',
    byDefault: '8080',
  },
  listen: {
    type: 'string',
    value: '<addr>',
    help: 'address to listen on; anything but loopback needs TLS or --insecure-listen',
    byDefault: '127.0.0.1',
  },
  meters: {
    type: 'string',
    value: '<simulated|real>',
    help: 'the field of meters: simulated terminals, or real meter cores with SAM and SVM applets',
    byDefault: 'simulated',
  },
  field: {
    type: 'string',
    value: '<file>',
    help: 'where the simulated field keeps its state (--meters simulated)',
    byDefault: '<db>.field.json',
  },
  'issuer-seed': {
    type: 'string',
    value: '<S>',
    help: 'demo issuer (public test keys) of the real meters and of the clearing scheme (K_svm, K_proof)',
    byDefault: '0',
  },
  'clearing-interval': {
    type: 'string',
    value: '<s>',
    help: 'seconds from the end of one clearing round (collect, settle, blacklist) to the next; 0: no clearing',
    byDefault: '300',
  },
  'relay-interval': {
    type: 'string',
    value: '<s>',
    help: 'seconds from the end of one relay round (card commands of other utilities, H = 57) to the next; 0: no relay',
    byDefault: '60',
  },
  'clearing-term': {
    type: 'string',
    value: '<s>',
    help: 'seconds a pending card transfer is left for the card to recover before the host settles it',
    byDefault: '86400',
  },
  'session-delay-ms': {
    type: 'string',
    value: '<N>',
    help: 'delay of each meter session, to test timeouts',
    byDefault: '0',
  },
  'admin-key-file': {
    type: 'string',
    value: '<file>',
    help: 'make the key in this file an admin API key (else $MP_HOST_ADMIN_KEY)',
    byDefault: 'a new admin key printed once at the first start',
  },
  'tls-cert': { type: 'string', value: '<file>', help: 'TLS certificate (PEM), with --tls-key: serve HTTPS' },
  'tls-key': { type: 'string', value: '<file>', help: 'TLS private key (PEM), with --tls-cert' },
  'insecure-listen': { type: 'boolean', help: 'allow plain HTTP on a non-loopback --listen address' },
  'log-level': {
    type: 'string',
    value: '<level>',
    help: `request log level on stdout: ${LOG_LEVELS.join(', ')}`,
    byDefault: 'warn',
  },
} as const satisfies OptionDocs;

/**
 * `meterpurse host serve --db <file> [--port N] [--listen 127.0.0.1] [--meters simulated|real]
 * [--field <file>] [--issuer-seed S] [--session-delay-ms N] [--admin-key-file F] [--tls-cert F --tls-key F]
 * [--insecure-listen] [--log-level L] [--clearing-interval s] [--clearing-term s] [--relay-interval s]`: the host service
 * (docs/host.md). The request log (pino, one
 * JSON line per request on stdout, no keys, card or account numbers) is at `--log-level` (default warn).
 * Pending credits are delivered at start-up, so a restart loses nothing. The field of meters:
 * - `simulated` (default): simulated terminals whose state is kept in `--field` (default
 *   `<db>.field.json`), so the field survives a kill -9 of the process;
 * - `real`: real meter cores with their SAM and SVM applets behind their own modems
 *   (cli/field/cardMeterField.ts), personalised with the demo issuer of `--issuer-seed` (default
 *   '0', public test keys) whose KH versions a new database takes as its keys; in memory only.
 *
 * Clearing (docs/clearing.md): a ClearingService over the power line, keys of the demo issuer of
 * `--issuer-seed`, purse 1, is attached to the host; every `--clearing-interval` seconds (default
 * 300; 0 turns it off) one round collects every registered meter's records (H = 55), settles the
 * pending transfers older than `--clearing-term` seconds (default one day) or proven (H = 54), and
 * sends the blacklist to meters behind its version (H = 56). One round at a time; a meter's failure
 * is logged on stderr and does not stop the others; SIGTERM / SIGINT wait for the round in flight.
 *
 * Relay (docs/host.md "Relay for other utilities"): every `--relay-interval` seconds (default 60; 0
 * turns it off) one round sends the card commands other utilities posted to /relay/card-commands to
 * the electricity meters of the cards' subscribers (H = 57) and stores the cards' answers once; every
 * 10th round asks every meter, to collect the offline readings meters found on cards.
 *
 * Access: every API route needs an API key (host/service/access.ts). A database without an admin
 * key gets one at start, printed once on stderr; `--admin-key-file` (or the environment variable
 * MP_HOST_ADMIN_KEY; the file wins) makes the given key an admin key instead, for scripts and CI.
 * `--listen` on anything but loopback needs TLS (`--tls-cert` and `--tls-key`, PEM files), or
 * `--insecure-listen` to say plain HTTP on the network is meant.
 */
export const hostServeCommand: Command = {
  path: ['host', 'serve'],
  summary: 'run the supplier host (SQLite + HTTP/JSON API) over a field of simulated or real meters',
  usage:
    'host serve --db <file> [--port N] [--listen <addr>] [--meters simulated|real] [--field <file>] [--issuer-seed S] [--session-delay-ms N] [--admin-key-file F] [--tls-cert F --tls-key F] [--insecure-listen] [--log-level fatal|error|warn|info|debug|trace|silent] [--clearing-interval s] [--clearing-term s] [--relay-interval s]',
  options: SERVE_OPTIONS,
  examples: [
    'host serve --db host.db',
    'host serve --db host.db --meters real --port 8443 --listen 0.0.0.0 --tls-cert cert.pem --tls-key key.pem',
  ],
  async run(args: string[], io: Io): Promise<number> {
    const { values } = parseOptions(args, SERVE_OPTIONS);
    if (!values.db) throw new UsageError('--db <file> is required');
    const logLevel = values['log-level'] ?? 'warn';
    if (!(LOG_LEVELS as readonly string[]).includes(logLevel))
      throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${logLevel}`);
    const port = Number(values.port ?? '8080');
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new UsageError(`--port must be 0..65535, got ${values.port}`);
    const delay = Number(values['session-delay-ms'] ?? '0');
    if (!Number.isInteger(delay) || delay < 0)
      throw new UsageError('--session-delay-ms must be a non-negative integer');
    const seconds = (option: string, text: string): number => {
      // whole milliseconds, within what a timer holds (2^31 - 1 ms, about 24.8 days)
      if (!/^\d+(\.\d{1,3})?$/.test(text) || Number(text) > 2_147_483)
        throw new UsageError(`${option} must be seconds (0..2147483, at most 3 decimals), got ${text}`);
      return Math.round(Number(text) * 1000);
    };
    const clearingEveryMs = seconds('--clearing-interval', values['clearing-interval'] ?? '300');
    const clearingTermMs = seconds('--clearing-term', values['clearing-term'] ?? '86400');
    const relayEveryMs = seconds('--relay-interval', values['relay-interval'] ?? '60');
    const meters = values.meters ?? 'simulated';
    if (meters !== 'simulated' && meters !== 'real')
      throw new UsageError(`--meters must be simulated or real, got ${meters}`);
    if (meters === 'real' && values.field !== undefined)
      throw new UsageError('--field (the simulated field state file) does not go with --meters real');
    if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined))
      throw new UsageError('--tls-cert and --tls-key go together');
    const listen = values.listen ?? '127.0.0.1';
    const https =
      values['tls-cert'] !== undefined && values['tls-key'] !== undefined
        ? {
            cert: readOptionFile('--tls-cert', values['tls-cert']),
            key: readOptionFile('--tls-key', values['tls-key']),
          }
        : undefined;
    if (!https && !isLoopback(listen) && !values['insecure-listen'])
      throw new UsageError(
        `refusing to listen on ${listen} without TLS: give --tls-cert and --tls-key, or --insecure-listen`,
      );
    const givenKey =
      values['admin-key-file'] !== undefined
        ? readOptionFile('--admin-key-file', values['admin-key-file']).trim()
        : process.env['MP_HOST_ADMIN_KEY'];
    let db: HostDb;
    try {
      db = new HostDb(values.db);
    } catch (e) {
      if (e instanceof HostDbError) throw new CommandError(`${e.code}: ${e.message}`, { cause: e });
      throw e;
    }
    // The composition root of the host process: it chooses the backends (database, random source,
    // clock, payment gateway, field of meters); host/register.ts wires the services over them.
    const cipher = new NodeCipherProvider();
    const issuer = meters === 'real' ? IssuerKeys.demo(cipher, values['issuer-seed'] ?? '0') : undefined;
    // the clearing scheme's keys: the same demo issuer (the real meters' SVMs MAC their log under
    // its K_svm; the simulated meters are given it to MAC theirs)
    const scheme = issuer ?? IssuerKeys.demo(cipher, values['issuer-seed'] ?? '0');
    let svc: HostService;
    try {
      svc = new HostService(
        registerHost(container.createChildContainer(), {
          db,
          cipher,
          rng: new SystemRng(),
          clock: Date.now,
          gateway: new SimulatedPaymentGateway(),
          field: (keys) =>
            issuer
              ? new CardMeterField({ issuer })
              : new SimulatedField(cipher, keys, values.field ?? `${values.db}.field.json`, undefined, (id) =>
                  scheme.svmKey(id, CLEARING_PURSE, 1),
                ),
          // Key ceremony for real meters: the host holds the KH versions their SAMs were made with.
          ...(issuer ? { initialKeys: issuer.utility(1).host } : {}),
          sessionDelayMs: delay,
        }),
      );
    } catch (e) {
      // a field state file that is truncated or not JSON, a field that cannot be built: one line
      db.close();
      throw new CommandError(`cannot start the field of meters: ${(e as Error).message}`, { cause: e });
    }
    try {
      if (givenKey !== undefined) svc.apiKeys.adopt(givenKey);
      else if (!svc.apiKeys.hasAdmin()) {
        const first = svc.apiKeys.create(['admin'], 'admin (first start)');
        io.err(`admin API key ${first.id} (shown once, keep it now): ${first.key}\n`);
      }
    } catch (e) {
      svc.close();
      if (e instanceof ServiceError) throw new UsageError(`admin key: ${e.message}`);
      throw e;
    }
    const recovered = await svc.recover();
    if (recovered.length)
      io.out(
        `recovered ${recovered.length} pending credit(s): ${recovered.map((o) => `${o.txId}:${o.result}`).join(', ')}\n`,
      );
    let schedule: ClearingSchedule | undefined;
    if (clearingEveryMs > 0) {
      const clearing = new ClearingService(svc.db, {
        keys: scheme,
        purse: CLEARING_PURSE,
        termMs: clearingTermMs,
        link: hostProtocolLink(svc.protocol, svc.dispatcher.meters),
        line: svc.dispatcher,
      });
      svc.attachClearing(clearing);
      schedule = new ClearingSchedule(clearing, {
        intervalMs: clearingEveryMs,
        log: (level, line) => (level === 'error' ? io.err(`${line}\n`) : io.out(`${line}\n`)),
      });
    }
    const relaySchedule =
      relayEveryMs > 0
        ? new RelaySchedule(
            new RelayService(
              svc.db,
              hostProtocolRelayLink(svc.protocol, svc.dispatcher.meters, svc.dispatcher),
            ),
            {
              intervalMs: relayEveryMs,
              log: (level, line) => (level === 'error' ? io.err(`${line}\n`) : io.out(`${line}\n`)),
            },
          )
        : undefined;
    const app = buildApi(svc, { ...(https ? { https } : {}), logLevel: logLevel as LogLevel });
    let address: string;
    try {
      address = await app.listen({ port, host: listen });
    } catch (e) {
      // port in use, address not available, no permission: one line and a status, no stack trace
      const code = (e as NodeJS.ErrnoException).code;
      await app.close();
      svc.close();
      const why =
        code === 'EADDRINUSE'
          ? `port ${port} on ${listen} is in use`
          : code === 'EACCES'
            ? `no permission to listen on ${listen}:${port}`
            : (e as Error).message;
      throw new CommandError(why, { cause: e });
    }
    io.out(`listening on ${address}\n`);
    schedule?.start();
    relaySchedule?.start();
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    await schedule?.stop(); // the round in flight ends; none starts after
    await relaySchedule?.stop();
    await app.close();
    svc.close();
    return 0;
  },
};
