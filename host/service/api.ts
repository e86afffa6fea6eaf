/**
 * The host's HTTP/JSON API (fastify). Requests and answers are validated and serialised with the
 * schemas of schemas.ts (written once, TypeBox), from which `@fastify/swagger` also makes the
 * OpenAPI document served at `GET /openapi.json` (docs/host-openapi.json, openapi.ts). Every error
 * answers `{ error, message, field? }`: 400 validation (the field named), 402 payment declined,
 * 404 unknown (also an unknown route: `not-found`), 409 conflict, 413 body too large, 503 database
 * locked/full/corrupt (nothing is credited or lost: the credit is either not written or pending and
 * delivered later).
 */
import Fastify from 'fastify';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HostDbError } from './HostDb.js';
import type { HostService } from './HostService.js';
import { ServiceError } from './ServiceError.js';
import { registerConsole } from './consoleRoutes.js';
import { keyAccess, type AccessLayer } from './access.js';
import { AuditPage, AuditQuery } from './auditSchemas.js';
import swagger from '@fastify/swagger';
import type { Static } from '@sinclair/typebox';
import * as S from './schemas.js';
import { requestLogger, type LogLevel } from './requestLog.js';

/** Where the OpenAPI document of this API is served (public). */
export const OPENAPI_PATH = '/openapi.json';
/** Largest request body (bytes); a larger one is refused with 413 before it is parsed. */
export const BODY_LIMIT = 16 * 1024;

/** Options of {@link buildApi}. */
export interface ApiOptions {
  /** Serve HTTPS with this certificate chain and private key (PEM). */
  https?: { cert: string | Buffer; key: string | Buffer };
  /**
   * The access control; default API keys and roles from the database with the audit trail
   * (host/service/access.ts). Only the bench's unauthenticated comparison passes another;
   * `host serve` never does.
   */
  access?: AccessLayer;
  /** Request log level (pino); default 'silent' (no log). `host serve --log-level`. */
  logLevel?: LogLevel;
  /** Where the request log goes; default standard output. */
  logStream?: { write(line: string): unknown };
}

/**
 * The routes over the host's services (`svc.registry`, `svc.sales`, `svc.tariffs`, `svc.usage`,
 * `svc.keyService`) and its database's reports; no SQL here. Every route needs an API key with one
 * of the roles host/service/access.ts lists for it (a route missing from that table throws here).
 */
