import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { toHex } from '../../card/util/hex.js';
import { buildCard } from '../../card/os/CardProfiles.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import {
  GET_CHALLENGE_RULE,
  Trace,
  exportScriptorScript,
  importPcscSpy,
  importScriptorOutput,
  parseScriptorScript,
  replayTrace,
  stepsOf,
} from '../../reader/trace/index.js';

const VECTORS = join(import.meta.dirname, '../vectors/trace');
const REFERENCE = Trace.parse(
  readFileSync(join(import.meta.dirname, '../../apdu-traces/iso-fs-basic.trace'), 'utf8'),
);
const vector = (f: string) => readFileSync(join(VECTORS, f), 'utf8');
const pairs = (t: Trace) =>
  t.exchanges.map((e) => `${toHex(e.command)}>${e.response ? toHex(e.response) : 'error'}`);

function malformed(f: () => unknown): MalformedDataError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MalformedDataError);
    return e as MalformedDataError;
  }
  throw new Error('no error');
}

describe('pcsc-spy import', () => {
  const log = vector('pcsc-spy-iso-fs-basic.log');

  it('reads reader, protocol, ATR, every SCardTransmit, the reconnect and a failed call', () => {
    const t = importPcscSpy(log);
    expect(t.header.reader).toBe('Gemalto PC Twin Reader 00 00');
    expect(t.header.protocol).toBe('T=1');
    expect(toHex(t.header.atr!)).toBe(toHex(REFERENCE.header.atr!));
    expect(t.events.map((e) => e.type).join(',')).toBe(
      [...REFERENCE.events.slice(0, -1).map((e) => e.type), 'exchange', 'disconnect'].join(','),
    );
    expect(pairs(t).slice(0, -1)).toEqual(pairs(REFERENCE));
    const last = t.exchanges.at(-1)!;
    expect(toHex(last.command)).toBe('00B0000008');
    expect(last.error).toBe('Card was removed. (SCARD_W_REMOVED_CARD [0x80100069])');
    expect(t.exchanges[0]!.durationMs).toBe(0.15);
    expect(last.durationMs).toBe(0.9);
  });

  it('the imported session replays clean on a fresh card, but for the call that failed', async () => {
    const t = importPcscSpy(log);
    const reader = new VirtualReader('r', buildCard('iso-fs'));
    const report = await replayTrace(t, await reader.connect(), { rules: [GET_CHALLENGE_RULE] });
    expect(report.masked).toBe(1);
    expect(report.differences).toHaveLength(1);
    expect(report.differences[0]).toMatchObject({ index: 20, kind: 'error' });
    expect(report.differences[0]!.expected).toBe(
      'error: Card was removed. (SCARD_W_REMOVED_CARD [0x80100069])',
    );
    expect(report.differences[0]!.actual).toMatch(/^[0-9A-F]{2} [0-9A-F]{2}/);
  });

  it('copes with colours, thread tags, pbSendBuffer names and no length lines', () => {
    const coloured = [
      '\x1b[34mSCardTransmit\x1b[0m',
      ' (t1) \x1b[32m i pbSendBuffer\x1b[0m',
      ` (t1) \x1b[32m i  0000 ${'00 A4 04 00 02 41 42'.padEnd(47)} .....AB\x1b[0m`,
      ' (t1) \x1b[35m o pbRecvBuffer\x1b[0m',
      ` (t1) \x1b[35m o  0000 ${'90 00'.padEnd(47)} ..\x1b[0m`,
      ' (t1)  => Command successful. (SCARD_S_SUCCESS [0x00000000])  [0.000123]',
      '',
    ].join('\n');
    const t = importPcscSpy(coloured);
    expect(pairs(t)).toEqual(['00A40400024142>9000']);
    expect(t.exchanges[0]!.durationMs).toBe(0.123);
  });

  it('rejects what is not a pcsc-spy log, and damaged dumps, with the line', () => {
    expect(malformed(() => importPcscSpy('hello\nworld\n')).kind).toBe('pcsc-spy');
    const cut = log.replace(/ i {2}0000 00 B0 00 00 08 [^\n]*\n/, '');
    const e = malformed(() => importPcscSpy(cut));
    expect(e.reason).toMatch(/^line \d+: buffer holds 0 bytes, its length says 5/);
    const badHex = log.replace(' o  0000 90 00 ', ' o  0000 9G 00 ');
    expect(malformed(() => importPcscSpy(badHex)).reason).toMatch(/not a hex byte in the dump: "9G"/);
  });
});

