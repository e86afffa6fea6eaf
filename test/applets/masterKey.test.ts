/**
 * The master-key card (card/applets/mkc/, docs/personalisation.md §3 and its side of §2), driven
 * only through APDUs: the key ceremony (LOAD COMPONENT, SEAL, GET DATA), the PIN (also under
 * tearing), and personalisation sessions against a blank chip played by the test itself with
 * PersoCrypto — the keys that come out, unwrapped, must be the IssuerKeys derivations for the
 * session's subject.
 */
import { describe, expect, it } from 'vitest';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import { findTlv } from '../../card/iso7816/tlv.js';
import { CardPowerLostError } from '../../card/os/CardOs.js';
import { buildCard, cardOrigin } from '../../card/os/CardProfiles.js';
import { NodeCipherProvider } from '../../card/crypto/NodeCipherProvider.js';
import { SeededRng } from '../../card/crypto/rng.js';
import { kcv } from '../../card/crypto/kcv.js';
import { adjustDesParity, deriveTerminalKey } from '../../card/crypto/keyHierarchy.js';
import { concatBytes, fromHex, toHex } from '../../card/util/hex.js';
import { be16, u32 } from '../../card/util/bigEndian.js';
import { IssuerKeys, type UtilityMasters } from '../../card/applets/IssuerKeys.js';
import {
  AID_MKC,
  KIND_COMMISSIONING,
  KIND_SAM,
  KIND_SUBSCRIBER,
  KIND_SVM,
  MacChain,
  PersoCrypto,
  macHeader,
  slotOf,
} from '../../card/applets/perso/channel.js';
import {
  ATR_MKC,
  MKC_SLOTS,
  PROFILE_MASTER_KEY,
  makeMasterKeyCard,
  masterKeyCardOf,
  type MasterKeyCard,
} from '../../card/applets/mkc/index.js';
import { pinBlock } from '../../card/applets/purse/PurseApplet.js';

const cipher = new NodeCipherProvider();
const perso = new PersoCrypto(cipher);
const PIN = '123456';
const SERIAL = fromHex('4D4B430000000042');
const U = 2; // the utility of the ceremony

interface R {
  sw: string;
  data: Uint8Array;
}

function send(mkc: MasterKeyCard, c: CommandApdu | string): R {
  const bytes = typeof c === 'string' ? fromHex(c) : c.encode();
  const r = ResponseApdu.decode(mkc.os.transmit(bytes));
  return { sw: r.sw.toString(16).toUpperCase().padStart(4, '0'), data: r.data };
}

function ok(mkc: MasterKeyCard, c: CommandApdu | string): Uint8Array {
  const r = send(mkc, c);
  expect(r.sw).toBe('9000');
  return r.data;
}

const cmd = (cla: number, ins: number, p1: number, p2: number, data?: Uint8Array, ne?: number) =>
  new CommandApdu({
    cla,
    ins,
    p1,
    p2,
    ...(data && data.length ? { data } : {}),
    ...(ne !== undefined ? { ne } : {}),
  });

const select = () => cmd(0x00, 0xa4, 0x04, 0x00, AID_MKC, 256);
const verify = (pin: string | Uint8Array) =>
  cmd(0x00, 0x20, 0x00, 0x81, typeof pin === 'string' ? pinBlock(pin) : pin);
const askTries = () => cmd(0x00, 0x20, 0x00, 0x81);
const load = (slot: number, n: number, component: Uint8Array, version = 1, check = kcv(cipher, component)) =>
  cmd(0x80, 0x50, slot, n, concatBytes(component, check, Uint8Array.of(version)));
const seal = (entries: ReadonlyArray<readonly [number, Uint8Array]>) =>
  cmd(0x80, 0x52, 0, 0, concatBytes(...entries.map(([s, k]) => concatBytes(Uint8Array.of(s), k))));
const getData = () => cmd(0x80, 0xca, 0, 0, undefined, 256);
const open = (kind: number, icsn: Uint8Array, tkv: number, rt: Uint8Array, subject: Uint8Array) =>
  cmd(0x80, 0x70, kind, 0, concatBytes(icsn, Uint8Array.of(tkv), rt, subject), 256);
