import type { Command, Io, OptionDocs } from '../Command.js';
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

const DERIVE_OPTIONS = {
  master: {
    type: 'string',
    value: '<hex>',
    help: 'the master key (KH, KT, a card master key)',
    byDefault: 'required',
  },
  id: {
    type: 'string',
    value: '<hex>',
    help: 'what it is diversified with: a 3-byte meter id, an 8-byte R1, a card serial number',
    byDefault: 'required',
  },
  alg: { type: 'string', value: '<3des|aes>', help: 'the block cipher of the keys', byDefault: '3des' },
  impl: {
    type: 'string',
    value: '<node|forge>',
    help: 'cipher implementation: node:crypto or node-forge',
    byDefault: 'node',
  },
  json: { type: 'boolean', help: 'print {key, alg, impl, id} as JSON' },
} as const satisfies OptionDocs;

/**
 * `meterpurse keys derive --master <hex> --id <hex> [--alg 3des|aes] [--impl node|forge]`:
 * prints diversify(master, id) — KT[n] for a 3-byte meter ID, a session key for an 8-byte R1, a
 * card key for a serial number (docs/key-hierarchy.md).
 */
export const keysDerive: Command = {
  path: ['keys', 'derive'],
  summary: 'derive a diversified key (KT = E(ID, KH), Ks = E(R1, KT), card keys) and print it in hex',
  usage: 'keys derive --master <hex> --id <hex> [--alg 3des|aes] [--impl node|forge] [--json]',
  options: DERIVE_OPTIONS,
  examples: [
    'keys derive --master 0123456789ABCDEFFEDCBA9876543210 --id 000123',
    'keys derive --master 000102030405060708090A0B0C0D0E0F --id 4D50000000000001 --alg aes --json',
  ],
  async run(args: string[], io: Io): Promise<number> {
    const { values } = parseOptions(args, DERIVE_OPTIONS);
    const alg = values.alg ?? '3des';
    if (alg !== '3des' && alg !== 'aes') throw new UsageError(`--alg must be 3des or aes, got ${alg}`);
    const cipher = providerByName(values.impl);
    const master = hexOption(values.master, '--master');
    const id = hexOption(values.id, '--id');
    try {
      const key = diversify(cipher, alg === 'aes' ? 'aes' : 'tdes', master, id);
      io.out(
        values.json
          ? `${JSON.stringify({ key: toHex(key), alg, impl: values.impl ?? 'node', id: toHex(id) })}\n`
          : `${toHex(key)}\n`,
      );
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
