import { describe, expect, it } from 'vitest';
import { Atr } from '../../card/iso7816/Atr.js';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { SwError } from '../../card/iso7816/errors.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import { CardPowerLostError } from '../../card/os/CardOs.js';
import type { CardServices, CommandContext, HandlerResult } from '../../card/os/Applet.js';
import { RuntimeApplet, type Application } from '../../card/applets/platform/RuntimeApplet.js';
import { buildIsoCard, sampleIsoConfig } from '../../card/os/CardProfiles.js';
import { SeededRng } from '../../card/crypto/rng.js';
import { toHex, fromHex } from '../../card/util/hex.js';
import { DEMO_AID, PIN_BAD, PIN_OK, PUK, cipher, sampleCard, send } from './helpers.js';

describe('power, ATR and status words', () => {
  it('ATRs parse with a valid TCK and announce the protocol', () => {
    const t1 = Atr.parse(sampleCard('T=1').card.atr);
    const t0 = Atr.parse(sampleCard('T=0').card.atr);
    expect(toHex(sampleCard('T=1').card.atr)).toBe('3B8581' + '31FE45' + '8073' + '00005B' + '26');
    expect(t1).toBeDefined();
    expect(toHex(sampleCard('T=0').card.atr)).toBe('3B05807300001B');
    expect(t0).toBeDefined();
  });

  it('an unpowered card throws CardPowerLostError; powerUp returns the ATR', () => {
    const { card } = sampleCard();
    card.powerDown();
    expect(card.powered).toBe(false);
    expect(() => card.transmit(fromHex('00A40000'))).toThrow(CardPowerLostError);
    expect(toHex(card.powerUp())).toBe(toHex(card.atr));
  });

  it('malformed APDUs, unknown CLA and INS', () => {
    const { tx } = sampleCard();
    expect(tx('00')).toBe('6700');
    expect(tx('00A4000C0501')).toBe('6700'); // Lc announces more than follows
    expect(tx('20A40000')).toBe('6E00'); // RFU class
    expect(tx('FFA40000')).toBe('6E00');
    expect(tx('80CA000000')).toBe('6E00'); // proprietary class, no applet
    expect(tx('00CA000000')).toBe('6D00');
    expect(tx('00600000')).toBe('6D00'); // 6X is not an INS
    expect(tx('01A40000')).toBe('6881'); // channel 1 not open
    expect(tx('4FA40000')).toBe('6881'); // channel 19 beyond the card's 4
    expect(tx('1CB0000000')).toBe('6884'); // chaining under SM
    expect(tx('04A40000')).toBe('6882'); // proprietary SM
    expect(tx('0CB0000000')).toBe('6882'); // SM without a session
  });
});

describe('T=0 and T=1 response rules', () => {
  it('T=0 case 4 answers 61xx; GET RESPONSE returns the data; 6Cxx on a wrong case 2 Le', () => {
    const { tx } = sampleCard('T=0');
    expect(tx(`00A4040008${DEMO_AID}00`)).toBe('6116');
    expect(tx('00C0000018')).toBe('6C16');
    expect(tx('00C0000010')).toBe(`6F14820138830250008408${DEMO_AID.slice(0, 10)}6106`);
    expect(tx('00C0000006')).toBe(`${DEMO_AID.slice(10)}8A01059000`);
    expect(tx('00C0000000')).toBe('6985'); // nothing left
    expect(tx('00B0810010').length).toBe(36); // exact Le
    expect(tx('00B0810020')).toMatch(/^[0-9A-F]{64}9000$/);
    expect(tx('00B2022400')).toBe('6C02'); // record of 2 bytes asked with Le=00
    expect(tx('00B2022402')).toBe('BBBB9000');
    expect(tx('00B0810000000100')).toBe('6700'); // extended APDU on T=0
  });

  it('T=0: GET RESPONSE hands out the data in chunks of at most Le', () => {
    const { tx } = sampleCard('T=0');
    const challenge = '5A'.repeat(248);
    const expected = toHex(
      cipher.encrypt('tdes', 'ecb', fromHex('404142434445464748494A4B4C4D4E4F'), fromHex(challenge)),
    );
    expect(tx('00880001F8' + challenge)).toBe('61F8'); // 248 bytes waiting
    expect(tx('00C0000080')).toBe(expected.slice(0, 256) + '6178');
    expect(tx('00C0000079')).toBe('6C78'); // more than remains
    expect(tx('00C0000078')).toBe(expected.slice(256) + '9000');
    expect(tx('00880001F8' + challenge)).toBe('61F8');
    expect(tx('00C0000000')).toBe(expected + '9000');
  });

  it('T=1 answers directly; Nr > Ne gives Ne bytes and 61xx, the rest by GET RESPONSE', () => {
    const { tx } = sampleCard('T=1');
    const fci = tx(`00A4040008${DEMO_AID}00`);
    expect(fci).toMatch(/^6F14.*9000$/);
    const part = tx(`00A4040008${DEMO_AID}10`);
    expect(part).toBe(fci.slice(0, 32) + '6106');
    expect(tx('00C0000000')).toBe(fci.slice(32));
    expect(tx(`00A4040008${DEMO_AID}`)).toBe('9000'); // case 3: no data
  });
});

