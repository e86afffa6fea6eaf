/**
 * Attacks on issue 17's utility-authenticated card commands (REMOTE LOAD, PUT CONFIG, CLEAR
 * READINGS) and the offline meter's SAM. The attacker owns everything between the utility's server
 * and the card — the electricity host, the power line, the electricity meter and its SAM — and can
 * keep, repeat, reorder, redirect and edit every command, and cut the card's power at any write.
 * What each authorisation binds: K_remote[p](CSN) binds card and purse; the letter binds the
 * command; seq binds the load to one place in the purse's sequence; the reading MAC binds a clear
 * to one reading; the config version orders configurations.
 */
import { describe, expect, it } from 'vitest';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { CardPowerLostError } from '../../card/os/CardOs.js';
import { IssuerKeys } from '../../card/applets/IssuerKeys.js';
import { AID_PURSE } from '../../card/applets/constants.js';
import { keyPurse, keyRemoteSeq } from '../../card/applets/purse/PurseApplet.js';
import { PurseState } from '../../card/applets/purse/records.js';
import {
  REMOTE_ALREADY_APPLIED,
  REMOTE_APPLIED,
  clearReadingsMacInput,
  configWriteMacInput,
  remoteLoadMacInput,
  signClearReadings,
  signOfflineConfig,
  signRemoteLoad,
  verifyRemoteReceipt,
  type RemoteLoadFields,
} from '../../card/applets/purse/offline.js';
import { deriveOfflineKey } from '../../card/applets/IssuerKeys.js';
import { be32, u32 } from '../../card/util/bigEndian.js';
import { concatBytes, fromHex, toHex } from '../../card/util/hex.js';
import type { World } from '../transfer/world.js';
import { METER_ID, cipher } from '../transfer/world.js';
import { A, CSN, NOW, hexSw, ok, poweredWorld, prepareDebit, tx } from '../applets/harness.js';
import {
  GAS,
  SELLER,
  authenticateWith,
  configFields,
  gasSam,
  load,
  rawRemote,
  readingFields,
  signedReading,
  writeReading,
} from '../applets/offline-helpers.js';

const sw = (w: World, c: CommandApdu): string => hexSw(tx(w.card.os, c).sw);
const img = (w: World): string => toHex(w.card.store.image());
const gas = (w: World): PurseState => PurseState.decode(ok(w.card.os, A.readPurse(GAS)));
const lastSeq = (w: World): number => u32(w.card.store.view(keyRemoteSeq(GAS)) ?? new Uint8Array(4));

function setPurse(w: World, f: (p: PurseState) => PurseState): void {
  const p = PurseState.decode(w.card.store.read(keyPurse(GAS))!);
  w.card.store.commit([[keyPurse(GAS), f(p).encode()]]);
}

/** Sends `c` and asserts the card answered `want` and changed nothing persistent. */
function refused(w: World, c: CommandApdu, want: string): void {
  const before = img(w);
  expect(sw(w, c)).toBe(want);
  expect(img(w)).toBe(before);
}

