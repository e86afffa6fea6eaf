/**
 * Builds a whole prepayment meter over real card applets: its SAM and SVM (simulated chips of the
 * `sam` / `svm` profiles, each in its own VirtualReader), the meter core whose credit register is
 * the SVM (token requests authorised by the SAM, through CardChannels), and the card slot.
 *
 * ```ts
 * const cm = await createCardMeter({ meter: { start: RtcTime.of(2026, 11, 22, 8, 30) } });
 * const card = makeSubscriberCard(cm.issuer, { csn, purses: defaultPurses(10_000) });
 * const o = await cm.slot.insert(card.os);   // o.amount moved, o.leftOnCard, o.meterData, o.events
 * cm.slot.remove();
 * await cm.meter.advance(cm.meter.now + 60, 50_000);  // 50 Wh in a minute, paid from SVM tokens
 * ```
 * `createMeterOnModules` does the same over any readers (PC/SC, vpcd) holding a paired SAM and SVM.
 */
import type { CardChannel } from '../../reader/index.js';
import type { Reader } from '../../reader/index.js';
import { VirtualReader } from '../../reader/index.js';
import type { Rng } from '../../card/index.js';
import { NodeCipherProvider } from '../../card/index.js';
import { SeededRng, SystemRng } from '../../card/index.js';
import { IssuerKeys } from '../../card/index.js';
import { makeSam, makeSvm, type Device } from '../../card/index.js';
import type { SamApplet } from '../../card/index.js';
import type { SvmApplet } from '../../card/index.js';
import { Meter, type MeterOptions, type MeterSnapshot } from '../Meter.js';
import { ModuleCreditRegister } from './ModuleCreditRegister.js';
import type { MeterCore } from '../../terminal/index.js';
import { purseOf } from './cardMeterData.js';
import { ModuleLink, type ChannelWrapper } from './ModuleLink.js';
import { MeterCardSlot, type MeterCardSlotOptions, type SlotOutcome } from './MeterCardSlot.js';

/** A meter core wired to a SAM, an SVM and a card slot. */
export class CardMeter {
  constructor(
    readonly meter: Meter,
    readonly slot: MeterCardSlot,
    readonly link: ModuleLink,
    readonly register: ModuleCreditRegister,
  ) {}

  /** The SAM channel in use (after `start`, until the next power failure). */
  get samChannel(): CardChannel | undefined {
    return this.link.current?.sam;
  }
  /** The SVM channel in use (after `start`, until the next power failure). */
  get svmChannel(): CardChannel | undefined {
    return this.link.current?.svm;
  }

  /**
   * Power-up: selects the SAM and SVM (which settles a token request a restored register's journal
   * names), tells the core when units were recovered, reads the SVM and fills the token tank.
   */
  async start(): Promise<void> {
    await this.link.use(() => Promise.resolve());
    if (this.register.recovered > 0) await this.meter.notifyCredit();
    await this.meter.service();
  }

  /** What the SVM holds now (READ STATE through the SVM channel). */
  svmBalance(): Promise<number> {
    return this.link.use(async (m) => (await m.readState()).balance);
  }

  /**
   * Mains lost: the meter core stops; the SAM, the SVM and a card in the slot lose power (their
   * volatile state and every channel to them die; their persistent memory stays). Only for
   * virtual readers (a real meter's modules lose power by themselves).
   */
  powerFail(): void {
    this.meter.powerFail();
    for (const r of [this.link.samReader, this.link.svmReader, this.slot.reader]) {
      if (r instanceof VirtualReader) {
        const c = r.remove();
        if (c) r.insert(c);
      }
    }
    this.link.reset();
  }

  /**
   * Mains back at RTC `at`: the meter core resumes, the modules are selected again, and a card
   * still in the slot is served again (which settles a transfer the failure interrupted), and
   * units the SVM granted to a token request whose answer was lost reach the token tank.
   * @returns the slot's outcome when a card was in it.
   */
  async powerRestore(at: number): Promise<SlotOutcome | undefined> {
    this.meter.powerRestore(at);
    // Select the modules again; this settles a token request whose answer the failure cut off.
    await this.link.use(() => Promise.resolve());
    if (this.register.recovered > 0) await this.meter.notifyCredit();
    let o: SlotOutcome | undefined;
    if (this.slot.cardPresent) o = await this.slot.present();
    await this.meter.service();
    return o;
  }
}

export interface MeterOnModulesOptions {
  /** Meter core options of a new meter; `meterId` defaults to the SAM's. Not used with `snapshot`. */
  meter?: MeterOptions;
  /**
   * A restart: the meter core is `Meter.restore`d from this NVM image (its credit register's
   * journal and owed units included) instead of built from `meter`.
   */
  snapshot?: MeterSnapshot;
  samReader: Reader;
  svmReader: Reader;
  /** The card slot's reader. */
  cardReader: Reader;
  /** The meter core's key K_core (IssuerKeys.coreKey), without which no token request is authorised. */
  core?: MeterCore;
  slot?: MeterCardSlotOptions;
  /** Wraps every channel (card, SAM, SVM): trace recorders, counters, fault injection. */
  wrap?: ChannelWrapper;
}

