/**
 * Card profiles of the purse system on the card runtime: a subscriber card (T=1 or T=0 ATR), a
 * meter SAM and an SVM. Each is registered in the runtime's profile registry
 * (card/os/CardProfiles.ts) under `subscriber`, `subscriber-t0`, `sam` and `svm`, so card files
 * (`createCardFile` / `openCardFile`, `meterpurse card new|show|serve`) rebuild them.
 *
 * A profile's configuration (kept in the card file header) holds only public personalisation
 * data and `demoIssuerSeed`: a fresh card is personalised with the keys of the documented demo
 * issuer of that seed (public test keys, never real secrets). A card of another issuer is built
 * with `makeSubscriberCard(issuer, ...)` etc.; its keys live only in its persistent image.
 */
import type { BlockCipherProvider, Rng } from '../crypto/types.js';
import { NodeCipherProvider } from '../crypto/NodeCipherProvider.js';
import { SystemRng } from '../crypto/rng.js';
import {
  buildCard,
  buildIsoCard,
  registerProfileOnce,
  type CardProfile,
  type IsoCardConfig,
} from '../os/CardProfiles.js';
import type { Iso7816Os } from '../os/Iso7816Os.js';
import { fromHex, toHex } from '../util/hex.js';
import { IssuerKeys } from './IssuerKeys.js';
import { RuntimeApplet, type Application } from './platform/RuntimeApplet.js';
import type { RecordLayout, RegionRecordStore } from './platform/RegionRecordStore.js';
import { PurseApplet, type PurseInit } from './purse/PurseApplet.js';
import { OFFLINE_RECORD_PURSES, OfflineConfig, OfflineReading } from './purse/offline.js';
import { SamApplet } from './sam/SamApplet.js';
import { SvmApplet } from './svm/SvmApplet.js';
import {
  AID_PURSE,
  AID_SAM,
  AID_SVM,
  LOG_RECORDS,
  PURSE_ELECTRICITY,
  PURSE_GAS,
  PURSE_HEAT,
  PURSE_HOT_WATER,
  PURSE_WATER,
  SVM_LOG_RECORDS,
  SVM_PENDING_SLOTS,
} from './constants.js';

export type ProfileName =
  | 'subscriber'
  | 'subscriber-t0'
  | 'sam'
  | 'svm'
  | 'blank-subscriber'
  | 'blank-sam'
  | 'blank-svm'
  | 'blank-commissioning'
  | 'master-key';
export const PROFILE_NAMES: readonly ProfileName[] = [
  'subscriber',
  'subscriber-t0',
  'sam',
  'svm',
  'blank-subscriber',
  'blank-sam',
  'blank-svm',
  'blank-commissioning',
  'master-key',
];

function withTck(bytes: number[]): Uint8Array {
  let x = 0;
  for (let i = 1; i < bytes.length; i++) x ^= bytes[i]!;
  return Uint8Array.from([...bytes, x]);
}

/**
 * ATRs (ISO/IEC 7816-3 §8). Historical bytes: category 80, COMPACT-TLV tag F (application
 * identifier) with the applet's AID.
 * - subscriber T=1: 3B 8A 01 | 80 F8 F04D505552534501 | TCK (TD1 = 01: T=1 only, no TD2; TCK
 *   present because not only T=0 is indicated).
 * - subscriber T=0: 3B 0A | 80 F8 F04D505552534501 (no interface bytes, T=0 implicit, no TCK).
 * - SAM / SVM T=1: 3B 89 01 | 80 F7 AID(7) | TCK.
 *
 * A T=1 card offers T=1 only: these cards answer by T=1 rules (case 4 data with 9000, Le=00
 * gives what there is), and the card cannot know which protocol the reader picked (vpcd does
 * not tell it), so offering T=0 too would let a reader pick a protocol the card does not honour
 * (docs/atr.md, "Which protocols a simulated card offers").
 */
