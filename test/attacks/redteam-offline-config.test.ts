/**
 * Red team R1 (issue 17): getting an old or someone else's configuration applied by an offline
 * meter. The utility numbers configuration versions per (CSN, purse) (host/utility/db/UtilityDb.ts
 * nextConfigVersionInTx), while the meter kept one version per meter — so a kept old card with a
 * high version number beat a newer configuration on a replacement card. Regression: the meter now
 * orders configurations by their signed issue time, the version breaking a tie.
 */
import { describe, expect, it } from 'vitest';
import { fromHex } from '../../card/util/hex.js';
import { PURSE_GAS } from '../../card/applets/constants.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import { subscriber } from '../meter/cardWorld.js';
import {
  OTHER_METER,
  configFields,
  forgedRecord,
  gasMeter,
  putRecord,
  readCardRecord,
  writeConfig,
} from '../meter/offlineWorld.js';
import {
  OFFLINE_EVENT_FOREIGN_CARD,
  OFFLINE_EVENT_UNAUTHENTIC_CONFIG,
  OfflineConfig,
  OfflineReading,
} from '../../card/applets/purse/offline.js';

const OLD_CARD = fromHex('4D50000000000001');
const NEW_CARD = fromHex('4D50000000000002');
const JUNE = RtcTime.of(2026, 6, 1, 9, 0).encodeBcd();
const NOVEMBER = RtcTime.of(2026, 11, 1, 9, 0).encodeBcd();

