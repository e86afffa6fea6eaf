/**
 * Power-line link frames between the host side (AS → LS) and a meter modem (seed 000 Fig. 6:
 * an AS manages up to 256 LS, an LS talks to up to 256 meters over the power line).
 *
 * ```
 *  off size field
 *   0   2   magic 4D 50 ("MP")
 *   2   1   version 01
 *   3   1   flags: bit 0 = response (meter → LS)
 *   4   2   AS id u16
 *   6   1   LS id 0..255
 *   7   1   modem id − 1 (modem ids 1..256)
 *   8   3   meter id (3 bytes)
 *  11   2   sequence number u16 (an answer carries the request's)
 *  13   2   payload length L u16 (≤ 9000)
 *  15   L   payload: one protocol message (docs/host-protocol.md)
 * 15+L  2   CRC-16/IBM-3740 over bytes 0 .. 14+L
 * ```
 */
import { MalformedDataError } from '../card/index.js';
import { concatBytes } from '../card/index.js';
import { be16, put16, u16 } from '../card/index.js';
import { crc16 } from './crc16.js';

export const FRAME_HEADER = 15;
export const FRAME_MAX_PAYLOAD = 9000;
export const FRAME_VERSION = 1;

export type FrameErrorCode = 'truncated' | 'bad-magic' | 'bad-version' | 'bad-length' | 'checksum';

/** A frame that cannot be accepted; carries the offset and a code. */
export class FrameError extends MalformedDataError {
  constructor(
    readonly code: FrameErrorCode,
    reason: string,
    offset: number,
    raw: Uint8Array,
  ) {
    super(`${code}: ${reason}`, offset, raw, 'frame');
  }
}

export interface FrameAddress {
  readonly as: number;
  readonly ls: number;
  /** 1..256 */
  readonly modem: number;
  readonly meterId: Uint8Array;
}

export interface Frame extends FrameAddress {
  readonly response: boolean;
  readonly seq: number;
  readonly payload: Uint8Array;
}

/** @throws RangeError naming the field out of range. */
export function encodeFrame(f: Frame): Uint8Array {
  const int = (v: number, lo: number, hi: number, n: string) => {
    if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`${n} must be ${lo}..${hi}, got ${v}`);
  };
  int(f.as, 0, 0xffff, 'as');
  int(f.ls, 0, 255, 'ls');
  int(f.modem, 1, 256, 'modem');
  int(f.seq, 0, 0xffff, 'seq');
  if (f.meterId.length !== 3) throw new RangeError('meterId must be 3 bytes');
  if (f.payload.length > FRAME_MAX_PAYLOAD) throw new RangeError(`payload over ${FRAME_MAX_PAYLOAD} bytes`);
  const head = Uint8Array.of(
    0x4d,
    0x50,
    FRAME_VERSION,
    f.response ? 1 : 0,
    ...be16(f.as),
    f.ls,
    f.modem - 1,
    f.meterId[0]!,
    f.meterId[1]!,
    f.meterId[2]!,
    ...be16(f.seq),
    ...be16(f.payload.length),
  );
  const body = concatBytes(head, f.payload, new Uint8Array(2));
  const c = crc16(body, 0, body.length - 2);
  put16(body, body.length - 2, c);
  return body;
}

/** @throws FrameError with the offset and code of the fault. */
export function decodeFrame(b: Uint8Array): Frame {
  if (!(b instanceof Uint8Array)) throw new TypeError('frame must be a Uint8Array');
  if (b.length < FRAME_HEADER + 2)
    throw new FrameError('truncated', `${b.length} bytes < ${FRAME_HEADER + 2}`, b.length, b);
  if (b[0] !== 0x4d || b[1] !== 0x50) throw new FrameError('bad-magic', 'magic is not 4D50', 0, b);
  if (b[2] !== FRAME_VERSION) throw new FrameError('bad-version', `version ${b[2]}`, 2, b);
  const len = u16(b, 13);
  if (len > FRAME_MAX_PAYLOAD) throw new FrameError('bad-length', `payload length ${len}`, 13, b);
  if (b.length !== FRAME_HEADER + len + 2)
    throw new FrameError(
      b.length < FRAME_HEADER + len + 2 ? 'truncated' : 'bad-length',
      `length field ${len} but ${b.length - FRAME_HEADER - 2} payload bytes`,
      13,
      b,
    );
  const c = crc16(b, 0, b.length - 2);
  if (c !== u16(b, b.length - 2))
    throw new FrameError('checksum', `CRC ${c.toString(16)} does not match`, b.length - 2, b);
  return {
    response: (b[3]! & 1) === 1,
    as: u16(b, 4),
    ls: b[6]!,
    modem: b[7]! + 1,
    meterId: b.slice(8, 11),
    seq: u16(b, 11),
    payload: b.slice(15, 15 + len),
  };
}
