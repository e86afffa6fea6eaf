/**
 * No value is created outside the issuer's keys: one-byte changes in every MAC, cryptogram,
 * counter, amount and challenge are refused with a defined status word and no state change;
 * recorded sessions cannot be replayed; a SAM (all it holds) cannot make an accepted LOAD or an
 * accepted debit proof.
 */
import { describe, expect, it } from 'vitest';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { concatBytes, toHex } from '../../card/util/hex.js';
import { HostSide } from '../transfer/hostSide.js';
import { deriveTerminalKey } from '../../card/crypto/keyHierarchy.js';

const METER = Uint8Array.of(0, 1, 0x23);
import { debitMacInput, loadMacInput, recordMacInput } from '../../card/applets/PurseCrypto.js';
import { LogRecord } from '../../card/applets/purse/records.js';
import type { World } from '../transfer/world.js';
import {
  A,
  CSN,
  NOW,
  TERMINAL_ID,
  VENDING_TERMINAL,
  authenticate,
  flip,
  image,
  ok,
  poweredWorld,
  prepareDebit,
  prepareLoad,
  purse,
  svmState,
  tx,
  u32,
  coreTokenAuth,
  hexSw,
} from './harness.js';

/**
 * For every data byte of the command `make()` returns (and two masks), the changed command is
 * refused with one of `allowed` and the whole world's persistent state stays the same; then the
 * unchanged command is accepted (so it was the one byte that mattered).
 */
function sweep(
  w: World,
  os: 'card' | 'sam' | 'svm',
  make: () => CommandApdu,
  allowed: string[],
  length = make().nc,
): void {
  for (let i = 0; i < length; i++) {
    for (const mask of [0x01, 0x80]) {
      const before = [image(w.card.store), image(w.sam.store), image(w.svm.store)];
      const r = tx(w[os].os, flip(make(), i, mask));
      expect(allowed, `byte ${i} mask ${mask}: SW ${hexSw(r.sw)}`).toContain(hexSw(r.sw));
      expect([image(w.card.store), image(w.sam.store), image(w.svm.store)], `byte ${i}`).toEqual(before);
    }
  }
  expect(hexSw(tx(w[os].os, make()).sw)).toBe('9000');
}

