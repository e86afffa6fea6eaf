/**
 * The interindustry security commands (ISO/IEC 7816-4 §11.5): VERIFY, CHANGE REFERENCE DATA,
 * RESET RETRY COUNTER, GET CHALLENGE, INTERNAL AUTHENTICATE, EXTERNAL / MUTUAL AUTHENTICATE.
 * Results go into the channel's security status.
 *
 * Authentication protocol (block size b: 8 for TDES, 16 for AES; E = the key's cipher):
 * ```
 *  GET CHALLENGE     00 84 00 00 b            → RND.ICC (b bytes, kept for one authentication)
 *  EXTERNAL AUTH     00 82 00 kk [E_ECB(RND.ICC)]                        (1 block)
 *  MUTUAL AUTH       00 82 00 kk [E_CBC,IV=0(RND.IFD ‖ RND.ICC)] 2b-byte Le   (2 blocks)
 *                    ← E_CBC,IV=0(RND.ICC ‖ RND.IFD)
 *  INTERNAL AUTH     00 88 00 kk [challenge, whole blocks] Le  ← E_ECB(challenge)
 * ```
 * A successful MUTUAL AUTHENTICATE with an SM-enabled key opens a secure-messaging session:
 * ```
 *  KSenc = E_ECB(K, RND.ICC ‖ RND.IFD), KSmac = E_ECB(K, RND.IFD ‖ RND.ICC)   (first |K| bytes)
 *  SSC   = last b/2 bytes of RND.ICC ‖ last b/2 bytes of RND.IFD
 * ```
 * (a project-defined derivation in the style of ICAO 9303 BAC; documented in docs/card-runtime.md).
 */
import type { CommandApdu } from '../iso7816/CommandApdu.js';
import { SwError } from '../iso7816/errors.js';
import { ResponseApdu } from '../iso7816/ResponseApdu.js';
import {
  SW_AUTHENTICATION_METHOD_BLOCKED,
  SW_CONDITIONS_NOT_SATISFIED,
  SW_INCORRECT_P1P2,
  SW_NO_ERROR,
  SW_SECURITY_STATUS_NOT_SATISFIED,
  SW_VERIFICATION_FAILED,
  SW_WRONG_LENGTH,
} from '../iso7816/sw.js';
import type { CommandContext, HandlerResult } from '../os/Applet.js';
import { concatBytes, equalBytes } from '../util/hex.js';
import { PinManager } from './PinManager.js';
import { SmSession } from './SecureMessaging.js';

export const INS_VERIFY = 0x20;
export const INS_CHANGE_REFERENCE_DATA = 0x24;
export const INS_RESET_RETRY_COUNTER = 0x2c;
export const INS_GET_CHALLENGE = 0x84;
export const INS_EXTERNAL_AUTHENTICATE = 0x82;
export const INS_INTERNAL_AUTHENTICATE = 0x88;

/**
 * VERIFY (20), P1 = 00 with P2 = PIN reference. No data: 9000 when verified, else 63Cx (6983
 * when blocked). P1 = FF: resets the verification status of that PIN (7816-4:2013).
 * @throws SwError 6A86, 6A88, 6700, 63Cx, 6983.
 */
export function verify(apdu: CommandApdu, ctx: CommandContext): HandlerResult {
  if (apdu.p1 !== 0x00 && apdu.p1 !== 0xff) throw new SwError(SW_INCORRECT_P1P2);
  const pin = ctx.pins.get(apdu.p2);
  const sec = ctx.channel.security;
  if (apdu.p1 === 0xff) {
    if (apdu.nc !== 0) throw new SwError(SW_WRONG_LENGTH);
    sec.verifiedPins.delete(pin.ref);
    return;
  }
  if (apdu.nc === 0) {
    if (sec.verifiedPins.has(pin.ref)) return;
    const left = ctx.pins.triesLeft(pin);
    if (left === 0) throw new SwError(SW_AUTHENTICATION_METHOD_BLOCKED);
    throw new SwError(PinManager.failedSw(left));
  }
  if (apdu.nc !== pin.length) throw new SwError(SW_WRONG_LENGTH, `PIN block must be ${pin.length} bytes`);
  sec.verifiedPins.delete(pin.ref);
  const r = ctx.pins.check(pin, apdu.dataView());
  if (!r.ok) throw new SwError(PinManager.failedSw(r.triesLeft));
  sec.verifiedPins.add(pin.ref);
}

