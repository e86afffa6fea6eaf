import { CommandApdu } from '../../card/index.js';
import { MalformedDataError } from '../../card/index.js';
import type { Protocol } from '../CardChannel.js';
import { BytePattern } from './BytePattern.js';

/**
 * The newest version this code writes and reads (`@trace 2`: several channels in one file).
 * A trace of one channel is still written as version 1, which version 2 contains: old readers
 * keep reading what they read before.
 */
export const TRACE_FORMAT_VERSION = 2;

/** Versions `Trace.parse` reads. */
export const TRACE_VERSIONS_READ: readonly number[] = Object.freeze([1, 2]);

/** What a channel label (version 2) may look like: `card`, `sam`, `svm-2`, `reader.b`. */
const CHANNEL_ID = /^[A-Za-z][A-Za-z0-9_.-]{0,31}$/;

/** Limits of the parser: a trace bigger than this is refused, not read into memory. */
export const TRACE_LIMITS = Object.freeze({
  /** Characters in the whole file (64 Mi). */
  maxChars: 64 * 1024 * 1024,
  /** Characters on one line: room for an extended APDU of 65 535 data bytes in spaced hex. */
  maxLineChars: 256 * 1024,
  /** Events (exchanges, resets, disconnects). */
  maxEvents: 1_000_000,
});

/**
 * A mask rule of the header (docs/trace-format.md §Masks):
 * - `command`: commands matching `command` are interchangeable (`@mask-command`);
 * - `response`: for a command matching `command`, any response matching `response` is as good
 *   as the recorded one (`@mask-response`).
 */
export interface MaskRule {
  readonly kind: 'command' | 'response';
  readonly command: BytePattern;
  readonly response?: BytePattern;
  /** The comment written after `#` on the rule's line: why the bytes may differ. */
  readonly why?: string;
}

/**
 * The rule every recording starts with: GET CHALLENGE (ISO/IEC 7816-4 §11.5.3, INS 84) answers a
 * fresh random number each time, so only its status word is compared.
 */
export const GET_CHALLENGE_RULE: MaskRule = Object.freeze({
  kind: 'response',
  command: BytePattern.parse('.. 84 00 00 ..'),
  response: BytePattern.parse('* | 90 00'),
  why: 'GET CHALLENGE answers a fresh random number',
});

/**
 * One card channel of a version 2 trace (`@channel <id> "<reader>" <protocol> <ATR>`): the
 * connection of one reader to one card. Events carry its `id` as their label.
 */
export interface TraceChannel {
  /** The label of the channel's events (letters, digits, `_ . -`; at most 32 characters). */
  readonly id: string;
  readonly reader?: string;
  readonly protocol?: Protocol;
  /** ATR at connection. */
  readonly atr?: Uint8Array;
  /** How many events of the trace come before the declaration: the channel was opened there. */
  readonly at: number;
  /** Line of the declaration (0 when built in memory). */
  readonly line?: number;
}

export interface TraceHeader {
  readonly version: number;
  readonly atr?: Uint8Array;
  readonly protocol?: Protocol;
  readonly reader?: string;
  /** ISO 8601 time the recording started. */
  readonly start?: string;
  readonly tool?: string;
  /** `@x-<name> value` extension headers, kept as written. */
  readonly extra: Readonly<Record<string, string>>;
  readonly rules: readonly MaskRule[];
  /** `#` comment lines of the header block (without the `#`). */
  readonly notes: readonly string[];
  /** Version 2: the channels, in the order they were opened (empty for a version 1 trace). */
  readonly channels: readonly TraceChannel[];
}

interface EventBase {
  /** `#` comment lines just before the event (without the `#`). */
  readonly comments: readonly string[];
  /** Time since the start of the recording, in ms. */
  readonly atMs?: number;
  /** Line number (1-based) of the event in the file it was parsed from; 0 when built in memory. */
  readonly line: number;
  /** Version 2: the id of the channel the event happened on. */
  readonly channel?: string;
}

/** One command and what came back: a response, or an error of the channel. */
export interface TraceExchange extends EventBase {
  readonly type: 'exchange';
  readonly command: Uint8Array;
  /** The full response, data then SW1 SW2 (at least two bytes); absent when `error` is set. */
  readonly response?: Uint8Array;
  /** What the channel threw instead of answering (card removed, timeout...). */
  readonly error?: string;
  readonly durationMs?: number;
  /** `~>` line: which command bytes may differ. */
  readonly commandMask?: BytePattern;
  /** `~<` line: which response bytes may differ. */
  readonly responseMask?: BytePattern;
}

