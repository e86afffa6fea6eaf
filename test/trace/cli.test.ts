import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import type { Io } from '../../cli/Command.js';
import { createCardFile, openCardFile } from '../../cli/cardfile/index.js';
import { buildCard } from '../../card/os/CardProfiles.js';
import { Trace } from '../../reader/trace/index.js';

const dir = mkdtempSync(join(tmpdir(), 'mp-trace-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const REF = join(import.meta.dirname, '../../apdu-traces/iso-fs-basic.trace');
const VECTORS = join(import.meta.dirname, '../vectors/trace');

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => (out += t), err: (t) => (err += t) };
  const code = await main(argv, io);
  return { code, out, err };
}

function cardFile(name: string): string {
  const path = join(dir, name);
  createCardFile(path, buildCard('iso-fs'));
  return path;
}

describe('meterpurse trace replay', () => {
  it('exit 0 when the card answers as recorded (profile and card file)', async () => {
    const r = await run('trace', 'replay', REF, '--profile', 'iso-fs');
    expect(r.code).toBe(0);
    expect(r.out).toContain('19 exchanges, 1 resets: 18 identical, 1 equal under masks, 0 different — OK');
    const f = cardFile('a.card');
    expect((await run('trace', 'replay', REF, '--card', f)).code).toBe(0);
  });

  it('exit 1 listing each difference with the differing bytes marked; --json has the same', async () => {
    const changed = join(dir, 'changed.trace');
    writeFileSync(
      changed,
      readFileSync(REF, 'utf8').replace(
        '< 4D 50 00 00 00 00 00 01 | 90 00',
        '< 4D 50 00 00 00 00 00 02 | 90 00',
      ),
    );
    const r = await run('trace', 'replay', changed, '--profile', 'iso-fs');
    expect(r.code).toBe(1);
    expect(r.out).toContain('#3 (line 19) 00 B0 00 00 08');
    expect(r.out).toContain('  expected: 4D 50 00 00 00 00 00 [02] | 90 00');
    expect(r.out).toContain('  actual:   4D 50 00 00 00 00 00 [01] | 90 00');
    const j = await run('trace', 'replay', changed, '--profile', 'iso-fs', '--json');
    expect(j.code).toBe(1);
    const report = JSON.parse(j.out) as {
      ok: boolean;
      differences: { index: number; marked: { offsets: number[] } }[];
    };
    expect(report.ok).toBe(false);
    expect(report.differences.map((d) => [d.index, d.marked.offsets])).toEqual([[3, [7]]]);
  });

  it('--save keeps what the replay changed in the card file; without it the file is untouched', async () => {
    const f = cardFile('b.card');
    const before = readFileSync(f);
    expect((await run('trace', 'replay', REF, '--card', f)).code).toBe(0);
    expect(readFileSync(f).equals(before)).toBe(true);
    expect((await run('trace', 'replay', REF, '--card', f, '--save')).code).toBe(0);
    expect(readFileSync(f).equals(before)).toBe(false);
    // The saved card now holds DE AD BE EF at the start of EF 5001: the same trace differs at once.
    const r = await run('trace', 'replay', REF, '--card', f);
    expect(r.code).toBe(1);
    expect(r.out).toContain('#7 (line 31) 00 B0 00 00 20');
  });

  it.each([
    [['trace', 'replay', join(dir, 'missing.trace'), '--profile', 'iso-fs'], /cannot read trace .*ENOENT/],
    [['trace', 'replay', REF, '--card', join(dir, 'missing.card')], /cannot open card file .*ENOENT/],
    [
      ['trace', 'replay', REF, '--profile', 'no-such-profile'],
      /cannot build a card of profile 'no-such-profile'/,
    ],
    [['trace', 'replay', REF], /give exactly one of --card/],
    [['trace', 'replay', REF, '--profile', 'iso-fs', '--card', 'x'], /give exactly one of --card/],
    [
      ['trace', 'replay', REF, '--reader', 'No Such Reader 00 00'],
      /PC\/SC is not available|reader 'No Such Reader 00 00'/,
    ],
    [['trace', 'replay', REF, '--profile', 'iso-fs', '--bogus'], /unknown option --bogus/],
    [['trace', 'frobnicate'], /want one of replay, record, import, export, check/],
  ])('bad input %j: exit 2 with a clear message', async (argv, message) => {
    const r = await run(...argv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });

  it('a truncated or corrupt trace: exit 2 naming the file and line', async () => {
    const text = readFileSync(REF, 'utf8');
    const cut = join(dir, 'cut.trace');
    writeFileSync(cut, text.slice(0, text.indexOf('< 61 12') + 10));
    let r = await run('trace', 'replay', cut, '--profile', 'iso-fs');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /cut\.trace: malformed trace at offset \d+: line 23: the last line has no line end \(truncated trace\?\)/,
    );
    const corrupt = join(dir, 'corrupt.trace');
    writeFileSync(corrupt, text.replace('> 00 B0 00 00 08', '> 00 B0 0Z 00 08'));
    r = await run('trace', 'replay', corrupt, '--profile', 'iso-fs');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/line 19: command: not a hex byte: "0Z"/);
    const empty = join(dir, 'empty.trace');
    writeFileSync(empty, '@trace 1\n');
    r = await run('trace', 'replay', empty, '--profile', 'iso-fs');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/holds no exchange/);
  });
});

