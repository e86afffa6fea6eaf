/**
 * Issue 13, chip side: SVM READ LOG (docs/purse-spec.md §5.9) — its ranges by log sequence number,
 * its edges (empty log, beyond the newest, below the oldest, ring wrap, SVM counter FFFFFFFF, log
 * sequence exhausted), and the MAC every record carries, attacked: altered bits, another meter,
 * another pairing, replay. READ LOG writes nothing (store images compared, a tear armed).
 */
import { describe, expect, it } from 'vitest';
import type { CardChannel } from '../../reader/CardChannel.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { be32 } from '../../card/util/bigEndian.js';
import { SeededRng } from '../../card/crypto/rng.js';
import { deriveTerminalKey } from '../../card/crypto/keyHierarchy.js';
import { findTlv } from '../../card/iso7816/tlv.js';
import { defaultPurses, makeSam, makeSubscriberCard, makeSvm } from '../../card/applets/profiles.js';
import { KEY_SVM_LOG_SEQ, KEY_SVM_REGISTER } from '../../card/applets/svm/SvmApplet.js';
import { SvmLogRecord, SvmRegister } from '../../card/applets/svm/records.js';
import { AID_PURSE, INS_READ_LOG, SVM_LOG_RECORDS, SVM_READ_LOG_MAX } from '../../card/applets/constants.js';
import { PurseState } from '../../card/applets/purse/records.js';
import { PurseCrypto, svmLogMacInput } from '../../card/applets/PurseCrypto.js';
import { readDevice, type SvmView } from '../../card/applets/inspect.js';
import { verifySvmLogRecord, type SvmLogKey } from '../../card/index.js';
import { MeterModules, expectOk } from '../../terminal/MeterModules.js';
import { authenticate, runCardSession } from '../../terminal/CardTransfer.js';
import { decodeSvmLog, readLogApdu, readSvmLog } from '../../terminal/clearing/SvmLog.js';
import { TransferError } from '../../terminal/TransferError.js';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import * as A from '../../terminal/apdus.js';
import { HostSide } from '../transfer/hostSide.js';
import { METER_ID, NOW, World, cipher } from '../transfer/world.js';

const host = new HostSide(cipher);
const R1 = fromHex('1111111111111111');
const R2 = fromHex('2222222222222222');
const PURSE = 1;
const OTHER_METER = fromHex('000456');
const tx = (n: number) => fromHex(`7478${n.toString(16).padStart(12, '0')}`);
const keyOf = (w: World, pairing = 1): SvmLogKey => ({ issuer: w.issuer, purse: PURSE, pairing });

/** A host credit of `amount` (tx id n) through the SAM's host session: one log record (type 03). */
async function credit(w: World, m: MeterModules, amount: number, n: number): Promise<void> {
  const kh = w.issuer.utility(1).host.find(([v]) => v === 1)![1];
  const ks = host.sessionKey(deriveTerminalKey(cipher, kh, m.meterId), R1);
  const { r3 } = await m.hostInit(1, R1, R2);
  const en = host.encryptAmount(ks, amount, tx(n));
  expect((await m.hostValueStore(en, host.s2(ks, 0x51, r3, en))).status).toBe(0);
}

/** A token request of `units` by the meter core: one log record (type 02). */
async function token(m: MeterModules, units: number): Promise<void> {
  const counter = (await m.readState()).counter + 1;
  await m.takeTokens(units, counter, await m.authoriseTokens(units, counter));
}

/** BEGIN TRANSFER of the card in `card`, the session then cut before the card's DEBIT. */
async function beginOnly(m: MeterModules, card: CardChannel, amount: number): Promise<void> {
  const fci = await expectOk(card, A.selectAid(AID_PURSE), 'card SELECT');
  const csn = findTlv(fci, 0x5a)!;
  await authenticate(m, card, csn);
  const st = PurseState.decode(await expectOk(card, A.readPurse(PURSE), 'card READ PURSE'));
  const rv = await expectOk(m.svm, A.getChallenge(), 'SVM GET CHALLENGE');
  const auth = await expectOk(
    m.sam,
    A.transferAuth(PURSE, amount, st.counter + 1, NOW, rv),
    'SAM TRANSFER AUTH',
  );
  await expectOk(
    m.svm,
    A.beginTransfer(csn, PURSE, amount, st.counter + 1, NOW, auth.subarray(8, 16)),
    'SVM BEGIN TRANSFER',
  );
}

