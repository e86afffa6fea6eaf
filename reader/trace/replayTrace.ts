import { CommandApdu } from '../../card/index.js';
import { equalBytes } from '../../card/index.js';
import { CardChannelError, type CardChannel } from '../CardChannel.js';
import { markDiff, responseMatches } from './compare.js';
import { responseText, spacedHex, type MaskRule, type Trace, type TraceChannel } from './Trace.js';

/**
 * The card of each channel of a version 2 trace: called in trace order, where the channel was
 * opened (its `@channel` line), with its declaration; the channel it returns is disconnected
 * where the trace disconnects it. Two channels of the same reader may be given the same card.
 */
export type ChannelOpener = (channel: TraceChannel) => CardChannel | Promise<CardChannel>;

/** One difference between a trace and a card. */
export interface ReplayDifference {
  /** Exchange number in the trace (1-based; resets count with the exchange that follows them; 0 for the ATR at connection). */
  index: number;
  /** Line of the event in the trace file (0 for traces built in memory). */
  line: number;
  kind: 'response' | 'error' | 'atr';
  /** Version 2: the channel the exchange was on. */
  channel?: string;
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
  target: CardChannel | ChannelOpener,
  options: ReplayTraceOptions = {},
): Promise<ReplayReport> {
  const rules = [...trace.header.rules, ...(options.rules ?? [])];
  const report: ReplayReport = { exchanges: 0, resets: 0, masked: 0, differences: [], ok: true };
  let index = 0;
  const compareAtr = options.compareAtr ?? true;
  const connectDiff = (
    expected: Uint8Array | undefined,
    ch: CardChannel,
    line: number,
    id?: string,
  ): void => {
    // The card at hand should be the card of the trace: its ATR at connection is compared first.
    if (compareAtr && expected && !equalBytes(ch.atr, expected))
      report.differences.push({
        index,
        line,
        ...(id !== undefined ? { channel: id } : {}),
        kind: 'atr',
        command: 'connect',
        expected: spacedHex(expected),
        actual: spacedHex(ch.atr),
        marked: markDiff(expected, ch.atr, false),
      });
  };
  // Version 1 (or a version 2 trace of one channel given one card): one channel for every event.
  const decls = trace.header.channels;
  const open = new Map<string | undefined, CardChannel>();
  let opener: ChannelOpener | undefined;
  if (typeof target === 'function') {
    if (decls.length === 0) throw new TypeError('a trace without channels replays against one CardChannel');
    opener = target;
  } else if (decls.length === 0) {
    open.set(undefined, target);
    connectDiff(trace.header.atr, target, 0);
  } else if (decls.length === 1) opener = () => target;
  else
    throw new TypeError(`the trace has ${decls.length} channels: give a ChannelOpener, not one CardChannel`);
  let d = 0;
  const total = trace.exchanges.length;
  for (const [i, e] of trace.events.entries()) {
    while (opener && d < decls.length && decls[d]!.at <= i) {
      const c = decls[d++]!;
      let ch: CardChannel;
      try {
        ch = await opener(c);
      } catch (err) {
        if (!(err instanceof CardChannelError)) throw err;
        report.aborted = `cannot open channel ${c.id}: ${message(err)}`;
        break;
      }
      open.set(c.id, ch);
      connectDiff(c.atr, ch, c.line ?? 0, c.id);
    }
    if (report.aborted) break;
    const channel = open.get(e.channel)!;
    const where = e.channel !== undefined ? { channel: e.channel } : {};
    if (e.type === 'disconnect') {
      // Version 2: the opener's channel ends where the recorded one did (the card powers down).
      if (opener) await channel.disconnect().catch(() => undefined);
      continue;
    }
    if (e.type === 'reset') {
      report.resets++;
      let atr: Uint8Array;
      try {
        atr = await channel.reset();
      } catch (err) {
        report.aborted = `reset before exchange ${index + 1} failed: ${message(err)}`;
        break;
      }
      if (compareAtr && !equalBytes(atr, e.atr)) {
        report.differences.push({
          index: index + 1,
          line: e.line,
          ...where,
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
          ...where,
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
        ...where,
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
      ...where,
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
