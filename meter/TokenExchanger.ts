import type { CreditRegister } from './CreditRegister.js';
import { CreditRefusedError } from './errors.js';
import type { EventKind } from './events/EventLog.js';
import { StateReader, type StateObject } from '../protocol/index.js';

const REGISTER_STATES: readonly RegisterState[] = ['unknown', 'available', 'empty', 'refused'];

/** Denominator of the carried cost fraction: quantity per price unit (1e6 mWh = 1 kWh, 1e6 mL = 1 m³) × 100 %. */
export const COST_DENOMINATOR = 100_000_000;

/** Options of the token exchanger; all amounts are integer credit units (minor currency units). */
export interface TokenExchangerOptions {
  /** Units in one token taken from the tank (seed 000: ten). */
  tokenSize?: number;
  /** Units asked of the credit register when the tank is empty (seed 000: one hundred). */
  requestSize?: number;
  /** Below this much credit (register + tank + token − debts) a low-credit warning is raised once. */
  lowCreditThreshold?: number;
  /** Preset amount the emergency-credit switch grants (seed 002); 0 disables the switch. */
  emergencyCredit?: number;
  /** After a refusal or an empty register, seconds before the register is asked again. */
  retrySeconds?: number;
}

/** What the credit register was last found to be. */
export type RegisterState = 'unknown' | 'available' | 'empty' | 'refused';

/** Sink for the exchanger's events; the meter stamps them with its RTC. */
export type ExchangerEventSink = (kind: EventKind, data: number) => void;

function unitsArg(v: number | undefined, name: string, dflt: number, min: number): number {
  const x = v ?? dflt;
  if (!Number.isSafeInteger(x) || x < min)
    throw new RangeError(`${name} must be an integer ≥ ${min}, got ${x}`);
  return x;
}

/**
 * The token exchanger of seed 000 (Fig. 5 item 10): converts consumption × rate into credit
 * units and takes them from a token of `tokenSize` units; a used-up token is replaced from the
 * tank; an empty tank is refilled by one request of `requestSize` units to the credit register
 * (the SVM, each request authorised by the SAM). Everything is integer: the cost of each piece of
 * consumption is `quantity × unitCharge × percent`, in 1/COST_DENOMINATOR of a unit, and the
 * fraction below one unit is carried to the next piece, so no consumption goes unbilled.
 *
 * Order of payment for consumption: the current token, then tokens from the tank, then emergency
 * credit (which becomes owed), then debt. Order of repayment from each grant of the register:
 * debt first (consumption that had no credit: friendly hours, a refusing register), then used
 * emergency credit; what is left fills the tank. When emergency credit is fully repaid the
 * unused remainder of the grant is cancelled and the switch can be used again.
 *
 * Thresholds (each raises its event once, and is re-armed when the condition clears):
 * - `last-tokens`: the register handed out its last units (gave fewer than asked, or its balance
 *   is now 0) — the buzzer of seed 000.
 * - `low-credit`: credit fell below `lowCreditThreshold`.
 * - `credit-refused`: the register rejected a request (nothing was debited); retried after
 *   `retrySeconds`, consumption meanwhile is paid from what is left locally, then becomes debt.
 * `exhausted` says there is nothing left to pay with; the meter then opens the relay unless
 * friendly hours hold it closed.
 */
export class TokenExchanger {
  readonly tokenSize: number;
  readonly requestSize: number;
  readonly lowCreditThreshold: number;
  readonly emergencyCredit: number;
  readonly retrySeconds: number;
  readonly #register: CreditRegister;
  readonly #emit: ExchangerEventSink;

  #token = 0;
  #tank = 0;
  #fraction = 0;
  #debt = 0;
  #emergencyLeft = 0;
  #emergencyOwed = 0;
  #state: RegisterState = 'unknown';
  #retryAt = 0;
  #refresh = true;
  /** New credit was announced (`notifyCredit`) and no grant has come from it yet: the next grant ends emergency credit. */
  #fresh = false;
  #lastBalance = 0;
  #balanceKnown = false;
  #lastTokensArmed = true;
  #lowArmed = true;
  /** Units drawn from the register in total. */
  #drawn = 0;
  /** Units paid for consumption in total (tokens, emergency and debt alike). */
  #charged = 0;
  #requests = 0;
  /** Debt was run up with no credit source (register empty or refusing), not just between a step and its service. */
  #inArrears = false;

