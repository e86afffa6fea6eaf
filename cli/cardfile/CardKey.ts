/**
 * The card key: the AES-256 key that seals card files (cli/cardfile/CardFile.ts). It never goes
 * into a card file; it comes, first match wins, from
 *
 * 1. `--key-file PATH` (the `keyFile` option);
 * 2. `MP_CARD_KEY`: 64 hex digits in the environment (a secrets manager, CI);
 * 3. `MP_CARD_KEY_FILE`: the path of a key file;
 * 4. the default key file `<config>/card.key`, where `<config>` is `MP_CONFIG_DIR`, else
 *    `$XDG_CONFIG_HOME/meterpurse`, else `~/.config/meterpurse` (`%APPDATA%\meterpurse` on Windows).
 *
 * `meterpurse card new` creates a missing key file (random, mode 0600 in a 0700 directory). The
 * threat model: whoever edits card files cannot read or write the key file — it lives in the
 * user's config directory, not beside the cards, and a key file readable by group or others is
 * refused, as ssh refuses such a private key.
 *
 * Key file format (text): `#` comment lines, then one line of 64 hex digits.
 *
 * Each card file is sealed under its own subkey, HKDF-SHA256(card key, salt = the file's card id,
 * info = "meterpurse card file v2 AES-256-GCM"), so random 96-bit nonces are drawn per card and
 * a subkey never leaves one card's files.
 */
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fromHex, toHex } from '../../card/index.js';
import { CardFileError } from './CardFileError.js';
import { createFileExclusive } from './writeFileAtomic.js';

export const CARD_KEY_ENV = 'MP_CARD_KEY';
export const CARD_KEY_FILE_ENV = 'MP_CARD_KEY_FILE';
export const CARD_STATE_ENV = 'MP_CARD_STATE';
export const CONFIG_DIR_ENV = 'MP_CONFIG_DIR';
export const CARD_KEY_LENGTH = 32;
const SUBKEY_INFO = 'meterpurse card file v2 AES-256-GCM';
const KEY_ID_LABEL = 'meterpurse card key id';

/** A card key, where it came from and where its rollback state record lives. */
export class CardKey {
  readonly #key: Uint8Array;
  /** First 8 bytes of HMAC-SHA256(key, "meterpurse card key id"), hex: names the key, reveals nothing. */
  readonly keyId: string;

  /**
   * @param source where the key came from, for messages ("key file /x/card.key", "MP_CARD_KEY").
   * @param statePath the rollback state record kept beside the key (undefined: no rollback check).
   * @param file the key file it was read from (undefined for an environment key).
   * @throws TypeError / RangeError when `key` is not 32 bytes.
   */
  constructor(
    key: Uint8Array,
    readonly source: string,
    readonly statePath: string | undefined,
    readonly file?: string,
  ) {
    if (!(key instanceof Uint8Array)) throw new TypeError('key must be a Uint8Array');
    if (key.length !== CARD_KEY_LENGTH)
      throw new RangeError(`key must be ${CARD_KEY_LENGTH} bytes, got ${key.length}`);
    this.#key = Uint8Array.from(key);
    this.keyId = createHmac('sha256', this.#key).update(KEY_ID_LABEL).digest().subarray(0, 8).toString('hex');
  }

  /** A fresh random key (not stored anywhere). */
  static random(source = 'random key', statePath?: string, file?: string): CardKey {
    const k = new Uint8Array(randomBytes(CARD_KEY_LENGTH));
    try {
      return new CardKey(k, source, statePath, file);
    } finally {
      k.fill(0);
    }
  }

  /** The AES-256 key of one card's files; the caller wipes it after use. */
  subkey(cardId: Uint8Array): Uint8Array {
    return new Uint8Array(hkdfSync('sha256', this.#key, cardId, SUBKEY_INFO, CARD_KEY_LENGTH));
  }

  /** The key as a key file's text (for `createKeyFile`). */
  toKeyFileText(): string {
    return `# meterpurse card key: seals card files (AES-256-GCM). Keep it secret and away from the cards;\n# whoever holds it can edit every card file sealed under it.\n${toHex(this.#key)}\n`;
  }

  /** Zero-fills the key (STYLE.md rule 7); the object is useless afterwards. */
  wipe(): void {
    this.#key.fill(0);
  }
}

/** `<config>` of the module comment: where the default key file and its state live. */
export function defaultConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env[CONFIG_DIR_ENV]) return resolve(env[CONFIG_DIR_ENV]);
  if (env.XDG_CONFIG_HOME) return join(resolve(env.XDG_CONFIG_HOME), 'meterpurse');
  if (process.platform === 'win32' && env.APPDATA) return join(env.APPDATA, 'meterpurse');
  return join(homedir(), '.config', 'meterpurse');
}

function keyError(reason: string): CardFileError {
  return new CardFileError('key', reason);
}

function parseKeyText(text: string, where: string): Uint8Array {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length !== 1 || !/^[0-9A-Fa-f]{64}$/.test(lines[0]!))
    throw keyError(`${where} does not hold one line of 64 hex digits (a 256-bit key)`);
  return fromHex(lines[0]!);
}

