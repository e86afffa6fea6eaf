/**
 * A terminal's daily upload of usage records to the centre (seed 004, Fig. 9, claim 3), signed by
 * the terminal. Each record carries what the centre needs to (a) check the service — the card's
 * SU(R‖X‖V) and the terminal's S = ST(R‖X‖V'‖IDU) — and (b) detect a cloned card: `previous` is the
 * seed's usage/management information h = (IDU, R^a, X, IDT^a, V') taken from the card's previous
 * usage information. The same h arriving twice means two cards left the same state: a clone.
 *
 * ```asn1
 * UsageUpload ::= SEQUENCE { tbs TBSUsageUpload, signatureAlgorithm OBJECT IDENTIFIER, signature OCTET STRING }
 * TBSUsageUpload ::= [APPLICATION 8] IMPLICIT SEQUENCE {
 *   version Version, centreId Id, terminalId Id, uploadSequence Counter, updateCounter UpdateCounter,
 *   periodStart Time, periodEnd Time, records SEQUENCE (SIZE (0..1000000)) OF UsageRecord }
 * UsageRecord ::= SEQUENCE {
 *   cardId Id, valueBefore Value, valueAfter Value, charge Value,  -- valueAfter + charge = valueBefore
 *   terminalNonce Nonce, cardNonce Nonce,
 *   cardSignature OCTET STRING (SIZE (1..512)),      -- SU(R‖X‖V) over CardValueInput
 *   terminalSignature OCTET STRING (SIZE (1..512)),  -- S = ST(R‖X‖V'‖IDU) over TerminalValueInput
 *   dateTime Time, previous PreviousUsage }
 * PreviousUsage ::= SEQUENCE {                       -- h of Fig. 9
 *   terminalId Id, terminalNonce OCTET STRING (SIZE (0..32)), cardNonce OCTET STRING (SIZE (0..32)),
 *   value Value }                                    -- nonces empty after issue/recharge (signer id then)
 * UsageManagementKey ::= [APPLICATION 26] IMPLICIT SEQUENCE { cardId Id, previous PreviousUsage }
 * ```
 */
import { createHash } from 'node:crypto';
import type { Signer } from '../crypto/signature.js';
import { checkBytes, checkInt, checkTime, enc, type Node } from './internal/der.js';
import {
  SignedStructure,
  construct,
  decodeSigned,
  signFields,
  type SignatureParts,
} from './internal/signed.js';
import {
  ID_MAX_LENGTH,
  ID_MIN_LENGTH,
  MAX_COUNTER,
  MAX_LIST_ENTRIES,
  MAX_SIGNATURE_LENGTH,
  MAX_VALUE,
  NONCE_MAX_LENGTH,
  NONCE_MIN_LENGTH,
  PKI_VERSION,
  checkId,
  checkNonce,
} from './limits.js';
import { TS_MAX_UPDATES } from './timeStamp.js';

export const TAG_TBS_USAGE_UPLOAD = 8;
export const TAG_USAGE_MANAGEMENT_KEY = 26;

export interface PreviousUsage {
  /** IDT^a of the terminal (or IDC / centre id of the signer of a SignedValue) that wrote the card last. */
  readonly terminalId: Uint8Array;
  /** R^a (empty after issue/recharge). */
  readonly terminalNonce: Uint8Array;
  /** X (empty after issue/recharge). */
  readonly cardNonce: Uint8Array;
  /** V', the value written then. */
  readonly value: number;
}

export interface UsageRecord {
  readonly cardId: Uint8Array;
  readonly valueBefore: number;
  readonly valueAfter: number;
  readonly charge: number;
  readonly terminalNonce: Uint8Array;
  readonly cardNonce: Uint8Array;
  readonly cardSignature: Uint8Array;
  readonly terminalSignature: Uint8Array;
  readonly dateTime: number;
  readonly previous: PreviousUsage;
}

