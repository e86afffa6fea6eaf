/**
 * The issuer's master keys and the personalisation data they give each card, SAM and SVM.
 *
 * ```
 *   MK_auth   -> K_auth(CSN)   card + every SAM (SAM holds MK_auth and diversifies per card)
 *   MK_debit  -> K_debit(CSN)  card + meter SAMs (the "amount reduction key" of seed 000)
 *   MK_credit -> K_credit(CSN) card + issuer/vending only — never in a meter SAM
 *   MK_proof  -> K_proof(CSN)  card + SVMs (verify proofs) — never in a SAM
 *   MK_svm    -> K_svm(meter id)  one meter's SAM and SVM (pairwise)
 *   KH[n]     -> KT[n](meter id)  seed 000 terminal keys, in the SAM (>= 2 versions)
 * ```
 * K(x) = diversify(MK, x) of card/crypto/keyHierarchy.ts (EMV option A shape, odd parity).
 *
 * The consequence the tests check: a SAM holds MK_auth, MK_debit and K_svm only, so it can take
 * value off a card but can neither load a card (no K_credit) nor forge a debit proof (no K_proof);
 * an SVM holds MK_proof and K_svm, so it can check proofs but cannot debit a card.
 */
import type { BlockCipherProvider } from '../crypto/types.js';
import { SeededRng } from '../crypto/rng.js';
import { adjustDesParity, deriveTerminalKey } from '../crypto/keyHierarchy.js';
import { wipe } from '../crypto/wipe.js';
import { PurseCrypto } from './PurseCrypto.js';

const KEY_LENGTH = 16;

/** Keys personalised into a subscriber card. */
export interface CardKeySet {
  auth: Uint8Array;
  debit: Uint8Array;
  credit: Uint8Array;
  proof: Uint8Array;
}

/** Keys personalised into a meter SAM. */
export interface SamKeySet {
  mkAuth: Uint8Array;
  mkDebit: Uint8Array;
  svm: Uint8Array;
  /** Seed 000 terminal keys KT[n] by version n. */
  terminal: ReadonlyArray<readonly [number, Uint8Array]>;
}

/** Keys personalised into an SVM. */
export interface SvmKeySet {
  mkProof: Uint8Array;
  svm: Uint8Array;
}

function key(value: Uint8Array, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (value.length !== KEY_LENGTH) throw new RangeError(`${name} must be 16 bytes, got ${value.length}`);
  return Uint8Array.from(value);
}

/** The master keys of one issuer. */
export class IssuerKeys {
  readonly mkAuth: Uint8Array;
  readonly mkDebit: Uint8Array;
  readonly mkCredit: Uint8Array;
  readonly mkProof: Uint8Array;
  readonly mkSvm: Uint8Array;
  /** Seed 000 host master keys KH[n], by version. */
  readonly hostKeys: ReadonlyArray<readonly [number, Uint8Array]>;
  /** Set for the seeded demo issuer: its keys are public test data, never real secrets. */
  readonly demoSeed: string | undefined;
  readonly #crypto: PurseCrypto;

  /**
   * @throws RangeError naming the key whose length is not 16, or when two masters are equal
   *   (the separation of debit, credit and proof keys is what stops a SAM creating value).
   */
  constructor(
    cipher: BlockCipherProvider,
    masters: {
      auth: Uint8Array;
      debit: Uint8Array;
      credit: Uint8Array;
      proof: Uint8Array;
      svm: Uint8Array;
      host: ReadonlyArray<readonly [number, Uint8Array]>;
    },
    demoSeed?: string,
  ) {
    this.#crypto = new PurseCrypto(cipher);
    this.mkAuth = key(masters.auth, 'auth');
    this.mkDebit = key(masters.debit, 'debit');
    this.mkCredit = key(masters.credit, 'credit');
    this.mkProof = key(masters.proof, 'proof');
    this.mkSvm = key(masters.svm, 'svm');
    const all = [this.mkAuth, this.mkDebit, this.mkCredit, this.mkProof, this.mkSvm].map((k) =>
      Buffer.from(k).toString('hex'),
    );
    if (new Set(all).size !== all.length) throw new RangeError('master keys must all be different');
    if (masters.host.length < 1) throw new RangeError('host must hold at least one KH version');
    this.hostKeys = masters.host.map(([n, k]) => [n, key(k, `host[${n}]`)] as const);
    this.demoSeed = demoSeed;
  }

  /**
   * The documented demo issuer: every master key drawn from
   * `SeededRng("meterpurse-demo-issuer:" + seed)` in the order auth, debit, credit, proof, svm,
   * KH[0], KH[1] (16 bytes each, DES parity adjusted). Public test data — never real secrets.
   */
  static demo(cipher: BlockCipherProvider, seed = '0'): IssuerKeys {
    const rng = new SeededRng(`meterpurse-demo-issuer:${seed}`);
    const k = () => adjustDesParity(rng.bytes(KEY_LENGTH));
    return new IssuerKeys(
      cipher,
      {
        auth: k(),
        debit: k(),
        credit: k(),
        proof: k(),
        svm: k(),
        host: [
          [0, k()],
          [1, k()],
        ],
      },
      seed,
    );
  }

  get crypto(): PurseCrypto {
    return this.#crypto;
  }

  /** The four keys of the card with serial number `csn` (8 bytes). */
  cardKeys(csn: Uint8Array): CardKeySet {
    if (!(csn instanceof Uint8Array) || csn.length !== 8) throw new RangeError('csn must be 8 bytes');
    const c = this.#crypto;
    return {
      auth: c.cardKey(this.mkAuth, csn),
      debit: c.cardKey(this.mkDebit, csn),
      credit: c.cardKey(this.mkCredit, csn),
      proof: c.cardKey(this.mkProof, csn),
    };
  }

  /** K_svm of the meter `meterId` (3 bytes), shared by its SAM and SVM. */
  svmKey(meterId: Uint8Array): Uint8Array {
    if (!(meterId instanceof Uint8Array) || meterId.length !== 3)
      throw new RangeError('meterId must be 3 bytes');
    return this.#crypto.cardKey(this.mkSvm, meterId);
  }

  /** What a meter SAM is given: never MK_credit, never MK_proof. */
  samKeys(meterId: Uint8Array): SamKeySet {
    return {
      mkAuth: Uint8Array.from(this.mkAuth),
      mkDebit: Uint8Array.from(this.mkDebit),
      svm: this.svmKey(meterId),
      terminal: this.hostKeys.map(
        ([n, kh]) => [n, deriveTerminalKey(this.#crypto.cipher, kh, meterId)] as const,
      ),
    };
  }

  /** What an SVM is given. */
  svmKeys(meterId: Uint8Array): SvmKeySet {
    return { mkProof: Uint8Array.from(this.mkProof), svm: this.svmKey(meterId) };
  }

  /** Zero-fills the masters. */
  wipe(): void {
    wipe(
      this.mkAuth,
      this.mkDebit,
      this.mkCredit,
      this.mkProof,
      this.mkSvm,
      ...this.hostKeys.map(([, k]) => k),
    );
  }
}
