/**
 * `card issue --reader` through real PC/SC (issue 12): blank subscriber chips served one after the
 * other by `meterpurse card serve --vpcd` into a private pcscd, the command asking for each card
 * on stderr and personalising it through PcscReader; then a kill inside a card's personalisation
 * (the chip stays blank: personalised again from the start on restart) and a kill after SET
 * STATUS before the journal knew (the restart finds the card personalised as its row: done).
 * Needs root (pcscd under `unshare -m`, test/pcsc/harness.ts); skipped with the reason otherwise.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../card/index.js';
import { VirtualReader } from '../../reader/index.js';
import { readChip } from '../../terminal/index.js';
import { openCardFile } from '../../cli/cardfile/index.js';
import { BatchJournal } from '../../cli/issue/BatchJournal.js';
import { READER_1, pcscMissing, startPcscd, type PrivatePcscd } from '../pcsc/harness.js';
import { makeBureau, subscribersCsv } from './issueFixture.js';
import { blankCards, operate } from './issuePcscOperator.js';

const missing = pcscMissing(['cc']);
if (missing) console.warn(`card issue --reader over PC/SC skipped: ${missing}`);

describe.skipIf(missing !== undefined)('card issue --reader through pcscd + vpcd', () => {
  let pcscd: PrivatePcscd;
  let dir: string;
  beforeAll(async () => {
    pcscd = await startPcscd({ nodelay: true });
    dir = mkdtempSync(join(tmpdir(), 'issue-pcsc-'));
  }, 30_000);
  afterAll(async () => {
    await pcscd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('personalises each blank card in the reader; a kill inside a session and one after SET STATUS both resume', async () => {
    const b = await makeBureau(join(dir, 'bureau'), 'issue-pcsc');
    const csv = join(dir, 'batch.csv');
    writeFileSync(csv, subscribersCsv(3));
    const cards = blankCards(b, dir, 3);
    const journal = join(dir, 'batch.journal');
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
      journal,
      '--key-file',
      b.keyFile,
      '--serial-start',
      '4D50000000000001',
      '--card-timeout',
      '30',
    ];
    const env = { ...pcscd.env, ...b.env, MP_CARD_KEY_FILE: b.keyFile };

    // row 1 done; row 2 killed inside its session (before the 6th APDU to the chip)
    const r1 = await operate(args, { ...env, MP_FAULT_KILL_AT: 'row:2:apdu:6' }, cards, pcscd.port + 1);
    expect(r1.signal, r1.out).toBe('SIGKILL');
    expect(r1.out).toMatch(/card 4D50000000000001 \(line 2\) done: take it out/);
    expect(r1.out).toMatch(
      /insert blank card for row 2\/3 \(line 3, subscriber 2, CSN 4D50000000000002\) into Virtual PCD 00 01/,
    );
    // the chip of row 2 is still blank: its session only staged, in RAM
    const mid = await readChip(
      await new VirtualReader(
        'c',
        openCardFile(cards[1]!, { keyFile: b.keyFile, rollback: false }).card,
      ).connect(),
    );
    expect(mid.lcs).toBe(3);

    // restart with the same card: personalised from the start; then killed after SET STATUS
    // of row 3, before its journal entry
    const r2 = await operate(
      args,
      { ...env, MP_FAULT_KILL_AT: 'row:3:after-mkc-save' },
      cards.slice(1),
      pcscd.port + 1,
    );
    expect(r2.signal, r2.out).toBe('SIGKILL');

    // restart with row 3's card (now personalised): recognised as this row's card, done
    const r3 = await operate(args, env, cards.slice(2), pcscd.port + 1);
    expect(r3.code, r3.out).toBe(0);
    expect(r3.out).toMatch(/line 4 subscriber 3: CSN 4D50000000000003 found issued \(resumed\)/);
    expect(r3.out).toMatch(/issued 0, skipped \(done before\) 3/);

    for (const [i, f] of cards.entries()) {
      const info = await readChip(
        await new VirtualReader('c', openCardFile(f, { keyFile: b.keyFile, rollback: false }).card).connect(),
      );
      expect([info.lcs, toHex(info.csn!)]).toEqual([5, `4D5000000000000${i + 1}`]);
    }
    const j = BatchJournal.open(journal);
    expect(j.all().map((r) => [r.csn, r.state, r.attempts])).toEqual([
      ['4D50000000000001', 'personalised', 1],
      ['4D50000000000002', 'personalised', 2],
      ['4D50000000000003', 'personalised', 1],
    ]);
    j.close();
  }, 120_000);
});
