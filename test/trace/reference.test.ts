import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCard } from '../../card/os/CardProfiles.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import { ReplayChannel, Trace, replayTrace } from '../../reader/trace/index.js';
import { SESSIONS, recordSession } from '../../apdu-traces/sessions.js';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';

const DIR = join(import.meta.dirname, '../../apdu-traces');
// The single-card reference traces; the multi-channel cmd-*.trace and flow-*.trace are tested in golden.test.ts.
const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith('.trace') && !f.startsWith('flow-') && !f.startsWith('cmd-'))
  .sort();

describe('committed reference traces (apdu-traces/)', () => {
  it('there is one per session and one session per file', () => {
    expect(FILES).toEqual(SESSIONS.map((s) => `${s.name}.trace`).sort());
  });

  for (const f of FILES) {
    const text = readFileSync(join(DIR, f), 'utf8');

    it(`${f} replays clean against a fresh in-process card of its profile`, async () => {
      const trace = Trace.parse(text);
      const profile = trace.header.extra['profile'];
      expect(profile).toBeTruthy();
      // No seeded RNG here: the challenge differs from the recorded one and only the mask lets it pass.
      const reader = new VirtualReader('reference', buildCard(profile!));
      const report = await replayTrace(trace, await reader.connect());
      expect(report.differences).toEqual([]);
      expect(report.aborted).toBeUndefined();
      expect(report.ok).toBe(true);
      expect(report.exchanges).toBe(trace.exchanges.length);
    });

    it(`${f} is what recording its session gives today (no silent drift)`, async () => {
      const session = SESSIONS.find((s) => `${s.name}.trace` === f)!;
      expect(await recordSession(session)).toBe(text);
    });

    it(`${f} plays back through a strict ReplayChannel`, async () => {
      const trace = Trace.parse(text);
      const ch = new ReplayChannel(trace);
      for (const e of trace.events) {
        if (e.type === 'reset') expect(await ch.reset()).toEqual(e.atr);
        else if (e.type === 'exchange')
          expect((await ch.transmit(CommandApdu.decode(e.command))).encode()).toEqual(e.response);
      }
      expect(ch.remaining).toBe(0);
    });
  }
});
