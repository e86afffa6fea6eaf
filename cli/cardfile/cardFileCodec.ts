/**
 * Card files, sealed and unsealed, as bytes (no file I/O; `CardFile.ts` reads and writes them).
 * Both are version 2 of the container of `card/store/StoreFile.ts`:
 *
 * ```
 *  0      4  magic "MPCF"  │
 *  4      2  version 0002  │ in clear, authenticated: the AAD of AES-256-GCM
 *  6      4  M             │
 *  10     M  header JSON   │
 *  10+M   4  N             │
 *  14+M   N  body          sealed: ciphertext ‖ 16-byte GCM tag;  lab: the image in clear
 *  14+M+N 4  CRC-32        accidental damage only (anyone can recompute it)
 * ```
 * Sealed header: `{"format":"meterpurse-card","seal":"aes-256-gcm","keyId":"<16 hex>",
 * "cardId":"<32 hex>","generation":n,"nonce":"<24 hex>"}`. The plaintext under the seal:
 *
 * ```
 *  0    4  J      length of the content JSON
 *  4    J  JSON   {"profile":"<id>","config":{...}}   (the configuration may hold key seeds)
 *  4+J     image  PersistentStore.image(): every key, PIN, purse and log of the chip
 * ```
 * The card id and generation are in clear so the rollback record can be consulted, and bound to
 * the contents by the AAD; the subkey is derived from the card id (see CardKey.ts), so a body or
 * a piece of one moved from another card's file does not verify. A fresh random nonce per save.
 *
 * Lab header (no seal; opened only on request): `{"format":"meterpurse-card","seal":"none",
 * "lab":"UNSEALED LAB FILE ...","profile":"<id>","config":{...}}`, the body the image. Version 1
 * files (before sealing existed: the same header without `seal`) are read as lab files.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { MalformedDataError } from '../../card/index.js';
import { decodeStoreFile, encodeStoreFile } from '../../card/index.js';
import { fromHex, toHex } from '../../card/index.js';
import type { CardKey } from './CardKey.js';
import { CardFileError } from './CardFileError.js';

export const CARD_FILE_FORMAT = 'meterpurse-card';
export const SEAL_AES_256_GCM = 'aes-256-gcm';
export const SEAL_NONE = 'none';
export const LAB_NOTICE =
  'UNSEALED LAB FILE: anyone can edit it and only a CRC guards it; for fault injection, never for cards that hold value';
const TAG_LENGTH = 16;
const NONCE_LENGTH = 12;
const CARD_ID_LENGTH = 16;
const SEALED_KEYS = ['format', 'seal', 'keyId', 'cardId', 'generation', 'nonce'].sort().join();

/** What rebuilds a card: its profile, configuration and persistent image. */
export interface CardContent {
  profile: string;
  config: Record<string, unknown>;
  image: Uint8Array;
  /**
   * The record layout the image was written with (CardFile.ts `layoutOf`): a rebuild with another
   * layout would read every record at the wrong place, so it is refused. Absent in files written
   * before it was recorded.
   */
  layout?: string;
}

const layoutOf = (v: unknown): { layout?: string } => (typeof v === 'string' ? { layout: v } : {});

export interface SealedFacts {
  /** 32 hex digits. */
  cardId: string;
  generation: number;
  keyId: string;
  /** The GCM tag, 32 hex digits: names this exact save in the rollback record. */
  tag: string;
}

export type DecodedCardFile =
  | { sealed: false; version: number; content: CardContent }
  | { sealed: true; facts: SealedFacts; content: CardContent };

/** A new random card id (32 hex digits). */
export function newCardId(): string {
  return toHex(new Uint8Array(randomBytes(CARD_ID_LENGTH))).toLowerCase();
}

function damaged(reason: string, offset: number, raw?: Uint8Array): CardFileError {
  return new CardFileError('damaged', reason, offset, raw);
}

function checkContent(profile: unknown, config: unknown, offset: number, raw: Uint8Array): void {
  if (typeof profile !== 'string' || typeof config !== 'object' || config === null || Array.isArray(config))
    throw damaged('header is not a meterpurse card header', offset, raw);
}

/**
 * Seals a card's content under `key` as generation `generation` of card `cardId`.
 * @returns the file's bytes and its GCM tag (hex).
 * @throws RangeError for a card id that is not 32 lower-case hex digits or a bad generation.
 */
export function encodeSealedCardFile(
  key: CardKey,
  cardId: string,
  generation: number,
  content: CardContent,
): { bytes: Uint8Array; tag: string } {
  if (!/^[0-9a-f]{32}$/.test(cardId)) throw new RangeError('cardId must be 32 lower-case hex digits');
  if (!Number.isSafeInteger(generation) || generation < 0)
    throw new RangeError(`generation must be a non-negative integer, got ${generation}`);
  const json = new TextEncoder().encode(
    JSON.stringify({ profile: content.profile, config: content.config, layout: content.layout }),
  );
  const plain = new Uint8Array(4 + json.length + content.image.length);
  new DataView(plain.buffer).setUint32(0, json.length);
  plain.set(json, 4);
  plain.set(content.image, 4 + json.length);
  const nonce = new Uint8Array(randomBytes(NONCE_LENGTH));
  const header = {
    format: CARD_FILE_FORMAT,
    seal: SEAL_AES_256_GCM,
    keyId: key.keyId,
    cardId,
    generation,
    nonce: toHex(nonce).toLowerCase(),
  };
  const bodyLength = plain.length + TAG_LENGTH;
  // The AAD is the file's own prefix, so encode once with a blank body to get it.
  const draft = encodeStoreFile(header, new Uint8Array(bodyLength), 2);
  const aad = draft.subarray(0, draft.length - bodyLength - 4);
  const subkey = key.subkey(fromHex(cardId));
  try {
    const c = createCipheriv('aes-256-gcm', subkey, nonce, { authTagLength: TAG_LENGTH });
    c.setAAD(aad);
    const body = new Uint8Array(bodyLength);
    body.set(c.update(plain), 0);
    const fin = c.final();
    body.set(fin, plain.length - fin.length);
    const tag = new Uint8Array(c.getAuthTag());
    body.set(tag, plain.length);
    return { bytes: encodeStoreFile(header, body, 2), tag: toHex(tag).toLowerCase() };
  } finally {
    subkey.fill(0);
    plain.fill(0);
  }
}

