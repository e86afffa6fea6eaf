/**
 * The host's HTTP/JSON API (fastify; request bodies validated by JSON schema). Every error answers
 * `{ error, message, field? }`: 400 validation, 402 payment declined, 404 unknown, 409 conflict,
 * 503 database locked/full/corrupt (nothing is credited or lost: the credit is either not written or
 * pending and delivered later).
 */
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { HostDbError } from './HostDb.js';
import type { HostService } from './HostService.js';
import { ServiceError } from './ServiceError.js';

const hexId = { type: 'string', pattern: '^[0-9A-Fa-f]{6}$' } as const;
const amount = { type: 'integer', minimum: 1, maximum: 4294967295 } as const;

/**
 * The routes over the host's services (`svc.registry`, `svc.sales`, `svc.tariffs`, `svc.usage`,
 * `svc.keyService`) and its database's reports; no SQL here.
 */
export function buildApi(svc: HostService): FastifyInstance {
  const app = Fastify({
    logger: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });

  app.setErrorHandler((err, _req, reply) => {
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
      return reply.status(400).send({ error: 'validation', message: e.message, ...(field ? { field } : {}) });
    }
    if (e instanceof ServiceError)
      return reply
        .status(e.status)
        .send({ error: e.error, message: e.message, ...(e.field ? { field: e.field } : {}) });
    if (e instanceof HostDbError) {
      try {
        svc.db.event({ kind: 'db-error', detail: `${e.code}: ${e.message}` });
      } catch {
        /* the database itself may be what failed */
      }
      const status = e.code === 'conflict' ? 409 : e.code === 'not-found' ? 404 : 503;
      return reply.status(status).send({ error: `db-${e.code}`, message: e.message });
    }
    if (e.statusCode && e.statusCode < 500)
      return reply.status(e.statusCode).send({ error: 'bad-request', message: e.message });
    try {
      svc.db.event({ kind: 'internal-error', detail: e.message });
    } catch {
      /* ignore */
    }
    return reply.status(500).send({ error: 'internal', message: e.message });
  });

  app.post<{
    Body: {
      name: string;
      threshold?: number;
      topupAmount?: number;
      topupMethod?: 'card' | 'bank';
      topupAccount?: string;
    };
  }>(
    '/subscribers',
    {
      schema: {
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            threshold: { type: 'integer', minimum: 0 },
            topupAmount: { type: 'integer', minimum: 0 },
            topupMethod: { enum: ['card', 'bank'] },
            topupAccount: { type: 'string', pattern: '^[0-9]{6,34}$' },
          },
        },
      },
    },
    async (req, reply) => reply.status(201).send({ id: svc.registry.addSubscriber(req.body) }),
  );

  app.post<{
    Body: {
      id: string;
      subscriberId: number;
      as: number;
      ls: number;
      modem: number;
      keyVersion?: number;
      initialBalance?: number;
    };
  }>(
    '/meters',
    {
      schema: {
        body: {
          type: 'object',
          required: ['id', 'subscriberId', 'ls', 'modem'],
          additionalProperties: false,
          properties: {
            id: hexId,
            subscriberId: { type: 'integer', minimum: 1 },
            as: { type: 'integer', minimum: 0, maximum: 65535, default: 0 },
            ls: { type: 'integer', minimum: 0, maximum: 255 },
            modem: { type: 'integer', minimum: 1, maximum: 256 },
            keyVersion: { type: 'integer', minimum: 0, maximum: 255 },
            initialBalance: { type: 'integer', minimum: 0 },
          },
        },
      },
    },
    async (req, reply) => {
      svc.registry.addMeter(req.body);
      return reply.status(201).send(svc.registry.meter(req.body.id));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/meters/:id',
    { schema: { params: { type: 'object', properties: { id: hexId } } } },
    async (req) => {
      const m = svc.registry.meter(req.params.id);
      return { ...m, credits: svc.db.creditsOf(m.id) };
    },
  );

  app.post<{ Params: { id: string } }>(
    '/meters/:id/poll',
    { schema: { params: { type: 'object', properties: { id: hexId } } } },
    async (req) => svc.usage.poll(req.params.id),
  );

  app.post<{
    Params: { id: string };
    Body: { activation: string; unitCharge: number; profile?: 'flat' | 'example' };
  }>(
    '/meters/:id/tariff',
    {
      schema: {
        params: { type: 'object', properties: { id: hexId } },
        body: {
          type: 'object',
          required: ['activation', 'unitCharge'],
          additionalProperties: false,
          properties: {
            activation: { type: 'string', pattern: '^[0-9]{12}$' },
            unitCharge: { type: 'integer', minimum: 1, maximum: 4294967295 },
            profile: { enum: ['flat', 'example'] },
          },
        },
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

  app.post<{ Body: { serial: string; subscriberId: number } }>(
    '/cards',
    {
      schema: {
        body: {
          type: 'object',
          required: ['serial', 'subscriberId'],
          additionalProperties: false,
          properties: {
            serial: { type: 'string', pattern: '^[0-9A-Fa-f]{16}$' },
            subscriberId: { type: 'integer', minimum: 1 },
          },
        },
      },
    },
    async (req, reply) => {
      svc.registry.addCard(req.body);
      return reply.status(201).send({ serial: req.body.serial.toUpperCase() });
    },
  );
  app.post<{ Params: { serial: string } }>('/cards/:serial/blacklist', async (req) => {
    svc.registry.blacklistCard(req.params.serial);
    return { serial: req.params.serial.toUpperCase(), blacklisted: true };
  });

  app.post<{
    Body: { requestId: string; meterId: string; amount: number; method: 'card' | 'bank'; account: string };
  }>(
    '/recharges',
    {
      schema: {
        body: {
          type: 'object',
          required: ['requestId', 'meterId', 'amount', 'method', 'account'],
          additionalProperties: false,
          properties: {
            requestId: { type: 'string', minLength: 1, maxLength: 64 },
            meterId: hexId,
            amount,
            method: { enum: ['card', 'bank'] },
            account: { type: 'string', pattern: '^[0-9]{6,34}$' },
          },
        },
      },
    },
    async (req) => svc.sales.recharge(req.body),
  );

  app.get<{ Querystring: { limit?: number } }>(
    '/events',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
        },
      },
    },
    async (req) => ({ events: svc.db.events(req.query.limit ?? 100) }),
  );

  app.get('/reports/ledger', async () => svc.db.ledgerReport());
  app.post<{ Params: { as: string; ls: string }; Body: { feederWh: number } }>(
    '/reports/theft/:as/:ls',
    {
      schema: {
        params: {
          type: 'object',
          properties: {
            as: { type: 'string', pattern: '^[0-9]{1,5}$' },
            ls: { type: 'string', pattern: '^[0-9]{1,3}$' },
          },
        },
        body: {
          type: 'object',
          required: ['feederWh'],
          additionalProperties: false,
          properties: { feederWh: { type: 'integer', minimum: 0 } },
        },
      },
    },
    async (req) => svc.usage.theftReport(Number(req.params.as), Number(req.params.ls), req.body.feederWh),
  );
  app.get('/keys', async () => svc.keyService.keys());
  app.post('/keys/rotate', async () => ({ version: svc.keyService.rotateKey() }));
  app.post<{ Params: { version: string } }>('/keys/:version/retire', async (req) => {
    const v = Number(req.params.version);
    if (!Number.isInteger(v))
      throw new ServiceError(400, 'validation', 'version must be an integer', 'version');
    svc.keyService.retireKey(v);
    return { retired: v };
  });
  return app;
}
