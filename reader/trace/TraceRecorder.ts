import type { CommandApdu, ResponseApdu } from '../../card/index.js';
import type { ExchangeObserver, ObservableChannel } from '../ApduTransport.js';
import type { CardChannel, Protocol } from '../CardChannel.js';
import {
  channelLine,
  formatEvent,
  GET_CHALLENGE_RULE,
  ms,
  Trace,
  type MaskRule,
  type TraceEvent,
} from './Trace.js';
import type { TraceSink } from './sinks.js';

/** Options of a `TraceRecorder` (and of a `RecordingChannel`, which makes one of its own). */
export interface RecordingOptions {
  /** Mask rules written into the header; default `[GET_CHALLENGE_RULE]`. */
  rules?: readonly MaskRule[];
  /** `@tool` header (which program recorded). */
  tool?: string;
  /** Comment lines for the header block. */
  notes?: readonly string[];
  /** Write durations, offsets and the start time (default true). */
  timing?: boolean;
  /** Monotonic clock in ms (default `performance.now`); injected by tests. */
  clock?: () => number;
  /** Wall clock for `@start` (default `new Date()`). */
  now?: () => Date;
  /** `@x-<name>` headers (e.g. `{ 'rng-seed': 'lab-7' }` for a deterministic card). */
  extra?: Readonly<Record<string, string>>;
  /**
   * Exchanges kept unformatted before the text is made in a later macrotask (default 4096; also
   * reached at 256 bytes of APDU per exchange, 1 MiB by default). A caller that never lets the
   * event loop turn has them formatted at once at 4 × this. A process killed outright loses at
   * most that many exchanges.
   */
  bufferLimit?: number;
}

/** Options of `TraceRecorder.channel()`. */
export interface RecorderChannelOptions {
  /** The channel's label in the trace; default made from the reader name (`SAM 01` → `sam-01`). */
  id?: string;
}

/** Default of `RecordingOptions.bufferLimit`: exchanges kept before formatting is scheduled. */
export const DEFAULT_BUFFER_LIMIT = 4096;
/** APDU bytes kept per exchange of the limit before formatting is scheduled (4096 → 1 MiB). */
const BYTES_PER_EXCHANGE = 256;
/** Past this many times the limit, the pending events are formatted at once, on the caller's path. */
const HARD = 4;

/** ASCII of the hex digits of every byte value, high and low. */
const HEX_HI = Uint8Array.from({ length: 256 }, (_, i) => '0123456789ABCDEF'.charCodeAt(i >> 4));
const HEX_LO = Uint8Array.from({ length: 256 }, (_, i) => '0123456789ABCDEF'.charCodeAt(i & 15));

/** Recorders holding events not yet handed to their sink: written out synchronously at exit. */
const unflushed = new Set<TraceRecorder>();
let exitHook = false;
function flushAllAtExit(): void {
  for (const r of unflushed) {
    try {
      r.flushNow();
    } catch {
      // At exit there is nobody left to tell; the other recorders are still written.
    }
  }
}

/**
 * Writes the trace of a session — one channel (format version 1) or several (version 2, each
 * event labelled with its channel) — to a sink, and makes recording cheap for the caller.
 *
 * Why it buffers: against an in-process card a whole exchange costs about a microsecond, so
 * building some 70 characters of text per exchange on the caller's path doubled its cost. On the
 * exchange's path the recorder copies the command's and the response's bytes into one byte
 * buffer and keeps the channel's label (a number) and two clock readings in typed arrays: no
 * text, no hex, no allocation of its own (but to grow), no reference kept, no I/O. The text is made (byte for byte what `formatEvent` gives) only
 * when the events are flushed: by `flush()` / `flushNow()`, at a channel's disconnect, at
 * `close()`, after an exchange that failed (an error often comes before a crash), at process
 * exit (synchronously, on `'exit'`), and when `bufferLimit` exchanges (or `bufferLimit` × 256
 * APDU bytes) are pending — then in a later macrotask (`setImmediate`), off the exchange's own
 * path, or at once if the caller never lets the event loop turn and 4 × that much is pending.
 * Everything is written in the order it was recorded. A process killed outright (`kill -9`, or a
 * signal without a handler, which skips `'exit'`) loses what was not flushed: at most
 * 4 × `bufferLimit` exchanges, `bufferLimit` when the event loop turns.
 *
 * ```ts
 * const rec = new TraceRecorder(new FileTraceSink('flow.trace'), { tool: 'lab run 7' });
 * const sam = rec.channel(await samReader.connect());     // @channel sam "SAM" T=1 3B …
 * const card = rec.channel(await cardReader.connect());   // @channel card-slot "card slot" …
 * …
 * await rec.close();
 * ```
 */
