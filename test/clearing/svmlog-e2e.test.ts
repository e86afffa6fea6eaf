/**
 * Issue 13, end to end: the SVM's log leaves the meter over the power line (H = 55) with the chip's
 * MAC on every record (SVM READ LOG, the modem's default source), and the host checks each with its
 * own derivation of K_svm. Also the simulated meter terminal (host/sim) serving H = 54 / 55 / 56.
 */
import { describe, expect, it } from 'vitest';
import { HostKeyRing, SeededRng } from '../../card/crypto/index.js';
import { IssuerKeys } from '../../card/applets/IssuerKeys.js';
import { SvmLogRecord } from '../../card/applets/svm/records.js';
import { SettlePayload } from '../../card/applets/svm/records.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { verifySvmLogRecord } from '../../card/index.js';
import { MeterModem, type ModemEvent } from '../../meter/modem/MeterModem.js';
import { HostProtocol } from '../../host/protocol/HostProtocol.js';
import { ClearingKeys } from '../../host/clearing/records.js';
import { ProtocolError } from '../../protocol/errors.js';
import { REFUSE_UNKNOWN_KEY_VERSION } from '../../protocol/constants.js';
import {
  BL_APPLIED,
  BL_BASE_MISMATCH,
  BL_LOCKOUT,
  BL_STALE,
  type BlacklistUpdate,
} from '../../protocol/clearing.js';
import { txId } from '../../protocol/TxId.js';
import type { Terminal } from '../../protocol/Terminal.js';
import { SimulatedMeterTerminal } from '../../host/sim/SimulatedMeterTerminal.js';
import { SimulatedField } from '../../host/sim/SimulatedField.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cipher, demoIssuer, newMeter, purseBalance, subscriber, svmView } from '../meter/cardWorld.js';
import { makeHost, meterKeys } from '../host/helpers.js';

const METER = fromHex('00C0DE');
const OTHER = fromHex('00BEEF');
const CSN_A = fromHex('4D50000000000001');
const CSN_B = fromHex('4D50000000000002');

async function meterWorld(issuer: IssuerKeys, meterId: Uint8Array, seed: string) {
  const cm = await newMeter({ issuer, meterId, svmMax: 1_000_000, seed });
  const events: ModemEvent[] = [];
  const modem = new MeterModem(cm);
  modem.onEvent((e) => events.push(e));
  return { cm, modem, events };
}

async function world(seed = 'svmlog') {
  const issuer = demoIssuer(seed);
  const ring = HostKeyRing.of(issuer.utility(1).host);
  const host = new HostProtocol(cipher, new SeededRng(`${seed}-host`), () => ring);
  const a = await meterWorld(issuer, METER, `${seed}-a`);
  return { issuer, ring, host, ...a, ref: { id: METER, keyVersion: ring.current! } };
}

/** Every SVM record from `svmFrom` on, page by page (each page one full host session). */
async function uploadSvm(
  host: HostProtocol,
  t: Terminal,
  ref: { id: Uint8Array; keyVersion: number },
  svmFrom: number,
) {
  const records: { record: Uint8Array; mac: Uint8Array }[] = [];
  let next = svmFrom;
  for (let i = 0; i < 50; i++) {
    const a = await host.uploadRecords(t, ref, 0, next);
    records.push(...a.svmRecords);
    next = a.svmNext;
    if (!a.moreSvm) return { records, next };
  }
  throw new Error('the upload never ended');
}

const flip = (b: Uint8Array, bit: number) => {
  const c = b.slice();
  c[bit >> 3]! ^= 0x80 >> (bit & 7);
  return c;
};

