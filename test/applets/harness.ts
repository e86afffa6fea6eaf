/**
 * Synchronous APDU-level helpers for the applet tests: each device's CardOs is driven directly, so
 * a test can stop at any command, change one byte, and compare store images.
 */
import { expect } from 'vitest';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { CommandApdu as Cmd } from '../../card/iso7816/CommandApdu.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import type { CardOs } from '../../card/os/CardOs.js';
import { AID_PURSE, AID_SAM, AID_SVM } from '../../card/applets/constants.js';
import type { RegionRecordStore } from '../../card/applets/platform/RegionRecordStore.js';
import { toHex } from '../../card/util/hex.js';
import { debitMacInput, loadMacInput, tokenCoreInput } from '../../card/applets/PurseCrypto.js';
import { PurseState } from '../../card/applets/purse/records.js';
import { u16, u32 } from '../../card/util/bigEndian.js';
import * as A from '../../terminal/apdus.js';
import {
  CSN,
  METER_ID,
  NOW,
  TERMINAL_ID,
  VENDING_TERMINAL,
  World,
  type WorldOptions,
} from '../transfer/world.js';
import { HostSide } from '../transfer/hostSide.js';
import { deriveTerminalKey } from '../../card/crypto/keyHierarchy.js';
import { concatBytes } from '../../card/util/hex.js';

export { CSN, NOW, TERMINAL_ID, VENDING_TERMINAL, World };

/** Sends a command to a chip (T=1 framing: the response data comes straight back). */
export function tx(os: CardOs, c: CommandApdu | Uint8Array): ResponseApdu {
  return ResponseApdu.decode(os.transmit(c instanceof Uint8Array ? c : c.encode()));
}

/** A status word as the specs write it: 0x6a80 → "6A80". */
export const hexSw = (sw: number): string => sw.toString(16).toUpperCase();

export function ok(os: CardOs, c: CommandApdu): Uint8Array {
  const r = tx(os, c);
  expect(r.sw.toString(16)).toBe('9000');
  return r.data;
}

/** A copy of `c` with byte `i` of its data XORed with `mask`. */
export function flip(c: CommandApdu, i: number, mask = 0x01): CommandApdu {
  const data = c.data;
  data[i]! ^= mask;
  return new Cmd({
    cla: c.cla,
    ins: c.ins,
    p1: c.p1,
    p2: c.p2,
    data,
    ...(c.ne !== undefined ? { ne: c.ne } : {}),
  });
}

export function image(store: RegionRecordStore): string {
  return toHex(store.image());
}

/** A world whose three chips are powered and selected. */
export function poweredWorld(o: WorldOptions = {}): World {
  const w = new World(o);
  for (const d of [w.card, w.sam, w.svm]) d.os.powerUp();
  ok(w.card.os, A.selectAid(AID_PURSE));
  ok(w.sam.os, A.selectAid(AID_SAM));
  ok(w.svm.os, A.selectAid(AID_SVM));
  return w;
}

/**
 * One seed 000 value-store attempt up to the SVM: HOST INIT (R1, R2 filled with `seed`, `seed + 1`),
 * the host's EnAmnt and S2h under KH[1], SVM GET CHALLENGE, SAM HOST COMMAND. Returns the HOST CREDIT
 * to send (not sent) and the pieces an attacker could keep.
 */
export function hostAuthorise(w: World, amount: number, txId: Uint8Array, seed: number) {
  const host = new HostSide(w.issuer.crypto.cipher);
  const kt = deriveTerminalKey(w.issuer.crypto.cipher, w.issuer.utility(1).host[1]![1], METER_ID);
  const r1 = new Uint8Array(8).fill(seed);
  const init = ok(w.sam.os, A.hostInit(1, r1, new Uint8Array(8).fill(seed + 1)));
  const r3 = init.slice(8, 16);
  const ks = host.sessionKey(kt, r1);
  const en = host.encryptAmount(ks, amount, txId);
  const rv = ok(w.svm.os, A.getChallenge());
  const auth = ok(w.sam.os, A.hostCommand(0x51, concatBytes(en, host.s2(ks, 0x51, r3, en), rv)));
  return { r3, rv, auth, credit: A.hostCredit(amount, txId, auth.subarray(12, 20), r3) };
}

