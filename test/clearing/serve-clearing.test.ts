/**
 * The clearing inside the real server (issue 13): `meterpurse host serve` as a child process runs
 * collect → settle → blacklist on its `--clearing-interval` over the simulated power line (H = 55,
 * 54, 56 served by the simulated meters of `--field`). A stranger's card was pulled right after its
 * DEBIT (the proof never reached the SVM), leaving the meter's slot pending: the term passes, the
 * served host cancels it in the SVM (slot free, the SVM keeps nothing), the card's log comes in
 * through POST /clearing/card-records, and the vending point pays the 700 back — once.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { INS_DEBIT } from '../../card/applets/constants.js';
import { toHex } from '../../card/index.js';
import type { CardChannel } from '../../reader/CardChannel.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import type { SimulatedCardMeter } from '../../meter/cardslot/createCardMeter.js';
import { HostDb } from '../../host/service/HostDb.js';
import { ClearingService } from '../../host/clearing/ClearingService.js';
import { CreditBackService } from '../../host/clearing/CreditBackService.js';
import { cardRecordFields } from '../../host/clearing/records.js';
import { readCardLog } from '../../terminal/clearing/readCardLog.js';
import { interceptChannel } from '../reader/interceptChannel.js';
import { demoIssuer, newMeter, purseBalance, subscriber } from '../meter/cardWorld.js';
import { VENDING_TERMINAL } from '../transfer/world.js';
import { TEST_ADMIN_KEY, bearer } from '../host/apiAuth.js';
import { main } from '../../cli/main.js';
import { spawnHostServe } from '../host/spawnServe.js';

const SEED = 'serve-clearing';
const METER = 'C0DE01';
const OTHER = 'C0DE02';
const CSN = Uint8Array.of(0x4d, 0x50, 0, 0, 0, 0, 0x53, 0x01);
const LOST = '4D5000000000BAD1';
const auth = bearer(TEST_ADMIN_KEY);

const procs: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const post = (url: string, body: unknown) =>
  fetch(url, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
const get = async <T>(url: string): Promise<T> => (await fetch(url, { headers: auth })).json() as Promise<T>;

/** SIGTERM, and the exit status once the process is gone. */
function stop(p: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    p.once('exit', (code) => resolve(code));
    p.kill('SIGTERM');
  });
}

