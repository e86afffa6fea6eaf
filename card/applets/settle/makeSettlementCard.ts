/**
 * The settlement card (SettlementApplet) on the card runtime, and its card profile 'settlement'
 * (configuration `{ idu: hex, anchor: hex (the centre's self-signed Certificate), algorithm }`)
 * so a card file can rebuild it. ATR (T=1) `3B 8E 01 80 F8 F04D505345544C01 73 000040 TCK`:
 * category 80, COMPACT-TLV tag F = the AID, tag 7 card capabilities with extended Lc/Le (its
 * certificates and usage information run past 255 bytes).
 *
 * Why a card profile of its own rather than a second application on the subscriber card: the
 * settlement card's keys are a public-key domain of the management centre, certified, renewed
 * and revoked on the centre's calendar, while the purse's are the issuer's diversified symmetric
 * keys; keeping them on separate chips keeps their life cycles (issue, blacklist, destroy,
 * refund) independent, and leaves the subscriber card's ATR, FCI, layout and golden traces
 * (docs/purse-spec.md) byte for byte as they are.
 *
 * A fresh card holds its IDU, the anchor and a key pair it drew from its Rng; the centre then
 * certifies the public key (READ OBJECT 05 → centre → PUT CERTIFICATE) and a dispenser writes the
 * first centre-signed value (RECHARGE).
 */
import type { Rng } from '../../crypto/types.js';
import { NodeCipherProvider } from '../../crypto/NodeCipherProvider.js';
import { NodeSignatureProvider } from '../../crypto/NodeSignatureProvider.js';
import { SeededRng, SystemRng } from '../../crypto/rng.js';
import { Certificate } from '../../pki/Certificate.js';
import { generateCardKeyPair } from './cardKeyPair.js';
import {
  checkSignatureAlgorithm,
  type SignatureAlgorithm,
  type SignatureProvider,
} from '../../crypto/signature.js';
import { buildCard, buildIsoCard, registerProfileOnce, type CardProfile } from '../../os/CardProfiles.js';
import type { Iso7816Os } from '../../os/Iso7816Os.js';
import { fromHex, toHex } from '../../util/hex.js';
import { RuntimeApplet, type RuntimeAppletSpec } from '../platform/RuntimeApplet.js';
import type { RegionRecordStore } from '../platform/RegionRecordStore.js';
import { AID_SETTLE } from './constants.js';
import { SETTLE_INS, SETTLE_LAYOUT, SettlementApplet } from './SettlementApplet.js';

/** The card profile id of the settlement card. */
export const PROFILE_SETTLEMENT = 'settlement';

function withTck(bytes: number[]): Uint8Array {
  let x = 0;
  for (let i = 1; i < bytes.length; i++) x ^= bytes[i]!;
  return Uint8Array.from([...bytes, x]);
}

export const ATR_SETTLE = withTck([0x3b, 0x8e, 0x01, 0x80, 0xf8, ...AID_SETTLE, 0x73, 0x00, 0x00, 0x40]);

/**
 * The layout is about 60 records, 14 KiB at most; the largest transaction (UPDATE VALUE with an
 * RSA terminal: usage info up to 14 records, the service record, the state) writes under 5 KiB
 * plus 6 bytes of journal header per record.
 */
const DATA_SIZE = 20480;
const JOURNAL_SIZE = 8192;

export interface SettlementCardConfig {
  /** IDU, hex (1..32 bytes). */
  idu: string;
  /** The centre's self-signed certificate, hex DER. */
  anchor: string;
  algorithm: SignatureAlgorithm;
}

export interface SettlementCardOptions {
  idu: Uint8Array;
  anchor: Uint8Array;
  algorithm: SignatureAlgorithm;
  rng?: Rng;
  provider?: SignatureProvider;
}

export interface SettlementCard {
  readonly os: Iso7816Os;
  readonly applet: SettlementApplet;
  readonly store: RegionRecordStore;
}

const built = new WeakMap<Iso7816Os, RuntimeApplet<SettlementApplet>>();

function hexField(cfg: Record<string, unknown>, name: string): Uint8Array {
  const v = cfg[name];
  if (typeof v !== 'string') throw new TypeError(`${name} must be a hex string`);
  return fromHex(v);
}

function buildSettlementCard(
  cfg: Record<string, unknown>,
  image: Uint8Array | undefined,
  rng: Rng,
  provider: SignatureProvider,
): Iso7816Os {
  const idu = hexField(cfg, 'idu');
  if (idu.length < 1 || idu.length > 32) throw new RangeError('idu must be 1..32 bytes');
  const anchor = hexField(cfg, 'anchor');
  const algorithm = cfg['algorithm'];
  checkSignatureAlgorithm(algorithm);
  let app: SettlementApplet | undefined;
  const applet = new SettlementRuntimeApplet(() => app?.powerReset(), {
    aid: AID_SETTLE,
    ins: SETTLE_INS,
    layout: SETTLE_LAYOUT,
    prefix: 'settle:',
    make: (store, _cipher, r) => (app = new SettlementApplet(store, r, provider)),
    personalise: (store) => SettlementApplet.personalise(store, rng, provider, { idu, anchor, algorithm }),
  });
  const os = buildIsoCard(
    {
      protocol: 'T=1',
      atr: toHex(ATR_SETTLE),
      channels: 1,
      extendedLength: true,
      dataSize: DATA_SIZE,
      journalSize: JOURNAL_SIZE,
      fs: { type: 'df', fid: '3F00', children: [] },
    },
    image,
    { cipher: new NodeCipherProvider(), rng },
    [applet],
  );
  built.set(os, applet);
  return os;
}

