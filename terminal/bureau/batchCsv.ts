/**
 * The subscribers CSV of a batch issuance (`meterpurse card issue --batch <file>`): one card per
 * row. Outside data, so this parser never throws on a row (STYLE.md rule 3): each bad row comes
 * back as data — its line number and why — and the good rows are issued (or none, `--strict`).
 * Only a file that cannot be read as a table at all (no header, an unknown or repeated column, a
 * quote never closed, UTF-16, over the limits) is refused whole, with a `MalformedDataError`
 * (kind 'csv') carrying the byte offset.
 *
 * Format: RFC 4180 — fields separated by commas, records by CRLF or LF (a bare CR too), a field
 * in double quotes may hold commas, line breaks and `""` for a quote. A header row is required;
 * column names are case-insensitive, in any order:
 *
 * ```
 * subscriber,purses,pin,expiry,name
 * 17,1:5000;2:0,1234,301231,"Doe, Jane"
 * 18,1:0,,,
 * ```
 *
 * | column | required | value |
 * |---|---|---|
 * | `subscriber` | yes | the host's subscriber id, an integer 1..2^53-1 written without sign or leading zeros; each at most once in the file |
 * | `purses` | yes | `id:balance` pairs separated by `;` — purse id 1..15 (the utility), opening balance in minor units, an integer 0..{@link PURSE_MAX_BALANCE} (the purse maximum); each id at most once |
 * | `pin` | no | 4..8 digits; empty: the card asks for no PIN |
 * | `expiry` | no | YYMMDD, a real date, not before today (UTC); empty: the personalisation's default |
 * | `name` | no | free text (≤ 64 characters, no control characters — C0, DEL, C1 — nor bidirectional overrides), for the operator's eyes only |
 *
 * A value echoed in a reason goes through {@link shown}: control characters escaped, cut at 40.
 *
 * Encoding: UTF-8 only. A UTF-8 byte order mark at the start is accepted and skipped; a UTF-16
 * or UTF-32 mark refuses the file; a row holding bytes that are not UTF-8 is a bad row ("not
 * UTF-8"), the others are unaffected (the separators are ASCII, which never occurs inside a UTF-8
 * multi-byte sequence, so a bad byte cannot shift the fields of another row). Spaces and tabs
 * around an unquoted value are ignored; empty lines are skipped.
 *
 * Limits (refusing the file): {@link CSV_MAX_BYTES} bytes, {@link CSV_MAX_ROWS} rows,
 * {@link CSV_MAX_FIELDS} fields in the header. Over {@link CSV_MAX_FIELD_BYTES} bytes in one field,
 * or more fields than the header, is a bad row.
 */
import { MalformedDataError } from '../../card/index.js';

export const CSV_MAX_BYTES = 64 * 1024 * 1024;
export const CSV_MAX_ROWS = 1_000_000;
export const CSV_MAX_FIELDS = 16;
export const CSV_MAX_FIELD_BYTES = 1024;
/** Largest opening balance of a purse: the purse maximum of the subscriber card (defaultPurses). */
export const PURSE_MAX_BALANCE = 500_000;
/** Purse ids are utilities 1..15 (docs/personalisation.md §3: slot = u << 4 | type). */
export const PURSE_ID_MAX = 15;

/** One purse of a row: its id and opening balance (minor units). */
export interface PurseOrder {
  readonly id: number;
  readonly balance: number;
}

/** A good row: what one card is personalised with. */
export interface BatchRow {
  /** The physical line the record starts on (1 = the header). */
  readonly line: number;
  readonly subscriberId: number;
  /** In ascending purse id. */
  readonly purses: readonly PurseOrder[];
  readonly pin?: string;
  /** YYMMDD. */
  readonly expiry?: string;
  readonly name?: string;
  /**
   * What the card is, written one way: subscriber, purses, expiry and whether a PIN is set (not
   * the PIN). A resumed batch compares it with what its journal recorded for the subscriber.
   */
  readonly canonical: string;
}

/** A row that is not issued, and why. */
export interface BadRow {
  readonly line: number;
  readonly reason: string;
  /** The subscriber column as written, when it could be read. */
  readonly subscriber?: string;
}

export interface ParseOptions {
  /** Today (UTC), against which an expiry in the past is a bad row; default now. */
  readonly today?: Date;
}

export interface ParsedBatch {
  /** The column names as given (lower case). */
  readonly columns: readonly string[];
  /** Good rows, in file order. */
  readonly rows: readonly BatchRow[];
  /** Bad rows, in file order. */
  readonly bad: readonly BadRow[];
}

const COLUMNS = ['subscriber', 'purses', 'pin', 'expiry', 'name'] as const;
type Column = (typeof COLUMNS)[number];
const REQUIRED: readonly Column[] = ['subscriber', 'purses'];

