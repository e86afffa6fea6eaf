/**
 * Access to the host's API (issue 15, "Access"): every route of the access table answers 401
 * without a valid key and 403 to a key without its role, changing nothing; revoked keys are
 * refused; the audit trail records who, what and the outcome; the key commands round-trip; the
 * first start makes an admin key; a non-loopback bind without TLS is refused; HTTPS works.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import Fastify from 'fastify';
import forge from 'node-forge';
import { main } from '../../cli/main.js';
import { isLoopback } from '../../cli/commands/host.js';
import type { Io } from '../../cli/Command.js';
import { NodeCipherProvider, SeededRng } from '../../card/crypto/index.js';
import { HostDb } from '../../host/service/HostDb.js';
import { HostService } from '../../host/service/HostService.js';
import { SimulatedPaymentGateway } from '../../host/service/PaymentGateway.js';
import { buildApi } from '../../host/service/api.js';
import { ROLES, ROUTE_ACCESS, accessOf, keyAccess, requireListed } from '../../host/service/access.js';
import type { Role } from '../../host/service/access.js';
import { SimulatedField } from '../../host/sim/SimulatedField.js';
import { TEST_ADMIN_KEY, bearer, withKey } from './apiAuth.js';
import { RelayService } from '../../host/relay/RelayService.js';
import { spawnHostServe } from './spawnServe.js';

const cipher = new NodeCipherProvider();
const CARD = '4111111111111111';
const SERIAL = '0102030405060708';
const dirs: string[] = [];
const procs: ChildProcess[] = [];
const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'host-access-'));
  dirs.push(d);
  return d;
}

function host(dir = tmp()) {
  const db = new HostDb(join(dir, 'host.db'));
  const svc = new HostService({
    db,
    cipher,
    rng: new SeededRng('access'),
    gateway: new SimulatedPaymentGateway(),
    field: (keys) => new SimulatedField(cipher, keys, join(dir, 'field.json')),
  });
  const app = buildApi(svc);
  closers.push(
    () => app.close(),
    () => svc.close(),
  );
  return { svc, app, dir };
}

/** A host with a subscriber, a meter AA0001 (AS 0, LS 1) and a card, so every route has something to act on. */
function populated() {
  const h = host();
  const sub = h.svc.addSubscriber({ name: 'Access' });
  h.svc.addMeter({ id: 'AA0001', subscriberId: sub, as: 0, ls: 1, modem: 1, initialBalance: 100 });
  h.svc.addCard({ serial: SERIAL, subscriberId: sub });
  // relay command 1 (issue 17), of the gas utility (purse 2), for GET /relay/card-commands/:id
  const relay = new RelayService(h.svc.db);
  const gas = h.svc.apiKeys.authenticate(relay.createUtilityKey(h.svc.apiKeys, 2, 'populate').key) ?? null;
  relay.submit(gas, { purse: 2, ref: 'access', csn: SERIAL, ins: 0x5a, p2: 2, data: new Uint8Array(16) });
  return { ...h, sub };
}

/** Every row of every table (but `except`), as JSON: equal snapshots mean nothing changed. */
function snapshot(svc: HostService, except: string[] = []): string {
  const tables = (
    svc.db.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{
      name: string;
    }>
  )
    .map((t) => t.name)
    .filter((t) => !except.includes(t));
  const rows = (t: string) =>
    (svc.db.db.prepare(`SELECT * FROM "${t}"`).all() as Array<Record<string, unknown>>).filter(
      (r) => t !== 'sqlite_sequence' || !except.includes(r['name'] as string),
    );
  return JSON.stringify(tables.map((t) => [t, rows(t)]));
}

const auditRows = (svc: HostService) =>
  svc.db.db.prepare('SELECT * FROM audit ORDER BY id').all() as Array<Record<string, unknown>>;

