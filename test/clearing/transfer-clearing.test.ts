/**
 * Issue 13, terminal side: runCardSession with several pending slots — a stranger's abandoned
 * transfer blocks nobody, every card recovers its own slot, full slots are a typed outcome, a
 * card whose record left its log leaves its entry for the host — and the interruption sweeps of
 * test/transfer/interruption.test.ts repeated with another card's transfer pending in slot 0.
 */
import { describe, expect, it } from 'vitest';
import type { CardChannel } from '../../reader/CardChannel.js';
import { CardChannelError } from '../../reader/CardChannel.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { SeededRng } from '../../card/crypto/rng.js';
import { deriveTerminalKey } from '../../card/crypto/keyHierarchy.js';
import { defaultPurses, makeSubscriberCard, type Device } from '../../card/applets/profiles.js';
import type { PurseApplet } from '../../card/applets/purse/PurseApplet.js';
import { SettlePayload } from '../../card/applets/svm/records.js';
import { SETTLE_CANCEL, SETTLE_COMPLETE, SVM_PENDING_SLOTS } from '../../card/applets/constants.js';
import { MeterData } from '../../card/applets/purse/records.js';
import { readDevice, type SubscriberView } from '../../card/applets/inspect.js';
import { MeterModules } from '../../terminal/MeterModules.js';
import {
  ClearingNeededError,
  awaitedCardMessage,
  runCardSession,
  type TransferOutcome,
} from '../../terminal/CardTransfer.js';
import { TransferError } from '../../terminal/TransferError.js';
import { hostSettle, readPending } from '../../terminal/clearing/SvmClearing.js';
import { loadCard } from '../../terminal/loadCard.js';
import { HostSide } from '../transfer/hostSide.js';
import { METER_ID, NOW, VENDING_TERMINAL, World, cipher } from '../transfer/world.js';
import { CutChannel, CutPlan } from '../transfer/cutChannel.js';

const PURSE = 1;
const CARD_BEFORE = 10_000;
const SVM_BEFORE = 1_000;
const host = new HostSide(cipher);
const csnOf = (n: number) => fromHex(`4D500000000000${n.toString(16).padStart(2, '0')}`);

interface Stranger {
  dev: Device<PurseApplet>;
  reader: VirtualReader;
  csn: Uint8Array;
  /** The stranger's purse balance, from its card image (no APDU, so no session is disturbed). */
  balance: () => number;
}

function stranger(w: World, n: number, balance = 5_000): Stranger {
  const csn = csnOf(n);
  const dev = makeSubscriberCard(w.issuer, {
    csn,
    protocol: 'T=1',
    purses: defaultPurses(balance),
    rng: new SeededRng(`stranger:${n}`),
  });
  return {
    dev,
    reader: new VirtualReader(`card ${n}`, dev.os),
    csn,
    balance: () => (readDevice(dev.store) as SubscriberView).purses.find((p) => p.id === PURSE)!.balance,
  };
}

function meterData(o: { csn: Uint8Array; counter?: number }): MeterData {
  return new MeterData({
    meterId: METER_ID,
    purse: PURSE,
    dateTime: NOW,
    cumulative: 1,
    tariffRegisters: [1, 2, 3, 4],
    sinceLastCredit: 0,
    lastTransferKind: 1,
    lastTransferRef: new Uint8Array([...o.csn, (o.counter ?? 0) >> 8, (o.counter ?? 0) & 0xff]),
    emergencyLimit: 0,
    emergencyUsed: 0,
    tariffPrices: [10, 0, 0, 0],
    events: 0,
  });
}

/** One card session at the meter (fresh module channels, as after a power-up); errors are data. */
async function session(
  w: World,
  card: () => Promise<CardChannel>,
  plan?: CutPlan,
  transfer = true,
): Promise<TransferOutcome | Error> {
  try {
    const wrap = (c: CardChannel) => (plan ? new CutChannel(c, plan) : c);
    const m = await MeterModules.open(
      wrap(await w.samReader.connect()),
      wrap(await w.svmReader.connect()),
      w.core(),
    );
    return await runCardSession(m, wrap(await card()), { purse: PURSE, dateTime: NOW, transfer, meterData });
  } catch (e) {
    if (e instanceof CardChannelError || e instanceof TransferError) return e;
    throw e;
  }
}

