/**
 * `meterpurse utility sell|configure|poll|status|vend` (cli/commands/utility.ts): the utility's
 * server on the command line against a real `host serve` process (simulated meters), the relay key
 * made by the admin; the attacks a command line invites (a ref re-used for another amount, a key
 * of another purse, a host that is down, tampered ceremony files, fields one past their maximum);
 * and `utility vend` (alias `collect`) through pcscd + vpcd with a card file served by `card serve`:
 * the vending point collects the reading and delivers the utility's outstanding sale and configuration.
 */
import type { ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Io } from '../../cli/Command.js';
import { main } from '../../cli/main.js';
import { HttpRelayPort } from '../../host/utility/RelayPort.js';
import { UtilityDb } from '../../host/utility/db/UtilityDb.js';
import { UtilityServer } from '../../host/utility/UtilityServer.js';
import { IssuerKeys } from '../../card/applets/IssuerKeys.js';
import { NodeCipherProvider } from '../../card/index.js';
import { remoteLoadMacInput } from '../../card/applets/purse/offline.js';
import { equalBytes, fromHex } from '../../card/util/hex.js';
import { u32 } from '../applets/harness.js';
import { bearer, TEST_ADMIN_KEY } from '../host/apiAuth.js';
import { spawnHostServe } from '../host/spawnServe.js';
import { spawnCli } from './spawnCli.js';
import { openCardFile, type OpenedCardFile } from '../../cli/cardfile/index.js';
import { makeSam, type Device } from '../../card/applets/profiles.js';
import type { SamApplet } from '../../card/applets/sam/SamApplet.js';
import { AID_PURSE, AID_SAM } from '../../card/applets/constants.js';
import { OfflineReading } from '../../card/applets/purse/offline.js';
import { SeededRng } from '../../card/crypto/rng.js';
import { A, ok } from '../applets/harness.js';
import { GAS_METER, readingFields } from '../applets/offline-helpers.js';
import { pcscMissing, READER_0, startCardServe, startPcscd, type PrivatePcscd } from '../pcsc/harness.js';

const CSN = '4D50000000000001';
const GAS = 2;
const WATER = 3;
const METER = '00A001';

/**
 * Checks REMOTE LOAD data (docs/purse-spec.md §13.2: seq(4) ‖ amount(4) ‖ seller id(4) ‖
 * date-time(6) ‖ MAC(8)) against `issuer`'s K_remote of card `csn`, purse `purse`.
 * @returns its seq and amount when the MAC verifies, else null.
 */
function verifyRemoteLoadForTest(
  issuer: IssuerKeys,
  csn: string,
  purse: number,
  data: Uint8Array,
): { seq: number; amount: number } | null {
  expect(data.length).toBe(26);
  const f = {
    csn: fromHex(csn),
    purse,
    seq: u32(data, 0),
    amount: u32(data, 4),
    sellerId: data.subarray(8, 12),
    dateTime: data.subarray(12, 18),
  };
  const mac = issuer.crypto.mac(issuer.remoteKey(f.csn, purse), remoteLoadMacInput(f));
  return equalBytes(mac, data.subarray(18, 26)) ? { seq: f.seq, amount: f.amount } : null;
}

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (s) => void (out += s), err: (s) => void (err += s) };
  const code = await main(args, io);
  return { code, out, err };
}

describe('utility: --help of every sub-command', () => {
  it.each(['sell', 'configure', 'poll', 'status', 'vend', 'collect'])(
    'utility %s --help lists its options',
    async (c) => {
      const r = await run(['utility', c, '--help']);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`^usage: meterpurse utility ${c} --db <file> --purse <2..15>`));
      if (c !== 'status') expect(r.out).toMatch(/--issuer-seed <S> +.*PUBLIC TEST KEYS/);
      if (c !== 'status') expect(r.out).toMatch(/--components <file>/);
    },
  );
  it('`utility` alone lists the six', async () => {
    const r = await run(['utility', '--help']);
    expect(r.code).toBe(0);
    for (const c of ['sell', 'configure', 'poll', 'status', 'vend', 'collect'])
      expect(r.out).toContain(`utility ${c}`);
  });
});

