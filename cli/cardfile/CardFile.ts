/**
 * Card files: a card that survives a process restart (`meterpurse card new|show|serve`, trace
 * replay). A card file is the chip's memory, and outside the simulator nobody can edit a chip:
 * so a card file is sealed (AES-256-GCM, `cardFileCodec.ts`) under a card key kept outside it
 * (`CardKey.ts`), and each save is checked against a rollback state record kept beside the key
 * (`CardFileState.ts`). An edited, spliced, swapped or rolled-back file is refused with one typed
 * error, `CardFileError`.
 *
 * Lab mode (`unsealed: true`, CLI `--unsealed`) writes and reads unsealed files, for fault
 * injection: editable on purpose, marked in the header and reported by the CLI. A sealed reader
 * refuses them, so an unsealed file cannot stand in for a sealed card.
 *
 * This is the edge where card files touch the disk (node:fs); `card/` stays inside the chip.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { buildCard, cardOrigin, type CardBuildOptions } from '../../card/index.js';
import type { Iso7816Os } from '../../card/index.js';
import { CardFileError } from './CardFileError.js';
import { CardFileState, canonicalPath } from './CardFileState.js';
import { CardKey, resolveCardKey } from './CardKey.js';
import {
  decodeCardFile,
  encodeLabCardFile,
  encodeSealedCardFile,
  newCardId,
  type CardContent,
} from './cardFileCodec.js';
import { writeFileAtomic } from './writeFileAtomic.js';

export interface CardFileOptions extends CardBuildOptions {
  /** The card key; default: `resolveCardKey({ keyFile })` (created by `createCardFile` if missing). */
  key?: CardKey;
  /** `--key-file PATH`, when `key` is not given. */
  keyFile?: string;
  /** Lab mode: `createCardFile` writes an unsealed file; `openCardFile` accepts one. */
  unsealed?: boolean;
  /** The user moved this card under a name another card was saved under, on purpose. */
  moved?: boolean;
  /** Check and keep the rollback state record beside the key (default true). */
  rollback?: boolean;
  /** Told the path of the key file when `createCardFile` had to make one. */
  onKeyCreated?: (path: string) => void;
}

/** How a card file is protected, for the CLI to say so. */
export interface CardFileSeal {
  readonly sealed: boolean;
  /** Sealed: the card's id (32 hex), the key's id, where the key came from, the generation. */
  readonly cardId?: string;
  readonly keyId?: string;
  readonly keySource?: string;
  /** The key file, when the key came from one. */
  readonly keyFile?: string;
  readonly generation?: number;
}

export interface OpenedCardFile extends CardFileSeal {
  readonly path: string;
  readonly card: Iso7816Os;
  /**
   * Writes the card's current persistent image back to the file (atomically); a sealed file
   * becomes the next generation.
   * @throws CardFileError 'conflict' when another process saved the card since; the Node.js error
   *   when it cannot be written.
   */
  save(): void;
}

function contentOf(card: Iso7816Os): CardContent {
  const o = cardOrigin(card);
  if (!o) throw new TypeError('card was not built from a registered profile (use buildCard)');
  return { profile: o.profile, config: o.config, image: card.store.image(), layout: layoutOf(card) };
}

/**
 * A fingerprint of where the card's records sit in its persistent image (region names and sizes in
 * allocation order). Allocation is positional, so an image written by a version of meterpurse with
 * another layout would be read at the wrong places: such a file is refused, not misread.
 */
export function layoutOf(card: Iso7816Os): string {
  const regions = card.store.regions().map((r) => `${r.name}:${r.size}`);
  return createHash('sha256').update(regions.join('\n')).digest('hex').slice(0, 16);
}

function checkLayout(content: CardContent, card: Iso7816Os): void {
  const now = layoutOf(card);
  if (content.layout === now) return;
  throw new CardFileError(
    'damaged',
    content.layout === undefined
      ? 'the card file comes from an older meterpurse that did not record its record layout; its records cannot be read safely — make a new card (meterpurse card new)'
      : `the card file's records are laid out differently (layout ${content.layout}, this meterpurse ${now}): it comes from another version — make a new card (meterpurse card new)`,
    10,
  );
}

