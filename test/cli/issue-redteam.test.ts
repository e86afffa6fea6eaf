/**
 * Red team of `meterpurse card issue` (issue 12), in process: hostile CSVs through the command,
 * resumes against an edited CSV, a journal of another MKC / folder, corrupted journals, a full
 * disk, every host refusal, secrets in output, files and the journal, file modes. Regressions:
 * a full disk or a file in the way was an "internal error" (exit 70); a journal resumed with
 * another MKC or into another --out folder silently mixed keys or counted cards that are not
 * there as done; a --host URL that can never work stopped the batch only after its first card
 * (and a user:password in it went into the audit log); a header-only batch "issued 0 cards";
 * a batch file of any size was read whole into memory before the limit was checked.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openCardFile } from '../../cli/cardfile/index.js';
import { CardFileLock } from '../../cli/cardfile/CardFileLock.js';
import { BatchJournal } from '../../cli/issue/BatchJournal.js';
import { VirtualReader } from '../../reader/index.js';
import { MasterKeyCard, readChip } from '../../terminal/index.js';
import { toHex } from '../../card/index.js';
import { MKC_PIN, issueBatch, makeBureau, startHost, type Bureau } from './issueFixture.js';

const dirs: string[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});
beforeAll(() => {
  process.env['MP_MKC_PIN'] = MKC_PIN;
  return () => {
    delete process.env['MP_MKC_PIN'];
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'issue-rt-'));
  dirs.push(d);
  return d;
}

const START = '4D50000000000001';

const run = issueBatch;

function cardsIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.card'))
    .sort();
}

async function cardOf(b: Bureau, path: string) {
  const opened = openCardFile(path, { keyFile: b.keyFile, rollback: false });
  return readChip(await new VirtualReader('check', opened.card).connect());
}

async function mkcCounter(b: Bureau): Promise<number> {
  const opened = openCardFile(b.mkcPath, { keyFile: b.keyFile, rollback: false });
  const mkc = await MasterKeyCard.open(await new VirtualReader('x', opened.card).connect());
  return (await mkc.status()).issueCounter;
}

function audit(path: string): Array<Record<string, unknown>> {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A host that answers POST /cards with `status` and a JSON error (or `body`, and `headers`). */
async function fakeHost(
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits++;
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body ?? { error: `e${status}`, message: `status ${status}` }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits };
}

