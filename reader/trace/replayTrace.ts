import { CommandApdu } from '../../card/index.js';
import { equalBytes } from '../../card/index.js';
import { CardChannelError, type CardChannel } from '../CardChannel.js';
import { markDiff, responseMatches } from './compare.js';
import { responseText, spacedHex, type MaskRule, type Trace } from './Trace.js';

/** One difference between a trace and a card. */
export interface ReplayDifference {
  /** Exchange number in the trace (1-based; resets count with the exchange that follows them; 0 for the ATR at connection). */
  index: number;
  /** Line of the event in the trace file (0 for traces built in memory). */
  line: number;
  kind: 'response' | 'error' | 'atr';
  /** Command hex (spaced), or 'reset', or 'connect' for the ATR at connection. */
  command: string;
  /** What the trace holds: response hex (`data | SW`), ATR hex, or `error: <message>`. */
  expected: string;
  /** What the card gave. */
  actual: string;
  /** Expected and actual with the differing bytes in [brackets] (absent for errors). */
  marked?: { expected: string; actual: string; offsets: number[] };
}

export interface ReplayReport {
  /** Exchanges sent. */
  exchanges: number;
  /** Resets played. */
  resets: number;
  /** Exchanges whose response differed only where masks allow. */
  masked: number;
  differences: ReplayDifference[];
  /** Set when the replay stopped early because the channel failed for good. */
  aborted?: string;
  /** True when nothing unmasked differs. */
  ok: boolean;
}

export interface ReplayTraceOptions {
  /** Mask rules added to those of the trace. */
  rules?: readonly MaskRule[];
  /** Compare the ATR at connection (`@atr`) and after each recorded reset (default true). */
  compareAtr?: boolean;
  /** Called before each exchange is sent with how many were sent and how many the trace holds (a progress line). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Sends a trace's commands to a card in order (resetting where the trace resets) and reports
 * every response that differs from the recorded one outside the masks (docs/trace-format.md).
 * A channel error where the trace recorded one is no difference; a channel that is gone
 * (removed card, closed channel) ends the replay with `aborted` set.
 */
export async function replayTrace(
  trace: Trace,
  channel: CardChannel,
  options: ReplayTraceOptions = {},
): Promise<ReplayReport> {
  const rules = [...trace.header.rules, ...(options.rules ?? [])];
  const report: ReplayReport = { exchanges: 0, resets: 0, masked: 0, differences: [], ok: true };
  let index = 0;
  // The card at hand should be the card of the trace: its ATR at connection is compared first.
  const atr0 = trace.header.atr;
  if ((options.compareAtr ?? true) && atr0 && !equalBytes(channel.atr, atr0)) {
    report.differences.push({
      index: 0,
      line: 0,
      kind: 'atr',
      command: 'connect',
      expected: spacedHex(atr0),
      actual: spacedHex(channel.atr),
      marked: markDiff(atr0, channel.atr, false),
    });
  }
  const total = trace.exchanges.length;
  for (const e of trace.events) {
    if (e.type === 'disconnect') continue;
    if (e.type === 'reset') {
      report.resets++;
      let atr: Uint8Array;
      try {
        atr = await channel.reset();
      } catch (err) {
        report.aborted = `reset before exchange ${index + 1} failed: ${message(err)}`;
        break;
      }
      if ((options.compareAtr ?? true) && !equalBytes(atr, e.atr)) {
        report.differences.push({
          index: index + 1,
          line: e.line,
          kind: 'atr',
          command: 'reset',
          expected: spacedHex(e.atr),
          actual: spacedHex(atr),
          marked: markDiff(e.atr, atr, false),
        });
      }
      continue;
    }
    options.onProgress?.(index, total);
    index++;
    report.exchanges++;
    const command = spacedHex(e.command);
    let got: Uint8Array;
    try {
      got = (await channel.transmit(CommandApdu.decode(e.command))).encode();
    } catch (err) {
      if (!(err instanceof CardChannelError)) throw err;
      if (e.error === undefined) {
        report.differences.push({
          index,
          line: e.line,
          kind: 'error',
          command,
          expected: e.response ? responseText(e.response) : '',
          actual: `error: ${message(err)}`,
        });
      }
      if (isFatal(err)) {
        report.aborted = `the channel failed at exchange ${index}: ${message(err)}`;
        break;
      }
      continue;
    }
    if (!e.response) {
      report.differences.push({
        index,
        line: e.line,
        kind: 'error',
        command,
        expected: `error: ${e.error ?? 'error'}`,
        actual: responseText(got),
      });
      continue;
    }
    if (equalBytes(e.response, got)) continue;
    if (responseMatches(e, got, rules)) {
      report.masked++;
      continue;
    }
    report.differences.push({
      index,
      line: e.line,
      kind: 'response',
      command,
      expected: responseText(e.response),
      actual: responseText(got),
      marked: markDiff(e.response, got),
    });
  }
  report.ok = report.differences.length === 0 && report.aborted === undefined;
  return report;
}

function message(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** Errors after which no further command can reach the card. */
function isFatal(e: CardChannelError): boolean {
  return ['CardRemovedError', 'ChannelClosedError', 'ReaderUnavailableError', 'NoCardError'].includes(e.name);
}
