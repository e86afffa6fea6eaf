/**
 * Hand-derived encodings (X.690 DER, from Settlement.asn1) of the bare signature inputs: the bytes
 * the card, the terminal and the centre must all sign and verify. Derived by hand, not by the code,
 * so a change of the wire format fails here.
 */
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../card/util/hex.js';
import {
  cardAuthInput,
  cardValueInput,
  passwordInput,
  terminalValueInput,
  timeStampInput,
} from '../../card/pki/index.js';

const hex = (s: string) => s.replace(/\s+/g, '').toUpperCase();
const sess = {
  cardId: Uint8Array.of(0xaa),
  terminalId: Uint8Array.of(0xbb),
  terminalNonce: new Uint8Array(8).fill(0x11),
  cardNonce: new Uint8Array(8).fill(0x22),
};
// version 1, IDU AA, IDT BB, R 11×8, X 22×8: 3 + 3 + 3 + 10 + 10 = 29 content octets
const SESSION = '020101 0401AA 0401BB 0408 1111111111111111 0408 2222222222222222';
// 2026-01-01T00:00:00Z as GeneralizedTime "20260101000000Z"
const TIME = '180F 3230323630313031303030303030 5A';

describe('signature input vectors', () => {
  it('CardValueInput [APPLICATION 20] (74), V = 256 (02 02 01 00)', () => {
    expect(toHex(cardValueInput({ ...sess, value: 256 }))).toBe(hex(`7421 ${SESSION} 02020100`));
  });

  it("TerminalValueInput [APPLICATION 21] (75), V' = 127 (02 01 7F), 2026-01-01T00:00:00Z", () => {
    expect(toHex(terminalValueInput({ ...sess, value: 127, dateTime: Date.UTC(2026, 0, 1) }))).toBe(
      hex(`7531 ${SESSION} 02017F ${TIME}`),
    );
  });

  it('TimeStampInput [APPLICATION 22] (76), t = 128 (02 02 00 80)', () => {
    const ts = new Uint8Array(16).fill(0x33);
    expect(
      toHex(
        timeStampInput({
          terminalId: Uint8Array.of(0xbb),
          updateCounter: 128,
          timeStamp: ts,
          valueSignature: Uint8Array.of(1, 2, 3),
        }),
      ),
    ).toBe(hex(`7621 020101 0401BB 02020080 0410 ${'33'.repeat(16)} 0403010203`));
  });

  it('CardAuthInput [APPLICATION 23] (77) and PasswordInput [APPLICATION 24/25] (78/79)', () => {
    expect(toHex(cardAuthInput(sess))).toBe(hex(`771D ${SESSION}`));
    const pw = fromHex('31323334');
    expect(toHex(passwordInput('terminal', { ...sess, password: pw }))).toBe(
      hex(`7823 ${SESSION} 040431323334`),
    );
    expect(toHex(passwordInput('card', { ...sess, password: pw }))).toBe(hex(`7923 ${SESSION} 040431323334`));
  });
});