/** A warm reset (or reconnect) of the card and the ATR it answered. */
export interface TraceReset extends EventBase {
  readonly type: 'reset';
  readonly atr: Uint8Array;
}

export interface TraceDisconnect extends EventBase {
  readonly type: 'disconnect';
}

export type TraceEvent = TraceExchange | TraceReset | TraceDisconnect;

/** Options of `Trace.format()`. */
export interface FormatOptions {
  /** Write durations and time offsets (default true). Reference traces leave them out to diff cleanly. */
  timing?: boolean;
}

const HEADER_LINE = '# meterpurse APDU trace — format: docs/trace-format.md';

/** ASCII codes of the high and low hex digit of every byte value. */
const HEX_HI = Uint8Array.from({ length: 256 }, (_, i) => '0123456789ABCDEF'.charCodeAt(i >> 4));
const HEX_LO = Uint8Array.from({ length: 256 }, (_, i) => '0123456789ABCDEF'.charCodeAt(i & 15));

let scratchBuf = Buffer.allocUnsafe(1024);

/** A reused buffer of at least `n` bytes (the text is copied out by toString before any reuse). */
function scratch(n: number): Buffer {
  if (scratchBuf.length < n) scratchBuf = Buffer.allocUnsafe(Math.max(n, 2 * scratchBuf.length));
  return scratchBuf;
}

/**
 * Spaced upper-case hex: `00 A4 04 00`. Recording formats every exchange on the caller's path,
 * so the text is built as ASCII bytes in one buffer rather than by concatenating strings.
 */
export function spacedHex(bytes: Uint8Array): string {
  const n = bytes.length;
  if (n === 0) return '';
  const out = scratch(3 * n - 1);
  let o = 0;
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!;
    if (i) out[o++] = 0x20;
    out[o++] = HEX_HI[b]!;
    out[o++] = HEX_LO[b]!;
  }
  return out.toString('latin1', 0, o);
}

/**
 * The two lines of an answered exchange, `> <command>` and `< <data> | <SW>` (no line end),
 * built in one buffer: this runs for every exchange a RecordingChannel sees.
 */
export function exchangeLines(command: Uint8Array, response: Uint8Array): string {
  const nc = command.length;
  const nr = response.length;
  const out = scratch(3 * nc + 3 * nr + 8);
  let o = 0;
  out[o++] = 0x3e; // '>'
  for (let i = 0; i < nc; i++) {
    const b = command[i]!;
    out[o++] = 0x20;
    out[o++] = HEX_HI[b]!;
    out[o++] = HEX_LO[b]!;
  }
  out[o++] = 0x0a;
  out[o++] = 0x3c; // '<'
  for (let i = 0; i < nr; i++) {
    const b = response[i]!;
    out[o++] = 0x20;
    if (i === nr - 2 && nr > 2) {
      out[o++] = 0x7c; // '|' between data and SW1 SW2
      out[o++] = 0x20;
    }
    out[o++] = HEX_HI[b]!;
    out[o++] = HEX_LO[b]!;
  }
  return out.toString('latin1', 0, o);
}

/** `6F 08 ... | 90 00`, or `90 00` without data. */
export function responseText(response: Uint8Array): string {
  if (response.length <= 2) return spacedHex(response);
  return `${spacedHex(response.subarray(0, response.length - 2))} | ${spacedHex(response.subarray(response.length - 2))}`;
}

/** A time in ms with at most 3 decimals (µs resolution), as written after d= and t=+. */
export function ms(n: number): string {
  // Integer arithmetic: turning a fraction into text is several times slower than an integer.
  const us = Math.round(n * 1000);
  if (!(us >= 0 && us <= Number.MAX_SAFE_INTEGER)) return `${Math.round(n * 1000) / 1000}ms`;
  const whole = Math.floor(us / 1000);
  let frac = us - whole * 1000;
  if (frac === 0) return `${whole}ms`;
  let digits = 3;
  while (frac % 10 === 0) {
    frac /= 10;
    digits--;
  }
  return `${whole}.${String(frac).padStart(digits, '0')}ms`;
}

/**
 * An APDU trace: a header (ATR, protocol, reader, start time, mask rules) and the events of one
 * session in order. Parsed from and formatted to the line-oriented text of docs/trace-format.md.
 * Values are frozen; build a new Trace to change one.
 */
export class Trace {
  readonly header: TraceHeader;
  readonly events: readonly TraceEvent[];
  /** `#` comments after the last event. */
  readonly trailer: readonly string[];

