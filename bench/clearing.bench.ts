// Clearing figures (issue 13): uploaded records ingested per second by the host's ClearingService,
// with durable commits (WAL, synchronous = FULL; one transaction — one fsync — per upload page).
//
// Timed per record: the length and field checks, the MAC check (card records: TDES CBC-MAC under
// K_proof(CSN), derived once per card and cached; SVM records: under the meter's K_svm), and the
// once-only insert under the natural key. Not timed: making the records (their MACs are computed
// before the clock starts). CLEARING_BENCH_N sets how many records (default 200,000; the issue's
// batch is 1,000,000: `CLEARING_BENCH_N=1000000 npx tsx bench/run.ts clearing`); CLEARING_BENCH_PAGE
// the records per page (default 500: about one power-line upload page of 8 KB holds 200).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Figure } from './run.js';
import { NodeCipherProvider } from '../card/crypto/index.js';
import { IssuerKeys } from '../card/index.js';
import { recordMacInput } from '../card/applets/PurseCrypto.js';
import { LogRecord } from '../card/applets/purse/records.js';
import { SvmLogRecord } from '../card/applets/svm/records.js';
import { be16 } from '../card/util/bigEndian.js';
import { HostDb } from '../host/service/HostDb.js';
import { ClearingService } from '../host/clearing/ClearingService.js';
import { svmRecordMacInput, type MeterUpload } from '../host/clearing/records.js';

export default async function bench(): Promise<Figure[]> {
  const cipher = new NodeCipherProvider();
  const issuer = IssuerKeys.demo(cipher, 'bench');
  const N = Number(process.env['CLEARING_BENCH_N'] ?? 200_000);
  const PAGE = Number(process.env['CLEARING_BENCH_PAGE'] ?? 500);
  const CARDS = 1000;
  const dir = mkdtempSync(join(tmpdir(), 'clearing-bench-'));
  const db = new HostDb(join(dir, 'host.db'));
  try {
    db.db.prepare("INSERT INTO subscribers (name) VALUES ('bench')").run();
    const meterId = Uint8Array.of(0x00, 0xbe, 0x01);
    db.db
      .prepare(
        "INSERT INTO meters (id, subscriber_id, key_version, as_id, ls_id, modem) VALUES ('00BE01', 1, 0, 0, 1, 1)",
      )
      .run();
    const clearing = new ClearingService(db, { keys: issuer, purse: 1, termMs: 0 });

    // Records made outside the timed part: 3 card records to 1 SVM record, as a meter's upload.
    const kSvm = issuer.svmKey(meterId, 1, 1);
    const proofs = Array.from({ length: CARDS }, (_, i) => {
      const csn = Uint8Array.of(0x4d, 0x50, 0, 0, 0, 0, i >> 8, i & 0xff);
      return { csn, key: issuer.cardKeys(csn, 1).proof };
    });
    const dateTime = Uint8Array.of(0x26, 0x11, 0x22, 0x08, 0x30, 0x00);
    const terminalId = Uint8Array.of(0, 0xbe, 0, 1);
    const pages: MeterUpload[] = [];
    let svmCounter = 0;
    for (let made = 0; made < N;) {
      const cardRecords: MeterUpload['cardRecords'][number][] = [];
      const svmRecords: MeterUpload['svmRecords'][number][] = [];
      for (let k = 0; k < PAGE && made < N; k++, made++) {
        if (made % 4 === 3) {
          svmCounter++;
          const record = new SvmLogRecord(
            2,
            new Uint8Array(10),
            1,
            1_000_000 - svmCounter,
            svmCounter,
            dateTime,
          ).encode();
          svmRecords.push({ record, mac: issuer.crypto.mac(kSvm, svmRecordMacInput(meterId, record)) });
        } else {
          const card = proofs[made % CARDS]!;
          const counter = Math.floor(made / CARDS) + 1;
          const rv = Uint8Array.of(0, 0, 0, 0, ...be16(counter), 0, 1);
          const f = { csn: card.csn, purse: 1, amount: 10, counter, terminalId, dateTime };
          const mac = issuer.crypto.mac(card.key, recordMacInput('D', f, 100_000 - 10 * counter, rv));
          cardRecords.push({
            csn: card.csn,
            record: new LogRecord(
              2,
              1,
              10,
              100_000 - 10 * counter,
              counter,
              terminalId,
              dateTime,
              rv,
              mac,
            ).encode(),
          });
        }
      }
      pages.push({ svmRecords, cardRecords, pending: [], attempts: [] });
    }

    const t0 = performance.now();
    let stored = 0;
    let seq = 0;
    for (const p of pages) {
      const r = clearing.ingest('00BE01', p, { journal: (seq += p.cardRecords.length), svm: svmCounter });
      stored += r.card.stored + r.svm.stored;
    }
    const s = (performance.now() - t0) / 1000;
    if (stored !== N) throw new Error(`stored ${stored} of ${N}`);
    // the same pages again: every record a duplicate, nothing stored
    const t1 = performance.now();
    const again = pages.slice(0, Math.max(1, Math.floor(pages.length / 10)));
    let dup = 0;
    for (const p of again) {
      const r = clearing.ingest('00BE01', p);
      dup += r.card.duplicates + r.svm.duplicates;
    }
    const s2 = (performance.now() - t1) / 1000;
    return [
      {
        name: `records ingested (${N.toLocaleString('en-US')}, ${PAGE}/page, fsync per page)`,
        value: N / s,
        unit: 'records/s',
      },
      { name: 'duplicate records recognised (re-uploaded pages)', value: dup / s2, unit: 'records/s' },
      { name: `time for the batch of ${N.toLocaleString('en-US')}`, value: s, unit: 's' },
    ];
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