/**
 * CHANGE REFERENCE DATA (24), P2 = PIN reference. P1 = 00: data = old ‖ new (old is checked
 * with the retry counter); P1 = 01: data = new, the PIN must be verified on this channel.
 * @throws SwError 6A86, 6A88, 6700, 6982, 63Cx, 6983.
 */
export function changeReferenceData(apdu: CommandApdu, ctx: CommandContext): HandlerResult {
  if (apdu.p1 !== 0x00 && apdu.p1 !== 0x01) throw new SwError(SW_INCORRECT_P1P2);
  const pin = ctx.pins.get(apdu.p2);
  const data = apdu.dataView();
  const sec = ctx.channel.security;
  if (apdu.p1 === 0x01) {
    if (data.length !== pin.length) throw new SwError(SW_WRONG_LENGTH);
    if (!sec.verifiedPins.has(pin.ref)) throw new SwError(SW_SECURITY_STATUS_NOT_SATISFIED);
    ctx.pins.setValue(pin, data);
    return;
  }
  if (data.length !== 2 * pin.length)
    throw new SwError(SW_WRONG_LENGTH, `old ‖ new is ${2 * pin.length} bytes`);
  sec.verifiedPins.delete(pin.ref);
  // The new value is written in the commit that restores the counter: a tear between the two
  // would leave the try given back (the old PIN shown right) without the change being made.
  const r = ctx.pins.check(pin, data.subarray(0, pin.length), () =>
    ctx.pins.setValue(pin, data.subarray(pin.length)),
  );
  if (!r.ok) throw new SwError(PinManager.failedSw(r.triesLeft));
  sec.verifiedPins.add(pin.ref);
}

/**
 * RESET RETRY COUNTER (2C), P2 = PIN reference; the PIN's unblocking PIN (PUK) is checked with
 * its own retry counter. P1 = 00: data = PUK ‖ new PIN; P1 = 01: data = PUK (counter reset only).
 * @throws SwError 6A86, 6A88, 6700, 6985 (no PUK for this PIN), 63Cx, 6983.
 */
export function resetRetryCounter(apdu: CommandApdu, ctx: CommandContext): HandlerResult {
  if (apdu.p1 !== 0x00 && apdu.p1 !== 0x01) throw new SwError(SW_INCORRECT_P1P2);
  const pin = ctx.pins.get(apdu.p2);
  if (pin.puk === undefined) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'this PIN has no unblocking PIN');
  const puk = ctx.pins.get(pin.puk);
  const data = apdu.dataView();
  const expected = apdu.p1 === 0x00 ? puk.length + pin.length : puk.length;
  if (data.length !== expected) throw new SwError(SW_WRONG_LENGTH);
  // The PIN is reset in the commit that restores the PUK's counter (as in CHANGE REFERENCE DATA).
  const r = ctx.pins.check(puk, data.subarray(0, puk.length), () => {
    if (apdu.p1 === 0x00) ctx.pins.setValue(pin, data.subarray(puk.length));
    else ctx.pins.resetCounter(pin);
  });
  if (!r.ok) throw new SwError(PinManager.failedSw(r.triesLeft));
  ctx.channel.security.verifiedPins.delete(pin.ref);
}

/** GET CHALLENGE (84), P1 = P2 = 00, Le = 1..256. @throws SwError 6A86, 6700. */
export function getChallenge(apdu: CommandApdu, ctx: CommandContext): HandlerResult {
  if (apdu.p1 !== 0 || apdu.p2 !== 0) throw new SwError(SW_INCORRECT_P1P2);
  if (apdu.ne === undefined || apdu.nc !== 0 || apdu.ne > 256) throw new SwError(SW_WRONG_LENGTH);
  const rnd = ctx.rng.bytes(apdu.ne);
  ctx.channel.security.challenge = rnd.slice();
  return rnd;
}

function blockSize(alg: 'tdes' | 'aes'): number {
  return alg === 'aes' ? 16 : 8;
}

