/**
 * The settlement card applet attacked at the APDU level (ECDSA P-256 keys: cheap to make many):
 * what each authorisation binds, whether it can be kept and used later or twice, each field at its
 * maximum and one past it, and a power cut at every store write of UPDATE VALUE.
 */
import { describe, expect, it } from 'vitest';
import { CardPowerLostError } from '../../card/os/CardOs.js';
import { SeededRng } from '../../card/crypto/rng.js';
import type { Signer } from '../../card/crypto/signature.js';
import {
  Certificate,
  ServiceRecord,
  SignedValue,
  UsageInfo,
  passwordInput,
  signWith,
  terminalValueInput,
  timeStampInput,
} from '../../card/pki/index.js';
import {
  SETTLE_OBJ_ABNORMALITY_LOG,
  SETTLE_OBJ_SERVICE_RECORD,
  SETTLE_OBJ_STATUS,
  SETTLE_OBJ_USAGE_INFO,
  SW_SETTLE_BAD_CERTIFICATE,
  SW_SETTLE_BAD_SIGNATURE,
  SW_SETTLE_DISABLED,
  SW_SETTLE_EXPIRED,
  SW_SETTLE_NOT_THIS_CARD,
  SW_SETTLE_NO_SESSION,
  SW_SETTLE_OTHER_CENTRE,
  SW_SETTLE_REPLAY,
  SW_SETTLE_TIME_BACKWARDS,
  SW_SETTLE_VALUE_INCREASE,
  SW_SETTLE_WRONG_KIND,
  describeSettleSw,
} from '../../card/applets/settle/constants.js';
import { SettleState } from '../../card/applets/settle/SettlementApplet.js';
import { PROFILE_SETTLEMENT, type SettlementCard } from '../../card/applets/settle/makeSettlementCard.js';
import { settlePasswordBlock } from '../../card/applets/settle/index.js';
import { buildCard, getProfile } from '../../card/os/CardProfiles.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import { findTlv } from '../../card/iso7816/tlv.js';
import {
  A,
  Centre,
  CommandApdu,
  DAY,
  T0,
  YEAR,
  ascii,
  hexSw,
  issueCard,
  provider,
  rechargeCommand,
  stateRefOf,
  tx,
} from './fixtureSettle.js';

const ALG = 'ecdsa-p256-sha256' as const;
const centre = new Centre(ascii('CENTRE-1'), ALG);
const otherCentre = new Centre(ascii('CENTRE-2'), ALG);

interface Term {
  idt: Uint8Array;
  signer: Signer;
  cert: Certificate;
}

function term(name: string, by: Centre = centre, notAfter = T0 + 2 * YEAR): Term {
  const keys = provider.generateKeyPair(ALG);
  const idt = ascii(name);
  return {
    idt,
    signer: provider.signer(ALG, keys.privateKey),
    cert: by.certify('terminal', idt, keys.publicKey, ALG, T0 - DAY, notAfter),
  };
}

const T = term('TERM-1');
const rng = new SeededRng('card attacks');

function sw(card: SettlementCard, c: Parameters<typeof tx>[1]): string {
  return hexSw(tx(card, c).sw);
}

function state(card: SettlementCard): SettleState {
  return SettleState.decode(tx(card, A.readObject(SETTLE_OBJ_STATUS)).data);
}

/** SELECT, PRESENT TERMINAL, SIGN VALUE: this session's R, X and V. */
function open(card: SettlementCard, t: Term = T, now = T0): { r: Uint8Array; x: Uint8Array; v: number } {
  expect(sw(card, A.selectSettle())).toBe('9000');
  expect(sw(card, A.presentTerminal(now, t.cert.encode()))).toBe('9000');
  const r = rng.bytes(16);
  const d = tx(card, A.signValue(r));
  expect(hexSw(d.sw)).toBe('9000');
  return { r, x: d.data.slice(0, 16), v: new DataView(d.data.buffer, d.data.byteOffset).getUint32(16) };
}

