/**
 * The SM data objects are read with the one BER-TLV reader; SM is stricter than a generic list:
 * every byte of the data field must be inside an object, so 00/FF padding (which the MAC would
 * not cover) is refused with 6988.
 */
import { describe, expect, it } from 'vitest';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { SwError } from '../../card/iso7816/errors.js';
import { SW_SM_DATA_OBJECTS_INCORRECT } from '../../card/iso7816/sw.js';
import { NodeCipherProvider } from '../../card/crypto/NodeCipherProvider.js';
import { SmSession, smObject, unwrapCommand, wrapCommand } from '../../card/security/SecureMessaging.js';
import { concatBytes, toHex } from '../../card/util/hex.js';

const cipher = new NodeCipherProvider();
const session = () =>
  new SmSession('aes', new Uint8Array(16).fill(1), new Uint8Array(16).fill(2), new Uint8Array(16));

function swOf(f: () => unknown): number | 'ok' {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof SwError) return e.sw;
    throw e;
  }
}

/** A protected UPDATE BINARY and where its MAC object (8E) starts in the data field. */
function wrapped(): { apdu: CommandApdu; macAt: number } {
  const plain = new CommandApdu({ cla: 0x00, ins: 0xd6, p1: 0, p2: 0, data: Uint8Array.of(1, 2, 3) });
  const apdu = wrapCommand(session(), cipher, plain, 0x0c);
  const data = apdu.dataView();
  return { apdu, macAt: data.length - 10 };
}

function withData(apdu: CommandApdu, data: Uint8Array): CommandApdu {
  return new CommandApdu({ cla: apdu.cla, ins: apdu.ins, p1: apdu.p1, p2: apdu.p2, data, ne: apdu.ne });
}

describe('SM data objects', () => {
  it('smObject encodes the minimal length form', () => {
    expect(toHex(smObject(0x8e, Uint8Array.of(1, 2)))).toBe('8E020102');
    expect(toHex(smObject(0x87, new Uint8Array(128)).subarray(0, 3))).toBe('878180');
    expect(toHex(smObject(0x87, new Uint8Array(256)).subarray(0, 4))).toBe('87820100');
  });

  it('a protected command unwraps to the plain one', () => {
    const { apdu, macAt } = wrapped();
    expect(apdu.dataView()[macAt]).toBe(0x8e);
    const plain = unwrapCommand(session(), cipher, apdu, 0x00);
    expect(toHex(plain.dataView())).toBe('010203');
  });

  it.each([
    [
      '00 before the MAC object',
      (d: Uint8Array, at: number) => concatBytes(d.subarray(0, at), Uint8Array.of(0), d.subarray(at)),
    ],
    ['FF before the first object', (d: Uint8Array) => concatBytes(Uint8Array.of(0xff), d)],
    ['00 after the MAC object', (d: Uint8Array) => concatBytes(d, Uint8Array.of(0))],
    ['a cut MAC object', (d: Uint8Array) => d.subarray(0, d.length - 1)],
  ])('refuses %s with 6988', (_, change) => {
    const { apdu, macAt } = wrapped();
    const bad = withData(apdu, change(apdu.dataView(), macAt));
    expect(swOf(() => unwrapCommand(session(), cipher, bad, 0x00))).toBe(SW_SM_DATA_OBJECTS_INCORRECT);
  });
});
