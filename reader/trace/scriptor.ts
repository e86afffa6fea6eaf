/**
 * pcsc-tools' `scriptor` (Ludovic Rousseau): reading its scripts and its output, and writing a
 * trace as a script. The rules follow the Perl source of `/usr/bin/scriptor` (pcsc-tools 1.6):
 *
 * - input, line by line: a line containing `exit` anywhere (any case, even in a comment) ends the
 *   script; blank lines and lines starting with `#` (column 0 only) are skipped; a line
 *   containing `reset` (any case) reconnects with SCARD_RESET_CARD; otherwise the line is an
 *   APDU in hex, bytes separated by spaces (a line without any space is split into pairs), and a
 *   line ending in `\` continues on the next one;
 * - output: `> 00 A4 ...` for each command and `< <response bytes> : <SW meaning>` for the answer,
 *   the response wrapped after every 16 bytes; `> RESET` then `< OK: <ATR> ` (or `< KO: ...`)
 *   for a reset; `Using T=1 protocol` first; with a file argument every input line is echoed.
 */
import { CommandApdu } from '../../card/index.js';
import { MalformedDataError } from '../../card/index.js';
import type { Protocol } from '../CardChannel.js';
import { GET_CHALLENGE_RULE, spacedHex, Trace, TRACE_LIMITS, type TraceEvent } from './Trace.js';

/** One step of a scriptor script. */
export type ScriptStep =
  | { type: 'apdu'; command: Uint8Array; line: number; comments: string[] }
  | { type: 'reset'; line: number; comments: string[] };

function lines(text: string, kind: string): string[] {
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  if (text.length > TRACE_LIMITS.maxChars)
    throw new MalformedDataError(
      `input longer than ${TRACE_LIMITS.maxChars} characters`,
      TRACE_LIMITS.maxChars,
      undefined,
      kind,
    );
  return text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

/** Offsets of the start of each line, for error offsets. */
function starts(all: string[]): number[] {
  const out: number[] = [];
  let o = 0;
  for (const l of all) {
    out.push(o);
    o += l.length + 1;
  }
  return out;
}

/** Parses space-separated hex bytes the way Chipcard::PCSC::ascii_to_array does (1 or 2 digits each). */
function scriptHex(text: string, lineNo: number, offset: number, kind: string): Uint8Array {
  const out: number[] = [];
  const re = /\S+/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (!/^[0-9A-Fa-f]{1,2}$/.test(m[0]))
      throw new MalformedDataError(
        `line ${lineNo}: not a hex byte: ${JSON.stringify(m[0].slice(0, 20))}`,
        offset + m.index,
        undefined,
        kind,
      );
    out.push(parseInt(m[0], 16));
  }
  return Uint8Array.from(out);
}

/**
 * Reads a scriptor script into its steps (APDUs and resets), with the comments that precede
 * each. Each APDU must decode as a command APDU (ISO/IEC 7816-4 §5.1).
 * @throws MalformedDataError (kind 'scriptor') naming the line of a bad byte or APDU.
 */
export function parseScriptorScript(text: string): ScriptStep[] {
  const all = lines(text, 'scriptor');
  const at = starts(all);
  const steps: ScriptStep[] = [];
  let comments: string[] = [];
  let cmd = '';
  let cmdLine = 0;
  for (let i = 0; i < all.length; i++) {
    let l = all[i]!;
    const lineNo = i + 1;
    if (/exit/i.test(l)) break;
    if (/^\s*$/.test(l)) continue;
    if (l.startsWith('#')) {
      comments.push(l.slice(1));
      continue;
    }
    if (/reset/i.test(l)) {
      steps.push({ type: 'reset', line: lineNo, comments });
      comments = [];
      continue;
    }
    if (!l.includes(' ')) l = l.replace(/(..)/g, '$1 ');
    if (cmd === '') cmdLine = lineNo;
    if (l.endsWith('\\')) {
      cmd += l.slice(0, -1).replace(/ *$/, ' ');
      continue;
    }
    cmd += l;
    const bytes = scriptHex(cmd, cmdLine, at[cmdLine - 1]!, 'scriptor');
    cmd = '';
    try {
      CommandApdu.decode(bytes);
    } catch (e) {
      if (e instanceof MalformedDataError)
        throw new MalformedDataError(
          `line ${cmdLine}: not a command APDU: ${e.reason}`,
          at[cmdLine - 1]!,
          undefined,
          'scriptor',
        );
      throw e;
    }
    steps.push({ type: 'apdu', command: bytes, line: cmdLine, comments });
    comments = [];
    if (steps.length > TRACE_LIMITS.maxEvents)
      throw new MalformedDataError(
        `more than ${TRACE_LIMITS.maxEvents} steps`,
        at[i]!,
        undefined,
        'scriptor',
      );
  }
  if (cmd !== '')
    throw new MalformedDataError(
      `line ${cmdLine}: the APDU continues (\\) past the end of the script`,
      text.length,
      undefined,
      'scriptor',
    );
  return steps;
}

/**
 * Reads what scriptor printed (its standard output) into a trace: each `>` / `<` pair becomes an
 * exchange, `> RESET` / `< OK: <ATR>` a reset; echoed input and other lines are skipped. The
 * trace gets `GET_CHALLENGE_RULE` like a recording, and no header ATR: scriptor does not print
 * the ATR at connection.
 * @throws MalformedDataError (kind 'scriptor') for a command without answer, bad hex, or a
 * response without the ` : ` that ends it.
 */
