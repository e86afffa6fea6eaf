import type { Command, Io, OptionDocs } from '../Command.js';
import { UsageError, parseOptions } from '../Command.js';
import { toHex } from '../../card/index.js';
import { cmac, macIso9797Alg1, macIso9797Alg3, wipe } from '../../card/index.js';
import { hexOption, providerByName } from './keys.js';

const ALGS = ['9797-1-m1', '9797-1-m3', 'cmac'] as const;

const MAC_OPTIONS = {
  key: {
    type: 'string',
    value: '<hex>',
    help: 'the key: 16 or 24 bytes TDES (16 for m3, K1‖K2), or an AES key',
    byDefault: 'required',
  },
  data: { type: 'string', value: '<hex>', help: 'the message', byDefault: 'required' },
  alg: {
    type: 'string',
    value: `<${ALGS.join('|')}>`,
    help: 'ISO/IEC 9797-1 algorithm 1 (CBC-MAC) or 3 (retail MAC), or SP 800-38B CMAC',
    byDefault: 'required',
  },
  pad: {
    type: 'string',
    value: '<1|2>',
    help: 'ISO/IEC 9797-1 padding method (not for cmac)',
    byDefault: '2',
  },
  cipher: {
    type: 'string',
    value: '<tdes|aes>',
    help: 'block cipher (m3 is DES only)',
    byDefault: 'tdes for m1, aes for cmac',
  },
  impl: {
    type: 'string',
    value: '<node|forge>',
    help: 'cipher implementation: node:crypto or node-forge',
    byDefault: 'node',
  },
} as const satisfies OptionDocs;

/**
 * `meterpurse mac --key <hex> --data <hex> --alg 9797-1-m1|9797-1-m3|cmac [--pad 1|2]
 * [--cipher tdes|aes] [--impl node|forge]`: prints the full-length MAC in hex.
 *
 * - 9797-1-m1: ISO/IEC 9797-1 MAC algorithm 1 (CBC-MAC); cipher tdes (default) or aes; pad default 2.
 * - 9797-1-m3: MAC algorithm 3 (retail MAC); 16-byte key K1‖K2; pad default 2.
 * - cmac: SP 800-38B CMAC; cipher aes (default) or tdes; its padding is fixed, so --pad is refused.
 */
export const macCommand: Command = {
  path: ['mac'],
  summary: 'compute an ISO/IEC 9797-1 MAC (algorithm 1 or 3) or a CMAC and print it in hex',
  usage:
    'mac --key <hex> --data <hex> --alg 9797-1-m1|9797-1-m3|cmac [--pad 1|2] [--cipher tdes|aes] [--impl node|forge]',
  options: MAC_OPTIONS,
  examples: [
    'mac --alg 9797-1-m3 --key 0123456789ABCDEFFEDCBA9876543210 --data 4E6F77206973207468652074696D6520',
    'mac --alg cmac --key 2B7E151628AED2A6ABF7158809CF4F3C --data 6BC1BEE22E409F96E93D7E117393172A',
  ],
  async run(args: string[], io: Io): Promise<number> {
    const { values } = parseOptions(args, MAC_OPTIONS);
    const alg = values.alg;
    if (alg === undefined) throw new UsageError(`--alg is required: ${ALGS.join(', ')}`);
    if (!(ALGS as readonly string[]).includes(alg))
      throw new UsageError(`--alg must be one of ${ALGS.join(', ')}, got ${alg}`);
    if (values.pad !== undefined && values.pad !== '1' && values.pad !== '2')
      throw new UsageError(`--pad must be 1 or 2, got ${values.pad}`);
    if (alg === 'cmac' && values.pad !== undefined)
      throw new UsageError('--pad does not apply to cmac (its padding is fixed)');
    if (values.cipher !== undefined && values.cipher !== 'tdes' && values.cipher !== 'aes')
      throw new UsageError(`--cipher must be tdes or aes, got ${values.cipher}`);
    if (alg === '9797-1-m3' && values.cipher !== undefined && values.cipher !== 'tdes')
      throw new UsageError('9797-1-m3 is defined over DES only');
    const pad = values.pad === '1' ? 1 : 2;
    const provider = providerByName(values.impl);
    const key = hexOption(values.key, '--key');
    const data = hexOption(values.data, '--data');
    try {
      let mac: Uint8Array;
      if (alg === '9797-1-m1')
        mac = macIso9797Alg1(provider, values.cipher === 'aes' ? 'aes' : 'tdes', key, data, pad);
      else if (alg === '9797-1-m3') mac = macIso9797Alg3(provider, key, data, pad);
      else mac = cmac(provider, values.cipher === 'tdes' ? 'tdes' : 'aes', key, data);
      io.out(`${toHex(mac)}\n`);
      return 0;
    } catch (e) {
      if (e instanceof RangeError) throw new UsageError(e.message.replace(/^key(16)? /, '--key '));
      throw e;
    } finally {
      wipe(key);
    }
  },
};
