import { describe, expect, it } from 'vitest';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import { decodeCla } from '../../card/os/cla.js';
import { SeededRng } from '../../card/crypto/rng.js';
import { deriveSmSession } from '../../card/security/SecurityCommands.js';
import { SmSession, unwrapResponse, wrapCommand } from '../../card/security/SecureMessaging.js';
import type { Iso7816Os } from '../../card/os/Iso7816Os.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { DEMO_AID, cipher, sampleCard, send } from './helpers.js';
import { sampleIsoConfig } from '../../card/os/CardProfiles.js';

const KEYS = {
  1: { alg: 'tdes' as const, key: fromHex('404142434445464748494A4B4C4D4E4F') },
  2: { alg: 'aes' as const, key: fromHex('000102030405060708090A0B0C0D0E0F') },
};

/** Runs MUTUAL AUTHENTICATE on a channel (CLA channel bits in `cla`) and returns the terminal's session. */
function authenticate(card: Iso7816Os, cla: number, ref: 1 | 2, seed: string): SmSession {
  const { alg, key } = KEYS[ref];
  const b = alg === 'aes' ? 16 : 8;
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  const rndIcc = fromHex(send(card, `${hex(cla)}840000${hex(b)}`).slice(0, 2 * b));
  const rndIfd = new SeededRng(seed).bytes(b);
  const crypt = cipher.encrypt(alg, 'cbc', key, Uint8Array.from([...rndIfd, ...rndIcc]), new Uint8Array(b));
  let r = send(card, `${hex(cla)}8200${hex(ref)}${hex(2 * b)}${toHex(crypt)}00`);
  if (r.startsWith('61')) r = send(card, `${hex(cla & 3)}C00000${r.slice(2)}`); // T=0
  expect(r.slice(-4)).toBe('9000');
  expect(toHex(cipher.decrypt(alg, 'cbc', key, fromHex(r.slice(0, -4)), new Uint8Array(b)))).toBe(
    toHex(rndIcc) + toHex(rndIfd),
  );
  return deriveSmSession({ cipher }, alg, key, rndIcc, rndIfd);
}

function protectedTx(card: Iso7816Os, s: SmSession, cla: number, plain: string) {
  const w = wrapCommand(s, cipher, CommandApdu.decode(fromHex(plain)), cla);
  const resp = ResponseApdu.decode(card.transmit(w.encode()));
  const u = unwrapResponse(s, cipher, resp.data);
  return { outer: resp.sw, sw: u.sw, data: toHex(u.data) };
}

describe('class byte (ISO/IEC 7816-4 §5.4.1)', () => {
  it('decodes channels, SM and chaining of the interindustry and proprietary classes', () => {
    expect(decodeCla(0x00)).toMatchObject({ channel: 0, sm: false, chaining: false, proprietary: false });
    expect(decodeCla(0x0f)).toMatchObject({ channel: 3, sm: true, plain: 0x03 });
    expect(decodeCla(0x13)).toMatchObject({ channel: 3, chaining: true });
    expect(decodeCla(0x04)).toMatchObject({ proprietarySm: true, sm: false });
    expect(decodeCla(0x40)).toMatchObject({ channel: 4, sm: false });
    expect(decodeCla(0x6f)).toMatchObject({ channel: 19, sm: true, plain: 0x4f });
    expect(decodeCla(0x5f)).toMatchObject({ channel: 19, chaining: true });
    expect(decodeCla(0x8c)).toMatchObject({ channel: 0, sm: true, proprietary: true, plain: 0x80 });
    expect(decodeCla(0xa0)).toMatchObject({ channel: 0, proprietary: true, sm: false });
    expect(decodeCla(0xc1)).toMatchObject({ channel: 5, proprietary: true });
    for (const bad of [0x20, 0x2f, 0x3c, 0xff]) expect(decodeCla(bad)).toBeUndefined();
  });
});