  constructor(header: Partial<TraceHeader>, events: readonly TraceEvent[], trailer: readonly string[] = []) {
    const channels = checkChannels(header.channels ?? [], events);
    this.header = Object.freeze({
      version: header.version ?? (channels.length > 0 ? 2 : 1),
      ...(header.atr ? { atr: Uint8Array.from(header.atr) } : {}),
      ...(header.protocol ? { protocol: header.protocol } : {}),
      ...(header.reader !== undefined ? { reader: header.reader } : {}),
      ...(header.start !== undefined ? { start: header.start } : {}),
      ...(header.tool !== undefined ? { tool: header.tool } : {}),
      extra: Object.freeze(checkExtra(header.extra ?? {})),
      rules: Object.freeze([...(header.rules ?? [])]),
      notes: Object.freeze([...(header.notes ?? [])]),
      channels,
    });
    if (channels.length > 0 && this.header.version < 2)
      throw new RangeError('a trace with channels is version 2 or later');
    this.events = Object.freeze(events.map((e) => Object.freeze({ ...e })));
    this.trailer = Object.freeze([...trailer]);
  }

  /** The exchanges only, in order (resets and disconnects left out). */
  get exchanges(): TraceExchange[] {
    return this.events.filter((e): e is TraceExchange => e.type === 'exchange');
  }

  /**
   * One channel of a version 2 trace as a trace of its own (version 1: reader, protocol and ATR
   * of the channel in the header, its events in order, the mask rules and extensions shared), so
   * `replayTrace` and `ReplayChannel` play it as they play any single-card trace.
   * @throws RangeError when the trace has no channel `id`.
   */
  channel(id: string): Trace {
    const c = this.header.channels.find((x) => x.id === id);
    if (!c) throw new RangeError(`the trace has no channel ${JSON.stringify(id)}`);
    const h = this.header;
    return new Trace(
      {
        ...(c.reader !== undefined ? { reader: c.reader } : {}),
        ...(c.protocol ? { protocol: c.protocol } : {}),
        ...(c.atr ? { atr: c.atr } : {}),
        ...(h.start !== undefined ? { start: h.start } : {}),
        ...(h.tool !== undefined ? { tool: h.tool } : {}),
        extra: { ...h.extra, channel: id },
        rules: h.rules,
        notes: h.notes,
      },
      this.events.filter((e) => e.channel === id).map(({ channel: _c, ...e }) => e),
    );
  }

  /**
   * Parses the text of a trace file.
   * @throws MalformedDataError (kind 'trace') for anything that is not a well-formed trace: the
   * reason names the line, `offset` is the character offset of the fault in `text`.
   */
  static parse(text: string): Trace {
    return parseTrace(text);
  }

  /** The text of the trace (docs/trace-format.md); `Trace.parse(t.format())` gives `t` back. */
  format(options: FormatOptions = {}): string {
    const timing = options.timing ?? true;
    const h = this.header;
    const out: string[] = [HEADER_LINE, `@trace ${h.version}`];
    if (h.reader !== undefined && field(h.reader)) out.push(`@reader ${field(h.reader)}`);
    if (h.protocol) out.push(`@protocol ${h.protocol}`);
    if (h.atr) out.push(`@atr ${spacedHex(h.atr)}`);
    if (h.start !== undefined && timing) out.push(`@start ${h.start}`);
    if (h.tool !== undefined) out.push(`@tool ${field(h.tool)}`);
    for (const [k, v] of Object.entries(h.extra)) out.push(`@x-${k} ${field(v)}`);
    for (const r of h.rules) out.push(formatRule(r));
    const channels = h.channels;
    let c = 0;
    while (c < channels.length && channels[c]!.at === 0) out.push(channelLine(channels[c++]!));
    for (const n of h.notes) out.push(...commentLines(n));
    out.push('');
    this.events.forEach((e, i) => {
      while (c < channels.length && channels[c]!.at <= i) out.push(channelLine(channels[c++]!));
      out.push(...formatEvent(e, timing));
    });
    while (c < channels.length) out.push(channelLine(channels[c++]!));
    for (const c of this.trailer) out.push(...commentLines(c));
    return out.join('\n') + '\n';
  }
}