/** Every record from `from` on, page by page; the pages' oldest and final next. */
async function readAll(m: MeterModules, from: number) {
  const records: { raw: Uint8Array; mac: Uint8Array }[] = [];
  let at = from;
  let oldest = -1;
  for (let i = 0; i < 100; i++) {
    const p = await readSvmLog(m, at);
    if (oldest < 0) oldest = p.oldest;
    records.push(...p.records);
    if (p.records.length === 0) return { records, oldest, next: p.next };
    at = p.next;
  }
  throw new Error('READ LOG never ended');
}

const counters = (rs: { raw: Uint8Array }[]) => rs.map((r) => SvmLogRecord.decode(r.raw).svmCounter);
const readLog = (m: MeterModules, data: Uint8Array, o: { p1?: number; ne?: number } = {}) =>
  m.svm.transmit(
    new CommandApdu({
      cla: 0x80,
      ins: INS_READ_LOG,
      p1: o.p1 ?? 0,
      p2: 0,
      data,
      ...('ne' in o ? (o.ne === undefined ? {} : { ne: o.ne }) : { ne: 256 }),
    }),
  );
const image = (w: World) => toHex(w.svm.store.image());

describe('READ LOG ranges', () => {
  it('empty log: oldest = next = 0, no records; from beyond the newest answers next < from', async () => {
    const w = new World();
    const m = await w.meter();
    expect(await readSvmLog(m, 0)).toEqual({ records: [], oldest: 0, next: 0 });
    expect(await readSvmLog(m, 7)).toEqual({ records: [], oldest: 0, next: 0 });
    expect(await readSvmLog(m, 0xffffffff)).toEqual({ records: [], oldest: 0, next: 0 });
  });

  it('records by log sequence number, oldest first; from inside, at and beyond the newest', async () => {
    const w = new World();
    const m = await w.meter();
    await credit(w, m, 1_000, 1);
    await credit(w, m, 2_000, 2);
    await token(m, 100);
    await credit(w, m, 500, 3);
    await token(m, 250);
    const all = await readSvmLog(m, 0);
    expect(all.oldest).toBe(0);
    expect(all.next).toBe(5);
    const recs = all.records.map((r) => SvmLogRecord.decode(r.raw));
    expect(recs.map((r) => [r.type, r.amount, r.balanceAfter, r.svmCounter])).toEqual([
      [3, 1_000, 1_000, 1],
      [3, 2_000, 3_000, 2],
      [2, 100, 2_900, 3],
      [3, 500, 3_400, 4],
      [2, 250, 3_150, 5],
    ]);
    expect(toHex(recs[1]!.ref)).toBe(toHex(new Uint8Array([...tx(2), 0, 0])));
    const from2 = await readSvmLog(m, 2);
    expect(counters(from2.records)).toEqual([3, 4, 5]);
    expect(from2.records[0]).toEqual(all.records[2]); // the same bytes, the same MAC
    expect(from2).toMatchObject({ oldest: 0, next: 5 });
    expect(await readSvmLog(m, 5)).toEqual({ records: [], oldest: 0, next: 5 });
    expect(await readSvmLog(m, 6)).toEqual({ records: [], oldest: 0, next: 5 });
    expect(readDevice(w.svm.store)).toMatchObject({ logSeq: 5 });
  });

  it(`at most ${SVM_READ_LOG_MAX} records an answer, fewer when Le says so; the pages join without gaps`, async () => {
    const w = new World();
    const m = await w.meter();
    for (let i = 1; i <= 10; i++) await credit(w, m, 10 * i, i);
    const p1 = await readSvmLog(m, 0);
    expect(p1.records).toHaveLength(SVM_READ_LOG_MAX);
    expect(p1.next).toBe(SVM_READ_LOG_MAX);
    const p2 = await readSvmLog(m, p1.next);
    expect(counters(p2.records)).toEqual([7, 8, 9, 10]);
    expect(p2.next).toBe(10);
    // Le = 9 + 2 × 37: two records; Le = 9: none, next = start.
    const two = decodeSvmLog((await readLog(m, be32(3), { ne: 9 + 2 * 37 })).data);
    expect(counters(two.records)).toEqual([4, 5]);
    expect(two.next).toBe(5);
    const none = decodeSvmLog((await readLog(m, be32(3), { ne: 9 })).data);
    expect(none).toMatchObject({ records: [], next: 3 });
  });

  it('refusals: Le absent or < 9, Lc ≠ 4 (6700), P1-P2 ≠ 00 00 (6A86); none changes anything', async () => {
    const w = new World();
    const m = await w.meter();
    await credit(w, m, 100, 1);
    const before = image(w);
    expect((await readLog(m, be32(0), { ne: undefined })).sw).toBe(0x6700);
    expect((await readLog(m, be32(0), { ne: 8 })).sw).toBe(0x6700);
    expect((await readLog(m, new Uint8Array(3))).sw).toBe(0x6700);
    expect((await readLog(m, new Uint8Array(5))).sw).toBe(0x6700);
    expect((await readLog(m, be32(0), { p1: 1 })).sw).toBe(0x6a86);
    expect(image(w)).toBe(before);
    expect(() => readLogApdu(-1)).toThrow(RangeError);
    expect(() => readLogApdu(2 ** 32)).toThrow(/from must be a u32/);
  });

  it('ring wrap: records that left the ring are gone for good, the answer starts at oldest and says so', async () => {
    const w = new World();
    const m = await w.meter();
    const n = SVM_LOG_RECORDS + 4;
    for (let i = 1; i <= n; i++) await credit(w, m, i, i);
    const first = await readSvmLog(m, 0);
    expect(first.oldest).toBe(4);
    expect(counters(first.records)).toEqual([5, 6, 7, 8, 9, 10]);
    expect(first.next).toBe(4 + SVM_READ_LOG_MAX);
    const all = await readAll(m, 0);
    expect(all.oldest).toBe(4);
    expect(all.next).toBe(n);
    expect(counters(all.records)).toEqual(Array.from({ length: SVM_LOG_RECORDS }, (_, i) => i + 5));
    // From 3 (gone) and from 4 (the oldest) the same; from 19 the newest alone.
    expect(await readSvmLog(m, 3)).toEqual(first);
    expect(counters((await readSvmLog(m, n - 1)).records)).toEqual([n]);
    for (const r of all.records) expect(verifySvmLogRecord(keyOf(w), METER_ID, r.raw, r.mac)).toBe(true);
  });

  it('a cancellation after the host read past its SVM counter is not lost: paging is by log sequence', async () => {
    const w = new World();
    const m = await w.meter();
    await credit(w, m, 1_000, 1);
    const first = await readAll(m, 0);
    expect(first.next).toBe(1);
    // A card pulled after BEGIN, then recovered by cancellation: record 04 at the same SVM counter.
    await beginOnly(m, await w.cardChannel(), 300);
    w.reinsertCard();
    const o = await runCardSession(m, await w.cardChannel(), {
      purse: PURSE,
      dateTime: NOW,
      transfer: false,
    });
    expect(o.recovery).toBe('cancelled');
    const later = await readAll(m, first.next);
    expect(later.records).toHaveLength(1);
    const rec = SvmLogRecord.decode(later.records[0]!.raw);
    expect(rec.type).toBe(4);
    expect(rec.svmCounter).toBe(1); // the counter the host already read past
    expect(verifySvmLogRecord(keyOf(w), METER_ID, later.records[0]!.raw, later.records[0]!.mac)).toBe(true);
  });
});

