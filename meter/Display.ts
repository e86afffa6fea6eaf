import { formatMoney } from '../protocol/index.js';

/** The supply state shown to the user. */
export type SupplyState =
  'on' | 'low-credit' | 'emergency-credit' | 'friendly-credit' | 'off-credit' | 'power-off';

/**
 * What the meter's LCD shows (seed 000 Fig. 5 item 17: "the balance of the credit value, a
 * transmission state, a real time electric power consumption situation, and an accumulative
 * electric power consumption situation").
 */
export interface DisplayModel {
  /** Meter identity, 6 hex digits. */
  readonly meterId: string;
  readonly commodity: 'electricity' | 'gas' | 'water' | 'heat' | 'hot water';
  readonly time: string;
  /** Credit units: register balance last read + tank + token − debts (negative when in debt). */
  readonly balance: number;
  /** ISO 4217 numeric code of the credit's minor units (978: euro cents). */
  readonly currency: number;
  /** Units already in the meter (token + tank). */
  readonly inMeter: number;
  /** Units owed: friendly-hours debt + used emergency credit. */
  readonly debt: number;
  readonly state: SupplyState;
  /** "relay closed", "valve CLOSED"… */
  readonly supply: string;
  /** W for electricity and heat; L/h for gas and water. */
  readonly instantaneous: number;
  /** mWh or mL since commissioning. */
  readonly cumulative: number;
  /** Percent of the unit charge in force. */
  readonly ratePercent: number;
  readonly transfer: 'idle' | 'card' | 'host' | 'done' | 'failed';
  readonly alarms: readonly string[];
}

const STATE_TEXT: Record<SupplyState, string> = {
  on: 'ON',
  'low-credit': 'LOW CREDIT',
  'emergency-credit': 'EMERGENCY CREDIT',
  'friendly-credit': 'FRIENDLY CREDIT',
  'off-credit': 'OFF - NO CREDIT',
  'power-off': 'NO MAINS',
};

/** Fixed-point text of an integer in thousandths: 12345 → "12.345". */
function milli(v: number): string {
  const sign = v < 0 ? '-' : '';
  const a = Math.abs(v);
  return `${sign}${Math.floor(a / 1000)}.${String(a % 1000).padStart(3, '0')}`;
}

/**
 * Renders the display as lines of text (a 20-column LCD, one field per line). Credit is shown
 * in its currency (`formatMoney`: "1.49 EUR"); quantities in kWh or m³ with three decimals,
 * truncated, as a register is read: the display never shows more than was metered.
 */
export function renderDisplay(d: DisplayModel): string {
  const electric = d.commodity === 'electricity' || d.commodity === 'heat';
  const unit = electric ? 'kWh' : 'm3';
  // mWh → Wh or mL → L, then shown in thousandths: kWh or m³ with three decimals.
  const cumulative = milli(Math.floor(d.cumulative / 1000));
  const lines = [
    `METER ${d.meterId} ${d.commodity.toUpperCase()}`,
    d.time,
    `CREDIT ${formatMoney(d.balance, d.currency)}${d.debt > 0 ? `  OWED ${formatMoney(d.debt, d.currency)}` : ''}`,
    `STATE ${STATE_TEXT[d.state]}  (${d.supply})`,
    electric
      ? `POWER ${d.instantaneous} W  RATE ${d.ratePercent}%`
      : `FLOW ${d.instantaneous} L/h  RATE ${d.ratePercent}%`,
    `TOTAL ${cumulative} ${unit}`,
    `TRANSFER ${d.transfer.toUpperCase()}`,
  ];
  if (d.alarms.length) lines.push(`ALARM ${d.alarms.join(' ')}`);
  return lines.join('\n') + '\n';
}
