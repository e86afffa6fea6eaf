/**
 * Issue 17: what a utility other than electricity does with its purse through somebody else's
 * equipment — remote loads carried over the power line, configuration for its offline meter, and
 * that meter's signed readings (docs/purse-spec.md §13 is the reference).
 *
 * Everything here is authenticated end to end by the owning utility u; the carriers (electricity
 * host, power line, electricity meter and its SAM) see only opaque bytes they cannot change:
 *
 * ```
 *   K_remote[u](CSN)        = diversify(K_credit[u](CSN), "REMOTE")   card  <-> utility u's server
 *   K_offline[u](meter, n)  = diversify(KT[u][n](meter id), "OFFLINE") meter SAM <-> utility u's host
 *
 *   under K_remote:  'R' remote load   'A' its receipt   'W' config write   'X' clear readings
 *   under K_offline: 'C' config (meter MAC)              'M' reading
 * ```
 * Each MAC input starts with its own letter, so no MAC made for one purpose passes for another.
 *
 * This file holds the MAC inputs (each drawn), the two card records (SFI 03 offline configuration,
 * SFI 04 offline readings) and the utility-side signers, which take the utility's `IssuerKeys`.
 */
import { MalformedDataError, SwError } from '../../iso7816/errors.js';
import { SW_WRONG_DATA } from '../../iso7816/sw.js';
import { verifyMac } from '../../crypto/mac.js';
import { wipe } from '../../crypto/wipe.js';
import { concatBytes, toHex } from '../../util/hex.js';
import { U16_MAX, U32_MAX, be32, put16, put32, u16, u32 } from '../../util/bigEndian.js';
import { isBcdDateTime, showDateTime } from '../../util/bcd.js';
import { ascii, checkDateTime } from '../bytes.js';
import type { IssuerKeys } from '../IssuerKeys.js';

/** The fields of one remote load: what utility `purse` signs for card `csn`. */
export interface RemoteLoadFields {
  csn: Uint8Array; // 8
  purse: number; // 1
  /** The utility's sequence number for (CSN, purse): 1, 2, 3, ... (u32). */
  seq: number;
  amount: number; // u32, minor units
  sellerId: Uint8Array; // 4: the utility's point of sale (logged as the terminal id)
  dateTime: Uint8Array; // 6, BCD YYMMDDhhmmss
}

/** REMOTE LOAD data length (seq ‖ amount ‖ seller ‖ date-time ‖ MAC). */
export const REMOTE_LOAD_LENGTH = 26;
/** REMOTE LOAD answer length (outcome ‖ balance ‖ counter ‖ receipt). */
export const REMOTE_LOAD_ANSWER_LENGTH = 15;
/** REMOTE LOAD outcome byte: applied by this command / had been applied before. */
export const REMOTE_APPLIED = 0x01;
export const REMOTE_ALREADY_APPLIED = 0x02;
/** PUT CONFIG data length (config ‖ MAC) and CLEAR READINGS data length (reading MAC ‖ MAC). */
export const PUT_CONFIG_LENGTH = 44;
export const CLEAR_READINGS_LENGTH = 16;
/** SAM CONFIG CHECK data length (CSN ‖ config) and SIGN READINGS data length (CSN ‖ record[0..134]). */
export const CONFIG_CHECK_LENGTH = 44;
export const SIGN_READINGS_LENGTH = 143;
/** Format byte of both records. */
export const OFFLINE_FORMAT = 0x01;
/**
 * How many purses (the first ones of the FCI) have SFI 03 / 04 records on a card: a blank chip's
 * 4096-byte data area holds 15 purses' keys and states plus the offline records of 6 purses only
 * (184 bytes each). A purse beyond has none: READ RECORD 6A83, PUT CONFIG 6A84.
 */
export const OFFLINE_RECORD_PURSES = 6;
/** Most tariff steps a reading carries. */
export const OFFLINE_MAX_STEPS = 16;