const COMMA = 0x2c;
const QUOTE = 0x22;
const CR = 0x0d;
const LF = 0x0a;

/** One record as split from the bytes, before decoding. */
interface RawRecord {
  line: number;
  offset: number;
  fields: Uint8Array[];
  /** A syntax problem confined to this record (the others are still read). */
  problem?: string;
}

function csvError(reason: string, offset: number, bytes: Uint8Array): MalformedDataError {
  return new MalformedDataError(reason, offset, bytes.subarray(offset, offset + 32), 'csv');
}

/**
 * Splits RFC 4180 records. A quote never closed swallows the rest of the file, so it refuses the
 * file (the rows after it would silently vanish otherwise).
 */
function* records(bytes: Uint8Array, start: number): Generator<RawRecord> {
  let i = start;
  let line = 1;
  const n = bytes.length;
  while (i < n) {
    const rec: RawRecord = { line, offset: i, fields: [] };
    let endOfRecord = false;
    while (!endOfRecord) {
      // one field
      let field: Uint8Array;
      if (bytes[i] === QUOTE) {
        const open = i;
        const openLine = line;
        const parts: number[] = [];
        i++;
        for (;;) {
          if (i >= n) throw csvError(`quoted field opened on line ${openLine} is never closed`, open, bytes);
          const b = bytes[i]!;
          if (b === QUOTE) {
            if (bytes[i + 1] === QUOTE) {
              parts.push(QUOTE);
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (b === LF || (b === CR && bytes[i + 1] !== LF)) line++;
          if (parts.length <= CSV_MAX_FIELD_BYTES) parts.push(b);
          i++;
        }
        field = Uint8Array.from(parts);
        // after the closing quote: spaces, then a separator or the end of the record
        while (i < n && (bytes[i] === 0x20 || bytes[i] === 0x09)) i++;
        if (i < n && bytes[i] !== COMMA && bytes[i] !== CR && bytes[i] !== LF) {
          rec.problem ??= `text after a closing quote (byte offset ${i})`;
          while (i < n && bytes[i] !== COMMA && bytes[i] !== CR && bytes[i] !== LF) i++;
        }
      } else {
        const from = i;
        while (i < n && bytes[i] !== COMMA && bytes[i] !== CR && bytes[i] !== LF) {
          if (bytes[i] === QUOTE) rec.problem ??= `a quote inside an unquoted field (byte offset ${i})`;
          i++;
        }
        field = trimBlanks(bytes.subarray(from, i));
      }
      if (field.length > CSV_MAX_FIELD_BYTES)
        rec.problem ??= `field ${rec.fields.length + 1} is over ${CSV_MAX_FIELD_BYTES} bytes`;
      if (rec.fields.length < CSV_MAX_FIELDS + 1) rec.fields.push(field);
      else rec.problem ??= `more than ${CSV_MAX_FIELDS} fields`;
      if (i >= n) endOfRecord = true;
      else if (bytes[i] === COMMA) i++;
      else {
        // CR LF, LF or a bare CR
        if (bytes[i] === CR && bytes[i + 1] === LF) i++;
        i++;
        line++;
        endOfRecord = true;
      }
    }
    const blank = rec.fields.length === 1 && rec.fields[0]!.length === 0 && rec.problem === undefined;
    if (!blank) yield rec;
  }
}

function trimBlanks(b: Uint8Array): Uint8Array {
  let s = 0;
  let e = b.length;
  while (s < e && (b[s] === 0x20 || b[s] === 0x09)) s++;
  while (e > s && (b[e - 1] === 0x20 || b[e - 1] === 0x09)) e--;
  return b.subarray(s, e);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The offset of the first byte that is not UTF-8 in `b` (for the message), or -1. */
function badUtf8At(b: Uint8Array): number {
  try {
    utf8.decode(b);
    return -1;
  } catch {
    // Byte by byte through a decoder of its own (a streaming decoder keeps state between calls).
    const scan = new TextDecoder('utf-8', { fatal: true });
    for (let k = 0; k < b.length; k++) {
      try {
        scan.decode(b.subarray(k, k + 1), { stream: true });
      } catch {
        return k;
      }
    }
    return b.length - 1; // a sequence cut short by the end of the field
  }
}

/** Control characters (C0, DEL, C1) and bidirectional overrides: refused in a name, escaped when echoed. */
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/**
 * A value of the file as echoed in a reason (printed to the operator's terminal): control
 * characters (C0, DEL, C1 — ESC and CSI start terminal escape sequences) and the bidirectional
 * overrides are shown as \\u escapes, and a long value is cut, so a hostile CSV cannot rewrite
 * the screen or hide text.
 */
export function shown(value: string, max = 40): string {
  const cut = value.length > max ? `${value.slice(0, max)}…` : value;
  return cut.replace(
    new RegExp(UNPRINTABLE.source, 'g'),
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** A real calendar date YYMMDD (years 2000..2099). */
function isDate(s: string): boolean {
  if (!/^[0-9]{6}$/.test(s)) return false;
  const y = 2000 + Number(s.slice(0, 2));
  const m = Number(s.slice(2, 4));
  const d = Number(s.slice(4, 6));
  if (m < 1 || m > 12 || d < 1) return false;
  return d <= new Date(Date.UTC(y, m, 0)).getUTCDate();
}

/** `1:5000;2:0` → purses, or the reason it is not. */
function parsePurses(s: string): PurseOrder[] | string {
  if (s === '') return 'missing field purses';
  const out: PurseOrder[] = [];
  for (const part of s.split(';')) {
    const p = part.trim();
    if (p === '' && out.length > 0) continue; // a trailing ';'
    const m = /^([^:]*):(.*)$/.exec(p);
    if (!m) return `purse '${shown(p)}' is not id:balance`;
    const idText = m[1]!.trim();
    const amount = m[2]!.trim();
    if (!/^[0-9]{1,2}$/.test(idText) || Number(idText) < 1 || Number(idText) > PURSE_ID_MAX)
      return `purse id '${shown(idText)}' is not 1..${PURSE_ID_MAX}`;
    const id = Number(idText);
    if (out.some((o) => o.id === id)) return `purse ${id} given twice`;
    if (/^-/.test(amount)) return `invalid amount '${shown(amount)}' for purse ${id}: negative`;
    if (!/^[0-9]+$/.test(amount))
      return `invalid amount '${shown(amount)}' for purse ${id}: not an integer number of minor units`;
    if (amount.length > 1 && amount.startsWith('0'))
      return `invalid amount '${shown(amount)}' for purse ${id}: leading zero`;
    const v = Number(amount);
    if (amount.length > 10 || v > 0xffffffff)
      return `invalid amount '${shown(amount)}' for purse ${id}: over a u32 (4294967295)`;
    if (v > PURSE_MAX_BALANCE)
      return `invalid amount '${shown(amount)}' for purse ${id}: above the purse maximum ${PURSE_MAX_BALANCE}`;
    out.push({ id, balance: v });
  }
  return out.sort((a, b) => a.id - b.id);
}

/**
 * Parses a subscribers CSV (see the file comment for the format).
 * @param bytes the file as read, UTF-8.
 * @param options `today`, against which an expiry in the past is a bad row.
 * @returns the good rows and the bad ones, each with its line; never throws for a bad row.
 * @throws MalformedDataError (kind 'csv') when the file is not a table this parser can read: empty,
 *   UTF-16/32, over the limits, no header or a header with an unknown, repeated or missing column,
 *   a quoted field never closed.
 */
export function parseBatchCsv(bytes: Uint8Array, options: ParseOptions = {}): ParsedBatch {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
  if (bytes.length > CSV_MAX_BYTES)
    throw csvError(`file is over ${CSV_MAX_BYTES} bytes`, CSV_MAX_BYTES, bytes);
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))
    throw csvError('the file is UTF-16 (byte order mark): save it as UTF-8', 0, bytes);
  if (bytes[0] === 0x00 && bytes[1] === 0x00 && bytes[2] === 0xfe && bytes[3] === 0xff)
    throw csvError('the file is UTF-32 (byte order mark): save it as UTF-8', 0, bytes);
  const start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;

  const it = records(bytes, start);
  const first = it.next();
  if (first.done)
    throw csvError('empty file: a header row (subscriber,purses,...) is required', start, bytes);
  const head = first.value;
  if (head.problem) throw csvError(`header row: ${head.problem}`, head.offset, bytes);
  if (head.fields.length > CSV_MAX_FIELDS)
    throw csvError(`header row has more than ${CSV_MAX_FIELDS} columns`, head.offset, bytes);
  if (badUtf8At(concat(head.fields)) >= 0) throw csvError('header row is not UTF-8', head.offset, bytes);
  const columns = head.fields.map((f) => utf8.decode(f).trim().toLowerCase());
  const index = new Map<Column, number>();
  columns.forEach((c, k) => {
    if (!(COLUMNS as readonly string[]).includes(c))
      throw csvError(
        c === ''
          ? `header row: column ${k + 1} has no name`
          : `header row: unknown column '${shown(c)}' (want ${COLUMNS.join(', ')})`,
        head.offset,
        bytes,
      );
    if (index.has(c as Column))
      throw csvError(`header row: column '${shown(c)}' given twice`, head.offset, bytes);
    index.set(c as Column, k);
  });
  for (const r of REQUIRED)
    if (!index.has(r))
      throw csvError(
        `header row: column '${r}' is missing (a header row subscriber,purses[,pin,expiry,name] is required)`,
        head.offset,
        bytes,
      );

  const now = options.today ?? new Date();
  const today = [now.getUTCFullYear() % 100, now.getUTCMonth() + 1, now.getUTCDate()]
    .map((v) => String(v).padStart(2, '0'))
    .join('');
  const rows: BatchRow[] = [];
  const bad: BadRow[] = [];
  let count = 0;
  for (const rec of it) {
    if (++count > CSV_MAX_ROWS) throw csvError(`more than ${CSV_MAX_ROWS} rows`, rec.offset, bytes);
    const r = readRow(rec, index, columns.length, today);
    if ('reason' in r) bad.push(r);
    else rows.push(r);
  }

  // A subscriber listed twice: which row is meant is anyone's guess, so neither is issued.
  const lines = new Map<number, number[]>();
  for (const r of rows) lines.set(r.subscriberId, [...(lines.get(r.subscriberId) ?? []), r.line]);
  const good: BatchRow[] = [];
  for (const r of rows) {
    const at = lines.get(r.subscriberId)!;
    if (at.length === 1) good.push(r);
    else
      bad.push({
        line: r.line,
        subscriber: String(r.subscriberId),
        reason: `duplicate subscriber ${r.subscriberId} (on lines ${at.join(', ')}): none of them is issued`,
      });
  }
  bad.sort((a, b) => a.line - b.line);
  return { columns, rows: good, bad };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length + 1, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length + 1;
  }
  return out;
}

function readRow(
  rec: RawRecord,
  index: Map<Column, number>,
  width: number,
  today: string,
): BatchRow | BadRow {
  const line = rec.line;
  const fields: string[] = [];
  // A field over the limit is the row's fault already: not scanned byte by byte for its encoding
  // (a 60 MB field with a bad byte at its end would take minutes).
  if (rec.fields.some((f) => f.length > CSV_MAX_FIELD_BYTES)) {
    const k = index.get('subscriber')!;
    const f = rec.fields[k];
    const text = f && f.length <= CSV_MAX_FIELD_BYTES && badUtf8At(f) < 0 ? utf8.decode(f).trim() : '';
    return { line, ...(text === '' ? {} : { subscriber: shown(text) }), reason: rec.problem! };
  }
  for (const f of rec.fields) {
    const at = badUtf8At(f);
    if (at >= 0)
      return { line, reason: `wrong encoding: not UTF-8 (byte 0x${f[at]!.toString(16).padStart(2, '0')})` };
    fields.push(utf8.decode(f));
  }
  const get = (c: Column) => {
    const k = index.get(c);
    return k === undefined ? '' : (fields[k] ?? '').trim();
  };
  const subscriberText = get('subscriber');
  const sub = subscriberText === '' ? {} : { subscriber: shown(subscriberText) };
  if (rec.problem) return { line, ...sub, reason: rec.problem };
  if (fields.length > width)
    return { line, ...sub, reason: `${fields.length} fields, the header has ${width}` };
  for (const c of REQUIRED)
    if (get(c) === '')
      return {
        line,
        ...sub,
        reason: `missing field ${c}${fields.length < width ? ` (${fields.length} fields, the header has ${width})` : ''}`,
      };
  if (!/^[1-9][0-9]{0,15}$/.test(subscriberText) || !Number.isSafeInteger(Number(subscriberText)))
    return {
      line,
      ...sub,
      reason: `subscriber '${shown(subscriberText)}' is not an id 1..${Number.MAX_SAFE_INTEGER}`,
    };
  const subscriberId = Number(subscriberText);
  const purses = parsePurses(get('purses'));
  if (typeof purses === 'string') return { line, ...sub, reason: purses };
  const pin = get('pin');
  if (pin !== '' && !/^[0-9]{4,8}$/.test(pin)) return { line, ...sub, reason: 'bad PIN: want 4..8 digits' };
  const expiry = get('expiry');
  if (expiry !== '' && !isDate(expiry))
    return { line, ...sub, reason: `bad expiry '${shown(expiry)}': want a date YYMMDD` };
  if (expiry !== '' && expiry < today)
    return { line, ...sub, reason: `bad expiry '${expiry}': in the past (today is ${today})` };
  const name = get('name');
  if (name.length > 64 || UNPRINTABLE.test(name))
    return { line, ...sub, reason: 'bad name: at most 64 characters, no control characters' };
  const canonical = [
    `subscriber=${subscriberId}`,
    `purses=${purses.map((p) => `${p.id}:${p.balance}`).join(';')}`,
    `expiry=${expiry}`,
    `pin=${pin === '' ? 'no' : 'yes'}`,
  ].join('|');
  return {
    line,
    subscriberId,
    purses,
    ...(pin === '' ? {} : { pin }),
    ...(expiry === '' ? {} : { expiry }),
    ...(name === '' ? {} : { name }),
    canonical,
  };
}