describe('READ LOG at the counters’ ends', () => {
  it('SVM counter FFFFFFFF: the last record reads and verifies; the SVM refuses more, READ LOG still works', async () => {
    const w = new World();
    const m = await w.meter();
    w.svm.store.commit([[KEY_SVM_REGISTER, new SvmRegister(0, 100_000, 0xfffffffe).encode()]]);
    await credit(w, m, 700, 1);
    const p = await readSvmLog(m, 0);
    expect(p.records).toHaveLength(1);
    const rec = SvmLogRecord.decode(p.records[0]!.raw);
    expect([rec.svmCounter, rec.balanceAfter]).toEqual([0xffffffff, 700]);
    expect(verifySvmLogRecord(keyOf(w), METER_ID, p.records[0]!.raw, p.records[0]!.mac)).toBe(true);
    const before = image(w);
    await expect(credit(w, m, 1, 2)).rejects.toMatchObject({ sw: 0x9404 });
    expect(image(w)).toBe(before);
    expect(await readSvmLog(m, 0)).toEqual(p);
  });

  it('log sequence near FFFFFFFF: a pending transfer keeps a number for its own ending; nothing wraps', async () => {
    const w = new World();
    const m = await w.meter();
    w.svm.store.commit([[KEY_SVM_LOG_SEQ, be32(0xfffffffd)]]);
    expect(await readSvmLog(m, 0)).toEqual({ records: [], oldest: 0xfffffffd, next: 0xfffffffd });
    await credit(w, m, 100, 1); // record FFFFFFFD; 0 pending: room
    await beginOnly(m, await w.cardChannel(), 300); // FFFFFFFE + 1 pending + 1 = FFFFFFFF... room
    const before = image(w);
    // A credit now would leave no number for the pending transfer's ending: refused, nothing changed.
    await expect(credit(w, m, 1, 2)).rejects.toMatchObject({ sw: 0x9404 });
    await expect(token(m, 1)).rejects.toMatchObject({ sw: 0x9404 });
    expect(image(w)).toBe(before);
    // The pending transfer still ends (recovered by cancellation): record FFFFFFFE.
    w.reinsertCard();
    const o = await runCardSession(m, await w.cardChannel(), {
      purse: PURSE,
      dateTime: NOW,
      transfer: false,
    });
    expect(o.recovery).toBe('cancelled');
    const all = await readAll(m, 0);
    expect(all.oldest).toBe(0xfffffffd);
    expect(all.next).toBe(0xffffffff);
    expect(all.records.map((r) => SvmLogRecord.decode(r.raw).type)).toEqual([3, 4]);
    // Full: nothing more can start.
    await expect(credit(w, m, 1, 3)).rejects.toMatchObject({ sw: 0x9404 });
    expect(await readSvmLog(m, 0xffffffff)).toMatchObject({ records: [], next: 0xffffffff });
  });
});

