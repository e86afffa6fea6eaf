/**
 * Issue 17, configuration at insertion: the offline meter reads the card's SFI 03 record of its
 * purse, believes it only when its SAM vouches for the meter MAC (CONFIG CHECK), applies a newer
 * version once, and refuses a card bound to another meter or carrying a forged configuration —
 * moving no value, yet still settling a transfer of that card it had pending.
 */
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../card/util/hex.js';
import { PURSE_ELECTRICITY, PURSE_GAS } from '../../card/applets/constants.js';
import { OfflineReading, verifyOfflineReading } from '../../card/applets/purse/offline.js';
import { signOfflineConfig } from '../../card/applets/purse/offline.js';
import { SLOT_REFUSALS, type SlotOutcome } from '../../meter/cardslot/MeterCardSlot.js';
import { Meter } from '../../meter/Meter.js';
import { TariffTable } from '../../protocol/TariffTable.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import { TariffChange } from '../../meter/tariff/TariffSchedule.js';
import { MemoryCreditRegister } from './MemoryCreditRegister.js';
import { CSN, CutPlan, meterSide, purseBalance, subscriber, svmView } from './cardWorld.js';
import {
  OTHER_METER,
  configFields,
  forgedRecord,
  gasMeter,
  putRecord,
  readCardRecord,
  writeConfig,
} from './offlineWorld.js';

const kinds = (o: SlotOutcome) => o.events.map((e) => e.kind);
const eventData = (o: SlotOutcome, kind: string) =>
  o.events.filter((e) => e.kind === kind).map((e) => e.data);
const CSN2 = fromHex('4D50000000000002');
const CSN3 = fromHex('4D50000000000003');

