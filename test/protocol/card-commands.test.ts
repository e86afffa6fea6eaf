/**
 * The H = 57 codecs (protocol/cardCommands.ts, docs/host-protocol.md "Card commands (H = 57)"):
 * round trips, every bound and one past it, and every malformed field of the payload and the answer
 * rejected with MalformedDataError at the offset of the fault.
 */
import { describe, expect, it } from 'vitest';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { be16, be32, concatBytes } from '../../card/index.js';
import {
  CARD_ANSWERS_PER_MESSAGE,
  CARD_ANSWER_MAX_DATA,
  CARD_COMMANDS_PER_MESSAGE,
  CARD_COMMAND_MAX_LC,
  CARD_FORGET_MAX,
  CARD_READINGS_PER_MESSAGE,
  OFFLINE_READING_LENGTH,
  OUTCOME_CARD,
  OUTCOME_REFUSED,
  OUTCOME_WAITING,
  REFUSED_FULL,
  decodeCardCommandsAnswer,
  decodeCardCommandsRequest,
  encodeCardCommandsBody,
  encodeCardCommandsRequest,
  type CardAnswer,
  type CardCommand,
  type CardCommandsBody,
  type CardCommandsRequest,
} from '../../protocol/cardCommands.js';
import { MAX_M, MAX_PAYLOAD } from '../../protocol/constants.js';

const CSN = Uint8Array.from([0x4d, 0x50, 0, 0, 0, 0, 0, 1]);
const ID = Uint8Array.of(0x00, 0xc0, 0xde);
const TAIL = concatBytes(be32(12345), ID);

const cmd = (id: number, lc = 26, ins = 0x56): CardCommand => ({
  id,
  csn: CSN,
  ins,
  p2: 2,
  data: new Uint8Array(lc).fill(id & 0xff),
});
const req = (o: Partial<CardCommandsRequest> = {}): CardCommandsRequest => ({
  ackBelow: 7,
  commands: [cmd(1), cmd(5, 44, 0x58), cmd(9, 16, 0x5a)],
  forget: [2, 3],
  ...o,
});
const final = (seq: number, id: number, len = 15): CardAnswer => ({
  seq,
  id,
  outcome: OUTCOME_CARD,
  sw: 0x9000,
  data: new Uint8Array(len).fill(seq),
});
const reading = (seq: number) => ({
  seq,
  csn: CSN,
  purse: 3,
  record: new Uint8Array(OFFLINE_READING_LENGTH).fill(seq),
});
const body = (o: Partial<CardCommandsBody> = {}): CardCommandsBody => ({
  queued: 3,
  next: 10,
  more: false,
  answers: [
    { seq: 0, id: 40, outcome: OUTCOME_REFUSED, sw: REFUSED_FULL, data: new Uint8Array(0) },
    final(2, 11),
    final(5, 12, 0),
    { seq: 0, id: 13, outcome: OUTCOME_WAITING, sw: 0x9409, data: new Uint8Array(0) },
  ],
  readings: [reading(3), reading(9)],
  ...o,
});

function malformedAt(f: () => unknown, offset: number, why?: RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(MalformedDataError);
  const m = err as MalformedDataError;
  expect(m.kind).toBe('host-payload');
  expect(m.offset).toBe(offset);
  if (why) expect(m.reason).toMatch(why);
}

