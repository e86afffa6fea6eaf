/**
 * Personalisation end to end through VirtualReaders (docs/personalisation.md §2, §3): a master-key
 * card loaded with components from a seeded ceremony and sealed, blank chips of every kind, and the
 * cards they become working with the existing flows and with reference devices made from the same
 * masters. Then the refusals: MKC PIN, MKC missing, chips not blank or of another kind, and a chip
 * pulled after every APDU of a session (before and after the chip saw it): a restart finds LCS 03
 * and completes, or LCS 05 with the whole card — never a half card.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  IssuerKeys,
  NodeCipherProvider,
  PersoCrypto,
  SeededRng,
  bcdDateTime,
  fromHex,
  makeBlankCard,
  makeMasterKeyCard,
  makeSam,
  makeSubscriberCard,
  makeSvm,
  AID_COMMISSIONING,
  type CardOs,
  type CommandApdu,
  type ResponseApdu,
  KIND_OF,
} from '../../card/index.js';
import type { UtilityMasters } from '../../card/applets/IssuerKeys.js';
import { CardRemovedError, VirtualReader, type CardChannel } from '../../reader/index.js';
import {
  BureauError,
  MasterKeyCard,
  MeterModules,
  apdus,
  authenticate,
  ceremonySlots,
  combineComponents,
  expectOk,
  generateComponents,
  isPersonalisedAs,
  loadCard,
  personalise,
  readChip,
  runCardSession,
  setStatus,
  type ComponentFile,
  type PersoOrder,
  type SubscriberOrder,
} from '../../terminal/index.js';

const cipher = new NodeCipherProvider();
const PIN = '2468';
const UTILITIES = [1, 2, 3, 4, 5, 6, 7, 8];
const purses = (ids: number[]) => ids.map((id) => ({ id, max: 5_000_00, limit: 1_000_00, unit: 978 }));
const NOW = bcdDateTime(Date.UTC(2025, 0, 15, 12, 0, 0));

let files: ComponentFile[];
let issuer: IssuerKeys;
let mkTr: Uint8Array;
let icsnCounter = 0;

function master(slot: number): Uint8Array {
  return combineComponents(files.map((f) => f.components.find((c) => c.slot === slot)!.component));
}

beforeAll(() => {
  const c = generateComponents(
    new SeededRng('bureau-test-ceremony'),
    cipher,
    ceremonySlots(UTILITIES, 2, 1, 1),
    2,
  );
  files = c.files;
  manifest = c.manifest;
  issuer = new IssuerKeys(
    cipher,
    UTILITIES.map((u): [number, UtilityMasters] => [
      u,
      {
        auth: master((u << 4) | 1),
        debit: master((u << 4) | 2),
        credit: master((u << 4) | 3),
        proof: master((u << 4) | 4),
        svm: master((u << 4) | 5),
        commission: master((u << 4) | 6),
        host: [
          [0, master((u << 4) | 8)],
          [1, master((u << 4) | 9)],
        ],
      },
    ]),
  );
  mkTr = master(0x01);
});
let manifest: ReturnType<typeof generateComponents>['manifest'];

/** A fresh MKC loaded with the ceremony's components; sealed unless asked not to. */
async function freshMkc(seal = true): Promise<{ mkc: MasterKeyCard; reader: VirtualReader; os: CardOs }> {
  const dev = makeMasterKeyCard({
    serial: fromHex('4D4B430000000001'),
    pin: PIN,
    cipher,
    rng: new SeededRng('mkc'),
  });
  const reader = new VirtualReader('MKC', dev.os);
  const mkc = await MasterKeyCard.open(await reader.connect(), PIN);
  for (const f of files) await mkc.loadComponents(f);
  if (seal) await mkc.seal(manifest);
  return { mkc, reader, os: dev.os };
}

type Kind = 'subscriber' | 'sam' | 'svm' | 'commissioning';
function blank(kind: Kind, tkv = 1): { os: CardOs; icsn: Uint8Array } {
  const icsn = fromHex(`1C5E00000000${(++icsnCounter).toString(16).padStart(4, '0')}`);
  const transportKey = new PersoCrypto(cipher).transportKey(mkTr, icsn, KIND_OF[kind]);
  const dev = makeBlankCard(kind, {
    icsn,
    tkv,
    transportKey,
    cipher,
    rng: new SeededRng(`chip${icsnCounter}`),
  });
  return { os: dev.os, icsn };
}

async function chipIn(os: CardOs, name = 'chip'): Promise<{ reader: VirtualReader; ch: CardChannel }> {
  const reader = new VirtualReader(name, os);
  return { reader, ch: await reader.connect() };
}

