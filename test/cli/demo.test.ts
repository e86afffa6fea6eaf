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

  it('a month without more credit: repeated cut-offs told once, what is owed explained, one energy figure', async () => {
    const lines: string[] = [];
    const r = await runDemo({ seed: 'test', days: 30 }, (l) => lines.push(l));
    expect(r.balanced).toBe(true);
    // The net credit in the meters is what is left minus what the household owes them.
    expect(r.creditLeft - r.owed).toBe(r.inMeters);
    expect(r.owed).toBeGreaterThan(0);
    expect(r.onCard + r.inSvms + r.consumed + r.creditLeft - r.owed).toBe(r.issued);
    const text = lines.join('\n');
    // Each morning's cut-off after the friendly night is one run, said once with its count.
    const single = lines.filter((l) =>
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d credit exhausted: relay open$/.test(l),
    );
    const run =
      /^(\S+ \S+) … (\S+ \S+) credit exhausted: relay open — (\d+) more times, every day at 07:00 \(no credit was bought after it: the friendly hours, 22:00–07:00/m.exec(
        text,
      );
    expect(run).not.toBeNull();
    expect(single.length).toBeLessThan(6);
    const cutoffs = Number(/cut-offs (\d+), minutes off/.exec(text)![1]);
    expect(single.length + Number(run![3])).toBe(cutoffs);
    expect(lines.length).toBeLessThan(60);
    // The books say how much is owed and why more was charged than drawn.
    const euros = (c: number) =>
      `${c < 0 ? '-' : ''}${Math.floor(Math.abs(c) / 100)}.${String(Math.abs(c) % 100).padStart(2, '0')} EUR`;
    expect(text).toContain(
      `drawn = charged for energy and gas ${euros(r.consumed)} + credit left in the meters ${euros(r.creditLeft)} (token, tank, emergency credit) − owed to the meters ${euros(r.owed)}`,
    );
    expect(text).toMatch(/^owed: .* so more was charged than drawn$/m);
    // The energy line and the display's register read the same figure (truncated, as a register reads).
    const energy = /^energy (\d+\.\d{3}) kWh/m.exec(text)![1];
    expect(text).toContain(`  TOTAL ${energy} kWh`);
    expect(energy).toBe((Math.floor(r.electricity.energyWh) / 1000).toFixed(3));
    // Money on the display is in EUR, as everywhere else in the story.
    expect(text).toMatch(/^ {2}CREDIT -\d+\.\d\d EUR {2}OWED \d+\.\d\d EUR$/m);
  });

  it('says "1 day" for one day', async () => {
    const lines: string[] = [];
    await runDemo({ seed: 'one', days: 1 }, (l) => lines.push(l));
    expect(lines.map((l) => l.trim())).toContain(
      '== 5. 1 day of a household at the electricity meter; the host tops up over the power line',
    );
    expect(lines.join('\n')).not.toMatch(/\b1 days\b/);
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
