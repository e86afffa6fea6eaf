import { describe, expect, it } from 'vitest';
import { findTlv } from '../../card/iso7816/tlv.js';
import { toHex } from '../../card/util/hex.js';
import { AID_SAM, AID_SVM } from '../../card/applets/constants.js';
import { tokenAuthInput } from '../../card/applets/PurseCrypto.js';
import { LogRecord } from '../../card/applets/purse/records.js';
import {
  A,
  CSN,
  NOW,
  authenticate,
  image,
  ok,
  poweredWorld,
  prepareDebit,
  prepareLoad,
  svmState,
  tx,
  u32,
  coreTokenAuth,
  hexSw,
} from './harness.js';

const sw = (r: { sw: number }) => hexSw(r.sw);

describe('SAM applet', () => {
  it('answers SELECT with meter id, terminal id and KT versions', () => {
    const w = poweredWorld();
    const fci = ok(w.sam.os, A.selectAid(AID_SAM));
    expect(toHex(findTlv(fci, 0xc4)!)).toBe('000123');
    expect(toHex(findTlv(fci, 0xc5)!)).toBe('00000123');
    expect(toHex(findTlv(fci, 0xc6)!)).toBe('0001');
  });

  it('AUTH INIT / FINISH: checks lengths and order', () => {
    const w = poweredWorld();
    expect(sw(tx(w.sam.os, A.authFinish(new Uint8Array(8))))).toBe('6985');
    expect(sw(tx(w.sam.os, Uint8Array.of(0x80, 0x10, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0)))).toBe('6700');
    authenticate(w);
    expect(sw(tx(w.sam.os, A.authFinish(new Uint8Array(8))))).toBe('6985'); // already finished
  });

  it('TRANSFER AUTH needs an authenticated card and sane fields', () => {
    const w = poweredWorld();
    expect(sw(tx(w.sam.os, A.transferAuth(1, 5, 1, NOW, new Uint8Array(8))))).toBe('6982');
    authenticate(w);
    expect(ok(w.sam.os, A.transferAuth(1, 5, 1, NOW, new Uint8Array(8))).length).toBe(16);
    expect(sw(tx(w.sam.os, A.transferAuth(1, 5, 1, new Uint8Array(6), new Uint8Array(8))))).toBe('6A80');
    expect(sw(tx(w.sam.os, A.transferAuth(0, 5, 1, NOW, new Uint8Array(8))))).toBe('6A86');
  });

  it('TOKEN AUTH is MAC(K_svm, K ‖ meter id ‖ units ‖ counter)', () => {
    const w = poweredWorld();
    const mac = ok(w.sam.os, coreTokenAuth(w, 100, 1));
    const kSvm = w.issuer.svmKey(Uint8Array.of(0, 1, 0x23), 1);
    expect(w.issuer.crypto.check(kSvm, mac, tokenAuthInput(Uint8Array.of(0, 1, 0x23), 100, 1))).toBe(true);
    expect(sw(tx(w.sam.os, coreTokenAuth(w, 0, 1)))).toBe('6A80');
  });

  it('unknown instructions are 6D00', () => {
    const w = poweredWorld();
    expect(sw(tx(w.sam.os, Uint8Array.of(0x80, 0x99, 0, 0)))).toBe('6D00');
    expect(sw(tx(w.svm.os, Uint8Array.of(0x80, 0x99, 0, 0)))).toBe('6D00');
    expect(sw(tx(w.card.os, Uint8Array.of(0x80, 0x99, 0, 0)))).toBe('6D00');
  });
});

