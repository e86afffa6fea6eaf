/**
 * The utility side's cryptography of docs/purse-spec.md §1, §2 and §13, written from the spec alone
 * with node:crypto (issue 17, "a meter maker implements the terminal side from our spec alone").
 * Nothing here imports the project's crypto.
 */
import { createCipheriv } from 'node:crypto';

export const hex = (s: string): Uint8Array =>
  Uint8Array.from(Buffer.from(s.replace(/[^0-9a-fA-F]/g, ''), 'hex'));
export const toHex = (b: Uint8Array): string =>
  Buffer.from(b)
    .toString('hex')
    .toUpperCase()
    .replace(/(..)(?!$)/g, '$1 ');
export const cat = (...parts: (Uint8Array | number[])[]): Uint8Array =>
  Uint8Array.from(parts.flatMap((p) => Array.from(p)));
export const ascii = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'));
export const u32 = (n: number): Uint8Array => {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`u32 out of range: ${n}`);
  return Uint8Array.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
};
export const u16 = (n: number): Uint8Array => {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError(`u16 out of range: ${n}`);
  return Uint8Array.from([n >>> 8, n & 0xff]);
};
export const readU32 = (b: Uint8Array, o: number): number =>
  ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
export const readU16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
export const equal = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/** Two-key TDES (K1 K2 K1) on one 8-byte block, ECB. §2: "All keys are 16-byte two-key TDES keys". */
function tdesBlock(key: Uint8Array, block: Uint8Array): Uint8Array {
  if (key.length !== 16) throw new RangeError(`key must be 16 bytes, got ${key.length}`);
  if (block.length !== 8) throw new RangeError(`block must be 8 bytes, got ${block.length}`);
  const c = createCipheriv('des-ede3', Buffer.concat([key, key.subarray(0, 8)]), null);
  c.setAutoPadding(false);
  return Uint8Array.from(Buffer.concat([c.update(block), c.final()]));
}

/** TDES-ECB over whole blocks. */
export function tdesEcb(key: Uint8Array, data: Uint8Array): Uint8Array {
  if (data.length % 8 !== 0) throw new RangeError('data must be whole 8-byte blocks');
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i += 8) out.set(tdesBlock(key, data.subarray(i, i + 8)), i);
  return out;
}

/** ISO/IEC 9797-1 padding method 2: 80 then 00s to a whole block (always at least one byte). */
export function padMethod2(m: Uint8Array): Uint8Array {
  const n = (Math.floor(m.length / 8) + 1) * 8;
  const out = new Uint8Array(n);
  out.set(m);
  out[m.length] = 0x80;
  return out;
}

/** TDES-CBC, zero IV, whole blocks (the chaining is done here, block by block). */
export function tdesCbc(key: Uint8Array, data: Uint8Array): Uint8Array {
  if (data.length % 8 !== 0) throw new RangeError('data must be whole 8-byte blocks');
  const out = new Uint8Array(data.length);
  let chain: Uint8Array = new Uint8Array(8);
  for (let i = 0; i < data.length; i += 8) {
    const x = data.subarray(i, i + 8).map((b, j) => b ^ chain[j]!);
    chain = tdesBlock(key, x);
    out.set(chain, i);
  }
  return out;
}

/** §1: MAC(K, m) = ISO/IEC 9797-1 MAC algorithm 1, full TDES CBC-MAC, zero IV, padding method 2, 8 bytes. */
export function mac(key: Uint8Array, m: Uint8Array): Uint8Array {
  return tdesCbc(key, padMethod2(m)).slice(-8);
}

/** Odd DES parity on every byte (the low bit of each byte is the parity bit). */
export function oddParity(k: Uint8Array): Uint8Array {
  return k.map((b) => {
    let ones = 0;
    for (let v = b >> 1; v; v >>= 1) ones += v & 1;
    return (b & 0xfe) | (ones % 2 === 0 ? 1 : 0);
  });
}

/** §2: K(x) = oddParity(TDES-ECB(MK, A) ‖ TDES-ECB(MK, A ⊕ FF..FF)), A = x right-aligned behind 00s. */
export function diversify(master: Uint8Array, x: Uint8Array): Uint8Array {
  if (x.length > 8) throw new RangeError(`diversification input must be at most 8 bytes, got ${x.length}`);
  const a = new Uint8Array(8);
  a.set(x, 8 - x.length);
  return oddParity(
    cat(
      tdesBlock(master, a),
      tdesBlock(
        master,
        a.map((b) => b ^ 0xff),
      ),
    ),
  );
}

// ---- §13.1 keys ----

/** K_credit[p](CSN) = diversify(MK_credit[p], CSN). */
export const kCredit = (mkCredit: Uint8Array, csn: Uint8Array): Uint8Array => diversify(mkCredit, csn);
/** K_remote[p] = diversify(K_credit[p](CSN), "REMOTE"). */
export const kRemote = (mkCredit: Uint8Array, csn: Uint8Array): Uint8Array =>
  diversify(kCredit(mkCredit, csn), ascii('REMOTE'));
/** KT[n] = diversify(KH[n], meter id) (§2's table: "meter id → KT[n]"). */
export const kTerminal = (kh: Uint8Array, meterId: Uint8Array): Uint8Array => diversify(kh, meterId);
/** K_offline = diversify(KT[n](meter id), "OFFLINE"). */
export const kOffline = (kh: Uint8Array, meterId: Uint8Array): Uint8Array =>
  diversify(kTerminal(kh, meterId), ascii('OFFLINE'));

// ---- §13.2 REMOTE LOAD ----

export interface RemoteLoad {
  purse: number;
  seq: number;
  amount: number;
  sellerId: Uint8Array; // 4
  dateTime: Uint8Array; // 6 BCD
}