const auth = (cryptogram: Uint8Array) => cmd(0x80, 0x72, 0, 0, cryptogram);
const key = (id: number) => cmd(0x80, 0x74, 0, id, undefined, 256);
const data = (p1: number, p2: number, tlvs: Uint8Array) => cmd(0x80, 0x76, p1, p2, tlvs, 256);
const persoPin = (block: Uint8Array) => cmd(0x80, 0x78, 0, 0, block, 256);
const close = (lcs: number) => cmd(0x80, 0x7a, 0, lcs, undefined, 256);
const receipt = (r: Uint8Array) => cmd(0x80, 0x7c, 0, 0, r);

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  return a.map((x, i) => x ^ b[i]!);
}

/** One slot of a ceremony: the components the custodians hold and the key they make. */
interface SlotPlan {
  slot: number;
  version: number;
  components: Uint8Array[];
  key: Uint8Array;
}

/** The published KCV vector key (odd parity already): MK_tr[1] of every ceremony here. */
const VECTOR_KEY = fromHex('0123456789ABCDEFFEDCBA9876543210');

/** Components for a complete utility U (6 masters, KH[0], KH[1]) and MK_tr[1]. */
function ceremony(seed = 'ceremony'): SlotPlan[] {
  const rng = new SeededRng(seed);
  const comp = () => adjustDesParity(rng.bytes(16));
  const plan = (slot: number, n: number, version = 1): SlotPlan => {
    const components = Array.from({ length: n }, comp);
    return { slot, version, components, key: adjustDesParity(components.reduce(xor)) };
  };
  const c1 = comp();
  const tr: SlotPlan = { slot: 0x01, version: 1, components: [c1, xor(VECTOR_KEY, c1)], key: VECTOR_KEY };
  return [
    tr,
    plan(slotOf(U, 1), 2),
    plan(slotOf(U, 2), 3, 2),
    plan(slotOf(U, 3), 2),
    plan(slotOf(U, 4), 2),
    plan(slotOf(U, 5), 2),
    plan(slotOf(U, 6), 3),
    plan(slotOf(U, 8), 2, 7),
    plan(slotOf(U, 9), 2, 8),
  ];
}

/** What the ceremony's keys are as an IssuerKeys (the reference derivations). */
function issuerOf(plans: SlotPlan[]): IssuerKeys {
  const k = (t: number) => plans.find((p) => p.slot === slotOf(U, t))!.key;
  const m: UtilityMasters = {
    auth: k(1),
    debit: k(2),
    credit: k(3),
    proof: k(4),
    svm: k(5),
    commission: k(6),
    host: [
      [0, k(8)],
      [1, k(9)],
    ],
  };
  return new IssuerKeys(cipher, [[U, m]]);
}

function freshCard(seed = 'mkc'): MasterKeyCard {
  const mkc = makeMasterKeyCard({ serial: SERIAL, pin: PIN, cipher, rng: new SeededRng(seed) });
  mkc.os.powerUp();
  ok(mkc, select());
  return mkc;
}

function loadAll(mkc: MasterKeyCard, plans: SlotPlan[]): void {
  for (const p of plans) p.components.forEach((c, i) => ok(mkc, load(p.slot, i + 1, c, p.version)));
}

const sealOf = (plans: SlotPlan[]) => seal(plans.map((p) => [p.slot, kcv(cipher, p.key)] as const));

/** A sealed MKC with the ceremony's keys, PIN verified. */
function sealedCard(plans = ceremony()): MasterKeyCard {
  const mkc = freshCard();
  ok(mkc, verify(PIN));
  loadAll(mkc, plans);
  ok(mkc, sealOf(plans));
  return mkc;
}

function status(mkc: MasterKeyCard) {
  const d = ok(mkc, getData());
  const slots = new Map<number, { version: number; components: number; kcv: string }>();
  for (let o = 5; o < d.length; o += 6)
    slots.set(d[o]!, { version: d[o + 1]!, components: d[o + 2]!, kcv: toHex(d.subarray(o + 3, o + 6)) });
  return { lcs: d[0]!, counter: u32(d, 1), slots };
}

// ---- the blank chip's side, played by the test ----

interface ChipSide {
  skEnc: Uint8Array;
  skMac: Uint8Array;
  chain: MacChain;
}