describe('command chaining (§5.1.1.1)', () => {
  it('parts are joined and executed once with the last part; a different header breaks the chain', () => {
    const { tx, card } = sampleCard();
    tx(`00A4040C08${DEMO_AID}`);
    tx('0020008108' + PIN_OK);
    const image = card.store.image();
    expect(tx('10D6810002AABB')).toBe('9000');
    expect(tx('10D6810001CC')).toBe('9000');
    expect(Buffer.compare(image, card.store.image())).toBe(0); // nothing written before the last part
    expect(tx('00D6810001DD')).toBe('9000');
    expect(tx('00B0810004')).toBe('AABBCCDD9000');
    expect(tx('10D6810001AA')).toBe('9000');
    expect(tx('10D6820001BB')).toBe('6883');
    expect(tx('00D6810001EE')).toBe('9000'); // the chain was dropped: EE alone, at offset 0
    expect(tx('00B0810002')).toBe('EEBB9000');
    // On T=0 a chained case 4 command answers 61xx at its last part.
    const t0 = sampleCard('T=0');
    expect(t0.tx('1088000104' + '00112233')).toBe('9000');
    expect(t0.tx('0088000104' + '44556677')).toBe('6108');
    const key = fromHex('404142434445464748494A4B4C4D4E4F');
    expect(t0.tx('00C0000008')).toBe(
      toHex(cipher.encrypt('tdes', 'ecb', key, fromHex('0011223344556677'))) + '9000',
    );
  });
});

