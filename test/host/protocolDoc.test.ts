import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  deriveSessionKey,
  deriveTerminalKey,
  macIso9797Alg1,
  NodeCipherProvider,
  pad,
} from '../../card/crypto/index.js';
import { concatBytes, fromHex, toHex } from '../../card/util/hex.js';
import { workedExample } from '../../host/protocol/examples.js';
import type { ExampleName } from '../../host/protocol/examples.js';

const cipher = new NodeCipherProvider();
const doc = readFileSync(new URL('../../docs/host-protocol.md', import.meta.url), 'utf8');

/** Every `<!-- example: name -->` block of the document, parsed into field → hex. */
function examples(): Map<string, Array<[string, string]>> {
  const out = new Map<string, Array<[string, string]>>();
  const re = /<!-- example: ([a-z-]+) -->\s*```text\n([\s\S]*?)```/g;
  for (const m of doc.matchAll(re)) {
    const fields: Array<[string, string]> = [];
    for (const line of m[2]!.split('\n')) {
      if (!line.trim()) continue;
      const kv = /^(\S+)\s+= (.*)$/.exec(line);
      if (kv) fields.push([kv[1]!, kv[2]!.trim()]);
      else fields[fields.length - 1]![1] += line.trim();
    }
    out.set(m[1]!, fields);
  }
  return out;
}

const E = (k: Uint8Array, x: Uint8Array) => cipher.encrypt('tdes', 'cbc', k, pad(x, 2, 8), new Uint8Array(8));
const SIG = (k: Uint8Array, x: Uint8Array) => macIso9797Alg1(cipher, 'tdes', k, x, 2);

describe('docs/host-protocol.md worked examples', () => {
  const all = examples();
  it('has one example per command', () => {
    expect([...all.keys()].sort()).toEqual(['tariff', 'usage', 'value-store']);
  });

  for (const [name, fields] of all) {
    it(`${name}: every derived field recomputes from the inputs`, () => {
      const f = new Map(fields.map(([k, v]) => [k, fromHex(v)]));
      const g = (k: string) => {
        const v = f.get(k);
        if (!v) throw new Error(`field ${k} missing`);
        return v;
      };
      const kt = deriveTerminalKey(cipher, g('KH'), g('ID'));
      expect(toHex(kt)).toBe(toHex(g('KT')));
      const ks = deriveSessionKey(cipher, kt, g('R1'));
      expect(toHex(ks)).toBe(toHex(g('Ks')));
      expect(toHex(SIG(ks, g('R2')))).toBe(toHex(g('S1')));
      if (name === 'value-store') expect(toHex(E(ks, g('amount-plain')))).toBe(toHex(g('payload')));
      expect(toHex(SIG(ks, concatBytes(g('H'), g('R3'), g('payload'))))).toBe(toHex(g('S2h')));
      expect(toHex(E(ks, g('answer')))).toBe(toHex(g('M')));
      expect(toHex(g('answer').slice(-3))).toBe(toHex(g('ID')));
      const lp = g('payload').length;
      expect(toHex(g('msg-init-request'))).toBe(
        toHex(concatBytes(Uint8Array.of(0x10), g('R1'), g('R2'), g('n'))),
      );
      expect(toHex(g('msg-init-response'))).toBe(toHex(concatBytes(Uint8Array.of(0x11), g('S1'), g('R3'))));
      expect(toHex(g('msg-command-request'))).toBe(
        toHex(
          concatBytes(Uint8Array.of(0x20), g('H'), Uint8Array.of(lp >> 8, lp & 0xff), g('payload'), g('S2h')),
        ),
      );
      expect(toHex(g('msg-command-response'))).toBe(toHex(concatBytes(Uint8Array.of(0x21), g('M'))));
    });

    it(`${name}: the code still produces exactly this example`, async () => {
      expect(await workedExample(name as ExampleName)).toEqual(fields);
    });
  }
});
