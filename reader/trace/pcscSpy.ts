/**
 * Import of `pcsc-spy` logs (pcsc-lite's spy, as shipped in Debian's pcsc-tools / libpcsclite:
 * the Python `pcsc-spy` that decodes what libpcscspy.so writes to its FIFO). Its text output
 * names each call on its own line, then its parameters as ` i ` (in) and ` o ` (out) lines, then
 * ` => <text> (<SCARD_...> [0x........])  [sec.usec]`. Buffers are hex dumps of 16 bytes a line,
 * `0000 00 A4 04 00 ...  ....` (offset, hex, ASCII). Calls of other threads are indented and may
 * carry ` (tN) `; colours are ANSI escapes. Older logs name the buffers `pbSendBuffer` /
 * `pbRecvBuffer`; both spellings are read.
 *
 * What becomes of each call:
 * - SCardConnect: the reader name (`szReader`) and the protocol (`dwActiveProtocol`) of the trace;
 * - SCardStatus: the ATR (`bAtr`), for the header or for the reset just before;
 * - SCardGetStatusChange: the ATR each reader state reports (` o  Atr: …`); the one of the
 *   reader SCardConnect names becomes the header's ATR when no SCardStatus gives it (most
 *   applications, opensc-tool among them, never call SCardStatus);
 * - SCardReconnect with dwInitialization 1 (SCARD_RESET_CARD) or 2 (SCARD_UNPOWER_CARD): a reset;
 * - SCardTransmit: an exchange, the call's time as its duration; a failed call an `! error`;
 * - SCardDisconnect: a disconnect; everything else is skipped.
 *
 * The trace gets the mask rules every recording gets (`GET_CHALLENGE_RULE`), so that replaying
 * it does not report a fresh random challenge as a difference.
 */
import { CommandApdu } from '../../card/index.js';
import { MalformedDataError } from '../../card/index.js';
import type { Protocol } from '../CardChannel.js';
import { GET_CHALLENGE_RULE, Trace, TRACE_LIMITS, type TraceEvent, type TraceReset } from './Trace.js';

const KIND = 'pcsc-spy';

interface Line {
  /** 'i', 'o', 'rv' (the `=>` line), 'name' (a call), or 'other'. */
  dir: 'i' | 'o' | 'rv' | 'name' | 'other';
  text: string;
  no: number;
  offset: number;
}

