/**
 * docs/personalisation.md cannot drift: its example blocks (a seeded ceremony, MKC and
 * personalisation session, every APDU) are generated again here and must equal the document's
 * byte for byte. Regenerate with `npx tsx test/bureau/persoExamples.ts --write`.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DOC_PATH, generate } from './persoExamples.js';

function blocks(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const re = /<!-- example:([a-z-]+) -->\n```(apdu|values)\n([\s\S]*?)```/g;
  for (let m = re.exec(text); m; m = re.exec(text))
    out.set(
      m[1]!,
      m[3]!.split('\n').filter((l) => l.trim() !== ''),
    );
  return out;
}

describe('docs/personalisation.md examples', () => {
  it('every generated block is in the document, and equal to it', async () => {
    const doc = blocks(readFileSync(DOC_PATH, 'utf8'));
    const now = await generate();
    expect([...doc.keys()].sort()).toEqual([...now.keys()].sort());
    for (const [name, lines] of now) expect(doc.get(name), name).toEqual(lines);
  });

  it('the session example is a whole personalisation: the chip ends at LCS 05 and the MKC accepted its receipt', async () => {
    const session = (await generate()).get('session')!;
    const i = session.findIndex((l) => l.startsWith('chip> 80 F0 00 05'));
    expect(i).toBeGreaterThan(0);
    expect(session[i + 1]).toMatch(/ 90 00$/);
    expect(session[i + 2]).toMatch(/^mkc> 80 7C/);
    expect(session[i + 3]).toBe('mkc< 90 00');
  });
});