function stateOf(key: CardKey, options: CardFileOptions): CardFileState | undefined {
  if (options.rollback === false || key.statePath === undefined) return undefined;
  return new CardFileState(key.statePath, key.keyId);
}

function rebuild(content: CardContent, options: CardBuildOptions, probe: boolean): Iso7816Os {
  try {
    const card = buildCard(content.profile, content.config, content.image, options);
    checkLayout(content, card);
    if (probe) {
      // Lab files are whatever someone typed: make sure one comes up before handing it out.
      const scratch = buildCard(content.profile, content.config, content.image.slice(), options);
      scratch.powerUp();
      scratch.powerDown();
    }
    return card;
  } catch (e) {
    if (e instanceof CardFileError) throw e;
    throw new CardFileError(
      'damaged',
      `cannot rebuild the card: ${e instanceof Error ? e.message : String(e)}`,
      10,
    );
  }
}

/**
 * Writes a card (built with `buildCard`) to a new or existing file: sealed under the card key
 * (made if there is none yet) as generation 0 of a new card id, or unsealed in lab mode.
 * @returns how the file is protected.
 * @throws TypeError when the card has no profile; CardFileError 'key' / 'state'; the Node.js
 *   error when the file cannot be written.
 */
export function createCardFile(path: string, card: Iso7816Os, options: CardFileOptions = {}): CardFileSeal {
  const content = contentOf(card);
  if (options.unsealed) {
    writeFileAtomic(path, encodeLabCardFile(content));
    return { sealed: false };
  }
  const key =
    options.key ?? resolveCardKey({ keyFile: options.keyFile, create: true, onCreate: options.onKeyCreated });
  const cardId = newCardId();
  const { bytes, tag } = encodeSealedCardFile(key, cardId, 0, content);
  const state = stateOf(key, options);
  state?.read(); // refuse a damaged record before writing anything
  writeFileAtomic(path, bytes);
  state?.record({ cardId, generation: 0, tag, path: canonicalPath(path) });
  return {
    sealed: true,
    cardId,
    keyId: key.keyId,
    keySource: key.source,
    ...(key.file !== undefined ? { keyFile: key.file } : {}),
    generation: 0,
  };
}

/**
 * Opens a card file and rebuilds its card (not powered: call `powerUp()`, which also recovers a
 * transaction torn before the file was saved).
 * @throws CardFileError (a MalformedDataError of kind 'card-file') for every file that cannot be
 *   used — damaged, not authentic, wrong key, rolled back, forked, swapped, unsealed without lab
 *   mode, an unknown profile or a configuration the profile rejects — and for a missing or bad
 *   key or state record; the Node.js error (ENOENT ...) when the file cannot be read.
 */
export function openCardFile(path: string, options: CardFileOptions = {}): OpenedCardFile {
  const bytes = new Uint8Array(readFileSync(path));
  let key: CardKey | undefined = options.key;
  const decoded = decodeCardFile(bytes, () => (key ??= resolveCardKey({ keyFile: options.keyFile })));
  if (!decoded.sealed) {
    if (!options.unsealed)
      throw new CardFileError(
        'unsealed',
        `${path} is an UNSEALED lab card file${decoded.version === 1 ? ' (version 1, from before sealing)' : ''}: anyone could have edited it; open it in lab mode (--unsealed) or seal it ('meterpurse card seal')`,
        10,
      );
    const card = rebuild(decoded.content, options, true);
    return {
      path,
      card,
      sealed: false,
      save: () => writeFileAtomic(path, encodeLabCardFile(contentOf(card))),
    };
  }
  const k = key!;
  const state = stateOf(k, options);
  let current = { ...decoded.facts, path: canonicalPath(path) };
  state?.admit(current, options.moved);
  const card = rebuild(decoded.content, options, false);
  const handle = {
    path,
    card,
    sealed: true,
    cardId: current.cardId,
    keyId: k.keyId,
    keySource: k.source,
    generation: current.generation,
    save(): void {
      state?.checkUnchanged(current);
      const next = current.generation + 1;
      const { bytes: out, tag } = encodeSealedCardFile(k, current.cardId, next, contentOf(card));
      writeFileAtomic(path, out);
      current = { ...current, generation: next, tag, path: canonicalPath(path) };
      handle.generation = next;
      state?.record(current);
    },
  };
  return handle;
}
