/**
 * The meter's card-command queue (meter/cardslot/CardCommandQueue.ts, issue 17) against real purse
 * applets: each command stored once per id, bounded (FULL), delivered in id order to its card only,
 * REMOTE LOAD gaps and full purses waiting, then applied; and the attacks — the card pulled (before
 * the APDU reaches it, after it answered, or torn inside its commit) at every APDU of a delivery,
 * the meter's state reloaded, the card re-inserted: the purse is credited exactly once and the
 * receipt the host gets verifies under K_remote. Answers and readings leave the outbox only on the
 * host's ackBelow; a rogue card with the subscriber's CSN cannot make a load vanish.
 */
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../card/util/hex.js';
import { AID_PURSE } from '../../card/applets/constants.js';
import {
  signRemoteLoad,
  verifyRemoteReceipt,
  type RemoteLoadFields,
} from '../../card/applets/purse/offline.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import { CardRemovedError } from '../../reader/errors.js';
import type { CardChannel } from '../../reader/CardChannel.js';
import * as A from '../../terminal/apdus.js';
import {
  CARD_OUTBOX_ANSWERS,
  CARD_OUTBOX_READINGS,
  CardCommandQueue,
  isFinalCardAnswer,
} from '../../meter/cardslot/CardCommandQueue.js';
import type { ChannelRole } from '../../meter/cardslot/ModuleLink.js';
import {
  CARD_COMMAND_CAPACITY,
  CARD_COMMAND_PURSE_QUOTA,
  OFFLINE_READING_LENGTH,
  OUTCOME_CARD,
  OUTCOME_REFUSED,
  OUTCOME_WAITING,
  REFUSED_FULL,
  REFUSED_INS,
  REFUSED_LENGTH,
  type CardCommand,
  type CardCommandsBody,
} from '../../protocol/cardCommands.js';
import { interceptChannel } from '../reader/interceptChannel.js';
import { demoIssuer, newMeter, purseBalance, subscriber } from './cardWorld.js';

const issuer = demoIssuer('test');
const GAS = 2;
const CSN_A = fromHex('4D50000000000001');
const CSN_B = fromHex('4D50000000000002');
const SELLER = fromHex('47415331');
const WHEN = fromHex('261123100000');

const fieldsOf = (csn: Uint8Array, seq: number, amount: number): RemoteLoadFields => ({
  csn,
  purse: GAS,
  seq,
  amount,
  sellerId: SELLER,
  dateTime: WHEN,
});
/** A REMOTE LOAD of the gas purse as utility 2 signs it, relay id `id`. */
const load = (id: number, seq: number, amount: number, csn = CSN_A): CardCommand => ({
  id,
  csn,
  ins: 0x56,
  p2: GAS,
  data: signRemoteLoad(issuer, fieldsOf(csn, seq, amount)),
});
const serve = (q: CardCommandQueue, commands: CardCommand[] = [], ackBelow = 0, forget: number[] = []) =>
  q.serve({ ackBelow, commands, forget });

/** A card of `issuer` in a virtual reader, the purse application selected. */
async function cardChannel(o: { csn?: Uint8Array; balance?: number } = {}) {
  const card = subscriber(issuer, { csn: o.csn ?? CSN_A, balance: o.balance ?? 1_000, seed: 'ccq' });
  const reader = new VirtualReader('slot', card.os);
  const ch = await reader.connect();
  expect((await ch.transmit(A.selectAid(AID_PURSE))).sw).toBe(0x9000);
  return { card, reader, ch };
}

/** A channel that logs the APDUs it carries. */
function logged(ch: CardChannel, log: CommandApdu[]): CardChannel {
  return interceptChannel(ch, (c, next) => {
    log.push(c);
    return next(c);
  });
}

function finalAnswers(b: CardCommandsBody) {
  return b.answers.filter((a) => a.outcome === OUTCOME_CARD);
}

