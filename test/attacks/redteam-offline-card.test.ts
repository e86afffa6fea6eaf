/**
 * Red team R1 (issue 17), on the card and the offline meter's SAM: another utility (water) holding
 * only its own valid masters and its own offline-meter SAM — even one with the gas meter's meter id
 * — against the gas purse; a power cut at every write of the meter's reading; and what "already
 * applied" can and cannot promise when a utility signs one seq twice (a residual for the utility).
 */
import { describe, expect, it } from 'vitest';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { CardPowerLostError } from '../../card/os/CardOs.js';
import { SeededRng } from '../../card/crypto/rng.js';
import { IssuerKeys } from '../../card/applets/IssuerKeys.js';
import { makeSam, type Device } from '../../card/applets/profiles.js';
import type { SamApplet } from '../../card/applets/sam/SamApplet.js';
import { AID_PURSE, AID_SAM } from '../../card/applets/constants.js';
import { keyRemoteSeq } from '../../card/applets/purse/PurseApplet.js';
import {
  OfflineReading,
  REMOTE_ALREADY_APPLIED,
  REMOTE_APPLIED,
  signClearReadings,
  signOfflineConfig,
  signRemoteLoad,
  verifyOfflineReading,
  verifyRemoteReceipt,
} from '../../card/applets/purse/offline.js';
import { u32 } from '../../card/util/bigEndian.js';
import { concatBytes, toHex } from '../../card/util/hex.js';
import type { World } from '../transfer/world.js';
import { cipher } from '../transfer/world.js';
import { A, CSN, hexSw, ok, poweredWorld, tx } from '../applets/harness.js';
import {
  GAS,
  GAS_METER,
  authenticateWith,
  configFields,
  gasSam,
  load,
  readingFields,
  signedReading,
  writeReading,
} from '../applets/offline-helpers.js';

const WATER = 3;
const img = (w: World): string => toHex(w.card.store.image());
const sw = (w: World, c: CommandApdu): string => hexSw(tx(w.card.os, c).sw);

/** The water utility: its own masters only, and its offline meter's SAM (here with gas's meter id). */
function waterUtility(w: World, meterId = GAS_METER): { keys: IssuerKeys; sam: Device<SamApplet> } {
  const keys = new IssuerKeys(cipher, [[WATER, w.issuer.utility(WATER)]]);
  const sam = makeSam(keys, {
    meterId,
    terminalId: Uint8Array.of(0, 0, 0xa0, 0xb3),
    purse: WATER,
    rng: new SeededRng('water-sam'),
  });
  sam.os.powerUp();
  ok(sam.os, A.selectAid(AID_SAM));
  return { keys, sam };
}

describe('red team R1: another utility with its own valid keys', () => {
  it('can make none of the three commands for the gas purse, whatever P2 and purse byte it puts', () => {
    const w = poweredWorld({ cardBalance: 100 });
    const { keys } = waterUtility(w);
    const before = img(w);
    // Its own K_remote, the gas purse named in P2: the card checks under gas's K_remote.
    const waterLoad = signRemoteLoad(keys, load(1, 9_999, WATER));
    expect(sw(w, A.remoteLoad(GAS, waterLoad))).toBe('6300');
    // A configuration naming the gas purse, card MAC under water's key.
    const cfg = signOfflineConfig(keys, CSN, configFields(7, { purse: WATER, unitCharge: 1 }));
    const asGas = cfg.record.slice();
    asGas[4] = GAS;
    expect(sw(w, A.putConfig(WATER, concatBytes(asGas, cfg.cardMac)))).toBe('6A80'); // purse byte ≠ P2
    expect(sw(w, A.putConfig(GAS, concatBytes(asGas, cfg.cardMac)))).toBe('6300');
    expect(sw(w, A.putConfig(GAS, concatBytes(cfg.record, cfg.cardMac)))).toBe('6A80');
    expect(img(w)).toBe(before);
    // Its own purse works (the keys are valid): the load lands on water, not gas.
    expect(ok(w.card.os, A.remoteLoad(WATER, waterLoad))[0]).toBe(REMOTE_APPLIED);
    expect(u32(w.card.store.view(keyRemoteSeq(GAS)) ?? new Uint8Array(4))).toBe(0);
  });

  it("cannot clear, sign, vouch for or overwrite gas's reading — even with a SAM of the gas meter's id", () => {
    const w = poweredWorld({ cardBalance: 100 });
    const gasMeterSam = gasSam(w);
    const reading = signedReading(gasMeterSam, readingFields(4), w);
    writeReading(w, gasMeterSam, reading);
    const { keys, sam } = waterUtility(w);
    const before = img(w);
    // CLEAR READINGS for gas's reading MAC: under water's key for P2 gas is 6300; for P2 water
    // it names a reading that is not water's (6985).
    expect(sw(w, A.clearReadings(GAS, signClearReadings(keys, CSN, WATER, reading.mac)))).toBe('6300');
    expect(sw(w, A.clearReadings(WATER, signClearReadings(keys, CSN, WATER, reading.mac)))).toBe('6985');
    // Its SAM (same meter id 0A0B0C) signs no gas reading — not even in a session with the card it
    // may open (for water) — and vouches for no gas configuration.
    authenticateWith(w, sam, WATER);
    expect(hexSw(tx(sam.os, A.samSignReadings(CSN, reading.signedPart())).sw)).toBe('6A80');
    const gasCfg = signOfflineConfig(w.issuer, CSN, configFields(2)).record;
    expect(hexSw(tx(sam.os, A.samConfigCheck(CSN, gasCfg)).sw)).toBe('6A80');
    // Its own reading, purse byte rewritten to gas: the MAC is water's, gas's utility rejects it...
    const own = signedReading(sam, readingFields(9, { purse: WATER, events: 0 }), w);
    const relabelled = OfflineReading.decode(
      concatBytes(own.encode().subarray(0, 4), Uint8Array.of(GAS), own.encode().subarray(5)),
    );
    expect(verifyOfflineReading(w.issuer, CSN, relabelled)).toBe(false);
    expect(verifyOfflineReading(w.issuer, CSN, own)).toBe(true); // (the water reading is good as water's)
    // ...and a water SAM session cannot write it into gas's record (position 2) at all.
    ok(w.card.os, A.selectAid(AID_PURSE));
    authenticateWith(w, sam, WATER);
    expect(sw(w, A.updateOfflineReadings(2, relabelled.encode()))).toBe('6982');
    expect(img(w)).toBe(before);
  });
});

