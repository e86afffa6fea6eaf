/**
 * Who may call what on the host's HTTP API.
 *
 * Every route is listed in {@link ROUTE_ACCESS} under `"<METHOD> <route url>"` — the url as
 * registered with fastify (`/meters/:id`), not as requested — with the roles that may call it, or
 * `'public'`. A route that is not listed is refused when it is registered (`buildApi` throws), so a
 * new route cannot be served open by mistake: add its line here. `HEAD` follows `GET`.
 *
 * A request to a listed, non-public route must carry `Authorization: Bearer <api key>`
 * (@fastify/bearer-auth, checked in `onRequest`, before the body is read): no key, an unknown or a
 * revoked key → 401; a valid key without one of the route's roles → 403. Both answer the API's
 * error shape `{ error, message }` and change nothing. Every state-changing request (POST, PUT,
 * PATCH, DELETE) that got past authentication is written to the audit trail before its answer is
 * sent — with its outcome, 403 and 4xx included; anonymous 401s are not (they have no "who", and
 * writing them would let anyone fill the disk); they go to the request log.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import bearerAuth from '@fastify/bearer-auth';
import type { ApiKeyService, ApiPrincipal } from './ApiKeyService.js';
import { AUDIT_IN_PROGRESS, type AuditRepository } from './db/AuditRepository.js';
import { ROLES, type Role } from './roles.js';

/** The roles of a prepayment back office (./roles.ts). A key holds one or more. */
export { ROLES, type Role };

/** What a route needs: one of these roles, or nothing. */
export type RouteAccess = readonly Role[] | 'public';

const READ: readonly Role[] = ['vending', 'engineer', 'auditor', 'admin'];

/**
 * Route → roles. `admin` is in every non-public entry (checked when the API is built): the
 * administrator can do everything. Reads are open to the auditor; writes to the role whose job
 * they are:
 * - vending operator: subscribers, meters, cards, blacklist, recharges;
 * - field engineer: poll, tariff, theft report, events;
 * - auditor: every GET (reports, events, audit trail), nothing else;
 * - key custodian: KH rotation and retirement (and the key list).
 */
export const ROUTE_ACCESS: Readonly<Record<string, RouteAccess>> = {
  'GET /health': 'public',
  'GET /openapi.json': 'public',
  'GET /subscribers': READ,
  'GET /meters': READ,
  'GET /meters/:id/usage': READ,
  'GET /cards': READ,
  'GET /credits': READ,
  'POST /subscribers': ['vending', 'admin'],
  'POST /meters': ['vending', 'admin'],
  'GET /meters/:id': READ,
  'POST /meters/:id/poll': ['engineer', 'admin'],
  'POST /meters/:id/tariff': ['engineer', 'admin'],
  'POST /cards': ['vending', 'admin'],
  'POST /cards/:serial/blacklist': ['vending', 'admin'],
  'POST /recharges': ['vending', 'admin'],
  'GET /events': ['engineer', 'auditor', 'admin'],
  'GET /reports/ledger': ['auditor', 'admin'],
  'POST /reports/theft/:as/:ls': ['engineer', 'admin'],
  'GET /keys': ['custodian', 'auditor', 'admin'],
  'POST /keys/rotate': ['custodian', 'admin'],
  'POST /keys/:version/retire': ['custodian', 'admin'],
  'GET /audit': ['auditor', 'admin'],
  // the operator console (host/service/consoleRoutes.ts): public assets, who-am-I, chart series
  'GET /console': 'public',
  'GET /console/*': 'public',
  'GET /session': [...ROLES],
  'GET /meters/:id/history': READ,
  // clearing (host/clearing/): vending points send back card logs and fetch the blacklist
  'POST /clearing/card-records': ['vending', 'admin'],
  'GET /clearing/blacklist': ['vending', 'auditor', 'admin'],
  'GET /clearing/cards/:serial': READ,
  'GET /clearing/meters/:id': READ,
  // the relay for other utilities (issue 17, host/relay/): a 'utility' key addresses its purse only
  'POST /relay/keys': ['admin'],
  'POST /relay/card-commands': ['utility', 'admin'],
  'GET /relay/card-commands/:id': ['utility', 'auditor', 'admin'],
  'GET /relay/readings': ['utility', 'auditor', 'admin'],
};

/** The methods whose requests change state and are audited. */
export const STATE_CHANGING: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The entry of `method url` (`HEAD` falls back to `GET`), or undefined when the route is not listed. */
export function accessOf(
  method: string,
  url: string,
  table: Readonly<Record<string, RouteAccess>> = ROUTE_ACCESS,
): RouteAccess | undefined {
  const m = method.toUpperCase();
  return table[`${m} ${url}`] ?? (m === 'HEAD' ? table[`GET ${url}`] : undefined);
}

/**
 * Checks the table itself: known roles only, `admin` in every non-public entry.
 * @throws Error naming the entry at fault.
 */
export function checkAccessTable(table: Readonly<Record<string, RouteAccess>> = ROUTE_ACCESS): void {
  for (const [route, rule] of Object.entries(table)) {
    if (!/^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) \/\S*$/.test(route))
      throw new Error(`access table: '${route}' is not "<METHOD> <url>"`);
    if (rule === 'public') continue;
    for (const r of rule)
      if (!(ROLES as readonly string[]).includes(r))
        throw new Error(`access table: ${route}: unknown role ${r}`);
    if (!rule.includes('admin')) throw new Error(`access table: ${route} must allow admin`);
  }
}

