/**
 * A local service & surveillance unit (LS, seed 000 Fig. 6 / claim 15): one power-line segment
 * with up to 256 meter modems (ids 1..256), reached through a {@link PowerLineChannel}. The meters'
 * side of the link is theirs: each attached modem is a {@link FramedModem} (protocol/) in front of
 * the meter's {@link MessageEndpoint}; the LS only carries frames to and from it. It gives the
 * host a {@link Terminal} per meter (frames, CRC, sequence numbers, timeouts) and polls its meters
 * in turn: clock check and correction, tariff mode, balance backup, usage download, tamper state.
 */
import { toHex } from '../../card/index.js';
import type { MessageEndpoint, Terminal } from '../../protocol/index.js';
import { terminalOverMessages } from '../../protocol/index.js';
import type { HostProtocol, MeterKeyRef } from '../protocol/HostProtocol.js';
import type { UsageInfo } from '../../protocol/index.js';
import { RtcTime } from '../../protocol/index.js';
import { decodeFrame, encodeFrame, FrameError } from '../../protocol/index.js';
import { FramedModem } from '../../protocol/index.js';
import type { PowerLineChannel } from './PowerLineChannel.js';
import { LinkTimeoutError } from './errors.js';

export const MODEMS_PER_LS = 256;
export const LS_PER_AS = 256;

interface Attached {
  readonly meterId: Uint8Array;
  /** The meter's side of the link: its address, answering through its endpoint. */
  readonly modem: FramedModem;
  keyVersion: number;
}

export interface LinkStats {
  framesRejected: number;
  lateOrForeign: number;
  timeouts: number;
}

export interface PollRecord {
  readonly modem: number;
  readonly meterId: string;
  readonly ok: boolean;
  readonly error?: string;
  /** Meter clock minus host clock, seconds (before correction). */
  readonly driftSeconds?: number;
  readonly balance?: number;
  readonly energyWh?: number;
  readonly flags?: number;
  readonly info?: UsageInfo;
}

export class LocalService {
  readonly #meters = new Map<number, Attached>();
  readonly stats: LinkStats = { framesRejected: 0, lateOrForeign: 0, timeouts: 0 };
  #seq = 0;

  constructor(
    readonly as: number,
    readonly ls: number,
    readonly channel: PowerLineChannel,
    /** How long the LS waits for an answer, ms of virtual time. */
    readonly timeoutMs = 500,
  ) {
    if (!Number.isInteger(ls) || ls < 0 || ls >= LS_PER_AS)
      throw new RangeError(`ls must be 0..255, got ${ls}`);
  }

  /** Connects a meter modem. @throws RangeError when the modem id is out of 1..256 or taken. */
  attach(modem: number, meterId: Uint8Array, endpoint: MessageEndpoint, keyVersion = 0): void {
    if (!Number.isInteger(modem) || modem < 1 || modem > MODEMS_PER_LS)
      throw new RangeError(`modem must be 1..${MODEMS_PER_LS}, got ${modem}`);
    if (this.#meters.has(modem)) throw new RangeError(`modem ${modem} is already attached`);
    const address = { as: this.as, ls: this.ls, modem, meterId };
    this.#meters.set(modem, {
      meterId: Uint8Array.from(meterId),
      modem: new FramedModem(address, endpoint),
      keyVersion,
    });
  }

  get modems(): number[] {
    return [...this.#meters.keys()].sort((a, b) => a - b);
  }

  meterRef(modem: number): MeterKeyRef {
    const m = this.#meters.get(modem);
    if (!m) throw new RangeError(`no meter on modem ${modem}`);
    return { id: m.meterId, keyVersion: m.keyVersion };
  }

  /** The meter on `modem` as a {@link Terminal} over the power line. */
  terminal(modem: number): Terminal {
    const m = this.#meters.get(modem);
    if (!m) throw new RangeError(`no meter on modem ${modem}`);
    return terminalOverMessages((payload) => this.#exchange(modem, m.meterId, payload));
  }

  /** One request frame out, the matching answer back (or LinkTimeoutError). */
  async #exchange(modem: number, meterId: Uint8Array, payload: Uint8Array): Promise<Uint8Array> {
    const seq = (this.#seq = (this.#seq + 1) & 0xffff);
    const addr = { as: this.as, ls: this.ls, modem, meterId };
    this.channel.send(encodeFrame({ ...addr, response: false, seq, payload }), true);
    const deadline = this.channel.now + this.timeoutMs;
    for (let f = this.channel.next(deadline); f; f = this.channel.next(deadline)) {
      let frame;
      try {
        frame = decodeFrame(f.bytes);
      } catch (e) {
        if (e instanceof FrameError) {
          this.stats.framesRejected++;
          continue;
        }
        throw e;
      }
      if (f.toMeter) {
        // The line carries the frame to the modem it names; that modem answers only a request
        // addressed to it (protocol/FramedModem.ts), with the same sequence number.
        const out = await this.#meters.get(frame.modem)?.modem.receive(frame);
        if (out) this.channel.send(out, false);
        else this.stats.lateOrForeign++;
        continue;
      }
      if (!frame.response || frame.seq !== seq || frame.modem !== modem) {
        this.stats.lateOrForeign++;
        continue;
      }
      return frame.payload;
    }
    this.stats.timeouts++;
    throw new LinkTimeoutError(modem, seq, this.timeoutMs);
  }

  /**
   * Polls every meter in turn with the usage-and-timer check (which also corrects its clock to
   * `now`) and returns one record per meter; a failed meter is recorded and the poll goes on.
   */
  async poll(protocol: HostProtocol, now: RtcTime): Promise<PollRecord[]> {
    const out: PollRecord[] = [];
    for (const modem of this.modems) {
      const ref = this.meterRef(modem);
      try {
        const info = await protocol.usageCheck(this.terminal(modem), ref, now);
        out.push({
          modem,
          meterId: toHex(ref.id),
          ok: true,
          driftSeconds: info.timer.seconds - now.seconds,
          balance: info.balance,
          energyWh: info.energyWh,
          flags: info.flags,
          info,
        });
      } catch (e) {
        out.push({ modem, meterId: toHex(ref.id), ok: false, error: (e as Error).message });
      }
    }
    return out;
  }
}

/** An area service unit: up to 256 LS (65,536 meters). */
export class AreaService {
  readonly #ls = new Map<number, LocalService>();
  constructor(readonly as: number) {}

  add(ls: LocalService): void {
    if (ls.as !== this.as) throw new RangeError(`LS ${ls.ls} belongs to AS ${ls.as}`);
    if (this.#ls.size >= LS_PER_AS && !this.#ls.has(ls.ls))
      throw new RangeError('an AS manages at most 256 LS');
    if (this.#ls.has(ls.ls)) throw new RangeError(`LS ${ls.ls} already present`);
    this.#ls.set(ls.ls, ls);
  }
  get(ls: number): LocalService {
    const l = this.#ls.get(ls);
    if (!l) throw new RangeError(`no LS ${ls} in AS ${this.as}`);
    return l;
  }
  get all(): LocalService[] {
    return [...this.#ls.values()];
  }
}