describe('H = 57 payload', () => {
  it('round trips, byte layout as drawn', () => {
    const r = req();
    const b = encodeCardCommandsRequest(r);
    expect(b.length).toBe(4 + 1 + (15 + 26) + (15 + 44) + (15 + 16) + 1 + 8);
    expect([...b.subarray(0, 5)]).toEqual([0, 0, 0, 7, 3]);
    // first command: id ‖ CSN ‖ ins ‖ p2 ‖ Lc ‖ data
    expect([...b.subarray(5, 20)]).toEqual([0, 0, 0, 1, ...CSN, 0x56, 2, 26]);
    expect(decodeCardCommandsRequest(b)).toEqual(r);
    const empty = { ackBelow: 0, commands: [], forget: [] };
    expect([...encodeCardCommandsRequest(empty)]).toEqual([0, 0, 0, 0, 0, 0]);
    expect(decodeCardCommandsRequest(encodeCardCommandsRequest(empty))).toEqual(empty);
  });

  it('at its bounds: 16 commands of Lc 64 and 64 forget ids fit; one past each is refused both ways', () => {
    const commands = Array.from({ length: CARD_COMMANDS_PER_MESSAGE }, (_, i) =>
      cmd(i + 1, CARD_COMMAND_MAX_LC),
    );
    const forget = Array.from({ length: CARD_FORGET_MAX }, (_, i) => 0xffffffff - CARD_FORGET_MAX + 1 + i);
    const max = { ackBelow: 0xffffffff, commands, forget };
    const b = encodeCardCommandsRequest(max);
    expect(b.length).toBeLessThanOrEqual(MAX_PAYLOAD);
    expect(decodeCardCommandsRequest(b)).toEqual(max);
    expect(() => encodeCardCommandsRequest({ ...max, commands: [...commands, cmd(99)] })).toThrow(RangeError);
    expect(() => encodeCardCommandsRequest({ ...max, forget: [1, ...forget] })).toThrow(/forget must hold/);
    expect(() => encodeCardCommandsRequest(req({ commands: [cmd(1, CARD_COMMAND_MAX_LC + 1)] }))).toThrow(
      /data/,
    );
    // hand-made: count 17, Lc 65, forget count 65
    malformedAt(() => decodeCardCommandsRequest(concatBytes(be32(0), Uint8Array.of(17))), 4, /count 17/);
    const lc65 = concatBytes(be32(0), Uint8Array.of(1), be32(1), CSN, Uint8Array.of(0x56, 2, 65));
    malformedAt(() => decodeCardCommandsRequest(concatBytes(lc65, new Uint8Array(66))), 4 + 1 + 14, /Lc 65/);
    malformedAt(
      () => decodeCardCommandsRequest(concatBytes(be32(0), Uint8Array.of(0, 65))),
      5,
      /forget count/,
    );
  });

  it('every malformed field: truncation anywhere, ids 0 / repeated / descending, trailing bytes, oversize', () => {
    const b = encodeCardCommandsRequest(req());
    for (let n = 0; n < b.length; n++)
      expect(() => decodeCardCommandsRequest(b.subarray(0, n)), `cut at ${n}`).toThrow(MalformedDataError);
    malformedAt(() => decodeCardCommandsRequest(concatBytes(b, Uint8Array.of(0))), b.length, /trailing/);
    const one = (id: number) => concatBytes(be32(id), CSN, Uint8Array.of(0x56, 2, 0));
    malformedAt(
      () => decodeCardCommandsRequest(concatBytes(be32(0), Uint8Array.of(1), one(0), Uint8Array.of(0))),
      5,
    );
    malformedAt(
      () =>
        decodeCardCommandsRequest(concatBytes(be32(0), Uint8Array.of(2), one(4), one(4), Uint8Array.of(0))),
      5 + 15,
      /ascend/,
    );
    malformedAt(
      () =>
        decodeCardCommandsRequest(concatBytes(be32(0), Uint8Array.of(2), one(4), one(3), Uint8Array.of(0))),
      5 + 15,
    );
    malformedAt(
      () => decodeCardCommandsRequest(concatBytes(be32(0), Uint8Array.of(0, 2), be32(8), be32(8))),
      10,
    );
    malformedAt(() => decodeCardCommandsRequest(concatBytes(be32(0), Uint8Array.of(0, 1), be32(0))), 6);
    malformedAt(() => decodeCardCommandsRequest(new Uint8Array(MAX_PAYLOAD + 1)), MAX_PAYLOAD);
    // encoder argument checks name the field
    expect(() => encodeCardCommandsRequest(req({ ackBelow: -1 }))).toThrow(/ackBelow/);
    expect(() => encodeCardCommandsRequest(req({ commands: [cmd(2), cmd(2)] }))).toThrow(/ascend/);
    expect(() => encodeCardCommandsRequest(req({ commands: [cmd(0)] }))).toThrow(/commands\.id/);
    expect(() => encodeCardCommandsRequest(req({ forget: [3, 2] }))).toThrow(/forget/);
    expect(() => encodeCardCommandsRequest(req({ commands: [{ ...cmd(1), csn: CSN.subarray(1) }] }))).toThrow(
      /csn/,
    );
    expect(() => encodeCardCommandsRequest(req({ commands: [{ ...cmd(1), p2: 256 }] }))).toThrow(/p2/);
    expect(() => encodeCardCommandsRequest(req({ commands: [{ ...cmd(1), ins: -1 }] }))).toThrow(/ins/);
  });

  it('an instruction the meter does not carry still decodes (refused per command by the meter, not the message)', () => {
    const r = req({ commands: [cmd(1, 3, 0x52)] });
    expect(decodeCardCommandsRequest(encodeCardCommandsRequest(r))).toEqual(r);
  });
});