describe('H = 55 carries the SVM log with the chip’s MACs', () => {
  it("transfers and host credits at a meter: every record verifies under the host's K_svm; one bit changed fails", async () => {
    const { issuer, host, cm, modem, ref, events } = await world();
    // A card transfer (card credit 01, then tokens 02 for the core's tank) and two host credits (03).
    const card = subscriber(issuer, { csn: CSN_A, balance: 5_000, seed: 'a' });
    const o = await cm.slot.insert(card.os);
    cm.slot.remove();
    expect(o).toMatchObject({ accepted: true, amount: 5_000 });
    expect(purseBalance(card)).toBe(0);
    for (const n of [1, 2]) expect((await host.valueStore(modem, ref, 1_000 * n, txId(n))).status).toBe(0);
    const { records, next } = await uploadSvm(host, modem, ref, 0);
    const view = svmView(cm);
    expect(next).toBe(view.logSeq);
    // What the host got is the SVM's log, oldest first, byte for byte.
    expect(records.map((r) => SvmLogRecord.decode(r.record).toJSON())).toEqual([...view.log].reverse());
    const types = new Set(records.map((r) => r.record[0]));
    expect([...types].sort()).toEqual([1, 2, 3]);
    const key = { issuer, purse: 1 };
    for (const r of records) expect(verifySvmLogRecord(key, METER, r.record, r.mac)).toBe(true);
    // The card credit says which card and how much.
    const cardCredit = SvmLogRecord.decode(records.find((r) => r.record[0] === 1)!.record);
    expect(toHex(cardCredit.ref.subarray(0, 8))).toBe(toHex(CSN_A));
    expect(cardCredit.amount).toBe(5_000);
    // One bit anywhere in a record or its MAC: refused.
    for (const r of records) {
      for (let bit = 0; bit < 29 * 8; bit += 7)
        expect(verifySvmLogRecord(key, METER, flip(r.record, bit), r.mac)).toBe(false);
      for (let bit = 0; bit < 64; bit += 5)
        expect(verifySvmLogRecord(key, METER, r.record, flip(r.mac, bit))).toBe(false);
    }
    // Asked again from next: nothing new, the cursor stays; the modem reported what it read.
    const again = await host.uploadRecords(modem, ref, 0, next);
    expect(again.svmRecords).toEqual([]);
    expect(again.svmNext).toBe(next);
    expect(events.filter((e) => e.kind === 'upload').at(-1)).toMatchObject({ svmRecords: 0, svmOldest: 0 });
    // Asked from 0 again: the same records, the same MACs (a replay the host stores once).
    expect((await uploadSvm(host, modem, ref, 0)).records).toEqual(records);
  });

  it("the host's clearing check (host/clearing ClearingKeys) accepts the chip's records and refuses altered ones", async () => {
    const { issuer, host, modem, ref } = await world('svmlog-host');
    for (const n of [1, 2, 3]) await host.valueStore(modem, ref, 100 * n, txId(n));
    const { records } = await uploadSvm(host, modem, ref, 0);
    expect(records.length).toBeGreaterThanOrEqual(3);
    const keys = new ClearingKeys(issuer);
    for (const r of records) {
      expect(keys.checkSvmRecord(METER, 1, r.record, r.mac)).toBe(true);
      expect(keys.checkSvmRecord(METER, 1, flip(r.record, 100), r.mac)).toBe(false);
    }
  });

  it("another meter's record fails under this meter's key, even when the bytes are the same", async () => {
    const { issuer, ring, host, modem, ref } = await world('svmlog-two');
    const b = await meterWorld(issuer, OTHER, 'svmlog-two-b');
    const refB = { id: OTHER, keyVersion: ring.current! };
    await host.valueStore(modem, ref, 777, txId(9));
    await host.valueStore(b.modem, refB, 777, txId(9));
    const ra = (await uploadSvm(host, modem, ref, 0)).records[0]!;
    const rb = (await uploadSvm(host, b.modem, refB, 0)).records[0]!;
    expect(ra.record).toEqual(rb.record); // the same credit, the same counter, the same bytes
    const key = { issuer, purse: 1 };
    expect(verifySvmLogRecord(key, OTHER, rb.record, rb.mac)).toBe(true);
    expect(verifySvmLogRecord(key, METER, rb.record, rb.mac)).toBe(false);
    expect(verifySvmLogRecord(key, METER, ra.record, ra.mac)).toBe(true);
    expect(verifySvmLogRecord(key, OTHER, ra.record, ra.mac)).toBe(false);
  });

  it('records that left the ring before the upload: the page starts at the oldest held, the modem reports it', async () => {
    const { host, cm, modem, ref, events } = await world('svmlog-wrap');
    for (let n = 1; n <= 20; n++) await host.valueStore(modem, ref, 10, txId(n));
    const seq = svmView(cm).logSeq;
    expect(seq).toBeGreaterThan(16);
    const { records, next } = await uploadSvm(host, modem, ref, 0);
    expect(records).toHaveLength(16);
    expect(next).toBe(seq);
    expect(events.filter((e) => e.kind === 'upload').at(-1)).toMatchObject({ svmOldest: seq - 16 });
  });
});

