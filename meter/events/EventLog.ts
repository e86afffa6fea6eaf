import { MalformedDataError } from '../../card/index.js';
import { StateReader, type StateObject } from '../../protocol/index.js';
import { RTC_MAX_SECONDS, RtcTime } from '../../protocol/index.js';

/**
 * Event kinds and their one-byte codes in the NVM/card encoding. Tamper and supply events come
 * from seed 000 (load voltage while the relay is open = theft) and seed 002 (power failure,
 * reverse power flow, anti-tamper circuit operation flags carried back on the token).
 */
export const EVENT_CODES = {
  'power-fail': 0x01,
  'power-restore': 0x02,
  'cover-open': 0x03,
  'cover-closed': 0x04,
  'reverse-flow': 0x05,
  'reverse-flow-end': 0x06,
  'theft-load-voltage': 0x07,
  'clock-set': 0x10,
  'clock-backwards-refused': 0x11,
  'clock-set-back': 0x12,
  'tariff-loaded': 0x18,
  'tariff-activated': 0x19,
  'tariff-rejected': 0x1a,
  'last-tokens': 0x20,
  'low-credit': 0x21,
  'credit-exhausted': 0x22,
  'credit-refused': 0x23,
  'credit-restored': 0x24,
  'supply-off': 0x28,
  'supply-on': 0x29,
  'emergency-granted': 0x30,
  'emergency-refused': 0x31,
  'emergency-repaid': 0x32,
  'friendly-debt': 0x33,
  'debt-repaid': 0x34,
  commissioned: 0x40,
  'commissioning-refused': 0x41,
  decommissioned: 0x42,
  'card-inserted': 0x50,
  'card-credit': 0x51,
  'card-recovered': 0x52,
  'card-refused': 0x53,
  'card-slots-full': 0x54,
  'card-data-written': 0x55,
  // Issue 17, offline meters (meter/cardslot/offlineConfig.ts, offlineReadings.ts).
  /** An authentic, newer configuration from the card was applied; datum: its version. */
  'config-applied': 0x58,
  /** The card's configuration binds it to another meter; datum: that meter id (u24). */
  'config-bound-elsewhere': 0x59,
  /** The card's configuration failed the SAM's CONFIG CHECK; datum: the SAM's status word. */
  'config-not-authentic': 0x5a,
  /** An authentic configuration the meter cannot apply (unit charge 0); datum: its version. */
  'config-rejected': 0x5b,
  /** The utility's blacklist is newer than the meter's own; datum: the utility's version. */
  'blacklist-outdated': 0x5c,
  /** The signed readings record was written onto the card (SFI 04); datum: its reading sequence. */
  'readings-written': 0x5d,
} as const;

export type EventKind = keyof typeof EVENT_CODES;
const KIND_OF_CODE = new Map<number, EventKind>(
  (Object.entries(EVENT_CODES) as [EventKind, number][]).map(([k, c]) => [c, k]),
);

/** One recorded event: RTC second, kind, and a 32-bit datum whose meaning depends on the kind. */
export interface MeterEvent {
  readonly at: number;
  readonly kind: EventKind;
  readonly data: number;
}

export const EVENT_LOG_FORMAT_VERSION = 1;
const ENTRY_SIZE = 11;

/**
 * The meter's bounded event log in NVM: a ring of `capacity` entries; when full the oldest is
 * overwritten and counted in `dropped`. Encoded (big-endian) for the card's meter-data file and
 * the host's usage check:
 * ```
 * off  size  field
 *  0    1    format version = 0x01
 *  1    2    N = number of entries that follow (oldest first)
 *  3    4    dropped: entries overwritten since the log was zeroed (saturates at 2^32-1)
 *  7   11·N  entry: RTC time BCD YYMMDDhhmmss (6), event code (1), datum u32 (4)
 * ```
 */
export class EventLog {
  readonly capacity: number;
  readonly #ring: MeterEvent[] = [];
  #head = 0;
  #dropped = 0;
  readonly #counts = new Map<EventKind, number>();

