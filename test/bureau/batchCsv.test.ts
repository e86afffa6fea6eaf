/**
 * The batch CSV (issue 12, "Bad input" of batch issuance): every bad row comes back with its line
 * and reason, the good ones are kept; a file that is not a table is refused whole with a typed
 * MalformedDataError and its offset (STYLE.md rule 3). Tests assert the exact reasons.
 */
import { describe, expect, it } from 'vitest';
import { MalformedDataError } from '../../card/index.js';
import { parseBatchCsv } from '../../terminal/bureau/batchCsv.js';

const enc = (s: string) => new TextEncoder().encode(s);
const parse = (s: string) => parseBatchCsv(enc(s));

function refused(bytes: Uint8Array | string): MalformedDataError {
  try {
    parseBatchCsv(typeof bytes === 'string' ? enc(bytes) : bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(MalformedDataError);
    expect((e as MalformedDataError).kind).toBe('csv');
    return e as MalformedDataError;
  }
  throw new Error('not refused');
}

describe('batch CSV: good rows', () => {
  it('reads every column, RFC 4180 quoting (commas, doubled quotes, line breaks), CRLF and LF, any column order', () => {
    const p = parse(
      'Name,subscriber,PURSES,pin,expiry\r\n"Doe, ""Jane""",17,1:5000;2:0,1234,301231\r\nSmith,18," 1:0;\n2:7 ",,\n',
    );
    expect(p.bad).toEqual([]);
    expect(p.columns).toEqual(['name', 'subscriber', 'purses', 'pin', 'expiry']);
    expect(p.rows).toEqual([
      {
        line: 2,
        subscriberId: 17,
        purses: [
          { id: 1, balance: 5000 },
          { id: 2, balance: 0 },
        ],
        pin: '1234',
        expiry: '301231',
        name: 'Doe, "Jane"',
        canonical: 'subscriber=17|purses=1:5000;2:0|expiry=301231|pin=yes',
      },
      {
        line: 3,
        subscriberId: 18,
        purses: [
          { id: 1, balance: 0 },
          { id: 2, balance: 7 },
        ],
        name: 'Smith',
        canonical: 'subscriber=18|purses=1:0;2:7|expiry=|pin=no',
      },
    ]);
  });

  it('skips a UTF-8 byte order mark and empty lines; purses sorted by id; the maximum balance is allowed', () => {
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...enc('subscriber,purses\n\n5,3:500000;1:1\n\n')]);
    const p = parseBatchCsv(bytes);
    expect(p.bad).toEqual([]);
    expect(p.rows.map((r) => [r.line, r.subscriberId, r.purses])).toEqual([
      [
        3,
        5,
        [
          { id: 1, balance: 1 },
          { id: 3, balance: 500000 },
        ],
      ],
    ]);
  });

  it('a header alone is an empty batch', () => {
    expect(parse('subscriber,purses\n')).toEqual({ columns: ['subscriber', 'purses'], rows: [], bad: [] });
  });
});