/** The lines of one event (its comments first), without line ends. */
export function formatEvent(e: TraceEvent, timing = true): string[] {
  const out: string[] = [];
  for (const c of e.comments) out.push(...commentLines(c));
  const t = timing && e.atMs !== undefined ? ` t=+${ms(e.atMs)}` : '';
  // Version 2: the channel's label leads each line of the event (masks follow their exchange).
  const l = e.channel !== undefined ? `${e.channel} ` : '';
  if (e.type === 'reset') {
    out.push(`${l}! reset ${spacedHex(e.atr)}${t ? ` ;${t}` : ''}`);
  } else if (e.type === 'disconnect') {
    out.push(`${l}! disconnect${t ? ` ;${t}` : ''}`);
  } else {
    out.push(`${l}> ${spacedHex(e.command)}`);
    const meta = `${timing && e.durationMs !== undefined ? ` d=${ms(e.durationMs)}` : ''}${t}`;
    const body = e.response ? `< ${responseText(e.response)}` : `! error ${oneLine(e.error ?? 'error')}`;
    out.push(`${l}${body}${meta ? ` ;${meta}` : ''}`);
    if (e.commandMask) out.push(`~> ${e.commandMask.toString()}`);
    if (e.responseMask) out.push(`~< ${e.responseMask.toString()}`);
  }
  return out;
}

/** `@channel <id> "<reader>" <protocol> <ATR>` (reader, protocol and ATR each optional, in order). */
export function channelLine(c: Pick<TraceChannel, 'id' | 'reader' | 'protocol' | 'atr'>): string {
  let s = `@channel ${c.id}`;
  if (c.reader !== undefined) s += ` ${JSON.stringify(field(c.reader))}`;
  if (c.protocol) s += ` ${c.protocol}`;
  if (c.atr) s += ` ${spacedHex(c.atr)}`;
  return s;
}

/**
 * Frozen copies of the channels, checked: ids well-formed and distinct, declared in event order,
 * and every labelled event on a declared channel declared before it.
 * @throws TypeError / RangeError naming what is wrong.
 */
function checkChannels(
  channels: readonly TraceChannel[],
  events: readonly TraceEvent[],
): readonly TraceChannel[] {
  const out: TraceChannel[] = [];
  const declaredAt = new Map<string, number>();
  let last = 0;
  for (const c of channels) {
    if (!CHANNEL_ID.test(c.id))
      throw new TypeError(
        `channel id ${JSON.stringify(c.id)}: a letter, then letters, digits, _ . - (at most 32)`,
      );
    if (declaredAt.has(c.id)) throw new RangeError(`channel ${c.id} declared twice`);
    if (!(Number.isSafeInteger(c.at) && c.at >= last && c.at <= events.length))
      throw new RangeError(`channel ${c.id}: at must be an event index in order, not ${c.at}`);
    last = c.at;
    declaredAt.set(c.id, c.at);
    out.push(
      Object.freeze({
        id: c.id,
        ...(c.reader !== undefined ? { reader: c.reader } : {}),
        ...(c.protocol ? { protocol: c.protocol } : {}),
        ...(c.atr ? { atr: Uint8Array.from(c.atr) } : {}),
        at: c.at,
        ...(c.line !== undefined ? { line: c.line } : {}),
      }),
    );
  }
  events.forEach((e, i) => {
    if (e.channel === undefined) {
      if (out.length > 0)
        throw new RangeError(`event ${i + 1} has no channel, but the trace declares channels`);
      return;
    }
    const at = declaredAt.get(e.channel);
    if (at === undefined || at > i)
      throw new RangeError(`event ${i + 1} is on channel ${e.channel}, not declared before it`);
  });
  return Object.freeze(out);
}

/** @throws TypeError for an extension name that could not be written as `@x-<name>`. */
function checkExtra(extra: Readonly<Record<string, string>>): Record<string, string> {
  for (const k of Object.keys(extra))
    if (!/^[A-Za-z0-9-]+$/.test(k))
      throw new TypeError(`extension header name ${JSON.stringify(k)}: letters, digits and - only`);
  return { ...extra };
}

/** A header value on one line (a line end inside would start a line of another kind). */
function field(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').trim();
}

/** `#` lines of a comment that may hold line ends. */
function commentLines(c: string): string[] {
  return c.split(/\r?\n|\r/).map((l) => `#${l}`);
}

function oneLine(s: string): string {
  return s.replace(/[\r\n;]+/g, ' ');
}

function formatRule(r: MaskRule): string {
  const why = r.why ? `   # ${field(r.why)}` : '';
  return r.kind === 'command'
    ? `@mask-command ${r.command.toString()}${why}`
    : `@mask-response ${r.command.toString()} => ${r.response?.toString() ?? '*'}${why}`;
}

// ---------------------------------------------------------------------------------------------
// Parser

