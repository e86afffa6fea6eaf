/**
 * Red-team attacks on issuance (docs/personalisation.md) not covered by personalisation.test.ts:
 * management sessions on older cards, MAC-chain domain separation, kind confusion, malformed or
 * inconsistent STORE DATA, key-id and subject edge cases, serial limits, tearing PERSO CLOSE, and
 * a management session used to re-key a card. Everything goes through APDUs to a real MKC and real
 * blank chips; each test asserts that the attack gains nothing.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CardPowerLostError,
  CommandApdu,
  NodeCipherProvider,
  PersoCrypto,
  SeededRng,
  concatBytes,
  fromHex,
  makeBlankCard,
  makeMasterKeyCard,
  toHex,
  type BlankKind,
  type ResponseApdu,
  KIND_OF,
} from '../../card/index.js';
import { AID_PURSE, AID_SAM, AID_SVM } from '../../card/applets/constants.js';
import { KEY_MKC_COUNTER } from '../../card/applets/mkc/records.js';
import { VirtualReader, type CardChannel } from '../../reader/index.js';
import {
  MasterKeyCard,
  ceremonySlots,
  combineComponents,
  generateComponents,
  personalise,
  readChip,
  setStatus,
  type ComponentFile,
  type SubscriberOrder,
} from '../../terminal/index.js';

const cipher = new NodeCipherProvider();
const perso = new PersoCrypto(cipher);
const PIN = '1357';
let files: ComponentFile[];
let manifest: ReturnType<typeof generateComponents>['manifest'];
let mkTr: Uint8Array;
let chips = 0;

beforeAll(() => {
  ({ files, manifest } = generateComponents(
    new SeededRng('redteam-ceremony'),
    cipher,
    ceremonySlots([1, 2]),
    2,
  ));
  mkTr = combineComponents(files.map((f) => f.components.find((c) => c.slot === 0x01)!.component));
});

async function sealedMkc() {
  const dev = makeMasterKeyCard({
    serial: fromHex('4D4B4300000000AA'),
    pin: PIN,
    cipher,
    rng: new SeededRng('rt'),
  });
  const reader = new VirtualReader('MKC', dev.os);
  const ch = await reader.connect();
  const mkc = await MasterKeyCard.open(ch, PIN);
  for (const f of files) await mkc.loadComponents(f);
  await mkc.seal(manifest);
  return { mkc, ch, dev, reader };
}

const AIDS: Record<BlankKind, Uint8Array> = {
  subscriber: AID_PURSE,
  sam: AID_SAM,
  svm: AID_SVM,
  commissioning: fromHex('00'),
};
const KIND = { subscriber: 1, sam: 2, svm: 3, commissioning: 4 } as const;

async function blankChip(kind: BlankKind = 'subscriber') {
  const icsn = fromHex(`5E5E0000BEEF${(++chips).toString(16).padStart(4, '0')}`);
  const dev = makeBlankCard(kind, {
    icsn,
    tkv: 1,
    transportKey: perso.transportKey(mkTr, icsn, KIND_OF[kind]),
    cipher,
    rng: new SeededRng(`redteam-chip-${chips}`),
  });
  const ch = await new VirtualReader('chip', dev.os).connect();
  return { dev, ch, icsn, kind };
}
type Chip = Awaited<ReturnType<typeof blankChip>>;

const cmd = (cla: number, ins: number, p1: number, p2: number, data?: Uint8Array, ne?: number) =>
  new CommandApdu({ cla, ins, p1, p2, ...(data ? { data } : {}), ...(ne !== undefined ? { ne } : {}) });
const sw = (r: ResponseApdu) => r.sw.toString(16).toUpperCase().padStart(4, '0');
const tx = (ch: CardChannel, c: CommandApdu) => ch.transmit(c);

/** GET CHALLENGE, PERSO OPEN, EXTERNAL AUTHENTICATE, PERSO AUTH; the status words of each. */
async function open(
  mkcCh: CardChannel,
  chip: Chip,
  subject: Uint8Array,
  o: { mkcKind?: number; chipP1?: number } = {},
): Promise<string[]> {
  const out: string[] = [];
  out.push(sw(await tx(chip.ch, cmd(0x00, 0xa4, 0x04, 0x00, AIDS[chip.kind], 256))));
  const rt = await tx(chip.ch, cmd(0x80, 0x84, 0, 0, undefined, 8));
  out.push(sw(rt));
  const kind = o.mkcKind ?? KIND[chip.kind];
  const op = await tx(
    mkcCh,
    cmd(0x80, 0x70, kind, 0, concatBytes(chip.icsn, Uint8Array.of(1), rt.data, subject), 256),
  );
  out.push(sw(op));
  if (op.sw !== 0x9000) return out;
  const ea = await tx(
    chip.ch,
    cmd(
      0x80,
      0x82,
      o.chipP1 ?? 0,
      0,
      concatBytes(op.data.subarray(0, 8), subject, op.data.subarray(8, 16)),
      256,
    ),
  );
  out.push(sw(ea));
  if (ea.sw !== 0x9000) return out;
  out.push(sw(await tx(mkcCh, cmd(0x80, 0x72, 0, 0, ea.data))));
  return out;
}

