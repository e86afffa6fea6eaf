/**
 * The master-key card (MasterKeyApplet) on the card runtime, and its card profile 'master-key'
 * (configuration `{ serial: hex(8 bytes), pin: '4..8 digits' }`) so a card file can rebuild it.
 * ATR (T=1) `3B 89 01 80 F7 F04D504D4B4301 TCK`: category 80, COMPACT-TLV tag F = the AID.
 *
 * A fresh MKC holds its serial, its PIN (3 tries) and nothing else: LCS 03, every slot empty;
 * the custodians load the masters through APDUs (docs/personalisation.md §3).
 */
import type { BlockCipherProvider, Rng } from '../../crypto/types.js';
import { NodeCipherProvider } from '../../crypto/NodeCipherProvider.js';
import { SystemRng } from '../../crypto/rng.js';
import { buildCard, buildIsoCard, registerProfileOnce, type CardProfile } from '../../os/CardProfiles.js';
import type { Iso7816Os } from '../../os/Iso7816Os.js';
import { fromHex, toHex } from '../../util/hex.js';
import { AID_MKC } from '../perso/channel.js';
import { RuntimeApplet } from '../platform/RuntimeApplet.js';
import type { RegionRecordStore } from '../platform/RegionRecordStore.js';
import { MasterKeyApplet, MKC_INS, MKC_LAYOUT } from './MasterKeyApplet.js';

/** The card profile id of the master-key card. */
export const PROFILE_MASTER_KEY = 'master-key';

function withTck(bytes: number[]): Uint8Array {
  let x = 0;
  for (let i = 1; i < bytes.length; i++) x ^= bytes[i]!;
  return Uint8Array.from([...bytes, x]);
}

export const ATR_MKC = withTck([0x3b, 0x89, 0x01, 0x80, 0xf7, ...AID_MKC]);

/**
 * Data area: identity, PIN, counter and 165 slot records of 21 bytes (each record 2 bytes more)
 * come to under 4 KiB; SEAL rewrites every loaded slot and the identity in one transaction
 * (165 × (6 + 23) + 6 + 11 bytes of journal at most), hence 8 KiB each.
 */
const MKC_DATA_SIZE = 8192;
const MKC_JOURNAL_SIZE = 8192;

/** What a card file keeps of an MKC. */
export interface MasterKeyCardConfig {
  /** The MKC serial, 16 hex digits. */
  serial: string;
  /** 4..8 digits (only used to personalise a fresh card). */
  pin: string;
}

export interface MasterKeyCardOptions {
  serial: Uint8Array;
  pin: string;
  cipher?: BlockCipherProvider;
  rng?: Rng;
}

export interface MasterKeyCard {
  readonly os: Iso7816Os;
  readonly applet: MasterKeyApplet;
  readonly store: RegionRecordStore;
}

const built = new WeakMap<Iso7816Os, RuntimeApplet<MasterKeyApplet>>();

function serialOf(v: unknown): Uint8Array {
  if (typeof v !== 'string') throw new TypeError('serial must be a hex string');
  const b = fromHex(v);
  if (b.length !== 8) throw new RangeError(`serial must be 8 bytes, got ${b.length}`);
  return b;
}

/**
 * An MKC from its configuration; `image` undefined personalises a fresh one.
 * @throws TypeError / RangeError naming a bad field.
 */
function buildMasterKeyCard(
  cfg: Record<string, unknown>,
  image: Uint8Array | undefined,
  cipher: BlockCipherProvider,
  rng: Rng,
): Iso7816Os {
  const serial = serialOf(cfg['serial']);
  const pin = cfg['pin'];
  if (typeof pin !== 'string' || !/^[0-9]{4,8}$/.test(pin)) throw new RangeError('pin must be 4..8 digits');
  const applet = new RuntimeApplet<MasterKeyApplet>({
    aid: AID_MKC,
    ins: MKC_INS,
    layout: MKC_LAYOUT,
    prefix: 'mkc:',
    make: (store, c, r) => new MasterKeyApplet(store, c, r),
    personalise: (store) => MasterKeyApplet.personalise(store, { serial, pin }),
  });
  const os = buildIsoCard(
    {
      protocol: 'T=1',
      atr: toHex(ATR_MKC),
      channels: 1,
      extendedLength: true,
      dataSize: MKC_DATA_SIZE,
      journalSize: MKC_JOURNAL_SIZE,
      fs: { type: 'df', fid: '3F00', children: [] },
    },
    image,
    { cipher, rng },
    [applet],
  );
  built.set(os, applet);
  return os;
}

const PROFILE: CardProfile = {
  id: PROFILE_MASTER_KEY,
  description:
    'meterpurse master-key card: the issuer’s masters behind a PIN (key ceremony, personalisation)',
  defaultConfig: () => ({ serial: '4D4B430000000001', pin: '123456' }),
  build: (c, image, o) =>
    buildMasterKeyCard(c, image, o.cipher ?? new NodeCipherProvider(), o.rng ?? new SystemRng()),
};

registerProfileOnce(PROFILE);

/**
 * The MKC view of a card built by the 'master-key' profile (e.g. from `openCardFile`).
 * @throws TypeError when `os` is not one.
 */
export function masterKeyCardOf(os: Iso7816Os): MasterKeyCard {
  const a = built.get(os);
  if (!a) throw new TypeError('not a card of the master-key profile');
  return { os, applet: a.app, store: a.records };
}

/**
 * A fresh master-key card (LCS 03, PIN `pin` with 3 tries, no keys), built through the profile
 * registry so `createCardFile` can save it.
 * @throws RangeError naming a bad field.
 */
export function makeMasterKeyCard(o: MasterKeyCardOptions): MasterKeyCard {
  if (!(o.serial instanceof Uint8Array) || o.serial.length !== 8)
    throw new RangeError('serial must be 8 bytes');
  const cfg: MasterKeyCardConfig = { serial: toHex(o.serial), pin: o.pin };
  const os = buildCard(PROFILE_MASTER_KEY, cfg as unknown as Record<string, unknown>, undefined, {
    cipher: o.cipher ?? new NodeCipherProvider(),
    rng: o.rng ?? new SystemRng(),
  });
  return masterKeyCardOf(os);
}