const subscriberOrder = (csn: string, ids = [1, 2], pin?: string): SubscriberOrder => ({
  kind: 'subscriber',
  csn: fromHex(csn),
  purses: purses(ids),
  ...(pin ? { pin } : {}),
});
const meter = { meterId: fromHex('000123'), terminalId: fromHex('00000123'), purse: 1, pairing: 1 };

async function bureauError(p: Promise<unknown>): Promise<BureauError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof BureauError) return e;
    throw e;
  }
  throw new Error('expected a BureauError');
}

describe('personalise(): every kind, and the cards work', () => {
  it('a subscriber card takes LOAD (K_credit) and pays a reference SAM + SVM of the same masters', async () => {
    const { mkc } = await freshMkc();
    const { os, icsn } = blank('subscriber');
    const { ch } = await chipIn(os);
    const before = await mkc.status();
    const r = await personalise(mkc, ch, subscriberOrder('4D50000000000042'));
    expect(r).toEqual({
      kind: 'subscriber',
      icsn: Buffer.from(icsn).toString('hex').toUpperCase(),
      subject: '4D50000000000042',
      issueCounter: before.issueCounter + 1,
    });
    const info = await readChip(ch);
    expect(info.lcs).toBe(5);
    expect(isPersonalisedAs(info, subscriberOrder('4D50000000000042'))).toBe(true);
    expect(isPersonalisedAs(info, subscriberOrder('4D50000000000043'))).toBe(false);
    const loaded = await loadCard(ch, issuer, {
      purse: 1,
      amount: 2000,
      terminalId: fromHex('49535355'),
      dateTime: NOW,
    });
    expect(loaded.balance).toBe(2000);
    const sam = makeSam(issuer, { ...meter });
    const svm = makeSvm(issuer, { ...meter, max: 1_000_000 });
    const m = await MeterModules.open(
      await new VirtualReader('sam', sam.os).connect(),
      await new VirtualReader('svm', svm.os).connect(),
    );
    const o = await runCardSession(m, ch, { purse: 1, dateTime: NOW });
    expect(o.amount).toBe(2000);
  });

  it('with a PIN: the card asks for it', async () => {
    const { mkc } = await freshMkc();
    const { os } = blank('subscriber');
    const { ch } = await chipIn(os);
    await personalise(mkc, ch, subscriberOrder('4D50000000000044', [1], '1357'));
    const req = { purse: 1, amount: 100, terminalId: fromHex('49535355'), dateTime: NOW };
    await expect(loadCard(ch, issuer, req)).rejects.toThrow();
    const pinBlock = fromHex('31333537FFFFFFFF');
    expect((await loadCard(ch, issuer, { ...req, pinBlock })).balance).toBe(100);
  });

  it('a SAM and an SVM pair up and take value from a reference card; the SAM holds KT of both KH versions', async () => {
    const { mkc } = await freshMkc();
    const s = blank('sam');
    const v = blank('svm');
    const samCh = (await chipIn(s.os, 'sam')).ch;
    const svmCh = (await chipIn(v.os, 'svm')).ch;
    const samOrder: PersoOrder = { kind: 'sam', ...meter };
    await personalise(mkc, samCh, samOrder);
    await personalise(mkc, svmCh, { kind: 'svm', ...meter, max: 1_000_000 });
    expect(isPersonalisedAs(await readChip(samCh), samOrder)).toBe(true);
    const fci = await expectOk(samCh, apdus.selectAid(fromHex('F04D5053414D01')), 'SELECT SAM');
    expect(Buffer.from(fci).toString('hex')).toContain('c6020001');
    const card = makeSubscriberCard(issuer, { csn: fromHex('4D50000000000050'), purses: purses([1]) });
    const cardCh = await new VirtualReader('card', card.os).connect();
    await loadCard(cardCh, issuer, { purse: 1, amount: 700, terminalId: fromHex('49535355'), dateTime: NOW });
    const m = await MeterModules.open(samCh, svmCh);
    const o = await runCardSession(m, cardCh, { purse: 1, dateTime: NOW });
    expect(o.amount).toBe(700);
  });

  it('a commissioning card (payload of 247 bytes: two STORE DATA blocks) authenticates to a reference SAM', async () => {
    const { mkc } = await freshMkc();
    const { os } = blank('commissioning');
    const { ch } = await chipIn(os);
    const payload = new Uint8Array(247).map((_, i) => i);
    payload.set(fromHex('01000123'), 0);
    const order: PersoOrder = {
      kind: 'commissioning',
      csn: fromHex('C0DE000000000001'),
      purse: 1,
      uses: 3,
      payload,
    };
    await personalise(mkc, ch, order);
    const info = await readChip(ch);
    expect(isPersonalisedAs(info, order)).toBe(true);
    const sam = makeSam(issuer, { ...meter });
    const svm = makeSvm(issuer, { ...meter, max: 1000 });
    const m = await MeterModules.open(
      await new VirtualReader('sam', sam.os).connect(),
      await new VirtualReader('svm', svm.os).connect(),
    );
    await expectOk(ch, apdus.selectAid(AID_COMMISSIONING), 'SELECT');
    await authenticate(m, ch, fromHex('C0DE000000000001'), 1);
  });

  it('block, unblock, terminate a personalised card', async () => {
    const { mkc } = await freshMkc();
    const { os, icsn } = blank('subscriber');
    const { ch } = await chipIn(os);
    const order = subscriberOrder('4D50000000000060', [1]);
    await personalise(mkc, ch, order);
    const rec = { kind: 'subscriber' as const, order, icsn, tkv: 1 };
    await setStatus(mkc, ch, rec, 'block');
    expect((await readChip(ch)).lcs).toBe(4);
    const req = { purse: 1, amount: 100, terminalId: fromHex('49535355'), dateTime: NOW };
    await expect(loadCard(ch, issuer, req)).rejects.toThrow();
    await setStatus(mkc, ch, rec, 'unblock');
    expect((await readChip(ch)).lcs).toBe(5);
    expect((await loadCard(ch, issuer, req)).balance).toBe(100);
    // Another card's subject: the chip refuses the management session.
    const other = await bureauError(
      setStatus(mkc, ch, { ...rec, order: subscriberOrder('4D50000000000061', [1]) }, 'block'),
    );
    expect(other.code).toBe('chip-refused');
    expect(other.sw).toBe(0x6a80);
    await setStatus(mkc, ch, rec, 'terminate');
    expect((await readChip(ch)).lcs).toBe(0x0c);
    expect((await bureauError(setStatus(mkc, ch, rec, 'unblock'))).code).toBe('chip-refused');
  });
});

