/**
 * The meter's side of clearing (issue 13, docs/purse-spec.md §5.7–§5.8): what the SVM holds pending,
 * and the host's settlement of one pending card transfer through the SAM.
 *
 * ```
 * host ──H=54 over the power line──> meter modem ──hostSettle──> SVM GET CHALLENGE (RV)
 *                                                               SAM HOST COMMAND 54 (payload ‖ S2h ‖ RV)
 *                                                               SVM HOST SETTLE (payload ‖ auth ‖ R3)
 *                                                               SAM HOST FINISH 54 (signed answer) -> M
 * ```
 * The host session (HOST INIT, R3) is opened first with `MeterModules.hostInit`, as for a value
 * store. M = E(answer(63) ‖ meter id, Ks) goes back to the host; `decodeSettleAnswer` reads it.
 */
import { MalformedDataError } from '../../card/index.js';
import { concatBytes } from '../../card/index.js';
import { u32 } from '../../card/index.js';
import { HOST_SETTLE, PendingTransfer, SettlePayload } from '../../card/index.js';
import { CommandApdu, INS_READ_PENDING } from '../../card/index.js';
import * as A from '../apdus.js';
import { expectOk, type MeterModules } from '../MeterModules.js';
import { TransferError } from '../TransferError.js';

/** One pending slot of the SVM (READ PENDING). */
export interface PendingEntry {
  slot: number;
  csn: Uint8Array;
  purse: number;
  amount: number;
  /** The card counter the pending debit takes. */
  counter: number;
  /** BCD YYMMDDhhmmss of BEGIN TRANSFER. */
  dateTime: Uint8Array;
  /** The SVM challenge of BEGIN TRANSFER: the card's debit proof for this entry is MAC'd over it. */
  rv: Uint8Array;
}

const ENTRY = 30;

/**
 * READ PENDING answer: n(1) ‖ n × (slot(1) ‖ CSN(8) ‖ purse(1) ‖ amount u32 ‖ counter u16 ‖
 * date-time(6) ‖ RV(8)).
 * @throws MalformedDataError (kind 'svm pending') when the length does not match n.
 */
export function decodePending(d: Uint8Array): PendingEntry[] {
  if (d.length < 1 || d.length !== 1 + d[0]! * ENTRY)
    throw new MalformedDataError(
      `READ PENDING answer is 1 + n × ${ENTRY} bytes, got ${d.length}`,
      0,
      d,
      'svm pending',
    );
  const out: PendingEntry[] = [];
  for (let o = 1; o < d.length; o += ENTRY) {
    const p = PendingTransfer.decode(d.subarray(o + 1, o + ENTRY));
    out.push({
      slot: d[o]!,
      csn: p.csn,
      purse: p.purse,
      amount: p.amount,
      counter: p.counter,
      dateTime: p.dateTime,
      rv: p.rv,
    });
  }
  return out;
}

/**
 * Every transfer the meter's SVM holds pending (SVM READ PENDING), for the meter's display and its
 * upload to the host.
 * @throws TransferError on a refusal; MalformedDataError on a malformed answer.
 */
export async function readPending(m: MeterModules): Promise<PendingEntry[]> {
  return decodePending(await expectOk(m.svm, A.readPending(), 'SVM READ PENDING'));
}

/** One pending slot as the SVM signed it for a challenge (READ PENDING P1 = 01). */
export interface SignedPendingEntry extends PendingEntry {
  /** The 29-byte pending record as the SVM holds it. */
  record: Uint8Array;
  /** MAC(K_svm, 'P' ‖ meter id ‖ slot ‖ record ‖ challenge) (card pendingMacInput). */
  mac: Uint8Array;
}

const SIGNED_ENTRY = ENTRY + 8;

/** SVM READ PENDING 80 5A 01 00 08 challenge(8) 00. @throws RangeError when the challenge is not 8 bytes. */
export function readPendingSignedApdu(challenge: Uint8Array): CommandApdu {
  if (!(challenge instanceof Uint8Array) || challenge.length !== 8)
    throw new RangeError('challenge must be 8 bytes');
  return new CommandApdu({ cla: 0x80, ins: INS_READ_PENDING, p1: 1, p2: 0, data: challenge, ne: 256 });
}

/**
 * READ PENDING P1 = 01 answer: n(1) ‖ n × (slot(1) ‖ pending record(29) ‖ MAC(8)). The MACs are
 * not checked here (the meter holds no K_svm): the host checks them with pendingMacInput.
 * @throws MalformedDataError (kind 'svm pending') when the length does not match n.
 */
export function decodeSignedPending(d: Uint8Array): SignedPendingEntry[] {
  if (d.length < 1 || d.length !== 1 + d[0]! * SIGNED_ENTRY)
    throw new MalformedDataError(
      `signed READ PENDING answer is 1 + n × ${SIGNED_ENTRY} bytes, got ${d.length}`,
      0,
      d,
      'svm pending',
    );
  const out: SignedPendingEntry[] = [];
  for (let o = 1; o < d.length; o += SIGNED_ENTRY) {
    const [e] = decodePending(concatBytes(Uint8Array.of(1), d.subarray(o, o + ENTRY)));
    out.push({ ...e!, record: d.slice(o + 1, o + ENTRY), mac: d.slice(o + ENTRY, o + SIGNED_ENTRY) });
  }
  return out;
}

