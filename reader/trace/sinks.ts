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
  /** Bytes buffered before a write even within one tick (default 256 Ki). */
  highWaterMark?: number;
  /** fsync on close (default true): the trace survives a power cut once the session ended. */
  fsync?: boolean;
}

/**
 * Writes a trace to a file. Text is copied at once into a byte buffer (so the strings die young
 * and cost the garbage collector little) and the buffer is written with one `write()` per turn
 * of the event loop, or sooner when full, or at `flush()`. A `TraceRecorder` hands it text only
 * when it flushes (see there for what a crash loses). The file is created (truncated) when the
 * sink is made, so a bad path fails at once.
 */
export class FileTraceSink implements TraceSink {
  readonly path: string;
  #fd: number | undefined;
  readonly #buf: Buffer;
  #used = 0;
  #scheduled = false;
  readonly #fsync: boolean;
  /** The first write error, reported by flush() / close(). */
  #error: unknown;

  /** @throws the `fs` error (ENOENT, EACCES...) when the file cannot be created. */
  constructor(path: string, options: FileSinkOptions = {}) {
    this.path = path;
    this.#buf = Buffer.allocUnsafe(Math.max(4096, options.highWaterMark ?? 256 * 1024));
    this.#fd = openSync(path, 'w');
    this.#fsync = options.fsync ?? true;
  }

  write(text: string): void {
    if (this.#fd === undefined) throw new Error(`trace file '${this.path}' is closed`);
    // At most 3 bytes of UTF-8 per UTF-16 unit.
    if (text.length * 3 > this.#buf.length - this.#used) {
      this.#drain();
      if (text.length * 3 > this.#buf.length) {
        this.#writeOut(Buffer.from(text, 'utf8'));
        return;
      }
    }
    this.#used += this.#buf.write(text, this.#used, 'utf8');
    if (!this.#scheduled) {
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
    if (this.#fd === undefined || this.#used === 0) return;
    const n = this.#used;
    this.#used = 0;
    this.#writeOut(this.#buf.subarray(0, n));
  }

  #writeOut(bytes: Uint8Array): void {
    if (this.#fd === undefined) return;
    try {
      let off = 0;
      while (off < bytes.length) off += writeSync(this.#fd, bytes, off, bytes.length - off);
    } catch (e) {
      this.#error ??= e;
    }
  }
}
