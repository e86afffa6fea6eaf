/**
 * Application identifiers, instruction bytes, purse identifiers and the proprietary status words
 * of the purse, SAM and SVM applets. docs/purse-spec.md is the reference; this file is its table.
 */
import { fromHex } from '../util/hex.js';
import { describeSw } from '../iso7816/swTable.js';

/** ISO/IEC 7816-5 category F (proprietary, unregistered) AIDs: F0 ‖ ASCII name ‖ version 01. */
export const AID_PURSE = fromHex('F04D505552534501'); // F0 "MPURSE" 01
export const AID_SAM = fromHex('F04D5053414D01'); // F0 "MPSAM" 01
export const AID_SVM = fromHex('F04D5053564D01'); // F0 "MPSVM" 01

/** CLA of the ISO inter-industry commands and of the proprietary ones. */
export const CLA_ISO = 0x00;
export const CLA_PROPRIETARY = 0x80;

// ISO/IEC 7816-4 inter-industry instructions.
export const INS_SELECT = 0xa4;
export const INS_GET_CHALLENGE = 0x84;
export const INS_EXTERNAL_AUTHENTICATE = 0x82; // MUTUAL AUTHENTICATE shares 82 (7816-4 §11.5.4)
export const INS_MUTUAL_AUTHENTICATE = 0x82;
export const INS_READ_RECORD = 0xb2;
export const INS_UPDATE_RECORD = 0xdc;
export const INS_VERIFY = 0x20;
export const INS_CHANGE_REFERENCE_DATA = 0x24;
export const INS_GET_RESPONSE = 0xc0;

// Purse (subscriber card) proprietary instructions, CLA 80.
export const INS_LOAD = 0x52;
export const INS_DEBIT = 0x54;
export const INS_READ_PURSE = 0x5c;
/** Issue 17: commands authenticated by the purse's own utility (K_remote), carried by any terminal. */
export const INS_REMOTE_LOAD = 0x56;
export const INS_PUT_CONFIG = 0x58;
export const INS_CLEAR_READINGS = 0x5a;

// SAM proprietary instructions, CLA 80.
export const INS_AUTH_INIT = 0x10;
export const INS_AUTH_FINISH = 0x12;
export const INS_TRANSFER_AUTH = 0x14;
export const INS_TOKEN_AUTH = 0x18;
/** Seed 000 host protocol, terminal side (Figs. 1-3). */
export const INS_HOST_INIT = 0x20;
export const INS_HOST_COMMAND = 0x22;
export const INS_HOST_FINISH = 0x24;

/** Seed 000 command headers H (as fixed by issue 7's docs/host-protocol.md, host/protocol/constants.ts). */
export const HOST_VALUE_STORE = 0x51;
export const HOST_TARIFF_MODE = 0x52;
export const HOST_USAGE_CHECK = 0x53;
/** Issue 13: settle a pending card transfer (SAM HOST COMMAND / HOST FINISH P1 = 54). */
export const HOST_SETTLE = 0x54;
/** Issue 13: record upload and blacklist over the power line, answered like a usage check (P1 = 55 / 56). */
export const HOST_CLEARING_UPLOAD = 0x55;
export const HOST_BLACKLIST = 0x56;
/** Issue 17: utility-authenticated card commands carried to the meter, answers back (P1 = 57). */
export const HOST_CARD_COMMANDS = 0x57;

/** Status byte of the value-store answer (host/protocol/constants.ts VS_*). */
export const VS_CREDITED = 0x00;
export const VS_DUPLICATE = 0x01;
export const VS_REFUSED_MAX_BALANCE = 0x02;

// SVM proprietary instructions, CLA 80.
export const INS_BEGIN_TRANSFER = 0x30;
export const INS_COMPLETE_TRANSFER = 0x32;
export const INS_CANCEL_TRANSFER = 0x36;
export const INS_TOKEN_REQUEST = 0x40;
export const INS_HOST_CREDIT = 0x44;
export const INS_READ_STATE = 0x5c;
/** Issue 13 (clearing): the SVM's pending-transfer slots and the host's settlement of one. */
export const INS_READ_PENDING = 0x5a;
export const INS_HOST_SETTLE = 0x46;
/** Issue 13: READ LOG, the SVM's log records from a log sequence number, each MAC'd for the host (§5.9). */
export const INS_READ_LOG = 0x5e;
/** Most records one READ LOG answer carries: 9 + 6 × 37 = 231 bytes fits a short answer (Ne ≤ 256). */
export const SVM_READ_LOG_MAX = 6;
/** How many card transfers an SVM can hold pending at once (docs/purse-spec.md §5.7). */
export const SVM_PENDING_SLOTS = 4;
/** HOST SETTLE decisions (payload byte 0). */
export const SETTLE_COMPLETE = 0x01;
export const SETTLE_CANCEL = 0x02;
/** Status byte of the HOST SETTLE answer. */
export const SETTLED_COMPLETE = 0x00;
export const SETTLED_CANCEL = 0x01;
export const SETTLE_NO_SUCH_PENDING = 0x02;
export const SETTLE_DUPLICATE = 0x03;

