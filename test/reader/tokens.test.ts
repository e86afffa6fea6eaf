import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { container } from 'tsyringe';
import type { Reader } from '../../reader/Reader.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import { UnknownReaderError } from '../../reader/errors.js';
import { diReader, diReaderByName, register, type ReaderByName } from '../../reader/tokens.js';
import { TestCard } from './TestCard.js';

describe('reader registration (tsyringe)', () => {
  it('registers readers per device container; lookup by name; unknown name is typed', async () => {
    const meterA = register(container.createChildContainer(), {
      readers: [new VirtualReader('SAM', new TestCard()), new VirtualReader('card slot')],
    });
    const meterB = register(container.createChildContainer(), { readers: [new VirtualReader('SAM')] });
    expect(meterA.resolveAll<Reader>(diReader).map((r) => r.name)).toEqual(['SAM', 'card slot']);
    const byName = meterA.resolve<ReaderByName>(diReaderByName);
    expect((await byName('SAM').connect()).protocol).toBe('T=1');
    expect(() => byName('SVM')).toThrow(UnknownReaderError);
    expect(() => byName('SVM')).toThrow("available: 'SAM', 'card slot'");
    // Device B sees only its own reader.
    expect(meterB.resolve<ReaderByName>(diReaderByName)('SAM').cardPresent).toBe(false);
  });

  it('refuses two readers of the same name', () => {
    expect(() =>
      register(container.createChildContainer(), {
        readers: [new VirtualReader('X'), new VirtualReader('X')],
      }),
    ).toThrow("two readers named 'X'");
  });
});
