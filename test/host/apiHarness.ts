/**
 * A host service with its HTTP API over a temporary database and a simulated field, for the API
 * tests: `open()` returns the service, the app and an admin key's headers; `businessState()` dumps
 * every table that holds the host's business (not the events log or the audit trail), so a test can
 * say "nothing changed".
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { NodeCipherProvider, SeededRng } from '../../card/crypto/index.js';
import { HostDb } from '../../host/service/HostDb.js';
import { HostService } from '../../host/service/HostService.js';
import { SimulatedPaymentGateway } from '../../host/service/PaymentGateway.js';
import { buildApi, type ApiOptions } from '../../host/service/api.js';
import { SimulatedField } from '../../host/sim/SimulatedField.js';
import { withKey } from './apiAuth.js';

const cipher = new NodeCipherProvider();
const dirs: string[] = [];
const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

export const CARD = '4111111111111111';

/** `seed` seeds the host's RNG (default 'api'); `dir` reuses a folder (default a fresh one). */
export function open(opts: ApiOptions & { seed?: string; dir?: string } = {}) {
  const { seed = 'api', dir: given, ...api } = opts;
  const dir = given ?? mkdtempSync(join(tmpdir(), 'host-api-'));
  if (!given) dirs.push(dir);
  const db = new HostDb(join(dir, 'host.db'));
  const svc = new HostService({
    db,
    cipher,
    rng: new SeededRng(seed),
    gateway: new SimulatedPaymentGateway(),
    field: (keys) => new SimulatedField(cipher, keys, join(dir, 'field.json')),
  });
  const app = buildApi(svc, api);
  closers.push(
    () => app.close(),
    () => {
      if (svc.db.db.open) svc.close();
    },
  );
  const headers = withKey(svc, ['admin']);
  return { svc, app, dir, headers, field: svc.field as SimulatedField };
}

const BUSINESS_TABLES = [
  'subscribers',
  'meters',
  'cards',
  'credits',
  'ledger',
  'payments',
  'tariff_assignments',
  'usage_backups',
  'host_keys',
] as const;

/** Every row of every business table (test-side SQL: the host's own code keeps SQL in its db layer). */
export function businessState(svc: HostService): Record<string, unknown[]> {
  return Object.fromEntries(
    BUSINESS_TABLES.map((t) => [t, svc.db.db.prepare(`SELECT * FROM ${t} ORDER BY rowid`).all()]),
  );
}
