import { describe, expect, it } from 'vitest';
import { findTlv } from '../../card/iso7816/tlv.js';
import { concatBytes, toHex } from '../../card/util/hex.js';
import { pinBlock } from '../../card/applets/purse/PurseApplet.js';
import { LogRecord, MeterData, PurseState } from '../../card/applets/purse/records.js';
import { recordMacInput, statusMacInput } from '../../card/applets/PurseCrypto.js';
import { AID_PURSE } from '../../card/applets/constants.js';
import {
  A,
  CSN,
  NOW,
  TERMINAL_ID,
  authenticate,
  image,
  issuerDebit,
  ok,
  poweredWorld,
  prepareDebit,
  prepareLoad,
  purse,
  tx,
  hexSw,
} from './harness.js';

const sw = (r: { sw: number }) => hexSw(r.sw);

describe('purse applet: SELECT, GET CHALLENGE, MUTUAL AUTHENTICATE', () => {
  it('answers SELECT with its FCI', () => {
    const w = poweredWorld();
    const fci = ok(w.card.os, A.selectAid(AID_PURSE));
    expect(fci[0]).toBe(0x6f);
    expect(findTlv(fci, 0x84)).toEqual(AID_PURSE);
    expect(findTlv(fci, 0x5a)).toEqual(CSN);
    expect(toHex(findTlv(fci, 0xc2)!)).toBe('0102030405');
    expect(toHex(findTlv(fci, 0x5f24)!)).toBe('301231');
    expect(sw(tx(w.card.os, A.selectAid(Uint8Array.of(0xf0, 1, 2))))).toBe('6A82');
  });

  it('GET CHALLENGE gives fresh 8 bytes and checks P1 P2 and Le', () => {
    const w = poweredWorld();
    const a = ok(w.card.os, A.getChallenge());
    const b = ok(w.card.os, A.getChallenge());
    expect(a.length).toBe(8);
    expect(a).not.toEqual(b);
    expect(sw(tx(w.card.os, Uint8Array.of(0x00, 0x84, 0x01, 0x00, 0x08)))).toBe('6A86');
    expect(sw(tx(w.card.os, Uint8Array.of(0x00, 0x84, 0x00, 0x00, 0x04)))).toBe('6700');
  });

  it('MUTUAL AUTHENTICATE: a wrong SAM cryptogram is 6300 and opens no session', () => {
    const w = poweredWorld();
    const rc = ok(w.card.os, A.getChallenge());
    const init = ok(w.sam.os, A.authInit(CSN, rc));
    const bad = init.slice();
    bad[15]! ^= 1;
    expect(sw(tx(w.card.os, A.mutualAuthenticate(bad.subarray(0, 8), bad.subarray(8, 16), 1)))).toBe('6300');
    // The challenge is single-use: the correct cryptogram now finds no challenge.
    expect(sw(tx(w.card.os, A.mutualAuthenticate(init.subarray(0, 8), init.subarray(8, 16), 1)))).toBe(
      '6985',
    );
    expect(sw(tx(w.card.os, A.updateMeterData(1, new Uint8Array(72))))).toBe('6982');
    expect(sw(tx(w.card.os, Uint8Array.of(0x00, 0x82, 0, 1, 4, 1, 2, 3, 4)))).toBe('6700');
    // P2 names the purse whose key set authenticates: 00 (no purse) is 6A86.
    expect(sw(tx(w.card.os, Uint8Array.of(0x00, 0x82, 0, 0, 4, 1, 2, 3, 4)))).toBe('6A86');
  });

  it('MUTUAL AUTHENTICATE: the SAM checks the card cryptogram (6300 for a wrong one)', () => {
    const w = poweredWorld();
    const rc = ok(w.card.os, A.getChallenge());
    const init = ok(w.sam.os, A.authInit(CSN, rc));
    const sCard = ok(w.card.os, A.mutualAuthenticate(init.subarray(0, 8), init.subarray(8, 16), 1));
    sCard[0]! ^= 0x80;
    expect(sw(tx(w.sam.os, A.authFinish(sCard)))).toBe('6300');
    // No session any more in the SAM: no transfer authorisation.
    expect(sw(tx(w.sam.os, A.transferAuth(1, 1, 1, NOW, new Uint8Array(8))))).toBe('6982');
  });
});

