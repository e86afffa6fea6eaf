/**
 * Seed 000's host protocol through the meter's SAM into the SVM (Figs. 1-3): session key from
 * KT[n], mutual signatures, the encrypted amount, exactly-once crediting by host tx id, and the
 * encrypted balance report M.
 */
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex, toHex } from '../../card/util/hex.js';
import { decrypt } from '../../protocol/session.js';
import { HostSide } from './hostSide.js';
import { TransferError } from '../../terminal/TransferError.js';
import { deriveTerminalKey } from '../../card/crypto/keyHierarchy.js';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import type { CardChannel } from '../../reader/CardChannel.js';
import { MeterModules } from '../../terminal/MeterModules.js';
import { cipher, METER_ID, World } from './world.js';
import * as A from '../../terminal/apdus.js';

const host = new HostSide(cipher);
const R1 = fromHex('1111111111111111');
const R2 = fromHex('2222222222222222');
const TX = fromHex('7478000000000001');

function kt(w: World, n: number): Uint8Array {
  const kh = w.issuer.utility(1).host.find(([v]) => v === n)![1];
  return deriveTerminalKey(cipher, kh, METER_ID);
}

async function valueStore(w: World, amount: number, txId = TX, n = 1) {
  const m = await w.meter();
  const ks = host.sessionKey(kt(w, n), R1);
  const { s1t, r3 } = await m.hostInit(n, R1, R2);
  expect(s1t).toEqual(host.s1(ks, R2)); // the host authenticates the terminal
  const en = host.encryptAmount(ks, amount, txId);
  const r = await m.hostValueStore(en, host.s2(ks, 0x51, r3, en));
  return { ...r, answer: host.valueStoreAnswer(ks, r.m), m, ks, r3 };
}

