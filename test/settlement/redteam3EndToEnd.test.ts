/**
 * Red team 3, end to end (card → terminal → upload → management centre).
 *
 * 1. Billing a card for a service it never had: a certified terminal gets SU(R‖X‖V) through SIGN
 *    VALUE, never sends UPDATE VALUE, and uploads its own usage record V → 0. The card never took
 *    the update, so it never signed a service record for that session: the centre must refuse the
 *    record ('unconfirmed-by-card'), store nothing, and the card's next honest record must clear
 *    without the card being taken for a clone.
 * 2. Records dated in the future: a certified terminal with its clock far ahead writes a "last
 *    signed time" the card cannot check; honest terminals then refuse the card (9419). The centre
 *    refuses such an upload ('future-dated'), recorded against the terminal.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../card/crypto/index.js';
import { toHex } from '../../card/util/hex.js';
import { UsageUpload, terminalValueInput } from '../../card/pki/index.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import * as A from '../../terminal/settlement/apdus.js';
import { SettlementError } from '../../terminal/settlement/SettlementError.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import type { CardChannel } from '../../reader/index.js';
import { INS_SETTLE_READ_OBJECT, SETTLE_OBJ_SERVICE_RECORD } from '../../card/applets/settle/constants.js';
import { FUTURE_TOLERANCE_MS } from '../../host/settlement/ManagementCentre.js';
import { CentreError } from '../../host/settlement/CentreError.js';
import { ascii, centreTerminal, centreWithCard, DAY, T0 } from './fixtureCentre.js';

async function world(tag: string) {
  const clock = new ManualClock(T0);
  const idu = ascii(`CARD-${tag}`);
  const { centre, validity, card } = await centreWithCard({ tag, clock, centreId: ascii('MC-RT3'), idu });
  const terminal = (name: string, fill: number, tClock = clock) => {
    const idt = ascii(name);
    const {
      terminal: t,
      signer,
      cert,
    } = centreTerminal(centre, validity, {
      idt,
      chain: { key: new Uint8Array(16).fill(fill), ts0: new Uint8Array(16).fill(fill + 1) },
      clock: tClock,
      rngSeed: `${tag}:${name}`,
    });
    return { t, idt, signer, cert };
  };
  const channel = () => new VirtualReader('c', card.os).connect();
  return { clock, centre, idu, card, terminal, channel };
}

describe('red team 3: a terminal bills a card for a service the card never took', () => {
  it('SIGN VALUE without UPDATE VALUE, V → 0 uploaded: refused, nothing stored, the honest card stays clean', async () => {
    const w = await world('RT3A');
    const honest = w.terminal('TERM-HON', 0x11);
    const rogue = w.terminal('TERM-ROG', 0x33);
    w.clock.advance(60_000);
    const first = await honest.t.serve(await w.channel(), 100);
    expect(first.valueAfter).toBe(900);

    // the rogue terminal: SELECT, PRESENT TERMINAL, SIGN VALUE — and stops there
    w.clock.advance(60_000);
    const ch = await w.channel();
    expect((await ch.transmit(A.selectSettle())).sw).toBe(0x9000);
    expect((await ch.transmit(A.presentTerminal(w.clock.now(), rogue.cert.encode()))).sw).toBe(0x9000);
    const r = new Uint8Array(16).fill(0x5a);
    const signed = await ch.transmit(A.signValue(r));
    expect(signed.sw).toBe(0x9000);
    const x = signed.data.slice(0, 16);
    const v = new DataView(signed.data.buffer, signed.data.byteOffset + 16, 4).getUint32(0);
    const su = signed.data.slice(20);
    expect(v).toBe(900);
    const binding = { cardId: w.idu, terminalId: rogue.idt, terminalNonce: r, cardNonce: x };
    const dateTime = w.clock.now();
    const s = rogue.signer.sign(terminalValueInput({ ...binding, value: 0, dateTime }));
    const info = first.usageInfo;
    const forged = UsageUpload.sign(
      {
        centreId: w.centre.centreId,
        terminalId: rogue.idt,
        uploadSequence: 1,
        updateCounter: 0,
        periodStart: T0,
        periodEnd: dateTime,
        records: [
          {
            cardId: w.idu,
            valueBefore: 900,
            valueAfter: 0,
            charge: 900,
            terminalNonce: r,
            cardNonce: x,
            cardSignature: su,
            terminalSignature: s,
            dateTime,
            previous: {
              terminalId: info.terminalId,
              terminalNonce: info.terminalNonce,
              cardNonce: info.cardNonce,
              value: info.value,
            },
          },
        ],
      },
      rogue.signer,
    );
    const before = w.centre.clearedRecords();
    // bare upload, and with a genuine service record of another session of the same card
    for (const submission of [
      forged.encode(),
      { upload: forged.encode(), serviceRecords: [] },
      { upload: forged.encode(), serviceRecords: [first.serviceRecord.encode()] },
    ]) {
      let err: unknown;
      try {
        w.centre.ingestUpload(submission);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CentreError);
      expect((err as CentreError).reason).toBe('unconfirmed-by-card');
      expect(w.centre.events().at(-1)).toMatchObject({ reason: 'unconfirmed-by-card' });
    }
    expect(w.centre.clearedRecords()).toBe(before);

    // the honest terminal's records of the card clear; the next honest service is no clone
    w.clock.advance(60_000);
    const second = await honest.t.serve(await w.channel(), 50);
    expect([second.valueBefore, second.valueAfter]).toEqual([900, 850]);
    const report = w.centre.ingestUpload(honest.t.upload());
    expect(report).toMatchObject({ stored: 2, findings: [] });
    expect(w.centre.card(w.idu)).toMatchObject({ state: 'active' });
    expect(w.centre.invalidCardList().entries).toHaveLength(0);
  });

  it('a recovered session (UPDATE answer lost) uploads with the service record read back from the card', async () => {
    const w = await world('RT3R');
    const term = w.terminal('TERM-REC', 0x44);
    w.clock.advance(60_000);
    const ch = await w.channel();
    // the answer to UPDATE VALUE is lost: the card committed, the terminal heard nothing
    const lossy = {
      transmit: async (c: Parameters<typeof ch.transmit>[0]) => {
        const a = await ch.transmit(c);
        if (c.ins === 0x36) throw new Error('line cut');
        return a;
      },
    } as unknown as typeof ch;
    await expect(term.t.serve(lossy, 200)).rejects.toThrow('line cut');
    expect(await term.t.recover(await w.channel())).toBe(true);
    const batch = term.t.upload();
    expect(batch.serviceRecords).toHaveLength(1);
    expect(w.centre.ingestUpload(batch)).toMatchObject({ stored: 1, findings: [] });
  });
});

/** Hands every command to the card and lets `edit` change the answer of the ones it picks. */
function tampering(inner: CardChannel, edit: (c: CommandApdu, r: ResponseApdu) => ResponseApdu): CardChannel {
  return {
    get readerName() {
      return inner.readerName;
    },
    get atr() {
      return inner.atr;
    },
    get protocol() {
      return inner.protocol;
    },
    transmit: async (c: CommandApdu) => edit(c, await inner.transmit(c)),
    reset: () => inner.reset(),
    disconnect: () => inner.disconnect(),
  } as CardChannel;
}