/** PERSO OPEN, the chip's checks and answer, PERSO AUTH: an authenticated session. */
function startSession(
  mkc: MasterKeyCard,
  kind: number,
  subject: Uint8Array,
  o: { icsn?: Uint8Array; mkTr?: Uint8Array; tamper?: boolean } = {},
): { chip: ChipSide; authSw: string } {
  const icsn = o.icsn ?? fromHex('1C5A000000000007');
  const rt = new SeededRng(`rt:${toHex(subject)}`).bytes(8);
  const answer = ok(mkc, open(kind, icsn, 1, rt, subject));
  expect(answer.length).toBe(16);
  const rm = answer.subarray(0, 8);
  const kTr = perso.transportKey(o.mkTr ?? VECTOR_KEY, icsn, kind);
  const sk = perso.sessionKeys(kTr, rt, rm);
  // The chip checks the MKC's cryptogram (only with the right transport key does it match).
  const hostOk =
    toHex(perso.hostCryptogram(sk.mac, kind, icsn, rt, rm, subject)) === toHex(answer.subarray(8));
  expect(hostOk).toBe(!o.mkTr || toHex(o.mkTr) === toHex(VECTOR_KEY));
  const cc = perso.cardCryptogram(sk.mac, kind, icsn, rt, rm, subject);
  if (o.tamper) cc[0]! ^= 1;
  const authSw = send(mkc, auth(cc)).sw;
  return { chip: { skEnc: sk.enc, skMac: sk.mac, chain: new MacChain(perso, sk.mac, cc) }, authSw };
}

/** PERSO KEY: the chip's PUT KEY checks (MAC, then unwrap with KCV); the key and its version. */
function fetchKey(mkc: MasterKeyCard, chip: ChipSide, id: number): { key: Uint8Array; version: number } {
  const r = ok(mkc, key(id));
  expect(r.length).toBe(1 + 16 + 3 + 8);
  const version = r[0]!;
  const wrapped = r.subarray(1, 20);
  expect(chip.chain.check(macHeader(0x80, 0xd8, version, id), wrapped, r.subarray(20))).toBe(true);
  const k = perso.unwrapKey(chip.skEnc, wrapped);
  expect(k).toBeDefined();
  return { key: k!, version };
}

/** PERSO CLOSE + the chip's SET STATUS MAC check + PERSO RECEIPT. */
function finish(mkc: MasterKeyCard, chip: ChipSide, lcs = 0x05): void {
  const mac = ok(mkc, close(lcs));
  expect(chip.chain.check(macHeader(0x80, 0xf0, 0, lcs), new Uint8Array(0), mac)).toBe(true);
  ok(mkc, receipt(chip.chain.receipt(lcs)));
}

// ---- tests ----

describe('master-key card: identity, FCI, profile', () => {
  it('answers SELECT with 6F { 84 AID, 8A 03, A5 { C9 serial, CC counter, CD 00 } } and has the T=1 ATR of its AID', () => {
    const mkc = makeMasterKeyCard({ serial: SERIAL, pin: PIN, cipher, rng: new SeededRng('a') });
    expect(toHex(mkc.os.powerUp())).toBe(toHex(ATR_MKC));
    expect(toHex(ATR_MKC).startsWith('3B890180F7F04D504D4B4301')).toBe(true);
    const fci = ok(mkc, select());
    expect(fci[0]).toBe(0x6f);
    expect(toHex(findTlv(fci, 0x84)!)).toBe('F04D504D4B4301');
    expect(toHex(findTlv(fci, 0x8a)!)).toBe('03');
    expect(toHex(findTlv(fci, 0xc9)!)).toBe(toHex(SERIAL));
    expect(toHex(findTlv(fci, 0xcc)!)).toBe('00000000');
    expect(toHex(findTlv(fci, 0xcd)!)).toBe('00');
  });

  it('reserves 15 transport slots and 10 slots for each of 15 utilities', () => {
    expect(MKC_SLOTS.length).toBe(15 + 15 * 10);
    expect(MKC_SLOTS).toContain(0x0f);
    expect(MKC_SLOTS).toContain(0xfb);
    expect(MKC_SLOTS).not.toContain(0x17);
    expect(MKC_SLOTS).not.toContain(0x1c);
  });

  it('a sealed MKC rebuilt by its card profile from its image keeps LCS, slots and PIN', () => {
    const mkc = sealedCard();
    const origin = cardOrigin(mkc.os)!;
    expect(origin.profile).toBe(PROFILE_MASTER_KEY);
    const again = masterKeyCardOf(
      buildCard(PROFILE_MASTER_KEY, origin.config, mkc.os.store.image(), { cipher }),
    );
    again.os.powerUp();
    const fci = ok(again, select());
    expect(toHex(findTlv(fci, 0x8a)!)).toBe('05');
    expect(toHex(findTlv(fci, 0xcd)!)).toBe('09');
    expect(toHex(ok(again, getData()))).toBe(toHex(ok(mkc, getData())));
    ok(again, verify(PIN));
  });
});

