import type { Command, Io } from '../Command.js';
import { UsageError, parseOptions } from '../Command.js';
import { fromHex, toHex } from '../../card/index.js';
import { ForgeCipherProvider, NodeCipherProvider, diversify, wipe } from '../../card/index.js';
import type { BlockCipherProvider } from '../../card/index.js';

/** Picks a cipher provider by name for the crypto commands. @throws UsageError for an unknown name. */
export function providerByName(name: string | undefined): BlockCipherProvider {
  if (name === undefined || name === 'node') return new NodeCipherProvider();
  if (name === 'forge') return new ForgeCipherProvider();
  throw new UsageError(`--impl must be node or forge, got ${name}`);
}

/** Parses a hex option. @throws UsageError naming the option when missing; MalformedDataError when not hex. */
export function hexOption(value: string | undefined, option: string): Uint8Array {
  if (value === undefined) throw new UsageError(`${option} <hex> is required`);
  return fromHex(value);
}

/**
 * `meterpurse keys derive --master <hex> --id <hex> [--alg 3des|aes] [--impl node|forge]`:
 * prints diversify(master, id) — KT[n] for a 3-byte meter ID, a session key for an 8-byte R1, a
 * card key for a serial number (docs/key-hierarchy.md).
 */
export const keysDerive: Command = {
  path: ['keys', 'derive'],
  summary: 'derive a diversified key (KT = E(ID, KH), Ks = E(R1, KT), card keys) and print it in hex',
  usage: 'keys derive --master <hex> --id <hex> [--alg 3des|aes] [--impl node|forge]',
  async run(args: string[], io: Io): Promise<number> {
    const { values } = parseOptions(args, {
      master: { type: 'string' },
      id: { type: 'string' },
      alg: { type: 'string' },
      impl: { type: 'string' },
    });
    const alg = values.alg ?? '3des';
    if (alg !== '3des' && alg !== 'aes') throw new UsageError(`--alg must be 3des or aes, got ${alg}`);
    const cipher = providerByName(values.impl);
    const master = hexOption(values.master, '--master');
    const id = hexOption(values.id, '--id');
    try {
      const key = diversify(cipher, alg === 'aes' ? 'aes' : 'tdes', master, id);
      io.out(`${toHex(key)}\n`);
      wipe(key);
      return 0;
    } catch (e) {
      if (e instanceof RangeError)
        throw new UsageError(e.message.replace(/^master /, '--master ').replace(/^data /, '--id '));
      throw e;
    } finally {
      wipe(master);
    }
  },
};
