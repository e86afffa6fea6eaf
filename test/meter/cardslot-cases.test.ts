import { txId, type TxId } from '../../protocol/TxId.js';
import { describe, expect, it } from 'vitest';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import { CardChannelError, type CardChannel } from '../../reader/CardChannel.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { MeterData } from '../../card/applets/purse/records.js';
import { loadCard } from '../../terminal/loadCard.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import type { ChannelRole } from '../../meter/cardslot/ModuleLink.js';
import { CSN, meterSide, newMeter, purseBalance, subscriber, svmView } from './cardWorld.js';

/** A wrapper answering `sw` to instruction `ins` on one role (the device never sees it). */
function refuseOn(role: ChannelRole, ins: number, sw: string) {
  return (inner: CardChannel, r: ChannelRole): CardChannel =>
    r !== role
      ? inner
      : {
          readerName: inner.readerName,
          atr: inner.atr,
          protocol: inner.protocol,
          transmit: (c: CommandApdu) =>
            c.ins === ins ? Promise.resolve(ResponseApdu.decode(fromHex(sw))) : inner.transmit(c),
          reset: () => inner.reset(),
          disconnect: () => inner.disconnect(),
        };
}

/** Pulls the card out of the slot right before its DEBIT reaches it (the SVM then holds a pending transfer). */
function pullBeforeDebit(state: { armed: boolean; pull?: () => void }) {
  return (inner: CardChannel, r: ChannelRole): CardChannel =>
    r !== 'card'
      ? inner
      : {
          readerName: inner.readerName,
          atr: inner.atr,
          protocol: inner.protocol,
          transmit: (c: CommandApdu) => {
            if (state.armed && c.ins === 0x54) {
              state.armed = false;
              state.pull?.();
            }
            return inner.transmit(c);
          },
          reset: () => inner.reset(),
          disconnect: () => inner.disconnect(),
        };
}