/**
 * Every pending transfer, each signed by the SVM for `challenge` (the host session's R3): what the
 * meter should upload, so the host's 'complete' rests on the SVM's RV, not on the meter's word.
 * @throws TransferError on a refusal; MalformedDataError on a malformed answer.
 */
export async function readPendingSigned(
  m: MeterModules,
  challenge: Uint8Array,
): Promise<SignedPendingEntry[]> {
  return decodeSignedPending(
    await expectOk(m.svm, readPendingSignedApdu(challenge), 'SVM READ PENDING (signed)'),
  );
}

/** What the host sends for one settlement (over the power line, H = 54). */
export interface HostSettleRequest {
  /** The 25-byte settle payload (SettlePayload.encode()), in clear. */
  payload: Uint8Array;
  /** S2h = MAC(Ks, 54 ‖ R3 ‖ payload): the host's signature. */
  s2h: Uint8Array;
}

export type SettleStatusName = 'settled-complete' | 'settled-cancel' | 'no-such-pending' | 'duplicate';
const STATUS_NAMES: readonly SettleStatusName[] = [
  'settled-complete',
  'settled-cancel',
  'no-such-pending',
  'duplicate',
];

/** The SVM's answer to HOST SETTLE, as the host reads it from M (and the meter from the clear answer). */
export interface SettleAnswer {
  status: number;
  statusName: SettleStatusName;
  payload: SettlePayload;
  /** SVM balance and counter after the command. */
  balance: number;
  svmCounter: number;
  /** The SVM log record (29 bytes) written by the settlement, or found for CSN ‖ counter; undefined when none. */
  record?: Uint8Array;
}

export interface HostSettleAnswer extends SettleAnswer {
  /** M = E(answer ‖ meter id, Ks) for the host. */
  m: Uint8Array;
}

/**
 * The 63-byte HOST SETTLE answer: status(1) ‖ payload(25) ‖ balance u32 ‖ SVM counter u32 ‖
 * log record(29, zeros = none). With `meterId` given, the input is M's plaintext (answer ‖ meter id(3)).
 * @throws MalformedDataError (kind 'settle answer') on a wrong length or an unknown status.
 */
export function decodeSettleAnswer(
  b: Uint8Array,
  withMeterId = false,
): SettleAnswer & { meterId?: Uint8Array } {
  const n = 63 + (withMeterId ? 3 : 0);
  if (b.length !== n)
    throw new MalformedDataError(`settle answer is ${n} bytes, got ${b.length}`, 0, b, 'settle answer');
  const status = b[0]!;
  const statusName = STATUS_NAMES[status];
  if (!statusName) throw new MalformedDataError(`unknown settle status ${status}`, 0, b, 'settle answer');
  const record = b.slice(34, 63);
  return {
    status,
    statusName,
    payload: SettlePayload.decode(b.subarray(1, 26)),
    balance: u32(b, 26),
    svmCounter: u32(b, 30),
    ...(record.every((x) => x === 0) ? {} : { record }),
    ...(withMeterId ? { meterId: b.slice(63, 66) } : {}),
  };
}

/**
 * Settles one pending transfer for the host (docs/purse-spec.md §5.8), inside a host session opened
 * with `m.hostInit`: SVM GET CHALLENGE, SAM HOST COMMAND H = 54 (checks S2h, authorises the SVM for
 * RV), SVM HOST SETTLE (signed answer for R3), SAM HOST FINISH P1 = 54 -> M.
 * @returns M for the host and the answer in clear for the meter's own log.
 * @throws RangeError when the request's lengths are wrong; TransferError on any refusal (6300: wrong
 *   S2h, 9407: host tx id already used, 6982: no host session).
 */
export async function hostSettle(m: MeterModules, request: HostSettleRequest): Promise<HostSettleAnswer> {
  if (request.payload.length !== SettlePayload.LENGTH)
    throw new RangeError(`request.payload must be ${SettlePayload.LENGTH} bytes`);
  if (request.s2h.length !== 8) throw new RangeError('request.s2h must be 8 bytes');
  const r3 = m.hostChallenge('SAM HOST COMMAND');
  const rv = await expectOk(m.svm, A.getChallenge(), 'SVM GET CHALLENGE');
  const auth = await expectOk(
    m.sam,
    A.hostCommand(HOST_SETTLE, concatBytes(request.payload, request.s2h, rv)),
    'SAM HOST COMMAND',
  );
  const answer = await expectOk(m.svm, A.hostSettle(request.payload, auth, r3), 'SVM HOST SETTLE');
  if (answer.length !== 71)
    throw new TransferError('SVM HOST SETTLE', undefined, `answer is ${answer.length} bytes, not 71`);
  const mm = await expectOk(m.sam, A.hostFinish(HOST_SETTLE, answer), 'SAM HOST FINISH');
  m.endHostSession();
  return { ...decodeSettleAnswer(answer.subarray(0, 63)), m: mm };
}

/** The card counter of a pending entry as the 10-byte SVM log reference CSN ‖ counter. */
export function pendingRef(p: { csn: Uint8Array; counter: number }): Uint8Array {
  return concatBytes(p.csn, Uint8Array.of(p.counter >> 8, p.counter & 0xff));
}