describe('storing commands', () => {
  it('each id once: a repeat while queued, after delivery, or after its answer was acknowledged changes nothing', async () => {
    const q = new CardCommandQueue();
    const c = load(1, 1, 500);
    expect(serve(q, [c, load(2, 2, 100)]).queued).toBe(2);
    expect(serve(q, [c]).queued).toBe(2);
    const { ch, card } = await cardChannel();
    const r = await q.deliver(ch, CSN_A);
    expect(r.answered).toEqual([1, 2]);
    expect(purseBalance(card, GAS)).toBe(1_600);
    // the host, not having heard, sends both again: not queued again
    const page = serve(q, [c, load(2, 2, 100)]);
    expect(page.queued).toBe(0);
    expect(finalAnswers(page).map((a) => a.id)).toEqual([1, 2]);
    serve(q, [], page.next);
    expect(q.outboxSize).toBe(0);
    expect(serve(q, [c]).queued).toBe(0);
    expect((await q.deliver(ch, CSN_A)).answered).toEqual([]);
    expect(purseBalance(card, GAS)).toBe(1_600);
  });

  it(`holds ${CARD_COMMAND_CAPACITY} (${CARD_COMMAND_PURSE_QUOTA} per purse); the next is answered FULL and not stored, and fits once one is delivered`, async () => {
    const q = new CardCommandQueue();
    const purses = [GAS, 3, 4, 5];
    for (let i = 0; i < purses.length; i++)
      serve(
        q,
        Array.from({ length: CARD_COMMAND_PURSE_QUOTA }, (_, k) => ({
          ...load(100 + i * 16 + k, 1 + k, 1),
          p2: purses[i]!,
        })),
      );
    expect(q.size).toBe(CARD_COMMAND_CAPACITY);
    const over = load(999, 17, 1);
    const p = serve(q, [over]);
    expect(p.answers).toEqual([
      { seq: 0, id: 999, outcome: OUTCOME_REFUSED, sw: REFUSED_FULL, data: new Uint8Array(0) },
    ]);
    expect(q.size).toBe(CARD_COMMAND_CAPACITY);
    expect(q.queuedIds()).not.toContain(999);
    const { ch } = await cardChannel();
    // gas's 16 apply (seqs 1..16); the other purses' bytes are gas loads under another P2: 6300
    expect((await q.deliver(ch, CSN_A)).answered).toHaveLength(CARD_COMMAND_CAPACITY);
    expect(serve(q, [over]).queued).toBe(1);
  });

  it(`one purse takes at most ${CARD_COMMAND_PURSE_QUOTA} places: its next is FULL while another purse's is stored`, () => {
    const q = new CardCommandQueue();
    serve(
      q,
      Array.from({ length: CARD_COMMAND_PURSE_QUOTA }, (_, k) => load(1 + k, 1 + k, 1)),
    );
    const p = serve(q, [load(50, 17, 1), { ...load(51, 1, 1), p2: 3 }]);
    expect(p.answers.map((a) => [a.id, a.outcome, a.sw])).toEqual([[50, OUTCOME_REFUSED, REFUSED_FULL]]);
    expect(q.queuedIds()).toContain(51);
    expect(q.size).toBe(CARD_COMMAND_PURSE_QUOTA + 1);
  });

  it('refuses an instruction it does not carry and a data length that is not the instruction’s; stores neither', () => {
    const q = new CardCommandQueue();
    const p = serve(q, [
      { ...load(1, 1, 1), ins: 0x52 }, // LOAD: needs a SAM session, never relayed
      { ...load(2, 1, 1), data: new Uint8Array(25) },
      { id: 3, csn: CSN_A, ins: 0x58, p2: GAS, data: new Uint8Array(26) },
      { id: 4, csn: CSN_A, ins: 0x5a, p2: GAS, data: new Uint8Array(16) },
    ]);
    expect(p.answers.map((a) => [a.id, a.outcome, a.sw])).toEqual([
      [1, OUTCOME_REFUSED, REFUSED_INS],
      [2, OUTCOME_REFUSED, REFUSED_LENGTH],
      [3, OUTCOME_REFUSED, REFUSED_LENGTH],
    ]);
    expect(q.queuedIds()).toEqual([4]);
  });

  it('forget drops a queued command (its card went to another meter) and it is not queued again', async () => {
    const q = new CardCommandQueue();
    serve(q, [load(1, 1, 100), load(2, 2, 100)]);
    expect(serve(q, [], 0, [1, 77]).queued).toBe(1);
    expect(serve(q, [load(1, 1, 100)]).queued).toBe(1);
    expect(q.queuedIds()).toEqual([2]);
  });
});

