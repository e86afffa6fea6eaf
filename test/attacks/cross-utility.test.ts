/**
 * Attack: one utility drains another's purse on the shared multi-purse card (issue 10, hole 4).
 *
 * The attacker is a rogue gas utility (or anyone holding a gas meter's SAM and SVM): it has every
 * key of utility 02 and none of utility 01's. The audit's version pointed a gas meter's card slot
 * at purse 01 and took 100.00 EUR off the electricity purse. Each test tries one way in and checks
 * that the electricity purse, its log and its meter-data record are untouched.
 */
import { describe, expect, it } from 'vitest';
import { SeededRng } from '../../card/crypto/rng.js';
import { makeSam, makeSvm, type Device } from '../../card/applets/profiles.js';
import type { SamApplet } from '../../card/applets/sam/SamApplet.js';
import type { SvmApplet } from '../../card/applets/svm/SvmApplet.js';
import { AID_SAM, AID_SVM, PURSE_ELECTRICITY, PURSE_GAS } from '../../card/applets/constants.js';
import { debitMacInput, samCryptogramInput, transferAuthInput } from '../../card/applets/PurseCrypto.js';
import { toHex } from '../../card/util/hex.js';
import { A, CSN, hexSw, image, NOW, ok, poweredWorld, purse, tx, type World } from '../applets/harness.js';
import { cardView, demoIssuer, newMeter, subscriber } from '../meter/cardWorld.js';

const GAS_METER = Uint8Array.of(0, 2, 0x77);
const GAS_TERMINAL = Uint8Array.of(0, 0, 2, 0x77);

/** A gas utility's SAM and SVM (keys of utility 02), powered and selected, beside the world's card. */
function gasModules(w: World): { sam: Device<SamApplet>; svm: Device<SvmApplet> } {
  const ids = { meterId: GAS_METER, terminalId: GAS_TERMINAL, purse: PURSE_GAS };
  const sam = makeSam(w.issuer, { ...ids, rng: new SeededRng('gas-sam') });
  const svm = makeSvm(w.issuer, { ...ids, max: 10_000_000, rng: new SeededRng('gas-svm') });
  for (const d of [sam, svm]) d.os.powerUp();
  ok(sam.os, A.selectAid(AID_SAM));
  ok(svm.os, A.selectAid(AID_SVM));
  return { sam, svm };
}

/** Authenticates the card with the gas SAM for purse `p` of the card; returns the card's SW. */
function gasAuth(w: World, sam: Device<SamApplet>, p: number): number {
  const rc = ok(w.card.os, A.getChallenge());
  const init = ok(sam.os, A.authInit(CSN, rc));
  return tx(w.card.os, A.mutualAuthenticate(init.subarray(0, 8), init.subarray(8, 16), p)).sw;
}