describe('H = 57 answer', () => {
  it('round trips with Balance ‖ ID, byte layout as drawn', () => {
    const a = body();
    const e = encodeCardCommandsBody(a);
    expect([...e.subarray(0, 9)]).toEqual([0, 0, 3, 0, 0, 0, 10, 0, 4]);
    // the refusal: seq 0 ‖ id 40 ‖ outcome 01 ‖ reason 0001 ‖ len 0
    expect([...e.subarray(9, 21)]).toEqual([0, 0, 0, 0, 0, 0, 0, 40, 1, 0, 1, 0]);
    const d = decodeCardCommandsAnswer(concatBytes(e, TAIL));
    expect(d).toEqual({ ...a, balance: 12345, id: ID });
    expect(
      decodeCardCommandsAnswer(concatBytes(encodeCardCommandsBody({ ...a, more: true }), TAIL)).more,
    ).toBe(true);
  });

  it('the largest answer (24 answers of 64 bytes, 8 readings) fits the SAM: M ≤ 8192', () => {
    const answers = Array.from({ length: CARD_ANSWERS_PER_MESSAGE }, (_, i) =>
      final(i + 1, i + 1, CARD_ANSWER_MAX_DATA),
    );
    const readings = Array.from({ length: CARD_READINGS_PER_MESSAGE }, (_, i) => reading(100 + i));
    const a = body({ next: 200, answers, readings });
    const e = encodeCardCommandsBody(a);
    expect(e.length + 7 + 8).toBeLessThanOrEqual(MAX_M); // + Balance ‖ ID, + padding block
    expect(decodeCardCommandsAnswer(concatBytes(e, TAIL)).answers).toHaveLength(CARD_ANSWERS_PER_MESSAGE);
    expect(() => encodeCardCommandsBody({ ...a, answers: [...answers, final(150, 99)] })).toThrow(/answers/);
    expect(() => encodeCardCommandsBody({ ...a, readings: [...readings, reading(150)] })).toThrow(/readings/);
    expect(() => encodeCardCommandsBody(body({ answers: [final(2, 1, CARD_ANSWER_MAX_DATA + 1)] }))).toThrow(
      /data/,
    );
  });

  it('encoder refuses what the decoder would: seq of a kept entry at or past next, seq on a status report, data on one', () => {
    expect(() => encodeCardCommandsBody(body({ answers: [final(10, 1)] }))).toThrow(/seq/);
    expect(() => encodeCardCommandsBody(body({ answers: [final(0, 1)] }))).toThrow(/seq/);
    expect(() => encodeCardCommandsBody(body({ answers: [final(4, 1), final(4, 2)] }))).toThrow(/ascend/);
    expect(() =>
      encodeCardCommandsBody(body({ answers: [{ ...final(2, 1), outcome: OUTCOME_WAITING }] })),
    ).toThrow();
    expect(() =>
      encodeCardCommandsBody(
        body({ answers: [{ seq: 0, id: 1, outcome: OUTCOME_REFUSED, sw: 0x9000, data: new Uint8Array(0) }] }),
      ),
    ).toThrow(/REFUSED/);
    expect(() => encodeCardCommandsBody(body({ readings: [reading(10)] }))).toThrow(/seq/);
    expect(() => encodeCardCommandsBody(body({ queued: 0x10000 }))).toThrow(/queued/);
    expect(() => encodeCardCommandsBody(body({ next: 0 }))).toThrow(/next/);
  });

  /** A body with one field patched at `at` (hand-made: the encoder refuses to make these). */
  function patched(at: number, bytes: number[], a = body()): Uint8Array {
    const e = concatBytes(encodeCardCommandsBody(a), TAIL);
    e.set(bytes, at);
    return e;
  }
  // offsets in body(): header 9; refusal 9..20; final(2) 21..47; final(5) 48..59; waiting 60..71;
  // reading count 72; reading(3) 73..229; reading(9) 230..386; tail 387..393
  it('every malformed field is rejected at its offset', () => {
    const ok = concatBytes(encodeCardCommandsBody(body()), TAIL);
    expect(ok.length).toBe(394);
    for (let n = 0; n < ok.length; n++)
      expect(() => decodeCardCommandsAnswer(ok.subarray(0, n)), `cut at ${n}`).toThrow(MalformedDataError);
    malformedAt(() => decodeCardCommandsAnswer(concatBytes(ok, Uint8Array.of(0))), ok.length, /trailing/);
    malformedAt(() => decodeCardCommandsAnswer(patched(0, [1])), 0, /status/);
    malformedAt(() => decodeCardCommandsAnswer(patched(3, [0, 0, 0, 0])), 3, /next 0/);
    malformedAt(() => decodeCardCommandsAnswer(patched(7, [2])), 7, /more/);
    malformedAt(() => decodeCardCommandsAnswer(patched(8, [25])), 8, /answer count/);
    malformedAt(() => decodeCardCommandsAnswer(patched(13, [0, 0, 0, 0])), 13, /id 0/);
    malformedAt(() => decodeCardCommandsAnswer(patched(17, [3])), 17, /outcome/);
    malformedAt(() => decodeCardCommandsAnswer(patched(18, [0, 9])), 18, /refusal reason/);
    malformedAt(() => decodeCardCommandsAnswer(patched(20, [1])), 20, /len/); // a refusal carries no data
    malformedAt(() => decodeCardCommandsAnswer(patched(9, [0, 0, 0, 1])), 9, /seq 0/); // status report with a seq
    malformedAt(() => decodeCardCommandsAnswer(patched(21, [0, 0, 0, 0])), 21, /outside/); // final with seq 0
    malformedAt(() => decodeCardCommandsAnswer(patched(21, [0, 0, 0, 10])), 21, /outside/); // final at next
    malformedAt(() => decodeCardCommandsAnswer(patched(48, [0, 0, 0, 2])), 48, /ascend/); // repeated seq
    malformedAt(() => decodeCardCommandsAnswer(patched(32, [65])), 32, /len 65/); // final(2)'s len byte
    malformedAt(() => decodeCardCommandsAnswer(patched(72, [9])), 72, /reading count/);
    malformedAt(() => decodeCardCommandsAnswer(patched(73, [0, 0, 0, 0])), 73, /outside/);
    malformedAt(() => decodeCardCommandsAnswer(patched(73, [0, 0, 0, 2])), 73, /repeated/); // an answer's seq
    malformedAt(() => decodeCardCommandsAnswer(patched(230, [0, 0, 0, 3])), 230, /repeated|ascending/);
    malformedAt(() => decodeCardCommandsAnswer(patched(230, [0, 0, 0, 10])), 230, /outside/);
  });
});

it('be16 and be32 are the big-endian forms the layouts draw', () => {
  expect([...be16(0x9409)]).toEqual([0x94, 0x09]);
  expect([...be32(0x01020304)]).toEqual([1, 2, 3, 4]);
});
