// MAC operations per second for each cipher provider, beside `openssl speed -evp des-ede3-cbc`
// as the upper limit (what OpenSSL does with no per-call JavaScript overhead). Figures feed the
// choice of defaultCipherProvider() (docs/crypto.md).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Figure } from './run.js';
import { opsPerSecond } from './measure.js';
import {
  ForgeCipherProvider,
  NodeCipherProvider,
  cmac,
  macIso9797Alg1,
  macIso9797Alg3,
  type BlockCipherProvider,
} from '../card/crypto/index.js';

const KEY16 = Uint8Array.from({ length: 16 }, (_, i) => (i * 29 + 7) & 0xff);
const SIZES = [32, 256] as const;

/** Bytes a message of `len` occupies after ISO/IEC 9797-1 padding method 2 with 8-byte blocks. */
const padded8 = (len: number) => (Math.floor(len / 8) + 1) * 8;

type MacCase = { label: string; run: (p: BlockCipherProvider, data: Uint8Array) => Uint8Array };

const CASES: MacCase[] = [
  { label: '9797-1 M1, 2-key 3DES', run: (p, d) => macIso9797Alg1(p, 'tdes', KEY16, d, 2) },
  { label: '9797-1 M3 (retail)', run: (p, d) => macIso9797Alg3(p, KEY16, d, 2) },
  { label: 'CMAC AES-128', run: (p, d) => cmac(p, 'aes', KEY16, d) },
];

/**
 * MAC/s for every case and provider. The machine is shared, so each case is measured in five
 * rounds that alternate between the providers (both see the same background load), and the best
 * round of each provider is kept: interference only ever slows a run down.
 */
function macFigures(providers: BlockCipherProvider[]): Figure[] {
  const out: Figure[] = [];
  for (const size of SIZES) {
    const data = Uint8Array.from({ length: size }, (_, i) => i & 0xff);
    for (const c of CASES) {
      const bestOf = new Map<string, number>();
      for (let round = 0; round < 5; round++) {
        for (const p of providers) {
          const v = opsPerSecond(() => c.run(p, data), 200, 50);
          bestOf.set(p.name, Math.max(bestOf.get(p.name) ?? 0, v));
        }
      }
      for (const p of providers)
        out.push({
          name: `${p.name}: ${c.label}, ${size}-byte message`,
          value: bestOf.get(p.name)!,
          unit: 'MAC/s',
        });
    }
  }
  return out;
}

/**
 * Runs `openssl speed -evp des-ede3-cbc -seconds 1` and parses its table:
 * `type 16 bytes 64 bytes ...` then `DES-EDE3-CBC 33131.73k ...` (1000s of bytes per second).
 * Returns column size → bytes per second, or undefined when openssl is missing or the output
 * has an unexpected shape.
 */
export async function opensslSpeed(): Promise<Map<number, number> | undefined> {
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)('openssl', ['speed', '-evp', 'des-ede3-cbc', '-seconds', '1'], {
      timeout: 60_000,
    }));
  } catch {
    return undefined;
  }
  return parseOpensslSpeed(stdout);
}

export function parseOpensslSpeed(text: string): Map<number, number> | undefined {
  const lines = text.split('\n');
  const header = lines.find((l) => /^type\s+\d+ bytes/.test(l));
  const row = lines.find((l) => /^des-ede3-cbc\s/i.test(l));
  if (!header || !row) return undefined;
  const sizes = [...header.matchAll(/(\d+) bytes/g)].map((m) => Number(m[1]));
  const values = row
    .trim()
    .split(/\s+/)
    .slice(1)
    .map((v) => Number(v.replace(/k$/, '')) * 1000);
  if (sizes.length === 0 || sizes.length !== values.length || values.some((v) => !Number.isFinite(v)))
    return undefined;
  return new Map(sizes.map((s, i) => [s, values[i]!]));
}

export default async function bench(): Promise<Figure[]> {
  const figures: Figure[] = [];
  figures.push(...macFigures([new NodeCipherProvider(), new ForgeCipherProvider()]));
  const speed = await opensslSpeed();
  if (!speed) {
    console.log('  openssl speed: openssl not found or its output not understood; no upper limit measured');
    return figures;
  }
  for (const [size, bps] of speed) {
    if (size > 1024) continue;
    figures.push({ name: `openssl speed des-ede3-cbc, ${size}-byte blocks`, value: bps / 1e6, unit: 'MB/s' });
  }
  // Upper limit for a full 3DES CBC-MAC (M1) of an n-byte message: OpenSSL's throughput at the
  // nearest measured buffer size, divided by the padded length. Retail MAC (M3) is cheaper
  // (single DES on all blocks but the last), so this is a loose limit for M3.
  for (const size of SIZES) {
    const column = [...speed.keys()].reduce((a, b) =>
      Math.abs(b - padded8(size)) <= Math.abs(a - padded8(size)) ? b : a,
    );
    figures.push({
      name: `openssl limit: 3DES CBC-MAC of ${size}-byte message (${column}-byte column)`,
      value: speed.get(column)! / padded8(size),
      unit: 'MAC/s',
    });
  }
  return figures;
}