/** @throws TypeError/RangeError naming the field (prefixed with `name`). */
export function checkUsageRecord(r: unknown, name = 'record'): UsageRecord {
  if (r === null || typeof r !== 'object') throw new TypeError(`${name} must be an object`);
  const x = r as UsageRecord;
  const p = x.previous as PreviousUsage | undefined;
  if (p === null || typeof p !== 'object') throw new TypeError(`${name}.previous must be an object`);
  const out: UsageRecord = {
    cardId: checkId(`${name}.cardId`, x.cardId),
    valueBefore: checkInt(`${name}.valueBefore`, x.valueBefore, 0, MAX_VALUE),
    valueAfter: checkInt(`${name}.valueAfter`, x.valueAfter, 0, MAX_VALUE),
    charge: checkInt(`${name}.charge`, x.charge, 0, MAX_VALUE),
    terminalNonce: checkNonce(`${name}.terminalNonce`, x.terminalNonce),
    cardNonce: checkNonce(`${name}.cardNonce`, x.cardNonce),
    cardSignature: checkBytes(`${name}.cardSignature`, x.cardSignature, 1, MAX_SIGNATURE_LENGTH),
    terminalSignature: checkBytes(`${name}.terminalSignature`, x.terminalSignature, 1, MAX_SIGNATURE_LENGTH),
    dateTime: checkTime(`${name}.dateTime`, x.dateTime),
    previous: Object.freeze({
      terminalId: checkId(`${name}.previous.terminalId`, p.terminalId),
      terminalNonce: checkBytes(`${name}.previous.terminalNonce`, p.terminalNonce, 0, NONCE_MAX_LENGTH),
      cardNonce: checkBytes(`${name}.previous.cardNonce`, p.cardNonce, 0, NONCE_MAX_LENGTH),
      value: checkInt(`${name}.previous.value`, p.value, 0, MAX_VALUE),
    }),
  };
  if (out.valueAfter + out.charge !== out.valueBefore)
    throw new RangeError(`${name}: valueAfter + charge must equal valueBefore`);
  return Object.freeze(out);
}

function previousBlock(p: PreviousUsage): Uint8Array {
  return enc.seq([
    enc.octets(p.terminalId),
    enc.octets(p.terminalNonce),
    enc.octets(p.cardNonce),
    enc.int(p.value),
  ]);
}

/**
 * The seed's usage/management information h of a record, as 32 bytes: SHA-256 of the DER of
 * `UsageManagementKey`. The centre stores each once; a second arrival of the same key is a clone.
 */
export function usageManagementKey(record: UsageRecord): Uint8Array {
  const r = checkUsageRecord(record);
  const der = enc.toDer(enc.app(TAG_USAGE_MANAGEMENT_KEY, [enc.octets(r.cardId), previousBlock(r.previous)]));
  return Uint8Array.from(createHash('sha256').update(der).digest());
}

export interface UsageUploadFields {
  readonly centreId: Uint8Array;
  /** IDT of the uploading terminal (the signer). */
  readonly terminalId: Uint8Array;
  /** Per-terminal upload counter: the centre takes each number once, and notices a gap. */
  readonly uploadSequence: number;
  /** The terminal's time-stamp update counter t at upload. */
  readonly updateCounter: number;
  readonly periodStart: number;
  readonly periodEnd: number;
  readonly records: readonly UsageRecord[];
}

/** A terminal-signed upload of usage records. See the file comment. */
export class UsageUpload extends SignedStructure implements UsageUploadFields {
  readonly centreId: Uint8Array;
  readonly terminalId: Uint8Array;
  readonly uploadSequence: number;
  readonly updateCounter: number;
  readonly periodStart: number;
  readonly periodEnd: number;
  readonly records: readonly UsageRecord[];

  /** @throws TypeError/RangeError naming the field. */
  constructor(f: UsageUploadFields & SignatureParts) {
    super(f);
    this.centreId = checkId('centreId', f.centreId);
    this.terminalId = checkId('terminalId', f.terminalId);
    this.uploadSequence = checkInt('uploadSequence', f.uploadSequence, 0, MAX_COUNTER);
    this.updateCounter = checkInt('updateCounter', f.updateCounter, 0, TS_MAX_UPDATES);
    this.periodStart = checkTime('periodStart', f.periodStart);
    this.periodEnd = checkTime('periodEnd', f.periodEnd);
    if (this.periodEnd < this.periodStart) throw new RangeError('periodEnd must not be before periodStart');
    if (!Array.isArray(f.records)) throw new TypeError('records must be an array');
    if (f.records.length > MAX_LIST_ENTRIES)
      throw new RangeError(`records must hold at most ${MAX_LIST_ENTRIES}, got ${f.records.length}`);
    this.records = Object.freeze(f.records.map((r, i) => checkUsageRecord(r, `records[${i}]`)));
  }