describe('delivery', () => {
  it('in id order, to its own card only, one APDU each: 80 INS 00 P2 Lc data 00', async () => {
    const q = new CardCommandQueue();
    serve(q, [load(3, 1, 100), load(5, 1, 100, CSN_B), load(8, 2, 200)]);
    const log: CommandApdu[] = [];
    const { ch, card } = await cardChannel();
    const r = await q.deliver(logged(ch, log), CSN_A);
    expect(r.answered).toEqual([3, 8]);
    expect(log.map((c) => toHex(c.encode()).slice(0, 10))).toEqual(['805600021A', '805600021A']);
    expect(log[0]!.data).toEqual(load(3, 1, 100).data);
    expect(log[0]!.ne).toBe(256);
    expect(purseBalance(card, GAS)).toBe(1_300);
    expect(q.queuedIds()).toEqual([5]);
  });

  it('a gap: seq 2 queued before seq 1 waits (9409, reported waiting) and is applied right after seq 1', async () => {
    const q = new CardCommandQueue();
    serve(q, [load(1, 2, 200)]);
    const { ch, card } = await cardChannel();
    const r1 = await q.deliver(ch, CSN_A);
    expect(r1.waiting).toEqual([{ id: 1, sw: 0x9409 }]);
    expect(purseBalance(card, GAS)).toBe(1_000);
    const p = serve(q, [load(2, 1, 100)]);
    expect(p.answers).toEqual([
      { seq: 0, id: 1, outcome: OUTCOME_WAITING, sw: 0x9409, data: new Uint8Array(0) },
    ]);
    const log: CommandApdu[] = [];
    const r2 = await q.deliver(logged(ch, log), CSN_A);
    expect(r2.answered).toEqual([2, 1]); // id 1 (seq 2) once more, after id 2 (seq 1) went through
    expect(log).toHaveLength(3);
    expect(r2.waiting).toEqual([]);
    expect(purseBalance(card, GAS)).toBe(1_300);
    const answers = finalAnswers(serve(q));
    expect(answers.map((a) => [a.id, a.sw, a.data[0]])).toEqual([
      [2, 0x9000, 0x01],
      [1, 0x9000, 0x01],
    ]);
    expect(verifyRemoteReceipt(issuer, fieldsOf(CSN_A, 1, 100), answers[0]!.data.subarray(7))).toBe(true);
    expect(verifyRemoteReceipt(issuer, fieldsOf(CSN_A, 2, 200), answers[1]!.data.subarray(7))).toBe(true);
  });

  it('a full purse waits (9402) and the load applies once the subscriber used gas', async () => {
    const cm = await newMeter({ meter: { commodity: 'gas' }, utility: GAS, seed: 'gas-meter' });
    const card = subscriber(issuer, { csn: CSN_A, balance: 4_999_00, seed: 'full' });
    const q = new CardCommandQueue();
    serve(q, [load(1, 1, 500)]);
    const reader = new VirtualReader('elec', card.os);
    const ch = await reader.connect();
    await ch.transmit(A.selectAid(AID_PURSE));
    expect((await q.deliver(ch, CSN_A)).waiting).toEqual([{ id: 1, sw: 0x9402 }]);
    expect(serve(q).answers.map((a) => [a.outcome, a.sw])).toEqual([[OUTCOME_WAITING, 0x9402]]);
    reader.remove();
    // the gas meter takes from the gas purse (its transfer limit is 1 000,00)
    const o = await cm.slot.insert(card.os);
    cm.slot.remove();
    expect(o.amount).toBeGreaterThan(500);
    const left = purseBalance(card, GAS);
    reader.insert(card.os);
    const ch2 = await reader.connect();
    await ch2.transmit(A.selectAid(AID_PURSE));
    expect((await q.deliver(ch2, CSN_A)).answered).toEqual([1]);
    expect(purseBalance(card, GAS)).toBe(left + 500);
  });

  it('a blocked purse waits (6985); definite refusals end the command', () => {
    expect(isFinalCardAnswer(0x56, 0x6985)).toBe(false);
    expect(isFinalCardAnswer(0x5a, 0x6985)).toBe(true);
    expect(isFinalCardAnswer(0x56, 0x9409)).toBe(false);
    expect(isFinalCardAnswer(0x56, 0x9402)).toBe(false);
    expect(isFinalCardAnswer(0x56, 0x6f00)).toBe(false); // a fault, not an answer: tried again
    for (const sw of [0x9000, 0x6300, 0x6a80, 0x6a86, 0x6a88, 0x6700, 0x9404, 0x6d00])
      expect(isFinalCardAnswer(0x56, sw), sw.toString(16)).toBe(true);
    expect(isFinalCardAnswer(0x58, 0x9407)).toBe(true);
  });

  it('a MAC made for another card is a definite 6300: answered, not applied', async () => {
    const q = new CardCommandQueue();
    serve(q, [{ ...load(1, 1, 100, CSN_B), csn: CSN_A }]);
    const { ch, card } = await cardChannel();
    expect((await q.deliver(ch, CSN_A)).answered).toEqual([1]);
    expect(finalAnswers(serve(q))[0]).toMatchObject({ id: 1, sw: 0x6300 });
    expect(purseBalance(card, GAS)).toBe(1_000);
  });

  it(`stops while ${CARD_OUTBOX_ANSWERS} answers wait for the host; delivers once they are acknowledged`, async () => {
    const q = new CardCommandQueue();
    const { ch, card } = await cardChannel();
    let next = 0;
    for (let i = 0; i < 5; i++) {
      serve(
        q,
        Array.from({ length: 16 }, (_, k) => load(1 + i * 16 + k, 1 + i * 16 + k, 1)),
      );
      await q.deliver(ch, CSN_A);
    }
    expect(q.size).toBe(80 - CARD_OUTBOX_ANSWERS);
    expect(purseBalance(card, GAS)).toBe(1_000 + CARD_OUTBOX_ANSWERS);
    const r = await q.deliver(ch, CSN_A);
    expect(r.answered).toEqual([]);
    expect(r.deferred).toBe(16);
    // the host collects (pages of 24) and acknowledges
    const seen = new Set<number>();
    for (let i = 0; i < 5; i++) {
      const p = serve(q, [], next);
      for (const a of finalAnswers(p)) seen.add(a.id);
      next = p.next;
    }
    expect(seen.size).toBe(CARD_OUTBOX_ANSWERS);
    expect((await q.deliver(ch, CSN_A)).answered).toHaveLength(16);
    expect(purseBalance(card, GAS)).toBe(1_080);
  });
});

