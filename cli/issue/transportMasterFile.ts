/**
 * The chip manufacturer's transport master MK_tr[tkv] as a file, for `card issue --out` (which
 * plays the manufacturer: it makes each blank chip with K_tr = diversify(diversify(MK_tr, 'TR' ‖ kind), ICSN)). A real
 * bureau never holds it — its chips come with K_tr inside — and `--reader` mode never reads it.
 *
 * ```json
 * { "format": "meterpurse-transport-master", "version": 1, "tkv": 1,
 *   "key": "<32 hex: MK_tr, DES parity>", "kcv": "<6 hex: KCV of the key>" }
 * ```
 * The KCV is checked on reading (a key mistyped or damaged is refused before a chip is made). The
 * MKC holds the same master in slot `tkv` (docs/personalisation.md §3): in the simulation the key
 * is the XOR of the ceremony's components of that slot.
 */
import { readFileSync } from 'node:fs';
import { equalBytes, fromHex, kcv, toHex, type BlockCipherProvider } from '../../card/index.js';
import { UsageError } from '../Command.js';

export const TRANSPORT_MASTER_FORMAT = 'meterpurse-transport-master';

/** A transport master file that cannot be used. */
export class TransportMasterError extends Error {
  override readonly name = 'TransportMasterError';
}

/** The file's text for MK_tr of version `tkv` (it holds a key: write it mode 0600). */
export function encodeTransportMaster(cipher: BlockCipherProvider, tkv: number, key: Uint8Array): string {
  if (!Number.isInteger(tkv) || tkv < 1 || tkv > 15) throw new RangeError(`tkv must be 1..15, got ${tkv}`);
  if (key.length !== 16) throw new RangeError(`key must be 16 bytes, got ${key.length}`);
  return `${JSON.stringify({ format: TRANSPORT_MASTER_FORMAT, version: 1, tkv, key: toHex(key), kcv: toHex(kcv(cipher, key)) }, null, 2)}\n`;
}

/**
 * Parses and checks a transport master file.
 * @throws TransportMasterError naming the field at fault (format, tkv, key, KCV mismatch).
 */
export function parseTransportMaster(
  text: string,
  cipher: BlockCipherProvider,
): { tkv: number; key: Uint8Array } {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new TransportMasterError(`not JSON: ${(e as Error).message}`);
  }
  const o = (typeof j === 'object' && j !== null ? j : {}) as Record<string, unknown>;
  if (o['format'] !== TRANSPORT_MASTER_FORMAT || o['version'] !== 1)
    throw new TransportMasterError(`not a ${TRANSPORT_MASTER_FORMAT} file (version 1)`);
  const tkv = o['tkv'];
  if (typeof tkv !== 'number' || !Number.isInteger(tkv) || tkv < 1 || tkv > 15)
    throw new TransportMasterError('tkv must be an integer 1..15');
  const keyHex = o['key'];
  const kcvHex = o['kcv'];
  if (typeof keyHex !== 'string' || !/^[0-9A-Fa-f]{32}$/.test(keyHex))
    throw new TransportMasterError('key must be 32 hex digits');
  if (typeof kcvHex !== 'string' || !/^[0-9A-Fa-f]{6}$/.test(kcvHex))
    throw new TransportMasterError('kcv must be 6 hex digits');
  const key = fromHex(keyHex);
  if (!equalBytes(kcv(cipher, key), fromHex(kcvHex))) {
    key.fill(0);
    throw new TransportMasterError(`the key does not match its KCV ${kcvHex.toUpperCase()}`);
  }
  return { tkv, key };
}

/**
 * MK_tr and its version from the transport master file at `path` (`--transport-key-file` of
 * `card blank` and `card issue --out`).
 * @throws UsageError naming the file and the fault (unreadable, not the format, KCV mismatch).
 */
export function readTransportMasterFile(
  path: string,
  cipher: BlockCipherProvider,
): { tkv: number; key: Uint8Array } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read transport key file '${path}': ${(e as Error).message}`);
  }
  try {
    return parseTransportMaster(text, cipher);
  } catch (e) {
    if (e instanceof TransportMasterError) throw new UsageError(`transport key file '${path}': ${e.message}`);
    throw e;
  }
}