/**
 * The runtime applet whose OS-level reset (power-down, warm and cold reset; not a SELECT, which
 * only ends the session) also drops what the card keeps while powered ({@link SettlementApplet.powerReset}).
 */
class SettlementRuntimeApplet extends RuntimeApplet<SettlementApplet> {
  readonly #onPowerReset: () => void;

  constructor(onPowerReset: () => void, spec: RuntimeAppletSpec<SettlementApplet>) {
    super(spec);
    this.#onPowerReset = onPowerReset;
  }

  override reset(): void {
    super.reset();
    this.#onPowerReset();
  }
}

/**
 * The documented demo centre of the default configuration: an ECDSA P-256 key drawn from
 * SeededRng('meterpurse demo settlement centre v1') — a public test key, never a real one — and
 * its self-signed anchor, valid 2020..2099. Made once per process.
 */
let demoAnchor: Uint8Array | undefined;
export function demoSettlementAnchor(): Uint8Array {
  if (demoAnchor) return demoAnchor.slice();
  const provider = new NodeSignatureProvider();
  const id = new TextEncoder().encode('DEMO-CENTRE');
  const pair = generateCardKeyPair(
    'ecdsa-p256-sha256',
    new SeededRng('meterpurse demo settlement centre v1'),
  );
  demoAnchor = Certificate.sign(
    {
      centreId: id,
      serial: 0,
      subjectKind: 'centre',
      subjectId: id,
      subjectPublicKey: pair.publicKey,
      subjectKeyAlgorithm: 'ecdsa-p256-sha256',
      notBefore: Date.UTC(2020, 0, 1),
      notAfter: Date.UTC(2099, 11, 31),
    },
    provider.signer('ecdsa-p256-sha256', pair.privateKey),
  ).encode();
  return demoAnchor.slice();
}

const PROFILE: CardProfile = {
  id: PROFILE_SETTLEMENT,
  description: 'seed 004 settlement card: centre-certified key pair, signed remaining value, usage info',
  defaultConfig: () => ({
    idu: toHex(new TextEncoder().encode('DEMO-CARD-0001')),
    anchor: toHex(demoSettlementAnchor()),
    algorithm: 'ecdsa-p256-sha256',
  }),
  build: (c, image, o) =>
    buildSettlementCard(c, image, o.rng ?? new SystemRng(), new NodeSignatureProvider()),
};

registerProfileOnce(PROFILE);

/**
 * The settlement view of a card built by the 'settlement' profile.
 * @throws TypeError when `os` is not one.
 */
export function settlementCardOf(os: Iso7816Os): SettlementCard {
  const a = built.get(os);
  if (!a) throw new TypeError('not a card of the settlement profile');
  return { os, applet: a.app, store: a.records };
}

/**
 * A fresh settlement card: IDU, the centre's anchor, a key pair drawn from `rng` (no certificate
 * and no value yet), built through the profile registry so `createCardFile` can save it.
 * @throws RangeError / TypeError naming a bad field; SettlementPkiError for a bad anchor.
 */
export function makeSettlementCard(o: SettlementCardOptions): SettlementCard {
  if (!(o.idu instanceof Uint8Array)) throw new TypeError('idu must be a Uint8Array');
  if (!(o.anchor instanceof Uint8Array)) throw new TypeError('anchor must be a Uint8Array');
  const cfg: SettlementCardConfig = { idu: toHex(o.idu), anchor: toHex(o.anchor), algorithm: o.algorithm };
  const rng = o.rng ?? new SystemRng();
  if (!o.provider)
    return settlementCardOf(
      buildCard(PROFILE_SETTLEMENT, cfg as unknown as Record<string, unknown>, undefined, { rng }),
    );
  const os = buildSettlementCard(cfg as unknown as Record<string, unknown>, undefined, rng, o.provider);
  return settlementCardOf(os);
}

/** Rebuilds a settlement card from its configuration and a saved image (tear tests, card files). */
export function rebuildSettlementCard(
  cfg: SettlementCardConfig,
  image: Uint8Array,
  rng: Rng,
  provider: SignatureProvider = new NodeSignatureProvider(),
): SettlementCard {
  return settlementCardOf(
    buildSettlementCard(cfg as unknown as Record<string, unknown>, image, rng, provider),
  );
}
