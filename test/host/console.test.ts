/**
 * The operator console in a real browser: Debian's chromium driven by playwright-core against a
 * host listening on 127.0.0.1, with a fortnight of usage backups seeded (a meter on the example
 * tariff that runs out of credit, is cut off, and is recharged). Log in with a key, see the meters
 * and a meter's charts with one SVG element per data point, press Poll; an auditor's key sees no
 * button that changes state and the API refuses the action (403, nothing polled).
 *
 * Skips with a printed reason where chromium is missing; MP_REQUIRE_BROWSER=1 (CI) turns the skip
 * into a failure. Screenshots go to tmp/console/ (git-ignored); docs/console.png is one of them.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeCipherProvider, SeededRng } from '../../card/crypto/index.js';
import { HostDb } from '../../host/service/HostDb.js';
import { HostService } from '../../host/service/HostService.js';
import { SimulatedPaymentGateway } from '../../host/service/PaymentGateway.js';
import { buildApi } from '../../host/service/api.js';
import type { MeterHistory } from '../../host/service/consoleSchemas.js';
import { SimulatedField } from '../../host/sim/SimulatedField.js';
import { FLAG_RELAY_OPEN } from '../../protocol/constants.js';
import { DAY_SECONDS, RtcTime } from '../../protocol/RtcTime.js';
import { TariffTable } from '../../protocol/TariffTable.js';
import { TEST_ADMIN_KEY, bearer } from './apiAuth.js';
import { spawnHostServe } from './spawnServe.js';

const CHROMIUM = process.env.MP_CHROMIUM ?? '/usr/bin/chromium';
const REQUIRE_BROWSER = process.env.MP_REQUIRE_BROWSER === '1';
const missing = existsSync(CHROMIUM) ? undefined : `no chromium at ${CHROMIUM} (apt-get install chromium)`;
if (missing) console.warn(`console browser tests ${REQUIRE_BROWSER ? 'FAIL' : 'skipped'}: ${missing}`);

const SHOTS = fileURLToPath(new URL('../../tmp/console/', import.meta.url));
const CARD = '4111111111111111';
const EPOCH_2000 = Date.UTC(2000, 0, 1);
const HISTORY_DAYS = 14;
const UNIT_CHARGE = 500; // minor units per kWh at 100 %

/** What the page functions below use of the browser (the test's tsconfig has no DOM library). */
interface BrowserGlobals {
  sessionStorage: { getItem(key: string): string | null };
}
/** The API key the console keeps, read inside the page. */
const STORED_KEY = () =>
  (globalThis as unknown as BrowserGlobals).sessionStorage.getItem('meterpurse.apiKey');

describe('console browser prerequisites', () => {
  // Always runs: fails when MP_REQUIRE_BROWSER=1 (CI) and chromium is missing.
  it('chromium is installed, or not required (MP_REQUIRE_BROWSER unset)', () => {
    expect(REQUIRE_BROWSER && missing ? `MP_REQUIRE_BROWSER=1 but ${missing}` : undefined).toBeUndefined();
  });
});

