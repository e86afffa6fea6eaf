/**
 * The worked examples of docs/purse-spec.md: one continuous seeded session (demo issuer seed
 * "purse-spec", seeded chip RNGs), recorded APDU by APDU. Run
 * `npx tsx test/applets/specExamples.ts --write` to regenerate the ```apdu and ```values blocks of
 * the document in place; test/applets/spec.test.ts replays the document's blocks, so the document
 * cannot drift from the implementation.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import { concatBytes, fromHex, toHex } from '../../card/util/hex.js';
import { HostSide } from '../transfer/hostSide.js';
import { deriveTerminalKey } from '../../card/crypto/keyHierarchy.js';
import { AID_PURSE, AID_SAM, AID_SVM } from '../../card/applets/constants.js';
import {
  cardCryptogramInput,
  debitMacInput,
  loadMacInput,
  recordMacInput,
  samCryptogramInput,
  hostCreditAuthInput,
  tokenCoreInput,
  tokenGrantInput,
  transferAuthInput,
} from '../../card/applets/PurseCrypto.js';
import { MeterData } from '../../card/applets/purse/records.js';
import { pinBlock } from '../../card/applets/purse/PurseApplet.js';
import { defaultPurses, makeSubscriberCard, type Device } from '../../card/applets/profiles.js';
import { SeededRng } from '../../card/crypto/rng.js';
import { be32, u32 } from '../../card/util/bigEndian.js';
import * as A from '../../terminal/apdus.js';
import { CSN, METER_ID, NOW, TERMINAL_ID, VENDING_TERMINAL, World } from '../transfer/world.js';

export type DeviceName = 'card' | 'sam' | 'svm' | 'pincard';

/** The APDU examples in the order the seeded session runs them (the document may show them in another). */
export const SCENARIO_ORDER = [
  'select',
  'auth',
  'read-purse',
  'transfer',
  'meter-data',
  'log',
  'token',
  'load',
  'cancel-status',
  'cancel-record',
  'errors',
  'host',
  'pin',
] as const;
export const SPEC_SEED = 'purse-spec';

export type SpecWorld = World & { pincard: Device };

/**
 * The world the examples run in: every chip powered, nothing selected; beside the card of the
 * examples, a second card (CSN ...02) personalised with the cardholder PIN "1234".
 */
export function specWorld(): SpecWorld {
  const w = new World({ seed: SPEC_SEED, cardBalance: 10_000, svmBalance: 0 });
  const pincard = makeSubscriberCard(w.issuer, {
    csn: fromHex('4D50000000000002'),
    pin: '1234',
    purses: defaultPurses(100),
    rng: new SeededRng(`${SPEC_SEED}:pincard`),
  });
  for (const d of [w.card, w.sam, w.svm, pincard]) d.os.powerUp();
  return Object.assign(w, { pincard });
}

export function spaced(b: Uint8Array): string {
  return toHex(b).replace(/(..)(?=.)/g, '$1 ');
}

