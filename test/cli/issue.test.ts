/**
 * `meterpurse card issue` in process (issue 12, batch issuance): a batch into card files with
 * host registration, the summary and audit log, a resume that issues nothing twice, bad rows
 * reported by line (and --strict issuing none), and the bad inputs of the MKC.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openCardFile } from '../../cli/cardfile/index.js';
import { VirtualReader } from '../../reader/index.js';
import { MasterKeyCard, readChip } from '../../terminal/index.js';
import { toHex } from '../../card/index.js';
import { BatchJournal } from '../../cli/issue/BatchJournal.js';
import { MKC_PIN, issueBatch, makeBureau, startHost, subscribersCsv, type Bureau } from './issueFixture.js';

const dirs: string[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'issue-'));
  dirs.push(d);
  return d;
}

beforeAll(() => {
  process.env['MP_MKC_PIN'] = MKC_PIN;
  return () => {
    delete process.env['MP_MKC_PIN'];
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
});

/** A fresh copy of the bureau (MKC file, key, state) so each test starts from issue counter 0. */
async function bureau(): Promise<Bureau> {
  return makeBureau(tmp());
}

const run = issueBatch;

async function mkcCounter(b: Bureau): Promise<number> {
  const opened = openCardFile(b.mkcPath, { keyFile: b.keyFile, rollback: false });
  const mkc = await MasterKeyCard.open(await new VirtualReader('x', opened.card).connect());
  return (await mkc.status()).issueCounter;
}

