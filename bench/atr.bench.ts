// ATR parses per second over the committed real-world corpus (test/vectors/atr-corpus.txt).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Atr } from '../card/iso7816/Atr.js';
import { MalformedDataError } from '../card/iso7816/errors.js';
import { fromHex } from '../card/util/hex.js';
import { opsPerSecond } from './measure.js';
import type { Figure } from './run.js';

function corpus(): Uint8Array[] {
  const path = fileURLToPath(new URL('../test/vectors/atr-corpus.txt', import.meta.url));
  const out: Uint8Array[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    let concrete = true;
    for (let i = 0; i < line.length; i++) {
      const c = line.charCodeAt(i);
      if (!(c === 0x20 || (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46))) concrete = false;
    }
    if (concrete) out.push(fromHex(line));
  }
  return out;
}

export default async function bench(): Promise<Figure[]> {
  const all = corpus();
  const valid = all.filter((b) => {
    try {
      Atr.parse(b);
      return true;
    } catch (e) {
      if (e instanceof MalformedDataError) return false;
      throw e;
    }
  });
  let i = 0;
  let sink = 0;
  const parseValid = opsPerSecond(() => {
    const a = Atr.parse(valid[i++ % valid.length]!);
    sink += a.k;
  }, 1500);
  i = 0;
  const parseAll = opsPerSecond(() => {
    try {
      sink += Atr.parse(all[i++ % all.length]!).k;
    } catch {
      sink--;
    }
  }, 1500);
  i = 0;
  const parseDecode = opsPerSecond(() => {
    const a = Atr.parse(valid[i++ % valid.length]!);
    sink += a.protocols.length + (a.t1?.ifsc ?? 0) + (a.baudRate() ?? 0) + a.historical.objects.length;
  }, 1500);
  if (sink === 42) console.log('');
  return [
    {
      name: `Atr.parse, ${valid.length} valid corpus ATRs`,
      value: parseValid,
      unit: 'parses/s',
      target: '300,000/s',
    },
    {
      name: `Atr.parse, all ${all.length} concrete corpus ATRs (${all.length - valid.length} rejected)`,
      value: parseAll,
      unit: 'parses/s',
    },
    { name: 'Atr.parse + protocols, T=1, baud rate, historical decode', value: parseDecode, unit: 'ATRs/s' },
  ];
}