const reinsert = (r: VirtualReader) => {
  const c = r.remove();
  if (c) r.insert(c);
};

/** Pulls the stranger's card right before its DEBIT (debit = false), or cuts the power right after it. */
async function abandon(w: World, s: Stranger, debit: boolean): Promise<void> {
  // 2 SELECTs (meter) + SELECT + 4 auth + READ STATE [+ READ PENDING when a slot is taken] + READ
  // PURSE + GET CHALLENGE + TRANSFER AUTH + BEGIN = 12 (13), then DEBIT.
  const taken = (await readPending(await w.meter())).length > 0 ? 1 : 0;
  const r = await session(
    w,
    () => s.reader.connect(),
    // After the DEBIT the card has paid: the meter's power goes before COMPLETE reaches the SVM.
    new CutPlan(12 + taken + (debit ? 1 : 0), debit ? () => w.powerFailure() : () => reinsert(s.reader)),
  );
  expect(r).toBeInstanceOf(Error);
  reinsert(s.reader);
  const p = await readPending(await w.meter());
  expect(p.some((e) => toHex(e.csn) === toHex(s.csn))).toBe(true);
}

describe('transfers beside other cards’ pending transfers', () => {
  it('a stranger pulls after BEGIN: the next card transfers fully; the stranger later recovers its own slot', async () => {
    const w = new World({ cardBalance: CARD_BEFORE, svmBalance: SVM_BEFORE });
    const s = stranger(w, 2);
    await abandon(w, s, false);
    const r = (await session(w, () => w.cardChannel())) as TransferOutcome;
    expect(r).toMatchObject({ recovery: 'none', amount: CARD_BEFORE, meterDataWritten: true });
    expect(r.transferBlocked).toBeUndefined();
    expect(awaitedCardMessage(r)).toBeUndefined();
    const back = (await session(w, () => s.reader.connect())) as TransferOutcome;
    expect(back).toMatchObject({ recovery: 'cancelled', amount: 5_000 });
    expect(await readPending(await w.meter())).toEqual([]);
    expect(w.svmView().balance).toBe(SVM_BEFORE + CARD_BEFORE + 5_000);
  });

  it('two strangers paid and pulled: a third card transfers; each stranger completes its own slot', async () => {
    const w = new World({ cardBalance: CARD_BEFORE, svmBalance: SVM_BEFORE });
    const a = stranger(w, 2, 700);
    const b = stranger(w, 3, 900);
    await abandon(w, a, true);
    await abandon(w, b, true);
    expect((await readPending(await w.meter())).map((e) => [e.slot, e.amount])).toEqual([
      [0, 700],
      [1, 900],
    ]);
    expect([a.balance(), b.balance()]).toEqual([0, 0]);
    // Room: the two reservations count against max.
    expect(await session(w, () => w.cardChannel())).toMatchObject({ amount: CARD_BEFORE });
    expect(await session(w, () => b.reader.connect())).toMatchObject({
      recovery: 'completed',
      recovered: 900,
    });
    expect(await session(w, () => a.reader.connect())).toMatchObject({
      recovery: 'completed',
      recovered: 700,
    });
    expect(w.svmView().balance).toBe(SVM_BEFORE + CARD_BEFORE + 700 + 900);
  });

  it('the amount leaves room for every pending reservation (partial fill)', async () => {
    const w = new World({ cardBalance: CARD_BEFORE, svmBalance: SVM_BEFORE, svmMax: 5_000 });
    const a = stranger(w, 2, 1_500);
    await abandon(w, a, false);
    const r = (await session(w, () => w.cardChannel())) as TransferOutcome;
    expect(r).toMatchObject({ amount: 5_000 - SVM_BEFORE - 1_500, svmBalance: 3_500 });
    // The stranger's transfer can still complete when it comes back: its room was kept.
    expect(await session(w, () => a.reader.connect())).toMatchObject({
      recovery: 'cancelled',
      amount: 1_500,
    });
    expect(w.svmView().balance).toBe(5_000);
  });

  it(`all ${SVM_PENDING_SLOTS} slots held by strangers: a typed 'slots-full' outcome, meter data still written, nothing moved`, async () => {
    const w = new World({ cardBalance: CARD_BEFORE, svmBalance: SVM_BEFORE });
    const ss = Array.from({ length: SVM_PENDING_SLOTS }, (_, i) => stranger(w, 2 + i, 100));
    for (const s of ss) await abandon(w, s, false);
    const r = (await session(w, () => w.cardChannel())) as TransferOutcome;
    expect(r).toMatchObject({
      recovery: 'none',
      amount: 0,
      transferBlocked: 'slots-full',
      cardBalance: CARD_BEFORE,
      svmBalance: SVM_BEFORE,
      meterDataWritten: true,
    });
    expect(r.pendingCsns!.map(toHex)).toEqual(ss.map((s) => toHex(s.csn)));
    expect(awaitedCardMessage(r)).toContain(`${SVM_PENDING_SLOTS} interrupted transfers`);
    // A recovery-only session is not "blocked".
    w.reinsertCard();
    expect(
      ((await session(w, () => w.cardChannel(), undefined, false)) as TransferOutcome).transferBlocked,
    ).toBeUndefined();
    // One stranger comes back and frees its slot: the card transfers.
    expect(await session(w, () => ss[2]!.reader.connect(), undefined, false)).toMatchObject({
      recovery: 'cancelled',
    });
    w.reinsertCard();
    expect(await session(w, () => w.cardChannel())).toMatchObject({ amount: CARD_BEFORE });
  });

  it('the record left the card log: ClearingNeededError carries the entry; other cards transfer; the host settles; the card transfers again', async () => {
    const w = new World({ cardBalance: CARD_BEFORE, svmBalance: SVM_BEFORE });
    const s = stranger(w, 2, 3_000);
    await abandon(w, s, true); // paid, pending
    for (let i = 0; i < 10; i++) {
      await loadCard(await s.reader.connect(), w.issuer, {
        purse: PURSE,
        amount: 1,
        terminalId: VENDING_TERMINAL,
        dateTime: NOW,
      });
      reinsert(s.reader);
    }
    const e = await session(w, () => s.reader.connect());
    expect(e).toBeInstanceOf(ClearingNeededError);
    const entry = (e as ClearingNeededError).pending;
    expect(entry).toMatchObject({ slot: 0, csn: s.csn, amount: 3_000, counter: 1 });
    expect((e as ClearingNeededError).step).toBe('recovery');
    expect(await readPending(await w.meter())).toHaveLength(1); // left for the host
    // Meanwhile the meter serves other cards.
    expect(await session(w, () => w.cardChannel())).toMatchObject({ amount: CARD_BEFORE });
    // The host has the card's debit from the SVM's upload and settles it: complete.
    const m = await w.meter();
    const kh = w.issuer.utility(1).host.find(([v]) => v === 1)![1];
    const ks = host.sessionKey(deriveTerminalKey(cipher, kh, METER_ID), fromHex('0101010101010101'));
    const { r3 } = await m.hostInit(1, fromHex('0101010101010101'), fromHex('0202020202020202'));
    const payload = new SettlePayload(
      SETTLE_COMPLETE,
      entry.slot,
      entry.csn,
      entry.purse,
      entry.counter,
      entry.amount,
      fromHex('0000000000000001'),
    ).encode();
    const a = await hostSettle(m, { payload, s2h: host.s2(ks, 0x54, r3, payload) });
    expect(a).toMatchObject({ statusName: 'settled-complete', balance: SVM_BEFORE + CARD_BEFORE + 3_000 });
    reinsert(s.reader);
    expect(await session(w, () => s.reader.connect())).toMatchObject({ recovery: 'none', amount: 10 });
    expect(w.svmView().balance).toBe(SVM_BEFORE + CARD_BEFORE + 3_000 + 10);
  });

  it('after a host cancel the card finds nothing to recover: its debit is the host’s to credit back, never the SVM’s', async () => {
    const w = new World({ cardBalance: CARD_BEFORE, svmBalance: SVM_BEFORE });
    const s = stranger(w, 2, 3_000);
    await abandon(w, s, true);
    const m = await w.meter();
    const [entry] = await readPending(m);
    const kh = w.issuer.utility(1).host.find(([v]) => v === 1)![1];
    const r1 = fromHex('0303030303030303');
    const ks = host.sessionKey(deriveTerminalKey(cipher, kh, METER_ID), r1);
    const { r3 } = await m.hostInit(1, r1, fromHex('0404040404040404'));
    const payload = new SettlePayload(
      SETTLE_CANCEL,
      entry!.slot,
      entry!.csn,
      entry!.purse,
      entry!.counter,
      entry!.amount,
      fromHex('0000000000000002'),
    ).encode();
    expect(await hostSettle(m, { payload, s2h: host.s2(ks, 0x54, r3, payload) })).toMatchObject({
      statusName: 'settled-cancel',
      balance: SVM_BEFORE,
    });
    // The card still holds the debit record in its log, but there is nothing to complete.
    const r = (await session(w, () => s.reader.connect(), undefined, false)) as TransferOutcome;
    expect(r).toMatchObject({ recovery: 'none', recovered: 0, svmBalance: SVM_BEFORE });
    expect(s.balance()).toBe(0);
  });
});

