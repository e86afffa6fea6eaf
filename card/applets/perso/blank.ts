/**
 * Blank (pre-personalised, LCS 03) chips of the four kinds: the real application behind a
 * `PersoGate`, on one set of records — the application's layout and `x.life` at the end — with
 * only the manufacture data written (ICSN, tkv, K_tr). docs/personalisation.md §1.
 *
 * Registered card profiles `blank-subscriber`, `blank-sam`, `blank-svm`, `blank-commissioning`,
 * configuration `{ icsn: hex(8), tkv: 1..15, transportKey: hex(16) }` (K_tr already diversified),
 * or `demoTransportSeed` instead of `transportKey`: K_tr = diversify(demoTransportMaster(seed),
 * ICSN) — public test keys, never real secrets. A subscriber blank has records for all 15 purses,
 * so personalisation may create any of them.
 */
import type { BlockCipherProvider, Rng } from '../../crypto/types.js';
import { adjustDesParity } from '../../crypto/keyHierarchy.js';
import { NodeCipherProvider } from '../../crypto/NodeCipherProvider.js';
import { SeededRng, SystemRng } from '../../crypto/rng.js';
import { buildCard, registerProfileOnce, buildIsoCard, type CardProfile } from '../../os/CardProfiles.js';
import type { Iso7816Os } from '../../os/Iso7816Os.js';
import { fromHex, toHex } from '../../util/hex.js';
import { AID_PURSE, AID_SAM, AID_SVM } from '../constants.js';
import {
  AID_COMMISSIONING,
  COMMISSIONING_INS,
  COMMISSIONING_LAYOUT,
  CommissioningApplet,
} from '../commissioning/CommissioningApplet.js';
import { ATR_COMMISSIONING } from '../commissioning/makeCommissioningCard.js';
import { RuntimeApplet, type Application } from '../platform/RuntimeApplet.js';
import type { RecordLayout, RegionRecordStore } from '../platform/RegionRecordStore.js';
import type { RecordStore } from '../platform/RecordStore.js';
import {
  ATR_SAM,
  ATR_SUBSCRIBER_T0,
  ATR_SUBSCRIBER_T1,
  ATR_SVM,
  PURSE_INS,
  SAM_INS,
  SAM_LAYOUT,
  SVM_INS,
  SVM_LAYOUT,
  deviceOf,
  purseLayout,
  rememberApplet,
  type Device,
  type ProfileName,
} from '../profiles.js';
import { PurseApplet } from '../purse/PurseApplet.js';
import { SamApplet } from '../sam/SamApplet.js';
import { SvmApplet } from '../svm/SvmApplet.js';
import {
  KIND_COMMISSIONING,
  KIND_SAM,
  KIND_SUBSCRIBER,
  KIND_SVM,
  PersoCrypto,
  type PersoKind,
} from './channel.js';
import { KEY_LIFE, LIFE_RECORD_LENGTH, PersoGate, lifeRecord } from './PersoGate.js';
import {
  decodeCommissioning,
  decodeSam,
  decodeSubscriber,
  decodeSvm,
  type StagedPerso,
} from './persoData.js';

export type BlankKind = 'subscriber' | 'sam' | 'svm' | 'commissioning';
export const BLANK_KINDS: readonly BlankKind[] = ['subscriber', 'sam', 'svm', 'commissioning'];

export const KIND_OF: Readonly<Record<BlankKind, PersoKind>> = {
  subscriber: KIND_SUBSCRIBER,
  sam: KIND_SAM,
  svm: KIND_SVM,
  commissioning: KIND_COMMISSIONING,
};

/** The profile name of a blank chip of each kind. */
export const BLANK_PROFILE: Readonly<Record<BlankKind, ProfileName>> = {
  subscriber: 'blank-subscriber',
  sam: 'blank-sam',
  svm: 'blank-svm',
  commissioning: 'blank-commissioning',
};

export interface BlankCardOptions {
  /** The chip's serial, 8 bytes. */
  icsn: Uint8Array;
  /** The transport key's version, 1..15. */
  tkv: number;
  /** K_tr = diversify(diversify(MK_tr[tkv], 'TR' ‖ kind), ICSN) (PersoCrypto.transportKey), 16 bytes. */
  transportKey: Uint8Array;
  /** Subscriber chips only; default T=1. */
  protocol?: 'T=0' | 'T=1';
  cipher?: BlockCipherProvider;
  rng?: Rng;
}