describe('seed 000 host protocol (value store)', () => {
  it('credits the SVM and reports M = Encrypt(Balance ‖ ID, Ks), with either KT version', async () => {
    for (const n of [0, 1]) {
      const w = new World({ svmBalance: 100 });
      const r = await valueStore(w, 5_000, TX, n);
      expect(r.amount).toBe(5_000);
      expect(toHex(r.txId)).toBe(toHex(TX));
      expect(r.answer).toEqual({
        status: 0,
        txId: 0x7478000000000001n,
        balanceAfter: 5_100,
        balance: 5_100,
        id: METER_ID,
      });
      expect(w.svmView()).toMatchObject({ balance: 5_100, counter: 1 });
      expect(w.svmView().log[0]).toMatchObject({ type: 'host credit', amount: 5_000 });
    }
  });

  it('a wrong host signature S2h is 6300 and credits nothing', async () => {
    const w = new World();
    const m = await w.meter();
    const ks = host.sessionKey(kt(w, 1), R1);
    const { r3 } = await m.hostInit(1, R1, R2);
    const en = host.encryptAmount(ks, 900, TX);
    const s2h = host.s2(ks, 0x51, r3, en);
    s2h[7]! ^= 1;
    await expect(m.hostValueStore(en, s2h)).rejects.toMatchObject({ sw: 0x6300 });
    expect(w.svmView().balance).toBe(0);
    // The session is gone: the right signature now finds none.
    s2h[7]! ^= 1;
    await expect(m.hostValueStore(en, s2h)).rejects.toMatchObject({ sw: 0x6982 });
  });

  it('an unknown KT version is 6A88; a second command in one session is 6985', async () => {
    const w = new World();
    const m = await w.meter();
    await expect(m.hostInit(7, R1, R2)).rejects.toMatchObject({ sw: 0x6a88 });
    const r = await valueStore(w, 10);
    const en = host.encryptAmount(r.ks, 10, fromHex('7478000000000002'));
    await m.hostInit(1, R1, R2);
    await expect(r.m.hostValueStore(en, host.s2(r.ks, 0x51, r.r3, en))).rejects.toBeInstanceOf(TransferError);
  });

  it('exactly once per host tx id; replayed SVM HOST CREDIT APDUs move nothing', async () => {
    const w = new World();
    await valueStore(w, 300);
    // The same tx id again through the whole protocol: the original result, no second credit.
    const again = await valueStore(w, 300);
    expect(again.answer).toMatchObject({ status: 1, balanceAfter: 300, balance: 300 });
    expect(w.svmView()).toMatchObject({ balance: 300, counter: 1 });
    // Record the SVM's HOST CREDIT APDU of a second credit.
    const recorded: CommandApdu[] = [];
    const svmCh = await w.svmReader.connect();
    const spy: CardChannel = {
      readerName: svmCh.readerName,
      atr: svmCh.atr,
      protocol: svmCh.protocol,
      transmit: (c) => {
        if (c.ins === 0x44) recorded.push(c);
        return svmCh.transmit(c);
      },
      reset: () => svmCh.reset(),
      disconnect: () => svmCh.disconnect(),
    };
    const m = await MeterModules.open(await w.samReader.connect(), spy, w.core());
    const ks = host.sessionKey(kt(w, 1), R1);
    const { r3 } = await m.hostInit(1, R1, R2);
    const en = host.encryptAmount(ks, 50, fromHex('7478000000000002'));
    await m.hostValueStore(en, host.s2(ks, 0x51, r3, en));
    expect(recorded).toHaveLength(1);
    const credit = recorded[0]!;
    const image = () => toHex(w.svm.store.image());
    let before = image();
    // The recorded APDU was bound to an SVM challenge that is gone: refused with or without a new one.
    expect((await svmCh.transmit(credit)).sw).toBe(0x6985);
    await svmCh.transmit(A.getChallenge());
    expect((await svmCh.transmit(credit)).sw).toBe(0x6300);
    expect(image()).toBe(before);
    // A real repeat of the same tx id (a new host session) is answered "duplicate", original result.
    expect(await valueStore(w, 50, fromHex('7478000000000002'))).toMatchObject({
      status: 1,
      balanceAfter: 350,
    });
    expect(image()).toBe(before);
    // Once 8 newer transactions pushed the tx id out of the SVM's memory, it is still never applied again.
    for (let i = 3; i <= 10; i++)
      await valueStore(w, 1, fromHex(`74780000000000${i.toString(16).padStart(2, '0')}`));
    before = image();
    await expect(valueStore(w, 50, fromHex('7478000000000002'))).rejects.toMatchObject({ sw: 0x9407 });
    expect(image()).toBe(before);
    expect(w.svmView()).toMatchObject({ balance: 358, counter: 10 });
  });

  it('tariff-mode and usage-check payloads come back only when S2h is right', async () => {
    const w = new World();
    const m = await w.meter();
    const ks = host.sessionKey(kt(w, 0), R1);
    const { r3 } = await m.hostInit(0, R1, R2);
    const payload = fromHex('0201000000150000000E');
    const bad = host.s2(ks, 0x53, r3, payload); // signed as the other header
    await expect(m.hostAuthenticated(0x52, payload, bad)).rejects.toMatchObject({ sw: 0x6300 });
    const again = await m.hostInit(0, R1, R2);
    const ok = await m.hostAuthenticated(0x52, payload, host.s2(ks, 0x52, again.r3, payload));
    expect(ok).toEqual(payload);
    const fin = await m.hostFinish();
    expect(host.report(ks, fin.m)).toEqual({ balance: 0, meterId: METER_ID });
  });

  it("the core's tariff and usage answers: the SAM adds the SVM's balance and its meter id and encrypts (HOST FINISH P1 = 52 / 53)", async () => {
    const w = new World();
    const m = await w.meter();
    const ks = host.sessionKey(kt(w, 1), R1);
    const open = async () => (await m.hostInit(1, R1, R2)).r3;
    // H = 52: the answer must echo the activation the host signed
    const activation = fromHex('261201000000');
    const payload = concatBytes(activation, fromHex('0102030405'));
    let r3 = await open();
    await m.hostAuthenticated(0x52, payload, host.s2(ks, 0x52, r3, payload));
    await expect(m.hostFinishAnswer(0x53, new Uint8Array(40))).rejects.toMatchObject({ sw: 0x6985 });
    await expect(
      m.hostFinishAnswer(0x52, concatBytes(Uint8Array.of(0), fromHex('261202000000'))),
    ).rejects.toMatchObject({ sw: 0x6a80 });
    const t = await m.hostFinishAnswer(0x52, concatBytes(Uint8Array.of(0), activation));
    expect(toHex(decrypt(cipher, ks, t.m))).toBe(`00${'00000000'}261201000000${toHex(METER_ID)}`);
    // H = 53 with an answer of usage size: chained to the SAM in short APDUs, M by GET RESPONSE
    r3 = await open();
    await expect(m.hostFinishAnswer(0x53, new Uint8Array(8))).rejects.toMatchObject({ sw: 0x6985 });
    r3 = await open();
    const time = fromHex('261201000000');
    await m.hostAuthenticated(0x53, time, host.s2(ks, 0x53, r3, time));
    const body = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff);
    const u = await m.hostFinishAnswer(0x53, body);
    expect(u.m.length).toBe(3008);
    expect(toHex(decrypt(cipher, ks, u.m))).toBe(toHex(concatBytes(body, new Uint8Array(4), METER_ID)));
    // one answer per session
    await expect(m.hostFinishAnswer(0x53, body)).rejects.toBeInstanceOf(TransferError);
  });

  it('HOST FINISH P1 = 52 / 53 refuses bad lengths, a missing session and a forged SVM state', async () => {
    const w = new World();
    const m = await w.meter();
    const sw = async (p1: number, data: Uint8Array) => (await m.sam.transmit(A.hostFinish(p1, data))).sw;
    expect(await sw(0x53, new Uint8Array(20))).toBe(0x6982); // no HOST INIT
    const ks = host.sessionKey(kt(w, 1), R1);
    const { r3 } = await m.hostInit(1, R1, R2);
    const payload = fromHex('261201000000AA');
    await m.hostAuthenticated(0x52, payload, host.s2(ks, 0x52, r3, payload));
    expect(await sw(0x52, new Uint8Array(22))).toBe(0x6700); // Lc must be 23
    expect(await sw(0x52, new Uint8Array(24))).toBe(0x6700);
    expect(await sw(0x53, new Uint8Array(16))).toBe(0x6700); // an empty body
    // a balance the SVM did not sign for R3
    const st = await m.svm.transmit(A.readStateSigned(r3));
    const signed = concatBytes(
      st.data.subarray(0, 4),
      st.data.subarray(8, 12),
      st.data.subarray(st.data.length - 8),
    );
    signed[3]! ^= 0x01;
    expect(await sw(0x52, concatBytes(signed, fromHex('00261201000000')))).toBe(0x6300);
  });

  it('room reserved by a pending card transfer counts against the SVM maximum', async () => {
    const w = new World({ svmMax: 1_000, svmBalance: 0 });
    const m = await w.meter();
    // A pending card transfer of 800 (BEGIN done, card pulled before DEBIT).
    const card = await w.cardChannel();
    const { runCardSession } = await import('../../terminal/CardTransfer.js');
    const cut = { n: 0 };
    const wrapped = {
      ...card,
      readerName: card.readerName,
      atr: card.atr,
      protocol: card.protocol,
      transmit: (c: Parameters<typeof card.transmit>[0]) => {
        if (c.ins === 0x54) w.reinsertCard();
        cut.n++;
        return card.transmit(c);
      },
      reset: () => card.reset(),
      disconnect: () => card.disconnect(),
    };
    await expect(
      runCardSession(m, wrapped, { purse: 1, dateTime: fromHex('261122083000'), maxAmount: 800 }),
    ).rejects.toThrow();
    expect(w.svmView().pending).not.toBeNull();
    // An authenticated refusal (status 02): nothing credited, the host is told so inside M.
    expect((await valueStore(w, 300)).answer).toMatchObject({ status: 2, balanceAfter: 0, balance: 0 });
    expect(w.svmView().balance).toBe(0);
    expect((await valueStore(w, 200, fromHex('7478000000000009'))).answer).toMatchObject({
      status: 0,
      balance: 200,
    });
  });
});
