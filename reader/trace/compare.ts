import { equalBytes } from '../../card/index.js';
import type { MaskRule, TraceExchange } from './Trace.js';
import { spacedHex } from './Trace.js';

/**
 * True when `got` may stand for the recorded command of `entry`: the same bytes, or bytes the
 * exchange's `~>` mask accepts, or both fitting one `@mask-command` rule.
 */
export function commandMatches(entry: TraceExchange, got: Uint8Array, rules: readonly MaskRule[]): boolean {
  if (equalBytes(entry.command, got)) return true;
  if (entry.commandMask?.matches(got)) return true;
  for (const r of rules) {
    if (r.kind === 'command' && r.command.matches(entry.command) && r.command.matches(got)) return true;
  }
  return false;
}

/**
 * True when `got` is as good as the recorded response of `entry`: the same bytes, or bytes the
 * exchange's `~<` mask accepts, or an `@mask-response` rule whose command pattern fits the
 * recorded command and whose response pattern fits `got`.
 */
export function responseMatches(entry: TraceExchange, got: Uint8Array, rules: readonly MaskRule[]): boolean {
  if (!entry.response) return false;
  if (equalBytes(entry.response, got)) return true;
  if (entry.responseMask?.matches(got)) return true;
  for (const r of rules) {
    if (r.kind === 'response' && r.response && r.command.matches(entry.command) && r.response.matches(got))
      return true;
  }
  return false;
}

/** Expected and actual bytes side by side, the bytes that differ in [brackets]. */
export interface MarkedDiff {
  expected: string;
  actual: string;
  /** Offsets (in `actual`, or in `expected` past its end) of the differing bytes. */
  offsets: number[];
}

/**
 * Marks the bytes that differ between two responses. Data is compared position by position and
 * SW1 SW2 (the last two bytes) apart, so a response that lost or gained data bytes still shows
 * whether its status word is the recorded one.
 */
export function markDiff(expected: Uint8Array, actual: Uint8Array, responses = true): MarkedDiff {
  const split = (b: Uint8Array): [Uint8Array, Uint8Array] =>
    responses && b.length >= 2
      ? [b.subarray(0, b.length - 2), b.subarray(b.length - 2)]
      : [b, new Uint8Array(0)];
  const [ed, es] = split(expected);
  const [ad, as] = split(actual);
  const offsets: number[] = [];
  const side = (mine: Uint8Array, other: Uint8Array, base: number, record: boolean): string[] => {
    const out: string[] = [];
    for (let i = 0; i < mine.length; i++) {
      const h = spacedHex(mine.subarray(i, i + 1));
      const differs = i >= other.length || mine[i] !== other[i];
      if (differs && record) offsets.push(base + i);
      out.push(differs ? `[${h}]` : h);
    }
    return out;
  };
  const render = (d: string[], s: string[]) =>
    s.length ? (d.length ? `${d.join(' ')} | ${s.join(' ')}` : s.join(' ')) : d.join(' ');
  const a = render(side(ad, ed, 0, true), side(as, es, ad.length, true));
  // Bytes the actual response lacks are still marked on the expected side.
  for (let i = ad.length; i < ed.length; i++) offsets.push(i);
  const e = render(side(ed, ad, 0, false), side(es, as, ed.length, false));
  return { expected: e, actual: a, offsets: [...new Set(offsets)].sort((x, y) => x - y) };
}
