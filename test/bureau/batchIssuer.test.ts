/**
 * BatchIssuer with a reader station in process (issue 12, "Bad input": a card pulled
 * mid-personalisation): the chip is pulled from its VirtualReader during the session, stays blank
 * (it commits only at SET STATUS), is put back and personalised from the start — one card, one
 * journal row with two attempts, one MKC count. A chip already personalised as another row is
 * refused by the reader station's check; the MKC personalises no serial twice.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  NodeCipherProvider,
  PersoCrypto,
  fromHex,
  makeBlankCard,
  toHex,
  KIND_SUBSCRIBER,
} from '../../card/index.js';
import { VirtualReader, type CardChannel } from '../../reader/index.js';
import { MasterKeyCard, parseBatchCsv, personalise, readChip, type BatchRow } from '../../terminal/index.js';
import { openCardFile } from '../../cli/cardfile/index.js';
import { AuditLog } from '../../cli/issue/AuditLog.js';
import { BatchIssuer, type IssueStation, type Obtained } from '../../cli/issue/BatchIssuer.js';
import { BatchJournal, type JournalRow } from '../../cli/issue/BatchJournal.js';
import { makeBureau, subscribersCsv } from '../cli/issueFixture.js';
import type { CommandApdu, ResponseApdu } from '../../card/index.js';

const dir = mkdtempSync(join(tmpdir(), 'issuer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A channel whose card is pulled out of its reader just before the `at`-th APDU. */
class PullingChannel implements CardChannel {
  #n = 0;
  constructor(
    private readonly inner: CardChannel,
    private readonly reader: VirtualReader,
    private readonly at: number,
  ) {}
  get readerName() {
    return this.inner.readerName;
  }
  get atr() {
    return this.inner.atr;
  }
  get protocol() {
    return this.inner.protocol;
  }
  transmit(c: CommandApdu): Promise<ResponseApdu> {
    if (++this.#n === this.at) this.reader.remove();
    return this.inner.transmit(c);
  }
  reset() {
    return this.inner.reset();
  }
  disconnect() {
    return this.inner.disconnect();
  }
}

describe('BatchIssuer: a card pulled during its personalisation', () => {
  it('is asked for again, still blank, and personalised once from the start', async () => {
    const b = await makeBureau(join(dir, 'b'), 'issuer-pull');
    const cipher = new NodeCipherProvider();
    const t = JSON.parse(readFileSync(b.transportPath, 'utf8')) as { tkv: number; key: string };
    const chips = [1, 2].map((i) => {
      const icsn = fromHex(`494353000000000${i}`);
      return makeBlankCard('subscriber', {
        icsn,
        tkv: t.tkv,
        transportKey: new PersoCrypto(cipher).transportKey(fromHex(t.key), icsn, KIND_SUBSCRIBER),
      });
    });
    const reader = new VirtualReader('bench reader');
    const told: string[] = [];
    let pullNext = true;
    const station: IssueStation = {
      async obtain(row: BatchRow, j: JournalRow): Promise<Obtained> {
        const chip = chips[row.subscriberId - 1]!;
        if (!reader.cardPresent) reader.insert(chip.os);
        const ch = await reader.connect();
        const info = await readChip(ch);
        told.push(`obtain ${j.csn} lcs ${info.lcs}`);
        // the first session of the first row loses its card before the 9th APDU to it
        const chipChannel = pullNext ? new PullingChannel(ch, reader, 9) : ch;
        pullNext = false;
        return {
          done: false,
          icsn: toHex(info.icsn!),
          tkv: info.tkv,
          chip: chipChannel,
          commit: async () => undefined,
        };
      },
      async pulled(row, j, e) {
        told.push(`pulled ${j.csn}: ${(e as Error).message.split(':')[0]}`);
      },
      async finished() {
        reader.remove();
      },
    };
    const opened = openCardFile(b.mkcPath, { keyFile: b.keyFile, rollback: false });
    const mkc = await MasterKeyCard.open(await new VirtualReader('mkc', opened.card).connect(), '246810');
    const journal = BatchJournal.open(join(dir, 'pull.journal'), '4D50000000000001');
    const issuer = new BatchIssuer(
      {
        journal,
        station,
        mkc: { mkc, status: await mkc.status(), save: () => undefined },
        audit: new AuditLog(join(dir, 'pull.audit.jsonl'), 'test'),
      },
      personalise,
    );
    const report = await issuer.run(parseBatchCsv(new TextEncoder().encode(subscribersCsv(2))).rows);
    expect([report.issued, report.refused]).toEqual([2, 0]);
    expect(told).toEqual([
      'obtain 4D50000000000001 lcs 3',
      expect.stringMatching(/^pulled 4D50000000000001: /),
      'obtain 4D50000000000001 lcs 3', // still blank after the pull
      'obtain 4D50000000000002 lcs 3',
    ]);
    expect(journal.all().map((r) => [r.csn, r.attempts, r.mkcCounter])).toEqual([
      ['4D50000000000001', 2, 1],
      ['4D50000000000002', 1, 2],
    ]);
    journal.close();
    for (const [i, c] of chips.entries()) {
      reader.insert(c.os);
      const info = await readChip(await reader.connect());
      reader.remove();
      expect([info.lcs, toHex(info.csn!)]).toEqual([5, `4D5000000000000${i + 1}`]);
    }
  });
});
