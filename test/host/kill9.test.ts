import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { spawnHostServe, type ServedHost } from './spawnServe.js';
import { TEST_ADMIN_KEY, bearer } from './apiAuth.js';

const auth = bearer(TEST_ADMIN_KEY);

const procs: ChildProcess[] = [];
let dir = '';
afterEach(() => {
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function serve(db: string, extra: string[] = []): Promise<ServedHost> {
  return spawnHostServe(['--db', db, '--port', '0', ...extra], (p) => procs.push(p), 15_000);
}

const post = async (url: string, body: unknown) =>
  fetch(url, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

function fieldBalance(file: string, id: string): number | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as Record<string, { state: { balance: number } }>)[id]
      ?.state.balance;
  } catch {
    return undefined;
  }
}

describe('kill -9 of the host process during a value store', () => {
  it('after the meter credited and before the host recorded it: restart confirms it once, nothing doubled', async () => {
    dir = mkdtempSync(join(tmpdir(), 'host-kill-'));
    const db = join(dir, 'host.db');
    const field = `${db}.field.json`;
    const a = await serve(db, ['--session-delay-ms', '1500']);
    const sub = (await (await post(`${a.url}/subscribers`, { name: 'K' })).json()) as { id: number };
    expect(
      (
        await post(`${a.url}/meters`, {
          id: 'BEEF01',
          subscriberId: sub.id,
          ls: 4,
          modem: 9,
          initialBalance: 100,
        })
      ).status,
    ).toBe(201);
    const pending = post(`${a.url}/recharges`, {
      requestId: 'kill-1',
      meterId: 'BEEF01',
      amount: 2500,
      method: 'card',
      account: '4111111111111111',
    }).catch(() => undefined);
    // wait until the meter's NVM shows the credit, then kill the host inside its session
    for (let i = 0; i < 200 && fieldBalance(field, 'BEEF01') !== 2600; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(fieldBalance(field, 'BEEF01')).toBe(2600);
    const aExited = new Promise((r) => a.proc.once('exit', r));
    a.proc.kill('SIGKILL');
    await pending;
    await aExited;
    const ro = new Database(db, { readonly: true });
    expect(ro.prepare('SELECT state FROM credits').all()).toEqual([{ state: 'pending' }]);
    ro.close();

    const b = await serve(db);
    expect(b.out()).toMatch(/recovered 1 pending credit\(s\): 1:confirmed/);
    const meter = (await (await fetch(`${b.url}/meters/BEEF01`, { headers: auth })).json()) as {
      credits: Array<{ state: string; balanceAfter: number }>;
    };
    expect(meter.credits).toEqual([{ txId: 1, amount: 2500, state: 'confirmed', balanceAfter: 2600 }]);
    expect(fieldBalance(field, 'BEEF01')).toBe(2600);
    // the client retries its request after the crash: the same credit, not a new one
    const again = (await (
      await post(`${b.url}/recharges`, {
        requestId: 'kill-1',
        meterId: 'BEEF01',
        amount: 2500,
        method: 'card',
        account: '4111111111111111',
      })
    ).json()) as { txId: string; outcome: string };
    expect(again).toMatchObject({ txId: '1', outcome: 'repeated' });
    expect(fieldBalance(field, 'BEEF01')).toBe(2600);
    const ledger = (await (await fetch(`${b.url}/reports/ledger`, { headers: auth })).json()) as {
      balanced: boolean;
      inTransit: number;
    };
    expect(ledger).toMatchObject({ balanced: true, inTransit: 0 });
    const exited = new Promise((r) => b.proc.once('exit', r));
    b.proc.kill('SIGTERM');
    await exited;
  }, 60_000);

  it('after the credit was written pending and before the meter received it: restart delivers it, nothing lost', async () => {
    dir = mkdtempSync(join(tmpdir(), 'host-kill-'));
    const db = join(dir, 'host.db');
    const field = `${db}.field.json`;
    const a = await serve(db, ['--session-delay-ms', '1500']);
    const sub = (await (await post(`${a.url}/subscribers`, { name: 'L' })).json()) as { id: number };
    expect(
      (
        await post(`${a.url}/meters`, {
          id: 'BEEF02',
          subscriberId: sub.id,
          ls: 4,
          modem: 10,
          initialBalance: 100,
        })
      ).status,
    ).toBe(201);
    const pending = post(`${a.url}/recharges`, {
      requestId: 'kill-2',
      meterId: 'BEEF02',
      amount: 900,
      method: 'bank',
      account: '12345678',
    }).catch(() => undefined);
    const ro = new Database(db, { readonly: true });
    for (let i = 0; i < 200 && !ro.prepare('SELECT 1 FROM credits').get(); i++)
      await new Promise((r) => setTimeout(r, 20));
    const aExited = new Promise((r) => a.proc.once('exit', r));
    a.proc.kill('SIGKILL');
    await pending;
    await aExited;
    expect(ro.prepare('SELECT state FROM credits').all()).toEqual([{ state: 'pending' }]);
    ro.close();
    expect(fieldBalance(field, 'BEEF02')).toBe(100);

    const b = await serve(db);
    expect(b.out()).toMatch(/recovered 1 pending credit\(s\): 1:confirmed/);
    expect(fieldBalance(field, 'BEEF02')).toBe(1000);
    const meter = (await (await fetch(`${b.url}/meters/BEEF02`, { headers: auth })).json()) as {
      credits: unknown[];
    };
    expect(meter.credits).toEqual([{ txId: 1, amount: 900, state: 'confirmed', balanceAfter: 1000 }]);
    const exited = new Promise((r) => b.proc.once('exit', r));
    b.proc.kill('SIGTERM');
    await exited;
  }, 60_000);
});

describe('host serve refuses a bad database file', () => {
  it('a corrupt file: exit status 1 and a clear message', async () => {
    const { main: run } = await import('../../cli/main.js');
    dir = mkdtempSync(join(tmpdir(), 'host-bad-'));
    const f = join(dir, 'bad.db');
    writeFileSync(f, Buffer.alloc(4096, 0x42));
    let err = '';
    const code = await run(['host', 'serve', '--db', f, '--port', '0'], {
      out: () => undefined,
      err: (t) => (err += t),
    });
    expect(code).toBe(1);
    expect(err).toMatch(/corrupt/);
    expect(await run(['host', 'serve'], { out: () => undefined, err: (t) => (err += t) })).toBe(2);
    expect(err).toMatch(/--db <file> is required/);
  });
});
