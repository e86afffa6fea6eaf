/**
 * Red team of the clearing path inside the chips (issue 13): SVM pending slots, HOST SETTLE, READ
 * LOG. Attacker: owns the meter's bus (any APDU to SAM / SVM, replay, reorder, power cuts), holds a
 * genuine card, or a stranger's card at someone else's meter. Each test is one attack and asserts
 * that it fails (value conserved, nothing locked without recourse) — see the report of issue 13.
 */
import { describe, expect, it } from 'vitest';
import type { CardChannel } from '../../reader/CardChannel.js';
import { concatBytes, fromHex, toHex } from '../../card/util/hex.js';
import { keySvmPending } from '../../card/applets/svm/SvmApplet.js';
import { PendingTransfer, SettlePayload, SvmLogRecord, SvmRegister } from '../../card/applets/svm/records.js';
import { PurseState } from '../../card/applets/purse/records.js';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import {
  INS_READ_PENDING,
  AID_PURSE,
  SETTLE_CANCEL,
  SETTLE_COMPLETE,
  SVM_LOG_RECORDS,
  SVM_PENDING_SLOTS,
} from '../../card/applets/constants.js';
import {
  coreStateInput,
  hostCreditAnswerInput,
  hostCreditAuthInput,
  hostSettleAnswerInput,
  hostSettleAuthInput,
  svmLogMacInput,
  svmStateMacInput,
  tokenAuthInput,
  tokenCoreInput,
  tokenGrantInput,
  transferAuthInput,
} from '../../card/applets/PurseCrypto.js';
import { MeterModules, expectOk } from '../../terminal/MeterModules.js';
import { authenticate, runCardSession } from '../../terminal/CardTransfer.js';
import { hostSettle, decodeSettleAnswer, readPending } from '../../terminal/clearing/SvmClearing.js';
import { readLogApdu, readSvmLog } from '../../terminal/clearing/SvmLog.js';
import { readPendingSigned } from '../../terminal/clearing/SvmClearing.js';
import { PurseCrypto, pendingMacInput } from '../../card/applets/PurseCrypto.js';
import * as A from '../../terminal/apdus.js';
import { decrypt } from '../../protocol/session.js';
import { HostSide } from '../transfer/hostSide.js';
import { PURSE, beginTransferAt, kt, strangerCard } from './fixture.js';
import { CSN, METER_ID, NOW, World, cipher } from '../transfer/world.js';

const host = new HostSide(cipher);
const R1 = fromHex('1111111111111111');
const R2 = fromHex('2222222222222222');
const tx = (n: number) => fromHex(`52540000000000${n.toString(16).padStart(2, '0')}`);
const csnOf = (n: number) => fromHex(`5254000000000${n.toString(16).padStart(3, '0')}`);

const stranger = (w: World, n: number, balance = 5_000) =>
  strangerCard(w, n, csnOf(n), `redteam:${n}`, balance);

/**
 * The bus owner's BEGIN: an authenticated card session, then TRANSFER AUTH for a counter and amount
 * of the attacker's choice (the SAM checks neither against the card), BEGIN, and DEBIT only when asked.
 */
const beginAt = (
  m: MeterModules,
  card: CardChannel,
  amount: number,
  counter: number | undefined,
  debit = false,
) => beginTransferAt(m, card, amount, counter, debit);

/** The host's settlement through the meter's modules (host side honest), or the SW that refused it. */
async function settle(w: World, m: MeterModules, p: SettlePayload) {
  const ks = host.sessionKey(kt(w), R1);
  const { r3 } = await m.hostInit(1, R1, R2);
  const payload = p.encode();
  try {
    const r = await hostSettle(m, { payload, s2h: host.s2(ks, 0x54, r3, payload) });
    return decodeSettleAnswer(decrypt(cipher, ks, r.m), true);
  } catch (e) {
    return { sw: (e as { sw?: number }).sw };
  }
}

async function hostCredit(w: World, m: MeterModules, amount: number, id: Uint8Array) {
  const ks = host.sessionKey(kt(w), R1);
  const { r3 } = await m.hostInit(1, R1, R2);
  const en = host.encryptAmount(ks, amount, id);
  return m.hostValueStore(en, host.s2(ks, 0x51, r3, en));
}