export const ATR_SUBSCRIBER_T1 = withTck([0x3b, 0x8a, 0x01, 0x80, 0xf8, ...fromHex('F04D505552534501')]);
export const ATR_SUBSCRIBER_T0 = Uint8Array.from([0x3b, 0x0a, 0x80, 0xf8, ...fromHex('F04D505552534501')]);
export const ATR_SAM = withTck([0x3b, 0x89, 0x01, 0x80, 0xf7, ...fromHex('F04D5053414D01')]);
export const ATR_SVM = withTck([0x3b, 0x89, 0x01, 0x80, 0xf7, ...fromHex('F04D5053564D01')]);

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

/** A simulated chip: the runtime OS, its application, and the application's records. */
export interface Device<A extends Application = Application> {
  readonly profile: ProfileName;
  readonly os: Iso7816Os;
  readonly applet: A;
  /** The application's records on the chip's persistent store (tear hook, image, writes). */
  readonly store: RegionRecordStore;
  readonly demoIssuerSeed?: string;
}

// ---- configurations (JSON, kept in card files) ----

export interface SubscriberConfig {
  demoIssuerSeed?: string;
  csn: string;
  issuerId?: string;
  expiry?: string;
  purses?: PurseInit[];
  pin?: string;
}

export interface MeterModuleConfig {
  demoIssuerSeed?: string;
  meterId: string;
  terminalId: string;
  /** The utility (purse id 1..15) whose keys the module holds; default 1 (electricity). */
  purse?: number;
  /** The SAM + SVM pair's number within the meter (a replacement pair gets the next); default 1. */
  pairing?: number;
  /** SVM only. */
  max?: number;
  balance?: number;
}

export const PURSE_INS = [0x84, 0x82, 0xb2, 0xdc, 0x20, 0x24, 0x5c, 0x54, 0x52, 0x56, 0x58, 0x5a]; // 56 58 5A: issue 17
export const SAM_INS = [0x10, 0x12, 0x14, 0x18, 0x1a, 0x20, 0x22, 0x24, 0x1c, 0x1e]; // 1C 1E: issue 17
export const SVM_INS = [0x84, 0x5c, 0x30, 0x32, 0x36, 0x40, 0x44, 0x5a, 0x46, 0x5e]; // 5A READ PENDING, 46 HOST SETTLE, 5E READ LOG (issue 13)

/** The subscriber application's records for the purses `purses`. */
export function purseLayout(purses: readonly number[]): RecordLayout {
  const l: [string, number][] = [
    ['p.identity', 19 + 15],
    ['p.log.head', 2],
    ['p.pin', 10],
  ];
  for (const id of purses) l.push([`p.keys.${id.toString(16).padStart(2, '0')}`, 64]);
  for (const id of purses) l.push([`p.purse.${id.toString(16).padStart(2, '0')}`, 17]);
  for (let i = 0; i < LOG_RECORDS; i++) l.push([`p.log.${i}`, 38]);
  purses.forEach((_, i) => l.push([`p.meter.${i + 1}`, 72]));
  // Issue 17: appended, so an older image keeps its regions (the new ones read as absent = zeros).
  for (const id of purses) l.push([`p.rload.${id.toString(16).padStart(2, '0')}`, 4]);
  purses.slice(0, OFFLINE_RECORD_PURSES).forEach((_, i) => {
    l.push([`p.ocfg.${i + 1}`, OfflineConfig.LENGTH]);
    l.push([`p.ordg.${i + 1}`, OfflineReading.LENGTH]);
  });
  return l;
}

export const SAM_LAYOUT: RecordLayout = [
  ['s.identity', 9],
  ['s.keys', 65],
  ['s.kt', 17 * 8],
];

export const SVM_LAYOUT: RecordLayout = [
  ['v.identity', 9],
  ['v.keys', 33],
  ['v.register', 12],
  ['v.pending', 29],
  ['v.recent', 88],
  ['v.log.head', 2],
  ...Array.from({ length: SVM_LOG_RECORDS }, (_, i) => [`v.log.${i}`, 29] as const),
  ['v.hosttx', 12 * 8],
  // Issue 13: pending slots 1.. (slot 0 is v.pending); appended, so an older image keeps its regions.
  ...Array.from({ length: SVM_PENDING_SLOTS - 1 }, (_, i) => [`v.pending.${i + 1}`, 29] as const),
  // Issue 13 (READ LOG): log records ever written, u32; appended, so an older image keeps its regions.
  ['v.log.seq', 4],
];

