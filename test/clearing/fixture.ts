/**
 * Shared pieces of the chip-side clearing tests (svm-clearing, redteam-chip): the meter's terminal
 * key, another subscriber card of the same issuer, and a card session cut after BEGIN TRANSFER
 * (or after the card's DEBIT).
 */
import { expect } from 'vitest';
import type { CardChannel } from '../../reader/CardChannel.js';
import type { ChannelRole } from '../../meter/cardslot/ModuleLink.js';
import type { SimulatedCardMeter } from '../../meter/cardslot/createCardMeter.js';
import { INS_BEGIN_TRANSFER, INS_DEBIT } from '../../card/applets/constants.js';
import { interceptChannel } from '../reader/interceptChannel.js';
import { demoIssuer, newMeter, subscriber } from '../meter/cardWorld.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import { u32 } from '../../card/util/bigEndian.js';
import { SeededRng } from '../../card/crypto/rng.js';
import { deriveTerminalKey } from '../../card/crypto/keyHierarchy.js';
import { findTlv } from '../../card/iso7816/tlv.js';
import { defaultPurses, makeSubscriberCard, type Device } from '../../card/applets/profiles.js';
import type { PurseApplet } from '../../card/applets/purse/PurseApplet.js';
import { PurseState } from '../../card/applets/purse/records.js';
import { AID_PURSE } from '../../card/applets/constants.js';
import { MeterModules, expectOk } from '../../terminal/MeterModules.js';
import { authenticate } from '../../terminal/CardTransfer.js';
import * as A from '../../terminal/apdus.js';
import { METER_ID, NOW, World, cipher } from '../transfer/world.js';

export const PURSE = 1;

/** The meter's terminal key under the utility's host key version `n`. */
export function kt(w: World, n = 1): Uint8Array {
  const kh = w.issuer.utility(1).host.find(([v]) => v === n)![1];
  return deriveTerminalKey(cipher, kh, METER_ID);
}

/** Another subscriber card of the same issuer (CSN `csn`, randomness `seed`), in its own reader `card ${n}`. */
export function strangerCard(
  w: World,
  n: number,
  csn: Uint8Array,
  seed: string,
  balance: number,
): { dev: Device<PurseApplet>; reader: VirtualReader } {
  const dev = makeSubscriberCard(w.issuer, {
    csn,
    protocol: 'T=1',
    purses: defaultPurses(balance),
    rng: new SeededRng(seed),
  });
  return { dev, reader: new VirtualReader(`card ${n}`, dev.os) };
}

export interface Begun {
  sw: number;
  csn: Uint8Array;
  counter: number;
  amount: number;
  /** After the card's DEBIT: its balance after and debit proof. */
  balanceAfter?: number;
  proof?: Uint8Array;
}

/**
 * A card session cut right after BEGIN TRANSFER (debit = false) or after the card's DEBIT, at
 * `counter` (default: the card's next). `cardLabel` prefixes the card steps' names in errors.
 */
export async function beginTransferAt(
  m: MeterModules,
  card: CardChannel,
  amount: number,
  counter: number | undefined,
  debit: boolean,
  cardLabel = '',
): Promise<Begun> {
  const csn = findTlv(await expectOk(card, A.selectAid(AID_PURSE), `${cardLabel}SELECT`), 0x5a)!;
  await authenticate(m, card, csn);
  const st = PurseState.decode(await expectOk(card, A.readPurse(PURSE), `${cardLabel}READ PURSE`));
  const c = counter ?? st.counter + 1;
  const rv = await expectOk(m.svm, A.getChallenge(), 'SVM GET CHALLENGE');
  const auth = await expectOk(m.sam, A.transferAuth(PURSE, amount, c, NOW, rv), 'SAM TRANSFER AUTH');
  const r = await m.svm.transmit(A.beginTransfer(csn, PURSE, amount, c, NOW, auth.subarray(8, 16)));
  const out: Begun = { sw: r.sw, csn, counter: c, amount };
  if (r.sw !== 0x9000 || !debit) return out;
  const d = await expectOk(card, A.debit(PURSE, amount, m.terminalId, NOW, rv, auth.subarray(0, 8)), 'DEBIT');
  return { ...out, balanceAfter: u32(d, 0), proof: d.slice(6, 14) };
}

/**
 * A meter (`meterId`, SVM max 1 000 000, randomness `seed`) whose card (`csn`, balance 5000) is
 * pulled right after the SVM's BEGIN TRANSFER, or during the card's DEBIT (debited on the card,
 * the proof never reaching the SVM); the transfer (max 700) ends not accepted.
 */
export async function abandonedMeter(
  after: 'begin' | 'debit',
  seed: string,
  meterId: Uint8Array,
  csn: Uint8Array,
) {
  const issuer = demoIssuer(seed);
  const box: { cm?: SimulatedCardMeter } = {};
  let armed = true;
  const wrap = (inner: CardChannel, role: ChannelRole): CardChannel =>
    interceptChannel(inner, async (c, next) => {
      const r = await next(c);
      const hit =
        (after === 'begin' && role === 'svm' && c.cla === 0x80 && c.ins === INS_BEGIN_TRANSFER) ||
        (after === 'debit' && role === 'card' && c.ins === INS_DEBIT);
      if (armed && hit) {
        armed = false;
        box.cm!.slot.remove();
        // after the DEBIT the card is gone before its answer (the proof) reached the meter
        if (after === 'debit') return next(c);
      }
      return r;
    });
  const cm = await newMeter({ issuer, meterId, svmMax: 1_000_000, seed, wrap });
  box.cm = cm;
  const card = subscriber(issuer, { csn, balance: 5000, seed: 'a' });
  cm.slot.maxAmount = 700;
  expect((await cm.slot.insert(card.os)).accepted).toBe(false);
  return { issuer, cm, card };
}