describe('refusals', () => {
  it('wrong MKC PIN: tries counted down, blocked after 3', async () => {
    const dev = makeMasterKeyCard({ serial: fromHex('4D4B430000000002'), pin: PIN, cipher });
    const reader = new VirtualReader('MKC', dev.os);
    const ch = await reader.connect();
    const e1 = await bureauError(MasterKeyCard.open(ch, '0000'));
    expect([e1.code, e1.triesLeft, e1.sw]).toEqual(['mkc-pin-wrong', 2, 0x63c2]);
    expect(e1.message).toMatch(/2 tries left/);
    const e2 = await bureauError(MasterKeyCard.open(ch, '0000'));
    expect([e2.code, e2.triesLeft]).toEqual(['mkc-pin-wrong', 1]);
    const e3 = await bureauError(MasterKeyCard.open(ch, '0000'));
    expect([e3.code, e3.triesLeft]).toEqual(['mkc-blocked', 0]);
    const e4 = await bureauError(MasterKeyCard.open(ch, PIN));
    expect(e4.code).toBe('mkc-blocked');
    expect(e4.sw).toBe(0x6983);
  });

  it('a right PIN after a wrong one resets the tries', async () => {
    const dev = makeMasterKeyCard({ serial: fromHex('4D4B430000000003'), pin: PIN, cipher });
    const ch = await new VirtualReader('MKC', dev.os).connect();
    await bureauError(MasterKeyCard.open(ch, '0000'));
    await MasterKeyCard.open(ch, PIN);
    expect((await bureauError(MasterKeyCard.open(ch, '0000'))).triesLeft).toBe(2);
  });

  it('MKC missing: another card in its reader, or the card gone', async () => {
    const { os } = blank('subscriber');
    const { reader, ch } = await chipIn(os, 'MKC');
    const e = await bureauError(MasterKeyCard.open(ch, PIN));
    expect(e.code).toBe('mkc-missing');
    expect(e.sw).toBe(0x6a82);
    reader.remove();
    expect((await bureauError(MasterKeyCard.open(ch, PIN))).code).toBe('mkc-missing');
  });

  it('an unsealed MKC personalises nothing', async () => {
    const { mkc } = await freshMkc(false);
    const { os } = blank('subscriber');
    const { ch } = await chipIn(os);
    expect((await bureauError(personalise(mkc, ch, subscriberOrder('4D50000000000070')))).code).toBe(
      'mkc-not-sealed',
    );
  });

  it('a chip personalised already, or of another kind', async () => {
    const { mkc } = await freshMkc();
    const { os } = blank('subscriber');
    const { ch } = await chipIn(os);
    const order = subscriberOrder('4D50000000000080', [1]);
    await personalise(mkc, ch, order);
    const again = await bureauError(personalise(mkc, ch, order));
    expect(again.code).toBe('chip-not-blank');
    expect(again.message).toMatch(/as this order asks already/);
    const sam = blank('sam');
    const samCh = (await chipIn(sam.os)).ch;
    expect((await bureauError(personalise(mkc, samCh, order))).code).toBe('chip-wrong-kind');
    // A reference (non-blank-profile) card counts as personalised.
    const card = makeSubscriberCard(issuer, { csn: fromHex('4D50000000000081'), purses: purses([1]) });
    const cardCh = await new VirtualReader('card', card.os).connect();
    expect((await bureauError(personalise(mkc, cardCh, order))).code).toBe('chip-not-blank');
  });

  it('a chip of another transport master: EXTERNAL AUTHENTICATE refused, named', async () => {
    const { mkc } = await freshMkc();
    const icsn = fromHex('1C5EFFFF00000001');
    const dev = makeBlankCard('subscriber', {
      icsn,
      tkv: 1,
      transportKey: new Uint8Array(16).fill(0x11),
      cipher,
    });
    const { ch } = await chipIn(dev.os);
    const e = await bureauError(personalise(mkc, ch, subscriberOrder('4D50000000000090')));
    expect(e.code).toBe('chip-refused');
    expect(e.step).toBe('EXTERNAL AUTHENTICATE');
    expect(e.message).toMatch(/MK_tr\[1\]/);
  });

  it('a SAM for a utility the MKC has no keys of', async () => {
    const { mkc } = await freshMkc();
    const { os } = blank('sam');
    const { ch } = await chipIn(os);
    const e = await bureauError(personalise(mkc, ch, { kind: 'sam', ...meter, purse: 9 }));
    expect(e.message).toMatch(/utility 9/);
    expect(e.code).toBe('bad-order');
  });
});

