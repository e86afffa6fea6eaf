/**
 * The SVM's transaction log, read for the host (issue 13, docs/purse-spec.md §5.9): SVM READ LOG
 * pages through the records from a log sequence number, each with the SVM's MAC(K_svm, 'J' ‖ meter
 * id ‖ record), so the meter only carries them: it can drop a record but not forge or alter one.
 *
 * ```
 * READ LOG  80 5E 00 00 04 from(4) 00
 *       ->  oldest(4) ‖ next(4) ‖ n(1) ‖ n × (record(29) ‖ MAC(8))       n ≤ 6, 9 + 37n ≤ 256 bytes
 * ```
 */
import {
  CommandApdu,
  INS_READ_LOG,
  MalformedDataError,
  SVM_READ_LOG_MAX,
  be32,
  u32,
} from '../../card/index.js';
import { expectOk, type MeterModules } from '../MeterModules.js';

const HEADER = 9;
const ENTRY = 29 + 8;

/** One SVM log record as the chip keeps it (SvmLogRecord, 29 bytes) and the SVM's MAC over it (8). */
export interface SvmLogEntry {
  raw: Uint8Array;
  mac: Uint8Array;
}

/** One page of the SVM's log. */
export interface SvmLogPage {
  records: SvmLogEntry[];
  /** Lowest log sequence number the SVM still holds: records below it left its ring. */
  oldest: number;
  /** The `from` of the next page; below the `from` asked when it was beyond the newest record. */
  next: number;
}

/** SVM READ LOG 80 5E 00 00 04 from(4) 00. @throws RangeError when `from` is not a u32. */
export function readLogApdu(from: number): CommandApdu {
  if (!Number.isInteger(from) || from < 0 || from > 0xffffffff)
    throw new RangeError(`from must be a u32, got ${from}`);
  return new CommandApdu({
    cla: 0x80,
    ins: INS_READ_LOG,
    p1: 0,
    p2: 0,
    data: be32(from),
    ne: 256,
  });
}

/**
 * READ LOG answer: oldest u32 ‖ next u32 ‖ n(1) ‖ n × (record(29) ‖ MAC(8)).
 * @throws MalformedDataError (kind 'svm log') when the length does not match n, n passes
 *   SVM_READ_LOG_MAX, oldest > next, or next is not past the records given.
 */
export function decodeSvmLog(d: Uint8Array): SvmLogPage {
  const bad = (msg: string, at: number) => new MalformedDataError(msg, at, d, 'svm log');
  if (d.length < HEADER) throw bad(`READ LOG answer is at least ${HEADER} bytes, got ${d.length}`, d.length);
  const n = d[8]!;
  if (n > SVM_READ_LOG_MAX) throw bad(`READ LOG answer has ${n} records, over ${SVM_READ_LOG_MAX}`, 8);
  if (d.length !== HEADER + n * ENTRY)
    throw bad(
      `READ LOG answer is ${HEADER} + ${n} × ${ENTRY} bytes, got ${d.length}`,
      Math.min(d.length, HEADER),
    );
  const oldest = u32(d, 0);
  const next = u32(d, 4);
  // The records given are the sequence numbers [next - n, next), none below the oldest held.
  if (next < n || next - n < oldest)
    throw bad(`next ${next} and oldest ${oldest} do not hold ${n} records`, 0);
  const records: SvmLogEntry[] = [];
  for (let o = HEADER; o < d.length; o += ENTRY)
    records.push({ raw: d.slice(o, o + 29), mac: d.slice(o + 29, o + ENTRY) });
  return { records, oldest, next };
}

/**
 * One page of the SVM's log from log sequence number `from` (docs/purse-spec.md §5.9): at most
 * SVM_READ_LOG_MAX records, starting at max(from, oldest). Read-only: the SVM writes nothing.
 * @throws RangeError when `from` is not a u32; TransferError on a refusal; MalformedDataError on a
 *   malformed answer.
 */
export async function readSvmLog(m: MeterModules, from: number): Promise<SvmLogPage> {
  return decodeSvmLog(await expectOk(m.svm, readLogApdu(from), 'SVM READ LOG'));
}