describe('the outbox and the host’s ackBelow', () => {
  it('a lost answer message loses nothing: entries come again until acknowledged; a too-high ack drops only what was reported', async () => {
    const q = new CardCommandQueue();
    serve(q, [load(1, 1, 10), load(2, 2, 10)]);
    const { ch } = await cardChannel();
    await q.deliver(ch, CSN_A);
    const lost = serve(q); // never reaches the host
    const again = serve(q, [], 0);
    expect(again.answers).toEqual(lost.answers);
    expect(again.next).toBe(3);
    // an ack far beyond what was ever reported (a host bug) drops only entries below the reported next
    serve(q, [load(3, 3, 10)]);
    await q.deliver(ch, CSN_A);
    expect(q.outboxSize).toBe(3);
    const p = serve(q, [], 1_000);
    expect(q.outboxSize).toBe(1);
    expect(finalAnswers(p).map((a) => a.id)).toEqual([3]);
    expect(p.next).toBe(4);
  });
});

/** A channel standing in for a card that answers READ RECORD SFI 04 from `records` (by record number). */
function readingsCard(records: Map<number, Uint8Array | number>, log: CommandApdu[] = []): CardChannel {
  return {
    readerName: 'stub',
    atr: new Uint8Array(0),
    protocol: 'T=1',
    transmit: async (c) => {
      log.push(c);
      if (c.ins !== 0xb2 || c.p2 !== 0x24) return new ResponseApdu(new Uint8Array(0), 0x6f00);
      const r = records.get(c.p1);
      if (r === undefined) return new ResponseApdu(new Uint8Array(0), 0x6a83);
      if (typeof r === 'number') return new ResponseApdu(new Uint8Array(0), r);
      return new ResponseApdu(r, 0x9000);
    },
    reset: async () => new Uint8Array(0),
    disconnect: async () => {},
  };
}
function reading(purse: number, mac: number): Uint8Array {
  const r = new Uint8Array(OFFLINE_READING_LENGTH);
  r[0] = 0x01;
  r.set([0x0a, 0x0b, 0x0c], 1);
  r[4] = purse;
  r[8] = mac; // reading sequence
  r.fill(mac, 135, 143);
  return r;
}

