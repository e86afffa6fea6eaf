/**
 * Red team on the seed 004 settlement card and terminal (issue 13): the holes B's report named,
 * each written as the attack first — a minting race at recharge, a card proving V by an older,
 * larger record, a service record lost to a power cut after UPDATE VALUE commits, a brand-new
 * card loaded by a dispenser outside its certificate's term — and every field at its maximum and
 * one past it.
 */
import { describe, expect, it } from 'vitest';
import type { CardChannel } from '../../reader/CardChannel.js';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import { CardPowerLostError } from '../../card/os/CardOs.js';
import { SignedValue, stateReference, stateReferenceOf } from '../../card/pki/index.js';
import {
  INS_SETTLE_UPDATE_VALUE,
  SETTLE_OBJ_STATUS,
  SW_SETTLE_EXHAUSTED,
  SW_SETTLE_EXPIRED,
  SW_SETTLE_NOT_THIS_CARD,
  SW_SETTLE_REPLAY,
  SW_SETTLE_STALE_VALUE,
  SW_SETTLE_TIME_BACKWARDS,
} from '../../card/applets/settle/constants.js';
import { KEY_STATE, SettleState } from '../../card/applets/settle/SettlementApplet.js';
import type { SettlementCard } from '../../card/applets/settle/makeSettlementCard.js';
import { SW_WRONG_DATA } from '../../card/iso7816/sw.js';
import {
  readSettlementCardState,
  rechargeSettlementCard,
  rechargedValue,
} from '../../terminal/settlement/SettlementTerminal.js';
import { SettlementError } from '../../terminal/settlement/SettlementError.js';
import {
  A,
  Centre,
  DAY,
  T0,
  YEAR,
  ascii,
  issueCard,
  makeTerminal,
  newClock,
  provider,
  stateRefOf,
  tx,
  type IssuedCard,
} from './fixtureSettle.js';

const ALG = 'ecdsa-p256-sha256' as const;
const centre = new Centre(ascii('CENTRE-RT'), ALG);

function state(card: SettlementCard): SettleState {
  tx(card, A.selectSettle());
  return SettleState.decode(tx(card, A.readObject(SETTLE_OBJ_STATUS)).data);
}

/** What an attacker who can write the card's memory does: one field of st.state rewritten. */
function poke(card: SettlementCard, f: Partial<Pick<SettleState, 'value' | 'services' | 'flags'>>): void {
  const st = SettleState.decode(card.store.view(KEY_STATE)!);
  card.store.commit([[KEY_STATE, st.with(f).encode()]]);
}

async function refusal(p: Promise<unknown>): Promise<SettlementError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(SettlementError);
  return e as SettlementError;
}

/** A recharge of `amount` on the state the dispenser read: the centre's value bound to it. */
function rechargeFor(
  c: IssuedCard,
  read: { value: number; reference: Uint8Array },
  amount: number,
  sequence: number,
): SignedValue {
  return centre.value(c.idu, rechargedValue(read, amount), sequence, T0 + YEAR, read.reference);
}

