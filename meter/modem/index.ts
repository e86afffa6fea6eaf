// The meter's end of the power line (docs/meter.md, "The modem").
export { MeterModem } from './MeterModem.js';
export type { ModemEvent, ModemMeter } from './MeterModem.js';
