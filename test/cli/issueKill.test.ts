/**
 * Exactly once under kill -9 (issue 12, batch issuance): the real CLI is killed (SIGKILL, from the
 * fault points of cli/issue/faults.ts) at every row boundary and inside cards' personalisation,
 * started again each time, and in the end every row's card was issued exactly once — one sealed
 * file per CSN, each personalised with its own CSN — and registered exactly once on a real host
 * (its HTTP API on 127.0.0.1, POST /cards idempotent).
 *
 * The MKC's issue counter: the MKC is saved before the card file is written, so a kill between
 * the two (`after-mkc-save`) leaves one count whose card never existed; the row is personalised
 * again (a new chip, the same CSN). So counter = cards + those discarded personalisations (here
 * exactly one), never fewer than the cards; each shows as an extra attempt in the journal and a
 * gap in the audit log's counters (cli/issue/BatchIssuer.ts).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openCardFile } from '../../cli/cardfile/index.js';
import { BatchJournal } from '../../cli/issue/BatchJournal.js';
import { VirtualReader } from '../../reader/index.js';
import { MasterKeyCard, readChip } from '../../terminal/index.js';
import { toHex } from '../../card/index.js';
import { makeBureau, startHost, subscribersCsv } from './issueFixture.js';

const cliMain = fileURLToPath(new URL('../host/serveMain.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'issue-kill-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', cliMain, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('exit', (code, signal) => resolve({ code, signal, out }));
  });
}

/** Where the runs die, in order; each is reached by the restart after the one before. */
const KILLS = [
  'row:1:apdu:4', // inside the personalisation (after EXTERNAL AUTHENTICATE, before the first PUT KEY)
  'row:1:after-mkc-save', // the MKC counted it, the card file is not written: discarded
  'row:1:after-card-write', // the card file exists, the journal does not know: found on restart
  'row:1:done', // row boundary 1 | 2
  'row:2:after-allocate', // CSN journalled, nothing touched
  'row:2:after-register-request', // the host registered it, the journal does not know: 200 on retry
  'row:2:done', // row boundary 2 | 3
  'row:3:apdu:12', // inside the personalisation, later (STORE DATA / SET STATUS stage)
  'row:3:done', // row boundary 3 | 4
  'row:4:after-personalise', // personalised, not registered
  'row:4:done', // after the last row
];

describe('card issue: exactly once under kill -9', () => {
  it(`killed at ${KILLS.length} points (every row boundary, inside personalisations) and restarted: each card issued once, registered once`, async () => {
    const b = await makeBureau(dir, 'issue-kill');
    const host = await startHost(join(dir, 'host'), 4);
    try {
      const csv = join(dir, 'batch.csv');
      writeFileSync(csv, subscribersCsv(4));
      const out = join(dir, 'out');
      const args = [
        'card',
        'issue',
        '--batch',
        csv,
        '--mkc',
        b.mkcPath,
        '--out',
        out,
        '--transport-key-file',
        b.transportPath,
        '--key-file',
        b.keyFile,
        '--host',
        host.url,
        '--api-key-file',
        host.keyPath,
        '--serial-start',
        '4D50000000000001',
      ];
      for (const k of KILLS) {
        const r = await runCli(args, { ...b.env, MP_FAULT_KILL_AT: k });
        expect({ k, signal: r.signal }, r.out).toEqual({ k, signal: 'SIGKILL' });
      }
      const last = await runCli(args, b.env);
      expect(last.code, last.out).toBe(0);
      expect(last.out).toMatch(/issued 0, skipped \(done before\) 4, bad rows 0\nregistered 0/);

      // one sealed file per CSN, nothing else (no temp file left), each personalised as its row
      const csns = [1, 2, 3, 4].map((i) => `4D5000000000000${i}`);
      expect(
        readdirSync(out)
          .filter((f) => !f.startsWith('issue.journal'))
          .sort(),
      ).toEqual(csns.map((c) => `${c}.card`));
      for (const c of csns) {
        const opened = openCardFile(join(out, `${c}.card`), { keyFile: b.keyFile, rollback: false });
        const info = await readChip(await new VirtualReader('check', opened.card).connect());
        expect([info.lcs, toHex(info.csn!)]).toEqual([5, c]);
      }
      // registered once each, to its subscriber
      expect(host.cards().map((c) => [c.serial, c.subscriberId])).toEqual(csns.map((c, i) => [c, i + 1]));

      // the journal: every row registered; row 1 took three attempts (killed inside the session,
      // killed after the MKC counted it, then the one whose card was kept), row 3 two
      const j = BatchJournal.open(join(out, 'issue.journal'));
      const rows = j.all();
      j.close();
      expect(rows.map((r) => [r.csn, r.state, r.attempts])).toEqual([
        [csns[0], 'registered', 3],
        [csns[1], 'registered', 1],
        [csns[2], 'registered', 2],
        [csns[3], 'registered', 1],
      ]);

      // the MKC counted 4 cards + the one discarded after-mkc-save
      const opened = openCardFile(b.mkcPath, { keyFile: b.keyFile, rollback: false });
      const mkc = await MasterKeyCard.open(await new VirtualReader('x', opened.card).connect());
      expect((await mkc.status()).issueCounter).toBe(5);

      // the audit log: one 'issued' line per CSN with the MKC's counter (1 is the gap of the
      // discarded personalisation, killed before its line); row 1's card found by the restart
      const audit = readFileSync(join(out, 'issue.journal.audit.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { event: string; csn: string; mkcIssueCounter?: number });
      const issued = audit.filter((a) => a.event === 'issued');
      expect(issued.map((a) => [a.csn, a.mkcIssueCounter])).toEqual(csns.map((c, i) => [c, i + 2]));
      expect(audit.filter((a) => a.event === 'recovered').map((a) => a.csn)).toEqual([csns[0]]);
      expect(audit.filter((a) => a.event === 'registered').map((a) => a.csn)).toEqual(csns);
    } finally {
      await host.close();
    }
  }, 120_000);
});
