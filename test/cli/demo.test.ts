import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { runDemo } from '../../cli/demo/story.js';
import { main } from '../../cli/main.js';
import { UtilityDb } from '../../host/utility/db/UtilityDb.js';

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
    // Issue 17: the vending point loads electricity only; the gas comes from the gas utility.
    expect(r.issuedBy).toEqual({ cardLoads: 3000, remoteLoads: 1500, powerLine: 2000 });
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
    expect(existsSync(r.gasDbPath)).toBe(false);
  });

  it('issue 17: the gas utility sells through the host; the gas arrives by remote load once, its books and readings close', async () => {
    const lines: string[] = [];
    const r = await runDemo({ seed: 'test', days: 14 }, (l) => lines.push(l));
    const text = lines.join('\n');
    const g = r.gasUtility;
    // No LOAD of the gas purse at the vending point: the only way gas reached the card is the relay.
    expect(text).toMatch(/^LOAD electricity 30\.00 EUR/m);
    expect(text).not.toMatch(/^LOAD gas/m);
    // The gas purse gained the sale at the first insertion into the electricity meter, and nothing
    // at the three later ones (the meter and the card apply a relay id / a seq once).
    expect(g.remoteLoads).toEqual([1500, 0, 0, 0]);
    expect(text).toContain('REMOTE LOAD → gas purse 0.00 EUR → 15.00 EUR');
    // The receipt came back and was booked: the utility's own ledger balances, nothing in transit.
    expect(g.receiptsBooked).toBe(1);
    expect(g.books).toEqual({ sold: 1500, inTransit: 0, onCard: 1500, balanced: true });
    // The binding: the card accepted PUT CONFIG, the gas meter applied version 1 with its price,
    // 1.20 per m³ instead of the 1.10 it was made with: 15.00 buys 12.5 m³, not 13.6.
    expect(g.configAnsweredByCard).toBe(true);
    expect(g.configAppliedAtGasMeter).toBe(1);
    expect(r.gas.volumeL).toBeGreaterThanOrEqual(12_500);
    expect(r.gas.volumeL).toBeLessThan(12_500 + 100);
    // The gas meter's reading went back through the electricity meter: stored once, with its meter
    // id, the cumulative the gas meter metered and every tariff step; then cleared on the card.
    expect(g.readings).toHaveLength(1);
    const rd = g.readings[0]!;
    expect(rd.meterId).toBe('000242');
    expect(rd.cumulativeL).toBe(r.gas.volumeL);
    expect(rd.steps).toEqual([{ percent: 100, litres: r.gas.volumeL }]);
    expect(rd.cleared).toBe(true);
    expect(g.cardReadingCleared).toBe(true);
    // Five legs (carry, receipt, reading, clear down, its answer up), each at least one round; the
    // seeded lossy line broke some exchanges, and the relay asked again until each got through.
    expect(g.relayFailures).toBeGreaterThan(0);
    expect(g.relayRounds).toBeGreaterThanOrEqual(5 + 1);
    expect(r.balanced).toBe(true);
    expect(text).toMatch(/^gas utility's ledger: sold 15\.00 EUR = on the card 15\.00 EUR .*; balanced/m);
  });

  it('the gas utility has its own database: kept, it holds the sale on the card and the reading cleared', async () => {
    const r = await runDemo({ seed: 'keep', days: 1, keep: true }, () => undefined);
    try {
      expect(r.gasDbPath).not.toBe(r.dbPath);
      const db = new UtilityDb(r.gasDbPath);
      try {
        expect(db.sale('demo-gas-1')).toMatchObject({ amount: 1500, state: 'on-card', seq: 1 });
        expect(db.readingsOf('000242').map((x) => x.cleared)).toEqual([true]);
        expect(db.configs(db.sale('demo-gas-1')!.csn, 2)).toMatchObject([{ version: 1, state: 'applied' }]);
      } finally {
        db.close();
      }
    } finally {
      rmSync(dirname(r.dbPath), { recursive: true, force: true });
    }
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
    // Without the runs told once, this section would have 14 more lines.
    const household = lines.slice(
      lines.findIndex((l) => l.startsWith('== 5.')),
      lines.findIndex((l) => l.startsWith('== 6.')),
    );
    expect(household.length).toBeLessThan(30);
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

  it('the README\'s excerpt ("What `npm start` shows") is what the demo prints with the defaults', async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## What `npm start` shows'));
    const excerpt = /```text\n([\s\S]*?)\n```/.exec(section)![1]!;
    const lines: string[] = [];
    await runDemo({ seed: '0', days: 14 }, (l) => lines.push(l));
    const printed = lines
      .join('\n')
      .replace(/\/meterpurse-demo-[^/]+\//g, '/meterpurse-demo-XXXXXX/')
      .replace(/http:\/\/127\.0\.0\.1:\d+/, 'http://127.0.0.1:PORT');
    expect(printed).toBe(excerpt);
  });

  it('the command prints JSON with --json and refuses a bad --days', async () => {
    let out = '';
    let err = '';
    const io = { out: (t: string) => void (out += t), err: (t: string) => void (err += t) };
    expect(await main(['demo', '--days', '2', '--json'], io)).toBe(0);
    const j = JSON.parse(out) as {
      balanced: boolean;
      story: string[];
      issuedBy: { remoteLoads: number };
      gasUtility: { books: { balanced: boolean; onCard: number }; remoteLoads: number[] };
    };
    expect(j.balanced).toBe(true);
    expect(j.issuedBy.remoteLoads).toBe(1500);
    expect(j.gasUtility.books).toMatchObject({ balanced: true, onCard: 1500 });
    expect(j.gasUtility.remoteLoads[0]).toBe(1500);
    expect(j.story.length).toBeGreaterThan(20);
    expect(await main(['demo', '--days', '0'], io)).toBe(2);
    expect(err).toMatch(/--days must be an integer 1\.\.366/);
  });
});
