import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SeededRng } from '../../card/crypto/index.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import { crc16 } from '../../protocol/crc16.js';
import { decodeFrame, encodeFrame, FrameError } from '../../protocol/Frame.js';
import { FramedModem } from '../../protocol/FramedModem.js';
import { PowerLineChannel } from '../../host/network/PowerLineChannel.js';
import { AreaService, LocalService } from '../../host/network/LocalService.js';
import { LinkTimeoutError } from '../../host/network/errors.js';
import { MemoryCreditStore } from '../../host/CreditStore.js';
import { ValueStoreDispatcher } from '../../host/ValueStoreDispatcher.js';
import { FLAG_COVER_OPEN } from '../../protocol/constants.js';
import { makeHost, makeMeter } from './helpers.js';

const frame = {
  as: 7,
  ls: 3,
  modem: 256,
  meterId: fromHex('ABCDEF'),
  response: false,
  seq: 513,
  payload: fromHex('1000'),
};

describe('power-line frames', () => {
  it('CRC-16/IBM-3740 check value of "123456789" is 29B1', () => {
    expect(crc16(new TextEncoder().encode('123456789'))).toBe(0x29b1);
  });

  it('round-trips and matches its layout', () => {
    const b = encodeFrame(frame);
    expect(toHex(b.subarray(0, 15))).toBe('4D5001000007' + '03FF' + 'ABCDEF' + '0201' + '0002');
    expect(decodeFrame(b)).toEqual(frame);
  });

  it('every single-bit error is caught (typed FrameError)', () => {
    const b = encodeFrame(frame);
    for (let bit = 0; bit < b.length * 8; bit++) {
      const c = Uint8Array.from(b);
      c[bit >> 3]! ^= 1 << (bit & 7);
      expect(() => decodeFrame(c)).toThrow(FrameError);
    }
  });

  it('truncation, bad magic and bad length have their own codes', () => {
    const b = encodeFrame(frame);
    const code = (x: Uint8Array) => {
      try {
        decodeFrame(x);
        return 'ok';
      } catch (e) {
        return (e as FrameError).code;
      }
    };
    expect(code(b.subarray(0, 10))).toBe('truncated');
    expect(code(b.subarray(0, b.length - 1))).toBe('truncated');
    const m = Uint8Array.from(b);
    m[0] = 0;
    expect(code(m)).toBe('bad-magic');
    expect(() => encodeFrame({ ...frame, modem: 0 })).toThrow(/modem/);
  });

  it('random bytes give only FrameError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 60 }), (b) => {
        try {
          decodeFrame(b);
        } catch (e) {
          expect(e).toBeInstanceOf(FrameError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("the meter's side of the link (FramedModem)", () => {
  it('answers only a request addressed to it, with a response frame of the same address and sequence', async () => {
    const seen: Uint8Array[] = [];
    const modem = new FramedModem(frame, {
      handle: (m) => {
        seen.push(m);
        return fromHex('7F03');
      },
    });
    const out = await modem.receive(frame);
    expect(decodeFrame(out!)).toEqual({ ...frame, response: true, payload: fromHex('7F03') });
    expect(seen).toEqual([frame.payload]);
    for (const other of [
      { ...frame, response: true },
      { ...frame, as: 8 },
      { ...frame, ls: 4 },
      { ...frame, modem: 255 },
      { ...frame, meterId: fromHex('ABCDEE') },
    ])
      expect(await modem.receive(other)).toBeUndefined();
    expect(seen).toHaveLength(1);
  });
});

function network(opts: ConstructorParameters<typeof PowerLineChannel>[1], meters = 4) {
  const channel = new PowerLineChannel(new SeededRng('line'), opts);
  const ls = new LocalService(1, 9, channel, 400);
  const ms = [];
  for (let i = 1; i <= meters; i++) {
    const id = Uint8Array.of(0, 9, i);
    const m = makeMeter(id, `m${i}`, {
      balance: 100 * i,
      clock: RtcTime.of(2026, 6, 1, 12, 0, i * 7).seconds,
    });
    ls.attach(i, id, m, i % 2);
    ms.push(m);
  }
  return { channel, ls, ms };
}

describe('LS over a lossy, duplicating, re-ordering line', () => {
  it('100 credits through loss 20 %, duplication 20 %, bit errors 5 %: each credited exactly once', async () => {
    const { channel, ls, ms } = network(
      { loss: 0.2, duplicate: 0.2, corrupt: 0.05, latencyMs: [20, 450] },
      2,
    );
    const store = new MemoryCreditStore();
    const d = new ValueStoreDispatcher(
      makeHost('lossy'),
      store,
      {
        ref: (k) => ls.meterRef(k === '000901' ? 1 : 2),
        terminal: (k) => ls.terminal(k === '000901' ? 1 : 2),
      },
      3,
    );
    for (let i = 0; i < 100; i++) await d.credit(i % 2 ? '000901' : '000902', 10 + i);
    for (let r = 0; r < 3000 && store.pending().length > 0; r++) await d.recover();
    expect(store.pending()).toHaveLength(0);
    const sum = (odd: number) =>
      [...Array(100).keys()].filter((i) => i % 2 === odd).reduce((s, i) => s + 10 + i, 0);
    expect(ms[0]!.balance).toBe(100 + sum(1));
    expect(ms[1]!.balance).toBe(200 + sum(0));
    expect(ms[0]!.creditsApplied + ms[1]!.creditsApplied).toBe(100);
    expect(channel.stats.lost).toBeGreaterThan(0);
    expect(channel.stats.duplicated).toBeGreaterThan(0);
    expect(ls.stats.framesRejected).toBeGreaterThan(0);
    expect(ls.stats.lateOrForeign).toBeGreaterThan(0);
  });

  it('an LS poll reads every meter, reports drift and tamper state, and corrects the clocks', async () => {
    const { ls, ms } = network({}, 4);
    ms[2]!.flags = FLAG_COVER_OPEN;
    const now = RtcTime.of(2026, 6, 1, 12, 0, 0);
    const recs = await ls.poll(makeHost('poll'), now);
    expect(recs.map((r) => [r.modem, r.ok, r.driftSeconds, r.balance])).toEqual([
      [1, true, 7, 100],
      [2, true, 14, 200],
      [3, true, 21, 300],
      [4, true, 28, 400],
    ]);
    expect(recs[2]!.flags).toBe(FLAG_COVER_OPEN);
    expect(ms.every((m) => m.clock === now.seconds)).toBe(true);
  });

  it('a dead line times out with a typed error; the poll records it and goes on', async () => {
    const { ls } = network({ loss: 1 }, 2);
    await expect(
      makeHost().usageCheck(ls.terminal(1), ls.meterRef(1), RtcTime.of(2026, 1, 1)),
    ).rejects.toBeInstanceOf(LinkTimeoutError);
    const recs = await ls.poll(makeHost(), RtcTime.of(2026, 1, 1));
    expect(recs.map((r) => r.ok)).toEqual([false, false]);
  });

  it('an AS holds at most 256 LS and refuses foreign ones', () => {
    const as = new AreaService(1);
    const ch = new PowerLineChannel(new SeededRng('x'));
    for (let i = 0; i < 256; i++) as.add(new LocalService(1, i, ch));
    expect(() => as.add(new LocalService(2, 0, ch))).toThrow(/belongs/);
    expect(() => as.add(new LocalService(1, 5, ch))).toThrow(/already/);
    expect(as.all).toHaveLength(256);
  });
});