class LineError {
  constructor(
    readonly reason: string,
    readonly column: number,
  ) {}
}

function hexBytes(text: string, column: number, what: string): Uint8Array {
  const out: number[] = [];
  const re = /\S+/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const tok = m[0];
    if (tok.length % 2 !== 0)
      throw new LineError(`${what}: odd hex token ${JSON.stringify(tok)}`, column + m.index);
    for (let i = 0; i < tok.length; i += 2) {
      const hi = hexDigit(tok.charCodeAt(i));
      const lo = hexDigit(tok.charCodeAt(i + 1));
      if (hi < 0 || lo < 0)
        throw new LineError(
          `${what}: not a hex byte: ${JSON.stringify(tok.slice(i, i + 2))}`,
          column + m.index + i,
        );
      out.push((hi << 4) | lo);
    }
  }
  return Uint8Array.from(out);
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

function pattern(text: string, column: number): BytePattern {
  try {
    return BytePattern.parse(text, column);
  } catch (e) {
    if (e instanceof MalformedDataError) throw new LineError(e.reason, e.offset);
    throw e;
  }
}

/** Splits `body ; d=1ms t=+2ms` into the body and its timing. */
function meta(
  text: string,
  column: number,
  allowDuration: boolean,
): { body: string; durationMs?: number; atMs?: number } {
  const semi = text.indexOf(';');
  if (semi < 0) return { body: text };
  const out: { body: string; durationMs?: number; atMs?: number } = { body: text.slice(0, semi) };
  const re = /\S+/g;
  const rest = text.slice(semi + 1);
  let m: RegExpExecArray | null;
  while ((m = re.exec(rest)) !== null) {
    const tok = m[0];
    const at = column + semi + 1 + m.index;
    const d = /^d=(\d{1,12}(?:\.\d{1,9})?)ms$/.exec(tok);
    const t = /^t=\+(\d{1,15}(?:\.\d{1,9})?)ms$/.exec(tok);
    if (d && allowDuration && out.durationMs === undefined) out.durationMs = Number(d[1]);
    else if (t && out.atMs === undefined) out.atMs = Number(t[1]);
    else throw new LineError(`bad timing field ${JSON.stringify(tok)} (want d=<n>ms or t=+<n>ms)`, at);
  }
  return out;
}

function ruleLine(key: string, value: string, column: number): MaskRule {
  let body = value;
  let why: string | undefined;
  const hash = value.indexOf('#');
  if (hash >= 0) {
    body = value.slice(0, hash);
    why = value.slice(hash + 1).trim() || undefined;
  }
  if (key === 'mask-command') {
    if (body.trim() === '') throw new LineError('@mask-command needs a pattern', column);
    return { kind: 'command', command: pattern(body, column), ...(why ? { why } : {}) };
  }
  const arrow = body.indexOf('=>');
  if (arrow < 0) throw new LineError('@mask-response wants <command pattern> => <response pattern>', column);
  const cmd = body.slice(0, arrow);
  const resp = body.slice(arrow + 2);
  if (cmd.trim() === '' || resp.trim() === '')
    throw new LineError('@mask-response wants <command pattern> => <response pattern>', column);
  return {
    kind: 'response',
    command: pattern(cmd, column),
    response: pattern(resp, column + arrow + 2),
    ...(why ? { why } : {}),
  };
}

interface MutableExchange {
  type: 'exchange';
  command: Uint8Array;
  response?: Uint8Array;
  error?: string;
  durationMs?: number;
  atMs?: number;
  commandMask?: BytePattern;
  responseMask?: BytePattern;
  comments: string[];
  line: number;
  channel?: string;
  /** Set once the `<` or `! error` line was read. */
  answered: boolean;
}

