/**
 * Command builders for every command of the purse, SAM and SVM applets (docs/purse-spec.md), so
 * terminals, tests and the spec generator send the same bytes.
 */
import { CommandApdu } from '../card/index.js';
import { concatBytes } from '../card/index.js';
import { be16, be32 } from '../card/index.js';
import {
  AID_PURSE,
  INS_AUTH_FINISH,
  INS_CHANGE_REFERENCE_DATA,
  INS_AUTH_INIT,
  INS_BEGIN_TRANSFER,
  INS_CANCEL_TRANSFER,
  INS_COMPLETE_TRANSFER,
  INS_DEBIT,
  INS_GET_CHALLENGE,
  INS_HOST_COMMAND,
  INS_HOST_CREDIT,
  INS_HOST_SETTLE,
  INS_READ_PENDING,
  INS_HOST_FINISH,
  INS_HOST_INIT,
  INS_LOAD,
  INS_MUTUAL_AUTHENTICATE,
  INS_READ_PURSE,
  INS_READ_RECORD,
  INS_READ_STATE,
  INS_TOKEN_AUTH,
  INS_TOKEN_REQUEST,
  INS_TRANSFER_AUTH,
  INS_UPDATE_RECORD,
  INS_VERIFY,
  SFI_LOG,
  SFI_METER_DATA,
  INS_REMOTE_LOAD,
  INS_PUT_CONFIG,
  INS_CLEAR_READINGS,
  INS_CONFIG_CHECK,
  INS_SIGN_READINGS,
  SFI_OFFLINE_CONFIG,
  SFI_OFFLINE_READINGS,
} from '../card/index.js';

const LE = 256; // Le = 00: "up to 256 bytes"

/** SELECT by DF name 00 A4 04 00 Lc AID 00 (ISO/IEC 7816-4 §11.2.2). */
export function selectAid(aid: Uint8Array = AID_PURSE): CommandApdu {
  return new CommandApdu({ cla: 0x00, ins: 0xa4, p1: 0x04, p2: 0x00, data: aid, ne: LE });
}

/** GET CHALLENGE 00 84 00 00 08. */
export function getChallenge(): CommandApdu {
  return new CommandApdu({ cla: 0x00, ins: INS_GET_CHALLENGE, p1: 0, p2: 0, ne: 8 });
}

/** MUTUAL AUTHENTICATE 00 82 00 purse 10 RS ‖ S_sam 08 (P2 = the key reference: the purse). */
export function mutualAuthenticate(rs: Uint8Array, sSam: Uint8Array, purse: number): CommandApdu {
  return new CommandApdu({
    cla: 0x00,
    ins: INS_MUTUAL_AUTHENTICATE,
    p1: 0,
    p2: purse,
    data: concatBytes(rs, sSam),
    ne: 8,
  });
}

/** READ PURSE 80 5C 00 purse [08 RV] 00. */
export function readPurse(purse: number, rv?: Uint8Array): CommandApdu {
  return new CommandApdu({
    cla: 0x80,
    ins: INS_READ_PURSE,
    p1: 0,
    p2: purse,
    ...(rv ? { data: rv } : {}),
    ne: LE,
  });
}

/** DEBIT 80 54 00 purse 1E amount terminal datetime RV MAC 00. */
export function debit(
  purse: number,
  amount: number,
  terminalId: Uint8Array,
  dateTime: Uint8Array,
  rv: Uint8Array,
  mac: Uint8Array,
): CommandApdu {
  return new CommandApdu({
    cla: 0x80,
    ins: INS_DEBIT,
    p1: 0,
    p2: purse,
    data: concatBytes(be32(amount), terminalId, dateTime, rv, mac),
    ne: LE,
  });
}

/** LOAD 80 52 00 purse 16 amount terminal datetime MAC 00. */
export function load(
  purse: number,
  amount: number,
  terminalId: Uint8Array,
  dateTime: Uint8Array,
  mac: Uint8Array,
): CommandApdu {
  return new CommandApdu({
    cla: 0x80,
    ins: INS_LOAD,
    p1: 0,
    p2: purse,
    data: concatBytes(be32(amount), terminalId, dateTime, mac),
    ne: LE,
  });
}

/** READ RECORD 00 B2 n (SFI 01 << 3 | 4) 00 on the card log (n = 1 newest). */
export function readLogRecord(n: number): CommandApdu {
  return new CommandApdu({ cla: 0x00, ins: INS_READ_RECORD, p1: n, p2: (SFI_LOG << 3) | 4, ne: LE });
}