describe('the outbox sequence at its maximum', () => {
  it('at seq FFFFFFFE one more entry is taken; then nothing (no number used twice, the answer still encodes)', async () => {
    const q = new CardCommandQueue();
    const s = q.saveState();
    q.loadState({ ...s, nextSeq: 0xfffffffe, reported: 0xfffffffe });
    serve(q, [load(1, 1, 10), load(2, 2, 10)]);
    const { ch, card } = await cardChannel();
    const r = await q.deliver(ch, CSN_A, { purses: [1, 2], own: 1 });
    expect(r.answered).toEqual([1]);
    expect(r.deferred).toBe(1);
    expect(purseBalance(card, GAS)).toBe(1_010);
    const p = serve(q);
    expect(finalAnswers(p).map((a) => a.seq)).toEqual([0xfffffffe]);
    expect(p.next).toBe(0xffffffff);
    expect(q.queuedIds()).toEqual([2]);
  });
});

describe('offline readings found on cards', () => {
  it('read for the purses but its own (00 B2 n 24 00, n = FCI position), each reading kept once, empty / foreign / absent ones skipped', async () => {
    const q = new CardCommandQueue();
    const log: CommandApdu[] = [];
    const recs = new Map<number, Uint8Array | number>([
      [1, reading(1, 9)], // the meter's own purse: never read
      [2, reading(2, 7)],
      [3, new Uint8Array(OFFLINE_READING_LENGTH)], // none / cleared
      [4, reading(5, 8)], // names another purse than its position's
      [5, 0x6a82],
    ]);
    const r = await q.deliver(readingsCard(recs, log), CSN_A, { purses: [1, 2, 3, 4, 5, 6], own: 1 });
    expect(log.map((c) => toHex(c.encode()))).toEqual([
      '00B2022400',
      '00B2032400',
      '00B2042400',
      '00B2052400',
      '00B2062400',
    ]);
    expect(r.readings).toBe(1);
    const p = serve(q);
    expect(p.readings).toEqual([{ seq: 1, csn: CSN_A, purse: 2, record: reading(2, 7) }]);
    // the same reading at the next insertion (the utility has not cleared it yet): not again, even once acknowledged
    await q.deliver(readingsCard(recs), CSN_A, { purses: [1, 2, 3, 4, 5, 6], own: 1 });
    expect(serve(q).readings).toHaveLength(1);
    serve(q, [], p.next);
    await q.deliver(readingsCard(recs), CSN_A, { purses: [1, 2, 3, 4, 5, 6], own: 1 });
    expect(serve(q).readings).toHaveLength(0);
    // a newer reading (another MAC) is collected
    recs.set(2, reading(2, 10));
    await q.deliver(readingsCard(recs), CSN_A, { purses: [1, 2, 3, 4, 5, 6], own: 1 });
    expect(serve(q).readings.map((x) => x.record[8])).toEqual([10]);
  });

  it(`holds ${CARD_OUTBOX_READINGS} readings; beyond, they stay on the card; pages carry 8`, async () => {
    const q = new CardCommandQueue();
    for (let i = 0; i < 40; i++) {
      const csn = fromHex(`4D5000000000${(0x100 + i).toString(16).padStart(4, '0')}`);
      await q.deliver(readingsCard(new Map([[2, reading(2, i + 1)]])), csn, { purses: [1, 2], own: 1 });
    }
    expect(q.outboxSize).toBe(CARD_OUTBOX_READINGS);
    const p = serve(q);
    expect(p.readings).toHaveLength(8);
    expect(p.more).toBe(true);
    expect(p.next).toBe(9);
  });
});

