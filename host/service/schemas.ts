/**
 * The host API's schemas, written once (TypeBox): fastify validates requests and serialises
 * answers with them, `@fastify/swagger` turns them into the OpenAPI document
 * (docs/host-openapi.json), and the handlers' types are derived from them (`Static<typeof X>`).
 *
 * Every number a client can send is bounded by the width of the field that finally carries it,
 * so nothing valid here can fail later, deep inside a session or a database row:
 *
 * ```
 *  amount, topupAmount        u32    EnAmnt amount (value-store plaintext, host-protocol.md)
 *  initialBalance, threshold  u32    SVM balance register (balance u32 ‖ max u32 ‖ counter u32);
 *                                    initialBalance is further capped by the field's SVM maximum
 *  unitCharge                 u32    tariff table price (1…2^32-1)
 *  as                         u16    frame AS;   ls  u8 frame LS;   modem 1…256 (modem − 1 is a u8)
 *  keyVersion, :version       u8     KH version (host_keys.version, SAM key reference)
 *  feederWh                   256 × (2^32-1)   at most 256 meters' u32 energy registers per LS
 *  txId (paging cursor)       2^53-1 the host's transaction-id sequence (HostDb.MAX_TX_ID)
 * ```
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

export const U32_MAX = 0xffff_ffff;
/** The most energy the meters of one LS can report over an interval: 256 u32 registers. */
export const FEEDER_WH_MAX = 256 * U32_MAX;
/** Largest page a list endpoint answers. */
export const PAGE_MAX = 1000;

/** A string enum as JSON schema `enum` (clearer errors and OpenAPI than a union of consts). */
function StringEnum<const T extends readonly string[]>(values: T, description?: string) {
  return Type.Unsafe<T[number]>({
    type: 'string',
    enum: [...values],
    ...(description ? { description } : {}),
  });
}
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

// ------------------------------------------------------------------------------------ fields

export const MeterId = Type.String({
  pattern: '^[0-9A-Fa-f]{6}$',
  description: 'meter id, 3 bytes in hex',
});
export const CardSerial = Type.String({
  pattern: '^[0-9A-Fa-f]{16}$',
  description: 'card serial number, 8 bytes in hex',
});
export const Amount = Type.Integer({
  minimum: 1,
  maximum: U32_MAX,
  description: 'units of credit; a u32 on the wire (EnAmnt)',
});
const units = (description: string) => Type.Integer({ minimum: 0, maximum: U32_MAX, description });
export const SubscriberId = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });
export const Account = Type.String({
  pattern: '^[0-9]{6,34}$',
  description: 'card number (PAN) or bank account number, 6–34 digits',
});
export const PaymentMethod = StringEnum(['card', 'bank'] as const);
export const KeyVersion = Type.Integer({ minimum: 0, maximum: 255, description: 'KH version (u8)' });
export const CreditState = StringEnum(['pending', 'confirmed', 'refused'] as const);

// ------------------------------------------------------------------------------------ errors

/** Every error the API answers (4xx and 5xx). */
export const ErrorBody = Type.Object({
  error: Type.String({ description: 'machine-readable code, e.g. validation, unknown-meter' }),
  message: Type.String(),
  field: Type.Optional(Type.String({ description: 'the request field at fault' })),
});
export type ErrorBody = Static<typeof ErrorBody>;

// ------------------------------------------------------------------------------------ paging

/** `?limit=&after=`: keyset paging; pass a page's `next` as `after` to get the following page. */
function pageQuery<A extends TSchema>(after: A, max = PAGE_MAX) {
  return Type.Object(
    {
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: max, default: Math.min(100, max) })),
      after: Type.Optional(after),
    },
    { additionalProperties: false },
  );
}
function page<I extends TSchema, N extends TSchema>(item: I, next: N) {
  return Type.Object({
    items: Type.Array(item),
    next: Nullable(next),
  });
}

/** A route that takes no query parameters: any is refused (400, the parameter named). */
export const NoQuery = Type.Object({}, { additionalProperties: false });

// ------------------------------------------------------------------------------------ health

export const Health = Type.Object({
  status: Type.Literal('ok'),
  schemaVersion: Type.Integer(),
});

// ------------------------------------------------------------------------------------ subscribers