/**
 * A channel that loses the card at its n-th transmit: 'before' the card sees the command, or
 * 'after' it ran it (the answer is lost).
 */
class PullingChannel implements CardChannel {
  count = 0;
  constructor(
    readonly inner: CardChannel,
    readonly reader: VirtualReader,
    readonly at: number,
    readonly when: 'before' | 'after',
  ) {}
  get readerName() {
    return this.inner.readerName;
  }
  get atr() {
    return this.inner.atr;
  }
  get protocol() {
    return this.inner.protocol;
  }
  async transmit(c: CommandApdu): Promise<ResponseApdu> {
    if (++this.count === this.at) {
      if (this.when === 'after') await this.inner.transmit(c);
      this.reader.remove();
      throw new CardRemovedError('card pulled', this.readerName);
    }
    return this.inner.transmit(c);
  }
  reset() {
    return this.inner.reset();
  }
  disconnect() {
    return this.inner.disconnect();
  }
}

describe('a chip pulled after any APDU of the session', () => {
  it.each(['before', 'after'] as const)(
    'pulled %s the n-th APDU: a restart completes, never a half card',
    async (when) => {
      const { mkc } = await freshMkc();
      // Eight purses and a PIN: 32 PUT KEYs and two STORE DATA blocks.
      // One serial per chip: the MKC refuses a serial it issued to another chip (a clone).
      const orderFor = (n: number) =>
        subscriberOrder(`4D5000000000${(0xa000 + n).toString(16)}`, [1, 2, 3, 4, 5, 6, 7, 8], '4321');
      // How many APDUs the chip gets in one uninterrupted session.
      const probe = blank('subscriber');
      const counting = (await chipIn(probe.os)).ch;
      const probeCh = new PullingChannel(counting, new VirtualReader('x'), -1, 'before');
      await personalise(mkc, probeCh, orderFor(0));
      const total = probeCh.count;
      expect(total).toBeGreaterThan(36);
      for (let n = 1; n <= total; n++) {
        const order = orderFor(n);
        const { os } = blank('subscriber');
        const { reader, ch } = await chipIn(os);
        const e = await bureauError(personalise(mkc, new PullingChannel(ch, reader, n, when), order));
        expect(e.code, `n = ${n}`).toBe('chip-missing');
        reader.insert(os);
        const again = await reader.connect();
        const info = await readChip(again);
        if (info.lcs === 3) await personalise(mkc, again, order);
        else {
          // Only a SET STATUS that ran can leave LCS 05: the last command, its receipt lost.
          expect([info.lcs, n, when]).toEqual([5, total, 'after']);
          expect(isPersonalisedAs(info, order)).toBe(true);
        }
        const done = await readChip(again);
        expect(isPersonalisedAs(done, order), `n = ${n}`).toBe(true);
        const pinBlock = fromHex('34333231FFFFFFFF');
        const r = await loadCard(again, issuer, {
          purse: 8,
          amount: 10,
          terminalId: fromHex('49535355'),
          dateTime: NOW,
          pinBlock,
        });
        expect(r.balance).toBe(10);
      }
    },
  );
});
