// Batch issuance through PC/SC (issue 12, "Measured"): `meterpurse card issue --reader` over a
// private pcscd + vpcd, ISSUE_PCSC_CARDS (default 100) blank subscriber chips each served by its
// own `meterpurse card serve --vpcd` process (the "operator" inserting the next card when the
// command asks for it). Two figures: the whole batch in cards per second (including each card's
// swap: stopping one `card serve`, starting the next, pcscd noticing), and the personalisation
// alone (from the card served to the command's "done: take it out": SELECT, the whole §2
// session over PC/SC, the MKC card file saved, the journal and audit writes).
// Needs root (pcscd under `unshare -m`, test/pcsc/harness.ts); skipped with the reason otherwise.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Figure } from './run.js';
import { READER_1, pcscMissing, startPcscd } from '../test/pcsc/harness.js';
import { makeBureau, subscribersCsv } from '../test/cli/issueFixture.js';
import { blankCards, operate } from '../test/cli/issuePcscOperator.js';
import { percentiles } from './measure.js';

const CARDS = Number(process.env['ISSUE_PCSC_CARDS'] ?? 100);

export default async function bench(): Promise<Figure[]> {
  const missing = pcscMissing(['cc']);
  if (missing) {
    console.log(`  (skipped: ${missing})`);
    return [];
  }
  const dir = mkdtempSync(join(tmpdir(), 'issue-pcsc-bench-'));
  const pcscd = await startPcscd({ nodelay: true });
  try {
    const b = await makeBureau(join(dir, 'bureau'), 'issue-pcsc-bench');
    const csv = join(dir, 'batch.csv');
    writeFileSync(csv, subscribersCsv(CARDS));
    const cards = blankCards(b, dir, CARDS);
    const args = [
      'card',
      'issue',
      '--batch',
      csv,
      '--mkc',
      b.mkcPath,
      '--reader',
      READER_1,
      '--journal',
      join(dir, 'batch.journal'),
      '--key-file',
      b.keyFile,
      '--serial-start',
      '4D50000000000001',
      '--card-timeout',
      '60',
    ];
    const t0 = performance.now();
    const r = await operate(
      args,
      { ...pcscd.env, ...b.env, MP_CARD_KEY_FILE: b.keyFile },
      cards,
      pcscd.port + 1,
    );
    const seconds = (performance.now() - t0) / 1000;
    if (r.code !== 0 || r.inReaderMs.length !== CARDS)
      throw new Error(`card issue --reader: ${r.out.slice(-2000)}`);
    const inReader = r.inReaderMs.reduce((a, x) => a + x, 0) / 1000;
    const { median, p99 } = percentiles(r.inReaderMs);
    return [
      {
        name: `PC/SC (vpcd) batch of ${CARDS}, card swaps included`,
        value: CARDS / seconds,
        unit: 'cards/s',
      },
      {
        name: `PC/SC (vpcd) personalisation alone, ${CARDS} cards`,
        value: CARDS / inReader,
        unit: 'cards/s',
      },
      { name: '  per card in the reader, median', value: median, unit: 'ms' },
      { name: '  per card in the reader, p99', value: p99, unit: 'ms' },
    ];
  } finally {
    await pcscd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