describe('master-key card: key ceremony', () => {
  it('KCV: the published vector 0123456789ABCDEF FEDCBA9876543210 → 08D7B4', () => {
    expect(toHex(kcv(cipher, VECTOR_KEY))).toBe('08D7B4');
  });

  it('loads the components of a complete utility, seals, and GET DATA shows versions, counts and KCVs (the transport master: the published vector)', () => {
    const plans = ceremony();
    const mkc = freshCard();
    // Nothing without the PIN.
    expect(send(mkc, load(0x01, 1, plans[0]!.components[0]!)).sw).toBe('6982');
    ok(mkc, verify(PIN));
    loadAll(mkc, plans);
    let s = status(mkc);
    expect(s.lcs).toBe(0x03);
    for (const p of plans)
      expect(s.slots.get(p.slot)).toEqual({
        version: p.version,
        components: p.components.length,
        kcv: '000000',
      });
    ok(mkc, sealOf(plans));
    s = status(mkc);
    expect(s.lcs).toBe(0x05);
    expect(s.counter).toBe(0);
    expect([...s.slots.keys()]).toEqual(plans.map((p) => p.slot).sort((a, b) => a - b));
    for (const p of plans) expect(s.slots.get(p.slot)!.kcv).toBe(toHex(kcv(cipher, p.key)));
    expect(s.slots.get(0x01)!.kcv).toBe('08D7B4');
    // GET DATA needs no PIN.
    mkc.os.reset();
    ok(mkc, select());
    expect(status(mkc).lcs).toBe(0x05);
    // Sealed: no more loading, no second seal.
    ok(mkc, verify(PIN));
    expect(send(mkc, load(slotOf(3, 1), 1, plans[1]!.components[0]!)).sw).toBe('6985');
    expect(send(mkc, sealOf(plans)).sw).toBe('6985');
  });

  it('a component with a wrong KCV is refused (6A80) and nothing is kept', () => {
    const mkc = freshCard();
    ok(mkc, verify(PIN));
    const c = adjustDesParity(new SeededRng('c').bytes(16));
    const before = toHex(mkc.store.image());
    const bad = kcv(cipher, c);
    bad[2]! ^= 0x01;
    expect(send(mkc, load(0x11, 1, c, 1, bad)).sw).toBe('6A80');
    expect(toHex(mkc.store.image())).toBe(before);
    expect(status(mkc).slots.size).toBe(0);
    ok(mkc, load(0x11, 1, c));
    expect(status(mkc).slots.get(0x11)).toEqual({ version: 1, components: 1, kcv: '000000' });
  });

  it('components go in order 1, 2, 3 (6A86), with one version per slot (6A80), into reserved slots only', () => {
    const mkc = freshCard();
    ok(mkc, verify(PIN));
    const rng = new SeededRng('order');
    const c = () => adjustDesParity(rng.bytes(16));
    expect(send(mkc, load(0x11, 2, c())).sw).toBe('6A86');
    ok(mkc, load(0x11, 1, c()));
    expect(send(mkc, load(0x11, 1, c())).sw).toBe('6A86');
    expect(send(mkc, load(0x11, 3, c())).sw).toBe('6A86');
    expect(send(mkc, load(0x11, 2, c(), 2)).sw).toBe('6A80');
    ok(mkc, load(0x11, 2, c()));
    ok(mkc, load(0x11, 3, c()));
    expect(send(mkc, load(0x11, 4, c())).sw).toBe('6A86');
    for (const slot of [0x00, 0x17, 0x1c, 0x10]) expect(send(mkc, load(slot, 1, c())).sw).toBe('6A86');
    expect(status(mkc).slots.get(0x11)!.components).toBe(3);
  });

  it('SEAL with one wrong KCV is refused (6A80): still LCS 03, still loadable, and the right SEAL goes through', () => {
    const plans = ceremony();
    const mkc = freshCard();
    ok(mkc, verify(PIN));
    loadAll(mkc, plans);
    const before = toHex(mkc.store.image());
    const entries = plans.map((p) => [p.slot, kcv(cipher, p.key)] as const);
    entries[3]![1][0]! ^= 0x80;
    expect(send(mkc, seal(entries)).sw).toBe('6A80');
    expect(toHex(mkc.store.image())).toBe(before);
    expect(status(mkc).lcs).toBe(0x03);
    // Still loading: another transport master.
    const extra: SlotPlan = { ...ceremony('extra')[1]!, slot: 0x02 };
    extra.components.forEach((c, i) => ok(mkc, load(0x02, i + 1, c)));
    ok(mkc, sealOf([...plans, extra]));
    expect(status(mkc).lcs).toBe(0x05);
  });

  it('SEAL refuses (6A80, nothing changes): a slot with one component, a loaded slot left out, an incomplete utility, no transport master, two equal masters', () => {
    const cases: [string, (plans: SlotPlan[]) => { load: SlotPlan[]; seal: SlotPlan[] }][] = [
      [
        'one component',
        (p) => {
          const single = {
            slot: slotOf(U, 10),
            version: 1,
            components: [p[1]!.components[0]!.map((x) => x ^ 0x0e)],
          } as SlotPlan;
          single.key = adjustDesParity(single.components[0]!);
          return { load: [...p, single], seal: [...p, single] };
        },
      ],
      ['slot left out', (p) => ({ load: p, seal: p.slice(0, -1) })],
      [
        'incomplete utility',
        (p) => {
          const q = p.filter((x) => x.slot !== slotOf(U, 4));
          return { load: q, seal: q };
        },
      ],
      [
        'no KH',
        (p) => {
          const q = p.filter((x) => (x.slot & 0x0f) < 8);
          return { load: q, seal: q };
        },
      ],
      ['no transport master', (p) => ({ load: p.slice(1), seal: p.slice(1) })],
      [
        'equal masters',
        (p) => {
          const q = p.map((x) => (x.slot === slotOf(U, 2) ? { ...p[1]!, slot: x.slot } : x));
          return { load: q, seal: q };
        },
      ],
    ];
    for (const [name, make] of cases) {
      const mkc = freshCard();
      ok(mkc, verify(PIN));
      const c = make(ceremony());
      loadAll(mkc, c.load);
      const before = toHex(mkc.store.image());
      expect(send(mkc, sealOf(c.seal)).sw, name).toBe('6A80');
      expect(toHex(mkc.store.image()), name).toBe(before);
      expect(status(mkc).lcs, name).toBe(0x03);
    }
  });
});

