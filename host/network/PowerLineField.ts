/**
 * A field of meters as the host sees it: meter ids placed at AS / LS / modem, one
 * {@link LocalService} (and its seeded power-line channel) per LS, and behind every modem a
 * {@link MessageEndpoint} — whatever answers there (the meter's own modem over its SAM, SVM and
 * meter core, composed in cli/; or a test double). Only the network lives here: the host never
 * knows what a meter is made of.
 */
import { SeededRng } from '../../card/index.js';
import { fromHex } from '../../card/index.js';
import type { MessageEndpoint, Terminal } from '../../protocol/index.js';
import { LocalService } from './LocalService.js';
import { PowerLineChannel, type ChannelOptions } from './PowerLineChannel.js';

/** Where a meter is on the network, and which KH version its SAM holds for the host. */
export interface Placement {
  readonly as: number;
  readonly ls: number;
  readonly modem: number;
  readonly keyVersion: number;
}

export class PowerLineField {
  readonly #where = new Map<string, Placement>();
  readonly #ls = new Map<string, LocalService>();

  constructor(
    readonly channelOptions: ChannelOptions = { latencyMs: [5, 20] },
    /** How long an LS waits for an answer, ms of virtual time. */
    readonly timeoutMs = 500,
  ) {}

  /** The LS at `as`/`ls` (made, with its seeded channel, on first use). */
  localService(as: number, ls: number): LocalService {
    const k = `${as}/${ls}`;
    let l = this.#ls.get(k);
    if (!l) {
      l = new LocalService(
        as,
        ls,
        new PowerLineChannel(new SeededRng(`field-${k}`), this.channelOptions),
        this.timeoutMs,
      );
      this.#ls.set(k, l);
    }
    return l;
  }

  /**
   * Connects the modem of meter `id` (3 bytes, hex) at `where`.
   * @throws RangeError when the id is not 3 bytes of hex, is placed already, or the modem is taken.
   */
  attach(id: string, where: Placement, endpoint: MessageEndpoint): void {
    const idb = fromHex(id);
    if (idb.length !== 3) throw new RangeError(`id must be 3 bytes of hex, got ${id}`);
    if (this.#where.has(id)) throw new RangeError(`meter ${id} is in the field already`);
    this.localService(where.as, where.ls).attach(where.modem, idb, endpoint, where.keyVersion);
    this.#where.set(id, { ...where });
  }

  has(id: string): boolean {
    return this.#where.has(id);
  }

  /** Where meter `id` is. @throws RangeError when it is not in the field. */
  placement(id: string): Placement {
    const w = this.#where.get(id);
    if (!w) throw new RangeError(`meter ${id} is not in the field`);
    return w;
  }

  /** Meter `id` as a {@link Terminal} over its LS's power line. @throws RangeError when unknown. */
  terminal(id: string): Terminal {
    const w = this.placement(id);
    return this.localService(w.as, w.ls).terminal(w.modem);
  }
}
