import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { BytePattern } from '../../reader/trace/BytePattern.js';
import { GET_CHALLENGE_RULE, Trace, type TraceExchange, type TraceReset } from '../../reader/trace/Trace.js';

const SAMPLE = `# banner comments before @trace are not kept
@trace 1
@reader Virtual 0
@protocol T=1
@atr 3B 82 80 01 4D 50 5E
@start 2026-11-22T08:00:00.000Z
@tool test
@x-card profile=iso-fs
@mask-response .. 84 00 00 .. => * | 90 00   # GET CHALLENGE is random
@mask-command 80 F0 .. .. *   # any MAC command
# a note of the header

# select the application
> 00 A4 04 00 06 F0 4D 50 54 52 43
< 6F 08 84 06 F0 4D 50 54 52 43 | 90 00 ; d=0.25ms t=+1.5ms
> 00 84 00 00 08
< 01 02 03 04 05 06 07 08 | 90 00
~< .. .. .. .. .. .. .. .. 90 00
! reset 3B 82 80 01 4D 50 5E ; t=+3ms
> 00 B0 00 00 10
! error CardRemovedError: card removed ; d=1ms
! disconnect
# the end
`;

function errorOf(text: string): MalformedDataError {
  try {
    Trace.parse(text);
  } catch (e) {
    expect(e).toBeInstanceOf(MalformedDataError);
    return e as MalformedDataError;
  }
  throw new Error('parsed without error');
}

