import { describe, expect, it } from 'vitest';
import { runCardSession } from '../../terminal/CardTransfer.js';
import { loadCard } from '../../terminal/loadCard.js';
import { PURSE_ELECTRICITY, SW_INSUFFICIENT_BALANCE } from '../../card/applets/constants.js';
import { TransferError } from '../../terminal/TransferError.js';
import { MeterData } from '../../card/applets/purse/records.js';
import { concatBytes } from '../../card/util/hex.js';
import { NOW, METER_ID, VENDING_TERMINAL, World } from './world.js';

function meterData(purse: number, ref: Uint8Array): MeterData {
  return new MeterData({
    meterId: METER_ID,
    purse,
    dateTime: NOW,
    cumulative: 123_456,
    tariffRegisters: [100, 200, 300, 400],
    sinceLastCredit: 77,
    lastTransferKind: 1,
    lastTransferRef: ref,
    emergencyLimit: 500,
    emergencyUsed: 0,
    tariffPrices: [12, 15, 20, 0],
    events: 0x0005,
  });
}

describe('card-to-SVM transfer', () => {
  it('moves the whole purse when it fits, writes meter data, and logs on both sides', async () => {
    const w = new World({ cardBalance: 10_000 });
    const m = await w.meter();
    const card = await w.cardChannel();
    const o = await runCardSession(m, card, {
      purse: PURSE_ELECTRICITY,
      dateTime: NOW,
      meterData: (x) => meterData(PURSE_ELECTRICITY, concatBytes(x.csn, Uint8Array.of(0, x.counter ?? 0))),
    });
    expect(o).toMatchObject({
      recovery: 'none',
      amount: 10_000,
      cardBalance: 0,
      svmBalance: 10_000,
      counter: 1,
    });
    expect(o.meterDataWritten).toBe(true);
    const cv = w.cardView();
    expect(cv.purses[0]).toMatchObject({ balance: 0, counter: 1 });
    expect(cv.purses[1]).toMatchObject({ balance: 10_000, counter: 0 });
    expect(cv.log[0]).toMatchObject({ type: 'debit', amount: 10_000, balanceAfter: 0, counter: 1 });
    expect(cv.meterData[0]).toMatchObject({
      cumulative: 123_456,
      events: { powerFailure: true, tamper: true },
    });
    const sv = w.svmView();
    expect(sv).toMatchObject({ balance: 10_000, counter: 1, pending: null });
    expect(sv.log[0]).toMatchObject({ type: 'card credit', amount: 10_000 });
  });

  it('moves only what fits when the SVM is near its maximum (partial transfer)', async () => {
    const w = new World({ cardBalance: 10_000, svmBalance: 97_000, svmMax: 100_000 });
    const o = await runCardSession(await w.meter(), await w.cardChannel(), {
      purse: PURSE_ELECTRICITY,
      dateTime: NOW,
    });
    expect(o).toMatchObject({ amount: 3_000, cardBalance: 7_000, svmBalance: 100_000 });
    // Full SVM: nothing more moves, nothing fails.
    const o2 = await runCardSession(await w.meter(), await w.cardChannel(), {
      purse: PURSE_ELECTRICITY,
      dateTime: NOW,
    });
    expect(o2).toMatchObject({ amount: 0, cardBalance: 7_000, svmBalance: 100_000 });
  });

  it('respects the per-transaction limit and the asked amount', async () => {
    const w = new World({ cardBalance: 300_000 });
    const o = await runCardSession(await w.meter(), await w.cardChannel(), {
      purse: PURSE_ELECTRICITY,
      dateTime: NOW,
    });
    expect(o.amount).toBe(100_000); // limit 1000.00 and SVM room 100000
    const w2 = new World({ cardBalance: 5_000 });
    const o2 = await runCardSession(await w2.meter(), await w2.cardChannel(), {
      purse: PURSE_ELECTRICITY,
      dateTime: NOW,
      maxAmount: 1_234,
    });
    expect(o2).toMatchObject({ amount: 1_234, cardBalance: 3_766, svmBalance: 1_234 });
  });

  it('works the same over a T=0 card (61xx / GET RESPONSE inside the channel)', async () => {
    const w = new World({ cardBalance: 2_500, protocol: 'T=0' });
    const card = await w.cardChannel();
    expect(card.protocol).toBe('T=0');
    const o = await runCardSession(await w.meter(), card, { purse: PURSE_ELECTRICITY, dateTime: NOW });
    expect(o).toMatchObject({ amount: 2_500, cardBalance: 0, svmBalance: 2_500 });
  });

  it('loads a purse at the vending point and then moves it into the meter', async () => {
    const w = new World({ cardBalance: 0 });
    const r = await loadCard(await w.cardChannel(), w.issuer, {
      purse: PURSE_ELECTRICITY,
      amount: 4_200,
      terminalId: VENDING_TERMINAL,
      dateTime: NOW,
    });
    expect(r).toEqual({ balance: 4_200, counter: 1 });
    w.reinsertCard();
    const o = await runCardSession(await w.meter(), await w.cardChannel(), {
      purse: PURSE_ELECTRICITY,
      dateTime: NOW,
    });
    expect(o).toMatchObject({ amount: 4_200, counter: 2, cardBalance: 0, svmBalance: 4_200 });
    expect(w.cardView().log.map((l) => l['type'])).toEqual(['debit', 'load']);
  });

  it('the SVM grants up to its balance once per SAM authorisation, then refuses with 9401', async () => {
    // The steps the meter core's ModuleCreditRegister runs (test/transfer/credit-register.test.ts).
    const w = new World({ svmBalance: 50 });
    const m = await w.meter();
    const first = await m.authoriseTokens(100, 1);
    expect(await m.takeTokens(100, 1, first)).toEqual({ granted: 50, balance: 0 });
    await expect(m.takeTokens(100, 1, first)).rejects.toBeInstanceOf(TransferError);
    const second = await m.authoriseTokens(100, 2);
    await expect(m.takeTokens(100, 2, second)).rejects.toMatchObject({ sw: SW_INSUFFICIENT_BALANCE });
    expect(w.svmView()).toMatchObject({ balance: 0, counter: 1 });
  });
});