/** The terminal's UsageInfo for V' (S over `signedValue` when given: a signature over other data). */
function usage(
  t: Term,
  idu: Uint8Array,
  s: { r: Uint8Array; x: Uint8Array },
  value: number,
  opts: { dateTime?: number; signedValue?: number } = {},
): Uint8Array {
  const dateTime = opts.dateTime ?? T0;
  const sig = signWith(
    t.signer,
    terminalValueInput({
      cardId: idu,
      terminalId: t.idt,
      terminalNonce: s.r,
      cardNonce: s.x,
      value: opts.signedValue ?? value,
      dateTime,
    }),
  );
  const sts = signWith(
    t.signer,
    timeStampInput({
      terminalId: t.idt,
      updateCounter: 0,
      timeStamp: new Uint8Array(16),
      valueSignature: sig,
    }),
  );
  return new UsageInfo({
    cardId: idu,
    terminalId: t.idt,
    terminalCertificate: t.cert,
    updateCounter: 0,
    terminalNonce: s.r,
    cardNonce: s.x,
    value,
    valueSignature: sig,
    timeStampSignature: sts,
    dateTime,
  }).encode();
}

describe('settlement card: terminal certificate checks (before anything else)', () => {
  it.each([
    [
      'forged (signed by a key that is not the centre’s)',
      () => term('TERM-F', new Centre(ascii('CENTRE-1'), ALG)),
      SW_SETTLE_BAD_CERTIFICATE,
    ],
    ['of another centre', () => term('TERM-O', otherCentre), SW_SETTLE_OTHER_CENTRE],
    ['expired', () => term('TERM-X', centre, T0 - 1000), SW_SETTLE_EXPIRED],
  ])('refuses a terminal certificate %s', async (_n, make, expected) => {
    const c = await issueCard(centre, 'CARD-C1', ALG, 1000);
    expect(sw(c.card, A.selectSettle())).toBe('9000');
    expect(tx(c.card, A.presentTerminal(T0, make().cert.encode())).sw).toBe(expected);
    // No session was opened: SIGN VALUE is refused.
    expect(tx(c.card, A.signValue(new Uint8Array(16))).sw).toBe(SW_SETTLE_NO_SESSION);
  });

  it('refuses a card certificate shown as a terminal’s (wrong kind)', async () => {
    const c = await issueCard(centre, 'CARD-C2', ALG, 1000);
    const d = await issueCard(centre, 'CARD-C3', ALG, 1000);
    expect(sw(c.card, A.selectSettle())).toBe('9000');
    expect(tx(c.card, A.presentTerminal(T0, d.certificate.encode())).sw).toBe(SW_SETTLE_WRONG_KIND);
    expect(describeSettleSw(SW_SETTLE_WRONG_KIND)).toContain('wrong kind');
  });

  it('refuses a time before the last signed time it saw (an expired terminal cannot turn the clock back)', async () => {
    const c = await issueCard(centre, 'CARD-C4', ALG, 1000);
    const s = open(c.card, T, T0 + DAY);
    expect(sw(c.card, A.updateValue(usage(T, c.idu, s, 900, { dateTime: T0 + DAY })))).toBe('9000');
    expect(tx(c.card, A.presentTerminal(T0 + DAY - 1000, T.cert.encode())).sw).toBe(SW_SETTLE_TIME_BACKWARDS);
  });
});

