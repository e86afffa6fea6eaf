/**
 * Red team R3: the utility's anomaly check (host/utility/anomalies.ts) and its configuration
 * signing, attacked with readings that should raise an anomaly and do not, and with false alarms.
 * A success was a bug; each fixed one stays here as its regression:
 * - a saturated register (cumulative 2^32 - 1) said nothing while the meter recorded no more
 *   consumption: now `cumulative-saturated`;
 * - a card re-bound to meter B by a configuration still on its way flagged every reading of meter A
 *   (where the card legitimately still is bound) as `bound-elsewhere`: now judged against every
 *   meter the card may be bound to (UtilityDb.boundMeters);
 * - a subscriber who came to the meter daily and then after two weeks away raised
 *   `consumption-jump` (consumption per visit, not per time): now judged per day between the
 *   readings' signed date-times;
 * - `configure` signed a unit charge of 0, which the card takes (and the carrier marks applied) but
 *   every meter rejects: now a RangeError naming `unitCharge`.
 * Held: a u32 wrap (cumulative-backwards), a sequence reused after a reset (a conflict, kept apart).
 */
import { describe, expect, it } from 'vitest';
import { OFFLINE_EVENT_TAMPER } from '../../card/index.js';
import { anomaliesOf, CUMULATIVE_SATURATED } from '../../host/utility/anomalies.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import { GAS_METER } from '../applets/offline-helpers.js';
import { toHex } from '../../card/util/hex.js';
import { CSN_HEX, GAS, relayWorld, signedGasReading, type RelayWorld } from '../host/relayWorld.js';

const METER = toHex(GAS_METER).toUpperCase();
const U32 = 0xffff_ffff;

function ingest(w: RelayWorld, seq: number, cumulative: number, events = 0) {
  return w.gas.ingestReadings(CSN_HEX, [signedGasReading(w, seq, { cumulative, events }).encode()])[0]!;
}

const cfg = (meterId: string, unitCharge = 85) => ({
  meterId,
  emergencyLimit: 0,
  unitCharge,
  blacklistVersion: 0,
});

describe('red team R3: anomalies the utility must see', () => {
  it('a cumulative that wraps at u32 (a meter that wraps instead of saturating) is cumulative-backwards', () => {
    const w = relayWorld();
    expect(ingest(w, 1, U32 - 10).anomalies).toEqual([]);
    expect(ingest(w, 2, 5).anomalies).toEqual(['cumulative-backwards']);
  });

  it('a saturated register is flagged at every reading it stays saturated (fixed: was silent)', () => {
    const w = relayWorld();
    expect(ingest(w, 1, U32 - 1).anomalies).toEqual([]);
    expect(ingest(w, 2, U32).anomalies).toEqual(['cumulative-saturated']);
    // the register no longer moves: delta 0 would look like an empty house
    expect(ingest(w, 3, U32, OFFLINE_EVENT_TAMPER).anomalies).toEqual(['cumulative-saturated', 'tamper']);
    expect(
      anomaliesOf(
        { meterId: 'A', sequence: 1, cumulative: CUMULATIVE_SATURATED, events: 0 },
        undefined,
        [],
        undefined,
      ),
    ).toEqual(['cumulative-saturated']);
    expect(w.gas.db.events('reading-anomaly')).toHaveLength(2);
  });

  it('a reading sequence reused after the meter state was reset is a conflict, never stored over the first', () => {
    const w = relayWorld();
    ingest(w, 1, 1000);
    ingest(w, 2, 1100);
    // NVM reset: the meter counts again from 1 with a fresh register
    const again = ingest(w, 1, 40);
    expect(again).toMatchObject({ status: 'conflict', anomalies: ['sequence-repeat-differs'] });
    expect(ingest(w, 2, 80).status).toBe('conflict');
    // its first new sequence is judged against the old history
    expect(ingest(w, 3, 120).anomalies).toEqual(['cumulative-backwards']);
    expect(w.gas.db.readingsOf(METER).map((r) => [r.seq, r.cumulative])).toEqual([
      [1, 1000],
      [2, 1100],
      [3, 120],
    ]);
    expect(w.gas.db.events('reading-conflict')).toHaveLength(2);
  });

  it('no false bound-elsewhere while a re-binding configuration is on its way (fixed)', async () => {
    const w = relayWorld();
    const v1 = await w.gas.configure(CSN_HEX, cfg(METER));
    expect(w.gas.settleVendedConfig(CSN_HEX, v1.version, 'on-card')).toBe('applied');
    // the subscriber moves: v2 binds the card to another meter, not yet on the card
    await w.gas.configure(CSN_HEX, cfg('0D0E0F'));
    expect(w.gas.db.boundMeters(CSN_HEX, GAS)).toEqual(['0D0E0F', METER]);
    // the card is still at the old meter: its reading is no anomaly
    expect(ingest(w, 1, 500).anomalies).toEqual([]);
    // once v2 is applied, the old meter's readings are bound elsewhere again
    expect(w.gas.settleVendedConfig(CSN_HEX, 2, 0x9000)).toBe('applied');
    expect(w.gas.db.boundMeters(CSN_HEX, GAS)).toEqual(['0D0E0F']);
    expect(ingest(w, 2, 600).anomalies).toEqual(['bound-elsewhere']);
  });

  it('a reading from a meter the card is bound to by no configuration is still flagged', async () => {
    const w = relayWorld();
    const v1 = await w.gas.configure(CSN_HEX, cfg('0D0E0F'));
    w.gas.settleVendedConfig(CSN_HEX, v1.version, 0x9000);
    await w.gas.configure(CSN_HEX, cfg('0D0E10'));
    expect(ingest(w, 1, 500).anomalies).toEqual(['bound-elsewhere']);
    // a refused configuration binds nothing
    w.gas.settleVendedConfig(CSN_HEX, 2, 0x6a80);
    expect(w.gas.db.boundMeters(CSN_HEX, GAS)).toEqual(['0D0E0F']);
    expect(anomaliesOf({ meterId: 'A', sequence: 1, cumulative: 1, events: 0 }, undefined, [], [])).toEqual(
      [],
    );
  });
});