describe('utility against a running host serve', () => {
  const procs: ChildProcess[] = [];
  let dir: string;
  let url: string;
  let keyFile: string;
  let waterKeyFile: string;
  let gasKey: string;
  let db: string;
  const relayArgs = () => ['--db', db, '--purse', String(GAS), '--host', url, '--api-key-file', keyFile];
  const seeded = () => [...relayArgs(), '--issuer-seed', 'cli-utility'];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'utility-cli-'));
    db = join(dir, 'gas.db');
    const host = await spawnHostServe(
      ['--db', join(dir, 'host.db'), '--port', '0', '--relay-interval', '0.2', '--clearing-interval', '0'],
      (p) => procs.push(p),
    );
    url = host.url;
    const admin = { ...bearer(TEST_ADMIN_KEY), 'content-type': 'application/json' };
    const post = async (path: string, body: unknown) =>
      fetch(`${url}${path}`, { method: 'POST', headers: admin, body: JSON.stringify(body) });
    const sub = (await (await post('/subscribers', { name: 'utility-cli' })).json()) as { id: number };
    expect((await post('/meters', { id: METER, subscriberId: sub.id, ls: 1, modem: 1 })).status).toBe(201);
    expect((await post('/cards', { serial: CSN, subscriberId: sub.id })).status).toBe(201);
    const gas = await post('/relay/keys', { purse: GAS, name: 'gas' });
    expect(gas.status).toBe(201);
    gasKey = ((await gas.json()) as { key: string }).key;
    const water = (await (await post('/relay/keys', { purse: WATER, name: 'water' })).json()) as {
      key: string;
    };
    keyFile = join(dir, 'gas.key');
    waterKeyFile = join(dir, 'water.key');
    writeFileSync(keyFile, `${gasKey}\n`);
    writeFileSync(waterKeyFile, water.key);
  }, 40_000);

  afterAll(() => {
    for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('sell twice with the same ref: one sale, one seq, one relay command, queued at the host', async () => {
    const args = [...seeded(), '--card', CSN, '--amount', '5000', '--ref', 'order-1'];
    const a = await run(['utility', 'sell', ...args]);
    expect(a.err).toBe('');
    expect(a.code).toBe(0);
    expect(a.out).toBe(`sale order-1: card ${CSN} purse 2 amount 5000 seq 1 state in-transit relay id 1\n`);
    const b = await run(['utility', 'sell', ...args]);
    expect(b.code).toBe(0);
    expect(b.out).toBe(a.out);
    // a new ref is a new sale: the next seq, never the same one
    const c = await run([
      'utility',
      'sell',
      ...seeded(),
      '--card',
      CSN.toLowerCase(),
      '--amount',
      '250',
      '--ref',
      'order-2',
    ]);
    expect(c.code).toBe(0);
    expect(c.out).toMatch(
      /^sale order-2: card 4D50000000000001 purse 2 amount 250 seq 2 state in-transit relay id 2\n$/,
    );
    // the host holds the command (not yet answered: no card was inserted)
    const port = new HttpRelayPort(url, gasKey);
    expect(['queued', 'waiting']).toContain((await port.command(1)).state);
    // and the relay's rounds carry it to the subscriber's meter: its route becomes 'sent'
    const routes = () => {
      const h = new Database(join(dir, 'host.db'), { readonly: true });
      try {
        return h
          .prepare('SELECT meter_id, command_id, state FROM card_command_routes ORDER BY command_id')
          .all();
      } finally {
        h.close();
      }
    };
    for (let i = 0; i < 100 && JSON.stringify(routes()).split('"sent"').length < 3; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(routes()).toEqual([
      { meter_id: METER, command_id: 1, state: 'sent' },
      { meter_id: METER, command_id: 2, state: 'sent' },
    ]);
    // what went out is the REMOTE LOAD signed under this utility's K_remote, for this card, seq 1
    const d = new UtilityDb(db);
    try {
      const sale = d.sale('order-1')!;
      const issuer = IssuerKeys.demo(new NodeCipherProvider(), 'cli-utility');
      expect(verifyRemoteLoadForTest(issuer, CSN, GAS, sale.data)).toEqual({ seq: 1, amount: 5000 });
      expect(
        verifyRemoteLoadForTest(IssuerKeys.demo(new NodeCipherProvider(), '0'), CSN, GAS, sale.data),
      ).toBeNull();
    } finally {
      d.close();
    }
  });

  it('the same ref after the relay answered it: the same sale and relay id, exit 0, nothing re-sent', async () => {
    const d = new UtilityDb(db);
    try {
      // what poll records for an answer the card refused (unauthenticated: books nothing)
      d.tx(() => d.doneInTx('L:order-2', { outcome: 0, sw: 0x6300, answer: null }));
    } finally {
      d.close();
    }
    const r = await run([
      'utility',
      'sell',
      ...seeded(),
      '--card',
      CSN,
      '--amount',
      '250',
      '--ref',
      'order-2',
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toBe(`sale order-2: card ${CSN} purse 2 amount 250 seq 2 state in-transit relay id 2\n`);
    const after = new UtilityDb(db);
    try {
      expect(after.outbox('new')).toEqual([]);
      expect(after.loadAttempts('order-2')).toBe(1);
    } finally {
      after.close();
    }
  });

  it('a ref kept and re-used for another amount or card is refused, exit 2, and creates no sale', async () => {
    const more = await run([
      'utility',
      'sell',
      ...seeded(),
      '--card',
      CSN,
      '--amount',
      '5001',
      '--ref',
      'order-1',
    ]);
    expect(more.code).toBe(2);
    expect(more.err).toMatch(/^meterpurse utility sell: --ref order-1: ref-reused: /);
    const other = await run([
      'utility',
      'sell',
      ...seeded(),
      '--card',
      '4D50000000000002',
      '--amount',
      '5000',
      '--ref',
      'order-1',
    ]);
    expect(other.code).toBe(2);
    const s = await run(['utility', 'status', '--db', db, '--purse', '2', '--ref', 'order-1']);
    expect(s.out).toMatch(
      /^sale order-1: card 4D50000000000001 purse 2 amount 5000 seq 1 state in-transit\n/,
    );
  });

  it('configure signs version 1, then 2, and submits each', async () => {
    const cfg = [
      ...seeded(),
      '--card',
      CSN,
      '--meter',
      '0a0b0c',
      '--emergency',
      '500',
      '--unit-charge',
      '85',
      '--blacklist-version',
      '3',
    ];
    const a = await run(['utility', 'configure', ...cfg]);
    expect(a.err).toBe('');
    expect(a.code).toBe(0);
    expect(a.out).toMatch(
      /^configuration 1: card 4D50000000000001 purse 2 bound to meter 0A0B0C, emergency 500, unit charge 85, blacklist 3; relay id \d+\n$/,
    );
    const b = await run(['utility', 'configure', ...cfg]);
    expect(b.out).toMatch(/^configuration 2: /);
  });

  it('configure refuses a field one past its maximum and a meter id of the wrong length', async () => {
    const base = [
      ...seeded(),
      '--card',
      CSN,
      '--meter',
      '0A0B0C',
      '--emergency',
      '500',
      '--unit-charge',
      '85',
      '--blacklist-version',
      '3',
    ];
    const at = (opt: string, value: string) => {
      const a = [...base];
      a[a.indexOf(opt) + 1] = value;
      return run(['utility', 'configure', ...a]);
    };
    expect((await at('--emergency', '4294967295')).code).toBe(0);
    const over = await at('--emergency', '4294967296');
    expect(over.code).toBe(2);
    expect(over.err).toMatch(/--emergency must be an integer 0\.\.4294967295, got 4294967296/);
    expect((await at('--unit-charge', '-1')).code).toBe(2);
    expect((await at('--meter', '0A0B')).err).toMatch(/--meter must be an offline meter id, 3 bytes/);
  });

  it('poll: one round, the books balanced (sold = in transit + on card), exit 0; status lists the sales', async () => {
    const p = await run(['utility', 'poll', ...seeded()]);
    expect(p.err).toBe('');
    expect(p.code).toBe(0);
    expect(p.out).toMatch(
      /^poll: 0 answer\(s\), 0 sale\(s\) booked on card, 0 reading\(s\) stored; outbox: 0 not submitted, \d+ awaiting an answer\n/,
    );
    expect(p.out).toMatch(/books: sold 5250 = in transit 5250 \+ on card 0: balanced\n$/);
    const s = await run(['utility', 'status', '--db', db, '--purse', '2']);
    expect(s.code).toBe(0);
    expect(s.out.split('\n').filter((l) => l.startsWith('sale '))).toEqual([
      `sale order-1: card ${CSN} purse 2 amount 5000 seq 1 state in-transit`,
      `sale order-2: card ${CSN} purse 2 amount 250 seq 2 state in-transit`,
    ]);
    expect(s.out).toMatch(/books: sold 5250 = in transit 5250 \+ on card 0: balanced\n$/);
    const none = await run(['utility', 'status', '--db', db, '--purse', '2', '--ref', 'nope']);
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/no sale with --ref nope/);
  });

  it("a key of another purse: the relay's 403 and its code, exit 1; the sale stays in the outbox and goes with the right key", async () => {
    const args = [
      '--db',
      db,
      '--purse',
      '2',
      '--host',
      url,
      '--api-key-file',
      waterKeyFile,
      '--issuer-seed',
      'cli-utility',
    ];
    const r = await run(['utility', 'sell', ...args, '--card', CSN, '--amount', '10', '--ref', 'order-3']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/seq 3 state in-transit relay id none/);
    expect(r.err).toMatch(
      new RegExp(
        `^meterpurse utility sell: sale order-3 \\(seq 3\\) is recorded but not submitted: the host at ${url.replace(/[.]/g, '\\.')} refused: 403 purse-scope: `,
      ),
    );
    // a poll with that key: the host answers 404 for the gas commands (nothing leaks), exit 1
    const p = await run(['utility', 'poll', ...args]);
    expect(p.code).toBe(1);
    expect(p.out).toMatch(/books: sold 5260 = in transit 5260 \+ on card 0: balanced\n$/);
    expect(p.err).toMatch(/^meterpurse utility poll: the host at \S+ refused: 40[34] [a-z-]+: /);
    const again = await run([
      'utility',
      'sell',
      ...seeded(),
      '--card',
      CSN,
      '--amount',
      '10',
      '--ref',
      'order-3',
    ]);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/seq 3 state in-transit relay id \d+\n$/);
  });

  it('a host that is down: exit 1 naming the URL; the same ref later gets the same seq', async () => {
    // a port that was free a moment ago: nothing listens there
    const free = createServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
    const port = (free.address() as AddressInfo).port;
    await new Promise((r) => free.close(r));
    const down = `http://127.0.0.1:${port}`;
    const args = [
      '--db',
      db,
      '--purse',
      '2',
      '--host',
      down,
      '--api-key-file',
      keyFile,
      '--issuer-seed',
      'cli-utility',
    ];
    const r = await spawnCli([
      'utility',
      'sell',
      ...args,
      '--card',
      CSN,
      '--amount',
      '20',
      '--ref',
      'order-4',
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`cannot reach the host at ${down}: ECONNREFUSED`);
    const p = await run(['utility', 'poll', ...args]);
    expect(p.code).toBe(1);
    expect(p.err).toBe(`meterpurse utility poll: cannot reach the host at ${down}: ECONNREFUSED\n`);
    const up = await run([
      'utility',
      'sell',
      ...seeded(),
      '--card',
      CSN,
      '--amount',
      '20',
      '--ref',
      'order-4',
    ]);
    expect(up.code).toBe(0);
    expect(up.out).toMatch(/seq 4 state in-transit relay id \d+\n$/);
  });

  it('a host that takes the connection and never answers: exit 1 after --timeout, naming the URL', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((sock) => void sockets.push(sock));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const hung = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const args = [
        '--db',
        db,
        '--purse',
        '2',
        '--host',
        hung,
        '--api-key-file',
        keyFile,
        '--issuer-seed',
        'cli-utility',
      ];
      const p = await run(['utility', 'poll', ...args, '--timeout', '1']);
      expect(p.code).toBe(1);
      expect(p.err).toMatch(
        new RegExp(
          `^meterpurse utility poll: cannot reach the host at ${hung.replace(/[.]/g, '\\.')}: .*timeout`,
        ),
      );
      expect((await run(['utility', 'poll', ...args, '--timeout', '0'])).code).toBe(2);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it('bad inputs are usage errors (exit 2) and sign nothing', async () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ['--card', '4D5000000000001', '--amount', '1', '--ref', 'x'],
        /--card must be a card serial number, 8 bytes \(16 hex digits\)/,
      ],
      [['--card', 'ZZ50000000000001', '--amount', '1', '--ref', 'x'], /--card must be/],
      [['--card', CSN, '--amount', '0', '--ref', 'x'], /--amount must be an integer 1\.\.4294967295, got 0/],
      [
        ['--card', CSN, '--amount', '4294967296', '--ref', 'x'],
        /--amount must be an integer 1\.\.4294967295/,
      ],
      [['--card', CSN, '--amount', '1.5', '--ref', 'x'], /--amount must be/],
      [['--card', CSN, '--amount', '1', '--ref', 'x'.repeat(49)], /--ref must be 1\.\.48 characters/],
      [['--card', CSN, '--amount', '1', '--ref', 'x', '--seller', '0102'], /--seller must be/],
    ];
    for (const [extra, why] of cases) {
      const r = await run(['utility', 'sell', ...seeded(), ...extra]);
      expect(r.code, extra.join(' ')).toBe(2);
      expect(r.err).toMatch(why);
    }
    const purse1 = await run([
      'utility',
      'sell',
      ...seeded().map((a) => (a === '2' ? '1' : a)),
      '--card',
      CSN,
      '--amount',
      '1',
      '--ref',
      'x',
    ]);
    expect(purse1.code).toBe(2);
    expect(purse1.err).toMatch(/--purse must be an integer 2\.\.15, got 1/);
    const noKeys = await run([
      'utility',
      'sell',
      ...relayArgs(),
      '--card',
      CSN,
      '--amount',
      '1',
      '--ref',
      'x',
    ]);
    expect(noKeys.code).toBe(2);
    expect(noKeys.err).toMatch(/masters are required/);
    const badUrl = await run([
      'utility',
      'poll',
      '--db',
      db,
      '--purse',
      '2',
      '--host',
      'ftp://x',
      '--api-key-file',
      keyFile,
      '--issuer-seed',
      '0',
    ]);
    expect(badUrl.code).toBe(2);
    const noFile = await run([
      'utility',
      'poll',
      '--db',
      db,
      '--purse',
      '2',
      '--host',
      url,
      '--api-key-file',
      join(dir, 'none'),
      '--issuer-seed',
      '0',
    ]);
    expect(noFile.code).toBe(2);
    expect(noFile.err).toMatch(/--api-key-file .*none: ENOENT/);
    // nothing of the above made a sale
    const s = await run(['utility', 'status', '--db', db, '--purse', '2']);
    expect(
      s.out
        .split('\n')
        .filter((l) => l.startsWith('sale '))
        .map((l) => l.split(':')[0]),
    ).toEqual(['sale order-1', 'sale order-2', 'sale order-3', 'sale order-4']);
  });

  it("the key ceremony's files give the masters; a tampered component or a missing custodian is refused", async () => {
    const cer = join(dir, 'ceremony');
    const g = await run([
      'keys',
      'ceremony',
      'generate',
      '--utilities',
      '2',
      '--custodians',
      '2',
      '--out',
      cer,
    ]);
    expect(g.code, g.err).toBe(0);
    const c1 = join(cer, 'custodian-1.json');
    const c2 = join(cer, 'custodian-2.json');
    const m = join(cer, 'manifest.json');
    const keyArgs = ['--components', c1, c2, '--manifest', m];
    const cdb = join(dir, 'ceremony-gas.db');
    const common = ['--db', cdb, '--purse', '2', '--host', url, '--api-key-file', keyFile];
    const r = await run([
      'utility',
      'sell',
      ...common,
      ...keyArgs,
      '--card',
      CSN,
      '--amount',
      '7',
      '--ref',
      'c-1',
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    // the load is signed under the combined MK_credit[2]: it verifies under neither demo issuer
    const d = new UtilityDb(cdb);
    const data = d.sale('c-1')!.data;
    d.close();
    expect(
      verifyRemoteLoadForTest(IssuerKeys.demo(new NodeCipherProvider(), 'cli-utility'), CSN, GAS, data),
    ).toBeNull();
    // one custodian alone
    const one = await run(['utility', 'poll', ...common, '--components', c1, '--manifest', m]);
    expect(one.code).toBe(2);
    expect(one.err).toMatch(/--components needs the files of every custodian/);
    // a flipped component digit: its KCV no longer matches
    const text = readFileSync(c2, 'utf8');
    const bad = join(cer, 'custodian-2-bad.json');
    writeFileSync(
      bad,
      text.replace(/"component": "(.)/, (_, ch: string) => `"component": "${ch === '0' ? '1' : '0'}`),
    );
    const t = await run(['utility', 'poll', ...common, '--components', c1, bad, '--manifest', m]);
    expect(t.code).toBe(2);
    expect(t.err).toMatch(/key ceremony files: .*does not match its KCV/);
    // a ceremony without the purse's slots
    const both = await run(['utility', 'poll', ...common.map((a) => (a === '2' ? '3' : a)), ...keyArgs]);
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/no key in slot 31 \(MK_auth\[3\]\) for purse 3/);
    const mixed = await run(['utility', 'poll', ...common, ...keyArgs, '--issuer-seed', '0']);
    expect(mixed.code).toBe(2);
  });
});

const pcscGap = pcscMissing();
if (pcscGap) console.warn(`utility vend / collect --reader over PC/SC skipped: ${pcscGap}`);

describe.skipIf(pcscGap !== undefined)('utility vend / collect --reader through pcscd + vpcd', () => {
  let pcscd: PrivatePcscd;
  let dir: string;
  const quiet: Io = { out: () => undefined, err: () => undefined };
  const SEED = 'cli-collect';
  const csn = fromHex(CSN);

  beforeAll(async () => {
    pcscd = await startPcscd({ nodelay: true });
    dir = mkdtempSync(join(tmpdir(), 'utility-collect-'));
  }, 30_000);
  afterAll(async () => {
    await pcscd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Opens the card file, runs a gas SAM session with the card (the offline meter at the card slot),
   * lets `f` use it, and saves the card.
   */
  function meterSession<T>(
    file: string,
    key: string,
    f: (card: OpenedCardFile['card'], sam: Device<SamApplet>) => T,
  ): T {
    const opened = openCardFile(file, { keyFile: key });
    const card = opened.card;
    card.powerUp();
    const sam = makeSam(IssuerKeys.demo(new NodeCipherProvider(), SEED), {
      meterId: GAS_METER,
      terminalId: fromHex('0000A0B0'),
      purse: GAS,
      rng: new SeededRng('utility-collect-sam'),
    });
    sam.os.powerUp();
    ok(sam.os, A.selectAid(AID_SAM));
    ok(card, A.selectAid(AID_PURSE));
    const rc = ok(card, A.getChallenge());
    const init = ok(sam.os, A.authInit(csn, rc));
    const sCard = ok(card, A.mutualAuthenticate(init.subarray(0, 8), init.subarray(8, 16), GAS));
    ok(sam.os, A.authFinish(sCard));
    const out = f(card, sam);
    card.powerDown();
    opened.save();
    return out;
  }

  /** A subscriber card file whose gas SFI 04 record holds a reading signed by the gas meter's SAM, then `tamper`ed. */
  async function cardWithReading(
    name: string,
    tamper?: (record: Uint8Array) => void,
  ): Promise<{ file: string; key: string; record: Uint8Array }> {
    const file = join(dir, `${name}.card`);
    const key = join(dir, 'card.key');
    const made = await main(
      [
        'card',
        'new',
        '--profile',
        'subscriber',
        '--seed',
        SEED,
        '--csn',
        CSN,
        '--out',
        file,
        '--key-file',
        key,
      ],
      quiet,
    );
    expect(made).toBe(0);
    const record = meterSession(file, key, (card, sam) => {
      const r = new OfflineReading(readingFields(7, { cumulative: 4242 }));
      const rec = r.withMac(ok(sam.os, A.samSignReadings(csn, r.signedPart()))).encode();
      tamper?.(rec);
      ok(card, A.updateOfflineReadings(2, rec));
      return rec;
    });
    return { file, key, record };
  }

  /** The gas record (position 2) of SFI 04 on the card file now. */
  function recordOnCard(file: string, key: string): Uint8Array {
    const opened = openCardFile(file, { keyFile: key });
    opened.card.powerUp();
    ok(opened.card, A.selectAid(AID_PURSE));
    return ok(opened.card, A.readOfflineReadings(2));
  }

  /** The last line of a session that had no load to deliver. */
  const none = `card ${CSN} purse 2: delivered 0 load(s), booked 0 (amount 0)\n`;

  const collect = (db: string, key: string, verb: 'vend' | 'collect' = 'collect') =>
    spawnCli(
      [
        'utility',
        verb,
        '--db',
        db,
        '--purse',
        '2',
        '--reader',
        READER_0,
        '--issuer-seed',
        SEED,
        '--card-timeout',
        '20',
      ],
      { ...pcscd.env, MP_CARD_KEY_FILE: key },
    );

  it('reads the signed reading over APDUs, stores it once, clears it on the card; a second collect finds none', async () => {
    const { file, key, record } = await cardWithReading('good');
    const db = join(dir, 'gas.db');
    const served = await startCardServe(file, pcscd.port, { ...pcscd.env, MP_CARD_KEY_FILE: key });
    let r;
    let again;
    try {
      r = await collect(db, key);
      again = await collect(db, key);
    } finally {
      await served.stop();
    }
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      `card ${CSN} purse 2: reading of meter 0A0B0C seq 7: stored, anomalies tamper; cleared on the card\n` +
        none,
    );
    expect(again.code).toBe(0);
    expect(again.out).toBe(`card ${CSN} purse 2: no reading on the card; not cleared\n` + none);
    // the server holds it, marked cleared, byte for byte; the card's record is zeros now
    const d = new UtilityDb(db);
    try {
      const stored = d.reading('0A0B0C', 7)!;
      expect(stored.cumulative).toBe(4242);
      expect(stored.cleared).toBe(true);
      expect(equalBytes(stored.record, record)).toBe(true);
    } finally {
      d.close();
    }
    expect(recordOnCard(file, key).every((b) => b === 0)).toBe(true);
  }, 90_000);

  it('a clear lost after the reading was stored (card pulled, power cut): the next collect stores nothing twice and clears it', async () => {
    const { file, key, record } = await cardWithReading('torn');
    const db = join(dir, 'gas-torn.db');
    const env = { ...pcscd.env, MP_CARD_KEY_FILE: key };
    let served = await startCardServe(file, pcscd.port, env);
    let first;
    try {
      first = await collect(db, key);
    } finally {
      await served.stop();
    }
    expect(first.code).toBe(0);
    // the CLEAR READINGS never reached the card: its record is the reading again
    meterSession(file, key, (card) => ok(card, A.updateOfflineReadings(2, record)));
    served = await startCardServe(file, pcscd.port, env);
    let second;
    try {
      second = await collect(db, key);
    } finally {
      await served.stop();
    }
    expect(second.code).toBe(0);
    expect(second.out).toBe(
      `card ${CSN} purse 2: reading of meter 0A0B0C seq 7: duplicate, anomalies tamper; cleared on the card\n` +
        none,
    );
    const d = new UtilityDb(db);
    try {
      expect(d.readingsOf('0A0B0C')).toHaveLength(1);
      expect(d.conflicts('0A0B0C')).toBe(0);
    } finally {
      d.close();
    }
    expect(recordOnCard(file, key).every((b) => b === 0)).toBe(true);
  }, 90_000);

  it('a reading edited on the card (cumulative changed) is refused, exit 1, never stored and left on the card', async () => {
    const { file, key, record } = await cardWithReading('tampered', (rec) => {
      rec[18]! ^= 0x01; // the low byte of the cumulative (offset 15..18)
    });
    const db = join(dir, 'gas-tampered.db');
    const served = await startCardServe(file, pcscd.port, { ...pcscd.env, MP_CARD_KEY_FILE: key });
    let r;
    try {
      r = await collect(db, key);
    } finally {
      await served.stop();
    }
    expect(r.code).toBe(1);
    expect(r.out).toBe(
      `card ${CSN} purse 2: reading of meter 0A0B0C seq 7: refused (bad-mac); not cleared\n` + none,
    );
    const d = new UtilityDb(db);
    try {
      expect(d.reading('0A0B0C', 7)).toBeUndefined();
      expect(d.events('tampered-reading')).toHaveLength(1);
    } finally {
      d.close();
    }
    expect(equalBytes(recordOnCard(file, key), record)).toBe(true);
  }, 90_000);

  it('utility vend delivers the sale and configuration the relay has not carried, books the receipt, and a second vend finds nothing', async () => {
    const { file, key } = await cardWithReading('vend');
    const db = join(dir, 'gas-vend.db');
    // the utility sold and configured while the host was down: both wait in its outbox
    const down = {
      submit: () => Promise.reject(new Error('connection refused')),
      command: () => Promise.reject(new Error('connection refused')),
      readings: () => Promise.reject(new Error('connection refused')),
    };
    const server = new UtilityServer({
      db: new UtilityDb(db),
      issuer: IssuerKeys.demo(new NodeCipherProvider(), SEED),
      purse: GAS,
      relay: down,
      clock: () => Date.UTC(2026, 11, 5, 8, 0, 0),
      sellerId: fromHex('47415331'),
    });
    try {
      await server.sell(CSN, 1234, 'counter-1');
      await server.configure(CSN, {
        meterId: '0A0B0C',
        emergencyLimit: 300,
        unitCharge: 85,
        blacklistVersion: 2,
      });
    } finally {
      server.db.close();
    }
    const served = await startCardServe(file, pcscd.port, { ...pcscd.env, MP_CARD_KEY_FILE: key });
    let r;
    let again;
    try {
      r = await collect(db, key, 'vend');
      again = await collect(db, key, 'vend');
    } finally {
      await served.stop();
    }
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      [
        `card ${CSN} purse 2: reading of meter 0A0B0C seq 7: stored, anomalies tamper; cleared on the card`,
        `card ${CSN} purse 2: configuration version 1: applied`,
        `card ${CSN} purse 2: load counter-1 seq 1 amount 1234: booked (applied now), balance 1234`,
        `card ${CSN} purse 2: delivered 1 load(s), booked 1 (amount 1234)`,
        '',
      ].join('\n'),
    );
    expect(again.out).toBe(`card ${CSN} purse 2: no reading on the card; not cleared\n` + none);
    const d = new UtilityDb(db);
    try {
      expect(d.sale('counter-1')).toMatchObject({ state: 'on-card', outcome: 1, balanceAfter: 1234 });
      expect(d.configs(CSN, GAS)).toEqual([{ version: 1, meterId: '0A0B0C', state: 'applied', sw: 0x9000 }]);
      // nothing left for the relay: the entries never submitted were retired by the vending point
      expect(d.outbox('new')).toEqual([]);
    } finally {
      d.close();
    }
  }, 90_000);

  it('no such reader: exit 1 naming it', async () => {
    const r = await spawnCli(
      [
        'utility',
        'collect',
        '--db',
        join(dir, 'x.db'),
        '--purse',
        '2',
        '--reader',
        'No Such Reader 99',
        '--issuer-seed',
        SEED,
      ],
      pcscd.env,
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^meterpurse utility collect: no PC\/SC reader 'No Such Reader 99'/);
  }, 30_000);
});
