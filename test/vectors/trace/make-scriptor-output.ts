/**
 * Produces `scriptor-output-iso-fs-basic.txt`: the real pcsc-tools `scriptor` running the scriptor
 * export of `apdu-traces/iso-fs-basic.trace` against a fresh `iso-fs` card served by
 * `meterpurse card serve` through a private pcscd + vpcd (the harness of test/pcsc).
 *
 *   npx tsx test/vectors/trace/make-scriptor-output.ts
 *
 * Needs root, pcscd, vpcd and scriptor. The output is committed so that the import test runs
 * everywhere.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCardFile } from '../../../cli/cardfile/index.js';
import { buildCard } from '../../../card/os/CardProfiles.js';
import { Trace, exportScriptorScript } from '../../../reader/trace/index.js';
import { READER_0, REPO, runTool, startCardServe, startPcscd } from '../../pcsc/harness.js';

const dir = mkdtempSync(join(tmpdir(), 'mp-scriptor-'));
// A throwaway card key for this card (and the card serve child, which inherits the environment).
process.env.MP_CONFIG_DIR = dir;
const card = join(dir, 'iso-fs.card');
createCardFile(card, buildCard('iso-fs'));
const script = join(dir, 'iso-fs-basic.scriptor');
writeFileSync(script, exportScriptorScript(Trace.parse(readFileSync(join(REPO, 'apdu-traces/iso-fs-basic.trace'), 'utf8'))));
const pcscd = await startPcscd();
try {
  const serve = await startCardServe(card, pcscd.port, pcscd.env);
  try {
    // pcscd notices the served card a moment after vpcd accepted it.
    let r = await runTool('scriptor', ['-r', READER_0, script], pcscd.env, { timeoutMs: 60_000 });
    for (let i = 0; i < 50 && r.stderr.includes('No smartcard inserted'); i++) {
      await new Promise((ok) => setTimeout(ok, 200));
      r = await runTool('scriptor', ['-r', READER_0, script], pcscd.env, { timeoutMs: 60_000 });
    }
    if (r.code !== 0) throw new Error(`scriptor failed (${r.code}): ${r.stderr}`);
    writeFileSync(join(REPO, 'test/vectors/trace/scriptor-output-iso-fs-basic.txt'), r.stdout);
    writeFileSync(join(REPO, 'test/vectors/trace/scriptor-iso-fs-basic.script'), readFileSync(script, 'utf8'));
    console.log(r.stdout);
  } finally {
    await serve.stop();
  }
} finally {
  await pcscd.stop();
}