/** Runs the scenario; returns blocks of text by name. */
export function generate(): Map<string, string> {
  const w = specWorld();
  const blocks = new Map<string, string>();
  let lines: string[] = [];
  const send = (d: DeviceName, c: CommandApdu): Uint8Array => {
    const r = ResponseApdu.decode(w[d].os.transmit(c.encode()));
    lines.push(`${d}> ${spaced(c.encode())}`, `${d}< ${spaced(r.encode())}`);
    return r.data;
  };
  const block = (name: string, fn: () => void) => {
    lines = [];
    fn();
    blocks.set(name, lines.join('\n'));
  };
  const values = (name: string, v: [string, Uint8Array][]) =>
    blocks.set(name, v.map(([k, x]) => `${k} = ${spaced(x)}`).join('\n'));

  const c = w.issuer.crypto;
  const keys = w.issuer.cardKeys(CSN, 1);
  const u1 = w.issuer.utility(1);
  values('keys', [
    ['MK_auth[01]', u1.auth],
    ['MK_debit[01]', u1.debit],
    ['MK_credit[01]', u1.credit],
    ['MK_proof[01]', u1.proof],
    ['MK_svm[01]', u1.svm],
    ['MK_comm[01]', u1.commission],
    ['CSN', CSN],
    ['K_auth[01]', keys.auth],
    ['K_debit[01]', keys.debit],
    ['K_credit[01]', keys.credit],
    ['K_proof[01]', keys.proof],
    ['K_auth[02] (the gas purse: another utility, another key)', w.issuer.cardKeys(CSN, 2).auth],
    ['K_svm', w.issuer.svmKey(METER_ID, 1)],
    ['K_core = diversify(K_svm, "CORE")', w.issuer.coreKey(METER_ID, 1)],
  ]);

  block('select', () => {
    send('card', A.selectAid(AID_PURSE));
    send('sam', A.selectAid(AID_SAM));
    send('svm', A.selectAid(AID_SVM));
  });

  let rc: Uint8Array = new Uint8Array(0);
  let rs: Uint8Array = new Uint8Array(0);
  block('auth', () => {
    rc = send('card', A.getChallenge());
    const init = send('sam', A.authInit(CSN, rc));
    rs = init.slice(0, 8);
    const sCard = send('card', A.mutualAuthenticate(init.subarray(0, 8), init.subarray(8, 16), 1));
    send('sam', A.authFinish(sCard));
  });
  const skAuth = c.sessionKey(keys.auth, rc, rs);
  const skDebit = c.sessionKey(keys.debit, rc, rs);
  values('auth-values', [
    ['RC', rc],
    ['RS', rs],
    ['SK_auth', skAuth],
    ['SK_debit', skDebit],
    ['S_sam input', samCryptogramInput(rc, rs, CSN)],
    ['S_sam', c.mac(skAuth, samCryptogramInput(rc, rs, CSN))],
    ['S_card input', cardCryptogramInput(rc, rs, CSN)],
    ['S_card', c.mac(skAuth, cardCryptogramInput(rc, rs, CSN))],
  ]);

  block('read-purse', () => {
    send('card', A.readPurse(1));
  });

  let rv: Uint8Array = new Uint8Array(0);
  let debitResp: Uint8Array = new Uint8Array(0);
  block('transfer', () => {
    send('svm', A.readState());
    rv = send('svm', A.getChallenge());
    const auth = send('sam', A.transferAuth(1, 2500, 1, NOW, rv));
    send('svm', A.beginTransfer(CSN, 1, 2500, 1, NOW, auth.subarray(8, 16)));
    debitResp = send('card', A.debit(1, 2500, TERMINAL_ID, NOW, rv, auth.subarray(0, 8)));
    send('svm', A.completeTransfer(u32(debitResp, 0), debitResp.subarray(6, 14)));
  });
  const t = { csn: CSN, purse: 1, amount: 2500, counter: 1, terminalId: TERMINAL_ID, dateTime: NOW };
  values('transfer-values', [
    ['RV', rv],
    ['DEBIT MAC input', debitMacInput(t, rv)],
    ['DEBIT MAC', c.mac(skDebit, debitMacInput(t, rv))],
    ['SVM authorisation input', transferAuthInput(rv, CSN, 1, 2500, 1, NOW)],
    ['SVM authorisation', c.mac(w.issuer.svmKey(METER_ID, 1), transferAuthInput(rv, CSN, 1, 2500, 1, NOW))],
    ['proof input', recordMacInput('D', t, 7500, rv)],
    ['proof', c.mac(keys.proof, recordMacInput('D', t, 7500, rv))],
  ]);

  block('meter-data', () => {
    const md = new MeterData({
      meterId: METER_ID,
      purse: 1,
      dateTime: NOW,
      cumulative: 1_234_567,
      tariffRegisters: [800_000, 400_000, 34_567, 0],
      sinceLastCredit: 5_432,
      lastTransferKind: 1,
      lastTransferRef: concatBytes(CSN, Uint8Array.of(0, 1)),
      emergencyLimit: 500,
      emergencyUsed: 0,
      tariffPrices: [21, 14, 9, 0],
      events: 0x0001,
    });
    send('card', A.updateMeterData(1, md.encode()));
    send('card', A.readMeterData(1));
  });

  block('log', () => {
    send('card', A.readLogRecord(1));
    send('card', A.readLogRecord(2));
  });

  const kCore = w.issuer.coreKey(METER_ID, 1);
  let grant = new Uint8Array(0) as Uint8Array;
  block('token', () => {
    const mac = send('sam', A.tokenAuth(100, 2, c.mac(kCore, tokenCoreInput(METER_ID, 100, 2))));
    grant = send('svm', A.tokenRequest(100, 2, mac));
  });
  values('token-values', [
    ['core MAC input', tokenCoreInput(METER_ID, 100, 2)],
    ['core MAC', c.mac(kCore, tokenCoreInput(METER_ID, 100, 2))],
    ['grant MAC input', tokenGrantInput(METER_ID, 100, u32(grant, 2), 2)],
    ['grant MAC', grant.subarray(6, 14)],
  ]);

  let rcLoad: Uint8Array = new Uint8Array(0);
  block('load', () => {
    rcLoad = send('card', A.getChallenge());
    const sk = c.creditSessionKey(keys.credit, rcLoad);
    const tl = { csn: CSN, purse: 2, amount: 5000, counter: 1, terminalId: VENDING_TERMINAL, dateTime: NOW };
    send('card', A.load(2, 5000, VENDING_TERMINAL, NOW, c.mac(sk, loadMacInput(tl))));
  });
  const tl = { csn: CSN, purse: 2, amount: 5000, counter: 1, terminalId: VENDING_TERMINAL, dateTime: NOW };
  values('load-values', [
    ['RC', rcLoad],
    ['SK_credit', c.creditSessionKey(keys.credit, rcLoad)],
    ['LOAD MAC input', loadMacInput(tl)],
  ]);

  // Recovery: a pending transfer whose debit never reached the card is cancelled with the signed status.
  block('cancel-status', () => {
    const rc2 = send('card', A.getChallenge());
    const init = send('sam', A.authInit(CSN, rc2));
    const sCard = send('card', A.mutualAuthenticate(init.subarray(0, 8), init.subarray(8, 16), 1));
    send('sam', A.authFinish(sCard));
    const rv2 = send('svm', A.getChallenge());
    const auth = send('sam', A.transferAuth(1, 1000, 2, NOW, rv2));
    send('svm', A.beginTransfer(CSN, 1, 1000, 2, NOW, auth.subarray(8, 16)));
    // ... the card is pulled here; on the next insertion (after authentication):
    send('svm', A.readState());
    const rv3 = send('svm', A.getChallenge());
    const s = send('card', A.readPurse(1, rv3));
    send('svm', A.cancelWithStatus(u32(s, 0), (s[14]! << 8) | s[15]!, s.subarray(17, 25)));
  });

  // Recovery with the log record: the pending counter was used by a LOAD elsewhere.
  block('cancel-record', () => {
    const rc2 = send('card', A.getChallenge());
    const init = send('sam', A.authInit(CSN, rc2));
    const sCard = send('card', A.mutualAuthenticate(init.subarray(0, 8), init.subarray(8, 16), 1));
    send('sam', A.authFinish(sCard));
    const rv2 = send('svm', A.getChallenge());
    const auth = send('sam', A.transferAuth(1, 1000, 2, NOW, rv2));
    send('svm', A.beginTransfer(CSN, 1, 1000, 2, NOW, auth.subarray(8, 16)));
    const rc3 = send('card', A.getChallenge());
    const sk = c.creditSessionKey(keys.credit, rc3);
    const tl2 = { csn: CSN, purse: 1, amount: 100, counter: 2, terminalId: VENDING_TERMINAL, dateTime: NOW };
    send('card', A.load(1, 100, VENDING_TERMINAL, NOW, c.mac(sk, loadMacInput(tl2))));
    const rec = send('card', A.readLogRecord(1));
    send('svm', A.cancelWithRecord(rec));
  });

  block('errors', () => {
    // SELECT (ends any session), DEBIT without a SAM session, LOAD without a challenge, a wrong SAM
    // cryptogram, an unknown purse, COMPLETE with nothing pending.
    send('card', A.selectAid(AID_PURSE));
    send('card', A.debit(1, 1, TERMINAL_ID, NOW, new Uint8Array(8), new Uint8Array(8)));
    send('card', A.load(1, 1, VENDING_TERMINAL, NOW, new Uint8Array(8)));
    send('card', A.getChallenge());
    send('card', A.mutualAuthenticate(new Uint8Array(8), new Uint8Array(8), 1));
    send('card', A.readPurse(9));
    send('svm', A.completeTransfer(0, new Uint8Array(8)));
  });

  // Seed 000 value store through the SAM into the SVM (the host's side computed with KH[1]).
  const host = new HostSide(c.cipher);
  const kt1 = deriveTerminalKey(c.cipher, u1.host[1]![1], METER_ID);
  const r1 = fromHex('0102030405060708');
  const r2 = fromHex('1112131415161718');
  const txId = fromHex('0000000000004242');
  const ks = host.sessionKey(kt1, r1);
  let m = new Uint8Array(0) as Uint8Array;
  let r3 = new Uint8Array(0) as Uint8Array;
  let hostRv = new Uint8Array(0) as Uint8Array;
  block('host', () => {
    const init = send('sam', A.hostInit(1, r1, r2));
    r3 = init.slice(8, 16);
    hostRv = send('svm', A.getChallenge());
    const en = host.encryptAmount(ks, 20_000, txId);
    const auth = send('sam', A.hostCommand(0x51, concatBytes(en, host.s2(ks, 0x51, r3, en), hostRv)));
    const answer = send('svm', A.hostCredit(20_000, txId, auth.subarray(12, 20), r3));
    m = send('sam', A.hostFinish(0x51, answer));
  });
  const en = host.encryptAmount(ks, 20_000, txId);
  values('host-values', [
    ['KH[1]', u1.host[1]![1]],
    ['KT[1] = diversify(KH[1], meter id)', kt1],
    ['R1', r1],
    ['R2', r2],
    ['Ks = Encrypt(R1, KT[1])', ks],
    ['S1t = MAC(Ks, R2)', host.s1(ks, r2)],
    ['R3', r3],
    [
      'EnAmnt plain (amount ‖ tx id ‖ 80 00 00 00)',
      concatBytes(be32(20_000), txId, Uint8Array.of(0x80, 0, 0, 0)),
    ],
    ['EnAmnt', en],
    ['S2h = MAC(Ks, 51 ‖ R3 ‖ EnAmnt)', host.s2(ks, 0x51, r3, en)],
    ['RV (the SVM challenge)', hostRv],
    ['HOST CREDIT authorisation input', hostCreditAuthInput(METER_ID, 20_000, txId, hostRv)],
    ['M', m],
    [
      'Decrypt(M, Ks) = status ‖ tx id ‖ balance after ‖ balance ‖ meter id ‖ 80 00 00 00',
      c.cipher.decrypt('tdes', 'cbc', ks, m),
    ],
  ]);
  block('pin', () => {
    send('pincard', A.selectAid(AID_PURSE));
    send('pincard', A.verifyPin()); // tries left
    send('pincard', A.verifyPin(pinBlock('9999'))); // wrong: 2 tries left
    send('pincard', A.verifyPin(pinBlock('1234'))); // right: tries reset, verified
    send('pincard', A.changePin(pinBlock('1234'), pinBlock('567890')));
    send('pincard', A.verifyPin(pinBlock('567890')));
  });
  return blocks;
}