/**
 * The `onRoute` check: every method of a route being registered must be in the table.
 * @throws Error (a startup error) naming the route and this file.
 */
export function requireListed(
  methods: string | readonly string[],
  url: string,
  table: Readonly<Record<string, RouteAccess>> = ROUTE_ACCESS,
): void {
  for (const m of typeof methods === 'string' ? [methods] : methods)
    if (accessOf(m, url, table) === undefined)
      throw new Error(
        `route ${m} ${url} is not in the access table: add '${m} ${url}' to ROUTE_ACCESS in host/service/access.ts`,
      );
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The API key the request authenticated with (null for public routes and refused requests). */
    principal: ApiPrincipal | null;
    /** The audit entry written before this state-changing request ran. */
    auditId: number | null;
  }
}

/** How `buildApi` puts access control on its app (replaced only by the bench's open variant). */
export interface AccessLayer {
  /** Adds hooks to `app`; called before any route is registered. */
  install(app: FastifyInstance): void;
}

const unauthorized = (reply: FastifyReply, message: string) =>
  reply
    .code(401)
    .header('www-authenticate', 'Bearer realm="meterpurse"')
    .send({ error: 'unauthorized', message });

/** The subject of an audited request: the meter and subscriber it concerns and the client's reference. */
function subjectOf(
  req: FastifyRequest,
  route: string,
  payload: unknown,
): { meterId: string | null; subscriberId: number | null; ref: string | null } {
  const params = (req.params ?? {}) as Record<string, unknown>;
  const body = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<string, unknown>;
  const hex6 = (v: unknown) => (typeof v === 'string' && /^[0-9A-Fa-f]{6}$/.test(v) ? v.toUpperCase() : null);
  const int = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : null);
  let meterId = hex6(body['meterId']) ?? (route.startsWith('/meters/:id') ? hex6(params['id']) : null);
  if (route === '/meters' && req.method === 'POST') meterId ??= hex6(body['id']);
  let subscriberId = int(body['subscriberId']);
  if (
    route === '/subscribers' &&
    req.method === 'POST' &&
    typeof payload === 'string' &&
    payload.startsWith('{')
  ) {
    try {
      subscriberId ??= int((JSON.parse(payload) as { id?: unknown }).id);
    } catch {
      /* not JSON: no subscriber to name */
    }
  }
  const ref = typeof body['requestId'] === 'string' ? body['requestId'].slice(0, 64) : null;
  // Never the account (a card number), never a card serial, never a key.
  return { meterId, subscriberId, ref };
}

/**
 * The access control of a real host: API keys from the database (`keys`), roles from
 * {@link ROUTE_ACCESS}, the audit trail in `audit`.
 */
export function keyAccess(keys: ApiKeyService, audit: AuditRepository): AccessLayer {
  return {
    install(app) {
      checkAccessTable();
      app.addHook('onRoute', (r) => requireListed(r.method, r.url));
      app.decorateRequest('principal', null);
      app.decorateRequest('auditId', null);
      app.register(bearerAuth, {
        addHook: false,
        keys: [],
        specCompliance: 'rfc6749', // the scheme name is case-insensitive (RFC 7235 §2.1)
        verifyErrorLogLevel: 'warn',
        auth: (key: string, req: FastifyRequest) => {
          const p = keys.authenticate(key);
          if (!p) return false;
          req.principal = p;
          return true;
        },
      });
      app.addHook('onRequest', async (req, reply) => {
        const url = req.routeOptions.url;
        if (url === undefined) return; // no such route: the not-found handler answers
        const rule = accessOf(req.method, url);
        if (rule === 'public') return;
        const failed = await new Promise<Error | undefined>((resolve) =>
          app.verifyBearerAuth!(req, reply, resolve),
        );
        if (failed || !req.principal) return unauthorized(reply, failed?.message ?? 'invalid API key');
        const roles = req.principal.roles;
        if (!rule?.some((r) => roles.includes(r)))
          return reply.code(403).send({
            error: 'forbidden',
            message: `${req.method} ${url} needs one of the roles ${(rule ?? []).join(', ')}; key ${req.principal.id} has ${roles.join(', ')}`,
          });
      });
      // Write-ahead: an authorised state-changing request is in the trail (status 0, "in progress")
      // durably BEFORE its handler runs, so no effect can ever be missing from the trail — a host
      // that dies mid-request leaves the entry at 0. If the entry cannot be written, nothing runs.
      app.addHook('preHandler', async (req) => {
        const route = req.routeOptions.url;
        if (!STATE_CHANGING.has(req.method) || !req.principal || route === undefined) return;
        req.auditId = audit.append({
          keyId: req.principal.id,
          keyName: req.principal.name,
          method: req.method,
          route,
          ...subjectOf(req, route, undefined),
          status: AUDIT_IN_PROGRESS,
        });
      });
      app.addHook('onSend', async (req, reply, payload) => {
        const route = req.routeOptions.url;
        if (!STATE_CHANGING.has(req.method) || !req.principal || route === undefined) return payload;
        try {
          const outcome = { ...subjectOf(req, route, payload), status: reply.statusCode };
          if (req.auditId !== null) audit.finish(req.auditId, outcome);
          else
            audit.append({
              keyId: req.principal.id,
              keyName: req.principal.name,
              method: req.method,
              route,
              ...outcome,
            });
        } catch (e) {
          // The request's effect is already committed; failing its answer now would make a client
          // retry something that succeeded. The failure is logged instead.
          req.log.error({ err: e }, 'audit trail write failed');
        }
        return payload;
      });
    },
  };
}
