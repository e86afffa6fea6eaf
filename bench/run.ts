// `npm run bench [name-filter]`: runs every bench/*.bench.ts and prints its figures.
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { cpus } from 'node:os';

/** One measured figure. */
export interface Figure {
  name: string;
  value: number;
  unit: string;
  /** What the issue aims for, when it names a target. */
  target?: string;
}

export type Bench = () => Promise<Figure[]>;

const here = dirname(fileURLToPath(import.meta.url));
const filter = process.argv[2];
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => !filter || f.includes(filter))
  .sort();
console.log(
  `meterpurse benchmarks — node ${process.version}, ${cpus()[0]?.model ?? 'cpu'}, ${cpus().length} cores`,
);
for (const f of files) {
  const mod = (await import(pathToFileURL(join(here, f)).href)) as { default: Bench };
  console.log(`\n## ${f.replace('.bench.ts', '')}`);
  for (const fig of await mod.default()) {
    const v = fig.value >= 100 ? Math.round(fig.value).toLocaleString('en-US') : fig.value.toPrecision(3);
    console.log(
      `  ${fig.name.padEnd(58)} ${v.padStart(14)} ${fig.unit}${fig.target ? `   (aim: ${fig.target})` : ''}`,
    );
  }
}
