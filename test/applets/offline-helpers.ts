/**
 * Issue 17 test helpers shared by test/applets/offline-card.test.ts and
 * test/attacks/remote-load.test.ts: the gas utility's offline meter SAM, sessions with it, and
 * remote loads, configurations and readings made from the issuer's masters.
 */
import { SeededRng } from '../../card/crypto/rng.js';
import { makeSam } from '../../card/applets/profiles.js';
import type { Device } from '../../card/applets/profiles.js';
import type { SamApplet } from '../../card/applets/sam/SamApplet.js';
import { AID_SAM } from '../../card/applets/constants.js';
import {
  OFFLINE_EVENT_TAMPER,
  OfflineReading,
  remoteLoadMacInput,
  type OfflineConfigFields,
  type OfflineReadingFields,
  type RemoteLoadFields,
} from '../../card/applets/purse/offline.js';
import { be32 } from '../../card/util/bigEndian.js';
import { concatBytes, fromHex, toHex } from '../../card/util/hex.js';
import type { World } from '../transfer/world.js';
import { A, CSN, NOW, ok } from './harness.js';

export const GAS = 2;
export const GAS_METER = fromHex('0A0B0C');
export const SELLER = fromHex('47415331'); // "GAS1"

/** The gas utility's offline meter SAM (purse 02, meter 0A0B0C), powered and selected. */
export function gasSam(w: World, meterId = GAS_METER, purse = GAS): Device<SamApplet> {
  const sam = makeSam(w.issuer, {
    meterId,
    terminalId: fromHex('0000A0B0'),
    purse,
    rng: new SeededRng(`gas-sam:${toHex(meterId)}`),
  });
  sam.os.powerUp();
  ok(sam.os, A.selectAid(AID_SAM));
  return sam;
}

/** Mutual authentication of the card with `sam` for purse `purse` (opens a card session for it). */
export function authenticateWith(w: World, sam: Device<SamApplet>, purse: number): void {
  const rc = ok(w.card.os, A.getChallenge());
  const init = ok(sam.os, A.authInit(CSN, rc));
  const sCard = ok(w.card.os, A.mutualAuthenticate(init.subarray(0, 8), init.subarray(8, 16), purse));
  ok(sam.os, A.authFinish(sCard));
}

export function load(seq: number, amount = 1000, purse = GAS): RemoteLoadFields {
  return { csn: CSN, purse, seq, amount, sellerId: SELLER, dateTime: NOW };
}

/** REMOTE LOAD data MAC'd by the issuer without signRemoteLoad's argument checks (to reach the card's). */
export function rawRemote(w: World, f: RemoteLoadFields): Uint8Array {
  const k = w.issuer.remoteKey(f.csn, f.purse);
  const mac = w.issuer.crypto.mac(k, remoteLoadMacInput(f));
  return concatBytes(be32(f.seq), be32(f.amount), f.sellerId, f.dateTime, mac);
}

export function configFields(version: number, o: Partial<OfflineConfigFields> = {}): OfflineConfigFields {
  return {
    meterId: GAS_METER,
    purse: GAS,
    version,
    issued: NOW,
    emergencyLimit: 500,
    unitCharge: 85,
    blacklistVersion: 3,
    ktVersion: 1,
    ...o,
  };
}

export function readingFields(sequence: number, o: Partial<OfflineReadingFields> = {}): OfflineReadingFields {
  return {
    meterId: GAS_METER,
    purse: GAS,
    sequence,
    dateTime: NOW,
    cumulative: 123_456,
    sinceLastCredit: 789,
    emergencyUsed: 0,
    unitCharge: 85,
    configVersion: 1,
    events: OFFLINE_EVENT_TAMPER,
    stepRegisters: [700, 89],
    stepPercents: [100, 150],
    ktVersion: 1,
    ...o,
  };
}

/** A reading signed by `sam` through SIGN READINGS, as the offline meter makes it. */
export function signedReading(sam: Device<SamApplet>, f: OfflineReadingFields, w: World): OfflineReading {
  // The SAM signs only for the card it has just authenticated (purse-spec §13.4).
  authenticateWith(w, sam, f.purse);
  const r = new OfflineReading(f);
  const mac = ok(sam.os, A.samSignReadings(CSN, r.signedPart()));
  ok(w.card.os, A.selectAid()); // the card's own session ends there (the SAM's stays)
  return r.withMac(mac);
}

/** Writes `r` into the card's SFI 04 record of the gas purse (position 2) in a gas SAM session. */
export function writeReading(w: World, sam: Device<SamApplet>, r: OfflineReading): void {
  authenticateWith(w, sam, GAS);
  ok(w.card.os, A.updateOfflineReadings(2, r.encode()));
}
