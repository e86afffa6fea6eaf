/**
 * Red team of the batch CSV (issue 12): hostile input of every kind gives a clear per-line reason
 * or a whole-file MalformedDataError, never another exception and never a good row with a wrong
 * value. Regressions: values echoed in reasons had their control characters printed raw (terminal
 * escapes), a name could hold C1 controls or bidi overrides, an expiry in the past was issued, a
 * huge field with a bad byte at its end was scanned byte by byte (minutes).
 */
import { describe, expect, it } from 'vitest';
import { MalformedDataError } from '../../card/index.js';
import { CSV_MAX_BYTES, parseBatchCsv, shown } from '../../terminal/bureau/batchCsv.js';

const enc = (s: string) => new TextEncoder().encode(s);
const TODAY = new Date(Date.UTC(2026, 11, 5));
const parse = (s: string | Uint8Array) => parseBatchCsv(typeof s === 'string' ? enc(s) : s, { today: TODAY });
const H = 'subscriber,purses,pin,expiry,name\n';

function refused(s: string | Uint8Array): string {
  try {
    parse(s);
  } catch (e) {
    expect(e).toBeInstanceOf(MalformedDataError);
    return (e as Error).message;
  }
  throw new Error('not refused');
}

/** The reason of the only (bad) row. */
function reason(row: string): string {
  const p = parse(H + row);
  expect(p.rows).toEqual([]);
  expect(p.bad).toHaveLength(1);
  return p.bad[0]!.reason;
}

describe('batch CSV red team: line endings, BOM, encoding', () => {
  it('CRLF, LF, a bare CR and a BOM read the same rows', () => {
    const rows = ['17,1:5,,,', '18,2:0,,,'];
    const want = parse(H + rows.join('\n')).rows.map((r) => r.canonical);
    expect(want).toHaveLength(2);
    for (const sep of ['\r\n', '\r', '\n'])
      expect(parse(H.replace('\n', sep) + rows.join(sep) + sep).rows.map((r) => r.canonical)).toEqual(want);
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...enc(H + rows.join('\n'))]);
    expect(parse(bom).rows.map((r) => r.canonical)).toEqual(want);
  });

  it('invalid UTF-8 and NUL bytes: a bad row, the neighbours unaffected', () => {
    const bytes = new Uint8Array([
      ...enc(H + '17,1:5,,,"Jo'),
      0xc3,
      0x28, // invalid sequence
      ...enc('"\n18,1:5,,,\n19\u0000,1:5,,,\n20,1:5,12\u000034,,\n21,1:5,,,a\u0000b\n'),
    ]);
    const p = parse(bytes);
    expect(p.rows.map((r) => r.subscriberId)).toEqual([18]);
    expect(p.bad.map((b) => [b.line, b.reason])).toEqual([
      [2, 'wrong encoding: not UTF-8 (byte 0x28)'],
      [4, "subscriber '19\\u0000' is not an id 1..9007199254740991"],
      [5, 'bad PIN: want 4..8 digits'],
      [6, 'bad name: at most 64 characters, no control characters'],
    ]);
  });

  it('UTF-16 is refused whole', () => {
    expect(refused(new Uint8Array([0xff, 0xfe, 0x73, 0]))).toMatch(/UTF-16/);
  });
});

describe('batch CSV red team: quoting', () => {
  it('quotes inside fields, a newline inside a quoted field, text after a closing quote', () => {
    const p = parse(H + '17,"1:5",,,"say ""hi""\nthere"\n18,1:5,,,a"b\n19,"1:5"x,,,\n20,1:5,,,\n');
    expect(p.rows.map((r) => [r.line, r.subscriberId])).toEqual([[6, 20]]);
    expect(p.bad.map((b) => b.line)).toEqual([2, 4, 5]);
    // the quoted newline is a control character: not a name
    expect(p.bad[0]!.reason).toMatch(/bad name/);
    expect(p.bad[1]!.reason).toMatch(/a quote inside an unquoted field/);
    expect(p.bad[2]!.reason).toMatch(/text after a closing quote/);
  });

  it('a quote never closed refuses the file (the rows after it would vanish)', () => {
    expect(refused(H + '17,1:5,,,"open\n18,1:5,,,\n')).toMatch(/never closed/);
  });
});