describe('master-key card: SEAL under tearing', () => {
  it('a power cut at every write of SEAL leaves the card loading (LCS 03, as it was) or sealed (everything)', () => {
    const plans = ceremony();
    const prepared = () => {
      const mkc = freshCard();
      ok(mkc, verify(PIN));
      loadAll(mkc, plans);
      return mkc;
    };
    const ref = prepared();
    const loading = toHex(ref.store.image());
    const w0 = ref.store.writeCount;
    ok(ref, sealOf(plans));
    const writes = ref.store.writeCount - w0;
    const sealed = toHex(ref.store.image());
    const seen = new Set<number>();
    for (let k = 1; k <= writes + 1; k++) {
      const mkc = prepared();
      mkc.store.armTear(k);
      try {
        send(mkc, sealOf(plans));
      } catch (e) {
        if (!(e instanceof CardPowerLostError)) throw e;
      } finally {
        mkc.store.disarmTear();
      }
      mkc.os.powerDown();
      mkc.os.powerUp();
      const image = toHex(mkc.store.image());
      expect([loading, sealed], `cut at write ${k}`).toContain(image);
      ok(mkc, select());
      const lcs = status(mkc).lcs;
      expect(lcs).toBe(image === sealed ? 0x05 : 0x03);
      seen.add(lcs);
    }
    expect(seen).toEqual(new Set([0x03, 0x05]));
  });
});

