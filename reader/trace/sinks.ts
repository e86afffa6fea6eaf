import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { Trace } from './Trace.js';

/** Where a `RecordingChannel` writes the text of its trace. */
export interface TraceSink {
  /** Takes the next piece of text (whole lines). Must not throw for ordinary I/O delays. */
  write(text: string): void;
  /** Writes out anything buffered. */
  flush?(): void | Promise<void>;
  /** Flushes and releases the sink; called by `RecordingChannel.disconnect()`. */
  close?(): void | Promise<void>;
}

/** Keeps the trace in memory (tests, or a caller that writes it elsewhere). */
export class MemoryTraceSink implements TraceSink {
  #parts: string[] = [];
  closed = false;

  write(text: string): void {
    this.#parts.push(text);
  }

  close(): void {
    this.closed = true;
  }

  /** The text written so far. */
  text(): string {
    const all = this.#parts.join('');
    this.#parts = [all];
    return all;
  }

  /** The text written so far, parsed. @throws MalformedDataError if it is not a trace (a bug). */
  trace(): Trace {
    return Trace.parse(this.text());
  }
}

/** Options of a `FileTraceSink`. */
export interface FileSinkOptions {
  /** Write through after this many buffered characters even within one tick (default 64 Ki). */
  highWaterMark?: number;
  /** fsync on close (default true): the trace survives a power cut once the session ended. */
  fsync?: boolean;
}

/**
 * Writes a trace to a file. Text is buffered and written with one `write()` per turn of the
 * event loop (or sooner past `highWaterMark`), so a burst of in-process exchanges costs one
 * system call, while a crash loses at most the exchanges of the current tick. The file is
 * created (truncated) when the sink is made, so a bad path fails at once.
 */
export class FileTraceSink implements TraceSink {
  readonly path: string;
  #fd: number | undefined;
  #buffer: string[] = [];
  #size = 0;
  #scheduled = false;
  readonly #highWaterMark: number;
  readonly #fsync: boolean;
  /** The first write error, reported by flush() / close(). */
  #error: unknown;

  /** @throws the `fs` error (ENOENT, EACCES...) when the file cannot be created. */
  constructor(path: string, options: FileSinkOptions = {}) {
    this.path = path;
    this.#fd = openSync(path, 'w');
    this.#highWaterMark = options.highWaterMark ?? 64 * 1024;
    this.#fsync = options.fsync ?? true;
  }

  write(text: string): void {
    if (this.#fd === undefined) throw new Error(`trace file '${this.path}' is closed`);
    this.#buffer.push(text);
    this.#size += text.length;
    if (this.#size >= this.#highWaterMark) this.#drain();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.#drain();
      });
    }
  }

  /** @throws the first error met writing the file. */
  flush(): void {
    this.#drain();
    if (this.#error) throw this.#error;
  }

  /** @throws the first error met writing the file. */
  close(): void {
    if (this.#fd === undefined) return;
    this.#drain();
    const fd = this.#fd;
    this.#fd = undefined;
    try {
      if (this.#fsync && !this.#error) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (this.#error) throw this.#error;
  }

  #drain(): void {
    if (this.#fd === undefined || this.#size === 0) return;
    const text = this.#buffer.join('');
    this.#buffer = [];
    this.#size = 0;
    try {
      writeSync(this.#fd, text);
    } catch (e) {
      this.#error ??= e;
    }
  }
}
