/**
 * Credit-back at a vending point (issue 13): a card that lost value to a transfer the host
 * cancelled gets it back through the vending LOAD, once per (CSN, purse, counter), and never
 * without the card's debit proof. The card here is the real purse applet in a virtual reader; its
 * log is read back through APDUs (terminal/clearing/readCardLog.ts).
 */
import { describe, expect, it } from 'vitest';
import type { CardChannel } from '../../reader/CardChannel.js';
import { interceptChannel } from '../reader/interceptChannel.js';
import { loadCard } from '../../terminal/loadCard.js';
import { readCardLog } from '../../terminal/clearing/readCardLog.js';
import { CreditBackService } from '../../host/clearing/CreditBackService.js';
import { ClearingService } from '../../host/clearing/ClearingService.js';
import { HostDb } from '../../host/service/HostDb.js';
import { World, VENDING_TERMINAL } from '../transfer/world.js';
import {
  CSN,
  CSN_HEX,
  METER,
  NOW,
  RV,
  SimulatedSvmLink,
  TestClock,
  cardRecord,
  clearingOf,
  issuer,
  openHost,
  upload,
} from './hostHarness.js';

const TERM = 1_000;
const VISIT = Uint8Array.of(0x26, 0x11, 0x23, 0x09, 0x00, 0x00);

/** A host whose clearing cancelled an abandoned 700-unit transfer (card counter 40) of the demo card. */
async function cancelledTransfer(debitSurfaces: boolean) {
  const h = openHost();
  const clock = new TestClock();
  const link = new SimulatedSvmLink();
  link.addPending(0, { csn: CSN_HEX, purse: 1, counter: 40, amount: 700 });
  const c = clearingOf(h.svc, { link, clock: clock.read, termMs: TERM });
  c.ingest(
    METER,
    upload({ pending: [{ csn: CSN, purse: 1, amount: 700, counter: 40, dateTime: NOW, rv: RV, slot: 0 }] }),
  );
  clock.now += TERM;
  await c.settlePending();
  if (debitSurfaces)
    c.ingest(
      METER,
      upload({
        cardRecords: [{ csn: CSN, record: cardRecord({ amount: 700, balanceAfter: 3_000, counter: 40 }) }],
      }),
    );
  // the same keys as the harness issuer (seed 'test'): the real card's proofs check at the host
  const world = new World({ seed: 'test', cardBalance: 10_000 });
  return { ...h, c, link, world, clock };
}

const balance = (w: World) => w.cardView().purses.find((p) => p.id === 1)!.balance;
const ledger = (svc: ReturnType<typeof openHost>['svc']) => svc.db.ledgerReport().accounts;