const remoteBody = (csn: Uint8Array, l: RemoteLoad): Uint8Array =>
  cat(csn, [l.purse], u32(l.seq), u32(l.amount), l.sellerId, l.dateTime);
export const remoteLoadMacInput = (csn: Uint8Array, l: RemoteLoad): Uint8Array =>
  cat(ascii('R'), remoteBody(csn, l));
export const remoteReceiptInput = (csn: Uint8Array, l: RemoteLoad): Uint8Array =>
  cat(ascii('A'), remoteBody(csn, l));
/** The 26 data bytes of REMOTE LOAD: seq ‖ amount ‖ seller id ‖ date-time ‖ MAC. */
export const remoteLoadData = (kRem: Uint8Array, csn: Uint8Array, l: RemoteLoad): Uint8Array =>
  cat(u32(l.seq), u32(l.amount), l.sellerId, l.dateTime, mac(kRem, remoteLoadMacInput(csn, l)));
export const remoteReceipt = (kRem: Uint8Array, csn: Uint8Array, l: RemoteLoad): Uint8Array =>
  mac(kRem, remoteReceiptInput(csn, l));

// ---- §13.3 configuration ----

export interface OfflineConfig {
  meterId: Uint8Array; // 3
  purse: number;
  version: number;
  issued: Uint8Array; // 6 BCD
  emergencyLimit: number;
  unitCharge: number;
  blacklistVersion: number;
  ktVersion: number;
}

/** Config bytes 0..27. */
export const configBody = (c: OfflineConfig): Uint8Array =>
  cat(
    [0x01],
    c.meterId,
    [c.purse],
    u32(c.version),
    c.issued,
    u32(c.emergencyLimit),
    u32(c.unitCharge),
    u32(c.blacklistVersion),
    [c.ktVersion],
  );
export const configMeterMacInput = (csn: Uint8Array, body: Uint8Array): Uint8Array =>
  cat(ascii('C'), csn, body);
/** The 36-byte SFI 03 record: bytes 0..27 ‖ MAC(K_offline, 'C' ‖ CSN ‖ bytes 0..27). */
export const configRecord = (kOff: Uint8Array, csn: Uint8Array, c: OfflineConfig): Uint8Array => {
  const body = configBody(c);
  return cat(body, mac(kOff, configMeterMacInput(csn, body)));
};
export const putConfigMacInput = (csn: Uint8Array, record: Uint8Array): Uint8Array =>
  cat(ascii('W'), csn, record);
/** PUT CONFIG data (44): config(36) ‖ MAC(K_remote, 'W' ‖ CSN ‖ config). */
export const putConfigData = (kRem: Uint8Array, csn: Uint8Array, record: Uint8Array): Uint8Array =>
  cat(record, mac(kRem, putConfigMacInput(csn, record)));

export function parseConfig(r: Uint8Array): OfflineConfig & { meterMac: Uint8Array } {
  if (r.length !== 36) throw new RangeError(`config record must be 36 bytes, got ${r.length}`);
  return {
    meterId: r.slice(1, 4),
    purse: r[4]!,
    version: readU32(r, 5),
    issued: r.slice(9, 15),
    emergencyLimit: readU32(r, 15),
    unitCharge: readU32(r, 19),
    blacklistVersion: readU32(r, 23),
    ktVersion: r[27]!,
    meterMac: r.slice(28, 36),
  };
}

// ---- §13.1 / §13.4 readings ----

export interface Readings {
  meterId: Uint8Array;
  purse: number;
  seq: number;
  dateTime: Uint8Array;
  cumulative: number;
  sinceCredit: number;
  emergencyUsed: number;
  unitCharge: number;
  configVersion: number;
  events: number;
  steps: number[]; // s registers, s = 1..16
  percents: number[]; // s percents
  ktVersion: number;
}

/** SFI 04 bytes 0..134. */
export function readingsBody(r: Readings): Uint8Array {
  const s = r.steps.length;
  if (s < 1 || s > 16 || r.percents.length !== s)
    throw new RangeError('steps: 1..16 registers and as many percents');
  const regs = new Uint8Array(64);
  r.steps.forEach((v, k) => regs.set(u32(v), 4 * k));
  const pcts = new Uint8Array(32);
  r.percents.forEach((v, k) => pcts.set(u16(v), 2 * k));
  return cat(
    [0x01],
    r.meterId,
    [r.purse],
    u32(r.seq),
    r.dateTime,
    u32(r.cumulative),
    u32(r.sinceCredit),
    u32(r.emergencyUsed),
    u32(r.unitCharge),
    u32(r.configVersion),
    u16(r.events),
    [s],
    regs,
    pcts,
    [r.ktVersion],
  );
}
export const readingsMacInput = (csn: Uint8Array, body135: Uint8Array): Uint8Array =>
  cat(ascii('M'), csn, body135);
export const readingsMac = (kOff: Uint8Array, csn: Uint8Array, body135: Uint8Array): Uint8Array =>
  mac(kOff, readingsMacInput(csn, body135));

// ---- §13.5 CLEAR READINGS ----

export const clearMacInput = (csn: Uint8Array, purse: number, readingMac: Uint8Array): Uint8Array =>
  cat(ascii('X'), csn, [purse], readingMac);
/** CLEAR READINGS data (16): reading MAC ‖ MAC(K_remote, 'X' ‖ CSN ‖ p ‖ reading MAC). */
export const clearData = (
  kRem: Uint8Array,
  csn: Uint8Array,
  purse: number,
  readingMac: Uint8Array,
): Uint8Array => cat(readingMac, mac(kRem, clearMacInput(csn, purse, readingMac)));