/** A concrete URL for a route of the table (parameters filled with things that exist). */
function urlOf(route: string): string {
  return route
    .replace('/relay/card-commands/:id', '/relay/card-commands/1')
    .replace(':id', 'AA0001')
    .replace(':serial', SERIAL)
    .replace(':as', '0')
    .replace(':ls', '1')
    .replace(':version', '0')
    .replace(/:[A-Za-z]+/g, '1')
    .replace('*', 'index.html');
}

/** Bodies that would succeed for the routes whose effect this test knows (others get none). */
function bodyOf(route: string, sub: number): object | undefined {
  const bodies: Record<string, object> = {
    'POST /subscribers': { name: 'Mallory' },
    'POST /meters': { id: 'AA0002', subscriberId: sub, as: 0, ls: 1, modem: 2 },
    'POST /meters/:id/tariff': { activation: '261201000000', unitCharge: 5 },
    'POST /cards': { serial: '1112131415161718', subscriberId: sub },
    'POST /recharges': { requestId: 'acc-1', meterId: 'AA0001', amount: 10, method: 'card', account: CARD },
    'POST /reports/theft/:as/:ls': { feederWh: 0 },
  };
  return bodies[route];
}

const routes = Object.entries(ROUTE_ACCESS).filter(([, rule]) => rule !== 'public') as Array<
  [string, readonly Role[]]
>;

describe('the access table', () => {
  it('lists every registered route and only registered routes; admin may call every one', async () => {
    const { app } = host();
    await app.ready();
    for (const key of Object.keys(ROUTE_ACCESS)) {
      const [method, url] = key.split(' ') as [string, string];
      expect(app.hasRoute({ method: method as 'GET', url }), key).toBe(true);
    }
    for (const [key, rule] of routes) expect(rule, key).toContain('admin');
    // the auditor reads everything and writes nothing
    for (const [key, rule] of routes) expect(rule.includes('auditor'), key).toBe(key.startsWith('GET '));
  });

  it('an unlisted route is a startup error; HEAD follows GET', () => {
    const { svc } = host();
    const app = Fastify();
    closers.push(() => app.close());
    keyAccess(svc.apiKeys, svc.audit).install(app);
    expect(() => app.get('/meters/:id', async () => ({}))).not.toThrow();
    expect(() => app.post('/backdoor', async () => ({}))).toThrow(/ROUTE_ACCESS in host\/service\/access.ts/);
    expect(() => requireListed(['GET', 'DELETE'], '/meters/:id')).toThrow(/DELETE \/meters\/:id/);
    expect(accessOf('HEAD', '/meters/:id')).toBe(ROUTE_ACCESS['GET /meters/:id']);
    expect(accessOf('HEAD', '/recharges')).toBeUndefined();
  });
});