export const NewSubscriber = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    threshold: Type.Optional(units('auto top-up below this balance (u32)')),
    topupAmount: Type.Optional(units('auto top-up amount (0: none); a u32 (EnAmnt)')),
    topupMethod: Type.Optional(PaymentMethod),
    topupAccount: Type.Optional(Account),
  },
  { additionalProperties: false },
);
export type NewSubscriber = Static<typeof NewSubscriber>;
export const Created = Type.Object({ id: Type.Integer() });

export const Subscriber = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  threshold: Type.Integer(),
  topupAmount: Type.Integer(),
  topupMethod: Nullable(PaymentMethod),
  topupAccount: Nullable(Type.String({ description: 'masked: only the last four digits' })),
});
export type Subscriber = Static<typeof Subscriber>;
export const SubscriberQuery = pageQuery(SubscriberId);
export const SubscriberPage = page(Subscriber, Type.Integer());

// ------------------------------------------------------------------------------------ meters

export const NewMeter = Type.Object(
  {
    id: MeterId,
    subscriberId: SubscriberId,
    as: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: 'AS (u16), default 0' })),
    ls: Type.Integer({ minimum: 0, maximum: 255, description: 'LS (u8)' }),
    modem: Type.Integer({ minimum: 1, maximum: 256 }),
    keyVersion: Type.Optional(KeyVersion),
    initialBalance: Type.Optional(
      units("opening balance of the meter's SVM (posted to the ledger); at most the SVM maximum"),
    ),
  },
  { additionalProperties: false },
);
export type NewMeter = Static<typeof NewMeter>;

export const Meter = Type.Object({
  id: Type.String(),
  subscriberId: Type.Integer(),
  keyVersion: Type.Integer(),
  as: Type.Integer(),
  ls: Type.Integer(),
  modem: Type.Integer(),
  lastBalance: Nullable(Type.Integer()),
});
export const MeterIdParams = Type.Object({ id: MeterId });
export const MeterQuery = pageQuery(MeterId);
export const MeterPage = page(Meter, Type.String());

export const Credit = Type.Object({
  txId: Type.Integer(),
  meterId: Type.String(),
  amount: Type.Integer(),
  state: CreditState,
  balanceAfter: Nullable(Type.Integer()),
  ref: Type.String(),
  createdAt: Type.String(),
  settledAt: Nullable(Type.String()),
});
export type Credit = Static<typeof Credit>;
export const MeterDetail = Type.Object({
  ...Meter.properties,
  credits: Type.Array(
    Type.Object({
      txId: Type.Integer(),
      amount: Type.Integer(),
      state: CreditState,
      balanceAfter: Nullable(Type.Integer()),
    }),
  ),
});

export const PollResult = Type.Object({
  balance: Type.Integer(),
  energyWh: Type.Integer(),
  flags: Type.Integer(),
  driftSeconds: Type.Integer(),
});

export const TariffChange = Type.Object(
  {
    activation: Type.String({ pattern: '^[0-9]{12}$', description: 'YYMMDDhhmmss' }),
    unitCharge: Type.Integer({ minimum: 1, maximum: U32_MAX }),
    profile: Type.Optional(StringEnum(['flat', 'example'] as const)),
  },
  { additionalProperties: false },
);
export const TariffResult = Type.Object({
  id: Type.Integer(),
  state: Type.String(),
  balance: Type.Integer(),
});

/** One usage and timer check as stored (`usage_backups`), its consumption log decoded. */
export const UsageBackup = Type.Object({
  id: Type.Integer(),
  at: Type.String({ description: 'host time of the check, YYMMDDhhmmss' }),
  balance: Type.Integer(),
  energyWh: Type.Integer({ description: 'cumulative energy register' }),
  flags: Type.Integer(),
  driftSeconds: Type.Integer(),
  log: Nullable(
    Type.Object({
      at: Type.String({ description: 'meter time of the open minute, YYMMDDhhmmss' }),
      minuteUnit: Type.Integer({ description: 'mWh per minute count' }),
      totalUnit: Type.Integer({ description: 'mWh per day/month count' }),
      minutes: Type.Array(Type.Integer(), { description: '1440 closed minutes, oldest first' }),
      days: Type.Array(Type.Integer(), { description: 'daily totals (up to 7), oldest first' }),
      months: Type.Array(Type.Integer(), { description: 'monthly totals (up to 12), oldest first' }),
    }),
  ),
});
export type UsageBackup = Static<typeof UsageBackup>;
/** Usage pages are smaller: each backup carries its 1440 minutes. */
export const USAGE_PAGE_MAX = 100;
export const UsageQuery = pageQuery(
  Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
  USAGE_PAGE_MAX,
);
export const UsagePage = page(UsageBackup, Type.Integer());

