/**
 * `meterpurse host serve --meters real` as a real process: the HTTP API over a field of real meter
 * cores with their own SAM, SVM and modem (cli/field/cardMeterField.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { spawnHostServe } from './spawnServe.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import { TEST_ADMIN_KEY, bearer } from './apiAuth.js';

const auth = bearer(TEST_ADMIN_KEY);

const procs: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function serve(args: string[]): Promise<string> {
  return (await spawnHostServe(args, (p) => procs.push(p))).url;
}

const post = async (url: string, body?: unknown) =>
  fetch(url, {
    method: 'POST',
    ...(body === undefined
      ? { headers: auth }
      : { headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });

describe('host serve --meters real', () => {
  it('recharge, poll and tariff change over the API reach real meters through their modems', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'host-real-'));
    dirs.push(dir);
    const url = await serve(['--db', join(dir, 'host.db'), '--port', '0', '--meters', 'real']);
    const sub = (await (await post(`${url}/subscribers`, { name: 'R' })).json()) as { id: number };
    const m = await post(`${url}/meters`, { id: 'C0FFEE', subscriberId: sub.id, ls: 2, modem: 3 });
    expect(m.status).toBe(201);
    const r = (await (
      await post(`${url}/recharges`, {
        requestId: 'real-1',
        meterId: 'C0FFEE',
        amount: 2500,
        method: 'card',
        account: '4111111111111111',
      })
    ).json()) as { txId: string; state: string };
    expect(r).toMatchObject({ txId: '1', state: 'confirmed' });
    const p = await post(`${url}/meters/C0FFEE/poll`);
    expect(p.status).toBe(200);
    const poll = (await p.json()) as {
      balance: number;
      energyWh: number;
      flags: number;
      driftSeconds: number;
    };
    // the real core drew a token request from its SVM as soon as the credit arrived
    expect(poll.balance).toBe(2400);
    expect(poll.energyWh).toBe(0);
    expect(Math.abs(poll.driftSeconds)).toBeLessThan(120);
    const t = await post(`${url}/meters/C0FFEE/tariff`, {
      activation: '991231000000',
      unitCharge: 130,
      profile: 'flat',
    });
    expect(t.status).toBe(200);
    expect(await t.json()).toMatchObject({ state: 'stored', balance: 2400 });
  }, 60_000);

  it('refuses an unknown --meters and --field with real meters', async () => {
    const err: string[] = [];
    const io = { out: () => undefined, err: (s: string) => void err.push(s) };
    expect(await main(['host', 'serve', '--db', 'x.db', '--meters', 'paper'], io)).not.toBe(0);
    expect(err.join('')).toMatch(/--meters must be simulated or real/);
    expect(await main(['host', 'serve', '--db', 'x.db', '--meters', 'real', '--field', 'f'], io)).not.toBe(0);
    expect(err.join('')).toMatch(/--field/);
  });
});