/** READ RECORD 00 B2 n 14 00 on the meter-data EF. */
export function readMeterData(n: number): CommandApdu {
  return new CommandApdu({ cla: 0x00, ins: INS_READ_RECORD, p1: n, p2: (SFI_METER_DATA << 3) | 4, ne: LE });
}

/** UPDATE RECORD 00 DC n 14 48 meter data. */
export function updateMeterData(n: number, data: Uint8Array): CommandApdu {
  return new CommandApdu({ cla: 0x00, ins: INS_UPDATE_RECORD, p1: n, p2: (SFI_METER_DATA << 3) | 4, data });
}

/** VERIFY 00 20 00 01 08 PIN block (or no data: ask the tries left). */
export function verifyPin(block?: Uint8Array): CommandApdu {
  return new CommandApdu({ cla: 0x00, ins: INS_VERIFY, p1: 0, p2: 1, ...(block ? { data: block } : {}) });
}

/** CHANGE REFERENCE DATA 00 24 00 01 10 old PIN block ‖ new PIN block. */
export function changePin(oldBlock: Uint8Array, newBlock: Uint8Array): CommandApdu {
  return new CommandApdu({
    cla: 0x00,
    ins: INS_CHANGE_REFERENCE_DATA,
    p1: 0,
    p2: 1,
    data: concatBytes(oldBlock, newBlock),
  });
}

/** SAM AUTH INIT 80 10 P1 00 10 CSN ‖ RC 00; P1 = 00 subscriber card, 01 commissioning card. */
export function authInit(csn: Uint8Array, rc: Uint8Array, p1 = 0): CommandApdu {
  return new CommandApdu({ cla: 0x80, ins: INS_AUTH_INIT, p1, p2: 0, data: concatBytes(csn, rc), ne: LE });
}

/** SAM AUTH FINISH 80 12 00 00 08 S_card. */
export function authFinish(sCard: Uint8Array): CommandApdu {
  return new CommandApdu({ cla: 0x80, ins: INS_AUTH_FINISH, p1: 0, p2: 0, data: sCard });
}

/** SAM TRANSFER AUTH 80 14 00 purse 14 amount counter datetime RV 00. */
export function transferAuth(
  purse: number,
  amount: number,
  counter: number,
  dateTime: Uint8Array,
  rv: Uint8Array,
): CommandApdu {
  return new CommandApdu({
    cla: 0x80,
    ins: INS_TRANSFER_AUTH,
    p1: 0,
    p2: purse,
    data: concatBytes(be32(amount), be16(counter), dateTime, rv),
    ne: LE,
  });
}

/** SAM TOKEN AUTH 80 18 00 00 0E units ‖ SVM counter ‖ core MAC 00. */
export function tokenAuth(units: number, svmCounter: number, coreMac: Uint8Array): CommandApdu {
  return new CommandApdu({
    cla: 0x80,
    ins: INS_TOKEN_AUTH,
    p1: 0,
    p2: 0,
    data: concatBytes(be16(units), be32(svmCounter), coreMac),
    ne: LE,
  });
}

/** SVM READ STATE 80 5C 00 00 00. */
export function readState(): CommandApdu {
  return new CommandApdu({ cla: 0x80, ins: INS_READ_STATE, p1: 0, p2: 0, ne: LE });
}

/** SVM BEGIN TRANSFER 80 30 00 00 1D CSN purse amount counter datetime MAC. */
export function beginTransfer(
  csn: Uint8Array,
  purse: number,
  amount: number,
  counter: number,
  dateTime: Uint8Array,
  mac: Uint8Array,
): CommandApdu {
  return new CommandApdu({
    cla: 0x80,
    ins: INS_BEGIN_TRANSFER,
    p1: 0,
    p2: 0,
    data: concatBytes(csn, Uint8Array.of(purse), be32(amount), be16(counter), dateTime, mac),
  });
}

/** SVM COMPLETE TRANSFER 80 32 slot 00 0C balance after ‖ proof 00 (slot: READ PENDING). */
export function completeTransfer(cardBalance: number, proof: Uint8Array, slot = 0): CommandApdu {
  return new CommandApdu({
    cla: 0x80,
    ins: INS_COMPLETE_TRANSFER,
    p1: slot,
    p2: 0,
    data: concatBytes(be32(cardBalance), proof),
    ne: LE,
  });
}