describe('hole 1: the minting race at recharge', () => {
  it('a value computed before a service is refused after it (941B), V keeps the spending', async () => {
    const clock = newClock();
    const t = makeTerminal(centre, 'TERM-RACE', clock, ALG);
    const c = await issueCard(centre, 'CARD-RACE', ALG, 1000);
    // The dispenser reads the card and asks the centre for +500 …
    const read = await readSettlementCardState(await c.channel());
    expect([read.value, read.sequence, read.services]).toEqual([1000, 1, 0]);
    const sv = rechargeFor(c, read, 500, 2);
    // … meanwhile the card is used.
    await t.terminal.serve(await c.channel(), 300);
    const e = await refusal(rechargeSettlementCard(await c.channel(), sv));
    expect(e.sw).toBe(SW_SETTLE_STALE_VALUE);
    expect([state(c.card).value, state(c.card).sequence]).toEqual([700, 1]);
    // Even signed again under a fresher sequence, the stale reference does not apply.
    const again = centre.value(c.idu, 1500, 3, T0 + YEAR, read.reference);
    expect(tx(c.card, A.recharge(again.encode())).sw).toBe(SW_SETTLE_STALE_VALUE);
    // Computed from the present state, it is taken: 700 + 500, not 1000 + 500.
    const fresh = await readSettlementCardState(await c.channel());
    const good = rechargeFor(c, fresh, 500, 4);
    expect(await rechargeSettlementCard(await c.channel(), good)).toEqual({ value: 1200, sequence: 4 });
  });

  it('a bound value applies once, on its card only; an unbound one only as a first value', async () => {
    const c = await issueCard(centre, 'CARD-ONCE', ALG, 1000);
    const d = await issueCard(centre, 'CARD-OTHR', ALG, 1000);
    // Both cards are in the same state (services 0, sequence 1, V 1000): the same reference bytes.
    expect(stateRefOf(d.card)).toEqual(stateRefOf(c.card));
    const sv = centre.value(c.idu, 1600, 2, T0 + YEAR, stateRefOf(c.card));
    tx(d.card, A.selectSettle());
    expect(tx(d.card, A.recharge(sv.encode())).sw).toBe(SW_SETTLE_NOT_THIS_CARD);
    // No reference (the issue form) once the card has held a value.
    expect(tx(c.card, A.recharge(centre.value(c.idu, 9999, 2).encode())).sw).toBe(SW_SETTLE_STALE_VALUE);
    // A reference followed by the dispenser's Y is still the reference.
    const withY = centre.value(
      c.idu,
      1600,
      2,
      T0 + YEAR,
      Uint8Array.from([...stateRefOf(c.card), ...ascii('dispenser-Y')]),
    );
    expect(tx(c.card, A.recharge(withY.encode())).sw).toBe(0x9000);
    expect(tx(c.card, A.recharge(withY.encode())).sw).toBe(SW_SETTLE_REPLAY);
    expect(tx(c.card, A.recharge(sv.encode())).sw).toBe(SW_SETTLE_REPLAY);
    expect(state(c.card).value).toBe(1600);
    expect(state(d.card).value).toBe(1000);
    // Issue still works both ways: no reference, or the reference of the blank state.
    const blank = await issueCard(centre, 'CARD-BLNK', ALG, 0);
    expect(stateReferenceOf(stateRefOf(blank.card))).toEqual({ services: 0, sequence: 0, value: 0 });
    const first = centre.value(blank.idu, 50, 1, T0 + YEAR, stateRefOf(blank.card));
    expect(tx(blank.card, A.recharge(first.encode())).sw).toBe(0x9000);
    expect(state(blank.card).value).toBe(50);
  });

  it('a recharge inside a service session ends it: the update signed for the old V is refused', async () => {
    const clock = newClock();
    const t = makeTerminal(centre, 'TERM-MID', clock, ALG);
    const c = await issueCard(centre, 'CARD-MID', ALG, 100);
    tx(c.card, A.selectSettle());
    expect(tx(c.card, A.presentTerminal(T0, t.certificate.encode())).sw).toBe(0x9000);
    expect(tx(c.card, A.signValue(new Uint8Array(16).fill(7))).sw).toBe(0x9000);
    expect(
      tx(c.card, A.recharge(centre.value(c.idu, 1100, 2, T0 + YEAR, stateRefOf(c.card)).encode())).sw,
    ).toBe(0x9000);
    // Whatever UPDATE VALUE comes now, the session that signed V = 100 is gone.
    expect(tx(c.card, A.updateValue(new Uint8Array([0x30, 0x00]))).sw).toBe(0x941a);
    expect(state(c.card).value).toBe(1100);
  });

  it('a tear at every write of RECHARGE: old state (the value still applies, once) or new, never both', async () => {
    const make = async (): Promise<{ c: IssuedCard; cmd: CommandApdu }> => {
      const c = await issueCard(centre, 'CARD-RTEAR', ALG, 1000);
      return { c, cmd: A.recharge(centre.value(c.idu, 3000, 2, T0 + YEAR, stateRefOf(c.card)).encode()) };
    };
    const ref = await make();
    const w0 = ref.c.card.store.writeCount;
    expect(tx(ref.c.card, ref.cmd).sw).toBe(0x9000);
    const writes = ref.c.card.store.writeCount - w0;
    expect(writes).toBeGreaterThan(1);
    const seen = new Set<string>();
    for (let k = 1; k <= writes; k++) {
      const { c, cmd } = await make();
      c.card.store.armTear(k);
      expect(() => c.card.os.transmit(cmd.encode())).toThrow(CardPowerLostError);
      c.card.os.powerUp();
      const st = state(c.card);
      if (st.value === 1000) {
        expect(st.sequence).toBe(1);
        seen.add('old');
        expect(tx(c.card, cmd).sw).toBe(0x9000); // the paid recharge is not lost
      } else {
        expect([st.value, st.sequence]).toEqual([3000, 2]);
        seen.add('new');
      }
      expect(tx(c.card, cmd).sw).toBe(SW_SETTLE_REPLAY);
      expect(state(c.card).value).toBe(3000);
    }
    expect(seen).toEqual(new Set(['old', 'new']));
  });
});

