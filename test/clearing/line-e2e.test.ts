/**
 * Clearing over the power line, end to end: host (HostProtocol) → [power-line link] → meter modem →
 * SAM + SVM applets and card slot. Record upload, blacklist distribution, refusal and report of a
 * blacklisted card, and the attacks: lower version, replayed command, lost answers, a lossy line.
 */
import { describe, expect, it } from 'vitest';
import { HostKeyRing, SeededRng } from '../../card/crypto/index.js';
import { PurseCrypto, recordMacInput } from '../../card/applets/PurseCrypto.js';
import { LogRecord } from '../../card/applets/purse/records.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { MeterModem, type ModemEvent } from '../../meter/modem/MeterModem.js';
import type { CardChannel } from '../../reader/CardChannel.js';
import type { ChannelRole } from '../../meter/cardslot/ModuleLink.js';
import { interceptChannel } from '../reader/interceptChannel.js';
import { HostProtocol } from '../../host/protocol/HostProtocol.js';
import { LocalService } from '../../host/network/LocalService.js';
import { PowerLineChannel } from '../../host/network/PowerLineChannel.js';
import { ProtocolError } from '../../protocol/errors.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import type { Terminal } from '../../protocol/Terminal.js';
import {
  REFUSE_BAD_SIGNATURE,
  REFUSE_NO_SESSION,
  REFUSE_UNKNOWN_KEY_VERSION,
} from '../../protocol/constants.js';
import {
  BL_APPLIED,
  BL_BASE_MISMATCH,
  BL_LOCKOUT,
  BL_STALE,
  type BlacklistUpdate,
  type JournalEntry,
  type UploadAnswer,
} from '../../protocol/clearing.js';
import { decodeMessage, encodeMessage } from '../../protocol/messages.js';
import {
  cardView,
  cipher,
  demoIssuer,
  newMeter,
  purseBalance,
  subscriber,
  svmView,
} from '../meter/cardWorld.js';

const meterId = fromHex('00C0DE');
const CSN_A = fromHex('4D50000000000001');
const CSN_B = fromHex('4D50000000000002');

async function world(seed = 'line') {
  const issuer = demoIssuer(seed);
  const cm = await newMeter({ issuer, meterId, svmMax: 1_000_000, seed });
  const ring = HostKeyRing.of(issuer.utility(1).host);
  const events: ModemEvent[] = [];
  const modem = new MeterModem(cm);
  modem.onEvent((e) => events.push(e));
  const host = new HostProtocol(cipher, new SeededRng(`${seed}-host`), () => ring);
  const ref = { id: meterId, keyVersion: ring.current! };
  return { issuer, cm, ring, modem, host, ref, events };
}

const list = (version: number, add: Uint8Array[], o: Partial<BlacklistUpdate> = {}): BlacklistUpdate => ({
  version,
  mode: 'full',
  base: 0,
  keyVersions: [],
  add,
  remove: [],
  ...o,
});

/** Asks pages until the meter has no more; every entry once. */
async function uploadAll(
  host: HostProtocol,
  t: Terminal,
  ref: { id: Uint8Array; keyVersion: number },
  from: number,
): Promise<{ entries: JournalEntry[]; next: number; pages: UploadAnswer[] }> {
  const entries: JournalEntry[] = [];
  const pages: UploadAnswer[] = [];
  let next = from;
  for (;;) {
    const a = await host.uploadRecords(t, ref, next);
    pages.push(a);
    entries.push(...a.journal);
    next = a.next;
    if (!a.moreJournal) return { entries, next, pages };
  }
}

function refusalOf(e: unknown): number | undefined {
  return e instanceof ProtocolError ? e.reason : undefined;
}