describe('card issue red team: hostile CSVs through the command', () => {
  it('a hostile file: bad rows by line with escapes shown escaped, good rows issued with exactly their values', async () => {
    const b = await makeBureau(tmp());
    const csv =
      '\ufeffsubscriber,purses,pin,expiry,name\r\n' +
      '1,1:5000;2:7,1234,301231,"Doe,\r\n J"\r\n' + // a line break inside a name: bad
      '2,1:1e3,,,\r\n' +
      '3,1:5;1:6,,,\r\n' +
      '\u001b[2J,1:5,,,\r\n' +
      "4,1:500000;15:0,,,=cmd|' /C calc'!A0\r\n" +
      '5,1:5,123,,\r\n' +
      '6,1:5,,200101,\r\n' +
      '9007199254740993,1:5,,,\r\n';
    const r = await run(b, ['--serial-start', START], csv);
    expect(r.err).toBe('');
    expect(r.status).toBe(65);
    // eslint-disable-next-line no-control-regex
    expect(r.out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    expect(r.out).toMatch(/^bad row: line 2 \(subscriber 1\): bad name/m);
    expect(r.out).toMatch(/^bad row: line 4 \(subscriber 2\): invalid amount '1e3'/m);
    expect(r.out).toMatch(/^bad row: line 5 \(subscriber 3\): purse 1 given twice$/m);
    expect(r.out).toMatch(
      /^bad row: line 6 \(subscriber \\u001b\[2J\): subscriber '\\u001b\[2J' is not an id/m,
    );
    expect(r.out).toMatch(/^bad row: line 8 \(subscriber 5\): bad PIN/m);
    expect(r.out).toMatch(/^bad row: line 9 \(subscriber 6\): bad expiry '200101': in the past/m);
    expect(r.out).toMatch(/^bad row: line 10 \(subscriber 9007199254740993\): subscriber/m);
    // utility 15 is valid CSV but not in this MKC: that row refused, the batch goes on (was: the
    // batch stopped at this row, every run)
    expect(r.out).toMatch(
      /line 7 subscriber 4: refused: purse 15: master-key card 4D4B430000000001 holds no keys of utility 15/,
    );
    expect(cardsIn(r.outDir)).toEqual([]);
    const ok = await run(b, [], 'subscriber,purses\n4,1:500000;5:0\n');
    expect(ok.status).toBe(0);
    expect(cardsIn(r.outDir)).toEqual([`${START}.card`]);
    const info = await cardOf(b, join(r.outDir, `${START}.card`));
    expect([info.lcs, toHex(info.csn!)]).toEqual([5, START]);
    // its keys: MK_tr[1] and the masters of utilities 1 and 5 only
    const issued = audit(join(r.outDir, 'issue.journal.audit.jsonl')).filter((e) => e.event === 'issued');
    expect(issued).toHaveLength(1);
    expect((issued[0]!.keys as Array<{ slot: string }>).map((k) => k.slot)).toEqual([
      '01',
      '11',
      '12',
      '13',
      '14',
      '51',
      '52',
      '53',
      '54',
    ]);
    // the name (formula) never reaches the audit log
    const a = readFileSync(join(r.outDir, 'issue.journal.audit.jsonl'), 'utf8');
    expect(a).not.toContain('cmd');
  });

  it('a header only: a usage error before anything is opened (was: "issued 0")', async () => {
    const b = await makeBureau(tmp());
    const r = await run(b, ['--serial-start', START], 'subscriber,purses\r\n');
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/has a header but no subscriber rows: nothing to issue/);
    expect(existsSync(join(b.dir, 'out'))).toBe(false);
  });

  it('a batch over 64 MiB is refused from its size, not read; a folder as the batch is refused', async () => {
    const b = await makeBureau(tmp());
    const big = join(b.dir, 'batch.csv');
    writeFileSync(big, 'subscriber,purses\n');
    truncateSync(big, 200 * 1024 * 1024); // sparse: 200 MB of NULs
    const r = await run(b, ['--serial-start', START], null);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/is over 67108864 bytes \(209715200\)/);
    const d = await run(b, ['--serial-start', START, '--batch', b.dir], 'x');
    expect(d.status).toBe(2);
    expect(d.err).toMatch(/is not a regular file/);
  });
});

describe('card issue red team: resume against an edited CSV', () => {
  it('reordered, a row changed, a row removed: no card issued twice, none with the new data, nothing silently skipped', async () => {
    const b = await makeBureau(tmp());
    const first = 'subscriber,purses,pin\n1,1:100,1111\n2,1:200,1234\n3,1:300,\n';
    const r1 = await run(b, ['--serial-start', START], first);
    expect(r1.status).toBe(0);
    const card2 = readFileSync(join(r1.outDir, '4D50000000000002.card'));
    // reordered, 2 changed (purses), 3 removed, 4 new, 1 with a new PIN (same "PIN set")
    const second = 'subscriber,purses,pin\n4,1:400,\n2,1:999,1234\n1,1:100,5678\n';
    const r2 = await run(b, [], second);
    expect(r2.status).toBe(65);
    expect(r2.out).toMatch(/line 2 subscriber 4: CSN 4D50000000000004 issued/);
    expect(r2.out).toMatch(/line 3 subscriber 2: refused: subscriber 2 was issued card 4D50000000000002/);
    expect(r2.out).toMatch(/line 4 subscriber 1: CSN 4D50000000000001 issued before \(skipped\)/);
    expect(cardsIn(r1.outDir)).toEqual([1, 2, 3, 4].map((i) => `4D5000000000000${i}.card`));
    // card 2 still holds its first purses
    expect(readFileSync(join(r1.outDir, '4D50000000000002.card')).equals(card2)).toBe(true);
    expect(await mkcCounter(b)).toBe(4);
    const issued = audit(join(r1.outDir, 'issue.journal.audit.jsonl')).filter((e) => e.event === 'issued');
    expect(issued.map((e) => e.csn)).toEqual([1, 2, 3, 4].map((i) => `4D5000000000000${i}`));
  });
});

