/**
 * Clearing end to end (issue 13): the host's ClearingService over the power-line protocol
 * (hostProtocolLink → HostProtocol → MeterModem → SAM, SVM, card slot), with real chips. A card
 * pulled mid-transfer leaves a pending transfer at the meter; the host collects it, learns the
 * card's log at a vending point, settles through the SVM's HOST SETTLE, and credits the card back
 * when that is owed — value conserved across card, meter and host ledger in every case.
 */
import { describe, expect, it } from 'vitest';
import { HostKeyRing, SeededRng } from '../../card/crypto/index.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import { MeterModem } from '../../meter/modem/MeterModem.js';
import { HostProtocol } from '../../host/protocol/HostProtocol.js';
import { hostProtocolLink } from '../../host/clearing/hostProtocolLink.js';
import { CreditBackService } from '../../host/clearing/CreditBackService.js';
import { readCardLog } from '../../terminal/clearing/readCardLog.js';
import { cipher, demoIssuer, meterSide, newMeter, purseBalance, subscriber } from '../meter/cardWorld.js';
import { VENDING_TERMINAL } from '../transfer/world.js';
import { CSN, CSN_HEX, TestClock, clearingOf, openHost } from './hostHarness.js';
import { abandonedMeter } from './fixture.js';

const METER = '00C0DE';
const meterId = Uint8Array.of(0x00, 0xc0, 0xde);
const VISIT = Uint8Array.of(0x26, 0x11, 0x24, 0x09, 0x00, 0x00);
const TERM = 10_000;

/** A meter where the card was pulled after BEGIN TRANSFER or right after its DEBIT (proof lost). */
async function abandoned(after: 'begin' | 'debit', seed: string) {
  const { issuer, cm, card } = await abandonedMeter(after, seed, meterId, CSN);
  const ring = HostKeyRing.of(issuer.utility(1).host);
  const modem = new MeterModem(cm);
  const protocol = new HostProtocol(cipher, new SeededRng(`${seed}-host`), () => ring);
  const link = hostProtocolLink(protocol, {
    ref: () => ({ id: meterId, keyVersion: ring.current! }),
    terminal: () => modem,
  });
  const h = openHost();
  const sub = h.svc.addSubscriber({ name: 'line' });
  h.svc.addMeter({ id: METER, subscriberId: sub, as: 0, ls: 2, modem: 1 });
  const clock = new TestClock();
  const c = clearingOf(h.svc, { keys: issuer, link, clock: clock.read, termMs: TERM });
  const vending = new VirtualReader('vending', card.os);
  return { ...h, issuer, cm, card, c, clock, vending };
}

