/**
 * The keys a conformance run is given: a lab gets either the masters of each utility (and
 * diversifies them with the card's CSN, docs/purse-spec.md §2) or the four keys of one card's
 * purses. Parsed from the lab's keys file text (docs/conformance.md, "Keys file"); no file I/O.
 *
 * ```json
 * { "format": "meterpurse-conformance-keys/1",
 *   "csn": "4D50000000000001",                       (optional; required with "cards")
 *   "masters": { "1": { "auth": "<32 hex>", "debit": "…", "credit": "…", "proof": "…" } },
 *   "cards":   { "1": { "auth": "<32 hex>", "debit": "…", "credit": "…", "proof": "…" } } }
 * ```
 * Exactly one of "masters" and "cards". Purse ids are the JSON keys (1..15).
 */
import { MalformedDataError, PurseCrypto, fromHex, toHex } from '../../card/index.js';
import type { BlockCipherProvider, IssuerKeys } from '../../card/index.js';

export const KEYS_FILE_FORMAT = 'meterpurse-conformance-keys/1';

/** The four keys of one purse of one card (K_auth, K_debit, K_credit, K_proof). */
export interface PurseKeys {
  auth: Uint8Array;
  debit: Uint8Array;
  credit: Uint8Array;
  proof: Uint8Array;
}

/** Where a run gets a card's purse keys from. */
export interface ConformanceKeys {
  /** What the keys are, for the report (never the key bytes). */
  readonly describe: string;
  /** The CSN the keys are for, when they are one card's keys. */
  readonly csn?: Uint8Array;
  /**
   * The keys of purse `purse` of the card `csn`, or undefined when the lab has none for it.
   * @throws RangeError when the keys are one card's and `csn` is another card's.
   */
  keysFor(csn: Uint8Array, purse: number): PurseKeys | undefined;
}

/** Keys of a scheme's masters (e.g. the demo issuer `IssuerKeys.demo(cipher, seed)`). */
export function keysFromIssuer(issuer: IssuerKeys, describe?: string): ConformanceKeys {
  return {
    describe:
      describe ?? (issuer.demoSeed !== undefined ? `demo issuer "${issuer.demoSeed}"` : 'issuer masters'),
    keysFor(csn, purse) {
      if (!issuer.purses.includes(purse)) return undefined;
      return issuer.cardKeys(csn, purse);
    },
  };
}

const KEY_NAMES = ['auth', 'debit', 'credit', 'proof'] as const;

function bad(why: string): MalformedDataError {
  return new MalformedDataError(`keys file: ${why}`, 0, new Uint8Array(0), 'keys file');
}

function keyOf(v: unknown, where: string): Uint8Array {
  if (typeof v !== 'string' || !/^(?:[0-9A-Fa-f]{2}\s?){16}$/.test(v.trim()))
    throw bad(`${where} must be 16 bytes of hex (32 hex digits)`);
  return fromHex(v.replace(/\s+/g, ''));
}

function purseTable(v: unknown, where: string): Map<number, PurseKeys> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`"${where}" must be an object`);
  const out = new Map<number, PurseKeys>();
  for (const [id, k] of Object.entries(v as Record<string, unknown>)) {
    const purse = Number(id);
    if (!/^\d{1,2}$/.test(id) || purse < 1 || purse > 15)
      throw bad(`${where}: purse id '${id}' is not 1..15`);
    if (typeof k !== 'object' || k === null) throw bad(`${where}.${id} must be an object`);
    const o = k as Record<string, unknown>;
    const keys = Object.fromEntries(KEY_NAMES.map((n) => [n, keyOf(o[n], `${where}.${id}.${n}`)]));
    out.set(purse, keys as unknown as PurseKeys);
  }
  if (out.size === 0) throw bad(`"${where}" names no purse`);
  return out;
}

/**
 * Parses a keys file (JSON text, the layout above).
 * @throws MalformedDataError naming what is wrong (kind 'keys file').
 */
export function parseKeysFile(text: string, cipher: BlockCipherProvider): ConformanceKeys {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw bad(`not JSON: ${(e as Error).message}`);
  }
  if (typeof j !== 'object' || j === null) throw bad('must be a JSON object');
  const o = j as Record<string, unknown>;
  if (o['format'] !== KEYS_FILE_FORMAT) throw bad(`"format" must be "${KEYS_FILE_FORMAT}"`);
  let csn: Uint8Array | undefined;
  if (o['csn'] !== undefined) {
    if (typeof o['csn'] !== 'string' || !/^[0-9A-Fa-f]{16}$/.test(o['csn']))
      throw bad('"csn" must be 8 bytes of hex');
    csn = fromHex(o['csn']);
  }
  if ((o['masters'] === undefined) === (o['cards'] === undefined))
    throw bad('give exactly one of "masters" (per utility) and "cards" (one card\'s keys)');
  if (o['masters'] !== undefined) {
    const masters = purseTable(o['masters'], 'masters');
    const c = new PurseCrypto(cipher);
    return {
      describe: `masters of purse${masters.size > 1 ? 's' : ''} ${[...masters.keys()].join(', ')} (keys file)`,
      ...(csn ? { csn } : {}),
      keysFor(cardCsn, purse) {
        const m = masters.get(purse);
        if (!m) return undefined;
        return {
          auth: c.cardKey(m.auth, cardCsn),
          debit: c.cardKey(m.debit, cardCsn),
          credit: c.cardKey(m.credit, cardCsn),
          proof: c.cardKey(m.proof, cardCsn),
        };
      },
    };
  }
  if (!csn) throw bad('"cards" keys belong to one card: give its "csn"');
  const cards = purseTable(o['cards'], 'cards');
  const own = csn;
  return {
    describe: `card keys of CSN ${toHex(own)} (keys file)`,
    csn: own,
    keysFor(cardCsn, purse) {
      if (toHex(cardCsn) !== toHex(own))
        throw new RangeError(`the keys file is for CSN ${toHex(own)}, the card says ${toHex(cardCsn)}`);
      const k = cards.get(purse);
      return k
        ? { auth: k.auth.slice(), debit: k.debit.slice(), credit: k.credit.slice(), proof: k.proof.slice() }
        : undefined;
    },
  };
}
