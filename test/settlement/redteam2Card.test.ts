/**
 * Red team 2 on the settlement card's password (seed 004 Figs. 13–16): the password guessed by
 * cutting the power between the try-counter write and the comparison, password blocks of every
 * other length, and a scan of everything the card answers for the setting number Ns.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { CardPowerLostError } from '../../card/os/CardOs.js';
import type { KeyPairDer } from '../../card/crypto/signature.js';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { Certificate, passwordInput, signWith } from '../../card/pki/index.js';
import {
  INS_SETTLE_VERIFY,
  SETTLE_OBJ_STATUS,
  SETTLE_PASSWORD_REF,
} from '../../card/applets/settle/constants.js';
import { settlePasswordBlock } from '../../card/applets/settle/index.js';
import type { SettlementCard } from '../../card/applets/settle/makeSettlementCard.js';
import { toHex } from '../../card/util/hex.js';
import { A, Centre, T0, ascii, hexSw, issueCard, provider, tx, type IssuedCard } from './fixtureSettle.js';

const ALG = 'ecdsa-p256-sha256' as const;
const centre = new Centre(ascii('CENTRE-RT2C'), ALG);
const NS = '73950281';
const PASSWORD = '2468';
let tKeys: KeyPairDer;
let tCert: Certificate;
const IDT = ascii('TERM-RT2C');
beforeAll(() => {
  tKeys = provider.generateKeyPair(ALG);
  tCert = centre.certify('terminal', IDT, tKeys.publicKey, ALG);
});

/** A card with the centre's setting installed and the password registered (Figs. 13, 15). */
async function withPassword(name: string): Promise<IssuedCard> {
  const c = await issueCard(centre, name, ALG, 1000);
  tx(c.card, A.selectSettle());
  expect(hexSw(tx(c.card, A.installSetting(centre.setting(c.idu, NS).encode())).sw)).toBe('9000');
  expect(hexSw(tx(c.card, A.presentTerminal(T0, tCert.encode())).sw)).toBe('9000');
  const x = tx(c.card, A.getChallenge()).data;
  const r = new Uint8Array(16).fill(9);
  const sig = signWith(
    provider.signer(ALG, tKeys.privateKey),
    passwordInput('terminal', {
      cardId: c.idu,
      terminalId: IDT,
      terminalNonce: r,
      cardNonce: x,
      password: ascii(PASSWORD),
    }),
  );
  expect(hexSw(tx(c.card, A.registerPassword(ascii(NS), r, settlePasswordBlock(PASSWORD), sig)).sw)).toBe(
    '9000',
  );
  return c;
}

function tries(card: SettlementCard): number {
  tx(card, A.selectSettle());
  return tx(card, A.readObject(SETTLE_OBJ_STATUS)).data[21]!;
}

const verifyRaw = (data: Uint8Array): CommandApdu =>
  new CommandApdu({ cla: 0, ins: INS_SETTLE_VERIFY, p1: 0, p2: SETTLE_PASSWORD_REF, data });

describe('red team 2, card: the password and power cuts', () => {
  it('a tear at any write of VERIFY tells a right guess from a wrong one only after the try is spent', async () => {
    /** What the attacker sees (power cut or the status word) and the tries left afterwards. */
    const run = async (guess: string, k?: number) => {
      const c = await withPassword('CARD-RT2-TEAR');
      tx(c.card, A.selectSettle());
      tx(c.card, A.presentTerminal(T0, tCert.encode()));
      const w0 = c.card.store.writeCount;
      const cmd = A.verifyPassword(settlePasswordBlock(guess));
      let seen: string;
      if (k === undefined) seen = hexSw(tx(c.card, cmd).sw);
      else {
        c.card.store.armTear(k);
        try {
          seen = hexSw(tx(c.card, cmd).sw);
          c.card.store.disarmTear();
        } catch (e) {
          expect(e).toBeInstanceOf(CardPowerLostError);
          seen = 'power lost';
        }
        c.card.os.powerUp();
      }
      return { seen, writes: c.card.store.writeCount - w0, tries: tries(c.card) };
    };
    const right = await run(PASSWORD);
    const wrong = await run('1357');
    expect([right.seen, right.tries]).toEqual(['9000', 3]);
    expect([wrong.seen, wrong.tries]).toEqual(['63C2', 2]);
    expect(right.writes).toBeGreaterThan(wrong.writes); // the right guess writes more: a would-be oracle
    let differed = 0;
    for (let k = 1; k <= right.writes; k++) {
      const r = await run(PASSWORD, k);
      const w = await run('1357', k);
      if (r.seen !== w.seen || r.tries !== w.tries) {
        differed++;
        // the guesses were told apart: the wrong one has paid its try, as a wrong VERIFY does
        // (the right one may have had it back: that is a successful VERIFY, no oracle)
        expect(w.tries).toBe(2);
      } else {
        // told apart by nothing (a cut before the comparison): no information for free
        expect(r.tries).toBe(w.tries);
      }
    }
    expect(differed).toBeGreaterThan(0);
  });

  it('a tear before the try is written never gets to the comparison (both guesses look alike)', async () => {
    const c = await withPassword('CARD-RT2-T1');
    tx(c.card, A.selectSettle());
    tx(c.card, A.presentTerminal(T0, tCert.encode()));
    c.card.store.armTear(1);
    expect(() => c.card.os.transmit(A.verifyPassword(settlePasswordBlock('0000')).encode())).toThrow(
      CardPowerLostError,
    );
    c.card.os.powerUp();
    expect(tries(c.card)).toBe(3);
    // and the session's "verified" flag cannot survive the cut: SIGN VALUE needs VERIFY again
    tx(c.card, A.selectSettle());
    tx(c.card, A.presentTerminal(T0, tCert.encode()));
    expect(hexSw(tx(c.card, A.signValue(new Uint8Array(16))).sw)).toBe('6982');
  });
});