/** The card-file configuration of a blank profile. */
export interface BlankConfig {
  icsn: string;
  tkv: number;
  /** K_tr hex (already diversified); or `demoTransportSeed`. */
  transportKey?: string;
  demoTransportSeed?: string;
  protocol?: 'T=0' | 'T=1';
}

/** A blank chip: its gate (the application behind it is `applet.app`) and the records of both. */
export type BlankDevice<A extends Application = Application> = Device<PersoGate<A>>;

/**
 * MK_tr of the documented demo transport seed: DES parity of SeededRng('meterpurse-demo-transport:'
 * + seed).bytes(16). Public test keys, never real secrets.
 */
export function demoTransportMaster(cipher: BlockCipherProvider, seed: string): Uint8Array {
  void cipher;
  if (typeof seed !== 'string') throw new TypeError('seed must be a string');
  return adjustDesParity(new SeededRng(`meterpurse-demo-transport:${seed}`).bytes(16));
}

/** K_tr of a chip under the demo transport master of `seed`. */
export function demoTransportKey(
  cipher: BlockCipherProvider,
  seed: string,
  icsn: Uint8Array,
  kind: PersoKind,
): Uint8Array {
  return new PersoCrypto(cipher).transportKey(demoTransportMaster(cipher, seed), icsn, kind);
}

interface Parts<A extends Application> {
  aid: Uint8Array;
  ins: readonly number[];
  layout: RecordLayout;
  prefix: string;
  make(store: RegionRecordStore, cipher: BlockCipherProvider, rng: Rng): A;
  personalise(store: RecordStore, staged: StagedPerso): void;
  atr: Uint8Array;
  dataSize: number;
  journalSize: number;
}

const ALL_PURSES = Array.from({ length: 15 }, (_, i) => i + 1);

function partsOf(kind: BlankKind, protocol: 'T=0' | 'T=1'): Parts<Application> {
  switch (kind) {
    case 'subscriber':
      return {
        aid: AID_PURSE,
        ins: PURSE_INS,
        layout: purseLayout(ALL_PURSES),
        prefix: 'purse:',
        make: (s, c, r) => new PurseApplet(s, c, r),
        personalise: (s, st) => PurseApplet.personalise(s, decodeSubscriber(st)),
        atr: protocol === 'T=0' ? ATR_SUBSCRIBER_T0 : ATR_SUBSCRIBER_T1,
        // 15 purses' keys, states and meter records in one commit.
        dataSize: 4096,
        journalSize: 4096,
      };
    case 'sam':
      return {
        aid: AID_SAM,
        ins: SAM_INS,
        layout: SAM_LAYOUT,
        prefix: 'sam:',
        make: (s, c, r) => new SamApplet(s, c, r),
        personalise: (s, st) => SamApplet.personalise(s, decodeSam(st)),
        atr: ATR_SAM,
        dataSize: 1024,
        journalSize: 2048,
      };
    case 'svm':
      return {
        aid: AID_SVM,
        ins: SVM_INS,
        layout: SVM_LAYOUT,
        prefix: 'svm:',
        make: (s, c, r) => new SvmApplet(s, c, r),
        personalise: (s, st) => SvmApplet.personalise(s, decodeSvm(st)),
        atr: ATR_SVM,
        dataSize: 2048,
        journalSize: 2048,
      };
    case 'commissioning':
      return {
        aid: AID_COMMISSIONING,
        ins: COMMISSIONING_INS,
        layout: COMMISSIONING_LAYOUT,
        prefix: 'com:',
        make: (s, c, r) => new CommissioningApplet(s, c, r),
        personalise: (s, st) => CommissioningApplet.personalise(s, decodeCommissioning(st)),
        atr: ATR_COMMISSIONING,
        dataSize: 1024,
        journalSize: 1024,
      };
  }
}

function checkKind(kind: unknown): BlankKind {
  if (!BLANK_KINDS.includes(kind as BlankKind))
    throw new RangeError(`kind must be one of ${BLANK_KINDS.join(', ')}, got ${String(kind)}`);
  return kind as BlankKind;
}

