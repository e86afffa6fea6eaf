// The MAC and key-derivation functions wipe their own temporaries (padded data, CBC chains,
// CMAC subkeys, diversification blocks) and leave the caller's arrays alone. A recording
// provider keeps a reference to every array that passes through it; after the call returns,
// the temporaries must read all zero.
import { describe, expect, it } from 'vitest';
import {
  NodeCipherProvider,
  cmac,
  deriveSessionKey,
  diversify,
  macIso9797Alg1,
  macIso9797Alg3,
  type BlockAlgorithm,
  type BlockCipherProvider,
  type BlockMode,
} from '../../card/crypto/index.js';
import { toHex } from '../../card/util/hex.js';
import { hex } from './vectors.js';

class RecordingProvider implements BlockCipherProvider {
  readonly name = 'recording';
  readonly inputs: Uint8Array[] = [];
  readonly keys: Uint8Array[] = [];
  readonly outputs: Uint8Array[] = [];
  readonly #inner = new NodeCipherProvider();
  encrypt(
    alg: BlockAlgorithm,
    mode: BlockMode,
    key: Uint8Array,
    data: Uint8Array,
    iv?: Uint8Array,
  ): Uint8Array {
    this.keys.push(key);
    this.inputs.push(data);
    const out = this.#inner.encrypt(alg, mode, key, data, iv);
    this.outputs.push(out);
    return out;
  }
  decrypt(
    alg: BlockAlgorithm,
    mode: BlockMode,
    key: Uint8Array,
    data: Uint8Array,
    iv?: Uint8Array,
  ): Uint8Array {
    return this.#inner.decrypt(alg, mode, key, data, iv);
  }
}

const zero = (a: Uint8Array) => a.every((b) => b === 0);

describe('temporaries are wiped, caller arrays are not', () => {
  const key16 = hex('0123456789ABCDEFFEDCBA9876543210');
  const data = hex('4E6F77206973207468652074696D6520666F7220616C6C20');

  it('macIso9797Alg1: padded input and CBC chain wiped; key and data untouched', () => {
    const p = new RecordingProvider();
    const mac = macIso9797Alg1(p, 'tdes', key16, data, 2);
    expect(zero(mac)).toBe(false);
    expect(p.inputs.every(zero)).toBe(true);
    expect(p.outputs.every(zero)).toBe(true);
    expect(p.keys.every((k) => k === key16)).toBe(true);
    expect(toHex(key16)).toBe('0123456789ABCDEFFEDCBA9876543210');
    expect(toHex(data)).toBe('4E6F77206973207468652074696D6520666F7220616C6C20');
  });

  it('macIso9797Alg3: K1||K1 copy, padded data and chain wiped; the MAC is returned', () => {
    const p = new RecordingProvider();
    const mac = macIso9797Alg3(p, key16, data, 2);
    const copies = p.keys.filter((k) => k !== key16);
    expect(copies.length).toBeGreaterThan(0);
    expect(copies.every(zero)).toBe(true);
    expect(p.inputs.every(zero)).toBe(true);
    // The last provider output is the MAC itself, handed to the caller; the chain before it is wiped.
    expect(p.outputs.at(-1)).toBe(mac);
    expect(p.outputs.slice(0, -1).every(zero)).toBe(true);
  });

  it('cmac: L, the subkey-XORed message and the chain wiped', () => {
    const p = new RecordingProvider();
    const tag = cmac(p, 'aes', key16, data);
    expect(zero(tag)).toBe(false);
    expect(p.inputs.slice(1).every(zero)).toBe(true); // [0] is the constant zero block
    expect(p.outputs.every(zero)).toBe(true);
  });

  it('diversify and deriveSessionKey: A||B blocks and raw cipher output wiped; result kept', () => {
    const p = new RecordingProvider();
    const kt = diversify(p, 'tdes', key16, hex('0A1B2C'));
    const ks = deriveSessionKey(p, kt, hex('00112233445566778899AABBCCDDEEFF'));
    expect(zero(kt) || zero(ks)).toBe(false);
    expect(p.inputs[0]!.every((b) => b === 0)).toBe(true); // the A||B block diversify built
    expect(p.outputs.every(zero)).toBe(true);
    // deriveSessionKey's R1 belongs to the caller: it went in unwiped.
    expect(toHex(p.inputs[1]!)).toBe('00112233445566778899AABBCCDDEEFF');
  });
});
