/** Conformance runs of issue 14 (docs/conformance.md): card under test, terminal under test, replay as terminal. */
export { runCardSuite, cardCases } from './CardSuite.js';
export type { CardRunOptions, CaseResult, CaseStatus, RunResult } from './CardSuite.js';
export { KEYS_FILE_FORMAT, keysFromIssuer, parseKeysFile } from './ConformanceKeys.js';
export type { ConformanceKeys, PurseKeys } from './ConformanceKeys.js';
export { SpecCheckingCard, deviationLines, terminalReport, TERMINAL_RULES } from './SpecCheckingCard.js';
export type { Deviation } from './SpecCheckingCard.js';
export { cardChannelOf, replayAsTerminal } from './TerminalReplay.js';
export type { ReplayDifference, TerminalReplayResult } from './TerminalReplay.js';
export { junitXml, passed, textReport, xmlEscape } from './report.js';
export type { SuiteReport } from './report.js';
