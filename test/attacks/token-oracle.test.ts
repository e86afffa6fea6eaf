/**
 * Attack: anything on the meter's bus uses the SAM as a token oracle (issue 10, hole 8), or lies
 * to the meter core about what the SVM granted.
 *
 * The attacker is a device wired onto the meter's internal bus between the meter core and its SAM
 * and SVM. It has no key. Before the fix, SAM TOKEN AUTH needed no authentication: the device could
 * have the SAM sign token requests and drain the SVM into nothing. Now the core proves itself with
 * K_core, and checks the SVM's grants and signed states with it.
 */
import { describe, expect, it } from 'vitest';
import type { CardChannel } from '../../reader/CardChannel.js';
import { interceptChannel } from '../reader/interceptChannel.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import { AID_SVM, INS_READ_STATE, INS_TOKEN_REQUEST } from '../../card/applets/constants.js';
import { makeSvm } from '../../card/applets/profiles.js';
import { tokenAuthInput, tokenCoreInput } from '../../card/applets/PurseCrypto.js';
import { SeededRng } from '../../card/crypto/rng.js';
import { A, hexSw, image, ok, poweredWorld, svmState, tx } from '../applets/harness.js';
import { METER_ID, TERMINAL_ID } from '../transfer/world.js';
import { newMeter, svmView, meterSide } from '../meter/cardWorld.js';

/** An SVM channel whose answers to one instruction the attacker rewrites while `armed.on`. */
function tamper(
  inner: CardChannel,
  ins: number,
  rewrite: (r: ResponseApdu) => ResponseApdu,
  armed: { on: boolean },
): CardChannel {
  return interceptChannel(inner, async (c, next) => {
    const r = await next(c);
    return armed.on && c.ins === ins ? rewrite(r) : r;
  });
}

describe('attack: the SAM as a token oracle for anything on the bus', () => {
  it("TOKEN AUTH without the core's MAC is refused (6300) and the SVM keeps every unit", () => {
    const w = poweredWorld({ svmBalance: 10_000 });
    const before = image(w.svm.store);
    const c = w.issuer.crypto;
    const rng = new SeededRng('bus-device');
    // No MAC, random MACs, and MACs under every key a bus device might guess or have from elsewhere.
    const wrongKeys = [
      new Uint8Array(16),
      w.issuer.coreKey(Uint8Array.of(0, 1, 0x24), 1), // the neighbour meter's core key
      w.issuer.coreKey(METER_ID, 2), // the gas utility's meter with the same id
    ];
    const attempts = [
      new Uint8Array(8),
      ...Array.from({ length: 500 }, () => rng.bytes(8)),
      ...wrongKeys.map((k) => c.mac(k, tokenCoreInput(METER_ID, 100, 1))),
    ];
    for (const mac of attempts) expect(hexSw(tx(w.sam.os, A.tokenAuth(100, 1, mac)).sw)).toBe('6300');
    expect(image(w.svm.store)).toBe(before);
    expect(svmState(w)).toMatchObject({ balance: 10_000, counter: 0 });
  });

  it("K_core gives no K_svm: it cannot stand in for the SAM's authorisation (6300)", () => {
    const w = poweredWorld({ svmBalance: 10_000 });
    const kCore = w.core().key;
    const before = image(w.svm.store);
    const forged = w.issuer.crypto.mac(kCore, tokenAuthInput(METER_ID, 100, 1));
    expect(hexSw(tx(w.svm.os, A.tokenRequest(100, 1, forged)).sw)).toBe('6300');
    expect(image(w.svm.store)).toBe(before);
  });

  it('a forged grant ("65535 units granted") is not believed: the core hands out what the SVM paid', async () => {
    const armed = { on: false };
    const cm = await newMeter({
      svmBalance: 5_000,
      wrap: (ch, role) =>
        role === 'svm'
          ? tamper(
              ch,
              INS_TOKEN_REQUEST,
              (r) => {
                const d = r.data;
                d[0] = 0xff;
                d[1] = 0xff;
                return new ResponseApdu(d, r.sw);
              },
              armed,
            )
          : ch,
    });
    const sideBefore = meterSide(cm);
    armed.on = true;
    const got = await cm.register.requestTokens(100);
    armed.on = false;
    // The SVM granted 100; the forged 65535 was refused, and the lost grant settled from the signed state.
    expect(got).toBe(100);
    expect(svmView(cm).balance).toBe(sideBefore - cm.meter.exchanger.drawn - 100);
  });

  it("a forged signed state during recovery is refused: no unit handed out on the bus's word", async () => {
    const state = { on: false };
    const drop = { on: false };
    const cm = await newMeter({
      svmBalance: 5_000,
      wrap: (ch, role) => {
        if (role !== 'svm') return ch;
        const lying = tamper(
          ch,
          INS_READ_STATE,
          (r) => {
            // "Your request went through and the SVM is now empty": claim the whole balance.
            const d = r.data;
            d.fill(0, 0, 4);
            return new ResponseApdu(d, r.sw);
          },
          state,
        );
        return interceptChannel(lying, async (c, next) => {
          if (drop.on && c.ins === INS_TOKEN_REQUEST) {
            await next(c);
            drop.on = false;
            state.on = true; // from now on the SVM's states are forged
            return new ResponseApdu(new Uint8Array(0), 0x6f00); // the attacker swallows the answer
          }
          return next(c);
        });
      },
    });
    const svmBefore = svmView(cm).balance;
    drop.on = true;
    // The answer is swallowed and replaced by 6F00; the state the core then reads is forged.
    await expect(cm.register.requestTokens(100)).rejects.toThrow();
    state.on = false;
    // Nothing was handed out on the strength of the forged state.
    expect(cm.register.recovered).toBe(0);
    // The SVM really did grant 100 — and the core gets exactly those once the bus tells the truth.
    expect(svmView(cm).balance).toBe(svmBefore - 100);
    expect(await cm.register.requestTokens(100)).toBe(200);
    expect(svmView(cm).balance).toBe(svmBefore - 200);
  });

  it('a recorded TOKEN REQUEST replayed into the replacement SVM of the same meter, counter lined up, is refused', () => {
    const w = poweredWorld({ svmBalance: 1_000 });
    const mac = ok(
      w.sam.os,
      A.tokenAuth(100, 1, w.issuer.crypto.mac(w.core().key, tokenCoreInput(METER_ID, 100, 1))),
    );
    const recorded = A.tokenRequest(100, 1, mac);
    ok(w.svm.os, recorded);
    // The replacement pair's SVM (pairing 2), with a balance and its counter at 0 like the old one's was.
    const svm2 = makeSvm(w.issuer, {
      meterId: METER_ID,
      terminalId: TERMINAL_ID,
      pairing: 2,
      max: 100_000,
      balance: 1_000,
      rng: new SeededRng('svm2'),
    });
    svm2.os.powerUp();
    ok(svm2.os, A.selectAid(AID_SVM));
    const before = image(svm2.store);
    expect(hexSw(tx(svm2.os, recorded).sw)).toBe('6300');
    expect(image(svm2.store)).toBe(before);
  });

  it('the SAM answers a real core request (control: the keys in the attacks above were the only difference)', () => {
    const w = poweredWorld({ svmBalance: 500 });
    const mac = w.issuer.crypto.mac(w.core().key, tokenCoreInput(METER_ID, 100, 1));
    const auth = ok(w.sam.os, A.tokenAuth(100, 1, mac));
    expect(ok(w.svm.os, A.tokenRequest(100, 1, auth)).subarray(0, 2)).toEqual(Uint8Array.of(0, 100));
  });
});
