import { MalformedDataError } from '../../card/index.js';
import { RtcTime } from '../../protocol/index.js';
import { TariffTable } from '../../protocol/index.js';

/** One piece of a consumption split at tariff boundaries. */
export interface TariffPart {
  /** The table in force for the piece. */
  readonly table: TariffTable;
  readonly step: number;
  readonly percent: number;
  /** RTC seconds [from, to). */
  readonly from: number;
  readonly to: number;
  /** Quantity (mWh, mL…) attributed to the piece. */
  readonly quantity: number;
}

/**
 * A tariff change as the host sends it (seed 000 Fig. 2, STEP 24 "Mode+Unit"): the activation time
 * followed by the table.
 * ```
 * off  size  field
 *  0    6    activation time, RtcTime BCD YYMMDDhhmmss
 *  6    …    TariffTable binary form (see TariffTable)
 * ```
 */
export class TariffChange {
  constructor(
    readonly activateAt: RtcTime,
    readonly table: TariffTable,
  ) {}

  encode(): Uint8Array {
    const t = this.table.encode();
    const out = new Uint8Array(6 + t.length);
    out.set(this.activateAt.encodeBcd(), 0);
    out.set(t, 6);
    return out;
  }

  /**
   * @throws MalformedDataError (kind 'rtc' or 'tariff'; offsets counted from the start of `bytes`)
   * or TariffTableError when the table breaks a rule.
   */
  static decode(bytes: Uint8Array): TariffChange {
    const at = RtcTime.decodeBcd(bytes, 0);
    try {
      return new TariffChange(at, TariffTable.decode(bytes.subarray(6)));
    } catch (e) {
      if (e instanceof MalformedDataError)
        throw new MalformedDataError(e.reason, e.offset + 6, bytes, e.kind);
      throw e;
    }
  }
}

/**
 * The table in force and, optionally, one table waiting for its activation time. A pending
 * table takes effect exactly at its activation second: consumption across that instant is split.
 */
export class TariffSchedule {
  #active: TariffTable;
  #pending: TariffTable | undefined;
  #activateAt = Infinity;

  constructor(active: TariffTable) {
    this.#active = active;
  }

  get active(): TariffTable {
    return this.#active;
  }
  get pending(): { table: TariffTable; activateAt: number } | undefined {
    return this.#pending ? { table: this.#pending, activateAt: this.#activateAt } : undefined;
  }
  /** Activation second of the pending table, or Infinity. */
  get activateAt(): number {
    return this.#activateAt;
  }

  /**
   * Loads a table taking effect at `activateAt` (RTC seconds). A time at or before `now` makes it
   * active at once. A later load replaces an earlier pending one.
   * @returns true when the table became active at once.
   */
  load(table: TariffTable, activateAt: number, now: number): boolean {
    if (!(table instanceof TariffTable)) throw new TypeError('table must be a TariffTable');
    if (!Number.isFinite(activateAt)) throw new RangeError(`activateAt must be finite, got ${activateAt}`);
    if (activateAt <= now) {
      this.#active = table;
      this.#pending = undefined;
      this.#activateAt = Infinity;
      return true;
    }
    this.#pending = table;
    this.#activateAt = activateAt;
    return false;
  }

  /** Promotes the pending table when `now` has reached its activation time; true when it did. */
  promote(now: number): boolean {
    if (this.#pending && now >= this.#activateAt) {
      this.#active = this.#pending;
      this.#pending = undefined;
      this.#activateAt = Infinity;
      return true;
    }
    return false;
  }

  /** The table in force at RTC second `t`. */
  tableAt(t: number): TariffTable {
    return this.#pending && t >= this.#activateAt ? this.#pending : this.#active;
  }

  /**
   * Splits `quantity` consumed evenly over RTC seconds [from, to) into pieces of constant rate
   * step (and table). Piece k gets floor(Q·T_k/T) − floor(Q·T_{k−1}/T) where T_k is the time up to
   * the end of piece k: integer arithmetic, and the pieces always sum to exactly `quantity`.
   * @throws RangeError naming the parameter when from ≥ to or quantity is not a safe non-negative integer.
   */
  split(from: number, to: number, quantity: number): TariffPart[] {
    if (!Number.isInteger(from) || !Number.isInteger(to) || to <= from)
      throw new RangeError(`from/to must be integers with from < to, got ${from}…${to}`);
    if (!Number.isSafeInteger(quantity) || quantity < 0)
      throw new RangeError(`quantity must be a safe non-negative integer, got ${quantity}`);
    const bounds: { from: number; to: number; table: TariffTable; step: number }[] = [];
    let t = from;
    while (t < to) {
      const table = this.tableAt(t);
      let end = Math.min(to, table.nextChange(t));
      if (t < this.#activateAt && end > this.#activateAt) end = this.#activateAt;
      const step = table.stepAt(t);
      const last = bounds[bounds.length - 1];
      if (last && last.table === table && last.step === step) last.to = end;
      else bounds.push({ from: t, to: end, table, step });
      t = end;
    }
    const total = BigInt(to - from);
    const q = BigInt(quantity);
    let given = 0n;
    return bounds.map((b) => {
      const upTo = (q * BigInt(b.to - from)) / total;
      const part = Number(upTo - given);
      given = upTo;
      return {
        table: b.table,
        step: b.step,
        percent: b.table.percentOf(b.step),
        from: b.from,
        to: b.to,
        quantity: part,
      };
    });
  }
}