describe('offline meter: configuration at insertion', () => {
  it('applies an authentic configuration once: emergency credit and unit charge; schedule and percents stay', async () => {
    const cm = await gasMeter({ meter: { tariff: TariffTable.example(100) } });
    const card = subscriber(cm.issuer, { balance: 5_000 });
    writeConfig(
      card,
      cm.issuer,
      configFields(1, { emergencyLimit: 750, unitCharge: 130, blacklistVersion: 4 }),
    );
    const before = cm.meter.schedule.active;
    const o = await cm.slot.insert(card.os);
    expect(o).toMatchObject({ accepted: true, amount: 5_000, config: { kind: 'applied', version: 1 } });
    const t = cm.meter.schedule.active;
    expect(t.unitCharge).toBe(130);
    expect(t.steps).toEqual(before.steps);
    expect(t.seasons).toEqual(before.seasons);
    expect(t.weekendMask).toBe(before.weekendMask);
    expect(cm.meter.exchanger.emergencyCredit).toBe(750);
    expect(eventData(o, 'config-applied')).toEqual([1]);
    // The utility's blacklist (version 4) is newer than the meter's own (0).
    expect(eventData(o, 'blacklist-outdated')).toEqual([4]);
    expect(cm.slot.offline).toMatchObject({ configVersion: 1, utilityBlacklistVersion: 4 });
    // Billing uses the new unit charge at the step's percent: Monday 10:00 is the 200 % step.
    const charged = cm.meter.exchanger.charged;
    cm.slot.remove();
    await cm.meter.advance(cm.meter.now + 60, 1_000_000); // 1 m³
    expect(cm.meter.exchanger.charged - charged).toBe(260);

    // The same card again: nothing applied again.
    const again = await cm.slot.insert(card.os);
    expect(again.config).toEqual({ kind: 'current', version: 1 });
    expect(kinds(again)).not.toContain('config-applied');
    expect(cm.meter.events.count('config-applied')).toBe(1);

    // Persisted: the meter's NVM image keeps the unit charge and the emergency value, the slot's
    // state the version (a slot restored from it does not apply version 1 again).
    const snap = JSON.parse(JSON.stringify(cm.meter.snapshot()));
    const m2 = Meter.restore({ ...snap, register: null }, new MemoryCreditRegister(0));
    expect(m2.schedule.active.unitCharge).toBe(130);
    expect(m2.exchanger.emergencyCredit).toBe(750);
    const state = JSON.parse(JSON.stringify(cm.slot.saveState()));
    expect(state.offline).toMatchObject({ configVersion: 1, utilityBlacklistVersion: 4 });
    const cm2 = await gasMeter();
    cm2.slot.loadState(state);
    const third = await cm2.slot.insert(subscriber(cm2.issuer, { balance: 0 }).os);
    expect(third.config).toEqual({ kind: 'none' }); // a card without a config: nothing to compare
    cm2.slot.remove();
    const fourth = await cm2.slot.insert(card.os);
    expect(fourth.config).toEqual({ kind: 'current', version: 1 });
    expect(cm2.meter.schedule.active.unitCharge).toBe(1000); // untouched: not newer than what it applied
  });

  it('ignores an older (or equal) authentic version carried by another card', async () => {
    const cm = await gasMeter();
    const a = subscriber(cm.issuer, { csn: CSN, balance: 1_000 });
    const b = subscriber(cm.issuer, { csn: CSN2, balance: 1_000 });
    const c = subscriber(cm.issuer, { csn: CSN3, balance: 1_000 });
    writeConfig(a, cm.issuer, configFields(2, { unitCharge: 200, emergencyLimit: 900 }));
    writeConfig(b, cm.issuer, configFields(1, { unitCharge: 50, emergencyLimit: 100 }), CSN2);
    writeConfig(c, cm.issuer, configFields(2, { unitCharge: 999, emergencyLimit: 1 }), CSN3);
    expect((await cm.slot.insert(a.os)).config).toEqual({ kind: 'applied', version: 2 });
    cm.slot.remove();
    for (const [card, v] of [
      [b, 1],
      [c, 2],
    ] as const) {
      const o = await cm.slot.insert(card.os);
      cm.slot.remove();
      expect(o).toMatchObject({ accepted: true, config: { kind: 'current', version: v } });
      expect(kinds(o)).not.toContain('config-applied');
    }
    expect(cm.meter.schedule.active.unitCharge).toBe(200);
    expect(cm.meter.exchanger.emergencyCredit).toBe(900);
    expect(cm.slot.offline.configVersion).toBe(2);
  });

  it('refuses a card bound to another meter: no value moved, event, b4 in the next reading', async () => {
    const cm = await gasMeter();
    const card = subscriber(cm.issuer, { balance: 4_000 });
    writeConfig(card, cm.issuer, configFields(1, { meterId: OTHER_METER }));
    const sum = meterSide(cm) + 4_000;
    const svm = svmView(cm).balance;
    const o = await cm.slot.insert(card.os);
    expect(o).toMatchObject({ accepted: false, refusal: 'bound-to-another-meter', amount: 0, recovered: 0 });
    expect(o.config).toMatchObject({ kind: 'bound-elsewhere' });
    expect(eventData(o, 'config-bound-elsewhere')).toEqual([0x000124]);
    expect(eventData(o, 'card-refused')).toEqual([SLOT_REFUSALS['bound-to-another-meter']]);
    expect(purseBalance(card, PURSE_GAS)).toBe(4_000);
    expect(svmView(cm).balance).toBe(svm);
    expect(meterSide(cm) + purseBalance(card, PURSE_GAS)).toBe(sum);
    expect(o.meterDataWritten).toBe(false);
    expect(o.readings).toBeUndefined();
    expect(cm.meter.schedule.active.unitCharge).toBe(1000);
    cm.slot.remove();
    // The next card this meter serves carries b4 ("a card bound elsewhere was seen") to the utility.
    const honest = subscriber(cm.issuer, { csn: CSN2, balance: 100 });
    const n = await cm.slot.insert(honest.os);
    const r = OfflineReading.decode(n.readings!.record!);
    expect(r.events & 0x10).toBe(0x10);
    expect(r.events & 0x20).toBe(0);
  });

  it('still settles a pending transfer of a card it refuses for its binding', async () => {
    const plan = new CutPlan(-1);
    const cm = await gasMeter({ wrap: plan.wrap, svmBalance: 1_000 });
    const card = subscriber(cm.issuer, { balance: 5_000 });
    const sum = meterSide(cm) + 5_000;
    plan.cut = () => {
      cm.slot.remove();
    };
    let found = false;
    for (let i = 0; i < 40 && !found; i++) {
      plan.count = 0;
      plan.cutAt = i;
      plan.armed = true;
      await cm.slot.insert(card.os);
      plan.armed = false;
      if (svmView(cm).pending) found = true;
      if (cm.slot.cardPresent) cm.slot.remove();
      if (!found && purseBalance(card, PURSE_GAS) === 0) break;
    }
    expect(found).toBe(true);
    // Meanwhile the utility binds the card to another meter.
    writeConfig(card, cm.issuer, configFields(1, { meterId: OTHER_METER }));
    const o = await cm.slot.insert(card.os);
    expect(o).toMatchObject({ accepted: false, refusal: 'bound-to-another-meter', amount: 0 });
    expect(['completed', 'cancelled']).toContain(o.recovery);
    expect(svmView(cm).pending).toBeNull();
    expect(meterSide(cm) + purseBalance(card, PURSE_GAS)).toBe(sum);
  });

  it('refuses a configuration with any byte changed after signing (the SAM does not vouch for it)', async () => {
    const cm = await gasMeter();
    const good = signOfflineConfig(cm.issuer, CSN, configFields(5)).record;
    const seen = new Set<string>();
    for (let i = 0; i < 36; i++) {
      const bad = good.slice();
      bad[i]! ^= 0x02; // KT version 1 → 3 at byte 27: one the SAM does not hold
      const card = subscriber(cm.issuer, { balance: 2_000 });
      const sw = putRecord(card, cm.issuer, bad);
      if (i === 0 || i === 4 || sw === 0x6a80) {
        // the card itself refuses a wrong format / purse byte, and an issue time that is not BCD
        expect(i === 0 || i === 4 || (i >= 9 && i <= 14)).toBe(true);
        expect(sw).toBe(0x6a80);
        continue;
      }
      expect(sw).toBe(0x9000);
      const before = meterSide(cm);
      const o = await cm.slot.insert(card.os);
      cm.slot.remove();
      const expected = i >= 1 && i <= 3 ? 'bound-to-another-meter' : 'config-not-authentic';
      expect(o.refusal, `byte ${i}`).toBe(expected);
      expect(o.amount).toBe(0);
      expect(purseBalance(card, PURSE_GAS)).toBe(2_000);
      expect(meterSide(cm)).toBe(before);
      if (o.sw !== undefined) seen.add(o.sw.toString(16));
    }
    expect(seen).toEqual(new Set(['6300', '6a88'])); // MAC wrong; KT version byte 27 unknown
    expect(cm.slot.offline.configVersion).toBe(0);
    expect(cm.meter.schedule.active.unitCharge).toBe(1000);
    expect(cm.meter.events.count('config-applied')).toBe(0);
  });

  it('refuses a configuration signed with the electricity utility’s keys, or for the electricity purse', async () => {
    const cm = await gasMeter();
    // The electricity utility's K_offline for this meter id (its KH[1]) over a gas configuration.
    const elecKey = cm.issuer.offlineMeterKey(fromHex('000123'), PURSE_ELECTRICITY, 1);
    const card = subscriber(cm.issuer, { balance: 3_000 });
    expect(
      putRecord(card, cm.issuer, forgedRecord(configFields(1, { unitCharge: 1 }), elecKey, cm.issuer)),
    ).toBe(0x9000);
    const o = await cm.slot.insert(card.os);
    cm.slot.remove();
    expect(o).toMatchObject({ accepted: false, refusal: 'config-not-authentic', sw: 0x6300, amount: 0 });
    expect(eventData(o, 'config-not-authentic')).toEqual([0x6300]);
    expect(purseBalance(card, PURSE_GAS)).toBe(3_000);
    // A proper electricity configuration on the electricity purse is not the gas meter's business.
    const card2 = subscriber(cm.issuer, { csn: CSN2, balance: 3_000 });
    writeConfig(card2, cm.issuer, configFields(7, { purse: PURSE_ELECTRICITY, unitCharge: 1 }), CSN2);
    const o2 = await cm.slot.insert(card2.os);
    cm.slot.remove();
    expect(o2).toMatchObject({ accepted: true, config: { kind: 'none' }, amount: 3_000 });
    expect(cm.meter.schedule.active.unitCharge).toBe(1000);
    // The b5 flag owed to the utility after the forgery.
    expect(OfflineReading.decode(o2.readings!.record!).events & 0x20).toBe(0x20);
    // A newer authentic configuration clears what the meter owed.
    const card3 = subscriber(cm.issuer, { csn: CSN3, balance: 0 });
    writeConfig(card3, cm.issuer, configFields(2), CSN3);
    const o3 = await cm.slot.insert(card3.os);
    expect(o3.config).toEqual({ kind: 'applied', version: 2 });
    expect(OfflineReading.decode(o3.readings!.record!).events & 0x30).toBe(0);
  });

  it('a configuration copied from one card onto another is not authentic there (the MAC binds the CSN)', async () => {
    const cm = await gasMeter();
    const a = subscriber(cm.issuer, { csn: CSN, balance: 1_000 });
    const record = writeConfig(a, cm.issuer, configFields(9, { unitCharge: 1 }));
    const b = subscriber(cm.issuer, { csn: CSN2, balance: 1_000 });
    expect(putRecord(b, cm.issuer, record, PURSE_GAS, CSN2)).toBe(0x9000); // even if it got written
    const o = await cm.slot.insert(b.os);
    cm.slot.remove();
    expect(o).toMatchObject({ accepted: false, refusal: 'config-not-authentic', sw: 0x6300, amount: 0 });
    expect(purseBalance(b, PURSE_GAS)).toBe(1_000);
    expect(cm.meter.schedule.active.unitCharge).toBe(1000);
    // On its own card it is authentic.
    expect((await cm.slot.insert(a.os)).config).toEqual({ kind: 'applied', version: 9 });
  });

  it('Meter.applyOfflineConfig keeps the registers, the owed emergency credit and a pending table', async () => {
    const m = new Meter(
      { start: 0, commodity: 'gas', tariff: TariffTable.example(100), exchanger: { emergencyCredit: 300 } },
      new MemoryCreditRegister(0),
    );
    await m.service();
    expect(m.pressEmergencyCredit()).toBe(true);
    await m.advance(m.now + 60, 100_000);
    m.loadTariff(new TariffChange(RtcTime.fromSeconds(m.now + 3_600), TariffTable.flat(70, 150)));
    const ex = m.exchanger.saveState();
    expect(() => m.applyOfflineConfig({ emergencyCredit: 2 ** 32, unitCharge: 10 })).toThrow(
      /emergencyCredit/,
    );
    expect(() => m.applyOfflineConfig({ emergencyCredit: 10, unitCharge: 0 })).toThrow(/unitCharge/);
    expect(m.exchanger.emergencyCredit).toBe(300); // refused: nothing changed
    m.applyOfflineConfig({ emergencyCredit: 800, unitCharge: 240 });
    expect(m.exchanger.emergencyCredit).toBe(800);
    expect({ ...m.exchanger.saveState(), emergencyCredit: 300 }).toEqual(ex);
    expect(m.schedule.active.unitCharge).toBe(240);
    expect(m.schedule.active.steps).toEqual([50, 75, 100, 200, 300]);
    expect(m.schedule.pending?.table.unitCharge).toBe(240);
    expect(m.schedule.pending?.table.steps).toEqual([150]);
    expect(m.schedule.pending?.activateAt).toBe(m.now + 3_600);
  });

  it('a card with no configuration is served, unless the meter requires a binding', async () => {
    const open = await gasMeter();
    const card = subscriber(open.issuer, { balance: 1_500 });
    expect(readCardRecord(card, 3, 2).data.every((b) => b === 0)).toBe(true);
    const o = await open.slot.insert(card.os);
    open.slot.remove();
    expect(o).toMatchObject({ accepted: true, amount: 1_500, config: { kind: 'none' } });

    const strict = await gasMeter({ slot: { requireBinding: true } });
    const unbound = subscriber(strict.issuer, { balance: 1_500 });
    const before = meterSide(strict);
    const r = await strict.slot.insert(unbound.os);
    strict.slot.remove();
    expect(r).toMatchObject({ accepted: false, refusal: 'card-not-bound', amount: 0 });
    expect(purseBalance(unbound, PURSE_GAS)).toBe(1_500);
    expect(meterSide(strict)).toBe(before);
    writeConfig(unbound, strict.issuer, configFields(1));
    const bound = await strict.slot.insert(unbound.os);
    expect(bound).toMatchObject({ accepted: true, amount: 1_500, config: { kind: 'applied', version: 1 } });
  });

  it('field limits: version 2^32-1 and unit charge 2^32-1 apply; unit charge 0 is refused, the card served', async () => {
    const cm = await gasMeter();
    const zero = subscriber(cm.issuer, { balance: 100 });
    writeConfig(zero, cm.issuer, configFields(3, { unitCharge: 0 }));
    const o = await cm.slot.insert(zero.os);
    cm.slot.remove();
    expect(o).toMatchObject({ accepted: true, config: { kind: 'rejected', version: 3 } });
    expect(eventData(o, 'config-rejected')).toEqual([3]);
    expect(cm.slot.offline.configVersion).toBe(0);
    expect(cm.meter.schedule.active.unitCharge).toBe(1000);

    const max = subscriber(cm.issuer, { csn: CSN2, balance: 100 });
    writeConfig(
      max,
      cm.issuer,
      configFields(0xffffffff, {
        unitCharge: 0xffffffff,
        emergencyLimit: 0xffffffff,
        blacklistVersion: 0xffffffff,
      }),
      CSN2,
    );
    const m = await cm.slot.insert(max.os);
    cm.slot.remove();
    expect(m.config).toEqual({ kind: 'applied', version: 0xffffffff });
    expect(cm.meter.schedule.active.unitCharge).toBe(0xffffffff);
    expect(cm.meter.exchanger.emergencyCredit).toBe(0xffffffff);
    expect(OfflineReading.decode(m.readings!.record!).configVersion).toBe(0xffffffff);
    // Nothing can be newer now; the saved state round-trips at the maximum.
    const st = JSON.parse(JSON.stringify(cm.slot.saveState()));
    cm.slot.loadState(st);
    expect(cm.slot.offline.configVersion).toBe(0xffffffff);
    expect(() => cm.slot.loadState({ ...st, offline: { ...st.offline, configVersion: 2 ** 32 } })).toThrow(
      /state\.offline\.configVersion/,
    );
    expect(() => cm.slot.loadState({ ...st, offline: { ...st.offline, flags: 0x40 } })).toThrow(
      /state\.offline\.flags/,
    );
    expect(() => cm.slot.loadState({ ...st, offline: { ...st.offline, readingSequence: -1 } })).toThrow(
      /state\.offline\.readingSequence/,
    );
    expect(cm.slot.offline.configVersion).toBe(0xffffffff); // a bad image changes nothing
  });

  for (const kind of ['card pulled', 'power failure'] as const) {
    it(`${kind} before every APDU of an insertion with a new configuration: value conserved, applied once`, async () => {
      const CARD = 3_000;
      const probe = new CutPlan(-1);
      const p = await gasMeter({ wrap: probe.wrap, svmBalance: 1_000 });
      const pc = subscriber(p.issuer, { balance: CARD });
      writeConfig(pc, p.issuer, configFields(1));
      probe.armed = true;
      await p.slot.insert(pc.os);
      const total = probe.count;
      expect(total).toBeGreaterThan(20);
      for (let i = 0; i < total; i++) {
        const plan = new CutPlan(i);
        const cm = await gasMeter({ wrap: plan.wrap, svmBalance: 1_000 });
        const card = subscriber(cm.issuer, { balance: CARD });
        writeConfig(card, cm.issuer, configFields(1));
        const sum = meterSide(cm) + CARD;
        plan.cut =
          kind === 'card pulled'
            ? () => {
                cm.slot.remove();
              }
            : () => cm.powerFail();
        plan.armed = true;
        await cm.slot.insert(card.os);
        plan.armed = false;
        if (!svmView(cm).pending) expect(meterSide(cm) + purseBalance(card, PURSE_GAS)).toBe(sum);
        // Applied or not: never half (the unit charge and the version go together).
        const applied = cm.slot.offline.configVersion === 1;
        expect(cm.meter.schedule.active.unitCharge).toBe(applied ? 130 : 1000);
        expect(cm.meter.exchanger.emergencyCredit).toBe(applied ? 750 : 500);
        if (kind === 'power failure') await cm.powerRestore(cm.meter.now + 60);
        else await cm.slot.insert(card.os);
        expect(svmView(cm).pending).toBeNull();
        expect(meterSide(cm) + purseBalance(card, PURSE_GAS)).toBe(sum);
        expect(cm.slot.offline.configVersion).toBe(1);
        expect(cm.meter.events.count('config-applied')).toBe(1);
        expect(cm.meter.schedule.active.unitCharge).toBe(130);
        // The card ends with a reading of this meter that verifies.
        const rec = readCardRecord(card, 4, 2);
        expect(verifyOfflineReading(cm.issuer, CSN, rec.data), `cut at ${i}`).toBe(true);
        expect(toHex(OfflineReading.decode(rec.data).meterId)).toBe('000123');
        if (cm.slot.cardPresent) cm.slot.remove();
        await cm.meter.advance(cm.meter.now + 60, 20_000);
        expect(meterSide(cm) + purseBalance(card, PURSE_GAS)).toBe(sum);
      }
    });
  }
});