describe('PIN (§11.5.6, §11.5.7, §11.5.10)', () => {
  it('63Cx counts down, 63C0 then 6983; VERIFY without data reports the status', () => {
    const { tx } = sampleCard();
    expect(tx('0020008100')).toBe('63C3');
    expect(tx('0020008108' + PIN_BAD)).toBe('63C2');
    expect(tx('0020008108' + PIN_BAD)).toBe('63C1');
    expect(tx('0020008108' + PIN_OK)).toBe('9000');
    expect(tx('0020008100')).toBe('9000');
    expect(tx('00200081')).toBe('9000');
    for (const sw of ['63C2', '63C1', '63C0', '6983']) expect(tx('0020008108' + PIN_BAD)).toBe(sw);
    expect(tx('0020008108' + PIN_OK)).toBe('6983');
    expect(tx('0020008100')).toBe('6983');
  });

  it('PUK unblocks and sets a new PIN; CHANGE REFERENCE DATA; wrong formats change nothing', () => {
    const { tx, card } = sampleCard();
    for (let i = 0; i < 3; i++) tx('0020008108' + PIN_BAD);
    const image = card.store.image();
    expect(tx('0020008104' + '31323334')).toBe('6700');
    expect(tx('0020018108' + PIN_OK)).toBe('6A86');
    expect(tx('0020008508' + PIN_OK)).toBe('6A88');
    expect(tx('002C008108' + PUK)).toBe('6700');
    expect(tx('002C058108' + PUK)).toBe('6A86');
    expect(tx('002C008208' + PUK)).toBe('6985'); // the PUK has no PUK
    expect(Buffer.compare(image, card.store.image())).toBe(0);
    const newPin = '35363738FFFFFFFF';
    expect(tx('002C008110' + PUK + newPin)).toBe('9000');
    expect(tx('0020008108' + PIN_OK)).toBe('63C2');
    expect(tx('0020008108' + newPin)).toBe('9000');
    expect(tx('0024008110' + newPin + PIN_OK)).toBe('9000');
    expect(tx('0020008108' + PIN_OK)).toBe('9000');
    expect(tx('0024018108' + newPin)).toBe('9000'); // P1=01: verified PIN, new value only
    expect(tx('0020FF8100')).toBe('9000'); // reset the verification status
    expect(tx('0024018108' + PIN_OK)).toBe('6982');
    expect(tx('002C018208' + PUK)).toBe('6985'); // the PUK itself has no unblocking PIN
  });

  it('a tear during VERIFY can cost a try but never gives one', () => {
    // VERIFY = transaction 1 (decrement: low-level writes 1-4, commit point at 2), comparison,
    // then for the right PIN transaction 2 (restore: writes 5-8, commit point at 6).
    const triesAfterTear = (pin: string, k: number) => {
      const { card } = sampleCard();
      card.store.armTear(k);
      expect(() => send(card, '0020008108' + pin)).toThrow(CardPowerLostError);
      expect(card.powered).toBe(false);
      card.powerUp();
      return send(card, '0020008100');
    };
    // Wrong PIN: once the decrement is committed (k ≥ 2) the try is spent; before, the
    // comparison never ran.
    expect([1, 2, 3, 4].map((k) => triesAfterTear(PIN_BAD, k))).toEqual(['63C3', '63C2', '63C2', '63C2']);
    // Right PIN: a tear before the restore commits costs a try; never more than 3.
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((k) => triesAfterTear(PIN_OK, k))).toEqual([
      '63C3',
      '63C2',
      '63C2',
      '63C2',
      '63C2',
      '63C3',
      '63C3',
      '63C3',
    ]);
  });

  it('security status is per channel and cleared by reset', () => {
    const { tx, card } = sampleCard();
    tx(`00A4040C08${DEMO_AID}`);
    expect(tx('0020008108' + PIN_OK)).toBe('9000');
    expect(tx('0070000001')).toBe('019000');
    expect(tx(`01A4040C08${DEMO_AID}`)).toBe('9000');
    expect(tx('0020008100')).toBe('9000');
    expect(tx('0120008100')).toBe('63C3');
    expect(tx('01D6810001AA')).toBe('6982');
    card.reset();
    expect(tx('0120008100')).toBe('6881'); // channels closed by reset
    expect(tx('0020008100')).toBe('63C3');
  });
});

describe('logical channels (§11.1.2)', () => {
  it('open, per-channel selection, close; further interindustry class', () => {
    const cfg = { ...sampleIsoConfig('T=1'), channels: 8 } as unknown as Record<string, unknown>;
    const { tx, card } = sampleCard('T=1', cfg);
    expect(tx('0070000001')).toBe('019000');
    expect(tx('0070000001')).toBe('029000');
    expect(tx('0070000500')).toBe('9000');
    expect(tx('0070000500')).toBe('6985');
    expect(tx('0070000900')).toBe('6A86');
    expect(tx('41A4080C0450005002')).toBe('9000'); // channel 5 via the further class (01xx 0001 = 4 + 1)
    expect(card.channel(5)!.currentEf!.fid).toBe(0x5002);
    expect(card.channel(0)!.currentEf).toBeUndefined();
    expect(tx('41B2021400')).toBe('02'.repeat(16) + '9000');
    // Opened from channel 5: inherits its current DF and EF.
    expect(tx('4170000001')).toBe('039000');
    expect(card.channel(3)!.currentEf!.fid).toBe(0x5002);
    expect(tx('0070800000')).toBe('6A86'); // the basic channel cannot be closed
    expect(tx('0370800000')).toBe('9000');
    expect(tx('03B0000001')).toBe('6881');
    expect(tx('00708000')).toBe('6A86'); // P2 = 00 on the basic channel
    for (const n of ['03', '04', '06', '07']) expect(tx('0070000001')).toBe(`${n}9000`);
    expect(tx('0070000001')).toBe('6A81'); // all 8 in use
  });
});