describe('batch CSV red team: sizes', () => {
  it('a 2 MB field is a bad row; with a bad byte at its end it is still quick', () => {
    const big = 'x'.repeat(2_000_000);
    const bytes = new Uint8Array([...enc(H + '17,1:5,,,'), ...enc(big), 0xff, ...enc('\n18,1:5,,,\n')]);
    const t0 = Date.now();
    const p = parse(bytes);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(p.rows.map((r) => r.subscriberId)).toEqual([18]);
    expect(p.bad).toEqual([{ line: 2, subscriber: '17', reason: 'field 5 is over 1024 bytes' }]);
  });

  it('over the byte limit: refused whole before it is parsed', () => {
    const bytes = new Uint8Array(CSV_MAX_BYTES + 1);
    bytes.set(enc(H));
    expect(refused(bytes)).toMatch(/over 67108864 bytes/);
  });

  it('a million rows parse (the row limit), one more is refused', { timeout: 60_000 }, () => {
    const body = Array.from({ length: 1_000_000 }, (_, i) => `${i + 1},1:5`).join('\n');
    const p = parse(`subscriber,purses\n${body}\n`);
    expect(p.rows).toHaveLength(1_000_000);
    expect(p.rows[999_999]!.subscriberId).toBe(1_000_000);
    expect(refused(`subscriber,purses\n${body}\n1000001,1:5\n`)).toMatch(/more than 1000000 rows/);
  });
});

describe('batch CSV red team: numbers', () => {
  it.each([
    ['9007199254740993', "subscriber '9007199254740993' is not an id 1..9007199254740991"],
    ['1e3', "subscriber '1e3' is not an id 1..9007199254740991"],
    ['0x10', "subscriber '0x10' is not an id 1..9007199254740991"],
    ['017', "subscriber '017' is not an id 1..9007199254740991"],
    ['0', "subscriber '0' is not an id 1..9007199254740991"],
    ['-5', "subscriber '-5' is not an id 1..9007199254740991"],
    ['+5', "subscriber '+5' is not an id 1..9007199254740991"],
    ['5.0', "subscriber '5.0' is not an id 1..9007199254740991"],
    ['５', "subscriber '５' is not an id 1..9007199254740991"],
  ])('subscriber %s is a bad row', (sub, why) => {
    expect(reason(`${sub},1:5,,,`)).toBe(why);
  });

  it('a padded subscriber is trimmed, the largest safe id is kept exactly', () => {
    expect(parse(H + ' 5 ,1:5,,,\n9007199254740991,1:5,,,\n').rows.map((r) => r.subscriberId)).toEqual([
      5, 9007199254740991,
    ]);
  });

  it.each([
    ['0:5', "purse id '0' is not 1..15"],
    ['16:5', "purse id '16' is not 1..15"],
    ['1.5:5', "purse id '1.5' is not 1..15"],
    ['1:5;1:6', 'purse 1 given twice'],
    ['1:1e3', "invalid amount '1e3' for purse 1: not an integer number of minor units"],
    ['1:0x10', "invalid amount '0x10' for purse 1: not an integer number of minor units"],
    ['1:007', "invalid amount '007' for purse 1: leading zero"],
    ['1:-1', "invalid amount '-1' for purse 1: negative"],
    ['1:9007199254740993', "invalid amount '9007199254740993' for purse 1: over a u32 (4294967295)"],
    ['1:500001', "invalid amount '500001' for purse 1: above the purse maximum 500000"],
    ['1:5.5', "invalid amount '5.5' for purse 1: not an integer number of minor units"],
    ['15', "purse '15' is not id:balance"],
  ])('purses %s is a bad row', (purses, why) => {
    expect(reason(`17,${purses},,,`)).toBe(why);
  });
});