/** Event flags of an offline reading (bytes 35..36). */
export const OFFLINE_EVENT_POWER_FAILURE = 0x0001;
export const OFFLINE_EVENT_REVERSE_FLOW = 0x0002;
export const OFFLINE_EVENT_TAMPER = 0x0004;
export const OFFLINE_EVENT_RELAY_OPEN_VOLTAGE = 0x0008;
export const OFFLINE_EVENT_FOREIGN_CARD = 0x0010;
export const OFFLINE_EVENT_UNAUTHENTIC_CONFIG = 0x0020;

function bytes(v: Uint8Array, n: number, name: string): void {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (v.length !== n) throw new RangeError(`${name} must be ${n} bytes, got ${v.length}`);
}

function uint(v: number, max: number, name: string, min = 0): void {
  if (!Number.isInteger(v) || v < min || v > max)
    throw new RangeError(`${name} must be ${min}..${max}, got ${v}`);
}

function checkRemote(f: RemoteLoadFields): void {
  bytes(f.csn, 8, 'csn');
  uint(f.purse, 15, 'purse', 1);
  uint(f.seq, U32_MAX, 'seq');
  uint(f.amount, U32_MAX, 'amount');
  bytes(f.sellerId, 4, 'sellerId');
  bytes(f.dateTime, 6, 'dateTime');
}

function remoteBody(letter: 'R' | 'A', f: RemoteLoadFields): Uint8Array {
  checkRemote(f);
  return concatBytes(
    ascii(letter),
    f.csn,
    Uint8Array.of(f.purse),
    be32(f.seq),
    be32(f.amount),
    f.sellerId,
    f.dateTime,
  );
}

/**
 * REMOTE LOAD MAC input (under K_remote[p]):
 * `'R' ‖ CSN(8) ‖ p(1) ‖ seq(4) ‖ amount(4) ‖ seller id(4) ‖ date-time(6)`.
 * @throws TypeError/RangeError naming the field that does not fit.
 */
export function remoteLoadMacInput(f: RemoteLoadFields): Uint8Array {
  return remoteBody('R', f);
}

/**
 * REMOTE LOAD receipt input (under K_remote[p]): `'A' ‖ CSN ‖ p ‖ seq ‖ amount ‖ seller id ‖
 * date-time` — the same for "applied now" and "already applied", so a retry answers the same bytes.
 */
export function remoteReceiptInput(f: RemoteLoadFields): Uint8Array {
  return remoteBody('A', f);
}

/** PUT CONFIG MAC input (under K_remote[p]): `'W' ‖ CSN(8) ‖ config(36)`. */
export function configWriteMacInput(csn: Uint8Array, config: Uint8Array): Uint8Array {
  bytes(csn, 8, 'csn');
  bytes(config, OfflineConfig.LENGTH, 'config');
  return concatBytes(ascii('W'), csn, config);
}

/** CLEAR READINGS MAC input (under K_remote[p]): `'X' ‖ CSN(8) ‖ p(1) ‖ reading MAC(8)`. */
export function clearReadingsMacInput(csn: Uint8Array, purse: number, readingMac: Uint8Array): Uint8Array {
  bytes(csn, 8, 'csn');
  uint(purse, 15, 'purse', 1);
  bytes(readingMac, 8, 'readingMac');
  return concatBytes(ascii('X'), csn, Uint8Array.of(purse), readingMac);
}

/** Offline-meter config MAC input (under K_offline): `'C' ‖ CSN(8) ‖ config bytes 0..27 (28)`. */
export function offlineConfigMacInput(csn: Uint8Array, signed: Uint8Array): Uint8Array {
  bytes(csn, 8, 'csn');
  bytes(signed, OfflineConfig.SIGNED_LENGTH, 'signed');
  return concatBytes(ascii('C'), csn, signed);
}

/** Offline reading MAC input (under K_offline): `'M' ‖ CSN(8) ‖ record bytes 0..134 (135)`. */
export function offlineReadingMacInput(csn: Uint8Array, signed: Uint8Array): Uint8Array {
  bytes(csn, 8, 'csn');
  bytes(signed, OfflineReading.SIGNED_LENGTH, 'signed');
  return concatBytes(ascii('M'), csn, signed);
}

function allZero(b: Uint8Array): boolean {
  return b.every((x) => x === 0);
}

