/**
 * The registry of card profiles: what a card file names to have its card rebuilt. A profile
 * turns a JSON configuration (kept in the card file) and a persistent image into a running
 * card. The plain ISO 7816 file-system cards are registered here; applet helpers register
 * their own profiles (purse, SAM, SVM) with `registerProfile`, usually building on
 * `buildIsoCard` with their applets.
 */
import { NodeCipherProvider } from '../crypto/NodeCipherProvider.js';
import { SystemRng } from '../crypto/rng.js';
import type { BlockCipherProvider, Rng } from '../crypto/types.js';
import { validateFileSpec, type DfSpec } from '../fs/FileSpec.js';
import type { KeySpec } from '../security/KeyStore.js';
import type { PinSpec } from '../security/PinManager.js';
import { PersistentStore } from '../store/PersistentStore.js';
import { fromHex } from '../util/hex.js';
import type { Applet, CardLogger } from './Applet.js';
import { buildAtr } from './atr.js';
import { Iso7816Os } from './Iso7816Os.js';

/** Injected services for building a card; defaults: node:crypto, OS randomness, silent log. */
export interface CardBuildOptions {
  cipher?: BlockCipherProvider;
  rng?: Rng;
  logger?: CardLogger;
}

export interface CardProfile {
  readonly id: string;
  readonly description: string;
  /** The configuration of a fresh card (JSON-safe; stored in the card file). */
  defaultConfig(): Record<string, unknown>;
  /**
   * Builds the card. `image` undefined: a fresh card, personalised from the configuration.
   * @throws TypeError / RangeError naming the field when the configuration is invalid.
   */
  build(config: Record<string, unknown>, image: Uint8Array | undefined, options: CardBuildOptions): Iso7816Os;
}

/** Configuration of a card built by `buildIsoCard`. */
export interface IsoCardConfig {
  protocol: 'T=0' | 'T=1';
  /** ATR hex; default built by `buildAtr` from protocol, channels and extendedLength. */
  atr?: string;
  channels?: number;
  extendedLength?: boolean;
  /** Data area bytes (default 32768) and journal bytes (default 4096). */
  dataSize?: number;
  journalSize?: number;
  fs: DfSpec;
  pins?: PinSpec[];
  keys?: KeySpec[];
}

const registry = new Map<string, CardProfile>();
const origin = new WeakMap<Iso7816Os, { profile: string; config: Record<string, unknown> }>();

/** @throws RangeError when the id is already registered. */
export function registerProfile(profile: CardProfile): void {
  if (registry.has(profile.id)) throw new RangeError(`profile ${profile.id} is already registered`);
  registry.set(profile.id, profile);
}

/**
 * Registers `profile` unless a profile of its id is registered already (modules that register
 * their profiles on import may be loaded twice, e.g. by a test runner and by the code it tests).
 */
export function registerProfileOnce(profile: CardProfile): void {
  if (!registry.has(profile.id)) registry.set(profile.id, profile);
}

/** @throws RangeError naming the id when no such profile is registered. */
export function getProfile(id: string): CardProfile {
  const p = registry.get(id);
  if (!p)
    throw new RangeError(
      `unknown card profile ${JSON.stringify(id)} (known: ${[...registry.keys()].join(', ')})`,
    );
  return p;
}

export function listProfiles(): CardProfile[] {
  return [...registry.values()];
}

/**
 * A card from a registered profile, remembering profile and configuration for `createCardFile`.
 * @throws RangeError for an unknown profile; TypeError / RangeError for a bad configuration.
 */
export function buildCard(
  profileId: string,
  config?: Record<string, unknown>,
  image?: Uint8Array,
  options: CardBuildOptions = {},
): Iso7816Os {
  const p = getProfile(profileId);
  const cfg = config ?? p.defaultConfig();
  const card = p.build(cfg, image, options);
  origin.set(card, { profile: profileId, config: structuredClone(cfg) });
  return card;
}

/** The profile id and configuration a card was built from, if built by `buildCard`. */
export function cardOrigin(
  card: Iso7816Os,
): { profile: string; config: Record<string, unknown> } | undefined {
  return origin.get(card);
}

/**
 * Builds an ISO 7816 card from a configuration, with optional applets (installed after the
 * file system, PINs and keys).
 * @throws TypeError / RangeError naming the field when the configuration is invalid.
 */
