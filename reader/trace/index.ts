export { BytePattern } from './BytePattern.js';
export {
  Trace,
  TRACE_FORMAT_VERSION,
  TRACE_VERSIONS_READ,
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
  TraceChannel,
  FormatOptions,
} from './Trace.js';
export { RecordingChannel, TraceRecorder, slug as channelSlug } from './TraceRecorder.js';
export type { RecordingOptions, RecorderChannelOptions } from './TraceRecorder.js';
export { MemoryTraceSink, FileTraceSink } from './sinks.js';
export type { TraceSink, FileSinkOptions } from './sinks.js';
export { ReplayChannel } from './ReplayChannel.js';
export type { ReplayOptions } from './ReplayChannel.js';
export { ReplayMismatchError, ReplayedChannelError } from './errors.js';
export { replayTrace } from './replayTrace.js';
export type { ReplayReport, ReplayDifference, ReplayTraceOptions, ChannelOpener } from './replayTrace.js';
export { commandMatches, responseMatches, markDiff } from './compare.js';
export type { MarkedDiff } from './compare.js';
export { importPcscSpy } from './pcscSpy.js';
export { importPcapng, PCAPNG_LIMITS, LINKTYPE_USB_LINUX, LINKTYPE_USB_LINUX_MMAPPED } from './pcapng.js';
export { parseScriptorScript, importScriptorOutput, exportScriptorScript, stepsOf } from './scriptor.js';
export type { ScriptStep } from './scriptor.js';
export {
  recordIfAsked,
  recordingPath,
  recordedCount,
  recorderFor,
  closeRecording,
  TRACE_RECORD_ENV,
} from './recordIfAsked.js';
