import type { CardChannel } from '../CardChannel.js';
import { RecordingChannel, type RecordingOptions } from './RecordingChannel.js';
import { FileTraceSink } from './sinks.js';

/** Environment variable that asks every channel opened through `recordIfAsked` to be recorded. */
export const TRACE_RECORD_ENV = 'MP_TRACE_RECORD';

const opened = new Map<string, number>();

/**
 * The path of the k-th channel recorded to `base` in this process: `base` itself for the first,
 * then `name.2.trace`, `name.3.trace`… (a session with a card, a SAM and an SVM gives three).
 */
export function recordingPath(base: string, k: number): string {
  if (k <= 1) return base;
  const dot = base.lastIndexOf('.');
  const slash = Math.max(base.lastIndexOf('/'), base.lastIndexOf('\\'));
  return dot > slash + 1 ? `${base.slice(0, dot)}.${k}${base.slice(dot)}` : `${base}.${k}`;
}

/**
 * The hook a command line uses where it opens a card channel: returns `channel` itself, or, when
 * `MP_TRACE_RECORD=<path>` is set (by the user, or by `meterpurse trace record … -- <command>`),
 * a `RecordingChannel` writing to that path (and to numbered siblings for further channels).
 * Disconnecting the returned channel closes the trace.
 * @throws the `fs` error when the trace file cannot be created.
 */
export function recordIfAsked(
  channel: CardChannel,
  options: RecordingOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): CardChannel {
  const base = env[TRACE_RECORD_ENV];
  if (!base) return channel;
  const k = (opened.get(base) ?? 0) + 1;
  opened.set(base, k);
  return new RecordingChannel(channel, new FileTraceSink(recordingPath(base, k)), {
    tool: 'meterpurse (MP_TRACE_RECORD)',
    ...options,
  });
}

/** How many channels were recorded to `base` in this process so far. */
export function recordedCount(base: string): number {
  return opened.get(base) ?? 0;
}