function isoConfig(protocol: 'T=0' | 'T=1', atr: Uint8Array, dataSize: number): IsoCardConfig {
  return {
    protocol,
    atr: toHex(atr),
    channels: 1,
    extendedLength: false,
    dataSize,
    journalSize: 2048,
    fs: { type: 'df', fid: '3F00', children: [] },
  };
}

function hexField(v: unknown, name: string, length: number): Uint8Array {
  if (typeof v !== 'string') throw new TypeError(`${name} must be a hex string`);
  const b = fromHex(v);
  if (b.length !== length) throw new RangeError(`${name} must be ${length} bytes, got ${b.length}`);
  return b;
}

/** Keys for a fresh card: the given issuer, or the demo issuer of the configuration's seed. */
function issuerFor(
  cfg: { demoIssuerSeed?: string },
  cipher: BlockCipherProvider,
  issuer?: IssuerKeys,
): IssuerKeys {
  if (issuer) return issuer;
  if (typeof cfg.demoIssuerSeed !== 'string')
    throw new TypeError('demoIssuerSeed is needed to personalise a fresh card from a configuration');
  return IssuerKeys.demo(cipher, cfg.demoIssuerSeed);
}

function buildSubscriber(
  protocol: 'T=0' | 'T=1',
  cfg: SubscriberConfig,
  image: Uint8Array | undefined,
  cipher: BlockCipherProvider,
  rng: Rng,
  issuer?: IssuerKeys,
): { os: Iso7816Os; applet: RuntimeApplet<PurseApplet> } {
  const csn = hexField(cfg.csn, 'csn', 8);
  const purses = cfg.purses ?? defaultPurses();
  const applet = new RuntimeApplet<PurseApplet>({
    aid: AID_PURSE,
    ins: PURSE_INS,
    layout: purseLayout(purses.map((p) => p.id)),
    prefix: 'purse:',
    make: (store, c, r) => new PurseApplet(store, c, r),
    personalise: (store) =>
      PurseApplet.personalise(store, {
        csn,
        issuerId: hexField(cfg.issuerId ?? '4D505552', 'issuerId', 4),
        expiry: hexField(cfg.expiry ?? '301231', 'expiry', 3),
        profileVersion: 1,
        keyVersion: 1,
        keys: issuerFor(cfg, cipher, issuer).cardKeySets(
          csn,
          purses.map((x) => x.id),
        ),
        purses,
        ...(cfg.pin ? { pin: cfg.pin } : {}),
      }),
  });
  const atr = protocol === 'T=0' ? ATR_SUBSCRIBER_T0 : ATR_SUBSCRIBER_T1;
  const os = buildIsoCard(isoConfig(protocol, atr, 4096), image, { cipher, rng }, [applet]);
  return { os, applet };
}

function buildSam(
  cfg: MeterModuleConfig,
  image: Uint8Array | undefined,
  cipher: BlockCipherProvider,
  rng: Rng,
  issuer?: IssuerKeys,
) {
  const meterId = hexField(cfg.meterId, 'meterId', 3);
  const terminalId = hexField(cfg.terminalId, 'terminalId', 4);
  const applet = new RuntimeApplet<SamApplet>({
    aid: AID_SAM,
    ins: SAM_INS,
    layout: SAM_LAYOUT,
    prefix: 'sam:',
    make: (store, c, r) => new SamApplet(store, c, r),
    personalise: (store) =>
      SamApplet.personalise(store, {
        meterId,
        terminalId,
        keys: issuerFor(cfg, cipher, issuer).samKeys(meterId, cfg.purse ?? 1, cfg.pairing ?? 1),
      }),
  });
  const os = buildIsoCard(isoConfig('T=1', ATR_SAM, 1024), image, { cipher, rng }, [applet]);
  return { os, applet };
}

