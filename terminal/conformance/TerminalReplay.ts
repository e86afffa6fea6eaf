/**
 * Replays a recorded authenticated session as the documented terminal (issue 14, "Replayable
 * sessions"): instead of repeating the recorded bytes — whose cryptograms were computed over the
 * recorded card's challenge — each command is rebuilt for the live card's fresh challenge with
 * the keys given, and the card's answers are compared with the recording's: status words always,
 * data except the parts that are random by the specification (challenges, cryptograms, MACs),
 * which are checked with the keys instead.
 */
import { CommandApdu, PurseCrypto, toHex, u16, u32, verifyMac } from '../../card/index.js';
import type { BlockCipherProvider } from '../../card/index.js';
import type { CardChannel } from '../../reader/index.js';
import type { Trace } from '../../reader/index.js';
import * as A from '../apdus.js';
import { cardCryptogram, debitInput, recordInput, samCryptogram, type Tx } from './CardProbe.js';
import type { ConformanceKeys } from './ConformanceKeys.js';
import { findTlv } from '../../card/index.js';

export interface ReplayDifference {
  /** 1-based exchange number in the trace, and its line. */
  readonly exchange: number;
  readonly line: number;
  readonly command: string;
  readonly message: string;
}

export interface TerminalReplayResult {
  readonly exchanges: number;
  readonly differences: readonly ReplayDifference[];
}

const STATE_FIELDS: [string, number, number][] = [
  ['balance', 0, 4],
  ['maximum balance', 4, 4],
  ['per-transaction limit', 8, 4],
  ['unit', 12, 2],
  ['counter', 14, 2],
  ['status', 16, 1],
];

/**
 * The card's events of `trace` as a trace of one channel: for a version 2 trace (several
 * channels, docs/trace-format.md) the channel `channel` (`Trace.channel`), or its only channel
 * when `channel` is not given; a version 1 trace as it is.
 * @throws RangeError when the trace has no channel `channel`, when a channel is named for a trace
 * of one unlabelled channel, or when a trace of several channels does not say which; the message
 * lists the channels of the trace.
 */
export function cardChannelOf(trace: Trace, channel?: string): Trace {
  const ids = trace.header.channels.map((c) => c.id);
  const known = trace.header.channels.map(
    (c) => `${c.id}${c.reader !== undefined ? ` ("${c.reader}")` : ''}`,
  );
  if (ids.length === 0) {
    if (channel !== undefined)
      throw new RangeError(
        `the trace is of one channel (version ${trace.header.version}, no @channel): drop the channel ${JSON.stringify(channel)}`,
      );
    return trace;
  }
  if (channel === undefined) {
    if (ids.length === 1) return trace.channel(ids[0]!);
    throw new RangeError(
      `the trace has ${ids.length} channels: say which is the card's (${known.join(', ')})`,
    );
  }
  if (!ids.includes(channel))
    throw new RangeError(`the trace has no channel ${JSON.stringify(channel)}; it has ${known.join(', ')}`);
  return trace.channel(channel);
}

/**
 * Replays the card exchanges of `trace` (for a version 2 trace of several channels, those of
 * `channel`, as `cardChannelOf` picks them).
 * @throws RangeError from `cardChannelOf` before anything is sent.
 * @throws CardChannelError when the card goes away.
 */