describe('red team R3: consumption-jump judged per day, not per visit', () => {
  const DAY = 86_400;
  const at = (s: number) => RtcTime.fromSeconds(RtcTime.of(2026, 11, 1, 8, 0).seconds + s).encodeBcd();
  const read = (w: RelayWorld, seq: number, cumulative: number, s: number) =>
    w.gas.ingestReadings(CSN_HEX, [
      signedGasReading(w, seq, { cumulative, events: 0, dateTime: at(s) }).encode(),
    ])[0]!.anomalies;

  it('a subscriber who comes daily, then after two weeks away, is no jump (fixed: a false alarm)', () => {
    const w = relayWorld();
    for (let d = 0; d <= 5; d++) expect(read(w, d + 1, 1000 * d, d * DAY)).toEqual([]);
    // 14 days at the same 1 m³ a day: 14 000 L since the last reading
    expect(read(w, 7, 5000 + 14_000, 19 * DAY)).toEqual([]);
    // twenty times the daily rate over a day is a jump
    expect(read(w, 8, 19_000 + 20_000, 20 * DAY)).toEqual(['consumption-jump']);
  });

  it('two visits an hour apart are too short to judge; readings without a usable time fall back to per visit', () => {
    const w = relayWorld();
    for (let d = 0; d <= 5; d++) read(w, d + 1, 1000 * d, d * DAY);
    expect(read(w, 7, 5000 + 50, 5 * DAY + 600)).toEqual([]); // 10 minutes later: not judged
    // the pure check: no times at all is the per-visit rule
    const r = { meterId: 'A', sequence: 9, cumulative: 9000, events: 0 };
    expect(anomaliesOf(r, { seq: 8, cumulative: 400 }, [0, 100, 200, 300, 400], undefined)).toEqual([
      'consumption-jump',
    ]);
  });
});

describe('red team R3: configuration field maxima', () => {
  it('a unit charge of 0 is refused before a version is taken (fixed: it was signed and queued)', async () => {
    const w = relayWorld();
    await expect(w.gas.configure(CSN_HEX, cfg(METER, 0))).rejects.toThrow(/unitCharge/);
    await expect(w.gas.configure(CSN_HEX, cfg(METER, U32 + 1))).rejects.toThrow(/unitCharge/);
    expect(w.gas.db.configs(CSN_HEX, GAS)).toEqual([]);
    expect(w.gas.db.outbox('new').concat(w.gas.db.outbox('submitted'))).toEqual([]);
    // the extremes that a meter accepts are signed, version 1
    const c = await w.gas.configure(CSN_HEX, {
      meterId: METER,
      emergencyLimit: U32,
      unitCharge: U32,
      blacklistVersion: U32,
    });
    expect(c.version).toBe(1);
    await expect(
      w.gas.configure(CSN_HEX, {
        meterId: METER,
        emergencyLimit: U32 + 1,
        unitCharge: 1,
        blacklistVersion: 0,
      }),
    ).rejects.toThrow(/emergencyLimit/);
    // the refused one took no version
    expect((await w.gas.configure(CSN_HEX, { ...cfg(METER), emergencyLimit: 0 })).version).toBe(2);
  });
});