function buildSvm(
  cfg: MeterModuleConfig,
  image: Uint8Array | undefined,
  cipher: BlockCipherProvider,
  rng: Rng,
  issuer?: IssuerKeys,
) {
  const meterId = hexField(cfg.meterId, 'meterId', 3);
  const terminalId = hexField(cfg.terminalId, 'terminalId', 4);
  const applet = new RuntimeApplet<SvmApplet>({
    aid: AID_SVM,
    ins: SVM_INS,
    layout: SVM_LAYOUT,
    prefix: 'svm:',
    make: (store, c, r) => new SvmApplet(store, c, r),
    personalise: (store) =>
      SvmApplet.personalise(store, {
        meterId,
        terminalId,
        keys: issuerFor(cfg, cipher, issuer).svmKeys(meterId, cfg.purse ?? 1, cfg.pairing ?? 1),
        max: cfg.max ?? 1_000_000,
        ...(cfg.balance !== undefined ? { balance: cfg.balance } : {}),
      }),
  });
  const os = buildIsoCard(isoConfig('T=1', ATR_SVM, 2048), image, { cipher, rng }, [applet]);
  return { os, applet };
}

/** Which application a built card carries (cards built by these profiles only). */
const apps = new WeakMap<Iso7816Os, RuntimeApplet<Application>>();

/** Records which applet a card built elsewhere (the blank profiles) carries, for `deviceOf`. */
export function rememberApplet<A extends Application>(x: {
  os: Iso7816Os;
  applet: RuntimeApplet<A>;
}): Iso7816Os {
  apps.set(x.os, x.applet as unknown as RuntimeApplet<Application>);
  return x.os;
}

const DEMO_CSN = '4D50000000000001';
const DEMO_METER = { meterId: '000123', terminalId: '00000123' };

const PROFILES: CardProfile[] = [
  {
    id: 'subscriber',
    description: 'meterpurse subscriber card: 5 purses, log, meter data (T=1)',
    defaultConfig: () => ({ demoIssuerSeed: '0', csn: DEMO_CSN }),
    build: (c, image, o) =>
      rememberApplet(
        buildSubscriber(
          'T=1',
          c as unknown as SubscriberConfig,
          image,
          o.cipher ?? new NodeCipherProvider(),
          o.rng ?? new SystemRng(),
        ),
      ),
  },
  {
    id: 'subscriber-t0',
    description: 'meterpurse subscriber card: 5 purses, log, meter data (T=0)',
    defaultConfig: () => ({ demoIssuerSeed: '0', csn: DEMO_CSN }),
    build: (c, image, o) =>
      rememberApplet(
        buildSubscriber(
          'T=0',
          c as unknown as SubscriberConfig,
          image,
          o.cipher ?? new NodeCipherProvider(),
          o.rng ?? new SystemRng(),
        ),
      ),
  },
  {
    id: 'sam',
    description: 'meterpurse meter SAM (auth and debit keys, K_svm, KT[n])',
    defaultConfig: () => ({ demoIssuerSeed: '0', ...DEMO_METER }),
    build: (c, image, o) =>
      rememberApplet(
        buildSam(
          c as unknown as MeterModuleConfig,
          image,
          o.cipher ?? new NodeCipherProvider(),
          o.rng ?? new SystemRng(),
        ),
      ),
  },
  {
    id: 'svm',
    description: 'meterpurse stored value module (credit register of a meter)',
    defaultConfig: () => ({ demoIssuerSeed: '0', ...DEMO_METER, max: 1_000_000 }),
    build: (c, image, o) =>
      rememberApplet(
        buildSvm(
          c as unknown as MeterModuleConfig,
          image,
          o.cipher ?? new NodeCipherProvider(),
          o.rng ?? new SystemRng(),
        ),
      ),
  },
];

for (const p of PROFILES) registerProfileOnce(p);