/** A stranger's full transfer of `amount` at this meter (moves them into the SVM's recent list and log). */
async function strangerTransfer(w: World, m: MeterModules, n: number, amount: number): Promise<void> {
  const o = await runCardSession(m, await stranger(w, n).reader.connect(), {
    purse: PURSE,
    dateTime: NOW,
    maxAmount: amount,
  });
  expect(o.amount).toBe(amount);
}

describe('red team: a card counter credited once is never credited again', () => {
  /** Card A moves 1 000 into the SVM at its counter 1; returns that counter. */
  async function credited(w: World, m: MeterModules): Promise<number> {
    const o = await runCardSession(m, await w.cardChannel(), {
      purse: PURSE,
      dateTime: NOW,
      maxAmount: 1_000,
    });
    expect(o.amount).toBe(1_000);
    w.reinsertCard();
    return o.counter!;
  }

  it('BEGIN again at a counter already credited here is 9407 while the SVM log holds the credit, even after 8 other cards pushed the card out of the recent list', async () => {
    // Before the fix: BEGIN 9000 (only the 8-card recent list was asked), and the stale entry could
    // then be settled 'complete' by a host shown the card's genuine debit record for that counter.
    const w = new World({ svmBalance: 0 });
    const m = await w.meter();
    const c = await credited(w, m);
    for (let n = 1; n <= 8; n++) await strangerTransfer(w, m, n, 10);
    expect(w.svmView().balance).toBe(1_080);
    const r = await beginAt(m, await w.cardChannel(), 1_000, c);
    expect(r.sw).toBe(0x9407);
    expect(await readPending(m)).toEqual([]);
  });

  it('HOST SETTLE complete of an entry at a counter already credited here is 6985 (nothing credited); cancel frees it', async () => {
    const w = new World({ svmBalance: 0 });
    const m = await w.meter();
    const c = await credited(w, m);
    // A stale entry for that counter (begun while the SVM had forgotten it, or by an older image).
    w.svm.store.commit([
      [
        keySvmPending(2),
        new PendingTransfer(CSN, PURSE, 1_000, c, NOW, fromHex('0102030405060708')).encode(),
      ],
    ]);
    const complete = new SettlePayload(SETTLE_COMPLETE, 2, CSN, PURSE, c, 1_000, tx(1));
    expect(await settle(w, m, complete)).toEqual({ sw: 0x6985 });
    expect(w.svmView().balance).toBe(1_000); // before the fix: 2 000 — one debit credited twice
    const cancel = new SettlePayload(SETTLE_CANCEL, 2, CSN, PURSE, c, 1_000, tx(1)); // tx id not consumed
    expect(await settle(w, m, cancel)).toMatchObject({ statusName: 'settled-cancel', balance: 1_000 });
    expect(await readPending(m)).toEqual([]);
  });

  it(`after ${SVM_LOG_RECORDS} more records the SVM forgets — the record the host read (READ LOG) still names CSN ‖ counter as credited`, async () => {
    // Residual, for the host: the chip's memory is bounded (8 cards, 16 records); the host holds the
    // whole SVM log and must never settle 'complete' a CSN ‖ counter it has a type 01 / 05 record of.
    const w = new World({ svmBalance: 0 });
    const m = await w.meter();
    const c = await credited(w, m);
    const page = await readSvmLog(m, 0);
    const rec = SvmLogRecord.decode(page.records[0]!.raw);
    expect(rec.type).toBe(1);
    expect(toHex(rec.ref)).toBe(toHex(concatBytes(CSN, Uint8Array.of(0, c))));
    for (let n = 1; n <= SVM_LOG_RECORDS; n++) await strangerTransfer(w, m, n, 10);
    expect((await readSvmLog(m, 0)).oldest).toBe(1); // the credit left the ring: only the host has it
    expect((await beginAt(m, await w.cardChannel(), 1_000, c)).sw).toBe(0x9000);
    // The card itself still cancels it at its next session (its log holds the other debit at c).
    w.reinsertCard();
    const o = await runCardSession(m, await w.cardChannel(), {
      purse: PURSE,
      dateTime: NOW,
      transfer: false,
    });
    expect(o.recovery).toBe('cancelled');
    expect(w.svmView().balance).toBe(1_000 + 10 * SVM_LOG_RECORDS);
  });
});

