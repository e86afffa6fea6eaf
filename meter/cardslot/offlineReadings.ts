/**
 * Readings onto the card, every tariff step kept (issue 17): the offline meter writes a 144-byte
 * record into the card's SFI 04 (record n = its purse's position in FCI C2), signed by its SAM
 * (SIGN READINGS: MAC(K_offline(meter id, n), 'M' ‖ CSN ‖ bytes 0..134)); a vending point or the
 * electricity meter carries it to the owning utility, which verifies it with its KH[n] and clears
 * it on the card. Layout: card/applets/purse/offline.ts (OfflineReading).
 *
 * What goes in, from the meter core's readings (Meter.readings(): quantities in Wh, or L):
 * ```
 * cumulative           total metered since commissioning (Wh; gas, water, hot water: L)
 * since last credit    Σ over the steps of the quantity since the last credit entry
 * emergency used       emergency credit granted and not yet repaid (TokenExchanger.emergencyOwed)
 * unit charge          of the tariff table in force
 * config version       the configuration applied (offlineConfig.ts), 0 = none
 * event flags          b0..b3 = the meter's indicator flags (power failure, reverse flow, cover
 *                      open, load voltage with the supply cut — READING_FLAGS bits 0..3 are exactly
 *                      these) since the last credit entry, and b0..b5 owed in OfflineMeterState:
 *                      until a configuration is applied after a reading carried them (a credit
 *                      entry alone does not answer them: red team R3)
 * steps                every step of the table in force, each with its own cumulative register and
 *                      its percent — no folding (the SFI 02 meter data folds steps 3.. into one
 *                      register, docs/purse-spec.md §3.1; this record is the one that does not)
 * sequence             the meter's own counter, +1 per record signed (persisted)
 * KT version n         the SAM's current KT version: the highest it holds (SAM FCI C6)
 * ```
 * Quantities saturate at 2^32 - 1 (a u32 field never wraps to a small, plausible number).
 */
import { OfflineReading } from '../../card/index.js';
import { OFFLINE_EVENT_FOREIGN_CARD, OFFLINE_EVENT_UNAUTHENTIC_CONFIG } from '../../card/index.js';
import { TransferError, type MeterModules } from '../../terminal/index.js';
import type { Meter } from '../Meter.js';
import type { OfflineMeterState } from './offlineConfig.js';

const U32 = 0xffffffff;
const sat = (v: number): number => Math.max(0, Math.min(U32, Math.floor(v)));
/** Bits of the meter's indicator flags (READING_FLAGS) the record carries as b0..b3. */
export const METER_FLAG_BITS = 0x000f;

/**
 * The SAM's current KT version: the highest version its FCI (tag C6) names, as read when the
 * modules were opened (MeterModules.ktVersions).
 * @throws TransferError when the SAM's FCI names no KT version.
 */
export async function samKtVersion(m: MeterModules): Promise<number> {
  if (m.ktVersions.length === 0)
    throw new TransferError('SELECT SAM', undefined, 'FCI names no KT version (C6)');
  return Math.max(...m.ktVersions);
}

/** What the reading needs besides the meter core. */
export interface ReadingContext {
  purse: number;
  /** The reading sequence (OfflineMeterState.nextSequence()). */
  sequence: number;
  state: Pick<OfflineMeterState, 'configVersion' | 'flags'>;
  ktVersion: number;
}

/**
 * The readings record of `meter` now, unsigned (MAC zero): bytes 0..134 are what the SAM signs.
 * @throws RangeError when a field does not fit (a purse or sequence out of range).
 */
export function offlineReading(meter: Meter, ctx: ReadingContext): OfflineReading {
  const r = meter.readings();
  let since = 0;
  for (const s of r.steps) since += s.sinceCredit;
  return new OfflineReading({
    meterId: r.meterId,
    purse: ctx.purse,
    sequence: ctx.sequence,
    dateTime: r.time.encodeBcd(),
    cumulative: sat(r.total),
    sinceLastCredit: sat(since),
    emergencyUsed: sat(meter.exchanger.emergencyOwed),
    unitCharge: sat(r.unitCharge),
    configVersion: ctx.state.configVersion,
    events:
      (r.flags & METER_FLAG_BITS) |
      (ctx.state.flags & (METER_FLAG_BITS | OFFLINE_EVENT_FOREIGN_CARD | OFFLINE_EVENT_UNAUTHENTIC_CONFIG)),
    stepRegisters: r.steps.map((s) => sat(s.total)),
    stepPercents: r.steps.map((s) => s.percent),
    ktVersion: ctx.ktVersion,
  });
}
