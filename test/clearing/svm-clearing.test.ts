/**
 * Issue 13, chip side: the SVM's pending-transfer slots (one per card, SVM_PENDING_SLOTS of them)
 * and HOST SETTLE — the host's authenticated settlement of a pending transfer the card can no
 * longer recover — attacked field by field (docs/purse-spec.md §5.7, §5.8).
 */
import { describe, expect, it } from 'vitest';
import type { CardChannel } from '../../reader/CardChannel.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import { concatBytes, fromHex, toHex } from '../../card/util/hex.js';
import { u32 } from '../../card/util/bigEndian.js';
import { SeededRng } from '../../card/crypto/rng.js';
import { PersistentStore } from '../../card/store/PersistentStore.js';
import { Iso7816Os } from '../../card/os/Iso7816Os.js';
import { RuntimeApplet } from '../../card/applets/platform/RuntimeApplet.js';
import { ATR_SVM, SVM_INS, SVM_LAYOUT, makeSvm } from '../../card/applets/profiles.js';
import { SvmApplet, keySvmPending } from '../../card/applets/svm/SvmApplet.js';
import { PendingTransfer, SettlePayload, SvmLogRecord } from '../../card/applets/svm/records.js';
import { LogRecord, PurseState } from '../../card/applets/purse/records.js';
import {
  AID_PURSE,
  AID_SVM,
  SETTLE_CANCEL,
  SETTLE_COMPLETE,
  SVM_PENDING_SLOTS,
} from '../../card/applets/constants.js';
import { decrypt } from '../../protocol/session.js';
import { MeterModules, expectOk } from '../../terminal/MeterModules.js';
import { authenticate, runCardSession } from '../../terminal/CardTransfer.js';
import { decodeSettleAnswer, hostSettle, readPending } from '../../terminal/clearing/SvmClearing.js';
import { loadCard } from '../../terminal/loadCard.js';
import * as A from '../../terminal/apdus.js';
import { HostSide } from '../transfer/hostSide.js';
import { PURSE, beginTransferAt, kt, strangerCard, type Begun } from './fixture.js';
import { CSN, METER_ID, NOW, TERMINAL_ID, VENDING_TERMINAL, World, cipher } from '../transfer/world.js';

const host = new HostSide(cipher);
const R1 = fromHex('1111111111111111');
const R2 = fromHex('2222222222222222');
const tx = (n: number) => fromHex(`74780000000000${n.toString(16).padStart(2, '0')}`);
const csnOf = (n: number) => fromHex(`4D500000000000${n.toString(16).padStart(2, '0')}`);

/** Another subscriber card of the same issuer, in its own reader. */
const stranger = (w: World, n: number, balance = 5_000) =>
  strangerCard(w, n, csnOf(n), `stranger:${n}`, balance);

/** A card session cut right after BEGIN TRANSFER (debit = false) or after the card's DEBIT. */
const begin = (m: MeterModules, card: CardChannel, amount: number, debit: boolean): Promise<Begun> =>
  beginTransferAt(m, card, amount, undefined, debit, 'card ');

/** The host's side of one settlement, through the meter's modules; the answer as the host reads M. */
async function settle(w: World, m: MeterModules, p: SettlePayload) {
  const ks = host.sessionKey(kt(w), R1);
  const { r3 } = await m.hostInit(1, R1, R2);
  const payload = p.encode();
  const r = await hostSettle(m, { payload, s2h: host.s2(ks, 0x54, r3, payload) });
  const seen = decodeSettleAnswer(decrypt(cipher, ks, r.m), true);
  expect(seen.meterId).toEqual(METER_ID);
  expect(seen.status).toBe(r.status); // what the host reads is what the SVM said
  expect(seen.payload.encode()).toEqual(payload);
  return seen;
}

/** Runs a settlement up to the SAM's authorisation and hands back what a middleman on the bus sees. */
async function authorised(w: World, m: MeterModules, p: SettlePayload, svm = m.svm) {
  const ks = host.sessionKey(kt(w), R1);
  const { r3 } = await m.hostInit(1, R1, R2);
  const payload = p.encode();
  const rv = await expectOk(svm, A.getChallenge(), 'SVM GET CHALLENGE');
  const auth = await expectOk(
    m.sam,
    A.hostCommand(0x54, concatBytes(payload, host.s2(ks, 0x54, r3, payload), rv)),
    'SAM HOST COMMAND',
  );
  return { payload, auth, r3, ks };
}

const payloadOf = (b: Begun, slot: number, decision: number, txId: Uint8Array) =>
  new SettlePayload(decision, slot, b.csn, PURSE, b.counter, b.amount, txId);

function svmImage(w: World): string {
  return toHex(w.svm.store.image());
}