describe('card issue --out: a batch into card files', () => {
  it('issues one sealed card per row, registers each with the host, audits each; a second run issues nothing', async () => {
    const b = await bureau();
    const host = await startHost(join(b.dir, 'host'), 6);
    closers.push(host.close);
    const hostArgs = ['--host', host.url, '--api-key-file', host.keyPath, '--operator', 'alice'];
    const r = await run(b, [...hostArgs, '--serial-start', '4D50000000000001'], subscribersCsv(5));
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/row 1\/5 line 2 subscriber 1: CSN 4D50000000000001 issued, registered/);
    expect(r.out).toMatch(
      /issued 5, skipped \(done before\) 0, bad rows 0\nregistered 5\nelapsed [0-9.]+ s, [0-9.]+ cards\/s/,
    );
    const files = readdirSync(r.outDir)
      .filter((f) => f.endsWith('.card'))
      .sort();
    expect(files).toEqual([1, 2, 3, 4, 5].map((i) => `4D5000000000000${i}.card`));
    // each file is a personalised card with its CSN
    for (const f of files) {
      const opened = openCardFile(join(r.outDir, f), { keyFile: b.keyFile, rollback: false });
      expect(opened.sealed).toBe(true);
      const info = await readChip(await new VirtualReader('check', opened.card).connect());
      expect([info.lcs, info.kind, toHex(info.csn!)]).toEqual([5, 'subscriber', f.slice(0, 16)]);
    }
    expect(host.cards().map((c) => [c.serial, c.subscriberId])).toEqual(
      [1, 2, 3, 4, 5].map((i) => [`4D5000000000000${i}`, i]),
    );
    expect(await mkcCounter(b)).toBe(5);
    const audit = readFileSync(join(r.outDir, 'issue.journal.audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const issued = audit.filter((a) => a['event'] === 'issued');
    expect(issued.map((a) => a['mkcIssueCounter'])).toEqual([1, 2, 3, 4, 5]);
    expect(issued[0]).toMatchObject({
      operator: 'alice',
      line: 2,
      subscriber: 1,
      csn: '4D50000000000001',
      kind: 'subscriber',
      mkcSerial: '4D4B430000000001',
    });
    // the masters used: MK_tr[1] and the four masters of purses 1 and 2, each with version and KCV, no key
    const keys = issued[0]!['keys'] as Array<{ slot: string; version: number; kcv: string }>;
    expect(keys.map((k) => k.slot)).toEqual(['01', '11', '12', '13', '14', '21', '22', '23', '24']);
    for (const k of keys) expect(k.kcv).toMatch(/^[0-9A-F]{6}$/);
    expect(JSON.stringify(audit)).not.toMatch(/[0-9A-F]{32}/);
    expect(audit.filter((a) => a['event'] === 'registered')).toHaveLength(5);

    const again = await run(b, hostArgs, subscribersCsv(5));
    expect(again.status).toBe(0);
    expect(again.out).toMatch(/issued 0, skipped \(done before\) 5, bad rows 0\nregistered 0/);
    expect(again.out).toMatch(/CSN 4D50000000000003 issued before \(skipped\), registered before/);
    expect(await mkcCounter(b)).toBe(5);
    expect(host.cards()).toHaveLength(5);

    // a row added later: its serial continues from the journal, the others are skipped
    const grown = await run(b, hostArgs, `${subscribersCsv(5)}6,1:1,,\n`);
    expect(grown.status).toBe(0);
    expect(grown.out).toMatch(/line 7 subscriber 6: CSN 4D50000000000006 issued, registered/);

    // a subscriber the host does not know: issued, not registered, said so, exit 1; a later run
    // (after the host learnt it) registers it without issuing it again
    const unknown = await run(b, hostArgs, `${subscribersCsv(5)}6,1:1,,\n7,1:1,,\n`);
    expect(unknown.status).toBe(1);
    expect(unknown.out).toMatch(
      /line 8 subscriber 7: CSN 4D50000000000007 issued, NOT REGISTERED: host refused card 4D50000000000007 \(404 unknown-subscriber\)/,
    );
    expect(unknown.out).toMatch(/registered 0, registration FAILED for 1/);
    host.svc.addSubscriber({ name: 's7' });
    const later = await run(b, hostArgs, `${subscribersCsv(5)}6,1:1,,\n7,1:1,,\n`);
    expect(later.status).toBe(0);
    expect(later.out).toMatch(
      /line 8 subscriber 7: CSN 4D50000000000007 issued before \(skipped\), registered$/m,
    );
    expect(await mkcCounter(b)).toBe(7);
    expect(host.cards()).toHaveLength(7);
  });

  it('without --host: registration skipped and said so; the journal holds personalised rows', async () => {
    const b = await bureau();
    const r = await run(b, ['--serial-start', '0000000000000100'], subscribersCsv(2));
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/not registered \(no --host\)/);
    expect(r.out).toMatch(/registration skipped: no --host/);
    const j = BatchJournal.open(join(r.outDir, 'issue.journal'));
    expect(j.all().map((x) => [x.csn, x.state, x.attempts])).toEqual([
      ['0000000000000100', 'personalised', 1],
      ['0000000000000101', 'personalised', 1],
    ]);
    j.close();
  });
});

describe('card issue: progress', () => {
  it('on a terminal: a progress line on stderr, erased at the end, no line per row; the summary on stdout', async () => {
    const b = await bureau();
    const r = await issueBatch(b, ['--serial-start', '4D50000000000001'], subscribersCsv(3), undefined, {
      errIsTTY: true,
    });
    expect(r.status).toBe(0);
    expect(r.err).toContain('\rissuing 100 % (3 of 3 cards)\x1b[K');
    expect(r.err.endsWith('\r\x1b[K')).toBe(true);
    expect(r.out).not.toMatch(/^row /m);
    expect(r.out).toMatch(/issued 3, skipped \(done before\) 0, bad rows 0/);
  });
});

