/**
 * The container of a card file: a JSON header and a body, guarded by a magic, a version and a
 * CRC-32. The CRC only catches accidental damage — anyone can recompute it — so what the body
 * holds and who may change it is the business of the card-file layer (`cli/cardfile/`), which
 * seals the body with AES-256-GCM. This module is pure: no file I/O happens inside `card/`.
 *
 * ```
 *  0      4  magic        "MPCF" (4D 50 43 46)
 *  4      2  version      0001 (legacy: the body is the image in clear)
 *                         0002 (the header says how the body is sealed, see cli/cardfile/)
 *  6      4  M            header length
 *  10     M  header       UTF-8 JSON object
 *  10+M   4  N            body length
 *  14+M   N  body         v1: PersistentStore.image(); v2: sealed or lab body
 *  14+M+N 4  CRC-32       over bytes 0 .. 13+M+N (IEEE, as zip)
 * ```
 * Writing (atomically) is `cli/cardfile/writeFileAtomic.ts`.
 */
import { MalformedDataError } from '../iso7816/errors.js';
import { crc32 } from './crc32.js';

export const STORE_FILE_MAGIC = Uint8Array.of(0x4d, 0x50, 0x43, 0x46);
/** The version `encodeStoreFile` writes by default. */
export const STORE_FILE_VERSION = 2;
/** Versions `decodeStoreFile` reads. */
export const STORE_FILE_VERSIONS: readonly number[] = [1, 2];
/** Upper bound on a header, so a damaged length cannot make us allocate gigabytes. */
const MAX_HEADER = 1 << 20;
const MAX_IMAGE = (16 << 20) + (1 << 20);

export interface StoreFileContents {
  /** The container version (1 or 2). */
  version: number;
  header: Record<string, unknown>;
  /** The body: the image for version 1, a sealed or lab body for version 2. */
  image: Uint8Array;
  /** Length of the header JSON (M): bytes 0 .. 14+M are what a seal authenticates in clear. */
  headerLength: number;
}

function fail(reason: string, offset: number, raw: Uint8Array): never {
  throw new MalformedDataError(reason, offset, raw, 'card-file');
}

/**
 * Encodes a card file.
 * @throws TypeError when the header is not a plain object or the image not a Uint8Array;
 *   RangeError for a version this build cannot write.
 */
export function encodeStoreFile(
  header: Record<string, unknown>,
  image: Uint8Array,
  version: number = STORE_FILE_VERSION,
): Uint8Array {
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw new TypeError('header must be an object');
  if (!(image instanceof Uint8Array)) throw new TypeError('image must be a Uint8Array');
  if (!STORE_FILE_VERSIONS.includes(version))
    throw new RangeError(`version must be one of ${STORE_FILE_VERSIONS.join(', ')}, got ${version}`);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(14 + json.length + image.length + 4);
  const dv = new DataView(out.buffer);
  out.set(STORE_FILE_MAGIC, 0);
  dv.setUint16(4, version);
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
  if (!STORE_FILE_VERSIONS.includes(version))
    fail(`unsupported version ${version} (this build reads ${STORE_FILE_VERSIONS.join(', ')})`, 4, bytes);
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
  return {
    version,
    header: header as Record<string, unknown>,
    image: bytes.slice(14 + m, 14 + m + imageLength),
    headerLength: m,
  };
}
