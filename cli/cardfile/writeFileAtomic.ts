/**
 * Atomic file replacement for card files, their keys and their state records: the bytes go to a
 * temporary file in the same directory, are fsync'd, renamed over the target, and the directory
 * is fsync'd; a reader therefore sees the old file or the new one, never a half-written one.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
  fsyncSync(fd);
}

function syncDirectory(dir: string): void {
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Some file systems do not allow fsync on a directory; the rename itself is still atomic.
  }
}

/**
 * Writes `bytes` to `path` atomically (temp file + fsync + rename + directory fsync), mode 0600.
 * @throws the Node.js system error when the directory is not writable; the target is then untouched.
 */
export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeAll(fd, bytes);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // the temp file may not exist any more; nothing else to clean
    }
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  syncDirectory(dir);
}

/**
 * Creates `path` with `bytes`, mode 0600, failing if it exists (O_EXCL): two processes creating
 * the same key at once cannot both win and leave cards sealed under a key that was overwritten.
 * @throws the Node.js system error (EEXIST when the file is already there).
 */
export function createFileExclusive(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeAll(fd, bytes);
  } finally {
    closeSync(fd);
  }
  syncDirectory(dirname(path));
}