describe('host serve', () => {
  it('serves the console at /console/ beside the API, with the same keys', async () => {
    const d = mkdtempSync(join(tmpdir(), 'mp-console-serve-'));
    let proc: ChildProcess | undefined;
    try {
      writeFileSync(join(d, 'admin.key'), `${TEST_ADMIN_KEY}\n`);
      const { url } = await spawnHostServe(
        ['--db', join(d, 'host.db'), '--port', '0', '--admin-key-file', join(d, 'admin.key')],
        (p) => (proc = p),
      );
      const page = await fetch(`${url}/console/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<script type="module" src="app.js"></script>');
      for (const f of ['app.js', 'api.js', 'charts.js', 'console.css'])
        expect((await fetch(`${url}/console/${f}`)).status, f).toBe(200);
      // nothing outside host/service/console/ (the server's sources sit next to it)
      for (const escape of ['%2e%2e/access.ts', '..%2faccess.ts', '%2e%2e%2faccess.ts'])
        expect((await fetch(`${url}/console/${escape}`)).status, escape).toBeGreaterThanOrEqual(400);
      const who = await fetch(`${url}/session`, { headers: bearer(TEST_ADMIN_KEY) });
      expect(await who.json()).toMatchObject({ roles: ['admin'] });
    } finally {
      proc?.kill('SIGKILL');
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe.skipIf(missing !== undefined)('operator console in headless chromium', () => {
  let dir: string;
  let svc: HostService;
  let app: ReturnType<typeof buildApi>;
  let base: string;
  let browser: Browser;
  let keys: { admin: string; auditor: string; engineer: string };
  let vendingKey: string;
  let polls = 0;
  let cutChecks = 0;

  async function call(path: string, k: string, method = 'GET', body?: unknown) {
    const r = await fetch(base + path, {
      method,
      headers: { ...bearer(k), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await r.text();
    return { status: r.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  }

  /**
   * A fortnight of meter AB0001 on the example tariff, polled every evening (host clock = meter
   * clock, so no drift): it draws a load that follows the time of day, pays for it at the rate
   * step in force, runs out of credit and is cut off (relay open, nothing drawn) until a recharge
   * today; then one more poll through the API.
   */
  async function seedHistory(field: SimulatedField): Promise<void> {
    const today = Math.floor((Date.now() - EPOCH_2000) / 1000 / DAY_SECONDS);
    const table = TariffTable.example(UNIT_CHARGE);
    const m = field.meters.get('AB0001')!;
    const load = (hour: number) =>
      hour < 6 ? 120 : hour < 9 ? 380 : hour < 17 ? 260 : hour < 22 ? 520 : 200;
    for (let d = today - HISTORY_DAYS; d < today; d++) {
      for (let hour = 0; hour < 24; hour++) {
        m.clock = d * DAY_SECONDS + hour * 3600 + 1800;
        if (m.flags & FLAG_RELAY_OPEN) continue; // supply cut: nothing metered
        const wh = load(hour) + ((d * 7 + hour * 13) % 60);
        m.consume(wh);
        const cost = Math.round((wh * table.percentOf(table.stepAt(m.clock)) * UNIT_CHARGE) / 100_000);
        m.balance = Math.max(0, m.balance - cost);
        if (m.balance === 0) m.flags |= FLAG_RELAY_OPEN;
      }
      m.clock = d * DAY_SECONDS + 23 * 3600;
      await svc.poll('AB0001', RtcTime.fromSeconds(m.clock));
      polls++;
      if (m.flags & FLAG_RELAY_OPEN) cutChecks++;
    }
    // today: the subscriber pays, the meter closes its relay and draws again; then a poll
    const r = await call('/recharges', keys.admin, 'POST', {
      requestId: 'console-seed-1',
      meterId: 'AB0001',
      amount: 40_000,
      method: 'card',
      account: CARD,
    });
    expect(r.status).toBe(200);
    m.flags &= ~FLAG_RELAY_OPEN;
    // (still today for the meter, even if the test crosses midnight)
    m.clock = Math.min(Math.floor((Date.now() - EPOCH_2000) / 1000) - 1, (today + 1) * DAY_SECONDS - 61);
    m.consume(150);
    expect((await call('/meters/AB0001/poll', keys.engineer, 'POST')).status).toBe(200);
    polls++;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mp-console-'));
    const cipher = new NodeCipherProvider();
    let field: SimulatedField | undefined;
    svc = new HostService({
      db: new HostDb(join(dir, 'host.db')),
      cipher,
      rng: new SeededRng('console'),
      gateway: new SimulatedPaymentGateway(),
      field: (k) => (field = new SimulatedField(cipher, k, undefined, { latencyMs: [0, 1] })),
    });
    keys = {
      admin: svc.apiKeys.create(['admin'], 'ops admin').key,
      auditor: svc.apiKeys.create(['auditor'], 'auditor').key,
      engineer: svc.apiKeys.create(['engineer'], 'field engineer').key,
    };
    vendingKey = svc.apiKeys.create(['vending'], 'vending desk').key;
    app = buildApi(svc);
    base = (await app.listen({ port: 0, host: '127.0.0.1' })).replace('localhost', '127.0.0.1');
    const sub = await call('/subscribers', keys.admin, 'POST', { name: 'Kim Lee' });
    expect(sub.status).toBe(201);
    for (const [id, modem, initialBalance] of [
      ['AB0001', 1, 45_000],
      ['AB0002', 2, 12_345],
      ['AB0003', 3, 0],
    ] as const) {
      const r = await call('/meters', keys.admin, 'POST', {
        id,
        subscriberId: sub.body!.id,
        ls: 1,
        modem,
        initialBalance,
      });
      expect(r.status).toBe(201);
    }
    const activation = RtcTime.fromSeconds(Math.floor((Date.now() - EPOCH_2000) / 1000) - 30 * DAY_SECONDS);
    const t = await call('/meters/AB0001/tariff', keys.engineer, 'POST', {
      activation: activation.toString(),
      unitCharge: UNIT_CHARGE,
      profile: 'example',
    });
    expect(t.status).toBe(200);
    await seedHistory(field!);
    expect((await call('/meters/AB0002/poll', keys.engineer, 'POST')).status).toBe(200);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    mkdirSync(SHOTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    svc?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function logIn(key: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      // the 403s a test provokes on purpose show up as failed loads; anything else is a fault
      if (m.type() === 'error' && !/status of 403/.test(m.text())) errors.push(m.text());
    });
    (page as Page & { errors?: string[] }).errors = errors;
    await page.goto(`${base}/console/`);
    await page.fill('#api-key', key);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('table#meters tbody tr[data-meter]');
    return page;
  }
  const errorsOf = (p: Page) => (p as Page & { errors?: string[] }).errors ?? [];

  it('serves the console with a strict content security policy; the data routes need a key', async () => {
    const r = await fetch(`${base}/console/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/text\/html/);
    expect(r.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect((await fetch(`${base}/console/app.js`)).headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${base}/console`, { redirect: 'manual' })).status).toBe(301);
    expect((await fetch(`${base}/meters/AB0001/history`)).status).toBe(401);
    expect((await fetch(`${base}/session`)).status).toBe(401);
    expect((await call('/meters/AB0001/history?days=93', keys.auditor)).status).toBe(400);
    // what the console's buttons follow: the access table, filtered by the key's roles
    const may = async (k: string) => ((await call('/session', k)).body as { may: string[] }).may;
    expect(await may(vendingKey)).toEqual(
      expect.arrayContaining(['POST /recharges', 'GET /meters/:id/history', 'GET /meters']),
    );
    expect(await may(vendingKey)).not.toContain('POST /meters/:id/poll');
    expect(await may(vendingKey)).not.toContain('GET /events');
    expect(await may(keys.auditor)).toEqual(expect.arrayContaining(['GET /audit', 'GET /events']));
    expect((await may(keys.auditor)).filter((r) => !r.startsWith('GET '))).toEqual([]);
  });

  it('a key the host does not know is refused at log-in', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/console/`);
    await page.fill('#api-key', 'mpk_not-a-key-the-host-knows-0000000000000');
    await page.click('#login button[type=submit]');
    await expect.poll(() => page.textContent('#login .msg')).toContain('does not know this key');
    expect(await page.evaluate(STORED_KEY)).toBeNull();
    await page.close();
  });

  it('logs in, lists the meters with balance and credit state, shows a meter with its charts', async () => {
    const page = await logIn(keys.admin);
    expect(await page.evaluate(STORED_KEY)).toBe(keys.admin);
    const rows = page.locator('table#meters tbody tr[data-meter]');
    expect(await rows.count()).toBe(3);
    const m2 = page.locator('tr[data-meter="AB0002"]');
    expect(await m2.locator('td.balance').textContent()).toBe('123.45');
    expect(await page.locator('tr[data-meter="AB0001"] .credits').textContent()).toContain('1 confirmed');
    expect(await page.locator('tr[data-meter="AB0001"] td.event').textContent()).not.toBe('none');
    await page.screenshot({ path: join(SHOTS, 'meters.png'), fullPage: true });

    await page.click('a[href="#/meters/AB0001"]');
    await page.waitForSelector('#credit-chart svg');
    const hist = (await call('/meters/AB0001/history?days=14', keys.admin)).body as unknown as MeterHistory;
    // the credit chart: one circle per usage check, one triangle per confirmed recharge, a red
    // line per check that found the supply cut
    expect(await page.locator('#credit-chart circle.point').count()).toBe(polls);
    expect(await page.locator('#credit-chart circle.point.cut').count()).toBe(cutChecks);
    expect(cutChecks).toBeGreaterThan(0);
    expect(await page.locator('#credit-chart line.cutoff').count()).toBe(cutChecks);
    expect(await page.locator('#credit-chart path.recharge').count()).toBe(1);
    // the energy chart: a bar group per day of the fortnight, a segment per band that drew energy
    expect(hist.days).toHaveLength(HISTORY_DAYS);
    expect(await page.locator('#energy-chart g.day').count()).toBe(HISTORY_DAYS);
    const segments = hist.days.reduce(
      (n, d) => n + d.bandWh.filter((v) => v > 0).length + (d.unbandedWh > 0 ? 1 : 0),
      0,
    );
    expect(segments).toBeGreaterThan(HISTORY_DAYS);
    expect(await page.locator('#energy-chart rect.bar').count()).toBe(segments);
    expect(hist.bands.map((b) => b.percent)).toEqual([50, 75, 100, 200]);
    expect(await page.locator('#energy-chart .legend').textContent()).toContain('200 % of unit charge');
    // an admin may poll and recharge
    expect(await page.locator('button[data-action=poll]').count()).toBe(1);
    expect(await page.locator('form#recharge').count()).toBe(1);
    await page.screenshot({ path: join(SHOTS, 'meter.png'), fullPage: true });
    await page.screenshot({ path: join(SHOTS, 'console.png') }); // the one in docs/console.png

    await page.click('button[data-action=poll]');
    await expect.poll(() => page.locator('#credit-chart circle.point').count()).toBe(polls + 1);
    polls++;
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });

  it('an auditor sees no button that changes state, and the API refuses the action', async () => {
    const page = await logIn(keys.auditor);
    expect(await page.textContent('#who')).toContain('auditor');
    expect(await page.locator('button[data-action]').count()).toBe(0);
    await page.click('a[href="#/meters/AB0001"]');
    await page.waitForSelector('#credit-chart svg');
    expect(await page.locator('#credit-chart circle.point').count()).toBe(polls);
    expect(await page.locator('button[data-action], form#recharge').count()).toBe(0);
    // the same request the hidden button would send, from the page with the auditor's key
    const refused = await page.evaluate(async () => {
      const r = await fetch('/meters/AB0001/poll', {
        method: 'POST',
        headers: {
          authorization: `Bearer ${(globalThis as unknown as BrowserGlobals).sessionStorage.getItem('meterpurse.apiKey')}`,
        },
      });
      return { status: r.status, body: (await r.json()) as { error: string } };
    });
    expect(refused).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    const after = (await call('/meters/AB0001/history', keys.auditor)).body as unknown as MeterHistory;
    expect(after.balance).toHaveLength(polls);
    // the refusal is in the audit trail, which the auditor reads in the console
    await page.click('a[href="#/audit"]');
    await page.waitForSelector('table#audit tbody tr');
    const audit = await page.textContent('table#audit');
    expect(audit).toContain('POST /meters/:id/poll');
    expect(audit).toContain('403');
    expect(audit).toContain('ops admin');
    await page.screenshot({ path: join(SHOTS, 'audit.png'), fullPage: true });
    await page.click('a[href="#/ledger"]');
    await page.waitForSelector('#balanced');
    expect(await page.textContent('#balanced')).toContain('Balanced');
    expect(await page.textContent('table#accounts')).toContain('meter:AB0001');
    await page.screenshot({ path: join(SHOTS, 'ledger.png'), fullPage: true });
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });

  it('an engineer may poll but not recharge', async () => {
    const page = await logIn(keys.engineer);
    await page.click('a[href="#/meters/AB0002"]');
    await page.waitForSelector('#credit-chart svg');
    expect(await page.locator('button[data-action=poll]').count()).toBe(1);
    expect(await page.locator('form#recharge').count()).toBe(0);
    await page.close();
  });

  it('a vending operator recharges through the form but may not poll or read events', async () => {
    const page = await logIn(vendingKey);
    // GET /events is not for vending: the column says so instead of failing the page
    expect(await page.locator('tr[data-meter="AB0002"] td.event').textContent()).toBe('—');
    expect(await page.locator('button[data-action=poll]').count()).toBe(0);
    await page.click('a[href="#/meters/AB0002"]');
    await page.waitForSelector('form#recharge');
    expect(await page.locator('button[data-action=poll]').count()).toBe(0);
    await page.fill('form#recharge input[name=amount]', '12.50');
    await page.fill('form#recharge input[name=account]', CARD);
    await page.click('form#recharge button[type=submit]');
    await page.waitForSelector('.msg .notice');
    expect(await page.textContent('.msg .notice')).toMatch(/^Recharge tx \d+: confirmed, balance 135\.95$/);
    expect(await page.locator('table#credits tbody tr').count()).toBe(1);
    expect(await page.textContent('table#credits')).toContain('12.50');
    const credits = (await call('/credits?meterId=AB0002', keys.admin)).body as {
      items: Array<{ amount: number }>;
    };
    expect(credits.items.map((c) => c.amount)).toEqual([1250]);
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });
});