describe('two secure-messaging sessions on two channels (a SAM serving host and card)', () => {
  it('TDES on channel 0 and AES on channel 3 interleave without disturbing each other', () => {
    const { card, tx } = sampleCard('T=1');
    expect(tx('0070000300')).toBe('9000');
    tx(`00A4040C08${DEMO_AID}`);
    tx(`03A4040C08${DEMO_AID}`);
    const s0 = authenticate(card, 0x00, 1, 'host');
    const s3 = authenticate(card, 0x03, 2, 'card');
    expect(s3.alg).toBe('aes');
    for (let i = 0; i < 3; i++) {
      // Channel 0 (TDES session, key 1 authenticated): EF 5006 needs SM to update, key 1 to read.
      expect(protectedTx(card, s0, 0x0c, `00D6860002${toHex(Uint8Array.of(i, 0xa0))}`)).toMatchObject({
        outer: 0x9000,
        sw: 0x9000,
      });
      // Channel 3 (AES session, key 2): record 1 of EF 5004.
      expect(protectedTx(card, s3, 0x0f, `00DC012402${toHex(Uint8Array.of(i, 0xb0))}`).sw).toBe(0x9000);
      expect(protectedTx(card, s0, 0x0c, '00B0860002').data).toBe(toHex(Uint8Array.of(i, 0xa0)));
      expect(protectedTx(card, s3, 0x0f, '00B2012400').data).toBe(toHex(Uint8Array.of(i, 0xb0)));
    }
    // Key 1 was authenticated on channel 0 only.
    expect(protectedTx(card, s3, 0x0f, '00B0860002').sw).toBe(0x6982);
    // A command protected with other keys (an AES session like channel 3's, but not channel
    // 0's): 6988 on channel 0, and channel 3 keeps working.
    const other = new SmSession('aes', KEYS[2].key, KEYS[2].key, new Uint8Array(16));
    const stolen = wrapCommand(other, cipher, CommandApdu.decode(fromHex('00B0860002')), 0x0c);
    expect(toHex(card.transmit(stolen.encode()))).toBe('6988');
    expect(protectedTx(card, s3, 0x0f, '00B2012400').sw).toBe(0x9000);
    // Channel 0's session ended with the error.
    expect(tx('0CB0860002')).toBe('6882');
  });

  it('missing MAC object → 6987; plain data object 81 accepted; reset ends the session', () => {
    const { card, tx } = sampleCard('T=1');
    tx(`00A4040C08${DEMO_AID}`);
    const s = authenticate(card, 0x00, 2, 'x');
    expect(tx('0CB000000397010400')).toBe('6987');
    const s2 = authenticate(card, 0x00, 2, 'y');
    expect(protectedTx(card, s2, 0x0c, '00B0810004').data).toBe(toHex(new TextEncoder().encode('mete')));
    card.reset();
    tx(`00A4040C08${DEMO_AID}`);
    const w = wrapCommand(s2, cipher, CommandApdu.decode(fromHex('00B0810004')), 0x0c);
    expect(toHex(card.transmit(w.encode()))).toBe('6882');
    void s;
  });

  it('header not authenticated: first interindustry b4-b3 = 10 and the further interindustry class', () => {
    const cfg = { ...sampleIsoConfig('T=1'), channels: 8 } as unknown as Record<string, unknown>;
    const { card, tx } = sampleCard('T=1', cfg);
    tx(`00A4040C08${DEMO_AID}`);
    const s0 = authenticate(card, 0x00, 1, 'a');
    expect(protectedTx(card, s0, 0x08, '00B0810004').data).toBe(toHex(new TextEncoder().encode('mete')));
    expect(tx('0070000400')).toBe('9000');
    tx(`40A4040C08${DEMO_AID}`);
    const s4 = authenticate(card, 0x40, 2, 'b');
    // 0x60: further interindustry, SM, channel 4.
    expect(protectedTx(card, s4, 0x60, '00B0810004').data).toBe(toHex(new TextEncoder().encode('mete')));
    expect(protectedTx(card, s4, 0x60, '00D6860002ABCD').sw).toBe(0x9000);
    expect(protectedTx(card, s0, 0x08, '00B0860002').data).toBe('ABCD');
  });

  it('T=0 card: protected answers come through 61xx + GET RESPONSE', () => {
    const { card, tx } = sampleCard('T=0');
    tx(`00A4040C08${DEMO_AID}`);
    const s = authenticate(card, 0x00, 1, 't0');
    const w = wrapCommand(s, cipher, CommandApdu.decode(fromHex('00B0810004')), 0x0c);
    const first = toHex(card.transmit(w.encode()));
    expect(first).toMatch(/^61[0-9A-F]{2}$/);
    const resp = ResponseApdu.decode(fromHex(tx(`00C00000${first.slice(2)}`)));
    expect(resp.sw).toBe(0x9000);
    expect(toHex(unwrapResponse(s, cipher, resp.data).data)).toBe(toHex(new TextEncoder().encode('mete')));
  });
});
