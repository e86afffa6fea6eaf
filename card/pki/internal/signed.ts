/**
 * The envelope every signed structure of the profile shares, X.509-shaped (RFC 5280 §4.1.1.1):
 * `SEQUENCE { tbs <[APPLICATION n] SEQUENCE>, signatureAlgorithm OBJECT IDENTIFIER, signature OCTET STRING }`.
 * Each kind of TBS has its own APPLICATION tag, so the bytes signed for one kind can never be
 * read as another kind (domain separation by tag).
 */
import type { SignatureAlgorithm, Signer } from '../../crypto/signature.js';
import { algorithmOfOid, checkSignatureShape, oidOfAlgorithm, signWith } from '../algorithms.js';
import { MAX_SIGNATURE_LENGTH } from '../limits.js';
import { Node, checkBytes, enc, parseDer, requireSameEncoding } from './der.js';

export interface SignatureParts {
  /** Signature algorithm OID (see algorithms.ts). */
  readonly signatureAlgorithm: string;
  readonly signature: Uint8Array;
}

/**
 * TBS encodings, computed once per structure: the fields are readonly copies, so the bytes do not
 * change (a million-entry list is encoded once for signing, not once per use).
 */
const tbsCache = new WeakMap<SignedStructure, Uint8Array>();

/** Common base: the signature fields, `tbs()` and `encode()`. */
export abstract class SignedStructure implements SignatureParts {
  readonly signatureAlgorithm: string;
  readonly signature: Uint8Array;

  protected constructor(parts: SignatureParts) {
    if (
      typeof parts.signatureAlgorithm !== 'string' ||
      !/^[0-2](\.(0|[1-9][0-9]*))+$/.test(parts.signatureAlgorithm)
    )
      throw new TypeError('signatureAlgorithm must be a dotted OID string');
    this.signatureAlgorithm = parts.signatureAlgorithm;
    this.signature = checkBytes('signature', parts.signature, 1, MAX_SIGNATURE_LENGTH);
  }

  /** The profile algorithm named by `signatureAlgorithm`, undefined for an unknown OID. */
  get algorithm(): SignatureAlgorithm | undefined {
    return algorithmOfOid(this.signatureAlgorithm);
  }

  protected abstract tbsBlock(): Uint8Array;

  /** The exact bytes that are signed: the DER of the TBS element (computed once, then copied). */
  tbs(): Uint8Array {
    return this.#tbs().slice();
  }

  #tbs(): Uint8Array {
    let t = tbsCache.get(this);
    if (t === undefined) {
      t = this.tbsBlock();
      tbsCache.set(this, t);
    }
    return t;
  }

  /** DER of the whole signed structure. */
  encode(): Uint8Array {
    return enc.seq([this.#tbs(), enc.oid(this.signatureAlgorithm), enc.octets(this.signature)]);
  }
}

/** Builds `make(fields)` once unsigned to check the fields and get the TBS, then signs it. */
export function signFields<F, T extends SignedStructure>(
  fields: F,
  signer: Signer,
  make: (f: F & SignatureParts) => T,
): T {
  if (signer === null || typeof signer !== 'object' || typeof signer.sign !== 'function')
    throw new TypeError('signer must be a Signer');
  const signatureAlgorithm = oidOfAlgorithm(signer.algorithm);
  const draft = make({ ...fields, signatureAlgorithm, signature: new Uint8Array(1) });
  const tbs = draft.tbs();
  const signature = signWith(signer, tbs);
  const out = make({ ...fields, signatureAlgorithm, signature });
  tbsCache.set(out, tbs); // same fields, same bytes
  return out;
}

/** Runs a constructor on decoded fields, turning its argument errors into MalformedDataError at `at`. */
export function construct<T>(at: Node, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof RangeError || e instanceof TypeError) return at.fail(e.message);
    throw e;
  }
}

/** Decodes an envelope whose TBS carries [APPLICATION `tag`], reads it with `readTbs`, checks DER. */
export function decodeSigned<F, T extends SignedStructure>(
  der: Uint8Array,
  kind: string,
  tag: number,
  tbsCount: number,
  readTbs: (fields: Node[], tbs: Node) => F,
  make: (f: F & SignatureParts) => T,
): T {
  const root = parseDer(der, kind);
  const [tbsN, algN, sigN] = root.sequence(kind, 3) as [Node, Node, Node];
  const fields = readTbs(tbsN.sequence('tbs', tbsCount, tag), tbsN);
  const signatureAlgorithm = algN.oid('signatureAlgorithm');
  const signature = sigN.octets('signature', 1, MAX_SIGNATURE_LENGTH);
  checkSignatureShape(signatureAlgorithm, signature, sigN);
  const out = construct(root, () => make({ ...fields, signatureAlgorithm, signature }));
  requireSameEncoding(der, out.encode(), kind);
  return out;
}

/** Decodes an unsigned structure: a SEQUENCE of `count` elements read by `read`, DER-checked. */
export function decodePlain<T extends { encode(): Uint8Array }>(
  der: Uint8Array,
  kind: string,
  count: number,
  read: (fields: Node[], root: Node) => T,
): T {
  const root = parseDer(der, kind);
  const out = read(root.sequence(kind, count), root);
  requireSameEncoding(der, out.encode(), kind);
  return out;
}