/** SVM CANCEL TRANSFER 80 36 00 slot 0E with a signed status (balance ‖ counter ‖ MAC). */
export function cancelWithStatus(balance: number, counter: number, mac: Uint8Array, slot = 0): CommandApdu {
  return new CommandApdu({
    cla: 0x80,
    ins: INS_CANCEL_TRANSFER,
    p1: 0,
    p2: slot,
    data: concatBytes(be32(balance), be16(counter), mac),
  });
}

/** SVM CANCEL TRANSFER 80 36 01 slot 26 with the card's log record at the pending counter. */
export function cancelWithRecord(record: Uint8Array, slot = 0): CommandApdu {
  return new CommandApdu({ cla: 0x80, ins: INS_CANCEL_TRANSFER, p1: 1, p2: slot, data: record });
}

/** SVM READ PENDING 80 5A 00 00 00: every pending slot (issue 13). */
export function readPending(): CommandApdu {
  return new CommandApdu({ cla: 0x80, ins: INS_READ_PENDING, p1: 0, p2: 0, ne: LE });
}

/** SVM HOST SETTLE 80 46 00 00 29 payload(25) ‖ SAM authorisation(8) ‖ R3(8) 00 (after SVM GET CHALLENGE). */
export function hostSettle(payload: Uint8Array, auth: Uint8Array, r3: Uint8Array): CommandApdu {
  return new CommandApdu({
    cla: 0x80,
    ins: INS_HOST_SETTLE,
    p1: 0,
    p2: 0,
    data: concatBytes(payload, auth, r3),
    ne: LE,
  });
}

/** SVM TOKEN REQUEST 80 40 00 00 0E units ‖ SVM counter ‖ MAC 00. */
export function tokenRequest(units: number, svmCounter: number, mac: Uint8Array): CommandApdu {
  return new CommandApdu({
    cla: 0x80,
    ins: INS_TOKEN_REQUEST,
    p1: 0,
    p2: 0,
    data: concatBytes(be16(units), be32(svmCounter), mac),
    ne: LE,
  });
}

/** SVM READ STATE 80 5C 02 00 08 challenge 00: the state signed with K_core for the meter core. */
export function readStateForCore(challenge: Uint8Array): CommandApdu {
  return new CommandApdu({ cla: 0x80, ins: INS_READ_STATE, p1: 2, p2: 0, data: challenge, ne: LE });
}

/** SVM READ STATE 80 5C 01 00 08 challenge 00: the state signed with K_svm for the SAM's R3. */
export function readStateSigned(challenge: Uint8Array): CommandApdu {
  return new CommandApdu({ cla: 0x80, ins: INS_READ_STATE, p1: 1, p2: 0, data: challenge, ne: LE });
}

/** SAM HOST INIT 80 20 00 n 10 R1 ‖ R2 00. */
export function hostInit(n: number, r1: Uint8Array, r2: Uint8Array): CommandApdu {
  return new CommandApdu({ cla: 0x80, ins: INS_HOST_INIT, p1: 0, p2: n, data: concatBytes(r1, r2), ne: LE });
}

/** SAM HOST COMMAND 80 22 H 00 Lc data 00. */
export function hostCommand(h: number, data: Uint8Array): CommandApdu {
  return new CommandApdu({ cla: 0x80, ins: INS_HOST_COMMAND, p1: h, p2: 0, data, ne: LE });
}

/** SAM HOST FINISH 80 24 P1 00 Lc data 00 (P1 = 51: the SVM's HOST CREDIT answer; 00: its signed state). */
export function hostFinish(p1: number, data: Uint8Array): CommandApdu {
  return new CommandApdu({ cla: 0x80, ins: INS_HOST_FINISH, p1, p2: 0, data, ne: LE });
}

/** Longest data of one part of a command chain (short Lc). */
const CHAIN_PART = 255;

/**
 * SAM HOST FINISH P1 = 52 / 53 with data of any length in short APDUs: command chaining (ISO/IEC
 * 7816-4 §5.1.1.1, CLA b5 = 1 on every part but the last: 90 24 P1 00 …, then 80 24 P1 00 … 00).
 * The SAM's answer longer than 256 bytes comes back by GET RESPONSE (61xx), which the reader's
 * transport fetches. The SAM and SVM announce no extended lengths in their ATRs.
 */