  /** @throws RangeError naming the option that is not a valid integer. */
  constructor(
    register: CreditRegister,
    options: TokenExchangerOptions = {},
    emit: ExchangerEventSink = () => {},
  ) {
    if (!register || typeof register.requestTokens !== 'function' || typeof register.balance !== 'function')
      throw new TypeError('register must implement CreditRegister');
    this.#register = register;
    this.#emit = emit;
    this.tokenSize = unitsArg(options.tokenSize, 'tokenSize', 10, 1);
    this.requestSize = unitsArg(options.requestSize, 'requestSize', 100, 1);
    this.lowCreditThreshold = unitsArg(options.lowCreditThreshold, 'lowCreditThreshold', 200, 0);
    this.emergencyCredit = unitsArg(options.emergencyCredit, 'emergencyCredit', 500, 0);
    this.retrySeconds = unitsArg(options.retrySeconds, 'retrySeconds', 900, 1);
  }

  /** Units left in the current token. */
  get token(): number {
    return this.#token;
  }
  /** Units in the tank (not yet turned into tokens). */
  get tank(): number {
    return this.#tank;
  }
  /** Consumption that found no credit, owed to the next grant. */
  get debt(): number {
    return this.#debt;
  }
  get emergencyLeft(): number {
    return this.#emergencyLeft;
  }
  get emergencyOwed(): number {
    return this.#emergencyOwed;
  }
  /** Emergency credit granted and not yet repaid. */
  get emergencyActive(): boolean {
    return this.#emergencyLeft > 0 || this.#emergencyOwed > 0;
  }
  get registerState(): RegisterState {
    return this.#state;
  }
  /** The register balance last read (0 until read). */
  get registerBalance(): number {
    return this.#lastBalance;
  }
  get drawn(): number {
    return this.#drawn;
  }
  get charged(): number {
    return this.#charged;
  }
  get requests(): number {
    return this.#requests;
  }
  /** Fraction of a unit carried, in 1/COST_DENOMINATOR. */
  get fraction(): number {
    return this.#fraction;
  }

  /** Credit in the meter: token + tank + emergency left − debt − emergency owed (may be negative). */
  get localCredit(): number {
    return this.#token + this.#tank + this.#emergencyLeft - this.#debt - this.#emergencyOwed;
  }

  /** Credit the user has: local credit plus the register balance last read. */
  get credit(): number {
    return this.localCredit + this.#lastBalance;
  }