describe('red team R1: old configurations at the offline meter', () => {
  it("a replacement card's first configuration (version 1) replaces the one a kept old card (version 5) brought", async () => {
    const cm = await gasMeter();
    const old = subscriber(cm.issuer, { csn: OLD_CARD, balance: 1_000 });
    // The old card went through five price changes; its last: unit charge 50, issued in June.
    writeConfig(
      old,
      cm.issuer,
      configFields(5, { unitCharge: 50, emergencyLimit: 2_000, issued: JUNE }),
      OLD_CARD,
    );
    expect((await cm.slot.insert(old.os)).config).toEqual({ kind: 'applied', version: 5 });
    cm.slot.remove();
    // The card is replaced in November; the utility numbers the new card's configurations from 1.
    const fresh = subscriber(cm.issuer, { csn: NEW_CARD, balance: 1_000 });
    writeConfig(
      fresh,
      cm.issuer,
      configFields(1, { unitCharge: 130, emergencyLimit: 500, issued: NOVEMBER }),
      NEW_CARD,
    );
    const o = await cm.slot.insert(fresh.os);
    cm.slot.remove();
    expect(o.config).toEqual({ kind: 'applied', version: 1 });
    expect(cm.meter.schedule.active.unitCharge).toBe(130);
    expect(cm.meter.exchanger.emergencyCredit).toBe(500);

    // The subscriber brings the kept old card back: its June configuration (version 5 > 1) changes nothing.
    const back = await cm.slot.insert(old.os);
    cm.slot.remove();
    expect(back.config).toEqual({ kind: 'current', version: 5 });
    expect(cm.meter.schedule.active.unitCharge).toBe(130);
    expect(cm.meter.exchanger.emergencyCredit).toBe(500);
    // Persisted and restored: still the November configuration's order.
    const cm2 = await gasMeter();
    cm2.slot.loadState(JSON.parse(JSON.stringify(cm.slot.saveState())));
    const again = await cm2.slot.insert(old.os);
    expect(again.config).toEqual({ kind: 'current', version: 5 });
  });

  it("a meter that applied the new card first ignores the old card's higher version", async () => {
    const cm = await gasMeter();
    const fresh = subscriber(cm.issuer, { csn: NEW_CARD, balance: 1_000 });
    writeConfig(fresh, cm.issuer, configFields(1, { unitCharge: 130, issued: NOVEMBER }), NEW_CARD);
    expect((await cm.slot.insert(fresh.os)).config).toEqual({ kind: 'applied', version: 1 });
    cm.slot.remove();
    const old = subscriber(cm.issuer, { csn: OLD_CARD, balance: 1_000 });
    writeConfig(
      old,
      cm.issuer,
      configFields(0xffffffff, { unitCharge: 1, emergencyLimit: 0xffffffff, issued: JUNE }),
      OLD_CARD,
    );
    const o = await cm.slot.insert(old.os);
    cm.slot.remove();
    expect(o.config).toMatchObject({ kind: 'current' });
    expect(cm.meter.schedule.active.unitCharge).toBe(130);
    // Same card, later issue time: applied (the ordinary price change).
    writeConfig(
      fresh,
      cm.issuer,
      configFields(2, { unitCharge: 140, issued: RtcTime.of(2026, 12, 1, 0, 0).encodeBcd() }),
      NEW_CARD,
    );
    expect((await cm.slot.insert(fresh.os)).config).toEqual({ kind: 'applied', version: 2 });
    expect(cm.meter.schedule.active.unitCharge).toBe(140);
  });

  it('one card, same issue second: the higher version still wins; an equal one changes nothing', async () => {
    const cm = await gasMeter();
    const card = subscriber(cm.issuer, { csn: OLD_CARD, balance: 1_000 });
    writeConfig(card, cm.issuer, configFields(1, { unitCharge: 120, issued: NOVEMBER }), OLD_CARD);
    expect((await cm.slot.insert(card.os)).config).toEqual({ kind: 'applied', version: 1 });
    cm.slot.remove();
    writeConfig(card, cm.issuer, configFields(2, { unitCharge: 121, issued: NOVEMBER }), OLD_CARD);
    expect((await cm.slot.insert(card.os)).config).toEqual({ kind: 'applied', version: 2 });
    cm.slot.remove();
    expect(cm.meter.schedule.active.unitCharge).toBe(121);
  });

  it('the issue time is signed: an old record with a later date put in is not authentic', async () => {
    const cm = await gasMeter();
    const card = subscriber(cm.issuer, { csn: OLD_CARD, balance: 1_000 });
    const rec = writeConfig(card, cm.issuer, configFields(1, { unitCharge: 1, issued: JUNE }), OLD_CARD);
    const moved = OfflineConfig.decode(rec);
    const later = new OfflineConfig({ ...moved, version: 2, issued: NOVEMBER }, moved.meterMac).encode();
    // Even a writer holding K_remote (the card MAC) cannot make the meter MAC.
    expect(putRecord(card, cm.issuer, later, PURSE_GAS, OLD_CARD)).toBe(0x9000);
    const o = await cm.slot.insert(card.os);
    expect(o).toMatchObject({ accepted: false, refusal: 'config-not-authentic', sw: 0x6300 });
    expect(cm.meter.schedule.active.unitCharge).toBe(1000);
  });

  it('the b4 / b5 flags a refused card leaves are not wiped by the next configuration before a reading carried them', async () => {
    const cm = await gasMeter();
    // A forged configuration (meter MAC under a key that is not this meter's), then a card bound elsewhere.
    const forger = subscriber(cm.issuer, { csn: OLD_CARD, balance: 1_000 });
    const fake = forgedRecord(configFields(9, { unitCharge: 1 }), new Uint8Array(16).fill(0x5a), cm.issuer);
    expect(putRecord(forger, cm.issuer, fake, PURSE_GAS, OLD_CARD)).toBe(0x9000);
    expect(await cm.slot.insert(forger.os)).toMatchObject({
      accepted: false,
      refusal: 'config-not-authentic',
    });
    cm.slot.remove();
    const elsewhere = subscriber(cm.issuer, { csn: fromHex('4D50000000000003'), balance: 1_000 });
    writeConfig(elsewhere, cm.issuer, configFields(1, { meterId: OTHER_METER }), fromHex('4D50000000000003'));
    expect(await cm.slot.insert(elsewhere.os)).toMatchObject({
      accepted: false,
      refusal: 'bound-to-another-meter',
    });
    cm.slot.remove();
    // Refused sessions write no reading. The utility's next price change arrives on the real card:
    // applied — and the reading of that very session must still tell the utility what happened.
    const card = subscriber(cm.issuer, { csn: NEW_CARD, balance: 1_000 });
    writeConfig(card, cm.issuer, configFields(1, { unitCharge: 130, issued: NOVEMBER }), NEW_CARD);
    expect((await cm.slot.insert(card.os)).config).toEqual({ kind: 'applied', version: 1 });
    cm.slot.remove();
    const both = OFFLINE_EVENT_UNAUTHENTIC_CONFIG | OFFLINE_EVENT_FOREIGN_CARD;
    const r1 = OfflineReading.decode(readCardRecord(card, 4, 2).data);
    expect(r1.events & both).toBe(both);
    // The next session without a new configuration still says it (owed until the utility answers).
    await cm.slot.insert(card.os);
    cm.slot.remove();
    expect(OfflineReading.decode(readCardRecord(card, 4, 2).data).events & both).toBe(both);
    // A configuration applied after a reading carried them is the utility's answer: cleared.
    const later = RtcTime.of(2027, 1, 5, 8, 0).encodeBcd();
    writeConfig(card, cm.issuer, configFields(2, { unitCharge: 131, issued: later }), NEW_CARD);
    expect((await cm.slot.insert(card.os)).config).toEqual({ kind: 'applied', version: 2 });
    cm.slot.remove();
    expect(OfflineReading.decode(readCardRecord(card, 4, 2).data).events & both).toBe(0);
  });
});