describe('settlement card: UPDATE VALUE binds this session', () => {
  it('honest update: one commit of V′, usage info and the card-signed service record', async () => {
    const c = await issueCard(centre, 'CARD-U1', ALG, 1000);
    const s = open(c.card);
    const rec = tx(c.card, A.updateValue(usage(T, c.idu, s, 700)));
    expect(hexSw(rec.sw)).toBe('9000');
    const sr = ServiceRecord.decode(rec.data);
    expect([sr.charge, sr.cardSequence]).toEqual([300, 1]);
    const st = state(c.card);
    expect([st.value, st.services, st.disabled]).toEqual([700, 1, false]);
    expect(UsageInfo.decode(tx(c.card, A.readObject(SETTLE_OBJ_USAGE_INFO)).data).value).toBe(700);
    expect(tx(c.card, A.readObject(SETTLE_OBJ_SERVICE_RECORD)).data).toEqual(rec.data);
  });

  it('refuses a signature over different data (S over another V′): logged, value unchanged', async () => {
    const c = await issueCard(centre, 'CARD-U2', ALG, 1000);
    const s = open(c.card);
    expect(tx(c.card, A.updateValue(usage(T, c.idu, s, 100, { signedValue: 700 }))).sw).toBe(
      SW_SETTLE_BAD_SIGNATURE,
    );
    expect(state(c.card).value).toBe(1000);
    const log = tx(c.card, A.readObject(SETTLE_OBJ_ABNORMALITY_LOG)).data;
    expect(log[1]).toBe(0x02); // first entry's code: bad terminal signature
    expect(state(c.card).disabled).toBe(false);
  });

  it('refuses a second UPDATE in the same session and an old session’s update in a new one', async () => {
    const c = await issueCard(centre, 'CARD-U3', ALG, 1000);
    const s1 = open(c.card);
    const u1 = usage(T, c.idu, s1, 900);
    expect(sw(c.card, A.updateValue(u1))).toBe('9000');
    expect(tx(c.card, A.updateValue(u1)).sw).toBe(SW_SETTLE_REPLAY);
    // Keep the bytes of a session that spent 100 and replay them after a session that spent 500.
    const s2 = open(c.card);
    const kept = usage(T, c.idu, s2, 800);
    tx(c.card, A.selectSettle()); // the session is dropped before its update is sent
    const s3 = open(c.card);
    expect(sw(c.card, A.updateValue(usage(T, c.idu, s3, 300)))).toBe('9000');
    open(c.card);
    expect(tx(c.card, A.updateValue(kept)).sw).toBe(SW_SETTLE_REPLAY);
    expect(state(c.card).value).toBe(300);
  });

  it('refuses a usage signed by another (certified) terminal than the one presented', async () => {
    const c = await issueCard(centre, 'CARD-U4', ALG, 1000);
    const other = term('TERM-2');
    const s = open(c.card);
    expect(tx(c.card, A.updateValue(usage(other, c.idu, s, 900))).sw).toBe(SW_SETTLE_NOT_THIS_CARD);
    expect(state(c.card).value).toBe(1000);
  });

  it('V′ = V is accepted; V′ = V + 1 disables the card (every later command 9410), abnormality logged', async () => {
    const c = await issueCard(centre, 'CARD-U5', ALG, 1000);
    const s = open(c.card);
    expect(sw(c.card, A.updateValue(usage(T, c.idu, s, 1000)))).toBe('9000');
    const s2 = open(c.card);
    expect(tx(c.card, A.updateValue(usage(T, c.idu, s2, 1001))).sw).toBe(SW_SETTLE_VALUE_INCREASE);
    const st = state(c.card);
    expect([st.value, st.disabled]).toEqual([1000, true]);
    expect(sw(c.card, A.selectSettle())).toBe('9000');
    expect(tx(c.card, A.presentTerminal(T0, T.cert.encode())).sw).toBe(SW_SETTLE_DISABLED);
    expect(tx(c.card, A.recharge(centre.value(c.idu, 5000, 2).encode())).sw).toBe(SW_SETTLE_DISABLED);
    expect(tx(c.card, A.signValue(new Uint8Array(16))).sw).toBe(SW_SETTLE_DISABLED);
    const log = tx(c.card, A.readObject(SETTLE_OBJ_ABNORMALITY_LOG)).data;
    expect(log[1]).toBe(0x01); // value increase
    expect(new DataView(log.buffer, log.byteOffset).getUint32(1 + 1 + 8 + 4)).toBe(1001);
  });
});