/**
 * Cuts the card's exchange at the card's `at`-th APDU of an insertion: 'before' it reaches the card
 * (pulled), 'after' the card answered (the answer lost), 'tear' inside the card's commit (the
 * k-th store write of that APDU).
 */
class Cut {
  count = 0;
  armed = false;
  constructor(
    readonly at: number,
    readonly mode: 'before' | 'after' | 'tear',
    readonly pull: () => void,
    readonly arm: () => void = () => {},
  ) {}
  wrap = (inner: CardChannel, role: ChannelRole): CardChannel =>
    interceptChannel(inner, async (c, next) => {
      if (!this.armed || role !== 'card') return next(c);
      const k = this.count++;
      if (k !== this.at) return next(c);
      this.armed = false;
      if (this.mode === 'before') {
        this.pull();
        return next(c);
      }
      if (this.mode === 'tear') {
        this.arm();
        return next(c);
      }
      await next(c);
      this.pull();
      throw new CardRemovedError('card pulled before its answer came back', inner.readerName);
    });
}

describe('the card pulled at every APDU of a delivery, the meter’s state reloaded, the card back', () => {
  async function run(at: number, mode: 'before' | 'after' | 'tear', tearAt = 1) {
    let pull = () => {};
    let arm = () => {};
    const cut = new Cut(
      at,
      mode,
      () => pull(),
      () => arm(),
    );
    const cm = await newMeter({ wrap: cut.wrap, svmBalance: 1_000, seed: 'cut' });
    const card = subscriber(cm.issuer, { csn: CSN_A, balance: 1_000, seed: 'cut' });
    pull = () => void cm.slot.remove();
    arm = () => card.store.armTear(tearAt);
    const fields = [fieldsOf(CSN_A, 1, 300), fieldsOf(CSN_A, 2, 50)];
    cm.slot.commands.serve({
      ackBelow: 0,
      commands: fields.map((f, i) => ({
        id: 10 + i,
        csn: CSN_A,
        ins: 0x56,
        p2: GAS,
        data: signRemoteLoad(issuer, f),
      })),
      forget: [],
    });
    cut.armed = true;
    const first = await cm.slot.insert(card.os);
    cut.armed = false;
    cm.slot.remove();
    if (!card.os.powered) card.store.disarmTear();
    // power loss at the meter: what it kept is its saved state
    cm.slot.loadState(
      JSON.parse(JSON.stringify(cm.slot.saveState())) as Parameters<typeof cm.slot.loadState>[0],
    );
    const second = await cm.slot.insert(card.os);
    cm.slot.remove();
    return { cm, card, first, second, fields, cutHappened: cut.count > at };
  }

  for (const mode of ['before', 'after'] as const)
    it(`card pulled ${mode === 'before' ? 'before the APDU reaches it' : 'after it answered'}: credited exactly once, receipts verify`, async () => {
      let sawCut = 0;
      // the card's APDUs of an insertion: SELECT, the two loads, the readings, then the electricity session
      for (let at = 0; at < 16; at++) {
        const { cm, card, first, second, fields, cutHappened } = await run(at, mode);
        if (cutHappened) sawCut++;
        expect(purseBalance(card, GAS), `cut at ${at}`).toBe(1_350);
        expect(second.refusal, `cut at ${at}`).toBeUndefined();
        const page = cm.slot.commands.serve({ ackBelow: 0, commands: [], forget: [] });
        expect(page.queued).toBe(0);
        const answers = finalAnswers(page);
        expect(answers.map((a) => [a.id, a.sw])).toEqual([
          [10, 0x9000],
          [11, 0x9000],
        ]);
        answers.forEach((a, i) => {
          expect([0x01, 0x02]).toContain(a.data[0]);
          expect(verifyRemoteReceipt(issuer, fields[i]!, a.data.subarray(7, 15))).toBe(true);
        });
        if (at === 1 && mode === 'after') expect(answers[0]!.data[0]).toBe(0x02); // applied, answer lost: "already applied"
        if (at <= 2) expect(first.refusal).toBe('card-removed');
      }
      expect(sawCut).toBe(16);
    });

  it('torn inside the REMOTE LOAD commit at every store write: before or after, credited once, receipt verifies', async () => {
    // writes of one REMOTE LOAD commit, measured on a card of its own
    const { ch, card } = await cardChannel();
    const w0 = card.store.writeCount;
    const q = new CardCommandQueue();
    serve(q, [load(1, 1, 300)]);
    await q.deliver(ch, CSN_A);
    const writes = card.store.writeCount - w0;
    expect(writes).toBeGreaterThan(1);
    const outcomes = new Set<number>();
    for (let k = 1; k <= writes; k++) {
      const { card: c, cm, second, fields } = await run(1, 'tear', k);
      expect(second.refusal, `tear at write ${k}`).toBeUndefined();
      expect(purseBalance(c, GAS), `tear at write ${k}`).toBe(1_350);
      const answers = finalAnswers(cm.slot.commands.serve({ ackBelow: 0, commands: [], forget: [] }));
      expect(answers.map((a) => a.id)).toEqual([10, 11]);
      expect(verifyRemoteReceipt(issuer, fields[0]!, answers[0]!.data.subarray(7, 15))).toBe(true);
      outcomes.add(answers[0]!.data[0]!);
    }
    expect(outcomes).toEqual(new Set([0x01, 0x02])); // torn before the commit took, and after
  });
});