describe('attack: a gas utility takes value from the electricity purse', () => {
  it("a gas meter's slot pointed at purse 01 (the audit's attack) moves nothing", async () => {
    const issuer = demoIssuer();
    const cm = await newMeter({ meter: { commodity: 'gas' }, slot: { purse: PURSE_ELECTRICITY } });
    const card = subscriber(issuer, { balance: 10_000 });
    const before = cardView(card);
    const o = await cm.slot.insert(card.os);
    expect(o.accepted).toBe(false);
    expect(o.amount).toBe(0);
    const after = cardView(card);
    expect(after.purses).toEqual(before.purses);
    expect(after.log).toEqual(before.log);
    expect(after.meterData).toEqual(before.meterData);
    expect(await cm.register.balance()).toBe(0);
  });

  it('the gas SAM cannot open a session for purse 01: the card refuses its cryptogram (6300)', () => {
    const w = poweredWorld();
    const { sam } = gasModules(w);
    expect(hexSw(gasAuth(w, sam, PURSE_ELECTRICITY))).toBe('6300');
    // And the card has no session at all: no debit, no meter-data write.
    expect(hexSw(tx(w.card.os, A.updateMeterData(1, new Uint8Array(72))).sw)).toBe('6982');
  });

  it("a gas-purse session debiting purse 01 with the gas SAM's own DEBIT MAC is refused 6982", () => {
    const w = poweredWorld();
    const { sam } = gasModules(w);
    const rc = ok(w.card.os, A.getChallenge());
    const init = ok(sam.os, A.authInit(CSN, rc));
    const sCard = ok(w.card.os, A.mutualAuthenticate(init.subarray(0, 8), init.subarray(8, 16), PURSE_GAS));
    ok(sam.os, A.authFinish(sCard));
    const before = image(w.card.store);
    const rv = new Uint8Array(8).fill(7);
    // The SAM signs for its own purse only.
    expect(hexSw(tx(sam.os, A.transferAuth(PURSE_ELECTRICITY, 10_000, 1, NOW, rv)).sw)).toBe('6A88');
    // Its gas debit MAC, and the same MAC recomputed by an insider for purse 01 with the gas session key.
    const gasMacs = ok(sam.os, A.transferAuth(PURSE_GAS, 10_000, 1, NOW, rv));
    const c = w.issuer.crypto;
    const skGas = c.sessionKey(w.issuer.cardKeys(CSN, PURSE_GAS).debit, rc, init.subarray(0, 8));
    const t = {
      csn: CSN,
      purse: PURSE_ELECTRICITY,
      amount: 10_000,
      counter: 1,
      terminalId: GAS_TERMINAL,
      dateTime: NOW,
    };
    for (const mac of [gasMacs.subarray(0, 8), c.mac(skGas, debitMacInput(t, rv))])
      expect(hexSw(tx(w.card.os, A.debit(PURSE_ELECTRICITY, 10_000, GAS_TERMINAL, NOW, rv, mac)).sw)).toBe(
        '6982',
      );
    expect(image(w.card.store)).toBe(before);
    expect(purse(w, PURSE_ELECTRICITY).balance).toBe(10_000);
  });

  it("a gas meter cannot overwrite the electricity meter's data record on the card (6982)", () => {
    const w = poweredWorld();
    const { sam } = gasModules(w);
    expect(hexSw(gasAuth(w, sam, PURSE_GAS))).toBe('9000');
    const before = image(w.card.store);
    // Record 1 is purse 01's (the FCI lists 01 02 03 04 05); record 2 is the gas meter's own.
    expect(hexSw(tx(w.card.os, A.updateMeterData(1, new Uint8Array(72).fill(0xee))).sw)).toBe('6982');
    expect(image(w.card.store)).toBe(before);
    ok(w.card.os, A.updateMeterData(2, new Uint8Array(72)));
  });

  it('the gas SVM takes no credit from purse 01, even with a matching SAM authorisation (6A88)', () => {
    const w = poweredWorld();
    const { svm } = gasModules(w);
    const c = w.issuer.crypto;
    const rv = ok(svm.os, A.getChallenge());
    // An insider of the gas utility computes a BEGIN authorisation with its own K_svm for purse 01.
    const kSvm = w.issuer.svmKey(GAS_METER, PURSE_GAS);
    const mac = c.mac(kSvm, transferAuthInput(rv, CSN, PURSE_ELECTRICITY, 1000, 1, NOW));
    const before = image(svm.store);
    expect(hexSw(tx(svm.os, A.beginTransfer(CSN, PURSE_ELECTRICITY, 1000, 1, NOW, mac)).sw)).toBe('6A88');
    expect(image(svm.store)).toBe(before);
  });

  it("no key of utility 01 is anywhere in a gas SAM's or SVM's memory, and the card keeps one key set per purse", () => {
    const w = poweredWorld();
    const { sam, svm } = gasModules(w);
    const u1 = w.issuer.utility(PURSE_ELECTRICITY);
    const elecCard = w.issuer.cardKeys(CSN, PURSE_ELECTRICITY);
    const secrets = [
      u1.auth,
      u1.debit,
      u1.credit,
      u1.proof,
      u1.svm,
      u1.commission,
      elecCard.auth,
      elecCard.debit,
    ];
    for (const img of [toHex(sam.store.image()), toHex(svm.store.image())])
      for (const k of secrets) expect(img).not.toContain(toHex(k));
    // Per-purse card keys really differ: utility 02's K_auth is not utility 01's.
    expect(toHex(w.issuer.cardKeys(CSN, PURSE_GAS).auth)).not.toBe(toHex(elecCard.auth));
    // A MUTUAL AUTHENTICATE for purse 01 computed from every key the gas SAM holds fails.
    const gas = w.issuer.samKeys(GAS_METER, PURSE_GAS);
    const c = w.issuer.crypto;
    for (const mk of [gas.mkAuth, gas.mkDebit, gas.mkCommission, gas.svm]) {
      const rc = ok(w.card.os, A.getChallenge());
      const rs = new Uint8Array(8).fill(3);
      const sk = c.sessionKey(c.cardKey(mk, CSN), rc, rs);
      const sSam = c.mac(sk, samCryptogramInput(rc, rs, CSN));
      expect(hexSw(tx(w.card.os, A.mutualAuthenticate(rs, sSam, PURSE_ELECTRICITY)).sw)).toBe('6300');
    }
  });
});
