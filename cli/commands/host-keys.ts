/**
 * `meterpurse host keys create|list|revoke`: the API keys of a host database (docs/host.md,
 * "Access"). A new key is printed once — only its SHA-256 is stored — so whoever runs `create`
 * hands it on; `list` shows ids, names, roles and the first characters of each key, never a secret.
 * These commands work on the database file directly (a running `host serve` sees the change at its
 * next request: keys are looked up per request).
 */
import { existsSync } from 'node:fs';
import type { Command, Io, OptionDocs } from '../Command.js';
import { UsageError, parseOptions } from '../Command.js';
import {
  ApiKeyService,
  ApiKeyRepository,
  HostDb,
  HostDbError,
  ROLES,
  ServiceError,
} from '../../host/index.js';

/** Opens the database, runs `f` with the key service over it, closes it; database and service errors are one line. */
const DB_DOC = {
  type: 'string',
  value: '<file>',
  help: 'the host database (as for host serve)',
  byDefault: 'required',
} as const;

const CREATE_OPTIONS = {
  db: DB_DOC,
  role: {
    type: 'string',
    multiple: true,
    value: `<${ROLES.join('|')}>`,
    help: 'a role of the key',
    byDefault: 'required',
  },
  name: {
    type: 'string',
    value: '<N>',
    help: 'a name to recognise the key by',
    byDefault: 'its roles joined with +',
  },
  json: { type: 'boolean', help: 'print {id, key, roles, …} as JSON' },
} as const satisfies OptionDocs;

const LIST_OPTIONS = {
  db: DB_DOC,
  json: { type: 'boolean', help: 'print the keys as JSON' },
} as const satisfies OptionDocs;

const REVOKE_OPTIONS = { db: DB_DOC } as const satisfies OptionDocs;

async function withKeys(
  file: string | undefined,
  io: Io,
  f: (keys: ApiKeyService) => number,
  create = false,
): Promise<number> {
  if (!file) throw new UsageError('--db <file> is required');
  // `create` may make the database (keys before the first start); list and revoke on a mistyped
  // path must not quietly make an empty one.
  if (!create && !existsSync(file)) {
    io.err(`meterpurse host keys: no database ${file}\n`);
    return 1;
  }
  let db: HostDb;
  try {
    db = new HostDb(file);
  } catch (e) {
    if (e instanceof HostDbError) {
      io.err(`meterpurse host keys: ${e.code}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  try {
    return f(new ApiKeyService(new ApiKeyRepository(db)));
  } catch (e) {
    if (e instanceof ServiceError) throw new UsageError(e.message);
    if (e instanceof HostDbError) {
      io.err(`meterpurse host keys: ${e.code}: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    db.close();
  }
}

export const hostKeysCreateCommand: Command = {
  path: ['host', 'keys', 'create'],
  summary: 'create an API key of the host with one or more roles (printed once)',
  usage: `host keys create --db <file> --role <${ROLES.join('|')}> [--role R ...] [--name N] [--json]`,
  options: CREATE_OPTIONS,
  examples: [
    'host keys create --db host.db --role vending --name "shop 12"',
    'host keys create --db host.db --role engineer --role auditor --json',
  ],
  async run(args: string[], io: Io): Promise<number> {
    const { values } = parseOptions(args, CREATE_OPTIONS);
    if (!values.role?.length) throw new UsageError(`at least one --role is required (${ROLES.join(', ')})`);
    return withKeys(
      values.db,
      io,
      (keys) => {
        const k = keys.create(values.role!, values.name ?? values.role!.join('+'));
        if (values.json) io.out(`${JSON.stringify(k)}\n`);
        else {
          io.out(`${k.key}\n`);
          io.err(`API key ${k.id} (${k.roles.join(', ')}): shown once, keep it now\n`);
        }
        return 0;
      },
      true,
    );
  },
};

export const hostKeysListCommand: Command = {
  path: ['host', 'keys', 'list'],
  summary: 'list the API keys of the host (no secrets)',
  usage: 'host keys list --db <file> [--json]',
  options: LIST_OPTIONS,
  examples: ['host keys list --db host.db --json'],
  async run(args: string[], io: Io): Promise<number> {
    const { values } = parseOptions(args, LIST_OPTIONS);
    return withKeys(values.db, io, (keys) => {
      const all = keys.list();
      if (values.json) {
        io.out(`${JSON.stringify(all)}\n`);
        return 0;
      }
      for (const k of all)
        io.out(
          `${String(k.id).padStart(4)}  ${k.prefix}…  ${k.revokedAt ? `revoked ${k.revokedAt}` : 'active'}  ${k.roles.join(',')}  ${k.name}\n`,
        );
      if (all.length === 0) io.out('no API keys\n');
      return 0;
    });
  },
};

export const hostKeysRevokeCommand: Command = {
  path: ['host', 'keys', 'revoke'],
  summary: 'revoke an API key of the host (by id)',
  usage: 'host keys revoke --db <file> <id>',
  options: REVOKE_OPTIONS,
  examples: ['host keys revoke --db host.db 3'],
  async run(args: string[], io: Io): Promise<number> {
    const { values, positionals } = parseOptions(args, REVOKE_OPTIONS, true);
    if (positionals.length !== 1 || !/^[1-9][0-9]{0,15}$/.test(positionals[0]!))
      throw new UsageError('give the id of one key (see host keys list)');
    return withKeys(values.db, io, (keys) => {
      keys.revoke(Number(positionals[0]));
      io.out(`revoked API key ${positionals[0]}\n`);
      return 0;
    });
  },
};

/** The three `host keys` commands, for cli/main.ts. */
export const hostKeysCommands: readonly Command[] = [
  hostKeysCreateCommand,
  hostKeysListCommand,
  hostKeysRevokeCommand,
];