describe('meter card slot: more cases', () => {
  it('an SVM that refuses BEGIN TRANSFER: svm-refused, nothing moved or pending', async () => {
    const cm = await newMeter({ svmBalance: 1_000, wrap: refuseOn('svm', 0x30, '6F00') });
    const card = subscriber(cm.issuer, { balance: 4_000 });
    const before = meterSide(cm);
    const o = await cm.slot.insert(card.os);
    expect(o).toMatchObject({ accepted: false, refusal: 'svm-refused', sw: 0x6f00 });
    expect(purseBalance(card)).toBe(4_000);
    expect(meterSide(cm)).toBe(before);
    expect(svmView(cm).pending).toBeNull();
  });

  // Issue 13: the first card's pending transfer keeps its own SVM slot; the other card is not blocked.
  it('another card while a transfer of the first is pending: it transfers, then the first settles', async () => {
    const state: { armed: boolean; pull?: () => void } = { armed: true };
    const cm = await newMeter({ svmBalance: 1_000, wrap: pullBeforeDebit(state) });
    state.pull = () => void cm.slot.remove();
    const a = subscriber(cm.issuer, { balance: 3_000 });
    const b = subscriber(cm.issuer, { csn: fromHex('4D50000000000002'), balance: 2_000, seed: 'b' });
    const sum = meterSide(cm) + 5_000;
    const first = await cm.slot.insert(a.os);
    expect(first).toMatchObject({ accepted: false, refusal: 'card-removed' });
    expect(svmView(cm).pending).not.toBeNull();
    const other = await cm.slot.insert(b.os);
    expect(other).toMatchObject({ accepted: true, amount: 2_000, meterDataWritten: true });
    expect(other.slotsFullOf).toBeUndefined();
    expect(other.events.map((e) => e.kind)).not.toContain('card-slots-full');
    expect(purseBalance(b)).toBe(0);
    expect(svmView(cm).pending).not.toBeNull(); // still the first card's
    cm.slot.remove();
    const back = await cm.slot.insert(a.os);
    expect(back).toMatchObject({ accepted: true, recovery: 'cancelled', amount: 3_000 });
    expect(svmView(cm).pending).toBeNull();
    expect(meterSide(cm) + purseBalance(a) + purseBalance(b)).toBe(sum);
  });

  it('a pending debit whose record left the card log: clearing-needed, the pending record is kept', async () => {
    // The SVM's COMPLETE TRANSFER is lost once: the card paid, the SVM holds the transfer pending.
    const plan = { cut: true };
    const loseComplete = (inner: CardChannel, r: ChannelRole): CardChannel =>
      r !== 'svm'
        ? inner
        : {
            readerName: inner.readerName,
            atr: inner.atr,
            protocol: inner.protocol,
            transmit: (c: CommandApdu) => {
              if (c.ins === 0x32 && plan.cut) {
                plan.cut = false;
                return Promise.reject(new CardChannelError('SVM link lost', inner.readerName));
              }
              return inner.transmit(c);
            },
            reset: () => inner.reset(),
            disconnect: () => inner.disconnect(),
          };
    const cm = await newMeter({ svmBalance: 1_000, wrap: loseComplete });
    const card = subscriber(cm.issuer, { balance: 3_000 });
    const sum = meterSide(cm) + 3_000;
    const first = await cm.slot.insert(card.os);
    expect(first).toMatchObject({ accepted: false, refusal: 'module-failure' });
    cm.slot.remove();
    expect((svmView(cm).pending as { amount: number } | null)?.amount).toBe(3_000);
    expect(purseBalance(card)).toBe(0);
    // Ten loads at a vending point push the debit record out of the 10-record log.
    const vend = new VirtualReader('vending', card.os);
    for (let i = 0; i < 10; i++) {
      await loadCard(await vend.connect(), cm.issuer, {
        purse: 1,
        amount: 10,
        terminalId: fromHex('56454E44'),
        dateTime: fromHex('261123100000'),
      });
      vend.remove();
      vend.insert(card.os);
    }
    vend.remove();
    const o = await cm.slot.insert(card.os);
    expect(o).toMatchObject({ accepted: false, refusal: 'clearing-needed' });
    expect(o.pendingForHost).toMatchObject({ slot: 0, csn: CSN, amount: 3_000 }); // for the upload
    expect(svmView(cm).pending).not.toBeNull(); // kept for the host's clearing, never dropped
    // 3 000 in flight (debited on the card, pending in the SVM); 100 loaded since.
    expect(meterSide(cm) + purseBalance(card) + 3_000 - 100).toBe(sum);
  });

  it('a SAM refusing TOKEN AUTH: credit-refused with the SW, nothing debited, metering goes on', async () => {
    const cm = await newMeter({ svmBalance: 1_000, wrap: refuseOn('sam', 0x18, '6985') });
    expect(svmView(cm).balance).toBe(1_000);
    const ev = cm.meter.events.entries().find((e) => e.kind === 'credit-refused');
    expect(ev?.data).toBe(0x6985);
    await cm.meter.advance(cm.meter.now + 60, 10_000);
    expect(cm.meter.total).toBe(10_000);
    expect(svmView(cm).balance).toBe(1_000);
  });

  it('slot state round-trips; bad state is a RangeError naming the field; a host credit is referenced', async () => {
    const cm = await newMeter();
    cm.slot.block('4D500000000000AA');
    const card = subscriber(cm.issuer, { balance: 500 });
    await cm.slot.insert(card.os);
    cm.slot.remove();
    const saved = JSON.parse(JSON.stringify(cm.slot.saveState())) as ReturnType<typeof cm.slot.saveState>;
    // (issue 13: the state also carries the clearing journal — test/clearing/line-e2e.test.ts)
    expect(saved).toMatchObject({
      blacklist: ['4D500000000000AA'],
      lastKind: 1,
      lastRef: `${toHex(CSN)}0001`,
    });
    const other = await newMeter();
    other.slot.loadState(saved);
    expect(other.slot.saveState()).toEqual(saved);
    expect(() => other.slot.loadState({ ...saved, lastKind: 7 })).toThrow(/lastKind/);
    expect(() => other.slot.loadState({ ...saved, blacklist: ['00'] })).toThrow(/blacklist\[0\]/);
    expect(other.slot.saveState()).toEqual(saved); // unchanged by the refused loads
    cm.slot.noteHostCredit(txId(0x4242n));
    expect(() => cm.slot.noteHostCredit(-1n as TxId)).toThrow(RangeError);
    const again = await cm.slot.insert(card.os);
    expect(again.amount).toBe(0);
    const md = MeterData.decode(card.store.read('p.meter.1')!);
    expect(md.lastTransferKind).toBe(2);
    expect(toHex(md.lastTransferRef)).toBe('00000000000042420000');
  });
});
