/**
 * The on-disk form of a card: a JSON header (what is needed to rebuild the card) and the
 * persistent image, guarded by a magic, a version and a CRC-32.
 *
 * ```
 *  0      4  magic        "MPCF" (4D 50 43 46)
 *  4      2  version      0001
 *  6      4  M            header length
 *  10     M  header       UTF-8 JSON object
 *  10+M   4  N            image length
 *  14+M   N  image        PersistentStore.image()
 *  14+M+N 4  CRC-32       over bytes 0 .. 13+M+N (IEEE, as zip)
 * ```
 * Files are written atomically: to a temporary file in the same directory, fsync'd, renamed over
 * the target, and the directory fsync'd; a reader therefore sees the old file or the new one,
 * never a half-written one.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { MalformedDataError } from '../iso7816/errors.js';
import { crc32 } from './crc32.js';

export const STORE_FILE_MAGIC = Uint8Array.of(0x4d, 0x50, 0x43, 0x46);
export const STORE_FILE_VERSION = 1;
/** Upper bound on a header, so a damaged length cannot make us allocate gigabytes. */
const MAX_HEADER = 1 << 20;
const MAX_IMAGE = (16 << 20) + (1 << 20);

export interface StoreFileContents {
  header: Record<string, unknown>;
  image: Uint8Array;
}

function fail(reason: string, offset: number, raw: Uint8Array): never {
  throw new MalformedDataError(reason, offset, raw, 'card-file');
}

/**
 * Encodes a card file.
 * @throws TypeError when the header is not a plain object or the image not a Uint8Array.
 */
export function encodeStoreFile(header: Record<string, unknown>, image: Uint8Array): Uint8Array {
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw new TypeError('header must be an object');
  if (!(image instanceof Uint8Array)) throw new TypeError('image must be a Uint8Array');
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(14 + json.length + image.length + 4);
  const dv = new DataView(out.buffer);
  out.set(STORE_FILE_MAGIC, 0);
  dv.setUint16(4, STORE_FILE_VERSION);
  dv.setUint32(6, json.length);
  out.set(json, 10);
  dv.setUint32(10 + json.length, image.length);
  out.set(image, 14 + json.length);
  dv.setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)));
  return out;
}

/**
 * Decodes a card file, checking magic, version, lengths, CRC and the JSON header in that order.
 * @throws MalformedDataError (kind 'card-file') with the offset of the first bad byte.
 */
export function decodeStoreFile(bytes: Uint8Array): StoreFileContents {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
  const n = bytes.length;
  if (n < 4) fail(`truncated: ${n} bytes, the magic alone is 4`, n, bytes);
  for (let i = 0; i < 4; i++)
    if (bytes[i] !== STORE_FILE_MAGIC[i]) fail('not a meterpurse card file (magic is not "MPCF")', i, bytes);
  if (n < 10) fail('truncated header fields', n, bytes);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint16(4);
  if (version !== STORE_FILE_VERSION)
    fail(`unsupported version ${version} (this build reads ${STORE_FILE_VERSION})`, 4, bytes);
  const m = dv.getUint32(6);
  if (m > MAX_HEADER) fail(`header length ${m} exceeds ${MAX_HEADER}`, 6, bytes);
  if (n < 14 + m)
    fail(`truncated: the ${m}-byte header and the image length need ${14 + m} bytes, got ${n}`, n, bytes);
  const imageLength = dv.getUint32(10 + m);
  if (imageLength > MAX_IMAGE) fail(`image length ${imageLength} exceeds ${MAX_IMAGE}`, 10 + m, bytes);
  const total = 14 + m + imageLength + 4;
  if (n < total) fail(`truncated: ${total} bytes expected, got ${n}`, n, bytes);
  if (n > total) fail(`${n - total} bytes after the checksum`, total, bytes);
  const stored = dv.getUint32(total - 4);
  const actual = crc32(bytes.subarray(0, total - 4));
  if (stored !== actual)
    fail(
      `checksum mismatch: stored ${stored.toString(16)}, computed ${actual.toString(16)}`,
      total - 4,
      bytes,
    );
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(10, 10 + m)));
  } catch {
    fail('header is not UTF-8 JSON', 10, bytes);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    fail('header is not a JSON object', 10, bytes);
  return { header: header as Record<string, unknown>, image: bytes.slice(14 + m, 14 + m + imageLength) };
}

/**
 * Writes `bytes` to `path` atomically (temp file + fsync + rename + directory fsync).
 * @throws the Node.js system error when the directory is not writable; the target is then untouched.
 */
export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
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
 * Reads and decodes a card file.
 * @throws MalformedDataError (kind 'card-file') for a damaged file; the Node.js system error
 *   (ENOENT, EACCES) when it cannot be read.
 */
export function readStoreFile(path: string): StoreFileContents {
  return decodeStoreFile(new Uint8Array(readFileSync(path)));
}

/** Encodes and writes a card file atomically. */
export function writeStoreFile(path: string, header: Record<string, unknown>, image: Uint8Array): void {
  writeFileAtomic(path, encodeStoreFile(header, image));
}
