/**
 * The host's transaction id of a value store (docs/host-protocol.md, "Exactly once"): one type from
 * the HTTP API to the meter. The host draws it (u64, increasing) before anything is sent; it travels
 * as 8 big-endian bytes inside EnAmnt, the SAM hands it to the SVM as those same 8 bytes, the answer
 * M echoes it, and the meter's card slot names it in the next meter data written onto a card.
 *
 * ```
 *  TxId          a bigint 0 … 2^64-1, branded so that only checked values carry the type
 *  bytes         u64 big-endian (8 bytes)              encodeTxId / decodeTxId
 *  text          decimal, no sign, no leading zeros    formatTxId / parseTxId (JSON, logs, SQL)
 * ```
 */
import { MalformedDataError } from '../card/index.js';
import { TX_ID_LENGTH } from './constants.js';

declare const txIdBrand: unique symbol;

/** A checked host transaction id: an unsigned 64-bit integer. */
export type TxId = bigint & { readonly [txIdBrand]: true };

/** The largest TxId, 2^64 - 1. */
export const TX_ID_MAX = (1n << 64n) - 1n;

/**
 * Checks `v` and gives it the TxId type.
 * @throws RangeError naming `name` unless `v` is an integer 0 … 2^64-1 (bigint or safe integer).
 */
export function txId(v: bigint | number, name = 'txId'): TxId {
  const b = typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : v;
  if (typeof b !== 'bigint' || b < 0n || b > TX_ID_MAX)
    throw new RangeError(`${name} must be an integer 0…2^64-1, got ${String(v)}`);
  return b as TxId;
}

/** The 8 big-endian bytes of `t`. @throws RangeError when `t` is not a u64. */
export function encodeTxId(t: TxId): Uint8Array {
  const v = txId(t);
  const out = new Uint8Array(TX_ID_LENGTH);
  new DataView(out.buffer).setBigUint64(0, v);
  return out;
}

/**
 * The TxId in `bytes[offset … offset+8)`.
 * @throws MalformedDataError (kind 'tx-id') when fewer than 8 bytes are there.
 */
export function decodeTxId(bytes: Uint8Array, offset = 0): TxId {
  if (!Number.isInteger(offset) || offset < 0 || offset + TX_ID_LENGTH > bytes.length)
    throw new MalformedDataError(
      `a tx id needs ${TX_ID_LENGTH} bytes at offset ${offset}, ${bytes.length} given`,
      Math.max(0, Math.min(offset, bytes.length)),
      bytes,
      'tx-id',
    );
  return new DataView(bytes.buffer, bytes.byteOffset + offset, TX_ID_LENGTH).getBigUint64(0) as TxId;
}

/** Decimal text of `t` (what JSON bodies and logs carry: a u64 does not fit a JSON number). */
export function formatTxId(t: TxId): string {
  return txId(t).toString(10);
}

/**
 * Parses decimal text into a TxId.
 * @throws RangeError naming `name` unless `s` is 1…20 decimal digits without a sign or leading
 *   zeros and at most 2^64-1.
 */
export function parseTxId(s: string, name = 'txId'): TxId {
  if (typeof s !== 'string' || !/^(0|[1-9][0-9]{0,19})$/.test(s))
    throw new RangeError(
      `${name} must be a decimal u64 without sign or leading zeros, got ${JSON.stringify(s)}`,
    );
  return txId(BigInt(s), name);
}

/**
 * The 32-bit reference of the seed-002 meter-data file (a u32 field, so it keeps the low 32 bits of
 * the id; the card slot's 10-byte transfer reference keeps all 8 bytes).
 */
export function txIdReference(t: TxId): number {
  return Number(txId(t) & 0xffffffffn);
}
