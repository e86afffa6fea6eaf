/**
 * The operator console: static assets (host/service/console/: HTML, CSS and plain JavaScript
 * modules, no build step) at `/console/`, and the two read routes only it needs —
 *
 * ```
 *   GET /session            who the presented key is and which routes it may call, so the console
 *                           shows only the buttons that key may press and asks only for what it
 *                           may read (the server still refuses the others: 403)
 *   GET /meters/:id/history a meter's chart series from its usage backups (host/service/UsageHistory.ts)
 * ```
 *
 * The assets are public (a browser cannot send a bearer key with a page load; they hold no data);
 * every request the console makes for data carries the key the operator pasted.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { ROUTE_ACCESS } from './access.js';
import type { HostService } from './HostService.js';
import type { Static } from '@sinclair/typebox';
import { errors } from './schemas.js';
import { HistoryParams, HistoryQuery, MeterHistory, Session } from './consoleSchemas.js';
import { UsageHistory } from './UsageHistory.js';

/**
 * Where the console's files are: next to this module when it runs from source, and in the
 * package's host/service/console/ when it runs compiled from dist/ (tsc copies no static files).
 * @throws Error when neither exists (a broken install).
 */
export function consoleRoot(): string {
  for (const rel of ['./console/', '../../../host/service/console/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir;
  }
  throw new Error('the console assets (host/service/console/) are missing from this installation');
}

/** Sent with every console asset: the console loads nothing from anywhere else, runs no inline script. */
const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** Adds the console's assets and routes to `app` (called by `buildApi`). */
export function registerConsole(app: FastifyInstance, svc: HostService): void {
  app.register(fastifyStatic, {
    root: consoleRoot(),
    prefix: '/console', // assets under /console/, and /console redirects there
    redirect: true,
    index: 'index.html',
    cacheControl: false,
    setHeaders: (res) => {
      res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
      res.setHeader('x-content-type-options', 'nosniff');
      res.setHeader('cache-control', 'no-cache');
    },
  });

  app.get(
    '/session',
    {
      schema: {
        summary: 'the presented API key, its roles and the routes it may call (the console)',
        response: { 200: Session, ...errors(401) },
      },
    },
    async (req): Promise<Session> => {
      const p = req.principal;
      const roles = p?.roles ?? [];
      // every route this key's roles may call, as the access table names them (public ones aside)
      const may = Object.entries(ROUTE_ACCESS)
        .filter(([, rule]) => rule !== 'public')
        .filter(([, rule]) =>
          (rule as readonly string[]).some((r) => (roles as readonly string[]).includes(r)),
        )
        .map(([route]) => route);
      return { keyId: p?.id ?? null, name: p?.name ?? null, roles: [...roles], may };
    },
  );

  const history = svc.container.resolve(UsageHistory);
  app.get<{ Params: Static<typeof HistoryParams>; Querystring: Static<typeof HistoryQuery> }>(
    '/meters/:id/history',
    {
      schema: {
        summary:
          "a meter's chart series from its usage backups: daily energy per tariff band, balance with recharges and cut-offs",
        params: HistoryParams,
        querystring: HistoryQuery,
        response: { 200: MeterHistory, ...errors(400, 401, 403, 404) },
      },
    },
    async (req) => history.of(req.params.id, req.query.limit ?? 200, req.query.days ?? 14),
  );
}
