/**
 * Issue 17 on the card and the offline meter's SAM: REMOTE LOAD, PUT CONFIG, CLEAR READINGS, the
 * SFI 03 / 04 records, SAM CONFIG CHECK and SIGN READINGS — every status word in the order of the
 * design, byte-exact answers computed here from the issuer's masters, and a card image whose
 * issue-17 records were never written (what a card made before this change holds).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { buildCard, cardOrigin } from '../../card/os/CardProfiles.js';
import { SeededRng } from '../../card/crypto/rng.js';
import type { Device } from '../../card/applets/profiles.js';
import type { SamApplet } from '../../card/applets/sam/SamApplet.js';
import { AID_PURSE } from '../../card/applets/constants.js';
import { keyPurse } from '../../card/applets/purse/PurseApplet.js';
import { LOG_TYPE_REMOTE_LOAD, LogRecord, PurseState } from '../../card/applets/purse/records.js';
import { recordMacInput } from '../../card/applets/PurseCrypto.js';
import {
  OFFLINE_EVENT_TAMPER,
  OFFLINE_RECORD_PURSES,
  OfflineConfig,
  OfflineReading,
  REMOTE_ALREADY_APPLIED,
  REMOTE_APPLIED,
  clearReadingsMacInput,
  configWriteMacInput,
  offlineConfigMacInput,
  offlineReadingMacInput,
  remoteReceiptInput,
  signClearReadings,
  signOfflineConfig,
  signRemoteLoad,
  verifyOfflineReading,
  verifyRemoteReceipt,
  type OfflineConfigFields,
} from '../../card/applets/purse/offline.js';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { deriveTerminalKey, diversify } from '../../card/crypto/keyHierarchy.js';
import { be16, be32 } from '../../card/util/bigEndian.js';
import { concatBytes, fromHex, toHex } from '../../card/util/hex.js';
import type { World } from '../transfer/world.js';
import { A, CSN, NOW, hexSw, ok, poweredWorld, prepareLoad, tx } from './harness.js';
import {
  GAS,
  GAS_METER,
  SELLER,
  authenticateWith,
  configFields,
  gasSam,
  load,
  rawRemote,
  readingFields,
  signedReading,
  writeReading,
} from './offline-helpers.js';

function setPurse(w: World, id: number, f: (p: PurseState) => PurseState): void {
  const p = PurseState.decode(w.card.store.read(keyPurse(id))!);
  w.card.store.commit([[keyPurse(id), f(p).encode()]]);
}

const sw = (w: World, c: CommandApdu | Uint8Array): string => hexSw(tx(w.card.os, c).sw);

/** A command with other header bytes or data. */
function with_(c: CommandApdu, o: { p1?: number; p2?: number; data?: Uint8Array }): CommandApdu {
  return new CommandApdu({
    cla: c.cla,
    ins: c.ins,
    p1: o.p1 ?? c.p1,
    p2: o.p2 ?? c.p2,
    data: o.data ?? c.data,
    ...(c.ne !== undefined ? { ne: c.ne } : {}),
  });
}

describe('keys', () => {
  it('K_remote and K_offline are the documented diversifications', () => {
    const w = poweredWorld();
    const c = w.issuer.crypto;
    const kCredit = w.issuer.cardKeys(CSN, GAS).credit;
    const remote = diversify(c.cipher, 'tdes', kCredit, new TextEncoder().encode('REMOTE'));
    expect(toHex(w.issuer.remoteKey(CSN, GAS))).toBe(toHex(remote));
    const kh1 = w.issuer.utility(GAS).host.find(([n]) => n === 1)![1];
    const kt = deriveTerminalKey(c.cipher, kh1, GAS_METER);
    const off = diversify(c.cipher, 'tdes', kt, new TextEncoder().encode('OFFLINE'));
    expect(toHex(w.issuer.offlineMeterKey(GAS_METER, GAS, 1))).toBe(toHex(off));
    // Another purse, another card, another meter, another KT version: other keys.
    expect(toHex(w.issuer.remoteKey(CSN, 3))).not.toBe(toHex(remote));
    expect(toHex(w.issuer.offlineMeterKey(GAS_METER, GAS, 0))).not.toBe(toHex(off));
    expect(toHex(w.issuer.offlineMeterKey(fromHex('0A0B0D'), GAS, 1))).not.toBe(toHex(off));
  });

  it('offlineMeterKey throws RangeError for a missing KH version or a bad meter id', () => {
    const w = poweredWorld();
    expect(() => w.issuer.offlineMeterKey(GAS_METER, GAS, 7)).toThrow(/no KH version 7/);
    expect(() => w.issuer.offlineMeterKey(fromHex('0A0B'), GAS, 1)).toThrow(RangeError);
  });
});

