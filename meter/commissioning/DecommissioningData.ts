import { MalformedDataError } from '../../card/index.js';
import { PAYLOAD_DECOMMISSION } from '../../card/index.js';
import { COMMISSIONING_FORMAT_VERSION, CommissioningData } from './CommissioningData.js';

const SIZE = 8;

/**
 * What a decommissioning card tells a meter: "this meter (identity) leaves service under this
 * reference; the next commissioning card may set it up again". A commissioned meter refuses every
 * commissioning payload (`already-commissioned`) until one of these — carried by a commissioning
 * card of the meter's utility, MAC'd in the authenticated session and vouched for by the meter's
 * SAM exactly like a commissioning payload — has been applied (`Meter.decommission`). Immutable.
 *
 * Binary form (big-endian), 8 bytes:
 * ```
 * off  size  field
 *  0    1    payload type = 0xDC (decommission, format 1)
 *  1    3    meter identity (must be the meter's SAM's; the card checks it like a commissioning one)
 *  4    4    reference code of the decommissioning transaction (the `decommissioned` event's datum)
 * ```
 */
export class DecommissioningData {
  readonly meterId: Uint8Array;

  /** @throws TypeError / RangeError naming a bad field. */
  constructor(
    meterId: Uint8Array,
    readonly reference: number,
  ) {
    if (!(meterId instanceof Uint8Array) || meterId.length !== 3)
      throw new TypeError('meterId must be a Uint8Array of 3 bytes');
    if (!Number.isInteger(reference) || reference < 0 || reference > 0xffffffff)
      throw new RangeError(`reference must be a u32, got ${reference}`);
    this.meterId = Uint8Array.from(meterId);
  }

  encode(): Uint8Array {
    const b = new Uint8Array(SIZE);
    b[0] = PAYLOAD_DECOMMISSION;
    b.set(this.meterId, 1);
    new DataView(b.buffer).setUint32(4, this.reference);
    return b;
  }

  /**
   * @throws MalformedDataError (kind 'commissioning') unless `b` is 8 bytes starting with 0xDC.
   */
  static decode(b: Uint8Array): DecommissioningData {
    if (!(b instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
    if (b[0] !== PAYLOAD_DECOMMISSION)
      throw new MalformedDataError(`not a decommissioning payload (type ${b[0]})`, 0, b, 'commissioning');
    if (b.length !== SIZE)
      throw new MalformedDataError(
        `decommissioning payload is ${b.length} bytes, must be ${SIZE}`,
        Math.min(b.length, SIZE),
        b,
        'commissioning',
      );
    return new DecommissioningData(b.slice(1, 4), new DataView(b.buffer, b.byteOffset, SIZE).getUint32(4));
  }
}

/**
 * Decodes a commissioning card's payload by its first byte: 0x01 CommissioningData, 0xDC
 * DecommissioningData.
 * @throws as CommissioningData.decode / DecommissioningData.decode.
 */
export function decodeCommissioningPayload(b: Uint8Array): CommissioningData | DecommissioningData {
  if (!(b instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
  if (b[0] === PAYLOAD_DECOMMISSION) return DecommissioningData.decode(b);
  if (b[0] !== COMMISSIONING_FORMAT_VERSION && b.length > 0)
    throw new MalformedDataError(`unknown commissioning payload type ${b[0]}`, 0, b, 'commissioning');
  return CommissioningData.decode(b);
}
