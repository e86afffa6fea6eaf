import type { CommandApdu } from '../../card/index.js';
import { ResponseApdu } from '../../card/index.js';
import type { CardChannel, Protocol } from '../CardChannel.js';
import { ChannelClosedError } from '../errors.js';
import { commandMatches } from './compare.js';
import { ReplayedChannelError, ReplayMismatchError } from './errors.js';
import type { MaskRule, Trace, TraceExchange, TraceReset } from './Trace.js';
import { spacedHex } from './Trace.js';

/** Options of a `ReplayChannel`. */
export interface ReplayOptions {
  /**
   * 'strict' (default): every command must match the next recorded one, resets included, in
   * order. 'match': each command is answered by a recorded exchange with a matching command,
   * preferring the first one not yet used at or after the current position; resets answer the
   * next recorded ATR.
   */
  mode?: 'strict' | 'match';
  /** Mask rules added to those of the trace header. */
  rules?: readonly MaskRule[];
  /** Reader name to report; default the trace's `@reader`, else 'Replay'. */
  readerName?: string;
  /**
   * Version 2: the channel to play (its own events, reader, protocol and ATR). May be left out
   * when the trace holds one channel.
   */
  channel?: string;
}

/** The ATR a trace without any says it had: TS = 3B, T0 = 00 (no interface or historical bytes). */
const NO_ATR = Uint8Array.of(0x3b, 0x00);

/**
 * A channel that plays the card of a trace (apdu4j's MockBIBO and Cardpeek's replay reader do the
 * same): it answers each command with the recorded response, and throws `ReplayMismatchError`
 * naming the exchange and the expected and received hex when the command is not in the trace.
 * Recorded channel errors (`! error`) are thrown again as `ReplayedChannelError`.
 *
 * ```ts
 * const ch = new ReplayChannel(Trace.parse(text), { mode: 'strict' });
 * const r = await ch.transmit(CommandApdu.decode(fromHex('00A4040007F04D505552534501')));
 * ```
 */
export class ReplayChannel implements CardChannel {
  readonly readerName: string;
  readonly protocol: Protocol;
  readonly mode: 'strict' | 'match';
  readonly #trace: Trace;
  readonly #rules: readonly MaskRule[];
  #atr: Uint8Array;
  /** Index into trace.events of the next event to play. */
  #pos = 0;
  /** Commands answered so far. */
  #count = 0;
  readonly #used = new Set<number>();
  #closed = false;

  /** @throws TypeError when `trace` is not a Trace; RangeError for an unknown mode. */
  constructor(trace: Trace, options: ReplayOptions = {}) {
    if (!trace || !Array.isArray(trace.events)) throw new TypeError('trace must be a Trace');
    const channels = trace.header.channels;
    if (options.channel !== undefined || channels.length > 0) {
      const id = options.channel ?? (channels.length === 1 ? channels[0]!.id : undefined);
      if (id === undefined)
        throw new RangeError(
          `the trace has ${channels.length} channels (${channels.map((c) => c.id).join(', ')}): say which to play`,
        );
      trace = trace.channel(id);
    }
    const mode = options.mode ?? 'strict';
    if (mode !== 'strict' && mode !== 'match')
      throw new RangeError(`mode must be 'strict' or 'match', not ${String(mode)}`);
    this.mode = mode;
    this.#trace = trace;
    this.#rules = [...trace.header.rules, ...(options.rules ?? [])];
    this.readerName = options.readerName ?? trace.header.reader ?? 'Replay';
    this.protocol = trace.header.protocol ?? 'T=1';
    const firstReset = trace.events.find((e): e is TraceReset => e.type === 'reset');
    this.#atr = (trace.header.atr ?? firstReset?.atr ?? NO_ATR).slice();
  }

  get atr(): Uint8Array {
    return this.#atr.slice();
  }