/**
 * Reads a key file. Its rollback state record is `<path>.state`.
 * @throws CardFileError (problem 'key') when it is missing, unreadable, readable by group or
 *   others (POSIX), or badly formed.
 */
export function loadKeyFile(path: string): CardKey {
  const abs = resolve(path);
  let text: string;
  try {
    if (process.platform !== 'win32') {
      const mode = statSync(abs).mode & 0o777;
      if (mode & 0o077)
        throw keyError(
          `key file ${abs} is readable or writable by others (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 it`,
        );
    }
    text = readFileSync(abs, 'utf8');
  } catch (e) {
    if (e instanceof CardFileError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw keyError(
      code === 'ENOENT'
        ? `no card key: key file ${abs} does not exist (it is made by 'meterpurse card new'; or set ${CARD_KEY_ENV})`
        : `cannot read key file ${abs}: ${(e as Error).message}`,
    );
  }
  const key = parseKeyText(text, `key file ${abs}`);
  try {
    return new CardKey(key, `key file ${abs}`, `${abs}.state`, abs);
  } finally {
    key.fill(0);
  }
}

/**
 * Creates a key file with a fresh random key: the directory 0700 (made if missing), the file 0600,
 * exclusively (an existing key is never overwritten).
 * @throws CardFileError (problem 'key') when it exists or cannot be written.
 */
export function createKeyFile(path: string): CardKey {
  const abs = resolve(path);
  const key = CardKey.random(`key file ${abs}`, `${abs}.state`, abs);
  try {
    mkdirSync(dirname(abs), { recursive: true, mode: 0o700 });
    createFileExclusive(abs, new TextEncoder().encode(key.toKeyFileText()));
    if (process.platform !== 'win32') chmodSync(abs, 0o600);
  } catch (e) {
    key.wipe();
    throw keyError(`cannot create key file ${abs}: ${(e as Error).message}`);
  }
  return key;
}

export interface ResolveKeyOptions {
  /** `--key-file PATH`: wins over the environment. */
  keyFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Create the key file (only a key file, never an environment key) when it does not exist. */
  create?: boolean;
  /** Told the path of a key file `create` made. */
  onCreate?: (path: string) => void;
}

/**
 * The card key by the order of the module comment.
 * @throws CardFileError (problem 'key') when there is none (and `create` is false), or it is bad.
 */
export function resolveCardKey(options: ResolveKeyOptions = {}): CardKey {
  const env = options.env ?? process.env;
  let file = options.keyFile;
  if (file === undefined) {
    const hex = env[CARD_KEY_ENV];
    if (hex !== undefined && hex !== '') {
      const key = parseKeyText(hex, CARD_KEY_ENV);
      try {
        const probe = new CardKey(key, CARD_KEY_ENV, undefined);
        const state = env[CARD_STATE_ENV] || join(defaultConfigDir(env), `card-key-${probe.keyId}.state`);
        probe.wipe();
        return new CardKey(key, CARD_KEY_ENV, resolve(state));
      } finally {
        key.fill(0);
      }
    }
    file = env[CARD_KEY_FILE_ENV] || join(defaultConfigDir(env), 'card.key');
  }
  if (options.create) {
    try {
      statSync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        try {
          const made = createKeyFile(file);
          options.onCreate?.(resolve(file));
          return made;
        } catch (c) {
          // Another process made it between our stat and our exclusive create: use theirs.
          if (!(c instanceof CardFileError) || !/EEXIST/.test(c.reason)) throw c;
        }
      }
    }
  }
  return loadKeyFile(file);
}
