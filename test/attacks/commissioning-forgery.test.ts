/**
 * Security hole 2 — "The commissioning card can be forged".
 *
 * The audit: the COMMISSION payload carried no MAC and was not bound to the SAM session, a
 * commissioned meter accepted re-commissioning at any time, and the commissioning key was K_auth —
 * the key every subscriber card holds, so one read of a card image made a commissioning card the
 * meter accepted. A shim between slot and a genuine card rewrote "initial credit 50" into
 * 4,000,000,000 units.
 *
 * Now the card holds K_comm of its utility's own key domain (MK_comm, in that utility's SAMs only),
 * its payload is MAC'd with the session key and checked by the SAM (COMMISSION CHECK) before the
 * meter reads a byte of it, the credits have a ceiling of 10 000 units, and a commissioned meter
 * takes nothing but a decommissioning payload. Each test below is one attack.
 */
import { describe, expect, it } from 'vitest';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import { SeededRng } from '../../card/crypto/rng.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { interceptChannel } from '../reader/interceptChannel.js';
import type { CardChannel } from '../../reader/CardChannel.js';
import * as A from '../../terminal/apdus.js';
import type { MeterModules } from '../../terminal/MeterModules.js';
import { INS_COMMISSION_CHECK } from '../../card/applets/constants.js';
import { cardCryptogramInput, samCryptogramInput } from '../../card/applets/PurseCrypto.js';
import { CardPowerLostError } from '../../card/os/CardOs.js';
import { AUTH_COMMISSIONING, AUTH_SUBSCRIBER } from '../../card/applets/sam/SamApplet.js';
import type { IssuerKeys } from '../../card/applets/IssuerKeys.js';
import {
  buildCommissioningCard,
  makeCommissioningCard,
  type CommissioningCard,
} from '../../card/applets/commissioning/makeCommissioningCard.js';
import {
  AID_COMMISSIONING,
  COMMISSION_WANT_COMMISSION,
  COMMISSION_WANT_DECOMMISSION,
  INS_COMMISSION,
} from '../../card/applets/commissioning/CommissioningApplet.js';
import { keyKeys } from '../../card/applets/purse/PurseApplet.js';
import { commissionMacInput } from '../../card/applets/commissioning/commissionMac.js';
import { CommissioningData, MAX_INITIAL_CREDIT } from '../../meter/commissioning/CommissioningData.js';
import { DecommissioningData } from '../../meter/commissioning/DecommissioningData.js';
import { COMMISSIONING_REFUSALS, CommissioningError } from '../../meter/errors.js';
import type { SimulatedCardMeter } from '../../meter/cardslot/createCardMeter.js';
import { TariffTable } from '../../protocol/TariffTable.js';
import {
  cardView,
  CSN as SUBSCRIBER_CSN,
  meterSide,
  newMeter,
  subscriber,
  demoIssuer,
} from '../meter/cardWorld.js';
import { ok, tx } from '../applets/harness.js';

const METER = fromHex('000123');
const OTHER_METER = fromHex('000456');
const COM_CSN = fromHex('4D43000000000007');

/** A commissioning payload for `meterId` with the audit's initial credit of 50 units. */
function commissioning(meterId = METER, o: { initialCredit?: number; unitCharge?: number } = {}) {
  return new CommissioningData(
    meterId,
    0x00c0ffee,
    300,
    o.initialCredit ?? 50,
    TariffTable.flat(o.unitCharge ?? 1200),
  );
}

function card(
  issuer: IssuerKeys,
  payload: Uint8Array,
  o: { uses?: number; purse?: number; csn?: Uint8Array } = {},
): CommissioningCard {
  return makeCommissioningCard(issuer, {
    csn: o.csn ?? COM_CSN,
    payload,
    uses: o.uses ?? 1,
    ...(o.purse !== undefined ? { purse: o.purse } : {}),
    rng: new SeededRng(`forgery:${toHex(o.csn ?? COM_CSN)}`),
  });
}

const usesLeft = (c: CommissioningCard) => {
  const u = c.store.read('c.uses')!;
  return (u[0]! << 8) | u[1]!;
};

