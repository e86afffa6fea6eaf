/**
 * Configuration at insertion (issue 17): the owning utility writes a configuration for its offline
 * meter onto the card (PUT CONFIG, card SFI 03, one 36-byte record per purse — card/applets/purse/
 * offline.ts draws it); the meter reads it at every insertion and believes it only when its own
 * SAM vouches for the meter MAC (CONFIG CHECK: MAC(K_offline(meter id, n), 'C' ‖ CSN ‖ bytes
 * 0..27)). Nobody but utility u (KH[u][n]) and this meter's SAM can make or check that MAC.
 *
 * ```
 * SELECT (FCI C2: position n of the meter's purse) → READ RECORD n of SFI 03 (00 B2 n 1C 00)
 *   6A82 / 6A83 (card made before issue 17) or all zero   → no config: accepted, unless the meter
 *                                                           requires a binding ('card-not-bound')
 *   does not decode                                      → 'config-not-authentic'
 *   → SAM CONFIG CHECK (80 1C 00 00 2C CSN ‖ config)
 *     meter id ≠ this meter's                            → 'bound-to-another-meter'
 *     any other refusal (6300 MAC, 6A80 purse / format, 6A88 KT version) → 'config-not-authentic'
 *     9000, not newer than the one applied                → ignored (a kept old card changes nothing)
 *     9000, newer (issue time, then version)              → applied: emergency-credit value and unit
 *       charge (Meter.applyOfflineConfig), the utility's blacklist version noted
 * ```
 * Why the meter believes it before the card is authenticated: the meter MAC is utility u's word to
 * this meter about card CSN, whoever carries it — a cloned card can bring only configurations u
 * issued for that CSN, and the version rule below keeps it from bringing back an older one.
 *
 * Why the issue time first and the version second: the card refuses an older PUT CONFIG (9407), but
 * a meter sees many cards — one the subscriber kept from before a price change still carries an
 * authentic old configuration — and the utility numbers versions per card (a replacement card starts
 * again at 1), so a version says nothing across cards. The signed issue time (bytes 9..14) orders
 * them; within one second the higher version (one card's next configuration) wins. Replaying an
 * old configuration, on its own card or on another, changes nothing.
 *
 * What a refusal still does: it moves no value, but a transfer of this very card the SVM keeps
 * pending is recovered (MeterCardSlot) — that only settles what the card already agreed to. The
 * meter remembers having seen a card bound elsewhere / an unauthentic configuration, and says so in
 * the event flags (b4 / b5) of every reading it writes until a configuration is applied after a
 * reading carrying them was written onto a card (the utility's new configuration is its answer). A
 * configuration applied before any reading carried them clears nothing: otherwise the first session
 * after a refused one — which writes no reading — would wipe them with the utility's next price
 * change before they were ever written (red team R1, test/attacks/redteam-offline-config).
 */
import type { CardChannel } from '../../reader/index.js';
import { MalformedDataError } from '../../card/index.js';
import {
  OfflineConfig,
  OFFLINE_EVENT_FOREIGN_CARD,
  OFFLINE_EVENT_UNAUTHENTIC_CONFIG,
} from '../../card/index.js';
import { equalBytes, toHex } from '../../card/index.js';
import { SW_FILE_NOT_FOUND, SW_NO_ERROR, SW_RECORD_NOT_FOUND, SW_WRONG_DATA } from '../../card/index.js';
import { apdus as A, TransferError, type MeterModules } from '../../terminal/index.js';
import { StateReader, type StateObject } from '../../protocol/index.js';
import type { Meter } from '../Meter.js';

/** The event flags an offline meter owes its utility: b0..b3 (the meter's) and b4 / b5. */
const OWED_FLAGS = 0x000f | OFFLINE_EVENT_FOREIGN_CARD | OFFLINE_EVENT_UNAUTHENTIC_CONFIG;

/**
 * What an offline meter keeps of issue 17 in NVM (part of the card slot's `saveState`): the
 * configuration version it applied, the utility's blacklist version that came with it, its
 * reading sequence counter, and the b4 / b5 flags it owes the utility.
 */
