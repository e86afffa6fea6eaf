import { MalformedDataError } from '../../card/iso7816/errors.js';
import { RtcTime } from '../tariff/RtcTime.js';
import { TariffTable } from '../tariff/TariffTable.js';

export const COMMISSIONING_FORMAT_VERSION = 1;
const HEADER = 22;
/** Largest payload a commissioning card holds (one record of the card runtime). */
export const COMMISSIONING_MAX_BYTES = 255;

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
 *  0    1    format version = 0x01
 *  1    3    meter identity (must be the meter's SAM's)
 *  4    4    reference code of the commissioning transaction
 *  8    4    emergency credit value, units
 * 12    4    initial test credit, units (into the token tank, not the SVM)
 * 16    6    RTC BCD YYMMDDhhmmss to set, or six 00 bytes = keep the meter's clock
 * 22    n    tariff table, binary form (docs/meter.md), to the end; total ≤ 255 bytes
 * ```
 */
export class CommissioningData {
  readonly meterId: Uint8Array;

  /** @throws RangeError / TypeError naming a bad field. */
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
    this.meterId = Uint8Array.from(meterId);
  }

  /** @throws RangeError when the whole payload would pass 255 bytes. */
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
   *   that breaks a rule.
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
