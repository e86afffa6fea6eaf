/**
 * Codecs of the messages the host and a meter terminal exchange over the power-line link
 * (seed 000 Figs. 1–3, STEPs 10–16 / 20–26 / 30–36). One message is the payload of one link frame.
 *
 * ```
 *  INIT request      10 ‖ R1(8) ‖ R2(8) ‖ n(1)                           18 bytes   STEP 10
 *  INIT response     11 ‖ S1t(8) ‖ R3(8)                                 17 bytes   STEP 12
 *  COMMAND request   20 ‖ H(1) ‖ Lp(2) ‖ payload(Lp) ‖ S2h(8)            12+Lp      STEP 14
 *  COMMAND response  21 ‖ M                        (M: 8..8192, multiple of 8)      STEP 16
 *  REFUSAL           7F ‖ reason(1)                                       2 bytes
 * ```
 * Integers are big-endian. Parsers throw only MalformedDataError (kind 'host-protocol') with the
 * offset of the fault; encoders throw RangeError naming the field.
 */
import { MalformedDataError } from '../card/index.js';
import { concatBytes } from '../card/index.js';
import { be16, u16 } from '../card/index.js';
import {
  MAX_M,
  MAX_PAYLOAD,
  R1_LENGTH,
  R2_LENGTH,
  R3_LENGTH,
  SIG_LENGTH,
  TAG_COMMAND_REQUEST,
  TAG_COMMAND_RESPONSE,
  TAG_INIT_REQUEST,
  TAG_INIT_RESPONSE,
  TAG_REFUSAL,
} from './constants.js';

export interface InitRequest {
  readonly kind: 'init-request';
  readonly r1: Uint8Array;
  readonly r2: Uint8Array;
  /** Key version n of KT[n] (0..255). */
  readonly n: number;
}
export interface InitResponse {
  readonly kind: 'init-response';
  readonly s1t: Uint8Array;
  readonly r3: Uint8Array;
}
export interface CommandRequest {
  readonly kind: 'command-request';
  readonly h: number;
  readonly payload: Uint8Array;
  readonly s2h: Uint8Array;
}
export interface CommandResponse {
  readonly kind: 'command-response';
  readonly m: Uint8Array;
}
export interface Refusal {
  readonly kind: 'refusal';
  readonly reason: number;
}
export type Message = InitRequest | InitResponse | CommandRequest | CommandResponse | Refusal;

function len(b: Uint8Array, n: number, name: string): void {
  if (!(b instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (b.length !== n) throw new RangeError(`${name} must be ${n} bytes, got ${b.length}`);
}
function byte(v: number, name: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 255) throw new RangeError(`${name} must be 0..255, got ${v}`);
}

/** Encodes any message. @throws RangeError/TypeError naming the field that does not fit. */
export function encodeMessage(m: Message): Uint8Array {
  switch (m.kind) {
    case 'init-request':
      len(m.r1, R1_LENGTH, 'r1');
      len(m.r2, R2_LENGTH, 'r2');
      byte(m.n, 'n');
      return concatBytes(Uint8Array.of(TAG_INIT_REQUEST), m.r1, m.r2, Uint8Array.of(m.n));
    case 'init-response':
      len(m.s1t, SIG_LENGTH, 's1t');
      len(m.r3, R3_LENGTH, 'r3');
      return concatBytes(Uint8Array.of(TAG_INIT_RESPONSE), m.s1t, m.r3);
    case 'command-request': {
      byte(m.h, 'h');
      if (!(m.payload instanceof Uint8Array)) throw new TypeError('payload must be a Uint8Array');
      if (m.payload.length > MAX_PAYLOAD)
        throw new RangeError(`payload must be at most ${MAX_PAYLOAD} bytes, got ${m.payload.length}`);
      len(m.s2h, SIG_LENGTH, 's2h');
      const lp = m.payload.length;
      return concatBytes(Uint8Array.of(TAG_COMMAND_REQUEST, m.h, ...be16(lp)), m.payload, m.s2h);
    }
    case 'command-response':
      if (!(m.m instanceof Uint8Array)) throw new TypeError('m must be a Uint8Array');
      if (m.m.length === 0 || m.m.length % 8 !== 0 || m.m.length > MAX_M)
        throw new RangeError(`m must be a positive multiple of 8 bytes up to ${MAX_M}, got ${m.m.length}`);
      return concatBytes(Uint8Array.of(TAG_COMMAND_RESPONSE), m.m);
    case 'refusal':
      byte(m.reason, 'reason');
      return Uint8Array.of(TAG_REFUSAL, m.reason);
  }
}

/**
 * Decodes one message; nothing may follow it.
 * @throws MalformedDataError (kind 'host-protocol') with the offset of the fault.
 */
export function decodeMessage(bytes: Uint8Array): Message {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
  const fail = (why: string, at: number): never => {
    throw new MalformedDataError(why, at, bytes, 'host-protocol');
  };
  const exact = (n: number): void => {
    if (bytes.length < n) fail(`message too short: need ${n} bytes, got ${bytes.length}`, bytes.length);
    if (bytes.length > n) fail(`${bytes.length - n} trailing bytes`, n);
  };
  if (bytes.length === 0) fail('empty message', 0);
  const tag = bytes[0]!;
  switch (tag) {
    case TAG_INIT_REQUEST:
      exact(1 + R1_LENGTH + R2_LENGTH + 1);
      return { kind: 'init-request', r1: bytes.slice(1, 9), r2: bytes.slice(9, 17), n: bytes[17]! };
    case TAG_INIT_RESPONSE:
      exact(1 + SIG_LENGTH + R3_LENGTH);
      return { kind: 'init-response', s1t: bytes.slice(1, 9), r3: bytes.slice(9, 17) };
    case TAG_COMMAND_REQUEST: {
      if (bytes.length < 4) fail('command header truncated', bytes.length);
      const lp = u16(bytes, 2);
      if (lp > MAX_PAYLOAD) fail(`payload length ${lp} > ${MAX_PAYLOAD}`, 2);
      exact(4 + lp + SIG_LENGTH);
      return {
        kind: 'command-request',
        h: bytes[1]!,
        payload: bytes.slice(4, 4 + lp),
        s2h: bytes.slice(4 + lp),
      };
    }
    case TAG_COMMAND_RESPONSE: {
      const n = bytes.length - 1;
      if (n === 0) fail('M is empty', 1);
      if (n % 8 !== 0) fail(`M length ${n} is not a multiple of 8`, bytes.length);
      if (n > MAX_M) fail(`M length ${n} > ${MAX_M}`, 1);
      return { kind: 'command-response', m: bytes.slice(1) };
    }
    case TAG_REFUSAL:
      exact(2);
      return { kind: 'refusal', reason: bytes[1]! };
    default:
      return fail(`unknown message tag 0x${tag.toString(16).padStart(2, '0')}`, 0);
  }
}