function parseTrace(text: string): Trace {
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  if (text.length > TRACE_LIMITS.maxChars)
    throw new MalformedDataError(
      `trace longer than ${TRACE_LIMITS.maxChars} characters`,
      TRACE_LIMITS.maxChars,
      undefined,
      'trace',
    );
  // Every line a writer emits ends with a line feed, so text that stops mid-line was cut short.
  if (text.length > 0 && !text.endsWith('\n'))
    throw new MalformedDataError(
      `line ${text.split('\n').length}: the last line has no line end (truncated trace?)`,
      text.length,
      undefined,
      'trace',
    );
  let version: number | undefined;
  const header: {
    atr?: Uint8Array;
    protocol?: Protocol;
    reader?: string;
    start?: string;
    tool?: string;
    extra: Record<string, string>;
    rules: MaskRule[];
    notes: string[];
  } = { extra: {}, rules: [], notes: [] };
  const channels: TraceChannel[] = [];
  const events: TraceEvent[] = [];
  let pending: string[] = [];
  let open: MutableExchange | undefined;
  let lineNo = 0;
  let lineStart = 0;
  const seen = new Set<string>();

  const close = (): void => {
    if (!open) return;
    const { answered: _answered, ...e } = open;
    events.push(e);
    open = undefined;
  };

  try {
    while (lineStart <= text.length) {
      let end = text.indexOf('\n', lineStart);
      if (end < 0) end = text.length;
      lineNo++;
      let line = text.slice(lineStart, end);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line.length > TRACE_LIMITS.maxLineChars)
        throw new LineError(
          `line longer than ${TRACE_LIMITS.maxLineChars} characters`,
          TRACE_LIMITS.maxLineChars,
        );
      const indent = line.length - line.trimStart().length;
      let body = line.trim();
      let col = indent;
      /** Version 2: the channel label before the marker of an event line. */
      let label: string | undefined;
      try {
        const c0 = body.charCodeAt(0);
        if (version === 2 && ((c0 >= 0x41 && c0 <= 0x5a) || (c0 >= 0x61 && c0 <= 0x7a))) {
          const m = /^(\S+)[ \t]+(?=[<>!])/.exec(body);
          if (!m || !CHANNEL_ID.test(m[1]!))
            throw new LineError('an event line is "<channel> > …", "<channel> < …" or "<channel> ! …"', col);
          label = m[1]!;
          if (!channels.some((c) => c.id === label))
            throw new LineError(
              `channel ${label} is not declared (@channel ${label} …) before its first event`,
              col,
            );
          body = body.slice(m[0].length);
          col += m[0].length;
        } else if (version === 2 && channels.length > 0 && /^[<>!]/.test(body))
          throw new LineError('this trace declares channels: every event line starts with its channel', col);
        if (body === '') {
          // A blank line ends the header block: comments above it are notes of the header.
          if (version !== undefined && events.length === 0 && !open) {
            header.notes.push(...pending);
            pending = [];
          }
        } else if (body.startsWith('#')) {
          // Comments before `@trace` are the file's banner and are not kept.
          if (version !== undefined) pending.push(line.slice(indent + 1));
        } else if (version === undefined) {
          const m = /^@trace\s+(\S+)$/.exec(body);
          if (!m) throw new LineError('a trace starts with "@trace <version>"', col);
          const v = TRACE_VERSIONS_READ.find((x) => String(x) === m[1]);
          if (v === undefined)
            throw new LineError(
              `unsupported trace version ${JSON.stringify(m[1])} (this reader knows ${TRACE_VERSIONS_READ.join(' and ')})`,
              col,
            );
          version = v;
        } else if (version === 2 && /^@channel(\s|$)/.test(body)) {
          if (open && !open.answered)
            throw new LineError(`command on line ${open.line} has no response`, col);
          close();
          if (events.some((e) => e.channel === undefined))
            throw new LineError(
              '@channel after events without a channel: label every event of a trace with channels',
              col,
            );
          channels.push(channelDecl(body.slice(8), col + 8, channels, events.length, lineNo));
        } else if (body.startsWith('@')) {
          if (events.length > 0 || open)
            throw new LineError('header lines (@...) come before the first event', col);
          const m = /^@([A-Za-z0-9-]+)(?:\s+(.*))?$/.exec(body);
          if (!m) throw new LineError('bad header line', col);
          const key = m[1]!;
          const value = (m[2] ?? '').trim();
          const vcol = col + body.length - (m[2] ?? '').length;
          const once = (): void => {
            if (seen.has(key)) throw new LineError(`@${key} given twice`, col);
            seen.add(key);
          };
          switch (key) {
            case 'trace':
              throw new LineError('@trace given twice', col);
            case 'atr': {
              once();
              const atr = hexBytes(value, vcol, 'ATR');
              if (atr.length < 2 || atr.length > 33)
                throw new LineError(`an ATR has 2 to 33 bytes, not ${atr.length}`, vcol);
              header.atr = atr;
              break;
            }
            case 'protocol':
              once();
              if (value !== 'T=0' && value !== 'T=1')
                throw new LineError(`protocol must be T=0 or T=1, not ${JSON.stringify(value)}`, vcol);
              header.protocol = value;
              break;
            case 'reader':
              once();
              if (value === '') throw new LineError('@reader needs a name', vcol);
              header.reader = value;
              break;
            case 'start':
              once();
              if (
                !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/.test(value) ||
                Number.isNaN(Date.parse(value))
              )
                throw new LineError(
                  `@start wants an ISO 8601 time like 2026-01-31T12:00:00.000Z, not ${JSON.stringify(value)}`,
                  vcol,
                );
              header.start = value;
              break;
            case 'tool':
              once();
              header.tool = value;
              break;
            case 'mask-command':
            case 'mask-response':
              header.rules.push(ruleLine(key, value, vcol));
              break;
            default:
              if (key.startsWith('x-') && key.length > 2) {
                once();
                header.extra[key.slice(2)] = value;
              } else throw new LineError(`unknown header @${key} (extensions are written @x-<name>)`, col);
          }
        } else if (body.startsWith('>')) {
          if (open && !open.answered)
            throw new LineError(`command on line ${open.line} has no response`, col);
          close();
          if (events.length >= TRACE_LIMITS.maxEvents)
            throw new LineError(`more than ${TRACE_LIMITS.maxEvents} events`, col);
          const command = hexBytes(body.slice(1), col + 1, 'command');
          try {
            CommandApdu.decode(command);
          } catch (e) {
            if (e instanceof MalformedDataError)
              throw new LineError(`command is not an APDU: ${e.reason}`, col + 1);
            throw e;
          }
          open = {
            type: 'exchange',
            command,
            comments: pending,
            line: lineNo,
            answered: false,
            ...(label !== undefined ? { channel: label } : {}),
          };
          pending = [];
        } else if (body.startsWith('<')) {
          if (!open || open.answered)
            throw new LineError('a response line (<) must follow a command line (>)', col);
          if (label !== open.channel)
            throw new LineError(
              `the response is labelled ${label ?? '(none)'}, its command ${open.channel ?? '(none)'}`,
              col,
            );
          const { body: hex, durationMs, atMs } = meta(body.slice(1), col + 1, true);
          const bar = hex.indexOf('|');
          let response: Uint8Array;
          if (bar >= 0) {
            if (hex.indexOf('|', bar + 1) >= 0)
              throw new LineError(
                'a response has one | (before SW1 SW2)',
                col + 1 + hex.indexOf('|', bar + 1),
              );
            const data = hexBytes(hex.slice(0, bar), col + 1, 'response data');
            const sw = hexBytes(hex.slice(bar + 1), col + 2 + bar, 'status word');
            if (sw.length !== 2)
              throw new LineError(`after | come SW1 SW2 (2 bytes), not ${sw.length}`, col + 2 + bar);
            response = new Uint8Array(data.length + 2);
            response.set(data);
            response.set(sw, data.length);
          } else response = hexBytes(hex, col + 1, 'response');
          if (response.length < 2) throw new LineError('a response holds at least SW1 SW2', col + 1);
          if (response.length > 65538)
            throw new LineError('a response holds at most 65 536 data bytes and SW1 SW2', col + 1);
          open.response = response;
          if (durationMs !== undefined) open.durationMs = durationMs;
          if (atMs !== undefined) open.atMs = atMs;
          open.answered = true;
        } else if (body.startsWith('~>') || body.startsWith('~<')) {
          if (!open || !open.answered)
            throw new LineError('a mask line (~> or ~<) follows the exchange it masks', col);
          const p = pattern(body.slice(2), col + 2);
          if (body[1] === '>') {
            if (open.commandMask) throw new LineError('two ~> lines for one exchange', col);
            if (!p.matches(open.command))
              throw new LineError('the ~> mask does not fit the recorded command', col);
            open.commandMask = p;
          } else {
            if (open.responseMask) throw new LineError('two ~< lines for one exchange', col);
            if (!open.response)
              throw new LineError('~< masks a response, but this exchange ended in an error', col);
            if (!p.matches(open.response))
              throw new LineError('the ~< mask does not fit the recorded response', col);
            open.responseMask = p;
          }
        } else if (body.startsWith('!')) {
          const m = /^!\s*([a-z-]+)(.*)$/.exec(body);
          if (!m) throw new LineError('bad event line (want ! reset, ! disconnect or ! error)', col);
          const word = m[1]!;
          const restCol = col + body.length - m[2]!.length;
          if (word === 'error') {
            if (!open || open.answered) throw new LineError('! error must follow a command line (>)', col);
            if (label !== open.channel)
              throw new LineError(
                `the error is labelled ${label ?? '(none)'}, its command ${open.channel ?? '(none)'}`,
                col,
              );
            const { body: msg, durationMs, atMs } = meta(m[2]!, restCol, true);
            open.error = msg.trim() || 'error';
            if (durationMs !== undefined) open.durationMs = durationMs;
            if (atMs !== undefined) open.atMs = atMs;
            open.answered = true;
          } else if (word === 'reset' || word === 'disconnect') {
            if (open && !open.answered)
              throw new LineError(`command on line ${open.line} has no response`, col);
            close();
            if (events.length >= TRACE_LIMITS.maxEvents)
              throw new LineError(`more than ${TRACE_LIMITS.maxEvents} events`, col);
            const { body: rest, atMs } = meta(m[2]!, restCol, false);
            const at = {
              ...(atMs !== undefined ? { atMs } : {}),
              ...(label !== undefined ? { channel: label } : {}),
            };
            if (word === 'reset') {
              const atr = hexBytes(rest, restCol, 'ATR');
              if (atr.length < 2 || atr.length > 33)
                throw new LineError(`an ATR has 2 to 33 bytes, not ${atr.length}`, restCol);
              events.push({ type: 'reset', atr, comments: pending, line: lineNo, ...at });
            } else {
              if (rest.trim() !== '') throw new LineError('! disconnect takes no argument', restCol);
              events.push({ type: 'disconnect', comments: pending, line: lineNo, ...at });
            }
            pending = [];
          } else throw new LineError(`unknown event ! ${word}`, col);
        } else {
          throw new LineError(
            `a line starts with #, @, >, <, ~>, ~< or !, not ${JSON.stringify(body[0])}`,
            col,
          );
        }
        // A command must be answered before anything but its own response line.
        if (open && !open.answered && !body.startsWith('>') && body !== '' && !body.startsWith('#'))
          throw new LineError(`command on line ${open.line} has no response`, col);
      } catch (e) {
        if (e instanceof LineError)
          throw new MalformedDataError(
            `line ${lineNo}: ${e.reason}`,
            lineStart + e.column,
            undefined,
            'trace',
          );
        throw e;
      }
      lineStart = end + 1;
    }
  } catch (e) {
    if (e instanceof LineError) throw new MalformedDataError(e.reason, lineStart, undefined, 'trace');
    throw e;
  }
  if (version === undefined)
    throw new MalformedDataError('no "@trace <version>" line: not a trace', 0, undefined, 'trace');
  if (open && !open.answered)
    throw new MalformedDataError(
      `line ${open.line}: command has no response (truncated trace?)`,
      text.length,
      undefined,
      'trace',
    );
  close();
  return new Trace({ ...header, version, channels }, events, pending);
}

