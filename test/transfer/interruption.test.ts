/**
 * The interruption sweep of issue 4: whatever instant the card is pulled or the power fails —
 * between any two APDUs of the transfer, or at any low-level write inside the card or the SVM —
 * after recovery card purse + SVM balance is exactly what it was, the transfer is complete or not
 * started, and nothing else changed.
 */
import { describe, expect, it } from 'vitest';
import type { CardChannel } from '../../reader/CardChannel.js';
import { CardChannelError } from '../../reader/CardChannel.js';
import { runCardSession, type TransferOutcome } from '../../terminal/CardTransfer.js';
import { MeterModules } from '../../terminal/MeterModules.js';
import { TransferError } from '../../terminal/TransferError.js';
import { loadCard } from '../../terminal/loadCard.js';
import { PURSE_ELECTRICITY } from '../../card/applets/constants.js';
import { MeterData } from '../../card/applets/purse/records.js';
import { concatBytes, fromHex } from '../../card/util/hex.js';
import type { RegionRecordStore } from '../../card/applets/platform/RegionRecordStore.js';
import { METER_ID, NOW, VENDING_TERMINAL, World } from './world.js';
import { CutChannel, CutPlan } from './cutChannel.js';

const CARD_BEFORE = 10_000;
const SVM_BEFORE = 1_000;
const PURSE = PURSE_ELECTRICITY;

function meterData(o: { csn: Uint8Array; counter?: number }): MeterData {
  return new MeterData({
    meterId: METER_ID,
    purse: PURSE,
    dateTime: NOW,
    cumulative: 4242,
    tariffRegisters: [1, 2, 3, 4],
    sinceLastCredit: 9,
    lastTransferKind: 1,
    lastTransferRef: concatBytes(o.csn, Uint8Array.of((o.counter ?? 0) >> 8, (o.counter ?? 0) & 0xff)),
    emergencyLimit: 0,
    emergencyUsed: 0,
    tariffPrices: [10, 0, 0, 0],
    events: 0,
  });
}

/** One card session; a lost card or power shows up as an error, which is what a meter sees. */
async function session(w: World, plan?: CutPlan, transfer = true): Promise<TransferOutcome | Error> {
  try {
    const wrap = (c: CardChannel) => (plan ? new CutChannel(c, plan) : c);
    const m = await MeterModules.open(
      wrap(await w.samReader.connect()),
      wrap(await w.svmReader.connect()),
      w.core(),
    );
    const card = wrap(await w.cardChannel());
    return await runCardSession(m, card, { purse: PURSE, dateTime: NOW, transfer, meterData });
  } catch (e) {
    if (e instanceof CardChannelError || e instanceof TransferError) return e;
    throw e;
  }
}

/** Everything but the moved purse and the SVM register, as data. */
function untouched(w: World): unknown {
  const c = w.cardView();
  return { otherPurses: c.purses.filter((p) => p.id !== PURSE), csn: c.csn };
}

/** Asserts the invariant after recovery: sum kept, transfer complete (amount moved) or not started. */
function checkSettled(w: World, before: unknown): 'complete' | 'not started' {
  const card = w.cardView().purses.find((p) => p.id === PURSE)!;
  const svm = w.svmView();
  expect(svm.pending).toBeNull();
  expect(card.balance + svm.balance).toBe(CARD_BEFORE + SVM_BEFORE);
  expect(untouched(w)).toEqual(before);
  if (svm.balance === SVM_BEFORE) {
    expect(card.balance).toBe(CARD_BEFORE);
    return 'not started';
  }
  expect(svm.balance).toBe(SVM_BEFORE + CARD_BEFORE);
  expect(card.balance).toBe(0);
  expect(card.counter).toBe(1);
  expect(svm.counter).toBe(1);
  return 'complete';
}

/** Runs a recovery-only session on a healthy meter and checks the invariant. */
async function recoverAndCheck(w: World, before: unknown): Promise<'complete' | 'not started'> {
  const r = await session(w, undefined, false);
  if (r instanceof Error) throw r;
  return checkSettled(w, before);
}

type CutKind = 'card pulled' | 'power failure';

function cutter(w: World, kind: CutKind): () => void {
  return kind === 'card pulled' ? () => w.reinsertCard() : () => w.powerFailure();
}