  /** Exchanges of the trace not used yet. */
  get remaining(): number {
    let n = 0;
    this.#trace.events.forEach((e, i) => {
      if (e.type === 'exchange' && !this.#used.has(i)) n++;
    });
    return n;
  }

  /**
   * Answers `command` from the trace.
   * @throws ReplayMismatchError when the trace has no matching command here; ReplayedChannelError
   * when the trace recorded a channel error for it; ChannelClosedError after `disconnect()`.
   */
  async transmit(command: CommandApdu): Promise<ResponseApdu> {
    this.#check('transmit');
    const got = command.encode();
    const index = this.#count + 1;
    const events = this.#trace.events;
    let hit: number | undefined;
    if (this.mode === 'strict') {
      while (this.#pos < events.length && events[this.#pos]!.type === 'disconnect') this.#pos++;
      const next = events[this.#pos];
      if (!next) throw this.#mismatch(index, undefined, spacedHex(got), 'the trace has no more exchanges');
      if (next.type !== 'exchange')
        throw this.#mismatch(
          index,
          'reset',
          spacedHex(got),
          `the trace resets the card here (line ${next.line})`,
        );
      if (!commandMatches(next, got, this.#rules))
        throw this.#mismatch(
          index,
          spacedHex(next.command),
          spacedHex(got),
          `command differs from line ${next.line}`,
        );
      hit = this.#pos;
    } else {
      hit =
        this.#find(got, (i) => i >= this.#pos && !this.#used.has(i)) ??
        this.#find(got, (i) => !this.#used.has(i));
      hit ??= this.#find(got, () => true);
      if (hit === undefined) {
        const expected = events.find((e, i): e is TraceExchange => i >= this.#pos && e.type === 'exchange');
        throw this.#mismatch(
          index,
          expected ? spacedHex(expected.command) : undefined,
          spacedHex(got),
          'no recorded exchange has this command',
        );
      }
    }
    const entry = events[hit] as TraceExchange;
    this.#used.add(hit);
    this.#pos = Math.max(this.#pos, hit + 1);
    this.#count++;
    if (!entry.response)
      throw new ReplayedChannelError(
        `recorded error at exchange ${index} (line ${entry.line}): ${entry.error ?? 'error'}`,
        this.readerName,
      );
    return ResponseApdu.decode(entry.response);
  }

  /**
   * Plays a reset: in strict mode the next event must be one; in match mode the next recorded
   * reset at or after the position is used, else the current ATR is kept.
   * @throws ReplayMismatchError in strict mode when the trace has a command here.
   */
  async reset(): Promise<Uint8Array> {
    this.#check('reset');
    const events = this.#trace.events;
    if (this.mode === 'strict') {
      while (this.#pos < events.length && events[this.#pos]!.type === 'disconnect') this.#pos++;
      const next = events[this.#pos];
      if (!next || next.type !== 'reset') {
        const expected = next && next.type === 'exchange' ? spacedHex(next.command) : undefined;
        throw this.#mismatch(this.#count + 1, expected, 'reset', 'the trace has no reset here');
      }
      this.#atr = next.atr.slice();
      this.#pos++;
    } else {
      const i = events.findIndex((e, k) => k >= this.#pos && e.type === 'reset');
      if (i >= 0) {
        this.#atr = (events[i] as TraceReset).atr.slice();
        this.#pos = i + 1;
      }
    }
    return this.atr;
  }

  async disconnect(): Promise<void> {
    this.#closed = true;
  }

  #find(got: Uint8Array, ok: (i: number) => boolean): number | undefined {
    const events = this.#trace.events;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (e.type === 'exchange' && ok(i) && commandMatches(e, got, this.#rules)) return i;
    }
    return undefined;
  }

  #mismatch(index: number, expected: string | undefined, got: string, why: string): ReplayMismatchError {
    return new ReplayMismatchError(
      `replay (${this.mode}) mismatch at exchange ${index}: ${why}; expected ${expected ?? '(end of trace)'}, got ${got}`,
      index,
      expected,
      got,
      this.readerName,
    );
  }

  #check(operation: string): void {
    if (this.#closed)
      throw new ChannelClosedError(
        `${operation} on a disconnected replay of '${this.readerName}'`,
        this.readerName,
      );
  }
}