describe('SVM applet', () => {
  it('READ STATE shows register, meter id and the pending transfer', () => {
    const w = poweredWorld({ svmBalance: 77 });
    expect(toHex(findTlv(ok(w.svm.os, A.selectAid(AID_SVM)), 0xc4)!)).toBe('000123');
    expect(toHex(ok(w.svm.os, A.readState()))).toBe('0000004D000186A00000000000012300');
    const d = prepareDebit(w, 40);
    ok(w.svm.os, d.begin);
    expect(toHex(ok(w.svm.os, A.readState()).subarray(15))).toBe(`01${toHex(CSN)}01000000280001`);
  });

  it('BEGIN TRANSFER: challenge needed (6985), one pending only (9405), room needed (9402)', () => {
    const w = poweredWorld({ svmBalance: 99_990 });
    const d = prepareDebit(w, 20);
    ok(w.svm.os, A.getChallenge()); // replaces the challenge the SAM signed
    expect(sw(tx(w.svm.os, d.begin))).toBe('6300');
    expect(sw(tx(w.svm.os, d.begin))).toBe('6985');
    const big = prepareDebit(w, 20);
    expect(sw(tx(w.svm.os, big.begin))).toBe('9402');
    const fits = prepareDebit(w, 10);
    ok(w.svm.os, fits.begin);
    const again = prepareDebit(w, 5);
    expect(sw(tx(w.svm.os, again.begin))).toBe('9405');
  });

  it('COMPLETE TRANSFER: 9406 without a pending record; credits exactly once', () => {
    const w = poweredWorld();
    expect(sw(tx(w.svm.os, A.completeTransfer(0, new Uint8Array(8))))).toBe('9406');
    const d = prepareDebit(w, 30);
    ok(w.svm.os, d.begin);
    const r = ok(w.card.os, d.debit);
    const complete = A.completeTransfer(u32(r, 0), r.subarray(6, 14));
    expect(toHex(ok(w.svm.os, complete))).toBe('0000001E00000001');
    expect(sw(tx(w.svm.os, complete))).toBe('9406');
    // The same card counter cannot be begun again (remembered as credited).
    const rv = ok(w.svm.os, A.getChallenge());
    const auth = ok(w.sam.os, A.transferAuth(1, 30, 1, NOW, rv));
    expect(sw(tx(w.svm.os, A.beginTransfer(CSN, 1, 30, 1, NOW, auth.subarray(8, 16))))).toBe('9407');
  });

  it('CANCEL TRANSFER with a signed status: only while the card counter is below the pending one', () => {
    const w = poweredWorld();
    const d = prepareDebit(w, 30);
    ok(w.svm.os, d.begin);
    const before = image(w.svm.store);
    // Status signed for a challenge the SVM did not give: 6300.
    const rv = ok(w.svm.os, A.getChallenge());
    const forged = ok(w.card.os, A.readPurse(1, new Uint8Array(8)));
    expect(sw(tx(w.svm.os, A.cancelWithStatus(u32(forged, 0), 0, forged.subarray(17, 25))))).toBe('6300');
    expect(sw(tx(w.svm.os, A.cancelWithStatus(u32(forged, 0), 0, forged.subarray(17, 25))))).toBe('6985');
    expect(image(w.svm.store)).toBe(before);
    void rv;
    const rv2 = ok(w.svm.os, A.getChallenge());
    const s = ok(w.card.os, A.readPurse(1, rv2));
    ok(w.svm.os, A.cancelWithStatus(u32(s, 0), 0, s.subarray(17, 25)));
    expect(svmState(w)).toMatchObject({ pending: false, balance: 0 });
    expect(sw(tx(w.svm.os, A.cancelWithStatus(u32(s, 0), 0, s.subarray(17, 25))))).toBe('6985');
  });

  it('CANCEL TRANSFER refuses a status showing the debit may have happened (counter reached)', () => {
    const w = poweredWorld();
    const d = prepareDebit(w, 30);
    ok(w.svm.os, d.begin);
    ok(w.card.os, d.debit);
    const rv = ok(w.svm.os, A.getChallenge());
    const s = ok(w.card.os, A.readPurse(1, rv));
    expect(sw(tx(w.svm.os, A.cancelWithStatus(u32(s, 0), 1, s.subarray(17, 25))))).toBe('6985');
    // Nor the debit's own log record (P1 = 01): it must be completed, not cancelled.
    const rec = ok(w.card.os, A.readLogRecord(1));
    expect(sw(tx(w.svm.os, A.cancelWithRecord(rec)))).toBe('6985');
    expect(svmState(w).pending).toBe(true);
    const r = LogRecord.decode(rec);
    ok(w.svm.os, A.completeTransfer(r.balanceAfter, r.mac));
  });

  it('CANCEL TRANSFER with the log record of another transaction at the pending counter', () => {
    const w = poweredWorld();
    const d = prepareDebit(w, 30);
    ok(w.svm.os, d.begin);
    ok(w.card.os, prepareLoad(w, 5)); // takes counter 1 for a load
    const rec = ok(w.card.os, A.readLogRecord(1));
    const bad = rec.slice();
    bad[3]! ^= 1; // amount
    expect(sw(tx(w.svm.os, A.cancelWithRecord(bad)))).toBe('6300');
    bad[3]! ^= 1;
    bad[11]! ^= 1; // counter
    expect(sw(tx(w.svm.os, A.cancelWithRecord(bad)))).toBe('6A80');
    ok(w.svm.os, A.cancelWithRecord(rec));
    expect(svmState(w).pending).toBe(false);
  });

  it('TOKEN REQUEST: next counter only (9407 replay, 6A80 skip), MAC checked (6300)', () => {
    const w = poweredWorld({ svmBalance: 150 });
    const mac1 = ok(w.sam.os, coreTokenAuth(w, 100, 1));
    expect(sw(tx(w.svm.os, A.tokenRequest(100, 1, new Uint8Array(8))))).toBe('6300');
    expect(toHex(ok(w.svm.os, A.tokenRequest(100, 1, mac1)).subarray(0, 6))).toBe('006400000032');
    expect(sw(tx(w.svm.os, A.tokenRequest(100, 1, mac1)))).toBe('9407');
    const mac3 = ok(w.sam.os, coreTokenAuth(w, 100, 3));
    expect(sw(tx(w.svm.os, A.tokenRequest(100, 3, mac3)))).toBe('6A80');
    const mac2 = ok(w.sam.os, coreTokenAuth(w, 100, 2));
    expect(toHex(ok(w.svm.os, A.tokenRequest(100, 2, mac2)).subarray(0, 6))).toBe('003200000000');
    const mac4 = ok(w.sam.os, coreTokenAuth(w, 100, 3));
    expect(sw(tx(w.svm.os, A.tokenRequest(100, 3, mac4)))).toBe('9401');
  });
});
