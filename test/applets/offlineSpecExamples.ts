/**
 * The worked examples of docs/purse-spec.md §13 (issue 17: the card as the offline meters' link):
 * one seeded session in the world of the other examples (demo issuer "purse-spec", the card CSN
 * …01) plus the gas utility's offline meter SAM (purse 02, meter 00 04 56, `SeededRng("purse-spec:
 * gsam")`). Run `npx tsx test/applets/offlineSpecExamples.ts --write` to regenerate the
 * `<!-- offline:NAME -->` blocks of the document in place; test/applets/offlineSpec.test.ts replays
 * every block against a fresh world made the same way, so §13 cannot drift from the code.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import { AID_PURSE, AID_SAM } from '../../card/applets/constants.js';
import { makeSam, type Device } from '../../card/applets/profiles.js';
import type { SamApplet } from '../../card/applets/sam/SamApplet.js';
import { SeededRng } from '../../card/crypto/rng.js';
import { deriveTerminalKey } from '../../card/crypto/keyHierarchy.js';
import { fromHex } from '../../card/util/hex.js';
import {
  OfflineReading,
  clearReadingsMacInput,
  configWriteMacInput,
  offlineConfigMacInput,
  offlineReadingMacInput,
  remoteLoadMacInput,
  remoteReceiptInput,
  signClearReadings,
  signOfflineConfig,
  signRemoteLoad,
  type RemoteLoadFields,
} from '../../card/applets/purse/offline.js';
import * as A from '../../terminal/apdus.js';
import { CSN, NOW } from '../transfer/world.js';
import { fill, spaced, specWorld, type SpecWorld } from './specExamples.js';

export const GAS = 0x02;
/** The gas meter of the examples and its SAM's terminal id. */
export const GAS_METER = fromHex('000456');
export const GAS_TERMINAL = fromHex('00000456');
/** The gas utility's seller id in the examples ("GAS1"). */
export const SELLER = fromHex('47415331');

export type OfflineDevice = 'card' | 'gsam';
export type OfflineWorld = SpecWorld & { gsam: Device<SamApplet> };

/** The purse-spec world (every chip powered, nothing selected) and the gas meter's SAM. */
export function offlineWorld(): OfflineWorld {
  const w = specWorld();
  const gsam = makeSam(w.issuer, {
    meterId: GAS_METER,
    terminalId: GAS_TERMINAL,
    purse: GAS,
    rng: new SeededRng('purse-spec:gsam'),
  });
  gsam.os.powerUp();
  return Object.assign(w, { gsam });
}

/** The names of the APDU blocks, in the order the session runs them. */
export const OFFLINE_ORDER = ['remote-load', 'put-config', 'readings', 'clear-readings'] as const;

