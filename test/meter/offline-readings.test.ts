/**
 * Issue 17, readings onto the card: the offline meter writes the 144-byte SFI 04 record of its
 * purse in the same SAM session as the meter data, every tariff step with its own register and
 * percent, MAC'd by its SAM under K_offline — which the owning utility verifies
 * (`verifyOfflineReading`) and nobody else can make.
 */
import { describe, expect, it } from 'vitest';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import type { CardChannel } from '../../reader/CardChannel.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import {
  PURSE_ELECTRICITY,
  PURSE_GAS,
  SFI_OFFLINE_CONFIG,
  SFI_OFFLINE_READINGS,
} from '../../card/applets/constants.js';
import { AID_PURSE } from '../../card/applets/constants.js';
import { MeterData } from '../../card/applets/purse/records.js';
import {
  OfflineReading,
  offlineReadingMacInput,
  signClearReadings,
  verifyOfflineReading,
} from '../../card/applets/purse/offline.js';
import * as A from '../../terminal/apdus.js';
import { interceptChannel } from '../reader/interceptChannel.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import { TariffTable } from '../../protocol/TariffTable.js';
import { CSN, newMeter, purseBalance, subscriber } from './cardWorld.js';
import type { Device } from '../../card/applets/profiles.js';
import type { PurseApplet } from '../../card/applets/purse/PurseApplet.js';
import { cardTx, configFields, gasMeter, readCardRecord, writeConfig } from './offlineWorld.js';

/** Monday 20 July 2026, 00:00: a summer weekday of TariffTable.example (it has the 300 % hours). */
const JULY = RtcTime.of(2026, 7, 20, 0, 0).seconds;
const CSN2 = fromHex('4D50000000000002');

/** A gas meter on the five-step example table that metered 1 m³ an hour for a whole summer Monday. */
async function summerDay() {
  const cm = await gasMeter({
    meter: { start: JULY, tariff: TariffTable.example(100) },
    svmBalance: 100_000,
  });
  await cm.meter.advance(JULY + 86_400, 24_000_000); // 24 m³ spread evenly over the day
  return cm;
}