describe('master-key card: PIN', () => {
  it('wrong PIN: 63C2, 63C1, then 6983 blocked — the right PIN too', () => {
    const mkc = freshCard();
    expect(send(mkc, askTries()).sw).toBe('63C3');
    expect(send(mkc, verify('0000')).sw).toBe('63C2');
    expect(send(mkc, verify('9999')).sw).toBe('63C1');
    expect(send(mkc, verify('1111')).sw).toBe('6983');
    expect(send(mkc, verify(PIN)).sw).toBe('6983');
    expect(send(mkc, askTries()).sw).toBe('6983');
    expect(send(mkc, cmd(0x80, 0x52, 0, 0, new Uint8Array(4))).sw).toBe('6982');
  });

  it('a right PIN gives the tries back; CHANGE REFERENCE DATA changes it', () => {
    const mkc = freshCard();
    expect(send(mkc, verify('0000')).sw).toBe('63C2');
    ok(mkc, verify(PIN));
    expect(send(mkc, askTries()).sw).toBe('9000');
    mkc.os.reset();
    ok(mkc, select());
    expect(send(mkc, askTries()).sw).toBe('63C3');
    expect(
      send(mkc, cmd(0x00, 0x24, 0, 0x81, concatBytes(pinBlock(PIN), fromHex('3132FFFFFFFFFFFF')))).sw,
    ).toBe('6A80');
    ok(mkc, cmd(0x00, 0x24, 0, 0x81, concatBytes(pinBlock(PIN), pinBlock('24680'))));
    expect(send(mkc, verify(PIN)).sw).toBe('63C2');
    ok(mkc, verify('24680'));
    expect(send(mkc, cmd(0x00, 0x20, 0, 0x01, pinBlock(PIN))).sw).toBe('6A86');
  });

  it('a power cut at every write of VERIFY never tells a right PIN from a wrong one without a try spent', () => {
    const attempt = (candidate: string, k?: number) => {
      const mkc = freshCard();
      const before = toHex(mkc.store.image());
      const w0 = mkc.store.writeCount;
      if (k !== undefined) mkc.store.armTear(k);
      let answer: string;
      try {
        answer = send(mkc, verify(candidate)).sw;
      } catch (e) {
        if (!(e instanceof CardPowerLostError)) throw e;
        answer = 'cut';
      } finally {
        mkc.store.disarmTear();
      }
      const writes = mkc.store.writeCount - w0;
      // Power-up recovers a torn commit; the image is what the next session finds.
      mkc.os.powerDown();
      mkc.os.powerUp();
      const image = toHex(mkc.store.image());
      ok(mkc, select());
      const asked = send(mkc, askTries()).sw;
      return { answer, asked, image, before, writes, seen: `${answer} / ${asked}` };
    };
    const right = attempt(PIN);
    const wrong = attempt('0000');
    expect(right.answer).toBe('9000');
    expect(wrong.answer).toBe('63C2');
    expect(right.writes).toBeGreaterThan(wrong.writes);
    const spent = wrong.image;
    const phases = new Set<string>();
    for (let k = 1; k <= right.writes + 1; k++) {
      const w = attempt('0000', k);
      const r = attempt(PIN, k);
      if (w.answer === 'cut') {
        // Either the try was spent, or the card is as it was: the comparison never ran.
        const ok = (w.asked === '63C2' && w.image === spent) || (w.asked === '63C3' && w.image === w.before);
        expect(ok, `wrong PIN cut at write ${k}: ${w.seen}`).toBe(true);
        phases.add(w.asked === '63C3' ? 'untouched' : 'spent');
      } else expect(w.seen, `write ${k}`).toBe('63C2 / 63C2');
      // The right PIN looks the same as the wrong one unless the wrong one cost a try.
      if (w.seen !== r.seen) expect(w.asked, `write ${k}: ${w.seen} vs ${r.seen}`).toBe('63C2');
      if (r.answer === 'cut' && r.asked === '63C3')
        expect(r.image, `right PIN cut at write ${k}`).toBe(r.before);
    }
    expect(phases).toEqual(new Set(['untouched', 'spent']));
  });
});

