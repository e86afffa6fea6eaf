import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { canonicalPath } from './CardFileState.js';

/**
 * An exclusive lock on a card file for as long as a process serves it (`card serve`).
 *
 * Why: two processes serving one card file each hold the card in memory and save over each
 * other — a purse debited in one comes back in the other, which is exactly the double spend the
 * seal and the rollback state exist to stop.
 *
 * How: a lock file `<card file>.lock` beside the card (named after the card file's real path, so
 * two spellings of one file meet), created with O_EXCL and holding the owner's pid. A lock whose
 * pid no longer runs was left by a process that died (kill -9, a crash); it is stale and taken
 * over, so it never blocks forever. (A pid re-used by an unrelated process would keep a stale lock
 * alive; removing the `.lock` file by hand then frees it.)
 */
export class CardFileLock {
  readonly path: string;
  #held = true;

  private constructor(path: string) {
    this.path = path;
  }

  /** The lock file of a card file. */
  static pathOf(cardFile: string): string {
    return `${canonicalPath(cardFile)}.lock`;
  }

  /**
   * Takes the lock of `cardFile`.
   * @throws CardFileLockedError when a running process holds it; the fs error when the lock file
   * cannot be created (a missing folder, no permission).
   */
  static acquire(cardFile: string, pid: number = process.pid): CardFileLock {
    const path = CardFileLock.pathOf(cardFile);
    // Two rounds: the second after removing a stale lock (another process may win that race; it
    // then holds the lock and this one is refused, which is right).
    for (let round = 0; round < 2; round++) {
      let fd: number;
      try {
        fd = openSync(path, 'wx', 0o600);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const owner = ownerOf(path);
        if (owner !== undefined && owner !== pid && isRunning(owner))
          throw new CardFileLockedError(cardFile, path, owner);
        // No pid yet: another process may be between creating the file and writing its pid.
        if (owner === undefined && round === 0 && ageMs(path) < 1000)
          throw new CardFileLockedError(cardFile, path, undefined);
        rmSync(path, { force: true });
        continue;
      }
      try {
        writeSync(fd, `${pid}\n`);
      } finally {
        closeSync(fd);
      }
      return new CardFileLock(path);
    }
    throw new CardFileLockedError(cardFile, path, ownerOf(path));
  }

  /** Gives the lock back (idempotent); only removes a lock file that is still this process's. */
  release(): void {
    if (!this.#held) return;
    this.#held = false;
    if (ownerOf(this.path) === process.pid) rmSync(this.path, { force: true });
  }
}

/** A running process holds the lock of the card file. */
export class CardFileLockedError extends Error {
  override readonly name = 'CardFileLockedError';
  constructor(
    readonly cardFile: string,
    readonly lockFile: string,
    readonly owner: number | undefined,
  ) {
    super(
      `card file '${cardFile}' is in use by process ${owner ?? '?'} (lock ${lockFile}); stop that process first`,
    );
  }
}

/** The pid written in a lock file; undefined when unreadable or not a pid (a half-written lock). */
function ownerOf(path: string): number | undefined {
  try {
    const text = readFileSync(path, 'utf8').trim();
    return /^[1-9][0-9]{0,9}$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/** Does a process with this pid run? Signal 0 checks without sending; EPERM means it runs as another user. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return Infinity;
  }
}
