import { PcscReader } from './PcscReader.js';
import { DEFAULT_TIMEOUT_MS } from './Reader.js';
import { PcscNotInstalledError, ReaderUnavailableError, UnknownReaderError } from './errors.js';
import {
  loadPcsclite,
  pcscCode,
  SCARD,
  type AddonContext,
  type AddonFactory,
  type AddonReader,
} from './internal/pcscAddon.js';
import { checkTimeout } from './internal/timeout.js';

export interface PcscContextOptions {
  /** Time limit of every PC/SC operation, in ms (default 10 s). */
  timeoutMs?: number;
  /** How to load the addon; tests pass their own. Default: the optional `pcsclite` package. */
  loadAddon?: () => AddonFactory;
}

/**
 * A PC/SC context (SCardEstablishContext) through the optional `pcsclite` addon: the list of
 * readers, kept current by the addon's reader-list thread, and a `PcscReader` per reader.
 * Call `close()` when done: the addon's threads keep the process alive until then.
 *
 * pcsc-lite's client library finds pcscd through `PCSCLITE_CSOCK_NAME` when it is set (the
 * tests use that to run a private pcscd); it is read once, before the first context.
 */
export class PcscContext {
  readonly timeoutMs: number;
  readonly #addon: AddonContext;
  readonly #readers = new Map<string, PcscReader>();
  #listed = false;
  #listWaiters: (() => void)[] = [];
  #closed = false;
  #error: string | undefined;

  private constructor(addon: AddonContext, timeoutMs: number) {
    this.#addon = addon;
    this.timeoutMs = timeoutMs;
  }

  /**
   * Opens a context and waits for the first reader list.
   * @throws PcscNotInstalledError when `pcsclite` (or libpcsclite) is missing, saying what to
   * install; ReaderUnavailableError when pcscd is not running; CardTimeoutError.
   */
  static async open(options: PcscContextOptions = {}): Promise<PcscContext> {
    const timeoutMs = checkTimeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 'timeoutMs');
    const factory = (options.loadAddon ?? loadPcsclite)();
    let addon: AddonContext;
    try {
      addon = factory();
    } catch (e) {
      const code = pcscCode(e);
      const why = e instanceof Error ? e.message : String(e);
      if (code === SCARD.E_NO_SERVICE || code === SCARD.E_SERVICE_STOPPED) {
        throw new ReaderUnavailableError(
          `the PC/SC service is not running: start pcscd${
            process.env.PCSCLITE_CSOCK_NAME ? ` (looking for it at ${process.env.PCSCLITE_CSOCK_NAME})` : ''
          } (${why})`,
          undefined,
          { cause: e },
        );
      }
      throw new PcscNotInstalledError(`cannot open a PC/SC context: ${why}`, undefined, { cause: e });
    }
    const ctx = new PcscContext(addon, timeoutMs);
    ctx.#attach();
    await ctx.#firstList();
    return ctx;
  }

  #attach(): void {
    const addon = this.#addon;
    // The addon lists readers in a thread and calls start's callback after each change; wrap it
    // (before its nextTick fires) to know when the first list is in.
    const start = addon.start;
    if (typeof start === 'function') {
      addon.start = (cb) =>
        start.call(addon, (err, data) => {
          cb(err, data);
          this.#listed = true;
          for (const w of this.#listWaiters.splice(0)) w();
        });
    } else this.#listed = true;
    addon.on('reader', (r: AddonReader) => {
      const reader = new PcscReader(r, this.timeoutMs);
      this.#readers.set(r.name, reader);
      r.once('end', () => {
        if (this.#readers.get(r.name) === reader) this.#readers.delete(r.name);
        reader.markGone('the reader was removed from the system');
      });
    });
    addon.on('error', (e: unknown) => {
      this.#error = e instanceof Error ? e.message : String(e);
      for (const r of this.#readers.values()) r.markGone(`PC/SC context failed: ${this.#error}`);
      this.#listed = true;
      for (const w of this.#listWaiters.splice(0)) w();
    });
  }

  #firstList(): Promise<void> {
    if (this.#listed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.close();
        reject(new ReaderUnavailableError(`PC/SC did not list its readers within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.#listWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Names of the readers PC/SC knows right now. */
  readerNames(): string[] {
    return [...this.#readers.keys()];
  }

  /**
   * The reader of that exact name.
   * @throws UnknownReaderError listing the readers that exist; ReaderUnavailableError when the
   * context failed or was closed.
   */
  reader(name: string): PcscReader {
    this.#check();
    const r = this.#readers.get(name);
    if (!r) throw new UnknownReaderError(name, this.readerNames());
    return r;
  }

  /**
   * Waits until a reader of that name appears (readers come and go with USB, or with vpcd).
   * @throws UnknownReaderError after `timeoutMs`, listing the readers that exist.
   */
  async waitForReader(name: string, timeoutMs: number = this.timeoutMs): Promise<PcscReader> {
    checkTimeout(timeoutMs, 'timeoutMs');
    const end = Date.now() + timeoutMs;
    for (;;) {
      this.#check();
      const r = this.#readers.get(name);
      if (r) return r;
      if (Date.now() >= end) throw new UnknownReaderError(name, this.readerNames());
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  /** Stops the addon's threads and forgets the readers; channels on them fail afterwards. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const r of this.#readers.values()) r.close();
    this.#readers.clear();
    try {
      this.#addon.close();
    } catch {
      // Already closed by a failure of its thread.
    }
  }

  #check(): void {
    if (this.#closed) throw new ReaderUnavailableError('the PC/SC context is closed');
    if (this.#error) throw new ReaderUnavailableError(`the PC/SC context failed: ${this.#error}`);
  }
}

/**
 * Lists the PC/SC readers in one call (opens and closes a context).
 * @throws as `PcscContext.open`.
 */
export async function listPcscReaders(options: PcscContextOptions = {}): Promise<string[]> {
  const ctx = await PcscContext.open(options);
  try {
    return ctx.readerNames();
  } finally {
    ctx.close();
  }
}