/**
 * A meter over a SAM and an SVM in the given readers — new from `meter`, or restarted from
 * `snapshot` — selects them (which settles a restored token-request journal) and fills the token
 * tank.
 * @throws TypeError when neither `meter` nor `snapshot` is given; what `Meter.restore` throws for a
 *   bad snapshot; TransferError when the SAM and SVM cannot be selected or belong to different
 *   meters.
 */
export async function createMeterOnModules(o: MeterOnModulesOptions): Promise<CardMeter> {
  if (o.snapshot === undefined && o.meter === undefined)
    throw new TypeError('meter or snapshot must be given');
  const link = new ModuleLink(o.samReader, o.svmReader, o.wrap, o.core);
  const register = new ModuleCreditRegister(link);
  // Restored before the first use of the modules, so that this use settles a journal first.
  const restored = o.snapshot !== undefined ? Meter.restore(o.snapshot, register) : undefined;
  const meterId = await link.use((m) => Promise.resolve(m.meterId));
  const meter = restored ?? new Meter({ meterId, ...o.meter! }, register);
  const slot = new MeterCardSlot(meter, link, o.cardReader, {
    ...o.slot,
    ...(o.wrap && !o.slot?.wrap ? { wrap: o.wrap } : {}),
  });
  const cm = new CardMeter(meter, slot, link, register);
  await cm.start();
  return cm;
}

export interface CardMeterOptions {
  meter: MeterOptions;
  /** Key issuer; default the documented demo issuer of `demoIssuerSeed` (default '0'). */
  issuer?: IssuerKeys;
  demoIssuerSeed?: string;
  /** 3 bytes; default 00 01 23. */
  meterId?: Uint8Array;
  /** 4 bytes; default 00 ‖ meterId. */
  terminalId?: Uint8Array;
  /**
   * The utility (purse id) whose keys the SAM and SVM are personalised with; default the purse of
   * the meter's commodity. The slot can take value from this purse only, whatever it is pointed at.
   */
  utility?: number;
  /** The SAM + SVM pair's number within the meter (IssuerKeys.svmKey); default 1. */
  pairing?: number;
  /** SVM maximum balance, default 100 000 units. */
  svmMax?: number;
  /** SVM balance at personalisation (a test credit), default 0. */
  svmBalance?: number;
  /** Seeds the chips' random number generators (deterministic runs); default system randomness. */
  seed?: string;
  slot?: MeterCardSlotOptions;
  wrap?: ChannelWrapper;
}

/** A simulated meter with its SAM/SVM chips (see the file comment). */
export interface SimulatedCardMeter extends CardMeter {
  readonly issuer: IssuerKeys;
  readonly sam: Device<SamApplet>;
  readonly svm: Device<SvmApplet>;
}

/**
 * Personalises a SAM and an SVM for one meter (keys of `issuer`), puts each in a VirtualReader,
 * and builds the meter on them with an empty VirtualReader as its card slot.
 * @throws RangeError / TypeError naming a bad option.
 */
export async function createCardMeter(o: CardMeterOptions): Promise<SimulatedCardMeter> {
  const issuer = o.issuer ?? IssuerKeys.demo(new NodeCipherProvider(), o.demoIssuerSeed ?? '0');
  const meterId = o.meterId ?? Uint8Array.of(0x00, 0x01, 0x23);
  if (!(meterId instanceof Uint8Array) || meterId.length !== 3)
    throw new TypeError('meterId must be a Uint8Array of 3 bytes');
  const terminalId = o.terminalId ?? Uint8Array.of(0, ...meterId);
  const rng = (name: string): Rng =>
    o.seed !== undefined ? new SeededRng(`${o.seed}:${name}`) : new SystemRng();
  const purse = o.utility ?? purseOf(o.meter.commodity ?? 'electricity');
  const pairing = o.pairing ?? 1;
  const ids = { meterId, terminalId, purse, pairing };
  const sam = makeSam(issuer, { ...ids, rng: rng('sam') });
  const svm = makeSvm(issuer, {
    ...ids,
    rng: rng('svm'),
    max: o.svmMax ?? 100_000,
    ...(o.svmBalance !== undefined ? { balance: o.svmBalance } : {}),
  });
  const hex = Buffer.from(meterId).toString('hex').toUpperCase();
  const cm = await createMeterOnModules({
    meter: { ...o.meter, meterId },
    samReader: new VirtualReader(`SAM ${hex}`, sam.os),
    svmReader: new VirtualReader(`SVM ${hex}`, svm.os),
    cardReader: new VirtualReader(`card slot ${hex}`),
    core: { key: issuer.coreKey(meterId, purse, pairing), cipher: issuer.crypto.cipher },
    ...(o.slot ? { slot: o.slot } : {}),
    ...(o.wrap ? { wrap: o.wrap } : {}),
  });
  return Object.assign(cm, { issuer, sam, svm });
}