export function importScriptorOutput(text: string): Trace {
  const all = lines(text, 'scriptor');
  const at = starts(all);
  const events: TraceEvent[] = [];
  let protocol: Protocol | undefined;
  let pending: { command: Uint8Array | 'reset'; line: number } | undefined;
  let response: { text: string; line: number } | undefined;
  const bad = (reason: string, i: number): never => {
    throw new MalformedDataError(`line ${i + 1}: ${reason}`, at[i] ?? text.length, undefined, 'scriptor');
  };
  const finishResponse = (i: number): void => {
    const r = response!;
    const colon = r.text.lastIndexOf(' : ');
    const bytes = scriptHex(r.text.slice(0, colon), r.line + 1, at[r.line]!, 'scriptor');
    if (bytes.length < 2) bad('a response holds at least SW1 SW2', r.line);
    events.push({
      type: 'exchange',
      command: pending!.command as Uint8Array,
      response: bytes,
      comments: [],
      line: pending!.line + 1,
    });
    response = undefined;
    pending = undefined;
    void i;
  };
  for (let i = 0; i < all.length; i++) {
    const l = all[i]!;
    if (response) {
      response.text += ` ${l}`;
      if (l.includes(' : ')) finishResponse(i);
      else if (!/^[0-9A-Fa-f ]*$/.test(l)) bad('the response is cut short (no " : <status>")', response.line);
      continue;
    }
    const p = /^Using (T=[01]) protocol/.exec(l);
    if (p) {
      protocol = p[1] as Protocol;
      continue;
    }
    if (l.startsWith('> ')) {
      if (pending) bad('a command without response before this one', pending.line);
      const body = l.slice(2).trim();
      if (body === 'RESET') pending = { command: 'reset', line: i };
      else {
        const command = scriptHex(body, i + 1, at[i]! + 2, 'scriptor');
        try {
          CommandApdu.decode(command);
        } catch (e) {
          if (e instanceof MalformedDataError) bad(`not a command APDU: ${e.reason}`, i);
          throw e;
        }
        pending = { command, line: i };
      }
      continue;
    }
    if (l.startsWith('< ')) {
      if (!pending) bad('a response without a command', i);
      if (pending!.command === 'reset') {
        const ok = /^< OK: ?(.*)$/.exec(l);
        if (ok) {
          const atr = scriptHex(ok[1]!, i + 1, at[i]! + 6, 'scriptor');
          if (atr.length < 2 || atr.length > 33) bad(`an ATR has 2 to 33 bytes, not ${atr.length}`, i);
          events.push({ type: 'reset', atr, comments: [], line: i + 1 });
        } else events.push({ type: 'disconnect', comments: [` reset failed: ${l.slice(2)}`], line: i + 1 });
        pending = undefined;
        continue;
      }
      response = { text: l.slice(2), line: i };
      if (l.includes(' : ')) finishResponse(i);
      continue;
    }
  }
  if (response) bad('the last response is cut short (no " : <status>")', response.line);
  if (pending) bad('the last command has no response', pending.line);
  // scriptor prints no ATR at connection (only after a `reset`), so the header has none; the
  // mask rules are those every recording gets.
  return new Trace(
    {
      tool: 'imported from scriptor output',
      ...(protocol ? { protocol } : {}),
      rules: [GET_CHALLENGE_RULE],
    },
    events,
  );
}

/**
 * A scriptor script that sends the trace's commands in order, with `reset` where the trace resets
 * and the recorded response as a comment under each command (so a lab can compare by eye, or
 * with `meterpurse trace import --scriptor-output` and `trace replay`). Comments never contain
 * the word "exit", which scriptor obeys anywhere in a line, even in a comment; "reset" is
 * altered too, so that a comment that loses its `#` can never reset the card.
 */
export function exportScriptorScript(trace: Trace): string {
  const safe = (s: string) => s.replace(/exit/gi, 'ex-it').replace(/reset/gi, 're-set');
  const out: string[] = [];
  out.push(`# scriptor script exported from a meterpurse trace (docs/trace-format.md)`);
  if (trace.header.reader) out.push(safe(`# recorded on: ${trace.header.reader}`));
  if (trace.header.atr) out.push(`# ATR: ${spacedHex(trace.header.atr)}`);
  if (trace.header.protocol)
    out.push(`# protocol: ${trace.header.protocol} (run: scriptor -p ${trace.header.protocol} <file>)`);
  for (const e of trace.events) {
    for (const c of e.comments) out.push(safe(`#${c}`));
    if (e.type === 'reset') {
      out.push('reset');
      out.push(`# ATR then: ${spacedHex(e.atr)}`);
    } else if (e.type === 'exchange') {
      out.push(spacedHex(e.command));
      out.push(
        e.response ? `# expect: ${spacedHex(e.response)}` : safe(`# recorded error: ${e.error ?? ''}`),
      );
    }
  }
  return out.join('\n') + '\n';
}

/** The steps of a trace as a script run would send them (for `trace record` of an exported trace). */
export function stepsOf(trace: Trace): ScriptStep[] {
  const out: ScriptStep[] = [];
  for (const e of trace.events) {
    if (e.type === 'reset') out.push({ type: 'reset', line: e.line, comments: [...e.comments] });
    else if (e.type === 'exchange')
      out.push({ type: 'apdu', command: e.command, line: e.line, comments: [...e.comments] });
  }
  return out;
}
