/**
 * Both sides of the seed-000 handshake as pure functions (Figs. 1–4). No I/O, no state beyond
 * what is passed in: the host's and the terminal's per-session state are plain values.
 *
 * ```
 *  Ks  = deriveSessionKey(KT[n], R1)       (card/crypto/keyHierarchy.ts; 8-byte R1, 2-key TDES)
 *  Sig(x, Ks) = ISO/IEC 9797-1 MAC algorithm 1, TDES, padding method 2, 8 bytes     (Fig. 4 left)
 *  E(x, Ks)   = TDES-CBC, IV = 00..00, x padded with ISO/IEC 9797-1 method 2       (Fig. 4 right)
 *  S1 = Sig(R2, Ks)            S2 = Sig(H ‖ R3 ‖ payload, Ks)            M = E(answer, Ks)
 * ```
 */
import type { BlockCipherProvider, Rng } from '../card/index.js';
import { deriveSessionKey } from '../card/index.js';
import { macIso9797Alg1, pad, unpadMethod2, verifyMac } from '../card/index.js';
import { concatBytes, equalBytes, toHex } from '../card/index.js';
import { MalformedDataError } from '../card/index.js';
import { R1_LENGTH, R2_LENGTH, R3_LENGTH } from './constants.js';
import { ProtocolError } from './errors.js';
import type { CommandRequest, InitRequest, InitResponse } from './messages.js';
import { answerId } from './payloads.js';

const ZERO_IV = new Uint8Array(8);

/** Sig(data, Ks): seed 000 Fig. 4, MAC CBC with triple DES. */
export function sig(cipher: BlockCipherProvider, ks: Uint8Array, data: Uint8Array): Uint8Array {
  return macIso9797Alg1(cipher, 'tdes', ks, data, 2);
}

/** E(data, Ks): TDES-CBC with a zero IV over the method-2 padded data. */
export function encrypt(cipher: BlockCipherProvider, ks: Uint8Array, data: Uint8Array): Uint8Array {
  return cipher.encrypt('tdes', 'cbc', ks, pad(data, 2, 8), ZERO_IV);
}

/**
 * D(ct, Ks), the inverse of {@link encrypt}.
 * @throws MalformedDataError (kind 'host-protocol') when the length is not a multiple of 8 or the
 *   padding is wrong (a wrong key or a damaged M).
 */
export function decrypt(cipher: BlockCipherProvider, ks: Uint8Array, ct: Uint8Array): Uint8Array {
  if (ct.length === 0 || ct.length % 8 !== 0)
    throw new MalformedDataError(
      `ciphertext length ${ct.length} is not a positive multiple of 8`,
      0,
      ct,
      'host-protocol',
    );
  const plain = cipher.decrypt('tdes', 'cbc', ks, ct, ZERO_IV);
  try {
    return unpadMethod2(plain);
  } catch (e) {
    throw new MalformedDataError(
      `bad padding after decryption: ${(e as Error).message}`,
      ct.length - 8,
      ct,
      'host-protocol',
    );
  }
}

/** Ks = E(R1, KT[n]). @throws RangeError naming `kt` or `r1`. */
export function sessionKey(cipher: BlockCipherProvider, kt: Uint8Array, r1: Uint8Array): Uint8Array {
  return deriveSessionKey(cipher, kt, r1, 'tdes');
}

// ------------------------------------------------------------------------------------ host side

/** The host's state after STEP 10. */
export interface HostOpened {
  readonly request: InitRequest;
  readonly ks: Uint8Array;
  readonly s1h: Uint8Array;
}

/** STEP 10: draws R1, R2 and derives Ks and S1h for key version `n`. */
export function hostOpen(cipher: BlockCipherProvider, rng: Rng, kt: Uint8Array, n: number): HostOpened {
  const r1 = rng.bytes(R1_LENGTH);
  const r2 = rng.bytes(R2_LENGTH);
  const ks = sessionKey(cipher, kt, r1);
  return { request: { kind: 'init-request', r1, r2, n }, ks, s1h: sig(cipher, ks, r2) };
}

/**
 * STEP 14, first half: S1h == S1t authenticates the terminal; returns R3.
 * @throws ProtocolError 'terminal-auth-failed' when the signatures differ.
 */
export function hostAuthenticate(opened: HostOpened, response: InitResponse): Uint8Array {
  if (!verifyMac(opened.s1h, response.s1t))
    throw new ProtocolError('terminal-auth-failed', `S1t ${toHex(response.s1t)} != S1h`);
  return Uint8Array.from(response.r3);
}

/** STEP 14, second half: S2h = Sig(H ‖ R3 ‖ payload, Ks) and the command message. */
export function hostCommand(
  cipher: BlockCipherProvider,
  ks: Uint8Array,
  r3: Uint8Array,
  h: number,
  payload: Uint8Array,
): CommandRequest {
  const s2h = sig(cipher, ks, concatBytes(Uint8Array.of(h), r3, payload));
  return { kind: 'command-request', h, payload: Uint8Array.from(payload), s2h };
}

/**
 * STEP 16 at the host: answer' = D(M, Ks); ID' must equal ID.
 * @throws ProtocolError 'id-mismatch' or 'bad-answer' (undecryptable M).
 */
export function hostOpenAnswer(
  cipher: BlockCipherProvider,
  ks: Uint8Array,
  m: Uint8Array,
  id: Uint8Array,
): Uint8Array {
  let plain: Uint8Array;
  try {
    plain = decrypt(cipher, ks, m);
    const idPrime = answerId(plain);
    if (!equalBytes(idPrime, id))
      throw new ProtocolError('id-mismatch', `ID' ${toHex(idPrime)} != ID ${toHex(id)}`);
  } catch (e) {
    if (e instanceof MalformedDataError) throw new ProtocolError('bad-answer', e.message);
    throw e;
  }
  return plain;
}

// -------------------------------------------------------------------------------- terminal side

/** The terminal's state after STEP 12 (single use: consumed by the next command). */
export interface TerminalOpened {
  readonly response: InitResponse;
  readonly ks: Uint8Array;
  readonly r3: Uint8Array;
}

/** STEPs 10–12 at the terminal: Ks from KT[n] and R1, S1t = Sig(R2, Ks), fresh R3. */
export function terminalOpen(
  cipher: BlockCipherProvider,
  rng: Rng,
  kt: Uint8Array,
  request: InitRequest,
): TerminalOpened {
  const ks = sessionKey(cipher, kt, request.r1);
  const r3 = rng.bytes(R3_LENGTH);
  return { response: { kind: 'init-response', s1t: sig(cipher, ks, request.r2), r3 }, ks, r3 };
}

/** STEP 16 check at the terminal: S2t = Sig(H ‖ R3 ‖ payload, Ks) == S2h (constant time). */
export function terminalVerify(
  cipher: BlockCipherProvider,
  opened: TerminalOpened,
  request: CommandRequest,
): boolean {
  const s2t = sig(cipher, opened.ks, concatBytes(Uint8Array.of(request.h), opened.r3, request.payload));
  return verifyMac(s2t, request.s2h);
}