export function buildIsoCard(
  config: IsoCardConfig,
  image: Uint8Array | undefined,
  options: CardBuildOptions,
  applets: readonly Applet[] = [],
): Iso7816Os {
  if (typeof config !== 'object' || config === null) throw new TypeError('config must be an object');
  if (config.protocol !== 'T=0' && config.protocol !== 'T=1')
    throw new RangeError("config.protocol must be 'T=0' or 'T=1'");
  const channels = config.channels ?? 4;
  const extendedLength = config.protocol === 'T=1' && (config.extendedLength ?? true);
  const store = new PersistentStore({
    dataSize: config.dataSize ?? 32768,
    journalSize: config.journalSize ?? 4096,
    image,
  });
  return new Iso7816Os({
    atr: config.atr ? fromHex(config.atr) : buildAtr({ protocol: config.protocol, channels, extendedLength }),
    protocol: config.protocol,
    store,
    fs: validateFileSpec(config.fs),
    pins: config.pins ?? [],
    keys: config.keys ?? [],
    applets,
    personalise: image === undefined,
    cipher: options.cipher ?? new NodeCipherProvider(),
    rng: options.rng ?? new SystemRng(),
    logger: options.logger,
    channels,
    extendedLength,
  });
}

/** AID of the demo application DF of the sample profiles. */
export const DEMO_AID = 'A000000999010203';

/**
 * The sample ISO 7816 file-system card: an EF.DIR, a serial number, and an application DF with
 * one EF of each structure and several access conditions; PIN 81 ("1234", padded with FF to 8
 * bytes, 3 tries) with PUK 82 ("12345678", 10 tries); a TDES key 01 and an AES key 02.
 */
export function sampleIsoConfig(protocol: 'T=0' | 'T=1'): IsoCardConfig {
  return {
    protocol,
    channels: 4,
    fs: {
      type: 'df',
      fid: '3F00',
      children: [
        {
          type: 'ef',
          fid: '2F00',
          sfi: 30,
          structure: 'linear-variable',
          recordLength: 32,
          maxRecords: 4,
          records: [`61124F08${DEMO_AID}500664656D6F6170`],
          access: { update: 'never' },
        },
        {
          type: 'ef',
          fid: '2F02',
          sfi: 2,
          structure: 'transparent',
          size: 8,
          content: '4D50000000000001',
          access: { update: 'never' },
        },
        {
          type: 'df',
          fid: '5000',
          name: DEMO_AID,
          children: [
            {
              type: 'ef',
              fid: '5001',
              sfi: 1,
              structure: 'transparent',
              size: 300,
              content: Buffer.from(
                'meterpurse demo card: transparent EF 5001, readable by all, updatable after PIN 81.',
              ).toString('hex'),
              access: { read: 'always', update: { pin: 0x81 } },
            },
            {
              type: 'ef',
              fid: '5002',
              sfi: 2,
              structure: 'linear-fixed',
              recordLength: 16,
              maxRecords: 4,
              records: ['01'.repeat(16), '02'.repeat(16), '03'.repeat(16)],
              access: { read: 'always', update: { pin: 0x81 } },
            },
            {
              type: 'ef',
              fid: '5003',
              sfi: 3,
              structure: 'cyclic',
              recordLength: 8,
              maxRecords: 5,
              records: ['C000000000000002', 'C000000000000001'],
              access: { read: { pin: 0x81 }, update: 'never', append: { pin: 0x81 } },
            },
            {
              type: 'ef',
              fid: '5004',
              sfi: 4,
              structure: 'linear-variable',
              recordLength: 32,
              maxRecords: 6,
              records: ['AA', 'BBBB'],
            },
            {
              type: 'ef',
              fid: '5005',
              structure: 'transparent',
              size: 16,
              content: '00112233445566778899AABBCCDDEEFF',
              access: { read: 'never', update: 'never' },
            },
            {
              type: 'ef',
              fid: '5006',
              sfi: 6,
              structure: 'transparent',
              size: 32,
              access: { read: { key: 0x01 }, update: 'sm' },
            },
          ],
        },
      ],
    },
    pins: [
      { ref: 0x81, value: '31323334', length: 8, tries: 3, puk: 0x82 },
      { ref: 0x82, value: '3132333435363738', length: 8, tries: 10 },
    ],
    keys: [
      { ref: 0x01, alg: 'tdes', key: '404142434445464748494A4B4C4D4E4F' },
      { ref: 0x02, alg: 'aes', key: '000102030405060708090A0B0C0D0E0F' },
    ],
  };
}

function isoProfile(id: string, protocol: 'T=0' | 'T=1'): CardProfile {
  return {
    id,
    description: `plain ISO 7816-4 file-system card with PIN, ${protocol}`,
    defaultConfig: () => sampleIsoConfig(protocol) as unknown as Record<string, unknown>,
    build: (config, image, options) => buildIsoCard(config as unknown as IsoCardConfig, image, options),
  };
}

registerProfile(isoProfile('iso-fs', 'T=1'));
registerProfile(isoProfile('iso-fs-t0', 'T=0'));