describe('REMOTE LOAD 80 56', () => {
  let w: World;
  beforeEach(() => {
    w = poweredWorld({ cardBalance: 1000 });
  });

  it('applies a load: byte-exact answer, receipt, log record type 03, one seq', () => {
    const f = load(1, 2500);
    const cmd = A.remoteLoad(GAS, signRemoteLoad(w.issuer, f));
    expect(toHex(cmd.encode()).slice(0, 10)).toBe('805600021A');
    const r = ok(w.card.os, cmd);
    const receipt = w.issuer.crypto.mac(w.issuer.remoteKey(CSN, GAS), remoteReceiptInput(f));
    expect(toHex(r)).toBe(toHex(concatBytes(Uint8Array.of(REMOTE_APPLIED), be32(3500), be16(1), receipt)));
    expect(verifyRemoteReceipt(w.issuer, f, r.subarray(7, 15))).toBe(true);
    expect(verifyRemoteReceipt(w.issuer, { ...f, amount: 2501 }, r.subarray(7, 15))).toBe(false);
    const log = LogRecord.decode(ok(w.card.os, A.readLogRecord(1)));
    expect(log.type).toBe(LOG_TYPE_REMOTE_LOAD);
    expect([log.purse, log.amount, log.balanceAfter, log.counter]).toEqual([GAS, 2500, 3500, 1]);
    expect(toHex(log.terminalId)).toBe(toHex(SELLER));
    expect(toHex(log.rv)).toBe('0000000100000000');
    const t = { csn: CSN, purse: GAS, amount: 2500, counter: 1, terminalId: SELLER, dateTime: NOW };
    const proof = w.issuer.crypto.mac(
      w.issuer.cardKeys(CSN, GAS).proof,
      recordMacInput('R', t, 3500, log.rv),
    );
    expect(toHex(log.mac)).toBe(toHex(proof));
    expect(log.toJSON().type).toBe('remote load');
    // Only the gas purse changed.
    expect(PurseState.decode(ok(w.card.os, A.readPurse(1))).balance).toBe(1000);
  });

  it('a second delivery answers outcome 02 with the same receipt and writes nothing', () => {
    const data = signRemoteLoad(w.issuer, load(1, 2500));
    const first = ok(w.card.os, A.remoteLoad(GAS, data));
    const img = toHex(w.card.store.image());
    const again = ok(w.card.os, A.remoteLoad(GAS, data));
    expect(again[0]).toBe(REMOTE_ALREADY_APPLIED);
    expect(toHex(again.subarray(1))).toBe(toHex(first.subarray(1)));
    expect(toHex(w.card.store.image())).toBe(img);
  });

  it('checks in the design order: 6A86 6A88 6700 6985 6300 6A80 6A80 9000/02 9409 9404 9402', () => {
    const good = A.remoteLoad(GAS, signRemoteLoad(w.issuer, load(1)));
    // P1 first, even with a purse that does not exist.
    expect(sw(w, with_(good, { p1: 1, p2: 9 }))).toBe('6A86');
    // No purse 9 (nor 0), even with a wrong length.
    expect(sw(w, with_(good, { p2: 9, data: new Uint8Array(25) }))).toBe('6A88');
    expect(sw(w, with_(good, { p2: 0 }))).toBe('6A88');
    expect(sw(w, with_(good, { data: new Uint8Array(25) }))).toBe('6700');
    expect(sw(w, with_(good, { data: new Uint8Array(27) }))).toBe('6700');
    // Blocked purse before the MAC.
    setPurse(w, GAS, (p) => new PurseState(p.balance, p.max, p.limit, p.unit, p.counter, 1));
    expect(sw(w, with_(good, { data: new Uint8Array(26) }))).toBe('6985');
    setPurse(w, GAS, (p) => new PurseState(p.balance, p.max, p.limit, p.unit, p.counter, 0));
    // MAC before the date-time and seq checks.
    const badDate = rawRemote(w, { ...load(1), dateTime: fromHex('261322083000') });
    badDate[25]! ^= 1;
    expect(sw(w, A.remoteLoad(GAS, badDate))).toBe('6300');
    expect(sw(w, A.remoteLoad(GAS, rawRemote(w, { ...load(1), dateTime: fromHex('261322083000') })))).toBe(
      '6A80',
    );
    expect(sw(w, A.remoteLoad(GAS, rawRemote(w, load(0))))).toBe('6A80');
    expect(sw(w, A.remoteLoad(GAS, rawRemote(w, load(1, 0))))).toBe('6A80');
    // Gap before counter and max.
    setPurse(w, GAS, (p) => p.with(p.max, 0xffff));
    expect(sw(w, A.remoteLoad(GAS, rawRemote(w, load(2))))).toBe('9409');
    expect(sw(w, good)).toBe('9404');
    setPurse(w, GAS, (p) => p.with(p.max, 0xfffe));
    expect(sw(w, good)).toBe('9402');
    setPurse(w, GAS, (p) => p.with(p.max - 1000, 0xfffe));
    expect(ok(w.card.os, good)[0]).toBe(REMOTE_APPLIED);
    // Already applied wins over counter and max (nothing is written).
    setPurse(w, GAS, (p) => p.with(p.max, 0xffff));
    expect(ok(w.card.os, good)[0]).toBe(REMOTE_ALREADY_APPLIED);
  });

  it('needs no SAM session, no challenge and no PIN', () => {
    const pw = poweredWorld({ pin: '1234' });
    const r = ok(pw.card.os, A.remoteLoad(GAS, signRemoteLoad(pw.issuer, load(1, 10))));
    expect(r[0]).toBe(REMOTE_APPLIED);
  });
});

