/**
 * Blank chips and their personalisation gate (docs/personalisation.md §1, §2), through APDUs only.
 * The test plays the master-key card itself (PersoCrypto with the demo issuer's keys and a demo
 * transport master): host cryptogram, wrapped keys, the MAC chain. Each kind is personalised and
 * then shown to work with the existing flows; then the refusals, the life cycle and a tearing
 * sweep of SET STATUS 05.
 */
import { describe, expect, it } from 'vitest';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import type { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import { CardPowerLostError } from '../../card/os/CardOs.js';
import { NodeCipherProvider } from '../../card/crypto/NodeCipherProvider.js';
import { SeededRng } from '../../card/crypto/rng.js';
import { concatBytes, fromHex, toHex } from '../../card/util/hex.js';
import { be16, be32 } from '../../card/util/bigEndian.js';
import { AID_PURSE, AID_SAM, AID_SVM } from '../../card/applets/constants.js';
import { IssuerKeys } from '../../card/applets/IssuerKeys.js';
import { readDevice } from '../../card/applets/inspect.js';
import {
  ATR_SUBSCRIBER_T0,
  defaultPurses,
  makeSam,
  makeSubscriberCard,
  makeSvm,
  type Device,
} from '../../card/applets/profiles.js';
import { pinBlock, type PurseInit } from '../../card/applets/purse/PurseApplet.js';
import { AUTH_COMMISSIONING } from '../../card/applets/sam/SamApplet.js';
import { AID_COMMISSIONING } from '../../card/applets/commissioning/CommissioningApplet.js';
import { makeCommissioningCard } from '../../card/applets/commissioning/makeCommissioningCard.js';
import { buildCard, getProfile } from '../../card/os/CardProfiles.js';
import type { Iso7816Os } from '../../card/os/Iso7816Os.js';
import {
  COMM_KEY,
  KIND_COMMISSIONING,
  KIND_SAM,
  KIND_SUBSCRIBER,
  KIND_SVM,
  MacChain,
  PersoCrypto,
  SAM_KEY_AUTH,
  SAM_KEY_COMM,
  SAM_KEY_DEBIT,
  SAM_KEY_KT_BASE,
  SAM_KEY_SVM,
  SVM_KEY_PROOF,
  SVM_KEY_SVM,
  macHeader,
  subscriberKeyId,
} from '../../card/applets/perso/channel.js';
import {
  demoTransportMaster,
  makeBlankCard,
  type BlankKind,
  KIND_OF,
} from '../../card/applets/perso/blank.js';
import type { World } from '../transfer/world.js';
import {
  A,
  CSN,
  TERMINAL_ID,
  hostAuthorise,
  coreTokenAuth,
  hexSw,
  image,
  ok,
  prepareDebit,
  prepareLoad,
  purse,
  svmState,
  tx,
  u32,
} from './harness.js';

const cipher = new NodeCipherProvider();
const issuer = IssuerKeys.demo(cipher, 'test');
const pc = new PersoCrypto(cipher);
const MK_TR = demoTransportMaster(cipher, 'test');
const ICSN = fromHex('4943534E00000001');
const METER_ID = fromHex('000123');
const COM_CSN = fromHex('4D43000000000001');
const COM_PAYLOAD = fromHex('01000123C0FFEE0000012C00320000');

const AIDS: Record<BlankKind, Uint8Array> = {
  subscriber: AID_PURSE,
  sam: AID_SAM,
  svm: AID_SVM,
  commissioning: AID_COMMISSIONING,
};
const KINDS: Record<BlankKind, number> = {
  subscriber: KIND_SUBSCRIBER,
  sam: KIND_SAM,
  svm: KIND_SVM,
  commissioning: KIND_COMMISSIONING,
};

const cmd = (ins: number, p1: number, p2: number, data?: Uint8Array, ne?: number): CommandApdu =>
  new CommandApdu({
    cla: 0x80,
    ins,
    p1,
    p2,
    ...(data ? { data } : {}),
    ...(ne !== undefined ? { ne } : {}),
  });

const sw = (os: Iso7816Os, c: CommandApdu): string => hexSw(tx(os, c).sw);

/** A blank chip, powered and selected. */
function blank(kind: BlankKind, icsn = ICSN): Device {
  const dev = makeBlankCard(kind, {
    icsn,
    tkv: 1,
    transportKey: pc.transportKey(MK_TR, icsn, KIND_OF[kind]),
    cipher,
    rng: new SeededRng(`blank:${kind}`),
  });
  dev.os.powerUp();
  ok(dev.os, A.selectAid(AIDS[kind]));
  return dev;
}

/** The bureau side of one session: what the MKC computes, sent to the chip by the test. */
class Bureau {
  chain!: MacChain;
  skEnc!: Uint8Array;
  #rm = new SeededRng('rm');
  constructor(
    readonly os: Iso7816Os,
    readonly kind: number,
    readonly subject: Uint8Array,
    readonly kTr = pc.transportKey(MK_TR, ICSN, kind),
    readonly icsn = ICSN,
  ) {}

  /** 80 84 then 80 82; the answer of 80 82 (the card cryptogram is checked when it is 9000). */
  open(o: { kindInCryptogram?: number; subjectSent?: Uint8Array } = {}): ResponseApdu {
    const rt = ok(this.os, cmd(0x84, 0, 0, undefined, 8));
    const rm = this.#rm.bytes(8);
    const sk = pc.sessionKeys(this.kTr, rt, rm);
    const kind = o.kindInCryptogram ?? this.kind;
    const subject = o.subjectSent ?? this.subject;
    const host = pc.hostCryptogram(sk.mac, kind, this.icsn, rt, rm, subject);
    const r = tx(this.os, cmd(0x82, 0, 0, concatBytes(rm, subject, host), 256));
    if (r.sw === 0x9000) {
      expect(toHex(r.data)).toBe(toHex(pc.cardCryptogram(sk.mac, kind, this.icsn, rt, rm, subject)));
      this.chain = new MacChain(pc, sk.mac, r.data);
      this.skEnc = sk.enc;
    }
    return r;
  }

  putKey(id: number, version: number, key: Uint8Array): CommandApdu {
    const d = pc.wrapKey(this.skEnc, key);
    return cmd(0xd8, version, id, concatBytes(d, this.chain.next(macHeader(0x80, 0xd8, version, id), d)));
  }

  storeData(last: boolean, n: number, tlvs: Uint8Array): CommandApdu {
    const p1 = last ? 0x80 : 0x00;
    return cmd(0xe2, p1, n, concatBytes(tlvs, this.chain.next(macHeader(0x80, 0xe2, p1, n), tlvs)));
  }

  setStatus(lcs: number): CommandApdu {
    return cmd(0xf0, 0, lcs, this.chain.next(macHeader(0x80, 0xf0, 0, lcs), new Uint8Array(0)), 256);
  }

  wrapPin(pin: string): Uint8Array {
    return pc.wrapPinBlock(this.skEnc, pinBlock(pin));
  }
}

function tlv(tag: number, ...value: Uint8Array[]): Uint8Array {
  const v = concatBytes(...value);
  const t = tag > 0xff ? Uint8Array.of(tag >> 8, tag & 0xff) : Uint8Array.of(tag);
  return concatBytes(t, Uint8Array.of(v.length), v);
}
const b1 = (x: number) => Uint8Array.of(x);

interface Plan {
  kind: BlankKind;
  subject: Uint8Array;
  keys: [id: number, version: number, key: Uint8Array][];
  /** The TLVs of each STORE DATA block; `pin` is appended to the last as C8 when given. */
  blocks: Uint8Array[];
  pin?: string;
}

function subscriberPlan(
  o: { csn?: Uint8Array; purses?: PurseInit[]; pin?: string; version?: number } = {},
): Plan {
  const csn = o.csn ?? CSN;
  const purses = o.purses ?? defaultPurses(10_000);
  const sets = issuer.cardKeySets(
    csn,
    purses.map((p) => p.id),
  );
  const keys: Plan['keys'] = [];
  for (const p of purses) {
    const k = sets.get(p.id)!;
    [k.auth, k.debit, k.credit, k.proof].forEach((key, i) =>
      keys.push([subscriberKeyId(p.id, (i + 1) as 1 | 2 | 3 | 4), o.version ?? 1, key]),
    );
  }
  const purseTlvs = purses.map((p) =>
    tlv(
      0xa0,
      tlv(0xc2, b1(p.id)),
      tlv(0xc4, be32(p.max)),
      tlv(0xc5, be32(p.limit)),
      tlv(0xc6, be16(p.unit)),
      tlv(0xc7, be32(p.balance ?? 0)),
    ),
  );
  return {
    kind: 'subscriber',
    subject: csn,
    keys,
    blocks: [
      concatBytes(tlv(0x5a, csn), tlv(0x42, fromHex('4D505552')), tlv(0x5f24, fromHex('301231'))),
      concatBytes(...purseTlvs),
    ],
    ...(o.pin ? { pin: o.pin } : {}),
  };
}

const meterSubject = (pairing = 1) => concatBytes(b1(1), METER_ID, be16(pairing));
const meterTlvs = (pairing = 1) =>
  concatBytes(tlv(0xc1, METER_ID), tlv(0xc2, TERMINAL_ID), tlv(0xc3, b1(1)), tlv(0xc4, be16(pairing)));

function samPlan(): Plan {
  const k = issuer.samKeys(METER_ID, 1, 1);
  return {
    kind: 'sam',
    subject: meterSubject(),
    keys: [
      [SAM_KEY_AUTH, 1, k.mkAuth],
      [SAM_KEY_DEBIT, 1, k.mkDebit],
      [SAM_KEY_COMM, 1, k.mkCommission],
      [SAM_KEY_SVM, 1, k.svm],
      ...k.terminal.map(([n, key]) => [SAM_KEY_KT_BASE + n, 1, key] as [number, number, Uint8Array]),
    ],
    blocks: [meterTlvs()],
  };
}

function svmPlan(balance = 500): Plan {
  const k = issuer.svmKeys(METER_ID, 1, 1);
  return {
    kind: 'svm',
    subject: meterSubject(),
    keys: [
      [SVM_KEY_PROOF, 1, k.mkProof],
      [SVM_KEY_SVM, 1, k.svm],
    ],
    blocks: [concatBytes(meterTlvs(), tlv(0xc5, be32(100_000)), tlv(0xc6, be32(balance)))],
  };
}

function commissioningPlan(): Plan {
  return {
    kind: 'commissioning',
    subject: concatBytes(b1(1), COM_CSN),
    keys: [[COMM_KEY, 1, issuer.commissioningKey(COM_CSN, 1)]],
    blocks: [concatBytes(tlv(0x5a, COM_CSN), tlv(0xc3, b1(1)), tlv(0xc5, be16(3)), tlv(0xc9, COM_PAYLOAD))],
  };
}

/** Runs a plan up to (not including) SET STATUS; returns the session and the SET STATUS 05 command. */
function stage(dev: Device, plan: Plan): { bureau: Bureau; setStatus: CommandApdu } {
  const bureau = new Bureau(dev.os, KINDS[plan.kind], plan.subject);
  expect(hexSw(bureau.open().sw)).toBe('9000');
  for (const [id, v, key] of plan.keys) ok(dev.os, bureau.putKey(id, v, key));
  plan.blocks.forEach((b, i) => {
    const last = i === plan.blocks.length - 1;
    const data = last && plan.pin ? concatBytes(b, tlv(0xc8, bureau.wrapPin(plan.pin))) : b;
    ok(dev.os, bureau.storeData(last, i, data));
  });
  return { bureau, setStatus: bureau.setStatus(0x05) };
}

/** The whole personalisation; checks the receipt. */
function personalise(dev: Device, plan: Plan): void {
  const { bureau, setStatus } = stage(dev, plan);
  const receipt = ok(dev.os, setStatus);
  expect(toHex(receipt)).toBe(toHex(bureau.chain.receipt(0x05)));
}

function personalised(kind: BlankKind, plan: Plan): Device {
  const dev = blank(kind);
  personalise(dev, plan);
  return dev;
}

function world(card: Device, sam: Device, svm: Device): World {
  for (const d of [card, sam, svm]) {
    if (!d.os.powered) d.os.powerUp();
  }
  ok(card.os, A.selectAid(AID_PURSE));
  ok(sam.os, A.selectAid(AID_SAM));
  ok(svm.os, A.selectAid(AID_SVM));
  return {
    issuer,
    card,
    sam,
    svm,
    core: () => ({ key: issuer.coreKey(METER_ID, 1), cipher }),
  } as unknown as World;
}

const realSam = () =>
  makeSam(issuer, { meterId: METER_ID, terminalId: TERMINAL_ID, rng: new SeededRng('sam') });
const realSvm = () =>
  makeSvm(issuer, {
    meterId: METER_ID,
    terminalId: TERMINAL_ID,
    max: 100_000,
    balance: 500,
    rng: new SeededRng('svm'),
  });
const realCard = () =>
  makeSubscriberCard(issuer, { csn: CSN, purses: defaultPurses(10_000), rng: new SeededRng('card') });

/** The SELECT answer of a chip (data and SW). */
function select(dev: Device, kind: BlankKind): ResponseApdu {
  return tx(dev.os, A.selectAid(AIDS[kind]));
}

describe('blank chips (LCS 03)', () => {
  it.each(['subscriber', 'sam', 'svm', 'commissioning'] as const)(
    '%s: SELECT answers the blank FCI; application commands 6985',
    (kind) => {
      const dev = blank(kind);
      const r = select(dev, kind);
      expect(hexSw(r.sw)).toBe('9000');
      const aid = AIDS[kind];
      expect(toHex(r.data)).toBe(
        toHex(
          concatBytes(
            Uint8Array.of(0x6f, 2 + aid.length + 3 + 2 + 16, 0x84, aid.length),
            aid,
            fromHex('8A0103A510C908'),
            ICSN,
            Uint8Array.of(0xca, 1, 1, 0xcb, 1, KINDS[kind]),
          ),
        ),
      );
      expect(readDevice(dev.store)).toEqual({ kind: 'blank', lcs: 3, chip: kind, icsn: toHex(ICSN), tkv: 1 });
      const appCommand = {
        subscriber: A.getChallenge(),
        sam: A.authInit(CSN, new Uint8Array(8)),
        svm: A.readState(),
        commissioning: A.getChallenge(),
      }[kind];
      expect(sw(dev.os, appCommand)).toBe('6985');
    },
  );

  it('the registered blank profiles build from their default configuration', () => {
    for (const kind of ['subscriber', 'sam', 'svm', 'commissioning'] as const) {
      const id = `blank-${kind}`;
      const os = buildCard(id, getProfile(id).defaultConfig(), undefined, {
        cipher,
        rng: new SeededRng('p'),
      });
      os.powerUp();
      const r = tx(os, A.selectAid(AIDS[kind]));
      expect(hexSw(r.sw)).toBe('9000');
      expect(r.data[r.data.length - 1]).toBe(KINDS[kind]);
    }
  });
});

describe('personalisation of each kind, then the existing flows', () => {
  it('subscriber: same FCI as a card made by the profile; SAM DEBIT, SVM credit and LOAD work', () => {
    const card = personalised('subscriber', subscriberPlan());
    const ref = realCard();
    ref.os.powerUp();
    expect(toHex(select(card, 'subscriber').data)).toBe(toHex(ok(ref.os, A.selectAid(AID_PURSE))));
    const w = world(card, realSam(), realSvm());
    const d = prepareDebit(w, 300);
    ok(w.svm.os, d.begin);
    const r = ok(w.card.os, d.debit);
    ok(w.svm.os, A.completeTransfer(u32(r, 0), r.subarray(6, 14)));
    expect(purse(w).balance).toBe(9_700);
    expect(svmState(w).balance).toBe(800);
    ok(w.card.os, prepareLoad(w, 500));
    expect(purse(w).balance).toBe(10_200);
    expect(readDevice(card.store)).toMatchObject({ kind: 'subscriber', csn: toHex(CSN), keyVersion: 1 });
  });

  it('subscriber with a PIN from C8, other purses and key version 3', () => {
    const purses: PurseInit[] = [
      { id: 1, balance: 50, max: 1000, limit: 100, unit: 978 },
      { id: 15, max: 2000, limit: 10, unit: 826 },
    ];
    const card = personalised('subscriber', subscriberPlan({ purses, pin: '2468', version: 3 }));
    expect(readDevice(card.store)).toMatchObject({
      kind: 'subscriber',
      keyVersion: 3,
      pin: { required: true, triesLeft: 3 },
      purses: [
        { id: 1, balance: 50, max: 1000 },
        { id: 15, balance: 0, max: 2000, unit: 826 },
      ],
    });
    expect(hexSw(tx(card.os, A.verifyPin(pinBlock('1111'))).sw)).toBe('63C2');
    ok(card.os, A.verifyPin(pinBlock('2468')));
  });

  it('SAM and SVM: same FCIs as the profiles; DEBIT + transfer, token request and host credit work', () => {
    const sam = personalised('sam', samPlan());
    const svm = personalised('svm', svmPlan(500));
    const refSam = realSam();
    const refSvm = realSvm();
    refSam.os.powerUp();
    refSvm.os.powerUp();
    expect(toHex(select(sam, 'sam').data)).toBe(toHex(ok(refSam.os, A.selectAid(AID_SAM))));
    expect(toHex(select(svm, 'svm').data)).toBe(toHex(ok(refSvm.os, A.selectAid(AID_SVM))));
    const w = world(realCard(), sam, svm);
    const d = prepareDebit(w, 300);
    ok(w.svm.os, d.begin);
    const r = ok(w.card.os, d.debit);
    ok(w.svm.os, A.completeTransfer(u32(r, 0), r.subarray(6, 14)));
    expect(svmState(w).balance).toBe(800);
    const n = svmState(w).counter + 1;
    ok(w.svm.os, A.tokenRequest(100, n, ok(w.sam.os, coreTokenAuth(w, 100, n))));
    expect(svmState(w).balance).toBe(700);
    const h = hostAuthorise(w, 250, fromHex('0102030405060708'), 7);
    ok(w.svm.os, h.credit);
    expect(svmState(w).balance).toBe(950);
  });

  it('commissioning: same FCI as makeCommissioningCard; a SAM authenticates it with K_comm', () => {
    const com = personalised('commissioning', commissioningPlan());
    const ref = makeCommissioningCard(issuer, { csn: COM_CSN, payload: COM_PAYLOAD, uses: 3 });
    ref.os.powerUp();
    expect(toHex(select(com, 'commissioning').data)).toBe(toHex(ok(ref.os, A.selectAid(AID_COMMISSIONING))));
    expect(readDevice(com.store)).toEqual({
      kind: 'commissioning',
      csn: toHex(COM_CSN),
      purse: 1,
      uses: 3,
      issuance: { lcs: 5, state: 'personalised', icsn: expect.any(String), tkv: 1 },
    });
    const sam = realSam();
    sam.os.powerUp();
    ok(sam.os, A.selectAid(AID_SAM));
    const rc = ok(com.os, A.getChallenge());
    const init = ok(sam.os, A.authInit(COM_CSN, rc, AUTH_COMMISSIONING));
    const sCard = ok(com.os, A.mutualAuthenticate(init.subarray(0, 8), init.subarray(8, 16), 1));
    ok(sam.os, A.authFinish(sCard));
  });
});

describe('refusals', () => {
  it('host cryptogram from a wrong transport key: 6300, and the session is gone', () => {
    const dev = blank('sam');
    const b = new Bureau(
      dev.os,
      KIND_SAM,
      meterSubject(),
      pc.transportKey(demoTransportMaster(cipher, 'x'), ICSN, KIND_SAM),
    );
    expect(hexSw(b.open().sw)).toBe('6300');
    // No session: PUT KEY is out of order.
    expect(sw(dev.os, cmd(0xd8, 1, 1, new Uint8Array(27)))).toBe('6985');
    // Without a fresh challenge EXTERNAL AUTHENTICATE is refused.
    expect(sw(dev.os, cmd(0x82, 0, 0, new Uint8Array(22), 256))).toBe('6985');
  });

  it('wrong kind: a subject of another kind or P1 naming another kind 6A80; a cryptogram of another kind 6300', () => {
    const dev = blank('svm');
    expect(hexSw(new Bureau(dev.os, KIND_SVM, CSN).open().sw)).toBe('6A80');
    const b = new Bureau(dev.os, KIND_SVM, meterSubject());
    expect(hexSw(b.open({ kindInCryptogram: KIND_SAM }).sw)).toBe('6300');
    ok(dev.os, cmd(0x84, 0, 0, undefined, 8));
    expect(sw(dev.os, cmd(0x82, KIND_SAM, 0, new Uint8Array(22), 256))).toBe('6A80');
  });

  it('PUT KEY with a bad MAC: 6988, the staging is dropped; a replayed PUT KEY: 6988', () => {
    const dev = blank('svm');
    const plan = svmPlan();
    let b = new Bureau(dev.os, KIND_SVM, plan.subject);
    b.open();
    ok(dev.os, b.putKey(1, 1, plan.keys[0]![2]));
    const bad = b.putKey(2, 1, plan.keys[1]![2]);
    const data = bad.data;
    data[data.length - 1]! ^= 1;
    expect(sw(dev.os, cmd(0xd8, 1, 2, data))).toBe('6988');
    // The session is gone, with key 01.
    expect(sw(dev.os, b.storeData(true, 0, plan.blocks[0]!))).toBe('6985');

    b = new Bureau(dev.os, KIND_SVM, plan.subject);
    b.open();
    const put = b.putKey(1, 1, plan.keys[0]![2]);
    ok(dev.os, put);
    expect(sw(dev.os, put)).toBe('6988');

    // A fresh session with key 02 only (01 was dropped with the sessions before): 6985 at SET STATUS.
    b = new Bureau(dev.os, KIND_SVM, plan.subject);
    b.open();
    ok(dev.os, b.putKey(2, 1, plan.keys[1]![2]));
    ok(dev.os, b.storeData(true, 0, plan.blocks[0]!));
    expect(sw(dev.os, b.setStatus(5))).toBe('6985');
    expect(hexSw(select(dev, 'svm').sw)).toBe('9000');
    expect(readDevice(dev.store)).toMatchObject({ kind: 'blank' });
  });

  it('PUT KEY with a wrong KCV: 6A80 and the session is dropped', () => {
    const dev = blank('commissioning');
    const b = new Bureau(dev.os, KIND_COMMISSIONING, concatBytes(b1(1), COM_CSN));
    b.open();
    const wrapped = pc.wrapKey(b.skEnc, issuer.commissioningKey(COM_CSN, 1));
    wrapped[17]! ^= 1;
    const c = cmd(0xd8, 1, 1, concatBytes(wrapped, b.chain.next(macHeader(0x80, 0xd8, 1, 1), wrapped)));
    expect(sw(dev.os, c)).toBe('6A80');
    expect(sw(dev.os, b.setStatus(5))).toBe('6985');
  });

  it('STORE DATA out of order: 6A86 (dropped); more than 1024 bytes 6A84', () => {
    const dev = blank('subscriber');
    const plan = subscriberPlan();
    const b = new Bureau(dev.os, KIND_SUBSCRIBER, plan.subject);
    b.open();
    expect(sw(dev.os, b.storeData(false, 1, plan.blocks[0]!))).toBe('6A86');
    expect(sw(dev.os, b.storeData(false, 0, plan.blocks[0]!))).toBe('6985');
    const c = new Bureau(dev.os, KIND_SUBSCRIBER, plan.subject);
    c.open();
    for (let i = 0; i < 4; i++) ok(dev.os, c.storeData(false, i, new Uint8Array(240).fill(0xff)));
    expect(sw(dev.os, c.storeData(true, 4, new Uint8Array(200)))).toBe('6A84');
  });

  it('SET STATUS with a key missing: 6985 and nothing written', () => {
    const dev = blank('subscriber');
    const plan = subscriberPlan();
    plan.keys = plan.keys.filter(([id]) => id !== subscriberKeyId(4, 3));
    const before = image(dev.store);
    expect(sw(dev.os, stage(dev, plan).setStatus)).toBe('6985');
    expect(image(dev.store)).toBe(before);
  });

  it('CSN in STORE DATA different from the subject: 6A80; keys of two versions: 6A80', () => {
    const dev = blank('subscriber');
    const plan = subscriberPlan();
    plan.blocks[0] = concatBytes(
      tlv(0x5a, fromHex('4D50000000000002')),
      tlv(0x42, fromHex('4D505552')),
      tlv(0x5f24, fromHex('301231')),
    );
    expect(sw(dev.os, stage(dev, plan).setStatus)).toBe('6A80');
    const mixed = subscriberPlan();
    mixed.keys[3]![1] = 2;
    expect(sw(dev.os, stage(dev, mixed).setStatus)).toBe('6A80');
    const sam = blank('sam');
    const sp = samPlan();
    sp.blocks = [meterTlvs(2)];
    expect(sw(sam.os, stage(sam, sp).setStatus)).toBe('6A80');
    expect(readDevice(dev.store)).toMatchObject({ kind: 'blank' });
  });

  it('after personalisation: PUT KEY and STORE DATA 6985; a management session must name the card itself', () => {
    const dev = personalised('sam', samPlan());
    const b = new Bureau(dev.os, KIND_SAM, meterSubject());
    expect(hexSw(b.open().sw)).toBe('9000');
    expect(sw(dev.os, b.putKey(1, 1, new Uint8Array(16)))).toBe('6985');
    const c = new Bureau(dev.os, KIND_SAM, meterSubject());
    c.open();
    expect(sw(dev.os, c.storeData(true, 0, meterTlvs()))).toBe('6985');
    expect(hexSw(new Bureau(dev.os, KIND_SAM, meterSubject(2)).open().sw)).toBe('6A80');
    const d = new Bureau(dev.os, KIND_SAM, meterSubject());
    d.open();
    expect(sw(dev.os, d.setStatus(5))).toBe('6985'); // 05 → 05 is no transition
  });
});

describe('life cycle', () => {
  it('block (6283 on SELECT, DEBIT 6985), unblock, terminate (6285 for ever)', () => {
    const card = personalised('subscriber', subscriberPlan());
    const w = world(card, realSam(), realSvm());
    const appFci = ok(card.os, A.selectAid(AID_PURSE));
    const manage = (lcs: number) => {
      const b = new Bureau(card.os, KIND_SUBSCRIBER, CSN);
      expect(hexSw(b.open().sw)).toBe('9000');
      const r = ok(card.os, b.setStatus(lcs));
      expect(toHex(r)).toBe(toHex(b.chain.receipt(lcs)));
    };
    manage(0x04);
    let s = tx(card.os, A.selectAid(AID_PURSE));
    expect(hexSw(s.sw)).toBe('6283');
    expect(toHex(s.data)).toBe(toHex(appFci));
    const d = prepareDebitOnBlocked(w);
    expect(d).toBe('6985');
    // 04 → 04 is no transition.
    const again = new Bureau(card.os, KIND_SUBSCRIBER, CSN);
    again.open();
    expect(sw(card.os, again.setStatus(4))).toBe('6985');
    manage(0x05);
    s = tx(card.os, A.selectAid(AID_PURSE));
    expect(hexSw(s.sw)).toBe('9000');
    const p = prepareDebit(w, 100);
    ok(w.svm.os, p.begin);
    ok(card.os, p.debit);
    manage(0x0c);
    for (let i = 0; i < 2; i++) {
      s = tx(card.os, A.selectAid(AID_PURSE));
      expect(hexSw(s.sw)).toBe('6285');
      expect(toHex(s.data)).toBe(toHex(concatBytes(fromHex('6F0D8408'), AID_PURSE, fromHex('8A010C'))));
      expect(sw(card.os, A.getChallenge())).toBe('6985');
      expect(sw(card.os, cmd(0x84, 0, 0, undefined, 8))).toBe('6985');
      card.os.powerDown();
      card.os.powerUp();
    }
  });

  it('SELECT with P2 0C (no response data) keeps the warning; a card file image keeps the state', () => {
    const sam = personalised('sam', samPlan());
    const b = new Bureau(sam.os, KIND_SAM, meterSubject());
    b.open();
    ok(sam.os, b.setStatus(0x04));
    const r = tx(sam.os, new CommandApdu({ cla: 0, ins: 0xa4, p1: 4, p2: 0x0c, data: AID_SAM }));
    expect(hexSw(r.sw)).toBe('6283');
    expect(r.data.length).toBe(0);
    const img = sam.os.services.store.image();
    const cfg = { icsn: toHex(ICSN), tkv: 1 }; // no transport key: not needed to reopen
    const again = buildCard('blank-sam', cfg, img, { cipher, rng: new SeededRng('again') });
    again.powerUp();
    const s = tx(again, A.selectAid(AID_SAM));
    expect(hexSw(s.sw)).toBe('6283');
    expect(toHex(s.data)).toBe(toHex(ok(personalised('sam', samPlan()).os, A.selectAid(AID_SAM))));
  });

  it('a T=0 blank subscriber chip has the subscriber T=0 ATR and answers over GET RESPONSE', () => {
    const dev = makeBlankCard('subscriber', {
      icsn: ICSN,
      tkv: 2,
      transportKey: pc.transportKey(MK_TR, ICSN, KIND_SUBSCRIBER),
      protocol: 'T=0',
      cipher,
    });
    expect(toHex(dev.os.powerUp())).toBe(toHex(ATR_SUBSCRIBER_T0));
    const r = tx(dev.os, A.selectAid(AID_PURSE));
    expect(r.sw1).toBe(0x61);
  });

  it('a blank chip takes no SET STATUS but 05', () => {
    const dev = blank('svm');
    for (const lcs of [0x04, 0x0c, 0x03]) {
      const b = new Bureau(dev.os, KIND_SVM, meterSubject());
      b.open();
      expect(sw(dev.os, b.setStatus(lcs))).toBe('6985');
    }
  });
});

/** On a blocked card: GET CHALLENGE (the start of every DEBIT) and DEBIT itself are 6985. */
function prepareDebitOnBlocked(w: World): string {
  const g = sw(w.card.os, A.getChallenge());
  expect(g).toBe('6985');
  return sw(
    w.card.os,
    A.debit(1, 100, TERMINAL_ID, fromHex('261122083000'), new Uint8Array(8), new Uint8Array(8)),
  );
}

describe('tearing during SET STATUS 05', () => {
  const plans: [BlankKind, () => Plan][] = [
    ['subscriber', () => subscriberPlan({ pin: '1234' })],
    ['sam', samPlan],
    ['svm', () => svmPlan()],
    ['commissioning', commissioningPlan],
  ];
  it.each(plans)('%s: the chip is blank with nothing written, or fully personalised', (kind, plan) => {
    const ref = blank(kind);
    const blankImage = image(ref.store);
    const { setStatus } = stage(ref, plan());
    const w0 = ref.store.writeCount;
    ok(ref.os, setStatus);
    const writes = ref.store.writeCount - w0;
    const done = image(ref.store);
    expect(writes).toBeGreaterThan(1);
    const seen = new Set<string>();
    for (let k = 1; k <= writes; k++) {
      const dev = blank(kind);
      const s = stage(dev, plan()).setStatus;
      dev.store.armTear(k);
      expect(() => dev.os.transmit(s.encode())).toThrow(CardPowerLostError);
      dev.os.powerUp();
      const now = image(dev.store);
      expect([blankImage, done]).toContain(now);
      const r = select(dev, kind);
      expect(hexSw(r.sw)).toBe('9000');
      if (now === blankImage) {
        seen.add('blank');
        expect(readDevice(dev.store)).toMatchObject({ kind: 'blank' });
        expect(r.data.subarray(0, 2 + 2 + AIDS[kind].length + 3)).toContain(0x8a);
        // It personalises again from the start.
        personalise(dev, plan());
      } else seen.add('personalised');
      expect(image(dev.store)).toBe(done);
    }
    expect(seen).toEqual(new Set(['blank', 'personalised']));
  });
});