describe('settlement card: RECHARGE takes the centre’s SA(V‖IDU) once', () => {
  it('sequence must rise; another card’s, a forged and an expired value are refused', async () => {
    const c = await issueCard(centre, 'CARD-R1', ALG, 1000);
    const d = await issueCard(centre, 'CARD-R2', ALG, 1000);
    const ref = stateRefOf(c.card);
    expect(tx(c.card, A.recharge(centre.value(c.idu, 5000, 1, T0 + YEAR, ref).encode())).sw).toBe(
      SW_SETTLE_REPLAY,
    );
    expect(tx(c.card, A.recharge(centre.value(d.idu, 5000, 2, T0 + YEAR, ref).encode())).sw).toBe(
      SW_SETTLE_NOT_THIS_CARD,
    );
    const rogue = new Centre(ascii('CENTRE-1'), ALG);
    expect(tx(c.card, A.recharge(rogue.value(c.idu, 5000, 2, T0 + YEAR, ref).encode())).sw).toBe(
      SW_SETTLE_BAD_CERTIFICATE,
    );
    expect(tx(c.card, A.recharge(otherCentre.value(c.idu, 5000, 2, T0 + YEAR, ref).encode())).sw).toBe(
      SW_SETTLE_OTHER_CENTRE,
    );
    // Expired relative to the last signed time the card saw.
    const s = open(c.card, T, T0 + 30 * DAY);
    expect(sw(c.card, A.updateValue(usage(T, c.idu, s, 1000, { dateTime: T0 + 30 * DAY })))).toBe('9000');
    expect(tx(c.card, rechargeCommand(centre, c, 5000, 2, T0 + DAY)).sw).toBe(SW_SETTLE_EXPIRED);
    expect(state(c.card).value).toBe(1000);
    // The maximum value is taken; the same value again is a replay.
    const max = centre.value(c.idu, 0xffffffff, 0xffffffff, T0 + YEAR, stateRefOf(c.card)).encode();
    expect(sw(c.card, A.recharge(max))).toBe('9000');
    expect(state(c.card).value).toBe(0xffffffff);
    expect(tx(c.card, A.recharge(max)).sw).toBe(SW_SETTLE_REPLAY);
  });

  it('a certified dispenser’s value needs its certificate, of the dispenser named (Fig. 4C, IDC)', async () => {
    const c = await issueCard(centre, 'CARD-R4', ALG, 1000);
    const keys = provider.generateKeyPair(ALG);
    const idc = ascii('DISP-1');
    const cert = centre.certify('dispenser', idc, keys.publicKey, ALG);
    const value = SignedValue.sign(
      {
        centreId: centre.id,
        signerKind: 'dispenser',
        signerId: idc,
        cardId: c.idu,
        value: 2500,
        sequence: 2,
        challenge: stateRefOf(c.card),
        notAfter: T0 + YEAR,
      },
      provider.signer(ALG, keys.privateKey),
    ).encode();
    tx(c.card, A.selectSettle());
    expect(tx(c.card, A.recharge(value)).sw).toBe(SW_SETTLE_WRONG_KIND);
    const otherCert = centre.certify('dispenser', ascii('DISP-2'), keys.publicKey, ALG);
    expect(tx(c.card, A.recharge(value, { certificate: otherCert.encode(), now: T0 })).sw).toBe(
      SW_SETTLE_NOT_THIS_CARD,
    );
    const termCert = centre.certify('terminal', idc, keys.publicKey, ALG);
    expect(tx(c.card, A.recharge(value, { certificate: termCert.encode(), now: T0 })).sw).toBe(
      SW_SETTLE_WRONG_KIND,
    );
    expect(state(c.card).value).toBe(1000);
    expect(sw(c.card, A.recharge(value, { certificate: cert.encode(), now: T0 }))).toBe('9000');
    expect(state(c.card).value).toBe(2500);
  });

  it('PUT CERTIFICATE refuses a certificate of another key', async () => {
    const c = await issueCard(centre, 'CARD-R3', ALG, 0);
    const stranger = provider.generateKeyPair(ALG);
    tx(c.card, A.selectSettle());
    const cert = centre.certify('card', c.idu, stranger.publicKey, ALG);
    expect(tx(c.card, A.putCertificate(cert.encode())).sw).toBe(SW_SETTLE_NOT_THIS_CARD);
  });
});