describe('PUT CONFIG 80 58 and SFI 03', () => {
  let w: World;
  beforeEach(() => {
    w = poweredWorld();
  });

  const put = (w: World, version: number, o: Partial<OfflineConfigFields> = {}) => {
    const s = signOfflineConfig(w.issuer, CSN, configFields(version, o));
    return { ...s, cmd: A.putConfig(GAS, concatBytes(s.record, s.cardMac)) };
  };

  it('stores the record; READ RECORD 00 B2 02 1C gives it back byte for byte', () => {
    expect(toHex(ok(w.card.os, A.readOfflineConfig(2)))).toBe('00'.repeat(36));
    const { record, cardMac, cmd } = put(w, 1);
    expect(toHex(cmd.encode()).slice(0, 10)).toBe('805800022C');
    // The layout of the design, field by field.
    expect(toHex(record.subarray(0, 28))).toBe(
      '01' + '0A0B0C' + '02' + '00000001' + toHex(NOW) + '000001F4' + '00000055' + '00000003' + '01',
    );
    const ko = w.issuer.offlineMeterKey(GAS_METER, GAS, 1);
    expect(toHex(record.subarray(28))).toBe(
      toHex(w.issuer.crypto.mac(ko, offlineConfigMacInput(CSN, record.subarray(0, 28)))),
    );
    expect(toHex(cardMac)).toBe(
      toHex(w.issuer.crypto.mac(w.issuer.remoteKey(CSN, GAS), configWriteMacInput(CSN, record))),
    );
    expect(ok(w.card.os, cmd)).toHaveLength(0);
    const back = ok(w.card.os, A.readOfflineConfig(2));
    expect(toHex(back)).toBe(toHex(record));
    const c = OfflineConfig.decode(back);
    expect([c.version, c.emergencyLimit, c.unitCharge, c.blacklistVersion, c.ktVersion]).toEqual([
      1, 500, 85, 3, 1,
    ]);
    expect(c.isEmpty).toBe(false);
    // Other purses' records are untouched.
    expect(toHex(ok(w.card.os, A.readOfflineConfig(3)))).toBe('00'.repeat(36));
  });

  it('checks in the design order: 6A86 6A88 6700 6A80 6300 9407', () => {
    const { cmd } = put(w, 5);
    expect(sw(w, with_(cmd, { p1: 1, p2: 9 }))).toBe('6A86');
    expect(sw(w, with_(cmd, { p2: 9, data: new Uint8Array(43) }))).toBe('6A88');
    expect(sw(w, with_(cmd, { data: new Uint8Array(43) }))).toBe('6700');
    // Format and purse byte before the MAC (a zero MAC here).
    const d = cmd.data;
    d[0] = 2;
    d[43]! ^= 1;
    expect(sw(w, with_(cmd, { data: d }))).toBe('6A80');
    const other = put(w, 5, { purse: 3 });
    expect(sw(w, with_(other.cmd, { p2: GAS }))).toBe('6A80');
    const bad = cmd.data;
    bad[43]! ^= 1;
    expect(sw(w, with_(cmd, { data: bad }))).toBe('6300');
    ok(w.card.os, cmd);
    expect(sw(w, cmd)).toBe('9407');
    expect(sw(w, put(w, 4).cmd)).toBe('9407');
    expect(sw(w, put(w, 6).cmd)).toBe('9000');
    expect(OfflineConfig.decode(ok(w.card.os, A.readOfflineConfig(2))).version).toBe(6);
  });
});