describe('SVM pending slots', () => {
  it('a stranger who pulls after BEGIN holds one slot; the next card transfers fine', async () => {
    const w = new World({ svmBalance: 1_000 });
    const m = await w.meter();
    const s = stranger(w, 2);
    expect((await begin(m, await s.reader.connect(), 700, false)).sw).toBe(0x9000);
    const o = await runCardSession(m, await w.cardChannel(), { purse: PURSE, dateTime: NOW });
    expect(o).toMatchObject({ recovery: 'none', amount: 10_000, svmBalance: 11_000 });
    expect(o.transferBlocked).toBeUndefined();
    const p = await readPending(m);
    expect(p.map((e) => [e.slot, toHex(e.csn), e.amount])).toEqual([[0, toHex(csnOf(2)), 700]]);
  });

  it('one slot per card: a card with a transfer pending cannot BEGIN another (9405)', async () => {
    const w = new World();
    const m = await w.meter();
    const s = stranger(w, 2);
    expect((await begin(m, await s.reader.connect(), 100, false)).sw).toBe(0x9000);
    s.reader.remove();
    s.reader.insert(s.dev.os);
    const before = svmImage(w);
    expect((await begin(m, await s.reader.connect(), 100, false)).sw).toBe(0x9405);
    expect(svmImage(w)).toBe(before);
  });

  it(`all ${SVM_PENDING_SLOTS} slots taken: the next BEGIN is 9408 and changes nothing`, async () => {
    const w = new World({ svmBalance: 0 });
    const m = await w.meter();
    for (let i = 0; i < SVM_PENDING_SLOTS; i++) {
      const s = stranger(w, 2 + i);
      expect((await begin(m, await s.reader.connect(), 10 + i, false)).sw).toBe(0x9000);
    }
    expect((await readPending(m)).map((e) => e.slot)).toEqual([0, 1, 2, 3]);
    const before = svmImage(w);
    expect((await begin(m, await w.cardChannel(), 50, false)).sw).toBe(0x9408);
    expect(svmImage(w)).toBe(before);
    // The transfer flow reports it as a typed outcome, meter data still possible.
    w.reinsertCard();
    const o = await runCardSession(m, await w.cardChannel(), { purse: PURSE, dateTime: NOW });
    expect(o).toMatchObject({ amount: 0, transferBlocked: 'slots-full', cardBalance: 10_000 });
    expect(o.pendingCsns!.map((c) => toHex(c))).toEqual([2, 3, 4, 5].map((n) => toHex(csnOf(n))));
  });

  it('BEGIN takes the lowest free slot; a freed slot is reused', async () => {
    const w = new World();
    const m = await w.meter();
    const a = stranger(w, 2);
    const b = stranger(w, 3);
    await begin(m, await a.reader.connect(), 10, false);
    const bb = await begin(m, await b.reader.connect(), 20, true);
    // b's own proof completes b's slot (1).
    await expectOk(m.svm, A.completeTransfer(bb.balanceAfter!, bb.proof!, 1), 'COMPLETE');
    const c = stranger(w, 4);
    await begin(m, await c.reader.connect(), 30, false);
    expect((await readPending(m)).map((e) => [e.slot, e.amount])).toEqual([
      [0, 10],
      [1, 30],
    ]);
  });

  it('the room reserved by all pending transfers counts against max (BEGIN 9402, HOST CREDIT status 02)', async () => {
    const w = new World({ svmBalance: 300, svmMax: 1_000 });
    const m = await w.meter();
    expect((await begin(m, await stranger(w, 2).reader.connect(), 300, false)).sw).toBe(0x9000);
    expect((await begin(m, await stranger(w, 3).reader.connect(), 300, false)).sw).toBe(0x9000);
    // 300 + 600 reserved: room 100.
    expect((await begin(m, await stranger(w, 4).reader.connect(), 101, false)).sw).toBe(0x9402);
    const ks = host.sessionKey(kt(w), R1);
    const { r3 } = await m.hostInit(1, R1, R2);
    const en = host.encryptAmount(ks, 101, tx(1));
    const r = await m.hostValueStore(en, host.s2(ks, 0x51, r3, en));
    expect(r).toMatchObject({ status: 2, balance: 300 });
    // Exactly the room left fits.
    expect((await begin(m, await stranger(w, 5).reader.connect(), 100, false)).sw).toBe(0x9000);
  });

  it('COMPLETE and CANCEL address their own slot; a proof for another slot is 6300, a free slot 9406, slot 4 6A86', async () => {
    const w = new World({ svmBalance: 0 });
    const m = await w.meter();
    const a = await begin(m, await stranger(w, 2).reader.connect(), 100, false);
    const b = await begin(m, await stranger(w, 3).reader.connect(), 200, true);
    expect([a.sw, b.sw]).toEqual([0x9000, 0x9000]);
    const before = svmImage(w);
    const send = (slot: number) => m.svm.transmit(A.completeTransfer(b.balanceAfter!, b.proof!, slot));
    expect((await send(0)).sw).toBe(0x6300); // slot 0 is card 2's: the proof is over another record
    expect((await send(2)).sw).toBe(0x9406);
    expect((await send(4)).sw).toBe(0x6a86);
    expect((await m.svm.transmit(A.cancelWithRecord(new Uint8Array(38), 4))).sw).toBe(0x6a86);
    expect(svmImage(w)).toBe(before);
    const ok = await send(1);
    expect(ok.sw).toBe(0x9000);
    expect(u32(ok.data, 0)).toBe(200);
    expect((await readPending(m)).map((e) => e.slot)).toEqual([0]);
    // And the proof cannot be used twice.
    expect((await send(1)).sw).toBe(0x9406);
  });

  it('the host relays a card debit proof it collected elsewhere: COMPLETE for that slot, no host authorisation', async () => {
    const w = new World({ svmBalance: 0 });
    const m = await w.meter();
    const sa = stranger(w, 2);
    await begin(m, await stranger(w, 9).reader.connect(), 50, false); // slot 0: someone else
    const b = await begin(m, await sa.reader.connect(), 400, true); // slot 1: paid, then pulled
    // The card's log at a vending point: record 1 is the debit.
    sa.reader.remove();
    sa.reader.insert(sa.dev.os);
    const card = await sa.reader.connect();
    await expectOk(card, A.selectAid(AID_PURSE), 'SELECT');
    const rec = LogRecord.decode(await expectOk(card, A.readLogRecord(1), 'READ RECORD'));
    expect(rec.mac).toEqual(b.proof);
    // Relayed to the wrong slot it proves nothing; to its own slot it completes.
    expect((await m.svm.transmit(A.completeTransfer(rec.balanceAfter, rec.mac, 0))).sw).toBe(0x6300);
    const r = await m.svm.transmit(A.completeTransfer(rec.balanceAfter, rec.mac, 1));
    expect(r.sw).toBe(0x9000);
    expect(w.svmView().balance).toBe(400);
    expect((await readPending(m)).map((e) => toHex(e.csn))).toEqual([toHex(csnOf(9))]);
  });

  it('READ STATE flags a pending slot and shows the lowest; READ PENDING shows every field', async () => {
    const w = new World();
    const m = await w.meter();
    expect((await m.readState()).pending).toBeUndefined();
    expect(await readPending(m)).toEqual([]);
    await begin(m, await stranger(w, 2).reader.connect(), 10, false);
    await begin(m, await stranger(w, 3).reader.connect(), 20, false);
    expect((await m.readState()).pending).toMatchObject({ csn: csnOf(2), amount: 10, counter: 1 });
    const p = await readPending(m);
    expect(p[1]).toMatchObject({ slot: 1, csn: csnOf(3), purse: 1, amount: 20, counter: 1, dateTime: NOW });
    expect(p[1]!.rv).toHaveLength(8);
  });

  it('migration: an SVM image written with the one-slot layout loads, its pending transfer in slot 0, and recovers', async () => {
    // The card pays, the SVM keeps the transfer pending (the COMPLETE is lost).
    const w = new World({ svmBalance: 1_000 });
    const m = await w.meter();
    const b = await begin(m, await w.cardChannel(), 2_500, true);
    const pendingBytes = w.svm.store.view(keySvmPending(0))!;
    expect(PendingTransfer.decode(pendingBytes).amount).toBe(2_500);
    // An SVM of the old layout (no slots 1-3), personalised alike, with that one-slot record.
    const oldLayout = SVM_LAYOUT.filter(([k]) => !/^v\.pending\.\d$/.test(k));
    expect(oldLayout).toHaveLength(SVM_LAYOUT.length - (SVM_PENDING_SLOTS - 1));
    const build = (layout: typeof SVM_LAYOUT, image?: Uint8Array) => {
      const store = new PersistentStore({ dataSize: 2048, journalSize: 2048, ...(image ? { image } : {}) });
      const applet = new RuntimeApplet<SvmApplet>({
        aid: AID_SVM,
        ins: SVM_INS,
        layout,
        prefix: 'svm:',
        make: (s, c, r) => new SvmApplet(s, c, r),
        personalise: (s) =>
          SvmApplet.personalise(s, {
            meterId: METER_ID,
            terminalId: TERMINAL_ID,
            keys: w.issuer.svmKeys(METER_ID, 1, 1),
            max: 100_000,
            balance: 1_000,
          }),
      });
      const os = new Iso7816Os({
        atr: ATR_SVM,
        protocol: 'T=1',
        store,
        fs: { type: 'df', fid: '3F00', children: [] },
        applets: [applet],
        personalise: image === undefined,
        cipher,
        rng: new SeededRng('old svm'),
        channels: 1,
        extendedLength: false,
      });
      return { os, store, applet };
    };
    const old = build(oldLayout);
    old.applet.records.commit([['v.pending', pendingBytes]]); // what the one-slot SVM wrote
    const migrated = build(SVM_LAYOUT, old.store.image());
    const m2 = await MeterModules.open(
      await w.samReader.connect(),
      await new VirtualReader('migrated SVM', migrated.os).connect(),
      w.core(),
    );
    const p = await readPending(m2);
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({ slot: 0, csn: CSN, amount: 2_500, counter: b.counter });
    w.reinsertCard();
    const o = await runCardSession(m2, await w.cardChannel(), {
      purse: PURSE,
      dateTime: NOW,
      transfer: false,
    });
    expect(o).toMatchObject({ recovery: 'completed', recovered: 2_500, svmBalance: 3_500 });
    expect(await readPending(m2)).toEqual([]);
  });
});

