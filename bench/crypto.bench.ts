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

function macFigures(p: BlockCipherProvider): Figure[] {
  const out: Figure[] = [];
  for (const size of SIZES) {
    const data = Uint8Array.from({ length: size }, (_, i) => i & 0xff);
    out.push({
      name: `${p.name}: 9797-1 M1, 2-key 3DES, ${size}-byte message`,
      value: opsPerSecond(() => macIso9797Alg1(p, 'tdes', KEY16, data, 2), 1000, 200),
      unit: 'MAC/s',
    });
    out.push({
      name: `${p.name}: 9797-1 M3 (retail), ${size}-byte message`,
      value: opsPerSecond(() => macIso9797Alg3(p, KEY16, data, 2), 1000, 200),
      unit: 'MAC/s',
    });
    out.push({
      name: `${p.name}: CMAC AES-128, ${size}-byte message`,
      value: opsPerSecond(() => cmac(p, 'aes', KEY16, data), 1000, 200),
      unit: 'MAC/s',
    });
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
  for (const p of [new NodeCipherProvider(), new ForgeCipherProvider()]) figures.push(...macFigures(p));
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