describe('settlement card: tear at every store write of UPDATE VALUE', () => {
  it('the card holds the old state or the new one, never value created', async () => {
    // Reference: how many low-level writes the update makes.
    const ref = await issueCard(centre, 'CARD-TEAR', ALG, 1000);
    const s0 = open(ref.card);
    const w0 = ref.card.store.writeCount;
    expect(sw(ref.card, A.updateValue(usage(T, ref.idu, s0, 700)))).toBe('9000');
    const writes = ref.card.store.writeCount - w0;
    expect(writes).toBeGreaterThan(4);
    const seen = new Set<string>();
    for (let k = 1; k <= writes; k++) {
      const c = await issueCard(centre, 'CARD-TEAR', ALG, 1000);
      const s = open(c.card);
      const before = Buffer.from(c.card.store.image()).toString('hex');
      const cmd = A.updateValue(usage(T, c.idu, s, 700));
      c.card.store.armTear(k);
      expect(() => c.card.os.transmit(cmd.encode())).toThrow(CardPowerLostError);
      c.card.os.powerUp();
      tx(c.card, A.selectSettle());
      const st = state(c.card);
      const usageBytes = tx(c.card, A.readObject(SETTLE_OBJ_USAGE_INFO)).data;
      const svc = tx(c.card, A.readObject(SETTLE_OBJ_SERVICE_RECORD)).data;
      if (st.value === 1000) {
        expect(Buffer.from(c.card.store.image()).toString('hex')).toBe(before);
        expect([usageBytes.length, svc.length, st.services]).toEqual([0, 0, 0]);
        seen.add('old');
      } else {
        expect(st.value).toBe(700);
        expect(UsageInfo.decode(usageBytes).value).toBe(700);
        expect(ServiceRecord.decode(svc).charge).toBe(300);
        expect(st.services).toBe(1);
        seen.add('new');
      }
      // The card works afterwards: a new session signs the value it holds.
      expect(open(c.card).v).toBe(st.value);
    }
    expect(seen).toEqual(new Set(['old', 'new']));
  });
});