// ------------------------------------------------------------------------------------ cards

export const NewCard = Type.Object(
  { serial: CardSerial, subscriberId: SubscriberId },
  { additionalProperties: false },
);
export const Card = Type.Object({
  serial: Type.String(),
  subscriberId: Type.Integer(),
  status: Type.String(),
  blacklisted: Type.Boolean(),
});
export type Card = Static<typeof Card>;
export const CardCreated = Type.Object({ serial: Type.String() });
export const CardParams = Type.Object({ serial: CardSerial });
export const Blacklisted = Type.Object({ serial: Type.String(), blacklisted: Type.Boolean() });
export const CardQuery = pageQuery(CardSerial);
export const CardPage = page(Card, Type.String());

// ------------------------------------------------------------------------------------ credits

export const Recharge = Type.Object(
  {
    requestId: Type.String({ minLength: 1, maxLength: 64, description: 'idempotency key' }),
    meterId: MeterId,
    amount: Amount,
    method: PaymentMethod,
    account: Account,
  },
  { additionalProperties: false },
);
export const RechargeResult = Type.Object({
  txId: Type.String({ description: 'host transaction id (u64, decimal)' }),
  state: Type.String(),
  outcome: Type.String(),
  balance: Type.Optional(Type.Integer()),
});
export const CreditQuery = Type.Object(
  {
    ...pageQuery(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })).properties,
    meterId: Type.Optional(MeterId),
    state: Type.Optional(CreditState),
  },
  { additionalProperties: false },
);
export const CreditPage = page(Credit, Type.Integer());

// ------------------------------------------------------------------------------------ reports

export const EventQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: PAGE_MAX, default: 100 })) },
  { additionalProperties: false },
);
export const Events = Type.Object({
  events: Type.Array(
    Type.Object({
      id: Type.Integer(),
      at: Type.String(),
      kind: Type.String(),
      meterId: Nullable(Type.String()),
      detail: Type.String(),
    }),
  ),
});

export const Ledger = Type.Object({
  accounts: Type.Record(Type.String(), Type.Integer()),
  balanced: Type.Boolean(),
  inTransit: Type.Integer(),
  pendingSum: Type.Integer(),
});

export const TheftParams = Type.Object({
  as: Type.Integer({ minimum: 0, maximum: 65535 }),
  ls: Type.Integer({ minimum: 0, maximum: 255 }),
});
export const TheftBody = Type.Object(
  {
    feederWh: Type.Integer({
      minimum: 0,
      maximum: FEEDER_WH_MAX,
      description: 'feeder energy since the previous report, Wh',
    }),
  },
  { additionalProperties: false },
);
export const TheftReport = Type.Object({
  ls: Type.Integer(),
  feederWh: Type.Integer(),
  metersWh: Type.Integer(),
  unaccountedWh: Type.Integer(),
  unaccountedPermille: Type.Number(),
  feederFlagged: Type.Boolean(),
  meters: Type.Array(
    Type.Object({
      meterId: Type.String(),
      reasons: Type.Array(Type.String()),
      zScore: Type.Optional(Type.Number()),
    }),
  ),
});

// ------------------------------------------------------------------------------------ keys

export const Keys = Type.Object({
  current: Nullable(Type.Integer()),
  versions: Type.Array(
    Type.Object({ version: Type.Integer(), current: Type.Boolean(), meters: Type.Integer() }),
  ),
});
export const Rotated = Type.Object({ version: Type.Integer() });
export const KeyParams = Type.Object({ version: KeyVersion });
export const Retired = Type.Object({ retired: Type.Integer() });

/** The error answers a route can give, by status (for the OpenAPI document). */
export const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [s, ErrorBody]));

// ------------------------------------------------------------------------------------ clearing

