/**
 * Issue 17 helpers for the offline-meter tests: a utility writing a configuration onto a card (PUT
 * CONFIG, as its vending point or the power line would), reading the card's SFI 03 / 04 records
 * back, and an offline meter (gas by default) from cardWorld.
 */
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import { concatBytes } from '../../card/util/hex.js';
import { AID_PURSE, PURSE_GAS } from '../../card/applets/constants.js';
import type { Device } from '../../card/applets/profiles.js';
import type { PurseApplet } from '../../card/applets/purse/PurseApplet.js';
import type { IssuerKeys } from '../../card/applets/IssuerKeys.js';
import {
  configWriteMacInput,
  OfflineConfig,
  signOfflineConfig,
  type OfflineConfigFields,
} from '../../card/applets/purse/offline.js';
import * as A from '../../terminal/apdus.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import { CSN, newMeter, type NewMeterOptions } from './cardWorld.js';
import type { SimulatedCardMeter } from '../../meter/cardslot/createCardMeter.js';

export const METER_ID = Uint8Array.of(0x00, 0x01, 0x23);
export const OTHER_METER = Uint8Array.of(0x00, 0x01, 0x24);
export const ISSUED = RtcTime.of(2026, 11, 1, 9, 0).encodeBcd();

/** Sends one command straight to a card that is not in a slot (powering it if needed). */
export function cardTx(card: Device<PurseApplet>, c: CommandApdu): ResponseApdu {
  if (!card.os.powered) card.os.powerUp();
  return ResponseApdu.decode(card.os.transmit(c.encode()));
}

/** The fields of a gas configuration for meter 000123, version `version`. */
export function configFields(version: number, o: Partial<OfflineConfigFields> = {}): OfflineConfigFields {
  return {
    meterId: METER_ID,
    purse: PURSE_GAS,
    version,
    issued: ISSUED,
    emergencyLimit: 750,
    unitCharge: 130,
    blacklistVersion: 0,
    ktVersion: 1,
    ...o,
  };
}

/**
 * PUT CONFIG of `record` (36 bytes) onto the card's purse `purse`, card MAC under the utility's
 * K_remote (so any record can be written, as a utility — or a forger holding that key — would).
 * @returns the card's status word.
 */
export function putRecord(
  card: Device<PurseApplet>,
  issuer: IssuerKeys,
  record: Uint8Array,
  purse = PURSE_GAS,
  csn = CSN,
): number {
  const k = issuer.remoteKey(csn, purse);
  const mac = issuer.crypto.mac(k, configWriteMacInput(csn, record));
  cardTx(card, A.selectAid(AID_PURSE));
  return cardTx(card, A.putConfig(purse, concatBytes(record, mac))).sw;
}

/** The utility signs a configuration and writes it onto the card. @returns the 36-byte record. */
export function writeConfig(
  card: Device<PurseApplet>,
  issuer: IssuerKeys,
  fields: OfflineConfigFields,
  csn = CSN,
): Uint8Array {
  const { record, cardMac } = signOfflineConfig(issuer, csn, fields);
  cardTx(card, A.selectAid(AID_PURSE));
  const sw = cardTx(card, A.putConfig(fields.purse, concatBytes(record, cardMac))).sw;
  if (sw !== 0x9000) throw new Error(`PUT CONFIG answered ${sw.toString(16)}`);
  return record;
}

/** A configuration whose meter MAC is made with another key than the meter's (a forgery). */
export function forgedRecord(
  fields: OfflineConfigFields,
  meterMacKey: Uint8Array,
  issuer: IssuerKeys,
): Uint8Array {
  const unsigned = new OfflineConfig(fields);
  const input = concatBytes(Uint8Array.of(0x43), CSN, unsigned.signedPart()); // 'C' ‖ CSN ‖ bytes 0..27
  return unsigned.withMac(issuer.crypto.mac(meterMacKey, input)).encode();
}

/** Record `n` of SFI 03 or 04 as the card answers READ RECORD. */
export function readCardRecord(card: Device<PurseApplet>, sfi: 3 | 4, n: number): ResponseApdu {
  cardTx(card, A.selectAid(AID_PURSE));
  return cardTx(card, sfi === 3 ? A.readOfflineConfig(n) : A.readOfflineReadings(n));
}

/** An offline gas meter (meter id 000123, purse 02) of the test issuer. */
export function gasMeter(o: NewMeterOptions = {}): Promise<SimulatedCardMeter> {
  return newMeter({ ...o, meter: { commodity: 'gas', ...o.meter } });
}
