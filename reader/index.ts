// Public API of the reader middleware (STYLE.md rule 10); `internal/` is not exported.
export { CardChannelError, type CardChannel, type Protocol } from './CardChannel.js';
export {
  CardRemovedError,
  CardTimeoutError,
  ChannelClosedError,
  NoCardError,
  PcscNotInstalledError,
  ReaderUnavailableError,
  TransportError,
  UnknownReaderError,
} from './errors.js';
export {
  DEFAULT_TIMEOUT_MS,
  type ConnectOptions,
  type Reader,
  type ReaderEvent,
  type ReaderListener,
} from './Reader.js';
export {
  ApduTransport,
  INS_GET_RESPONSE,
  getResponseCla,
  type RawTransmit,
  type TransportOptions,
} from './ApduTransport.js';
export { VirtualReader, type VirtualConnectOptions } from './VirtualReader.js';
export { VirtualChannel, type Disposition } from './VirtualChannel.js';
export { PcscContext, listPcscReaders, type PcscContextOptions } from './PcscContext.js';
export { PcscReader, type PcscConnectOptions } from './PcscReader.js';
export { PcscChannel, PCSC_RECEIVE_BUFFER } from './PcscChannel.js';
export {
  VpcdBridge,
  VPCD_DEFAULT_HOST,
  VPCD_DEFAULT_PORT,
  type BridgeEvent,
  type VpcdBridgeOptions,
} from './vpcd/VpcdBridge.js';
export { diReader, diReaderByName, register, type ReaderByName, type ReaderRegistration } from './tokens.js';
export { RecordingChannel } from './trace/TraceRecorder.js';
export { TRACE_LIMITS, Trace, responseText, spacedHex } from './trace/Trace.js';
export { importPcscSpy } from './trace/pcscSpy.js';
export { importPcapng } from './trace/pcapng.js';
export {
  TRACE_RECORD_ENV,
  closeRecording,
  recorderFor,
  recordIfAsked,
  recordedCount,
  recordingPath,
} from './trace/recordIfAsked.js';
export { replayTrace } from './trace/replayTrace.js';
export type { ReplayReport } from './trace/replayTrace.js';
export { exportScriptorScript, importScriptorOutput, parseScriptorScript } from './trace/scriptor.js';
export type { ScriptStep } from './trace/scriptor.js';
export { FileTraceSink } from './trace/sinks.js';