/**
 * Replaces the body of every `<!-- MARKER:NAME -->` fenced block of `doc` with the generated text
 * (`example` for the blocks of §1–§12, `offline` for §13's, test/applets/offlineSpecExamples.ts).
 */
export function fill(doc: string, blocks: Map<string, string>, marker = 'example'): string {
  return doc.replace(
    new RegExp(`<!-- ${marker}:([a-z-]+) -->\\n\`\`\`(apdu|values)\\n[\\s\\S]*?\`\`\``, 'g'),
    (_whole, name: string, kind: string) => {
      const b = blocks.get(name);
      if (b === undefined) throw new Error(`no generated example named ${name}`);
      return `<!-- ${marker}:${name} -->\n\`\`\`${kind}\n${b}\n\`\`\``;
    },
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--write')) {
  const path = new URL('../../docs/purse-spec.md', import.meta.url);
  const blocks = generate();
  writeFileSync(path, fill(readFileSync(path, 'utf8'), blocks));
  const json = new URL('../vectors/purse/spec-examples.json', import.meta.url);
  writeFileSync(
    json,
    `${JSON.stringify(Object.fromEntries([...blocks].map(([k, v]) => [k, v.split('\n')])), null, 2)}\n`,
  );
  console.log('docs/purse-spec.md examples and test/vectors/purse/spec-examples.json regenerated');
}
