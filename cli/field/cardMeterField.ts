/**
 * A field of REAL meters for the host: every meter the host installs is a meter core with its own
 * SAM and SVM applets in virtual readers (meter/cardslot/createCardMeter.ts), reached through its
 * own modem (meter/modem/MeterModem.ts) on the host's power-line network (host/network). This is a
 * composition root's job: host/ never imports meter/, so the two meet here.
 *
 * The chips are personalised with the keys of `issuer`; the host must hold the same KH versions
 * (HostServiceOptions.initialKeys = issuer.utility(purse).host — the key ceremony).
 *
 * A meter is built when it is installed; building is asynchronous and the host's `install` is not,
 * so its modem waits for it. Meters live in memory only: this field is not persistent across a
 * restart of the process.
 */
import type { IssuerKeys } from '../../card/index.js';
import { fromHex } from '../../card/index.js';
import { PowerLineField } from '../../host/index.js';
import type { ChannelOptions } from '../../host/index.js';
import type { Terminal } from '../../protocol/index.js';
import { RtcTime } from '../../protocol/index.js';
import type { TariffTable } from '../../protocol/index.js';
import { createCardMeter, type SimulatedCardMeter } from '../../meter/index.js';
import { MeterModem } from '../../meter/index.js';

export interface CardMeterFieldOptions {
  issuer: IssuerKeys;
  /** Each meter's RTC when it is built: a fixed time, or read then (default the wall clock). */
  start?: RtcTime | (() => RtcTime);
  /** Tariff table of a new meter; default the meter core's. */
  tariff?: TariffTable;
  /** Seeds the chips' random generators (reproducible runs); default system randomness. */
  seed?: string;
  /** SVM maximum balance, default 100 000 000 units (as the simulated field). */
  svmMax?: number;
  channelOptions?: ChannelOptions;
  timeoutMs?: number;
}

/** RTC seconds of the wall clock now. */
export function wallClock(): RtcTime {
  return RtcTime.fromSeconds(Math.floor((Date.now() - Date.UTC(2000, 0, 1)) / 1000));
}

export class CardMeterField {
  readonly network: PowerLineField;
  readonly #meters = new Map<string, Promise<SimulatedCardMeter>>();

  /** The SVM maximum balance of every meter installed here. */
  get maxBalance(): number {
    return this.o.svmMax ?? 100_000_000;
  }

  constructor(readonly o: CardMeterFieldOptions) {
    this.network = new PowerLineField(o.channelOptions ?? { latencyMs: [5, 20] }, o.timeoutMs ?? 500);
  }

  /**
   * Installs meter `id` (hex, 3 bytes) at AS / LS / modem with `balance` in its SVM; the host talks
   * to its SAM with KH version `keyVersion`. Installing an id twice keeps the first.
   * @throws RangeError for a bad id or a taken modem.
   */
  install(id: string, as: number, ls: number, modem: number, keyVersion: number, balance = 0): void {
    if (this.network.has(id)) return;
    const meterId = fromHex(id);
    let built: Promise<SimulatedCardMeter> | undefined;
    const build = (): Promise<SimulatedCardMeter> =>
      (built ??= createCardMeter({
        meter: {
          start: typeof this.o.start === 'function' ? this.o.start() : (this.o.start ?? wallClock()),
          commissioned: true,
          ...(this.o.tariff ? { tariff: this.o.tariff } : {}),
        },
        issuer: this.o.issuer,
        meterId,
        svmMax: this.maxBalance,
        svmBalance: balance,
        ...(this.o.seed !== undefined ? { seed: `${this.o.seed}:${id}` } : {}),
      }));
    let modem$: Promise<MeterModem> | undefined;
    const modemOf = () => (modem$ ??= build().then((cm) => new MeterModem(cm)));
    this.network.attach(
      id,
      { as, ls, modem, keyVersion },
      { handle: async (b) => (await modemOf()).handle(b) },
    );
    const meter = build();
    meter.catch(() => undefined); // a failed build is reported to whoever awaits it, not unhandled
    this.#meters.set(id, meter);
  }

  /** The meter `id` (built if no message reached it yet). @throws RangeError when not installed. */
  meter(id: string): Promise<SimulatedCardMeter> {
    const m = this.#meters.get(id);
    if (!m) throw new RangeError(`meter ${id} is not in the field`);
    return m;
  }

  get ids(): string[] {
    return [...this.#meters.keys()];
  }

  terminal(id: string): Terminal {
    return this.network.terminal(id);
  }
}