/** Purse identifiers (profile-extensible). */
export const PURSE_ELECTRICITY = 0x01;
export const PURSE_GAS = 0x02;
export const PURSE_WATER = 0x03;
export const PURSE_HEAT = 0x04;
export const PURSE_HOT_WATER = 0x05;
export const PURSE_NAMES: Readonly<Record<number, string>> = {
  1: 'electricity',
  2: 'gas',
  3: 'water',
  4: 'heat',
  5: 'hot water',
};

/** Short EF identifiers of the subscriber card. */
export const SFI_LOG = 0x01; // cyclic, 38-byte records, record 1 = newest
export const SFI_METER_DATA = 0x02; // linear fixed, 72-byte records, record n = n-th purse of the FCI
export const SFI_OFFLINE_CONFIG = 0x03; // issue 17: linear fixed, 36-byte records, one per purse
export const SFI_OFFLINE_READINGS = 0x04; // issue 17: linear fixed, 144-byte records, one per purse

/** Proprietary status words (ISO/IEC 7816-4 §5.6 leaves 9XXX to applications). */
export const SW_INSUFFICIENT_BALANCE = 0x9401;
export const SW_MAX_BALANCE_EXCEEDED = 0x9402;
export const SW_LIMIT_EXCEEDED = 0x9403;
export const SW_COUNTER_EXHAUSTED = 0x9404;
export const SW_TRANSFER_PENDING = 0x9405;
export const SW_NO_PENDING_TRANSFER = 0x9406;
export const SW_REPLAY = 0x9407;
/** Every pending-transfer slot of the SVM is taken (issue 13). */
export const SW_PENDING_SLOTS_FULL = 0x9408;
/** Issue 17: a remote load skips a sequence number: an earlier one of this purse must come first. */
export const SW_REMOTE_LOAD_GAP = 0x9409;

const APPLET_SW_NAMES: ReadonlyMap<number, string> = new Map([
  [SW_INSUFFICIENT_BALANCE, 'insufficient balance'],
  [SW_MAX_BALANCE_EXCEEDED, 'maximum balance exceeded'],
  [SW_LIMIT_EXCEEDED, 'per-transaction limit exceeded'],
  [SW_COUNTER_EXHAUSTED, 'transaction counter exhausted'],
  [SW_TRANSFER_PENDING, 'a transfer is pending'],
  [SW_NO_PENDING_TRANSFER, 'no pending transfer'],
  [SW_REPLAY, 'replay refused'],
  [SW_PENDING_SLOTS_FULL, 'all pending-transfer slots taken'],
  [SW_REMOTE_LOAD_GAP, 'an earlier remote load is missing'],
]);

/**
 * Describes a status word of the purse, SAM or SVM applets: their proprietary 94xx values by
 * name ("9401: applet: insufficient balance"), every other value as ISO/IEC 7816-4 reads it.
 */
export function describeAppletSw(sw: number): string {
  const name = APPLET_SW_NAMES.get(sw);
  return name === undefined ? describeSw(sw) : `${describeSw(sw).slice(0, 4)}: applet: ${name}`;
}

/** Number of records of the card's cyclic log (the issue asks for at least 10). */
export const LOG_RECORDS = 10;
/** Number of records of the SVM's cyclic log. */
export const SVM_LOG_RECORDS = 16;
/** SAM COMMISSION CHECK: vouches for a commissioning card's payload (docs/purse-spec.md). */
export const INS_COMMISSION_CHECK = 0x1a;
/** Issue 17: the offline meter's SAM checks a card's configuration / signs the readings it writes. */
export const INS_CONFIG_CHECK = 0x1c;
export const INS_SIGN_READINGS = 0x1e;