describe('meterpurse trace record / export / import / check', () => {
  it('records a scriptor script against a card file into a trace that replays clean', async () => {
    const script = join(dir, 's.script');
    writeFileSync(
      script,
      '# read the serial number\n00 A4 02 0C 02 2F 02\n00B0000008\nreset\n00 84 00 00 08\n',
    );
    const out = join(dir, 'rec.trace');
    const f = cardFile('c.card');
    const r = await run('trace', 'record', '--card', f, '--out', out, '--comment', 'lab run 7', script);
    expect(r.code).toBe(0);
    expect(r.out).toContain('< 4D 50 00 00 00 00 00 01 | 90 00');
    const t = Trace.parse(readFileSync(out, 'utf8'));
    expect(t.header.tool).toBe('meterpurse trace record');
    expect(t.header.notes).toEqual([' lab run 7']);
    expect(t.exchanges).toHaveLength(3);
    expect(t.exchanges[0]!.comments).toEqual([' read the serial number']);
    expect(t.events.map((e) => e.type)).toEqual(['exchange', 'exchange', 'reset', 'exchange', 'disconnect']);
    expect(t.exchanges.every((e) => typeof e.durationMs === 'number')).toBe(true);
    expect((await run('trace', 'replay', out, '--profile', 'iso-fs')).code).toBe(0);
  });

  it('records APDUs given after --, and --save persists the card', async () => {
    const out = join(dir, 'rec2.trace');
    const f = cardFile('d.card');
    const r = await run(
      'trace',
      'record',
      '--card',
      f,
      '--out',
      out,
      '--save',
      '--no-timing',
      '--',
      '00A4040C08A000000999010203',
      '00A4020C025001',
      '002000810831323334FFFFFFFF',
      '00D6000002CAFE',
    );
    expect(r.code).toBe(0);
    const text = readFileSync(out, 'utf8');
    expect(text).not.toMatch(/d=|@start/);
    expect(Trace.parse(text).exchanges.map((e) => e.response![e.response!.length - 2])).toEqual([
      0x90, 0x90, 0x90, 0x90,
    ]);
    const card = openCardFile(f).card;
    card.powerUp();
    const read = (hex: string) =>
      Buffer.from(card.transmit(Buffer.from(hex, 'hex')))
        .toString('hex')
        .toUpperCase();
    read('00A4040C08A000000999010203');
    read('00A4020C025001');
    expect(read('00B0000002')).toBe('CAFE9000');
  });

  it('record: bad input exits 2', async () => {
    expect((await run('trace', 'record', '--profile', 'iso-fs', '--', '00A4')).code).toBe(2);
    expect(
      (await run('trace', 'record', '--profile', 'iso-fs', '--out', join(dir, 'x.trace'), '--', '00A4')).err,
    ).toMatch(/APDU 1/);
    expect(
      (
        await run(
          'trace',
          'record',
          '--profile',
          'iso-fs',
          '--out',
          join(dir, 'no/dir/x.trace'),
          '--',
          '00A4040000',
        )
      ).err,
    ).toMatch(/cannot write/);
  });

  it('export --scriptor writes the script; import --scriptor-output and --pcsc-spy write traces', async () => {
    const e = await run('trace', 'export', REF, '--scriptor');
    expect(e.code).toBe(0);
    expect(e.out).toBe(readFileSync(join(VECTORS, 'scriptor-iso-fs-basic.script'), 'utf8'));
    const out = join(dir, 'imported.trace');
    expect(
      (
        await run(
          'trace',
          'import',
          '--scriptor-output',
          join(VECTORS, 'scriptor-output-iso-fs-basic.txt'),
          '--out',
          out,
        )
      ).code,
    ).toBe(0);
    expect(Trace.parse(readFileSync(out, 'utf8')).exchanges).toHaveLength(19);
    const spy = await run('trace', 'import', '--pcsc-spy', join(VECTORS, 'pcsc-spy-iso-fs-basic.log'));
    expect(spy.code).toBe(0);
    expect(Trace.parse(spy.out).header.reader).toBe('Gemalto PC Twin Reader 00 00');
    const bad = await run('trace', 'import', '--pcsc-spy', REF);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/not a pcsc-spy log/);
  });

  it('check summarises a well-formed trace', async () => {
    const r = await run('trace', 'check', REF, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({
      exchanges: 19,
      resets: 1,
      rules: 1,
      protocol: 'T=1',
      ended: true,
    });
    const text = readFileSync(REF, 'utf8');
    const cut = join(dir, 'cut-between.trace');
    writeFileSync(cut, text.slice(0, text.indexOf('! reset')));
    const c = await run('trace', 'check', cut);
    expect(c.code).toBe(0);
    expect(c.out).toMatch(/no final ! disconnect/);
  });
});

