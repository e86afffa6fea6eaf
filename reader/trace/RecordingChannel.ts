// RecordingChannel lives in TraceRecorder.ts, with the recorder it writes through: the two refer
// to each other (a recorder makes channels, a channel may make its recorder), and one module
// keeps that out of the import graph.
export { RecordingChannel } from './TraceRecorder.js';
export type { RecordingOptions } from './TraceRecorder.js';
