/**
 * Schemas of `GET /audit` (the audit trail, host/service/access.ts), written once (TypeBox): fastify
 * validates and serialises with them and the OpenAPI document shows them.
 */
import { Type, type Static } from '@sinclair/typebox';

const nullable = <T extends ReturnType<typeof Type.String> | ReturnType<typeof Type.Integer>>(t: T) =>
  Type.Union([t, Type.Null()]);

/** `?limit=&before=`: newest first; pass a page's `next` as `before` for the following (older) page. */
export const AuditQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    before: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: Number.MAX_SAFE_INTEGER,
        description: 'entries older than this id',
      }),
    ),
  },
  { additionalProperties: false },
);
export type AuditQuery = Static<typeof AuditQuery>;

export const AuditEntry = Type.Object({
  id: Type.Integer(),
  at: Type.String({ description: 'ISO 8601 time, UTC' }),
  keyId: nullable(Type.Integer({ description: 'the API key that made the request' })),
  keyName: nullable(Type.String()),
  method: Type.String(),
  route: Type.String({ description: 'the route as registered, e.g. /meters/:id/poll' }),
  meterId: nullable(Type.String({ description: 'the meter concerned' })),
  subscriberId: nullable(Type.Integer({ description: 'the subscriber concerned' })),
  ref: nullable(Type.String({ description: "the client's reference (a recharge's requestId)" })),
  status: Type.Integer({ description: 'the HTTP status of the answer' }),
});

export const AuditPage = Type.Object({
  items: Type.Array(AuditEntry),
  next: Type.Union([Type.Integer(), Type.Null()], { description: 'pass as `before` for the next page' }),
});
