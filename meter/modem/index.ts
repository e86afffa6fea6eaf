// The meter's end of the power line (docs/meter.md, "The modem").
export { MeterModem, svmLogSource } from './MeterModem.js';
export type { ModemEvent, ModemMeter, SvmRecordPage } from './MeterModem.js';
