/** Public API of the card OS (STYLE.md rule 10). */
export type { CardOs } from './CardOs.js';
export { CardPowerLostError } from './CardOs.js';
export { Iso7816Os, INS_GET_RESPONSE, INS_MANAGE_CHANNEL, MAX_CHANNELS } from './Iso7816Os.js';
export type { Iso7816OsOptions } from './Iso7816Os.js';
export { SILENT_LOGGER } from './Applet.js';
export type { Applet, CardLogger, CardServices, CommandContext, Handler, HandlerResult } from './Applet.js';
export { ChannelState } from './ChannelState.js';
export { decodeCla } from './cla.js';
export type { ClassByte } from './cla.js';
export { buildAtr } from './atr.js';
export type { AtrOptions } from './atr.js';
export {
  registerProfile,
  registerProfileOnce,
  getProfile,
  listProfiles,
  buildCard,
  buildIsoCard,
  cardOrigin,
  sampleIsoConfig,
  DEMO_AID,
} from './CardProfiles.js';
export type { CardProfile, CardBuildOptions, IsoCardConfig } from './CardProfiles.js';