describe('authentication and roles, for every route of the table', () => {
  it('no key, a malformed header, an unknown key or a revoked key → 401; a wrong role → 403; nothing changed', async () => {
    const { svc, app, sub } = populated();
    const revokedKey = svc.apiKeys.create(['admin'], 'gone');
    svc.apiKeys.revoke(revokedKey.id);
    // a 'utility' key is one scoped to a purse (issue 17): gas, whose command 1 `populated` made
    const utilityKey = () =>
      bearer(new RelayService(svc.db).createUtilityKey(svc.apiKeys, 2, 'only utility').key);
    const keyOf = Object.fromEntries(
      ROLES.map((r) => [r, r === 'utility' ? utilityKey() : withKey(svc, [r], `only ${r}`)]),
    ) as Record<Role, { authorization: string }>;
    const beforeButAudit = snapshot(svc, ['audit']);
    const unauthenticated = [
      {},
      { authorization: 'Basic YWRtaW46YWRtaW4=' },
      { authorization: 'Bearer' },
      bearer('mpk_not-a-key-of-this-host-xxxxxxxxxxxxxxxxxxxxxxxx'),
      bearer(revokedKey.key),
    ];
    let forbidden = 0;
    for (const [route, rule] of routes) {
      const [method, path] = route.split(' ') as ['GET' | 'POST', string];
      const body = bodyOf(route, sub);
      const was = snapshot(svc);
      for (const headers of unauthenticated) {
        const r = await app.inject({ method, url: urlOf(path), headers, ...(body ? { payload: body } : {}) });
        expect(r.statusCode, `${route} ${JSON.stringify(headers)}`).toBe(401);
        expect(r.json()).toMatchObject({ error: 'unauthorized', message: expect.any(String) });
        expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
      }
      expect(snapshot(svc), `${route}: a 401 changes nothing, not even the audit trail`).toBe(was);
      const wrong = ROLES.filter((r) => !rule.includes(r));
      // a route open to every role (who-am-I) can only be a read
      if (wrong.length === 0) expect(method, `${route} is open to every role`).toBe('GET');
      for (const role of wrong) {
        const r = await app.inject({
          method,
          url: urlOf(path),
          headers: keyOf[role],
          ...(body ? { payload: body } : {}),
        });
        expect(r.statusCode, `${route} as ${role}`).toBe(403);
        expect(r.json()).toMatchObject({ error: 'forbidden', message: expect.stringContaining(path) });
        forbidden += method === 'GET' ? 0 : 1;
      }
      expect(snapshot(svc, ['audit']), `${route}: a 403 changes nothing`).toBe(beforeButAudit);
    }
    // refused writes by known keys are in the audit trail (with their 403); reads and 401s are not
    const audit = auditRows(svc);
    expect(audit).toHaveLength(forbidden);
    expect(audit.every((a) => a['status'] === 403 && a['key_id'] !== null)).toBe(true);

    // the control: the same requests with a role the route allows do change the database
    for (const [route, rule] of routes) {
      const [method, path] = route.split(' ') as ['GET' | 'POST', string];
      const body = bodyOf(route, sub);
      if (method === 'GET' || (!body && !/poll|rotate|retire|blacklist/.test(route))) continue;
      const role = rule.find((r) => r !== 'admin') ?? 'admin';
      const was = snapshot(svc, ['audit']);
      const r = await app.inject({
        method,
        url: urlOf(path),
        headers: keyOf[role],
        ...(body ? { payload: body } : {}),
      });
      expect(r.statusCode, `${route} as ${role}: ${r.body}`).toBeLessThan(300);
      expect(snapshot(svc, ['audit']), `${route} as ${role} changed something`).not.toBe(was);
    }
    // and reads with an allowed role answer 200
    for (const [route, rule] of routes.filter(([k]) => k.startsWith('GET '))) {
      for (const role of rule) {
        const r = await app.inject({ method: 'GET', url: urlOf(route.slice(4)), headers: keyOf[role] });
        expect(r.statusCode, `${route} as ${role}: ${r.body}`).toBe(200);
      }
    }
  });

  it('a key stops working the moment it is revoked; the scheme name is case-insensitive', async () => {
    const { svc, app } = host();
    const k = svc.apiKeys.create(['auditor'], 'temp');
    const get = (authorization: string) =>
      app.inject({ method: 'GET', url: '/reports/ledger', headers: { authorization } });
    expect((await get(`Bearer ${k.key}`)).statusCode).toBe(200);
    expect((await get(`bearer ${k.key}`)).statusCode).toBe(200);
    svc.apiKeys.revoke(k.id);
    expect((await get(`Bearer ${k.key}`)).statusCode).toBe(401);
    expect(() => svc.apiKeys.revoke(k.id)).toThrow(/no API key/);
  });

  it('keys are stored hashed; unknown roles are refused', () => {
    const { svc } = host();
    const k = svc.apiKeys.create(['vending', 'engineer', 'vending'], 'till');
    expect(k.key).toMatch(/^mpk_[A-Za-z0-9_-]{43}$/);
    expect(k.roles).toEqual(['vending', 'engineer']);
    expect(snapshot(svc)).not.toContain(k.key);
    expect(snapshot(svc)).not.toContain(k.key.slice(8));
    expect(svc.apiKeys.authenticate(k.key)).toMatchObject({
      id: k.id,
      name: 'till',
      roles: ['vending', 'engineer'],
    });
    expect(svc.apiKeys.authenticate(k.key.slice(0, -1))).toBeUndefined();
    expect(() => svc.apiKeys.create(['root'])).toThrow(/unknown role 'root'/);
    expect(() => svc.apiKeys.create([])).toThrow(/at least one role/);
  });
});