describe('clearing over the power line, real chips', () => {
  it('a proven debit (read back at a vending point) is completed in the SVM once; the card is not refunded', async () => {
    const w = await abandoned('debit', 'e2-complete');
    expect(purseBalance(w.card)).toBe(4300);
    const before = meterSide(w.cm);
    await w.c.collect(METER);
    expect(w.c.repo.pendingIn('open')).toEqual([
      expect.objectContaining({ csn: CSN_HEX, purse: 1, amount: 700, meterId: METER }),
    ]);
    const log = await readCardLog(await w.vending.connect());
    w.c.ingestCardRecords(log.csn, log.records, 'vending:test');
    const [o] = await w.c.settlePending();
    expect(o).toMatchObject({ decision: 'complete', reason: 'debit-proven', answer: 'settled-complete' });
    expect(meterSide(w.cm)).toBe(before + 700);
    expect(await w.c.settlePending()).toEqual([]);
    await w.c.collect(METER);
    expect(w.c.repo.pendingIn('open')).toEqual([]); // the meter no longer reports it
    expect(meterSide(w.cm)).toBe(before + 700);
    expect(purseBalance(w.card)).toBe(4300);
  });

  it('an abandoned transfer whose debit never happened: cancelled at the term, the slot freed, nothing ever paid', async () => {
    const w = await abandoned('begin', 'e2-cancel');
    const before = meterSide(w.cm);
    await w.c.collect(METER);
    expect((await w.c.settlePending())[0]!.state).toBe('open');
    w.clock.now += TERM;
    const [o] = await w.c.settlePending();
    expect(o).toMatchObject({ decision: 'cancel', reason: 'term-expired', answer: 'settled-cancel' });
    expect(meterSide(w.cm)).toBe(before);
    const visit = await new CreditBackService(w.c).visit({
      card: await w.vending.connect(),
      issuer: w.issuer,
      terminalId: VENDING_TERMINAL,
      dateTime: VISIT,
    });
    expect(visit.paid).toEqual([]);
    expect(purseBalance(w.card)).toBe(5000);
    expect(w.c.creditBacks(CSN_HEX)[0]!.state).toBe('awaiting-debit');
  });

  it('a debit cancelled at the term before it surfaced: the card gets its 700 back once, at the vending point', async () => {
    const w = await abandoned('debit', 'e2-creditback');
    const before = meterSide(w.cm);
    await w.c.collect(METER);
    w.clock.now += TERM;
    expect((await w.c.settlePending())[0]).toMatchObject({ decision: 'cancel', answer: 'settled-cancel' });
    expect(meterSide(w.cm)).toBe(before); // the SVM did not keep it
    const b = new CreditBackService(w.c);
    const v = { issuer: w.issuer, terminalId: VENDING_TERMINAL, dateTime: VISIT };
    const first = await b.visit({ ...v, card: await w.vending.connect() });
    expect(first.paid).toEqual([expect.objectContaining({ amount: 700, balance: 5000 })]);
    expect(purseBalance(w.card)).toBe(5000);
    await b.visit({ ...v, card: await w.vending.connect() });
    expect(purseBalance(w.card)).toBe(5000);
    expect(w.svc.db.ledgerReport()).toMatchObject({ balanced: true });
    expect(w.svc.db.ledgerReport().accounts[`card:${CSN_HEX}:1`]).toBe(-700);
  });

  it('blacklist: distributed with its version, the card refused at the slot, the attempt uploaded and stored', async () => {
    const w = await abandoned('begin', 'e2-blacklist');
    w.svc.blacklistCard(CSN_HEX);
    expect(await w.c.distributeBlacklist([METER])).toEqual([
      { meterId: METER, version: 1, status: 'applied' },
    ]);
    expect(await w.c.distributeBlacklist([METER])).toEqual([
      { meterId: METER, version: 1, status: 'current' },
    ]);
    const o = await w.cm.slot.insert(w.card.os);
    w.cm.slot.remove();
    expect(o.accepted).toBe(false);
    const pages = await w.c.collect(METER);
    expect(pages.reduce((n, p) => n + p.attempts, 0)).toBe(1);
    expect(w.c.attempts(METER)).toEqual([expect.objectContaining({ serial: CSN_HEX, purse: 1 })]);
    // a second collect from the stored cursor stores nothing twice
    await w.c.collect(METER);
    expect(w.c.attempts(METER)).toHaveLength(1);
  });

  it("a completed transfer: the SVM's signed log record and the card's records the slot saw are collected, checked, reconciled", async () => {
    const issuer = demoIssuer('e2-plain');
    const cm = await newMeter({ issuer, meterId, svmMax: 1_000_000, seed: 'e2-plain' });
    const card = subscriber(issuer, { csn: CSN, balance: 5000, seed: 'a' });
    cm.slot.maxAmount = 700;
    expect((await cm.slot.insert(card.os)).accepted).toBe(true);
    cm.slot.remove();
    const ring = HostKeyRing.of(issuer.utility(1).host);
    const modem = new MeterModem(cm);
    const protocol = new HostProtocol(cipher, new SeededRng('e2-plain-host'), () => ring);
    const link = hostProtocolLink(protocol, {
      ref: () => ({ id: meterId, keyVersion: ring.current! }),
      terminal: () => modem,
    });
    const h = openHost();
    h.svc.addMeter({ id: METER, subscriberId: 1, as: 0, ls: 2, modem: 1 });
    const c = clearingOf(h.svc, { keys: issuer, link });
    const pages = await c.collect(METER);
    const stored = pages.reduce((n, p) => ({ svm: n.svm + p.svm.stored, card: n.card + p.card.stored }), {
      svm: 0,
      card: 0,
    });
    expect(stored.svm).toBeGreaterThan(0); // MAC'd by the chip (READ LOG), checked under K_svm here
    expect(stored.card).toBeGreaterThan(0);
    const meter = c.reconcileMeter(METER);
    expect(meter.findings).toEqual([]);
    expect(meter.balance).toBe(meterSide(cm) - cm.meter.exchanger.drawn - cm.register.recovered);
    expect(c.reconcileCard(CSN_HEX)).toMatchObject({
      findings: [],
      purses: [{ purse: 1, balance: purseBalance(card) }],
    });
    // collected again from the stored cursor: nothing new
    const again = await c.collect(METER);
    expect(again.every((p) => p.svm.stored === 0 && p.card.stored === 0)).toBe(true);
  });
});