describe('hole 2: V is checked against the latest record only', () => {
  it('a card rolled back to its older, larger signed value after a service is refused (value-unproven)', async () => {
    const clock = newClock();
    const t = makeTerminal(centre, 'TERM-ROLL', clock, ALG);
    const c = await issueCard(centre, 'CARD-ROLL', ALG, 1000);
    await t.terminal.serve(await c.channel(), 300); // usage V' = 700, the signed value says 1000
    poke(c.card, { value: 1000 });
    const e = await refusal(t.terminal.serve(await c.channel(), 100));
    expect(e.reason).toBe('value-unproven');
    expect(t.terminal.pendingRecords).toHaveLength(1);
  });

  it('a card rolled back to the older usage after a recharge to less is refused', async () => {
    const clock = newClock();
    const t = makeTerminal(centre, 'TERM-ROL2', clock, ALG);
    const c = await issueCard(centre, 'CARD-ROL2', ALG, 1000);
    await t.terminal.serve(await c.channel(), 300); // usage V' = 700
    const read = await readSettlementCardState(await c.channel());
    await rechargeSettlementCard(await c.channel(), centre.value(c.idu, 400, 2, T0 + YEAR, read.reference));
    poke(c.card, { value: 700 }); // back to the usage's V', flag 02 (recharge last) still set
    expect((await refusal(t.terminal.serve(await c.channel(), 100))).reason).toBe('value-unproven');
    poke(c.card, { value: 400 }); // the honest state is served from the signed value
    const out = await t.terminal.serve(await c.channel(), 100);
    expect([out.valueBefore, out.valueAfter]).toEqual([400, 300]);
  });
});

/**
 * A channel whose answer to UPDATE VALUE is lost (after the card ran it, or before it got it) or
 * arrives with one bit of the card's signature flipped.
 */
class CutChannel implements CardChannel {
  constructor(
    readonly inner: CardChannel,
    readonly cut: 'after-commit' | 'before-card' | 'damage-answer',
  ) {}
  get readerName(): string {
    return this.inner.readerName;
  }
  get atr(): Uint8Array {
    return this.inner.atr;
  }
  get protocol(): 'T=0' | 'T=1' {
    return this.inner.protocol;
  }
  async transmit(c: CommandApdu): Promise<ResponseApdu> {
    if (c.ins !== INS_SETTLE_UPDATE_VALUE) return this.inner.transmit(c);
    if (this.cut === 'damage-answer') {
      const r = await this.inner.transmit(c);
      const d = r.data.slice();
      d[d.length - 1]! ^= 1;
      return new ResponseApdu(d, r.sw);
    }
    if (this.cut === 'after-commit') await this.inner.transmit(c);
    throw new Error('reader: card removed (power lost)');
  }
  reset(): Promise<Uint8Array> {
    return this.inner.reset();
  }
  disconnect(): Promise<void> {
    return this.inner.disconnect();
  }
}