export function buildApi(svc: HostService, opts: ApiOptions = {}): FastifyInstance {
  const app = Fastify({
    ...(opts.https ? { https: opts.https } : {}),
    logger: requestLogger(opts.logLevel ?? 'silent', opts.logStream),
    bodyLimit: BODY_LIMIT,
    // Bodies are JSON and never coerced ("10" is not an amount); query strings and path parameters
    // are text by nature and are converted to their schema's types first (coerceParts, below).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  }) as unknown as FastifyInstance;
  (opts.access ?? keyAccess(svc.apiKeys, svc.audit)).install(app);
  app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'meterpurse host API',
        version: '1',
        description:
          'The supplier host of meterpurse (docs/host.md). Errors answer `{ error, message, field? }`.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  app.addHook('preValidation', async (req) => coerceParts(req));
  app.setNotFoundHandler((req, reply) =>
    reply
      .status(404)
      .send({ error: 'not-found', message: `no route ${req.method} ${req.url.split('?')[0]}` }),
  );

  app.setErrorHandler((err, req, reply) => {
    const e = err as Error & {
      validation?: Array<{ instancePath: string; params: Record<string, unknown> }>;
      statusCode?: number;
    };
    if (e.validation) {
      const v = e.validation[0];
      const field =
        (v?.params['missingProperty'] as string | undefined) ??
        (v?.params['additionalProperty'] as string | undefined) ??
        v?.instancePath.replace(/^\//, '').replace(/\//g, '.');
      req.log.info({ error: 'validation', field }, 'refused');
      return reply.status(400).send({ error: 'validation', message: e.message, ...(field ? { field } : {}) });
    }
    if (e instanceof ServiceError) {
      // the code and field only: messages may name a card or an account
      req.log.info({ error: e.error, field: e.field, status: e.status }, 'refused');
      return reply
        .status(e.status)
        .send({ error: e.error, message: e.message, ...(e.field ? { field: e.field } : {}) });
    }
    if (e instanceof HostDbError) {
      req.log.error({ error: `db-${e.code}` }, e.message);
      try {
        svc.db.event({ kind: 'db-error', detail: `${e.code}: ${e.message}` });
      } catch {
        /* the database itself may be what failed */
      }
      const status = e.code === 'conflict' ? 409 : e.code === 'not-found' ? 404 : 503;
      return reply.status(status).send({ error: `db-${e.code}`, message: e.message });
    }
    if (e.statusCode === 413)
      return reply
        .status(413)
        .send({ error: 'payload-too-large', message: `request body over ${BODY_LIMIT} bytes` });
    if (e.statusCode && e.statusCode < 500)
      return reply.status(e.statusCode).send({ error: 'bad-request', message: e.message });
    req.log.error({ err: e }, 'internal error');
    try {
      svc.db.event({ kind: 'internal-error', detail: e.message });
    } catch {
      /* ignore */
    }
    return reply.status(500).send({ error: 'internal', message: e.message });
  });

  // The routes are added inside a plugin, so that @fastify/swagger (registered above, loaded first)
  // sees every one of them; hooks, the error handler and the not-found handler above apply to them.
  app.register(async (app) => {
    app.get(
      '/health',
      {
        schema: {
          summary: 'liveness and database check for load balancers (no authentication)',
          security: [],
          response: { 200: S.Health, ...S.errors(503) },
        },
      },
      async () => {
        try {
          return { status: 'ok' as const, schemaVersion: svc.db.ping() };
        } catch (e) {
          // whatever broke (closed, locked, corrupt): the load balancer takes this host out
          throw new ServiceError(503, 'unhealthy', `database: ${(e as Error).message}`);
        }
      },
    );
    app.get(OPENAPI_PATH, { schema: { hide: true } }, async () => app.swagger());

    app.post<{ Body: Static<typeof S.NewSubscriber> }>(
      '/subscribers',
      { schema: { body: S.NewSubscriber, response: { 201: S.Created, ...S.errors(400, 503) } } },
      async (req, reply) => reply.status(201).send({ id: svc.registry.addSubscriber(req.body) }),
    );
    app.get<{ Querystring: Static<typeof S.SubscriberQuery> }>(
      '/subscribers',
      { schema: { querystring: S.SubscriberQuery, response: { 200: S.SubscriberPage, ...S.errors(400) } } },
      async (req) => svc.registry.subscriberPage(req.query.limit ?? 100, req.query.after),
    );

    app.post<{ Body: Static<typeof S.NewMeter> }>(
      '/meters',
      { schema: { body: S.NewMeter, response: { 201: S.Meter, ...S.errors(400, 404, 409, 503) } } },
      async (req, reply) => {
        svc.registry.addMeter({ ...req.body, as: req.body.as ?? 0 });
        return reply.status(201).send(svc.registry.meter(req.body.id));
      },
    );
    app.get<{ Querystring: Static<typeof S.MeterQuery> }>(
      '/meters',
      { schema: { querystring: S.MeterQuery, response: { 200: S.MeterPage, ...S.errors(400) } } },
      async (req) => svc.registry.meterPage(req.query.limit ?? 100, req.query.after),
    );
    app.get<{ Params: Static<typeof S.MeterIdParams> }>(
      '/meters/:id',
      { schema: { params: S.MeterIdParams, response: { 200: S.MeterDetail, ...S.errors(400, 404) } } },
      async (req) => {
        const m = svc.registry.meter(req.params.id);
        return { ...m, credits: svc.db.creditsOf(m.id) };
      },
    );
    app.get<{ Params: Static<typeof S.MeterIdParams>; Querystring: Static<typeof S.UsageQuery> }>(
      '/meters/:id/usage',
      {
        schema: {
          summary: "the meter's stored usage and timer checks, oldest first, logs decoded",
          params: S.MeterIdParams,
          querystring: S.UsageQuery,
          response: { 200: S.UsagePage, ...S.errors(400, 404) },
        },
      },
      async (req) => svc.usage.backups(req.params.id, req.query.limit ?? S.USAGE_PAGE_MAX, req.query.after),
    );
    app.post<{ Params: Static<typeof S.MeterIdParams> }>(
      '/meters/:id/poll',
      {
        schema: { params: S.MeterIdParams, response: { 200: S.PollResult, ...S.errors(400, 404, 502, 504) } },
      },
      async (req) => svc.usage.poll(req.params.id),
    );
    app.post<{ Params: Static<typeof S.MeterIdParams>; Body: Static<typeof S.TariffChange> }>(
      '/meters/:id/tariff',
      {
        schema: {
          params: S.MeterIdParams,
          body: S.TariffChange,
          response: { 200: S.TariffResult, ...S.errors(400, 404, 502, 504) },
        },
      },
      async (req) =>
        svc.tariffs.changeTariff(
          req.params.id,
          req.body.activation,
          req.body.unitCharge,
          req.body.profile ?? 'flat',
        ),
    );

    app.post<{ Body: Static<typeof S.NewCard> }>(
      '/cards',
      {
        schema: {
          summary:
            'register a subscriber card; idempotent: the same serial for the same subscriber again answers 200 with the card',
          body: S.NewCard,
          response: { 200: S.Card, 201: S.CardCreated, ...S.errors(400, 404, 409) },
        },
      },
      async (req, reply) => {
        const r = svc.registry.registerCard(req.body);
        return r.created ? reply.status(201).send({ serial: r.card.serial }) : reply.status(200).send(r.card);
      },
    );
    app.get<{ Querystring: Static<typeof S.CardQuery> }>(
      '/cards',
      { schema: { querystring: S.CardQuery, response: { 200: S.CardPage, ...S.errors(400) } } },
      async (req) => svc.registry.cardPage(req.query.limit ?? 100, req.query.after),
    );
    app.post<{ Params: Static<typeof S.CardParams> }>(
      '/cards/:serial/blacklist',
      { schema: { params: S.CardParams, response: { 200: S.Blacklisted, ...S.errors(400, 404) } } },
      async (req) => {
        svc.registry.blacklistCard(req.params.serial);
        return { serial: req.params.serial.toUpperCase(), blacklisted: true };
      },
    );

    app.post<{ Body: Static<typeof S.Recharge> }>(
      '/recharges',
      {
        schema: {
          body: S.Recharge,
          response: { 200: S.RechargeResult, ...S.errors(400, 402, 404, 409, 503) },
        },
      },
      async (req) => svc.sales.recharge(req.body),
    );
    app.get<{ Querystring: Static<typeof S.CreditQuery> }>(
      '/credits',
      { schema: { querystring: S.CreditQuery, response: { 200: S.CreditPage, ...S.errors(400) } } },
      async (req) =>
        svc.db.credits({
          limit: req.query.limit ?? 100,
          ...(req.query.after === undefined ? {} : { after: req.query.after }),
          ...(req.query.meterId === undefined ? {} : { meterId: req.query.meterId.toUpperCase() }),
          ...(req.query.state === undefined ? {} : { state: req.query.state }),
        }),
    );

    app.get<{ Querystring: Static<typeof S.EventQuery> }>(
      '/events',
      { schema: { querystring: S.EventQuery, response: { 200: S.Events, ...S.errors(400) } } },
      async (req) => ({ events: svc.db.events(req.query.limit ?? 100) }),
    );

    app.get(
      '/reports/ledger',
      { schema: { querystring: S.NoQuery, response: { 200: S.Ledger } } },
      async () => svc.db.ledgerReport(),
    );
    app.post<{ Params: Static<typeof S.TheftParams>; Body: Static<typeof S.TheftBody> }>(
      '/reports/theft/:as/:ls',
      {
        schema: {
          params: S.TheftParams,
          body: S.TheftBody,
          response: { 200: S.TheftReport, ...S.errors(400, 404, 502, 504) },
        },
      },
      async (req) => svc.usage.theftReport(req.params.as, req.params.ls, req.body.feederWh),
    );
    app.get('/keys', { schema: { querystring: S.NoQuery, response: { 200: S.Keys } } }, async () => {
      const k = svc.keyService.keys();
      return { ...k, current: k.current ?? null };
    });
    app.post('/keys/rotate', { schema: { response: { 200: S.Rotated } } }, async () => ({
      version: svc.keyService.rotateKey(),
    }));
    app.post<{ Params: Static<typeof S.KeyParams> }>(
      '/keys/:version/retire',
      { schema: { params: S.KeyParams, response: { 200: S.Retired, ...S.errors(400, 404, 409) } } },
      async (req) => {
        svc.keyService.retireKey(req.params.version);
        return { retired: req.params.version };
      },
    );

    app.post<{ Body: Static<typeof S.CardRecords> }>(
      '/clearing/card-records',
      {
        schema: {
          summary:
            "a card's log records read back at a vending point: each checked against the card's proof and stored once",
          body: S.CardRecords,
          response: { 200: S.CardRecordsResult, ...S.errors(400, 422, 503) },
        },
      },
      async (req) =>
        svc.clearing.ingestCardRecords(
          Buffer.from(req.body.csn, 'hex'),
          req.body.records.map((r) => new Uint8Array(Buffer.from(r, 'hex'))),
          `vending:key-${req.principal?.id ?? 'none'}`,
        ),
    );
    app.get(
      '/clearing/blacklist',
      {
        schema: {
          summary: 'the blacklist and its version, for vending points',
          querystring: S.NoQuery,
          response: { 200: S.BlacklistList },
        },
      },
      async () => svc.blacklist(),
    );
    app.get<{ Params: Static<typeof S.CardParams> }>(
      '/clearing/cards/:serial',
      {
        schema: {
          summary: "a card's reconciliation: counter gaps, clones, balance breaks",
          params: S.CardParams,
          response: { 200: S.CardReconciliation, ...S.errors(400) },
        },
      },
      async (req) => svc.reconcileCard(req.params.serial),
    );
    app.get<{ Params: Static<typeof S.MeterIdParams> }>(
      '/clearing/meters/:id',
      {
        schema: {
          summary: "a meter's reconciliation: SVM counter continuity, conflicts, balance evolution",
          params: S.MeterIdParams,
          response: { 200: S.MeterReconciliation, ...S.errors(400) },
        },
      },
      async (req) => svc.reconcileMeter(req.params.id),
    );

    // the relay for other utilities (issue 17): no SQL here, RelayService checks scope and input
    const relay = svc.relay;
    app.post<{ Body: Static<typeof S.NewUtilityKey> }>(
      '/relay/keys',
      {
        schema: {
          summary: "an API key for another utility's server, scoped to its purse (shown once)",
          body: S.NewUtilityKey,
          response: { 201: S.UtilityKey, ...S.errors(400) },
        },
      },
      async (req, reply) => {
        const k = relay.createUtilityKey(svc.apiKeys, req.body.purse, req.body.name);
        return reply.status(201).send({ ...k, purse: req.body.purse });
      },
    );
    app.post<{ Body: Static<typeof S.NewCardCommand> }>(
      '/relay/card-commands',
      {
        schema: {
          summary:
            "a card command for the caller's purse (REMOTE LOAD, PUT CONFIG, CLEAR READINGS), carried to the subscriber's electricity meter; idempotent by ref",
          body: S.NewCardCommand,
          response: { 200: S.CardCommandView, 201: S.CardCommandView, ...S.errors(400, 403, 404, 409, 503) },
        },
      },
      async (req, reply) => {
        const r = relay.submit(req.principal, {
          ...req.body,
          data: new Uint8Array(Buffer.from(req.body.data, 'hex')),
        });
        return reply.status(r.created ? 201 : 200).send(r.command);
      },
    );
    app.get<{ Params: Static<typeof S.CardCommandParams> }>(
      '/relay/card-commands/:id',
      {
        schema: {
          summary: "a card command's state and the card's answer",
          params: S.CardCommandParams,
          response: { 200: S.CardCommandView, ...S.errors(400, 403, 404) },
        },
      },
      async (req) => relay.command(req.principal, req.params.id),
    );
    app.get<{ Querystring: Static<typeof S.RelayReadingQuery> }>(
      '/relay/readings',
      {
        schema: {
          summary: "offline readings meters found on cards, for the caller's purse, after a cursor",
          querystring: S.RelayReadingQuery,
          response: { 200: S.RelayReadingPage, ...S.errors(400, 403) },
        },
      },
      async (req) => relay.readings(req.principal, req.query),
    );

    app.get<{ Querystring: AuditQuery }>(
      '/audit',
      { schema: { querystring: AuditQuery, response: { 200: AuditPage, ...S.errors(400) } } },
      async (req) => svc.audit.page(req.query.limit ?? 100, req.query.before),
    );
    registerConsole(app, svc);
  });
  return app;
}

/**
 * Query strings and path parameters arrive as text: where the route's schema expects an integer,
 * a number or a boolean, text that is exactly one (`"25"`, not `"2.5"`, `"25x"` or `"025"`) is
 * converted before fastify validates it; anything else stays text and fails validation with its
 * field named. Bodies are JSON and left alone.
 */
function coerceParts(req: FastifyRequest): void {
  const schema = req.routeOptions.schema as { querystring?: JsonObject; params?: JsonObject } | undefined;
  if (schema?.querystring) coerceObject(schema.querystring, req.query);
  if (schema?.params) coerceObject(schema.params, req.params);
}

type JsonObject = { properties?: Record<string, { type?: unknown }> };

function coerceObject(schema: JsonObject, value: unknown): void {
  if (!schema.properties || typeof value !== 'object' || value === null) return;
  const o = value as Record<string, unknown>;
  for (const [k, p] of Object.entries(schema.properties)) {
    const v = o[k];
    if (typeof v !== 'string') continue;
    if (p.type === 'integer' && /^-?(0|[1-9][0-9]*)$/.test(v)) o[k] = Number(v);
    else if (p.type === 'number' && /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/.test(v)) o[k] = Number(v);
    else if (p.type === 'boolean' && (v === 'true' || v === 'false')) o[k] = v === 'true';
  }
}
