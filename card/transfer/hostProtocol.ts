/**
 * The host's end of seed 000's power-line protocol (Figs. 1-3), byte for byte as the meter SAM
 * expects it (docs/purse-spec.md §4). Issue 7's host uses these; the tests use them to play host.
 *
 * ```
 * step 10  host -> meter  R1(8), R2(8), n          Ks = Encrypt(R1, KT[n]), S1h = Sig(R2, Ks)
 * step 12  meter -> host  S1t(8), R3(8)            host checks S1t == S1h
 * step 14  host -> meter  H, payload, S2h(8)       S2h = Sig(H ‖ R3 ‖ payload, Ks)
 *                         value store: payload = EnAmnt = TDES-CBC(Ks, amount(4) ‖ tx id(8) ‖ 80 00 00 00)
 * step 16  meter -> host  M(8)                     M = TDES-ECB(Ks, balance(4) ‖ meter id(3) ‖ 80)
 * ```
 * Sig(m, K) = MAC(K, m), ISO/IEC 9797-1 MAC algorithm 1, TDES, padding method 2.
 */
import type { BlockCipherProvider } from '../crypto/types.js';
import { deriveSessionKey } from '../crypto/keyHierarchy.js';
import { concatBytes } from '../util/hex.js';
import { be32, u32 } from '../applets/bytes.js';
import { PurseCrypto } from '../applets/PurseCrypto.js';

export class HostProtocol {
  readonly #crypto: PurseCrypto;

  constructor(readonly cipher: BlockCipherProvider) {
    this.#crypto = new PurseCrypto(cipher);
  }

  /** Ks = Encrypt(R1, KT[n]) (deriveSessionKey with an 8-byte R1). */
  sessionKey(kt: Uint8Array, r1: Uint8Array): Uint8Array {
    return deriveSessionKey(this.cipher, kt, r1, 'tdes');
  }

  /** S1h = Sig(R2, Ks): what S1t must equal. */
  s1(ks: Uint8Array, r2: Uint8Array): Uint8Array {
    return this.#crypto.mac(ks, r2);
  }

  /** S2h = Sig(H ‖ R3 ‖ payload, Ks). */
  s2(ks: Uint8Array, h: number, r3: Uint8Array, payload: Uint8Array): Uint8Array {
    return this.#crypto.mac(ks, Uint8Array.of(h), r3, payload);
  }

  /** EnAmnt = TDES-CBC(Ks, amount(4) ‖ tx id(8) ‖ 80 00 00 00), zero IV. */
  encryptAmount(ks: Uint8Array, amount: number, txId: Uint8Array): Uint8Array {
    if (txId.length !== 8) throw new RangeError('txId must be 8 bytes');
    return this.cipher.encrypt(
      'tdes',
      'cbc',
      ks,
      concatBytes(be32(amount), txId, Uint8Array.of(0x80, 0, 0, 0)),
    );
  }

  /**
   * Balance' ‖ ID' = Decrypt(M, Ks).
   * @returns undefined when the padding is not 80 (wrong key or a forged M).
   */
  decryptReport(ks: Uint8Array, m: Uint8Array): { balance: number; meterId: Uint8Array } | undefined {
    const p = this.cipher.decrypt('tdes', 'ecb', ks, m);
    if (p[7] !== 0x80) return undefined;
    return { balance: u32(p, 0), meterId: p.slice(4, 7) };
  }
}
