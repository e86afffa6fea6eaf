import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cardCommand } from '../../cli/commands/card.js';
import { UsageError } from '../../cli/Command.js';
import { openCardFile } from '../../cli/cardfile/index.js';
import { deviceOf } from '../../card/applets/profiles.js';
import { readDevice, type SubscriberView, type SvmView } from '../../card/applets/inspect.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import { MeterModules } from '../../terminal/MeterModules.js';
import { runCardSession } from '../../terminal/CardTransfer.js';
import { fromHex } from '../../card/util/hex.js';

const dir = mkdtempSync(join(tmpdir(), 'meterpurse-card-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(...args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await cardCommand.run(args, { out: (t) => (out += t), err: (t) => (out += t) });
  return { code, out };
}

describe('meterpurse card new / show', () => {
  it('creates a subscriber card file with loaded purses and says the keys are demo keys', async () => {
    const f = join(dir, 'sub.card');
    const r = await run('new', '--profile', 'subscriber', '--out', f, '--balance', '1500', '--seed', 'cli');
    expect(r.code).toBe(0);
    expect(r.out).toContain('DEMO issuer "cli"');
    expect(r.out).toContain('never real secrets');
    const s = await run('show', f, '--json');
    const v = JSON.parse(s.out) as SubscriberView & { profile: string; demoIssuerSeed: string };
    expect(v).toMatchObject({ profile: 'subscriber', demoIssuerSeed: 'cli', csn: '4D50000000000001' });
    expect(v.purses.map((p) => p.balance)).toEqual([1500, 1500, 1500, 1500, 1500]);
    expect(v.log).toHaveLength(5);
    // Text shows money in the purse's currency (unit 978: euro cents); --json keeps the integers.
    const text = (await run('show', f)).out;
    expect(text).toMatch(/electricity balance +15\.00 EUR {2}max 5000\.00 EUR {2}limit 1000\.00 EUR/);
    expect(text).toMatch(/load {2}electricity 15\.00 EUR, balance 15\.00 EUR {2}counter 1/);
    expect(text).not.toMatch(/unit 978|balance +1500\b/);
    expect(v.purses[0]).toMatchObject({ balance: 1500, unit: 978 });
  });

  it('cards as files: a transfer between saved card, SAM and SVM files persists', async () => {
    const files = { card: join(dir, 't0.card'), sam: join(dir, 'sam.card'), svm: join(dir, 'svm.card') };
    expect(
      (await run('new', '--profile', 'subscriber-t0', '--out', files.card, '--balance', '700', '--seed', 'x'))
        .code,
    ).toBe(0);
    expect((await run('new', '--profile', 'sam', '--out', files.sam, '--seed', 'x')).code).toBe(0);
    expect(
      (await run('new', '--profile', 'svm', '--out', files.svm, '--seed', 'x', '--max', '5000')).code,
    ).toBe(0);
    const card = openCardFile(files.card);
    const sam = openCardFile(files.sam);
    const svm = openCardFile(files.svm);
    const m = await MeterModules.open(
      await new VirtualReader('s', sam.card).connect(),
      await new VirtualReader('v', svm.card).connect(),
    );
    const ch = await new VirtualReader('c', card.card).connect();
    expect(ch.protocol).toBe('T=0');
    const o = await runCardSession(m, ch, { purse: 1, dateTime: fromHex('261122090000') });
    expect(o).toMatchObject({ amount: 700, svmBalance: 700, cardBalance: 0 });
    card.save();
    svm.save();
    const again = openCardFile(files.svm);
    again.card.powerUp();
    expect((readDevice(deviceOf(again.card, 'svm').store) as SvmView).balance).toBe(700);
    const c2 = openCardFile(files.card);
    c2.card.powerUp();
    expect((readDevice(deviceOf(c2.card, 'subscriber-t0').store) as SubscriberView).purses[0]!.balance).toBe(
      0,
    );
  });

  it('refuses bad arguments and bad files with a usage error', async () => {
    await expect(run('new', '--profile', 'bogus', '--out', join(dir, 'x'))).rejects.toBeInstanceOf(
      UsageError,
    );
    await expect(run('new', '--profile', 'svm')).rejects.toBeInstanceOf(UsageError);
    await expect(
      run('new', '--profile', 'sam', '--out', join(dir, 'y'), '--balance', '5'),
    ).rejects.toBeInstanceOf(UsageError);
    await expect(
      run('new', '--profile', 'subscriber', '--out', join(dir, 'z'), '--csn', '1234'),
    ).rejects.toBeInstanceOf(UsageError);
    await expect(run('show', join(dir, 'missing.card'))).rejects.toBeInstanceOf(UsageError);
    const junk = join(dir, 'junk.card');
    writeFileSync(junk, 'not a card');
    await expect(run('show', junk)).rejects.toBeInstanceOf(UsageError);
    await expect(run('frobnicate')).rejects.toBeInstanceOf(UsageError);
  });
});
