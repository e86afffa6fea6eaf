/**
 * Card profiles: how a subscriber card (T=1 or T=0 ATR), a SAM and an SVM are built from an
 * issuer's keys, and how each is saved to / loaded from a JSON card file.
 *
 * A card file holds the profile name, the ATR and the chip's persistent store image — keys
 * included, as on a real chip. Files made with the demo issuer say so (`demoIssuerSeed`): their
 * keys are public test data.
 */
import type { BlockCipherProvider, Rng } from '../crypto/types.js';
import { defaultCipherProvider } from '../crypto/index.js';
import { SystemRng } from '../crypto/rng.js';
import { MalformedDataError } from '../iso7816/errors.js';
import { fromHex, toHex } from '../util/hex.js';
import { AppletCardOs } from './platform/AppletCardOs.js';
import { AppletStore, type StoreImage } from './platform/AppletStore.js';
import type { Applet } from './platform/Applet.js';
import { PurseApplet, type PurseInit } from './purse/PurseApplet.js';
import { SamApplet } from './sam/SamApplet.js';
import { SvmApplet } from './svm/SvmApplet.js';
import type { IssuerKeys } from './IssuerKeys.js';
import { PURSE_ELECTRICITY, PURSE_GAS, PURSE_HEAT, PURSE_HOT_WATER, PURSE_WATER } from './constants.js';

export type ProfileName = 'subscriber' | 'subscriber-t0' | 'sam' | 'svm';
export const PROFILE_NAMES: readonly ProfileName[] = ['subscriber', 'subscriber-t0', 'sam', 'svm'];

function withTck(bytes: number[]): Uint8Array {
  let x = 0;
  for (let i = 1; i < bytes.length; i++) x ^= bytes[i]!;
  return Uint8Array.from([...bytes, x]);
}

/**
 * ATRs (ISO/IEC 7816-3 §8). Historical bytes: category 80, COMPACT-TLV tag F (application
 * identifier) with the applet's AID.
 * - subscriber T=1: 3B 8A 80 01 | 80 F8 F04D505552534501 | TCK (TD1 = 80: T=0 and TD2 follows;
 *   TD2 = 01: T=1 also offered; TCK present because not only T=0 is indicated).
 * - subscriber T=0: 3B 0A | 80 F8 F04D505552534501 (no interface bytes, T=0 implicit, no TCK).
 * - SAM / SVM T=1: 3B 89 80 01 | 80 F7 AID(7) | TCK.
 */
export const ATR_SUBSCRIBER_T1 = withTck([
  0x3b,
  0x8a,
  0x80,
  0x01,
  0x80,
  0xf8,
  ...fromHex('F04D505552534501'),
]);
export const ATR_SUBSCRIBER_T0 = Uint8Array.from([0x3b, 0x0a, 0x80, 0xf8, ...fromHex('F04D505552534501')]);
export const ATR_SAM = withTck([0x3b, 0x89, 0x80, 0x01, 0x80, 0xf7, ...fromHex('F04D5053414D01')]);
export const ATR_SVM = withTck([0x3b, 0x89, 0x80, 0x01, 0x80, 0xf7, ...fromHex('F04D5053564D01')]);

/** A simulated chip with its applet, store and profile. */
export interface Device<A extends Applet = Applet> {
  readonly profile: ProfileName;
  readonly os: AppletCardOs;
  readonly store: AppletStore;
  readonly applet: A;
  readonly demoIssuerSeed?: string;
}

/** EUR (ISO 4217 numeric 978) in cents for every purse of the demo profile. */
export const UNIT_EUR_CENTS = 978;

/** The default purses of a subscriber card: electricity, gas, water, heat, hot water. */
export function defaultPurses(balance = 0): PurseInit[] {
  return [PURSE_ELECTRICITY, PURSE_GAS, PURSE_WATER, PURSE_HEAT, PURSE_HOT_WATER].map((id) => ({
    id,
    balance,
    max: 5_000_00,
    limit: 1_000_00,
    unit: UNIT_EUR_CENTS,
  }));
}

export interface SubscriberOptions {
  csn: Uint8Array;
  protocol?: 'T=0' | 'T=1';
  purses?: PurseInit[];
  pin?: string;
  issuerId?: Uint8Array;
  expiry?: Uint8Array;
  rng?: Rng;
  cipher?: BlockCipherProvider;
}

function osFor(profile: ProfileName, store: AppletStore, applet: Applet): AppletCardOs {
  const atr =
    profile === 'subscriber'
      ? ATR_SUBSCRIBER_T1
      : profile === 'subscriber-t0'
        ? ATR_SUBSCRIBER_T0
        : profile === 'sam'
          ? ATR_SAM
          : ATR_SVM;
  return new AppletCardOs({
    atr,
    protocol: profile === 'subscriber-t0' ? 'T=0' : 'T=1',
    store,
    applets: [applet],
  });
}