describe('credit-back at a vending point', () => {
  it("reads the card's log back through SELECT and READ RECORD 1..n, raw, as the card gave it", async () => {
    const w = new World({ seed: 'test' });
    const ch = await w.cardChannel();
    expect((await readCardLog(ch)).records).toEqual([]);
    await loadCard(ch, w.issuer, { purse: 1, amount: 10, terminalId: VENDING_TERMINAL, dateTime: NOW });
    await loadCard(ch, w.issuer, { purse: 2, amount: 20, terminalId: VENDING_TERMINAL, dateTime: NOW });
    const r = await readCardLog(ch);
    expect(r.csn).toEqual(CSN);
    expect(r.records).toHaveLength(2);
    expect(r.records[0]![1]).toBe(2); // newest first: the purse-2 load
    expect(r.records.every((x) => x.length === 38)).toBe(true);
    // and they are genuine: the host checks every proof and stores them
    const { svc } = openHost();
    expect(clearingOf(svc).ingestCardRecords(r.csn, r.records, 'vending:test')).toEqual({
      stored: 2,
      duplicates: 0,
      clones: 0,
    });
  });

  it('pays a proven, cancelled debit once: LOAD onto the card, ledger Dr clearing / Cr card', async () => {
    const { svc, c, world } = await cancelledTransfer(true);
    const svcB = new CreditBackService(c);
    const v = {
      card: await world.cardChannel(),
      issuer: world.issuer,
      terminalId: VENDING_TERMINAL,
      dateTime: VISIT,
    };
    const first = await svcB.visit(v);
    expect(first.paid).toEqual([{ purse: 1, counter: 40, amount: 700, balance: 10_700 }]);
    expect(balance(world)).toBe(10_700);
    expect(c.creditBacks(CSN_HEX)[0]).toMatchObject({ state: 'paid', loadCounter: 1 });
    const second = await svcB.visit({ ...v, card: await world.cardChannel() });
    expect(second.paid).toEqual([]);
    expect(balance(world)).toBe(10_700);
    expect(ledger(svc)).toMatchObject({ 'clearing:credit-backs': 700, [`card:${CSN_HEX}:1`]: -700 });
    expect(svc.db.ledgerReport().balanced).toBe(true);
  });

  it('never pays without the debit: a card presented while the credit-back awaits its debit gets nothing', async () => {
    const { c, world } = await cancelledTransfer(false);
    const r = await new CreditBackService(c).visit({
      card: await world.cardChannel(),
      issuer: world.issuer,
      terminalId: VENDING_TERMINAL,
      dateTime: VISIT,
    });
    expect(r.paid).toEqual([]);
    expect(balance(world)).toBe(10_000);
    expect(c.creditBacks(CSN_HEX)[0]!.state).toBe('awaiting-debit');
  });

  it("a lost LOAD answer (the card took the credit): the next visit finds the card's load record and pays nothing more", async () => {
    const { svc, c, world } = await cancelledTransfer(true);
    const b = new CreditBackService(c);
    // the card applies LOAD, but its answer never reaches the vending point
    const lossy: CardChannel = interceptChannel(await world.cardChannel(), async (cmd, next) => {
      const r = await next(cmd);
      if (cmd.ins === 0x52) throw new Error('card pulled: answer lost');
      return r;
    });
    const v = { issuer: world.issuer, terminalId: VENDING_TERMINAL, dateTime: VISIT };
    const first = await b.visit({ ...v, card: lossy });
    expect(first.failed).toHaveLength(1);
    expect(balance(world)).toBe(10_700);
    expect(c.creditBacks(CSN_HEX)[0]!.state).toBe('loading');
    const second = await b.visit({ ...v, card: await world.cardChannel(), dateTime: NOW });
    expect(second).toMatchObject({ recovered: 1, paid: [] });
    expect(balance(world)).toBe(10_700);
    expect(c.creditBacks(CSN_HEX)[0]!.state).toBe('paid');
    expect(ledger(svc)['clearing:credit-backs']).toBe(700);
  });

  it('a kill -9 after the durable "loading" and before the LOAD: the restarted host loads once', async () => {
    const { svc, file, world, link, clock } = await cancelledTransfer(true);
    const c1 = clearingOf(svc, {
      link,
      clock: clock.read,
      termMs: TERM,
      fault: (s) => {
        if (s === 'loading') throw new Error('killed');
      },
    });
    const v = { issuer: world.issuer, terminalId: VENDING_TERMINAL, dateTime: VISIT };
    await expect(new CreditBackService(c1).visit({ ...v, card: await world.cardChannel() })).rejects.toThrow(
      'killed',
    );
    expect(balance(world)).toBe(10_000);
    svc.close();
    const db = new HostDb(file);
    try {
      const c2 = new ClearingService(db, { keys: issuer, purse: 1, termMs: TERM });
      const r = await new CreditBackService(c2).visit({ ...v, card: await world.cardChannel() });
      expect(r.paid).toEqual([expect.objectContaining({ amount: 700 })]);
      expect(balance(world)).toBe(10_700);
      await new CreditBackService(c2).visit({ ...v, card: await world.cardChannel() });
      expect(balance(world)).toBe(10_700);
    } finally {
      db.close();
    }
  });

  it("a kill -9 after the LOAD and before 'paid' was written: the card's log settles it, nothing twice", async () => {
    const { svc, file, world, link, clock } = await cancelledTransfer(true);
    const c1 = clearingOf(svc, { link, clock: clock.read, termMs: TERM });
    // a crash between the LOAD and the commit of 'paid': simulated by a card that LOADs and a host
    // that dies on the answer (the move to 'paid' never runs)
    const dying = interceptChannel(await world.cardChannel(), async (cmd, next) => {
      const r = await next(cmd);
      if (cmd.ins === 0x52) {
        svc.close();
        throw new Error('killed');
      }
      return r;
    });
    await expect(
      new CreditBackService(c1).visit({
        card: dying,
        issuer: world.issuer,
        terminalId: VENDING_TERMINAL,
        dateTime: VISIT,
      }),
    ).rejects.toThrow();
    const db = new HostDb(file);
    try {
      const c2 = new ClearingService(db, { keys: issuer, purse: 1, termMs: TERM });
      expect(c2.creditBacks(CSN_HEX)[0]!.state).toBe('loading');
      const r = await new CreditBackService(c2).visit({
        card: await world.cardChannel(),
        issuer: world.issuer,
        terminalId: VENDING_TERMINAL,
        dateTime: NOW,
      });
      expect(r).toMatchObject({ recovered: 1, paid: [] });
      expect(balance(world)).toBe(10_700);
      expect(db.ledgerReport().accounts['clearing:credit-backs']).toBe(700);
    } finally {
      db.close();
    }
  });
});
