/**
 * Money for humans. Every amount in the system is an integer of minor units of a currency named
 * by its ISO 4217 numeric code (a purse record's `unit` field, docs/purse-spec.md; the meter's
 * tariff and credit are in minor units too). Arithmetic never leaves integers; this is the one
 * place where an amount becomes text, at the edge (command line, meter display, demo).
 *
 *   formatMoney(4995, 978)  → "49.95 EUR"
 *   formatMoney(-9490, 978) → "-94.90 EUR"
 *   formatMoney(500, 392)   → "500 JPY"          (the yen has no minor unit)
 *   formatMoney(4995, 999)  → "4995 (unit 999)"  (a code this table does not know: shown as stored)
 */

/** ISO 4217 numeric code of the euro; the demo issuer's purses hold euro cents. */
export const CURRENCY_EUR = 978;

/** The ISO 4217 currencies shown by name: numeric code → [alphabetic code, minor-unit digits]. */
const ISO_4217: ReadonlyMap<number, readonly [string, number]> = new Map([
  [36, ['AUD', 2]],
  [124, ['CAD', 2]],
  [156, ['CNY', 2]],
  [203, ['CZK', 2]],
  [208, ['DKK', 2]],
  [348, ['HUF', 2]],
  [356, ['INR', 2]],
  [392, ['JPY', 0]],
  [410, ['KRW', 0]],
  [554, ['NZD', 2]],
  [578, ['NOK', 2]],
  [643, ['RUB', 2]],
  [710, ['ZAR', 2]],
  [752, ['SEK', 2]],
  [756, ['CHF', 2]],
  [826, ['GBP', 2]],
  [840, ['USD', 2]],
  [949, ['TRY', 2]],
  [978, ['EUR', 2]],
  [985, ['PLN', 2]],
  [986, ['BRL', 2]],
]);

/** The alphabetic code of an ISO 4217 numeric code this table knows ("EUR" for 978), else undefined. */
export function currencyCode(unit: number): string | undefined {
  return ISO_4217.get(unit)?.[0];
}

/**
 * An integer amount of minor units as text: major units with the currency's decimals and its
 * alphabetic code; an unknown code as the integer and the code (`4995 (unit 999)`), since guessing
 * the decimals would misstate the amount.
 * @throws TypeError when `amount` or `unit` is not a safe integer.
 */
export function formatMoney(amount: number, unit: number): string {
  if (!Number.isSafeInteger(amount)) throw new TypeError(`amount must be a safe integer, got ${amount}`);
  if (!Number.isSafeInteger(unit)) throw new TypeError(`unit must be a safe integer, got ${unit}`);
  const known = ISO_4217.get(unit);
  if (!known) return `${amount} (unit ${unit})`;
  const [code, digits] = known;
  const sign = amount < 0 ? '-' : '';
  const a = Math.abs(amount);
  if (digits === 0) return `${sign}${a} ${code}`;
  const scale = 10 ** digits;
  return `${sign}${Math.floor(a / scale)}.${String(a % scale).padStart(digits, '0')} ${code}`;
}
