/**
 * docs/purse-spec.md §13 cannot drift: every `<!-- offline:NAME -->` apdu block is replayed in
 * session order against a fresh world made as test/applets/offlineSpecExamples.ts makes it, and
 * each response must match byte for byte; every values block must equal what the code computes.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../card/util/hex.js';
import { verifyOfflineReading, verifyRemoteReceipt } from '../../card/applets/purse/offline.js';
import { CSN, NOW } from '../transfer/world.js';
import {
  GAS,
  OFFLINE_ORDER,
  SELLER,
  generateOffline,
  offlineWorld,
  type OfflineDevice,
} from './offlineSpecExamples.js';

const doc = readFileSync(new URL('../../docs/purse-spec.md', import.meta.url), 'utf8');

function blocks(text: string): { name: string; kind: string; lines: string[] }[] {
  const out: { name: string; kind: string; lines: string[] }[] = [];
  const re = /<!-- offline:([a-z-]+) -->\n```(apdu|values)\n([\s\S]*?)```/g;
  for (let m = re.exec(text); m; m = re.exec(text))
    out.push({ name: m[1]!, kind: m[2]!, lines: m[3]!.split('\n').filter((l) => l.trim() !== '') });
  return out;
}

describe('docs/purse-spec.md §13 examples', () => {
  const all = blocks(doc);

  it('has every block, none empty, and shows every new command', () => {
    expect(all.filter((b) => b.kind === 'apdu').map((b) => b.name)).toEqual([...OFFLINE_ORDER]);
    for (const b of all) expect(b.lines.length, b.name).toBeGreaterThan(0);
    const sent = all.flatMap((b) =>
      b.lines.filter((l) => /^\w+> /.test(l)).map((l) => l.split('> ')[1]!.slice(0, 5)),
    );
    for (const ci of ['80 56', '80 58', '80 5A', '80 1C', '80 1E', '00 DC']) expect(sent, ci).toContain(ci);
  });

  it('every APDU, replayed in order against a fresh world, gets exactly the documented response', () => {
    const w = offlineWorld();
    let n = 0;
    for (const b of all.filter((x) => x.kind === 'apdu')) {
      for (let i = 0; i < b.lines.length; i += 2) {
        const cmd = /^(card|gsam)> ([0-9A-F ]+)$/.exec(b.lines[i]!);
        const rsp = /^(card|gsam)< ([0-9A-F ]+)$/.exec(b.lines[i + 1]!);
        expect(cmd, `${b.name}: ${b.lines[i]}`).not.toBeNull();
        expect(rsp?.[1]).toBe(cmd![1]);
        const got = w[cmd![1] as OfflineDevice].os.transmit(fromHex(cmd![2]!));
        expect(toHex(got), `${b.name}: ${b.lines[i]}`).toBe(toHex(fromHex(rsp![2]!)));
        n++;
      }
    }
    expect(n).toBeGreaterThan(15);
  });

  it('every values block matches what the implementation computes', () => {
    const fresh = generateOffline();
    for (const b of all.filter((x) => x.kind === 'values'))
      expect(b.lines.join('\n'), b.name).toBe(fresh.get(b.name));
  });

  it("the documented receipt and reading verify with the utility's own checks, and a changed byte would not", () => {
    const w = offlineWorld();
    const rl = all.find((b) => b.name === 'remote-load')!;
    const answer = fromHex(rl.lines[5]!.slice(6)); // the first REMOTE LOAD's answer
    const receipt = answer.subarray(7, 15);
    const f = { csn: CSN, purse: GAS, seq: 1, amount: 5000, sellerId: SELLER, dateTime: NOW };
    expect(verifyRemoteReceipt(w.issuer, f, receipt)).toBe(true);
    expect(verifyRemoteReceipt(w.issuer, { ...f, amount: 5001 }, receipt)).toBe(false);
    const rd = all.find((b) => b.name === 'readings')!;
    const record = fromHex(rd.lines.at(-1)!.slice(6)).subarray(0, 144);
    expect(verifyOfflineReading(w.issuer, CSN, record)).toBe(true);
    const bad = record.slice();
    bad[40] = bad[40]! ^ 1; // a step register
    expect(verifyOfflineReading(w.issuer, CSN, bad)).toBe(false);
  });
});