describe('HOST SETTLE', () => {
  /** A card that paid, its transfer pending in slot 1 (slot 0: a stranger who never paid). */
  async function paidAndPending(o: { svmBalance?: number } = {}) {
    const w = new World({ svmBalance: o.svmBalance ?? 1_000 });
    const m = await w.meter();
    const other = await begin(m, await stranger(w, 9).reader.connect(), 50, false);
    const b = await begin(m, await w.cardChannel(), 3_000, true);
    expect([other.sw, b.sw]).toEqual([0x9000, 0x9000]);
    return { w, m, b, other };
  }

  it('complete: the SVM is credited with the pending amount once, logged, answered and encrypted for the host', async () => {
    const { w, m, b } = await paidAndPending();
    const a = await settle(w, m, payloadOf(b, 1, SETTLE_COMPLETE, tx(1)));
    expect(a).toMatchObject({ statusName: 'settled-complete', balance: 4_000, svmCounter: 1 });
    const rec = SvmLogRecord.decode(a.record!);
    expect(rec).toMatchObject({ type: 5, amount: 3_000, balanceAfter: 4_000, svmCounter: 1 });
    expect(rec.ref).toEqual(concatBytes(CSN, Uint8Array.of(0, b.counter)));
    expect(w.svmView().balance).toBe(4_000);
    expect((await readPending(m)).map((e) => e.slot)).toEqual([0]);
    // The card's own proof can no longer complete it: the slot is gone.
    expect((await m.svm.transmit(A.completeTransfer(b.balanceAfter!, b.proof!, 1))).sw).toBe(0x9406);
    // Nor can the card BEGIN again at the credited counter (replay memory), were it ever to repeat.
    expect(w.svmView().balance).toBe(4_000);
  });

  it('cancel: the reservation is released, the balance does not move, the card recovering later gets nothing', async () => {
    const { w, m, b } = await paidAndPending();
    const a = await settle(w, m, payloadOf(b, 1, SETTLE_CANCEL, tx(1)));
    expect(a).toMatchObject({ statusName: 'settled-cancel', balance: 1_000, svmCounter: 0 });
    expect(SvmLogRecord.decode(a.record!)).toMatchObject({ type: 6, amount: 3_000, balanceAfter: 1_000 });
    // The card comes back: nothing pending for it, its old proof is refused; a new transfer is its own.
    expect((await m.svm.transmit(A.completeTransfer(b.balanceAfter!, b.proof!, 1))).sw).toBe(0x9406);
    w.reinsertCard();
    const o = await runCardSession(m, await w.cardChannel(), { purse: PURSE, dateTime: NOW });
    expect(o).toMatchObject({ recovery: 'none', recovered: 0, amount: 7_000, svmBalance: 8_000 });
    // 3 000 debited from the card and never credited to the SVM: only the host credits it back.
    expect(w.svmView().balance + w.cardView().purses[0]!.balance).toBe(1_000 + 10_000 - 3_000);
  });

  it('settle after the card already recovered: no-such-pending with the card-credit record, nothing credited twice', async () => {
    const { w, m, b } = await paidAndPending();
    w.reinsertCard();
    const o = await runCardSession(m, await w.cardChannel(), {
      purse: PURSE,
      dateTime: NOW,
      transfer: false,
    });
    expect(o).toMatchObject({ recovery: 'completed', recovered: 3_000, svmBalance: 4_000 });
    const before = svmImage(w);
    const a = await settle(w, m, payloadOf(b, 1, SETTLE_COMPLETE, tx(1)));
    expect(a).toMatchObject({ statusName: 'no-such-pending', balance: 4_000 });
    expect(SvmLogRecord.decode(a.record!)).toMatchObject({ type: 1, amount: 3_000 });
    expect(svmImage(w)).toBe(before); // not even the tx id is consumed
    // The same tx id then serves a real settlement (of the stranger's slot 0).
    const a2 = await settle(w, m, new SettlePayload(SETTLE_CANCEL, 0, csnOf(9), PURSE, 1, 50, tx(1)));
    expect(a2.statusName).toBe('settled-cancel');
  });

  it('no-such-pending for a slot that never held it: no record, nothing changes', async () => {
    const { w, m, b } = await paidAndPending();
    const before = svmImage(w);
    for (const p of [
      payloadOf(b, 2, SETTLE_COMPLETE, tx(1)), // free slot
      payloadOf(b, 0, SETTLE_COMPLETE, tx(1)), // the stranger's slot
      payloadOf({ ...b, amount: 3_001 }, 1, SETTLE_COMPLETE, tx(1)),
      payloadOf({ ...b, counter: b.counter + 1 }, 1, SETTLE_COMPLETE, tx(1)),
      payloadOf({ ...b, csn: csnOf(7) }, 1, SETTLE_COMPLETE, tx(1)),
      new SettlePayload(SETTLE_COMPLETE, 1, b.csn, 2, b.counter, b.amount, tx(1)), // another purse
    ]) {
      const a = await settle(w, m, p);
      expect(a.statusName).toBe('no-such-pending');
      expect(a.record).toBeUndefined();
      expect(svmImage(w)).toBe(before);
    }
  });

  it('a host tx id is applied once: repeated -> duplicate, lower -> 9407, one HOST CREDIT used -> duplicate', async () => {
    const { w, m, b, other } = await paidAndPending();
    // A host credit takes tx 5.
    const ks = host.sessionKey(kt(w), R1);
    const { r3 } = await m.hostInit(1, R1, R2);
    const en = host.encryptAmount(ks, 10, tx(5));
    await m.hostValueStore(en, host.s2(ks, 0x51, r3, en));
    let before = svmImage(w);
    expect(await settle(w, m, payloadOf(b, 1, SETTLE_COMPLETE, tx(5)))).toMatchObject({
      statusName: 'duplicate',
    });
    expect(svmImage(w)).toBe(before);
    await expect(settle(w, m, payloadOf(b, 1, SETTLE_COMPLETE, tx(4)))).rejects.toMatchObject({
      step: 'SVM HOST SETTLE',
      sw: 0x9407,
    });
    expect(svmImage(w)).toBe(before);
    expect((await settle(w, m, payloadOf(b, 1, SETTLE_COMPLETE, tx(6)))).statusName).toBe('settled-complete');
    before = svmImage(w);
    // tx 6 again, even for another entry: duplicate, nothing applied.
    const again = await settle(w, m, payloadOf(other, 0, SETTLE_CANCEL, tx(6)));
    expect(again).toMatchObject({ statusName: 'duplicate', balance: 4_010 });
    expect(svmImage(w)).toBe(before);
    expect((await readPending(m)).map((e) => e.slot)).toEqual([0]);
  });

  it('the SAM authorisation binds every payload field: slot, CSN, purse, counter, amount, tx id, decision (cancel -> complete)', async () => {
    const { w, m, b } = await paidAndPending();
    const base = payloadOf(b, 1, SETTLE_CANCEL, tx(1));
    const variants: [string, SettlePayload][] = [
      ['decision cancel -> complete', payloadOf(b, 1, SETTLE_COMPLETE, tx(1))],
      ['slot', payloadOf(b, 0, SETTLE_CANCEL, tx(1))],
      ['csn', payloadOf({ ...b, csn: csnOf(9) }, 1, SETTLE_CANCEL, tx(1))],
      ['purse', new SettlePayload(SETTLE_CANCEL, 1, b.csn, 2, b.counter, b.amount, tx(1))],
      ['counter', payloadOf({ ...b, counter: b.counter + 1 }, 1, SETTLE_CANCEL, tx(1))],
      ['amount', payloadOf({ ...b, amount: 1 }, 1, SETTLE_CANCEL, tx(1))],
      ['tx id', payloadOf(b, 1, SETTLE_CANCEL, tx(9))],
    ];
    for (const [, v] of variants) {
      const { auth, r3 } = await authorised(w, m, base);
      const before = svmImage(w);
      // The middleman keeps the SAM's authorisation and changes the payload on its way to the SVM.
      const r = await m.svm.transmit(A.hostSettle(v.encode(), auth, r3));
      expect(r.sw).toBe(0x6300);
      expect(svmImage(w)).toBe(before);
    }
    expect(w.svmView().balance).toBe(1_000);
    expect((await readPending(m)).map((e) => e.slot)).toEqual([0, 1]);
  });

  it('an authorisation is good once, now: replayed after use, or kept and used after a new challenge -> refused', async () => {
    const { w, m, b } = await paidAndPending();
    const p = payloadOf(b, 1, SETTLE_COMPLETE, tx(1));
    const { payload, auth, r3 } = await authorised(w, m, p);
    const first = await m.svm.transmit(A.hostSettle(payload, auth, r3));
    expect(first.sw).toBe(0x9000);
    expect(w.svmView().balance).toBe(4_000);
    const before = svmImage(w);
    // Same APDU again: the challenge was taken.
    expect((await m.svm.transmit(A.hostSettle(payload, auth, r3))).sw).toBe(0x6985);
    // With a fresh challenge the old authorisation is over another RV.
    await expectOk(m.svm, A.getChallenge(), 'GET CHALLENGE');
    expect((await m.svm.transmit(A.hostSettle(payload, auth, r3))).sw).toBe(0x6300);
    expect(svmImage(w)).toBe(before);
    // Kept but never used: a later challenge makes it worthless too.
    const kept = await authorised(w, m, payloadOf(b, 1, SETTLE_CANCEL, tx(2)));
    await expectOk(m.svm, A.getChallenge(), 'GET CHALLENGE');
    expect((await m.svm.transmit(A.hostSettle(kept.payload, kept.auth, kept.r3))).sw).toBe(0x6300);
  });

  it("another meter's SVM refuses an authorisation made by this meter's SAM, even over its own challenge", async () => {
    const { w, m, b } = await paidAndPending();
    const otherSvm = makeSvm(w.issuer, {
      meterId: fromHex('000124'),
      terminalId: fromHex('00000124'),
      rng: new SeededRng('other svm'),
      max: 100_000,
      balance: 0,
    });
    const ch = await new VirtualReader('other SVM', otherSvm.os).connect();
    await expectOk(ch, A.selectAid(AID_SVM), 'SELECT SVM');
    // The same card's transfer pending there too (same slot, CSN, counter, amount).
    const pending = w.svm.store.view(keySvmPending(1))!;
    otherSvm.store.commit([[keySvmPending(1), pending]]);
    const before = toHex(otherSvm.store.image());
    const { payload, auth, r3 } = await authorised(w, m, payloadOf(b, 1, SETTLE_COMPLETE, tx(1)), ch);
    expect((await ch.transmit(A.hostSettle(payload, auth, r3))).sw).toBe(0x6300);
    expect(toHex(otherSvm.store.image())).toBe(before);
  });

  it('a forged host signature is 6300 at the SAM (session ended); a forged SAM authorisation is 6300 at the SVM', async () => {
    const { w, m, b } = await paidAndPending();
    const ks = host.sessionKey(kt(w), R1);
    const { r3 } = await m.hostInit(1, R1, R2);
    const payload = payloadOf(b, 1, SETTLE_COMPLETE, tx(1)).encode();
    const s2h = host.s2(ks, 0x54, r3, payload);
    s2h[0]! ^= 1;
    await expect(hostSettle(m, { payload, s2h })).rejects.toMatchObject({
      step: 'SAM HOST COMMAND',
      sw: 0x6300,
    });
    s2h[0]! ^= 1;
    await expect(hostSettle(m, { payload, s2h })).rejects.toMatchObject({ sw: 0x6982 });
    // A signature under the value-store header does not settle (H is in S2h).
    const { r3: r3b } = await m.hostInit(1, R1, R2);
    await expect(hostSettle(m, { payload, s2h: host.s2(ks, 0x51, r3b, payload) })).rejects.toMatchObject({
      sw: 0x6300,
    });
    await expectOk(m.svm, A.getChallenge(), 'GET CHALLENGE');
    expect((await m.svm.transmit(A.hostSettle(payload, new Uint8Array(8), r3))).sw).toBe(0x6300);
    expect(w.svmView().balance).toBe(1_000);
  });

  it('HOST FINISH 54 takes only the answer to the settlement this session signed, with a right MAC', async () => {
    const { w, m, b } = await paidAndPending();
    const { payload, auth, r3 } = await authorised(w, m, payloadOf(b, 1, SETTLE_CANCEL, tx(1)));
    const answer = await expectOk(m.svm, A.hostSettle(payload, auth, r3), 'HOST SETTLE');
    expect(answer).toHaveLength(71);
    const forged = answer.slice();
    forged[0] = 0x00; // "settled-complete" instead of cancel
    expect((await m.sam.transmit(A.hostFinish(0x54, forged))).sw).toBe(0x6300);
    const other = answer.slice();
    other[1] = SETTLE_COMPLETE; // not the payload the host signed
    expect((await m.sam.transmit(A.hostFinish(0x54, other))).sw).toBe(0x6985);
    expect((await m.sam.transmit(A.hostFinish(0x54, answer))).sw).toBe(0x9000);
  });

  it('bad fields: decision 03 and slot 4 are 6A80 (the challenge is still used up); wrong lengths 6700', async () => {
    const { w, m, b } = await paidAndPending();
    for (const p of [payloadOf(b, 1, 3, tx(1)), payloadOf(b, SVM_PENDING_SLOTS, SETTLE_COMPLETE, tx(1))]) {
      const { payload, auth, r3 } = await authorised(w, m, p);
      expect((await m.svm.transmit(A.hostSettle(payload, auth, r3))).sw).toBe(0x6a80);
      expect((await m.svm.transmit(A.hostSettle(payload, auth, r3))).sw).toBe(0x6985);
    }
    await expectOk(m.svm, A.getChallenge(), 'GET CHALLENGE');
    const short = await m.svm.transmit(
      A.hostSettle(new Uint8Array(24), new Uint8Array(8), new Uint8Array(8)),
    );
    expect(short.sw).toBe(0x6700);
    expect(() => new SettlePayload(1, 256, CSN, 1, 1, 1, tx(1)).encode()).toThrow(/slot/);
    expect(() => new SettlePayload(1, 0, CSN, 1, 0x10000, 1, tx(1)).encode()).toThrow(/counter/);
    expect(() => new SettlePayload(1, 0, CSN, 1, 1, 2 ** 32, tx(1)).encode()).toThrow(/amount/);
    expect(w.svmView().balance).toBe(1_000);
  });

  it('complete at the SVM counter maximum is 9404 before anything changes; cancel still works', async () => {
    const { w, m, b } = await paidAndPending();
    const reg = w.svm.store.view('v.register')!.slice();
    reg.set([0xff, 0xff, 0xff, 0xff], 8);
    w.svm.store.commit([['v.register', reg]]);
    const before = svmImage(w);
    await expect(settle(w, m, payloadOf(b, 1, SETTLE_COMPLETE, tx(1)))).rejects.toMatchObject({ sw: 0x9404 });
    expect(svmImage(w)).toBe(before);
    expect((await settle(w, m, payloadOf(b, 1, SETTLE_CANCEL, tx(1)))).statusName).toBe('settled-cancel');
  });

  it('a card whose debit record left its log: the host settles what the card cannot', async () => {
    const { w, m, b } = await paidAndPending();
    for (let i = 0; i < 10; i++) {
      w.reinsertCard();
      await loadCard(await w.cardChannel(), w.issuer, {
        purse: PURSE,
        amount: 1,
        terminalId: VENDING_TERMINAL,
        dateTime: NOW,
      });
    }
    w.reinsertCard();
    await expect(
      runCardSession(m, await w.cardChannel(), { purse: PURSE, dateTime: NOW }),
    ).rejects.toMatchObject({ step: 'recovery', pending: { slot: 1, csn: CSN, amount: 3_000 } });
    expect((await settle(w, m, payloadOf(b, 1, SETTLE_COMPLETE, tx(1)))).statusName).toBe('settled-complete');
    w.reinsertCard();
    const o = await runCardSession(m, await w.cardChannel(), { purse: PURSE, dateTime: NOW });
    expect(o).toMatchObject({ recovery: 'none', amount: 7_010, svmBalance: 1_000 + 3_000 + 7_010 });
  });
});