describe('offline meter: readings onto the card, every step kept', () => {
  it('writes a record the utility verifies, with all five steps (the 300 % one too) and their own registers', async () => {
    const cm = await summerDay();
    const card = subscriber(cm.issuer, { balance: 2_000 });
    const o = await cm.slot.insert(card.os);
    expect(o).toMatchObject({ accepted: true, meterDataWritten: true, readings: { written: true } });
    const raw = readCardRecord(card, 4, 2); // gas is the card's 2nd purse
    expect(raw.sw).toBe(0x9000);
    expect(toHex(raw.data)).toBe(toHex(o.readings!.record!));
    expect(verifyOfflineReading(cm.issuer, CSN, raw.data)).toBe(true);
    const r = OfflineReading.decode(raw.data);
    // 0–7 h and 22–24 h at 50 %, 7–9 h and 18–22 h at 75 %, 9–10 h at 100 %, 10–14 h and 16–18 h
    // at 200 %, 14–16 h at 300 %: litres per step, each in its own register.
    expect(r.stepRegisters).toEqual([9_000, 6_000, 1_000, 6_000, 2_000]);
    expect(r.stepPercents).toEqual([50, 75, 100, 200, 300]);
    expect(r).toMatchObject({
      purse: PURSE_GAS,
      sequence: 1,
      cumulative: 24_000,
      sinceLastCredit: 24_000,
      emergencyUsed: 0,
      unitCharge: 100,
      configVersion: 0,
      ktVersion: 1, // the SAM holds KT[0] and KT[1]: the current one is the highest
    });
    expect(toHex(r.meterId)).toBe('000123');
    expect(toHex(r.dateTime)).toBe(toHex(cm.meter.time.encodeBcd()));
    expect(raw.data[143]).toBe(0);
    expect(raw.data.subarray(38 + 4 * 5, 102).every((b) => b === 0)).toBe(true); // registers 5..15
    expect(raw.data.subarray(102 + 2 * 5, 134).every((b) => b === 0)).toBe(true); // percents 5..15
    // SFI 02 stays as it was: steps 3 and 4 folded into the fourth register.
    const md = MeterData.decode(card.store.read('p.meter.2')!);
    expect(md.tariffRegisters).toEqual([9_000, 6_000, 1_000, 8_000]);
    expect(o.events.map((e) => e.kind)).toContain('readings-written');
  });

  it('a reading with any byte changed, or moved to another card, does not verify', async () => {
    const cm = await summerDay();
    const card = subscriber(cm.issuer, { balance: 0 });
    const o = await cm.slot.insert(card.os);
    const good = o.readings!.record!;
    expect(verifyOfflineReading(cm.issuer, CSN, good)).toBe(true);
    for (let i = 0; i < 144; i++) {
      for (const mask of [0x01, 0x80]) {
        const bad = good.slice();
        bad[i]! ^= mask;
        expect(verifyOfflineReading(cm.issuer, CSN, bad), `byte ${i} ^ ${mask}`).toBe(false);
      }
    }
    // The MAC binds the card: the same bytes found on another card are not a reading of it.
    expect(verifyOfflineReading(cm.issuer, CSN2, good)).toBe(false);
    // Another utility's keys (electricity, same meter id) do not verify it either.
    const r = OfflineReading.decode(good);
    const elec = cm.issuer.offlineMeterKey(r.meterId, PURSE_ELECTRICITY, r.ktVersion);
    const input = offlineReadingMacInput(CSN, r.signedPart());
    expect(cm.issuer.crypto.check(elec, r.mac, input)).toBe(false);
  });

  it('counts its readings (+1 per record, persisted) and writes the applied config version and flags', async () => {
    const cm = await gasMeter();
    const card = subscriber(cm.issuer, { balance: 500 });
    writeConfig(card, cm.issuer, configFields(4));
    const seqs: number[] = [];
    for (let k = 0; k < 3; k++) {
      const o = await cm.slot.insert(card.os);
      cm.slot.remove();
      const r = OfflineReading.decode(readCardRecord(card, 4, 2).data);
      expect(toHex(r.encode())).toBe(toHex(o.readings!.record!));
      seqs.push(r.sequence);
      expect(r.configVersion).toBe(4);
    }
    expect(seqs).toEqual([1, 2, 3]);
    // Power failure and cover opening show as b0 and b2 (since the last credit entry).
    cm.powerFail();
    await cm.powerRestore(cm.meter.now + 60);
    await cm.meter.advance(cm.meter.now + 60, 1_000, { coverOpen: true });
    // A restarted slot continues the sequence from its saved state.
    const cm2 = await gasMeter();
    cm2.slot.loadState(JSON.parse(JSON.stringify(cm.slot.saveState())));
    expect(cm2.slot.offline.readingSequence).toBe(3);
    const o = await cm.slot.insert(card.os);
    cm.slot.remove();
    const r = OfflineReading.decode(o.readings!.record!);
    expect(r.sequence).toBe(4);
    expect(r.events & 0x0f).toBe(0x01 | 0x04);
    const o2 = await cm2.slot.insert(subscriber(cm2.issuer, { csn: CSN2, balance: 0 }).os);
    expect(OfflineReading.decode(o2.readings!.record!).sequence).toBe(4);
  });

  it('the utility clears the reading it collected; the next insertion writes the next one', async () => {
    const cm = await gasMeter();
    const card = subscriber(cm.issuer, { balance: 500 });
    await cm.slot.insert(card.os);
    cm.slot.remove();
    const collected = readCardRecord(card, 4, 2).data;
    expect(verifyOfflineReading(cm.issuer, CSN, collected)).toBe(true);
    cardTx(card, A.selectAid(AID_PURSE));
    const clear = cardTx(
      card,
      A.clearReadings(PURSE_GAS, signClearReadings(cm.issuer, CSN, PURSE_GAS, collected.subarray(135, 143))),
    );
    expect(clear.sw).toBe(0x9000);
    expect(readCardRecord(card, 4, 2).data.every((b) => b === 0)).toBe(true);
    await cm.slot.insert(card.os);
    const next = OfflineReading.decode(readCardRecord(card, 4, 2).data);
    expect(next.sequence).toBe(2);
  });

  it('a card without SFI 03 / 04 (made before issue 17) is served as before, the reading skipped', async () => {
    const oldCard = (inner: CardChannel, role: string): CardChannel =>
      role !== 'card'
        ? inner
        : interceptChannel(inner, async (c: CommandApdu, next) => {
            const sfi = c.p2 >> 3;
            const offline = sfi === SFI_OFFLINE_CONFIG || sfi === SFI_OFFLINE_READINGS;
            if ((c.ins === 0xb2 || c.ins === 0xdc) && (c.p2 & 7) === 4 && offline)
              return ResponseApdu.decode(c.ins === 0xb2 ? fromHex('6A82') : fromHex('6A83'));
            return next(c);
          });
    const cm = await gasMeter({ wrap: oldCard });
    const card = subscriber(cm.issuer, { balance: 1_200 });
    const o = await cm.slot.insert(card.os);
    expect(o).toMatchObject({
      accepted: true,
      amount: 1_200,
      meterDataWritten: true,
      config: { kind: 'none' },
      readings: { written: false, skipped: 'old-card', sw: 0x6a83 },
    });
    expect(purseBalance(card, PURSE_GAS)).toBe(0);
    expect(o.events.map((e) => e.kind)).not.toContain('readings-written');
  });

  it('the electricity meter writes no offline reading unless told to', async () => {
    const e = await newMeter();
    const card = subscriber(e.issuer, { balance: 100 });
    const o = await e.slot.insert(card.os);
    e.slot.remove();
    expect(o.readings).toBeUndefined();
    expect(readCardRecord(card, 4, 1).data.every((b) => b === 0)).toBe(true);
    const told = await newMeter({ slot: { offlineReadings: true } });
    const o2 = await told.slot.insert(card.os);
    expect(o2.readings?.written).toBe(true);
    expect(verifyOfflineReading(told.issuer, CSN, readCardRecord(card, 4, 1).data)).toBe(true);
  });

  it('at the end of the u32 reading sequence it writes no more readings and still serves the card', async () => {
    const cm = await gasMeter();
    const card = subscriber(cm.issuer, { balance: 300 });
    const st = cm.slot.saveState();
    cm.slot.loadState({ ...st, offline: { ...st.offline, readingSequence: 0xfffffffe } });
    const last = await cm.slot.insert(card.os);
    cm.slot.remove();
    expect(OfflineReading.decode(last.readings!.record!).sequence).toBe(0xffffffff);
    const after = await cm.slot.insert(card.os);
    expect(after).toMatchObject({ accepted: true, meterDataWritten: true });
    expect(after.readings).toBeUndefined();
    expect(OfflineReading.decode(readCardRecord(card, 4, 2).data).sequence).toBe(0xffffffff);
  });

  it('a power cut at every write of the readings update leaves the old reading or the new one, both verifying', async () => {
    let card: Device<PurseApplet> | undefined;
    let tearAt = 0;
    let writes = -1;
    const wrap = (inner: CardChannel, role: string): CardChannel =>
      role !== 'card'
        ? inner
        : interceptChannel(inner, async (c: CommandApdu, next) => {
            if (c.ins !== 0xdc || c.p2 !== ((SFI_OFFLINE_READINGS << 3) | 4)) return next(c);
            const store = card!.store;
            const w0 = store.writeCount;
            if (tearAt > 0) store.armTear(tearAt);
            try {
              return await next(c);
            } finally {
              if (tearAt === 0) writes = store.writeCount - w0;
            }
          });
    const seen = new Set<string>();
    for (let k = 0; k <= Math.max(writes, 0); k++) {
      const cm = await gasMeter({ wrap, svmBalance: 1_000 });
      card = subscriber(cm.issuer, { balance: 2_000 });
      tearAt = 0;
      await cm.slot.insert(card.os); // reading 1
      cm.slot.remove();
      const before = readCardRecord(card, 4, 2).data;
      await cm.meter.advance(cm.meter.now + 60, 5_000);
      tearAt = k;
      const o = await cm.slot.insert(card.os); // reading 2, torn after write k (k = 0: not torn)
      cm.slot.remove();
      expect(o.accepted).toBe(true);
      const now = readCardRecord(card, 4, 2).data;
      expect(verifyOfflineReading(cm.issuer, CSN, now), `tear at write ${k}`).toBe(true);
      if (k === 0) {
        expect(writes).toBeGreaterThan(0);
        expect(toHex(now)).toBe(toHex(o.readings!.record!));
        continue;
      }
      expect(o.readings).toMatchObject({ written: false, skipped: 'card-removed' });
      expect([toHex(before), toHex(o.readings!.record!)]).toContain(toHex(now));
      seen.add(toHex(now) === toHex(before) ? 'old' : 'new');
      // The next insertion writes the next sequence number (2 was spent on the torn write).
      tearAt = 0;
      const next = await cm.slot.insert(card.os);
      expect(OfflineReading.decode(next.readings!.record!).sequence).toBe(3);
      expect(purseBalance(card, PURSE_GAS)).toBe(0);
    }
    expect(seen).toEqual(new Set(['old', 'new']));
  });

  it('the card refuses a reading written outside a SAM session (only the meter, in its session, writes it)', async () => {
    const cm = await summerDay();
    const card = subscriber(cm.issuer, { balance: 0 });
    const o = await cm.slot.insert(card.os);
    cm.slot.remove();
    const forged = o.readings!.record!.slice();
    forged[15] = 0; // cumulative made smaller
    cardTx(card, A.selectAid(AID_PURSE));
    expect(cardTx(card, A.updateOfflineReadings(2, forged)).sw).toBe(0x6982);
    expect(toHex(readCardRecord(card, 4, 2).data)).toBe(toHex(o.readings!.record!));
  });
});