describe('red team R1: a power cut at every write of the meter’s reading (UPDATE RECORD SFI 04)', () => {
  it('the record is the old reading or the new one, never a mix; a clear of the old one never clears the new', () => {
    const setup = (w: World) => {
      const sam = gasSam(w);
      const old = signedReading(sam, readingFields(4), w);
      writeReading(w, sam, old);
      const fresh = signedReading(sam, readingFields(5, { cumulative: 999_999 }), w);
      ok(w.card.os, A.selectAid(AID_PURSE));
      authenticateWith(w, sam, GAS);
      return { old, fresh, cmd: A.updateOfflineReadings(2, fresh.encode()) };
    };
    const ref = poweredWorld({ cardBalance: 100 });
    const r = setup(ref);
    const w0 = ref.card.store.writeCount;
    ok(ref.card.os, r.cmd);
    const writes = ref.card.store.writeCount - w0;
    expect(writes).toBeGreaterThan(0);
    const seen = new Set<string>();
    for (let k = 1; k <= writes; k++) {
      const w = poweredWorld({ cardBalance: 100 });
      const { old, fresh, cmd } = setup(w);
      w.card.store.armTear(k);
      expect(() => w.card.os.transmit(cmd.encode())).toThrow(CardPowerLostError);
      w.card.store.disarmTear();
      w.card.os.powerUp();
      ok(w.card.os, A.selectAid(AID_PURSE));
      const rec = toHex(ok(w.card.os, A.readOfflineReadings(2)));
      expect([toHex(old.encode()), toHex(fresh.encode())]).toContain(rec);
      const isNew = rec === toHex(fresh.encode());
      seen.add(isNew ? 'new' : 'old');
      // The utility's clear of the old reading (collected earlier) clears only the old one.
      const clearOld = A.clearReadings(GAS, signClearReadings(w.issuer, CSN, GAS, old.mac));
      expect(sw(w, clearOld)).toBe(isNew ? '6985' : '9000');
      if (isNew) expect(toHex(ok(w.card.os, A.readOfflineReadings(2)))).toBe(toHex(fresh.encode()));
    }
    expect(seen).toEqual(new Set(['old', 'new']));
  });
});

describe('red team R1: what "already applied" promises', () => {
  it('the receipt of outcome 02 confirms the seq, not the message: a utility must never sign one seq twice (residual)', () => {
    const w = poweredWorld({ cardBalance: 100 });
    const applied = signRemoteLoad(w.issuer, load(1, 300));
    expect(ok(w.card.os, A.remoteLoad(GAS, applied))[0]).toBe(REMOTE_APPLIED);
    // A utility that lost its seq high-water mark (a database restored from backup) signs seq 1 again
    // for another sale: the card answers "already applied" with a receipt that verifies for it.
    const resigned = signRemoteLoad(w.issuer, load(1, 5_000));
    const r = ok(w.card.os, A.remoteLoad(GAS, resigned));
    expect(r[0]).toBe(REMOTE_ALREADY_APPLIED);
    expect(u32(r, 1)).toBe(400); // the purse's real balance: 5 000 never arrived
    expect(verifyRemoteReceipt(w.issuer, load(1, 5_000), r.subarray(7, 15))).toBe(true);
    // What the utility can check: the balance in the answer, and its own one-message-per-seq rule
    // (host/utility/db/UtilityDb.ts keeps the last seq signed per card purse).
  });
});
