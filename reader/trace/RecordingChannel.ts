import type { CommandApdu } from '../../card/index.js';
import type { ResponseApdu } from '../../card/index.js';
import type { CardChannel, Protocol } from '../CardChannel.js';
import {
  formatEvent,
  GET_CHALLENGE_RULE,
  ms,
  exchangeLines,
  Trace,
  type MaskRule,
  type TraceEvent,
} from './Trace.js';
import type { TraceSink } from './sinks.js';

/** Options of a `RecordingChannel`. */
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
  /** `@x-<name>` headers. */
  extra?: Readonly<Record<string, string>>;
}

/**
 * Wraps any channel and writes every exchange, reset and disconnect to a trace sink in the
 * format of docs/trace-format.md (STYLE.md rule 6: readers are wrappers, not flags). The header
 * (reader, protocol, ATR, start time, mask rules) is written at construction, so even a session
 * that dies early leaves a readable trace. What is recorded is what the caller saw: after the
 * inner channel's transport rules (61xx / 6Cxx handled inside it).
 *
 * ```ts
 * const rec = new RecordingChannel(await reader.connect(), new FileTraceSink('session.trace'));
 * await rec.transmit(select);
 * await rec.disconnect(); // flushes and closes the sink
 * ```
 */
export class RecordingChannel implements CardChannel {
  readonly #inner: CardChannel;
  readonly #sink: TraceSink;
  readonly #timing: boolean;
  readonly #clock: () => number;
  readonly #t0: number;
  #pendingComments: string[] = [];
  #closed = false;
  /** Exchanges written so far. */
  count = 0;

  /** @throws TypeError when `inner` or `sink` is missing. */
  constructor(inner: CardChannel, sink: TraceSink, options: RecordingOptions = {}) {
    if (!inner || typeof inner.transmit !== 'function') throw new TypeError('inner must be a CardChannel');
    if (!sink || typeof sink.write !== 'function') throw new TypeError('sink must be a TraceSink');
    this.#inner = inner;
    this.#sink = sink;
    this.#timing = options.timing ?? true;
    this.#clock = options.clock ?? (() => performance.now());
    this.#t0 = this.#clock();
    const header = new Trace(
      {
        reader: inner.readerName,
        protocol: inner.protocol,
        atr: inner.atr,
        start: (options.now ?? (() => new Date()))().toISOString(),
        ...(options.tool !== undefined ? { tool: options.tool } : {}),
        rules: options.rules ?? [GET_CHALLENGE_RULE],
        notes: (options.notes ?? []).map((n) => ` ${n}`),
        extra: options.extra ?? {},
      },
      [],
    );
    sink.write(header.format({ timing: this.#timing }));
    // The header goes out at once: a session that dies early still leaves a readable trace.
    // (A sink's asynchronous failure shows again at flush() / disconnect().)
    const flushed = sink.flush?.();
    if (flushed instanceof Promise) flushed.catch(() => undefined);
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
    for (const line of String(text).split(/\r?\n/)) this.#pendingComments.push(` ${line}`);
  }

  /**
   * Sends through the inner channel and records the exchange; an error of the inner channel is
   * recorded as `! error` and thrown again unchanged.
   */
  transmit(command: CommandApdu): Promise<ResponseApdu> {
    const bytes = command.encode();
    const start = this.#clock();
    // Plain then() rather than async/await: one promise less on the path of every exchange.
    return this.#inner.transmit(command).then(
      (response) => {
        const end = this.#clock();
        // Written directly (the same text formatEvent gives), without building an event object.
        let text = this.#pendingComments.length ? this.#commentLines() : '';
        text += exchangeLines(bytes, response.encode());
        if (this.#timing) text += ` ; d=${ms(end - start)} t=+${ms(start - this.#t0)}`;
        this.count++;
        this.#sink.write(text + '\n');
        return response;
      },
      (e: unknown) => {
        const end = this.#clock();
        this.#write({
          type: 'exchange',
          command: bytes,
          error: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
          ...this.#times(start, end),
          comments: this.#takeComments(),
          line: 0,
        });
        throw e;
      },
    );
  }

  async reset(): Promise<Uint8Array> {
    const start = this.#clock();
    const atr = await this.#inner.reset();
    this.#write({
      type: 'reset',
      atr,
      ...(this.#timing ? { atMs: start - this.#t0 } : {}),
      comments: this.#takeComments(),
      line: 0,
    });
    return atr;
  }

  /** Disconnects the inner channel, records it, and flushes and closes the sink. */
  async disconnect(): Promise<void> {
    if (this.#closed) return this.#inner.disconnect();
    this.#closed = true;
    const start = this.#clock();
    try {
      await this.#inner.disconnect();
    } finally {
      this.#write({
        type: 'disconnect',
        ...(this.#timing ? { atMs: start - this.#t0 } : {}),
        comments: this.#takeComments(),
        line: 0,
      });
      await this.#sink.close?.();
    }
  }

  /** Writes out what the sink buffers (the sink stays open). */
  async flush(): Promise<void> {
    await this.#sink.flush?.();
  }

  #times(start: number, end: number): { durationMs?: number; atMs?: number } {
    return this.#timing ? { durationMs: end - start, atMs: start - this.#t0 } : {};
  }

  #commentLines(): string {
    let out = '';
    for (const c of this.#takeComments()) out += `#${c}\n`;
    return out;
  }

  #takeComments(): string[] {
    const c = this.#pendingComments;
    this.#pendingComments = [];
    return c;
  }

  #write(e: TraceEvent): void {
    if (e.type === 'exchange') this.count++;
    this.#sink.write(formatEvent(e, this.#timing).join('\n') + '\n');
  }
}