describe('at the meter’s slot', () => {
  it('a gas load is delivered to a card the electricity side refuses (blacklisted), not to a card whose FCI is malformed', async () => {
    let breakFci = false;
    const wrap = (inner: CardChannel, role: ChannelRole): CardChannel =>
      interceptChannel(inner, async (c, next) => {
        const r = await next(c);
        if (!breakFci || role !== 'card' || c.ins !== 0xa4) return r;
        const fci = r.data.slice();
        const at = fci.findIndex((b, i) => b === 0x5a && fci[i + 1] === 0x08);
        fci[at] = 0x5b; // the CSN's tag: no CSN any more
        return new ResponseApdu(fci, r.sw);
      });
    const cm = await newMeter({ wrap, seed: 'slot' });
    const card = subscriber(cm.issuer, { csn: CSN_A, balance: 1_000, seed: 'slot' });
    cm.slot.commands.serve({ ackBelow: 0, commands: [load(1, 1, 100), load(2, 2, 100)], forget: [] });
    breakFci = true;
    const o1 = await cm.slot.insert(card.os);
    cm.slot.remove();
    expect(o1.refusal).toBe('malformed-card-data');
    expect(purseBalance(card, GAS)).toBe(1_000);
    expect(cm.slot.commands.queuedIds()).toEqual([1, 2]);
    breakFci = false;
    cm.slot.block(CSN_A);
    const o2 = await cm.slot.insert(card.os);
    cm.slot.remove();
    expect(o2.refusal).toBe('blacklisted');
    expect(o2.amount).toBe(0);
    expect(purseBalance(card, GAS)).toBe(1_200);
    expect(cm.slot.commands.queuedIds()).toEqual([]);
  });
});

describe('a rogue card with the subscriber’s CSN', () => {
  it('takes the command and answers junk: the receipt does not verify, the utility sends the same load again, the real card is credited once', async () => {
    const q = new CardCommandQueue();
    const c = load(1, 1, 300);
    serve(q, [c]);
    const rogue: CardChannel = {
      ...readingsCard(new Map()),
      transmit: async () => new ResponseApdu(new Uint8Array(15).fill(0x01), 0x9000),
    };
    await q.deliver(rogue, CSN_A);
    const a = finalAnswers(serve(q))[0]!;
    expect(verifyRemoteReceipt(issuer, fieldsOf(CSN_A, 1, 300), a.data.subarray(7))).toBe(false);
    // the same signed bytes under a new relay id
    serve(q, [{ ...c, id: 2 }]);
    const { ch, card } = await cardChannel();
    await q.deliver(ch, CSN_A);
    const b = finalAnswers(serve(q)).find((x) => x.id === 2)!;
    expect(verifyRemoteReceipt(issuer, fieldsOf(CSN_A, 1, 300), b.data.subarray(7))).toBe(true);
    // and once more does nothing (already applied, the same receipt)
    serve(q, [{ ...c, id: 3 }]);
    await q.deliver(ch, CSN_A);
    const d = finalAnswers(serve(q)).find((x) => x.id === 3)!;
    expect(d.data[0]).toBe(0x02);
    expect(d.data.subarray(7)).toEqual(b.data.subarray(7));
    expect(purseBalance(card, GAS)).toBe(1_300);
  });
});