describe('card issue red team: the journal', () => {
  it('two processes on one batch: the second is refused while the journal is locked', async () => {
    const b = await makeBureau(tmp());
    const out = join(b.dir, 'out');
    mkdirSync(out);
    // another running process (our parent) holds it
    const lock = CardFileLock.acquire(join(out, 'issue.journal'), process.ppid);
    try {
      const r = await run(b, ['--serial-start', START], 'subscriber,purses\n1,1:1\n');
      expect(r.status).toBe(1);
      expect(r.err).toMatch(/issue\.journal' is in use by another process \(pid/);
    } finally {
      rmSync(CardFileLock.pathOf(join(out, 'issue.journal')));
      void lock;
    }
    expect(cardsIn(out)).toEqual([]);
  });

  it('a journal resumed with another MKC is refused (was: the rest of the batch issued under other keys)', async () => {
    const b = await makeBureau(tmp());
    const r1 = await run(b, ['--serial-start', START], 'subscriber,purses\n1,1:1\n');
    expect(r1.status).toBe(0);
    const other = await makeBureau(tmp(), 'other-ceremony', { serial: '4D4B430000000002' });
    const r2 = await run(
      { ...b, mkcPath: other.mkcPath, keyFile: other.keyFile, transportPath: other.transportPath },
      [],
      'subscriber,purses\n1,1:1\n2,1:1\n',
      r1.outDir,
    );
    expect(r2.status).toBe(2);
    expect(r2.err).toMatch(
      /is the journal of a batch issued with master-key card 4D4B430000000001, not 4D4B430000000002/,
    );
    expect(cardsIn(r1.outDir)).toEqual([`${START}.card`]);
  });

  it('a journal used with another --out folder is refused (was: its cards counted as done, none there)', async () => {
    const b = await makeBureau(tmp());
    const journal = join(b.dir, 'batch.journal');
    const r1 = await run(b, ['--serial-start', START, '--journal', journal], 'subscriber,purses\n1,1:1\n');
    expect(r1.status).toBe(0);
    const r2 = await run(b, ['--journal', journal], 'subscriber,purses\n1,1:1\n', join(b.dir, 'elsewhere'));
    expect(r2.status).toBe(2);
    expect(r2.err).toMatch(
      /is the journal of a batch issued to the folder .*out, not the folder .*elsewhere/,
    );
  });

  it('a corrupted journal: one line, exit 1, nothing issued', async () => {
    const b = await makeBureau(tmp());
    const out = join(b.dir, 'out');
    mkdirSync(out);
    writeFileSync(join(out, 'issue.journal'), 'this is not a database'.repeat(300));
    const r = await run(b, ['--serial-start', START], 'subscriber,purses\n1,1:1\n');
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/^meterpurse card issue: cannot open the journal .*: file is not a database\n$/);
    expect(cardsIn(out)).toEqual([]);
  });

  it('a journal of another format, and a row tampered to an impossible state, are refused', async () => {
    const b = await makeBureau(tmp());
    const r1 = await run(b, ['--serial-start', START], 'subscriber,purses\n1,1:1\n');
    const path = join(r1.outDir, 'issue.journal');
    const db = new Database(path);
    expect(() => db.prepare("UPDATE rows SET state = 'lost'").run()).toThrow(/CHECK constraint/);
    db.prepare("UPDATE meta SET value = 'other/1' WHERE key = 'format'").run();
    db.close();
    const r2 = await run(b, [], 'subscriber,purses\n1,1:1\n');
    expect(r2.status).toBe(2);
    expect(r2.err).toMatch(/is not a meterpurse issue journal \(format other\/1\)/);
  });

  it('the disk full under the audit log: the batch stops with one line, exit 1 (was: internal error, 70), and resumes', async () => {
    const b = await makeBureau(tmp());
    const csv = 'subscriber,purses\n1,1:1\n2,1:2\n';
    const r = await run(b, ['--serial-start', START, '--audit-log', '/dev/full'], csv);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(
      /^meterpurse card issue: batch stopped \(run the same command again to resume\): ENOSPC: no space left on device/,
    );
    expect(cardsIn(r.outDir)).toEqual([]);
    const again = await run(b, [], csv);
    expect(again.status).toBe(0);
    expect(cardsIn(r.outDir)).toEqual([`${START}.card`, '4D50000000000002.card']);
    // the personalisation the full disk discarded is counted (the counter runs ahead, never behind)
    expect(await mkcCounter(b)).toBe(3);
  });

  it('a dangling link planted at a card path is replaced, never written through', async () => {
    const b = await makeBureau(tmp());
    const out = join(b.dir, 'out');
    mkdirSync(out);
    symlinkSync(join(b.dir, 'nowhere'), join(out, `${START}.card`));
    const r = await run(b, ['--serial-start', START], 'subscriber,purses\n1,1:1\n');
    expect(r.status).toBe(0);
    expect(existsSync(join(b.dir, 'nowhere'))).toBe(false);
    expect(lstatSync(join(out, `${START}.card`)).isFile()).toBe(true);
  });

  it('a folder in the way of a card: exit 1 with the reason, not an internal error', async () => {
    const b = await makeBureau(tmp());
    const out = join(b.dir, 'out');
    mkdirSync(join(out, `${START}.card`), { recursive: true });
    const r = await run(b, ['--serial-start', START], 'subscriber,purses\n1,1:1\n');
    expect(r.err).toMatch(/^meterpurse card issue: .*4D50000000000001\.card/);
    expect(r.status).toBe(1);
  });
});

