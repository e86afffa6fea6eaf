/**
 * The host's check of an SVM log record it collected (issue 13, docs/purse-spec.md §5.9): the SVM's
 * READ LOG answers each record with MAC(K_svm, 'J' ‖ meter id ‖ record). Exported from card/ so the
 * host checks exactly the input the chip MACs, from K_svm itself or from the inputs the host derives
 * it from (IssuerKeys.svmKey: MK_svm[purse], meter id ‖ pairing).
 *
 * What the MAC binds: every byte of the record (type, reference, amount, balance after, SVM counter,
 * date-time) and the meter (its id in the input, and its own K_svm). What it does not bind: when or
 * how often the record is presented — a record is a fact, so a replay adds nothing (the host keeps
 * each (meter, SVM counter, type, reference) once) — and its log sequence number, which is only a
 * cursor for paging.
 */
import { wipe } from '../../crypto/wipe.js';
import type { IssuerKeys } from '../IssuerKeys.js';
import { type PurseCrypto, svmLogMacInput } from '../PurseCrypto.js';

/** K_svm given, or the inputs the host derives it from. */
export type SvmLogKey =
  | { readonly crypto: PurseCrypto; readonly kSvm: Uint8Array }
  | { readonly issuer: IssuerKeys; readonly purse: number; readonly pairing?: number };

export const SVM_LOG_RECORD_BYTES = 29;
export const SVM_LOG_MAC_BYTES = 8;

/**
 * Whether `mac` is the SVM's READ LOG MAC over `raw` for meter `meterId`. A record or MAC of the
 * wrong length is outside data that is simply not genuine: false, never an exception.
 * @throws TypeError when `raw`, `mac` or `kSvm` is not a Uint8Array; RangeError when `meterId` is not 3
 *   bytes, or (derivation inputs) when `purse` / `pairing` are not the issuer's.
 */
export function verifySvmLogRecord(
  key: SvmLogKey,
  meterId: Uint8Array,
  raw: Uint8Array,
  mac: Uint8Array,
): boolean {
  if (!(meterId instanceof Uint8Array) || meterId.length !== 3)
    throw new RangeError('meterId must be 3 bytes');
  if (!(raw instanceof Uint8Array)) throw new TypeError('raw must be a Uint8Array');
  if (!(mac instanceof Uint8Array)) throw new TypeError('mac must be a Uint8Array');
  if ('kSvm' in key) {
    if (!(key.kSvm instanceof Uint8Array)) throw new TypeError('kSvm must be a Uint8Array');
    if (raw.length !== SVM_LOG_RECORD_BYTES || mac.length !== SVM_LOG_MAC_BYTES) return false;
    return key.crypto.check(key.kSvm, mac, svmLogMacInput(meterId, raw));
  }
  const kSvm = key.issuer.svmKey(meterId, key.purse, key.pairing ?? 1);
  try {
    if (raw.length !== SVM_LOG_RECORD_BYTES || mac.length !== SVM_LOG_MAC_BYTES) return false;
    return key.issuer.crypto.check(kSvm, mac, svmLogMacInput(meterId, raw));
  } finally {
    wipe(kSvm);
  }
}