describe('red team 3: the terminal takes only the card’s record of this very session', () => {
  it('the card’s earlier (genuine) service record put in place of the UPDATE answer: refused, then recovered from object 06 and cleared', async () => {
    const w = await world('RT3S');
    const term = w.terminal('TERM-SUB', 0x66);
    w.clock.advance(60_000);
    const first = await term.t.serve(await w.channel(), 100);
    w.clock.advance(60_000);
    const old = first.serviceRecord.encode();
    const swap = tampering(await w.channel(), (c, r) => (c.ins === 0x36 ? new ResponseApdu(old, r.sw) : r));
    const e = await term.t.serve(swap, 50).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SettlementError);
    expect((e as SettlementError).reason).toBe('bad-service-record');
    expect(term.t.pendingRecords).toHaveLength(1);
    expect(await term.t.recover(await w.channel())).toBe(true);
    const batch = term.t.upload();
    expect(batch.serviceRecords.map((s) => [s.cardSequence, s.charge, s.valueAfter])).toEqual([
      [1, 100, 900],
      [2, 50, 850],
    ]);
    expect(w.centre.ingestUpload(batch)).toMatchObject({ stored: 2, findings: [] });
  });

  it('recovery whose object 06 does not verify keeps the usage record out of the upload (listed abandoned)', async () => {
    const w = await world('RT3B');
    const term = w.terminal('TERM-BAD', 0x77);
    w.clock.advance(60_000);
    // the card commits; its answer to UPDATE VALUE is lost on the way
    const lossy = tampering(await w.channel(), (c, r) => {
      if (c.ins === 0x36) throw new Error('line cut');
      return r;
    });
    await expect(term.t.serve(lossy, 200)).rejects.toThrow('line cut');
    const damaged = tampering(await w.channel(), (c, r) => {
      if (c.ins !== INS_SETTLE_READ_OBJECT || c.p1 !== SETTLE_OBJ_SERVICE_RECORD) return r;
      const d = r.data.slice();
      d[d.length - 1]! ^= 1;
      return new ResponseApdu(d, r.sw);
    });
    const e = await term.t.recover(damaged).catch((x: unknown) => x);
    expect((e as SettlementError).reason).toBe('bad-service-record');
    expect(term.t.abandoned).toHaveLength(1);
    const batch = term.t.upload();
    expect([batch.upload.records.length, batch.serviceRecords.length]).toEqual([0, 0]);
    expect(w.centre.ingestUpload(batch).stored).toBe(0);
  });
});

describe('red team 3: records dated in the future', () => {
  it('a terminal with its clock 30 days ahead: the card is stuck for honest terminals; the centre refuses and names the terminal', async () => {
    const w = await world('RT3F');
    const honest = w.terminal('TERM-HON', 0x11);
    const ahead = new ManualClock(T0 + 30 * DAY);
    const rogue = w.terminal('TERM-FUT', 0x55, ahead);
    w.clock.advance(60_000);
    const out = await rogue.t.serve(await w.channel(), 10);
    expect(out.serviceRecord.dateTime).toBe(T0 + 30 * DAY);
    // the harm: an honest terminal now gets 9419 from the card (its time is before the card's)
    w.clock.advance(60_000);
    const refusal = await honest.t.serve(await w.channel(), 10).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(SettlementError);
    expect((refusal as SettlementError).sw).toBe(0x9419);

    const before = w.centre.clearedRecords();
    let err: unknown;
    try {
      w.centre.ingestUpload(rogue.t.upload());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CentreError);
    expect((err as CentreError).reason).toBe('future-dated');
    expect(w.centre.events().at(-1)).toMatchObject({ reason: 'future-dated', subject: toHex(rogue.idt) });
    expect(w.centre.clearedRecords()).toBe(before);
    expect(FUTURE_TOLERANCE_MS).toBeGreaterThan(0);
  });
});