describe('one-byte changes are refused with no state change', () => {
  it('MUTUAL AUTHENTICATE (RS, S_sam) and AUTH FINISH (S_card)', () => {
    const w = poweredWorld();
    let init: Uint8Array = new Uint8Array(0);
    sweep(
      w,
      'card',
      () => {
        const rc = ok(w.card.os, A.getChallenge());
        init = ok(w.sam.os, A.authInit(CSN, rc));
        return A.mutualAuthenticate(init.subarray(0, 8), init.subarray(8, 16), 1);
      },
      ['6300'],
    );
    let sCard: Uint8Array = new Uint8Array(0);
    sweep(
      w,
      'sam',
      () => {
        const rc = ok(w.card.os, A.getChallenge());
        init = ok(w.sam.os, A.authInit(CSN, rc));
        sCard = ok(w.card.os, A.mutualAuthenticate(init.subarray(0, 8), init.subarray(8, 16), 1));
        return A.authFinish(sCard);
      },
      ['6300'],
    );
  });

  it('DEBIT (amount, terminal, date-time, RV, MAC)', () => {
    const w = poweredWorld({ cardBalance: 900 });
    const d = prepareDebit(w, 300);
    ok(w.svm.os, d.begin);
    sweep(w, 'card', () => prepareDebit(w, 300, 1, d.rv).debit, ['6300']);
    expect(purse(w).balance).toBe(600);
  });

  it('LOAD (amount, terminal, date-time, cryptogram)', () => {
    const w = poweredWorld({ cardBalance: 0 });
    sweep(w, 'card', () => prepareLoad(w, 250), ['6300']);
    expect(purse(w).balance).toBe(250);
  });

  it('BEGIN TRANSFER (CSN, purse, amount, counter, date-time, SAM MAC)', () => {
    const w = poweredWorld();
    authenticate(w);
    sweep(
      w,
      'svm',
      () => {
        const rv = ok(w.svm.os, A.getChallenge());
        const auth = ok(w.sam.os, A.transferAuth(1, 300, 1, NOW, rv));
        return A.beginTransfer(CSN, 1, 300, 1, NOW, auth.subarray(8, 16));
      },
      ['6300'],
    );
    expect(svmState(w).pending).toBe(true);
  });

  it('COMPLETE TRANSFER (card balance, proof)', () => {
    const w = poweredWorld({ cardBalance: 900 });
    const d = prepareDebit(w, 300);
    ok(w.svm.os, d.begin);
    const r = ok(w.card.os, d.debit);
    sweep(w, 'svm', () => A.completeTransfer(u32(r, 0), r.subarray(6, 14)), ['6300']);
    expect(svmState(w).balance).toBe(300);
  });

  it('CANCEL TRANSFER (signed status; log record)', () => {
    const w = poweredWorld({ cardBalance: 900 });
    ok(w.svm.os, prepareDebit(w, 300).begin);
    sweep(
      w,
      'svm',
      () => {
        const rv = ok(w.svm.os, A.getChallenge());
        const s = ok(w.card.os, A.readPurse(1, rv));
        return A.cancelWithStatus(u32(s, 0), 0, s.subarray(17, 25));
      },
      ['6300', '6985'],
    );
    ok(w.svm.os, prepareDebit(w, 300).begin);
    ok(w.card.os, prepareLoad(w, 1));
    const rec = ok(w.card.os, A.readLogRecord(1));
    sweep(w, 'svm', () => A.cancelWithRecord(rec), ['6300', '6A80']);
  });

  it('HOST COMMAND (EnAmnt, S2h), HOST CREDIT (amount, tx id, MAC over the SVM challenge), HOST FINISH (state, MAC)', () => {
    const w = poweredWorld();
    const host = new HostSide(w.issuer.crypto.cipher);
    const kt = deriveTerminalKey(w.issuer.crypto.cipher, w.issuer.utility(1).host[1]![1], METER);
    const tx = Uint8Array.from([0x74, 0x78, 0, 0, 0, 0, 0, 1]);
    let ks: Uint8Array = new Uint8Array(16);
    let r3: Uint8Array = new Uint8Array(8);
    const command = (rv: Uint8Array = new Uint8Array(8)) => {
      const r = ok(w.sam.os, A.hostInit(1, new Uint8Array(8).fill(1), new Uint8Array(8).fill(2)));
      ks = host.sessionKey(kt, new Uint8Array(8).fill(1));
      r3 = r.slice(8, 16);
      const en = host.encryptAmount(ks, 700, tx);
      return A.hostCommand(0x51, concatBytes(en, host.s2(ks, 0x51, r3, en), rv));
    };
    // The SVM challenge (last 8 bytes) is the SVM's own, bound by the SVM, not by S2h.
    sweep(w, 'sam', command, ['6300'], 24);
    // A fresh SVM challenge and SAM authorisation for each attempt (the challenge is single-use).
    const credit = () => {
      const rv = ok(w.svm.os, A.getChallenge());
      const auth = ok(w.sam.os, command(rv));
      return A.hostCredit(700, tx, auth.subarray(12, 20), r3);
    };
    // The R3 field (last 8 bytes) only goes into the SVM's answer MAC, which HOST FINISH checks.
    sweep(w, 'svm', credit, ['6300'], 20);
    expect(svmState(w).balance).toBe(700);
    const answer = ok(w.svm.os, credit()); // duplicate
    sweep(w, 'sam', () => A.hostFinish(0x51, answer), ['6300', '6985']);
    ok(w.sam.os, command());
    const signed = ok(w.svm.os, A.readStateSigned(r3));
    sweep(
      w,
      'sam',
      () =>
        A.hostFinish(0, concatBytes(signed.subarray(0, 4), signed.subarray(8, 12), signed.subarray(16, 24))),
      ['6300'],
    );
  });

  it('TOKEN REQUEST (units, SVM counter, SAM MAC)', () => {
    const w = poweredWorld({ svmBalance: 1000 });
    const mac = ok(w.sam.os, coreTokenAuth(w, 100, 1));
    sweep(w, 'svm', () => A.tokenRequest(100, 1, mac), ['6300']);
    expect(svmState(w)).toMatchObject({ balance: 900, counter: 1 });
  });
});