export function hostFinishChained(p1: number, data: Uint8Array): CommandApdu[] {
  const out: CommandApdu[] = [];
  for (let o = 0; o + CHAIN_PART < data.length; o += CHAIN_PART)
    out.push(
      new CommandApdu({
        cla: 0x90,
        ins: INS_HOST_FINISH,
        p1,
        p2: 0,
        data: data.subarray(o, o + CHAIN_PART),
      }),
    );
  const last = Math.floor(Math.max(0, data.length - 1) / CHAIN_PART) * CHAIN_PART;
  out.push(hostFinish(p1, data.subarray(last)));
  return out;
}

/** SVM HOST CREDIT 80 44 00 00 1C amount ‖ tx id ‖ MAC ‖ R3 00 (after SVM GET CHALLENGE). */
export function hostCredit(amount: number, txId: Uint8Array, mac: Uint8Array, r3: Uint8Array): CommandApdu {
  return new CommandApdu({
    cla: 0x80,
    ins: INS_HOST_CREDIT,
    p1: 0,
    p2: 0,
    data: concatBytes(be32(amount), txId, mac, r3),
    ne: LE,
  });
}

// ---- Issue 17: utility-authenticated card commands and the offline meter's records ----

function exactly(b: Uint8Array, n: number, name: string): Uint8Array {
  if (!(b instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (b.length !== n) throw new RangeError(`${name} must be ${n} bytes, got ${b.length}`);
  return b;
}

/** REMOTE LOAD 80 56 00 purse 1A data(26) 00 (data = signRemoteLoad's). */
export function remoteLoad(purse: number, data26: Uint8Array): CommandApdu {
  const data = exactly(data26, 26, 'data26');
  return new CommandApdu({ cla: 0x80, ins: INS_REMOTE_LOAD, p1: 0, p2: purse, data, ne: LE });
}

/** PUT CONFIG 80 58 00 purse 2C config(36) ‖ MAC(8). */
export function putConfig(purse: number, data44: Uint8Array): CommandApdu {
  return new CommandApdu({
    cla: 0x80,
    ins: INS_PUT_CONFIG,
    p1: 0,
    p2: purse,
    data: exactly(data44, 44, 'data44'),
  });
}

/** CLEAR READINGS 80 5A 00 purse 10 reading MAC(8) ‖ MAC(8). */
export function clearReadings(purse: number, data16: Uint8Array): CommandApdu {
  return new CommandApdu({
    cla: 0x80,
    ins: INS_CLEAR_READINGS,
    p1: 0,
    p2: purse,
    data: exactly(data16, 16, 'data16'),
  });
}

/** READ RECORD 00 B2 n 1C 00 on the offline-configuration EF (n = purse position). */
export function readOfflineConfig(n: number): CommandApdu {
  return new CommandApdu({
    cla: 0x00,
    ins: INS_READ_RECORD,
    p1: n,
    p2: (SFI_OFFLINE_CONFIG << 3) | 4,
    ne: LE,
  });
}

/** READ RECORD 00 B2 n 24 00 on the offline-readings EF (n = purse position). */
export function readOfflineReadings(n: number): CommandApdu {
  return new CommandApdu({
    cla: 0x00,
    ins: INS_READ_RECORD,
    p1: n,
    p2: (SFI_OFFLINE_READINGS << 3) | 4,
    ne: LE,
  });
}

/** UPDATE RECORD 00 DC n 24 90 record(144) (in a SAM session for that purse). */
export function updateOfflineReadings(n: number, record144: Uint8Array): CommandApdu {
  return new CommandApdu({
    cla: 0x00,
    ins: INS_UPDATE_RECORD,
    p1: n,
    p2: (SFI_OFFLINE_READINGS << 3) | 4,
    data: exactly(record144, 144, 'record144'),
  });
}

/** SAM CONFIG CHECK 80 1C 00 00 2C CSN(8) ‖ config(36). */
export function samConfigCheck(csn: Uint8Array, config36: Uint8Array): CommandApdu {
  return new CommandApdu({
    cla: 0x80,
    ins: INS_CONFIG_CHECK,
    p1: 0,
    p2: 0,
    data: concatBytes(exactly(csn, 8, 'csn'), exactly(config36, 36, 'config36')),
  });
}

/** SAM SIGN READINGS 80 1E 00 00 8F CSN(8) ‖ record bytes 0..134 00 -> MAC(8). */
export function samSignReadings(csn: Uint8Array, body135: Uint8Array): CommandApdu {
  return new CommandApdu({
    cla: 0x80,
    ins: INS_SIGN_READINGS,
    p1: 0,
    p2: 0,
    data: concatBytes(exactly(csn, 8, 'csn'), exactly(body135, 135, 'body135')),
    ne: LE,
  });
}
