/**
 * A seeded model of one LS's power-line segment, in virtual time (milliseconds): every frame sent
 * is lost, delivered once, or delivered twice, each copy after its own latency (so frames can
 * overtake each other: re-ordering), and a delivered copy may have one bit flipped (the CRC catches
 * it). Copies that arrive after the sender stopped waiting stay in flight and turn up later, in a
 * later exchange — the late and duplicated frames that exactly-once must survive.
 */
import type { Rng } from '../../card/index.js';

export interface ChannelOptions {
  /** Latency range of one copy, ms. */
  latencyMs?: readonly [number, number];
  /** Probability that a frame is lost. */
  loss?: number;
  /** Probability that a delivered frame arrives twice. */
  duplicate?: number;
  /** Probability that a delivered copy has one bit flipped. */
  corrupt?: number;
}

interface InFlight {
  at: number;
  order: number;
  toMeter: boolean;
  bytes: Uint8Array;
}

export interface ChannelStats {
  sent: number;
  lost: number;
  duplicated: number;
  corrupted: number;
}

export class PowerLineChannel {
  now = 0;
  readonly stats: ChannelStats = { sent: 0, lost: 0, duplicated: 0, corrupted: 0 };
  readonly #rng: Rng;
  readonly #o: Required<ChannelOptions>;
  #queue: InFlight[] = [];
  #order = 0;

  constructor(rng: Rng, o: ChannelOptions = {}) {
    this.#rng = rng;
    this.#o = {
      latencyMs: o.latencyMs ?? [20, 80],
      loss: o.loss ?? 0,
      duplicate: o.duplicate ?? 0,
      corrupt: o.corrupt ?? 0,
    };
  }

  #uniform(): number {
    const b = this.#rng.bytes(4);
    return (((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0) / 2 ** 32;
  }

  /** Puts a frame on the line now. */
  send(bytes: Uint8Array, toMeter: boolean): void {
    this.stats.sent++;
    if (this.#uniform() < this.#o.loss) {
      this.stats.lost++;
      return;
    }
    const copies = this.#uniform() < this.#o.duplicate ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    const [lo, hi] = this.#o.latencyMs;
    for (let i = 0; i < copies; i++) {
      let b = bytes;
      if (this.#uniform() < this.#o.corrupt) {
        this.stats.corrupted++;
        b = Uint8Array.from(bytes);
        const bit = Math.floor(this.#uniform() * b.length * 8);
        b[bit >> 3]! ^= 1 << (bit & 7);
      }
      this.#queue.push({
        at: this.now + lo + this.#uniform() * (hi - lo),
        order: this.#order++,
        toMeter,
        bytes: b,
      });
    }
  }

  /**
   * Delivers, in arrival order, every frame arriving up to `until`, calling `onArrive`; stops early
   * (at that frame's arrival time) when `onArrive` returns true.
   */
  run(until: number, onArrive: (bytes: Uint8Array, toMeter: boolean) => boolean): boolean {
    for (;;) {
      let best = -1;
      for (let i = 0; i < this.#queue.length; i++) {
        const q = this.#queue[i]!;
        if (q.at > until) continue;
        const b = best < 0 ? undefined : this.#queue[best]!;
        if (!b || q.at < b.at || (q.at === b.at && q.order < b.order)) best = i;
      }
      if (best < 0) {
        this.now = Math.max(this.now, until);
        return false;
      }
      const f = this.#queue.splice(best, 1)[0]!;
      this.now = Math.max(this.now, f.at);
      if (onArrive(f.bytes, f.toMeter)) return true;
    }
  }

  /**
   * Takes the next frame arriving no later than `until` (advancing the clock to its arrival), or
   * returns undefined and advances the clock to `until`. The async form of {@link run}.
   */
  next(until: number): { bytes: Uint8Array; toMeter: boolean } | undefined {
    let best = -1;
    for (let i = 0; i < this.#queue.length; i++) {
      const q = this.#queue[i]!;
      if (q.at > until) continue;
      const b = best < 0 ? undefined : this.#queue[best]!;
      if (!b || q.at < b.at || (q.at === b.at && q.order < b.order)) best = i;
    }
    if (best < 0) {
      this.now = Math.max(this.now, until);
      return undefined;
    }
    const f = this.#queue.splice(best, 1)[0]!;
    this.now = Math.max(this.now, f.at);
    return { bytes: f.bytes, toMeter: f.toMeter };
  }

  /** Frames still on the line. */
  get inFlight(): number {
    return this.#queue.length;
  }
}
