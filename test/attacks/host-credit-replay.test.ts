/**
 * Attack: mint value by applying one paid host credit twice (issue 10, hole 1).
 *
 * The attacker sits on the meter side of the power line: it sees and can hold back every APDU
 * between the meter's modem, its SAM and its SVM. The audit's version: keep the SAM's HOST
 * COMMAND authorisation of the host's first attempt, let the host's retry through, advance the SVM
 * with other credits and token requests, then submit the kept authorisation. The host was paid
 * once; the SVM must hold the amount once. The same for a recorded HOST CREDIT APDU sent to a
 * fresh SVM personalised with the same meter id.
 */
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex } from '../../card/util/hex.js';
import { SeededRng } from '../../card/crypto/rng.js';
import { makeSam, makeSvm } from '../../card/applets/profiles.js';
import { AID_SAM, AID_SVM } from '../../card/applets/constants.js';
import {
  A,
  coreTokenAuth,
  hexSw,
  hostAuthorise,
  image,
  ok,
  poweredWorld,
  svmState,
  tx,
  u32,
  type World,
} from '../applets/harness.js';
import { METER_ID, TERMINAL_ID } from '../transfer/world.js';

function tokens(w: World, n: number): void {
  for (let i = 0; i < n; i++) {
    const counter = svmState(w).counter + 1;
    ok(w.svm.os, A.tokenRequest(1, counter, ok(w.sam.os, coreTokenAuth(w, 1, counter))));
  }
}