  /** @throws RangeError naming `capacity` unless it is an integer 1…65535. */
  constructor(capacity = 256) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 65535)
      throw new RangeError(`capacity must be an integer 1…65535, got ${capacity}`);
    this.capacity = capacity;
  }

  /** @throws RangeError when `at` is not a valid RTC second or `data` not a u32. */
  record(at: number, kind: EventKind, data = 0): MeterEvent {
    if (!Number.isInteger(at) || at < 0) throw new RangeError(`at must be an RTC second, got ${at}`);
    if (!(kind in EVENT_CODES)) throw new RangeError(`unknown event kind ${String(kind)}`);
    const d = Math.max(0, Math.min(0xffffffff, Math.trunc(data)));
    const e: MeterEvent = Object.freeze({ at, kind, data: d });
    if (this.#ring.length < this.capacity) this.#ring.push(e);
    else {
      this.#ring[this.#head] = e;
      this.#head = (this.#head + 1) % this.capacity;
      this.#dropped = Math.min(0xffffffff, this.#dropped + 1);
    }
    this.#counts.set(kind, (this.#counts.get(kind) ?? 0) + 1);
    return e;
  }

  /** Entries held, oldest first. */
  entries(): MeterEvent[] {
    return [...this.#ring.slice(this.#head), ...this.#ring.slice(0, this.#head)];
  }

  get size(): number {
    return this.#ring.length;
  }
  get dropped(): number {
    return this.#dropped;
  }

  /** How many events of a kind were recorded since zeroing (including overwritten ones). */
  count(kind: EventKind): number {
    return this.#counts.get(kind) ?? 0;
  }

  /** Counts per kind since zeroing. */
  counts(): Partial<Record<EventKind, number>> {
    return Object.fromEntries(this.#counts);
  }

  clear(): void {
    this.#ring.length = 0;
    this.#head = 0;
    this.#dropped = 0;
    this.#counts.clear();
  }

  /** Ring, counts and dropped count (part of `Meter.snapshot`). JSON-safe. */
  saveState(): StateObject {
    return {
      capacity: this.capacity,
      ring: this.#ring.map((e) => ({ at: e.at, kind: e.kind, data: e.data })),
      head: this.#head,
      dropped: this.#dropped,
      counts: Object.fromEntries(this.#counts),
    };
  }

  /** Rebuilds a log from `saveState`. @throws RangeError naming the first bad field. */
  static fromState(state: StateObject): EventLog {
    const r = new StateReader(state, 'snapshot.events');
    const log = new EventLog(r.int('capacity', 1, 65535));
    const kinds = Object.keys(EVENT_CODES) as EventKind[];
    const ring = r.list('ring', log.capacity).map((e) =>
      Object.freeze({
        at: e.int('at', 0, RTC_MAX_SECONDS),
        kind: e.oneOf('kind', kinds),
        data: e.int('data', 0, 0xffffffff),
      }),
    );
    const head = r.int('head', 0, Math.max(0, ring.length - 1));
    const dropped = r.int('dropped', 0, 0xffffffff);
    const counts = r.child('counts');
    const c = new Map<EventKind, number>();
    for (const k of kinds) {
      if ((state['counts'] as StateObject)[k] !== undefined) c.set(k, counts.int(k));
    }
    log.#ring.push(...ring);
    log.#head = head;
    log.#dropped = dropped;
    for (const [k, n] of c) log.#counts.set(k, n);
    return log;
  }

  encode(): Uint8Array {
    const list = this.entries();
    const out = new Uint8Array(7 + ENTRY_SIZE * list.length);
    const dv = new DataView(out.buffer);
    out[0] = EVENT_LOG_FORMAT_VERSION;
    dv.setUint16(1, list.length);
    dv.setUint32(3, this.#dropped);
    list.forEach((e, i) => {
      const o = 7 + i * ENTRY_SIZE;
      out.set(RtcTime.fromSeconds(Math.min(e.at, 3_155_759_999)).encodeBcd(), o);
      out[o + 6] = EVENT_CODES[e.kind];
      dv.setUint32(o + 7, e.data);
    });
    return out;
  }

  /**
   * Decodes an encoded log into its entries and the dropped count.
   * @throws MalformedDataError (kind 'events', 'rtc') with the offset of the fault.
   */
  static decode(bytes: Uint8Array): { entries: MeterEvent[]; dropped: number } {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
    if (bytes.length < 7)
      throw new MalformedDataError('event log header needs 7 bytes', bytes.length, bytes, 'events');
    if (bytes[0] !== EVENT_LOG_FORMAT_VERSION)
      throw new MalformedDataError(`unknown event log version ${bytes[0]}`, 0, bytes, 'events');
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = dv.getUint16(1);
    if (bytes.length !== 7 + n * ENTRY_SIZE)
      throw new MalformedDataError(
        `${n} entries need ${7 + n * ENTRY_SIZE} bytes, got ${bytes.length}`,
        Math.min(bytes.length, 7 + n * ENTRY_SIZE),
        bytes,
        'events',
      );
    const entries: MeterEvent[] = [];
    for (let i = 0; i < n; i++) {
      const o = 7 + i * ENTRY_SIZE;
      const at = RtcTime.decodeBcd(bytes, o).seconds;
      const kind = KIND_OF_CODE.get(bytes[o + 6]!);
      if (!kind) throw new MalformedDataError(`unknown event code ${bytes[o + 6]}`, o + 6, bytes, 'events');
      entries.push({ at, kind, data: dv.getUint32(o + 7) });
    }
    return { entries, dropped: dv.getUint32(3) };
  }
}