/** The device view of a card built by one of these profiles (e.g. from `openCardFile`). */
export function deviceOf(os: Iso7816Os, profile: ProfileName, demoIssuerSeed?: string): Device {
  const a = apps.get(os);
  if (!a) throw new TypeError('not a card of the purse, SAM or SVM profiles');
  return {
    profile,
    os,
    applet: a.app,
    store: a.records,
    ...(demoIssuerSeed !== undefined ? { demoIssuerSeed } : {}),
  };
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

function demoOf(issuer: IssuerKeys): { demoIssuerSeed?: string } {
  return issuer.demoSeed !== undefined ? { demoIssuerSeed: issuer.demoSeed } : {};
}

/**
 * A personalised subscriber card. Cards of the demo issuer are built through the profile registry
 * (so `createCardFile` can save them); others directly, keys from `issuer`.
 */
export function makeSubscriberCard(issuer: IssuerKeys, o: SubscriberOptions): Device<PurseApplet> {
  const cfg: SubscriberConfig = {
    ...demoOf(issuer),
    csn: toHex(o.csn),
    ...(o.issuerId ? { issuerId: toHex(o.issuerId) } : {}),
    ...(o.expiry ? { expiry: toHex(o.expiry) } : {}),
    purses: o.purses ?? defaultPurses(),
    ...(o.pin ? { pin: o.pin } : {}),
  };
  const profile: ProfileName = o.protocol === 'T=0' ? 'subscriber-t0' : 'subscriber';
  const cipher = o.cipher ?? issuer.crypto.cipher;
  const rng = o.rng ?? new SystemRng();
  const os =
    issuer.demoSeed !== undefined
      ? buildCard(profile, cfg as unknown as Record<string, unknown>, undefined, { cipher, rng })
      : rememberApplet(buildSubscriber(o.protocol ?? 'T=1', cfg, undefined, cipher, rng, issuer));
  return deviceOf(os, profile, issuer.demoSeed) as Device<PurseApplet>;
}

export interface MeterDeviceOptions {
  meterId: Uint8Array;
  terminalId: Uint8Array;
  /** The utility (purse id) whose keys the module holds; default 1 (electricity). */
  purse?: number;
  /** The SAM + SVM pair's number within the meter; default 1. */
  pairing?: number;
  rng?: Rng;
  cipher?: BlockCipherProvider;
}

/** A personalised meter SAM. */
export function makeSam(issuer: IssuerKeys, o: MeterDeviceOptions): Device<SamApplet> {
  const cfg: MeterModuleConfig = {
    ...demoOf(issuer),
    meterId: toHex(o.meterId),
    terminalId: toHex(o.terminalId),
    ...(o.purse !== undefined ? { purse: o.purse } : {}),
    ...(o.pairing !== undefined ? { pairing: o.pairing } : {}),
  };
  const cipher = o.cipher ?? issuer.crypto.cipher;
  const rng = o.rng ?? new SystemRng();
  const os =
    issuer.demoSeed !== undefined
      ? buildCard('sam', cfg as unknown as Record<string, unknown>, undefined, { cipher, rng })
      : rememberApplet(buildSam(cfg, undefined, cipher, rng, issuer));
  return deviceOf(os, 'sam', issuer.demoSeed) as Device<SamApplet>;
}

/** A personalised SVM, paired with the SAM of the same meter id and terminal id. */
export function makeSvm(
  issuer: IssuerKeys,
  o: MeterDeviceOptions & { max: number; balance?: number },
): Device<SvmApplet> {
  const cfg: MeterModuleConfig = {
    ...demoOf(issuer),
    meterId: toHex(o.meterId),
    terminalId: toHex(o.terminalId),
    ...(o.purse !== undefined ? { purse: o.purse } : {}),
    ...(o.pairing !== undefined ? { pairing: o.pairing } : {}),
    max: o.max,
    ...(o.balance !== undefined ? { balance: o.balance } : {}),
  };
  const cipher = o.cipher ?? issuer.crypto.cipher;
  const rng = o.rng ?? new SystemRng();
  const os =
    issuer.demoSeed !== undefined
      ? buildCard('svm', cfg as unknown as Record<string, unknown>, undefined, { cipher, rng })
      : rememberApplet(buildSvm(cfg, undefined, cipher, rng, issuer));
  return deviceOf(os, 'svm', issuer.demoSeed) as Device<SvmApplet>;
}
