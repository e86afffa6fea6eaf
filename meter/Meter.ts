import { be32, fromHex, toHex } from '../card/index.js';
import type { CreditRegister } from './CreditRegister.js';
import { type DisplayModel, type SupplyState } from './Display.js';
import {
  ClockBackwardsError,
  COMMISSIONING_REFUSALS,
  CommissioningError,
  MeterStateError,
  type CommissioningRefusal,
} from './errors.js';
import { checkCommissioningCredit } from './commissioning/CommissioningData.js';
import { EventLog, type EventKind } from './events/EventLog.js';
import { FriendlyHours, type FriendlyHoursSpec } from './FriendlyHours.js';
import { StateReader, type StateObject, type StateValue } from '../protocol/index.js';
import { ConsumptionLog, type ConsumptionLogOptions } from '../protocol/index.js';
import { MeterReadings, READING_FLAGS } from './MeterReadings.js';
import { SupplySwitch } from './SupplySwitch.js';
import { DAY_SECONDS, RTC_MAX_SECONDS, RtcTime } from '../protocol/index.js';
import { TariffChange, TariffSchedule } from './tariff/TariffSchedule.js';
import { CURRENCY_EUR, type DayType, MAX_STEPS, TariffTable } from '../protocol/index.js';
import { TokenExchanger, type TokenExchangerOptions } from './TokenExchanger.js';

/**
 * What the meter meters. Electricity and heat count mWh; gas, water and hot water count mL (hot
 * water: only what is delivered at or above its minimum temperature, metrology/HotWaterCalculator).
 */
export type Commodity = 'electricity' | 'gas' | 'water' | 'heat' | 'hot water';

/** Options of a meter. */
export interface MeterOptions {
  /** The 3-byte meter identity (seed 000: "three byte ID … recorded on a ROM"); default 00 00 00. */
  meterId?: Uint8Array;
  commodity?: Commodity;
  /** RTC at power-up, seconds since 2000-01-01 or an RtcTime. */
  start: number | RtcTime;
  /** Default: `TariffTable.example()`. */
  tariff?: TariffTable;
  exchanger?: TokenExchangerOptions;
  friendly?: FriendlyHoursSpec;
  eventCapacity?: number;
  log?: ConsumptionLogOptions;
  /**
   * Whether the meter has been commissioned already (and so refuses commissioning until it is
   * decommissioned); default false — a meter as it leaves the factory, waiting for its
   * commissioning card.
   */
  commissioned?: boolean;
  /**
   * ISO 4217 numeric code of the minor units the tariff prices and the credit are in, for the
   * display only (the arithmetic never needs it); default 978, euro cents.
   */
  currency?: number;
}

/** Sensor levels seen during a step; each change of level is an event. */
export interface Sensors {
  /** Voltage on the load terminals (1L/2L) — with the relay open this is theft (seed 000). */
  loadSideVoltage?: boolean;
  /** Terminal cover removed (anti-tamper switch). */
  coverOpen?: boolean;
  /** Energy flowing from the load to the supply (metrology saw negative power). */
  reverseFlow?: boolean;
  /** Reverse quantity metered during the step (kept in its own register, never credited). */
  reverseQuantity?: number;
}

/** What the commissioning card sets (seed 002: "zero all registers, enter meter identity, number
 * of tariffs, price per kWh for each tariff, emergency credit value, initial credit"). */
export interface Commissioning {
  meterId: Uint8Array;
  tariff: TariffTable;
  emergencyCredit: number;
  /** Test credit put straight into the token tank, to check the meter works. */
  initialCredit: number;
  /** RTC to set; default: keep the clock. */
  time?: number | RtcTime;
}

/**
 * The meter's whole state as it would sit in non-volatile memory: plain JSON-safe data (tariff
 * tables in their binary form as hex). `Meter.restore` rebuilds an identical meter from it.
 * Version 2 added `register` (the credit register's own state, e.g. its token-request journal, or
 * null); version 1 images, which have none, still load.
 */
export type MeterSnapshot = StateObject;

/** The snapshot version `Meter.snapshot()` writes. */
export const SNAPSHOT_VERSION = 2;

const TRANSFER_STATES: readonly TransferState[] = ['idle', 'card', 'host', 'done', 'failed'];
const COMMODITIES: readonly Commodity[] = ['electricity', 'gas', 'water', 'heat', 'hot water'];

/** Where a transfer of credit into the meter stands (shown on the display). */
export type TransferState = 'idle' | 'card' | 'host' | 'done' | 'failed';

function seconds(t: number | RtcTime, name: string): number {
  const s = t instanceof RtcTime ? t.seconds : t;
  if (!Number.isSafeInteger(s) || s < 0)
    throw new RangeError(`${name} must be an RTC second ≥ 0 or an RtcTime, got ${String(t)}`);
  return s;
}

