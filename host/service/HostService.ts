/**
 * The host service: database, key ring, protocol, exactly-once dispatcher, the (simulated) field of
 * meters, the payment gateway, automatic top-up and key management. The HTTP API (api.ts) is a thin
 * layer over this class.
 */
import type { BlockCipherProvider, Rng } from '../../card/crypto/types.js';
import { HostKeyRing } from '../../card/crypto/keyHierarchy.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import { TariffTable } from '../../protocol/TariffTable.js';
import { HostProtocol } from '../protocol/HostProtocol.js';
import { ProtocolError } from '../../protocol/errors.js';
import { LinkTimeoutError } from '../network/errors.js';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { ConsumptionLog } from '../../protocol/ConsumptionLog.js';
import { detect } from '../theft/TheftDetector.js';
import type { LsReport, MeterObservation } from '../theft/TheftDetector.js';
import type { Terminal } from '../../protocol/Terminal.js';
import { ValueStoreDispatcher } from '../ValueStoreDispatcher.js';
import type { DeliveryOutcome } from '../ValueStoreDispatcher.js';
import { HostDb, HostDbError } from './HostDb.js';
import type { PaymentGateway, PaymentMethod } from './PaymentGateway.js';

/** A request the service refuses, with the field at fault (becomes a 4xx body). */
export class ServiceError extends Error {
  override readonly name = 'ServiceError';
  constructor(
    readonly status: number,
    readonly error: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export interface FieldPort {
  terminal(meterId: string): Terminal;
  install?(id: string, as: number, ls: number, modem: number, keyVersion: number, balance?: number): unknown;
}

export interface HostServiceOptions {
  db: HostDb;
  cipher: BlockCipherProvider;
  rng: Rng;
  gateway: PaymentGateway;
  /** How the host reaches meters (built after the key ring is known). */
  field: (keys: () => HostKeyRing) => FieldPort;
  /** Real wait inside every value-store session (tests use it to kill the process mid-session). */
  sessionDelayMs?: number;
  /**
   * KH versions to start a new database with (the key ceremony: the same KH the meters' SAMs were
   * personalised from); the highest becomes current. Default: KH[0] and KH[1] drawn from `rng`.
   * Ignored when the database already holds keys.
   */
  initialKeys?: ReadonlyArray<readonly [number, Uint8Array]>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class HostService {
  readonly db: HostDb;
  readonly protocol: HostProtocol;
  readonly dispatcher: ValueStoreDispatcher;
  readonly field: FieldPort;
  readonly #o: HostServiceOptions;
  #ring: HostKeyRing;
  /** Serialises deliveries per meter (rule 4 of exactly-once). */
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(o: HostServiceOptions) {
    this.#o = o;
    this.db = o.db;
    this.#ring = this.#loadKeys();
    this.protocol = new HostProtocol(o.cipher, o.rng, () => this.#ring);
    this.field = o.field(() => this.#ring);
    const delay = o.sessionDelayMs ?? 0;
    this.dispatcher = new ValueStoreDispatcher(this.protocol, this.db, {
      ref: (id) => ({ id: fromHex(id), keyVersion: this.meter(id).keyVersion }),
      terminal: (id) => {
        const t = this.field.terminal(id);
        if (!delay) return t;
        return {
          init: (a, b, n) => t.init(a, b, n),
          command: async (h, p, s) => {
            await sleep(delay); // authenticated, the command not yet at the meter
            const m = await t.command(h, p, s);
            await sleep(delay); // the meter has credited; the host has not yet recorded it
            return m;
          },
        };
      },
    });
  }

  #loadKeys(): HostKeyRing {
    let rows = this.db.db
      .prepare('SELECT version, key_hex, current FROM host_keys WHERE retired = 0 ORDER BY version')
      .all() as Array<{ version: number; key_hex: string; current: number }>;
    if (rows.length === 0) {
      const keys = this.#o.initialKeys ?? [
        [0, this.#o.rng.bytes(16)],
        [1, this.#o.rng.bytes(16)],
      ];
      const current = Math.max(...keys.map(([v]) => v));
      this.db.tx(() => {
        const insert = this.db.db.prepare(
          'INSERT INTO host_keys (version, key_hex, current) VALUES (?, ?, ?)',
        );
        for (const [v, k] of keys) insert.run(v, toHex(k), v === current ? 1 : 0);
      });
      rows = this.db.db
        .prepare('SELECT version, key_hex, current FROM host_keys WHERE retired = 0 ORDER BY version')
        .all() as typeof rows;
    }
    const cur = rows.find((r) => r.current)?.version;
    return HostKeyRing.of(
      rows.map((r) => [r.version, fromHex(r.key_hex)] as const),
      cur,
    );
  }

  /** Delivers every pending credit (run at start-up: a restart loses nothing). */
  async recover(): Promise<DeliveryOutcome[]> {
    const out: DeliveryOutcome[] = [];
    for (const t of this.db.pending()) out.push(await this.#deliver(t.meterId, t.txId));
    return out;
  }

  #deliver(meterId: string, txId: bigint): Promise<DeliveryOutcome> {
    const prev = this.#queues.get(meterId) ?? Promise.resolve();
    const next = prev.then(() => this.dispatcher.deliver(txId));
    this.#queues.set(
      meterId,
      next.catch(() => undefined),
    );
    return next;
  }

  // ------------------------------------------------------------------ registration

  addSubscriber(s: {
    name: string;
    threshold?: number;
    topupAmount?: number;
    topupMethod?: PaymentMethod;
    topupAccount?: string;
  }): number {
    const r = this.db.tx(() =>
      this.db.db
        .prepare(
          'INSERT INTO subscribers (name, threshold, topup_amount, topup_method, topup_account) VALUES (?, ?, ?, ?, ?)',
        )
        .run(s.name, s.threshold ?? 0, s.topupAmount ?? 0, s.topupMethod ?? null, s.topupAccount ?? null),
    );
    return Number(r.lastInsertRowid);
  }

  addMeter(m: {
    id: string;
    subscriberId: number;
    as: number;
    ls: number;
    modem: number;
    keyVersion?: number;
    initialBalance?: number;
  }): void {
    const id = m.id.toUpperCase();
    const keyVersion = m.keyVersion ?? this.#ring.current ?? 0;
    if (!this.#ring.has(keyVersion))
      throw new ServiceError(
        400,
        'unknown-key-version',
        `KH version ${keyVersion} is not held`,
        'keyVersion',
      );
    if (!this.db.db.prepare('SELECT 1 FROM subscribers WHERE id = ?').get(m.subscriberId))
      throw new ServiceError(404, 'unknown-subscriber', `no subscriber ${m.subscriberId}`, 'subscriberId');
    if (this.db.db.prepare('SELECT 1 FROM meters WHERE id = ?').get(id))
      throw new ServiceError(409, 'duplicate-meter', `meter ${id} exists`, 'id');
    if (
      this.db.db
        .prepare('SELECT 1 FROM meters WHERE as_id = ? AND ls_id = ? AND modem = ?')
        .get(m.as, m.ls, m.modem)
    )
      throw new ServiceError(409, 'modem-taken', `AS ${m.as} LS ${m.ls} modem ${m.modem} is taken`, 'modem');
    this.db.tx(() =>
      this.db.db
        .prepare(
          'INSERT INTO meters (id, subscriber_id, key_version, as_id, ls_id, modem) VALUES (?, ?, ?, ?, ?, ?)',
        )
        .run(id, m.subscriberId, keyVersion, m.as, m.ls, m.modem),
    );
    this.field.install?.(id, m.as, m.ls, m.modem, keyVersion, m.initialBalance ?? 0);
    this.db.event({
      kind: 'meter-registered',
      meterId: id,
      detail: `AS ${m.as} LS ${m.ls} modem ${m.modem} KH v${keyVersion}`,
    });
  }

  addCard(c: { serial: string; subscriberId: number }): void {
    this.db.tx(() =>
      this.db.db
        .prepare("INSERT INTO cards (serial, subscriber_id, status) VALUES (?, ?, 'active')")
        .run(c.serial.toUpperCase(), c.subscriberId),
    );
  }

  blacklistCard(serial: string): void {
    const r = this.db.tx(() =>
      this.db.db
        .prepare("UPDATE cards SET blacklisted = 1, status = 'blocked' WHERE serial = ?")
        .run(serial.toUpperCase()),
    );
    if (r.changes === 0) throw new ServiceError(404, 'unknown-card', `no card ${serial}`, 'serial');
    this.db.event({ kind: 'card-blacklisted', detail: serial.toUpperCase() });
  }

  meter(id: string): {
    id: string;
    subscriberId: number;
    keyVersion: number;
    as: number;
    ls: number;
    modem: number;
    lastBalance: number | null;
  } {
    const r = this.db.db.prepare('SELECT * FROM meters WHERE id = ?').get(id.toUpperCase()) as
      | {
          id: string;
          subscriber_id: number;
          key_version: number;
          as_id: number;
          ls_id: number;
          modem: number;
          last_balance: number | null;
        }
      | undefined;
    if (!r) throw new ServiceError(404, 'unknown-meter', `no meter ${id}`, 'meterId');
    return {
      id: r.id,
      subscriberId: r.subscriber_id,
      keyVersion: r.key_version,
      as: r.as_id,
      ls: r.ls_id,
      modem: r.modem,
      lastBalance: r.last_balance,
    };
  }

  // ------------------------------------------------------------------ recharge

  /**
   * A recharge paid by card or bank account. Idempotent per `requestId`. Order: the gateway must
   * guarantee the payment; then payment, pending credit and ledger entries commit in one durable
   * transaction; then the credit is delivered (exactly once).
   */
  async recharge(r: {
    requestId: string;
    meterId: string;
    amount: number;
    method: PaymentMethod;
    account: string;
  }): Promise<{ txId: string; state: string; balance?: number; outcome: string }> {
    const meterId = r.meterId.toUpperCase();
    const meter = this.meter(meterId);
    const prior = this.db.db.prepare('SELECT tx_id FROM payments WHERE request_id = ?').get(r.requestId) as
      { tx_id: number } | undefined;
    if (prior) {
      const t = this.db.get(BigInt(prior.tx_id))!;
      if (t.meterId !== meterId || t.amount !== r.amount)
        throw new ServiceError(
          409,
          'request-id-reused',
          `requestId ${r.requestId} was used for another recharge`,
          'requestId',
        );
      const o = t.state === 'pending' ? await this.#deliver(meterId, t.txId) : undefined;
      const now = this.db.get(t.txId)!;
      return {
        txId: String(now.txId),
        state: now.state,
        outcome: o?.result ?? 'repeated',
        ...(now.balanceAfter === undefined ? {} : { balance: now.balanceAfter }),
      };
    }
    const pay = await this.#o.gateway.authorize(r.requestId, r.method, r.account, r.amount);
    if (pay.status !== 'guaranteed') {
      this.db.event({
        kind: 'payment-declined',
        meterId,
        detail: `${r.requestId}: ${pay.reason ?? 'declined'}`,
      });
      throw new ServiceError(402, 'payment-declined', pay.reason ?? 'payment declined', 'account');
    }
    const tx = this.db.tx(() => {
      const t = this.db.createCreditInTx(meterId, r.amount, `payment ${r.requestId}`, `payments:${r.method}`);
      this.db.db
        .prepare(
          'INSERT INTO payments (request_id, gateway_ref, subscriber_id, meter_id, amount, method, tx_id) VALUES (?, ?, ?, ?, ?, ?, ?)',
        )
        .run(r.requestId, pay.reference, meter.subscriberId, meterId, r.amount, r.method, Number(t.txId));
      return t;
    });
    const o = await this.#deliver(meterId, tx.txId);
    const now = this.db.get(tx.txId)!;
    if (o.result === 'confirmed') await this.#autoTopUp(meterId, o.balance);
    return {
      txId: String(tx.txId),
      state: now.state,
      outcome: o.result,
      ...(o.result === 'confirmed' ? { balance: o.balance } : {}),
    };
  }

  /** Automatic top-up when a reported balance is below the subscriber's threshold. */
  async #autoTopUp(meterId: string, balance: number): Promise<void> {
    const m = this.meter(meterId);
    const s = this.db.db
      .prepare('SELECT threshold, topup_amount, topup_method, topup_account FROM subscribers WHERE id = ?')
      .get(m.subscriberId) as
      | {
          threshold: number;
          topup_amount: number;
          topup_method: PaymentMethod | null;
          topup_account: string | null;
        }
      | undefined;
    if (!s || s.topup_amount <= 0 || !s.topup_method || !s.topup_account || balance >= s.threshold) return;
    if (this.db.pending(meterId).length > 0) return;
    const requestId = `auto-${meterId}-${Date.now()}`;
    this.db.event({
      kind: 'auto-topup',
      meterId,
      detail: `balance ${balance} < threshold ${s.threshold}: ${s.topup_amount}`,
    });
    try {
      await this.recharge({
        requestId,
        meterId,
        amount: s.topup_amount,
        method: s.topup_method,
        account: s.topup_account,
      });
    } catch (e) {
      this.db.event({ kind: 'auto-topup-failed', meterId, detail: (e as Error).message });
    }
  }

  /** Usage and timer check of one meter: backup stored, clock corrected, auto top-up checked. */
  async poll(
    meterId: string,
    now = RtcTime.fromSeconds(Math.floor((Date.now() - Date.UTC(2000, 0, 1)) / 1000)),
  ): Promise<{ balance: number; energyWh: number; flags: number; driftSeconds: number }> {
    const m = this.meter(meterId);
    const info = await this.#meterCall(m.id, () =>
      this.protocol.usageCheck(
        this.field.terminal(m.id),
        { id: fromHex(m.id), keyVersion: m.keyVersion },
        now,
      ),
    );
    const drift = info.timer.seconds - now.seconds;
    this.db.tx(() =>
      this.db.db
        .prepare(
          'INSERT INTO usage_backups (meter_id, at, balance, energy_wh, flags, drift_s, log) VALUES (?, ?, ?, ?, ?, ?, ?)',
        )
        .run(m.id, now.toString(), info.balance, info.energyWh, info.flags, drift, Buffer.from(info.log)),
    );
    this.dispatcher.reconcile(m.id, info.balance);
    if (info.flags)
      this.db.event({ kind: 'tamper-flags', meterId: m.id, detail: `flags ${info.flags.toString(16)}` });
    // tariff mode check: the table in force must be the last stored assignment once it is active
    const t = this.db.db
      .prepare(
        "SELECT activation, table_hex AS hex FROM tariff_assignments WHERE meter_id = ? AND state = 'stored' ORDER BY id DESC LIMIT 1",
      )
      .get(m.id) as { activation: string; hex: string } | undefined;
    if (
      t &&
      RtcTime.parse(t.activation).seconds <= info.timer.seconds &&
      toHex(info.table.encode()) !== t.hex
    )
      this.db.event({
        kind: 'tariff-mismatch',
        meterId: m.id,
        detail: `meter table differs from the assignment active since ${t.activation}`,
      });
    await this.#autoTopUp(m.id, info.balance);
    return { balance: info.balance, energyWh: info.energyWh, flags: info.flags, driftSeconds: drift };
  }

  /**
   * Tariff mode change (seed 000 Fig. 2): the assignment is stored pending, sent, and marked stored
   * once the meter's authenticated answer echoes the activation time.
   */
  async changeTariff(
    meterId: string,
    activation: string,
    unitCharge: number,
    profile: 'flat' | 'example',
  ): Promise<{ id: number; state: string; balance: number }> {
    const m = this.meter(meterId);
    let at: RtcTime;
    try {
      at = RtcTime.parse(activation);
    } catch (e) {
      throw new ServiceError(400, 'validation', (e as Error).message, 'activation');
    }
    const table = profile === 'flat' ? TariffTable.flat(unitCharge) : TariffTable.example(unitCharge);
    const id = Number(
      this.db.tx(() =>
        this.db.db
          .prepare(
            "INSERT INTO tariff_assignments (meter_id, activation, table_hex, state) VALUES (?, ?, ?, 'pending')",
          )
          .run(m.id, at.toString(), toHex(table.encode())),
      ).lastInsertRowid,
    );
    const a = await this.#meterCall(m.id, () =>
      this.protocol.changeTariff(
        this.field.terminal(m.id),
        { id: fromHex(m.id), keyVersion: m.keyVersion },
        at,
        table,
      ),
    );
    this.db.tx(() =>
      this.db.db.prepare("UPDATE tariff_assignments SET state = 'stored' WHERE id = ?").run(id),
    );
    this.dispatcher.reconcile(m.id, a.balance);
    this.db.event({
      kind: 'tariff-stored',
      meterId: m.id,
      detail: `${profile} ${unitCharge} from ${at.toString()}`,
    });
    return { id, state: 'stored', balance: a.balance };
  }

  /** Runs one session with a meter; protocol and link failures become an event and a 502/504. */
  async #meterCall<T>(meterId: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      if (e instanceof ProtocolError || e instanceof LinkTimeoutError || e instanceof MalformedDataError) {
        this.db.event({ kind: 'meter-session-failed', meterId, detail: e.message });
        const timeout = e instanceof LinkTimeoutError;
        throw new ServiceError(
          timeout ? 504 : 502,
          timeout ? 'meter-unreachable' : 'meter-session-failed',
          e.message,
        );
      }
      throw e;
    }
  }

  /**
   * Theft check of one LS (seed 000 Fig. 3): polls every meter of the LS, takes each meter's
   * energy since its previous backup, and compares the sum with the feeder energy measured at the
   * transformer over the same interval; each meter is also checked against its own daily history.
   * Findings are logged as events 'theft-suspected'.
   */
  async theftReport(as: number, ls: number, feederWh: number): Promise<LsReport> {
    const ids = (
      this.db.db
        .prepare('SELECT id FROM meters WHERE as_id = ? AND ls_id = ? ORDER BY modem')
        .all(as, ls) as Array<{ id: string }>
    ).map((r) => r.id);
    if (ids.length === 0)
      throw new ServiceError(404, 'unknown-ls', `no meters under AS ${as} LS ${ls}`, 'ls');
    const obs: MeterObservation[] = [];
    for (const id of ids) {
      const prev = this.db.db
        .prepare('SELECT energy_wh AS e FROM usage_backups WHERE meter_id = ? ORDER BY id DESC LIMIT 1')
        .get(id) as { e: number } | undefined;
      const p = await this.poll(id);
      const last = this.db.db
        .prepare('SELECT log FROM usage_backups WHERE meter_id = ? ORDER BY id DESC LIMIT 1')
        .get(id) as { log: Buffer };
      const view = ConsumptionLog.decode(Uint8Array.from(last.log));
      obs.push({
        meterId: id,
        energyWh: p.energyWh - (prev?.e ?? p.energyWh),
        flags: p.flags,
        history: [...view.days].map((d) => (d * view.totalUnit) / 1000),
      });
    }
    const report = detect(ls, feederWh, obs);
    if (report.feederFlagged)
      this.db.event({
        kind: 'theft-suspected',
        detail: `AS ${as} LS ${ls}: ${report.unaccountedWh} Wh unaccounted (${report.unaccountedPermille} ‰)`,
      });
    for (const f of report.meters)
      this.db.event({ kind: 'theft-suspected', meterId: f.meterId, detail: f.reasons.join('; ') });
    return report;
  }

  // ------------------------------------------------------------------ keys

  /** KH versions and which meters hold which. */
  keys(): {
    current: number | undefined;
    versions: Array<{ version: number; current: boolean; meters: number }>;
  } {
    const counts = new Map(
      (
        this.db.db
          .prepare('SELECT key_version AS v, COUNT(*) AS n FROM meters GROUP BY key_version')
          .all() as Array<{ v: number; n: number }>
      ).map((r) => [r.v, r.n]),
    );
    return {
      current: this.#ring.current,
      versions: this.#ring.versions.map((v) => ({
        version: v,
        current: v === this.#ring.current,
        meters: counts.get(v) ?? 0,
      })),
    };
  }

  /** Rotation: a new KH version becomes current; older versions stay valid until no meter holds them. */
  rotateKey(): number {
    const key = this.#o.rng.bytes(16);
    const next = this.#ring.rotate(key);
    const v = next.current!;
    this.db.tx(() => {
      this.db.db.prepare('UPDATE host_keys SET current = 0').run();
      this.db.db
        .prepare('INSERT INTO host_keys (version, key_hex, current) VALUES (?, ?, 1)')
        .run(v, toHex(key));
    });
    this.#ring = next;
    this.db.event({ kind: 'key-rotated', detail: `KH v${v} current` });
    return v;
  }

  /** Retires a KH version no meter holds any more. */
  retireKey(version: number): void {
    const held = (
      this.db.db.prepare('SELECT COUNT(*) AS n FROM meters WHERE key_version = ?').get(version) as {
        n: number;
      }
    ).n;
    if (held > 0)
      throw new ServiceError(409, 'key-in-use', `${held} meters still hold KH v${version}`, 'version');
    if (!this.#ring.has(version))
      throw new ServiceError(404, 'unknown-key-version', `KH v${version} is not held`, 'version');
    if (version === this.#ring.current)
      throw new ServiceError(409, 'key-current', `KH v${version} is current`, 'version');
    this.#ring = this.#ring.retire(version);
    this.db.tx(() => this.db.db.prepare('UPDATE host_keys SET retired = 1 WHERE version = ?').run(version));
  }

  close(): void {
    this.db.close();
  }
}

export { HostDbError };