export class OfflineMeterState {
  /** Version of the configuration applied; 0 = none. */
  configVersion = 0;
  /**
   * Issue date-time of the configuration applied, its 12 BCD digits read as a decimal number
   * (YYMMDDhhmmss; 0 = none). Versions count per card (the utility numbers them per CSN and
   * purse), so across cards only the signed issue time orders configurations.
   */
  configIssued = 0;
  /** The utility's blacklist version named by the configuration applied; 0 = none. */
  utilityBlacklistVersion = 0;
  /** Sequence of the last readings record signed (0 = none yet); the next one is +1. */
  readingSequence = 0;
  /**
   * OFFLINE_EVENT_FOREIGN_CARD / OFFLINE_EVENT_UNAUTHENTIC_CONFIG owed to the utility, and the meter's
   * own b0..b3 (READING_FLAGS: power failure, reverse flow, tamper, load voltage) — a credit entry
   * clears those in the meter, but the card holds one reading, which the next session overwrites
   * before a carrier may have taken it: owed like b4 / b5 until a configuration answers (red team R3).
   */
  flags = 0;
  /** Which of `flags` a reading written onto a card has carried since they were last raised. */
  flagsReported = 0;

  /** Raises flag `bit` (it must be written in a reading again before a configuration clears it). */
  raise(bit: number): void {
    this.flags |= bit;
    this.flagsReported &= ~bit;
  }

  /** A readings record (SFI 04, 144 bytes) is on the card: the flags it carries count as reported. */
  noteReadingWritten(record: Uint8Array): void {
    const carried = ((record[35]! << 8) | record[36]!) & this.flags;
    if (carried === 0) return;
    this.flagsReported |= carried;
  }

  /** A configuration was applied: the flags a reading written before it carried are answered. */
  answered(): void {
    this.flags &= ~this.flagsReported;
    this.flagsReported = 0;
  }

  /**
   * Takes the next reading sequence number (and keeps it: taken before the SAM signs, so a write
   * cut short leaves a gap, never two different readings under one number).
   * @throws RangeError when the u32 counter is used up (the meter writes no more readings).
   */
  nextSequence(): number {
    if (this.readingSequence >= 0xffffffff)
      throw new RangeError('readingSequence: the u32 counter is used up');
    return ++this.readingSequence;
  }

  saveState(): StateObject {
    return {
      configVersion: this.configVersion,
      configIssued: this.configIssued,
      utilityBlacklistVersion: this.utilityBlacklistVersion,
      readingSequence: this.readingSequence,
      flags: this.flags,
      flagsReported: this.flagsReported,
    };
  }

  /** Loads `saveState()` output; every field is checked before any is set. @throws RangeError naming it. */
  loadState(state: unknown): void {
    const r = new StateReader(state as StateObject, 'state.offline');
    const v = {
      configVersion: r.int('configVersion', 0, 0xffffffff),
      // A state saved before the red-team fix has none: 0 (any issue time is newer).
      configIssued:
        (state as StateObject | null)?.configIssued === undefined
          ? 0
          : r.int('configIssued', 0, 999_999_999_999),
      utilityBlacklistVersion: r.int('utilityBlacklistVersion', 0, 0xffffffff),
      readingSequence: r.int('readingSequence', 0, 0xffffffff),
      flags: r.int('flags', 0, OWED_FLAGS),
      // Absent in a state saved before the red-team fix: nothing reported yet (owed until written).
      flagsReported:
        (state as StateObject | null)?.flagsReported === undefined
          ? 0
          : r.int('flagsReported', 0, OWED_FLAGS),
    };
    Object.assign(this, v);
    this.flagsReported &= this.flags;
  }
}

/** What the configuration on the card means for this meter. */
export type ConfigVerdict =
  /** No record (card made before issue 17, or never written). */
  | { kind: 'none' }
  /** Authentic, but not newer than the version applied: ignored. */
  | { kind: 'current'; version: number }
  /** Authentic and newer: applied now. */
  | { kind: 'applied'; version: number }
  /** Authentic and newer, but the meter cannot use it (unit charge 0): not applied. */
  | { kind: 'rejected'; version: number; reason: string }
  /** The card is bound to another meter. */
  | { kind: 'bound-elsewhere'; meterId: Uint8Array }
  /** The record does not decode or the SAM did not vouch for it. */
  | { kind: 'not-authentic'; reason: string; sw?: number };

/** Reads record `n` of SFI 03; undefined for a card without the file or that record (6A82 / 6A83). */
export async function readCardConfig(card: CardChannel, n: number): Promise<Uint8Array | undefined> {
  const r = await card.transmit(A.readOfflineConfig(n));
  if (r.sw === SW_FILE_NOT_FOUND || r.sw === SW_RECORD_NOT_FOUND) return undefined;
  if (r.sw !== SW_NO_ERROR) throw new TransferError('card READ RECORD (offline config)', r.sw);
  return r.data;
}

