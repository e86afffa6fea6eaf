/**
 * The layer rules of DESIGN.md hold for the tree as it is, and the checker really fails on an
 * arrow that runs up, a host that imports the meter, a card that reads files, or a circle: each
 * case is a scratch tree copied beside the real config.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const bin = join(root, 'node_modules', '.bin', 'depcruise');

function cruise(dir: string, folders: string[]): { code: number; out: string } {
  try {
    const out = execFileSync(
      bin,
      [...folders, '--config', '.dependency-cruiser.cjs', '--output-type', 'err'],
      {
        cwd: dir,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    return { code: 0, out };
  } catch (e) {
    const x = e as { status: number; stdout: string };
    return { code: x.status, out: x.stdout };
  }
}

/** A scratch tree with the real config and the given files. */
function scratch(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'mp-layers-'));
  cpSync(join(root, '.dependency-cruiser.cjs'), join(dir, '.dependency-cruiser.cjs'));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        allowImportingTsExtensions: false,
      },
    }),
  );
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const LAYERS = ['card', 'reader', 'protocol', 'terminal', 'meter', 'host', 'cli'];

describe('layer rules (npm run layers)', () => {
  it('the tree as it is has no violation', () => {
    const r = cruise(root, LAYERS);
    expect(r.out).toContain('no dependency violations');
    expect(r.code).toBe(0);
  });

  const cases: [string, Record<string, string>, string][] = [
    [
      'card imports reader (an arrow running up)',
      {
        'card/a.ts': "import { R } from '../reader/r.js';\nexport const A = R;\n",
        'reader/r.ts': 'export const R = 1;\n',
      },
      'card-imports-only-itself',
    ],
    [
      'host imports meter',
      {
        'host/h.ts': "import { M } from '../meter/m.js';\nexport const H = M;\n",
        'meter/m.ts': 'export const M = 1;\n',
      },
      'host-imports-only',
    ],
    [
      'card reads files',
      { 'card/f.ts': "import { readFileSync } from 'node:fs';\nexport const F = readFileSync;\n" },
      'card-is-inside-the-chip',
    ],
    [
      'meter reaching inside terminal/ past its index.ts',
      {
        'meter/m.ts': "import { T } from '../terminal/t.js';\nexport const M = T;\n",
        'terminal/t.ts': 'export const T = 1;\n',
        'terminal/index.ts': "export { T } from './t.js';\n",
      },
      'through-the-index',
    ],
    [
      'a circle inside one package',
      {
        'meter/a.ts': "import { B } from './b.js';\nexport const A = () => B;\n",
        'meter/b.ts': "import { A } from './a.js';\nexport const B = () => A;\n",
      },
      'no-circular',
    ],
  ];
  for (const [name, files, rule] of cases)
    it(`fails on: ${name}`, () => {
      const dir = scratch(files);
      try {
        const r = cruise(
          dir,
          LAYERS.filter((l) => Object.keys(files).some((f) => f.startsWith(`${l}/`))),
        );
        expect(r.code).not.toBe(0);
        expect(r.out).toContain(rule);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
});