describe('authentication and secure messaging (§11.5, §10)', () => {
  const KEY1 = fromHex('404142434445464748494A4B4C4D4E4F');

  it('EXTERNAL AUTHENTICATE opens the key-1 condition; INTERNAL AUTHENTICATE encrypts', () => {
    const { tx } = sampleCard();
    tx(`00A4040C08${DEMO_AID}`);
    expect(tx('00B0860004')).toBe('6982');
    expect(tx('0082000108' + '00'.repeat(8))).toBe('6985'); // no challenge
    const rnd = tx('0084000008').slice(0, 16);
    expect(tx('0082000108' + '00'.repeat(8))).toBe('6300');
    const rnd2 = fromHex(tx('0084000008').slice(0, 16));
    expect(toHex(rnd2)).not.toBe(rnd);
    const crypt = cipher.encrypt('tdes', 'ecb', KEY1, rnd2);
    expect(tx('0082000108' + toHex(crypt))).toBe('9000');
    expect(tx('00B0860004')).toBe('000000009000');
    const challenge = '0011223344556677';
    expect(tx('0088000108' + challenge + '00')).toBe(
      toHex(cipher.encrypt('tdes', 'ecb', KEY1, fromHex(challenge))) + '9000',
    );
    expect(tx('0088000107' + '00112233445566' + '00')).toBe('6700');
    expect(tx('0088000908' + challenge + '00')).toBe('6A88');
  });

  it('a key with a retry counter: 63Cx on a wrong cryptogram, restored on success, 6983 when blocked', () => {
    const cfg = sampleIsoConfig('T=1');
    cfg.keys = [
      ...(cfg.keys ?? []),
      { ref: 0x03, alg: 'tdes', key: '00112233445566778899AABBCCDDEEFF', tries: 2 },
    ];
    const { tx, card } = sampleCard('T=1', cfg as unknown as Record<string, unknown>);
    const key3 = fromHex('00112233445566778899AABBCCDDEEFF');
    const good = () => {
      const rnd = fromHex(tx('0084000008').slice(0, 16));
      return tx('0082000308' + toHex(cipher.encrypt('tdes', 'ecb', key3, rnd)));
    };
    const bad = () => {
      tx('0084000008');
      return tx('0082000308' + '00'.repeat(8));
    };
    expect(bad()).toBe('63C1');
    expect(good()).toBe('9000');
    expect(bad()).toBe('63C1'); // restored to 2 by the success
    expect(bad()).toBe('63C0');
    const image = card.store.image();
    expect(good()).toBe('6983');
    expect(Buffer.compare(image, card.store.image())).toBe(0);
    // Keys without a counter keep answering 6300.
    tx('0084000008');
    expect(tx('0082000108' + '00'.repeat(8))).toBe('6300');
  });

  it('MUTUAL AUTHENTICATE establishes SM; protected UPDATE BINARY satisfies the sm condition', async () => {
    const { deriveSmSession } = await import('../../card/security/SecurityCommands.js');
    const { wrapCommand, unwrapResponse } = await import('../../card/security/SecureMessaging.js');
    const { card, tx } = sampleCard();
    tx(`00A4040C08${DEMO_AID}`);
    expect(tx('00D6860002AABB')).toBe('6982'); // update 'sm'
    const rndIcc = fromHex(tx('0084000008').slice(0, 16));
    const rndIfd = new SeededRng('ifd').bytes(8);
    const data = cipher.encrypt(
      'tdes',
      'cbc',
      KEY1,
      Uint8Array.from([...rndIfd, ...rndIcc]),
      new Uint8Array(8),
    );
    const r = tx('0082000110' + toHex(data) + '10');
    expect(r.slice(-4)).toBe('9000');
    const plain = cipher.decrypt('tdes', 'cbc', KEY1, fromHex(r.slice(0, -4)), new Uint8Array(8));
    expect(toHex(plain)).toBe(toHex(rndIcc) + toHex(rndIfd));
    const terminal = deriveSmSession({ cipher }, 'tdes', KEY1, rndIcc, rndIfd);
    const protectedCmd = (c: string) => {
      const w = wrapCommand(terminal, cipher, CommandApdu.decode(fromHex(c)), 0x0c);
      const resp = ResponseApdu.decode(card.transmit(w.encode()));
      return { outer: resp.sw, ...unwrapResponse(terminal, cipher, resp.data) };
    };
    const upd = protectedCmd('00D6860002AABB');
    expect(upd.sw).toBe(0x9000);
    const rd = protectedCmd('00B0860004');
    expect(toHex(rd.data)).toBe('AABB0000');
    // Errors come back protected too.
    expect(protectedCmd('00B0870004').sw).toBe(0x6a82);
    // The same update without SM is refused.
    expect(tx('00D6860002CCDD')).toBe('6982');
    // A wrong MAC ends the session: 6988, then 6882.
    const w = wrapCommand(terminal, cipher, CommandApdu.decode(fromHex('00B0860004')), 0x0c).encode();
    w[w.length - 2]! ^= 1;
    expect(toHex(card.transmit(w))).toBe('6988');
    expect(
      toHex(
        card.transmit(
          wrapCommand(terminal, cipher, CommandApdu.decode(fromHex('00B0860004')), 0x0c).encode(),
        ),
      ),
    ).toBe('6882');
  });
});