describe('saved state', () => {
  it('round trips; a bad state is refused whole and nothing is set', async () => {
    const q = new CardCommandQueue();
    serve(q, [load(1, 3, 10), load(2, 1, 10), load(3, 1, 10, CSN_B)]);
    const { ch } = await cardChannel();
    await q.deliver(readingsCard(new Map([[2, reading(2, 3)]])), CSN_B, { purses: [1, 2], own: 1 });
    await q.deliver(ch, CSN_A);
    const s = JSON.parse(JSON.stringify(q.saveState())) as ReturnType<CardCommandQueue['saveState']>;
    const q2 = new CardCommandQueue();
    q2.loadState(s);
    expect(q2.saveState()).toEqual(s);
    expect(serve(q2)).toEqual(serve(q));
    const bad: Array<[unknown, RegExp]> = [
      [null, /object/],
      [{ ...s, nextSeq: 0 }, /nextSeq/],
      [{ ...s, reported: s.nextSeq + 1 }, /reported/],
      [{ ...s, queue: [s.queue[0], s.queue[0]] }, /queue\[1\]\.id/],
      [{ ...s, queue: [{ ...s.queue[0]!, ins: 0x52 }] }, /ins/],
      [{ ...s, queue: [{ ...s.queue[0]!, data: '00' }] }, /data/],
      [{ ...s, queue: [{ ...s.queue[0]!, csn: 'zz' }] }, /csn/],
      [{ ...s, queue: Array.from({ length: 65 }, (_, i) => ({ ...s.queue[0]!, id: i + 1 })) }, /queue/],
      [{ ...s, outbox: [s.outbox[1], s.outbox[0]] }, /seq/],
      [{ ...s, outbox: [{ ...s.outbox[0]!, seq: s.nextSeq }] }, /seq/],
      [{ ...s, outbox: [{ ...s.outbox[0]!, kind: 'other' }] }, /kind/],
      [
        {
          ...s,
          queue: [{ ...s.queue[0]!, id: 1 }],
          outbox: [{ seq: 1, kind: 'answer', id: 1, sw: 0x9000, data: '' }],
        },
        /twice/,
      ],
      [{ ...s, seen: ['nothex'] }, /seen/],
      [{ ...s, finished: [0] }, /finished/],
    ];
    const before = JSON.stringify(q2.saveState());
    for (const [b, why] of bad) {
      expect(() => q2.loadState(b), JSON.stringify(b)?.slice(0, 80)).toThrow(why);
      expect(JSON.stringify(q2.saveState())).toBe(before);
    }
  });

  it('the slot keeps the queue in its saveState; a state saved before issue 17 loads with none', async () => {
    const cm = await newMeter({ seed: 'state' });
    cm.slot.commands.serve({ ackBelow: 0, commands: [load(4, 1, 10)], forget: [] });
    const saved = JSON.parse(JSON.stringify(cm.slot.saveState())) as Parameters<typeof cm.slot.loadState>[0];
    const cm2 = await newMeter({ seed: 'state' });
    cm2.slot.loadState(saved);
    expect(cm2.slot.commands.queuedIds()).toEqual([4]);
    const { commands: _, ...old } = saved as Record<string, unknown>;
    void _;
    cm2.slot.loadState(old as Parameters<typeof cm.slot.loadState>[0]);
    expect(cm2.slot.commands.size).toBe(0);
    cm2.slot.loadState(saved);
    expect(() =>
      cm2.slot.loadState({
        ...saved,
        commands: { ...(saved as { commands: object }).commands, nextSeq: -1 },
      }),
    ).toThrow(/nextSeq/);
    expect(cm2.slot.commands.queuedIds()).toEqual([4]);
  });
});