/** PERSO KEY → PUT KEY; [MKC sw, chip sw]. */
async function putKey(mkcCh: CardChannel, chip: Chip, id: number): Promise<[string, string?]> {
  const k = await tx(mkcCh, cmd(0x80, 0x74, 0, id, undefined, 256));
  if (k.sw !== 0x9000) return [sw(k)];
  return [sw(k), sw(await tx(chip.ch, cmd(0x80, 0xd8, k.data[0]!, id, k.data.subarray(1))))];
}

/** PERSO DATA → STORE DATA. */
async function storeData(mkcCh: CardChannel, chip: Chip, p1: number, p2: number, tlvs: Uint8Array) {
  const m = await tx(mkcCh, cmd(0x80, 0x76, p1, p2, tlvs, 256));
  expect(sw(m)).toBe('9000');
  return sw(await tx(chip.ch, cmd(0x80, 0xe2, p1, p2, concatBytes(tlvs, m.data))));
}

/** PERSO CLOSE → SET STATUS → PERSO RECEIPT; the chip's SET STATUS status word. */
async function close(mkcCh: CardChannel, chip: Chip, lcs = 5): Promise<string> {
  const m = await tx(mkcCh, cmd(0x80, 0x7a, 0, lcs, undefined, 256));
  if (m.sw !== 0x9000) return `mkc ${sw(m)}`;
  const r = await tx(chip.ch, cmd(0x80, 0xf0, 0, lcs, m.data, 256));
  if (r.sw === 0x9000) expect(sw(await tx(mkcCh, cmd(0x80, 0x7c, 0, 0, r.data)))).toBe('9000');
  return sw(r);
}

const tlv = (tag: string, v: Uint8Array | string) => {
  const b = typeof v === 'string' ? fromHex(v) : v;
  return concatBytes(
    fromHex(tag),
    b.length > 127 ? Uint8Array.of(0x81, b.length) : Uint8Array.of(b.length),
    b,
  );
};
const purseTlv = (id: number, max = '0007A120', bal?: string) =>
  tlv(
    'A0',
    concatBytes(
      tlv('C2', Uint8Array.of(id)),
      tlv('C4', max),
      tlv('C5', '000186A0'),
      tlv('C6', '03D2'),
      ...(bal ? [tlv('C7', bal)] : []),
    ),
  );
const identity = (csn: Uint8Array) =>
  concatBytes(tlv('5A', csn), tlv('42', '4D505552'), tlv('5F24', '301231'));
const KEYS = (purse: number) => [1, 2, 3, 4].map((t) => (purse << 4) | t);

async function lcsOf(chip: Chip) {
  return (await readChip(chip.ch)).lcs;
}

const order = (csn: string): SubscriberOrder => ({
  kind: 'subscriber',
  csn: fromHex(csn),
  purses: [{ id: 1, max: 5_000_00, limit: 1_000_00, unit: 978, balance: 0 }],
});

