/**
 * Schemas of the console's two read routes (host/service/consoleRoutes.ts), written once (TypeBox):
 * fastify validates and serialises with them, the OpenAPI document shows them, and the types of
 * host/service/UsageHistory.ts are derived from them.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ROLES } from './access.js';

const Iso = Type.String({ description: 'ISO 8601 time, UTC' });
const Wh = (description: string) => Type.Number({ minimum: 0, description: `${description}, Wh` });

/** `GET /session`: the presented key and what it may call. */
export const Session = Type.Object({
  keyId: Type.Union([Type.Integer(), Type.Null()]),
  name: Type.Union([Type.String(), Type.Null()]),
  roles: Type.Array(Type.Unsafe<(typeof ROLES)[number]>({ type: 'string', enum: [...ROLES] })),
  may: Type.Array(Type.String(), {
    description: 'the routes ("POST /meters/:id/poll") this key may call, public ones aside',
  }),
});
export type Session = Static<typeof Session>;

export const HistoryParams = Type.Object({
  id: Type.String({ pattern: '^[0-9A-Fa-f]{6}$', description: 'meter id, 3 bytes in hex' }),
});
export const HistoryQuery = Type.Object(
  {
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000, default: 200, description: 'latest backups to read' }),
    ),
    days: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 92, default: 14, description: 'days of the energy chart' }),
    ),
  },
  { additionalProperties: false },
);

export const UsageDay = Type.Object({
  date: Type.String({ description: "the meter's civil date, YYYY-MM-DD" }),
  totalWh: Wh('energy of the day'),
  bandWh: Type.Array(Type.Number({ minimum: 0 }), { description: 'energy per band of `bands`, Wh' }),
  unbandedWh: Wh('energy no stored minute or known tariff table accounts for'),
  partial: Type.Boolean({ description: 'the day was still open at the latest backup' }),
});
export type UsageDay = Static<typeof UsageDay>;

export const BalancePoint = Type.Object({
  at: Iso,
  balance: Type.Integer(),
  energyWh: Type.Integer(),
  flags: Type.Integer(),
  driftSeconds: Type.Integer(),
  cutOff: Type.Boolean({ description: 'the meter reported its relay open (supply cut)' }),
});
export type BalancePoint = Static<typeof BalancePoint>;

export const RechargeMark = Type.Object({
  txId: Type.Integer(),
  amount: Type.Integer(),
  state: Type.Union([Type.Literal('pending'), Type.Literal('confirmed'), Type.Literal('refused')]),
  at: Type.String({ description: 'settled (or, while pending, created), ISO 8601' }),
  balanceAfter: Type.Union([Type.Integer(), Type.Null()]),
});
export type RechargeMark = Static<typeof RechargeMark>;

/** `GET /meters/:id/history`. */
export const MeterHistory = Type.Object({
  meterId: Type.String(),
  bands: Type.Array(Type.Object({ percent: Type.Integer({ description: 'percent of the unit charge' }) }), {
    description: 'tariff bands seen, cheapest first',
  }),
  days: Type.Array(UsageDay),
  balance: Type.Array(BalancePoint, { description: 'one point per usage backup, oldest first' }),
  recharges: Type.Array(RechargeMark),
  malformedLogs: Type.Integer({ description: 'backups whose log could not be decoded' }),
});
export type MeterHistory = Static<typeof MeterHistory>;