describe('hole 3: power lost after UPDATE VALUE commits', () => {
  it('the next session with the card recovers the card-signed record, and the upload has it once', async () => {
    const clock = newClock();
    const t = makeTerminal(centre, 'TERM-CUT', clock, ALG);
    const c = await issueCard(centre, 'CARD-CUT', ALG, 1000);
    await expect(t.terminal.serve(new CutChannel(await c.channel(), 'after-commit'), 300)).rejects.toThrow(
      'power lost',
    );
    expect(state(c.card).value).toBe(700); // the card committed
    expect(t.terminal.pendingRecords).toHaveLength(0);
    expect(t.terminal.unfinishedCount).toBe(1);
    clock.advance(60_000);
    const out = await t.terminal.serve(await c.channel(), 50);
    expect(out.valueBefore).toBe(700);
    expect(t.terminal.unfinishedCount).toBe(0);
    expect(await t.terminal.recover(await c.channel())).toBe(false); // nothing twice
    const batch = t.terminal.upload();
    expect(batch.upload.records.map((r) => [r.valueBefore, r.valueAfter])).toEqual([
      [1000, 700],
      [700, 650],
    ]);
    expect(batch.serviceRecords.map((s) => [s.cardSequence, s.charge])).toEqual([
      [1, 300],
      [2, 50],
    ]);
    expect(batch.upload.records[0]!.terminalNonce).toEqual(batch.serviceRecords[0]!.terminalNonce);
  });

  it('at once on retry: recover() keeps the record exactly once', async () => {
    const clock = newClock();
    const t = makeTerminal(centre, 'TERM-RTRY', clock, ALG);
    const c = await issueCard(centre, 'CARD-RTRY', ALG, 1000);
    await expect(t.terminal.serve(new CutChannel(await c.channel(), 'after-commit'), 10)).rejects.toThrow();
    expect(await t.terminal.recover(await c.channel())).toBe(true);
    expect(await t.terminal.recover(await c.channel())).toBe(false);
    const batch = t.terminal.upload();
    expect(batch.upload.records).toHaveLength(1);
    expect(batch.serviceRecords).toHaveLength(1);
    expect(batch.serviceRecords[0]!.charge).toBe(10);
  });

  it('an UPDATE answer damaged on the way: the record is re-read from the card, once', async () => {
    const clock = newClock();
    const t = makeTerminal(centre, 'TERM-DMG', clock, ALG);
    const c = await issueCard(centre, 'CARD-DMG', ALG, 1000);
    const damaging = new CutChannel(await c.channel(), 'damage-answer');
    expect((await refusal(t.terminal.serve(damaging, 40))).reason).toBe('bad-service-record');
    expect(t.terminal.unfinishedCount).toBe(1);
    expect(await t.terminal.recover(await c.channel())).toBe(true);
    expect(await t.terminal.recover(await c.channel())).toBe(false);
    const batch = t.terminal.upload();
    expect(batch.upload.records.map((r) => r.charge)).toEqual([40]);
    expect(batch.serviceRecords.map((r) => r.charge)).toEqual([40]);
  });

  it('an update the card never took is not uploaded; it is listed as abandoned', async () => {
    const clock = newClock();
    const t = makeTerminal(centre, 'TERM-LOST', clock, ALG);
    const c = await issueCard(centre, 'CARD-LOST', ALG, 1000);
    await expect(t.terminal.serve(new CutChannel(await c.channel(), 'before-card'), 300)).rejects.toThrow();
    expect(state(c.card).value).toBe(1000);
    expect(await t.terminal.recover(await c.channel())).toBe(false);
    expect(t.terminal.abandoned).toHaveLength(1);
    expect(t.terminal.pendingRecords).toHaveLength(0);
    expect(t.terminal.upload().serviceRecords).toHaveLength(0);
  });

  it('another terminal’s unfinished session is not taken for one’s own', async () => {
    const clock = newClock();
    const a = makeTerminal(centre, 'TERM-A', clock, ALG);
    const b = makeTerminal(centre, 'TERM-B', clock, ALG);
    const c = await issueCard(centre, 'CARD-AB', ALG, 1000);
    await expect(a.terminal.serve(new CutChannel(await c.channel(), 'before-card'), 300)).rejects.toThrow();
    await b.terminal.serve(await c.channel(), 100); // the card moves on at B
    await a.terminal.serve(await c.channel(), 100);
    expect(a.terminal.abandoned).toHaveLength(1);
    expect(a.terminal.upload().upload.records.map((r) => r.valueBefore)).toEqual([900]);
  });
});

