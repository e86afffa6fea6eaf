import { describe, expect, it } from 'vitest';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { toHex } from '../../card/util/hex.js';
import {
  decodeTxId,
  encodeTxId,
  formatTxId,
  parseTxId,
  TX_ID_MAX,
  txId,
  txIdReference,
  type TxId,
} from '../../protocol/TxId.js';
import { decodeValueStorePlain, encodeValueStorePlain } from '../../protocol/payloads.js';

describe('TxId: one transaction id from the HTTP API to the meter', () => {
  it('8 big-endian bytes, decimal text, and back, at the edges of u64', () => {
    for (const v of [0n, 1n, 0x2a_0000_0001n, TX_ID_MAX]) {
      const t = txId(v);
      expect(decodeTxId(encodeTxId(t))).toBe(v);
      expect(parseTxId(formatTxId(t))).toBe(v);
    }
    expect(toHex(encodeTxId(txId(0x0102030405060708n)))).toBe('0102030405060708');
    expect(formatTxId(txId(TX_ID_MAX))).toBe('18446744073709551615');
    expect(decodeTxId(Uint8Array.of(9, 0, 0, 0, 0, 0, 0, 0, 0x42), 1)).toBe(0x42n);
  });

  it('refuses what is not a u64 with a typed error', () => {
    expect(() => txId(-1n)).toThrow(RangeError);
    expect(() => txId(TX_ID_MAX + 1n)).toThrow(RangeError);
    expect(() => txId(1.5)).toThrow(RangeError);
    expect(() => encodeTxId(-5n as TxId)).toThrow(RangeError);
    for (const s of ['', '-1', '01', '1e3', ' 1', '18446744073709551616', '123456789012345678901'])
      expect(() => parseTxId(s), s).toThrow(RangeError);
    expect(() => decodeTxId(new Uint8Array(7))).toThrow(MalformedDataError);
    expect(() => decodeTxId(new Uint8Array(8), 1)).toThrow(MalformedDataError);
  });

  it('EnAmnt carries it as those 8 bytes; the meter data reference keeps its low 32 bits', () => {
    const t = txId(0x1_0000_002an);
    const plain = encodeValueStorePlain({ amount: 5000, txId: t });
    expect(toHex(plain)).toBe('00001388000000010000002A');
    expect(decodeValueStorePlain(plain).txId).toBe(t);
    expect(txIdReference(t)).toBe(0x2a);
  });
});