describe('scriptor', () => {
  it('export: every command, reset and expected answer, and nothing scriptor would obey in a comment', () => {
    const text = exportScriptorScript(
      new Trace(REFERENCE.header, [
        { ...REFERENCE.events[0]!, comments: [' exit now, then RESET'] },
        ...REFERENCE.events.slice(1),
      ]),
    );
    expect(text).toContain('# ex-it now, then re-set');
    for (const line of text.split('\n')) if (line.startsWith('#')) expect(line).not.toMatch(/exit|reset/i);
    const steps = parseScriptorScript(text);
    expect(steps.map((s) => (s.type === 'reset' ? 'reset' : toHex(s.command)))).toEqual(
      stepsOf(REFERENCE).map((s) => (s.type === 'reset' ? 'reset' : toHex(s.command))),
    );
    expect(vector('scriptor-iso-fs-basic.script')).toBe(exportScriptorScript(REFERENCE));
  });

  it('script parsing follows scriptor: exit anywhere, # at column 0, compact hex, \\ continuation, reset', () => {
    const script = [
      '# comment',
      '00A4040002',
      '',
      '00 B0 00 \\',
      '00 10',
      'Reset',
      '# a comment saying exit ends it',
      '00 B0 00 00 01',
    ];
    const steps = parseScriptorScript(script.join('\n'));
    expect(steps.map((s) => (s.type === 'reset' ? 'reset' : toHex(s.command)))).toEqual([
      '00A4040002',
      '00B0000010',
      'reset',
    ]);
    expect(steps[0]!.comments).toEqual([' comment']);
    expect(steps[1]!.line).toBe(4);
  });

  it('output import: the real scriptor run against our served card replays clean in process', async () => {
    const t = importScriptorOutput(vector('scriptor-output-iso-fs-basic.txt'));
    expect(t.header.protocol).toBe('T=1');
    expect(t.events.filter((e) => e.type === 'reset')).toHaveLength(1);
    expect(t.exchanges).toHaveLength(REFERENCE.exchanges.length);
    const reader = new VirtualReader('r', buildCard('iso-fs'));
    const report = await replayTrace(t, await reader.connect(), { rules: [GET_CHALLENGE_RULE] });
    expect(report.differences).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('output import rejects a command without answer and a cut response', () => {
    expect(malformed(() => importScriptorOutput('> 00 A4 04 00\n')).reason).toBe(
      'line 1: the last command has no response',
    );
    expect(malformed(() => importScriptorOutput('> 00 B0 00 00 20\n< 01 02 03\n')).reason).toMatch(
      /cut short/,
    );
    expect(malformed(() => importScriptorOutput('< 90 00 : Normal processing.\n')).reason).toBe(
      'line 1: a response without a command',
    );
    expect(malformed(() => parseScriptorScript('00 A4 0\n')).kind).toBe('scriptor');
    expect(malformed(() => parseScriptorScript('00 B0 \\\n')).reason).toMatch(/continues/);
    expect(malformed(() => parseScriptorScript('00 ZZ 00 00\n')).reason).toMatch(/^line 1: not a hex byte/);
  });
});

describe('importer fuzz', () => {
  it('mutated pcsc-spy logs and scriptor outputs/scripts give a trace or MalformedDataError only', async () => {
    const fc = (await import('fast-check')).default;
    const inputs: [string, (t: string) => unknown][] = [
      [vector('pcsc-spy-iso-fs-basic.log').slice(0, 6000), importPcscSpy],
      [vector('scriptor-output-iso-fs-basic.txt'), importScriptorOutput],
      [vector('scriptor-iso-fs-basic.script'), parseScriptorScript],
    ];
    for (const [base, parse] of inputs) {
      fc.assert(
        fc.property(
          fc.array(fc.record({ at: fc.nat(), cut: fc.nat({ max: 12 }), ins: fc.string({ maxLength: 6 }) }), {
            minLength: 1,
            maxLength: 3,
          }),
          (ms) => {
            let t = base;
            for (const m of ms) {
              const at = m.at % (t.length + 1);
              t = t.slice(0, at) + m.ins + t.slice(at + m.cut);
            }
            try {
              parse(t);
            } catch (e) {
              if (!(e instanceof MalformedDataError)) throw e;
            }
          },
        ),
        { numRuns: 1500, seed: 11 },
      );
    }
  });
});