function need(b: Uint8Array, n: number, kind: string): void {
  if (!(b instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
  if (b.length !== n)
    throw new MalformedDataError(`${kind} is ${n} bytes, got ${b.length}`, Math.min(b.length, n), b, kind);
}

/** The fields of an offline configuration (all but the meter MAC). */
export interface OfflineConfigFields {
  meterId: Uint8Array; // 3
  purse: number;
  /** > 0, strictly increasing per card purse (the card refuses an older one: 9407). */
  version: number;
  issued: Uint8Array; // 6 BCD
  emergencyLimit: number;
  unitCharge: number;
  blacklistVersion: number;
  /** The KT version n whose K_offline made the meter MAC. */
  ktVersion: number;
}

/**
 * Offline configuration, 36 bytes (linear fixed EF, SFI 03, record n = the n-th purse of the FCI;
 * all zeros = never written):
 * ```
 *  0 format 01 | 1 meter id (3) | 4 purse | 5 config version u32 | 9 issued date-time BCD (6) |
 * 15 emergency-credit limit u32 | 19 unit charge u32 | 23 utility blacklist version u32 |
 * 27 KT version n | 28 meter MAC = MAC(K_offline(meter id, n), 'C' ‖ CSN ‖ bytes 0..27) (8)
 * ```
 */
export class OfflineConfig implements OfflineConfigFields {
  static readonly LENGTH = 36;
  static readonly SIGNED_LENGTH = 28;
  readonly meterId: Uint8Array;
  readonly purse: number;
  readonly version: number;
  readonly issued: Uint8Array;
  readonly emergencyLimit: number;
  readonly unitCharge: number;
  readonly blacklistVersion: number;
  readonly ktVersion: number;
  readonly meterMac: Uint8Array;

  /** @throws TypeError/RangeError naming the field that does not fit. */
  constructor(f: OfflineConfigFields, meterMac: Uint8Array = new Uint8Array(8)) {
    bytes(f.meterId, 3, 'meterId');
    uint(f.purse, 0xff, 'purse');
    uint(f.version, U32_MAX, 'version');
    bytes(f.issued, 6, 'issued');
    uint(f.emergencyLimit, U32_MAX, 'emergencyLimit');
    uint(f.unitCharge, U32_MAX, 'unitCharge');
    uint(f.blacklistVersion, U32_MAX, 'blacklistVersion');
    uint(f.ktVersion, 0xff, 'ktVersion');
    bytes(meterMac, 8, 'meterMac');
    this.meterId = Uint8Array.from(f.meterId);
    this.purse = f.purse;
    this.version = f.version;
    this.issued = Uint8Array.from(f.issued);
    this.emergencyLimit = f.emergencyLimit;
    this.unitCharge = f.unitCharge;
    this.blacklistVersion = f.blacklistVersion;
    this.ktVersion = f.ktVersion;
    this.meterMac = Uint8Array.from(meterMac);
  }

  /**
   * Decodes a record read from SFI 03. All zeros decodes to the empty record (`isEmpty`).
   * @throws MalformedDataError (kind 'offline config') with the offset of the first wrong byte:
   *   length, format byte 0, version 0 at 5, date-time not BCD at 9.
   */
  static decode(b: Uint8Array): OfflineConfig {
    need(b, OfflineConfig.LENGTH, 'offline config');
    const empty = allZero(b);
    if (!empty) {
      const kind = 'offline config';
      if (b[0] !== OFFLINE_FORMAT) throw new MalformedDataError(`format ${b[0]}, expected 01`, 0, b, kind);
      if (u32(b, 5) === 0) throw new MalformedDataError('config version 0', 5, b, kind);
      if (!isBcdDateTime(b.subarray(9, 15)))
        throw new MalformedDataError('issued date-time is not BCD', 9, b, kind);
    }
    return new OfflineConfig(
      {
        meterId: b.subarray(1, 4),
        purse: b[4]!,
        version: u32(b, 5),
        issued: b.subarray(9, 15),
        emergencyLimit: u32(b, 15),
        unitCharge: u32(b, 19),
        blacklistVersion: u32(b, 23),
        ktVersion: b[27]!,
      },
      b.subarray(28, 36),
    );
  }

  /** True for the never-written (all zero) record. */
  get isEmpty(): boolean {
    return this.version === 0 && allZero(this.encode());
  }

  /** Bytes 0..27: what the meter MAC signs. */
  signedPart(): Uint8Array {
    const b = new Uint8Array(OfflineConfig.SIGNED_LENGTH);
    b[0] = this.version === 0 && allZero(this.meterId) && this.purse === 0 ? 0 : OFFLINE_FORMAT;
    b.set(this.meterId, 1);
    b[4] = this.purse;
    put32(b, 5, this.version);
    b.set(this.issued, 9);
    put32(b, 15, this.emergencyLimit);
    put32(b, 19, this.unitCharge);
    put32(b, 23, this.blacklistVersion);
    b[27] = this.ktVersion;
    return b;
  }

  encode(): Uint8Array {
    return concatBytes(this.signedPart(), this.meterMac);
  }

  /** The same configuration with meter MAC `mac`. */
  withMac(mac: Uint8Array): OfflineConfig {
    return new OfflineConfig(this, mac);
  }

  toJSON(): Record<string, unknown> {
    if (this.isEmpty) return { empty: true };
    return {
      meterId: toHex(this.meterId),
      purse: this.purse,
      version: this.version,
      issued: showDateTime(this.issued),
      emergencyLimit: this.emergencyLimit,
      unitCharge: this.unitCharge,
      blacklistVersion: this.blacklistVersion,
      ktVersion: this.ktVersion,
      meterMac: toHex(this.meterMac),
    };
  }
}

/** The fields of an offline reading (all but the MAC). */
export interface OfflineReadingFields {
  meterId: Uint8Array; // 3
  purse: number;
  /** The meter's own counter, > 0, +1 per write. */
  sequence: number;
  dateTime: Uint8Array; // 6 BCD
  cumulative: number;
  sinceLastCredit: number;
  emergencyUsed: number;
  unitCharge: number;
  /** 0 = none applied. */
  configVersion: number;
  /** OFFLINE_EVENT_* bits. */
  events: number;
  /** Consumption metered at each tariff step, 1..16 entries (u32 each). */
  stepRegisters: readonly number[];
  /** Each step's price as a percentage of the unit charge, as many as stepRegisters (u16 each). */
  stepPercents: readonly number[];
  ktVersion: number;
}

/**
 * Offline reading, 144 bytes (linear fixed EF, SFI 04, record n = the n-th purse of the FCI; all
 * zeros = none / cleared), written by the utility's offline meter, MAC'd by its SAM:
 * ```
 *   0 format 01 | 1 meter id (3) | 4 purse | 5 reading sequence u32 | 9 date-time BCD (6) |
 *  15 cumulative u32 | 19 consumption since last credit u32 | 23 emergency credit used u32 |
 *  27 unit charge u32 | 31 config version applied u32 | 35 event flags u16 | 37 step count s |
 *  38 step registers 16 x u32 (k >= s: 0) | 102 step percents 16 x u16 (k >= s: 0) |
 * 134 KT version n | 135 MAC(K_offline(meter id, n), 'M' ‖ CSN ‖ bytes 0..134) (8) | 143 RFU 00
 * ```
 */
export class OfflineReading implements OfflineReadingFields {
  static readonly LENGTH = 144;
  static readonly SIGNED_LENGTH = 135;
  readonly meterId: Uint8Array;
  readonly purse: number;
  readonly sequence: number;
  readonly dateTime: Uint8Array;
  readonly cumulative: number;
  readonly sinceLastCredit: number;
  readonly emergencyUsed: number;
  readonly unitCharge: number;
  readonly configVersion: number;
  readonly events: number;
  readonly stepRegisters: readonly number[];
  readonly stepPercents: readonly number[];
  readonly ktVersion: number;
  readonly mac: Uint8Array;

  /** @throws TypeError/RangeError naming the field that does not fit. */
  constructor(f: OfflineReadingFields, mac: Uint8Array = new Uint8Array(8)) {
    bytes(f.meterId, 3, 'meterId');
    uint(f.purse, 0xff, 'purse');
    uint(f.sequence, U32_MAX, 'sequence');
    bytes(f.dateTime, 6, 'dateTime');
    uint(f.cumulative, U32_MAX, 'cumulative');
    uint(f.sinceLastCredit, U32_MAX, 'sinceLastCredit');
    uint(f.emergencyUsed, U32_MAX, 'emergencyUsed');
    uint(f.unitCharge, U32_MAX, 'unitCharge');
    uint(f.configVersion, U32_MAX, 'configVersion');
    uint(f.events, U16_MAX, 'events');
    if (f.stepRegisters.length > OFFLINE_MAX_STEPS)
      throw new RangeError(
        `stepRegisters must hold 0..${OFFLINE_MAX_STEPS} steps, got ${f.stepRegisters.length}`,
      );
    if (f.stepPercents.length !== f.stepRegisters.length)
      throw new RangeError('stepPercents must hold as many steps as stepRegisters');
    f.stepRegisters.forEach((v, k) => uint(v, U32_MAX, `stepRegisters[${k}]`));
    f.stepPercents.forEach((v, k) => uint(v, U16_MAX, `stepPercents[${k}]`));
    uint(f.ktVersion, 0xff, 'ktVersion');
    bytes(mac, 8, 'mac');
    this.meterId = Uint8Array.from(f.meterId);
    this.purse = f.purse;
    this.sequence = f.sequence;
    this.dateTime = Uint8Array.from(f.dateTime);
    this.cumulative = f.cumulative;
    this.sinceLastCredit = f.sinceLastCredit;
    this.emergencyUsed = f.emergencyUsed;
    this.unitCharge = f.unitCharge;
    this.configVersion = f.configVersion;
    this.events = f.events;
    this.stepRegisters = [...f.stepRegisters];
    this.stepPercents = [...f.stepPercents];
    this.ktVersion = f.ktVersion;
    this.mac = Uint8Array.from(mac);
  }

  /**
   * Decodes a record read from SFI 04. All zeros decodes to the empty record (`isEmpty`).
   * @throws MalformedDataError (kind 'offline reading') with the offset of the first wrong byte:
   *   length, format 0, sequence 0 at 5, date-time at 9, step count outside 1..16 at 37, a
   *   non-zero register / percent beyond the step count at its offset, RFU at 143.
   */
  static decode(b: Uint8Array): OfflineReading {
    need(b, OfflineReading.LENGTH, 'offline reading');
    const kind = 'offline reading';
    const empty = allZero(b);
    const s = b[37]!;
    if (!empty) {
      if (b[0] !== OFFLINE_FORMAT) throw new MalformedDataError(`format ${b[0]}, expected 01`, 0, b, kind);
      if (u32(b, 5) === 0) throw new MalformedDataError('reading sequence 0', 5, b, kind);
      if (!isBcdDateTime(b.subarray(9, 15))) throw new MalformedDataError('date-time is not BCD', 9, b, kind);
      if (s < 1 || s > OFFLINE_MAX_STEPS)
        throw new MalformedDataError(`step count ${s} is not 1..${OFFLINE_MAX_STEPS}`, 37, b, kind);
      for (let k = s; k < OFFLINE_MAX_STEPS; k++) {
        if (u32(b, 38 + 4 * k) !== 0)
          throw new MalformedDataError(`step register ${k} beyond the step count`, 38 + 4 * k, b, kind);
        if (u16(b, 102 + 2 * k) !== 0)
          throw new MalformedDataError(`step percent ${k} beyond the step count`, 102 + 2 * k, b, kind);
      }
      if (b[143] !== 0) throw new MalformedDataError('RFU byte is not 00', 143, b, kind);
    }
    const regs: number[] = [];
    const pcts: number[] = [];
    for (let k = 0; k < s; k++) {
      regs.push(u32(b, 38 + 4 * k));
      pcts.push(u16(b, 102 + 2 * k));
    }
    return new OfflineReading(
      {
        meterId: b.subarray(1, 4),
        purse: b[4]!,
        sequence: u32(b, 5),
        dateTime: b.subarray(9, 15),
        cumulative: u32(b, 15),
        sinceLastCredit: u32(b, 19),
        emergencyUsed: u32(b, 23),
        unitCharge: u32(b, 27),
        configVersion: u32(b, 31),
        events: u16(b, 35),
        stepRegisters: regs,
        stepPercents: pcts,
        ktVersion: b[134]!,
      },
      b.subarray(135, 143),
    );
  }

  /** True for the never-written or cleared (all zero) record. */
  get isEmpty(): boolean {
    return allZero(this.encode());
  }

  /** Bytes 0..134: what the 'M' MAC signs (SAM SIGN READINGS data after the CSN). */
  signedPart(): Uint8Array {
    const b = new Uint8Array(OfflineReading.SIGNED_LENGTH);
    const empty = this.sequence === 0 && this.stepRegisters.length === 0 && allZero(this.meterId);
    b[0] = empty ? 0 : OFFLINE_FORMAT;
    b.set(this.meterId, 1);
    b[4] = this.purse;
    put32(b, 5, this.sequence);
    b.set(this.dateTime, 9);
    put32(b, 15, this.cumulative);
    put32(b, 19, this.sinceLastCredit);
    put32(b, 23, this.emergencyUsed);
    put32(b, 27, this.unitCharge);
    put32(b, 31, this.configVersion);
    put16(b, 35, this.events);
    b[37] = this.stepRegisters.length;
    this.stepRegisters.forEach((v, k) => put32(b, 38 + 4 * k, v));
    this.stepPercents.forEach((v, k) => put16(b, 102 + 2 * k, v));
    b[134] = this.ktVersion;
    return b;
  }

  encode(): Uint8Array {
    return concatBytes(this.signedPart(), this.mac, Uint8Array.of(0));
  }

  /** The same reading with MAC `mac` (the SAM's SIGN READINGS answer). */
  withMac(mac: Uint8Array): OfflineReading {
    return new OfflineReading(this, mac);
  }

  toJSON(): Record<string, unknown> {
    if (this.isEmpty) return { empty: true };
    return {
      meterId: toHex(this.meterId),
      purse: this.purse,
      sequence: this.sequence,
      dateTime: showDateTime(this.dateTime),
      cumulative: this.cumulative,
      sinceLastCredit: this.sinceLastCredit,
      emergencyUsed: this.emergencyUsed,
      unitCharge: this.unitCharge,
      configVersion: this.configVersion,
      events: this.events,
      steps: this.stepRegisters.map((v, k) => ({ register: v, percent: this.stepPercents[k] })),
      ktVersion: this.ktVersion,
      mac: toHex(this.mac),
    };
  }
}

/**
 * The REMOTE LOAD data utility `f.purse` signs (its server, holding MK_credit[p]):
 * `seq(4) ‖ amount(4) ‖ seller id(4) ‖ date-time(6) ‖ MAC(K_remote[p](CSN), 'R' ...)(8)` — 26 bytes.
 * The utility must sign one message per (CSN, purse, seq) only (its database enforces that).
 * @throws TypeError/RangeError naming a field that does not fit (seq and amount must be > 0).
 */
export function signRemoteLoad(issuer: IssuerKeys, f: RemoteLoadFields): Uint8Array {
  checkRemote(f);
  uint(f.seq, U32_MAX, 'seq', 1);
  uint(f.amount, U32_MAX, 'amount', 1);
  const k = issuer.remoteKey(f.csn, f.purse);
  try {
    const mac = issuer.crypto.mac(k, remoteLoadMacInput(f));
    return concatBytes(be32(f.seq), be32(f.amount), f.sellerId, f.dateTime, mac);
  } finally {
    wipe(k);
  }
}

/**
 * Checks a REMOTE LOAD receipt (answer bytes 7..14) in constant time: true only when the card
 * holding K_remote[p](CSN) confirmed exactly this load (outcome 01 or 02).
 */
export function verifyRemoteReceipt(issuer: IssuerKeys, f: RemoteLoadFields, receipt: Uint8Array): boolean {
  if (!(receipt instanceof Uint8Array) || receipt.length !== 8) return false;
  const k = issuer.remoteKey(f.csn, f.purse);
  try {
    return verifyMac(issuer.crypto.mac(k, remoteReceiptInput(f)), receipt);
  } finally {
    wipe(k);
  }
}

/**
 * Makes an offline configuration for card `csn`: the 36-byte record with the meter MAC
 * (K_offline(meter id, n)) and the card MAC of PUT CONFIG (K_remote[purse](CSN), 'W'). The PUT
 * CONFIG data is `record ‖ cardMac`.
 * @throws RangeError naming a field that does not fit, or when the utility has no KH version n.
 */
export function signOfflineConfig(
  issuer: IssuerKeys,
  csn: Uint8Array,
  fields: OfflineConfigFields,
): { record: Uint8Array; cardMac: Uint8Array } {
  bytes(csn, 8, 'csn');
  uint(fields.purse, 15, 'fields.purse', 1);
  uint(fields.version, U32_MAX, 'fields.version', 1);
  const unsigned = new OfflineConfig(fields);
  const ko = issuer.offlineMeterKey(fields.meterId, fields.purse, fields.ktVersion);
  const kr = issuer.remoteKey(csn, fields.purse);
  try {
    const meterMac = issuer.crypto.mac(ko, offlineConfigMacInput(csn, unsigned.signedPart()));
    const record = unsigned.withMac(meterMac).encode();
    return { record, cardMac: issuer.crypto.mac(kr, configWriteMacInput(csn, record)) };
  } finally {
    wipe(ko, kr);
  }
}

/**
 * The CLEAR READINGS data for the reading whose MAC (SFI 04 bytes 135..142) is `readingMac`:
 * `readingMac(8) ‖ MAC(K_remote[purse](CSN), 'X' ‖ CSN ‖ purse ‖ readingMac)(8)`.
 */
export function signClearReadings(
  issuer: IssuerKeys,
  csn: Uint8Array,
  purse: number,
  readingMac: Uint8Array,
): Uint8Array {
  const input = clearReadingsMacInput(csn, purse, readingMac);
  const k = issuer.remoteKey(csn, purse);
  try {
    return concatBytes(readingMac, issuer.crypto.mac(k, input));
  } finally {
    wipe(k);
  }
}

/**
 * Checks the 'M' MAC of an offline reading found on card `csn` with K_offline of the record's own
 * meter id and KT version, under the keys of the record's purse. False (never a throw) for a
 * record that does not decode, is empty, names a purse or KT version the issuer has no key for,
 * or whose MAC is wrong.
 */
export function verifyOfflineReading(
  issuer: IssuerKeys,
  csn: Uint8Array,
  record: Uint8Array | OfflineReading,
): boolean {
  bytes(csn, 8, 'csn');
  let r: OfflineReading;
  try {
    r = record instanceof OfflineReading ? record : OfflineReading.decode(record);
  } catch (e) {
    if (e instanceof MalformedDataError) return false;
    throw e;
  }
  if (r.isEmpty || !issuer.purses.includes(r.purse)) return false;
  let k: Uint8Array;
  try {
    k = issuer.offlineMeterKey(r.meterId, r.purse, r.ktVersion);
  } catch (e) {
    if (e instanceof RangeError) return false;
    throw e;
  }
  try {
    return verifyMac(issuer.crypto.mac(k, offlineReadingMacInput(csn, r.signedPart())), r.mac);
  } finally {
    wipe(k);
  }
}

/**
 * The layout rules of an offline reading (bytes 0..134 or all 144) that the card (UPDATE RECORD
 * SFI 04) and the SAM (SIGN READINGS) check before writing or signing it: date-time BCD (§1),
 * reading sequence > 0, step count 1..16, and — on the whole record — RFU byte 143 = 00.
 * @throws SwError 6A80 naming the rule broken.
 */
export function checkReadingLayout(r: Uint8Array): void {
  checkDateTime(r.subarray(9, 15));
  if (u32(r, 5) === 0) throw new SwError(SW_WRONG_DATA, 'reading sequence 0');
  const steps = r[37]!;
  if (steps < 1 || steps > OFFLINE_MAX_STEPS) throw new SwError(SW_WRONG_DATA, `step count ${steps}`);
  if (r.length === OfflineReading.LENGTH && r[143] !== 0) throw new SwError(SW_WRONG_DATA, 'RFU byte set');
}
