/**
 * The meter's link to its two security modules — the SAM and the SVM — each in its own reader
 * (DESIGN.md: the meter reaches them only through `CardChannel`s).
 *
 * - Opens `MeterModules` (SELECT SAM, SELECT SVM, pair check) lazily, on first use.
 * - Serialises every use (`use`): a token request never interleaves with a card transfer, so
 *   an SVM challenge or a SAM card session is never disturbed by another exchange.
 * - After a power failure (`reset`) or a channel error the modules are opened again on the
 *   next use: a channel of a module that lost power is dead (ISO/IEC 7816-3: a cold reset ends
 *   every session and selection).
 */
import type { CardChannel } from '../../reader/index.js';
import { CardChannelError } from '../../reader/index.js';
import type { Reader } from '../../reader/index.js';
import { MeterModules, type MeterCore } from '../../terminal/index.js';

/** Which device a channel leads to (for `ChannelWrapper`). */
export type ChannelRole = 'card' | 'sam' | 'svm';

/**
 * Wraps each channel the meter opens — a trace recorder, a counter, or a test's fault injector.
 * Default: none.
 */
export type ChannelWrapper = (channel: CardChannel, role: ChannelRole) => CardChannel;

export class ModuleLink {
  #modules: MeterModules | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #opens = 0;
  readonly #guards: ((m: MeterModules) => Promise<void>)[] = [];

  constructor(
    readonly samReader: Reader,
    readonly svmReader: Reader,
    readonly wrap: ChannelWrapper = (c) => c,
    /** The meter core's key K_core: token requests need it (MeterModules.open). */
    readonly core?: MeterCore,
  ) {}

  /** How many times the modules were opened (selected) since construction. */
  get opens(): number {
    return this.#opens;
  }

  /** The open modules, if any (no I/O). */
  get current(): MeterModules | undefined {
    return this.#modules;
  }

  async #open(): Promise<MeterModules> {
    if (this.#modules) return this.#modules;
    const sam = this.wrap(await this.samReader.connect(), 'sam');
    const svm = this.wrap(await this.svmReader.connect(), 'svm');
    this.#modules = await MeterModules.open(sam, svm, this.core);
    this.#opens++;
    return this.#modules;
  }

  /**
   * Adds a step run after opening and before every use (for example, settling a token request
   * whose answer was lost, before anything else can move the SVM counter).
   */
  addGuard(guard: (m: MeterModules) => Promise<void>): void {
    this.#guards.push(guard);
  }

  /**
   * Runs `fn` with the opened modules, after every earlier use has finished. A CardChannelError
   * of the SAM's or SVM's reader (a module lost power or left its reader) drops the modules so
   * the next use opens them again; every error is passed on.
   */
  use<T>(fn: (m: MeterModules) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      try {
        const m = await this.#open();
        for (const g of this.#guards) await g(m);
        return await fn(m);
      } catch (e) {
        // A module's channel failed (not the card's, whose errors pass through here too).
        if (
          e instanceof CardChannelError &&
          (e.readerName === undefined ||
            e.readerName === this.samReader.name ||
            e.readerName === this.svmReader.name)
        )
          this.#modules = undefined;
        throw e;
      }
    };
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  /** Power went: the module channels are dead; the next use selects the applets again. */
  reset(): void {
    this.#modules = undefined;
  }
}