/** A device between the slot and the card: `edit` rewrites the card's answers (data, by INS). */
class Shim {
  edit: (ins: number, data: Uint8Array) => Uint8Array = (_, d) => d;
  wrap = (inner: CardChannel): CardChannel =>
    interceptChannel(inner, async (c, next) => {
      const r = await next(c);
      return r.sw !== 0x9000 ? r : new ResponseApdu(this.edit(c.ins, r.data), r.sw);
    });
}

async function shimmedMeter(meterId = METER): Promise<{ cm: SimulatedCardMeter; shim: Shim }> {
  const shim = new Shim();
  const cm = await newMeter({ meterId, slot: { wrap: shim.wrap } });
  return { cm, shim };
}

/** What a forgery could have changed in the meter. */
function state(cm: SimulatedCardMeter) {
  const m = cm.meter;
  return {
    commissioned: m.commissioned,
    id: toHex(m.meterId),
    tank: m.exchanger.tank,
    token: m.exchanger.token,
    emergency: m.exchanger.emergencyCredit,
    tariff: toHex(m.schedule.active.encode()),
    meterSide: meterSide(cm),
    commissionedEvents: m.events.count('commissioned'),
  };
}

function refusedEvents(cm: SimulatedCardMeter): number[] {
  return cm.meter.events
    .entries()
    .filter((e) => e.kind === 'commissioning-refused')
    .map((e) => e.data);
}

/**
 * Runs AUTH INIT / AUTH FINISH at the meter's SAM as a card holding `key` would (the card side
 * computed here, as any forger with that key could).
 * @returns the SW of AUTH FINISH and the session key the forger derived.
 */
async function forgerSession(
  cm: SimulatedCardMeter,
  key: Uint8Array,
  domain: number,
  csn: Uint8Array,
  then?: (m: MeterModules, sk: Uint8Array) => Promise<void>,
): Promise<number> {
  const crypto = cm.issuer.crypto;
  return cm.link.use(async (m) => {
    const rc = fromHex('0102030405060708');
    const init = await m.sam.transmit(A.authInit(csn, rc, domain));
    expect(init.sw).toBe(0x9000);
    const rs = init.data.subarray(0, 8);
    const sk = crypto.sessionKey(key, rc, rs);
    const fin = await m.sam.transmit(A.authFinish(crypto.mac(sk, cardCryptogramInput(rc, rs, csn))));
    if (fin.sw === 0x9000 && then) await then(m, sk);
    return fin.sw;
  });
}

const commissionCheck = (data: Uint8Array) =>
  new CommandApdu({ cla: 0x80, ins: INS_COMMISSION_CHECK, p1: 0, p2: 0, data });