describe('red team: MAC domains', () => {
  const id = METER_ID;
  const rv = new Uint8Array(8);
  const z = (n: number) => new Uint8Array(n);

  it("every input MAC'd under K_svm starts with its own byte and has one fixed length: no answer of one kind is an authorisation of another", () => {
    const inputs: Record<string, Uint8Array[]> = {
      // Made by the SAM (authorisations): T, K, H, X.
      T: [
        transferAuthInput(rv, z(8), 1, 0, 0, z(6)),
        transferAuthInput(rv, z(8), 255, 0xffffffff, 0xffff, z(6)),
      ],
      K: [tokenAuthInput(id, 0, 0), tokenAuthInput(id, 0xffff, 0xffffffff)],
      H: [hostCreditAuthInput(id, 0, z(8), rv)],
      X: [hostSettleAuthInput(id, z(25), rv)],
      // Made by the SVM (answers a bus attacker can ask for with bytes of its choice): R, C, Y, J.
      R: [svmStateMacInput(id, 0xffffffff, 0xffffffff, rv)],
      C: [hostCreditAnswerInput(id, 0, z(8), 0, 0, rv)],
      Y: [hostSettleAnswerInput(id, z(63), rv)],
      J: [svmLogMacInput(id, z(29))],
      P: [pendingMacInput(id, 0, z(29), rv), pendingMacInput(id, 3, z(29), rv)],
    };
    const first = new Map<number, string>();
    for (const [letter, list] of Object.entries(inputs)) {
      const lengths = new Set(list.map((b) => b.length));
      expect(lengths.size, letter).toBe(1);
      for (const b of list) expect(String.fromCharCode(b[0]!)).toBe(letter);
      expect(first.has(list[0]![0]!), `${letter} shares its first byte`).toBe(false);
      first.set(list[0]![0]!, letter);
    }
    // K_core = diversify(K_svm, 'CORE'): its ECB blocks start 00 and FF — no letter.
    expect(first.has(0x00) || first.has(0xff)).toBe(false);
  });

  it('the K_core inputs (Q from the core, G and V from the SVM) are separated the same way', () => {
    const q = tokenCoreInput(id, 1, 1);
    const g = tokenGrantInput(id, 1, 1, 1);
    const v = coreStateInput(id, 1, 1, rv);
    expect([q[0], g[0], v[0]].map((b) => String.fromCharCode(b!))).toEqual(['Q', 'G', 'V']);
    expect([q.length, g.length, v.length]).toEqual([10, 14, 20]);
  });

  it('READ LOG MACs only records the SVM wrote: at from = FFFFFFFF it answers none, and never more than its Ne holds', async () => {
    const w = new World({ svmBalance: 0 });
    const m = await w.meter();
    await strangerTransfer(w, m, 1, 10);
    const far = await m.svm.transmit(readLogApdu(0xffffffff));
    expect(far.sw).toBe(0x9000);
    expect(far.data.length).toBe(9);
    expect(far.data[8]).toBe(0);
  });
});

