import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../cli/Command.js';
import { makeMeterSimulateCommand, meterSimulateCommand } from '../../cli/commands/meter.js';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { TariffTable } from '../../protocol/TariffTable.js';
import { MemoryCreditRegister } from './MemoryCreditRegister.js';

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) }, out, err };
}

describe('meterpurse meter simulate', () => {
  it('prints energy per tariff step, credit, alarms and cut-offs; --json is the same result', async () => {
    const a = io();
    expect(await meterSimulateCommand.run(['--days', '3', '--seed', '5'], a.io)).toBe(0);
    const t = a.out.join('');
    expect(t).toMatch(/simulated 3 days from 2026-01-01 00:00:00 to 2026-01-04 00:00:00/);
    expect(t).toMatch(/step 4 \(300 %\)/);
    expect(t).toMatch(/cut-offs/);
    const b = io();
    expect(await meterSimulateCommand.run(['--days', '3', '--seed', '5', '--json'], b.io)).toBe(0);
    const j = JSON.parse(b.out.join('')) as {
      energyWh: number;
      seed: number;
      start: string;
      startText: string;
      finalBalance: number;
      currency: number;
    };
    expect(j.seed).toBe(5);
    expect(t).toContain(`energy            ${(j.energyWh / 1000).toFixed(3)} kWh`);
    // Money in EUR for people, integers (euro cents) and the RTC text form kept for programs.
    expect(j).toMatchObject({ start: '260101000000', startText: '2026-01-01 00:00:00', currency: 978 });
    expect(Number.isInteger(j.finalBalance)).toBe(true);
    const euros = `${Math.floor(j.finalBalance / 100)}.${String(j.finalBalance % 100).padStart(2, '0')} EUR`;
    expect(t).toContain(`balance at end    ${euros}`);
    expect(t).not.toMatch(/units|\(s\)/);
    const one = io();
    expect(await meterSimulateCommand.run(['--days', '1'], one.io)).toBe(0);
    expect(one.out.join('')).toMatch(/simulated 1 day from /);
  });

  it('reads a tariff table from JSON, hex or binary files, and refuses bad ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meter-cli-'));
    const table = TariffTable.flat(100, 150);
    writeFileSync(join(dir, 't.bin'), table.encode());
    writeFileSync(join(dir, 't.hex'), '# flat\n' + Buffer.from(table.encode()).toString('hex') + '\n');
    const spec = {
      unitCharge: 100,
      steps: [150],
      seasons: [
        {
          fromMonth: 1,
          toMonth: 12,
          weekday: [{ from: 0, to: 1440, step: 0 }],
          weekend: [{ from: 0, to: 1440, step: 0 }],
          holiday: [{ from: 0, to: 1440, step: 0 }],
        },
      ],
    };
    writeFileSync(join(dir, 't.json'), JSON.stringify(spec));
    const gap = { ...spec, seasons: [{ ...spec.seasons[0], weekday: [{ from: 0, to: 1000, step: 0 }] }] };
    writeFileSync(join(dir, 'gap.json'), JSON.stringify(gap));
    for (const f of ['t.bin', 't.hex', 't.json']) {
      const c = io();
      expect(
        await meterSimulateCommand.run(
          ['--days', '1', '--tariff', join(dir, f), '--load', 'flat', '--json'],
          c.io,
        ),
      ).toBe(0);
      const r = JSON.parse(c.out.join('')) as {
        energyByStep: { percent: number; wh: number }[];
        creditUsed: number;
      };
      expect(r.energyByStep).toEqual([{ step: 0, percent: 150, wh: 12_000 }]);
      expect(r.creditUsed).toBe(1800);
    }
    await expect(
      meterSimulateCommand.run(['--days', '1', '--tariff', join(dir, 'gap.json')], io().io),
    ).rejects.toThrow(/gap/);
    writeFileSync(join(dir, 'short.hex'), '01 00 00');
    await expect(
      meterSimulateCommand.run(['--days', '1', '--tariff', join(dir, 'short.hex')], io().io),
    ).rejects.toThrow(MalformedDataError);
  });

  it('refuses bad options with a usage error', async () => {
    for (const args of [
      [],
      ['--days', 'x'],
      ['--days', '0'],
      ['--days', '1', '--load', 'factory'],
      ['--days', '1', '--bogus'],
    ])
      await expect(meterSimulateCommand.run(args, io().io)).rejects.toThrow(UsageError);
    await expect(
      meterSimulateCommand.run(['--days', '1', '--start', '261399000000'], io().io),
    ).rejects.toThrow(MalformedDataError);
  });

  it('takes its credit register from the factory it was built with', async () => {
    const regs: MemoryCreditRegister[] = [];
    const cmd = makeMeterSimulateCommand((initial) => {
      const r = new MemoryCreditRegister(initial);
      regs.push(r);
      return { register: r, topUp: (u) => r.credit(u) };
    });
    const c = io();
    expect(await cmd.run(['--days', '2', '--credit', '123', '--json'], c.io)).toBe(0);
    expect(regs).toHaveLength(1);
    expect(regs[0]!.granted).toBe((JSON.parse(c.out.join('')) as { creditDrawn: number }).creditDrawn);
  });
});
