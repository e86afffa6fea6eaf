/**
 * The SM object parser and unwrapping take outside bytes: random data objects (with and without
 * a correct MAC) must only ever give 6987 / 6988, never another exception.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { SwError } from '../../card/iso7816/errors.js';
import { SmSession, smObject, unwrapCommand } from '../../card/security/SecureMessaging.js';
import { pad } from '../../card/crypto/mac.js';
import { concatBytes } from '../../card/util/hex.js';
import { cipher } from './helpers.js';

const newSession = (alg: 'tdes' | 'aes') =>
  new SmSession(
    alg,
    new Uint8Array(16).fill(1),
    new Uint8Array(16).fill(2),
    new Uint8Array(alg === 'aes' ? 16 : 8),
  );

function swOf(f: () => unknown): number | 'ok' {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof SwError) return e.sw;
    throw e;
  }
}

describe('SM unwrapping of random input', () => {
  it('random data fields: only 6987 or 6988', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 120 }),
        fc.constantFrom<'tdes' | 'aes'>('tdes', 'aes'),
        (data, alg) => {
          const apdu = new CommandApdu({ cla: 0x0c, ins: 0xb0, p1: 0, p2: 0, data, ne: 256 });
          expect([0x6987, 0x6988]).toContain(swOf(() => unwrapCommand(newSession(alg), cipher, apdu, 0)));
        },
      ),
      { numRuns: 5000, seed: 3 },
    );
  });

  it('random objects under a correct MAC: accepted, or 6988 (bad cryptogram, padding, order)', () => {
    const obj = fc.record({
      tag: fc.constantFrom(0x87, 0x81, 0x97, 0x99, 0x85),
      value: fc.uint8Array({ maxLength: 40 }),
    });
    fc.assert(
      fc.property(
        fc.array(obj, { maxLength: 3 }),
        fc.constantFrom<'tdes' | 'aes'>('tdes', 'aes'),
        (objs, alg) => {
          const card = newSession(alg);
          const terminal = newSession(alg);
          const body = concatBytes(...objs.map((o) => smObject(o.tag, o.value)));
          const ssc = terminal.nextSsc();
          const header = pad(Uint8Array.of(0x0c, 0xb0, 0, 0), 2, terminal.blockSize);
          const mac = terminal.mac(cipher, concatBytes(ssc, header, body));
          const data = concatBytes(body, smObject(0x8e, mac));
          const apdu = new CommandApdu({ cla: 0x0c, ins: 0xb0, p1: 0, p2: 0, data, ne: 256 });
          const r = swOf(() => unwrapCommand(card, cipher, apdu, 0));
          expect(r === 'ok' || r === 0x6988).toBe(true);
        },
      ),
      { numRuns: 5000, seed: 4 },
    );
  });
});
