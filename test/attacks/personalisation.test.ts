/**
 * Attacks on issuance (docs/personalisation.md): whoever sits on the bureau PC, on the wire between
 * it and the chips, or holds a stolen blank chip tries to get issuer keys out of the master-key
 * card, to make a second card with a serial already in use, to change what the MKC authorised
 * (initial credit), to replay a recorded personalisation into another chip, or to re-personalise a
 * card in use. Each test asserts that no key left the MKC in a form the attacker can use, and no
 * chip became a card the MKC did not authorise.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CommandApdu,
  NodeCipherProvider,
  PersoCrypto,
  SeededRng,
  fromHex,
  makeBlankCard,
  makeMasterKeyCard,
  toHex,
  type CardOs,
  type ResponseApdu,
  KIND_SAM,
  KIND_SUBSCRIBER,
} from '../../card/index.js';
import { KEY_MKC_COUNTER } from '../../card/applets/mkc/records.js';
import { VirtualReader, type CardChannel } from '../../reader/index.js';
import {
  BureauError,
  MasterKeyCard,
  ceremonySlots,
  combineComponents,
  generateComponents,
  personalise,
  readChip,
  type ComponentFile,
  type SubscriberOrder,
} from '../../terminal/index.js';
import { interceptChannel } from '../reader/interceptChannel.js';

const cipher = new NodeCipherProvider();
const perso = new PersoCrypto(cipher);
const PIN = '8642';
const U = [1, 2];
let files: ComponentFile[];
let manifest: ReturnType<typeof generateComponents>['manifest'];
let mkTr: Uint8Array;
let chips = 0;

const master = (slot: number) =>
  combineComponents(files.map((f) => f.components.find((c) => c.slot === slot)!.component));

beforeAll(() => {
  ({ files, manifest } = generateComponents(new SeededRng('attack-ceremony'), cipher, ceremonySlots(U), 2));
  mkTr = master(0x01);
});

async function sealedMkc() {
  const dev = makeMasterKeyCard({
    serial: fromHex('4D4B430000000009'),
    pin: PIN,
    cipher,
    rng: new SeededRng('m'),
  });
  const ch = await new VirtualReader('MKC', dev.os).connect();
  const mkc = await MasterKeyCard.open(ch, PIN);
  for (const f of files) await mkc.loadComponents(f);
  await mkc.seal(manifest);
  return { mkc, ch, dev };
}

function blankChip(transportMaster = mkTr): { os: CardOs; icsn: Uint8Array } {
  const icsn = fromHex(`1C5E0000A77A${(++chips).toString(16).padStart(4, '0')}`);
  const dev = makeBlankCard('subscriber', {
    icsn,
    tkv: 1,
    transportKey: perso.transportKey(transportMaster, icsn, KIND_SUBSCRIBER),
    cipher,
    rng: new SeededRng(`attack-chip-${chips}`),
  });
  return { os: dev.os, icsn };
}

const order = (csn: string, balance = 0): SubscriberOrder => ({
  kind: 'subscriber',
  csn: fromHex(csn),
  purses: [{ id: 1, max: 5_000_00, limit: 1_000_00, unit: 978, balance }],
});

const apdu = (hex: string) => CommandApdu.decode(fromHex(hex));
const sw = (r: ResponseApdu) => r.sw.toString(16).toUpperCase();

/** Records every command the bureau sends to a chip, with the chip's answers. */
function recorder(inner: CardChannel, log: CommandApdu[]): CardChannel {
  return interceptChannel(inner, (c, next) => {
    log.push(c);
    return next(c);
  });
}

async function bureauError(p: Promise<unknown>): Promise<BureauError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof BureauError) return e;
    throw e;
  }
  throw new Error('expected a BureauError');
}