/** An unsealed lab file: the content in clear, marked as such in its header. */
export function encodeLabCardFile(content: CardContent): Uint8Array {
  return encodeStoreFile(
    {
      format: CARD_FILE_FORMAT,
      seal: SEAL_NONE,
      lab: LAB_NOTICE,
      profile: content.profile,
      config: content.config,
      layout: content.layout,
    },
    content.image,
    2,
  );
}

/**
 * Decodes a card file; a sealed one is authenticated and decrypted with the key `keyFor()` gives
 * (asked only for sealed files, so a lab file needs no key).
 * @throws CardFileError: 'damaged' (container, header), 'wrong-key', 'not-authentic'; whatever
 *   `keyFor` throws (CardFileError 'key').
 */
export function decodeCardFile(bytes: Uint8Array, keyFor: () => CardKey): DecodedCardFile {
  let file;
  try {
    file = decodeStoreFile(bytes);
  } catch (e) {
    if (e instanceof MalformedDataError) throw CardFileError.damaged(e);
    throw e;
  }
  const { header: h, image: body, version, headerLength } = file;
  if (h.format !== CARD_FILE_FORMAT) throw damaged('header is not a meterpurse card header', 10, bytes);
  if (version === 1 || h.seal === SEAL_NONE) {
    checkContent(h.profile, h.config, 10, bytes);
    return {
      sealed: false,
      version,
      content: {
        profile: h.profile as string,
        config: h.config as Record<string, unknown>,
        image: body,
        ...layoutOf(h.layout),
      },
    };
  }
  if (h.seal !== SEAL_AES_256_GCM)
    throw damaged(
      `unknown seal ${JSON.stringify(h.seal)} (this build knows ${SEAL_AES_256_GCM}, none)`,
      10,
      bytes,
    );
  if (
    Object.keys(h).sort().join() !== SEALED_KEYS ||
    typeof h.keyId !== 'string' ||
    !/^[0-9a-f]{16}$/.test(h.keyId) ||
    typeof h.cardId !== 'string' ||
    !/^[0-9a-f]{32}$/.test(h.cardId) ||
    typeof h.nonce !== 'string' ||
    !/^[0-9a-f]{24}$/.test(h.nonce) ||
    !Number.isSafeInteger(h.generation) ||
    (h.generation as number) < 0
  )
    throw damaged('sealed header fields are missing or malformed', 10, bytes);
  const bodyAt = 14 + headerLength;
  if (body.length < 4 + TAG_LENGTH)
    throw damaged(`sealed body of ${body.length} bytes is too short`, bodyAt, bytes);
  const key = keyFor();
  if (key.keyId !== h.keyId)
    throw new CardFileError(
      'wrong-key',
      `sealed under card key ${h.keyId}; the key given (${key.source}) is ${key.keyId}`,
      10,
      bytes,
    );
  const cipherText = body.subarray(0, body.length - TAG_LENGTH);
  const tag = body.subarray(body.length - TAG_LENGTH);
  const subkey = key.subkey(fromHex(h.cardId));
  let plain: Uint8Array;
  try {
    const d = createDecipheriv('aes-256-gcm', subkey, fromHex(h.nonce), { authTagLength: TAG_LENGTH });
    d.setAAD(bytes.subarray(0, bodyAt));
    d.setAuthTag(tag);
    const a = d.update(cipherText);
    const b = d.final();
    plain = new Uint8Array(a.length + b.length);
    plain.set(a, 0);
    plain.set(b, a.length);
    a.fill(0);
  } catch {
    throw new CardFileError(
      'not-authentic',
      'the sealed contents do not verify (AES-256-GCM): the file was changed outside the card, or pieces of another file were put in it',
      bodyAt,
      bytes,
    );
  } finally {
    subkey.fill(0);
  }
  // Authentic from here on: these checks only guard against a bug in the writer.
  const dv = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
  const j = dv.getUint32(0);
  if (j > plain.length - 4) throw damaged('sealed content length is wrong', bodyAt, bytes);
  let content: { profile?: unknown; config?: unknown; layout?: unknown };
  try {
    content = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(plain.subarray(4, 4 + j)),
    ) as typeof content;
  } catch {
    throw damaged('sealed content is not UTF-8 JSON', bodyAt, bytes);
  }
  if (typeof content !== 'object' || content === null)
    throw damaged('sealed content is not an object', bodyAt, bytes);
  checkContent(content.profile, content.config, bodyAt, bytes);
  const image = plain.slice(4 + j);
  plain.fill(0);
  return {
    sealed: true,
    facts: {
      cardId: h.cardId,
      generation: h.generation as number,
      keyId: h.keyId,
      tag: toHex(tag).toLowerCase(),
    },
    content: {
      profile: content.profile as string,
      config: content.config as Record<string, unknown>,
      image,
      ...layoutOf(content.layout),
    },
  };
}