async function until<T>(
  what: string,
  f: () => Promise<T | undefined> | T | undefined,
  ms = 20_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A card of the demo issuer whose DEBIT of 700 happened at a real meter core, its answer lost. */
async function abandonedDebit() {
  const issuer = demoIssuer(SEED);
  const box: { cm?: SimulatedCardMeter } = {};
  let armed = true;
  const wrap = (inner: CardChannel): CardChannel =>
    interceptChannel(inner, async (c, next) => {
      const r = await next(c);
      if (armed && c.ins === INS_DEBIT) {
        armed = false;
        box.cm!.slot.remove(); // the stranger pulls the card: the DEBIT's answer never arrives
        return next(c);
      }
      return r;
    });
  const cm = await newMeter({
    issuer,
    meterId: Uint8Array.of(0xc0, 0xde, 0x01),
    svmMax: 1_000_000,
    seed: SEED,
    wrap,
  });
  box.cm = cm;
  const card = subscriber(issuer, { csn: CSN, balance: 5000, seed: 'stranger' });
  cm.slot.maxAmount = 700;
  expect((await cm.slot.insert(card.os)).accepted).toBe(false);
  expect(purseBalance(card)).toBe(4300);
  const log = await readCardLog(await new VirtualReader('read', card.os).connect());
  const debit = log.records.map(cardRecordFields).find((f) => f.type === 2 && f.amount === 700)!;
  return { issuer, card, log, debit };
}

interface FieldFile {
  [id: string]: { state: { clearing?: { pending: unknown[]; blacklistVersion: number } } };
}

describe('host serve runs the clearing on its schedule', () => {
  it("clears a stranger's abandoned transfer end to end: term, cancel in the SVM, slot free, credit-back paid once", async () => {
    const w = await abandonedDebit();
    const dir = mkdtempSync(join(tmpdir(), 'serve-clearing-'));
    dirs.push(dir);
    const db = join(dir, 'host.db');
    const fieldFile = join(dir, 'field.json');
    const base = ['--db', db, '--field', fieldFile, '--port', '0', '--issuer-seed', SEED];

    // first start, clearing off: the subscriber, two meters and the card are registered
    const first = await spawnHostServe([...base, '--clearing-interval', '0'], (p) => procs.push(p));
    const sub = (await (await post(`${first.url}/subscribers`, { name: 'S' })).json()) as { id: number };
    for (const [id, modem] of [
      [METER, 1],
      [OTHER, 2],
    ] as const)
      expect((await post(`${first.url}/meters`, { id, subscriberId: sub.id, ls: 1, modem })).status).toBe(
        201,
      );
    for (const serial of [toHex(CSN), LOST])
      expect((await post(`${first.url}/cards`, { serial, subscriberId: sub.id })).status).toBe(201);
    expect(await stop(first.proc)).toBe(0);
    expect(first.out()).not.toMatch(/clearing round/);

    // the meter's SVM holds the card's transfer pending in slot 0 (the stranger walked away)
    const field = JSON.parse(readFileSync(fieldFile, 'utf8')) as FieldFile;
    field[METER]!.state.clearing!.pending = [
      {
        slot: 0,
        csn: toHex(CSN),
        purse: 1,
        amount: 700,
        counter: w.debit.counter,
        dateTime: toHex(w.debit.dateTime),
        rv: toHex(w.debit.rv),
      },
    ];
    writeFileSync(fieldFile, JSON.stringify(field));

    // second start: clearing every 0.2 s, a term of 1 s
    const served = await spawnHostServe(
      [...base, '--clearing-interval', '0.2', '--clearing-term', '1'],
      (p) => procs.push(p),
    );
    type Ev = { events: Array<{ kind: string; meterId?: string; detail: string }> };
    const settled = await until('the settlement', async () => {
      const ev = (await get<Ev>(`${served.url}/events?limit=100`)).events;
      return ev.find((e) => e.kind === 'settled');
    });
    expect(settled.meterId).toBe(METER);
    expect(settled.detail).toMatch(/cancel -> settled-cancel/);
    const ev = (await get<Ev>(`${served.url}/events?limit=100`)).events;
    expect(ev.filter((e) => e.kind === 'settle-decided')).toEqual([
      expect.objectContaining({ meterId: METER, detail: expect.stringMatching(/cancel \(term-expired\)/) }),
    ]);
    // the slot is free in the meter's own (saved) state; the SVM kept nothing of the 700
    const after = JSON.parse(readFileSync(fieldFile, 'utf8')) as FieldFile;
    expect(after[METER]!.state.clearing!.pending).toEqual([]);

    // the card's log comes back through a vending point: its debit proof makes the credit-back payable
    const r = await post(`${served.url}/clearing/card-records`, {
      csn: toHex(w.log.csn),
      records: w.log.records.map((x) => toHex(x)),
    });
    expect(r.status).toBe(200);
    // another card is reported lost: the blacklist moves, the next rounds take version 1 to both meters
    expect((await post(`${served.url}/cards/${LOST}/blacklist`, {})).status).toBe(200);
    await until('the blacklist at both meters', () => {
      const f = JSON.parse(readFileSync(fieldFile, 'utf8')) as FieldFile;
      return [METER, OTHER].every((m) => f[m]!.state.clearing!.blacklistVersion === 1) ? true : undefined;
    });
    expect(await stop(served.proc)).toBe(0); // a clean stop: the round in flight ends first
    expect(served.out()).toMatch(/clearing round \d+: 2 meter\(s\).* 1 settled/);

    // the vending visit (the host's database, the card in the vending point's reader): paid once
    const hostDb = new HostDb(db);
    try {
      const c = new ClearingService(hostDb, { keys: w.issuer, purse: 1, termMs: 1000 });
      expect(c.creditBacks(toHex(CSN))).toEqual([expect.objectContaining({ state: 'payable', amount: 700 })]);
      const visit = {
        issuer: w.issuer,
        terminalId: VENDING_TERMINAL,
        dateTime: Uint8Array.of(0x26, 0x12, 0x05, 0x06, 0, 0),
      };
      const vending = new VirtualReader('vending', w.card.os);
      const once = await new CreditBackService(c).visit({ ...visit, card: await vending.connect() });
      expect(once.paid).toEqual([expect.objectContaining({ amount: 700, balance: 5000 })]);
      const again = await new CreditBackService(c).visit({ ...visit, card: await vending.connect() });
      expect(again.paid).toEqual([]);
      expect(purseBalance(w.card)).toBe(5000);
      expect(c.creditBacks(toHex(CSN))).toEqual([expect.objectContaining({ state: 'paid' })]);
    } finally {
      hostDb.close();
    }
  }, 60_000);

  it("--meters real: the round collects a real SVM's log (MAC'd under its own K_svm) after a recharge", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'serve-clearing-real-'));
    dirs.push(dir);
    const served = await spawnHostServe(
      ['--db', join(dir, 'host.db'), '--port', '0', '--meters', 'real', '--clearing-interval', '0.2'],
      (p) => procs.push(p),
    );
    const sub = (await (await post(`${served.url}/subscribers`, { name: 'R' })).json()) as { id: number };
    expect(
      (await post(`${served.url}/meters`, { id: 'C0FFEE', subscriberId: sub.id, ls: 2, modem: 3 })).status,
    ).toBe(201);
    const r = (await (
      await post(`${served.url}/recharges`, {
        requestId: 'real-clearing-1',
        meterId: 'C0FFEE',
        amount: 2500,
        method: 'card',
        account: '4111111111111111',
      })
    ).json()) as { state: string };
    expect(r.state).toBe('confirmed');
    type Rec = { records: number; balance: number | null; findings: unknown[] };
    const rec = await until('the SVM host-credit record', async () => {
      const m = await get<Rec>(`${served.url}/clearing/meters/C0FFEE`);
      return m.records > 0 ? m : undefined;
    });
    expect(rec.findings).toEqual([]);
    expect(rec.balance).toBeGreaterThan(0); // the 2500 credited, less what the token tank drew
    type Ev = { events: Array<{ kind: string }> };
    const kinds = (await get<Ev>(`${served.url}/events?limit=100`)).events.map((e) => e.kind);
    expect(kinds).not.toContain('clearing-refused'); // every record's MAC checked out
    expect(kinds).not.toContain('clearing-collect-failed');
    expect(await stop(served.proc)).toBe(0);
  }, 60_000);
});

describe('host serve clearing options', () => {
  for (const [option, value] of [
    ['--clearing-interval', '+1'],
    ['--clearing-interval', 'soon'],
    ['--clearing-interval', '0.0001'],
    ['--clearing-interval', '2147484'],
    ['--clearing-term', '1e3'],
  ] as const)
    it(`${option} ${value} is a usage error, nothing started`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'serve-clearing-opt-'));
      dirs.push(dir);
      let err = '';
      const status = await main(['host', 'serve', '--db', join(dir, 'host.db'), option, value], {
        out: () => undefined,
        err: (x) => void (err += x),
      });
      expect(status).toBe(2);
      expect(err).toMatch(new RegExp(`${option} must be seconds .*got ${value.replace(/[.+]/g, '\\$&')}`));
    });
});
