/**
 * Attack: freeze value at a counter's end (issue 10, hole 5).
 *
 * The audit set the SVM counter to FFFFFFFF: BEGIN and DEBIT succeeded, COMPLETE answered 6F00,
 * and 25.00 EUR stayed in a pending transfer for good. An attacker who can run a module up to its
 * counter's end (or who simply meets one there) must find every operation that could not complete
 * refused before it starts, and the value where it was. The chips are put at the edge directly in
 * their persistent memory (what 4 billion operations would do).
 */
import { describe, expect, it } from 'vitest';
import { fromHex } from '../../card/util/hex.js';
import { KEY_SVM_REGISTER } from '../../card/applets/svm/SvmApplet.js';
import { SvmRegister } from '../../card/applets/svm/records.js';
import { keyPurse } from '../../card/applets/purse/PurseApplet.js';
import { PurseState } from '../../card/applets/purse/records.js';
import { runCardSession } from '../../terminal/CardTransfer.js';
import { HostDb, HostDbError, MAX_TX_ID } from '../../host/service/HostDb.js';
import {
  A,
  coreTokenAuth,
  hexSw,
  hostAuthorise,
  image,
  issuerDebit,
  ok,
  poweredWorld,
  prepareDebit,
  prepareLoad,
  purse,
  svmState,
  tx,
  World,
} from '../applets/harness.js';
import { NOW } from '../transfer/world.js';

const MAX32 = 0xffffffff;

function svmCounterAt(w: World, counter: number): void {
  const r = SvmRegister.decode(w.svm.store.read(KEY_SVM_REGISTER)!);
  w.svm.store.commit([[KEY_SVM_REGISTER, new SvmRegister(r.balance, r.max, counter).encode()]]);
}

function purseCounterAt(w: World, id: number, counter: number): void {
  const p = PurseState.decode(w.card.store.read(keyPurse(id))!);
  w.card.store.commit([
    [keyPurse(id), new PurseState(p.balance, p.max, p.limit, p.unit, counter, p.status).encode()],
  ]);
}

describe('attack: run a counter to its end to freeze value', () => {
  it('SVM counter at FFFFFFFF: BEGIN TRANSFER is refused 9404 before the card is debited (the audit case)', () => {
    const w = poweredWorld({ cardBalance: 2500, svmBalance: 100 });
    svmCounterAt(w, MAX32);
    const images = [image(w.card.store), image(w.svm.store)];
    const d = prepareDebit(w, 2500);
    expect(hexSw(tx(w.svm.os, d.begin).sw)).toBe('9404');
    expect(svmState(w).pending).toBe(false);
    expect([image(w.card.store), image(w.svm.store)]).toEqual(images);
    expect(purse(w).balance).toBe(2500);
  });

  it('SVM counter at FFFFFFFE: the last transfer completes, the next one is refused, nothing is pending', () => {
    const w = poweredWorld({ cardBalance: 3000, svmBalance: 0 });
    svmCounterAt(w, MAX32 - 1);
    const d = prepareDebit(w, 1000);
    ok(w.svm.os, d.begin);
    const r = ok(w.card.os, d.debit);
    ok(w.svm.os, A.completeTransfer(new DataView(r.buffer, r.byteOffset).getUint32(0), r.subarray(6, 14)));
    expect(svmState(w)).toMatchObject({ balance: 1000, counter: MAX32, pending: false });
    expect(hexSw(tx(w.svm.os, prepareDebit(w, 1000).begin).sw)).toBe('9404');
    expect(purse(w).balance).toBe(2000);
  });

  it("SVM counter at FFFFFFFF: the meter's card session moves nothing and leaves nothing pending", async () => {
    const w = new World({ cardBalance: 4000 });
    w.svm.os.powerUp();
    svmCounterAt(w, MAX32);
    const cardBefore = image(w.card.store);
    const o = await runCardSession(await w.meter(), await w.cardChannel(), { purse: 1, dateTime: NOW });
    expect(o).toMatchObject({ amount: 0, cardBalance: 4000 });
    expect(image(w.card.store)).toBe(cardBefore);
    expect(w.svmView()).toMatchObject({ pending: null, counter: MAX32 });
  });

  it('SVM counter at FFFFFFFF: TOKEN REQUEST and HOST CREDIT are refused 9404, READ STATE still answers', () => {
    const w = poweredWorld({ svmBalance: 500 });
    svmCounterAt(w, MAX32);
    const before = image(w.svm.store);
    // The only counter a request could name is FFFFFFFF + 1, which does not exist; any other is refused.
    const mac = ok(w.sam.os, coreTokenAuth(w, 100, MAX32));
    expect(hexSw(tx(w.svm.os, A.tokenRequest(100, MAX32, mac)).sw)).toBe('9404');
    expect(hexSw(tx(w.svm.os, hostAuthorise(w, 100, fromHex('0000000000000001'), 1).credit).sw)).toBe('9404');
    expect(image(w.svm.store)).toBe(before);
    // Terminal state: the balance is still readable, signed, for the issuer to move it to a new SVM.
    expect(svmState(w)).toMatchObject({ balance: 500, counter: MAX32 });
    expect(ok(w.svm.os, A.readStateSigned(new Uint8Array(8))).length).toBe(24);
  });

  it('card purse counter at FFFF: DEBIT and LOAD are refused 9404; at FFFE one last debit, then none', async () => {
    const w = poweredWorld({ cardBalance: 5000 });
    purseCounterAt(w, 1, 0xffff);
    const before = image(w.card.store);
    // The SAM cannot even name counter FFFF + 1 (u16); an insider's MAC over the wrapped counter 0000.
    expect(hexSw(tx(w.card.os, issuerDebit(w, 100, 0x10000)).sw)).toBe('9404');
    expect(hexSw(tx(w.card.os, prepareLoad(w, 100)).sw)).toBe('9404');
    expect(image(w.card.store)).toBe(before);
    // The signed status still states the balance (the issuer refunds from it).
    expect(ok(w.card.os, A.readPurse(1, new Uint8Array(8))).length).toBe(25);

    const v = new World({ cardBalance: 5000 });
    v.card.os.powerUp();
    purseCounterAt(v, 1, 0xfffe);
    const m = await v.meter();
    const o1 = await runCardSession(m, await v.cardChannel(), { purse: 1, dateTime: NOW, maxAmount: 1000 });
    expect(o1).toMatchObject({ amount: 1000, counter: 0xffff, cardBalance: 4000 });
    v.reinsertCard();
    const o2 = await runCardSession(m, await v.cardChannel(), { purse: 1, dateTime: NOW });
    expect(o2).toMatchObject({ amount: 0, cardBalance: 4000 });
    expect(v.svmView()).toMatchObject({ balance: 1000, pending: null });
  });

  it('host transaction ids: at the end of the sequence a credit is refused before anything is written', () => {
    const db = new HostDb(':memory:');
    try {
      // The sequence at its end, as 2^53 - 1 earlier credits would have left it.
      db.db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('credits', ?)").run(MAX_TX_ID);
      const rows = () => (db.db.prepare('SELECT count(*) AS n FROM credits').get() as { n: number }).n;
      const ledger = () => (db.db.prepare('SELECT count(*) AS n FROM ledger').get() as { n: number }).n;
      const [c0, l0] = [rows(), ledger()];
      expect(() => db.createCredit('000123', 100, 'x')).toThrow(HostDbError);
      try {
        db.createCredit('000123', 100, 'x');
      } catch (e) {
        expect((e as HostDbError).code).toBe('exhausted');
      }
      expect([rows(), ledger()]).toEqual([c0, l0]);
    } finally {
      db.close();
    }
  });
});
