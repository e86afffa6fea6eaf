import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { runDemo } from '../../cli/demo/story.js';
import { main } from '../../cli/main.js';

describe('meterpurse demo (npm start)', () => {
  it('tells the whole story and the books balance: value issued = card + SVMs + drawn by the meters', async () => {
    const lines: string[] = [];
    const r = await runDemo({ seed: 'test', days: 14 }, (l) => lines.push(l));
    // Independent sum of the parts the story reports.
    expect(r.onCard + r.inSvms + r.consumed + r.inMeters).toBe(r.issued);
    expect(r.balanced).toBe(true);
    expect(r.ledgerBalanced).toBe(true);
    // The household ran out of card credit, so the host sold credit over the power line once.
    expect(r.hostCredits).toBe(1);
    expect(r.issued).toBe(3000 + 1500 + 2000);
    expect(r.electricity.tokenRequests).toBeGreaterThan(10);
    expect(r.electricity.cutoffs).toBeGreaterThan(0);
    // The card carries the electricity meter's readings back (seed 002).
    const md = r.cardMeterData[0]!;
    expect(md).not.toBeNull();
    expect(md.meterId).toBe('000123');
    expect(md.cumulative).toBe(r.electricity.energyWh);
    expect((md.lastTransfer as { kind: number }).kind).toBe(2); // the host's value store
    // The gas meter took the gas purse and closed its valve when it was spent.
    expect(r.gas.valveClosed).toBe(true);
    expect(r.gas.volumeL).toBeGreaterThan(0);
    expect(lines.join('\n')).toMatch(/not credited twice/);
    expect(existsSync(r.dbPath)).toBe(false); // temporary folder removed
  });

  it('is deterministic for a seed (apart from the port and the folder)', async () => {
    const norm = (ls: string[]) => ls.filter((l) => !/SQLite|HTTP API/.test(l)).join('\n');
    const a: string[] = [];
    const b: string[] = [];
    await runDemo({ seed: 'same', days: 3 }, (l) => a.push(l));
    await runDemo({ seed: 'same', days: 3 }, (l) => b.push(l));
    expect(norm(a)).toBe(norm(b));
  });

  it('the command prints JSON with --json and refuses a bad --days', async () => {
    let out = '';
    let err = '';
    const io = { out: (t: string) => void (out += t), err: (t: string) => void (err += t) };
    expect(await main(['demo', '--days', '2', '--json'], io)).toBe(0);
    const j = JSON.parse(out) as { balanced: boolean; story: string[] };
    expect(j.balanced).toBe(true);
    expect(j.story.length).toBeGreaterThan(20);
    expect(await main(['demo', '--days', '0'], io)).toBe(2);
    expect(err).toMatch(/--days must be an integer 1\.\.366/);
  });
});