function classify(raw: string, no: number, offset: number): Line {
  // Strip ANSI colours, indentation and the thread tag.
  // eslint-disable-next-line no-control-regex
  let l = raw.replace(/\x1b\[[0-9;]*m/g, '').replace(/\r$/, '');
  l = l.replace(/^\s*(\(t\d+\)\s*)?/, '');
  if (l.startsWith('i ')) return { dir: 'i', text: l.slice(2), no, offset };
  if (l.startsWith('o ')) return { dir: 'o', text: l.slice(2), no, offset };
  if (l.startsWith('=>')) return { dir: 'rv', text: l.slice(2).trim(), no, offset };
  if (/^SCard[A-Za-z0-9]+$/.test(l.trim())) return { dir: 'name', text: l.trim(), no, offset };
  return { dir: 'other', text: l, no, offset };
}

function bad(reason: string, line: Line | undefined, fallback: number): never {
  throw new MalformedDataError(
    line ? `line ${line.no}: ${reason}` : reason,
    line?.offset ?? fallback,
    undefined,
    KIND,
  );
}

/** `bSendLength 0x0000000C (12)` → 12. */
function lengthOf(text: string): number | undefined {
  const m = /(?:^|\s)0x([0-9A-Fa-f]{1,8})\b/.exec(text);
  return m ? parseInt(m[1]!, 16) : undefined;
}

/** `3B 85 81 …` → the bytes, or undefined unless 2 to 33 hex bytes (an ATR). */
function atrOf(hex: string): Uint8Array | undefined {
  const toks = hex.trim().split(/\s+/);
  if (hex.trim() === '' || !toks.every((t) => /^[0-9A-Fa-f]{2}$/.test(t))) return undefined;
  if (toks.length < 2 || toks.length > 33) return undefined;
  return Uint8Array.from(toks.map((t) => parseInt(t, 16)));
}

/**
 * Reads the hex dump lines that follow a buffer's name; stops at `length` bytes when known
 * (the ASCII column could look like hex), else at the end of the hex column of each line.
 */
function readDump(
  block: Line[],
  from: number,
  length: number | undefined,
): { bytes: Uint8Array; next: number } {
  const out: number[] = [];
  let i = from;
  for (; i < block.length; i++) {
    const l = block[i]!;
    const m = /^\s*([0-9A-Fa-f]{4})\s(.*)$/.exec(l.text);
    if (!m || (l.dir !== 'i' && l.dir !== 'o')) break;
    if (parseInt(m[1]!, 16) !== out.length)
      bad(`hex dump offset ${m[1]} where ${out.length} bytes were read`, l, 0);
    // The hex column is 16 * 3 - 1 characters wide; the ASCII column follows one space later.
    const hexCol = m[2]!.slice(0, 47);
    const perLine = length === undefined ? 16 : Math.min(16, length - out.length);
    const toks = hexCol.trim() === '' ? [] : hexCol.trim().split(/\s+/);
    let n = 0;
    for (const t of toks) {
      if (n >= perLine) break;
      if (!/^[0-9A-Fa-f]{2}$/.test(t)) bad(`not a hex byte in the dump: ${JSON.stringify(t)}`, l, 0);
      out.push(parseInt(t, 16));
      n++;
    }
    if (length !== undefined && out.length >= length) {
      i++;
      break;
    }
  }
  if (length !== undefined && out.length !== length)
    bad(`buffer holds ${out.length} bytes, its length says ${length}`, block[i - 1] ?? block[from - 1], 0);
  return { bytes: Uint8Array.from(out), next: i };
}

/**
 * Reads the text output of `pcsc-spy` into a trace.
 * @throws MalformedDataError (kind 'pcsc-spy') naming the line of a bad dump, or when the log
 * holds no pcsc-spy call at all.
 */
export function importPcscSpy(text: string): Trace {
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  if (text.length > TRACE_LIMITS.maxChars)
    throw new MalformedDataError(
      `log longer than ${TRACE_LIMITS.maxChars} characters`,
      TRACE_LIMITS.maxChars,
      undefined,
      KIND,
    );
  const raw = text.split('\n');
  const lines: Line[] = [];
  let off = 0;
  for (let i = 0; i < raw.length; i++) {
    lines.push(classify(raw[i]!, i + 1, off));
    off += raw[i]!.length + 1;
  }
  // Group into calls: a name line and the lines up to the next name line.
  const calls: { name: Line; body: Line[] }[] = [];
  for (const l of lines) {
    if (l.dir === 'name') calls.push({ name: l, body: [] });
    else if (calls.length && (l.dir === 'i' || l.dir === 'o' || l.dir === 'rv'))
      calls[calls.length - 1]!.body.push(l);
  }
  if (calls.length === 0)
    throw new MalformedDataError('no pcsc-spy call (SCard...) found: not a pcsc-spy log', 0, undefined, KIND);

  let reader: string | undefined;
  let protocol: Protocol | undefined;
  let atr: Uint8Array | undefined;
  /** From SCardGetStatusChange: the last ATR reported for each reader. */
  const seenAtr = new Map<string, Uint8Array>();
  let connectedTo: string | undefined;
  const events: TraceEvent[] = [];
  let resetAwaitingAtr: number | undefined;

  for (const { name, body } of calls) {
    const rv = body.find((l) => l.dir === 'rv');
    const ok = rv ? /\[0x0{8}\]/.test(rv.text) : false;
    const field = (dir: 'i' | 'o', re: RegExp): Line | undefined =>
      body.find((l) => l.dir === dir && re.test(l.text));
    switch (name.text) {
      case 'SCardConnect': {
        const r = field('i', /^szReader\b/);
        const name = r ? r.text.replace(/^szReader:?\s*/, '').trim() || undefined : undefined;
        if (reader === undefined) reader = name;
        if (ok && name !== undefined) {
          connectedTo ??= name;
          if (name === connectedTo && atr === undefined && seenAtr.has(name)) atr = seenAtr.get(name);
        }
        const p = field('o', /^dwActiveProtocol/);
        if (p && ok) {
          const m = /T=([01])/.exec(p.text);
          if (m) protocol = `T=${m[1]}` as Protocol;
        }
        break;
      }
      case 'SCardStatus': {
        const a = field('o', /^bAtr\s/);
        if (a && ok) {
          const bytes = atrOf(a.text.replace(/^bAtr\s*/, ''));
          if (bytes) {
            if (resetAwaitingAtr !== undefined) {
              const r = events[resetAwaitingAtr] as TraceReset;
              events[resetAwaitingAtr] = { ...r, atr: bytes };
              resetAwaitingAtr = undefined;
            } else atr ??= bytes;
          }
        }
        break;
      }
      case 'SCardGetStatusChange': {
        if (!ok) break;
        // ` o szReader: <name>`, ` o  dwCurrentState …`, ` o  dwEventState …`, ` o  Atr length: …`,
        // ` o  Atr: <hex>` for each reader state.
        let current: string | undefined;
        for (const l of body) {
          if (l.dir !== 'o') continue;
          const t = l.text.trim();
          const rn = /^szReader:?\s*(.*)$/.exec(t);
          if (rn) current = rn[1]!.trim() || undefined;
          const am = /^Atr:\s*(.*)$/.exec(t);
          if (am && current !== undefined) {
            const bytes = atrOf(am[1]!);
            if (bytes) seenAtr.set(current, bytes);
          }
        }
        break;
      }
      case 'SCardReconnect': {
        const init = field('i', /^dwInitialization\b/);
        const how = init ? lengthOf(init.text) : undefined;
        if (ok && (how === 1 || how === 2)) {
          events.push({
            type: 'reset',
            atr: atr ?? Uint8Array.of(0x3b, 0x00),
            comments: [
              how === 2 ? ' SCardReconnect(SCARD_UNPOWER_CARD)' : ' SCardReconnect(SCARD_RESET_CARD)',
            ],
            line: name.no,
          });
          resetAwaitingAtr = events.length - 1;
        }
        break;
      }
      case 'SCardDisconnect':
        events.push({ type: 'disconnect', comments: [], line: name.no });
        break;
      case 'SCardTransmit': {
        const sendAt = body.findIndex((l) => l.dir === 'i' && /^p?bSendBuffer\s*$/.test(l.text.trim()));
        if (sendAt < 0) bad('SCardTransmit without bSendBuffer', name, name.offset);
        const sendLen = field('i', /^p?bSendLength\b/);
        const send = readDump(body, sendAt + 1, sendLen ? lengthOf(sendLen.text) : undefined);
        try {
          CommandApdu.decode(send.bytes);
        } catch (e) {
          if (e instanceof MalformedDataError)
            bad(`the sent buffer is not a command APDU: ${e.reason}`, body[sendAt], name.offset);
          throw e;
        }
        const time = rv ? /\[(\d+)\.(\d{1,6})\]\s*$/.exec(rv.text) : null;
        const durationMs = time ? Number(time[1]) * 1000 + Number(time[2]!.padEnd(6, '0')) / 1000 : undefined;
        const timing = durationMs !== undefined ? { durationMs } : {};
        if (!ok) {
          events.push({
            type: 'exchange',
            command: send.bytes,
            error: rv ? rv.text.replace(/\s*\[[\d.?]+\]\s*$/, '') : 'no return value (log cut short)',
            comments: [],
            line: name.no,
            ...timing,
          });
          break;
        }
        const recvAt = body.findIndex((l) => l.dir === 'o' && /^p?bRecvBuffer\s*$/.test(l.text.trim()));
        if (recvAt < 0) bad('successful SCardTransmit without bRecvBuffer', name, name.offset);
        const recvLen = field('o', /^p?bRecvLength\b/);
        const recv = readDump(body, recvAt + 1, recvLen ? lengthOf(recvLen.text) : undefined);
        if (recv.bytes.length < 2)
          bad('the received buffer holds less than SW1 SW2', body[recvAt], name.offset);
        events.push({
          type: 'exchange',
          command: send.bytes,
          response: recv.bytes,
          comments: [],
          line: name.no,
          ...timing,
        });
        break;
      }
      default:
        break;
    }
    if (events.length > TRACE_LIMITS.maxEvents)
      bad(`more than ${TRACE_LIMITS.maxEvents} events`, name, name.offset);
  }
  return new Trace(
    {
      tool: 'imported from pcsc-spy',
      ...(reader !== undefined ? { reader } : {}),
      ...(protocol ? { protocol } : {}),
      ...(atr ? { atr } : {}),
      rules: [GET_CHALLENGE_RULE],
    },
    events,
  );
}