describe('red team: pending slots and the room they reserve', () => {
  it('a stranger with a big purse who pulls after BEGIN reserves all the headroom: bounded by their balance and limit, released only by their card or the host', async () => {
    const w = new World({ svmBalance: 0, svmMax: 4_000 });
    const m = await w.meter();
    // The honest terminal takes min(balance, limit, room): a purse of 5 000 reserves the whole 4 000.
    const s = stranger(w, 1, 5_000);
    const b = await beginAt(m, await s.reader.connect(), 4_000, undefined);
    expect(b.sw).toBe(0x9000);
    // The meter's own subscriber can load nothing, by card or by the host.
    const o = await runCardSession(m, await w.cardChannel(), { purse: PURSE, dateTime: NOW });
    expect(o.amount).toBe(0);
    expect((await hostCredit(w, m, 1, tx(1))).status).toBe(2);
    // Recourse without the stranger: the host cancels the entry (HOST SETTLE), and the room is back.
    const cancel = new SettlePayload(SETTLE_CANCEL, 0, b.csn, PURSE, b.counter, 4_000, tx(2));
    expect(await settle(w, m, cancel)).toMatchObject({ statusName: 'settled-cancel' });
    w.reinsertCard();
    const again = await runCardSession(m, await w.cardChannel(), {
      purse: PURSE,
      dateTime: NOW,
      maxAmount: 500,
    });
    expect(again.amount).toBe(500);
    // The stranger lost nothing (never debited), gained nothing.
    const sc = await s.reader.connect();
    await expectOk(sc, A.selectAid(AID_PURSE), 'SELECT');
    expect(PurseState.decode(await expectOk(sc, A.readPurse(PURSE), 'READ PURSE')).balance).toBe(5_000);
  });

  it(`${SVM_PENDING_SLOTS} strangers lock the slots: the host frees them one by one, and the honest card transfers`, async () => {
    const w = new World({ svmBalance: 0 });
    const m = await w.meter();
    const begun = [];
    for (let n = 1; n <= SVM_PENDING_SLOTS; n++)
      begun.push(await beginAt(m, await stranger(w, n).reader.connect(), 10, undefined));
    expect(begun.map((b) => b.sw)).toEqual(Array(SVM_PENDING_SLOTS).fill(0x9000));
    const o = await runCardSession(m, await w.cardChannel(), { purse: PURSE, dateTime: NOW });
    expect(o.transferBlocked).toBe('slots-full');
    const b = begun[2]!;
    const r = await settle(w, m, new SettlePayload(SETTLE_CANCEL, 2, b.csn, PURSE, b.counter, 10, tx(1)));
    expect(r).toMatchObject({ statusName: 'settled-cancel' });
    w.reinsertCard();
    const after = await runCardSession(m, await w.cardChannel(), {
      purse: PURSE,
      dateTime: NOW,
      maxAmount: 100,
    });
    expect(after.amount).toBe(100);
  });
});

describe("red team: the RV the host matches a debit proof against is the SVM's word (READ PENDING P1 = 01)", () => {
  const crypto = new PurseCrypto(cipher);
  const verify = (
    w: World,
    e: { slot: number; record: Uint8Array; mac: Uint8Array },
    challenge: Uint8Array,
  ) =>
    crypto.check(
      w.issuer.svmKey(METER_ID, PURSE),
      e.mac,
      pendingMacInput(METER_ID, e.slot, e.record, challenge),
    );

  it("a bus owner who swaps in the RV of the card's earlier genuine debit (to get a stale entry settled complete) is caught by the MAC", async () => {
    const w = new World({ svmBalance: 0 });
    const m = await w.meter();
    const first = await beginAt(m, await w.cardChannel(), 700, undefined, true); // debited, pending in slot 0
    expect(first.sw).toBe(0x9000);
    const r3 = fromHex('A1A2A3A4A5A6A7A8');
    const [e] = await readPendingSigned(m, r3);
    expect(e).toMatchObject({ slot: 0, csn: CSN, amount: 700, counter: first.counter });
    expect(verify(w, e!, r3)).toBe(true);
    // The attacker's edit: another RV (e.g. of a debit the card made for another session).
    const forged = e!.record.slice();
    forged.set(fromHex('0000000000000001'), 21);
    expect(verify(w, { ...e!, record: forged }, r3)).toBe(false);
    // Another slot number, another meter's challenge, or a kept answer for a later session: refused.
    expect(verify(w, { ...e!, slot: 1 }, r3)).toBe(false);
    expect(verify(w, e!, fromHex('B1A2A3A4A5A6A7A8'))).toBe(false);
  });

  it('P1 = 01 needs exactly an 8-byte challenge; P1 = 02 is 6A86; P1 = 00 answers as before', async () => {
    const w = new World({ svmBalance: 0 });
    const m = await w.meter();
    await beginAt(m, await stranger(w, 1).reader.connect(), 10, undefined);
    const apdu = (p1: number, data?: Uint8Array) =>
      m.svm.transmit(
        new CommandApdu({ cla: 0x80, ins: INS_READ_PENDING, p1, p2: 0, ...(data ? { data } : {}), ne: 256 }),
      );
    expect((await apdu(1)).sw).toBe(0x6700);
    expect((await apdu(1, new Uint8Array(9))).sw).toBe(0x6700);
    expect((await apdu(2, new Uint8Array(8))).sw).toBe(0x6a86);
    const plain = await apdu(0);
    expect([plain.sw, plain.data.length]).toEqual([0x9000, 31]);
    const signed = await apdu(1, new Uint8Array(8));
    expect([signed.sw, signed.data.length]).toEqual([0x9000, 39]);
  });
});