describe('SFI 04 offline readings, UPDATE RECORD and CLEAR READINGS 80 5A', () => {
  let w: World;
  let sam: Device<SamApplet>;
  beforeEach(() => {
    w = poweredWorld();
    sam = gasSam(w);
  });

  it('SIGN READINGS answers the documented MAC; the card stores the record; the utility verifies it', () => {
    expect(toHex(ok(w.card.os, A.readOfflineReadings(2)))).toBe('00'.repeat(144));
    const r = signedReading(sam, readingFields(7), w);
    const ko = w.issuer.offlineMeterKey(GAS_METER, GAS, 1);
    expect(toHex(r.mac)).toBe(toHex(w.issuer.crypto.mac(ko, offlineReadingMacInput(CSN, r.signedPart()))));
    const cmd = A.updateOfflineReadings(2, r.encode());
    expect(toHex(cmd.encode()).slice(0, 10)).toBe('00DC022490');
    writeReading(w, sam, r);
    const back = ok(w.card.os, A.readOfflineReadings(2));
    expect(toHex(back)).toBe(toHex(r.encode()));
    expect(back[143]).toBe(0);
    const d = OfflineReading.decode(back);
    expect([d.sequence, d.cumulative, d.events, d.stepRegisters, d.stepPercents]).toEqual([
      7,
      123_456,
      OFFLINE_EVENT_TAMPER,
      [700, 89],
      [100, 150],
    ]);
    expect(verifyOfflineReading(w.issuer, CSN, back)).toBe(true);
    // Bound to the card: the same record on another CSN does not verify.
    expect(verifyOfflineReading(w.issuer, fromHex('4D50000000000002'), back)).toBe(false);
    const changed = back.slice();
    changed[15]! ^= 1;
    expect(verifyOfflineReading(w.issuer, CSN, changed)).toBe(false);
    expect(verifyOfflineReading(w.issuer, CSN, new Uint8Array(144))).toBe(false);
  });

  it('UPDATE RECORD on SFI 04: 6A83 6700 6982 6982 6A80, only in a session for that purse', () => {
    const r = signedReading(sam, readingFields(1), w).encode();
    expect(sw(w, A.updateOfflineReadings(6, r))).toBe('6A83');
    expect(sw(w, with_(A.updateOfflineReadings(2, r), { data: r.subarray(0, 143) }))).toBe('6700');
    expect(sw(w, A.updateOfflineReadings(2, r))).toBe('6982');
    // A session of the electricity SAM (purse 1) cannot write the gas record.
    const e = ok(w.card.os, A.getChallenge());
    const init = ok(w.sam.os, A.authInit(CSN, e));
    ok(
      w.sam.os,
      A.authFinish(ok(w.card.os, A.mutualAuthenticate(init.subarray(0, 8), init.subarray(8, 16), 1))),
    );
    expect(sw(w, A.updateOfflineReadings(2, r))).toBe('6982');
    authenticateWith(w, sam, GAS);
    const badFormat = r.slice();
    badFormat[0] = 0;
    expect(sw(w, A.updateOfflineReadings(2, badFormat))).toBe('6A80');
    const otherPurse = r.slice();
    otherPurse[4] = 3;
    expect(sw(w, A.updateOfflineReadings(2, otherPurse))).toBe('6A80');
    expect(toHex(ok(w.card.os, A.readOfflineReadings(2)))).toBe('00'.repeat(144));
    expect(sw(w, A.updateOfflineReadings(2, r))).toBe('9000');
  });

  it('CLEAR READINGS zeroes the collected reading; checks 6A86 6A88 6700 6300 6985', () => {
    const r = signedReading(sam, readingFields(3), w);
    writeReading(w, sam, r);
    const data = signClearReadings(w.issuer, CSN, GAS, r.mac);
    expect(toHex(data.subarray(8))).toBe(
      toHex(w.issuer.crypto.mac(w.issuer.remoteKey(CSN, GAS), clearReadingsMacInput(CSN, GAS, r.mac))),
    );
    const cmd = A.clearReadings(GAS, data);
    expect(toHex(cmd.encode()).slice(0, 10)).toBe('805A000210');
    expect(sw(w, with_(cmd, { p1: 1, p2: 9 }))).toBe('6A86');
    expect(sw(w, with_(cmd, { p2: 9, data: new Uint8Array(15) }))).toBe('6A88');
    expect(sw(w, with_(cmd, { data: new Uint8Array(17) }))).toBe('6700');
    const bad = data.slice();
    bad[15]! ^= 1;
    expect(sw(w, A.clearReadings(GAS, bad))).toBe('6300');
    // A genuine clear of another reading MAC: 6985.
    expect(
      sw(w, A.clearReadings(GAS, signClearReadings(w.issuer, CSN, GAS, new Uint8Array(8).fill(7)))),
    ).toBe('6985');
    expect(ok(w.card.os, cmd)).toHaveLength(0);
    expect(toHex(ok(w.card.os, A.readOfflineReadings(2)))).toBe('00'.repeat(144));
    // Nothing left to clear: 6985 (also for a zero reading MAC).
    expect(sw(w, cmd)).toBe('6985');
    expect(sw(w, A.clearReadings(GAS, signClearReadings(w.issuer, CSN, GAS, new Uint8Array(8))))).toBe(
      '6985',
    );
  });

  it('READ RECORD: SFI 03 / 04 record n = purse position 1..5; 6A83 beyond; 6A86 for n = 0', () => {
    for (let n = 1; n <= 5; n++) {
      expect(ok(w.card.os, A.readOfflineConfig(n))).toHaveLength(36);
      expect(ok(w.card.os, A.readOfflineReadings(n))).toHaveLength(144);
    }
    expect(sw(w, A.readOfflineConfig(6))).toBe('6A83');
    expect(sw(w, A.readOfflineReadings(6))).toBe('6A83');
    expect(sw(w, A.readOfflineReadings(0))).toBe('6A86');
  });
});