function registerState(v: StateValue | undefined): StateObject | null {
  if (v === null) return null;
  if (v === undefined || typeof v !== 'object' || Array.isArray(v))
    throw new RangeError('snapshot.register must be null or an object');
  return v;
}

function meterIdArg(id: Uint8Array | undefined): Uint8Array {
  if (id === undefined) return new Uint8Array(3);
  if (!(id instanceof Uint8Array) || id.length !== 3)
    throw new TypeError('meterId must be a Uint8Array of 3 bytes');
  return new Uint8Array(id);
}

/**
 * The meter core of seed 000 Fig. 5 (and the offline gas/water/heat meters): real-time clock,
 * tariff schedule, token exchanger over a `CreditRegister`, relay or valve, emergency and friendly
 * credit, tamper sensing, event log and consumption logs.
 *
 * Time only moves forward through `step`/`advance` (the metering loop) and `setClock` (the host's
 * time correction). `step` is synchronous and returns true when the token exchanger needs the
 * credit register; `service()` then does the async work. `advance` does both.
 *
 * Supply rules, checked after every step and service:
 * - credit exhausted (no token, tank or emergency credit; register empty or refusing) → the relay
 *   opens (`credit-exhausted`, `supply-off`), unless it is friendly time, when it stays closed and
 *   consumption becomes debt (`friendly-debt` once);
 * - credit available again (or friendly time begins, or emergency credit granted) → it closes
 *   (`credit-restored`, `supply-on`).
 * Consumption metered in the minute credit ran out is always billed (as debt when nothing is left),
 * and debt and used emergency credit are repaid first from the next grant of the register.
 */
export class Meter {
  readonly commodity: Commodity;
  /** ISO 4217 numeric code of the credit's minor units (`MeterOptions.currency`). */
  readonly currency: number;
  readonly schedule: TariffSchedule;
  #events: EventLog;
  readonly supply: SupplySwitch;
  readonly friendly: FriendlyHours;
  readonly #register: CreditRegister;
  readonly #exOptions: TokenExchangerOptions;
  readonly #logOptions: ConsumptionLogOptions;
  #meterId: Uint8Array;
  #exchanger: TokenExchanger;
  #log: ConsumptionLog;
  #now: number;
  #powered = true;
  readonly #byStep = new Array<number>(MAX_STEPS).fill(0);
  readonly #sinceCredit = new Array<number>(MAX_STEPS).fill(0);
  #flags = 0;
  #reference = 0;
  #total = 0;
  #reverseTotal = 0;
  #lastPowerW = 0;
  #cutoffs = 0;
  #offSeconds = 0;
  #cover = false;
  #reverse = false;
  #theft = false;
  #friendlyDebtNoted = false;
  #dayCache = -1;
  #dayTypeCache: DayType = 'weekday';
  #transfer: TransferState = 'idle';
  #commissioned = false;
  #queue: Promise<void> = Promise.resolve();

  /** @throws RangeError / TypeError naming a bad option. */
  constructor(options: MeterOptions, register: CreditRegister) {
    this.commodity = options.commodity ?? 'electricity';
    if (!COMMODITIES.includes(this.commodity))
      throw new RangeError(
        `commodity must be electricity, gas, water, heat or hot water, got ${String(this.commodity)}`,
      );
    this.#meterId = meterIdArg(options.meterId);
    this.#now = seconds(options.start, 'start');
    this.schedule = new TariffSchedule(options.tariff ?? TariffTable.example());
    this.#events = new EventLog(options.eventCapacity ?? 256);
    this.supply = new SupplySwitch(this.commodity === 'electricity' ? 'relay' : 'valve');
    this.friendly = new FriendlyHours(options.friendly ?? {});
    this.#register = register;
    this.#exOptions = { ...options.exchanger };
    if (options.commissioned !== undefined && typeof options.commissioned !== 'boolean')
      throw new TypeError('commissioned must be a boolean');
    this.#commissioned = options.commissioned ?? false;
    this.currency = options.currency ?? CURRENCY_EUR;
    if (!Number.isInteger(this.currency) || this.currency < 0 || this.currency > 999)
      throw new RangeError(
        `currency must be an ISO 4217 numeric code 0…999, got ${String(options.currency)}`,
      );
    this.#logOptions = { ...options.log };
    this.#exchanger = this.#newExchanger(this.#exOptions);
    this.#log = new ConsumptionLog(this.#now, this.#logOptions);
  }

  #newExchanger(o: TokenExchangerOptions): TokenExchanger {
    return new TokenExchanger(this.#register, o, (kind, data) => this.#record(kind, data));
  }