describe('card issue red team: host registration', () => {
  it.each([
    [500, /host refused card 4D50000000000001 \(500 e500\)/],
    [401, /host refused card 4D50000000000001 \(401 e401\)/],
    [403, /host refused card 4D50000000000001 \(403 e403\)/],
  ])('%s stops the batch after the first card (exit 1); the resume registers it', async (status, why) => {
    const b = await makeBureau(tmp());
    const fake = await fakeHost(status);
    const keyPath = join(b.dir, 'api.key');
    writeFileSync(keyPath, 'k\n', { mode: 0o600 });
    const csv = 'subscriber,purses\n1,1:1\n2,1:2\n';
    const r = await run(b, ['--serial-start', START, '--host', fake.url, '--api-key-file', keyPath], csv);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(why);
    expect(r.err).toMatch(/batch stopped/);
    expect(fake.hits()).toBe(1);
    expect(cardsIn(r.outDir)).toEqual([`${START}.card`]);

    const host = await startHost(join(b.dir, 'host'), 2);
    closers.push(host.close);
    const again = await run(b, ['--host', host.url, '--api-key-file', host.keyPath], csv);
    expect(again.status).toBe(0);
    expect(again.out).toMatch(/subscriber 1: CSN 4D50000000000001 issued before \(skipped\), registered/);
    expect(host.cards().map((c) => [c.serial, c.subscriberId])).toEqual([
      [START, 1],
      ['4D50000000000002', 2],
    ]);
  });

  it('the real host: a wrong key (401), a key without the vending role (403)', async () => {
    const b = await makeBureau(tmp());
    const host = await startHost(join(b.dir, 'host'), 2);
    closers.push(host.close);
    const wrong = join(b.dir, 'wrong.key');
    writeFileSync(wrong, 'mp_nonsense\n', { mode: 0o600 });
    const csv = 'subscriber,purses\n1,1:1\n';
    const r = await run(b, ['--serial-start', START, '--host', host.url, '--api-key-file', wrong], csv);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/host refused card 4D50000000000001 \(401/);
    const auditor = join(b.dir, 'auditor.key');
    writeFileSync(auditor, host.svc.apiKeys.create(['auditor'], 'x').key, { mode: 0o600 });
    const r2 = await run(b, ['--host', host.url, '--api-key-file', auditor], csv);
    expect(r2.status).toBe(1);
    expect(r2.err).toMatch(/host refused card 4D50000000000001 \(403/);
    expect(host.cards()).toEqual([]);
    // neither key is printed
    expect(r.err + r.out + r2.err + r2.out).not.toContain('mp_nonsense');
  });

  it('an unknown subscriber (404) and a serial taken by another subscriber (409): that row only, exit 1, resumable; never registered to the wrong subscriber', async () => {
    const b = await makeBureau(tmp());
    const host = await startHost(join(b.dir, 'host'), 3);
    closers.push(host.close);
    host.svc.registry.registerCard({ serial: '4D50000000000002', subscriberId: 3 });
    const csv = 'subscriber,purses\n99,1:1\n1,1:1\n2,1:1\n';
    const args = ['--host', host.url, '--api-key-file', host.keyPath];
    const r = await run(b, ['--serial-start', START, ...args], csv);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(
      /subscriber 99: CSN 4D50000000000001 issued, NOT REGISTERED: .*404 unknown-subscriber/,
    );
    expect(r.out).toMatch(/subscriber 1: CSN 4D50000000000002 issued, NOT REGISTERED: .*409 card-taken/);
    expect(r.out).toMatch(/subscriber 2: CSN 4D50000000000003 issued, registered/);
    expect(r.out).toMatch(/registration FAILED for 2/);
    const again = await run(b, args, csv);
    expect(again.status).toBe(1);
    expect(again.out).toMatch(/issued 0/);
    expect(host.cards().map((c) => [c.serial, c.subscriberId])).toEqual([
      ['4D50000000000002', 3],
      ['4D50000000000003', 2],
    ]);
  });

  it('a --host that is no http URL, or holds a password: refused before any card (was: after the first)', async () => {
    const b = await makeBureau(tmp());
    const keyPath = join(b.dir, 'api.key');
    writeFileSync(keyPath, 'k\n', { mode: 0o600 });
    const csv = 'subscriber,purses\n1,1:1\n';
    for (const [url, why] of [
      ['localhost:8080', /must be http:\/\/ or https:\/\//],
      ['not a url', /is not a URL/],
      ['http://bureau:hunter2@127.0.0.1:1', /must not hold a user or password/],
    ] as const) {
      const r = await run(b, ['--serial-start', START, '--host', url, '--api-key-file', keyPath], csv);
      expect(r.status).toBe(2);
      expect(r.err).toMatch(why);
      expect(r.err).not.toContain('hunter2');
    }
    expect(existsSync(join(b.dir, 'out'))).toBe(false);
    const empty = join(b.dir, 'empty.key');
    writeFileSync(empty, '\n');
    const e = await run(
      b,
      ['--serial-start', START, '--host', 'http://127.0.0.1:1', '--api-key-file', empty],
      csv,
    );
    expect(e.status).toBe(2);
    expect(e.err).toMatch(/API key file .* is empty/);
  });

  it('a redirect is not followed (was: the POST became a GET whose 200 passed for "registered before")', async () => {
    const b = await makeBureau(tmp());
    const host = await startHost(join(b.dir, 'host'), 2);
    closers.push(host.close);
    const proxy = await fakeHost(301, {}, { location: `${host.url}/cards` });
    const r = await run(
      b,
      ['--serial-start', START, '--host', proxy.url, '--api-key-file', host.keyPath],
      'subscriber,purses\n1,1:1\n',
    );
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/redirects \(301 to http:\/\/127\.0\.0\.1:[0-9]+\/cards\): give --host the URL/);
    expect(r.out).not.toMatch(/registered/);
    const j = BatchJournal.open(join(r.outDir, 'issue.journal'));
    expect(j.get(1)!.state).toBe('personalised');
    j.close();
  });

  it('a 200 or 201 that is not this card (another service on the port): fatal, not "registered"', async () => {
    for (const [status, body] of [
      [200, { items: [], next: null }],
      [200, { serial: START, subscriberId: 2, status: 'active' }],
      [201, { ok: true }],
    ] as const) {
      const b = await makeBureau(tmp());
      const fake = await fakeHost(status, body);
      const keyPath = join(b.dir, 'api.key');
      writeFileSync(keyPath, 'k\n', { mode: 0o600 });
      const r = await run(
        b,
        ['--serial-start', START, '--host', fake.url, '--api-key-file', keyPath],
        'subscriber,purses\n1,1:1\n',
      );
      expect(r.status).toBe(1);
      expect(r.err).toMatch(/with something that is not that card of subscriber 1/);
    }
  });

  it("a host's error message with terminal escapes is shown escaped", async () => {
    const b = await makeBureau(tmp());
    const fake = await fakeHost(404, { error: 'x\u001b[2J', message: 'gone\u001b]0;pwned\u0007' });
    const keyPath = join(b.dir, 'api.key');
    writeFileSync(keyPath, 'k\n', { mode: 0o600 });
    const r = await run(
      b,
      ['--serial-start', START, '--host', fake.url, '--api-key-file', keyPath],
      'subscriber,purses\n1,1:1\n',
    );
    expect(r.status).toBe(1);
    expect(r.out).toContain(
      'NOT REGISTERED: host refused card 4D50000000000001 (404 x\\u001b[2J): gone\\u001b]0;pwned\\u0007',
    );
    // eslint-disable-next-line no-control-regex
    expect(r.out + r.err).not.toMatch(/[\u001b\u0007]/);
  });

  it('the host down: the batch stops after the first card, exit 1', async () => {
    const b = await makeBureau(tmp());
    const keyPath = join(b.dir, 'api.key');
    writeFileSync(keyPath, 'k\n', { mode: 0o600 });
    const r = await run(
      b,
      ['--serial-start', START, '--host', 'http://127.0.0.1:1', '--api-key-file', keyPath],
      'subscriber,purses\n1,1:1\n2,1:1\n',
    );
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/batch stopped .*host http:\/\/127\.0\.0\.1:1 unreachable/);
    expect(cardsIn(r.outDir)).toEqual([`${START}.card`]);
  });
});

