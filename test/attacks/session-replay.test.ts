/**
 * Attack: record every APDU of real sessions — a card-to-SVM transfer, a vending LOAD, a host value
 * store, token requests — and play them back, in order, to the same chips later and to fresh chips
 * personalised identically (same keys, same CSN and meter id; only their random challenges differ,
 * as they would between two power-ups). A replay must move no value anywhere: every recorded
 * authorisation was bound to a challenge, a counter or a session that is gone.
 */
import { describe, expect, it } from 'vitest';
import type { CardChannel } from '../../reader/CardChannel.js';
import { interceptChannel } from '../reader/interceptChannel.js';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import type { CardOs } from '../../card/os/CardOs.js';
import { fromHex } from '../../card/util/hex.js';
import { deriveTerminalKey } from '../../card/crypto/keyHierarchy.js';
import { runCardSession } from '../../terminal/CardTransfer.js';
import { loadCard } from '../../terminal/loadCard.js';
import { ModuleLink } from '../../meter/cardslot/ModuleLink.js';
import { ModuleCreditRegister } from '../../meter/cardslot/ModuleCreditRegister.js';
import { HostSide } from '../transfer/hostSide.js';
import { METER_ID, NOW, VENDING_TERMINAL, World } from '../transfer/world.js';

type Role = 'card' | 'sam' | 'svm';

function recording(inner: CardChannel, log: [Role, CommandApdu][], role: Role): CardChannel {
  return interceptChannel(inner, (c, next) => {
    log.push([role, c]);
    return next(c);
  });
}

/** Value held by the world's chips: every purse of the card and the SVM. */
function value(w: World): number[] {
  return [...w.cardView().purses.map((p) => p.balance), w.svmView().balance];
}

/** Runs real sessions over recording channels; returns the log of every command sent. */
async function recordSessions(w: World): Promise<[Role, CommandApdu][]> {
  const log: [Role, CommandApdu][] = [];
  // The meter core's own link and token requester (the one implementation of the exchange).
  const link = new ModuleLink(w.samReader, w.svmReader, (c, role) => recording(c, log, role), w.core());
  const register = new ModuleCreditRegister(link);
  const m = await link.use((opened) => Promise.resolve(opened));
  const card = recording(await w.cardChannel(), log, 'card');
  // Vending LOAD, card-to-SVM transfer with meter data, token requests, a host value store.
  await loadCard(card, w.issuer, { purse: 1, amount: 2_000, terminalId: VENDING_TERMINAL, dateTime: NOW });
  await runCardSession(m, card, { purse: 1, dateTime: NOW, maxAmount: 3_000 });
  for (let i = 0; i < 3; i++) expect(await register.requestTokens(100)).toBe(100);
  const host = new HostSide(w.issuer.crypto.cipher);
  const kt = deriveTerminalKey(w.issuer.crypto.cipher, w.issuer.utility(1).host[1]![1], METER_ID);
  const r1 = fromHex('0102030405060708');
  const ks = host.sessionKey(kt, r1);
  const { r3 } = await m.hostInit(1, r1, fromHex('1112131415161718'));
  const en = host.encryptAmount(ks, 5_000, fromHex('0000000000000077'));
  await m.hostValueStore(en, host.s2(ks, 0x51, r3, en));
  return log;
}

function replay(w: World, log: [Role, CommandApdu][]): Set<string> {
  const os: Record<Role, CardOs> = { card: w.card.os, sam: w.sam.os, svm: w.svm.os };
  for (const d of Object.values(os)) d.powerUp();
  const accepted = new Set<string>();
  for (const [role, c] of log) {
    const r = os[role].transmit(c.encode());
    const sw = (r[r.length - 2]! << 8) | r[r.length - 1]!;
    if (sw === 0x9000) accepted.add(`${role} ${c.cla.toString(16)} ${c.ins.toString(16)}`);
  }
  return accepted;
}

describe('attack: replay of recorded sessions', () => {
  it('the sessions really moved value (control)', async () => {
    const w = new World({ cardBalance: 10_000, svmBalance: 0 });
    const before = value(w);
    const log = await recordSessions(w);
    expect(log.length).toBeGreaterThan(30);
    expect(value(w)).not.toEqual(before);
    // 10 000 + 2 000 loaded − 3 000 moved on purse 1; 3 000 + 5 000 − 300 in the SVM.
    expect(value(w)[0]).toBe(9_000);
    expect(value(w)[5]).toBe(7_700);
  });

  it('replayed into the same chips afterwards: no value moves', async () => {
    const w = new World({ cardBalance: 10_000, svmBalance: 0 });
    const log = await recordSessions(w);
    const before = value(w);
    const images = [w.card.store.image(), w.svm.store.image()].map((b) => Buffer.from(b).toString('hex'));
    for (const d of [w.card, w.sam, w.svm]) d.os.reset();
    const accepted = replay(w, log);
    expect(value(w)).toEqual(before);
    // Not one value-moving command went through: no LOAD, DEBIT, COMPLETE, TOKEN REQUEST, HOST CREDIT.
    for (const ins of ['52', '54', '32', '40', '44'])
      expect([...accepted].some((a) => a.endsWith(` ${ins}`))).toBe(false);
    // The meter-data write needs a live SAM session: refused too, so the card's memory is as it was.
    expect([w.card.store.image(), w.svm.store.image()].map((b) => Buffer.from(b).toString('hex'))).toEqual(
      images,
    );
  });

  it('replayed into fresh chips with the same keys and identities: no value moves', async () => {
    const recorded = new World({ cardBalance: 10_000, svmBalance: 0 });
    const log = await recordSessions(recorded);
    for (const chipSeed of ['fresh-1', 'fresh-2', 'fresh-3']) {
      const w = new World({ cardBalance: 10_000, svmBalance: 0, chipSeed });
      const before = value(w);
      const accepted = replay(w, log);
      expect(value(w), chipSeed).toEqual(before);
      for (const ins of ['52', '54', '32', '40', '44'])
        expect(
          [...accepted].some((a) => a.endsWith(` ${ins}`)),
          `${chipSeed} ${ins}`,
        ).toBe(false);
    }
  });
});
