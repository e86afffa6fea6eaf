/**
 * The rollback state record: beside the card key (`<key file>.state`), the last generation and
 * GCM tag saved for each sealed card, and the path it was saved under.
 *
 * ```json
 * { "format": "meterpurse-card-state", "version": 1, "keyId": "<16 hex>",
 *   "cards": { "<card id, 32 hex>": { "generation": 7, "tag": "<32 hex>", "path": "/abs/my.card" } } }
 * ```
 *
 * Why each rule (a card file is the chip's memory; a chip cannot be copied back in time):
 * - a file older than the record (generation below it) is a rolled-back copy;
 * - a file of the record's generation with another tag is a second copy that was used in
 *   parallel (both saved generation n + 1 from n): the copies forked;
 * - a file newer than the record is accepted and the record catches up — that is the process
 *   that died between writing the card file and writing this record (the card file is written
 *   first, so a crash can only leave the record behind, never ahead);
 * - a file whose card id is not the one last saved under its path is a swap (card B's file
 *   copied over card A's name), unless the user says the move was on purpose (`--moved`).
 *
 * What it cannot see: a card never recorded (first sight is trusted); a record deleted, or rolled
 * back together with the card files (a whole-disk or whole-directory restore); a copy taken to
 * another machine or used with another state record. Two processes writing the record at the same
 * instant can lose one update; that only leaves the record behind (see the third rule), never
 * refuses a good file.
 */
import { mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CardFileError } from './CardFileError.js';
import { writeFileAtomic } from './writeFileAtomic.js';

export const CARD_STATE_FORMAT = 'meterpurse-card-state';

export interface CardStateEntry {
  generation: number;
  tag: string;
  path: string;
}

/** The identity of one saved sealed file: what the record is compared with. */
export interface SealedFileIdentity {
  cardId: string;
  generation: number;
  tag: string;
  /** Absolute, symlinks resolved (`canonicalPath`). */
  path: string;
}

/** The path as the record keeps it: absolute, symlinks resolved when the file exists. */
export function canonicalPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

function stateError(path: string, why: string): CardFileError {
  return new CardFileError(
    'state',
    `rollback state record ${path} ${why} (restore it from a backup; deleting it turns off rollback detection until every card is saved again)`,
  );
}

export class CardFileState {
  constructor(
    readonly path: string,
    readonly keyId: string,
  ) {}

  /**
   * Every card's entry (empty when there is no record yet).
   * @throws CardFileError (problem 'state') when the record is damaged or of another key.
   */
  read(): Map<string, CardStateEntry> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw stateError(this.path, `cannot be read: ${(e as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw stateError(this.path, 'is not JSON');
    }
    const o = json as { format?: unknown; version?: unknown; keyId?: unknown; cards?: unknown };
    if (
      typeof json !== 'object' ||
      json === null ||
      o.format !== CARD_STATE_FORMAT ||
      o.version !== 1 ||
      typeof o.cards !== 'object' ||
      o.cards === null ||
      Array.isArray(o.cards)
    )
      throw stateError(this.path, 'is not a meterpurse card state record');
    if (o.keyId !== this.keyId)
      throw stateError(this.path, `belongs to card key ${String(o.keyId)}, not ${this.keyId}`);
    const out = new Map<string, CardStateEntry>();
    for (const [id, v] of Object.entries(o.cards as Record<string, unknown>)) {
      const e = v as Partial<CardStateEntry> | null;
      if (
        !/^[0-9a-f]{32}$/.test(id) ||
        typeof e !== 'object' ||
        e === null ||
        !Number.isSafeInteger(e.generation) ||
        (e.generation as number) < 0 ||
        typeof e.tag !== 'string' ||
        !/^[0-9a-f]{32}$/.test(e.tag) ||
        typeof e.path !== 'string'
      )
        throw stateError(this.path, `has a bad entry for card ${id}`);
      out.set(id, { generation: e.generation as number, tag: e.tag, path: e.path });
    }
    return out;
  }

  #write(cards: Map<string, CardStateEntry>): void {
    const json = {
      format: CARD_STATE_FORMAT,
      version: 1,
      keyId: this.keyId,
      cards: Object.fromEntries([...cards].sort(([a], [b]) => a.localeCompare(b))),
    };
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.path, new TextEncoder().encode(`${JSON.stringify(json, null, 1)}\n`));
  }

  /**
   * Checks a sealed file being opened against the record, then records it.
   * @param moved the user put this card under a name another card was saved under on purpose.
   * @throws CardFileError 'rolled-back', 'forked' or 'swapped' (the record is then unchanged);
   *   'state' for a damaged record.
   */
  admit(file: SealedFileIdentity, moved = false): void {
    const cards = this.read();
    const known = cards.get(file.cardId);
    if (known && file.generation < known.generation)
      throw new CardFileError(
        'rolled-back',
        `${file.path} is generation ${file.generation} of card ${file.cardId}, but generation ${known.generation} was saved (to ${known.path}): this is an old copy`,
      );
    if (known && file.generation === known.generation && file.tag !== known.tag)
      throw new CardFileError(
        'forked',
        `${file.path} is generation ${file.generation} of card ${file.cardId}, but another copy of that generation was saved (to ${known.path}): two copies of the card were used`,
      );
    let changed = !known || known.generation !== file.generation || known.path !== file.path;
    for (const [id, e] of cards) {
      if (id === file.cardId || e.path !== file.path) continue;
      if (!moved)
        throw new CardFileError(
          'swapped',
          `${file.path} holds card ${file.cardId}${known ? ` (last saved to ${known.path})` : ''}, but card ${id} was last saved under this name: a swapped file (if you moved it on purpose, say --moved)`,
        );
      cards.set(id, { ...e, path: '' });
      changed = true;
    }
    if (!changed) return;
    cards.set(file.cardId, { generation: file.generation, tag: file.tag, path: file.path });
    this.#write(cards);
  }

  /**
   * Before saving generation n + 1 of a card opened (or last saved) at `current`: refuses when
   * the record moved on meanwhile — another process saved the card.
   * @throws CardFileError 'conflict'; 'state' for a damaged record.
   */
  checkUnchanged(current: SealedFileIdentity): void {
    const known = this.read().get(current.cardId);
    if (known && (known.generation !== current.generation || known.tag !== current.tag))
      throw new CardFileError(
        'conflict',
        `card ${current.cardId} was saved as generation ${known.generation} (to ${known.path}) after this process opened generation ${current.generation}: not overwriting it`,
      );
  }

  /**
   * Records a file just written (after the write: a crash in between leaves the record behind,
   * which `admit` accepts). A new card written to a path takes the path from any other card.
   * @throws CardFileError 'state' for a damaged record; the Node.js error when it cannot be written.
   */
  record(file: SealedFileIdentity): void {
    const cards = this.read();
    for (const [id, e] of cards)
      if (id !== file.cardId && e.path === file.path) cards.set(id, { ...e, path: '' });
    cards.set(file.cardId, { generation: file.generation, tag: file.tag, path: file.path });
    this.#write(cards);
  }
}