describe('attacks on commissioning (security hole 2)', () => {
  it('a card made from a subscriber card’s keys (K_auth) is refused', async () => {
    const cm = await newMeter();
    // The subscriber card of the audit, and what one read of its image gives.
    const sub = subscriber(cm.issuer);
    const image = sub.store.read(keyKeys(1))!;
    const kAuth = image.slice(0, 16);
    expect(kAuth).toEqual(cm.issuer.cardKeys(SUBSCRIBER_CSN, 1).auth);
    const forged = buildCommissioningCard(kAuth, {
      csn: SUBSCRIBER_CSN,
      purse: 1,
      payload: commissioning().encode(),
      uses: 5,
      cipher: cm.issuer.crypto.cipher,
      rng: new SeededRng('forged'),
    });
    const before = state(cm);
    const o = await cm.slot.insert(forged.os);
    expect(o).toMatchObject({ accepted: false, refusal: 'authentication-failed', sw: 0x6300 });
    expect(state(cm)).toEqual(before);
    expect(usesLeft(forged)).toBe(5);
    cm.slot.remove();

    // A forger answering the SAM itself, with any of the four keys in the image of any purse,
    // gets no commissioning session.
    for (const purse of cardView(sub).purses.map((p) => p.id)) {
      const keys = sub.store.read(keyKeys(purse))!;
      for (let k = 0; k < 4; k++)
        expect(
          await forgerSession(cm, keys.slice(16 * k, 16 * k + 16), AUTH_COMMISSIONING, SUBSCRIBER_CSN),
          `purse ${purse} key ${k}`,
        ).toBe(0x6300);
    }
    // And a genuine subscriber session (K_auth is right) cannot vouch for a payload.
    const payload = commissioning().encode();
    let checkSw = 0;
    const fin = await forgerSession(cm, kAuth, AUTH_SUBSCRIBER, SUBSCRIBER_CSN, async (m, sk) => {
      const mac = cm.issuer.crypto.mac(sk, commissionMacInput(METER, payload));
      checkSw = (await m.sam.transmit(commissionCheck(Uint8Array.from([...payload, ...mac])))).sw;
    });
    expect(fin).toBe(0x9000);
    expect(checkSw).toBe(0x6982);
    expect(state(cm)).toEqual(before);
  });

  it('a shim rewriting initial credit 50 → 4,000,000,000 is refused: meter uncommissioned, nothing credited', async () => {
    const { cm, shim } = await shimmedMeter();
    const c = card(cm.issuer, commissioning().encode(), { uses: 3 });
    shim.edit = (ins, d) => {
      if (ins !== INS_COMMISSION) return d;
      const x = d.slice();
      new DataView(x.buffer).setUint32(12, 4_000_000_000);
      return x;
    };
    const before = state(cm);
    const o = await cm.slot.insert(c.os);
    expect(o).toMatchObject({ accepted: false, refusal: 'payload-not-authentic', sw: 0x6300 });
    expect(o.commissioning).toBeUndefined();
    expect(state(cm)).toEqual(before);
    expect(cm.meter.commissioned).toBe(false);
    expect(cm.meter.exchanger.tank + cm.meter.exchanger.token).toBe(before.tank + before.token);
    expect(refusedEvents(cm)).toEqual([COMMISSIONING_REFUSALS['payload-not-authentic']]);
    // The use was spent (the card answered) — a shim can waste a use, never create value.
    expect(usesLeft(c)).toBe(2);
    cm.slot.remove();
    // Without the shim the same card commissions with its 50 units.
    shim.edit = (_, d) => d;
    const ok = await cm.slot.insert(c.os);
    expect(ok).toMatchObject({ accepted: true });
    expect(ok.commissioning?.initialCredit).toBe(50);
    expect(cm.meter.commissioned).toBe(true);
  });

  it('a shim changing any one bit of payload ‖ MAC is refused (sweep over every bit position)', async () => {
    const { cm, shim } = await shimmedMeter();
    const payload = commissioning().encode();
    const total = payload.length + 8;
    const c = card(cm.issuer, payload, { uses: total * 8 });
    const before = state(cm);
    for (let bit = 0; bit < total * 8; bit++) {
      shim.edit = (ins, d) => {
        if (ins !== INS_COMMISSION) return d;
        const x = d.slice();
        x[bit >> 3]! ^= 1 << (bit & 7);
        return x;
      };
      const o = await cm.slot.insert(c.os);
      cm.slot.remove();
      expect(o.accepted, `bit ${bit}`).toBe(false);
      expect(['payload-not-authentic', 'wrong-meter'], `bit ${bit}`).toContain(o.refusal);
    }
    expect(state(cm)).toEqual(before);
    expect(usesLeft(c)).toBe(0);
  });

  it('a payload recorded in another session of the same meter is refused when replayed', async () => {
    const { cm, shim } = await shimmedMeter();
    let recorded: Uint8Array | undefined;
    shim.edit = (ins, d) => {
      if (ins === INS_COMMISSION) recorded = d.slice();
      return d;
    };
    const first = card(cm.issuer, commissioning().encode(), { uses: 2 });
    expect(await cm.slot.insert(first.os)).toMatchObject({ accepted: true });
    cm.slot.remove();
    expect(recorded).toBeDefined();
    // The meter is decommissioned properly, so it would take a commissioning card again …
    const decom = card(cm.issuer, new DecommissioningData(METER, 7).encode(), {
      csn: fromHex('4D43000000000008'),
    });
    expect(await cm.slot.insert(decom.os)).toMatchObject({ accepted: true });
    cm.slot.remove();
    expect(cm.meter.commissioned).toBe(false);
    // … but the answer of the first session, replayed into a new one, is refused.
    const before = state(cm);
    shim.edit = (ins, d) => (ins === INS_COMMISSION ? recorded! : d);
    const o = await cm.slot.insert(first.os);
    expect(o).toMatchObject({ accepted: false, refusal: 'payload-not-authentic' });
    expect(state(cm)).toEqual(before);
  });

  it('a payload recorded at another meter is refused when replayed', async () => {
    const a = await shimmedMeter(METER);
    let recorded: Uint8Array | undefined;
    a.shim.edit = (ins, d) => {
      if (ins === INS_COMMISSION) recorded = d.slice();
      return d;
    };
    expect(await a.cm.slot.insert(card(a.cm.issuer, commissioning(METER).encode()).os)).toMatchObject({
      accepted: true,
    });
    // At meter B a genuine card for B is presented; the shim hands over A's recorded answer.
    const b = await shimmedMeter(OTHER_METER);
    b.shim.edit = (ins, d) => (ins === INS_COMMISSION ? recorded! : d);
    const before = state(b.cm);
    const forB = card(b.cm.issuer, commissioning(OTHER_METER).encode(), { csn: COM_CSN });
    const o = await b.cm.slot.insert(forB.os);
    expect(o).toMatchObject({ accepted: false, refusal: 'payload-not-authentic' });
    expect(state(b.cm)).toEqual(before);
    // Even with a MAC made in B's own session, a payload naming meter A is refused by B's SAM.
    const payloadA = commissioning(METER).encode();
    let sw = 0;
    await forgerSession(
      b.cm,
      b.cm.issuer.commissioningKey(COM_CSN, 1),
      AUTH_COMMISSIONING,
      COM_CSN,
      async (m, sk) => {
        const mac = b.cm.issuer.crypto.mac(sk, commissionMacInput(OTHER_METER, payloadA));
        sw = (await m.sam.transmit(commissionCheck(Uint8Array.from([...payloadA, ...mac])))).sw;
      },
    );
    expect(sw).toBe(0x6a80);
  });

  it('initial credit above the ceiling is refused, before anything changes', async () => {
    // The issuer's tools refuse to make such a payload …
    expect(() => commissioning(METER, { initialCredit: MAX_INITIAL_CREDIT + 1 })).toThrow(CommissioningError);
    // … and a genuine card personalised with one anyway (raw bytes) is refused by the meter.
    const cm = await newMeter();
    const raw = commissioning().encode();
    new DataView(raw.buffer).setUint32(12, MAX_INITIAL_CREDIT + 1);
    const before = state(cm);
    const o = await cm.slot.insert(card(cm.issuer, raw).os);
    expect(o).toMatchObject({ accepted: false, refusal: 'credit-above-ceiling' });
    expect(state(cm)).toEqual(before);
    expect(refusedEvents(cm)).toEqual([COMMISSIONING_REFUSALS['credit-above-ceiling']]);
    cm.slot.remove();
    // The meter core refuses it too, whoever calls it, and records it.
    expect(() =>
      cm.meter.commission({
        meterId: METER,
        tariff: TariffTable.flat(1000),
        emergencyCredit: 0,
        initialCredit: 4_000_000_000,
      }),
    ).toThrow(expect.objectContaining({ code: 'credit-above-ceiling' }));
    expect(state(cm)).toEqual(before);
    expect(refusedEvents(cm).length).toBe(2);
    // Exactly the ceiling is accepted.
    const atCeiling = card(cm.issuer, commissioning(METER, { initialCredit: MAX_INITIAL_CREDIT }).encode(), {
      csn: fromHex('4D43000000000009'),
    });
    const ok = await cm.slot.insert(atCeiling.os);
    expect(ok).toMatchObject({ accepted: true });
    expect(cm.meter.exchanger.tank + cm.meter.exchanger.token).toBeLessThanOrEqual(
      MAX_INITIAL_CREDIT + before.tank + before.token,
    );
  });

  it('re-commissioning a commissioned meter is refused, and spends no use', async () => {
    const cm = await newMeter();
    expect(await cm.slot.insert(card(cm.issuer, commissioning().encode()).os)).toMatchObject({
      accepted: true,
    });
    cm.slot.remove();
    await cm.meter.advance(cm.meter.now + 60, 20_000);
    const before = state(cm);
    const total = cm.meter.total;
    const second = card(cm.issuer, commissioning(METER, { initialCredit: 9_000, unitCharge: 1 }).encode(), {
      csn: fromHex('4D4300000000000A'),
      uses: 3,
    });
    const o = await cm.slot.insert(second.os);
    expect(o).toMatchObject({ accepted: false, refusal: 'already-commissioned' });
    expect(usesLeft(second)).toBe(3);
    expect(state(cm)).toEqual(before);
    expect(cm.meter.total).toBe(total); // registers not zeroed
    expect(refusedEvents(cm)).toEqual([COMMISSIONING_REFUSALS['already-commissioned']]);
    expect(o.events.find((e) => e.kind === 'card-refused')?.data).toBe(
      COMMISSIONING_REFUSALS['already-commissioned'],
    );
    // The core refuses a direct call the same way.
    expect(() =>
      cm.meter.commission({
        meterId: METER,
        tariff: TariffTable.flat(1),
        emergencyCredit: 0,
        initialCredit: 0,
      }),
    ).toThrow(expect.objectContaining({ name: 'CommissioningError', code: 'already-commissioned' }));
    expect(state(cm)).toEqual(before);
    // The lock survives a restart from the NVM image.
    expect(JSON.parse(JSON.stringify(cm.meter.snapshot())).commissioned).toBe(true);
  });

  it('decommission then commission works; a decommissioning card at an uncommissioned meter is refused', async () => {
    const cm = await newMeter();
    const decom = card(cm.issuer, new DecommissioningData(METER, 0xdec0).encode(), {
      csn: fromHex('4D4300000000000B'),
      uses: 2,
    });
    const early = await cm.slot.insert(decom.os);
    expect(early).toMatchObject({ accepted: false, refusal: 'not-commissioned' });
    expect(usesLeft(decom)).toBe(2);
    cm.slot.remove();

    expect(await cm.slot.insert(card(cm.issuer, commissioning().encode()).os)).toMatchObject({
      accepted: true,
    });
    cm.slot.remove();
    await cm.meter.advance(cm.meter.now + 60, 20_000);
    const total = cm.meter.total;
    const d = await cm.slot.insert(decom.os);
    expect(d).toMatchObject({ accepted: true });
    expect(d.decommissioning?.reference).toBe(0xdec0);
    expect(cm.meter.commissioned).toBe(false);
    expect(cm.meter.total).toBe(total); // decommissioning changes no register
    expect(d.events.find((e) => e.kind === 'decommissioned')?.data).toBe(0xdec0);
    expect(usesLeft(decom)).toBe(1);
    cm.slot.remove();

    const again = card(cm.issuer, commissioning(METER, { unitCharge: 1500 }).encode(), {
      csn: fromHex('4D4300000000000C'),
    });
    const o = await cm.slot.insert(again.os);
    expect(o).toMatchObject({ accepted: true });
    expect(cm.meter.commissioned).toBe(true);
    expect(cm.meter.schedule.active.unitCharge).toBe(1500);
    expect(cm.meter.total).toBe(0);
  });

  it('a gas utility’s commissioning card is refused by an electricity SAM', async () => {
    const cm = await newMeter(); // electricity: SAM of purse 01
    const gasCard = card(cm.issuer, commissioning().encode(), { purse: 2, uses: 2 });
    const before = state(cm);
    const o = await cm.slot.insert(gasCard.os);
    expect(o).toMatchObject({ accepted: false, refusal: 'other-utility' });
    expect(usesLeft(gasCard)).toBe(2);
    cm.slot.remove();
    // A card with the gas key that claims to be electricity's fails the SAM's authentication.
    const kGas = cm.issuer.commissioningKey(COM_CSN, 2);
    const liar = buildCommissioningCard(kGas, {
      csn: COM_CSN,
      purse: 1,
      payload: commissioning().encode(),
      cipher: cm.issuer.crypto.cipher,
      rng: new SeededRng('liar'),
    });
    const l = await cm.slot.insert(liar.os);
    expect(l).toMatchObject({ accepted: false, refusal: 'authentication-failed' });
    expect(state(cm)).toEqual(before);
    // And at the SAM itself: K_comm of gas gives no electricity commissioning session.
    expect(await forgerSession(cm, kGas, AUTH_COMMISSIONING, COM_CSN)).toBe(0x6300);
    expect(await forgerSession(cm, cm.issuer.commissioningKey(COM_CSN, 1), AUTH_COMMISSIONING, COM_CSN)).toBe(
      0x9000,
    );
  });
});