describe('issuance red team', () => {
  it('HOLE (fixed): an older card (not the highest serial issued) can be blocked — the serial check no longer refuses management sessions — and still gets no key', async () => {
    const { mkc, ch: mkcCh } = await sealedMkc();
    const a = await blankChip();
    const b = await blankChip();
    await personalise(mkc, a.ch, order('4D50000000001000'));
    await personalise(mkc, b.ch, order('4D50000000001001'));
    const recA = { kind: 'subscriber' as const, order: order('4D50000000001000'), icsn: a.icsn, tkv: 1 };
    // Before the fix PERSO OPEN answered 6A89 for card A: a lost or stolen older card could never be blocked.
    await setStatus(mkc, a.ch, recA, 'block');
    expect(await lcsOf(a)).toBe(4);
    await setStatus(mkc, a.ch, recA, 'unblock');
    expect(await lcsOf(a)).toBe(5);
    // The same management session asking for a key of that (older) serial: 6A89, session gone.
    expect(await open(mkcCh, a, fromHex('4D50000000001000'))).toEqual([
      '9000',
      '9000',
      '9000',
      '9000',
      '9000',
    ]);
    expect(await putKey(mkcCh, a, 0x11)).toEqual(['6A89']);
    expect(sw(await tx(mkcCh, cmd(0x80, 0x7a, 0, 5, undefined, 256)))).toBe('6985');
    // A blank clone with A's serial: EXTERNAL AUTHENTICATE passes, but no key comes out, and it stays blank.
    const clone = await blankChip();
    expect((await open(mkcCh, clone, fromHex('4D50000000001000'))).at(-1)).toBe('9000');
    expect(await putKey(mkcCh, clone, 0x11)).toEqual(['6A89']);
    expect(await putKey(mkcCh, clone, 0x12)).toEqual(['6985']);
    expect(await close(mkcCh, clone)).toBe('mkc 6985');
    expect(await lcsOf(clone)).toBe(3);
    // The bureau names the refusal as before.
    await expect(personalise(mkc, clone.ch, order('4D50000000001001'))).rejects.toMatchObject({
      code: 'serial-issued',
      sw: 0x6a89,
    });
    expect(await lcsOf(clone)).toBe(3);
    expect((await mkc.status()).issueCounter).toBe(2);
  });

  it('MAC domain separation: a PERSO DATA / PERSO KEY MAC is never a SET STATUS, PUT KEY or STORE DATA MAC', async () => {
    const { ch: mkcCh } = await sealedMkc();
    const csn = fromHex('4D50000000002000');
    for (const attempt of [
      'data-as-status',
      'data-as-putkey',
      'key-as-store',
      'data-p2-as-status',
    ] as const) {
      const chip = await blankChip();
      expect((await open(mkcCh, chip, csn)).at(-1)).toBe('9000');
      let answer: string;
      if (attempt === 'key-as-store') {
        const k = await tx(mkcCh, cmd(0x80, 0x74, 0, 0x11, undefined, 256));
        answer = sw(await tx(chip.ch, cmd(0x80, 0xe2, 0x80, 0, k.data.subarray(1))));
      } else {
        // Data chosen to look like the other command's body (empty is refused by the MKC: 19 bytes
        // like a wrapped key, or one byte).
        const data = attempt === 'data-as-putkey' ? new Uint8Array(19).fill(0x11) : Uint8Array.of(0x05);
        const p2 = attempt === 'data-p2-as-status' ? 0x05 : 0x00;
        const m = await tx(mkcCh, cmd(0x80, 0x76, 0x00, p2, data, 256));
        expect(sw(m)).toBe('9000');
        answer =
          attempt === 'data-as-putkey'
            ? sw(await tx(chip.ch, cmd(0x80, 0xd8, 0x01, 0x11, concatBytes(data, m.data))))
            : sw(await tx(chip.ch, cmd(0x80, 0xf0, 0x00, 0x05, m.data, 256)));
      }
      expect(answer, attempt).toBe('6988');
      expect(await lcsOf(chip)).toBe(3);
    }
  });

  it('kind confusion: an MKC session opened as SAM does not authenticate to an SVM chip (same subject length), nor the reverse', async () => {
    const { ch: mkcCh } = await sealedMkc();
    const subject = fromHex('01000123' + '0001');
    const svm = await blankChip('svm');
    expect((await open(mkcCh, svm, subject, { mkcKind: 2 })).at(-1)).toBe('6300');
    expect((await open(mkcCh, svm, subject, { mkcKind: 2, chipP1: 2 })).at(-1)).toBe('6A80');
    expect(sw(await tx(mkcCh, cmd(0x80, 0x74, 0, 0x01, undefined, 256)))).toBe('6985');
    const sam = await blankChip('sam');
    expect((await open(mkcCh, sam, subject, { mkcKind: 3 })).at(-1)).toBe('6300');
    // A subscriber session's subject into a SAM: wrong length for the MKC's kind.
    expect((await open(mkcCh, sam, fromHex('4D50000000002100'), { mkcKind: 1 })).at(-1)).toBe('6A80');
    expect(await lcsOf(svm)).toBe(3);
    expect(await lcsOf(sam)).toBe(3);
  });

  it('inconsistent or malformed STORE DATA never makes a card (each refused, the chip stays blank)', async () => {
    const { ch: mkcCh } = await sealedMkc();
    const chip = await blankChip();
    const csn = fromHex('4D50000000003000');
    const cases: [string, number[], Uint8Array[], string][] = [
      [
        'keys for purse 2, not listed',
        [...KEYS(1), ...KEYS(2)],
        [concatBytes(identity(csn), purseTlv(1))],
        '6A80',
      ],
      [
        'two purses with the same id',
        KEYS(1),
        [concatBytes(identity(csn), purseTlv(1), purseTlv(1))],
        '6A80',
      ],
      [
        'balance above max',
        KEYS(1),
        [concatBytes(identity(csn), purseTlv(1, '000003E8', '000003E9'))],
        '6A80',
      ],
      [
        'negative-looking balance',
        KEYS(1),
        [concatBytes(identity(csn), purseTlv(1, '7FFFFFFF', '80000000'))],
        '6A80',
      ],
      ['purse id 0', KEYS(1), [concatBytes(identity(csn), purseTlv(1), purseTlv(0))], '6A80'],
      ['purse id 16', KEYS(1), [concatBytes(identity(csn), purseTlv(1), purseTlv(16))], '6A80'],
      ['CSN twice', KEYS(1), [concatBytes(identity(csn), tlv('5A', csn), purseTlv(1))], '6A80'],
      [
        'CSN twice, across blocks',
        KEYS(1),
        [concatBytes(identity(csn), purseTlv(1)), tlv('5A', csn)],
        '6A80',
      ],
      [
        'CSN not the subject',
        KEYS(1),
        [concatBytes(identity(fromHex('4D50000000003001')), purseTlv(1))],
        '6A80',
      ],
      [
        'padding after the objects',
        KEYS(1),
        [concatBytes(identity(csn), purseTlv(1), fromHex('0000'))],
        '6A80',
      ],
      [
        'long-form length past the end',
        KEYS(1),
        [concatBytes(identity(csn), purseTlv(1), fromHex('C881FF00'))],
        '6A80',
      ],
      [
        'PIN object not from PERSO PIN',
        KEYS(1),
        [concatBytes(identity(csn), purseTlv(1), tlv('C8', '0000000000000000'))],
        '6A80',
      ],
      ['a key missing', KEYS(1).slice(0, 3), [concatBytes(identity(csn), purseTlv(1))], '6985'],
      ['no purse', KEYS(1), [identity(csn)], '6985'],
    ];
    for (const [name, keys, blocks, expected] of cases) {
      expect((await open(mkcCh, chip, csn)).at(-1), name).toBe('9000');
      for (const id of keys) expect(await putKey(mkcCh, chip, id), name).toEqual(['9000', '9000']);
      for (let b = 0; b < blocks.length; b++)
        expect(await storeData(mkcCh, chip, b === blocks.length - 1 ? 0x80 : 0, b, blocks[b]!), name).toBe(
          '9000',
        );
      expect(await close(mkcCh, chip), name).toBe(expected);
      expect(await lcsOf(chip), name).toBe(3);
    }
    // Nothing staged survived: a clean session still works (same chip, same serial: a resume).
    expect((await open(mkcCh, chip, csn)).at(-1)).toBe('9000');
    for (const id of KEYS(1)) await putKey(mkcCh, chip, id);
    expect(
      await storeData(mkcCh, chip, 0x80, 0, concatBytes(identity(csn), purseTlv(1, '000003E8', '000003E8'))),
    ).toBe('9000');
    expect(await close(mkcCh, chip)).toBe('9000');
    const info = await readChip(chip.ch);
    expect(info.lcs).toBe(5);
  });

  it('STORE DATA block numbers, P1 and the 1024-byte limit cannot be abused', async () => {
    const { ch: mkcCh } = await sealedMkc();
    const chip = await blankChip();
    const csn = fromHex('4D50000000004000');
    const filler = (n: number) => tlv('C8', new Uint8Array(n - 3));
    const runs: [string, [number, number, Uint8Array][], string][] = [
      ['first block numbered 01', [[0x80, 1, identity(csn)]], '6A86'],
      ['P1 01 (the MKC refuses to MAC it)', [[0x01, 0, identity(csn)]], 'mkc 6A86'],
      [
        'a block after the last',
        [
          [0x80, 0, identity(csn)],
          [0x80, 1, identity(csn)],
        ],
        '6985',
      ],
      [
        'a block repeated',
        [
          [0x00, 0, identity(csn)],
          [0x00, 0, identity(csn)],
        ],
        '6A86',
      ],
      [
        'over 1024 bytes',
        [0, 1, 2, 3, 4].map((b) => [b === 4 ? 0x80 : 0, b, filler(240)] as [number, number, Uint8Array]),
        '6A84',
      ],
    ];
    for (const [name, blocks, expected] of runs) {
      expect((await open(mkcCh, chip, csn)).at(-1), name).toBe('9000');
      const answers: string[] = [];
      for (const [p1, p2, d] of blocks) {
        const m = await tx(mkcCh, cmd(0x80, 0x76, p1, p2, d, 256));
        answers.push(
          m.sw === 0x9000
            ? sw(await tx(chip.ch, cmd(0x80, 0xe2, p1, p2, concatBytes(d, m.data))))
            : `mkc ${sw(m)}`,
        );
      }
      expect(answers.at(-1), name).toBe(expected);
      if (expected === 'mkc 6A86')
        // Straight to the chip, with any MAC: refused on P1 before the MAC.
        expect(
          sw(await tx(chip.ch, cmd(0x80, 0xe2, 0x01, 0, concatBytes(identity(csn), new Uint8Array(8))))),
          name,
        ).toBe('6A86');
      // Any refusal ends the chip's session: SET STATUS finds none.
      expect(await close(mkcCh, chip), name).toBe('6985');
      expect(await lcsOf(chip), name).toBe(3);
    }
  });

  it('key ids and subjects outside the scheme get no key from the MKC', async () => {
    const { ch: mkcCh } = await sealedMkc();
    const chip = await blankChip();
    expect((await open(mkcCh, chip, fromHex('4D50000000005000'))).at(-1)).toBe('9000');
    // purse 0, type 0/5..F, a utility not on the card (2, 15)
    for (const id of [0x01, 0x10, 0x15, 0x1f, 0x31, 0xf1, 0x00, 0xff])
      expect((await putKey(mkcCh, chip, id))[0], id.toString(16)).toBe('6A88');
    expect(sw(await tx(mkcCh, cmd(0x80, 0x74, 1, 0x11, undefined, 256)))).toBe('6A86');
    const sam = await blankChip('sam');
    expect((await open(mkcCh, sam, fromHex('010001230001'))).at(-1)).toBe('9000');
    for (const id of [0x00, 0x05, 0x0f, 0x12, 0x13, 0x14, 0x18, 0xff])
      expect((await putKey(mkcCh, sam, id))[0], id.toString(16)).toBe('6A88');
    // Subjects: pairing 0, utility 0 / 16 / not on the card, tkv 0 / 16, kind 0 / 5.
    const opened = async (kind: number, tkv: number, subject: string) =>
      sw(
        await tx(
          mkcCh,
          cmd(
            0x80,
            0x70,
            kind,
            0,
            concatBytes(sam.icsn, Uint8Array.of(tkv), new Uint8Array(8), fromHex(subject)),
            256,
          ),
        ),
      );
    expect(await opened(2, 1, '010001230000')).toBe('6A80');
    expect(await opened(3, 1, '010001230000')).toBe('6A80');
    expect(await opened(2, 1, '000001230001')).toBe('6A88');
    expect(await opened(2, 1, '100001230001')).toBe('6A88');
    expect(await opened(2, 1, '030001230001')).toBe('6A88');
    expect(await opened(2, 0, '010001230001')).toBe('6A88');
    expect(await opened(2, 16, '010001230001')).toBe('6A88');
    expect(await opened(0, 1, '010001230001')).toBe('6A86');
    expect(await opened(5, 1, '010001230001')).toBe('6A86');
    expect(await opened(2, 1, '01000123000100')).toBe('6700');
  });

  it('serials at FFFFFFFFFFFFFFFF: issued once; then no other chip gets it, nor 0000000000000000', async () => {
    const { mkc, ch: mkcCh } = await sealedMkc();
    const top = await blankChip();
    await personalise(mkc, top.ch, order('FFFFFFFFFFFFFFFF'));
    for (const csn of ['FFFFFFFFFFFFFFFF', '0000000000000000', 'FFFFFFFFFFFFFFFE']) {
      const clone = await blankChip();
      await expect(personalise(mkc, clone.ch, order(csn))).rejects.toMatchObject({ sw: 0x6a89 });
      expect(await lcsOf(clone)).toBe(3);
    }
    expect(sw(await tx(mkcCh, cmd(0x80, 0x74, 0, 0x11, undefined, 256)))).toBe('6985');
    expect((await mkc.status()).issueCounter).toBe(1);
  });

  it('power cut at every write of PERSO CLOSE: the counter moves by 0 or 1, the same chip can finish, no second chip gets the serial', async () => {
    const seen = new Set<number>();
    for (let k = 1; k <= 3; k++) {
      const { ch: mkcCh, dev, reader } = await sealedMkc();
      const chip = await blankChip();
      const csn = fromHex('4D50000000006000');
      expect((await open(mkcCh, chip, csn)).at(-1)).toBe('9000');
      for (const id of KEYS(1)) await putKey(mkcCh, chip, id);
      expect(await storeData(mkcCh, chip, 0x80, 0, concatBytes(identity(csn), purseTlv(1)))).toBe('9000');
      dev.store.armTear(k);
      let torn = false;
      try {
        const r = await tx(mkcCh, cmd(0x80, 0x7a, 0, 5, undefined, 256));
        expect(sw(r)).toBe('9000');
      } catch (e) {
        if (!(e instanceof CardPowerLostError) && !String(e).match(/power|lost|tear|cut/i)) throw e;
        torn = true;
      } finally {
        dev.store.disarmTear();
      }
      dev.os.powerDown();
      dev.os.powerUp();
      const counter = dev.store.view(KEY_MKC_COUNTER)![3]!;
      expect([0, 1]).toContain(counter);
      if (torn) seen.add(counter);
      expect(await lcsOf(chip)).toBe(3);
      const mkc = await MasterKeyCard.open(await reader.connect(), PIN);
      const clone = await blankChip();
      if (counter === 1)
        await expect(personalise(mkc, clone.ch, order('4D50000000006000'))).rejects.toMatchObject({
          sw: 0x6a89,
        });
      await personalise(mkc, chip.ch, order('4D50000000006000'));
      expect(await lcsOf(chip)).toBe(5);
      expect(await lcsOf(clone)).toBe(3);
    }
    expect(seen.size).toBeGreaterThan(0);
  });

  it('a management session on a personalised card cannot re-key it, change its data or its life cycle out of order', async () => {
    const { mkc, ch: mkcCh } = await sealedMkc();
    const chip = await blankChip();
    const csn = fromHex('4D50000000007000');
    await personalise(mkc, chip.ch, order('4D50000000007000'));
    const image = toHex(chip.dev.store.image());
    // Same chip, its own (highest) serial: the MKC hands out wrapped keys, the chip refuses them.
    expect((await open(mkcCh, chip, csn)).at(-1)).toBe('9000');
    expect(await putKey(mkcCh, chip, 0x11)).toEqual(['9000', '6985']);
    expect(await close(mkcCh, chip)).toBe('6985');
    expect((await open(mkcCh, chip, csn)).at(-1)).toBe('9000');
    const m = await tx(
      mkcCh,
      cmd(0x80, 0x76, 0x80, 0, concatBytes(identity(csn), purseTlv(1, '0007A120', '0007A120')), 256),
    );
    expect(
      sw(
        await tx(
          chip.ch,
          cmd(0x80, 0xe2, 0x80, 0, concatBytes(identity(csn), purseTlv(1, '0007A120', '0007A120'), m.data)),
        ),
      ),
    ).toBe('6985');
    // SET STATUS 03 (back to blank) is no transition; neither is 05 → 05.
    for (const lcs of [3, 5]) {
      expect((await open(mkcCh, chip, csn)).at(-1)).toBe('9000');
      const c = await tx(mkcCh, cmd(0x80, 0x7a, 0, lcs, undefined, 256));
      if (c.sw === 0x9000) expect(sw(await tx(chip.ch, cmd(0x80, 0xf0, 0, lcs, c.data, 256)))).toBe('6985');
      else expect(sw(c)).toBe('6A86');
    }
    expect(toHex(chip.dev.store.image())).toBe(image);
    expect(await lcsOf(chip)).toBe(5);
  });
});