describe('tearing: every write of multi-slot BEGIN / COMPLETE / CANCEL and of HOST SETTLE conserves value', () => {
  /**
   * Arms a tear at the k-th low-level write of the SVM for `step`, for k = 1, 2, … until the step
   * runs through untorn; after each tear (power cut) the SVM holds exactly its state before or after.
   */
  async function sweep(
    setup: () => Promise<{ w: World; m: MeterModules }>,
    step: (w: World, m: MeterModules) => Promise<unknown>,
    check: (w: World, m: MeterModules, torn: boolean) => Promise<'before' | 'after'>,
  ): Promise<Set<string>> {
    const seen = new Set<string>();
    for (let k = 1; ; k++) {
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
      seen.add(await check(w, await w.meter(), fired));
      if (!fired) {
        expect(k).toBeGreaterThan(2);
        return seen;
      }
    }
  }

  const total = (w: World, extra: number[]) =>
    w.svmView().balance + w.cardView().purses[0]!.balance + extra.reduce((a, x) => a + x, 0);

  it('BEGIN into slot 1 (slot 0 taken)', async () => {
    const setup = async () => {
      const w = new World({ svmBalance: 1_000 });
      const m = await w.meter();
      await begin(m, await stranger(w, 2).reader.connect(), 10, false);
      return { w, m };
    };
    const seen = await sweep(
      setup,
      async (w, m) => {
        const r = await begin(m, await w.cardChannel(), 500, false);
        if (r.sw !== 0x9000) throw new Error(r.sw.toString(16));
      },
      async (w, m) => {
        const p = await readPending(m);
        expect(p[0]).toMatchObject({ slot: 0, amount: 10 });
        expect(w.svmView().balance).toBe(1_000);
        // The card recovers whatever state it finds: value conserved.
        w.reinsertCard();
        const o = await runCardSession(m, await w.cardChannel(), {
          purse: PURSE,
          dateTime: NOW,
          transfer: false,
        });
        expect(total(w, [])).toBe(11_000);
        expect((await readPending(m)).map((e) => e.slot)).toEqual([0]);
        return p.length === 2 ? (expect(o.recovery).toBe('cancelled'), 'after') : 'before';
      },
    );
    expect(seen).toEqual(new Set(['before', 'after']));
  });

  it('COMPLETE of slot 1 (slot 0 taken)', async () => {
    const setup = async () => {
      const w = new World({ svmBalance: 1_000 });
      const m = await w.meter();
      await begin(m, await stranger(w, 2).reader.connect(), 10, false);
      const b = await begin(m, await w.cardChannel(), 500, true);
      return { w, m, b };
    };
    let b: Begun | undefined;
    const seen = await sweep(
      async () => {
        const s = await setup();
        b = s.b;
        return s;
      },
      async (_w, m) => expectOk(m.svm, A.completeTransfer(b!.balanceAfter!, b!.proof!, 1), 'COMPLETE'),
      async (w, m) => {
        const done = (await readPending(m)).length === 1;
        expect(total(w, done ? [] : [500])).toBe(11_000);
        if (!done) {
          expect(w.svmView().balance).toBe(1_000);
          w.reinsertCard();
          const o = await runCardSession(m, await w.cardChannel(), {
            purse: PURSE,
            dateTime: NOW,
            transfer: false,
          });
          expect(o.recovery).toBe('completed');
        }
        expect(w.svmView().balance).toBe(1_500);
        expect((await readPending(m)).map((e) => e.slot)).toEqual([0]);
        return done ? 'after' : 'before';
      },
    );
    expect(seen).toEqual(new Set(['before', 'after']));
  });

  it('CANCEL of slot 1 with the signed status (slot 0 taken)', async () => {
    const setup = async () => {
      const w = new World({ svmBalance: 1_000 });
      const m = await w.meter();
      await begin(m, await stranger(w, 2).reader.connect(), 10, false);
      await begin(m, await w.cardChannel(), 500, false);
      w.reinsertCard();
      return { w, m };
    };
    const seen = await sweep(
      setup,
      async (w, m) => {
        const card = await w.cardChannel();
        await expectOk(card, A.selectAid(AID_PURSE), 'SELECT');
        await authenticate(m, card, CSN);
        const rv = await expectOk(m.svm, A.getChallenge(), 'GET CHALLENGE');
        const s = await expectOk(card, A.readPurse(PURSE, rv), 'READ PURSE');
        const st = PurseState.decode(s.subarray(0, 17));
        await expectOk(m.svm, A.cancelWithStatus(st.balance, st.counter, s.subarray(17, 25), 1), 'CANCEL');
      },
      async (w, m) => {
        expect(w.svmView().balance).toBe(1_000);
        const p = await readPending(m);
        expect(p[0]).toMatchObject({ slot: 0, amount: 10 });
        expect(total(w, [])).toBe(11_000);
        return p.length === 1 ? 'after' : 'before';
      },
    );
    expect(seen).toEqual(new Set(['before', 'after']));
  });

  for (const decision of [SETTLE_COMPLETE, SETTLE_CANCEL]) {
    it(`HOST SETTLE ${decision === SETTLE_COMPLETE ? 'complete' : 'cancel'} of slot 1`, async () => {
      let b: Begun | undefined;
      const seen = await sweep(
        async () => {
          const w = new World({ svmBalance: 1_000 });
          const m = await w.meter();
          await begin(m, await stranger(w, 2).reader.connect(), 10, false);
          b = await begin(m, await w.cardChannel(), 500, true);
          return { w, m };
        },
        (w, m) => settle(w, m, payloadOf(b!, 1, decision, tx(1))),
        async (w, m) => {
          const p = await readPending(m);
          const done = p.length === 1;
          const credited = decision === SETTLE_COMPLETE && done ? 500 : 0;
          expect(w.svmView().balance).toBe(1_000 + credited);
          // In flight: on the card's side (pending) or credited; cancelled = the host owes the card 500.
          expect(total(w, [done && decision === SETTLE_CANCEL ? 500 : 0, done ? 0 : 500])).toBe(11_000);
          // The host asks again after the cut: applied exactly once in the end.
          const again = await settle(w, m, payloadOf(b!, 1, decision, tx(1)));
          expect(again.statusName).toBe(
            done ? 'duplicate' : decision === SETTLE_COMPLETE ? 'settled-complete' : 'settled-cancel',
          );
          expect(w.svmView().balance).toBe(1_000 + (decision === SETTLE_COMPLETE ? 500 : 0));
          return done ? 'after' : 'before';
        },
      );
      expect(seen).toEqual(new Set(['before', 'after']));
    });
  }
});