/**
 * A test application: a counter cell of its own on the store (beside its records, of which it has
 * none) and a command that updates two files and the cell in one transaction.
 */
class TwoFileApp implements Application {
  readonly cell: number;
  readonly #store: CardServices['store'];
  selected = 0;
  constructor(services: CardServices) {
    this.#store = services.store;
    this.cell = services.store.allocate('applet:two-file', 1).offset;
  }
  personalise(): void {
    this.#store.personalise(this.cell, Uint8Array.of(7));
  }
  select(): Uint8Array {
    this.selected++;
    return Uint8Array.of(0x6f, 0x00);
  }
  reset(): void {}
  process(apdu: CommandApdu, ctx: CommandContext): HandlerResult {
    switch (apdu.ins) {
      case 0x10:
        return this.#transfer(apdu, ctx);
      case 0x12:
        throw new Error('bug in applet');
      case 0x14:
        ctx.store.begin(); // left open on purpose: the OS must drop it
        ctx.store.writeByte(this.cell, 0x99);
        throw new SwError(0x6a80);
      case 0x16:
        return new ResponseApdu(Uint8Array.of(1, 2), 0x6282);
    }
    throw new SwError(0x6d00);
  }
  #transfer(apdu: CommandApdu, ctx: CommandContext): Uint8Array {
    const fs = ctx.fs;
    const df = fs.resolvePath(fs.mf, [0x5000])!;
    if (df.kind !== 'df') throw new SwError(0x6a82);
    const ef1 = df.child(0x5001)!;
    const ef2 = df.child(0x5002)!;
    const ef3 = df.child(0x5004)!;
    if (ef1.kind !== 'ef' || ef2.kind !== 'ef' || ef3.kind !== 'ef') throw new SwError(0x6a82);
    const d = apdu.dataView();
    ctx.store.begin();
    fs.updateBinary(ef1, 0, d);
    fs.updateRecord(ef2, 1, new Uint8Array(16).fill(d[0]!));
    fs.appendRecord(ef3, d);
    ctx.store.writeByte(this.cell, ctx.store.readByte(this.cell) + 1);
    ctx.store.commit();
    return Uint8Array.of(ctx.store.readByte(this.cell));
  }
}

const twoFileApplet = () =>
  new RuntimeApplet<TwoFileApp>({
    aid: fromHex('F000000001'),
    ins: [0x10, 0x12, 0x14, 0x16],
    layout: [],
    prefix: 'two-file:',
    make: (_records, _cipher, _rng, services) => new TwoFileApp(services),
    personalise: (_records, app) => app.personalise(),
  });

/** An application of a few commands and no records (select answers nothing). */
function simpleApplet(
  aid: string,
  handlers: Record<number, (apdu: CommandApdu, ctx: CommandContext) => HandlerResult>,
  select: () => Uint8Array = () => new Uint8Array(0),
): RuntimeApplet<Application> {
  return new RuntimeApplet<Application>({
    aid: fromHex(aid),
    ins: Object.keys(handlers).map(Number),
    layout: [],
    prefix: `${aid}:`,
    make: () => ({
      select,
      reset: () => undefined,
      process: (apdu, ctx) => handlers[apdu.ins]!(apdu, ctx),
    }),
    personalise: () => undefined,
  });
}