/** A personalised subscriber card. */
export function makeSubscriberCard(issuer: IssuerKeys, o: SubscriberOptions): Device<PurseApplet> {
  const store = new AppletStore();
  const cipher = o.cipher ?? issuer.crypto.cipher;
  PurseApplet.personalise(store, {
    csn: o.csn,
    issuerId: o.issuerId ?? fromHex('4D505552'),
    expiry: o.expiry ?? fromHex('301231'),
    profileVersion: 1,
    keyVersion: 1,
    keys: issuer.cardKeys(o.csn),
    purses: o.purses ?? defaultPurses(),
    ...(o.pin ? { pin: o.pin } : {}),
  });
  const applet = new PurseApplet(store, cipher, o.rng ?? new SystemRng());
  const profile: ProfileName = o.protocol === 'T=0' ? 'subscriber-t0' : 'subscriber';
  return { profile, os: osFor(profile, store, applet), store, applet, ...demo(issuer) };
}

function demo(issuer: IssuerKeys): { demoIssuerSeed?: string } {
  return issuer.demoSeed !== undefined ? { demoIssuerSeed: issuer.demoSeed } : {};
}

export interface MeterDeviceOptions {
  meterId: Uint8Array;
  terminalId: Uint8Array;
  rng?: Rng;
  cipher?: BlockCipherProvider;
}

/** A personalised meter SAM. */
export function makeSam(issuer: IssuerKeys, o: MeterDeviceOptions): Device<SamApplet> {
  const store = new AppletStore();
  SamApplet.personalise(store, {
    meterId: o.meterId,
    terminalId: o.terminalId,
    keys: issuer.samKeys(o.meterId),
  });
  const applet = new SamApplet(store, o.cipher ?? issuer.crypto.cipher, o.rng ?? new SystemRng());
  return { profile: 'sam', os: osFor('sam', store, applet), store, applet, ...demo(issuer) };
}

/** A personalised SVM, paired with the SAM of the same meter id and terminal id. */
export function makeSvm(
  issuer: IssuerKeys,
  o: MeterDeviceOptions & { max: number; balance?: number },
): Device<SvmApplet> {
  const store = new AppletStore();
  SvmApplet.personalise(store, {
    meterId: o.meterId,
    terminalId: o.terminalId,
    keys: issuer.svmKeys(o.meterId),
    max: o.max,
    ...(o.balance !== undefined ? { balance: o.balance } : {}),
  });
  const applet = new SvmApplet(store, o.cipher ?? issuer.crypto.cipher, o.rng ?? new SystemRng());
  return { profile: 'svm', os: osFor('svm', store, applet), store, applet, ...demo(issuer) };
}

/** The JSON content of a card file. */
export interface CardFile {
  format: 'meterpurse-card';
  version: 1;
  profile: ProfileName;
  atr: string;
  /** Present when the keys come from the documented demo issuer (public test data). */
  demoIssuerSeed?: string;
  store: StoreImage;
}

/** The card file of a device. */
export function toCardFile(d: Device): CardFile {
  return {
    format: 'meterpurse-card',
    version: 1,
    profile: d.profile,
    atr: toHex(d.os.atr),
    ...(d.demoIssuerSeed !== undefined ? { demoIssuerSeed: d.demoIssuerSeed } : {}),
    store: d.store.image(),
  };
}

/**
 * A device from a card file (its store is recovered at the first power-up, as a chip would be).
 * @throws MalformedDataError (kind 'card file') when the JSON does not describe a card.
 */
export function fromCardFile(json: unknown, opts: { rng?: Rng; cipher?: BlockCipherProvider } = {}): Device {
  const bad = (reason: string): never => {
    throw new MalformedDataError(reason, 0, undefined, 'card file');
  };
  if (typeof json !== 'object' || json === null) return bad('not a JSON object');
  const f = json as Partial<CardFile>;
  if (f.format !== 'meterpurse-card' || f.version !== 1) return bad('not a meterpurse-card version 1 file');
  if (!PROFILE_NAMES.includes(f.profile as ProfileName)) return bad(`unknown profile ${String(f.profile)}`);
  if (typeof f.store !== 'object' || f.store === null) return bad('no store image');
  let store: AppletStore;
  try {
    store = AppletStore.fromImage(f.store);
  } catch (e) {
    return bad(`store image: ${(e as Error).message}`);
  }
  const profile = f.profile as ProfileName;
  const cipher = opts.cipher ?? defaultCipherProvider();
  const rng = opts.rng ?? new SystemRng();
  const need = (key: string) => {
    if (!store.view(key)) bad(`the ${profile} image has no record ${key}`);
  };
  let applet: Applet;
  if (profile === 'sam') {
    need('s.identity');
    need('s.keys');
    need('s.kt');
    applet = new SamApplet(store, cipher, rng);
  } else if (profile === 'svm') {
    for (const k of ['v.identity', 'v.keys', 'v.register', 'v.recent', 'v.log.head']) need(k);
    applet = new SvmApplet(store, cipher, rng);
  } else {
    for (const k of ['p.identity', 'p.keys', 'p.log.head']) need(k);
    applet = new PurseApplet(store, cipher, rng);
  }
  return {
    profile,
    os: osFor(profile, store, applet),
    store,
    applet,
    ...(typeof f.demoIssuerSeed === 'string' ? { demoIssuerSeed: f.demoIssuerSeed } : {}),
  };
}
