/**
 * Random commands to the three applications: every answer is a well-formed response with a
 * defined status word (never 6F00), and no value moves — without the keys nothing a sender can
 * invent changes a balance.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { AID_SVM } from '../../card/applets/constants.js';
import { A, authenticate, ok, poweredWorld, purse, svmState } from './harness.js';

const INS = [
  0x84, 0x82, 0xb2, 0xdc, 0x20, 0x24, 0x5c, 0x54, 0x52, 0x10, 0x12, 0x14, 0x18, 0x20, 0x22, 0x24, 0x30, 0x32,
  0x36, 0x40, 0x44, 0xa4, 0xc0,
];

describe('random commands', () => {
  it('get defined status words and move no value', () => {
    const w = poweredWorld({ cardBalance: 1000, svmBalance: 500 });
    authenticate(w); // even inside an authenticated session
    const before = { card: purse(w).balance, svm: svmState(w).balance };
    const command = fc.record({
      device: fc.constantFrom('card' as const, 'sam' as const, 'svm' as const),
      cla: fc.constantFrom(0x00, 0x80, 0x84, 0x01, 0xff),
      ins: fc.constantFrom(...INS),
      p1: fc.integer({ min: 0, max: 255 }),
      p2: fc.constantFrom(0, 1, 2, 0x0c, 0x14, 255),
      data: fc.uint8Array({ maxLength: 40 }),
      ne: fc.option(fc.constantFrom(8, 256), { nil: undefined }),
    });
    const seen = new Set<number>();
    fc.assert(
      fc.property(command, (c) => {
        const apdu = new CommandApdu({
          cla: c.cla,
          ins: c.ins,
          p1: c.p1,
          p2: c.p2,
          data: c.data,
          ...(c.ne ? { ne: c.ne } : {}),
        });
        const r = ResponseApdu.decode(w[c.device].os.transmit(apdu.encode()));
        seen.add(r.sw);
        expect(r.sw).not.toBe(0x6f00);
        expect(r.sw >> 8).toBeGreaterThanOrEqual(0x61);
      }),
      { numRuns: 3000, seed: 4 },
    );
    // The selections may have changed: select again, then compare the value.
    ok(w.card.os, A.selectAid());
    ok(w.svm.os, A.selectAid(AID_SVM));
    expect({ card: purse(w).balance, svm: svmState(w).balance }).toEqual(before);
    expect(seen.size).toBeGreaterThan(5);
  });

  it('raw byte strings of any length never crash a chip', () => {
    const w = poweredWorld();
    fc.assert(
      fc.property(
        fc.constantFrom('card' as const, 'sam' as const, 'svm' as const),
        fc.uint8Array({ maxLength: 300 }),
        (d, bytes) => {
          const out = w[d].os.transmit(bytes);
          expect(out.length).toBeGreaterThanOrEqual(2);
          expect(ResponseApdu.decode(out).sw).not.toBe(0x6f00);
        },
      ),
      { numRuns: 2000, seed: 7 },
    );
  });
});