export class TraceRecorder {
  /** 1: one channel, unlabelled events (what `RecordingChannel` alone writes); 2: labelled channels. */
  readonly version: 1 | 2;
  readonly #sink: TraceSink;
  readonly timing: boolean;
  readonly clock: () => number;
  readonly t0: number;
  /**
   * What is pending, in order, entry k being one of: an exchange (`#tag[k]` = 1 + the index of
   * its channel's label in `#labels`, its bytes in `#raw` up to `#ends[2k]` (command) and
   * `#ends[2k + 1]` (response), `#times[2k]`, `#times[2k + 1]` start and end); or (`#tag[k]` = 0)
   * the next of `#others`: text (a string) or a rarer event. Typed arrays only on the exchange's
   * path: no JS array grows there, no reference is stored.
   */
  #tag: Uint16Array = new Uint16Array(256);
  #others: (string | TraceEvent)[] = [];
  readonly #labels: string[] = [''];
  #times: Float64Array = new Float64Array(512);
  #ends: Uint32Array = new Uint32Array(512);
  /**
   * The APDUs' bytes, copied: keeping the objects themselves would keep them alive past the
   * young generation, and the garbage collector's copying of them cost more than the copy.
   */
  #raw: Uint8Array = new Uint8Array(64 * 1024);
  #rawUsed = 0;
  #n = 0;
  readonly #limit: number;
  readonly #limitBytes: number;
  #scheduled = false;
  #closed = false;
  #events = 0;
  readonly #ids = new Set<string>();
  readonly #drainSoon = (): void => {
    this.#scheduled = false;
    if (this.#n > 0) this.flushNow();
  };

  /**
   * Writes the header at once (so a session that dies early still leaves a readable trace).
   * @throws TypeError when `sink` is not a TraceSink; RangeError for a `bufferLimit` that is not
   * a positive integer.
   */
  constructor(sink: TraceSink, options: RecordingOptions = {}, single?: CardChannel) {
    if (!sink || typeof sink.write !== 'function') throw new TypeError('sink must be a TraceSink');
    const limit = options.bufferLimit ?? DEFAULT_BUFFER_LIMIT;
    if (!Number.isSafeInteger(limit) || limit < 1)
      throw new RangeError(`bufferLimit must be a positive integer, not ${limit}`);
    this.#limit = limit;
    this.#limitBytes = limit * BYTES_PER_EXCHANGE;
    this.#sink = sink;
    this.version = single ? 1 : 2;
    this.timing = options.timing ?? true;
    this.clock = options.clock ?? performance.now.bind(performance);
    this.t0 = this.clock();
    const header = new Trace(
      {
        version: this.version,
        ...(single ? { reader: single.readerName, protocol: single.protocol, atr: single.atr } : {}),
        start: (options.now ?? (() => new Date()))().toISOString(),
        ...(options.tool !== undefined ? { tool: options.tool } : {}),
        rules: options.rules ?? [GET_CHALLENGE_RULE],
        notes: (options.notes ?? []).map((n) => ` ${n}`),
        extra: options.extra ?? {},
      },
      [],
    );
    sink.write(header.format({ timing: this.timing }));
    // (A sink's asynchronous failure shows again at flush() / close().)
    const flushed = sink.flush?.();
    if (flushed instanceof Promise) flushed.catch(() => undefined);
    if (!exitHook) {
      exitHook = true;
      process.on('exit', flushAllAtExit);
    }
  }

  /** Events (exchanges, resets, disconnects) recorded so far. */
  get events(): number {
    return this.#events;
  }

  /** Events and text entries recorded but not yet handed to the sink. */
  get pending(): number {
    return this.#n;
  }

  /** Channels declared so far (version 2). */
  get channels(): number {
    return this.#ids.size;
  }