describe('the commissioning card’s uses (no tearing oracle)', () => {
  const issuer = demoIssuer();
  const RS = fromHex('1112131415161718');

  /** A fresh card (2 uses), powered, selected and authenticated as the meter's SAM would. */
  function authenticated(payload = commissioning().encode()) {
    const c = card(issuer, payload, { uses: 2 });
    c.os.powerUp();
    ok(c.os, A.selectAid(AID_COMMISSIONING));
    const rc = ok(c.os, A.getChallenge());
    const sk = issuer.crypto.sessionKey(issuer.commissioningKey(COM_CSN, 1), rc, RS);
    ok(c.os, A.mutualAuthenticate(RS, issuer.crypto.mac(sk, samCryptogramInput(rc, RS, COM_CSN)), 1));
    return { c, sk };
  }
  const commission = (meterId: Uint8Array, p1 = COMMISSION_WANT_COMMISSION) =>
    new CommandApdu({ cla: 0x80, ins: INS_COMMISSION, p1, p2: 0, data: meterId, ne: 256 });

  it('answers payload ‖ MAC(SK_comm, M ‖ meter id ‖ payload), once per authentication', () => {
    const payload = commissioning().encode();
    const { c, sk } = authenticated(payload);
    const r = ok(c.os, commission(METER));
    expect(toHex(r.subarray(0, payload.length))).toBe(toHex(payload));
    expect(issuer.crypto.check(sk, r.subarray(payload.length), commissionMacInput(METER, payload))).toBe(
      true,
    );
    expect(usesLeft(c)).toBe(1);
    expect(tx(c.os, commission(METER)).sw).toBe(0x6982);
    expect(usesLeft(c)).toBe(1);
  });

  it('refusals (another meter, the other kind, no session) write nothing: no use spent, nothing to tear', () => {
    for (const [cmd, sw] of [
      [commission(OTHER_METER), 0x6a80],
      [commission(METER, COMMISSION_WANT_DECOMMISSION), 0x6a88],
    ] as const) {
      const { c } = authenticated();
      const w0 = c.store.writeCount;
      expect(tx(c.os, cmd).sw).toBe(sw);
      expect(c.store.writeCount).toBe(w0);
      expect(usesLeft(c)).toBe(2);
      // The refusal ended the session: no second try in it.
      expect(tx(c.os, commission(METER)).sw).toBe(0x6982);
    }
    const c = card(issuer, commissioning().encode(), { uses: 2 });
    c.os.powerUp();
    ok(c.os, A.selectAid(AID_COMMISSIONING));
    const w0 = c.store.writeCount;
    expect(tx(c.os, commission(METER)).sw).toBe(0x6982);
    expect(c.store.writeCount).toBe(w0);
  });

  it('a power cut at every write of COMMISSION leaves the use or spends it, and never releases the payload', () => {
    const ref = authenticated();
    const before = toHex(ref.c.store.image());
    const w0 = ref.c.store.writeCount;
    ok(ref.c.os, commission(METER));
    const writes = ref.c.store.writeCount - w0;
    const after = toHex(ref.c.store.image());
    expect(writes).toBeGreaterThan(0);
    const seen = new Set<string>();
    for (let k = 1; k <= writes; k++) {
      const { c } = authenticated();
      c.store.armTear(k);
      expect(() => c.os.transmit(commission(METER).encode())).toThrow(CardPowerLostError);
      c.os.powerUp();
      const now = toHex(c.store.image());
      expect([before, after]).toContain(now);
      seen.add(now === before ? 'before' : 'after');
      expect(usesLeft(c)).toBe(now === before ? 2 : 1);
      // The session died with the power: the payload needs a new authentication (and a use).
      ok(c.os, A.selectAid(AID_COMMISSIONING));
      expect(tx(c.os, commission(METER)).sw).toBe(0x6982);
    }
    expect(seen).toEqual(new Set(['before', 'after']));
  });
});