describe('hole 4: a brand-new card judges the dispenser certificate at the presented time', () => {
  const keys = provider.generateKeyPair(ALG);
  const idc = ascii('DISP-RT');
  const valueFor = (idu: Uint8Array, challenge: Uint8Array = new Uint8Array(0)): SignedValue =>
    SignedValue.sign(
      {
        centreId: centre.id,
        signerKind: 'dispenser',
        signerId: idc,
        cardId: idu,
        value: 700,
        sequence: 1,
        challenge,
        notAfter: T0 + YEAR,
      },
      provider.signer(ALG, keys.privateKey),
    );

  it('expired or not yet valid: 9413 and nothing written; valid: taken', async () => {
    const expired = centre.certify('dispenser', idc, keys.publicKey, ALG, T0 - 2 * YEAR, T0 - YEAR);
    const early = centre.certify('dispenser', idc, keys.publicKey, ALG, T0 + DAY, T0 + YEAR);
    const good = centre.certify('dispenser', idc, keys.publicKey, ALG, T0 - DAY, T0 + YEAR);
    const c = await issueCard(centre, 'CARD-NEW', ALG, 0);
    const sv = valueFor(c.idu).encode();
    tx(c.card, A.selectSettle());
    const image = Buffer.from(c.card.store.image()).toString('hex');
    expect(tx(c.card, A.recharge(sv, { certificate: expired.encode(), now: T0 })).sw).toBe(SW_SETTLE_EXPIRED);
    expect(tx(c.card, A.recharge(sv, { certificate: early.encode(), now: T0 })).sw).toBe(SW_SETTLE_EXPIRED);
    expect(Buffer.from(c.card.store.image()).toString('hex')).toBe(image);
    expect(tx(c.card, A.recharge(sv, { certificate: good.encode(), now: T0 })).sw).toBe(0x9000);
    expect(state(c.card).value).toBe(700);
  });

  it('the presented time may not go below the last signed time the card saw', async () => {
    const clock = newClock();
    const t = makeTerminal(centre, 'TERM-LATE', clock, ALG);
    const good = centre.certify('dispenser', idc, keys.publicKey, ALG, T0 - DAY, T0 + YEAR);
    const c = await issueCard(centre, 'CARD-LATE', ALG, 1000);
    clock.advance(30 * DAY);
    await t.terminal.serve(await c.channel(), 1);
    const sv = valueFor(c.idu, stateRefOf(c.card));
    const resign = SignedValue.sign({ ...sv, sequence: 2 }, provider.signer(ALG, keys.privateKey)).encode();
    tx(c.card, A.selectSettle());
    expect(tx(c.card, A.recharge(resign, { certificate: good.encode(), now: T0 })).sw).toBe(
      SW_SETTLE_TIME_BACKWARDS,
    );
    expect(tx(c.card, A.recharge(resign, { certificate: good.encode(), now: T0 + 30 * DAY })).sw).toBe(
      0x9000,
    );
  });
});

describe('field maxima', () => {
  it('V = 0xFFFFFFFF is taken and spent whole; one past it is refused everywhere, nothing written', async () => {
    const clock = newClock();
    const t = makeTerminal(centre, 'TERM-MAX', clock, ALG);
    const c = await issueCard(centre, 'CARD-MAXV', ALG, 1);
    const read = await readSettlementCardState(await c.channel());
    expect(() => rechargedValue(read, 0xffffffff)).toThrow(/amount/);
    expect(rechargedValue(read, 0xfffffffe)).toBe(0xffffffff);
    expect(() => centre.value(c.idu, 0x1_0000_0000, 2, T0 + YEAR, read.reference)).toThrow(RangeError);
    // One past it on the wire: the INTEGER 0xFFFFFFFF (02 05 00 FF FF FF FF) turned into 2^32.
    const max = centre.value(c.idu, 0xffffffff, 2, T0 + YEAR, read.reference).encode();
    const at = Buffer.from(max).indexOf(Buffer.from([0x02, 0x05, 0x00, 0xff, 0xff, 0xff, 0xff]));
    expect(at).toBeGreaterThan(0);
    const past = max.slice();
    past.set([0x01, 0x00, 0x00, 0x00, 0x00], at + 2);
    tx(c.card, A.selectSettle());
    const image = Buffer.from(c.card.store.image()).toString('hex');
    expect(tx(c.card, A.recharge(past)).sw).toBe(SW_WRONG_DATA);
    expect(Buffer.from(c.card.store.image()).toString('hex')).toBe(image);
    expect(tx(c.card, A.recharge(max)).sw).toBe(0x9000);
    const out = await t.terminal.serve(await c.channel(), 0xffffffff);
    expect([out.valueBefore, out.valueAfter, out.serviceRecord.charge]).toEqual([0xffffffff, 0, 0xffffffff]);
    expect(() => stateReference({ services: 0, sequence: 0, value: 0x1_0000_0000 })).toThrow(/value/);
  });

  it('value sequence at 0xFFFFFFFF: taken once, then every recharge refused cleanly', async () => {
    const c = await issueCard(centre, 'CARD-MAXS', ALG, 1000);
    expect(() => centre.value(c.idu, 1, 0x1_0000_0000, T0 + YEAR, stateRefOf(c.card))).toThrow(RangeError);
    expect(
      tx(c.card, A.recharge(centre.value(c.idu, 5, 0xffffffff, T0 + YEAR, stateRefOf(c.card)).encode())).sw,
    ).toBe(0x9000);
    expect(state(c.card).sequence).toBe(0xffffffff);
    const image = Buffer.from(c.card.store.image()).toString('hex');
    const next = centre.value(c.idu, 9, 0xffffffff, T0 + YEAR, stateRefOf(c.card));
    expect(tx(c.card, A.recharge(next.encode())).sw).toBe(SW_SETTLE_REPLAY);
    expect(Buffer.from(c.card.store.image()).toString('hex')).toBe(image);
  });

  it('service counter at 0xFFFFFFFF: the last service is recorded, the next refused before anything', async () => {
    const clock = newClock();
    const t = makeTerminal(centre, 'TERM-MAXN', clock, ALG);
    const c = await issueCard(centre, 'CARD-MAXN', ALG, 1000);
    await t.terminal.serve(await c.channel(), 1);
    poke(c.card, { services: 0xfffffffe });
    const out = await t.terminal.serve(await c.channel(), 1);
    expect(out.serviceRecord.cardSequence).toBe(0xffffffff);
    const image = Buffer.from(c.card.store.image()).toString('hex');
    const e = await refusal(t.terminal.serve(await c.channel(), 1));
    expect([e.reason, e.sw]).toEqual(['card-refused', SW_SETTLE_EXHAUSTED]);
    expect(Buffer.from(c.card.store.image()).toString('hex')).toBe(image);
    expect(state(c.card).value).toBe(998);
  });

  it('update counter t at 100000 still serves; the chain cannot pass it', async () => {
    const clock = newClock();
    const t = makeTerminal(centre, 'TERM-MAXT', clock, ALG);
    const c = await issueCard(centre, 'CARD-MAXT', ALG, 1000);
    for (let i = 0; i < 100_000; i++) t.terminal.updateTimeStamp();
    expect(t.terminal.updateCounter).toBe(100_000);
    expect(() => t.terminal.updateTimeStamp()).toThrow(RangeError);
    expect(t.terminal.updateCounter).toBe(100_000);
    const out = await t.terminal.serve(await c.channel(), 5);
    expect(out.usageInfo.updateCounter).toBe(100_000);
    expect(t.terminal.upload().upload.updateCounter).toBe(100_000);
  });
});