describe('red team: tears in the last slot', () => {
  /** Tears the SVM at its k-th write during `step`, k = 1, 2, … until the step runs through. */
  async function sweep(
    setup: () => Promise<{ w: World; m: MeterModules }>,
    step: (w: World, m: MeterModules) => Promise<unknown>,
    check: (w: World, m: MeterModules) => Promise<'before' | 'after'>,
  ): Promise<Set<string>> {
    const seen = new Set<string>();
    for (let k = 1; k < 50; k++) {
      const { w, m } = await setup();
      const store = w.svm.store;
      const writes = store.writeCount;
      store.armTear(k);
      let failed = false;
      try {
        await step(w, m);
      } catch {
        failed = true;
      }
      const fired = store.writeCount - writes >= k && failed;
      store.disarmTear();
      w.powerFailure();
      seen.add(await check(w, await w.meter()));
      if (!fired) return seen;
    }
    throw new Error('the step never ran through');
  }

  /** Three strangers hold slots 0–2 (10 each, never debited); the card is the fourth. */
  async function threeTaken() {
    const w = new World({ svmBalance: 1_000 });
    const m = await w.meter();
    for (let n = 1; n <= 3; n++)
      expect((await beginAt(m, await stranger(w, n).reader.connect(), 10, undefined)).sw).toBe(0x9000);
    return { w, m };
  }
  const cardBalance = (w: World) => w.cardView().purses[0]!.balance;

  it('BEGIN into slot 3 with slots 0–2 taken: before or after, and the card recovers either', async () => {
    const seen = await sweep(
      threeTaken,
      async (w, m) => {
        const r = await beginAt(m, await w.cardChannel(), 500, undefined);
        if (r.sw !== 0x9000) throw new Error(r.sw.toString(16));
      },
      async (w, m) => {
        const p = await readPending(m);
        expect(p.slice(0, 3).map((e) => [e.slot, e.amount])).toEqual([
          [0, 10],
          [1, 10],
          [2, 10],
        ]);
        expect(w.svmView().balance).toBe(1_000);
        w.reinsertCard();
        const o = await runCardSession(m, await w.cardChannel(), {
          purse: PURSE,
          dateTime: NOW,
          transfer: false,
        });
        expect(w.svmView().balance + cardBalance(w)).toBe(11_000);
        expect((await readPending(m)).length).toBe(3);
        return p.length === 4 ? (expect(o.recovery).toBe('cancelled'), 'after') : 'before';
      },
    );
    expect(seen).toEqual(new Set(['before', 'after']));
  });

  for (const decision of [SETTLE_COMPLETE, SETTLE_CANCEL]) {
    it(`HOST SETTLE ${decision === SETTLE_COMPLETE ? 'complete' : 'cancel'} of slot 3 (slots 0–2 taken), then the host's retry: exactly once`, async () => {
      let b: Awaited<ReturnType<typeof beginAt>> | undefined;
      const seen = await sweep(
        async () => {
          const s = await threeTaken();
          b = await beginAt(s.m, await s.w.cardChannel(), 500, undefined, true);
          return s;
        },
        async (w, m) => {
          const r = await settle(w, m, new SettlePayload(decision, 3, CSN, PURSE, b!.counter, 500, tx(1)));
          if ('sw' in r) throw new Error(`sw ${r.sw}`);
        },
        async (w, m) => {
          const done = (await readPending(m)).length === 3;
          expect(w.svmView().balance).toBe(1_000 + (done && decision === SETTLE_COMPLETE ? 500 : 0));
          const again = await settle(
            w,
            m,
            new SettlePayload(decision, 3, CSN, PURSE, b!.counter, 500, tx(1)),
          );
          expect(again).toMatchObject({
            statusName: done
              ? 'duplicate'
              : decision === SETTLE_COMPLETE
                ? 'settled-complete'
                : 'settled-cancel',
          });
          expect(w.svmView().balance).toBe(1_000 + (decision === SETTLE_COMPLETE ? 500 : 0));
          // The card's own proof can no longer complete the settled slot (no double value).
          expect((await m.svm.transmit(A.completeTransfer(b!.balanceAfter!, b!.proof!, 3))).sw).toBe(0x9406);
          expect(cardBalance(w)).toBe(9_500);
          return done ? 'after' : 'before';
        },
      );
      expect(seen).toEqual(new Set(['before', 'after']));
    });
  }
});