  /** Nothing left to pay with: no token, tank or emergency credit, and the register is empty or refusing. */
  get exhausted(): boolean {
    return (
      this.#token + this.#tank + this.#emergencyLeft === 0 &&
      (this.#state === 'empty' || this.#state === 'refused')
    );
  }

  /** Whether `service()` has work to do at RTC second `now` (an async call to the register). */
  needsService(now: number): boolean {
    if (this.#refresh) return true;
    if (this.#tank > 0 && this.#debt === 0 && this.#emergencyOwed === 0) return false;
    if (this.#state === 'empty' || this.#state === 'refused') return now >= this.#retryAt;
    return true;
  }

  /**
   * Charges consumption: `quantity` (mWh or mL) at `percent` of `unitCharge` (units per 1e6
   * quantity). Synchronous; call `service()` afterwards when `needsService` says so.
   * @throws RangeError when an argument is not a safe non-negative integer.
   */
  consume(quantity: number, unitCharge: number, percent: number): void {
    if (
      !(Number.isSafeInteger(quantity) && quantity >= 0) ||
      !(Number.isSafeInteger(unitCharge) && unitCharge >= 0) ||
      !(Number.isSafeInteger(percent) && percent >= 0)
    ) {
      for (const [v, n] of [
        [quantity, 'quantity'],
        [unitCharge, 'unitCharge'],
        [percent, 'percent'],
      ] as const)
        if (!Number.isSafeInteger(v) || v < 0)
          throw new RangeError(`${n} must be a safe non-negative integer, got ${v}`);
    }
    const num = quantity * unitCharge * percent + this.#fraction;
    if (!Number.isSafeInteger(num)) {
      // Beyond 2^53 a double is no longer exact: do this one in BigInt.
      const big = BigInt(quantity) * BigInt(unitCharge) * BigInt(percent) + BigInt(this.#fraction);
      const units = big / BigInt(COST_DENOMINATOR);
      this.#fraction = Number(big - units * BigInt(COST_DENOMINATOR));
      this.pay(Number(units));
      return;
    }
    const units = Math.floor(num / COST_DENOMINATOR);
    this.#fraction = num - units * COST_DENOMINATOR;
    if (units > 0) this.pay(units);
  }

  /** Pays whole units: token, tank, emergency credit, then debt. @throws RangeError unless a safe non-negative integer. */
  pay(units: number): void {
    if (!Number.isSafeInteger(units) || units < 0)
      throw new RangeError(`units must be a safe non-negative integer, got ${units}`);
    this.#charged += units;
    if (this.#token >= units) {
      this.#token -= units;
    } else {
      let need = units - this.#token;
      this.#token = 0;
      while (need > 0 && this.#tank > 0) {
        const t = Math.min(this.tokenSize, this.#tank);
        this.#tank -= t;
        if (t >= need) {
          this.#token = t - need;
          need = 0;
        } else need -= t;
      }
      if (need > 0 && this.#emergencyLeft > 0) {
        const e = Math.min(need, this.#emergencyLeft);
        this.#emergencyLeft -= e;
        this.#emergencyOwed += e;
        need -= e;
      }
      if (need > 0) {
        this.#debt += need;
        if (this.#state === 'empty' || this.#state === 'refused') this.#inArrears = true;
      }
    }
    if (this.#lowArmed && this.#balanceKnown && this.credit < this.lowCreditThreshold) {
      this.#lowArmed = false;
      this.#emit('low-credit', Math.max(0, this.credit));
    }
  }

  /**
   * Talks to the credit register: refreshes its balance after `notifyCredit()`, repays debt and
   * emergency credit, refills an empty tank. A refusal is recorded (`credit-refused`, datum = the
   * status word when there is one) and retried after `retrySeconds`; nothing is lost because a
   * refusing register debited nothing.
   */
  async service(now: number): Promise<void> {
    if (this.#refresh) {
      this.#refresh = false;
      try {
        const bal = await this.#register.balance();
        this.#setBalance(bal);
        this.#state = bal > 0 ? 'available' : 'empty';
        if (bal === 0) this.#retryAt = now + this.retrySeconds;
      } catch (e) {
        this.#refuse(now, e);
        return;
      }
    } else if ((this.#state === 'empty' || this.#state === 'refused') && now >= this.#retryAt) {
      this.#state = 'unknown';
    }
    for (let guard = 0; guard < 10_000; guard++) {
      const wants = this.#tank === 0 || this.#debt > 0 || this.#emergencyOwed > 0;
      if (!wants || this.#state === 'empty' || this.#state === 'refused') break;
      let granted: number;
      try {
        this.#requests++;
        granted = await this.#register.requestTokens(this.requestSize);
        if (!Number.isSafeInteger(granted) || granted < 0)
          throw new CreditRefusedError(`register answered an invalid grant ${String(granted)}`);
      } catch (e) {
        this.#refuse(now, e);
        return;
      }
      // Booked and acknowledged in one synchronous turn: a snapshot holds these units either in
      // the register's state (not yet acknowledged) or in ours, never in both or neither.
      this.#drawn += granted;
      this.#apply(granted);
      this.#register.acknowledge?.(granted);
      let bal: number;
      try {
        bal = await this.#register.balance();
        this.#setBalance(bal);
      } catch {
        bal = Math.max(0, this.#lastBalance - granted);
        this.#lastBalance = bal;
      }
      if (granted < this.requestSize || bal === 0) {
        this.#state = 'empty';
        this.#retryAt = now + this.retrySeconds;
        if (this.#lastTokensArmed && granted > 0) {
          this.#lastTokensArmed = false;
          this.#emit('last-tokens', this.#token + this.#tank);
        }
      } else {
        this.#state = 'available';
        this.#lastTokensArmed = true;
      }
      if (granted === 0) break;
    }
    if (this.credit >= this.lowCreditThreshold) this.#lowArmed = true;
    else if (this.#lowArmed && this.#balanceKnown) {
      this.#lowArmed = false;
      this.#emit('low-credit', Math.max(0, this.credit));
    }
  }

  #setBalance(bal: number): void {
    if (!Number.isSafeInteger(bal) || bal < 0)
      throw new CreditRefusedError(`register answered an invalid balance ${String(bal)}`);
    this.#lastBalance = bal;
    this.#balanceKnown = true;
    if (bal > 0) this.#lastTokensArmed = true;
  }

  #refuse(now: number, e: unknown): void {
    this.#state = 'refused';
    this.#retryAt = now + this.retrySeconds;
    this.#emit('credit-refused', e instanceof CreditRefusedError && e.sw !== undefined ? e.sw : 0);
  }

  #apply(granted: number): void {
    let g = granted;
    if (this.#debt > 0 && g > 0) {
      const r = Math.min(this.#debt, g);
      this.#debt -= r;
      g -= r;
      if (this.#debt === 0 && this.#inArrears) {
        this.#inArrears = false;
        this.#emit('debt-repaid', r);
      }
    }
    if (this.#emergencyOwed > 0 && g > 0) {
      const r = Math.min(this.#emergencyOwed, g);
      this.#emergencyOwed -= r;
      g -= r;
      if (this.#emergencyOwed === 0) {
        this.#emergencyLeft = 0;
        this.#emit('emergency-repaid', r);
      }
    } else if (this.#emergencyOwed === 0 && this.#emergencyLeft > 0 && g > 0 && this.#fresh) {
      // New credit arrived before any emergency credit was used: it ends the emergency.
      this.#emergencyLeft = 0;
      this.#emit('emergency-repaid', 0);
    }
    if (g > 0 || granted > 0) this.#fresh = false;
    this.#tank += g;
  }

  /** The register was credited (host value store or card transfer): read its balance again at the next service. */
  notifyCredit(): void {
    this.#refresh = true;
    this.#fresh = true;
    this.#retryAt = 0;
  }

  /**
   * The emergency-credit switch (seed 002): grants `emergencyCredit` units when credit is exhausted
   * or below the low-credit threshold and no emergency credit is outstanding. Emergency credit is
   * spent only after the tank and the register are empty; the next new credit (`notifyCredit`)
   * repays the used part first and cancels the unused part.
   * @returns true when granted.
   */
  grantEmergency(): boolean {
    if (this.emergencyCredit === 0 || this.emergencyActive) return false;
    if (!this.exhausted && this.credit >= this.lowCreditThreshold) return false;
    this.#emergencyLeft = this.emergencyCredit;
    this.#emit('emergency-granted', this.emergencyCredit);
    return true;
  }

  /** Puts units straight into the tank (the commissioning card's initial test credit). */
  loadTest(units: number): void {
    if (!Number.isSafeInteger(units) || units < 0)
      throw new RangeError(`units must be a safe non-negative integer, got ${units}`);
    this.#tank += units;
  }

  /** The exchanger's registers as they sit in NVM (part of `Meter.snapshot`). JSON-safe. */
  saveState(): StateObject {
    return {
      tokenSize: this.tokenSize,
      requestSize: this.requestSize,
      lowCreditThreshold: this.lowCreditThreshold,
      emergencyCredit: this.emergencyCredit,
      retrySeconds: this.retrySeconds,
      token: this.#token,
      tank: this.#tank,
      fraction: this.#fraction,
      debt: this.#debt,
      emergencyLeft: this.#emergencyLeft,
      emergencyOwed: this.#emergencyOwed,
      state: this.#state,
      retryAt: this.#retryAt,
      refresh: this.#refresh,
      fresh: this.#fresh,
      lastBalance: this.#lastBalance,
      balanceKnown: this.#balanceKnown,
      lastTokensArmed: this.#lastTokensArmed,
      lowArmed: this.#lowArmed,
      drawn: this.#drawn,
      charged: this.#charged,
      requests: this.#requests,
      inArrears: this.#inArrears,
    };
  }

  /**
   * Loads registers saved by `saveState` (options are taken at construction). All fields are
   * checked before any is set.
   * @throws RangeError naming the first bad field.
   */
  loadState(state: StateObject): void {
    const r = new StateReader(state, 'snapshot.exchanger');
    const v = {
      token: r.int('token'),
      tank: r.int('tank'),
      fraction: r.int('fraction', 0, COST_DENOMINATOR - 1),
      debt: r.int('debt'),
      emergencyLeft: r.int('emergencyLeft'),
      emergencyOwed: r.int('emergencyOwed'),
      state: r.oneOf('state', REGISTER_STATES),
      retryAt: r.int('retryAt'),
      refresh: r.bool('refresh'),
      fresh: r.bool('fresh'),
      lastBalance: r.int('lastBalance'),
      balanceKnown: r.bool('balanceKnown'),
      lastTokensArmed: r.bool('lastTokensArmed'),
      lowArmed: r.bool('lowArmed'),
      drawn: r.int('drawn'),
      charged: r.int('charged'),
      requests: r.int('requests'),
      inArrears: r.bool('inArrears'),
    };
    this.#token = v.token;
    this.#tank = v.tank;
    this.#fraction = v.fraction;
    this.#debt = v.debt;
    this.#emergencyLeft = v.emergencyLeft;
    this.#emergencyOwed = v.emergencyOwed;
    this.#state = v.state;
    this.#retryAt = v.retryAt;
    this.#refresh = v.refresh;
    this.#fresh = v.fresh;
    this.#lastBalance = v.lastBalance;
    this.#balanceKnown = v.balanceKnown;
    this.#lastTokensArmed = v.lastTokensArmed;
    this.#lowArmed = v.lowArmed;
    this.#drawn = v.drawn;
    this.#charged = v.charged;
    this.#requests = v.requests;
    this.#inArrears = v.inArrears;
  }

  /** Zeroes every register (commissioning). */
  zero(): void {
    this.#token = this.#tank = this.#fraction = this.#debt = 0;
    this.#emergencyLeft = this.#emergencyOwed = 0;
    this.#drawn = this.#charged = this.#requests = 0;
    this.#state = 'unknown';
    this.#refresh = true;
    this.#lastTokensArmed = this.#lowArmed = true;
    this.#inArrears = false;
  }
}
