/**
 * Sizes and ranges of the settlement profile (seed 004); `Settlement.asn1` states the same bounds.
 * Every decoder refuses one past each maximum; every constructor throws RangeError naming the field.
 */
import { checkBytes } from './internal/der.js';

/** PKI structure version this code writes and accepts (`Version ::= INTEGER { v1(1) }`). */
export const PKI_VERSION = 1;
/** Identifiers (IDU, IDT, IDC, centre id): 1..32 bytes. */
export const ID_MIN_LENGTH = 1;
export const ID_MAX_LENGTH = 32;
/** Random numbers R (terminal) and X (card) of Figs. 6, 9, 12: 8..32 bytes. */
export const NONCE_MIN_LENGTH = 8;
export const NONCE_MAX_LENGTH = 32;
/** Values (remaining value V, charges) in minor units: the card purse's u32. */
export const MAX_VALUE = 0xffffffff;
/** Serial numbers, sequence numbers and list versions: u32. */
export const MAX_COUNTER = 0xffffffff;
/** Entries in a signed list or records in an upload. */
export const MAX_LIST_ENTRIES = 1_000_000;
/** Signatures: RSA up to 4096 bits (512 bytes); ECDSA P-256 is exactly 64 bytes (r‖s). */
export const MAX_SIGNATURE_LENGTH = 512;
/** SubjectPublicKeyInfo DER in a certificate. */
export const MAX_SPKI_LENGTH = 1024;
/** Free-text service description in a service record, UTF-8 bytes. */
export const MAX_SERVICE_TEXT = 256;
/** Password setting number Ns (Fig. 13): 4..16 bytes (ASCII digits as keyed). */
export const SETTING_NUMBER_MIN_LENGTH = 4;
export const SETTING_NUMBER_MAX_LENGTH = 16;

/** The subject kinds of a certificate (`SubjectKind ::= ENUMERATED`), in ENUMERATED order. */
export type SubjectKind = 'centre' | 'card' | 'terminal' | 'dispenser';
export const SUBJECT_KINDS: readonly SubjectKind[] = ['centre', 'card', 'terminal', 'dispenser'];

/** @throws TypeError/RangeError naming `name` unless `v` is 1..32 bytes. */
export function checkId(name: string, v: unknown): Uint8Array {
  return checkBytes(name, v, ID_MIN_LENGTH, ID_MAX_LENGTH);
}

/** @throws TypeError/RangeError naming `name` unless `v` is 8..32 bytes. */
export function checkNonce(name: string, v: unknown): Uint8Array {
  return checkBytes(name, v, NONCE_MIN_LENGTH, NONCE_MAX_LENGTH);
}

/** @throws RangeError naming `name` unless `v` is one of {@link SUBJECT_KINDS}. */
export function checkKind(name: string, v: unknown): SubjectKind {
  if (!SUBJECT_KINDS.includes(v as SubjectKind))
    throw new RangeError(`${name} must be one of ${SUBJECT_KINDS.join(', ')}, got ${String(v)}`);
  return v as SubjectKind;
}
