/**
 * Card files: a card that survives a process restart (`meterpurse card serve <card-file>`,
 * trace replay). The file holds the profile id and configuration that rebuild the card and its
 * persistent image, in the container of `card/store/StoreFile.ts` (magic, version, CRC-32,
 * atomic writes).
 *
 * Header JSON: `{ "format": "meterpurse-card", "profile": "<id>", "config": { ... } }`.
 */
import { MalformedDataError } from './iso7816/errors.js';
import { buildCard, cardOrigin, type CardBuildOptions } from './os/CardProfiles.js';
import type { Iso7816Os } from './os/Iso7816Os.js';
import { readStoreFile, writeStoreFile } from './store/StoreFile.js';

export const CARD_FILE_FORMAT = 'meterpurse-card';

export interface OpenedCardFile {
  readonly path: string;
  readonly card: Iso7816Os;
  /** Writes the card's current persistent image back to the file (atomically). */
  save(): void;
}

function header(card: Iso7816Os): Record<string, unknown> {
  const o = cardOrigin(card);
  if (!o) throw new TypeError('card was not built from a registered profile (use buildCard)');
  return { format: CARD_FILE_FORMAT, profile: o.profile, config: o.config };
}

/**
 * Writes a card (built with `buildCard`) to a new or existing file.
 * @throws TypeError when the card has no profile; the Node.js error when the file cannot be written.
 */
export function createCardFile(path: string, card: Iso7816Os): void {
  writeStoreFile(path, header(card), card.store.image());
}

/**
 * Opens a card file and rebuilds its card (not powered: call `powerUp()`, which also recovers a
 * transaction torn before the file was saved).
 * @throws MalformedDataError (kind 'card-file') for a damaged file, an unknown profile or a
 *   configuration the profile rejects; the Node.js error (ENOENT ...) when it cannot be read.
 */
export function openCardFile(path: string, options: CardBuildOptions = {}): OpenedCardFile {
  const { header: h, image } = readStoreFile(path);
  if (
    h.format !== CARD_FILE_FORMAT ||
    typeof h.profile !== 'string' ||
    typeof h.config !== 'object' ||
    h.config === null
  )
    throw new MalformedDataError('header is not a meterpurse card header', 10, undefined, 'card-file');
  let card: Iso7816Os;
  try {
    card = buildCard(h.profile, h.config as Record<string, unknown>, image, options);
  } catch (e) {
    if (e instanceof TypeError || e instanceof RangeError || e instanceof MalformedDataError)
      throw new MalformedDataError(`cannot rebuild the card: ${e.message}`, 10, undefined, 'card-file');
    throw e;
  }
  return { path, card, save: () => writeStoreFile(path, header(card), card.store.image()) };
}