describe('the audit trail', () => {
  it('records who, what and the outcome of every state-changing request, no account numbers; GET /audit pages it', async () => {
    const { svc, app, sub } = populated();
    const till = svc.apiKeys.create(['vending'], 'till 7');
    const auditor = withKey(svc, ['auditor']);
    const recharge = (requestId: string, amount: number) =>
      app.inject({
        method: 'POST',
        url: '/recharges',
        headers: bearer(till.key),
        payload: { requestId, meterId: 'aa0001', amount, method: 'card', account: CARD },
      });
    expect((await recharge('r-1', 50)).statusCode).toBe(200);
    expect((await recharge('r-1', 51)).statusCode).toBe(409);
    const sr = await app.inject({
      method: 'POST',
      url: '/subscribers',
      headers: bearer(till.key),
      payload: { name: 'New' },
    });
    expect(sr.statusCode).toBe(201);
    await app.inject({ method: 'GET', url: '/meters/AA0001', headers: bearer(till.key) }); // a read: not audited
    const poll = await app.inject({ method: 'POST', url: '/meters/AA0001/poll', headers: bearer(till.key) });
    expect(poll.statusCode).toBe(403);

    const page = await app.inject({ method: 'GET', url: '/audit', headers: auditor });
    expect(page.statusCode).toBe(200);
    const { items, next } = page.json() as { items: Array<Record<string, unknown>>; next: number | null };
    expect(next).toBeNull();
    expect(items.map((e) => [e['method'], e['route'], e['status']])).toEqual([
      ['POST', '/meters/:id/poll', 403],
      ['POST', '/subscribers', 201],
      ['POST', '/recharges', 409],
      ['POST', '/recharges', 200],
    ]);
    for (const e of items)
      expect(e).toMatchObject({ keyId: till.id, keyName: 'till 7', at: expect.any(String) });
    expect(items[3]).toMatchObject({ meterId: 'AA0001', subscriberId: null, ref: 'r-1' });
    expect(items[1]).toMatchObject({ subscriberId: (sr.json() as { id: number }).id, meterId: null });
    expect(items[0]).toMatchObject({ meterId: 'AA0001' });
    expect(JSON.stringify(auditRows(svc))).not.toContain(CARD);
    expect(JSON.stringify(auditRows(svc))).not.toContain(till.key);
    expect(sub).toBeGreaterThan(0);

    // paging: newest first, `next` is the `before` of the following page
    const p1 = (await app.inject({ method: 'GET', url: '/audit?limit=3', headers: auditor })).json() as {
      items: Array<{ id: number }>;
      next: number | null;
    };
    expect(p1.items).toHaveLength(3);
    expect(p1.next).toBe(p1.items[2]!.id);
    const p2 = (
      await app.inject({ method: 'GET', url: `/audit?limit=3&before=${p1.next}`, headers: auditor })
    ).json() as { items: Array<{ id: number }>; next: number | null };
    expect(p2.items.map((e) => e.id)).toEqual([items[3]!['id']]);
    expect(p2.next).toBeNull();
    for (const bad of ['limit=0', 'limit=1001', 'limit=x', 'before=-1', 'colour=red'])
      expect(
        (await app.inject({ method: 'GET', url: `/audit?${bad}`, headers: auditor })).statusCode,
        bad,
      ).toBe(400);
    // the trail is for auditors and admins only
    expect((await app.inject({ method: 'GET', url: '/audit', headers: bearer(till.key) })).statusCode).toBe(
      403,
    );
  });
});