describe('with the management centre (host/settlement): a recharge bound through its signValue', () => {
  it('the centre signs V + amount with the card-state reference as its challenge; a stale one is refused', async () => {
    const { ManagementCentre } = await import('../../host/settlement/ManagementCentre.js');
    const { SeededRng } = await import('../../card/crypto/rng.js');
    const { SETTLE_OBJ_PUBLIC_KEY } = await import('../../card/applets/settle/constants.js');
    const { certifySettlementCard } = await import('../../terminal/settlement/SettlementTerminal.js');
    const { makeSettlementCard } = await import('../../card/applets/settle/makeSettlementCard.js');
    const { VirtualReader } = await import('../../reader/VirtualReader.js');
    const clock = newClock();
    const mc = new ManagementCentre({
      file: ':memory:',
      provider,
      clock,
      rng: new SeededRng('redteam:centre'),
      maxValue: 0xffffffff,
      centreId: ascii('MC-RT'),
      algorithm: ALG,
    });
    try {
      const idu = ascii('CARD-MC');
      const card = makeSettlementCard({
        idu,
        anchor: mc.anchor.encode(),
        algorithm: ALG,
        rng: new SeededRng('mc'),
      });
      const reader = new VirtualReader('mc slot', card.os);
      const ch = await reader.connect();
      await ch.transmit(A.selectSettle());
      const spki = (await ch.transmit(A.readObject(SETTLE_OBJ_PUBLIC_KEY))).data;
      await certifySettlementCard(ch, mc.certifyCard(idu, spki, { notBefore: T0, notAfter: T0 + YEAR }, ALG));
      await rechargeSettlementCard(ch, mc.signValue(idu, 1000, T0 + 100 * DAY)); // issue: no reference
      const read = await readSettlementCardState(ch);
      const stale = mc.signValue(idu, rechargedValue(read, 1), T0 + 100 * DAY); // the old call: unbound
      expect((await refusal(rechargeSettlementCard(ch, stale))).sw).toBe(SW_SETTLE_STALE_VALUE);
      const bound = mc.signValue(idu, rechargedValue(read, 500), T0 + 100 * DAY, read.reference);
      expect((await rechargeSettlementCard(ch, bound)).value).toBe(1500);
      expect((await refusal(rechargeSettlementCard(ch, bound))).sw).toBe(SW_SETTLE_REPLAY);
    } finally {
      mc.close();
    }
  });
});