describe('record upload (H = 55)', () => {
  it("the card's log records the slot collected reach the host with proofs that verify under K_proof(CSN)", async () => {
    const { issuer, cm, modem, host, ref, events } = await world();
    const card = subscriber(issuer, { csn: CSN_A, balance: 5000, seed: 'a' });
    const o = await cm.slot.insert(card.os);
    cm.slot.remove();
    expect(o.accepted).toBe(true);
    expect(o.amount).toBeGreaterThan(0);
    const a = await host.uploadRecords(modem, ref, 0);
    expect(a.id).toEqual(meterId);
    expect(a.pending).toEqual([]);
    expect(a.blacklistVersion).toBe(0);
    const records = a.journal.filter((e) => e.kind === 'card-record');
    expect(records.length).toBeGreaterThan(0);
    const debit = records.map((e) =>
      LogRecord.decode(e.kind === 'card-record' ? e.record : new Uint8Array(0)),
    );
    const last = debit.at(-1)!;
    expect(last.type).toBe(2); // the debit of this transfer
    expect(last.amount).toBe(o.amount);
    // the host can check the proof: K_proof(CSN) of purse 1
    const crypto = new PurseCrypto(cipher);
    const kProof = issuer.cardKeys(CSN_A, 1).proof;
    const fields = {
      csn: CSN_A,
      purse: last.purse,
      amount: last.amount,
      counter: last.counter,
      terminalId: last.terminalId,
      dateTime: last.dateTime,
    };
    expect(crypto.check(kProof, last.mac, recordMacInput('D', fields, last.balanceAfter, last.rv))).toBe(
      true,
    );
    // a forged amount does not verify
    expect(
      crypto.check(
        kProof,
        last.mac,
        recordMacInput('D', { ...fields, amount: last.amount + 1 }, last.balanceAfter, last.rv),
      ),
    ).toBe(false);
    expect(events.at(-1)).toMatchObject({ kind: 'upload', from: 0, entries: a.journal.length });
    // the balance the SAM vouches for is the SVM's
    expect(a.balance).toBe(svmView(cm).balance);
  });

  it('a second presentation of the same card collects only its new records; asking from next acknowledges', async () => {
    const { issuer, cm, modem, host, ref } = await world();
    const card = subscriber(issuer, { csn: CSN_A, balance: 5000, seed: 'a' });
    cm.slot.maxAmount = 1000; // two transfers of 1000
    await cm.slot.insert(card.os);
    cm.slot.remove();
    const first = await host.uploadRecords(modem, ref, 0);
    await cm.meter.advance(cm.meter.now + 3600, 2_000_000); // use some credit so the SVM has room
    await cm.slot.insert(card.os);
    cm.slot.remove();
    const second = await host.uploadRecords(modem, ref, first.next);
    const counters = (p: UploadAnswer) =>
      p.journal.flatMap((e) => (e.kind === 'card-record' ? [LogRecord.decode(e.record).counter] : []));
    // no record is sent twice under two sequence numbers
    const all = [...counters(first), ...counters(second)];
    expect(new Set(all).size).toBe(all.length);
    expect(counters(second).length).toBeGreaterThan(0);
    expect(Math.min(...counters(second))).toBeGreaterThan(Math.max(...counters(first)));
    expect(cm.slot.clearing.oldest).toBe(first.next); // acknowledged entries are gone
    // asking again from the same point gives the same entries with the same numbers (a lost answer)
    const again = await host.uploadRecords(modem, ref, first.next);
    expect(again.journal.map((e) => e.seq)).toEqual(second.journal.map((e) => e.seq));
  });

  it('a card pulled while its log is read loses nothing: the transfer stands, the records come at its next insertion', async () => {
    const issuer = demoIssuer('pull');
    const box: { cm?: Awaited<ReturnType<typeof newMeter>>; armed: boolean } = { armed: true };
    const wrap = (inner: CardChannel, role: ChannelRole): CardChannel =>
      interceptChannel(inner, (c, next) => {
        if (box.armed && role === 'card' && c.ins === 0xb2 && c.p2 === 0x0c) {
          box.armed = false;
          box.cm!.slot.remove();
        }
        return next(c);
      });
    const cm = await newMeter({ issuer, meterId, svmMax: 1_000_000, seed: 'pull', wrap });
    box.cm = cm;
    cm.slot.maxAmount = 1000;
    const card = subscriber(issuer, { csn: CSN_A, balance: 5000, seed: 'a' });
    const svm = svmView(cm).balance;
    const o = await cm.slot.insert(card.os);
    expect(o.accepted).toBe(true);
    expect(o.amount).toBe(1000);
    expect(svmView(cm).balance + cm.meter.exchanger.drawn).toBe(svm + 1000);
    expect(purseBalance(card)).toBe(4000);
    expect(cm.slot.clearing.size).toBe(0); // nothing collected
    await cm.slot.insert(card.os);
    cm.slot.remove();
    const counters = cm.slot.clearing
      .page(0, 8000)
      .entries.flatMap((e) => (e.kind === 'card-record' ? [LogRecord.decode(e.record).counter] : []));
    expect(counters.length).toBeGreaterThanOrEqual(2); // both debits, the first one included
    expect(counters).toEqual([...counters].sort((a, b) => a - b));
  });

  it('pages: 600 attempts come in pages of M ≤ 8192 bytes, every entry exactly once, in order', async () => {
    const { cm, modem, host, ref } = await world();
    for (let i = 0; i < 600; i++)
      cm.slot.clearing.noteAttempt(CSN_B, 1, RtcTime.of(2026, 11, 23, 10, i % 60));
    const ms: number[] = [];
    const sizing: Terminal = {
      init: (r1, r2, n) => modem.init(r1, r2, n),
      command: async (h, p, s) => {
        const m = await modem.command(h, p, s);
        ms.push(m.length);
        return m;
      },
    };
    const { entries, pages } = await uploadAll(host, sizing, ref, 0);
    expect(pages.length).toBeGreaterThan(1);
    expect(Math.max(...ms)).toBeLessThanOrEqual(8192);
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
  });

  it('a truncated or altered M is refused by the host (nothing is taken from it)', async () => {
    const { cm, modem, host, ref } = await world();
    cm.slot.clearing.noteAttempt(CSN_B, 1, RtcTime.of(2026, 11, 23, 10));
    const cut: Terminal = {
      init: (r1, r2, n) => modem.init(r1, r2, n),
      command: async (h, p, s) => (await modem.command(h, p, s)).subarray(0, 16),
    };
    await expect(host.uploadRecords(cut, ref, 0)).rejects.toBeInstanceOf(ProtocolError);
    const flip: Terminal = {
      init: (r1, r2, n) => modem.init(r1, r2, n),
      command: async (h, p, s) => {
        const m = Uint8Array.from(await modem.command(h, p, s));
        m[3]! ^= 1;
        return m;
      },
    };
    await expect(host.uploadRecords(flip, ref, 0)).rejects.toBeInstanceOf(ProtocolError);
    // both lost answers acknowledged nothing above 0: the entry is still there
    expect((await host.uploadRecords(modem, ref, 0)).journal).toHaveLength(1);
  });
});

