/**
 * Red team R3: the meter's own event flags (b0 power failure, b1 reverse flow, b2 tamper, b3 load
 * voltage with the supply cut) in the offline readings record. They were "since the last credit
 * entry": every session that moved credit wiped them — also one whose reading never reached the
 * card (pulled during its write, a card without SFI 04), and the card holds one reading per purse,
 * so the next session's reading overwrote the one that carried a tamper before any carrier took it.
 * The utility never saw the tamper. Fixed like b4 / b5 (red team R1): they are owed to the utility
 * (OfflineMeterState) until a configuration is applied after a reading carried them.
 */
import { describe, expect, it } from 'vitest';
import { OfflineReading } from '../../card/applets/purse/offline.js';
import { OFFLINE_EVENT_TAMPER } from '../../card/index.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import type { CardChannel } from '../../reader/CardChannel.js';
import { interceptChannel } from '../reader/interceptChannel.js';
import { CardRemovedError } from '../../reader/errors.js';
import { subscriber } from '../meter/cardWorld.js';
import { configFields, gasMeter, readCardRecord, writeConfig } from '../meter/offlineWorld.js';

const TAMPER = OFFLINE_EVENT_TAMPER;
const eventsOnCard = (card: ReturnType<typeof subscriber>) =>
  OfflineReading.decode(readCardRecord(card, 4, 2).data).events;

async function tampered(wrap?: (inner: CardChannel, role: string) => CardChannel) {
  const cm = await gasMeter({ svmBalance: 0, ...(wrap ? { wrap } : {}) });
  const card = subscriber(cm.issuer, { balance: 5_000 });
  await cm.meter.advance(cm.meter.now + 60, 1_000, { coverOpen: true });
  await cm.meter.advance(cm.meter.now + 60, 1_000, { coverOpen: false });
  expect(cm.meter.flags & TAMPER).toBe(TAMPER);
  return { cm, card };
}

describe('red team R3: a tamper flag the utility never sees', () => {
  it('a second session before any carrier came: its reading still carries the tamper (fixed)', async () => {
    const { cm, card } = await tampered();
    const o1 = await cm.slot.insert(card.os);
    cm.slot.remove();
    expect(o1).toMatchObject({ accepted: true, readings: { written: true } });
    expect(o1.amount).toBeGreaterThan(0); // a credit entry: the meter's own flags start again
    expect(eventsOnCard(card) & TAMPER).toBe(TAMPER);
    expect(cm.meter.flags & TAMPER).toBe(0);
    // the subscriber comes back before the vending point or the electricity meter saw the card
    await cm.meter.advance(cm.meter.now + 3600, 50_000);
    const o2 = await cm.slot.insert(card.os);
    cm.slot.remove();
    expect(OfflineReading.decode(o2.readings!.record!).sequence).toBe(2);
    expect(eventsOnCard(card) & TAMPER).toBe(TAMPER);
    // a state saved and restored keeps what is owed
    const again = await gasMeter({ svmBalance: 0 });
    again.slot.loadState(JSON.parse(JSON.stringify(cm.slot.saveState())));
    expect(again.slot.offline.flags & TAMPER).toBe(TAMPER);
    // the utility answers with a configuration: the tamper, carried already, is cleared
    writeConfig(card, cm.issuer, configFields(1, { issued: RtcTime.of(2026, 12, 1, 8, 0).encodeBcd() }));
    const o3 = await cm.slot.insert(card.os);
    cm.slot.remove();
    expect(o3.config).toEqual({ kind: 'applied', version: 1 });
    expect(eventsOnCard(card) & TAMPER).toBe(0);
  });

  it('the card pulled during the reading write, after the credit moved: the tamper stays owed (fixed)', async () => {
    let pull = true;
    // the card goes at UPDATE RECORD of SFI 04 (INS DC, P2 = 04 << 3 | 4 = 0x24), once
    const wrap = (inner: CardChannel, role: string): CardChannel =>
      role !== 'card'
        ? inner
        : interceptChannel(inner, async (c: CommandApdu, next) => {
            if (pull && c.ins === 0xdc && c.p2 === 0x24) {
              pull = false;
              throw new CardRemovedError('pulled during the reading write', inner.readerName);
            }
            return next(c);
          });
    const { cm, card } = await tampered(wrap);
    const o1 = await cm.slot.insert(card.os);
    cm.slot.remove();
    expect(o1).toMatchObject({ accepted: true, readings: { written: false, skipped: 'card-removed' } });
    expect(o1.amount).toBeGreaterThan(0);
    expect(cm.meter.flags & TAMPER).toBe(0); // the credit entry started a new period
    expect(readCardRecord(card, 4, 2).data.every((b) => b === 0)).toBe(true);
    // the next reading that reaches the card carries the tamper all the same
    const o2 = await cm.slot.insert(card.os);
    cm.slot.remove();
    expect(o2.readings?.written).toBe(true);
    expect(eventsOnCard(card) & TAMPER).toBe(TAMPER);
  });
});