describe('SAM CONFIG CHECK 80 1C and SIGN READINGS 80 1E', () => {
  it('CONFIG CHECK: 9000 for its own config; 6A86 6700 6A80 (format, purse, meter) 6A88 6300', () => {
    const w = poweredWorld();
    const sam = gasSam(w);
    const { record } = signOfflineConfig(w.issuer, CSN, configFields(1));
    const s = (c: CommandApdu) => hexSw(tx(sam.os, c).sw);
    const good = A.samConfigCheck(CSN, record);
    expect(toHex(good.encode()).slice(0, 10)).toBe('801C00002C');
    expect(ok(sam.os, good)).toHaveLength(0);
    expect(s(with_(good, { p2: 1 }))).toBe('6A86');
    expect(s(with_(good, { data: new Uint8Array(43) }))).toBe('6700');
    const f = record.slice();
    f[0] = 0;
    expect(s(A.samConfigCheck(CSN, f))).toBe('6A80');
    expect(
      s(A.samConfigCheck(CSN, signOfflineConfig(w.issuer, CSN, configFields(1, { purse: 3 })).record)),
    ).toBe('6A80');
    const other = signOfflineConfig(w.issuer, CSN, configFields(1, { meterId: fromHex('0A0B0D') })).record;
    expect(s(A.samConfigCheck(CSN, other))).toBe('6A80');
    const unknownN = record.slice();
    unknownN[27] = 9;
    expect(s(A.samConfigCheck(CSN, unknownN))).toBe('6A88');
    // KT version 0 is a version the SAM has: a config signed under KT[0] passes too.
    expect(
      ok(
        sam.os,
        A.samConfigCheck(CSN, signOfflineConfig(w.issuer, CSN, configFields(1, { ktVersion: 0 })).record),
      ),
    ).toHaveLength(0);
    // Another card's config (the CSN is in the MAC), a changed field, a changed MAC: 6300.
    expect(s(A.samConfigCheck(fromHex('4D50000000000002'), record))).toBe('6300');
    const changed = record.slice();
    changed[18]! ^= 1;
    expect(s(A.samConfigCheck(CSN, changed))).toBe('6300');
  });

  it('SIGN READINGS: 6A86 6700 6982 (no card session) 6A80 (another card, format, meter, purse, date, seq, steps) 6A88', () => {
    const w = poweredWorld();
    const sam = gasSam(w);
    const body = new OfflineReading(readingFields(1)).signedPart();
    const s = (c: CommandApdu) => hexSw(tx(sam.os, c).sw);
    const good = A.samSignReadings(CSN, body);
    expect(s(good)).toBe('6982'); // only for a card this SAM has just authenticated
    authenticateWith(w, sam, GAS);
    expect(s(A.samSignReadings(fromHex('4D50000000000009'), body))).toBe('6A80'); // not that card
    expect(toHex(good.encode()).slice(0, 10)).toBe('801E00008F');
    expect(ok(sam.os, good)).toHaveLength(8);
    expect(s(with_(good, { p1: 1 }))).toBe('6A86');
    expect(s(with_(good, { data: new Uint8Array(142) }))).toBe('6700');
    const edit = (i: number, v: number) => {
      const b = body.slice();
      b[i] = v;
      return s(A.samSignReadings(CSN, b));
    };
    expect(edit(0, 2)).toBe('6A80');
    expect(edit(3, 0x0d)).toBe('6A80');
    expect(edit(4, 3)).toBe('6A80');
    expect(edit(134, 9)).toBe('6A88');
  });
});

