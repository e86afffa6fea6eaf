import { MalformedDataError } from '../../card/index.js';

/**
 * What is wrong with a card file (or with the key or state that guard it):
 * - `damaged`: not a card file, truncated, checksum, a header that is not ours, a card that cannot
 *   be rebuilt from it;
 * - `not-authentic`: the AES-256-GCM tag does not verify — the file was edited, or pieces of
 *   another file were spliced in;
 * - `wrong-key`: sealed under another card key than the one given;
 * - `rolled-back`: an older copy than the last one saved (the state record's generation);
 * - `forked`: the same generation as the last save but other contents — two copies diverged;
 * - `swapped`: the file under this name holds another card than the one last saved under it;
 * - `conflict`: on save, another process saved the card after this one opened it;
 * - `unsealed`: a lab file (no seal) opened without asking for lab mode;
 * - `key`: the card key is missing, unreadable, readable by others or badly formed;
 * - `state`: the rollback state record is damaged or belongs to another key.
 */
export type CardFileProblem =
  | 'damaged'
  | 'not-authentic'
  | 'wrong-key'
  | 'rolled-back'
  | 'forked'
  | 'swapped'
  | 'conflict'
  | 'unsealed'
  | 'key'
  | 'state';

/**
 * The one error a card file, its key or its state record gives when it cannot be used: a
 * `MalformedDataError` of kind 'card-file' (so callers that catch that keep working) with the
 * `problem` as data. `damaged` keeps the parser's "malformed card-file at offset N" message; the
 * others say "card file refused (<problem>)".
 */
export class CardFileError extends MalformedDataError {
  constructor(
    readonly problem: CardFileProblem,
    reason: string,
    offset = 0,
    raw?: Uint8Array,
  ) {
    super(reason, offset, raw, 'card-file');
    if (problem !== 'damaged') this.message = `card file refused (${problem}): ${reason}`;
  }

  /** A container error from `decodeStoreFile` as a `damaged` CardFileError (offset and bytes kept). */
  static damaged(e: MalformedDataError): CardFileError {
    return new CardFileError('damaged', e.reason, e.offset, e.raw);
  }
}