describe('REMOTE LOAD: replay, redirection, forgery', () => {
  it('a kept load delivered again (now, or after later loads) changes nothing and answers the same receipt', () => {
    const w = poweredWorld({ cardBalance: 100 });
    const one = A.remoteLoad(GAS, signRemoteLoad(w.issuer, load(1, 400)));
    const first = ok(w.card.os, one);
    ok(w.card.os, A.remoteLoad(GAS, signRemoteLoad(w.issuer, load(2, 50))));
    const before = img(w);
    for (let i = 0; i < 3; i++) {
      const again = ok(w.card.os, one);
      expect(again[0]).toBe(REMOTE_ALREADY_APPLIED);
      expect(toHex(again.subarray(7))).toBe(toHex(first.subarray(7)));
    }
    expect(img(w)).toBe(before);
    expect(gas(w).balance).toBe(550);
  });

  it('a load for another card, another purse, or from another scheme is 6300 with nothing changed', () => {
    const w = poweredWorld({ cardBalance: 100 });
    const otherCsn = fromHex('4D50000000000002');
    refused(w, A.remoteLoad(GAS, signRemoteLoad(w.issuer, { ...load(1), csn: otherCsn })), '6300');
    // Signed for the water purse, delivered to the gas purse (and the electricity purse).
    const water = signRemoteLoad(w.issuer, load(1, 1000, 3));
    refused(w, A.remoteLoad(GAS, water), '6300');
    refused(w, A.remoteLoad(1, water), '6300');
    const other = IssuerKeys.demo(cipher, 'another utility');
    refused(w, A.remoteLoad(GAS, signRemoteLoad(other, load(1))), '6300');
    expect(lastSeq(w)).toBe(0);
    // The water load still works where it belongs.
    expect(ok(w.card.os, A.remoteLoad(3, water))[0]).toBe(REMOTE_APPLIED);
  });

  it('an enlarged amount, a changed seq, seller or date-time, or the receipt as MAC: 6300', () => {
    const w = poweredWorld({ cardBalance: 100 });
    const data = signRemoteLoad(w.issuer, load(1, 100));
    for (const [at, v] of [
      [7, 0xff], // amount 100 -> 255
      [4, 0x01], // amount high byte
      [3, 0x02], // seq 1 -> 2
      [8, 0x00], // seller
      [17, 0x01], // date-time seconds
    ] as const) {
      const d = data.slice();
      d[at] = v;
      refused(w, A.remoteLoad(GAS, d), '6300');
    }
    // The card's receipt of a load is no MAC for a load ('A' vs 'R').
    const r = ok(w.card.os, A.remoteLoad(GAS, data));
    const forged = concatBytes(data.subarray(0, 18), r.subarray(7, 15));
    refused(w, A.remoteLoad(GAS, forged), '6300');
    expect(gas(w).balance).toBe(200);
  });

  it('a gap (seq last + 2) is 9409; the load applies after the missing one', () => {
    const w = poweredWorld({ cardBalance: 0 });
    const two = A.remoteLoad(GAS, signRemoteLoad(w.issuer, load(2, 20)));
    refused(w, two, '9409');
    ok(w.card.os, A.remoteLoad(GAS, signRemoteLoad(w.issuer, load(1, 10))));
    expect(ok(w.card.os, two)[0]).toBe(REMOTE_APPLIED);
    refused(w, A.remoteLoad(GAS, signRemoteLoad(w.issuer, load(4, 40))), '9409');
    expect(gas(w).balance).toBe(30);
  });

  it("the electricity meter's SAM keys make none of the three commands", () => {
    const w = poweredWorld({ cardBalance: 0 });
    const sk = w.issuer.samKeys(METER_ID, 1);
    const c = w.issuer.crypto;
    // Every key that SAM holds or can derive for this card and meter.
    const candidates = [
      c.cardKey(sk.mkAuth, CSN),
      c.cardKey(sk.mkDebit, CSN),
      c.cardKey(sk.mkCommission, CSN),
      sk.svm,
      sk.mkAuth,
      sk.mkDebit,
      ...sk.terminal.map(([, kt]) => kt),
      ...sk.terminal.map(([, kt]) => deriveOfflineKey(c, kt)),
    ];
    const f: RemoteLoadFields = load(1, 1000);
    const { record } = signOfflineConfig(w.issuer, CSN, configFields(1));
    const sam = gasSam(w);
    writeReading(w, sam, signedReading(sam, readingFields(1), w));
    const readingMac = ok(w.card.os, A.readOfflineReadings(2)).slice(135, 143);
    for (const k of candidates) {
      for (const p of [1, GAS]) {
        const fp = { ...f, purse: p };
        const rl = concatBytes(be32(1), be32(1000), SELLER, NOW, c.mac(k, remoteLoadMacInput(fp)));
        refused(w, A.remoteLoad(p, rl), '6300');
      }
      refused(w, A.putConfig(GAS, concatBytes(record, c.mac(k, configWriteMacInput(CSN, record)))), '6300');
      const clr = concatBytes(readingMac, c.mac(k, clearReadingsMacInput(CSN, GAS, readingMac)));
      refused(w, A.clearReadings(GAS, clr), '6300');
    }
    expect(gas(w).balance).toBe(0);
  });
});