describe('issuance attacks', () => {
  it('the K_tr a subscriber card keeps (read out of a card, a lab file) cannot pose as a blank SAM: no utility master comes out', async () => {
    const { ch } = await sealedMkc();
    // The attacker holds a subscriber chip's own transport key and its ICSN …
    const icsn = fromHex('1C5E0000CAFE0001');
    const kTrOfSubscriber = perso.transportKey(mkTr, icsn, KIND_SUBSCRIBER);
    // … and asks the MKC for a SAM session with that chip serial (subject: utility 01, meter 000123, pairing 1).
    const rt = fromHex('1122334455667788');
    const subject = fromHex('01000123' + '0001');
    const open = await ch.transmit(apdu(`8070020017${toHex(icsn)}01${toHex(rt)}${toHex(subject)}`));
    expect(sw(open)).toBe('9000');
    const rm = open.data.subarray(0, 8);
    // The host cryptogram does not verify under the subscriber K_tr: the MKC used the SAM kind's.
    const { mac } = perso.sessionKeys(kTrOfSubscriber, rt, rm);
    expect(toHex(perso.hostCryptogram(mac, KIND_SAM, icsn, rt, rm, subject))).not.toBe(
      toHex(open.data.subarray(8, 16)),
    );
    // Its card cryptogram is refused; MK_auth (key id 01 of a SAM) never comes out.
    const forged = perso.cardCryptogram(mac, KIND_SAM, icsn, rt, rm, subject);
    expect(sw(await ch.transmit(apdu(`8072000008${toHex(forged)}`)))).toBe('6300');
    expect(sw(await ch.transmit(apdu('8074000100')))).toBe('6985');
  });

  it('a PC pretending to be a blank chip (it has no K_tr) gets no key out of the MKC', async () => {
    const { ch } = await sealedMkc();
    // The attacker makes up a chip serial and a challenge, and answers with a guessed cryptogram.
    const icsn = '1C5E0000DEAD0001';
    const rt = '0102030405060708';
    const open = await ch.transmit(apdu(`8070010019${icsn}01${rt}4D50000000000077`));
    expect(sw(open)).toBe('9000');
    // Without PERSO AUTH nothing comes out …
    expect(sw(await ch.transmit(apdu('8074001100')))).toBe('6985');
    expect(sw(await ch.transmit(apdu('807800000831323334FFFFFFFF')))).toBe('6985');
    expect(sw(await ch.transmit(apdu('80760080035A0100')))).toBe('6985');
    // … a wrong card cryptogram (here: one made with another transport master) ends the session …
    const other = perso.transportKey(
      fromHex('0123456789ABCDEFFEDCBA9876543210'),
      fromHex(icsn),
      KIND_SUBSCRIBER,
    );
    const rm = open.data.subarray(0, 8);
    const { mac } = perso.sessionKeys(other, fromHex(rt), rm);
    const guess = perso.cardCryptogram(mac, 1, fromHex(icsn), fromHex(rt), rm, fromHex('4D50000000000077'));
    expect(sw(await ch.transmit(apdu(`8072000008${toHex(guess)}`)))).toBe('6300');
    // … and the session is gone: still no key.
    expect(sw(await ch.transmit(apdu('8074001100')))).toBe('6985');
  });

  it('a recorded personalisation replayed into another blank chip, or into the same chip after a reset, makes no card', async () => {
    const { mkc } = await sealedMkc();
    const victim = blankChip();
    const log: CommandApdu[] = [];
    const reader = new VirtualReader('chip', victim.os);
    await personalise(mkc, recorder(await reader.connect(), log), order('4D50000000000100'));
    expect(log.length).toBeGreaterThan(6);
    // The same chip after a reset: a session pulled before SET STATUS leaves it blank; its log
    // is replayed into it.
    const same = blankChip();
    const sameReader = new VirtualReader('same', same.os);
    const sameLog: CommandApdu[] = [];
    const pulled = interceptChannel(await sameReader.connect(), (c, next) => {
      sameLog.push(c);
      if (c.ins === 0xf0) throw new Error('pulled');
      return next(c);
    });
    await expect(personalise(mkc, pulled, order('4D50000000000101'))).rejects.toThrow();
    expect((await readChip(await sameReader.connect())).lcs).toBe(3);
    for (const [target, commands] of [
      [blankChip(), log],
      [blankChip(), log],
      [same, sameLog],
    ] as const) {
      const ch = await new VirtualReader('clone', target.os).connect();
      const answers: string[] = [];
      for (const c of commands) answers.push(sw(await ch.transmit(c)));
      // The recorded host cryptogram does not fit this chip's challenge and K_tr.
      expect(answers).toContain('6300');
      expect(answers.filter((a) => a === '9000').length).toBeLessThanOrEqual(2); // SELECT, GET CHALLENGE
      expect((await readChip(ch)).lcs).toBe(3);
    }
  });

  it('a second chip with a serial already issued (a clone) gets no key: 6A89; so does a lower serial; the same chip may resume', async () => {
    const { mkc, ch: mkcCh } = await sealedMkc();
    const first = blankChip();
    const firstCh = await new VirtualReader('a', first.os).connect();
    await personalise(mkc, firstCh, order('4D50000000000200'));
    for (const csn of ['4D50000000000200', '4D500000000001FF']) {
      const clone = blankChip();
      const e = await bureauError(
        personalise(mkc, await new VirtualReader('b', clone.os).connect(), order(csn)),
      );
      expect(e.code).toBe('serial-issued');
      expect(e.sw).toBe(0x6a89);
      // Refused at PERSO OPEN, before any key was derived: the MKC has no session to give keys from.
      expect(sw(await mkcCh.transmit(apdu('8074001100')))).toBe('6985');
    }
    // A higher serial is fine.
    const next = blankChip();
    await personalise(mkc, await new VirtualReader('c', next.os).connect(), order('4D50000000000201'));
    expect((await mkc.status()).issueCounter).toBe(2);
  });

  it('the PC raises the initial credit in STORE DATA after the MKC MACed it: 6988, the chip stays blank', async () => {
    const { mkc } = await sealedMkc();
    const { os } = blankChip();
    const reader = new VirtualReader('chip', os);
    // 1000 authorised; the shim rewrites C7 (balance) to 400000 on the way to the chip.
    const tampered = interceptChannel(await reader.connect(), (c, next) => {
      if (c.ins !== 0xe2) return next(c);
      const d = c.data.slice();
      const at = toHex(d).indexOf('C70400000' + '3E8');
      expect(at).toBeGreaterThan(-1);
      d.set(fromHex('C70400061A80'), at / 2);
      return next(new CommandApdu({ cla: c.cla, ins: c.ins, p1: c.p1, p2: c.p2, data: d }));
    });
    const e = await bureauError(personalise(mkc, tampered, order('4D50000000000300', 1000)));
    expect(e.sw).toBe(0x6988);
    expect((await readChip(await reader.connect())).lcs).toBe(3);
  });

  it('a key from one session injected into another session of the same chip: 6988, nothing kept', async () => {
    const { mkc } = await sealedMkc();
    const { os } = blankChip();
    const reader = new VirtualReader('chip', os);
    const keys: CommandApdu[] = [];
    // First session: keep its PUT KEYs, pull the card before SET STATUS.
    const first = interceptChannel(await reader.connect(), (c, next) => {
      if (c.ins === 0xd8) keys.push(c);
      if (c.ins === 0xf0) throw new Error('pulled');
      return next(c);
    });
    await expect(personalise(mkc, first, order('4D50000000000400'))).rejects.toThrow();
    expect(keys.length).toBe(4);
    // Second session: the attacker swaps in the first session's K_auth.
    let swapped = false;
    const second = interceptChannel(await reader.connect(), (c, next) => {
      if (c.ins === 0xd8 && !swapped) {
        swapped = true;
        return next(keys[0]!);
      }
      return next(c);
    });
    const e = await bureauError(personalise(mkc, second, order('4D50000000000400')));
    expect(e.sw).toBe(0x6988);
    expect((await readChip(await reader.connect())).lcs).toBe(3);
  });

  it('a personalised card cannot be re-keyed: PUT KEY and STORE DATA 6985, in or out of a management session', async () => {
    const { mkc } = await sealedMkc();
    const { os } = blankChip();
    const ch = await new VirtualReader('chip', os).connect();
    const log: CommandApdu[] = [];
    await personalise(mkc, recorder(ch, log), order('4D50000000000500'));
    const putKey = log.find((c) => c.ins === 0xd8)!;
    const storeData = log.find((c) => c.ins === 0xe2)!;
    expect(sw(await ch.transmit(putKey))).toBe('6985');
    expect(sw(await ch.transmit(storeData))).toBe('6985');
    // A second personalisation of the same card through the real bureau flow.
    const e = await bureauError(personalise(mkc, ch, order('4D50000000000500')));
    expect(e.code).toBe('chip-not-blank');
  });

  it('the issue counter at its maximum refuses one more personalisation before the chip is touched further', async () => {
    const { mkc, dev } = await sealedMkc();
    dev.store.commit([[KEY_MKC_COUNTER, fromHex('FFFFFFFF')]]);
    const { os } = blankChip();
    const reader = new VirtualReader('chip', os);
    const e = await bureauError(personalise(mkc, await reader.connect(), order('4D50000000000600')));
    expect(e.sw).toBe(0x6985);
    expect((await readChip(await reader.connect())).lcs).toBe(3);
    expect((await mkc.status()).issueCounter).toBe(0xffffffff);
  });
});