describe('red team: host tx ids and sessions', () => {
  const MAX = fromHex('FFFFFFFFFFFFFFFF');

  it('a settlement authorised before a power cut is useless after it: the SVM challenge it covers is gone', async () => {
    const w = new World({ svmBalance: 0 });
    const m = await w.meter();
    const b = await beginAt(m, await w.cardChannel(), 300, undefined, true);
    const payload = new SettlePayload(SETTLE_COMPLETE, 0, CSN, PURSE, b.counter, 300, tx(1)).encode();
    const ks = host.sessionKey(kt(w), R1);
    const { r3 } = await m.hostInit(1, R1, R2);
    const rv = await expectOk(m.svm, A.getChallenge(), 'GET CHALLENGE');
    const auth = await expectOk(
      m.sam,
      A.hostCommand(0x54, concatBytes(payload, host.s2(ks, 0x54, r3, payload), rv)),
      'HOST COMMAND',
    );
    // The session is spent: a second command in it is refused (6985), whatever it carries.
    expect(
      (await m.sam.transmit(A.hostCommand(0x54, concatBytes(payload, host.s2(ks, 0x54, r3, payload), rv))))
        .sw,
    ).toBe(0x6985);
    w.powerFailure();
    const m2 = await w.meter();
    expect((await m2.svm.transmit(A.hostSettle(payload, auth, r3))).sw).toBe(0x6985); // no challenge
    await expectOk(m2.svm, A.getChallenge(), 'GET CHALLENGE');
    expect((await m2.svm.transmit(A.hostSettle(payload, auth, r3))).sw).toBe(0x6300); // another challenge
    expect(w.svmView().balance).toBe(0);
  });

  it('credits and settlements share one id sequence: a settlement below a credit applied since is 9407, changes nothing, and goes through under a new id', async () => {
    const w = new World({ svmBalance: 0 });
    const m = await w.meter();
    const b = await beginAt(m, await w.cardChannel(), 300, undefined, true);
    expect((await hostCredit(w, m, 50, tx(5))).status).toBe(0);
    const low = new SettlePayload(SETTLE_COMPLETE, 0, CSN, PURSE, b.counter, 300, tx(4));
    expect(await settle(w, m, low)).toEqual({ sw: 0x9407 });
    expect(w.svmView().balance).toBe(50);
    const high = new SettlePayload(SETTLE_COMPLETE, 0, CSN, PURSE, b.counter, 300, tx(6));
    expect(await settle(w, m, high)).toMatchObject({ statusName: 'settled-complete', balance: 350 });
    // The settled id repeated as a credit is a duplicate: nothing more.
    expect((await hostCredit(w, m, 300, tx(6))).status).toBe(1);
    expect(w.svmView().balance).toBe(350);
  });

  it('tx id 2^64 - 1 is applied once; after it no id is above, so every later host command is 9407 (the host must never issue it)', async () => {
    const w = new World({ svmBalance: 0 });
    const m = await w.meter();
    expect((await hostCredit(w, m, 10, MAX)).status).toBe(0);
    expect((await hostCredit(w, m, 10, MAX)).status).toBe(1); // duplicate, nothing
    await expect(hostCredit(w, m, 10, tx(1))).rejects.toMatchObject({ sw: 0x9407 });
    expect(w.svmView().balance).toBe(10);
  });
});

