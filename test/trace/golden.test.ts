import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Trace, ReplayChannel, replayTrace } from '../../reader/trace/index.js';
import {
  FLOWS,
  FLOW_READERS,
  flowChannels,
  recordFlow,
  worldChannels,
  type ChipName,
} from '../../apdu-traces/flows.js';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import type { DeviceName } from '../applets/specExamples.js';

const DIR = join(import.meta.dirname, '../../apdu-traces');

describe('golden multi-channel traces of every command and flow (apdu-traces/cmd-*.trace, flow-*.trace, format version 2)', () => {
  for (const f of FLOWS) {
    const text = readFileSync(join(DIR, `${f.name}.trace`), 'utf8');

    it(`${f.name}: recording the flow today gives the committed text byte for byte`, async () => {
      expect(await recordFlow(f)).toBe(text);
    });

    it(`${f.name}: replays byte for byte (challenges and cryptograms too) against a fresh deterministic world`, async () => {
      const trace = Trace.parse(text);
      expect(trace.header.version).toBe(2);
      expect(trace.header.channels.map((c) => c.id)).toEqual(f.devices);
      const channels = await flowChannels(f);
      const opened: string[] = [];
      const report = await replayTrace(trace, (c) => {
        opened.push(c.id);
        expect(c.reader).toBe(FLOW_READERS[c.id as ChipName]);
        return channels[c.id as ChipName]!;
      });
      expect(opened).toEqual(f.devices);
      expect(report.differences).toEqual([]);
      expect(report.masked).toBe(0); // nothing passed only thanks to the GET CHALLENGE mask
      expect(report.ok).toBe(true);
      expect(report.exchanges).toBe(trace.exchanges.length);
    });

    it(`${f.name}: each channel plays back through its own strict ReplayChannel`, async () => {
      const trace = Trace.parse(text);
      for (const c of trace.header.channels) {
        const ch = new ReplayChannel(trace, { channel: c.id });
        expect(ch.readerName).toBe(c.reader);
        for (const e of trace.channel(c.id).events) {
          if (e.type === 'reset') expect(await ch.reset()).toEqual(e.atr);
          else if (e.type === 'exchange')
            expect((await ch.transmit(CommandApdu.decode(e.command))).encode()).toEqual(e.response);
        }
        expect(ch.remaining).toBe(0);
      }
    });
  }

  it('a non-deterministic card fails the authenticated session: MUTUAL AUTHENTICATE is refused', async () => {
    const trace = Trace.parse(readFileSync(join(DIR, 'flow-mutual-auth.trace'), 'utf8'));
    const { specWorld } = await import('../applets/specExamples.js');
    const { SystemRng } = await import('../../card/crypto/rng.js');
    const { makeSubscriberCard, defaultPurses } = await import('../../card/applets/profiles.js');
    const { VirtualReader } = await import('../../reader/VirtualReader.js');
    const { CSN } = await import('../transfer/world.js');
    const w = specWorld();
    const card = makeSubscriberCard(w.issuer, {
      csn: CSN,
      purses: defaultPurses(10_000),
      rng: new SystemRng(),
    });
    const channels = await worldChannels(w);
    const report = await replayTrace(trace, async (c) =>
      c.id === 'card' ? new VirtualReader('card slot', card.os).connect() : channels[c.id as DeviceName],
    );
    expect(report.ok).toBe(false);
    expect(report.differences.some((d) => d.channel === 'card' || d.channel === 'sam')).toBe(true);
  });
});

describe('format version 2', () => {
  it('a v1 trace is still read, and a v2 trace refuses unlabelled events and undeclared channels', () => {
    expect(Trace.parse('@trace 1\n> 00 A4 04 00\n< 90 00\n').header.version).toBe(1);
    const ok = Trace.parse(
      '@trace 2\n@channel a "R 1" T=1 3B 00\na > 00 A4 04 00\na < 90 00\n@channel b\nb ! reset 3B 00\n',
    );
    expect(ok.header.channels.map((c) => [c.id, c.at])).toEqual([
      ['a', 0],
      ['b', 1],
    ]);
    expect(ok.format()).toBe(
      '# meterpurse APDU trace — format: docs/trace-format.md\n@trace 2\n@channel a "R 1" T=1 3B 00\n\na > 00 A4 04 00\na < 90 00\n@channel b\nb ! reset 3B 00\n',
    );
    expect(() => Trace.parse('@trace 2\n@channel a\n> 00 A4 04 00\n< 90 00\n')).toThrow(
      /every event line starts with its channel/,
    );
    expect(() => Trace.parse('@trace 2\nz > 00 A4 04 00\nz < 90 00\n')).toThrow(/channel z is not declared/);
    expect(() => Trace.parse('@trace 2\n@channel a\n@channel b\na > 00 A4 04 00\nb < 90 00\n')).toThrow(
      /labelled b, its command a/,
    );
    expect(() => Trace.parse('@trace 3\n')).toThrow(/unsupported trace version/);
  });
});