export async function replayAsTerminal(
  trace: Trace,
  card: CardChannel,
  keys: ConformanceKeys,
  cipher: BlockCipherProvider,
  channel?: string,
): Promise<TerminalReplayResult> {
  const events = cardChannelOf(trace, channel).events;
  const c = new PurseCrypto(cipher);
  const diffs: ReplayDifference[] = [];
  let csn: Uint8Array | undefined;
  let rc: Uint8Array | undefined;
  let recordedRc: Uint8Array | undefined;
  let session: { skAuth: Uint8Array; skDebit: Uint8Array; purse: number } | undefined;
  const counters = new Map<number, number>();
  let n = 0;
  for (const e of events) {
    if (e.type === 'reset') {
      await card.reset();
      rc = undefined;
      session = undefined;
      continue;
    }
    if (e.type !== 'exchange' || !e.response) continue;
    n++;
    const rec = CommandApdu.decode(e.command);
    const recResp = e.response;
    const recSw = u16(recResp, recResp.length - 2);
    const recData = recResp.subarray(0, recResp.length - 2);
    const diff = (message: string) =>
      diffs.push({ exchange: n, line: e.line, command: toHex(e.command), message });
    let cmd = rec;
    let verify: ((data: Uint8Array) => void) | undefined;
    const keysOf = (p: number) => (csn ? keys.keysFor(csn, p) : undefined);
    if (rec.ins === 0x82 && rec.cla === 0 && rec.nc === 16 && rc && csn) {
      const k = keysOf(rec.p2);
      if (k) {
        const rs = rec.data.subarray(0, 8);
        const skAuth = c.sessionKey(k.auth, rc, rs);
        const sSam = c.mac(skAuth, samCryptogram(rc, rs, csn));
        if (recSw === 0x6300) sSam[0]! ^= 1; // the recording's cryptogram was wrong: keep it wrong
        cmd = A.mutualAuthenticate(rs, sSam, rec.p2);
        const liveRc = rc;
        verify = (d) => {
          if (!verifyMac(c.mac(skAuth, cardCryptogram(liveRc, rs, csn!)), d))
            diff('S_card is wrong for the live challenge');
          session = { skAuth, skDebit: c.sessionKey(k.debit, liveRc, rs), purse: rec.p2 };
        };
      }
    } else if (rec.ins === 0x54 && rec.cla === 0x80 && rec.nc === 30 && session && csn) {
      const d = rec.data;
      const counter = (counters.get(rec.p2) ?? 0) + 1;
      const t: Tx = {
        csn,
        purse: rec.p2,
        amount: u32(d, 0),
        counter,
        terminalId: d.slice(4, 8),
        dateTime: d.slice(8, 14),
      };
      const rv = d.slice(14, 22);
      const mac = c.mac(session.skDebit, debitInput(t, rv));
      if (recSw === 0x6300) mac[0]! ^= 1;
      cmd = A.debit(rec.p2, t.amount, t.terminalId, t.dateTime, rv, mac);
      const k = keysOf(rec.p2);
      verify = (r) => {
        if (
          k &&
          r.length === 14 &&
          !verifyMac(c.mac(k.proof, recordInput('D', t, u32(r, 0), rv)), r.subarray(6, 14))
        )
          diff('the debit proof is wrong');
      };
    }
    if (rec.ins === 0x82 || rec.ins === 0x52) rc = undefined;
    const live = await card.transmit(cmd);
    const liveData = live.data;
    if (live.sw !== recSw) {
      diff(
        `status word ${toHex(Uint8Array.of(live.sw >> 8, live.sw & 0xff))}, recorded ${toHex(Uint8Array.of(recSw >> 8, recSw & 0xff))}`,
      );
      continue;
    }
    // What is random by the specification: compared by length, checked by MAC where possible.
    if (rec.ins === 0x84) {
      if (liveData.length !== recData.length)
        diff(`challenge of ${liveData.length} bytes, recorded ${recData.length}`);
      rc = liveData.slice();
      recordedRc = recData.slice();
      continue;
    }
    if (verify && live.sw === 0x9000) verify(liveData);
    if (rec.ins === 0xa4 && live.sw === 0x9000 && liveData.length) {
      try {
        csn = findTlv(liveData, 0x5a)?.slice() ?? csn;
      } catch {
        /* no FCI */
      }
    }
    if (rec.ins === 0x5c && live.sw === 0x9000 && liveData.length >= 17) {
      counters.set(rec.p2, u16(liveData, 14));
      if (rec.nc === 8) session = undefined;
    }
    if (rec.ins === 0x54 && live.sw === 0x9000 && liveData.length >= 6)
      counters.set(rec.p2, u16(liveData, 4));
    compare(rec, recData, liveData, recordedRc, diff);
  }
  return { exchanges: n, differences: diffs };
}

function field(b: Uint8Array, o: number, l: number): number {
  return l === 4 ? u32(b, o) : l === 2 ? u16(b, o) : b[o]!;
}

/** Compares the non-random parts of an answer, naming the field that differs. */
function compare(
  rec: CommandApdu,
  want: Uint8Array,
  got: Uint8Array,
  _recordedRc: Uint8Array | undefined,
  diff: (m: string) => void,
): void {
  if (rec.ins === 0x82 || rec.ins === 0x84) return; // S_card / RC: random, checked above
  if (rec.ins === 0x5c && rec.cla === 0x80) {
    for (const [name, o, l] of STATE_FIELDS)
      if (want.length >= o + l && got.length >= o + l && field(want, o, l) !== field(got, o, l))
        diff(`READ PURSE ${rec.p2}: ${name} ${field(got, o, l)}, recorded ${field(want, o, l)}`);
    if (want.length !== got.length) diff(`READ PURSE: ${got.length} bytes, recorded ${want.length}`);
    return;
  }
  if ((rec.ins === 0x54 || rec.ins === 0x52) && rec.cla === 0x80) {
    if (want.length >= 6 && got.length >= 6) {
      if (u32(want, 0) !== u32(got, 0))
        diff(
          `${rec.ins === 0x54 ? 'DEBIT' : 'LOAD'}: balance after ${u32(got, 0)}, recorded ${u32(want, 0)}`,
        );
      if (u16(want, 4) !== u16(got, 4))
        diff(`${rec.ins === 0x54 ? 'DEBIT' : 'LOAD'}: counter ${u16(got, 4)}, recorded ${u16(want, 4)}`);
    }
    if (want.length !== got.length) diff(`${got.length} bytes, recorded ${want.length}`);
    return;
  }
  if (rec.ins === 0xb2 && rec.p2 === 0x0c && want.length === 38 && got.length === 38) {
    // A log record: everything but RV and MAC of a load (RV = the card's random challenge).
    const last = want[0] === 1 ? 22 : 38;
    if (toHex(want.subarray(0, last)) !== toHex(got.subarray(0, last)))
      diff(
        `log record ${rec.p1}: ${toHex(got.subarray(0, last))}, recorded ${toHex(want.subarray(0, last))}`,
      );
    return;
  }
  if (toHex(want) !== toHex(got)) diff(`data ${toHex(got)}, recorded ${toHex(want)}`);
}