describe('settlement card: profile and password setting', () => {
  it('builds from the profile’s default configuration (demo centre) and answers its FCI', () => {
    const os = buildCard(PROFILE_SETTLEMENT, getProfile(PROFILE_SETTLEMENT).defaultConfig(), undefined, {
      rng: new SeededRng('profile'),
    });
    os.powerUp();
    const fci = ResponseApdu.decode(os.transmit(A.selectSettle().encode()));
    expect(hexSw(fci.sw)).toBe('9000');
    expect(Buffer.from(findTlv(fci.data, 0x5a)!).toString()).toBe('DEMO-CARD-0001');
    expect(findTlv(fci.data, 0xc1)).toEqual(Uint8Array.of(0)); // not certified yet, no password
  });

  it('a tear in REGISTER PASSWORD: the setting-number try is spent before the comparison', async () => {
    // Reference run: the writes of a registration with the right setting number.
    const run = async (k?: number): Promise<{ writes: number; tries: number; registered: boolean }> => {
      const c = await issueCard(centre, 'CARD-PW', ALG, 1000);
      tx(c.card, A.selectSettle());
      expect(sw(c.card, A.installSetting(centre.setting(c.idu, '5551234').encode()))).toBe('9000');
      expect(sw(c.card, A.presentTerminal(T0, T.cert.encode()))).toBe('9000');
      const x = tx(c.card, A.getChallenge()).data;
      const r = new Uint8Array(16).fill(3);
      const sig = signWith(
        T.signer,
        passwordInput('terminal', {
          cardId: c.idu,
          terminalId: T.idt,
          terminalNonce: r,
          cardNonce: x,
          password: ascii('2468'),
        }),
      );
      const cmd = A.registerPassword(ascii('5551234'), r, settlePasswordBlock('2468'), sig);
      const w0 = c.card.store.writeCount;
      if (k === undefined) expect(sw(c.card, cmd)).toBe('9000');
      else {
        c.card.store.armTear(k);
        expect(() => c.card.os.transmit(cmd.encode())).toThrow(CardPowerLostError);
        c.card.os.powerUp();
      }
      const writes = c.card.store.writeCount - w0;
      const fci = tx(c.card, A.selectSettle()).data;
      const registered = (findTlv(fci, 0xc1)![0]! & 2) !== 0;
      const tries = c.card.store.view('st.set.tries')![0]!;
      return { writes, tries, registered };
    };
    const ref = await run();
    expect([ref.registered, ref.tries]).toEqual([true, 0]);
    const outcomes = new Set<string>();
    for (let k = 1; k <= ref.writes; k++) {
      const o = await run(k);
      // Never registered with the try intact: a tear cannot test a setting number for free.
      expect(o.registered && o.tries === 3).toBe(false);
      if (!o.registered) expect([2, 3]).toContain(o.tries);
      outcomes.add(o.registered ? 'registered' : o.tries === 3 ? 'untouched' : 'try spent');
    }
    expect(outcomes).toEqual(new Set(['untouched', 'try spent', 'registered']));
  });

  it('an older password setting cannot be installed again', async () => {
    const c = await issueCard(centre, 'CARD-PW2', ALG, 1000);
    tx(c.card, A.selectSettle());
    const newer = centre.setting(c.idu, '11112222', T0 + 2 * YEAR);
    const older = centre.setting(c.idu, '33334444', T0 + YEAR);
    expect(sw(c.card, A.installSetting(newer.encode()))).toBe('9000');
    expect(tx(c.card, A.installSetting(older.encode())).sw).toBe(SW_SETTLE_REPLAY);
    expect(tx(c.card, A.installSetting(newer.encode())).sw).toBe(SW_SETTLE_REPLAY);
  });
});

describe('settlement card: garbled commands', () => {
  it('truncated or flipped bytes of every command give a status word, never 6F00 (an unexpected exception)', async () => {
    const c = await issueCard(centre, 'CARD-FZ', ALG, 1000);
    const fuzz = new SeededRng('fuzz');
    const s = open(c.card);
    const valid = [
      A.presentTerminal(T0, T.cert.encode()),
      A.updateValue(usage(T, c.idu, s, 900)),
      A.recharge(centre.value(c.idu, 5, 9, T0 + YEAR, stateRefOf(c.card)).encode()),
      A.installSetting(centre.setting(c.idu, '12345678').encode()),
      A.putCertificate(c.certificate.encode()),
      A.registerPassword(
        ascii('12345678'),
        new Uint8Array(16),
        settlePasswordBlock('1234'),
        new Uint8Array(64),
      ),
    ];
    const seen = new Set<string>();
    for (let i = 0; i < 600; i++) {
      const base = valid[i % valid.length]!;
      const data = base.data;
      const cut =
        fuzz.bytes(1)[0]! % 3 === 0
          ? data.subarray(0, fuzz.bytes(2)[0]! % Math.max(1, data.length))
          : data.slice();
      if (cut.length > 0) cut[fuzz.bytes(2)[1]! % cut.length]! ^= 1 << (fuzz.bytes(1)[0]! % 8);
      if (i % 7 === 0) open(c.card); // sometimes inside a session
      const r = tx(
        c.card,
        new CommandApdu({
          cla: base.cla,
          ins: base.ins,
          p1: base.p1,
          p2: base.p2,
          ...(cut.length ? { data: cut } : {}),
          ne: 65536,
          extended: true,
        }),
      );
      seen.add(hexSw(r.sw));
      expect(hexSw(r.sw)).not.toBe('6F00');
    }
    expect(seen.size).toBeGreaterThan(3);
    // Whatever got through, no value was created.
    expect(state(c.card).value).toBeLessThanOrEqual(1000);
  });
});