/** Where the check runs: the meter, its open modules, the card and what SELECT told. */
export interface ConfigCheckContext {
  meter: Meter;
  modules: MeterModules;
  card: CardChannel;
  csn: Uint8Array;
  /** Record number of the meter's purse: its position in FCI C2, from 1. */
  record: number;
  state: OfflineMeterState;
  /** The meter's own blacklist version (ClearingJournal), for `blacklist-outdated`. */
  blacklistVersion: number;
}

/**
 * Reads the card's configuration for the meter's purse, has the SAM check it, applies a newer one
 * and records the events (`config-applied`, `blacklist-outdated`, `config-rejected`,
 * `config-bound-elsewhere`, `config-not-authentic`). See the file comment.
 * @throws TransferError when the card refuses READ RECORD with another status than 6A82 / 6A83;
 *   CardChannelError when the card or the SAM goes away (nothing was applied then).
 */
export async function checkCardConfig(ctx: ConfigCheckContext): Promise<ConfigVerdict> {
  const { meter, modules: m, state } = ctx;
  const record = (kind: Parameters<Meter['events']['record']>[1], data: number): void => {
    meter.events.record(meter.now, kind, data);
  };
  const notAuthentic = (reason: string, sw?: number): ConfigVerdict => {
    state.raise(OFFLINE_EVENT_UNAUTHENTIC_CONFIG);
    record('config-not-authentic', sw ?? 0);
    return { kind: 'not-authentic', reason, ...(sw !== undefined ? { sw } : {}) };
  };
  const raw = await readCardConfig(ctx.card, ctx.record);
  if (raw === undefined) return { kind: 'none' };
  let cfg: OfflineConfig;
  try {
    cfg = OfflineConfig.decode(raw);
  } catch (e) {
    if (e instanceof MalformedDataError) return notAuthentic(`card configuration malformed: ${e.message}`);
    throw e;
  }
  if (cfg.isEmpty) return { kind: 'none' };
  const ours = equalBytes(cfg.meterId, m.meterId);
  const r = await m.sam.transmit(A.samConfigCheck(ctx.csn, raw));
  // The SAM answers 6A80 for a configuration of another meter (it cannot check that meter's MAC).
  // A SAM that vouched for another meter's record would be broken: refuse all the same.
  if (!ours && (r.sw === SW_WRONG_DATA || r.sw === SW_NO_ERROR)) {
    state.raise(OFFLINE_EVENT_FOREIGN_CARD);
    const id = cfg.meterId;
    record('config-bound-elsewhere', (id[0]! << 16) | (id[1]! << 8) | id[2]!);
    return { kind: 'bound-elsewhere', meterId: cfg.meterId };
  }
  if (r.sw !== SW_NO_ERROR)
    return notAuthentic(
      `the SAM does not vouch for the card's configuration (SW ${r.sw.toString(16)})`,
      r.sw,
    );
  // Newer = a later signed issue time, or the same second and a higher version (one card's next
  // configuration). The version alone is per card: a kept old card's high version must not beat a
  // replacement card's newer configuration (red team R1, test/attacks/redteam-offline-config).
  const issued = issuedNumber(cfg.issued);
  if (issued < state.configIssued || (issued === state.configIssued && cfg.version <= state.configVersion))
    return { kind: 'current', version: cfg.version };
  try {
    meter.applyOfflineConfig({ emergencyCredit: cfg.emergencyLimit, unitCharge: cfg.unitCharge });
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    record('config-rejected', cfg.version);
    return { kind: 'rejected', version: cfg.version, reason: e.message };
  }
  state.configVersion = cfg.version;
  state.configIssued = issued;
  state.utilityBlacklistVersion = cfg.blacklistVersion;
  state.answered(); // the flags a reading already carried to the utility
  record('config-applied', cfg.version);
  if (ctx.blacklistVersion < cfg.blacklistVersion) record('blacklist-outdated', cfg.blacklistVersion);
  return { kind: 'applied', version: cfg.version };
}

/** BCD YYMMDDhhmmss (checked by OfflineConfig.decode) as the decimal number of its 12 digits. */
function issuedNumber(bcd: Uint8Array): number {
  return Number.parseInt(toHex(bcd), 10);
}

/** "card bound to meter 000124" — for a refusal's message. */
export function describeVerdict(v: ConfigVerdict): string {
  switch (v.kind) {
    case 'none':
      return 'the card carries no configuration for this meter';
    case 'current':
      return `configuration version ${v.version} already applied`;
    case 'applied':
      return `configuration version ${v.version} applied`;
    case 'rejected':
      return `configuration version ${v.version} not applied: ${v.reason}`;
    case 'bound-elsewhere':
      return `the card is bound to meter ${toHex(v.meterId)}`;
    case 'not-authentic':
      return v.reason;
  }
}