describe('applet API', () => {
  const make = (image?: Uint8Array) => {
    const errors: unknown[] = [];
    const applet = twoFileApplet();
    const card = buildIsoCard(
      sampleIsoConfig('T=1'),
      image,
      { cipher, rng: new SeededRng('x'), logger: { error: (_m, e) => errors.push(e) } },
      [applet],
    );
    card.powerUp();
    return { card, applet, errors, tx: (h: string) => send(card, h) };
  };

  it('SELECT by AID routes INS to the applet; OS commands still work; proprietary INS without handler → 6D00', () => {
    const { tx, applet } = make();
    expect(tx('00A4040005F00000000100')).toBe('6F009000');
    expect(applet.app.selected).toBe(1);
    expect(tx('80100300010300')).toBe('089000');
    expect(tx('80CA000000')).toBe('6D00');
    expect(tx('8016000000')).toBe('01026282');
    expect(tx('00B2011400')).toBe('6981'); // SFI 2 of the MF is the transparent 2F02
  });

  it('SELECT by a partial name walks applets then DFs with next/previous occurrence; channels inherit the applet', () => {
    const named = simpleApplet('A00000099902', { 0x30: (_a, ctx) => Uint8Array.of(ctx.channel.number) });
    const card = buildIsoCard(sampleIsoConfig('T=1'), undefined, { cipher, rng: new SeededRng('n') }, [
      named,
    ]);
    card.powerUp();
    const tx = (h: string) => send(card, h);
    expect(tx('00A4040C05A000000999')).toBe('9000'); // first: the applet
    expect(tx('8030000000')).toBe('009000');
    expect(tx('00A4040E05A000000999')).toBe('9000'); // next: the DF 5000
    expect(card.channel(0)!.applet).toBeUndefined();
    expect(card.channel(0)!.currentDf.fid).toBe(0x5000);
    expect(tx('8030000000')).toBe('6E00');
    expect(tx('00A4040E05A000000999')).toBe('6A82'); // no third
    expect(tx('00A4040D05A000000999')).toBe('9000'); // last: the DF
    expect(tx('00A4040F05A000000999')).toBe('9000'); // previous: the applet
    expect(tx('8030000000')).toBe('009000');
    // A channel opened from a channel with the applet selected inherits it.
    expect(tx('0070000001')).toBe('019000');
    expect(tx('01A4040C06A00000099902')).toBe('9000');
    expect(tx('0170000001')).toBe('029000');
    expect(tx('8230000000')).toBe('029000');
  });

  it('an applet refusing SELECT leaves the channel as it was', () => {
    const refuser = simpleApplet('F0000000FF', {}, () => {
      throw new SwError(0x6999);
    });
    const two = twoFileApplet();
    const card = buildIsoCard(sampleIsoConfig('T=1'), undefined, { cipher, rng: new SeededRng('r') }, [
      two,
      refuser,
    ]);
    card.powerUp();
    expect(send(card, '00A4040C05F000000001')).toBe('9000');
    expect(send(card, '00A4080C0450005002')).toBe('9000');
    expect(send(card, '00A4040C05F0000000FF')).toBe('6999');
    expect(card.channel(0)!.applet).toBe(two);
    expect(card.channel(0)!.currentEf!.fid).toBe(0x5002);
  });

  it('unexpected exceptions become 6F00 and are logged; an open transaction is dropped', () => {
    const { tx, errors, card } = make();
    tx('00A4040C05F000000001');
    expect(tx('80120000')).toBe('6F00');
    expect(errors).toHaveLength(1);
    const before = card.store.image();
    expect(tx('80140000')).toBe('6A80');
    expect(card.store.inTransaction).toBe(false);
    expect(Buffer.compare(before, card.store.image())).toBe(0);
  });

  it('a tear at every low-level write of a transaction across three files and a cell is all or nothing', () => {
    const ref = make();
    ref.tx('00A4040C05F000000001');
    const w0 = ref.card.store.writeCount;
    expect(ref.tx('8010000002A5A500')).toBe('089000');
    const writes = ref.card.store.writeCount - w0;
    expect(writes).toBe(2 * 5 + 2); // binary, record, appended record, its count, the cell
    const after = ref.card.store.read(0, ref.card.store.dataSize);
    const fresh = make();
    const before = fresh.card.store.read(0, fresh.card.store.dataSize);
    let applied = 0;
    for (let k = 1; k <= writes; k++) {
      const t = make();
      t.tx('00A4040C05F000000001');
      t.card.store.armTear(k);
      expect(() => t.tx('8010000002A5A500')).toThrow(CardPowerLostError);
      expect(t.card.powered).toBe(false);
      // Rebuild from the saved image, as after a process restart, and power up (recovery).
      const again = make(t.card.store.image());
      const now = again.card.store.read(0, again.card.store.dataSize);
      const isAfter = Buffer.compare(now, after) === 0;
      expect(isAfter || Buffer.compare(now, before) === 0).toBe(true);
      if (isAfter) applied++;
    }
    expect(applied).toBe(writes - 5);
  });
});