describe('recording a meterpurse command (MP_TRACE_RECORD hook)', () => {
  it('trace record -- trace replay: records the card’s actual answers', async () => {
    const out = join(dir, 'actual.trace');
    const r = await run('trace', 'record', '--out', out, '--', 'trace', 'replay', REF, '--profile', 'iso-fs');
    expect(r.code).toBe(0);
    expect(r.err).toContain(`1 channel(s) recorded to ${out}`);
    const actual = Trace.parse(readFileSync(out, 'utf8'));
    const ref = Trace.parse(readFileSync(REF, 'utf8'));
    expect(actual.header.tool).toBe(`meterpurse trace replay ${REF} --profile iso-fs`);
    expect(actual.exchanges.map((e) => e.command)).toEqual(ref.exchanges.map((e) => e.command));
    // All answers equal but the fresh challenge.
    const differing = actual.exchanges.filter(
      (e, i) => Buffer.compare(e.response!, ref.exchanges[i]!.response!) !== 0,
    );
    expect(differing.map((e) => e.command[1])).toEqual([0x84]);
    expect(process.env.MP_TRACE_RECORD).toBeUndefined();
  });

  it('a command that opens no channel through the hook: exit 2 saying nothing was recorded', async () => {
    const r = await run('trace', 'record', '--out', join(dir, 'none.trace'), '--', 'apdu', '00A4040000');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/opened no card channel/);
    const s = await run(
      'trace',
      'record',
      '--out',
      join(dir, 'n.trace'),
      '--card',
      'x',
      '--',
      'apdu',
      '00A4040000',
    );
    expect(s.code).toBe(2);
  });

  it('recordIfAsked wraps only when asked; every channel goes into one version 2 trace', async () => {
    const { recordIfAsked, closeRecording } = await import('../../reader/trace/index.js');
    const { VirtualReader } = await import('../../reader/VirtualReader.js');
    const ch = await new VirtualReader('v', buildCard('iso-fs')).connect();
    expect(recordIfAsked(ch, {}, {})).toBe(ch);
    const base = join(dir, 'hook.trace');
    const a = recordIfAsked(ch, {}, { MP_TRACE_RECORD: base });
    expect(recordIfAsked(a, {}, { MP_TRACE_RECORD: base })).toBe(a);
    const b = recordIfAsked(
      await new VirtualReader('w', buildCard('iso-fs')).connect(),
      {},
      { MP_TRACE_RECORD: base },
    );
    expect(a).not.toBe(ch);
    await a.disconnect();
    await b.disconnect();
    expect(await closeRecording(base)).toBe(2);
    const t = Trace.parse(readFileSync(base, 'utf8'));
    expect(t.header.version).toBe(2);
    expect(t.header.channels.map((c) => [c.id, c.reader])).toEqual([
      ['v', 'v'],
      ['w', 'w'],
    ]);
  });
});

describe('replay details', () => {
  it('a card of another profile: the ATR at connection is the first difference', async () => {
    const r = await run('trace', 'replay', REF, '--profile', 'iso-fs-t0', '--json');
    expect(r.code).toBe(1);
    const rep = JSON.parse(r.out) as { differences: { index: number; kind: string; command: string }[] };
    expect(rep.differences[0]).toMatchObject({ index: 0, kind: 'atr', command: 'connect' });
  });

  it('--raw turns the transport rules off: a T=0 case 4 then answers 61xx, unlike the recording', async () => {
    const t0 = join(import.meta.dirname, '../../apdu-traces/iso-fs-t0.trace');
    expect((await run('trace', 'replay', t0, '--profile', 'iso-fs-t0')).code).toBe(0);
    const r = await run('trace', 'replay', t0, '--profile', 'iso-fs-t0', '--raw');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      /#1 \(line \d+\) 00 A4 04 00 08 A0 00 00 09 99 01 02 03 00\n {2}expected: .*\n {2}actual: {3}\[61\] \[16\]/,
    );
  });
});
