import { MalformedDataError } from '../../card/index.js';
import { COMMISSIONING_MAX_PAYLOAD } from '../../card/index.js';
import { CommissioningError } from '../errors.js';
import { RtcTime } from '../../protocol/index.js';
import { TariffTable } from '../../protocol/index.js';

export const COMMISSIONING_FORMAT_VERSION = 1;
const HEADER = 22;
/**
 * Largest payload a commissioning card holds: 247 bytes, so that payload ‖ MAC (8) fits one short
 * APDU both from the card and into the SAM's COMMISSION CHECK.
 */
export const COMMISSIONING_MAX_BYTES = COMMISSIONING_MAX_PAYLOAD;
/**
 * Ceiling of the initial test credit: 10 000 units. The test credit only has to show that the
 * register, the display and the relay work; real value only ever comes from a card purse or the
 * host through the SVM. Checked when a payload is made, when one is decoded, and again by
 * `Meter.commission`, each time before anything changes.
 */
export const MAX_INITIAL_CREDIT = 10_000;
/** Ceiling of the emergency-credit value a commissioning card may set: 10 000 units. */
export const MAX_EMERGENCY_CREDIT = 10_000;

/**
 * @throws CommissioningError ('credit-above-ceiling') when a credit passes its ceiling.
 */
export function checkCommissioningCredit(initialCredit: number, emergencyCredit: number): void {
  if (initialCredit > MAX_INITIAL_CREDIT)
    throw new CommissioningError(
      'credit-above-ceiling',
      `initial credit ${initialCredit} is above the ceiling of ${MAX_INITIAL_CREDIT} units`,
    );
  if (emergencyCredit > MAX_EMERGENCY_CREDIT)
    throw new CommissioningError(
      'credit-above-ceiling',
      `emergency credit ${emergencyCredit} is above the ceiling of ${MAX_EMERGENCY_CREDIT} units`,
    );
}

/**
 * What the commissioning card of seed 002 tells a meter: "zero all registers, enter meter identity,
 * enter reference code for transaction, enter number of different tariffs, enter price per
 * kilowatt hour for each tariff, enter emergency credit value, enter initial credit to permit
 * checking operation of equipment". The number of tariffs and their prices are the tariff table
 * (its steps are the tariffs; unit charge × step percent is each price). Immutable.
 *
 * Binary form (big-endian), the payload of the card's commissioning application:
 * ```
 * off  size  field
 *  0    1    format version = 0x01 (0xDC is a DecommissioningData payload instead)
 *  1    3    meter identity (must be the meter's SAM's)
 *  4    4    reference code of the commissioning transaction
 *  8    4    emergency credit value, units, ≤ MAX_EMERGENCY_CREDIT (10 000)
 * 12    4    initial test credit, units (into the token tank, not the SVM), ≤ MAX_INITIAL_CREDIT
 *            (10 000)
 * 16    6    RTC BCD YYMMDDhhmmss to set, or six 00 bytes = keep the meter's clock
 * 22    n    tariff table, binary form (docs/meter.md), to the end; total ≤ 247 bytes
 * ```
 * The card sends it followed by MAC(SK_comm, 'M' ‖ meter id ‖ payload), which the meter's SAM
 * checks (COMMISSION CHECK) before the meter decodes a byte of it.
 */
export class CommissioningData {
  readonly meterId: Uint8Array;

  /**
   * @throws RangeError / TypeError naming a bad field; CommissioningError ('credit-above-ceiling')
   *   for an initial or emergency credit above its ceiling.
   */
  constructor(
    meterId: Uint8Array,
    readonly reference: number,
    readonly emergencyCredit: number,
    readonly initialCredit: number,
    readonly tariff: TariffTable,
    readonly time?: RtcTime,
  ) {
    if (!(meterId instanceof Uint8Array) || meterId.length !== 3)
      throw new TypeError('meterId must be a Uint8Array of 3 bytes');
    for (const [v, n] of [
      [reference, 'reference'],
      [emergencyCredit, 'emergencyCredit'],
      [initialCredit, 'initialCredit'],
    ] as const)
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
        throw new RangeError(`${n} must be a u32, got ${v}`);
    if (!(tariff instanceof TariffTable)) throw new TypeError('tariff must be a TariffTable');
    checkCommissioningCredit(initialCredit, emergencyCredit);
    this.meterId = Uint8Array.from(meterId);
  }

  /** @throws RangeError when the whole payload would pass 247 bytes. */
  encode(): Uint8Array {
    const t = this.tariff.encode();
    if (HEADER + t.length > COMMISSIONING_MAX_BYTES)
      throw new RangeError(
        `commissioning payload is ${HEADER + t.length} bytes, more than ${COMMISSIONING_MAX_BYTES}: use a smaller tariff table`,
      );
    const b = new Uint8Array(HEADER + t.length);
    const dv = new DataView(b.buffer);
    b[0] = COMMISSIONING_FORMAT_VERSION;
    b.set(this.meterId, 1);
    dv.setUint32(4, this.reference);
    dv.setUint32(8, this.emergencyCredit);
    dv.setUint32(12, this.initialCredit);
    if (this.time) b.set(this.time.encodeBcd(), 16);
    b.set(t, HEADER);
    return b;
  }

  /**
   * @throws MalformedDataError (kind 'commissioning', offset from the start of the payload) for a
   *   short payload, an unknown version, a bad clock or a bad table; TariffTableError for a table
   *   that breaks a rule; CommissioningError ('credit-above-ceiling') for a credit above its ceiling.
   */
  static decode(b: Uint8Array): CommissioningData {
    if (!(b instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
    if (b.length < HEADER + 1)
      throw new MalformedDataError(
        `commissioning payload is ${b.length} bytes, need at least ${HEADER + 1}`,
        b.length,
        b,
        'commissioning',
      );
    if (b[0] !== COMMISSIONING_FORMAT_VERSION)
      throw new MalformedDataError(`unknown commissioning format version ${b[0]}`, 0, b, 'commissioning');
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    let time: RtcTime | undefined;
    if (b.subarray(16, 22).some((x) => x !== 0)) {
      try {
        time = RtcTime.decodeBcd(b, 16);
      } catch (e) {
        throw new MalformedDataError(
          `clock: ${e instanceof Error ? e.message : String(e)}`,
          e instanceof MalformedDataError ? e.offset : 16,
          b,
          'commissioning',
        );
      }
    }
    let tariff: TariffTable;
    try {
      tariff = TariffTable.decode(b.subarray(HEADER));
    } catch (e) {
      if (e instanceof MalformedDataError)
        throw new MalformedDataError(`tariff: ${e.reason}`, HEADER + e.offset, b, 'commissioning');
      throw e;
    }
    return new CommissioningData(
      b.slice(1, 4),
      dv.getUint32(4),
      dv.getUint32(8),
      dv.getUint32(12),
      tariff,
      time,
    );
  }
}