describe('REMOTE LOAD at the limits', () => {
  it('max balance: 9402 with nothing written; the same load applies once the purse is spent down', () => {
    const w = poweredWorld({ cardBalance: 0 });
    setPurse(w, (p) => new PurseState(900, 1000, 1000, p.unit, 0, 0));
    const cmd = A.remoteLoad(GAS, signRemoteLoad(w.issuer, load(1, 500)));
    refused(w, cmd, '9402');
    refused(w, cmd, '9402');
    // The subscriber spends 400 at the gas meter (a DEBIT in the gas SAM's session).
    const sam = gasSam(w);
    authenticateWith(w, sam, GAS);
    const rv = new Uint8Array(8).fill(0x11);
    const auth = ok(sam.os, A.transferAuth(GAS, 400, 1, NOW, rv));
    ok(w.card.os, A.debit(GAS, 400, fromHex('0000A0B0'), NOW, rv, auth.subarray(0, 8)));
    const r = ok(w.card.os, cmd);
    expect(r[0]).toBe(REMOTE_APPLIED);
    expect(gas(w).balance).toBe(1000);
    expect(gas(w).counter).toBe(2);
  });

  it('counter FFFF: 9404 with nothing written', () => {
    const w = poweredWorld({ cardBalance: 0 });
    setPurse(w, (p) => p.with(0, 0xffff));
    refused(w, A.remoteLoad(GAS, signRemoteLoad(w.issuer, load(1, 1))), '9404');
    setPurse(w, (p) => p.with(0, 0xfffe));
    expect(ok(w.card.os, A.remoteLoad(GAS, signRemoteLoad(w.issuer, load(1, 1))))[0]).toBe(REMOTE_APPLIED);
    expect(gas(w).counter).toBe(0xffff);
  });

  it('amount FFFFFFFF fills a purse of max FFFFFFFF exactly; one unit more is 9402 (no wrap)', () => {
    const w = poweredWorld({ cardBalance: 0 });
    setPurse(w, (p) => new PurseState(0, 0xffffffff, 1000, p.unit, 0, 0));
    const r = ok(w.card.os, A.remoteLoad(GAS, signRemoteLoad(w.issuer, load(1, 0xffffffff))));
    expect(toHex(r.subarray(0, 5))).toBe('01FFFFFFFF');
    refused(w, A.remoteLoad(GAS, signRemoteLoad(w.issuer, load(2, 1))), '9402');
    setPurse(w, (p) => new PurseState(1, 0xffffffff, 1000, p.unit, 1, 0));
    refused(w, A.remoteLoad(GAS, signRemoteLoad(w.issuer, load(2, 0xffffffff))), '9402');
  });

  it('seq FFFFFFFF is the last load a purse can take; seq 0 is never one', () => {
    const w = poweredWorld({ cardBalance: 0 });
    w.card.store.commit([[keyRemoteSeq(GAS), be32(0xfffffffe)]]);
    refused(w, A.remoteLoad(GAS, rawRemote(w, load(0, 5))), '6A80');
    expect(ok(w.card.os, A.remoteLoad(GAS, signRemoteLoad(w.issuer, load(0xffffffff, 5))))[0]).toBe(
      REMOTE_APPLIED,
    );
    expect(lastSeq(w)).toBe(0xffffffff);
    expect(ok(w.card.os, A.remoteLoad(GAS, signRemoteLoad(w.issuer, load(3, 5))))[0]).toBe(
      REMOTE_ALREADY_APPLIED,
    );
    expect(gas(w).balance).toBe(5);
  });
});

/**
 * Cuts the card's power after its k-th store write for every k of the un-torn command (fresh world
 * each time, as test/applets/tearing.test.ts), powers up, and hands the torn world to `check`,
 * with whether the image is the one of before or of after (never a mix).
 */