describe('purse applet: READ PURSE', () => {
  it('returns the 17-byte state and, with a challenge, a MAC under K_proof', () => {
    const w = poweredWorld({ cardBalance: 1234 });
    const s = purse(w, 3);
    expect(s).toMatchObject({ balance: 1234, max: 500000, limit: 100000, unit: 978, counter: 0, status: 0 });
    const rv = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const signed = ok(w.card.os, A.readPurse(3, rv));
    expect(signed.length).toBe(25);
    const kProof = w.issuer.cardKeys(CSN, 3).proof;
    expect(w.issuer.crypto.check(kProof, signed.subarray(17), statusMacInput(CSN, 3, 1234, 0, rv))).toBe(
      true,
    );
    expect(sw(tx(w.card.os, A.readPurse(9)))).toBe('6A88');
    expect(sw(tx(w.card.os, A.readPurse(0)))).toBe('6A88');
    expect(sw(tx(w.card.os, Uint8Array.of(0x80, 0x5c, 0, 1, 2, 1, 2, 0)))).toBe('6700');
  });

  it('a signed status ends the SAM session (an authorised debit can no longer happen)', () => {
    const w = poweredWorld();
    const d = prepareDebit(w, 100);
    ok(w.card.os, A.readPurse(1, new Uint8Array(8)));
    expect(sw(tx(w.card.os, d.debit))).toBe('6982');
  });
});

describe('purse applet: DEBIT', () => {
  it('debits atomically, logs, and returns a proof the issuer can check', () => {
    const w = poweredWorld({ cardBalance: 5000 });
    const d = prepareDebit(w, 1200);
    const r = ok(w.card.os, d.debit);
    expect(toHex(r.subarray(0, 6))).toBe('00000ED80001');
    const rec = LogRecord.decode(ok(w.card.os, A.readLogRecord(1)));
    expect(rec).toMatchObject({ type: 2, purse: 1, amount: 1200, balanceAfter: 3800, counter: 1 });
    expect(rec.mac).toEqual(r.subarray(6));
    const fields = { csn: CSN, purse: 1, amount: 1200, counter: 1, terminalId: TERMINAL_ID, dateTime: NOW };
    const kProof = w.issuer.cardKeys(CSN, 1).proof;
    expect(w.issuer.crypto.check(kProof, rec.mac, recordMacInput('D', fields, 3800, d.rv))).toBe(true);
    expect(purse(w).balance).toBe(3800);
  });

  it('refuses without a session (6982), with a wrong MAC (6300) and wrong lengths (6700)', () => {
    const w = poweredWorld();
    const d = prepareDebit(w, 100);
    const bad = concatBytes(d.debit.encode().subarray(0, 10));
    expect(sw(tx(w.card.os, bad))).toBe('6700');
    w.card.os.reset();
    ok(w.card.os, A.selectAid(AID_PURSE));
    const before = image(w.card.store);
    expect(sw(tx(w.card.os, d.debit))).toBe('6982');
    expect(image(w.card.store)).toBe(before);
  });

  it('refuses amount 0 (6A80), above the limit (9403), above the balance (9401), a bad date (6A80)', () => {
    const w = poweredWorld({ cardBalance: 500 });
    const before = image(w.card.store);
    for (const [amount, expected] of [
      [0, '6A80'],
      [100_001, '9403'],
      [501, '9401'],
    ] as const) {
      expect(sw(tx(w.card.os, issuerDebit(w, amount, 1))), `amount ${amount}`).toBe(expected);
    }
    expect(sw(tx(w.card.os, issuerDebit(w, 1, 1, Uint8Array.of(0x26, 0x13, 1, 0, 0, 0))))).toBe('6A80');
    expect(image(w.card.store)).toBe(before);
    // The SAM refuses to authorise amount 0 itself.
    authenticate(w);
    expect(sw(tx(w.sam.os, A.transferAuth(1, 0, 1, NOW, new Uint8Array(8))))).toBe('6A80');
  });

  it('refuses a blocked purse (6985) and a purse whose counter reached FFFF (9404)', () => {
    const w = poweredWorld({ cardBalance: 500 });
    const s = purse(w);
    w.card.store.commit([
      ['p.purse.01', new PurseState(s.balance, s.max, s.limit, s.unit, 0xffff, 0).encode()],
    ]);
    expect(sw(tx(w.card.os, issuerDebit(w, 10, 0x10000)))).toBe('9404');
    expect(sw(tx(w.card.os, prepareLoad(w, 10)))).toBe('9404');
    w.card.store.commit([['p.purse.01', new PurseState(s.balance, s.max, s.limit, s.unit, 5, 1).encode()]]);
    expect(sw(tx(w.card.os, prepareDebit(w, 10).debit))).toBe('6985');
    expect(sw(tx(w.card.os, prepareLoad(w, 10)))).toBe('6985');
  });

  it('a counter never repeats: 2 debits in one session take counters 1 and 2', () => {
    const w = poweredWorld({ cardBalance: 500 });
    const d1 = prepareDebit(w, 10);
    ok(w.card.os, d1.debit);
    const rv = ok(w.svm.os, A.getChallenge());
    const auth = ok(w.sam.os, A.transferAuth(1, 20, 2, NOW, rv));
    const r = ok(w.card.os, A.debit(1, 20, TERMINAL_ID, NOW, rv, auth.subarray(0, 8)));
    expect(toHex(r.subarray(0, 6))).toBe('000001D60002');
  });
});