describe('batch CSV: each bad row with its line and reason, the good ones kept', () => {
  it('wrong encoding, missing fields, duplicate subscribers, invalid amounts, bad PIN and expiry', () => {
    const text = [
      'subscriber,purses,pin,expiry', // 1
      '1,1:100,,', // 2 good
      '2,,,', // 3 missing purses
      ',1:100,,', // 4 missing subscriber
      '3,1:-5,,', // 5 negative
      '4,1:12.50,,', // 6 not an integer
      '5,1:500001,,', // 7 above the purse max
      '6,1:4294967296,,', // 8 over u32
      '7,1:100,12a4,', // 9 bad PIN
      '8,1:100,123,', // 10 PIN too short
      '9,1:100,,300230', // 11 no such date
      '10,1:100;1:5,,', // 12 purse twice
      '11,16:100,,', // 13 purse id
      '12,1:100,,', // 14 duplicate (with 16)
      '13,1:100', // 15 short row: optional fields missing is fine
      '12,2:100,,', // 16 duplicate
      '14,1:100,,,extra', // 17 too many fields
      'x7,1:100,,', // 18 not an id
      '15,1:1"00,,', // 19 quote inside
      '16,1:100,,', // 20 good
    ].join('\n');
    const bytes = enc(`${text}\n`);
    // line 21: invalid UTF-8 in a name-less row (byte 0xC3 alone), then a good row 22
    const tail = new Uint8Array([...enc('17,1:1'), 0xc3, ...enc(',,\n18,1:1,,\n')]);
    const p = parseBatchCsv(new Uint8Array([...bytes, ...tail]));
    expect(p.rows.map((r) => [r.line, r.subscriberId])).toEqual([
      [2, 1],
      [15, 13],
      [20, 16],
      [22, 18],
    ]);
    expect(p.bad).toEqual([
      { line: 3, subscriber: '2', reason: 'missing field purses' },
      { line: 4, reason: 'missing field subscriber' },
      { line: 5, subscriber: '3', reason: "invalid amount '-5' for purse 1: negative" },
      {
        line: 6,
        subscriber: '4',
        reason: "invalid amount '12.50' for purse 1: not an integer number of minor units",
      },
      {
        line: 7,
        subscriber: '5',
        reason: "invalid amount '500001' for purse 1: above the purse maximum 500000",
      },
      {
        line: 8,
        subscriber: '6',
        reason: "invalid amount '4294967296' for purse 1: over a u32 (4294967295)",
      },
      { line: 9, subscriber: '7', reason: 'bad PIN: want 4..8 digits' },
      { line: 10, subscriber: '8', reason: 'bad PIN: want 4..8 digits' },
      { line: 11, subscriber: '9', reason: "bad expiry '300230': want a date YYMMDD" },
      { line: 12, subscriber: '10', reason: 'purse 1 given twice' },
      { line: 13, subscriber: '11', reason: "purse id '16' is not 1..15" },
      {
        line: 14,
        subscriber: '12',
        reason: 'duplicate subscriber 12 (on lines 14, 16): none of them is issued',
      },
      {
        line: 16,
        subscriber: '12',
        reason: 'duplicate subscriber 12 (on lines 14, 16): none of them is issued',
      },
      { line: 17, subscriber: '14', reason: '5 fields, the header has 4' },
      { line: 18, subscriber: 'x7', reason: "subscriber 'x7' is not an id 1..9007199254740991" },
      {
        line: 19,
        subscriber: '15',
        reason: `a quote inside an unquoted field (byte offset ${text.indexOf('1:1"00') + 3})`,
      },
      { line: 21, reason: 'wrong encoding: not UTF-8 (byte 0xc3)' },
    ]);
  });

  it('a line number counts the line breaks inside quoted fields before it', () => {
    const p = parse('subscriber,purses,name\n1,1:1,"a\nb\r\nc"\n2,1:x,\n');
    expect(p.bad).toEqual([
      { line: 2, subscriber: '1', reason: 'bad name: at most 64 characters, no control characters' },
      {
        line: 5,
        subscriber: '2',
        reason: "invalid amount 'x' for purse 1: not an integer number of minor units",
      },
    ]);
  });

  it('an over-long field is a bad row, not a refused file', () => {
    const p = parse(`subscriber,purses,name\n1,1:1,${'n'.repeat(2000)}\n2,1:1,\n`);
    expect(p.bad).toEqual([{ line: 2, subscriber: '1', reason: 'field 3 is over 1024 bytes' }]);
    expect(p.rows.map((r) => r.subscriberId)).toEqual([2]);
  });
});

describe('batch CSV: files refused whole, with the offset', () => {
  it('empty, no header, unknown / repeated / missing column', () => {
    expect(refused('').message).toMatch(/empty file: a header row/);
    expect(refused('1,1:100\n').message).toMatch(/unknown column '1'/);
    expect(refused('subscriber,purse\n').message).toMatch(/unknown column 'purse'/);
    expect(refused('subscriber,purses,subscriber\n').message).toMatch(/column 'subscriber' given twice/);
    expect(refused('subscriber,pin\n1,1234\n').message).toMatch(/column 'purses' is missing/);
  });

  it('a quote never closed (the rows after it would vanish): offset of the quote', () => {
    const e = refused('subscriber,purses,name\n1,1:1,"open\n2,1:1,\n');
    expect(e.message).toBe('malformed csv at offset 29: quoted field opened on line 2 is never closed');
    expect(e.offset).toBe(29);
  });

  it('UTF-16 (either byte order) and UTF-32 are refused: save as UTF-8', () => {
    expect(refused(new Uint8Array([0xff, 0xfe, 0x73, 0x00])).message).toMatch(/UTF-16/);
    expect(refused(new Uint8Array([0xfe, 0xff, 0x00, 0x73])).message).toMatch(/UTF-16/);
    expect(refused(new Uint8Array([0x00, 0x00, 0xfe, 0xff])).message).toMatch(/UTF-32/);
  });

  it('never throws anything but MalformedDataError on random bytes', () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    const alphabet = enc('subscriber,purses"\r\n:;0123456789 \u00e9');
    for (let k = 0; k < 500; k++) {
      const len = rnd() % 120;
      const b = new Uint8Array(len);
      for (let j = 0; j < len; j++) b[j] = rnd() < 200 ? alphabet[rnd() % alphabet.length]! : rnd();
      const withHeader = new Uint8Array([...enc('subscriber,purses\n'), ...b]);
      for (const x of [b, withHeader]) {
        try {
          const p = parseBatchCsv(x);
          for (const r of p.bad) expect(r.line).toBeGreaterThan(1);
        } catch (e) {
          expect(e).toBeInstanceOf(MalformedDataError);
        }
      }
    }
  });
});
