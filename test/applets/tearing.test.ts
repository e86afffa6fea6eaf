/**
 * Tearing sweeps of the single-chip value-changing commands (LOAD, DEBIT on the card; TOKEN
 * REQUEST, BEGIN / COMPLETE / CANCEL TRANSFER on the SVM): power cut after every low-level write,
 * then power-up; the chip holds the state of before or of after, never a mix.
 */
import { describe, expect, it } from 'vitest';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { CardPowerLostError } from '../../card/os/CardOs.js';
import { AID_PURSE, AID_SVM } from '../../card/applets/constants.js';
import type { World } from '../transfer/world.js';
import { HostSide } from '../transfer/hostSide.js';
import { deriveTerminalKey } from '../../card/crypto/keyHierarchy.js';
import { concatBytes } from '../../card/util/hex.js';
import { A, coreTokenAuth, image, ok, poweredWorld, prepareDebit, prepareLoad, u32 } from './harness.js';

/**
 * Builds a fresh world per k, prepares the command, tears after the k-th write, powers up again and
 * checks the store is exactly `before` or exactly `after` (the store image with no tear).
 */
function tearSweep(
  chip: 'card' | 'svm',
  prepare: (w: World) => CommandApdu,
  pin?: string,
): { writes: number } {
  // Reference run: the image before and after without a tear.
  const ref = poweredWorld({ cardBalance: 1000, svmBalance: 500, ...(pin ? { pin } : {}) });
  const cmd = prepare(ref);
  const store = ref[chip].store;
  const before = image(store);
  const w0 = store.writeCount;
  ref[chip].os.transmit(cmd.encode());
  const writes = store.writeCount - w0;
  const after = image(store);
  expect(after).not.toBe(before);
  const seen = new Set<string>();
  for (let k = 1; k <= writes; k++) {
    const w = poweredWorld({ cardBalance: 1000, svmBalance: 500, ...(pin ? { pin } : {}) });
    const c = prepare(w);
    w[chip].store.armTear(k);
    expect(() => w[chip].os.transmit(c.encode())).toThrow(CardPowerLostError);
    expect(w[chip].os.powered).toBe(false);
    w[chip].os.powerUp();
    const now = image(w[chip].store);
    expect([before, after]).toContain(now);
    seen.add(now === before ? 'before' : 'after');
    // The chip works normally afterwards.
    ok(w[chip].os, A.selectAid(chip === 'card' ? AID_PURSE : AID_SVM));
  }
  expect(seen).toEqual(new Set(['before', 'after']));
  return { writes };
}

describe('tearing sweeps', () => {
  it('LOAD', () => {
    expect(tearSweep('card', (w) => prepareLoad(w, 300)).writes).toBe(8);
  });

  it('DEBIT', () => {
    tearSweep('card', (w) => prepareDebit(w, 300).debit);
  });

  it('TOKEN REQUEST', () => {
    tearSweep('svm', (w) => A.tokenRequest(100, 1, ok(w.sam.os, coreTokenAuth(w, 100, 1))));
  });

  it('BEGIN TRANSFER', () => {
    tearSweep('svm', (w) => prepareDebit(w, 300).begin);
  });

  it('COMPLETE TRANSFER', () => {
    tearSweep('svm', (w) => {
      const d = prepareDebit(w, 300);
      ok(w.svm.os, d.begin);
      const r = ok(w.card.os, d.debit);
      return A.completeTransfer(u32(r, 0), r.subarray(6, 14));
    });
  });

  it('CANCEL TRANSFER', () => {
    tearSweep('svm', (w) => {
      ok(w.svm.os, prepareDebit(w, 300).begin);
      const rv = ok(w.svm.os, A.getChallenge());
      const s = ok(w.card.os, A.readPurse(1, rv));
      return A.cancelWithStatus(u32(s, 0), 0, s.subarray(17, 25));
    });
  });

  it('HOST CREDIT', () => {
    tearSweep('svm', (w) => {
      const host = new HostSide(w.issuer.crypto.cipher);
      const kt = deriveTerminalKey(
        w.issuer.crypto.cipher,
        w.issuer.utility(1).host[0]![1],
        Uint8Array.of(0, 1, 0x23),
      );
      const rv = ok(w.svm.os, A.getChallenge());
      const r = ok(w.sam.os, A.hostInit(0, new Uint8Array(8), new Uint8Array(8)));
      const ks = host.sessionKey(kt, new Uint8Array(8));
      const tx = new Uint8Array(8).fill(9);
      const en = host.encryptAmount(ks, 100, tx);
      const auth = ok(
        w.sam.os,
        A.hostCommand(0x51, concatBytes(en, host.s2(ks, 0x51, r.subarray(8, 16), en), rv)),
      );
      return A.hostCredit(100, tx, auth.subarray(12, 20), r.subarray(8, 16));
    });
  });

  it('PIN try counter (a torn wrong VERIFY cannot give a free try)', () => {
    tearSweep(
      'card',
      () => A.verifyPin(Uint8Array.from([0x30, 0x30, 0x30, 0x30, 0xff, 0xff, 0xff, 0xff])),
      '1234',
    );
  });
});