describe('master-key card: personalisation sessions', () => {
  const CSN = fromHex('4D50000000001234');
  const METER = fromHex('000123');

  it('PERSO needs the PIN (6982) and a sealed card (6985); before PERSO AUTH everything but OPEN is 6985', () => {
    const plans = ceremony();
    const mkc = freshCard();
    const o = open(KIND_SUBSCRIBER, new Uint8Array(8), 1, new Uint8Array(8), CSN);
    expect(send(mkc, o).sw).toBe('6982');
    ok(mkc, verify(PIN));
    expect(send(mkc, o).sw).toBe('6985');
    loadAll(mkc, plans);
    ok(mkc, sealOf(plans));
    mkc.os.reset();
    ok(mkc, select());
    expect(send(mkc, o).sw).toBe('6982');
    expect(send(mkc, key(0x21)).sw).toBe('6982');
    ok(mkc, verify(PIN));
    expect(send(mkc, key(0x21)).sw).toBe('6985');
    ok(mkc, o);
    expect(send(mkc, key(0x21)).sw).toBe('6985');
    expect(send(mkc, data(0x80, 0, fromHex('5A08'))).sw).toBe('6985');
    expect(send(mkc, persoPin(pinBlock('1234'))).sw).toBe('6985');
    expect(send(mkc, close(5)).sw).toBe('6985');
    expect(send(mkc, receipt(new Uint8Array(8))).sw).toBe('6985');
    // No transport master 2, no utility 3.
    expect(send(mkc, open(KIND_SUBSCRIBER, new Uint8Array(8), 2, new Uint8Array(8), CSN)).sw).toBe('6A88');
    const sam3 = concatBytes(Uint8Array.of(3), METER, be16(1));
    expect(send(mkc, open(KIND_SAM, new Uint8Array(8), 1, new Uint8Array(8), sam3)).sw).toBe('6A88');
    expect(send(mkc, open(KIND_SAM, new Uint8Array(8), 1, new Uint8Array(8), CSN)).sw).toBe('6700');
  });

  it('a subscriber session: every key is the IssuerKeys derivation for the CSN, wrapped and chained for PUT KEY; PIN block, STORE DATA, SET STATUS, receipt', () => {
    const plans = ceremony();
    const issuer = issuerOf(plans);
    const mkc = sealedCard(plans);
    const { chip, authSw } = startSession(mkc, KIND_SUBSCRIBER, CSN);
    expect(authSw).toBe('9000');
    const ref = issuer.cardKeys(CSN, U);
    const want = { 1: ref.auth, 2: ref.debit, 3: ref.credit, 4: ref.proof } as Record<number, Uint8Array>;
    for (const t of [1, 2, 3, 4]) {
      const k = fetchKey(mkc, chip, (U << 4) | t);
      expect(toHex(k.key), `type ${t}`).toBe(toHex(want[t]!));
      expect(k.version).toBe(plans.find((p) => p.slot === slotOf(U, t))!.version);
    }
    // A purse the MKC has no keys for, a type a subscriber card has not.
    expect(send(mkc, key(0x34)).sw).toBe('6A88');
    expect(send(mkc, key((U << 4) | 5)).sw).toBe('6A88');
    expect(send(mkc, key((U << 4) | 6)).sw).toBe('6A88');
    // PIN block under SK_enc; only a PIN block.
    const enc = ok(mkc, persoPin(pinBlock('4321')));
    expect(toHex(perso.unwrapPinBlock(chip.skEnc, enc))).toBe(toHex(pinBlock('4321')));
    expect(send(mkc, persoPin(fromHex('0011223344556677'))).sw).toBe('6A80');
    const tlvs = concatBytes(fromHex('5A08'), CSN, fromHex('42044D505552'));
    const mac = ok(mkc, data(0x80, 0x00, tlvs));
    expect(chip.chain.check(macHeader(0x80, 0xe2, 0x80, 0x00), tlvs, mac)).toBe(true);
    expect(status(mkc).counter).toBe(0);
    finish(mkc, chip);
    expect(status(mkc).counter).toBe(1);
    // The session is over.
    expect(send(mkc, key(0x21)).sw).toBe('6985');
  });

  it('SAM, SVM and commissioning sessions hand out exactly their kind’s keys for their subject', () => {
    const plans = ceremony();
    const issuer = issuerOf(plans);
    const mkc = sealedCard(plans);
    const version = (t: number) => plans.find((p) => p.slot === slotOf(U, t))!.version;
    const pairing = 3;
    const meterSubject = concatBytes(Uint8Array.of(U), METER, be16(pairing));

    let { chip } = startSession(mkc, KIND_SAM, meterSubject);
    const sam = issuer.samKeys(METER, U, pairing);
    const kh0 = plans.find((p) => p.slot === slotOf(U, 8))!.key;
    const samWant: [number, Uint8Array, number][] = [
      [0x01, sam.mkAuth, version(1)],
      [0x02, sam.mkDebit, version(2)],
      [0x03, sam.mkCommission, version(6)],
      [0x04, issuer.svmKey(METER, U, pairing), version(5)],
      [0x10, deriveTerminalKey(cipher, kh0, METER), version(8)],
      [0x11, sam.terminal[1]![1], version(9)],
    ];
    for (const [id, want, v] of samWant) {
      const k = fetchKey(mkc, chip, id);
      expect(toHex(k.key), `SAM key ${id}`).toBe(toHex(want));
      expect(k.version, `SAM key ${id}`).toBe(v);
    }
    for (const id of [0x05, 0x12, 0x13, 0x21]) expect(send(mkc, key(id)).sw, `SAM key ${id}`).toBe('6A88');
    finish(mkc, chip);

    ({ chip } = startSession(mkc, KIND_SVM, meterSubject));
    const svm = issuer.svmKeys(METER, U, pairing);
    expect(toHex(fetchKey(mkc, chip, 0x01).key)).toBe(toHex(svm.mkProof));
    expect(toHex(fetchKey(mkc, chip, 0x02).key)).toBe(toHex(svm.svm));
    for (const id of [0x00, 0x03, 0x04, 0x10]) expect(send(mkc, key(id)).sw, `SVM key ${id}`).toBe('6A88');
    finish(mkc, chip);

    ({ chip } = startSession(mkc, KIND_COMMISSIONING, concatBytes(Uint8Array.of(U), CSN)));
    const c = fetchKey(mkc, chip, 0x01);
    expect(toHex(c.key)).toBe(toHex(issuer.commissioningKey(CSN, U)));
    expect(c.version).toBe(version(6));
    expect(send(mkc, key(0x02)).sw).toBe('6A88');
    finish(mkc, chip);
    expect(status(mkc).counter).toBe(3);
  });

  it('a wrongly derived card cryptogram (wrong transport key, or one bit off) gives 6300 and no key', () => {
    const mkc = sealedCard();
    const wrongTr = adjustDesParity(new SeededRng('not MK_tr').bytes(16));
    for (const o of [
      { mkTr: wrongTr },
      { tamper: true },
      { icsn: fromHex('1C5A000000000007'), tamper: true },
    ]) {
      const { authSw } = startSession(mkc, KIND_SUBSCRIBER, CSN, o);
      expect(authSw).toBe('6300');
      expect(send(mkc, key((U << 4) | 1)).sw).toBe('6985');
      expect(send(mkc, auth(new Uint8Array(8))).sw).toBe('6985');
    }
    expect(status(mkc).counter).toBe(0);
  });

  it('a wrong receipt is 6300 and ends the session; a new OPEN replaces a session', () => {
    const mkc = sealedCard();
    let { chip } = startSession(mkc, KIND_SUBSCRIBER, CSN);
    fetchKey(mkc, chip, (U << 4) | 1);
    ok(mkc, close(5));
    expect(send(mkc, key((U << 4) | 2)).sw).toBe('6985');
    expect(send(mkc, receipt(new Uint8Array(8))).sw).toBe('6300');
    expect(send(mkc, receipt(new Uint8Array(8))).sw).toBe('6985');
    ({ chip } = startSession(mkc, KIND_SUBSCRIBER, CSN));
    // Replaced: the old chain is gone, the new one starts from the new card cryptogram.
    ({ chip } = startSession(mkc, KIND_SUBSCRIBER, fromHex('4D50000000009999')));
    fetchKey(mkc, chip, (U << 4) | 1);
    finish(mkc, chip);
  });

  it('the issue counter counts each CLOSE 05 of a session that handed out keys, once', () => {
    const mkc = sealedCard();
    const run = (lcs: number, withKey: boolean) => {
      const { chip } = startSession(mkc, KIND_SUBSCRIBER, CSN);
      if (withKey) fetchKey(mkc, chip, (U << 4) | 1);
      finish(mkc, chip, lcs);
    };
    run(5, true);
    expect(status(mkc).counter).toBe(1);
    run(5, true);
    expect(status(mkc).counter).toBe(2);
    run(4, false); // a management session: block
    run(5, false); // unblock
    expect(status(mkc).counter).toBe(2);
    const fci = ok(mkc, select());
    expect(toHex(findTlv(fci, 0xcc)!)).toBe('00000002');
    // CLOSE only once per session.
    ok(mkc, verify(PIN));
    const { chip } = startSession(mkc, KIND_SUBSCRIBER, CSN);
    fetchKey(mkc, chip, (U << 4) | 1);
    ok(mkc, close(5));
    expect(send(mkc, close(5)).sw).toBe('6985');
    expect(status(mkc).counter).toBe(3);
  });
});