describe('the simulated meter terminal serves H = 54 / 55 / 56', () => {
  const ID = fromHex('00A001');
  const issuer = IssuerKeys.demo(cipher, 'sim');
  const ref = { id: ID, keyVersion: 1 };
  const sim = (o: Partial<ConstructorParameters<typeof SimulatedMeterTerminal>[2]> = {}) =>
    new SimulatedMeterTerminal(cipher, new SeededRng('sim'), { id: ID, terminalKeys: meterKeys(ID), ...o });
  const list = (version: number, add: Uint8Array[], o: Partial<BlacklistUpdate> = {}): BlacklistUpdate => ({
    version,
    mode: 'full',
    base: 0,
    keyVersions: [],
    add,
    remove: [],
    ...o,
  });

  it('H = 55: its credits as SVM records with MACs under its K_svm, paged by log sequence; none without a key', async () => {
    const host = makeHost('sim-host');
    const t = sim({ svmKey: issuer.svmKey(ID, 1, 1), logRecords: 4 });
    for (let n = 1; n <= 6; n++) await host.valueStore(t.asTerminal(), ref, 100 * n, txId(n));
    const a = await host.uploadRecords(t.asTerminal(), ref, 0, 0);
    expect(a).toMatchObject({ svmNext: 6, moreSvm: false, balance: 2_100, journal: [], pending: [] });
    expect(a.svmRecords.map((r) => SvmLogRecord.decode(r.record).svmCounter)).toEqual([3, 4, 5, 6]);
    for (const r of a.svmRecords) {
      expect(verifySvmLogRecord({ issuer, purse: 1 }, ID, r.record, r.mac)).toBe(true);
      expect(verifySvmLogRecord({ issuer, purse: 1 }, ID, flip(r.record, 90), r.mac)).toBe(false);
    }
    expect((await host.uploadRecords(t.asTerminal(), ref, 0, 5)).svmRecords).toHaveLength(1);
    expect(await host.uploadRecords(t.asTerminal(), ref, 0, 9)).toMatchObject({ svmRecords: [], svmNext: 9 });
    // State survives a power loss.
    const s = t.exportState();
    const u = sim({ svmKey: issuer.svmKey(ID, 1, 1), logRecords: 4 });
    u.restoreState(s);
    expect(u.svmLog()).toEqual(t.svmLog());
    const keyless = sim();
    await host.valueStore(keyless.asTerminal(), ref, 5, txId(1));
    expect(await host.uploadRecords(keyless.asTerminal(), ref, 0, 0)).toMatchObject({
      svmRecords: [],
      svmNext: 0,
    });
  });

  it('a simulated field gives its meters K_svm when asked, and keeps their SVM log across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'svmlog-field-'));
    try {
      const file = join(dir, 'field.json');
      const keys = () => HostKeyRing.of(issuer.utility(1).host);
      const svmKeyOf = (id: Uint8Array) => issuer.svmKey(id, 1, 1);
      const field = new SimulatedField(cipher, keys, file, undefined, svmKeyOf);
      const m = field.install(toHex(ID), 1, 1, 1, keys().current!);
      const host = new HostProtocol(cipher, new SeededRng('field-host'), keys);
      const fref = { id: ID, keyVersion: keys().current! };
      const t: Terminal = m.asTerminal();
      await host.valueStore(t, fref, 42, txId(1));
      field.save();
      const again = new SimulatedField(cipher, keys, file, undefined, svmKeyOf);
      const m2 = again.meters.get(toHex(ID))!;
      expect(m2.svmLog()).toEqual(m.svmLog());
      const a = await host.uploadRecords(m2.asTerminal(), fref, 0, 0);
      expect(a.svmRecords).toHaveLength(1);
      expect(
        verifySvmLogRecord({ issuer, purse: 1 }, ID, a.svmRecords[0]!.record, a.svmRecords[0]!.mac),
      ).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('H = 56: applied above the version held, stale / base mismatch / lockout change nothing; a withdrawn key opens no session', async () => {
    const host = makeHost('sim-bl');
    const t = sim();
    expect(await host.sendBlacklist(t.asTerminal(), ref, list(2, [CSN_A]))).toMatchObject({
      status: BL_APPLIED,
      version: 2,
      count: 1,
    });
    expect((await host.sendBlacklist(t.asTerminal(), ref, list(2, [CSN_B]))).status).toBe(BL_STALE);
    const delta = list(4, [CSN_B], { mode: 'delta', base: 3 });
    expect((await host.sendBlacklist(t.asTerminal(), ref, delta)).status).toBe(BL_BASE_MISMATCH);
    expect((await host.sendBlacklist(t.asTerminal(), ref, list(5, [], { keyVersions: [0] }))).status).toBe(
      BL_LOCKOUT,
    );
    expect(t.blacklist()).toEqual({ version: 2, serials: [toHex(CSN_A)], keyVersions: [] });
    const ok = await host.sendBlacklist(
      t.asTerminal(),
      ref,
      list(3, [CSN_B], { mode: 'delta', base: 2, keyVersions: [1] }),
    );
    expect(ok).toMatchObject({ status: BL_APPLIED, version: 3, count: 2 });
    // KH[0] withdrawn: INIT under version 0 refused 01.
    const e = await host.uploadRecords(t.asTerminal(), { id: ID, keyVersion: 0 }, 0).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProtocolError);
    expect((e as ProtocolError).reason).toBe(REFUSE_UNKNOWN_KEY_VERSION);
    expect((await host.uploadRecords(t.asTerminal(), ref, 0)).blacklistVersion).toBe(3);
  });

  it('H = 54: settles a pending transfer once (complete credits, retry is duplicate), a wrong entry is no-such-pending', async () => {
    const host = makeHost('sim-settle');
    const dateTime = fromHex('261122083000');
    const pending = [
      { slot: 0, csn: CSN_A, purse: 1, amount: 700, counter: 5, dateTime },
      { slot: 2, csn: CSN_B, purse: 1, amount: 300, counter: 9, dateTime },
    ];
    const t = sim({ svmKey: issuer.svmKey(ID, 1, 1), pending, balance: 1_000 });
    expect((await host.uploadRecords(t.asTerminal(), ref, 0)).pending).toHaveLength(2);
    const tx = (n: number) => fromHex(`00000000000000${n.toString(16).padStart(2, '0')}`);
    const complete = new SettlePayload(1, 0, CSN_A, 1, 5, 700, tx(1));
    const a = await host.settle(t.asTerminal(), ref, complete);
    expect(a).toMatchObject({ statusName: 'settled-complete', balance: 1_700, svmCounter: 1 });
    const rec = SvmLogRecord.decode(a.record!);
    expect([rec.type, rec.amount, rec.balanceAfter, toHex(rec.ref)]).toEqual([
      5,
      700,
      1_700,
      `${toHex(CSN_A)}0005`,
    ]);
    expect(await host.settle(t.asTerminal(), ref, complete)).toMatchObject({
      statusName: 'duplicate',
      balance: 1_700,
    });
    // The other entry with a wrong amount: no such pending, nothing changes, the tx id not consumed.
    const wrong = new SettlePayload(2, 2, CSN_B, 1, 9, 301, tx(2));
    expect(await host.settle(t.asTerminal(), ref, wrong)).toMatchObject({ statusName: 'no-such-pending' });
    const cancel = new SettlePayload(2, 2, CSN_B, 1, 9, 300, tx(2));
    expect(await host.settle(t.asTerminal(), ref, cancel)).toMatchObject({
      statusName: 'settled-cancel',
      balance: 1_700,
    });
    expect(t.pending()).toEqual([]);
    expect(t.settlementsApplied).toBe(2);
    const log = t.svmLog();
    expect(log.records.map((r) => r[0])).toEqual([5, 6]);
    // Slot out of range: refused as a bad payload, nothing changes.
    const e = await host
      .settle(t.asTerminal(), ref, new SettlePayload(1, 4, CSN_A, 1, 5, 700, tx(3)))
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProtocolError);
    expect(t.svmLog()).toEqual(log);
  });
});