function tearSweep(
  prepare: (w: World) => CommandApdu,
  check: (w: World, state: 'before' | 'after', cmd: CommandApdu) => void,
): number {
  const ref = poweredWorld({ cardBalance: 100 });
  const cmd = prepare(ref);
  const before = img(ref);
  const w0 = ref.card.store.writeCount;
  ok(ref.card.os, cmd);
  const writes = ref.card.store.writeCount - w0;
  const after = img(ref);
  expect(after).not.toBe(before);
  const seen = new Set<string>();
  for (let k = 1; k <= writes; k++) {
    const w = poweredWorld({ cardBalance: 100 });
    const c = prepare(w);
    w.card.store.armTear(k);
    expect(() => w.card.os.transmit(c.encode())).toThrow(CardPowerLostError);
    w.card.store.disarmTear();
    w.card.os.powerUp();
    const now = img(w);
    expect([before, after]).toContain(now);
    const state = now === before ? 'before' : 'after';
    seen.add(state);
    ok(w.card.os, A.selectAid(AID_PURSE));
    check(w, state, c);
  }
  expect(seen).toEqual(new Set(['before', 'after']));
  return writes;
}

describe('tearing: a power cut at every write', () => {
  it('REMOTE LOAD: the load and its seq or neither; re-delivery credits exactly the amount once', () => {
    const writes = tearSweep(
      (w) => A.remoteLoad(GAS, signRemoteLoad(w.issuer, load(1, 700))),
      (w, state, c) => {
        expect(lastSeq(w)).toBe(state === 'after' ? 1 : 0);
        expect(gas(w).balance).toBe(state === 'after' ? 800 : 100);
        const r = ok(w.card.os, c);
        expect(r[0]).toBe(state === 'after' ? REMOTE_ALREADY_APPLIED : REMOTE_APPLIED);
        expect(verifyRemoteReceipt(w.issuer, load(1, 700), r.subarray(7, 15))).toBe(true);
        expect(ok(w.card.os, c)[0]).toBe(REMOTE_ALREADY_APPLIED);
        expect(gas(w).balance).toBe(800);
        expect(gas(w).counter).toBe(1);
      },
    );
    expect(writes).toBeGreaterThan(1);
  });

  it('PUT CONFIG: the new configuration or the old one, never a mix', () => {
    tearSweep(
      (w) => {
        const s = signOfflineConfig(w.issuer, CSN, configFields(2));
        return A.putConfig(GAS, concatBytes(s.record, s.cardMac));
      },
      (w, state, c) => {
        const rec = ok(w.card.os, A.readOfflineConfig(2));
        expect(u32(rec, 5)).toBe(state === 'after' ? 2 : 0);
        expect(sw(w, c)).toBe(state === 'after' ? '9407' : '9000');
      },
    );
  });

  it('CLEAR READINGS: the reading stays whole or is gone; a retry clears it or answers 6985', () => {
    let mac: Uint8Array = new Uint8Array(8);
    tearSweep(
      (w) => {
        const sam = gasSam(w);
        const r = signedReading(sam, readingFields(5), w);
        writeReading(w, sam, r);
        mac = r.mac;
        return A.clearReadings(GAS, signClearReadings(w.issuer, CSN, GAS, r.mac));
      },
      (w, state, c) => {
        const rec = ok(w.card.os, A.readOfflineReadings(2));
        expect(toHex(rec.subarray(135, 143))).toBe(state === 'after' ? '00'.repeat(8) : toHex(mac));
        expect(sw(w, c)).toBe(state === 'after' ? '6985' : '9000');
        expect(toHex(ok(w.card.os, A.readOfflineReadings(2)))).toBe('00'.repeat(144));
      },
    );
  });
});

describe('the SVM and a remote load at the pending counter', () => {
  it('a type-03 record at the pending counter cancels the pending transfer; an edited one does not', () => {
    const w = poweredWorld({ cardBalance: 1000 });
    const d = prepareDebit(w, 300);
    ok(w.svm.os, d.begin);
    // The DEBIT never reaches the card; a remote load of the same purse takes the counter.
    ok(w.card.os, A.remoteLoad(1, signRemoteLoad(w.issuer, load(1, 50, 1))));
    const rec = ok(w.card.os, A.readLogRecord(1));
    expect(rec[0]).toBe(0x03);
    expect(rec[11]).toBe(d.counter);
    const edited = rec.slice();
    edited[5]! ^= 1; // amount
    expect(hexSw(tx(w.svm.os, A.cancelWithRecord(edited)).sw)).toBe('6300');
    expect(hexSw(tx(w.svm.os, A.cancelWithRecord(rec)).sw)).toBe('9000');
    // The pending DEBIT can no longer be made: its counter is taken.
    expect(hexSw(tx(w.card.os, d.debit).sw)).not.toBe('9000');
  });
});

