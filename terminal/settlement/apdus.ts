/**
 * Command builders of the settlement card (card/applets/settle/constants.ts has the table), so
 * terminals and tests send the same bytes. Objects run past 255 bytes (certificates, usage
 * information), so every command with data or answer uses the extended length form.
 */
import {
  AID_SETTLE,
  CommandApdu,
  INS_SETTLE_GET_CHALLENGE,
  INS_SETTLE_INSTALL_SETTING,
  INS_SETTLE_PRESENT_TERMINAL,
  INS_SETTLE_PUT_CERTIFICATE,
  INS_SETTLE_READ_OBJECT,
  INS_SETTLE_RECHARGE,
  INS_SETTLE_REGISTER_PASSWORD,
  INS_SETTLE_SIGN_VALUE,
  INS_SETTLE_UPDATE_VALUE,
  INS_SETTLE_VERIFY,
  SETTLE_NONCE_LENGTH,
  SETTLE_PASSWORD_REF,
  concatBytes,
} from '../../card/index.js';

const NE = 65536;

function cmd(ins: number, p1: number, data?: Uint8Array, ne: number | undefined = NE): CommandApdu {
  return new CommandApdu({
    cla: 0x80,
    ins,
    p1,
    p2: 0,
    ...(data ? { data } : {}),
    ...(ne !== undefined ? { ne } : {}),
    extended: true,
  });
}

/** SELECT by DF name 00 A4 04 00 AID 00. */
export function selectSettle(): CommandApdu {
  return new CommandApdu({ cla: 0x00, ins: 0xa4, p1: 0x04, p2: 0x00, data: AID_SETTLE, ne: 256 });
}

/** READ OBJECT 80 30 obj 00 (OBJ_* of the card's constants). */
export function readObject(obj: number): CommandApdu {
  return cmd(INS_SETTLE_READ_OBJECT, obj);
}

/** PRESENT TERMINAL 80 32 00 00 now(8, ms) ‖ terminal Certificate. */
export function presentTerminal(nowMs: number, certificate: Uint8Array): CommandApdu {
  if (!Number.isSafeInteger(nowMs) || nowMs < 0) throw new RangeError('nowMs must be a non-negative integer');
  const now = new Uint8Array(8);
  new DataView(now.buffer).setBigUint64(0, BigInt(nowMs));
  return cmd(INS_SETTLE_PRESENT_TERMINAL, 0, concatBytes(now, certificate));
}

/** SIGN VALUE 80 34 00 00 10 R. */
export function signValue(r: Uint8Array): CommandApdu {
  if (r.length !== SETTLE_NONCE_LENGTH) throw new RangeError(`r must be ${SETTLE_NONCE_LENGTH} bytes`);
  return cmd(INS_SETTLE_SIGN_VALUE, 0, r);
}

/** UPDATE VALUE 80 36 00 00 UsageInfo. */
export function updateValue(usageInfo: Uint8Array): CommandApdu {
  return cmd(INS_SETTLE_UPDATE_VALUE, 0, usageInfo);
}

/** A certified dispenser's part of RECHARGE: its certificate and the time it presents (ms). */
export interface DispenserPart {
  readonly certificate: Uint8Array;
  readonly now: number;
}

/**
 * RECHARGE 80 38 00 00 SignedValue, or 80 38 01 00 now(8) ‖ n(2) ‖ SignedValue ‖ dispenser
 * Certificate (the card judges the certificate at `now`, never below its last signed time).
 * @throws RangeError naming `dispenser.now` / `signedValue`.
 */
export function recharge(signedValue: Uint8Array, dispenser?: DispenserPart): CommandApdu {
  if (!dispenser) return cmd(INS_SETTLE_RECHARGE, 0, signedValue);
  if (!Number.isSafeInteger(dispenser.now) || dispenser.now < 0)
    throw new RangeError('dispenser.now must be a non-negative integer');
  if (signedValue.length > 0xffff) throw new RangeError('signedValue must be at most 65535 bytes');
  const now = new Uint8Array(8);
  new DataView(now.buffer).setBigUint64(0, BigInt(dispenser.now));
  const n = Uint8Array.of(signedValue.length >> 8, signedValue.length & 0xff);
  return cmd(INS_SETTLE_RECHARGE, 1, concatBytes(now, n, signedValue, dispenser.certificate));
}

/** PUT CERTIFICATE 80 3C 00 00 card Certificate (personalisation). */
export function putCertificate(certificate: Uint8Array): CommandApdu {
  return cmd(INS_SETTLE_PUT_CERTIFICATE, 0, certificate, undefined);
}

/** GET CHALLENGE 00 84 00 00 10. */
export function getChallenge(): CommandApdu {
  return new CommandApdu({ cla: 0x00, ins: INS_SETTLE_GET_CHALLENGE, p1: 0, p2: 0, ne: SETTLE_NONCE_LENGTH });
}

/** REGISTER PASSWORD 80 3A 00 00 n(1) ‖ Ns'(n) ‖ R(16) ‖ block(8) ‖ ST(R‖X‖Nc). */
export function registerPassword(
  settingNumber: Uint8Array,
  r: Uint8Array,
  block: Uint8Array,
  signature: Uint8Array,
): CommandApdu {
  if (settingNumber.length < 4 || settingNumber.length > 16)
    throw new RangeError('settingNumber must be 4..16 bytes');
  if (r.length !== SETTLE_NONCE_LENGTH) throw new RangeError(`r must be ${SETTLE_NONCE_LENGTH} bytes`);
  if (block.length !== 8) throw new RangeError('block must be 8 bytes');
  return cmd(
    INS_SETTLE_REGISTER_PASSWORD,
    0,
    concatBytes(Uint8Array.of(settingNumber.length), settingNumber, r, block, signature),
    undefined,
  );
}

/** INSTALL SETTING 80 3E 00 00 PasswordSetting. */
export function installSetting(setting: Uint8Array): CommandApdu {
  return cmd(INS_SETTLE_INSTALL_SETTING, 0, setting, undefined);
}

/** VERIFY 00 20 00 81 08 block (or no data: ask the tries left). */
export function verifyPassword(block?: Uint8Array): CommandApdu {
  return new CommandApdu({
    cla: 0x00,
    ins: INS_SETTLE_VERIFY,
    p1: 0,
    p2: SETTLE_PASSWORD_REF,
    ...(block ? { data: block } : {}),
  });
}