describe('SVM records through a source (the SVM has no READ LOG yet: a fake source stands in)', () => {
  it('pages SVM records by SVM counter: svmNext and moreSvm, every record once, MACs carried as given', async () => {
    const { cm } = await world();
    const records = Array.from({ length: 500 }, (_, i) => {
      const r = new Uint8Array(29);
      r[0] = 2; // token
      new DataView(r.buffer).setUint32(19, i + 1); // SVM counter
      const mac = new Uint8Array(8).fill(i & 0xff);
      return { record: r, mac };
    });
    const asked: Array<[number, number]> = [];
    const modem = new MeterModem(cm, {
      svmRecords: (_m, from, max) => {
        asked.push([from, max]);
        return Promise.resolve(
          records.filter((x) => new DataView(x.record.buffer).getUint32(19) >= from).slice(0, max),
        );
      },
    });
    const issuer = demoIssuer('line');
    const ring = HostKeyRing.of(issuer.utility(1).host);
    const host = new HostProtocol(cipher, new SeededRng('svm-src'), () => ring);
    const ref = { id: meterId, keyVersion: ring.current! };
    const got: number[] = [];
    let svmFrom = 1;
    for (let i = 0; i < 10; i++) {
      const a = await host.uploadRecords(modem, ref, 0, svmFrom);
      for (const x of a.svmRecords) {
        const c = new DataView(x.record.buffer, x.record.byteOffset).getUint32(19);
        expect(x.mac).toEqual(new Uint8Array(8).fill((c - 1) & 0xff));
        got.push(c);
      }
      svmFrom = a.svmNext;
      if (!a.moreSvm) break;
    }
    expect(got).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(asked.length).toBeGreaterThan(2);
    expect(asked.every(([, max]) => max * 37 <= 8000)).toBe(true);
  });
});

