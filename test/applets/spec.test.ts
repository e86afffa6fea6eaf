/**
 * docs/purse-spec.md cannot drift: every ```apdu block is replayed, in document order, against the
 * seeded world the examples were generated in, and every response must match byte for byte; every
 * ```values block must equal what the implementation computes now.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../card/util/hex.js';
import { SCENARIO_ORDER, generate, specWorld, type DeviceName } from './specExamples.js';

const doc = readFileSync(new URL('../../docs/purse-spec.md', import.meta.url), 'utf8');

interface Block {
  name: string;
  kind: 'apdu' | 'values';
  lines: string[];
}

function blocks(text: string): Block[] {
  const out: Block[] = [];
  const re = /<!-- example:([a-z-]+) -->\n```(apdu|values)\n([\s\S]*?)```/g;
  for (let m = re.exec(text); m; m = re.exec(text))
    out.push({
      name: m[1]!,
      kind: m[2] as 'apdu' | 'values',
      lines: m[3]!.split('\n').filter((l) => l.trim() !== ''),
    });
  return out;
}

describe('docs/purse-spec.md examples', () => {
  const all = blocks(doc);

  it('has an example for every command group, none empty', () => {
    const names = all.map((b) => b.name);
    for (const n of [
      'keys',
      'select',
      'auth',
      'read-purse',
      'transfer',
      'meter-data',
      'log',
      'token',
      'load',
      'cancel-status',
      'cancel-record',
      'errors',
    ])
      expect(names).toContain(n);
    for (const b of all) expect(b.lines.length, b.name).toBeGreaterThan(0);
    // Every command of the three applets appears at least once (by CLA INS).
    const sent = all.flatMap((b) =>
      b.lines
        .filter((l) => /^(card|sam|svm|pincard)> /.test(l))
        .map((l) => l.slice(l.indexOf('>') + 2, l.indexOf('>') + 7)),
    );
    for (const ci of [
      '00 A4',
      '00 84',
      '00 82',
      '80 5C',
      '80 54',
      '80 52',
      '00 B2',
      '00 DC',
      '80 10',
      '80 12',
      '80 14',
      '80 18',
      '80 30',
      '80 32',
      '80 36',
      '80 40',
    ])
      expect(sent, ci).toContain(ci);
  });

  it('every APDU example, replayed in scenario order, gets exactly the documented response', () => {
    const w = specWorld();
    let n = 0;
    const apdu = all.filter((x) => x.kind === 'apdu');
    expect(apdu.map((b) => b.name).sort()).toEqual([...SCENARIO_ORDER].sort());
    const order: readonly string[] = SCENARIO_ORDER;
    apdu.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
    for (const b of apdu) {
      const lines = b.lines;
      expect(lines.length % 2, b.name).toBe(0);
      for (let i = 0; i < lines.length; i += 2) {
        const cmd = /^(card|sam|svm|pincard)> ([0-9A-F ]+)$/.exec(lines[i]!);
        const rsp = /^(card|sam|svm|pincard)< ([0-9A-F ]+)$/.exec(lines[i + 1]!);
        expect(cmd, `${b.name}: ${lines[i]}`).not.toBeNull();
        expect(rsp?.[1], `${b.name}: ${lines[i + 1]}`).toBe(cmd![1]);
        const device = cmd![1] as DeviceName;
        const got = w[device].os.transmit(fromHex(cmd![2]!));
        expect(toHex(got), `${b.name}: ${lines[i]}`).toBe(toHex(fromHex(rsp![2]!)));
        n++;
      }
    }
    expect(n).toBeGreaterThan(40);
  });

  it('every values block matches what the implementation computes', () => {
    const fresh = generate();
    for (const b of all.filter((x) => x.kind === 'values'))
      expect(b.lines.join('\n'), b.name).toBe(fresh.get(b.name));
  });

  it('the committed vector file holds the same examples as the document', () => {
    const json = JSON.parse(
      readFileSync(new URL('../vectors/purse/spec-examples.json', import.meta.url), 'utf8'),
    ) as Record<string, string[]>;
    for (const b of all) expect(json[b.name], b.name).toEqual(b.lines);
  });

  it('a changed byte in a documented response would be caught', () => {
    const w = specWorld();
    const b = all.find((x) => x.name === 'select')!;
    const cmd = b.lines[0]!.slice(6);
    const expected = b.lines[1]!.slice(6);
    const tampered = expected.replace(/^6F/, '6E');
    expect(toHex(w.card.os.transmit(fromHex(cmd)))).not.toBe(toHex(fromHex(tampered)));
  });
});
