/** Public API of personalisation on the card side (STYLE.md rule 10): the channel, the gate, blank chips. */
export * from './channel.js';
export {
  GATE_INS,
  KEY_LIFE,
  LIFE_RECORD_LENGTH,
  PersoGate,
  SW_SELECTED_FILE_DEACTIVATED,
  SW_SELECTED_FILE_TERMINATED,
  lifeRecord,
} from './PersoGate.js';
export type { PersoGateOptions } from './PersoGate.js';
export { decodeCommissioning, decodeSam, decodeSubscriber, decodeSvm, ownSubject } from './persoData.js';
export type { StagedKey, StagedPerso } from './persoData.js';
export {
  BLANK_KINDS,
  BLANK_PROFILE,
  KIND_OF,
  demoTransportKey,
  demoTransportMaster,
  makeBlankCard,
} from './blank.js';
export type { BlankCardOptions, BlankConfig, BlankDevice, BlankKind } from './blank.js';