describe('the MAC on every record', () => {
  async function twoRecords() {
    const w = new World();
    const m = await w.meter();
    await credit(w, m, 1_234, 1);
    await token(m, 34);
    return { w, m, page: await readSvmLog(m, 0) };
  }

  it("verifies under the host's derivation of K_svm and under K_svm itself; is MAC(K_svm, 'J' ‖ meter id ‖ record)", async () => {
    const { w, page } = await twoRecords();
    const kSvm = w.issuer.svmKey(METER_ID, PURSE, 1);
    const crypto = new PurseCrypto(cipher);
    for (const r of page.records) {
      expect(verifySvmLogRecord(keyOf(w), METER_ID, r.raw, r.mac)).toBe(true);
      expect(verifySvmLogRecord({ crypto, kSvm }, METER_ID, r.raw, r.mac)).toBe(true);
      expect(r.mac).toEqual(crypto.mac(kSvm, svmLogMacInput(METER_ID, r.raw)));
      expect(svmLogMacInput(METER_ID, r.raw)[0]).toBe(0x4a);
    }
  });

  it('every single bit changed in the record or in the MAC fails', async () => {
    const { w, page } = await twoRecords();
    const key = keyOf(w);
    const kSvm = w.issuer.svmKey(METER_ID, PURSE, 1);
    const direct = { crypto: new PurseCrypto(cipher), kSvm };
    for (const r of page.records) {
      for (let bit = 0; bit < r.raw.length * 8; bit++) {
        const raw = r.raw.slice();
        raw[bit >> 3]! ^= 0x80 >> (bit & 7);
        expect(verifySvmLogRecord(direct, METER_ID, raw, r.mac)).toBe(false);
      }
      for (let bit = 0; bit < 64; bit++) {
        const mac = r.mac.slice();
        mac[bit >> 3]! ^= 0x80 >> (bit & 7);
        expect(verifySvmLogRecord(key, METER_ID, r.raw, mac)).toBe(false);
      }
    }
    // A record's fields swapped: the balance after raised, the amount raised.
    const rec = SvmLogRecord.decode(page.records[0]!.raw);
    const richer = new SvmLogRecord(
      rec.type,
      rec.ref,
      rec.amount + 1,
      rec.balanceAfter + 1,
      rec.svmCounter,
      rec.dateTime,
    );
    expect(verifySvmLogRecord(key, METER_ID, richer.encode(), page.records[0]!.mac)).toBe(false);
    // One record's MAC on the other record.
    expect(verifySvmLogRecord(key, METER_ID, page.records[1]!.raw, page.records[0]!.mac)).toBe(false);
  });

  it("a record of one meter never passes as another's — not even byte-identical records; nor another pairing's", async () => {
    // Meter A (the world's) and meter B, same issuer, the same host credit: identical record bytes.
    const a = new World();
    const ma = await a.meter();
    await credit(a, ma, 500, 1);
    const meterB = { meterId: OTHER_METER, terminalId: fromHex('00000456') };
    const samB = makeSam(a.issuer, { ...meterB, rng: new SeededRng('B:sam') });
    const svmB = makeSvm(a.issuer, { ...meterB, rng: new SeededRng('B:svm'), max: 100_000, balance: 0 });
    const mb = await MeterModules.open(
      await new VirtualReader('SAM B', samB.os).connect(),
      await new VirtualReader('SVM B', svmB.os).connect(),
      { key: a.issuer.coreKey(OTHER_METER, 1), cipher },
    );
    await credit(a, mb, 500, 1);
    const ra = (await readSvmLog(ma, 0)).records[0]!;
    const rb = (await readSvmLog(mb, 0)).records[0]!;
    expect(ra.raw).toEqual(rb.raw);
    expect(ra.mac).not.toEqual(rb.mac);
    const key = keyOf(a);
    expect(verifySvmLogRecord(key, METER_ID, ra.raw, ra.mac)).toBe(true);
    expect(verifySvmLogRecord(key, OTHER_METER, rb.raw, rb.mac)).toBe(true);
    expect(verifySvmLogRecord(key, METER_ID, rb.raw, rb.mac)).toBe(false); // B's record as A's
    expect(verifySvmLogRecord(key, OTHER_METER, ra.raw, ra.mac)).toBe(false); // A's as B's
    // K_svm of A but B's id in the input (the meter id is inside the MAC input, not only in the key).
    const kA = a.issuer.svmKey(METER_ID, PURSE, 1);
    expect(
      verifySvmLogRecord({ crypto: new PurseCrypto(cipher), kSvm: kA }, OTHER_METER, ra.raw, ra.mac),
    ).toBe(false);
    // A replacement SAM + SVM pair for meter A (pairing 2) has another K_svm.
    expect(verifySvmLogRecord(keyOf(a, 2), METER_ID, ra.raw, ra.mac)).toBe(false);
  });

  it('a replayed record is the same fact: the same bytes and MAC on every read', async () => {
    const { m, page } = await twoRecords();
    expect(await readSvmLog(m, 0)).toEqual(page);
    expect((await readSvmLog(m, 1)).records[0]).toEqual(page.records[1]);
  });

  it('wrong lengths: false for a record or MAC (outside data), RangeError / TypeError for arguments', async () => {
    const { w, page } = await twoRecords();
    const r = page.records[0]!;
    const key = keyOf(w);
    expect(verifySvmLogRecord(key, METER_ID, r.raw.subarray(0, 28), r.mac)).toBe(false);
    expect(verifySvmLogRecord(key, METER_ID, new Uint8Array([...r.raw, 0]), r.mac)).toBe(false);
    expect(verifySvmLogRecord(key, METER_ID, r.raw, r.mac.subarray(0, 7))).toBe(false);
    expect(() => verifySvmLogRecord(key, METER_ID.subarray(0, 2), r.raw, r.mac)).toThrow(/meterId/);
    expect(() => verifySvmLogRecord(key, METER_ID, [1, 2] as unknown as Uint8Array, r.mac)).toThrow(
      TypeError,
    );
    expect(() => verifySvmLogRecord({ ...key, pairing: 0 }, METER_ID, r.raw, r.mac)).toThrow(RangeError);
  });
});

