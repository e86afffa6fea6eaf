// Loads the committed vector files of test/vectors/crypto (sources in test/vectors/README.md).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { fromHex } from '../../card/util/hex.js';

export const VECTOR_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'vectors', 'crypto');

export function loadVectors<T>(file: string): T {
  return JSON.parse(readFileSync(join(VECTOR_DIR, file), 'utf8')) as T;
}

export const hex = fromHex;

export interface CipherVector {
  name: string;
  alg?: 'tdes' | 'aes';
  mode?: 'ecb' | 'cbc';
  key: string;
  iv?: string;
  plaintext: string;
  ciphertext: string;
}

export interface CmacVector {
  name: string;
  alg: 'tdes' | 'aes';
  key: string;
  mlen: number;
  tag: string;
}

export interface Iso9797Vector {
  name: string;
  algorithm: '9797-1-m1' | '9797-1-m3';
  cipher?: 'des' | 'tdes';
  key: string;
  padding: 1 | 2;
  data: string;
  mac: string;
  truncated?: boolean;
}