describe('red team: the SVM counter at its maximum with several slots pending', () => {
  it('BEGIN keeps one counter value for each pending transfer: every begun transfer can still COMPLETE (no 6F00), the next BEGIN / HOST CREDIT is 9404', async () => {
    // Before the fix BEGIN checked only counter < FFFFFFFF: 4 transfers begun at FFFFFFFC completed
    // up to FFFFFFFF, and the 4th COMPLETE overflowed (6F00) — a debit the SVM could never credit.
    const w = new World({ svmBalance: 0 });
    w.svm.store.commit([['v.register', new SvmRegister(0, 100_000, 0xfffffffc).encode()]]);
    const m = await w.meter();
    const cards = [await w.cardChannel()];
    for (let n = 1; n <= 3; n++) cards.push(await stranger(w, n).reader.connect());
    const begun = [];
    for (const card of cards.slice(0, 3)) begun.push(await beginAt(m, card, 100, undefined, true));
    // Before the fix the 4th BEGIN passed and, once the others completed, its COMPLETE was 6F00.
    expect(begun.map((b) => b.sw)).toEqual([0x9000, 0x9000, 0x9000]);
    expect((await beginAt(m, cards[3]!, 100, undefined)).sw).toBe(0x9404);
    await expect(hostCredit(w, m, 1, tx(1))).rejects.toMatchObject({ sw: 0x9404 });
    for (const [slot, b] of begun.entries()) {
      const r = await m.svm.transmit(A.completeTransfer(b.balanceAfter!, b.proof!, slot));
      expect(r.sw).toBe(0x9000);
    }
    expect(w.svmView()).toMatchObject({ balance: 300, counter: 0xffffffff });
  });
});

describe('red team: one card, several slots?', () => {
  it('one card takes one slot whatever purse or counter it names; its other purses get no SAM authorisation at this meter', async () => {
    const w = new World({ svmBalance: 0 });
    const m = await w.meter();
    expect((await beginAt(m, await w.cardChannel(), 10, undefined)).sw).toBe(0x9000);
    w.reinsertCard();
    expect((await beginAt(m, await w.cardChannel(), 10, 40)).sw).toBe(0x9405); // another counter: same CSN
    w.reinsertCard();
    const card = await w.cardChannel();
    await expectOk(card, A.selectAid(AID_PURSE), 'SELECT');
    await authenticate(m, card, CSN);
    const rv = await expectOk(m.svm, A.getChallenge(), 'GET CHALLENGE');
    // Purse 2 (another utility's): this meter's SAM holds no key for it.
    expect((await m.sam.transmit(A.transferAuth(2, 10, 1, NOW, rv))).sw).toBe(0x6a88);
    expect((await readPending(m)).length).toBe(1);
  });
});

describe('red team: what a duplicate settle answer proves', () => {
  it('an id a HOST CREDIT used, sent again as a settlement (a host restored from a backup): 03 duplicate with no 06 record, and the entry is still there for the card to complete', async () => {
    // Before: 03 with a zero record, the same bytes as a retried settlement that was applied; the
    // host counted 'duplicate' as cancelled and paid the card back — while the card's own proof
    // could still complete the entry: the debit twice in value.
    const w = new World({ svmBalance: 0 });
    const m = await w.meter();
    const b = await beginAt(m, await w.cardChannel(), 400, undefined, true);
    expect((await hostCredit(w, m, 10, tx(7))).status).toBe(0);
    const cancel = new SettlePayload(SETTLE_CANCEL, 0, CSN, PURSE, b.counter, 400, tx(7));
    const dup = await settle(w, m, cancel);
    expect(dup).toMatchObject({ statusName: 'duplicate' });
    expect('record' in dup && dup.record).toBeFalsy();
    expect((await m.svm.transmit(A.completeTransfer(b.balanceAfter!, b.proof!, 0))).sw).toBe(0x9000);
    expect(w.svmView().balance).toBe(410);
  });

  it('a settlement applied and retried: 03 duplicate carrying its own 06 record', async () => {
    const w = new World({ svmBalance: 0 });
    const m = await w.meter();
    const b = await beginAt(m, await w.cardChannel(), 400, undefined, true);
    const applied = new SettlePayload(SETTLE_CANCEL, 0, CSN, PURSE, b.counter, 400, tx(8));
    expect(await settle(w, m, applied)).toMatchObject({ statusName: 'settled-cancel' });
    const retry = await settle(w, m, applied);
    expect(retry).toMatchObject({ statusName: 'duplicate' });
    const rec = SvmLogRecord.decode((retry as { record: Uint8Array }).record);
    expect(rec).toMatchObject({ type: 6, amount: 400 });
    expect(toHex(rec.ref)).toBe(toHex(concatBytes(CSN, Uint8Array.of(b.counter >> 8, b.counter & 0xff))));
  });
});