/** Runs the session; returns blocks of text by name. */
export function generateOffline(): Map<string, string> {
  const w = offlineWorld();
  const c = w.issuer.crypto;
  const blocks = new Map<string, string>();
  let lines: string[] = [];
  const send = (d: OfflineDevice, cmd: CommandApdu): Uint8Array => {
    const r = ResponseApdu.decode(w[d].os.transmit(cmd.encode()));
    lines.push(`${d}> ${spaced(cmd.encode())}`, `${d}< ${spaced(r.encode())}`);
    return r.data;
  };
  const block = (name: string, fn: () => void) => {
    lines = [];
    fn();
    blocks.set(name, lines.join('\n'));
  };
  const values = (name: string, v: [string, Uint8Array][]) =>
    blocks.set(name, v.map(([k, x]) => `${k} = ${spaced(x)}`).join('\n'));

  // ---- REMOTE LOAD: 50.00 of gas sold by the gas utility, seq 1 -------------------------------
  const f1: RemoteLoadFields = {
    csn: CSN,
    purse: GAS,
    seq: 1,
    amount: 5000,
    sellerId: SELLER,
    dateTime: NOW,
  };
  const d1 = signRemoteLoad(w.issuer, f1);
  const d3 = signRemoteLoad(w.issuer, { ...f1, seq: 3, amount: 700 });
  block('remote-load', () => {
    send('card', A.selectAid(AID_PURSE));
    send('card', A.readPurse(GAS));
    send('card', A.remoteLoad(GAS, d1)); // applied: outcome 01
    send('card', A.remoteLoad(GAS, d1)); // delivered again: outcome 02, the same receipt
    send('card', A.remoteLoad(GAS, d3)); // seq 3 before seq 2: 9409
    send('card', A.readLogRecord(1));
  });
  const kCredit = w.issuer.creditKey(CSN, GAS);
  const kRemote = w.issuer.remoteKey(CSN, GAS);
  values('remote-load-values', [
    ['MK_credit[02]', w.issuer.utility(GAS).credit],
    ['MK_auth[02] (the gas meter SAM authenticates the card with it)', w.issuer.utility(GAS).auth],
    ['MK_proof[02] (the card log MAC of a remote load)', w.issuer.utility(GAS).proof],
    ['K_proof[02] = diversify(MK_proof[02], CSN)', w.issuer.cardKeys(CSN, GAS).proof],
    ['K_credit[02] = diversify(MK_credit[02], CSN)', kCredit],
    ['K_remote[02] = diversify(K_credit[02], "REMOTE")', kRemote],
    ['REMOTE LOAD MAC input', remoteLoadMacInput(f1)],
    ["MAC = MAC(K_remote[02], 'R' ‖ …)", c.mac(kRemote, remoteLoadMacInput(f1))],
    ['receipt input', remoteReceiptInput(f1)],
    ["receipt = MAC(K_remote[02], 'A' ‖ …)", c.mac(kRemote, remoteReceiptInput(f1))],
  ]);

  // ---- PUT CONFIG: the card's gas purse bound to gas meter 000456, version 1 ------------------
  const cfg = {
    meterId: GAS_METER,
    purse: GAS,
    version: 1,
    issued: NOW,
    emergencyLimit: 500,
    unitCharge: 110,
    blacklistVersion: 7,
    ktVersion: 1,
  };
  const signed = signOfflineConfig(w.issuer, CSN, cfg);
  block('put-config', () => {
    send('card', A.putConfig(GAS, Uint8Array.of(...signed.record, ...signed.cardMac)));
    send('card', A.putConfig(GAS, Uint8Array.of(...signed.record, ...signed.cardMac))); // not newer: 9407
    send('card', A.readOfflineConfig(2));
    send('gsam', A.selectAid(AID_SAM));
    send('gsam', A.samConfigCheck(CSN, signed.record));
  });
  const kh1 = w.issuer.utility(GAS).host.find(([n]) => n === 1)![1];
  const kt1 = deriveTerminalKey(c.cipher, kh1, GAS_METER);
  const kOffline = w.issuer.offlineMeterKey(GAS_METER, GAS, 1);
  values('put-config-values', [
    ['KH[02][1]', kh1],
    ['KT[1] = diversify(KH[02][1], meter id 00 04 56)', kt1],
    ['K_offline = diversify(KT[1], "OFFLINE")', kOffline],
    [
      "meter MAC input ('C' ‖ CSN ‖ config bytes 0..27)",
      offlineConfigMacInput(CSN, signed.record.subarray(0, 28)),
    ],
    ["card MAC input ('W' ‖ CSN ‖ config)", configWriteMacInput(CSN, signed.record)],
    ["card MAC = MAC(K_remote[02], 'W' ‖ …)", signed.cardMac],
  ]);

  // ---- the gas meter writes its readings (5 tariff steps, the 300 % one included) ------------
  const reading = new OfflineReading({
    meterId: GAS_METER,
    purse: GAS,
    sequence: 1,
    dateTime: NOW,
    cumulative: 24_000,
    sinceLastCredit: 24_000,
    emergencyUsed: 0,
    unitCharge: 110,
    configVersion: 1,
    events: 0,
    stepRegisters: [9000, 6000, 1000, 6000, 2000],
    stepPercents: [50, 75, 100, 200, 300],
    ktVersion: 1,
  });
  const body = reading.signedPart();
  let record: Uint8Array = new Uint8Array(0);
  block('readings', () => {
    const rc = send('card', A.getChallenge());
    const init = send('gsam', A.authInit(CSN, rc));
    const sCard = send('card', A.mutualAuthenticate(init.subarray(0, 8), init.subarray(8, 16), GAS));
    send('gsam', A.authFinish(sCard));
    const mac = send('gsam', A.samSignReadings(CSN, body));
    record = reading.withMac(mac).encode();
    send('card', A.updateOfflineReadings(2, record));
    send('card', A.readOfflineReadings(2));
  });
  values('readings-values', [
    ["reading MAC input ('M' ‖ CSN ‖ record bytes 0..134)", offlineReadingMacInput(CSN, body)],
    ["reading MAC = MAC(K_offline, 'M' ‖ …)", c.mac(kOffline, offlineReadingMacInput(CSN, body))],
  ]);

  // ---- the gas utility, having stored the reading, clears it -----------------------------------
  const readingMac = record.subarray(135, 143);
  block('clear-readings', () => {
    send('card', A.clearReadings(GAS, signClearReadings(w.issuer, CSN, GAS, readingMac)));
    send('card', A.readOfflineReadings(2));
    send('card', A.clearReadings(GAS, signClearReadings(w.issuer, CSN, GAS, readingMac))); // nothing left: 6985
  });
  values('clear-readings-values', [
    [
      "CLEAR READINGS MAC input ('X' ‖ CSN ‖ purse ‖ reading MAC)",
      clearReadingsMacInput(CSN, GAS, readingMac),
    ],
  ]);
  return blocks;
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--write')) {
  const path = new URL('../../docs/purse-spec.md', import.meta.url);
  writeFileSync(path, fill(readFileSync(path, 'utf8'), generateOffline(), 'offline'));
  console.log('docs/purse-spec.md §13 examples regenerated');
}
