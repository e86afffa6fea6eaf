/**
 * A personalised commissioning card (CommissioningApplet) of an issuer's utility, on the card
 * runtime. ATR (T=1) `3B 89 01 80 F7 F04D50434F4D01 TCK`: category 80, COMPACT-TLV tag F = the
 * AID.
 */
import type { BlockCipherProvider, Rng } from '../../crypto/types.js';
import { SystemRng } from '../../crypto/rng.js';
import { buildIsoCard } from '../../os/CardProfiles.js';
import type { Iso7816Os } from '../../os/Iso7816Os.js';
import { toHex } from '../../util/hex.js';
import type { IssuerKeys } from '../IssuerKeys.js';
import { RuntimeApplet } from '../platform/RuntimeApplet.js';
import type { RegionRecordStore } from '../platform/RegionRecordStore.js';
import {
  AID_COMMISSIONING,
  COMMISSIONING_INS,
  COMMISSIONING_LAYOUT,
  CommissioningApplet,
} from './CommissioningApplet.js';

function withTck(bytes: number[]): Uint8Array {
  let x = 0;
  for (let i = 1; i < bytes.length; i++) x ^= bytes[i]!;
  return Uint8Array.from([...bytes, x]);
}

export const ATR_COMMISSIONING = withTck([0x3b, 0x89, 0x01, 0x80, 0xf7, ...AID_COMMISSIONING]);

export interface CommissioningCardOptions {
  csn: Uint8Array;
  /** The utility (purse id) whose meters the card commissions; default 1 (electricity). */
  purse?: number;
  /**
   * The payload (meter/commissioning CommissioningData or DecommissioningData `.encode()`),
   * 4…247 bytes.
   */
  payload: Uint8Array;
  /** How many meters it may commission; default 1. */
  uses?: number;
  rng?: Rng;
  cipher?: BlockCipherProvider;
}

export interface CommissioningCard {
  readonly os: Iso7816Os;
  readonly applet: CommissioningApplet;
  readonly store: RegionRecordStore;
}

/**
 * The card of utility `purse` (default 1) holding K_comm(CSN) = IssuerKeys.commissioningKey.
 * @throws RangeError naming a bad field.
 */
export function makeCommissioningCard(issuer: IssuerKeys, o: CommissioningCardOptions): CommissioningCard {
  if (!(o.csn instanceof Uint8Array) || o.csn.length !== 8) throw new RangeError('csn must be 8 bytes');
  const purse = o.purse ?? 1;
  return buildCommissioningCard(issuer.commissioningKey(o.csn, purse), {
    ...o,
    purse,
    cipher: o.cipher ?? issuer.crypto.cipher,
  });
}

/**
 * A commissioning card personalised with whatever 16-byte key it is given (what someone holding
 * only a key, not the issuer, could make — e.g. the attack tests' card built from a subscriber
 * card's K_auth). Issuers use `makeCommissioningCard`.
 * @throws RangeError naming a bad field.
 */
export function buildCommissioningCard(
  key: Uint8Array,
  o: CommissioningCardOptions & { cipher: BlockCipherProvider },
): CommissioningCard {
  if (!(o.csn instanceof Uint8Array) || o.csn.length !== 8) throw new RangeError('csn must be 8 bytes');
  const applet = new RuntimeApplet<CommissioningApplet>({
    aid: AID_COMMISSIONING,
    ins: COMMISSIONING_INS,
    layout: COMMISSIONING_LAYOUT,
    prefix: 'com:',
    make: (store, c, r) => new CommissioningApplet(store, c, r),
    personalise: (store) =>
      CommissioningApplet.personalise(store, {
        csn: o.csn,
        purse: o.purse ?? 1,
        kComm: key,
        uses: o.uses ?? 1,
        payload: o.payload,
      }),
  });
  const os = buildIsoCard(
    {
      protocol: 'T=1',
      atr: toHex(ATR_COMMISSIONING),
      channels: 1,
      extendedLength: false,
      dataSize: 1024,
      journalSize: 1024,
      fs: { type: 'df', fid: '3F00', children: [] },
    },
    undefined,
    { cipher: o.cipher, rng: o.rng ?? new SystemRng() },
    [applet],
  );
  return { os, applet: applet.app, store: applet.records };
}
