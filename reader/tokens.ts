import 'reflect-metadata';
import type { DependencyContainer } from 'tsyringe';
import type { Reader } from './Reader.js';
import { UnknownReaderError } from './errors.js';

/** Injection tokens of the reader middleware (STYLE.md rule 9). */
export const diReader = Symbol('reader.Reader');
/** A `(name) => Reader` lookup over the readers registered under `diReader`. */
export const diReaderByName = Symbol('reader.ReaderByName');

export type ReaderByName = (name: string) => Reader;

export interface ReaderRegistration {
  /** The readers of one device or terminal (VirtualReader, PcscReader ...). */
  readers: readonly Reader[];
}

/**
 * Registers a device's readers in `container` (a child container per simulated device):
 * `resolveAll(diReader)` gives them all, `resolve(diReaderByName)(name)` one of them.
 * @throws TypeError when two readers share a name.
 * @returns the container, for chaining.
 */
export function register(container: DependencyContainer, options: ReaderRegistration): DependencyContainer {
  const names = new Set<string>();
  for (const r of options.readers) {
    if (names.has(r.name)) throw new TypeError(`two readers named '${r.name}'`);
    names.add(r.name);
    container.register(diReader, { useValue: r });
  }
  const readers = [...options.readers];
  const byName: ReaderByName = (name) => {
    const r = readers.find((x) => x.name === name);
    if (!r)
      throw new UnknownReaderError(
        name,
        readers.map((x) => x.name),
      );
    return r;
  };
  container.register(diReaderByName, { useValue: byName });
  return container;
}
