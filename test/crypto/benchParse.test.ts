// The parser of `openssl speed` output used by bench/crypto.bench.ts (no timing is asserted).
import { describe, expect, it } from 'vitest';
import { parseOpensslSpeed } from '../../bench/crypto.bench.js';

const SAMPLE = `version: 3.0.19
The 'numbers' are in 1000s of bytes per second processed.
type             16 bytes     64 bytes    256 bytes   1024 bytes   8192 bytes  16384 bytes
DES-EDE3-CBC     33131.73k    33187.64k    33841.63k    33122.78k    33838.55k    31338.12k
`;

describe('parseOpensslSpeed', () => {
  it('reads every column in bytes per second', () => {
    const m = parseOpensslSpeed(SAMPLE)!;
    expect([...m.keys()]).toEqual([16, 64, 256, 1024, 8192, 16384]);
    expect(m.get(16)).toBeCloseTo(33_131_730, 0);
    expect(m.get(16384)).toBeCloseTo(31_338_120, 0);
  });
  it('returns undefined for output it does not understand', () => {
    expect(parseOpensslSpeed('')).toBeUndefined();
    expect(parseOpensslSpeed('type 16 bytes 64 bytes\nDES-EDE3-CBC 1.0k\n')).toBeUndefined();
    expect(parseOpensslSpeed('type 16 bytes\nDES-EDE3-CBC abc\n')).toBeUndefined();
  });
});