describe('trace format', () => {
  it('parses every kind of line', () => {
    const t = Trace.parse(SAMPLE);
    expect(t.header.reader).toBe('Virtual 0');
    expect(t.header.protocol).toBe('T=1');
    expect(toHex(t.header.atr!)).toBe('3B8280014D505E');
    expect(t.header.start).toBe('2026-11-22T08:00:00.000Z');
    expect(t.header.extra).toEqual({ card: 'profile=iso-fs' });
    expect(t.header.rules).toHaveLength(2);
    expect(t.header.rules[0]!.why).toBe('GET CHALLENGE is random');
    expect(t.header.notes).toEqual([' a note of the header']);
    expect(t.events.map((e) => e.type)).toEqual(['exchange', 'exchange', 'reset', 'exchange', 'disconnect']);
    const [sel, chal, reset, failed] = t.events as [TraceExchange, TraceExchange, TraceReset, TraceExchange];
    expect(sel.comments).toEqual([' select the application']);
    expect(toHex(sel.response!)).toBe('6F088406F04D505452439000');
    expect(sel.durationMs).toBe(0.25);
    expect(sel.atMs).toBe(1.5);
    expect(sel.line).toBe(14);
    expect(chal.responseMask!.toString()).toBe('.. .. .. .. .. .. .. .. 90 00');
    expect(reset.atMs).toBe(3);
    expect(failed.error).toBe('CardRemovedError: card removed');
    expect(failed.response).toBeUndefined();
    expect(t.trailer).toEqual([' the end']);
  });

  it('format(parse(x)) is stable and parse(format(t)) gives t back', () => {
    const t = Trace.parse(SAMPLE);
    const text = t.format();
    expect(Trace.parse(text).format()).toBe(text);
    const again = Trace.parse(text);
    expect(again.events.length).toBe(t.events.length);
    expect(again.header.rules.map(String)).toEqual(t.header.rules.map(String));
    expect(text).toContain('< 6F 08 84 06 F0 4D 50 54 52 43 | 90 00 ; d=0.25ms t=+1.5ms');
    expect(text).toContain('@mask-response .. 84 00 00 .. => * 90 00   # GET CHALLENGE is random');
  });

  it('format({ timing: false }) leaves out times and the start', () => {
    const text = Trace.parse(SAMPLE).format({ timing: false });
    expect(text).not.toMatch(/d=|t=\+|@start/);
    expect(Trace.parse(text).events).toHaveLength(5);
  });

  it('accepts compact hex and a response without |', () => {
    const t = Trace.parse('@trace 1\n>00A4040000\n< 6A82\n');
    expect(toHex(t.exchanges[0]!.response!)).toBe('6A82');
  });

  it.each([
    ['', 'no "@trace <version>" line', 0],
    ['> 00 A4 04 00\n', 'line 1: a trace starts with "@trace <version>"', 0],
    ['@trace 3\n', 'line 1: unsupported trace version', 0],
    ['@trace 1\n> 00 A4 04 00\n', 'line 2: command has no response (truncated trace?)', 23],
    ['@trace 1\n> 00 A4 04 00\n> 00 B0 00 00 01\n< 90 00\n', 'line 3: command on line 2 has no response', 23],
    ['@trace 1\n< 90 00\n', 'line 2: a response line (<) must follow a command line (>)', 9],
    ['@trace 1\n> 00 A4 0G 00\n< 90 00\n', 'line 2: command: not a hex byte: "0G"', 17],
    ['@trace 1\n> 00 A4 04\n< 90 00\n', 'line 2: command is not an APDU', 10],
    ['@trace 1\n> 00 A4 04 00\n< 90\n', 'line 3: a response holds at least SW1 SW2', 24],
    ['@trace 1\n> 00 A4 04 00\n< 01 | 90\n', 'line 3: after | come SW1 SW2 (2 bytes), not 1', 29],
    ['@trace 1\n> 00 A4 04 00\n< 90 00 ; d=fast\n', 'line 3: bad timing field "d=fast"', 33],
    ['@trace 1\n@atr 3B\n', 'line 2: an ATR has 2 to 33 bytes, not 1', 14],
    ['@trace 1\n@protocol T=2\n', 'line 2: protocol must be T=0 or T=1', 19],
    ['@trace 1\n@colour red\n', 'line 2: unknown header @colour', 9],
    ['@trace 1\n@reader a\n@reader b\n', 'line 3: @reader given twice', 19],
    [
      '@trace 1\n> 00 A4 04 00\n< 90 00\n@reader late\n',
      'line 4: header lines (@...) come before the first event',
      31,
    ],
    [
      '@trace 1\n> 00 A4 04 00\n< 90 00\n~< 90 01\n',
      'line 4: the ~< mask does not fit the recorded response',
      31,
    ],
    ['@trace 1\n> 00 A4 04 00\n< 90 00\n~< 9X 00\n', "line 4: not a hex byte, '..' or '*': \"9X\"", 34],
    ['@trace 1\n@mask-response 00 84 * * => 90 00\n', 'line 2: a pattern may hold only one *', 32],
    ['@trace 1\n! reboot\n', 'line 2: unknown event ! reboot', 9],
    ['@trace 1\nhello\n', 'line 2: a line starts with #, @, >, <, ~>, ~< or !, not "h"', 9],
  ])('rejects %j: %s', (text, reason, offset) => {
    const e = errorOf(text);
    expect(e.kind).toBe('trace');
    expect(e.reason.startsWith(reason)).toBe(true);
    expect(e.offset).toBe(offset);
  });

  it('refuses lines and files past its limits', () => {
    const long = `@trace 1\n> 00 A4 04 00\n< ${'00 '.repeat(100_000)}90 00\n`;
    expect(errorOf(long).reason).toContain('line longer than');
  });
});

describe('BytePattern', () => {
  it('matches fixed and variable lengths', () => {
    const p = BytePattern.parse('.. 84 00 00 ..');
    expect(p.matches(fromHex('00840000 08'))).toBe(true);
    expect(p.matches(fromHex('80840000 08'))).toBe(true);
    expect(p.matches(fromHex('00840001 08'))).toBe(false);
    expect(p.matches(fromHex('00840000'))).toBe(false);
    const q = BytePattern.parse('* | 90 00');
    expect(q.matches(fromHex('9000'))).toBe(true);
    expect(q.matches(fromHex('0102039000'))).toBe(true);
    expect(q.matches(fromHex('6A82'))).toBe(false);
    expect(q.dontCare(fromHex('01029000'))).toEqual([true, true, false, false]);
    expect(BytePattern.parse('6F .... * 9000').toString()).toBe('6F .. .. * 90 00');
  });

  it('GET CHALLENGE rule accepts any challenge with 9000 only', () => {
    const r = GET_CHALLENGE_RULE;
    expect(r.command.matches(fromHex('0084000008'))).toBe(true);
    expect(r.response!.matches(fromHex('11223344556677889000'))).toBe(true);
    expect(r.response!.matches(fromHex('6985'))).toBe(false);
  });
});