  /** True once `close()` was called: further events are not recorded. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Records `inner` as a new channel of this (version 2) trace: writes its `@channel` line and
   * returns the recording wrapper.
   * @throws RangeError for a version 1 recorder, or an id already used or not well-formed.
   */
  channel(inner: CardChannel, options: RecorderChannelOptions = {}): RecordingChannel {
    return new RecordingChannel(inner, this, options);
  }

  /** @internal The number `exchange()` takes for a channel label (0: unlabelled, version 1). */
  labelIndex(id: string): number {
    const i = this.#labels.indexOf(id);
    if (i < 0) throw new RangeError(`channel ${id} is not in this trace`);
    return i;
  }

  /** @internal Declares a channel and returns its label. */
  declare(inner: CardChannel, wanted: string | undefined): string {
    if (this.version === 1) throw new RangeError('a version 1 trace holds one channel');
    if (this.#labels.length >= 0xffff) throw new RangeError('a trace holds at most 65,534 channels');
    let id = wanted ?? slug(inner.readerName);
    if (wanted === undefined) {
      const base = id;
      for (let k = 2; this.#ids.has(id); k++) id = `${base.slice(0, 28)}.${k}`;
    } else if (this.#ids.has(id)) throw new RangeError(`channel ${id} is already in this trace`);
    if (!/^[A-Za-z][A-Za-z0-9_.-]{0,31}$/.test(id))
      throw new RangeError(
        `channel id ${JSON.stringify(id)}: a letter, then letters, digits, _ . - (at most 32)`,
      );
    this.#ids.add(id);
    this.#labels.push(id);
    this.text(`${channelLine({ id, reader: inner.readerName, protocol: inner.protocol, atr: inner.atr })}\n`);
    return id;
  }

  /**
   * @internal An answered exchange: the hot path of recording. Copies the APDUs' bytes into one
   * buffer and keeps the label and the two times; formats nothing, allocates nothing (but to grow).
   */
  exchange(label: number, command: CommandApdu, response: ResponseApdu, start: number, end: number): void {
    if (this.#closed) return;
    const k = this.#n;
    if (k === 0) unflushed.add(this);
    const cd = command.dataView();
    const rd = response.dataView();
    const nc = cd.length;
    let o = this.#rawUsed;
    let raw = this.#raw;
    if (o + nc + rd.length + 11 > raw.length) raw = this.#growRaw(nc + rd.length + 11);
    // The bytes of `command.encode()`, written in place (short or extended form, as remembered).
    raw[o] = command.cla;
    raw[o + 1] = command.ins;
    raw[o + 2] = command.p1;
    raw[o + 3] = command.p2;
    o += 4;
    const ne = command.ne;
    if (!command.extended) {
      if (nc > 0) {
        raw[o++] = nc;
        for (let i = 0; i < nc; i++) raw[o++] = cd[i]!;
      }
      if (ne !== undefined) raw[o++] = ne === 256 ? 0 : ne;
    } else {
      raw[o++] = 0;
      if (nc > 0) {
        raw[o++] = nc >> 8;
        raw[o++] = nc & 0xff;
        for (let i = 0; i < nc; i++) raw[o++] = cd[i]!;
      }
      if (ne !== undefined) {
        const le = ne === 65536 ? 0 : ne;
        raw[o++] = le >> 8;
        raw[o++] = le & 0xff;
      }
    }
    let ends = this.#ends;
    let t = this.#times;
    if (2 * k + 2 > t.length) [t, ends] = this.#grow();
    ends[2 * k] = o;
    for (let i = 0; i < rd.length; i++) raw[o++] = rd[i]!;
    const sw = response.sw;
    raw[o++] = sw >> 8;
    raw[o++] = sw & 0xff;
    ends[2 * k + 1] = o;
    this.#rawUsed = o;
    this.#tag[k] = label + 1;
    t[2 * k] = start;
    t[2 * k + 1] = end;
    this.#n = k + 1;
    this.#events++;
    if (k + 1 >= this.#limit || o >= this.#limitBytes) this.#full();
  }

  /** @internal A rarer event (error, reset, disconnect), kept as it is and formatted later. */
  event(e: TraceEvent): void {
    if (this.#closed) return;
    this.#events++;
    this.#push(e);
  }

  /** @internal Text (comments, declarations) in its place among the events. */
  text(t: string): void {
    if (this.#closed) return;
    this.#push(t);
  }

  /** A `#` comment before the next event. */
  comment(text: string): void {
    let out = '';
    for (const line of String(text).split(/\r?\n/)) out += `# ${line}\n`;
    this.text(out);
  }

  /**
   * Formats what is pending and hands it to the sink, then asks the sink to write it out — all
   * synchronously for `FileTraceSink` (an asynchronous sink's failure shows at `flush()`).
   */
  flushNow(): void {
    if (this.#n > 0) this.#sink.write(this.#take());
    const f = this.#sink.flush?.();
    if (f instanceof Promise) f.catch(() => undefined);
  }

  /** Writes out everything pending (the sink stays open). */
  async flush(): Promise<void> {
    if (this.#n > 0) this.#sink.write(this.#take());
    await this.#sink.flush?.();
  }

  /** Writes out what is pending and closes the sink; later events are not recorded. */
  async close(): Promise<void> {
    if (this.#closed) return;
    // Synchronous up to the sink's close() (called before the await), so it may run at exit.
    if (this.#n > 0) this.#sink.write(this.#take());
    this.#closed = true;
    unflushed.delete(this);
    await this.#sink.close?.();
  }

  #push(entry: string | TraceEvent): void {
    const k = this.#n;
    if (k === 0) unflushed.add(this);
    this.#others.push(entry);
    if (2 * k + 2 > this.#times.length) this.#grow();
    this.#tag[k] = 0;
    this.#ends[2 * k] = this.#ends[2 * k + 1] = this.#rawUsed;
    this.#n = k + 1;
    if (k + 1 >= this.#limit) this.#full();
  }

  #grow(): [Float64Array, Uint32Array] {
    const t = new Float64Array(2 * this.#times.length);
    t.set(this.#times);
    this.#times = t;
    const e = new Uint32Array(2 * this.#ends.length);
    e.set(this.#ends);
    this.#ends = e;
    const g = new Uint16Array(2 * this.#tag.length);
    g.set(this.#tag);
    this.#tag = g;
    return [t, e];
  }

  #growRaw(more: number): Uint8Array {
    const raw = new Uint8Array(Math.max(2 * this.#raw.length, this.#rawUsed + more));
    raw.set(this.#raw.subarray(0, this.#rawUsed));
    this.#raw = raw;
    return raw;
  }

  /** Past the limit: format in a later macrotask, or now if the caller never yields. */
  #full(): void {
    if (this.#n >= HARD * this.#limit || this.#rawUsed >= HARD * this.#limitBytes) this.flushNow();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#drainSoon);
    }
  }

  /**
   * The text of what is pending, which is then forgotten. Exchanges are written as ASCII into one
   * buffer (the same text `formatEvent` gives); strings (comments, rare events) in between.
   */
  #take(): string {
    const n = this.#n;
    const tag = this.#tag;
    const labels = this.#labels;
    const others = this.#others;
    const texts: string[] = [];
    const times = this.#times;
    const ends = this.#ends;
    const raw = this.#raw;
    // First pass: rare events to text, and an upper bound of the size.
    let size = 3 * this.#rawUsed;
    for (let k = 0, j = 0; k < n; k++) {
      if (tag[k] !== 0) size += 2 * labels[tag[k]! - 1]!.length + 96;
      else {
        const w = others[j++]!;
        const s = typeof w === 'string' ? w : formatEvent(w, this.timing).join('\n') + '\n';
        texts.push(s);
        size += 3 * s.length;
      }
    }
    const out = Buffer.allocUnsafe(size);
    let o = 0;
    let r = 0;
    for (let k = 0, j = 0; k < n; k++) {
      if (tag[k] === 0) {
        o += out.write(texts[j++]!, o, 'utf8');
        continue;
      }
      const label = labels[tag[k]! - 1]!;
      if (label) o += out.write(label + ' ', o, 'latin1');
      out[o++] = 0x3e; // '>'
      for (const end = ends[2 * k]!; r < end; r++) {
        out[o++] = 0x20;
        out[o++] = HEX_HI[raw[r]!]!;
        out[o++] = HEX_LO[raw[r]!]!;
      }
      out[o++] = 0x0a;
      if (label) o += out.write(label + ' ', o, 'latin1');
      out[o++] = 0x3c; // '<'
      const end = ends[2 * k + 1]!;
      for (; r < end; r++) {
        out[o++] = 0x20;
        if (r === end - 2 && r > ends[2 * k]!) {
          out[o++] = 0x7c; // '|' between data and SW1 SW2
          out[o++] = 0x20;
        }
        out[o++] = HEX_HI[raw[r]!]!;
        out[o++] = HEX_LO[raw[r]!]!;
      }
      if (this.timing) {
        const start = times[2 * k]!;
        o += out.write(` ; d=${ms(times[2 * k + 1]! - start)} t=+${ms(start - this.t0)}`, o, 'latin1');
      }
      out[o++] = 0x0a;
    }
    // Forget the texts and events; the arrays and the buffer keep their capacity.
    this.#others = [];
    this.#n = 0;
    this.#rawUsed = 0;
    unflushed.delete(this);
    return out.toString('utf8', 0, o);
  }
}

/** A channel label from a reader name: `card slot 0A0B` → `card-slot-0a0b` (at most 24 characters). */
export function slug(name: string): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 24)
    .replace(/-+$/, '');
  return /^[a-z]/.test(s) ? s : `ch-${s}`.replace(/-+$/, '') || 'ch';
}

/**
 * Wraps any channel and records every exchange, reset and disconnect in the format of
 * docs/trace-format.md (STYLE.md rule 6: readers are wrappers, not flags). What is recorded is
 * what the caller saw: after the inner channel's transport rules (61xx / 6Cxx handled inside it).
 * Over a channel that takes an exchange observer (`VirtualChannel.transmitObserved`, the
 * in-process reader) it adds no promise of its own: the channel tells it of each exchange, as
 * the caller sees it, when the response (or the error) is final; over any other channel
 * (`PcscReader`) it wraps the inner promise with one `then()`. Both write the same text.
 *
 * Given a sink, the channel is the whole trace (format version 1: reader, protocol and ATR in the
 * header, written at once so a session that dies early leaves a readable trace) and
 * `disconnect()` closes the sink. Given a `TraceRecorder`, it is one labelled channel of a
 * version 2 trace that other channels share (the recorder is closed by its owner).
 *
 * ```ts
 * const rec = new RecordingChannel(await reader.connect(), new FileTraceSink('session.trace'));
 * await rec.transmit(select);
 * await rec.disconnect(); // flushes and closes the sink
 * ```
 */
export class RecordingChannel implements CardChannel {
  readonly #inner: CardChannel;
  readonly #rec: TraceRecorder;
  /** The channel's label (version 2), '' in a version 1 trace. */
  readonly channelId: string;
  readonly #owns: boolean;
  /** `channelId` as the recorder numbers it. */
  readonly #labelIndex: number;
  readonly #timing: boolean;
  readonly #clock: () => number;
  #comments: string[] = [];
  #closed = false;
  /**
   * Set when the inner channel tells an observer of its exchanges (`VirtualChannel`): then
   * `transmit()` hands the command on with this observer, and no promise of its own.
   */
  readonly #observed: ObservableChannel | undefined;
  readonly #observer: ExchangeObserver | undefined;
  /** Exchanges recorded so far. */
  count = 0;

  /**
   * @throws TypeError when `inner` or `sink` is missing; RangeError for a channel id a recorder
   * refuses (taken, or not a letter followed by letters, digits, `_ . -`).
   */
  constructor(
    inner: CardChannel,
    sink: TraceSink | TraceRecorder,
    options: RecordingOptions & RecorderChannelOptions = {},
  ) {
    if (!inner || typeof inner.transmit !== 'function') throw new TypeError('inner must be a CardChannel');
    this.#inner = inner;
    if (sink instanceof TraceRecorder) {
      this.#rec = sink;
      this.#owns = false;
      this.channelId = sink.declare(inner, options.id);
    } else {
      this.#rec = new TraceRecorder(sink, options, inner);
      this.#owns = true;
      this.channelId = '';
    }
    this.#labelIndex = this.#rec.labelIndex(this.channelId);
    this.#timing = this.#rec.timing;
    this.#clock = this.#rec.clock;
    if (typeof (inner as Partial<ObservableChannel>).transmitObserved === 'function') {
      this.#observed = inner as unknown as ObservableChannel;
      const clock = this.#clock;
      const timing = this.#timing;
      this.#observer = {
        begin: timing ? clock : () => 0,
        answered: (command, response, start) => {
          if (this.#comments.length !== 0) this.#queueComments();
          this.#rec.exchange(this.#labelIndex, command, response, start, timing ? clock() : 0);
          this.count++;
        },
        failed: (command, e, start) => this.#failed(command, e, start),
      };
    }
  }

  get readerName(): string {
    return this.#inner.readerName;
  }
  get atr(): Uint8Array {
    return this.#inner.atr;
  }
  get protocol(): Protocol {
    return this.#inner.protocol;
  }

  /** Adds a `#` comment line that will precede the next event (to annotate a session). */
  comment(text: string): void {
    for (const line of String(text).split(/\r?\n/)) this.#comments.push(` ${line}`);
  }

  /**
   * Sends through the inner channel and records the exchange; an error of the inner channel is
   * recorded as `! error` (and the trace flushed: an error often comes before a crash) and thrown
   * again unchanged. An answered exchange costs the caller two clock readings and a copy of its
   * bytes; the text is made later, in a batch (see `TraceRecorder`).
   */
  transmit(command: CommandApdu): Promise<ResponseApdu> {
    // An in-process channel tells the observer itself, when the response is final.
    if (this.#observed !== undefined) return this.#observed.transmitObserved(command, this.#observer!);
    const start = this.#timing ? this.#clock() : 0;
    // Plain then() rather than async/await: one promise less on the path of every exchange.
    return this.#inner.transmit(command).then(
      (response) => {
        if (this.#comments.length !== 0) this.#queueComments();
        this.#rec.exchange(this.#labelIndex, command, response, start, this.#timing ? this.#clock() : 0);
        this.count++;
        return response;
      },
      (e: unknown) => {
        this.#failed(command, e, start);
        throw e;
      },
    );
  }

  /** Records a failed exchange as `! error` and flushes (an error often comes before a crash). */
  #failed(command: CommandApdu, e: unknown, start: number): void {
    const end = this.#clock();
    this.count++;
    this.#rec.event({
      type: 'exchange',
      command: command.encode(),
      error: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
      ...(this.#timing ? { durationMs: end - start, atMs: start - this.#rec.t0 } : {}),
      comments: this.#takeComments(),
      line: 0,
      ...this.#label(),
    });
    this.#rec.flushNow();
  }

  async reset(): Promise<Uint8Array> {
    const start = this.#clock();
    const atr = await this.#inner.reset();
    this.#rec.event({
      type: 'reset',
      atr,
      ...(this.#timing ? { atMs: start - this.#rec.t0 } : {}),
      comments: this.#takeComments(),
      line: 0,
      ...this.#label(),
    });
    return atr;
  }

  /**
   * Disconnects the inner channel and records it; a channel that owns its sink flushes and closes
   * it, one of a shared recorder flushes it.
   */
  async disconnect(): Promise<void> {
    if (this.#closed) return this.#inner.disconnect();
    this.#closed = true;
    const start = this.#clock();
    try {
      await this.#inner.disconnect();
    } finally {
      this.#rec.event({
        type: 'disconnect',
        ...(this.#timing ? { atMs: start - this.#rec.t0 } : {}),
        comments: this.#takeComments(),
        line: 0,
        ...this.#label(),
      });
      // The session's end: everything recorded so far goes out (a shared recorder stays open).
      if (this.#owns) await this.#rec.close();
      else this.#rec.flushNow();
    }
  }

  /** Writes out what is pending (the sink stays open). */
  async flush(): Promise<void> {
    await this.#rec.flush();
  }

  #label(): { channel?: string } {
    return this.channelId ? { channel: this.channelId } : {};
  }

  #queueComments(): void {
    let text = '';
    for (const c of this.#takeComments()) text += `#${c}\n`;
    this.#rec.text(text);
  }

  /** Pending comments: returned for an event built now; queued as text before an exchange. */
  #takeComments(): string[] {
    const c = this.#comments;
    this.#comments = [];
    return c;
  }
}