describe('READ LOG writes nothing', () => {
  it('the store image is unchanged by any READ LOG, and a tear armed at the next write never fires', async () => {
    const w = new World();
    const m = await w.meter();
    for (let i = 1; i <= SVM_LOG_RECORDS + 2; i++) await credit(w, m, i, i);
    const before = image(w);
    const writes = w.svm.store.writeCount;
    w.svm.store.armTear(1);
    for (const from of [0, 1, 2, 5, 17, 18, 19, 0xffffffff]) await readSvmLog(m, from);
    await readLog(m, be32(0), { ne: 9 });
    await readLog(m, be32(0), { p1: 3 });
    expect(w.svm.os.powered).toBe(true);
    expect(w.svm.store.writeCount).toBe(writes);
    expect(image(w)).toBe(before);
    w.svm.store.disarmTear();
  });
});

describe('a tear inside a logged command', () => {
  it('HOST CREDIT torn at every write: record, ring head and log sequence move together or not at all', async () => {
    // Reference: the writes of one host credit with the ring full (so the head wraps too).
    const prepare = async () => {
      const w = new World();
      const m = await w.meter();
      for (let i = 1; i <= SVM_LOG_RECORDS; i++) await credit(w, m, i, i);
      return { w, m };
    };
    const ref = await prepare();
    const before = await readAll(ref.m, 0);
    const w0 = ref.w.svm.store.writeCount;
    await credit(ref.w, ref.m, 999, 99);
    const writes = ref.w.svm.store.writeCount - w0;
    const after = await readAll(ref.m, 0);
    expect(after.next).toBe(before.next + 1);
    expect(after.oldest).toBe(before.oldest + 1);
    const seen = new Set<string>();
    for (let k = 1; k <= writes; k++) {
      const { w, m } = await prepare();
      w.svm.store.armTear(k);
      await expect(credit(w, m, 999, 99)).rejects.toThrow();
      w.svm.store.disarmTear();
      w.powerFailure();
      const m2 = await w.meter();
      const now = await readAll(m2, 0);
      const same = (x: typeof now) => JSON.stringify(x) === JSON.stringify(now);
      expect(same(before) || same(after), `tear at write ${k}`).toBe(true);
      seen.add(same(before) ? 'before' : 'after');
      for (const r of now.records) expect(verifySvmLogRecord(keyOf(w), METER_ID, r.raw, r.mac)).toBe(true);
    }
    expect(seen).toEqual(new Set(['before', 'after']));
  });
});