/** The manufacture data of a configuration (K_tr only when a fresh chip is written). */
function manufacture(cfg: BlankConfig, cipher: BlockCipherProvider, kind: PersoKind) {
  if (typeof cfg.icsn !== 'string') throw new TypeError('icsn must be a hex string');
  const icsn = fromHex(cfg.icsn);
  if (icsn.length !== 8) throw new RangeError(`icsn must be 8 bytes, got ${icsn.length}`);
  const transportKey = (): Uint8Array => {
    if (typeof cfg.transportKey === 'string') {
      const k = fromHex(cfg.transportKey);
      if (k.length !== 16) throw new RangeError(`transportKey must be 16 bytes, got ${k.length}`);
      return k;
    }
    if (typeof cfg.demoTransportSeed === 'string')
      return demoTransportKey(cipher, cfg.demoTransportSeed, icsn, kind);
    throw new TypeError('transportKey or demoTransportSeed is needed for a fresh blank chip');
  };
  return { icsn, tkv: cfg.tkv, transportKey };
}

function buildBlank(
  kind: BlankKind,
  cfg: BlankConfig,
  image: Uint8Array | undefined,
  cipher: BlockCipherProvider,
  rng: Rng,
): { os: Iso7816Os; applet: RuntimeApplet<PersoGate> } {
  const protocol = kind === 'subscriber' ? (cfg.protocol ?? 'T=1') : 'T=1';
  const p = partsOf(kind, protocol);
  const m = manufacture(cfg, cipher, KIND_OF[kind]);
  const applet = new RuntimeApplet<PersoGate>({
    aid: p.aid,
    ins: PersoGate.insOf(p.ins),
    layout: [...p.layout, [KEY_LIFE, LIFE_RECORD_LENGTH]],
    prefix: p.prefix,
    make: (store, c, r) =>
      new PersoGate({
        kind: KIND_OF[kind],
        aid: p.aid,
        app: p.make(store, c, r),
        appIns: p.ins,
        store,
        cipher: c,
        rng: r,
        personalise: p.personalise,
      }),
    personalise: (store) =>
      store.commit([[KEY_LIFE, lifeRecord(KIND_OF[kind], m.icsn, m.tkv, m.transportKey())]]),
  });
  const os = buildIsoCard(
    {
      protocol,
      atr: toHex(p.atr),
      channels: 1,
      extendedLength: false,
      dataSize: p.dataSize,
      journalSize: p.journalSize,
      fs: { type: 'df', fid: '3F00', children: [] },
    },
    image,
    { cipher, rng },
    [applet],
  );
  return { os, applet };
}

/**
 * A blank chip of `kind`, LCS 03, holding only its ICSN, tkv and K_tr.
 * @throws RangeError / TypeError naming a bad option.
 */
export function makeBlankCard(kind: BlankKind, o: BlankCardOptions): BlankDevice {
  checkKind(kind);
  if (!(o.icsn instanceof Uint8Array) || o.icsn.length !== 8) throw new RangeError('icsn must be 8 bytes');
  if (!(o.transportKey instanceof Uint8Array) || o.transportKey.length !== 16)
    throw new RangeError('transportKey must be 16 bytes');
  const cfg: BlankConfig = {
    icsn: toHex(o.icsn),
    tkv: o.tkv,
    transportKey: toHex(o.transportKey),
    ...(kind === 'subscriber' && o.protocol ? { protocol: o.protocol } : {}),
  };
  const os = buildCard(BLANK_PROFILE[kind], cfg as unknown as Record<string, unknown>, undefined, {
    cipher: o.cipher ?? new NodeCipherProvider(),
    rng: o.rng ?? new SystemRng(),
  });
  return deviceOf(os, BLANK_PROFILE[kind]) as BlankDevice;
}

const PROFILES: CardProfile[] = BLANK_KINDS.map((kind, i) => ({
  id: BLANK_PROFILE[kind],
  description: `blank ${kind} chip (LCS 03, transport key only; personalised over APDUs)`,
  defaultConfig: () => ({ icsn: `4943534E0000000${i + 1}`, tkv: 1, demoTransportSeed: '0' }),
  build: (c, image, o) =>
    rememberApplet(
      buildBlank(
        kind,
        c as unknown as BlankConfig,
        image,
        o.cipher ?? new NodeCipherProvider(),
        o.rng ?? new SystemRng(),
      ),
    ),
}));

for (const p of PROFILES) registerProfileOnce(p);
