/**
 * A seeded meter-with-card-slot world for the meter tests: a `createCardMeter` (demo issuer, real
 * SAM and SVM applets in VirtualReaders), subscriber cards of the same issuer, views of the chips,
 * and a channel wrapper that can cut the exchange at the n-th APDU (card pulled or power failure).
 */
import { interceptChannel } from '../reader/interceptChannel.js';
import type { CardChannel } from '../../reader/CardChannel.js';
import { NodeCipherProvider } from '../../card/crypto/NodeCipherProvider.js';
import { SeededRng } from '../../card/crypto/rng.js';
import { fromHex } from '../../card/util/hex.js';
import { IssuerKeys } from '../../card/applets/IssuerKeys.js';
import { defaultPurses, makeSubscriberCard, type Device } from '../../card/applets/profiles.js';
import type { PurseApplet, PurseInit } from '../../card/applets/purse/PurseApplet.js';
import { readDevice, type SubscriberView, type SvmView } from '../../card/applets/inspect.js';
import {
  createCardMeter,
  type CardMeterOptions,
  type SimulatedCardMeter,
} from '../../meter/cardslot/createCardMeter.js';
import type { ChannelRole } from '../../meter/cardslot/ModuleLink.js';
import type { MeterOptions } from '../../meter/Meter.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import { TariffTable } from '../../protocol/TariffTable.js';

export const cipher = new NodeCipherProvider();
export const START = RtcTime.of(2026, 11, 23, 10, 0).seconds; // a Monday, 10:00 (200 % step)
export const CSN = fromHex('4D50000000000001');

/** Cuts the exchange before the APDU number `cutAt` (counted over card, SAM and SVM) once armed. */
export class CutPlan {
  count = 0;
  armed = false;
  readonly roles: ChannelRole[] = [];
  constructor(
    public cutAt: number,
    public cut: () => void = () => {},
  ) {}
  wrap = (inner: CardChannel, role: ChannelRole): CardChannel =>
    interceptChannel(inner, (c, next) => {
      if (this.armed) {
        this.roles.push(role);
        if (this.count++ === this.cutAt) this.cut();
      }
      return next(c);
    });
}

export function subscriber(
  issuer: IssuerKeys,
  o: { csn?: Uint8Array; balance?: number; purses?: PurseInit[]; expiry?: Uint8Array; seed?: string } = {},
): Device<PurseApplet> {
  return makeSubscriberCard(issuer, {
    csn: o.csn ?? CSN,
    purses: o.purses ?? defaultPurses(o.balance ?? 10_000),
    rng: new SeededRng(`${o.seed ?? 'test'}:card`),
    ...(o.expiry ? { expiry: o.expiry } : {}),
  });
}

export function cardView(card: Device<PurseApplet>): SubscriberView {
  return readDevice(card.store) as SubscriberView;
}

export function purseBalance(card: Device<PurseApplet>, id = 1): number {
  return cardView(card).purses.find((p) => p.id === id)!.balance;
}

export function svmView(cm: SimulatedCardMeter): SvmView {
  return readDevice(cm.svm.store) as SvmView;
}

/** Credit held by the meter side: SVM + units drawn into the meter + units recovered not yet handed out. */
export function meterSide(cm: SimulatedCardMeter): number {
  return svmView(cm).balance + cm.meter.exchanger.drawn + cm.register.recovered;
}

export type NewMeterOptions = Partial<Omit<CardMeterOptions, 'meter'>> & { meter?: Partial<MeterOptions> };

export function newMeter(o: NewMeterOptions = {}): Promise<SimulatedCardMeter> {
  return createCardMeter({
    seed: 'test',
    demoIssuerSeed: 'test',
    ...o,
    meter: { start: START, tariff: TariffTable.flat(1000), ...o.meter },
  });
}

export const demoIssuer = (seed = 'test'): IssuerKeys => IssuerKeys.demo(cipher, seed);