describe('records', () => {
  it('OfflineConfig / OfflineReading round-trip; all zeros is the empty record', () => {
    const c = new OfflineConfig(configFields(9)).withMac(fromHex('0102030405060708'));
    expect(toHex(OfflineConfig.decode(c.encode()).encode())).toBe(toHex(c.encode()));
    expect(OfflineConfig.decode(new Uint8Array(36)).isEmpty).toBe(true);
    const r = new OfflineReading(
      readingFields(2, { stepRegisters: Array(16).fill(0xffffffff), stepPercents: Array(16).fill(0xffff) }),
    );
    expect(toHex(OfflineReading.decode(r.encode()).encode())).toBe(toHex(r.encode()));
    expect(OfflineReading.decode(new Uint8Array(144)).isEmpty).toBe(true);
    expect(r.isEmpty).toBe(false);
  });

  it('decode throws MalformedDataError with the offset', () => {
    const at = (f: () => unknown): number => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(MalformedDataError);
        return (e as MalformedDataError).offset;
      }
      throw new Error('no error');
    };
    const c = new OfflineConfig(configFields(1)).encode();
    expect(at(() => OfflineConfig.decode(c.subarray(0, 35)))).toBe(35);
    expect(at(() => OfflineConfig.decode(Uint8Array.of(2, ...c.subarray(1))))).toBe(0);
    const v0 = c.slice();
    v0.set([0, 0, 0, 0], 5);
    expect(at(() => OfflineConfig.decode(v0))).toBe(5);
    const r = new OfflineReading(readingFields(1)).encode();
    expect(at(() => OfflineReading.decode(concatBytes(r, Uint8Array.of(0))))).toBe(144);
    const bad = (i: number, v: number) => {
      const b = r.slice();
      b[i] = v;
      return at(() => OfflineReading.decode(b));
    };
    expect(bad(0, 0)).toBe(0);
    expect(bad(10, 0x13)).toBe(9);
    expect(bad(37, 0)).toBe(37);
    expect(bad(37, 17)).toBe(37);
    expect(bad(38 + 4 * 2 + 3, 1)).toBe(38 + 8);
    expect(bad(102 + 2 * 5, 1)).toBe(102 + 10);
    expect(bad(143, 1)).toBe(143);
  });

  it('constructors and signers name the field that does not fit', () => {
    expect(
      () =>
        new OfflineReading(
          readingFields(1, { stepRegisters: Array(17).fill(0), stepPercents: Array(17).fill(0) }),
        ),
    ).toThrow(/stepRegisters/);
    expect(() => new OfflineReading(readingFields(1, { cumulative: 2 ** 32 }))).toThrow(/cumulative/);
    expect(() => new OfflineConfig(configFields(1, { meterId: fromHex('0A') }))).toThrow(/meterId/);
    const w = poweredWorld();
    expect(() => signRemoteLoad(w.issuer, load(0))).toThrow(/seq/);
    expect(() => signRemoteLoad(w.issuer, load(1, 2 ** 32))).toThrow(/amount/);
    expect(() => signOfflineConfig(w.issuer, CSN, configFields(0))).toThrow(/version/);
    expect(() => signOfflineConfig(w.issuer, CSN, configFields(1, { ktVersion: 5 }))).toThrow(/KH version 5/);
  });
});

