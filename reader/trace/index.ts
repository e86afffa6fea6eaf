export { BytePattern } from './BytePattern.js';
export {
  Trace,
  TRACE_FORMAT_VERSION,
  TRACE_LIMITS,
  GET_CHALLENGE_RULE,
  formatEvent,
  spacedHex,
  responseText,
} from './Trace.js';
export type {
  MaskRule,
  TraceHeader,
  TraceEvent,
  TraceExchange,
  TraceReset,
  TraceDisconnect,
  FormatOptions,
} from './Trace.js';
export { RecordingChannel } from './RecordingChannel.js';
export type { RecordingOptions } from './RecordingChannel.js';
export { MemoryTraceSink, FileTraceSink } from './sinks.js';
export type { TraceSink, FileSinkOptions } from './sinks.js';
export { ReplayChannel } from './ReplayChannel.js';
export type { ReplayOptions } from './ReplayChannel.js';
export { ReplayMismatchError, ReplayedChannelError } from './errors.js';
export { replayTrace } from './replayTrace.js';
export type { ReplayReport, ReplayDifference, ReplayTraceOptions } from './replayTrace.js';
export { commandMatches, responseMatches, markDiff } from './compare.js';
export type { MarkedDiff } from './compare.js';
export { importPcscSpy } from './pcscSpy.js';
export { parseScriptorScript, importScriptorOutput, exportScriptorScript, stepsOf } from './scriptor.js';
export type { ScriptStep } from './scriptor.js';
export { recordIfAsked, recordingPath, recordedCount, TRACE_RECORD_ENV } from './recordIfAsked.js';
