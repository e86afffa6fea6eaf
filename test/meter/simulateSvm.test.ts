import { describe, expect, it } from 'vitest';
import { meterSimulateCommand } from '../../cli/commands/meter.js';
import { createSvmCredit } from '../../meter/sim/SvmCredit.js';

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) }, out, err };
}

describe('meterpurse meter simulate --register svm (the real SAM + SVM applets)', () => {
  it('meters and charges exactly as the in-memory register does, through thousands of APDUs', async () => {
    const args = ['--days', '45', '--seed', '9', '--json'];
    const mem = io();
    const svm = io();
    expect(await meterSimulateCommand.run(args, mem.io)).toBe(0);
    expect(await meterSimulateCommand.run([...args, '--register', 'svm'], svm.io)).toBe(0);
    const a = JSON.parse(mem.out.join('')) as Record<string, unknown>;
    const b = JSON.parse(svm.out.join('')) as Record<string, unknown> & { apdus: number };
    expect(a.register).toBe('memory');
    expect(b.register).toBe('svm');
    // Top-ups happened (card LOAD + card-to-SVM transfer), so the comparison covers them.
    expect(b.topUps as number).toBeGreaterThan(0);
    expect(b.tokenRequests as number).toBeGreaterThan(100);
    // Each token request is at least READ STATE + SAM TOKEN AUTH + SVM TOKEN REQUEST.
    expect(b.apdus).toBeGreaterThanOrEqual(3 * (b.tokenRequests as number));
    const { register: _r1, ...ra } = a;
    const { register: _r2, apdus: _a, ...rb } = b;
    expect(rb).toEqual(ra);
  });

  it('a top-up moves exactly the units into the SVM; bad input is refused', async () => {
    const c = createSvmCredit(100, 'unit');
    expect(await c.register.balance()).toBe(100);
    await c.topUp(2500);
    expect(await c.register.balance()).toBe(2600);
    expect(await c.register.requestTokens(1000)).toBe(1000);
    expect(await c.register.balance()).toBe(1600);
    expect(() => createSvmCredit(-1)).toThrow(RangeError);
    await expect(c.topUp(1.5)).rejects.toThrow(RangeError);
    const bad = io();
    await expect(meterSimulateCommand.run(['--days', '1', '--register', 'disk'], bad.io)).rejects.toThrow(
      /--register must be memory or svm, got disk/,
    );
  });
});
