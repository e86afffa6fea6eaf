/**
 * The meter data record a meter writes onto the subscriber card (docs/purse-spec.md §3.1, seed
 * 002), built from the meter core's readings.
 *
 * Folding the meter's 1…16 rate steps into the record's four tariff registers and prices:
 * registers 1–3 are steps 0–2, register 4 is the sum of steps 3 and above (so the four always add
 * up to the cumulative total, up to the Wh truncation of each step); the price of register k is
 * unit charge × percent of step k / 100 (floor), 0 for a step the table does not have (register 4
 * shows step 3's price).
 */
import { MeterData } from '../../card/index.js';
import type { Meter } from '../Meter.js';

const U32 = 0xffffffff;
const sat = (v: number): number => Math.max(0, Math.min(U32, Math.floor(v)));

/** Last credit transaction reference of the record: kind 01 card (CSN ‖ counter), 02 host (tx id ‖ 00 00). */
export interface TransferReference {
  kind: 0 | 1 | 2;
  /** 10 bytes. */
  ref: Uint8Array;
}

export const NO_REFERENCE: TransferReference = { kind: 0, ref: new Uint8Array(10) };

/** The card's purse id for a commodity (purse-spec §3.1; hot water 05, issue 17). */
export function purseOf(commodity: Meter['commodity']): number {
  return { electricity: 1, gas: 2, water: 3, heat: 4, 'hot water': 5 }[commodity];
}

/**
 * @param meter the meter (its readings are taken now)
 * @param last  the reference of the last credit transaction entered
 */
export function cardMeterData(meter: Meter, last: TransferReference): MeterData {
  const r = meter.readings();
  const regs = [0, 0, 0, 0];
  const prices = [0, 0, 0, 0];
  let since = 0;
  r.steps.forEach((s, k) => {
    regs[Math.min(k, 3)]! += s.total;
    since += s.sinceCredit;
    if (k < 4) prices[k] = sat((r.unitCharge * s.percent) / 100);
  });
  const ex = meter.exchanger;
  return new MeterData({
    meterId: r.meterId,
    purse: purseOf(meter.commodity),
    dateTime: r.time.encodeBcd(),
    cumulative: sat(r.total),
    tariffRegisters: regs.map(sat) as [number, number, number, number],
    sinceLastCredit: sat(since),
    lastTransferKind: last.kind,
    lastTransferRef: last.ref,
    emergencyLimit: sat(ex.emergencyCredit),
    emergencyUsed: sat(ex.emergencyOwed),
    tariffPrices: prices as [number, number, number, number],
    events: r.flags & 0xffff,
  });
}