describe('the audit trail is written ahead', () => {
  it('a state-changing request is in the trail (status 0, in progress) before its handler runs: a host that dies mid-request leaves no effect unaudited', async () => {
    const { svc, app } = populated();
    const till = svc.apiKeys.create(['vending'], 'till 9');
    const seen: Array<{ status: number; route: string; ref: string | null } | undefined> = [];
    const recharge = svc.sales.recharge.bind(svc.sales);
    // The moment the recharge starts to change anything, its audit entry must already be durable.
    svc.sales.recharge = ((...args: Parameters<typeof recharge>) => {
      seen.push(svc.audit.page(1).items[0]);
      return recharge(...args);
    }) as typeof recharge;
    const r = await app.inject({
      method: 'POST',
      url: '/recharges',
      headers: bearer(till.key),
      payload: { requestId: 'wa-1', meterId: 'aa0001', amount: 70, method: 'card', account: CARD },
    });
    expect(r.statusCode).toBe(200);
    expect(seen).toEqual([expect.objectContaining({ status: 0, route: '/recharges', ref: 'wa-1' })]);
    // And once answered, the same entry carries the outcome (not a second one).
    const after = svc.audit.page(10).items.filter((e) => e.ref === 'wa-1');
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ status: 200, keyName: 'till 9' });
  });
});

describe('a re-used requestId', () => {
  it('with another meter, amount, method or account is a 409 conflict that pays nothing; the same request is "repeated"', async () => {
    const { svc, app, sub } = populated();
    svc.addMeter({ id: 'AA0003', subscriberId: sub, as: 0, ls: 1, modem: 3 });
    const headers = withKey(svc, ['vending']);
    const base = { requestId: 'same', meterId: 'AA0001', amount: 25, method: 'card', account: CARD };
    const post = (payload: object) => app.inject({ method: 'POST', url: '/recharges', headers, payload });
    const first = await post(base);
    expect(first.statusCode).toBe(200);
    const credits = () => svc.db.db.prepare('SELECT COUNT(*) AS n FROM credits').get() as { n: number };
    const n = credits().n;
    for (const change of [
      { meterId: 'AA0003' },
      { amount: 26 },
      { method: 'bank', account: '12345678' },
      { account: '5500000000000004' },
    ]) {
      const r = await post({ ...base, ...change });
      expect(r.statusCode, JSON.stringify(change)).toBe(409);
      expect(r.json()).toMatchObject({ error: 'request-id-reused', field: 'requestId' });
      expect(credits().n).toBe(n);
    }
    const again = await post({ ...base, meterId: 'aa0001' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ outcome: 'repeated', txId: first.json().txId });
    expect(svc.db.db.prepare('SELECT account_hash FROM payments').all()).not.toContainEqual({
      account_hash: CARD,
    });
  });
});