describe('replays are refused', () => {
  it('a recorded LOAD', () => {
    const w = poweredWorld({ cardBalance: 0 });
    const load = prepareLoad(w, 100);
    ok(w.card.os, load);
    const before = image(w.card.store);
    expect(hexSw(tx(w.card.os, load).sw)).toBe('6985');
    ok(w.card.os, A.getChallenge());
    expect(hexSw(tx(w.card.os, load).sw)).toBe('6300');
    expect(image(w.card.store)).toBe(before);
  });

  it('a recorded DEBIT, in the same session and in a new one', () => {
    const w = poweredWorld({ cardBalance: 900 });
    const d = prepareDebit(w, 100);
    ok(w.card.os, d.debit);
    const before = image(w.card.store);
    expect(hexSw(tx(w.card.os, d.debit).sw)).toBe('6300'); // the counter moved
    authenticate(w);
    expect(hexSw(tx(w.card.os, d.debit).sw)).toBe('6300'); // other session keys
    expect(image(w.card.store)).toBe(before);
  });

  it('a recorded SVM credit (BEGIN + COMPLETE)', () => {
    const w = poweredWorld({ cardBalance: 900 });
    const d = prepareDebit(w, 100);
    ok(w.svm.os, d.begin);
    const r = ok(w.card.os, d.debit);
    const complete = A.completeTransfer(u32(r, 0), r.subarray(6, 14));
    ok(w.svm.os, complete);
    const before = image(w.svm.store);
    expect(hexSw(tx(w.svm.os, d.begin).sw)).toBe('6985'); // no challenge
    ok(w.svm.os, A.getChallenge());
    expect(hexSw(tx(w.svm.os, d.begin).sw)).toBe('6300'); // other challenge
    expect(hexSw(tx(w.svm.os, complete).sw)).toBe('9406');
    expect(image(w.svm.store)).toBe(before);
  });

  it('a recorded TOKEN REQUEST', () => {
    const w = poweredWorld({ svmBalance: 1000 });
    const req = A.tokenRequest(100, 1, ok(w.sam.os, coreTokenAuth(w, 100, 1)));
    ok(w.svm.os, req);
    const before = image(w.svm.store);
    expect(hexSw(tx(w.svm.os, req).sw)).toBe('9407');
    expect(image(w.svm.store)).toBe(before);
  });

  it('a whole recorded transfer session replayed command by command moves nothing', () => {
    const w = poweredWorld({ cardBalance: 900 });
    const log: ['card' | 'sam' | 'svm', CommandApdu][] = [];
    const send = (d: 'card' | 'sam' | 'svm', c: CommandApdu) => {
      log.push([d, c]);
      return ok(w[d].os, c);
    };
    const rc = send('card', A.getChallenge());
    const init = send('sam', A.authInit(CSN, rc));
    const sCard = send('card', A.mutualAuthenticate(init.subarray(0, 8), init.subarray(8, 16), 1));
    send('sam', A.authFinish(sCard));
    const rv = send('svm', A.getChallenge());
    const auth = send('sam', A.transferAuth(1, 400, 1, NOW, rv));
    send('svm', A.beginTransfer(CSN, 1, 400, 1, NOW, auth.subarray(8, 16)));
    const r = send('card', A.debit(1, 400, TERMINAL_ID, NOW, rv, auth.subarray(0, 8)));
    send('svm', A.completeTransfer(u32(r, 0), r.subarray(6, 14)));
    expect(purse(w).balance + svmState(w).balance).toBe(900);
    for (const d of [w.card, w.sam, w.svm]) d.os.reset();
    const before = [image(w.card.store), image(w.svm.store)];
    for (const [d, c] of log) tx(w[d].os, c);
    w.card.os.reset();
    expect([image(w.card.store), image(w.svm.store)]).toEqual(before);
  });
});