describe('blacklist (H = 56)', () => {
  it('a blacklisted card is refused at the slot, moves no value, and the attempt is uploaded', async () => {
    const { issuer, cm, modem, host, ref } = await world();
    const a = await host.sendBlacklist(modem, ref, list(1, [CSN_A]));
    expect(a).toMatchObject({ status: BL_APPLIED, version: 1, count: 1 });
    const card = subscriber(issuer, { csn: CSN_A, balance: 5000, seed: 'a' });
    const svmBefore = svmView(cm).balance;
    const o = await cm.slot.insert(card.os);
    cm.slot.remove();
    expect(o.refusal).toBe('blacklisted');
    expect(purseBalance(card)).toBe(5000);
    expect(svmView(cm).balance).toBe(svmBefore);
    const up = await host.uploadRecords(modem, ref, 0);
    expect(up.blacklistVersion).toBe(1);
    expect(up.journal).toHaveLength(1);
    expect(up.journal[0]).toMatchObject({ kind: 'blacklisted', csn: CSN_A, purse: 1 });
    const e = up.journal[0]!;
    expect(e.kind === 'blacklisted' && e.time.seconds).toBe(cm.meter.time.seconds);
    // another card is served
    const other = await cm.slot.insert(subscriber(issuer, { csn: CSN_B, balance: 300, seed: 'b' }).os);
    cm.slot.remove();
    expect(other.accepted).toBe(true);
  });

  it('a lower or equal version is refused as stale and changes nothing; a delta needs its base', async () => {
    const { cm, modem, host, ref } = await world();
    expect((await host.sendBlacklist(modem, ref, list(5, [CSN_A]))).status).toBe(BL_APPLIED);
    const stale = await host.sendBlacklist(modem, ref, list(3, [CSN_B]));
    expect(stale).toMatchObject({ status: BL_STALE, version: 5, count: 1 });
    expect(await host.sendBlacklist(modem, ref, list(5, []))).toMatchObject({ status: BL_STALE, version: 5 });
    expect([...cm.slot.blacklist]).toEqual([toHex(CSN_A)]);
    const wrongBase = await host.sendBlacklist(
      modem,
      ref,
      list(7, [CSN_B], { mode: 'delta', base: 4, remove: [CSN_A] }),
    );
    expect(wrongBase).toMatchObject({ status: BL_BASE_MISMATCH, version: 5 });
    expect([...cm.slot.blacklist]).toEqual([toHex(CSN_A)]);
    const delta = await host.sendBlacklist(
      modem,
      ref,
      list(6, [CSN_B], { mode: 'delta', base: 5, remove: [CSN_A] }),
    );
    expect(delta).toMatchObject({ status: BL_APPLIED, version: 6, count: 1 });
    expect([...cm.slot.blacklist]).toEqual([toHex(CSN_B)]);
  });

  it('a recorded blacklist command replayed in a new session is refused (S2h is bound to R3)', async () => {
    const { cm, modem, host, ref } = await world();
    let captured: Uint8Array | undefined;
    const spy: Terminal = {
      init: (r1, r2, n) => modem.init(r1, r2, n),
      command: (h, p, s) => {
        captured = encodeMessage({ kind: 'command-request', h, payload: p, s2h: s });
        return modem.command(h, p, s);
      },
    };
    await host.sendBlacklist(spy, ref, list(2, [CSN_A]));
    // the host lifts the card in version 3 …
    await host.sendBlacklist(modem, ref, list(3, []));
    // … an attacker replays version 2's command after a fresh INIT of its own
    const init = encodeMessage({
      kind: 'init-request',
      r1: new Uint8Array(8),
      r2: new Uint8Array(8),
      n: ref.keyVersion,
    });
    expect(decodeMessage(await modem.handle(init)).kind).toBe('init-response');
    expect(decodeMessage(await modem.handle(captured!))).toEqual({
      kind: 'refusal',
      reason: REFUSE_BAD_SIGNATURE,
    });
    // and without a session
    expect(decodeMessage(await modem.handle(captured!))).toEqual({
      kind: 'refusal',
      reason: REFUSE_NO_SESSION,
    });
    expect(cm.slot.clearing.blacklistVersion).toBe(3);
    expect(cm.slot.blacklist.size).toBe(0);
  });

  it('a key-version whitelist: one without the session key is refused (04); a withdrawn KH[n] opens no session', async () => {
    const { issuer, cm, modem, ref } = await world();
    const ring = HostKeyRing.of(issuer.utility(1).host);
    const [older, current] = [ring.versions[0]!, ring.current!];
    expect(older).not.toBe(current);
    const host = new HostProtocol(cipher, new SeededRng('wl'), () => ring);
    const lockout = await host.sendBlacklist(modem, ref, list(1, [], { keyVersions: [older] }));
    expect(lockout).toMatchObject({ status: BL_LOCKOUT, version: 0 });
    expect(cm.slot.clearing.keyVersions).toEqual([]);
    expect((await host.sendBlacklist(modem, ref, list(1, [], { keyVersions: [current] }))).status).toBe(
      BL_APPLIED,
    );
    const e = await host.uploadRecords(modem, { ...ref, keyVersion: older }, 0).catch((x: unknown) => x);
    expect(refusalOf(e)).toBe(REFUSE_UNKNOWN_KEY_VERSION);
    expect((await host.uploadRecords(modem, ref, 0)).blacklistVersion).toBe(1);
  });

  it("a card whose key version is not on the host's card-key whitelist is refused and moves no value", async () => {
    const { issuer, cm, modem, host, ref } = await world();
    const card = subscriber(issuer, { csn: CSN_A, balance: 5000, seed: 'a' });
    const kv = cardView(card).keyVersion;
    expect((await host.sendBlacklist(modem, ref, list(1, [], { cardKeyVersions: [kv + 1] }))).status).toBe(
      BL_APPLIED,
    );
    const svm = svmView(cm).balance;
    const o = await cm.slot.insert(card.os);
    cm.slot.remove();
    expect(o.refusal).toBe('card-key-withdrawn');
    expect(purseBalance(card)).toBe(5000);
    expect(svmView(cm).balance).toBe(svm);
    expect((await host.sendBlacklist(modem, ref, list(2, [], { cardKeyVersions: [kv] }))).status).toBe(
      BL_APPLIED,
    );
    expect((await cm.slot.insert(card.os)).accepted).toBe(true);
  });

  it('survives a restart: saveState/loadState keep version, list, journal; an old state without them loads', async () => {
    const { issuer, cm, modem, host, ref } = await world();
    await host.sendBlacklist(modem, ref, list(4, [CSN_A], { keyVersions: [ref.keyVersion] }));
    await cm.slot.insert(subscriber(issuer, { csn: CSN_A, seed: 'a' }).os);
    cm.slot.remove();
    const saved = JSON.parse(JSON.stringify(cm.slot.saveState())) as ReturnType<typeof cm.slot.saveState>;
    const w2 = await world();
    w2.cm.slot.loadState(saved);
    expect(w2.cm.slot.saveState()).toEqual(saved);
    expect(w2.cm.slot.clearing.blacklistVersion).toBe(4);
    const up = await w2.host.uploadRecords(w2.modem, w2.ref, 0);
    expect(up.journal.map((e) => e.kind)).toEqual(['blacklisted']);
    // a stale version is still refused after the restart
    expect((await w2.host.sendBlacklist(w2.modem, w2.ref, list(4, []))).status).toBe(BL_STALE);
    // a state saved before clearing existed
    const w3 = await world();
    w3.cm.slot.loadState({ blacklist: [toHex(CSN_B)], lastKind: 0, lastRef: '00'.repeat(10) });
    expect(w3.cm.slot.clearing.blacklistVersion).toBe(0);
    expect([...w3.cm.slot.blacklist]).toEqual([toHex(CSN_B)]);
    // a bad clearing part is refused whole, nothing set
    expect(() => w3.cm.slot.loadState({ ...saved, clearing: { ...saved.clearing, nextSeq: 0 } })).toThrow(
      /nextSeq/,
    );
    expect([...w3.cm.slot.blacklist]).toEqual([toHex(CSN_B)]);
  });
});