  /** Signed by the uploading terminal's key. */
  static sign(fields: UsageUploadFields, signer: Signer): UsageUpload {
    return signFields(fields, signer, (f) => new UsageUpload(f));
  }

  /** @throws MalformedDataError (kind 'usage-upload') with the offset; never another error. */
  static decode(der: Uint8Array): UsageUpload {
    return decodeSigned(der, 'usage-upload', TAG_TBS_USAGE_UPLOAD, 8, readTbs, (f) => new UsageUpload(f));
  }

  protected tbsBlock(): Uint8Array {
    return enc.app(TAG_TBS_USAGE_UPLOAD, [
      enc.int(PKI_VERSION),
      enc.octets(this.centreId),
      enc.octets(this.terminalId),
      enc.int(this.uploadSequence),
      enc.int(this.updateCounter),
      enc.time(this.periodStart),
      enc.time(this.periodEnd),
      enc.seq(
        this.records.map((r) =>
          enc.seq([
            enc.octets(r.cardId),
            enc.int(r.valueBefore),
            enc.int(r.valueAfter),
            enc.int(r.charge),
            enc.octets(r.terminalNonce),
            enc.octets(r.cardNonce),
            enc.octets(r.cardSignature),
            enc.octets(r.terminalSignature),
            enc.time(r.dateTime),
            previousBlock(r.previous),
          ]),
        ),
      ),
    ]);
  }
}

function readRecord(n: Node): UsageRecord {
  const [card, vb, va, ch, r, x, cs, ts, dt, prev] = n.sequence('UsageRecord', 10) as Node[] as [
    Node,
    Node,
    Node,
    Node,
    Node,
    Node,
    Node,
    Node,
    Node,
    Node,
  ];
  const [pt, pr, px, pv] = prev.sequence('PreviousUsage', 4) as [Node, Node, Node, Node];
  const fields = {
    cardId: card.octets('cardId', ID_MIN_LENGTH, ID_MAX_LENGTH),
    valueBefore: vb.integer('valueBefore', 0, MAX_VALUE),
    valueAfter: va.integer('valueAfter', 0, MAX_VALUE),
    charge: ch.integer('charge', 0, MAX_VALUE),
    terminalNonce: r.octets('terminalNonce', NONCE_MIN_LENGTH, NONCE_MAX_LENGTH),
    cardNonce: x.octets('cardNonce', NONCE_MIN_LENGTH, NONCE_MAX_LENGTH),
    cardSignature: cs.octets('cardSignature', 1, MAX_SIGNATURE_LENGTH),
    terminalSignature: ts.octets('terminalSignature', 1, MAX_SIGNATURE_LENGTH),
    dateTime: dt.time('dateTime'),
    previous: {
      terminalId: pt.octets('previous.terminalId', ID_MIN_LENGTH, ID_MAX_LENGTH),
      terminalNonce: pr.octets('previous.terminalNonce', 0, NONCE_MAX_LENGTH),
      cardNonce: px.octets('previous.cardNonce', 0, NONCE_MAX_LENGTH),
      value: pv.integer('previous.value', 0, MAX_VALUE),
    },
  };
  return construct(n, () => checkUsageRecord(fields));
}

function readTbs(n: Node[]): UsageUploadFields {
  const [ver, centre, term, seq, t, ps, pe, recs] = n as [Node, Node, Node, Node, Node, Node, Node, Node];
  ver.integer('version', PKI_VERSION, PKI_VERSION);
  const nodes = recs.sequence('records', undefined, undefined, MAX_LIST_ENTRIES);
  if (nodes.length > MAX_LIST_ENTRIES) recs.fail(`more than ${MAX_LIST_ENTRIES} records`);
  return {
    centreId: centre.octets('centreId', ID_MIN_LENGTH, ID_MAX_LENGTH),
    terminalId: term.octets('terminalId', ID_MIN_LENGTH, ID_MAX_LENGTH),
    uploadSequence: seq.integer('uploadSequence', 0, MAX_COUNTER),
    updateCounter: t.integer('updateCounter', 0, TS_MAX_UPDATES),
    periodStart: ps.time('periodStart'),
    periodEnd: pe.time('periodEnd'),
    records: nodes.map(readRecord),
  };
}