/** Runs the command line in-process, capturing its output. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => void (out += t), err: (t) => void (err += t) };
  const code = await main(args, io);
  return { code, out, err };
}

describe('host keys (command line)', () => {
  it('create, list (no secrets), revoke: the created key works on the API until revoked', async () => {
    const dir = tmp();
    const file = join(dir, 'host.db');
    const made = await cli([
      'host',
      'keys',
      'create',
      '--db',
      file,
      '--role',
      'vending',
      '--role',
      'auditor',
      '--name',
      'till 1',
    ]);
    expect(made.code).toBe(0);
    const key = made.out.trim();
    expect(key).toMatch(/^mpk_/);
    expect(made.err).toMatch(/API key 1 \(vending, auditor\): shown once/);
    const list = await cli(['host', 'keys', 'list', '--db', file, '--json']);
    expect(list.code).toBe(0);
    const keys = JSON.parse(list.out) as Array<Record<string, unknown>>;
    expect(keys).toEqual([
      expect.objectContaining({
        id: 1,
        name: 'till 1',
        roles: ['vending', 'auditor'],
        prefix: key.slice(0, 8),
        revokedAt: null,
      }),
    ]);
    expect(list.out).not.toContain(key.slice(8));
    expect((await cli(['host', 'keys', 'list', '--db', file])).out).toMatch(
      /^\s+1 {2}mpk_\S{4}… {2}active {2}vending,auditor {2}till 1\n$/,
    );

    const { app } = host(dir); // the same database file, as `host serve` would open it
    const ledger = () => app.inject({ method: 'GET', url: '/reports/ledger', headers: bearer(key) });
    expect((await ledger()).statusCode).toBe(200);
    const revoked = await cli(['host', 'keys', 'revoke', '--db', file, '1']);
    expect(revoked).toMatchObject({ code: 0, out: 'revoked API key 1\n' });
    expect((await ledger()).statusCode).toBe(401);
    expect(
      JSON.parse((await cli(['host', 'keys', 'list', '--db', file, '--json'])).out)[0].revokedAt,
    ).toEqual(expect.any(String));
    // user errors are one line and status 2
    expect(await cli(['host', 'keys', 'revoke', '--db', file, '1'])).toMatchObject({
      code: 2,
      err: expect.stringMatching(/no API key 1/),
    });
    expect(await cli(['host', 'keys', 'create', '--db', file, '--role', 'root'])).toMatchObject({
      code: 2,
      err: expect.stringMatching(/unknown role 'root'/),
    });
    expect(await cli(['host', 'keys', 'create', '--db', file])).toMatchObject({ code: 2 });
    expect(await cli(['host', 'keys', 'revoke', '--db', file, 'x'])).toMatchObject({ code: 2 });
    // list and revoke do not make a database at a mistyped path
    const typo = join(dir, 'hots.db');
    expect(await cli(['host', 'keys', 'list', '--db', typo])).toMatchObject({
      code: 1,
      err: `meterpurse host keys: no database ${typo}\n`,
    });
    expect(existsSync(typo)).toBe(false);
  });
});

describe('host serve: the first admin key, a known admin key, the bind rule, TLS', () => {
  it('the first start on a database without an admin key makes one and prints it once (stderr)', async () => {
    const dir = tmp();
    const db = join(dir, 'host.db');
    const a = await spawnHostServe(['--db', db, '--port', '0'], (p) => procs.push(p), 20_000, {
      MP_HOST_ADMIN_KEY: undefined,
    });
    const m = /admin API key (\d+) \(shown once[^)]*\): (mpk_\S+)/.exec(a.out());
    expect(m, a.out()).not.toBeNull();
    const key = m![2]!;
    expect((await fetch(`${a.url}/keys`, { headers: bearer(key) })).status).toBe(200);
    expect((await fetch(`${a.url}/keys`)).status).toBe(401);
    a.proc.kill('SIGTERM');
    await new Promise((r) => a.proc.once('exit', r));
    // the second start has an admin key already: nothing new is made or printed
    const b = await spawnHostServe(['--db', db, '--port', '0'], (p) => procs.push(p), 20_000, {
      MP_HOST_ADMIN_KEY: undefined,
    });
    expect(b.out()).not.toMatch(/admin API key/);
    expect((await fetch(`${b.url}/keys`, { headers: bearer(key) })).status).toBe(200);
  });

  it('--admin-key-file makes the given key the admin key (and a short key is refused)', async () => {
    const dir = tmp();
    const keyFile = join(dir, 'admin.key');
    writeFileSync(keyFile, `${TEST_ADMIN_KEY}\n`);
    const a = await spawnHostServe(
      ['--db', join(dir, 'host.db'), '--port', '0', '--admin-key-file', keyFile],
      (p) => procs.push(p),
      20_000,
      {
        MP_HOST_ADMIN_KEY: undefined,
      },
    );
    expect(a.out()).not.toMatch(/admin API key/);
    expect((await fetch(`${a.url}/audit`, { headers: bearer(TEST_ADMIN_KEY) })).status).toBe(200);
    writeFileSync(keyFile, 'short\n');
    const r = await cli([
      'host',
      'serve',
      '--db',
      join(dir, 'other.db'),
      '--port',
      '0',
      '--admin-key-file',
      keyFile,
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^meterpurse host serve: admin key: an admin key must be 32\.\.256 characters/);
    expect(r.err.split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('refuses a non-loopback --listen without TLS in one line, exit 2, before touching the database', async () => {
    const dir = tmp();
    const db = join(dir, 'host.db');
    for (const listen of ['0.0.0.0', '::', '192.168.1.10', 'example.org']) {
      const r = await cli(['host', 'serve', '--db', db, '--port', '0', '--listen', listen]);
      expect(r.code, listen).toBe(2);
      expect(r.err).toBe(
        `meterpurse host serve: refusing to listen on ${listen} without TLS: give --tls-cert and --tls-key, or --insecure-listen\n`,
      );
      expect(existsSync(db)).toBe(false);
    }
    expect((await cli(['host', 'serve', '--db', db, '--tls-cert', 'x.pem'])).code).toBe(2);
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1'])
      expect(isLoopback(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'localhost.example.org', '::ffff:10.0.0.1'])
      expect(isLoopback(h), h).toBe(false);
    // said explicitly, it listens
    const s = await spawnHostServe(
      ['--db', db, '--port', '0', '--listen', '0.0.0.0', '--insecure-listen'],
      (p) => procs.push(p),
    );
    expect(s.url).toMatch(/^http:\/\//);
  });

  it('--tls-cert/--tls-key serve HTTPS (a self-signed certificate made here), also on a non-loopback address', async () => {
    const dir = tmp();
    const { cert, key } = selfSigned();
    writeFileSync(join(dir, 'cert.pem'), cert);
    writeFileSync(join(dir, 'key.pem'), key);
    const s = await spawnHostServe(
      [
        '--db',
        join(dir, 'host.db'),
        '--port',
        '0',
        '--listen',
        '0.0.0.0',
        '--tls-cert',
        join(dir, 'cert.pem'),
        '--tls-key',
        join(dir, 'key.pem'),
      ],
      (p) => procs.push(p),
    );
    expect(s.url).toMatch(/^https:\/\//);
    const port = Number(new URL(s.url).port);
    const get = (path: string, auth?: string) =>
      new Promise<{ status: number; body: string; authorized: boolean }>((resolve, reject) => {
        const req = httpsRequest(
          {
            host: '127.0.0.1',
            port,
            path,
            ca: cert,
            servername: 'localhost',
            headers: auth ? { authorization: auth } : {},
          },
          (res) => {
            const authorized = (res.socket as TLSSocket).authorized;
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () =>
              resolve({
                status: res.statusCode!,
                body,
                authorized,
              }),
            );
          },
        );
        req.on('error', reject);
        req.end();
      });
    const ok = await get('/reports/ledger', `Bearer ${TEST_ADMIN_KEY}`);
    expect(ok).toMatchObject({ status: 200, authorized: true });
    expect(JSON.parse(ok.body)).toMatchObject({ balanced: true });
    expect((await get('/reports/ledger')).status).toBe(401);
    // plain HTTP to the TLS port gets no answer of the API
    await expect(fetch(`http://127.0.0.1:${port}/reports/ledger`)).rejects.toThrow();
    // an unknown certificate authority is refused by the client
    await expect(fetch(`${s.url}/reports/ledger`)).rejects.toThrow();
  });
});

/** A self-signed certificate for `localhost` / 127.0.0.1 (RSA 2048, one day), PEM. */
function selfSigned(): { cert: string; key: string } {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const c = forge.pki.createCertificate();
  c.publicKey = keys.publicKey;
  c.serialNumber = '01';
  c.validity.notBefore = new Date(Date.now() - 60_000);
  c.validity.notAfter = new Date(Date.now() + 86_400_000);
  const name = [{ name: 'commonName', value: 'localhost' }];
  c.setSubject(name);
  c.setIssuer(name);
  c.setExtensions([
    { name: 'basicConstraints', cA: true },
    {
      name: 'subjectAltName',
      altNames: [
        { type: 2, value: 'localhost' },
        { type: 7, ip: '127.0.0.1' },
      ],
    },
  ]);
  c.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(c), key: forge.pki.privateKeyToPem(keys.privateKey) };
}