describe('batch CSV red team: PIN, expiry, name', () => {
  it.each(['123', '123456789', '12a4', '１２３４', '12 34'])('PIN %s is a bad row', (pin) => {
    expect(reason(`17,1:5,${pin},,`)).toBe('bad PIN: want 4..8 digits');
  });

  it('expiry: not a date, or in the past, is a bad row; today and later are issued', () => {
    expect(reason('17,1:5,,991399,')).toBe("bad expiry '991399': want a date YYMMDD");
    expect(reason('17,1:5,,270229,')).toBe("bad expiry '270229': want a date YYMMDD");
    expect(reason('17,1:5,,200101,')).toBe("bad expiry '200101': in the past (today is 261205)");
    expect(reason('17,1:5,,261204,')).toBe("bad expiry '261204': in the past (today is 261205)");
    expect(parse(H + '17,1:5,,261205,\n18,1:5,,991231,\n').rows.map((r) => r.expiry)).toEqual([
      '261205',
      '991231',
    ]);
  });

  it('a name with C1 controls (CSI) or bidi overrides is a bad row', () => {
    for (const name of ['a\u009b31mb', 'pay\u202eeno', 'x\u2066y', 'esc\u001b[2J'])
      expect(reason(`17,1:5,,,${name}`)).toMatch(/^bad name/);
    expect(parse(H + '17,1:5,,,Zoë Ørsted 李\n').rows[0]!.name).toBe('Zoë Ørsted 李');
  });
});

describe('batch CSV red team: echoed values cannot reach the terminal raw', () => {
  it('escape sequences in an echoed value are shown as \\u escapes, cut at 40 characters', () => {
    const p = parse(H + '\u001b]0;pwned\u0007,1:5,,,\n17,\u001b[2J:5,,,\n18,1:5,,\u009b1m,\n');
    for (const b of p.bad) {
      // eslint-disable-next-line no-control-regex
      expect(b.reason).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
      // eslint-disable-next-line no-control-regex
      expect(b.subscriber ?? '').not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    }
    expect(p.bad[0]!.reason).toBe("subscriber '\\u001b]0;pwned\\u0007' is not an id 1..9007199254740991");
    expect(p.bad[1]!.reason).toBe("purse id '\\u001b[2J' is not 1..15");
    expect(p.bad[2]!.reason).toBe("bad expiry '\\u009b1m': want a date YYMMDD");
    expect(shown('y'.repeat(100))).toBe(`${'y'.repeat(40)}…`);
    expect(refused('subscriber,purses,\u001b[31mx\n')).toContain("unknown column '\\u001b[31mx'");
  });

  it('formula-injection text is only ever echoed quoted in a reason; a name is never in a canonical form', () => {
    expect(reason("=cmd|' /C calc'!A0,1:5,,,")).toBe(
      "subscriber '=cmd|' /C calc'!A0' is not an id 1..9007199254740991",
    );
    const r = parse(H + '17,1:5,,,=HYPERLINK("x")\n');
    expect(r.bad[0]!.reason).toMatch(/a quote inside an unquoted field/);
    const ok = parse(H + '17,1:5,,,=1+1\n').rows[0]!;
    expect(ok.name).toBe('=1+1');
    expect(ok.canonical).toBe('subscriber=17|purses=1:5|expiry=|pin=no');
  });
});

describe('batch CSV red team: header', () => {
  it('unknown column, missing header, header only, missing required column, empty file', () => {
    expect(refused('subscriber,purses,colour\n17,1:5,red\n')).toMatch(/unknown column 'colour'/);
    expect(refused('17,1:5\n18,1:5\n')).toMatch(/unknown column '17'/);
    expect(refused('subscriber,pin\n17,1234\n')).toMatch(/column 'purses' is missing/);
    expect(refused('')).toMatch(/empty file/);
    expect(refused('\n\n')).toMatch(/empty file/);
    expect(parse('subscriber,purses\r\n')).toEqual({ columns: ['subscriber', 'purses'], rows: [], bad: [] });
  });

  it('more fields than the header, a row with fewer fields', () => {
    expect(reason('17,1:5,,,,extra')).toBe('6 fields, the header has 5');
    expect(parse(H + '17,1:5\n').rows.map((r) => r.canonical)).toEqual([
      'subscriber=17|purses=1:5|expiry=|pin=no',
    ]);
  });
});