describe('trace parser fuzz', () => {
  it('10,000 mutated traces parse or throw MalformedDataError only', () => {
    const base = Trace.parse(SAMPLE).format();
    const alphabet = '0123456789ABCDEFabcdef .|*#@<>~!;=+-:\n\r\tTtx';
    const mutation = fc.oneof(
      fc.record({ op: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ op: fc.constant('flip' as const), at: fc.nat(), ch: fc.constantFrom(...alphabet) }),
      fc.record({ op: fc.constant('insert' as const), at: fc.nat(), s: fc.string({ maxLength: 8 }) }),
      fc.record({ op: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 20 }) }),
      fc.record({ op: fc.constant('dup' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 60 }) }),
    );
    let parsed = 0;
    let rejected = 0;
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => {
        let t = base;
        for (const m of ms) {
          const at = m.at % (t.length + 1);
          if (m.op === 'cut') t = t.slice(0, at);
          else if (m.op === 'flip') t = t.slice(0, at) + m.ch + t.slice(at + 1);
          else if (m.op === 'insert') t = t.slice(0, at) + m.s + t.slice(at);
          else if (m.op === 'delete') t = t.slice(0, at) + t.slice(at + m.n);
          else t = t.slice(0, at) + t.slice(at, at + m.n) + t.slice(at);
        }
        try {
          const tr = Trace.parse(t);
          // Whatever parses formats to text that parses again to the same events.
          expect(Trace.parse(tr.format()).events.length).toBe(tr.events.length);
          parsed++;
        } catch (e) {
          if (!(e instanceof MalformedDataError)) throw e;
          expect(e.kind).toBe('trace');
          expect(e.offset).toBeGreaterThanOrEqual(0);
          expect(e.offset).toBeLessThanOrEqual(t.length);
          rejected++;
        }
      }),
      { numRuns: 10_000, seed: 5 },
    );
    expect(parsed + rejected).toBe(10_000);
    expect(parsed).toBeGreaterThan(100);
    expect(rejected).toBeGreaterThan(100);
  });
});

describe('truncation', () => {
  it('a trace cut anywhere inside a line is refused', () => {
    const text = Trace.parse(SAMPLE).format();
    for (let cut = 1; cut < text.length; cut++) {
      if (text[cut - 1] === '\n') continue;
      const e = errorOf(text.slice(0, cut));
      expect(e.offset).toBeLessThanOrEqual(cut);
    }
  });
});

describe('recording fast path', () => {
  it('exchangeLines and ms() write exactly what formatEvent writes', async () => {
    const { exchangeLines, formatEvent, ms } = await import('../../reader/trace/Trace.js');
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 4, maxLength: 40 }),
        fc.uint8Array({ minLength: 2, maxLength: 300 }),
        fc.double({ min: 0, max: 1e7, noNaN: true }),
        (command, response, t) => {
          const lines = formatEvent({ type: 'exchange', command, response, comments: [], line: 0 }, false);
          expect(exchangeLines(command, response)).toBe(lines.join('\n'));
          expect(ms(t)).toBe(`${Math.round(t * 1000) / 1000}ms`);
        },
      ),
      { numRuns: 2000, seed: 7 },
    );
  });
});

describe('format of values built in memory', () => {
  it('line ends in names, notes, comments and errors cannot break the format', () => {
    const t = new Trace(
      { reader: 'Evil\n> 00 A4 04 00', tool: 'x\r\ny', notes: ['one\ntwo'], extra: { k: 'a\nb' } },
      [
        {
          type: 'exchange',
          command: Uint8Array.of(0, 0xb0, 0, 0),
          error: 'boom; d=1ms\n< 90 00',
          comments: ['c1\nc2'],
          line: 0,
        },
      ],
    );
    const back = Trace.parse(t.format());
    expect(back.header.reader).toBe('Evil > 00 A4 04 00');
    expect(back.header.notes).toEqual(['one', 'two']);
    expect(back.events).toHaveLength(1);
    expect(back.exchanges[0]!.comments).toEqual(['c1', 'c2']);
    expect(back.exchanges[0]!.error).toBe('boom  d=1ms < 90 00');
    expect(() => new Trace({ extra: { 'bad key': 'v' } }, [])).toThrow(TypeError);
  });
});
