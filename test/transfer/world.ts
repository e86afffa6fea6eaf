/**
 * A seeded meter + card world for the applet and transfer tests: the demo issuer, one subscriber
 * card, one meter's SAM and SVM, each in an in-process VirtualReader.
 */
import { VirtualReader } from '../../reader/VirtualReader.js';
import type { CardChannel } from '../../reader/CardChannel.js';
import { NodeCipherProvider } from '../../card/crypto/NodeCipherProvider.js';
import { SeededRng } from '../../card/crypto/rng.js';
import { fromHex } from '../../card/util/hex.js';
import { IssuerKeys } from '../../card/applets/IssuerKeys.js';
import {
  defaultPurses,
  makeSam,
  makeSubscriberCard,
  makeSvm,
  type Device,
} from '../../card/applets/profiles.js';
import type { PurseApplet } from '../../card/applets/purse/PurseApplet.js';
import type { SamApplet } from '../../card/applets/sam/SamApplet.js';
import type { SvmApplet } from '../../card/applets/svm/SvmApplet.js';
import { readDevice, type SubscriberView, type SvmView } from '../../card/applets/inspect.js';
import { MeterModules, type MeterCore } from '../../terminal/MeterModules.js';
import type { PurseInit } from '../../card/applets/purse/PurseApplet.js';

export const cipher = new NodeCipherProvider();
export const CSN = fromHex('4D50000000000001');
export const METER_ID = fromHex('000123');
export const TERMINAL_ID = fromHex('00000123');
export const VENDING_TERMINAL = fromHex('56454E44'); // "VEND"
export const NOW = fromHex('261122083000'); // 2026-11-22 08:30:00

export interface WorldOptions {
  /** Seeds the demo issuer's keys and (unless `chipSeed` is given) the chips' RNGs. */
  seed?: string;
  /** Seeds the chips' RNGs only: the same cards and modules with other challenges. */
  chipSeed?: string;
  cardBalance?: number;
  svmBalance?: number;
  svmMax?: number;
  purses?: PurseInit[];
  protocol?: 'T=0' | 'T=1';
  pin?: string;
  csn?: Uint8Array;
}

export class World {
  readonly issuer: IssuerKeys;
  readonly card: Device<PurseApplet>;
  readonly sam: Device<SamApplet>;
  readonly svm: Device<SvmApplet>;
  readonly cardReader: VirtualReader;
  readonly samReader: VirtualReader;
  readonly svmReader: VirtualReader;

  constructor(o: WorldOptions = {}) {
    const keySeed = o.seed ?? 'test';
    const seed = o.chipSeed ?? keySeed;
    this.issuer = IssuerKeys.demo(cipher, keySeed);
    this.card = makeSubscriberCard(this.issuer, {
      csn: o.csn ?? CSN,
      protocol: o.protocol ?? 'T=1',
      purses: o.purses ?? defaultPurses(o.cardBalance ?? 10_000),
      rng: new SeededRng(`${seed}:card`),
      ...(o.pin ? { pin: o.pin } : {}),
    });
    const meter = { meterId: METER_ID, terminalId: TERMINAL_ID };
    this.sam = makeSam(this.issuer, { ...meter, rng: new SeededRng(`${seed}:sam`) });
    this.svm = makeSvm(this.issuer, {
      ...meter,
      rng: new SeededRng(`${seed}:svm`),
      max: o.svmMax ?? 100_000,
      balance: o.svmBalance ?? 0,
    });
    this.cardReader = new VirtualReader('card slot', this.card.os);
    this.samReader = new VirtualReader('SAM', this.sam.os);
    this.svmReader = new VirtualReader('SVM', this.svm.os);
  }

  cardChannel(): Promise<CardChannel> {
    return this.cardReader.connect();
  }

  /** The meter core's key (K_core) of this world's meter. */
  core(): MeterCore {
    return { key: this.issuer.coreKey(METER_ID, 1), cipher };
  }

  async meter(): Promise<MeterModules> {
    return MeterModules.open(await this.samReader.connect(), await this.svmReader.connect(), this.core());
  }

  cardView(): SubscriberView {
    return readDevice(this.card.store) as SubscriberView;
  }

  svmView(): SvmView {
    return readDevice(this.svm.store) as SvmView;
  }

  /** Pulls the card out and puts it back (its power goes and comes back at the next connect). */
  reinsertCard(): void {
    const c = this.cardReader.remove();
    if (c) this.cardReader.insert(c);
  }

  /** The whole meter loses power: card, SAM and SVM. */
  powerFailure(): void {
    this.reinsertCard();
    for (const r of [this.samReader, this.svmReader]) {
      const c = r.remove();
      if (c) r.insert(c);
    }
  }
}
