import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import {
  SmSession,
  unwrapCommand,
  unwrapResponse,
  wrapCommand,
  wrapResponse,
} from '../../card/security/SecureMessaging.js';
import { ForgeCipherProvider } from '../../card/crypto/ForgeCipherProvider.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { cipher } from './helpers.js';

interface Vectors {
  ksEnc: string;
  ksMac: string;
  ssc: string;
  exchanges: {
    name: string;
    command: string;
    protectedCommand: string;
    protectedResponse: string;
    responseData: string;
    sw: string;
  }[];
}

const v = JSON.parse(
  readFileSync(new URL('../vectors/sm/icao-9303-p11-d4.json', import.meta.url), 'utf8'),
) as Vectors;
const session = () => new SmSession('tdes', fromHex(v.ksEnc), fromHex(v.ksMac), fromHex(v.ssc));

describe('secure messaging against ICAO 9303-11 Appendix D.4', () => {
  for (const provider of [cipher, new ForgeCipherProvider()]) {
    it(`terminal side reproduces the protected commands and reads the responses (${provider.name})`, () => {
      const s = session();
      for (const x of v.exchanges) {
        const w = wrapCommand(s, provider, CommandApdu.decode(fromHex(x.command)), 0x0c);
        expect(toHex(w.encode()), x.name).toBe(x.protectedCommand);
        const r = unwrapResponse(s, provider, fromHex(x.protectedResponse));
        expect(toHex(r.data), x.name).toBe(x.responseData);
        expect(r.sw).toBe(parseInt(x.sw, 16));
      }
    });

    it(`card side accepts the protected commands and produces the protected responses (${provider.name})`, () => {
      const s = session();
      for (const x of v.exchanges) {
        const plain = unwrapCommand(s, provider, CommandApdu.decode(fromHex(x.protectedCommand)), 0x00);
        expect(toHex(plain.encode()), x.name).toBe(x.command);
        const resp = wrapResponse(s, provider, fromHex(x.responseData), parseInt(x.sw, 16));
        expect(toHex(resp), x.name).toBe(x.protectedResponse);
      }
    });
  }

  it('a flipped MAC bit or a replayed command is refused with 6988', () => {
    const s = session();
    const bad = fromHex(v.exchanges[0]!.protectedCommand);
    bad[bad.length - 2]! ^= 0x01;
    expect(() => unwrapCommand(s, cipher, CommandApdu.decode(bad), 0)).toThrow(/6988/);
    const s2 = session();
    const first = CommandApdu.decode(fromHex(v.exchanges[0]!.protectedCommand));
    unwrapCommand(s2, cipher, first, 0);
    expect(() => unwrapCommand(s2, cipher, first, 0)).toThrow(/6988/);
  });
});