/** The rest of an `@channel` line: `<id> ["<reader>"] [T=0|T=1] [ATR hex]`. */
function channelDecl(
  text: string,
  column: number,
  known: readonly TraceChannel[],
  at: number,
  line: number,
): TraceChannel {
  const m = /^\s+(\S+)(.*)$/.exec(text);
  if (!m) throw new LineError('@channel wants <id> "<reader>" <protocol> <ATR>', column);
  const id = m[1]!;
  if (!CHANNEL_ID.test(id))
    throw new LineError(
      `channel id ${JSON.stringify(id)}: a letter, then letters, digits, _ . - (at most 32)`,
      column + 1,
    );
  if (known.some((c) => c.id === id)) throw new LineError(`channel ${id} declared twice`, column + 1);
  let rest = m[2]!;
  let restCol = column + text.length - rest.length;
  const out: {
    id: string;
    reader?: string;
    protocol?: Protocol;
    atr?: Uint8Array;
    at: number;
    line: number;
  } = {
    id,
    at,
    line,
  };
  const q = /^\s*("(?:[^"\\]|\\.)*")/.exec(rest);
  if (q) {
    try {
      out.reader = JSON.parse(q[1]!) as string;
    } catch {
      throw new LineError('the reader name is a JSON string', restCol);
    }
    rest = rest.slice(q[0].length);
    restCol += q[0].length;
  } else if (/^\s*"/.test(rest)) throw new LineError('the reader name has no closing quote', restCol);
  const p = /^\s*(T=[01])(?=\s|$)/.exec(rest);
  if (p) {
    out.protocol = p[1] as Protocol;
    rest = rest.slice(p[0].length);
    restCol += p[0].length;
  }
  if (rest.trim() !== '') {
    const atr = hexBytes(rest, restCol, 'ATR');
    if (atr.length < 2 || atr.length > 33)
      throw new LineError(`an ATR has 2 to 33 bytes, not ${atr.length}`, restCol);
    out.atr = atr;
  }
  return out;
}
