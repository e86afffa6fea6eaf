/**
 * The meter's side of the framed power-line link: a modem at its address (AS, LS, modem number,
 * meter id) answering, behind it, with a {@link MessageEndpoint} — the meter's own modem
 * (meter/modem/MeterModem.ts) or a test double. Every modem of a segment hears every frame; it
 * answers only a request addressed to it, with a response frame of the same sequence number.
 *
 * ```
 *  heard:    4D50 ver flags=00 AS LS modem-1 ID seq len  message  CRC     (request for this modem)
 *  answers:  4D50 ver flags=01 AS LS modem-1 ID seq len  answer   CRC     (same address, same seq)
 * ```
 */
import { equalBytes } from '../card/index.js';
import { encodeFrame, type Frame, type FrameAddress } from './Frame.js';
import type { MessageEndpoint } from './Terminal.js';

export class FramedModem {
  readonly address: FrameAddress;

  constructor(
    address: FrameAddress,
    readonly endpoint: MessageEndpoint,
  ) {
    this.address = { ...address, meterId: Uint8Array.from(address.meterId) };
  }

  /** Whether `frame` is a request addressed to this modem. */
  accepts(frame: Frame): boolean {
    const a = this.address;
    return (
      !frame.response &&
      frame.as === a.as &&
      frame.ls === a.ls &&
      frame.modem === a.modem &&
      equalBytes(frame.meterId, a.meterId)
    );
  }

  /**
   * A frame heard on the line (already CRC-checked by `decodeFrame`).
   * @returns the encoded response frame, or undefined when the frame is not a request for this modem.
   */
  async receive(frame: Frame): Promise<Uint8Array | undefined> {
    if (!this.accepts(frame)) return undefined;
    const answer = await this.endpoint.handle(frame.payload);
    return encodeFrame({ ...frame, response: true, payload: answer });
  }
}