describe('the terminal decoder', () => {
  const page = (oldest: number, next: number, n: number, len = 9 + 37 * n) => {
    const b = new Uint8Array(len);
    b.set(be32(oldest), 0);
    b.set(be32(next), 4);
    b[8] = n;
    return b;
  };

  it('refuses what does not add up, with MalformedDataError', () => {
    expect(decodeSvmLog(page(0, 2, 2))).toMatchObject({ oldest: 0, next: 2 });
    for (const bad of [
      new Uint8Array(8), // short header
      page(0, 2, 2, 9 + 37), // n says 2, bytes hold 1
      page(0, 2, 2, 9 + 37 * 2 + 1), // trailing byte
      page(0, 7, 7), // over SVM_READ_LOG_MAX
      page(0, 1, 2), // next below the records given
      page(3, 4, 2), // records below oldest
    ])
      expect(() => decodeSvmLog(bad)).toThrow(MalformedDataError);
  });

  it('a refusal of the SVM is a TransferError with its SW', async () => {
    const w = new World();
    const m = await w.meter();
    // A SAM channel in place of the SVM's: READ LOG is not its instruction.
    const fake = { ...m, svm: m.sam } as unknown as MeterModules;
    await expect(readSvmLog(fake, 0)).rejects.toBeInstanceOf(TransferError);
  });
});

describe('inspect shows every pending slot', () => {
  it('pendingSlots lists all taken slots in order; pending is the lowest taken, not slot 0', async () => {
    const w = new World();
    const m = await w.meter();
    expect((readDevice(w.svm.store) as SvmView).pendingSlots).toEqual([]);
    const strangers = [2, 3, 4].map((n) => {
      const dev = makeSubscriberCard(w.issuer, {
        csn: fromHex(`4D5000000000000${n}`),
        protocol: 'T=1',
        purses: defaultPurses(5_000),
        rng: new SeededRng(`stranger:${n}`),
      });
      return new VirtualReader(`card ${n}`, dev.os);
    });
    await beginOnly(m, await w.cardChannel(), 300); // slot 0
    for (const [i, r] of strangers.entries()) await beginOnly(m, await r.connect(), 10 * (i + 1)); // 1..3
    let v = readDevice(w.svm.store) as SvmView;
    expect(v.pendingSlots.map((p) => [p.slot, p.amount])).toEqual([
      [0, 300],
      [1, 10],
      [2, 20],
      [3, 30],
    ]);
    expect(v.pendingSlots[2]).toMatchObject({ csn: '4D50000000000003', purse: PURSE, counter: 1 });
    // The world's card recovers (slot 0 freed): the lowest taken is slot 1.
    w.reinsertCard();
    await runCardSession(m, await w.cardChannel(), { purse: PURSE, dateTime: NOW, transfer: false });
    v = readDevice(w.svm.store) as SvmView;
    expect(v.pendingSlots.map((p) => p.slot)).toEqual([1, 2, 3]);
    expect(v.pending).toEqual(v.pendingSlots[0]);
    expect(v.pending).toMatchObject({ slot: 1, amount: 10 });
  });
});