describe('purse applet: LOAD', () => {
  it('loads with the issuer cryptogram and gives a receipt', () => {
    const w = poweredWorld({ cardBalance: 0 });
    const r = ok(w.card.os, prepareLoad(w, 700));
    expect(toHex(r.subarray(0, 6))).toBe('000002BC0001');
    expect(LogRecord.decode(ok(w.card.os, A.readLogRecord(1)))).toMatchObject({
      type: 1,
      amount: 700,
      balanceAfter: 700,
    });
  });

  it('refuses without a challenge (6985), above the maximum (9402), with a wrong MAC (6300)', () => {
    const w = poweredWorld({ cardBalance: 499_999 });
    const before = image(w.card.store);
    const load = prepareLoad(w, 2);
    expect(sw(tx(w.card.os, load))).toBe('9402');
    expect(sw(tx(w.card.os, load))).toBe('6985'); // the challenge was used up
    ok(w.card.os, A.getChallenge());
    expect(sw(tx(w.card.os, load))).toBe('6300'); // other challenge, other session key
    expect(image(w.card.store)).toBe(before);
  });
});

describe('purse applet: log and meter data', () => {
  it('keeps the last 10 records, newest first; 6A83 past the end', () => {
    const w = poweredWorld({ cardBalance: 0 });
    for (let i = 1; i <= 12; i++) ok(w.card.os, prepareLoad(w, i));
    const counters = [];
    for (let n = 1; n <= 10; n++) counters.push(LogRecord.decode(ok(w.card.os, A.readLogRecord(n))).counter);
    expect(counters).toEqual([12, 11, 10, 9, 8, 7, 6, 5, 4, 3]);
    expect(sw(tx(w.card.os, A.readLogRecord(11)))).toBe('6A83');
    expect(sw(tx(w.card.os, Uint8Array.of(0, 0xb2, 1, 0x2c, 0)))).toBe('6A82');
  });

  it('meter data is readable always, writable only in a SAM session', () => {
    const w = poweredWorld();
    const md = new MeterData({
      meterId: Uint8Array.of(0, 1, 0x23),
      purse: 1,
      dateTime: NOW,
      cumulative: 1,
      tariffRegisters: [1, 2, 3, 4],
      sinceLastCredit: 5,
      lastTransferKind: 0,
      lastTransferRef: new Uint8Array(10),
      emergencyLimit: 6,
      emergencyUsed: 7,
      tariffPrices: [8, 9, 10, 11],
      events: 0x000f,
    });
    expect(sw(tx(w.card.os, A.updateMeterData(1, md.encode())))).toBe('6982');
    expect(ok(w.card.os, A.readMeterData(1))).toEqual(new Uint8Array(72));
    authenticate(w);
    ok(w.card.os, A.updateMeterData(1, md.encode()));
    expect(MeterData.decode(ok(w.card.os, A.readMeterData(1))).toJSON()).toEqual(md.toJSON());
    expect(sw(tx(w.card.os, A.updateMeterData(6, md.encode())))).toBe('6A83');
    expect(sw(tx(w.card.os, A.updateMeterData(1, new Uint8Array(10))))).toBe('6700');
  });
});

describe('purse applet: cardholder PIN (seed 004)', () => {
  it('needs VERIFY before DEBIT and LOAD; 3 tries then 6983; the right PIN resets the tries', () => {
    const w = poweredWorld({ pin: '1234', cardBalance: 100 });
    let d = prepareDebit(w, 10);
    expect(sw(tx(w.card.os, d.debit))).toBe('6982');
    expect(sw(tx(w.card.os, A.verifyPin()))).toBe('63C3');
    expect(sw(tx(w.card.os, A.verifyPin(pinBlock('9999'))))).toBe('63C2');
    ok(w.card.os, A.verifyPin(pinBlock('1234')));
    expect(sw(tx(w.card.os, A.verifyPin()))).toBe('9000');
    d = prepareDebit(w, 10);
    ok(w.card.os, d.debit);
    for (const expected of ['63C2', '63C1', '6983', '6983'])
      expect(sw(tx(w.card.os, A.verifyPin(pinBlock('0000'))))).toBe(expected);
    expect(sw(tx(w.card.os, A.verifyPin(pinBlock('1234'))))).toBe('6983');
  });

  it('CHANGE REFERENCE DATA replaces the PIN after checking the old one', () => {
    const w = poweredWorld({ pin: '1234' });
    const change = (o: string, n: string) =>
      tx(w.card.os, Uint8Array.of(0, 0x24, 0, 1, 16, ...pinBlock(o), ...pinBlock(n)));
    expect(sw(change('1111', '5678'))).toBe('63C2');
    expect(sw(change('1234', '5678'))).toBe('9000');
    expect(sw(tx(w.card.os, A.verifyPin(pinBlock('1234'))))).toBe('63C2');
    expect(sw(tx(w.card.os, A.verifyPin(pinBlock('5678'))))).toBe('9000');
    const w2 = poweredWorld();
    expect(sw(tx(w2.card.os, A.verifyPin(pinBlock('1234'))))).toBe('6A88');
  });
});