/** POST /clearing/card-records: a card's log read back at a vending point (terminal/readCardLog). */
export const CardRecords = Type.Object(
  {
    csn: CardSerial,
    records: Type.Array(
      Type.String({ pattern: '^[0-9A-Fa-f]{76}$', description: 'one 38-byte card log record, hex' }),
      { minItems: 1, maxItems: 10, description: 'the card log records, as READ RECORD gave them' },
    ),
  },
  { additionalProperties: false },
);
export const CardRecordsResult = Type.Object({
  stored: Type.Integer(),
  duplicates: Type.Integer(),
  clones: Type.Integer(),
});
export const BlacklistList = Type.Object({
  version: Type.Integer({ minimum: 0, description: 'bumped on every change of any card flag' }),
  serials: Type.Array(Type.String()),
});
const Finding = Type.Object(
  {
    kind: Type.String({ description: 'gap, clone, conflict or balance-break' }),
    purse: Type.Optional(Type.Integer()),
    from: Type.Optional(Type.Integer()),
    to: Type.Optional(Type.Integer()),
    counter: Type.Optional(Type.Integer()),
    expected: Type.Optional(Type.Integer()),
    got: Type.Optional(Type.Integer()),
  },
  { additionalProperties: false },
);
export const CardReconciliation = Type.Object({
  csn: Type.String(),
  purses: Type.Array(
    Type.Object({
      purse: Type.Integer(),
      first: Type.Integer(),
      last: Type.Integer(),
      records: Type.Integer(),
      balance: Type.Integer(),
    }),
  ),
  findings: Type.Array(Finding),
});
export const MeterReconciliation = Type.Object({
  meterId: Type.String(),
  first: Nullable(Type.Integer()),
  last: Nullable(Type.Integer()),
  records: Type.Integer(),
  balance: Nullable(Type.Integer()),
  findings: Type.Array(Finding),
});

// ------------------------------------------------------------------------------------ relay (issue 17)

/** A purse (utility) id: 1 electricity, 2 gas, 3 water, 4 heat, 5 hot water, … (u8 on the card, 1..15). */
export const PurseId = Type.Integer({ minimum: 1, maximum: 15, description: 'purse (utility) id' });
/** A relay id: u32 on the power line (H = 57). */
export const RelayId = Type.Integer({ minimum: 1, maximum: U32_MAX, description: 'relay id (u32)' });

/** POST /relay/keys: an API key for another utility's server, scoped to its purse. */
export const NewUtilityKey = Type.Object(
  {
    purse: Type.Integer({ minimum: 2, maximum: 15, description: 'the utility purse the key may address' }),
    name: Type.String({ minLength: 1, maxLength: 200 }),
  },
  { additionalProperties: false },
);
export const UtilityKey = Type.Object({
  id: Type.Integer(),
  key: Type.String({ description: 'shown once' }),
  purse: Type.Integer(),
});

/** POST /relay/card-commands: one command for the caller's purse on a card. */
export const NewCardCommand = Type.Object(
  {
    purse: PurseId,
    ref: Type.String({
      minLength: 1,
      maxLength: 64,
      description: "the utility's own reference: the same ref again answers the stored command",
    }),
    csn: CardSerial,
    ins: Type.Integer({
      minimum: 0,
      maximum: 255,
      description: '0x56 REMOTE LOAD, 0x58 PUT CONFIG, 0x5A CLEAR READINGS',
    }),
    p2: Type.Integer({ minimum: 0, maximum: 255, description: 'P2 = the purse' }),
    data: Type.String({
      pattern: '^([0-9A-Fa-f]{2}){1,64}$',
      description: 'the command data, hex (26, 44 or 16 bytes by ins), MAC included',
    }),
  },
  { additionalProperties: false },
);
export const CardCommandView = Type.Object({
  id: Type.Integer(),
  purse: Type.Integer(),
  ref: Type.String(),
  csn: Type.String(),
  ins: Type.Integer(),
  p2: Type.Integer(),
  state: StringEnum(['queued', 'waiting', 'answered'] as const),
  outcome: Nullable(Type.Integer({ description: '0 the card answered, 1 the meter refused it' })),
  sw: Nullable(Type.Integer({ description: 'final status word, or why it waits' })),
  answer: Nullable(Type.String({ description: "the card's answer data, hex" })),
  createdAt: Type.String(),
  answeredAt: Nullable(Type.String()),
});
export const CardCommandParams = Type.Object({ id: RelayId });
export const RelayReadingQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: PAGE_MAX, default: 100 })),
    after: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
    purse: Type.Optional(PurseId),
  },
  { additionalProperties: false },
);
export const RelayReading = Type.Object({
  id: Type.Integer({ description: 'cursor for ?after=' }),
  csn: Type.String(),
  purse: Type.Integer(),
  meterId: Type.String({ description: 'the offline meter that wrote the record' }),
  record: Type.String({ description: 'the SFI 04 record (144 bytes), hex' }),
  reportedBy: Type.String({ description: 'the electricity meter that brought it back' }),
  receivedAt: Type.String(),
});
export const RelayReadingPage = page(RelayReading, Type.Integer());