  #record(kind: EventKind, data = 0): void {
    this.events.record(this.#now, kind, data);
    this.#flags |= (READING_FLAGS as Partial<Record<EventKind, number>>)[kind] ?? 0;
  }

  /** The bounded event log (tamper, supply, credit, clock and tariff events). */
  get events(): EventLog {
    return this.#events;
  }

  /** RTC, seconds since 2000-01-01. */
  get now(): number {
    return this.#now;
  }
  get time(): RtcTime {
    return RtcTime.fromSeconds(this.#now);
  }
  get meterId(): Uint8Array {
    return new Uint8Array(this.#meterId);
  }
  get powered(): boolean {
    return this.#powered;
  }
  get exchanger(): TokenExchanger {
    return this.#exchanger;
  }
  get log(): ConsumptionLog {
    return this.#log;
  }
  /** Cumulative quantity (mWh or mL) since commissioning. */
  get total(): number {
    return this.#total;
  }
  /** Reverse quantity metered (not credited). */
  get reverseTotal(): number {
    return this.#reverseTotal;
  }
  /** Cumulative quantity per rate step index. */
  get byStep(): readonly number[] {
    return this.#byStep.slice();
  }
  /** Times the supply was cut for lack of credit. */
  get cutoffs(): number {
    return this.#cutoffs;
  }
  /** Seconds metered with the supply cut. */
  get offSeconds(): number {
    return this.#offSeconds;
  }
  get transferState(): TransferState {
    return this.#transfer;
  }
  /** Set by the card slot or the power-line modem while they move credit. */
  setTransferState(s: TransferState): void {
    this.#transfer = s;
  }

  /**
   * Meters `quantity` (mWh or mL) consumed over RTC seconds [now, to), splits it at tariff
   * boundaries and at a pending table's activation second, charges it, logs it, and checks the
   * sensors and the supply rules. Synchronous.
   * @returns true when the credit register must be talked to: call `service()`.
   * @throws MeterStateError when the meter is powered down; RangeError when `to` ≤ now or
   * `quantity` is not a safe non-negative integer.
   */
  step(to: number, quantity: number, sensors?: Sensors): boolean {
    if (!this.#powered)
      throw new MeterStateError('off', 'the meter is powered down; call powerRestore first');
    const from = this.#now;
    if (!Number.isSafeInteger(to) || to <= from || to > RTC_MAX_SECONDS)
      throw new RangeError(`to must be an integer after now (${from}) and within the RTC range, got ${to}`);
    if (!Number.isSafeInteger(quantity) || quantity < 0)
      throw new RangeError(`quantity must be a safe non-negative integer, got ${quantity}`);
    const dt = to - from;
    const sched = this.schedule;
    const oneMinute = dt === 60 && from % 60 === 0;
    if (quantity > 0) {
      if (oneMinute && !(sched.activateAt > from && sched.activateAt < to)) {
        const table = sched.tableAt(from);
        const step = table.stepAt(from);
        this.#exchanger.consume(quantity, table.unitCharge, table.steps[step]!);
        this.#byStep[step]! += quantity;
        this.#sinceCredit[step]! += quantity;
      } else {
        for (const p of sched.split(from, to, quantity)) {
          this.#exchanger.consume(p.quantity, p.table.unitCharge, p.percent);
          this.#byStep[p.step]! += p.quantity;
          this.#sinceCredit[p.step]! += p.quantity;
        }
      }
    }
    const activation = sched.activateAt;
    if (sched.promote(to)) this.events.record(activation, 'tariff-activated');
    this.#total += quantity;
    if (oneMinute) {
      this.#log.add(quantity);
      this.#log.advanceTo(to);
    } else this.#logSpread(from, to, quantity);
    if (!this.supply.connected) this.#offSeconds += dt;
    this.#lastPowerW = Math.round((quantity * 3.6) / dt);
    this.#now = to;
    if (sensors) this.#sense(sensors);
    if (this.#exchanger.needsService(to)) return true;
    this.#decideSupply();
    return false;
  }

  #logSpread(from: number, to: number, quantity: number): void {
    const big = !Number.isSafeInteger(quantity * (to - from));
    let given = 0;
    let t = from;
    while (t < to) {
      const end = Math.min(to, t - (t % 60) + 60);
      const upTo = big
        ? Number((BigInt(quantity) * BigInt(end - from)) / BigInt(to - from))
        : Math.floor((quantity * (end - from)) / (to - from));
      this.#log.add(upTo - given);
      given = upTo;
      this.#log.advanceTo(end);
      t = end;
    }
  }

  #sense(s: Sensors): void {
    const cover = s.coverOpen ?? this.#cover;
    if (cover !== this.#cover) this.#record(cover ? 'cover-open' : 'cover-closed');
    this.#cover = cover;
    const rev = s.reverseFlow ?? this.#reverse;
    if (rev !== this.#reverse) this.#record(rev ? 'reverse-flow' : 'reverse-flow-end');
    this.#reverse = rev;
    if (s.reverseQuantity !== undefined) {
      if (!Number.isSafeInteger(s.reverseQuantity) || s.reverseQuantity < 0)
        throw new RangeError(
          `sensors.reverseQuantity must be a safe non-negative integer, got ${s.reverseQuantity}`,
        );
      this.#reverseTotal += s.reverseQuantity;
    }
    const theft = (s.loadSideVoltage ?? false) && !this.supply.connected;
    if (theft && !this.#theft) this.#record('theft-load-voltage');
    this.#theft = theft;
  }

  #dayType(): DayType {
    const dn = Math.floor(this.#now / DAY_SECONDS);
    if (dn !== this.#dayCache) {
      this.#dayCache = dn;
      this.#dayTypeCache = this.schedule.active.dayType(dn);
    }
    return this.#dayTypeCache;
  }

  /** Whether it is friendly time now. */
  get friendlyNow(): boolean {
    return this.friendly.isFriendly(Math.floor((this.#now % DAY_SECONDS) / 60), this.#dayType());
  }

  #decideSupply(): void {
    const ex = this.#exchanger;
    if (ex.exhausted) {
      if (this.friendlyNow) {
        if (!this.#friendlyDebtNoted) {
          this.#friendlyDebtNoted = true;
          this.#record('friendly-debt', ex.debt);
        }
        if (!this.supply.connected && this.supply.reason === 'credit' && this.supply.connect())
          this.#record('supply-on');
      } else if (this.supply.connected) {
        this.supply.disconnect('credit');
        this.#cutoffs++;
        this.#record('credit-exhausted', ex.debt);
        this.#record('supply-off');
      }
    } else {
      this.#friendlyDebtNoted = false;
      if (!this.supply.connected && this.supply.reason === 'credit') {
        this.supply.connect();
        this.#record('credit-restored', Math.max(0, ex.credit));
        this.#record('supply-on');
      }
    }
  }

  /**
   * Does the async work `step` asked for (token requests, repayments), then applies the supply
   * rules. Calls are serialised: a second call made while one is running waits for it, so two
   * callers never both refill the tank.
   */
  service(): Promise<void> {
    const run = async (): Promise<void> => {
      await this.#exchanger.service(this.#now);
      this.#decideSupply();
    };
    this.#queue = this.#queue.then(run, run);
    return this.#queue;
  }

  /** `step`, then `service` when needed. Same throws as `step`. */
  async advance(to: number, quantity: number, sensors?: Sensors): Promise<void> {
    if (this.step(to, quantity, sensors)) await this.service();
  }

  /** The credit register was credited (host value store, card transfer): ask it again now. */
  async notifyCredit(): Promise<void> {
    this.#exchanger.notifyCredit();
    await this.service();
  }

  /**
   * A credit entry is complete (seed 002): the readings were written onto the card and the transfer
   * committed. Starts a new "since last credit entry" period (per-step quantities and indicator
   * flags), remembers the transaction's reference code, and asks the register again.
   * @throws RangeError unless `reference` is a u32.
   */
  async creditEntered(reference: number): Promise<void> {
    if (!Number.isInteger(reference) || reference < 0 || reference > 0xffffffff)
      throw new RangeError(`reference must be a u32, got ${reference}`);
    this.#reference = reference;
    this.#sinceCredit.fill(0);
    this.#flags = 0;
    await this.notifyCredit();
  }

  /** Indicator flags (READING_FLAGS) raised since the last credit entry. */
  get flags(): number {
    return this.#flags;
  }

  /** The meter data for the card's meter-data file (seed 002), quantities in Wh (or L). */
  readings(): MeterReadings {
    const table = this.schedule.active;
    const wh = (v: number) => Math.min(0xffffffff, Math.floor(v / 1000));
    const ex = this.#exchanger;
    return new MeterReadings(
      this.#meterId,
      this.commodity,
      this.time,
      wh(this.#total),
      this.#reference,
      ex.emergencyCredit,
      table.unitCharge,
      Math.max(-0x80000000, Math.min(0x7fffffff, ex.credit)),
      this.#flags,
      table.steps.map((percent, k) => ({
        percent,
        total: wh(this.#byStep[k]!),
        sinceCredit: wh(this.#sinceCredit[k]!),
      })),
    );
  }

  /**
   * The emergency-credit switch (seed 002). Granted when credit is below the low-credit threshold
   * and no emergency credit is outstanding; recorded either way.
   * @returns true when granted.
   */
  pressEmergencyCredit(): boolean {
    const ok = this.#exchanger.grantEmergency();
    if (!ok) this.#record('emergency-refused');
    else this.#decideSupply();
    return ok;
  }

  /**
   * The host's time correction. Forward: the RTC jumps (minutes in between are logged as 0) and
   * `clock-set` records the jump in seconds. Backward: refused, `clock-backwards-refused` records
   * how far back it was asked to go, and metering continues on the old clock.
   * @throws ClockBackwardsError when `t` is before the RTC; RangeError when it is not a time.
   */
  setClock(t: number | RtcTime): void {
    const s = seconds(t, 't');
    if (s < this.#now) {
      this.#record('clock-backwards-refused', this.#now - s);
      throw new ClockBackwardsError(this.#now, s);
    }
    if (s === this.#now) return;
    RtcTime.fromSeconds(s);
    const d = s - this.#now;
    this.#now = s;
    this.#log.advanceTo(s);
    const at = this.schedule.activateAt;
    if (this.schedule.promote(s)) this.events.record(at, 'tariff-activated');
    this.#record('clock-set', d);
  }

  /**
   * The host's authenticated time correction (seed 000 Fig. 3, "SET TIME (AMEND TIME)"), forward
   * or backward: only the meter's modem calls it, after the SAM checked the host's S2h over the
   * time, so a fast meter can be put right. `setClock` keeps refusing to go back for every other
   * caller — a clock an unauthenticated source could rewind would replay cheap tariff hours and
   * friendly hours.
   *
   * Forward: as `setClock` (`clock-set`, datum = seconds jumped, minutes in between logged as 0).
   * Backward: `clock-set-back`, datum = seconds moved back, recorded at the new time (so the old
   * time is `at + datum`). What was recorded stays: the consumption log never rewinds (what is
   * metered until the clock is past the log's open minute again goes into that minute, so no
   * consumption is lost or counted twice), a tariff table already activated stays active, and a
   * pending one activates when the corrected clock reaches its time.
   * @returns the clock before and after.
   * @throws RangeError when `t` is not an RTC time.
   */
  correctClock(t: number | RtcTime): { from: number; to: number } {
    const s = seconds(t, 't');
    RtcTime.fromSeconds(s);
    const from = this.#now;
    if (s >= from) this.setClock(s);
    else {
      this.#now = s;
      this.#dayCache = -1;
      this.#record('clock-set-back', from - s);
    }
    return { from, to: s };
  }

  /** Tamper and supply state now (what the host's usage check carries as its flags byte). */
  get tamper(): { coverOpen: boolean; loadVoltageRelayOpen: boolean; reverseFlow: boolean } {
    return { coverOpen: this.#cover, loadVoltageRelayOpen: this.#theft, reverseFlow: this.#reverse };
  }

  /** Loads a tariff table taking effect at its activation time (the host's tariff mode change). */
  loadTariff(change: TariffChange): void {
    if (!(change instanceof TariffChange)) throw new TypeError('change must be a TariffChange');
    const now = this.schedule.load(change.table, change.activateAt.seconds, this.#now);
    this.#record('tariff-loaded', change.activateAt.seconds);
    if (now) this.#record('tariff-activated');
  }

  /**
   * Decodes and loads the binary tariff change; a bad one is recorded (`tariff-rejected`) and the
   * tables in force stay.
   * @throws MalformedDataError or TariffTableError, after recording the rejection.
   */
  loadTariffBytes(bytes: Uint8Array): void {
    let change: TariffChange;
    try {
      change = TariffChange.decode(bytes);
    } catch (e) {
      this.#record('tariff-rejected');
      throw e;
    }
    this.loadTariff(change);
  }

  /**
   * An offline meter's configuration from its utility (issue 17: the card's SFI 03 record, vouched
   * for by the meter's SAM — meter/cardslot/offlineConfig.ts): the emergency-credit value and the
   * unit charge, from now on. The tariff tables keep their schedules and step percents (a pending
   * table too, with its activation time); only their unit charge changes. The token exchanger keeps
   * every register (emergency credit already granted stays granted and owed); the new value is what
   * the switch grants next. Records nothing (the caller records `config-applied`).
   * @throws RangeError naming a bad value, before anything changes: `emergencyCredit` must be a u32,
   *   `unitCharge` 1…2^32-1 (a tariff table's unit charge).
   */
  applyOfflineConfig(c: { emergencyCredit: number; unitCharge: number }): void {
    if (!Number.isInteger(c.emergencyCredit) || c.emergencyCredit < 0 || c.emergencyCredit > 0xffffffff)
      throw new RangeError(`emergencyCredit must be a u32, got ${c.emergencyCredit}`);
    if (!Number.isInteger(c.unitCharge) || c.unitCharge < 1 || c.unitCharge > 0xffffffff)
      throw new RangeError(`unitCharge must be 1…2^32-1, got ${c.unitCharge}`);
    const recharge = (t: TariffTable): TariffTable => {
      const b = t.encode();
      b.set(be32(c.unitCharge), 1); // the binary form's unit charge (TariffTable, offset 1)
      return TariffTable.decode(b);
    };
    const active = recharge(this.schedule.active);
    const pending = this.schedule.pending;
    const next = pending ? { table: recharge(pending.table), at: pending.activateAt } : undefined;
    const ex = this.#newExchanger({ ...this.#exOptions, emergencyCredit: c.emergencyCredit });
    ex.loadState(this.#exchanger.saveState());
    this.#exOptions.emergencyCredit = c.emergencyCredit;
    this.#exchanger = ex;
    this.schedule.load(active, this.#now, this.#now); // clears the pending table …
    if (next) this.schedule.load(next.table, next.at, this.#now); // … so put it back
    this.#dayCache = -1;
  }

  /** Mains lost: recorded; the meter stops metering (the latch relay and NVM keep their state). */
  powerFail(): void {
    if (!this.#powered) return;
    this.#record('power-fail');
    this.#powered = false;
  }

  /**
   * Mains back at RTC `at` (the RTC ran on its battery): minutes without power are logged as 0,
   * `power-restore` records the outage length in seconds.
   * @throws RangeError when `at` is before the time of the failure.
   */
  powerRestore(at: number | RtcTime): void {
    const s = seconds(at, 'at');
    if (this.#powered) return;
    if (s < this.#now)
      throw new RangeError(`at must not be before the power failure (${this.#now}), got ${s}`);
    const outage = s - this.#now;
    this.#now = s;
    this.#log.advanceTo(s);
    const act = this.schedule.activateAt;
    if (this.schedule.promote(s)) this.events.record(act, 'tariff-activated');
    this.#powered = true;
    this.#record('power-restore', outage);
    this.#decideSupply();
  }

  /**
   * The commissioning card (seed 002): identity, tariff table (number of tariffs and their prices),
   * emergency-credit value; all registers and logs zeroed; the initial test credit in the tank.
   * Once: a commissioned meter refuses until `decommission`. Everything is checked before anything
   * changes.
   * @throws TypeError / RangeError naming a bad field; CommissioningError, recorded as
   *   `commissioning-refused` (datum COMMISSIONING_REFUSALS[code]): 'already-commissioned', or
   *   'credit-above-ceiling' for an initial credit above MAX_INITIAL_CREDIT or an emergency credit
   *   above MAX_EMERGENCY_CREDIT (10 000 units each, meter/commissioning/CommissioningData).
   */
  commission(c: Commissioning): void {
    const id = meterIdArg(c.meterId);
    if (!(c.tariff instanceof TariffTable)) throw new TypeError('tariff must be a TariffTable');
    if (!Number.isSafeInteger(c.initialCredit) || c.initialCredit < 0)
      throw new RangeError(`initialCredit must be a safe non-negative integer, got ${c.initialCredit}`);
    if (this.#commissioned)
      this.#refuseCommissioning(
        new CommissioningError('already-commissioned', 'the meter is commissioned: decommission it first'),
      );
    try {
      checkCommissioningCredit(c.initialCredit, c.emergencyCredit);
    } catch (e) {
      if (e instanceof CommissioningError) this.#refuseCommissioning(e);
      throw e;
    }
    const ex = this.#newExchanger({ ...this.#exOptions, emergencyCredit: c.emergencyCredit });
    if (c.time !== undefined) {
      const s = seconds(c.time, 'time');
      RtcTime.fromSeconds(s);
      this.#now = s;
    }
    this.#meterId = id;
    this.#exchanger = ex;
    ex.loadTest(c.initialCredit);
    this.schedule.load(c.tariff, 0, this.#now);
    this.#byStep.fill(0);
    this.#sinceCredit.fill(0);
    this.#flags = 0;
    this.#reference = 0;
    this.#total = this.#reverseTotal = this.#cutoffs = this.#offSeconds = 0;
    this.#log = new ConsumptionLog(this.#now, this.#logOptions);
    this.events.clear();
    this.#friendlyDebtNoted = false;
    this.#dayCache = -1;
    this.supply.connect();
    this.#commissioned = true;
    this.#record('commissioned', c.initialCredit);
  }

  /**
   * Whether the meter is commissioned: set by `commission`, cleared only by `decommission`. A
   * commissioned meter refuses every commissioning payload.
   */
  get commissioned(): boolean {
    return this.#commissioned;
  }

  /**
   * The decommissioning card (docs/meter.md, Commissioning): the meter leaves service under
   * `reference` and takes a commissioning card again. Registers, logs, tariffs and credit stay
   * as they are until that card zeroes them; records `decommissioned` (datum: the reference).
   * @throws RangeError unless `reference` is a u32; CommissioningError ('not-commissioned', recorded
   *   as `commissioning-refused`) when the meter is not commissioned.
   */
  decommission(reference: number): void {
    if (!Number.isInteger(reference) || reference < 0 || reference > 0xffffffff)
      throw new RangeError(`reference must be a u32, got ${reference}`);
    if (!this.#commissioned)
      this.#refuseCommissioning(
        new CommissioningError('not-commissioned', 'the meter is not commissioned: nothing to decommission'),
      );
    this.#commissioned = false;
    this.#record('decommissioned', reference);
  }

  /** Records the refusal (`commissioning-refused`, datum its code) and throws it. */
  #refuseCommissioning(e: CommissioningError): never {
    const code: CommissioningRefusal = e.code;
    this.#record('commissioning-refused', COMMISSIONING_REFUSALS[code]);
    throw e;
  }

  /**
   * The whole state — RTC, registers, token exchanger, logs, events, relay, tariffs, and the credit
   * register's own state when it keeps one — as it sits in NVM. A meter restored from it behaves
   * exactly as this one would from here on. Synchronous, so it is one consistent image even while a
   * token request is in flight (see `CreditRegister`, persistence).
   */
  snapshot(): MeterSnapshot {
    const pending = this.schedule.pending;
    return {
      version: SNAPSHOT_VERSION,
      commodity: this.commodity,
      meterId: toHex(this.#meterId),
      now: this.#now,
      powered: this.#powered,
      byStep: [...this.#byStep],
      sinceCredit: [...this.#sinceCredit],
      flags: this.#flags,
      reference: this.#reference,
      total: this.#total,
      reverseTotal: this.#reverseTotal,
      lastPower: this.#lastPowerW,
      cutoffs: this.#cutoffs,
      offSeconds: this.#offSeconds,
      cover: this.#cover,
      reverse: this.#reverse,
      theft: this.#theft,
      friendlyDebtNoted: this.#friendlyDebtNoted,
      transfer: this.#transfer,
      commissioned: this.#commissioned,
      currency: this.currency,
      friendly: {
        nightFrom: this.friendly.nightFrom,
        nightTo: this.friendly.nightTo,
        weekends: this.friendly.weekends,
        holidays: this.friendly.holidays,
      },
      tariff: toHex(this.schedule.active.encode()),
      pendingTariff: pending ? toHex(pending.table.encode()) : null,
      activateAt: pending ? pending.activateAt : null,
      exchanger: this.#exchanger.saveState(),
      log: this.#log.saveState(),
      events: this.events.saveState(),
      supply: this.supply.saveState(),
      register: this.#register.saveState ? this.#register.saveState() : null,
    };
  }

  /**
   * Rebuilds a meter from `snapshot()` output (for example after it went through JSON), on the
   * given credit register, and gives the register its saved state (`snapshot.register`, last, after
   * every other field was checked): a token request the old meter never saw answered is settled by
   * the register's first use.
   * @throws RangeError naming the first bad field (`snapshot.register.…` for the register's state);
   * MalformedDataError or TariffTableError for a bad tariff table in it; TypeError when the snapshot
   * holds register state and `register` cannot load it (its journal would be lost).
   */
  static restore(snapshot: MeterSnapshot, register: CreditRegister): Meter {
    const r = new StateReader(snapshot, 'snapshot');
    const version = r.int('version', 1, SNAPSHOT_VERSION);
    const regState = version >= 2 ? registerState(snapshot['register']) : null;
    if (regState !== null && typeof register.loadState !== 'function')
      throw new TypeError('register must implement loadState: snapshot.register holds its state');
    const ex = r.child('exchanger');
    const lg = r.child('log');
    const fr = r.child('friendly');
    const id = fromHex(r.hex('meterId'));
    if (id.length !== 3) throw new RangeError('snapshot.meterId must be 3 bytes');
    const now = r.int('now', 0, RTC_MAX_SECONDS);
    const m = new Meter(
      {
        start: now,
        commodity: r.oneOf('commodity', COMMODITIES),
        meterId: id,
        tariff: TariffTable.decode(fromHex(r.hex('tariff'))),
        exchanger: {
          tokenSize: ex.int('tokenSize', 1),
          requestSize: ex.int('requestSize', 1),
          lowCreditThreshold: ex.int('lowCreditThreshold'),
          emergencyCredit: ex.int('emergencyCredit'),
          retrySeconds: ex.int('retrySeconds', 1),
        },
        friendly: {
          nightFrom: fr.int('nightFrom', 0, 1439),
          nightTo: fr.int('nightTo', 0, 1440),
          weekends: fr.bool('weekends'),
          holidays: fr.bool('holidays'),
        },
        log: { minuteUnit: lg.int('minuteUnit', 1, 65535), totalUnit: lg.int('totalUnit', 1, 65535) },
        // Snapshots from before the display knew its currency hold none: they were in euro cents.
        currency: snapshot['currency'] === undefined ? CURRENCY_EUR : r.int('currency', 0, 999),
      },
      register,
    );
    const pendingHex = r.optionalHex('pendingTariff');
    if (pendingHex !== null)
      m.schedule.load(TariffTable.decode(fromHex(pendingHex)), r.int('activateAt', 0, RTC_MAX_SECONDS), now);
    const byStep = r.ints('byStep', MAX_STEPS);
    const sinceCredit = r.ints('sinceCredit', MAX_STEPS);
    const supply = r.child('supply');
    const v = {
      powered: r.bool('powered'),
      flags: r.int('flags', 0, 0xffff),
      reference: r.int('reference', 0, 0xffffffff),
      total: r.int('total'),
      reverseTotal: r.int('reverseTotal'),
      lastPower: r.int('lastPower'),
      cutoffs: r.int('cutoffs'),
      offSeconds: r.int('offSeconds'),
      cover: r.bool('cover'),
      reverse: r.bool('reverse'),
      theft: r.bool('theft'),
      friendlyDebtNoted: r.bool('friendlyDebtNoted'),
      transfer: r.oneOf('transfer', TRANSFER_STATES),
      // Images written before commissioning was locked have no flag: not commissioned.
      commissioned: snapshot['commissioned'] === undefined ? false : r.bool('commissioned'),
      log: ConsumptionLog.fromState(snapshot['log'] as StateObject),
      events: EventLog.fromState(snapshot['events'] as StateObject),
      connected: supply.bool('connected'),
      operations: supply.int('operations'),
    };
    const reasonRaw = (snapshot['supply'] as StateObject)['reason'];
    m.supply.loadState({
      connected: v.connected,
      reason: reasonRaw === 'credit' || reasonRaw === 'manual' ? reasonRaw : null,
      operations: v.operations,
    });
    m.#exchanger.loadState(snapshot['exchanger'] as StateObject);
    m.#byStep.splice(0, MAX_STEPS, ...byStep);
    m.#sinceCredit.splice(0, MAX_STEPS, ...sinceCredit);
    m.#powered = v.powered;
    m.#flags = v.flags;
    m.#reference = v.reference;
    m.#total = v.total;
    m.#reverseTotal = v.reverseTotal;
    m.#lastPowerW = v.lastPower;
    m.#cutoffs = v.cutoffs;
    m.#offSeconds = v.offSeconds;
    m.#cover = v.cover;
    m.#reverse = v.reverse;
    m.#theft = v.theft;
    m.#friendlyDebtNoted = v.friendlyDebtNoted;
    m.#transfer = v.transfer;
    m.#commissioned = v.commissioned;
    m.#log = v.log;
    m.#events = v.events;
    if (regState !== null) register.loadState?.(regState);
    return m;
  }

  /** Mean rate over the last step: W (electricity, heat) or L/h (gas, water). */
  get lastPower(): number {
    return this.#lastPowerW;
  }

  /** What the display shows (seed 000 Fig. 5 item 17). */
  display(): DisplayModel {
    const ex = this.#exchanger;
    let state: SupplyState;
    if (!this.#powered) state = 'power-off';
    else if (!this.supply.connected) state = 'off-credit';
    else if (ex.exhausted && this.friendlyNow) state = 'friendly-credit';
    else if (ex.emergencyActive) state = 'emergency-credit';
    else if (ex.credit < ex.lowCreditThreshold) state = 'low-credit';
    else state = 'on';
    const table = this.schedule.active;
    const step = table.stepAt(this.#now);
    return {
      meterId: toHex(this.#meterId),
      commodity: this.commodity,
      time: this.time.toDisplay(),
      balance: ex.credit,
      currency: this.currency,
      inMeter: ex.token + ex.tank,
      debt: ex.debt + ex.emergencyOwed,
      state,
      supply: this.supply.describe(),
      instantaneous: this.#lastPowerW,
      cumulative: this.#total,
      ratePercent: table.percentOf(step),
      transfer: this.#transfer,
      alarms: this.#alarms(),
    };
  }

  #alarms(): string[] {
    const a: string[] = [];
    if (this.#cover) a.push('COVER');
    if (this.#reverse) a.push('REVERSE');
    if (this.#theft) a.push('THEFT');
    const ex = this.#exchanger;
    if (ex.registerState === 'refused') a.push('SVM REFUSED');
    else if (ex.registerState === 'empty' && ex.token + ex.tank > 0) a.push('LAST TOKENS');
    return a;
  }
}