describe('a SAM cannot create value', () => {
  it('holds no credit key and no proof key', () => {
    const w = poweredWorld();
    const sam = w.issuer.samKeys(Uint8Array.of(0, 1, 0x23), 1);
    const card = w.issuer.cardKeys(CSN, 1);
    const u = w.issuer.utility(1);
    const held = [sam.mkAuth, sam.mkDebit, sam.svm, ...sam.terminal.map(([, k]) => k)].map((k) => k.join());
    for (const k of [u.credit, u.proof, card.credit, card.proof]) expect(held).not.toContain(k.join());
    const stored = toHex(w.sam.os.store.image());
    for (const k of [u.credit, u.proof, card.credit, card.proof])
      expect(stored).not.toContain(Buffer.from(k).toString('hex').toUpperCase());
  });

  it('its best LOAD attempts (every key and session key it has, its own MACs) are refused: 6300, no change', () => {
    const w = poweredWorld({ cardBalance: 0 });
    const c = w.issuer.crypto;
    const sam = w.issuer.samKeys(Uint8Array.of(0, 1, 0x23), 1);
    const before = image(w.card.store);
    const attempts: ((rc: Uint8Array) => Uint8Array)[] = [];
    const t = (amount: number) => ({
      csn: CSN,
      purse: 1,
      amount,
      counter: 1,
      terminalId: VENDING_TERMINAL,
      dateTime: NOW,
    });
    // Every key the SAM holds or can derive for this card, as credit key or as session key.
    const keys = [
      sam.mkAuth,
      sam.mkDebit,
      sam.svm,
      ...sam.terminal.map(([, k]) => k),
      c.cardKey(sam.mkAuth, CSN),
      c.cardKey(sam.mkDebit, CSN),
    ];
    for (const k of keys) {
      attempts.push((rc) => c.mac(c.creditSessionKey(k, rc), loadMacInput(t(1000))));
      attempts.push(() => c.mac(k, loadMacInput(t(1000))));
    }
    for (const make of attempts) {
      const rc = ok(w.card.os, A.getChallenge());
      const r = tx(w.card.os, A.load(1, 1000, VENDING_TERMINAL, NOW, make(rc)));
      expect(hexSw(r.sw)).toBe('6300');
    }
    // Its authenticated session keys and its TRANSFER AUTH output used as a LOAD cryptogram.
    const { rc, rs } = authenticate(w);
    const skDebit = c.sessionKey(c.cardKey(sam.mkDebit, CSN), rc, rs);
    const skAuth = c.sessionKey(c.cardKey(sam.mkAuth, CSN), rc, rs);
    const samMacs = ok(w.sam.os, A.transferAuth(1, 1000, 1, NOW, new Uint8Array(8)));
    for (const mac of [
      c.mac(skDebit, loadMacInput(t(1000))),
      c.mac(skAuth, loadMacInput(t(1000))),
      samMacs.subarray(0, 8),
      samMacs.subarray(8, 16),
    ]) {
      ok(w.card.os, A.getChallenge());
      expect(hexSw(tx(w.card.os, A.load(1, 1000, VENDING_TERMINAL, NOW, mac)).sw)).toBe('6300');
    }
    expect(image(w.card.store)).toBe(before);
    expect(purse(w).balance).toBe(0);
  });

  it('cannot make a debit proof the SVM accepts without a real card debit', () => {
    const w = poweredWorld({ cardBalance: 900 });
    const c = w.issuer.crypto;
    const sam = w.issuer.samKeys(Uint8Array.of(0, 1, 0x23), 1);
    const d = prepareDebit(w, 500);
    ok(w.svm.os, d.begin);
    const before = image(w.svm.store);
    const fields = { csn: CSN, purse: 1, amount: 500, counter: 1, terminalId: TERMINAL_ID, dateTime: NOW };
    for (const k of [
      sam.mkAuth,
      sam.mkDebit,
      sam.svm,
      c.cardKey(sam.mkDebit, CSN),
      c.cardKey(sam.mkAuth, CSN),
    ]) {
      const forged = c.mac(k, recordMacInput('D', fields, 400, d.rv));
      expect(hexSw(tx(w.svm.os, A.completeTransfer(400, forged)).sw)).toBe('6300');
      expect(hexSw(tx(w.svm.os, A.completeTransfer(400, c.mac(k, debitMacInput(fields, d.rv)))).sw)).toBe(
        '6300',
      );
    }
    expect(hexSw(tx(w.svm.os, A.completeTransfer(400, d.debit.data.subarray(22, 30))).sw)).toBe('6300');
    expect(image(w.svm.store)).toBe(before);
  });

  it('an SVM credit needs the card proof of exactly that debit (a smaller real debit proves nothing more)', () => {
    const w = poweredWorld({ cardBalance: 900 });
    const big = prepareDebit(w, 500);
    ok(w.svm.os, big.begin);
    // The card is debited only 1 unit with the same RV (a meter tampering with the amount).
    const small = prepareDebit(w, 1, 1, big.rv);
    const r = ok(w.card.os, small.debit);
    expect(hexSw(tx(w.svm.os, A.completeTransfer(u32(r, 0), r.subarray(6, 14))).sw)).toBe('6300');
    expect(svmState(w).balance).toBe(0);
    // Recovery cancels with the card's log record of the 1-unit debit; that record stays the card's
    // signed word for the host's clearing (issue 7).
    const rec = ok(w.card.os, A.readLogRecord(1));
    expect(LogRecord.decode(rec).amount).toBe(1);
    ok(w.svm.os, A.cancelWithRecord(rec));
    expect(svmState(w)).toMatchObject({ balance: 0, pending: false });
  });
});