describe('interruption sweeps with another card’s transfer pending in slot 0', () => {
  async function world(): Promise<{ w: World; s: Stranger }> {
    const w = new World({ cardBalance: CARD_BEFORE, svmBalance: SVM_BEFORE });
    const s = stranger(w, 2, 500);
    await abandon(w, s, true); // slot 0: paid and pending
    return { w, s };
  }

  /** After recovery: our card + SVM conserved, complete or not started; the stranger's slot untouched. */
  async function recoverAndCheck(w: World, s: Stranger): Promise<'complete' | 'not started'> {
    const r = await session(w, () => w.cardChannel(), undefined, false);
    if (r instanceof Error) throw r;
    const p = await readPending(await w.meter());
    expect(p.map((e) => [e.slot, toHex(e.csn), e.amount])).toEqual([[0, toHex(s.csn), 500]]);
    const card = w.cardView().purses.find((x) => x.id === PURSE)!;
    const svm = w.svmView().balance;
    expect(card.balance + svm).toBe(CARD_BEFORE + SVM_BEFORE);
    return svm === SVM_BEFORE ? 'not started' : 'complete';
  }

  it('card pulled or power cut before every APDU, then recovery', async () => {
    const { w } = await world();
    const plan = new CutPlan(-1, () => {});
    expect(await session(w, () => w.cardChannel(), plan)).toMatchObject({ amount: CARD_BEFORE });
    const total = plan.count;
    expect(total).toBeGreaterThanOrEqual(14);
    const seen = new Set<string>();
    for (let i = 0; i <= total; i++) {
      for (const kind of ['pull', 'power'] as const) {
        const { w, s } = await world();
        const cut = kind === 'pull' ? () => w.reinsertCard() : () => w.powerFailure();
        await session(w, () => w.cardChannel(), new CutPlan(i, cut));
        w.powerFailure();
        seen.add(await recoverAndCheck(w, s));
      }
    }
    expect(seen).toEqual(new Set(['complete', 'not started']));
  });

  it('the SVM torn at every low-level write of the session, then recovery', async () => {
    const seen = new Set<string>();
    let k = 1;
    for (let fired = true; fired; k++) {
      const { w, s } = await world();
      const store = w.svm.store;
      const writes = store.writeCount;
      store.armTear(k);
      const r = await session(w, () => w.cardChannel());
      fired = store.writeCount - writes >= k && r instanceof Error;
      store.disarmTear();
      w.powerFailure();
      seen.add(await recoverAndCheck(w, s));
    }
    expect(k).toBeGreaterThan(4);
    expect(seen).toEqual(new Set(['complete', 'not started']));
  });
});
