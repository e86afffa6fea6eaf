/**
 * The stolen-terminal time-stamp chain of seed 004, Figs. 10–11: a terminal replaces its time stamp
 * TS(i) by TS(i+1) at every update (e.g. daily) and counts the updates in t; a card stores the
 * terminal's signature over TS(t) with t. When a terminal is reported stolen the centre publishes
 * its TS(0) and the t at the report, and any terminal can recompute TS(t) for a card's t.
 *
 * Refinement of the seed: the seed's update is TS(i+1) = E_K(TS(i)) (FEAL). A block cipher is a
 * permutation: whoever holds K — the thief of a terminal holds it — can also *decrypt* and step back
 * to TS(i-1), then sign usage information with an update counter from before the theft report,
 * which the rest of the system accepts. We use AES-128 in the Matyas–Meyer–Oseas one-way form
 *
 *     TS(i+1) = E_K(TS(i)) XOR TS(i)
 *
 * (Menezes, van Oorschot, Vanstone, Handbook of Applied Cryptography, Alg. 9.41), for which finding
 * TS(i) from TS(i+1) is a preimage search even knowing K. Stepping forward stays cheap.
 *
 * Known limit (of the seed's design, unchanged here): once TS(0) of a stolen terminal is published
 * in the troubled-terminal list, whoever holds that list and the stolen terminal's private key can
 * sign usage information for any t ≤ the t at report. The list must therefore not reach the
 * stolen terminal itself, and the centre's duplicate checks (UsageUpload) remain the backstop.
 */
import type { BlockCipherProvider } from '../crypto/types.js';

/** Length of a time stamp and of the chain key K: one AES block, AES-128. */
export const TIME_STAMP_LENGTH = 16;
/** Largest update counter t: 100,000 updates (274 years of daily updates). */
export const TS_MAX_UPDATES = 100_000;

function checkBlock(name: string, v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (v.length !== TIME_STAMP_LENGTH)
    throw new RangeError(`${name} must be ${TIME_STAMP_LENGTH} bytes, got ${v.length}`);
  return v;
}

/**
 * TS(i+1) = AES-128_K(TS(i)) XOR TS(i).
 * @throws TypeError/RangeError naming `k` or `ts` unless each is 16 bytes.
 */
export function nextTimeStamp(cipher: BlockCipherProvider, k: Uint8Array, ts: Uint8Array): Uint8Array {
  checkBlock('k', k);
  checkBlock('ts', ts);
  const e = cipher.encrypt('aes', 'ecb', k, ts);
  const out = new Uint8Array(TIME_STAMP_LENGTH);
  for (let i = 0; i < TIME_STAMP_LENGTH; i++) out[i] = e[i]! ^ ts[i]!;
  return out;
}

/**
 * TS(t) from TS(0): `t` applications of {@link nextTimeStamp}.
 * @throws RangeError naming `t` unless it is an integer in 0..TS_MAX_UPDATES; TypeError/RangeError naming `k`/`ts0`.
 */
export function timeStampAt(
  cipher: BlockCipherProvider,
  k: Uint8Array,
  ts0: Uint8Array,
  t: number,
): Uint8Array {
  checkBlock('k', k);
  checkBlock('ts0', ts0);
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t > TS_MAX_UPDATES)
    throw new RangeError(`t must be an integer in 0..${TS_MAX_UPDATES}, got ${String(t)}`);
  let ts: Uint8Array = Uint8Array.from(ts0);
  for (let i = 0; i < t; i++) ts = nextTimeStamp(cipher, k, ts);
  return ts;
}