describe('interruption sweep: between any two APDUs', () => {
  const full = async () => {
    const w = new World({ cardBalance: CARD_BEFORE, svmBalance: SVM_BEFORE });
    const plan = new CutPlan(-1, () => {});
    const r = await session(w, plan);
    expect(r).toMatchObject({ amount: CARD_BEFORE });
    return plan.count;
  };

  for (const [kind, protocol] of [
    ['card pulled', 'T=1'],
    ['power failure', 'T=1'],
    ['card pulled', 'T=0'],
  ] as [CutKind, 'T=0' | 'T=1'][]) {
    it(`${kind}, ${protocol} card: every cut point, then recovery`, async () => {
      const total = await full();
      expect(total).toBeGreaterThanOrEqual(13);
      const seen = new Set<string>();
      for (let i = 0; i <= total; i++) {
        const w = new World({ cardBalance: CARD_BEFORE, svmBalance: SVM_BEFORE, protocol });
        const before = untouched(w);
        await session(w, new CutPlan(i, cutter(w, kind)));
        w.powerFailure(); // whatever happened, the next step starts from power-up / re-insertion
        seen.add(await recoverAndCheck(w, before));
      }
      // Early cuts leave nothing done, late cuts leave the transfer done: both outcomes occur.
      expect(seen).toEqual(new Set(['complete', 'not started']));
    });
  }

  it('a second interruption during recovery (every pair of cut points) still settles', async () => {
    const total = 16;
    for (let i = 0; i < total; i++) {
      for (let j = 0; j < total; j++) {
        const w = new World({ cardBalance: CARD_BEFORE, svmBalance: SVM_BEFORE });
        const before = untouched(w);
        await session(w, new CutPlan(i, cutter(w, 'card pulled')));
        w.powerFailure();
        await session(w, new CutPlan(j, cutter(w, j % 2 ? 'card pulled' : 'power failure')));
        w.powerFailure();
        await recoverAndCheck(w, before);
      }
    }
  });
});

function sweepTears(chip: 'card' | 'svm', kind: CutKind) {
  it(`${chip} store torn at every low-level write (${kind}), then recovery`, async () => {
    const seen = new Set<string>();
    let fired = true;
    let k = 1;
    for (; fired; k++) {
      const w = new World({ cardBalance: CARD_BEFORE, svmBalance: SVM_BEFORE });
      const before = untouched(w);
      const store: RegionRecordStore = chip === 'card' ? w.card.store : w.svm.store;
      const writes = store.writeCount;
      store.armTear(k);
      const r = await session(w);
      fired = store.writeCount - writes >= k && r instanceof Error;
      store.disarmTear();
      if (kind === 'power failure') w.powerFailure();
      else w.reinsertCard();
      seen.add(await recoverAndCheck(w, before));
      if (!fired) expect(r).toMatchObject({ amount: CARD_BEFORE });
    }
    expect(k).toBeGreaterThan(5); // the sweep really went through the writes of the transfer
    expect(seen).toEqual(new Set(['complete', 'not started']));
  });
}

describe('interruption sweep: torn writes inside either chip', () => {
  sweepTears('card', 'card pulled');
  sweepTears('card', 'power failure');
  sweepTears('svm', 'power failure');
});

describe('interruption sweep: torn writes during recovery', () => {
  // 12: cut before the card DEBIT (recovery cancels); 13: cut after it (recovery completes).
  for (const [cutAt, expected] of [
    [12, 'not started'],
    [13, 'complete'],
  ] as const) {
    for (const chip of ['svm', 'card'] as const) {
      it(`cut at APDU ${cutAt}, then the ${chip} torn at every write of the recovery`, async () => {
        let fired = true;
        let k = 1;
        for (; fired; k++) {
          const w = new World({ cardBalance: CARD_BEFORE, svmBalance: SVM_BEFORE });
          const before = untouched(w);
          await session(w, new CutPlan(cutAt, () => w.powerFailure()));
          w.powerFailure();
          const store = w[chip].store;
          const writes = store.writeCount;
          store.armTear(k);
          const r = await session(w, undefined, false);
          fired = store.writeCount - writes >= k && r instanceof Error;
          store.disarmTear();
          w.powerFailure();
          expect(await recoverAndCheck(w, before)).toBe(expected);
        }
        expect(k).toBeGreaterThan(2);
      });
    }
  }
});