describe('card issue: bad rows', () => {
  const csv = ['subscriber,purses,pin', '1,1:100,', '2,1:-1,', '3,1:100,12', '1,2:5,', '4,1:100,', ''].join(
    '\n',
  );

  it('reports each bad row with its line and issues the good ones (exit 65)', async () => {
    const b = await bureau();
    const r = await run(b, ['--serial-start', '4D50000000000001'], csv);
    expect(r.status).toBe(65);
    expect(r.out).toMatch(
      /^bad row: line 2 \(subscriber 1\): duplicate subscriber 1 \(on lines 2, 5\): none of them is issued$/m,
    );
    expect(r.out).toMatch(/^bad row: line 3 \(subscriber 2\): invalid amount '-1' for purse 1: negative$/m);
    expect(r.out).toMatch(/^bad row: line 4 \(subscriber 3\): bad PIN: want 4\.\.8 digits$/m);
    expect(r.out).toMatch(/issued 1, skipped \(done before\) 0, bad rows 4/);
    expect(readdirSync(r.outDir).filter((f) => f.endsWith('.card'))).toEqual(['4D50000000000001.card']);
  });

  it('--strict issues none (exit 65) and touches nothing', async () => {
    const b = await bureau();
    const r = await run(b, ['--serial-start', '4D50000000000001', '--strict'], csv);
    expect(r.status).toBe(65);
    expect(r.out).toMatch(/nothing issued \(--strict\): 4 bad row\(s\) of 5/);
    expect(existsSync(r.outDir)).toBe(false);
    expect(await mkcCounter(b)).toBe(0);
  });

  it('a file that is not a table is refused whole: one line, exit 2', async () => {
    const b = await bureau();
    const r = await run(b, ['--serial-start', '4D50000000000001'], 'subscriber,purse\n1,1:1\n');
    expect(r.status).toBe(2);
    expect(r.err).toBe(
      "meterpurse card issue: malformed csv at offset 0: header row: unknown column 'purse' (want subscriber, purses, pin, expiry, name)\n",
    );
  });

  it('a subscriber re-issued with other data by the same journal is refused for that row', async () => {
    const b = await bureau();
    await run(b, ['--serial-start', '4D50000000000001'], 'subscriber,purses\n1,1:100\n');
    const r = await run(b, [], 'subscriber,purses\n1,1:200\n2,1:1\n');
    expect(r.status).toBe(65);
    expect(r.out).toMatch(
      /line 2 subscriber 1: refused: subscriber 1 was issued card 4D50000000000001 by this journal with other data/,
    );
    expect(r.out).toMatch(/CSN 4D50000000000002 issued/);
  });
});

describe('card issue: bad input of the master-key card and the options', () => {
  it('a wrong MKC PIN: one line with the tries left, nothing issued, the try spent in the MKC file', async () => {
    const b = await bureau();
    process.env['MP_MKC_PIN'] = '999999';
    try {
      const r = await run(b, ['--serial-start', '4D50000000000001'], subscribersCsv(1));
      expect(r.status).toBe(1);
      expect(r.err).toMatch(/^meterpurse card issue: master-key card '.*mkc\.card': .*(2 tries left|tries)/);
      const again = await run(b, [], subscribersCsv(1));
      expect(again.err).toMatch(/1 tr/);
    } finally {
      process.env['MP_MKC_PIN'] = MKC_PIN;
    }
    expect(readdirSync(join(b.dir, 'out')).filter((f) => f.endsWith('.card'))).toEqual([]);
  });

  it('a missing MKC file, a card file that is not an MKC, a transport key with a wrong KCV, no serial start', async () => {
    const b = await bureau();
    const r1 = await run(
      b,
      ['--serial-start', '4D50000000000001', '--mkc', join(b.dir, 'nope.card')],
      subscribersCsv(1),
    );
    expect(r1.status).toBe(2);
    expect(r1.err).toMatch(/cannot open card file '.*nope\.card'/);

    const t = JSON.parse(readFileSync(b.transportPath, 'utf8')) as { kcv: string };
    writeFileSync(join(b.dir, 'bad-tr.json'), JSON.stringify({ ...t, kcv: '000000' }));
    const r2 = await run(
      b,
      ['--serial-start', '4D50000000000001', '--transport-key-file', join(b.dir, 'bad-tr.json')],
      subscribersCsv(1),
    );
    expect(r2.status).toBe(2);
    expect(r2.err).toMatch(/transport key file .*: the key does not match its KCV 000000/);

    const r3 = await run(b, [], subscribersCsv(1), join(b.dir, 'other-out'));
    expect(r3.status).toBe(2);
    expect(r3.err).toMatch(/give --serial-start <hex16>/);
  });
});
