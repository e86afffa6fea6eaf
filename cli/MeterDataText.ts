/**
 * The meter data a meter writes onto the subscriber card (seed 002), as a vending point reads it
 * out to a person: one text for `card show` and the demo. The record is the plain view of
 * card/applets/inspect.ts (`SubscriberView.meterData`); amounts are in the purse's minor units,
 * quantities in Wh (electricity, heat) or litres (gas, water, hot water).
 */
import { formatMoney } from '../protocol/index.js';

/** Purses whose meters count litres; the others count Wh. */
const VOLUME_PURSES: ReadonlySet<number> = new Set([2, 3, 5]);

/**
 * Lines describing one meter-data record, the first one unindented.
 * @param unit ISO 4217 numeric code of the purse's minor units (its `unit` field).
 */
export function describeMeterData(md: Record<string, unknown>, unit: number): string[] {
  const q = VOLUME_PURSES.has(md.purse as number) ? 'm³' : 'kWh';
  // Wh → kWh or L → m³: integers in thousandths, so three decimals are exact.
  const k = (v: number) => (v / 1000).toFixed(3);
  const money = (v: number) => formatMoney(v, unit);
  const regs = (md.tariffRegisters as number[]).map(k).join(' / ');
  const last = md.lastTransfer as { kind: number; ref: string };
  const lastText =
    last.kind === 1
      ? `card ${last.ref.slice(0, 16)} counter ${parseInt(last.ref.slice(16), 16)}`
      : last.kind === 2
        ? `host value store tx ${BigInt(`0x${last.ref.slice(0, 16)}`)}`
        : 'none';
  const flags = Object.entries(md.events as Record<string, boolean>)
    .filter(([, v]) => v)
    .map(([name]) => name);
  return [
    `meter data on the card, written by meter ${String(md.meterId)} at ${String(md.dateTime)}:`,
    `  cumulative ${k(md.cumulative as number)} ${q}; per tariff register ${regs} ${q}`,
    `  since the last credit ${k(md.sinceLastCredit as number)} ${q}; last credit: ${lastText}`,
    `  emergency credit ${money(md.emergencyLimit as number)}, used ${money(md.emergencyUsed as number)}; prices ${(md.tariffPrices as number[]).map(money).join(' / ')} per ${q}; flags ${flags.length ? flags.join(', ') : 'none'}`,
  ];
}