describe('a card with more purses than OFFLINE_RECORD_PURSES', () => {
  it('purses 1..6 have SFI 03 / 04 records; purse 7 has none (6A83, PUT CONFIG 6A84) but takes remote loads', () => {
    const purses = Array.from({ length: 7 }, (_, i) => ({ id: i + 1, max: 100_000, limit: 1000, unit: 978 }));
    const w = poweredWorld({ purses });
    expect(OFFLINE_RECORD_PURSES).toBe(6);
    expect(ok(w.card.os, A.readOfflineReadings(6))).toHaveLength(144);
    expect(sw(w, A.readOfflineConfig(7))).toBe('6A83');
    expect(sw(w, A.readOfflineReadings(7))).toBe('6A83');
    const s = signOfflineConfig(w.issuer, CSN, configFields(1, { purse: 7 }));
    expect(sw(w, A.putConfig(7, concatBytes(s.record, s.cardMac)))).toBe('6A84');
    expect(ok(w.card.os, A.remoteLoad(7, signRemoteLoad(w.issuer, load(1, 5, 7))))[0]).toBe(REMOTE_APPLIED);
  });
});

describe('a card image from before issue 17', () => {
  it('works unchanged: the new records read as zeros, the first remote load is seq 1', () => {
    const w = poweredWorld({ cardBalance: 1000 });
    // Old commands only, as an old card would have seen.
    ok(w.card.os, prepareLoad(w, 10, GAS));
    ok(w.card.os, A.readPurse(1));
    const image = w.card.os.store.image();
    const origin = cardOrigin(w.card.os)!;
    // The issue-17 regions come after every older one (the first is p.rload of the first purse),
    // and personalisation and the old commands wrote nothing there: from that offset on, the data
    // area holds the zeros an image made before the change holds after its last region.
    const first = w.card.os.store.allocate('purse:p.rload.01', 6);
    const meter5 = w.card.os.store.allocate('purse:p.meter.5', 74);
    expect(first.offset).toBe(meter5.offset + meter5.size);
    expect(image.subarray(first.offset, w.card.os.store.dataSize).every((b) => b === 0)).toBe(true);
    const old = buildCard(origin.profile, origin.config, image, {
      cipher: w.issuer.crypto.cipher,
      rng: new SeededRng('old'),
    });
    old.powerUp();
    ok(old, A.selectAid(AID_PURSE));
    const r = (c: CommandApdu) => ok(old, c);
    expect(toHex(r(A.readOfflineConfig(2)))).toBe('00'.repeat(36));
    expect(toHex(r(A.readOfflineReadings(2)))).toBe('00'.repeat(144));
    expect(PurseState.decode(r(A.readPurse(GAS))).balance).toBe(1010);
    expect(hexSw(tx(old, A.remoteLoad(GAS, signRemoteLoad(w.issuer, load(2)))).sw)).toBe('9409');
    expect(r(A.remoteLoad(GAS, signRemoteLoad(w.issuer, load(1, 5))))[0]).toBe(REMOTE_APPLIED);
    expect(PurseState.decode(r(A.readPurse(GAS))).balance).toBe(1015);
  });
});