describe('recovery cases', () => {
  async function pendingAfterBegin(w: World): Promise<void> {
    // Cut right before the card DEBIT: 2 selects (meter) + select + 4 auth + READ STATE + READ PURSE
    // + GET CHALLENGE + TRANSFER AUTH + BEGIN = 12 APDUs.
    await session(w, new CutPlan(12, () => w.reinsertCard()));
    expect(w.svmView().pending).not.toBeNull();
    expect(w.cardView().purses[0]!.counter).toBe(0);
  }

  it('cancels with the signed status when the debit did not happen, then transfers anew', async () => {
    const w = new World({ cardBalance: CARD_BEFORE, svmBalance: SVM_BEFORE });
    await pendingAfterBegin(w);
    w.powerFailure();
    const r = await session(w);
    expect(r).toMatchObject({
      recovery: 'cancelled',
      amount: CARD_BEFORE,
      svmBalance: SVM_BEFORE + CARD_BEFORE,
    });
    expect(w.svmView().log.map((l) => l['type'])).toEqual(['card credit', 'cancelled transfer']);
  });

  it('cancels with the log record when the card used the pending counter elsewhere (a load)', async () => {
    const w = new World({ cardBalance: CARD_BEFORE, svmBalance: SVM_BEFORE });
    await pendingAfterBegin(w);
    w.reinsertCard();
    await loadCard(await w.cardChannel(), w.issuer, {
      purse: PURSE,
      amount: 500,
      terminalId: VENDING_TERMINAL,
      dateTime: NOW,
    });
    w.reinsertCard();
    const r = await session(w, undefined, false);
    expect(r).toMatchObject({
      recovery: 'cancelled',
      amount: 0,
      cardBalance: CARD_BEFORE + 500,
      svmBalance: SVM_BEFORE,
    });
    expect(w.svmView().pending).toBeNull();
  });

  // Issue 13: a stranger's pending transfer holds its own SVM slot and no longer blocks others.
  it('a pending transfer of another card does not block the next card (its own slot is kept)', async () => {
    const w = new World({ cardBalance: CARD_BEFORE, svmBalance: SVM_BEFORE });
    await pendingAfterBegin(w);
    // Another card in the slot.
    const other = new World({ csn: fromHex('4D50000000000002'), cardBalance: 5_000 });
    w.cardReader.remove();
    w.cardReader.insert(other.card.os);
    const r = await session(w);
    expect(r).toMatchObject({ recovery: 'none', amount: 5_000, meterDataWritten: true });
    expect((r as TransferOutcome).transferBlocked).toBeUndefined();
    expect(other.cardView().purses[0]!.balance).toBe(0);
    expect(other.cardView().meterData[0]).not.toBeNull();
    expect(w.svmView().pending).not.toBeNull(); // the first card's slot is untouched
    // The first card comes back: recovery of its own slot, then its transfer.
    w.cardReader.remove();
    w.cardReader.insert(w.card.os);
    const back = await session(w);
    expect(back).toMatchObject({ recovery: 'cancelled', amount: CARD_BEFORE });
    expect(w.svmView().pending).toBeNull();
    expect(w.svmView().balance).toBe(SVM_BEFORE + 5_000 + CARD_BEFORE);
  });

  it('completes from the log even after the card made other transactions since', async () => {
    const w = new World({ cardBalance: CARD_BEFORE, svmBalance: SVM_BEFORE });
    // Power cut right after the DEBIT response: the SVM never saw the proof.
    await session(w, new CutPlan(13, () => w.powerFailure()));
    expect(w.svmView().pending).not.toBeNull();
    for (let i = 0; i < 5; i++) {
      w.reinsertCard();
      await loadCard(await w.cardChannel(), w.issuer, {
        purse: PURSE,
        amount: 10,
        terminalId: VENDING_TERMINAL,
        dateTime: NOW,
      });
    }
    w.reinsertCard();
    const r = await session(w, undefined, false);
    expect(r).toMatchObject({
      recovery: 'completed',
      recovered: CARD_BEFORE,
      svmBalance: SVM_BEFORE + CARD_BEFORE,
      cardBalance: 50,
    });
  });

  it('refuses to guess once the debit record has left the 10-record log (host clearing needed)', async () => {
    const w = new World({ cardBalance: CARD_BEFORE, svmBalance: SVM_BEFORE });
    await session(w, new CutPlan(13, () => w.powerFailure()));
    for (let i = 0; i < 10; i++) {
      w.reinsertCard();
      await loadCard(await w.cardChannel(), w.issuer, {
        purse: PURSE,
        amount: 10,
        terminalId: VENDING_TERMINAL,
        dateTime: NOW,
      });
    }
    w.reinsertCard();
    const r = await session(w, undefined, false);
    expect(r).toBeInstanceOf(TransferError);
    const v = w.svmView();
    expect(v.pending).not.toBeNull(); // kept for the host's clearing, never dropped
    expect(v.balance).toBe(SVM_BEFORE);
  });
});