describe('over a lossy power line (loss, duplication, re-ordering, bit errors)', () => {
  it('a blacklist applied once; all attempts uploaded, each once, none lost', async () => {
    const { cm, modem, host, ref, events } = await world('lossy');
    for (let i = 0; i < 300; i++)
      cm.slot.clearing.noteAttempt(CSN_B, 1, RtcTime.of(2026, 11, 23, 11, i % 60));
    const ls = new LocalService(
      0,
      1,
      new PowerLineChannel(new SeededRng('clearing-line'), {
        loss: 0.15,
        duplicate: 0.2,
        corrupt: 0.05,
        latencyMs: [20, 200],
      }),
    );
    ls.attach(1, meterId, modem, ref.keyVersion);
    const t = ls.terminal(1);
    let answer;
    for (let i = 0; i < 50 && !answer; i++)
      answer = await host.sendBlacklist(t, ref, list(9, [CSN_A])).catch(() => undefined);
    expect(answer).toBeDefined();
    for (let i = 0; i < 5; i++) await host.sendBlacklist(t, ref, list(9, [CSN_A])).catch(() => undefined);
    expect(events.filter((e) => e.kind === 'blacklist' && e.status === BL_APPLIED)).toHaveLength(1);
    expect(cm.slot.clearing.blacklistVersion).toBe(9);
    const seen = new Map<number, string>();
    let next = 0;
    for (let tries = 0; tries < 200; tries++) {
      const a = await host.uploadRecords(t, ref, next).catch(() => undefined);
      if (!a) continue;
      for (const e of a.journal) {
        const key = `${e.kind}:${toHex(e.csn)}`;
        if (seen.has(e.seq)) expect(seen.get(e.seq)).toBe(key); // a repeat is the same entry
        seen.set(e.seq, key);
      }
      next = a.next;
      if (!a.moreJournal) break;
    }
    expect([...seen.keys()].sort((x, y) => x - y)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(ls.stats.framesRejected + ls.stats.lateOrForeign + ls.stats.timeouts).toBeGreaterThan(0);
  });
});