describe('configuration and readings', () => {
  it('PUT CONFIG downgrade or replay of the current one: 9407 with nothing changed', () => {
    const w = poweredWorld();
    const put = (v: number) => {
      const s = signOfflineConfig(w.issuer, CSN, configFields(v));
      return A.putConfig(GAS, concatBytes(s.record, s.cardMac));
    };
    const v1 = put(1);
    ok(w.card.os, v1);
    ok(w.card.os, put(3));
    refused(w, v1, '9407');
    refused(w, put(3), '9407');
    refused(w, put(2), '9407');
    // A config of this card replayed on another card: 6300.
    const other = poweredWorld({ csn: fromHex('4D50000000000002') });
    refused(other, put(4), '6300');
  });

  it('CLEAR READINGS of a reading replaced meanwhile: 6985, the new reading survives', () => {
    const w = poweredWorld();
    const sam = gasSam(w);
    const a = signedReading(sam, readingFields(1), w);
    writeReading(w, sam, a);
    const collected = ok(w.card.os, A.readOfflineReadings(2));
    const b = signedReading(sam, readingFields(2, { cumulative: 130_000 }), w);
    writeReading(w, sam, b);
    refused(
      w,
      A.clearReadings(GAS, signClearReadings(w.issuer, CSN, GAS, collected.subarray(135, 143))),
      '6985',
    );
    expect(toHex(ok(w.card.os, A.readOfflineReadings(2)))).toBe(toHex(b.encode()));
    // A clear made for this card is no clear for another card's same reading MAC.
    const other = poweredWorld({ csn: fromHex('4D50000000000002') });
    refused(other, A.clearReadings(GAS, signClearReadings(w.issuer, CSN, GAS, b.mac)), '6300');
  });

  it('a config for another meter: SAM CONFIG CHECK 6A80 (the card is bound elsewhere)', () => {
    const w = poweredWorld();
    const sam = gasSam(w);
    const { record } = signOfflineConfig(w.issuer, CSN, configFields(1, { meterId: fromHex('0A0B0D') }));
    expect(hexSw(tx(sam.os, A.samConfigCheck(CSN, record)).sw)).toBe('6A80');
  });

  it('a forged meter MAC passes the card (it cannot check it) but not the SAM: 6300', () => {
    const w = poweredWorld();
    const sam = gasSam(w);
    const { record } = signOfflineConfig(w.issuer, CSN, configFields(1));
    const forged = record.slice();
    forged[22] = 0x10; // unit charge 85 -> 16: cheaper gas
    forged.set(new Uint8Array(8), 28);
    expect(hexSw(tx(sam.os, A.samConfigCheck(CSN, forged)).sw)).toBe('6300');
    // The owning utility's card MAC over the forged record is still needed to put it on the card.
    refused(
      w,
      A.putConfig(GAS, concatBytes(forged, signOfflineConfig(w.issuer, CSN, configFields(1)).cardMac)),
      '6300',
    );
  });

  it('SIGN READINGS for another meter id (or utility) is 6A80: no reading in another meter’s name', () => {
    const w = poweredWorld();
    const sam = gasSam(w);
    const other = signedReading(sam, readingFields(1), w).signedPart();
    other.set(fromHex('0A0B0D'), 1);
    expect(hexSw(tx(sam.os, A.samSignReadings(CSN, other)).sw)).toBe('6A80');
    // The electricity meter's SAM signs no gas reading, not even for its own meter id.
    const mine = signedReading(sam, readingFields(1), w).signedPart();
    mine.set(METER_ID, 1);
    authenticateWith(w, w.sam, 1); // a session with the electricity SAM (its own purse)
    expect(hexSw(tx(w.sam.os, A.samSignReadings(CSN, mine)).sw)).toBe('6A80');
  });
});
