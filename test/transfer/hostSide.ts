/**
 * The host's side of seed 000 for these tests, taken from issue 7's host/protocol (session.ts,
 * payloads.ts) — so the tests prove the SAM and SVM interoperate with the real host code.
 */
import type { BlockCipherProvider } from '../../card/crypto/types.js';
import { concatBytes } from '../../card/util/hex.js';
import { decrypt, encrypt, sessionKey, sig } from '../../protocol/session.js';
import { decodeTxId } from '../../protocol/TxId.js';
import {
  decodeValueStoreAnswer,
  encodeValueStorePlain,
  type ValueStoreAnswer,
} from '../../protocol/payloads.js';

export class HostSide {
  constructor(readonly cipher: BlockCipherProvider) {}

  sessionKey(kt: Uint8Array, r1: Uint8Array): Uint8Array {
    return sessionKey(this.cipher, kt, r1);
  }

  s1(ks: Uint8Array, r2: Uint8Array): Uint8Array {
    return sig(this.cipher, ks, r2);
  }

  s2(ks: Uint8Array, h: number, r3: Uint8Array, payload: Uint8Array): Uint8Array {
    return sig(this.cipher, ks, concatBytes(Uint8Array.of(h), r3, payload));
  }

  encryptAmount(ks: Uint8Array, amount: number, txId: Uint8Array): Uint8Array {
    return encrypt(this.cipher, ks, encodeValueStorePlain({ amount, txId: decodeTxId(txId) }));
  }

  valueStoreAnswer(ks: Uint8Array, m: Uint8Array): ValueStoreAnswer {
    return decodeValueStoreAnswer(decrypt(this.cipher, ks, m));
  }

  /** M = E(Balance ‖ ID, Ks) of HOST FINISH P1 = 00. */
  report(ks: Uint8Array, m: Uint8Array): { balance: number; meterId: Uint8Array } {
    const p = decrypt(this.cipher, ks, m);
    return { balance: Buffer.from(p).readUInt32BE(0), meterId: p.slice(4, 7) };
  }
}