describe('card issue red team: secrets and the audit log', () => {
  it('no PIN, key or component in the output, the journal or the audit log; files 0600; each card once in the audit log', async () => {
    const b = await makeBureau(tmp());
    const tr = JSON.parse(readFileSync(b.transportPath, 'utf8')) as { key: string };
    const r = await run(
      b,
      ['--serial-start', START],
      'subscriber,purses,pin\n1,1:1,87654321\n2,1:2,13572468\n3,1:3,\n',
    );
    expect(r.status).toBe(0);
    const journalPath = join(r.outDir, 'issue.journal');
    const auditPath = `${journalPath}.audit.jsonl`;
    const texts = [
      r.out,
      r.err,
      readFileSync(auditPath, 'latin1'),
      readFileSync(journalPath, 'latin1'),
      existsSync(`${journalPath}-wal`) ? readFileSync(`${journalPath}-wal`, 'latin1') : '',
    ];
    for (const t of texts) {
      for (const secret of ['87654321', '13572468', MKC_PIN, tr.key, tr.key.toLowerCase()])
        expect(t).not.toContain(secret);
      expect(t).not.toMatch(/[0-9A-F]{32}/); // no 16-byte key in hex
    }
    for (const f of [auditPath, ...cardsIn(r.outDir).map((c) => join(r.outDir, c))])
      expect(statSync(f).mode & 0o077).toBe(0);
    const j = BatchJournal.open(journalPath);
    expect(j.all().map((row) => row.state)).toEqual(['personalised', 'personalised', 'personalised']);
    j.close();
    const events = audit(auditPath);
    expect(events.filter((e) => e.event === 'issued').map((e) => e.csn)).toEqual([
      START,
      '4D50000000000002',
      '4D50000000000003',
    ]);
    expect(events.every((e) => !('pin' in e) && !('name' in e))).toBe(true);
  });
});