describe('red team 2, card: password blocks of other lengths', () => {
  it('0 bytes asks the tries; 1..7, 9, 16, 255 bytes are 6700 and spend no try', async () => {
    const c = await withPassword('CARD-RT2-LEN');
    tx(c.card, A.selectSettle());
    tx(c.card, A.presentTerminal(T0, tCert.encode()));
    expect(hexSw(tx(c.card, A.verifyPassword()).sw)).toBe('63C3');
    for (const n of [1, 4, 7, 9, 16, 255]) {
      const block = new Uint8Array(n).fill(0xff);
      block.set(ascii(PASSWORD).subarray(0, Math.min(4, n)));
      expect(hexSw(tx(c.card, verifyRaw(block)).sw)).toBe('6700');
    }
    expect(tries(c.card)).toBe(3);
    // the right password as ASCII digits without the FF padding (4 bytes) is not the block
    tx(c.card, A.selectSettle());
    tx(c.card, A.presentTerminal(T0, tCert.encode()));
    expect(hexSw(tx(c.card, verifyRaw(ascii(PASSWORD))).sw)).toBe('6700');
    expect(hexSw(tx(c.card, A.verifyPassword(settlePasswordBlock(PASSWORD))).sw)).toBe('9000');
  });

  it('REGISTER PASSWORD with a setting number of 3 or 17 bytes is 6700 and spends no setting try', async () => {
    const c = await issueCard(centre, 'CARD-RT2-NS', ALG, 1000);
    tx(c.card, A.selectSettle());
    tx(c.card, A.installSetting(centre.setting(c.idu, NS).encode()));
    tx(c.card, A.presentTerminal(T0, tCert.encode()));
    for (const n of [0, 3, 17, 255]) {
      tx(c.card, A.getChallenge());
      const d = new Uint8Array(1 + 16 + 16 + 8 + 64);
      d[0] = n;
      const cmd = new CommandApdu({ cla: 0x80, ins: 0x3a, p1: 0, p2: 0, data: d });
      expect(hexSw(tx(c.card, cmd).sw)).toBe('6700');
    }
    expect(c.card.store.view('st.set.tries')![0]).toBe(3);
  });
});

describe('red team 2, card: nothing the card answers leaks Ns or SA(Ns)', () => {
  it('FCI, every READ OBJECT P1 00..FF, GET CHALLENGE and the status never hold Ns or the setting', async () => {
    const c = await issueCard(centre, 'CARD-RT2-LEAK', ALG, 1000);
    const setting = centre.setting(c.idu, NS);
    tx(c.card, A.selectSettle());
    expect(hexSw(tx(c.card, A.installSetting(setting.encode())).sw)).toBe('9000');
    const answers: Uint8Array[] = [tx(c.card, A.selectSettle()).data];
    for (let p1 = 0; p1 <= 0xff; p1++) answers.push(tx(c.card, A.readObject(p1)).data);
    tx(c.card, A.presentTerminal(T0, tCert.encode()));
    answers.push(tx(c.card, A.getChallenge()).data);
    const hay = answers.map((a) => toHex(a));
    for (const needle of [ascii(NS), setting.signature, setting.encode(), setting.digest()])
      expect(hay.some((h) => h.includes(toHex(needle)))).toBe(false);
    // the scan read what is there: 01 certificate, 03 signed value, 05 public key, 07 status
    expect([1, 3, 5, 7].map((p1) => answers[1 + p1]!.length > 0)).toEqual([true, true, true, true]);
  });
});