describe('attack: a paid host credit applied twice', () => {
  it("the first attempt's authorisation, kept while the retry goes through, is refused later (audit replay)", () => {
    const w = poweredWorld({ svmBalance: 0 });
    const txId = fromHex('0000000000000101');
    // Attempt 1: the attacker keeps the SAM's authorisation and drops HOST CREDIT (the host times out).
    const kept = hostAuthorise(w, 10_000, txId, 1);
    // Attempt 2, the host's retry with the same tx id: credited once.
    const retry = hostAuthorise(w, 10_000, txId, 3);
    expect(ok(w.svm.os, retry.credit)[0]).toBe(0x00);
    expect(svmState(w).balance).toBe(10_000);
    // The attacker advances the SVM: 8 small credits and 20 token requests.
    for (let i = 2; i <= 9; i++)
      ok(
        w.svm.os,
        hostAuthorise(w, 1, fromHex(`00000000000001${i.toString(16).padStart(2, '0')}`), 10 + 2 * i).credit,
      );
    tokens(w, 20);
    const balance = svmState(w).balance;
    expect(balance).toBe(10_000 + 8 - 20);
    const before = image(w.svm.store);
    // The kept authorisation, as recorded, and after taking a fresh SVM challenge first.
    expect(hexSw(tx(w.svm.os, kept.credit).sw)).toBe('6985');
    ok(w.svm.os, A.getChallenge());
    expect(hexSw(tx(w.svm.os, kept.credit).sw)).toBe('6300');
    // With the HOST COMMAND it came from replayed too: the SAM's new R3 breaks S2h.
    ok(w.sam.os, A.hostInit(1, new Uint8Array(8).fill(1), new Uint8Array(8).fill(2)));
    const rv = ok(w.svm.os, A.getChallenge());
    expect(hexSw(tx(w.sam.os, A.hostCommand(0x51, concatBytes(new Uint8Array(24), rv))).sw)).toBe('6300');
    expect(image(w.svm.store)).toBe(before);
    expect(svmState(w).balance).toBe(balance);
  });

  it('an authorisation for one SVM challenge is refused for every other challenge (1,000 tries)', () => {
    const w = poweredWorld();
    const { auth, r3 } = hostAuthorise(w, 500, fromHex('0000000000000007'), 1);
    const before = image(w.svm.store);
    for (let i = 0; i < 1000; i++) {
      ok(w.svm.os, A.getChallenge());
      expect(tx(w.svm.os, A.hostCredit(500, fromHex('0000000000000007'), auth.subarray(12, 20), r3)).sw).toBe(
        0x6300,
      );
    }
    expect(image(w.svm.store)).toBe(before);
  });

  it('a recorded HOST CREDIT exchange replayed into a fresh SVM with the same meter id moves nothing', () => {
    const w = poweredWorld();
    const a = hostAuthorise(w, 7_000, fromHex('0000000000000042'), 5);
    expect(ok(w.svm.os, a.credit)[0]).toBe(0x00);
    // A second SVM for the same meter (a replacement module, or a clone made from the same keys).
    const fresh = makeSvm(w.issuer, {
      meterId: METER_ID,
      terminalId: TERMINAL_ID,
      max: 100_000,
      rng: new SeededRng('other'),
    });
    fresh.os.powerUp();
    ok(fresh.os, A.selectAid(AID_SVM));
    const before = image(fresh.store);
    expect(hexSw(tx(fresh.os, a.credit).sw)).toBe('6985');
    ok(fresh.os, A.getChallenge()); // the recorded exchange replayed in order: GET CHALLENGE, HOST CREDIT
    expect(hexSw(tx(fresh.os, a.credit).sw)).toBe('6300');
    expect(image(fresh.store)).toBe(before);
    expect(u32(ok(fresh.os, A.readState()), 0)).toBe(0);
  });

  it("the host's first attempt taken to the old SVM and its retry to a replacement SVM of the same meter: credited once", () => {
    const w = poweredWorld();
    // The replacement module pair of the same meter (pairing 2): its own SAM and SVM.
    const ids = { meterId: METER_ID, terminalId: TERMINAL_ID, pairing: 2 };
    const sam2 = makeSam(w.issuer, { ...ids, rng: new SeededRng('sam2') });
    const svm2 = makeSvm(w.issuer, { ...ids, max: 100_000, rng: new SeededRng('svm2') });
    for (const [d, aid] of [
      [sam2, AID_SAM],
      [svm2, AID_SVM],
    ] as const) {
      d.os.powerUp();
      ok(d.os, A.selectAid(aid));
    }
    const txId = fromHex('0000000000000900');
    // Attempt 1 through the old pair: the attacker holds its HOST CREDIT back.
    const first = hostAuthorise(w, 9_000, txId, 1);
    // Attempt 1's authorisation carried to the new SVM, after a challenge of the new SVM's: refused.
    ok(svm2.os, A.getChallenge());
    expect(hexSw(tx(svm2.os, first.credit).sw)).toBe('6300');
    // The old pair's SAM authorising for the new SVM's own challenge: K_svm differs per pair, refused.
    const crossed = hostAuthorise({ ...w, svm: svm2 } as World, 9_000, txId, 3);
    expect(hexSw(tx(svm2.os, crossed.credit).sw)).toBe('6300');
    // The retry through the old pair: credited once there, and nowhere else.
    expect(ok(w.svm.os, hostAuthorise(w, 9_000, txId, 5).credit)[0]).toBe(0x00);
    expect(svmState(w).balance).toBe(9_000);
    expect(u32(ok(svm2.os, A.readState()), 0)).toBe(0);
  });

  it("a host tx id is applied once for the SVM's whole life, also after it left the 8 remembered", () => {
    const w = poweredWorld();
    const first = fromHex('0000000000000010');
    ok(w.svm.os, hostAuthorise(w, 100, first, 1).credit);
    // The same id in a genuine new session: "duplicate", original balance after, nothing credited.
    const dup = ok(w.svm.os, hostAuthorise(w, 100, first, 3).credit);
    expect(dup[0]).toBe(0x01);
    expect(u32(dup, 9)).toBe(100);
    // Gaps are normal (ids are shared by all meters): 0x20, 0x35, ... are accepted.
    for (let i = 0; i < 10; i++)
      ok(
        w.svm.os,
        hostAuthorise(w, 1, fromHex(`00000000000000${(0x20 + 3 * i).toString(16)}`), 5 + 2 * i).credit,
      );
    const before = image(w.svm.store);
    // The first id, now out of the remembered 8, and any id not above the highest: refused 9407.
    expect(hexSw(tx(w.svm.os, hostAuthorise(w, 100, first, 40).credit).sw)).toBe('9407');
    expect(hexSw(tx(w.svm.os, hostAuthorise(w, 100, fromHex('0000000000000021'), 42).credit).sw)).toBe(
      '9407',
    );
    expect(image(w.svm.store)).toBe(before);
    expect(svmState(w).balance).toBe(110);
  });

  it('a credit refused for the maximum balance (status 02) does not consume its tx id', () => {
    const w = poweredWorld({ svmMax: 1000, svmBalance: 900 });
    const id = fromHex('0000000000000050');
    expect(ok(w.svm.os, hostAuthorise(w, 500, id, 1).credit)[0]).toBe(0x02);
    expect(svmState(w).balance).toBe(900);
    // After tokens made room, the host's retry of the same id is credited.
    tokens(w, 400);
    expect(ok(w.svm.os, hostAuthorise(w, 500, id, 3).credit)[0]).toBe(0x00);
    expect(svmState(w).balance).toBe(1000);
  });
});