/**
 * EXTERNAL AUTHENTICATE / MUTUAL AUTHENTICATE (82), P1 = 00, P2 = key reference; told apart by
 * the data length (1 or 2 blocks). The challenge is consumed whatever the outcome.
 * @throws SwError 6A86, 6A88, 6700, 6985 (no challenge of the right length), 6300 (wrong
 *   cryptogram; 63Cx for a key with a retry counter), 6983 (key blocked).
 */
export function externalOrMutualAuthenticate(apdu: CommandApdu, ctx: CommandContext): HandlerResult {
  if (apdu.p1 !== 0) throw new SwError(SW_INCORRECT_P1P2);
  const sec = ctx.channel.security;
  const data = apdu.dataView();
  const any = ctx.keys.get(apdu.p2);
  const b = blockSize(any.alg);
  if (data.length !== b && data.length !== 2 * b) throw new SwError(SW_WRONG_LENGTH);
  const mutual = data.length === 2 * b;
  const key = ctx.keys.get(apdu.p2, mutual ? 'mutual' : 'external');
  const challenge = sec.challenge;
  sec.challenge = undefined;
  if (!challenge || challenge.length !== b)
    throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'GET CHALLENGE first');
  sec.authenticatedKeys.delete(key.ref);
  // A key with a retry counter spends a try before the comparison (as VERIFY does).
  const left = ctx.keys.spendTry(key);
  const failed = () => new SwError(left === undefined ? SW_VERIFICATION_FAILED : PinManager.failedSw(left));
  if (!mutual) {
    const expected = ctx.cipher.encrypt(key.alg, 'ecb', key.key, challenge);
    if (!equalBytes(expected, data)) throw failed();
    ctx.keys.restoreTries(key);
    sec.authenticatedKeys.add(key.ref);
    return;
  }
  const plain = ctx.cipher.decrypt(key.alg, 'cbc', key.key, data, new Uint8Array(b));
  const rndIfd = plain.slice(0, b);
  if (!equalBytes(plain.subarray(b), challenge)) throw failed();
  ctx.keys.restoreTries(key);
  sec.authenticatedKeys.add(key.ref);
  const answer = ctx.cipher.encrypt(
    key.alg,
    'cbc',
    key.key,
    concatBytes(challenge, rndIfd),
    new Uint8Array(b),
  );
  if (key.sm) {
    sec.sm?.close();
    sec.sm = deriveSmSession(ctx, key.alg, key.key, challenge, rndIfd);
  }
  return new ResponseApdu(answer, SW_NO_ERROR);
}

/** The SM session keys of a MUTUAL AUTHENTICATE (see the module comment). Exported for terminals and tests. */
export function deriveSmSession(
  ctx: Pick<CommandContext, 'cipher'>,
  alg: 'tdes' | 'aes',
  key: Uint8Array,
  rndIcc: Uint8Array,
  rndIfd: Uint8Array,
): SmSession {
  const b = blockSize(alg);
  const kEnc = ctx.cipher
    .encrypt(alg, 'ecb', key, concatBytes(rndIcc, rndIfd))
    .slice(0, key.length === 24 ? 16 : key.length);
  const kMac = ctx.cipher
    .encrypt(alg, 'ecb', key, concatBytes(rndIfd, rndIcc))
    .slice(0, key.length === 24 ? 16 : key.length);
  const ssc = concatBytes(rndIcc.subarray(b / 2), rndIfd.subarray(b / 2));
  return new SmSession(alg, kEnc, kMac, ssc);
}

/**
 * INTERNAL AUTHENTICATE (88), P1 = 00, P2 = key reference, data = a challenge of whole blocks
 * (at most 256 bytes): answers E_ECB(K, challenge).
 * @throws SwError 6A86, 6A88, 6700.
 */
export function internalAuthenticate(apdu: CommandApdu, ctx: CommandContext): HandlerResult {
  if (apdu.p1 !== 0) throw new SwError(SW_INCORRECT_P1P2);
  const key = ctx.keys.get(apdu.p2, 'internal');
  const b = blockSize(key.alg);
  if (apdu.nc === 0 || apdu.nc % b !== 0 || apdu.nc > 256 || apdu.ne === undefined)
    throw new SwError(SW_WRONG_LENGTH);
  return ctx.cipher.encrypt(key.alg, 'ecb', key.key, apdu.dataView());
}
