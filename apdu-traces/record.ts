/**
 * Rewrites the reference traces of this folder from `sessions.ts`:
 * `npx tsx apdu-traces/record.ts` (all) or `npx tsx apdu-traces/record.ts <name>`.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SESSIONS, recordSession } from './sessions.js';
import { FLOWS, recordFlow } from './flows.js';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv[2];
for (const s of SESSIONS.filter((x) => !only || x.name === only)) {
  const path = join(here, `${s.name}.trace`);
  writeFileSync(path, await recordSession(s));
  console.log(`wrote ${path}`);
}
for (const f of FLOWS.filter((x) => !only || x.name === only)) {
  const path = join(here, `${f.name}.trace`);
  writeFileSync(path, await recordFlow(f));
  console.log(`wrote ${path}`);
}
