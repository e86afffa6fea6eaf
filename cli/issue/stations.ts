/**
 * Where the cards of a batch come from and go to (BatchIssuer's IssueStation):
 *
 * - `FileStation` (`--out <dir>`): the bureau plays the chip manufacturer too. For each row it
 *   makes a blank subscriber chip in memory — a random ICSN (kept in the journal: a retry of the
 *   row makes the same chip again) and K_tr = diversify(diversify(MK_tr, 'TR' ‖ kind), ICSN)
 *   from the manufacturer's transport master (`--transport-key-file`, which this mode therefore
 *   needs; a real bureau gets chips with K_tr already in them and never sees MK_tr) —
 *   personalises it through a VirtualReader, and writes it to `<dir>/<CSN>.card` atomically,
 *   sealed like `card new` does. A file that exists for the row's CSN is its card (a restart).
 * - `ReaderStation` (`--reader <name>`): a PC/SC reader. It asks on stderr for a blank card per
 *   row, and takes a card personalised as this row already (the row's CSN) as done — what a
 *   restart after a kill finds when the chip's SET STATUS went through.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  PersoCrypto,
  cardOrigin,
  fromHex,
  makeBlankCard,
  toHex,
  type BlockCipherProvider,
  KIND_SUBSCRIBER,
} from '../../card/index.js';
import { VirtualReader, type CardChannel, type PcscReader } from '../../reader/index.js';
import { isPersonalisedAs, readChip, type BatchRow, type PersoOrder } from '../../terminal/index.js';
import { createCardFile, openCardFile, type CardFileOptions } from '../cardfile/index.js';
import type { Io } from '../Command.js';
import { CommandError } from '../Command.js';
import type { IssueStation, Obtained } from './BatchIssuer.js';
import type { JournalRow } from './BatchJournal.js';

/** The path of a row's card file. */
export function cardPath(dir: string, csn: string): string {
  return join(dir, `${csn}.card`);
}

/** Temp files a killed `writeFileAtomic` of a card file left behind (`.<CSN>.card.<pid>.<ms>.tmp`). */
const STALE_TMP = /^\.[0-9A-F]{16}\.card\.[0-9]+\.[0-9]+\.tmp$/;

export class FileStation implements IssueStation {
  readonly #crypto: PersoCrypto;

  constructor(
    readonly dir: string,
    private readonly transport: { tkv: number; master: Uint8Array },
    private readonly files: CardFileOptions,
    cipher: BlockCipherProvider,
  ) {
    this.#crypto = new PersoCrypto(cipher);
    // A kill inside writeFileAtomic leaves its temp file (the card file itself is whole or absent).
    for (const f of readdirSync(dir)) if (STALE_TMP.test(f)) rmSync(join(dir, f), { force: true });
  }

  async obtain(row: BatchRow, j: JournalRow, order: PersoOrder): Promise<Obtained> {
    const path = cardPath(this.dir, j.csn);
    if (existsSync(path)) {
      // Written by a run that was killed before its journal entry: it is this row's card if it
      // holds this CSN, personalised (the file is only ever written after SET STATUS).
      let opened;
      try {
        opened = openCardFile(path, { ...this.files, rollback: false });
      } catch (e) {
        throw new CommandError(
          `card file ${path} of row ${row.line} cannot be opened: ${(e as Error).message}`,
          {
            cause: e,
          },
        );
      }
      const reader = new VirtualReader(`file ${j.csn}`, opened.card);
      const info = await readChip(await reader.connect(), 'subscriber');
      reader.remove();
      if (!isPersonalisedAs(info, order))
        throw new CommandError(
          `card file ${path} exists but is not card ${j.csn} personalised for line ${row.line}: move it away and run again`,
        );
      const icsn = cardOrigin(opened.card)?.config['icsn'];
      return { done: true, icsn: typeof icsn === 'string' ? icsn.toUpperCase() : null };
    }
    // The chip of an earlier attempt of this row, killed before its file was written, never
    // left memory: the same chip is made again (same ICSN, so the same K_tr). The MKC insists on
    // it — it personalises a serial again only for the chip it was issued to (6A89 otherwise).
    const icsn = j.icsn !== null ? fromHex(j.icsn) : new Uint8Array(randomBytes(8));
    const transportKey = this.#crypto.transportKey(this.transport.master, icsn, KIND_SUBSCRIBER);
    const chip = makeBlankCard('subscriber', { icsn, tkv: this.transport.tkv, transportKey });
    transportKey.fill(0);
    const reader = new VirtualReader(`blank ${j.csn}`, chip.os);
    const channel: CardChannel = await reader.connect();
    const files = this.files;
    return {
      done: false,
      icsn: toHex(icsn),
      tkv: this.transport.tkv,
      chip: channel,
      async commit() {
        reader.remove();
        createCardFile(path, chip.os, { ...files, rollback: false });
      },
    };
  }
}

export class ReaderStation implements IssueStation {
  constructor(
    private readonly reader: PcscReader,
    private readonly io: Io,
    private readonly timeoutMs: number,
  ) {}

  async obtain(
    row: BatchRow,
    j: JournalRow,
    order: PersoOrder,
    index: number,
    total: number,
  ): Promise<Obtained> {
    for (;;) {
      this.io.err(
        `insert blank card for row ${index}/${total} (line ${row.line}, subscriber ${row.subscriberId}, CSN ${j.csn}) into ${this.reader.name}\n`,
      );
      await this.reader.waitForCard(this.timeoutMs);
      const channel = await this.reader.connect();
      const info = await readChip(channel, 'subscriber');
      if (isPersonalisedAs(info, order)) return { done: true, icsn: j.icsn };
      if (info.lcs === 0x03 && info.kind === 'subscriber' && info.icsn)
        return {
          done: false,
          icsn: toHex(info.icsn),
          tkv: info.tkv,
          chip: channel,
          commit: async () => undefined,
        };
      this.io.err(
        `that card is not a blank subscriber card (${info.kind}, LCS ${info.lcs.toString(16).padStart(2, '0')}${info.csn ? `, CSN ${toHex(info.csn)}` : ''}): take it out\n`,
      );
      await channel.disconnect().catch(() => undefined);
      await this.reader.waitForRemoval(this.timeoutMs);
    }
  }

  async pulled(row: BatchRow, j: JournalRow, error: Error): Promise<void> {
    // The chip commits only at SET STATUS: it is still blank, and is personalised from the start.
    this.io.err(
      `the card of line ${row.line} (CSN ${j.csn}) went away during personalisation (${error.message}): it is still blank\n`,
    );
  }

  async finished(row: BatchRow, j: JournalRow): Promise<void> {
    this.io.err(`card ${j.csn} (line ${row.line}) done: take it out\n`);
    await this.reader.waitForRemoval(this.timeoutMs);
  }
}
