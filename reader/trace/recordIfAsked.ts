import type { CardChannel } from '../CardChannel.js';
import { FileTraceSink } from './sinks.js';
import {
  RecordingChannel,
  TraceRecorder,
  type RecorderChannelOptions,
  type RecordingOptions,
} from './TraceRecorder.js';

/** Environment variable that asks every card channel the process opens to be recorded. */
export const TRACE_RECORD_ENV = 'MP_TRACE_RECORD';

/** The recorder of each path this process records to (one file per path, every channel in it). */
const recorders = new Map<string, TraceRecorder>();
let exitHook = false;

/**
 * The k-th numbered sibling of `base` (`name.2.trace`…). Version 1 recording wrote one file per
 * channel under these names; a version 2 recording holds every channel in `base` itself.
 */
export function recordingPath(base: string, k: number): string {
  if (k <= 1) return base;
  const dot = base.lastIndexOf('.');
  const slash = Math.max(base.lastIndexOf('/'), base.lastIndexOf('\\'));
  return dot > slash + 1 ? `${base.slice(0, dot)}.${k}${base.slice(dot)}` : `${base}.${k}`;
}

/**
 * The hook where a card channel is opened (`VirtualReader.connect`, `PcscReader.connect`, and
 * any code that opens a channel another way): returns `channel` itself, or, when
 * `MP_TRACE_RECORD=<path>` is set (by the user, or by `meterpurse trace record … -- <command>`),
 * a `RecordingChannel` labelled as a channel of the one version 2 trace written to `<path>`
 * (`@channel` line, then the channel's events, in order with every other channel's). A channel
 * that already records is returned as it is, so the hook may be met twice. Costs one look-up of
 * the environment per connection when not recording.
 * @throws the `fs` error when the trace file cannot be created.
 */
export function recordIfAsked(
  channel: CardChannel,
  options: RecordingOptions & RecorderChannelOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): CardChannel {
  const base = env[TRACE_RECORD_ENV];
  if (!base || channel instanceof RecordingChannel) return channel;
  return recorderFor(base, options).channel(channel, options.id !== undefined ? { id: options.id } : {});
}

/**
 * The recorder writing to `path` in this process, made (the file created, the header written) on
 * first use; it is flushed and closed at process exit, or by `closeRecording(path)`.
 * @throws the `fs` error when the trace file cannot be created.
 */
export function recorderFor(path: string, options: RecordingOptions = {}): TraceRecorder {
  let r = recorders.get(path);
  if (r && !r.closed) return r;
  r = new TraceRecorder(new FileTraceSink(path), { tool: 'meterpurse (MP_TRACE_RECORD)', ...options });
  recorders.set(path, r);
  if (!exitHook) {
    exitHook = true;
    // A command that ends without disconnecting its channels still leaves its whole trace.
    process.on('exit', () => {
      for (const rec of recorders.values()) if (!rec.closed) void rec.close();
    });
  }
  return r;
}

/** Closes the recording to `path` (flushes, fsyncs) and returns how many channels it held. */
export async function closeRecording(path: string): Promise<number> {
  const r = recorders.get(path);
  if (!r) return 0;
  recorders.delete(path);
  const n = r.channels;
  await r.close();
  return n;
}

/** How many channels were recorded to `base` in this process so far. */
export function recordedCount(base: string): number {
  return recorders.get(base)?.channels ?? 0;
}