/** SAM TOKEN AUTH as this world's meter core asks for it (with its MAC under K_core). */
export function coreTokenAuth(w: World, units: number, counter: number): CommandApdu {
  const c = w.issuer.crypto;
  const meterId = Uint8Array.of(0, 1, 0x23);
  return A.tokenAuth(units, counter, c.mac(w.core().key, tokenCoreInput(meterId, units, counter)));
}

/** Mutual authentication card <-> SAM (for the SAM's purse, 01); returns both challenges. */
export function authenticate(w: World): { rc: Uint8Array; rs: Uint8Array } {
  const rc = ok(w.card.os, A.getChallenge());
  const init = ok(w.sam.os, A.authInit(CSN, rc));
  const sCard = ok(w.card.os, A.mutualAuthenticate(init.subarray(0, 8), init.subarray(8, 16), 1));
  ok(w.sam.os, A.authFinish(sCard));
  return { rc, rs: init.slice(0, 8) };
}

/**
 * A DEBIT with any fields, MACed with the session key computed from the issuer's MK_debit (what a
 * SAM would compute, without the SAM's own checks) — to reach the card's checks behind the MAC.
 */
export function issuerDebit(
  w: World,
  amount: number,
  counter: number,
  dateTime = NOW,
  purseId = 1,
): CommandApdu {
  const { rc, rs } = authenticate(w);
  const c = w.issuer.crypto;
  const sk = c.sessionKey(w.issuer.cardKeys(CSN, purseId).debit, rc, rs);
  const rv = new Uint8Array(8);
  const t = {
    csn: CSN,
    purse: purseId,
    amount,
    counter: counter & 0xffff,
    terminalId: TERMINAL_ID,
    dateTime,
  };
  return A.debit(purseId, amount, TERMINAL_ID, dateTime, rv, c.mac(sk, debitMacInput(t, rv)));
}

export function purse(w: World, id = 1): PurseState {
  return PurseState.decode(ok(w.card.os, A.readPurse(id)));
}

export interface PreparedDebit {
  rv: Uint8Array;
  counter: number;
  amount: number;
  debit: CommandApdu;
  begin: CommandApdu;
}

/** Authenticates, takes an SVM challenge and the SAM's two MACs: the DEBIT and BEGIN commands to send. */
export function prepareDebit(w: World, amount: number, purseId = 1, rv?: Uint8Array): PreparedDebit {
  authenticate(w);
  const p = purse(w, purseId);
  const challenge = rv ?? ok(w.svm.os, A.getChallenge());
  const counter = p.counter + 1;
  const auth = ok(w.sam.os, A.transferAuth(purseId, amount, counter, NOW, challenge));
  return {
    rv: challenge,
    counter,
    amount,
    debit: A.debit(purseId, amount, TERMINAL_ID, NOW, challenge, auth.subarray(0, 8)),
    begin: A.beginTransfer(CSN, purseId, amount, counter, NOW, auth.subarray(8, 16)),
  };
}

/** A correct LOAD command for the card's current challenge (issuer side, holds MK_credit). */
export function prepareLoad(w: World, amount: number, purseId = 1): CommandApdu {
  const p = purse(w, purseId);
  const rc = ok(w.card.os, A.getChallenge());
  const c = w.issuer.crypto;
  const sk = c.creditSessionKey(w.issuer.creditKey(CSN, purseId), rc);
  const t = {
    csn: CSN,
    purse: purseId,
    amount,
    counter: (p.counter + 1) & 0xffff,
    terminalId: VENDING_TERMINAL,
    dateTime: NOW,
  };
  return A.load(purseId, amount, VENDING_TERMINAL, NOW, c.mac(sk, loadMacInput(t)));
}

export function svmState(w: World): { balance: number; counter: number; pending: boolean } {
  const d = ok(w.svm.os, A.readState());
  return { balance: u32(d, 0), counter: u32(d, 8), pending: d[15] === 1 };
}

export { u16, u32, A };
