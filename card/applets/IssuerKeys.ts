/**
 * The master keys of a card scheme, one key domain per utility, and the personalisation data they
 * give each card, SAM and SVM (docs/purse-spec.md §2).
 *
 * A multi-purse card is shared by several utilities (purse 01 electricity, 02 gas, 03 water,
 * 04 heat, 05 hot water; any id 1..15). Each utility u has its own masters, so no utility's
 * equipment holds a key that opens another utility's purse:
 *
 * ```
 *   per utility u (= purse id):
 *   MK_auth[u]   -> K_auth[u](CSN)    card + u's SAMs     mutual authentication for purse u only
 *   MK_debit[u]  -> K_debit[u](CSN)   card + u's SAMs     DEBIT of purse u
 *   MK_credit[u] -> K_credit[u](CSN)  card + u's vending  LOAD of purse u — never in a meter SAM
 *   MK_proof[u]  -> K_proof[u](CSN)   card + u's SVMs     debit proofs, log MACs, signed status
 *   MK_svm[u]    -> K_svm(meter id ‖ pairing)  one SAM + SVM pair (a replacement pair gets the
 *                                     next pairing number, so nothing of the old pair works in it)
 *                   K_core = diversify(K_svm, "CORE")     that meter's core (token requests)
 *   MK_comm[u]   -> K_comm(CSN)       u's commissioning cards + u's SAMs — never a subscriber card
 *   KH[u][n]     -> KT[n](meter id)   seed 000 terminal keys, in the SAM (>= 2 versions)
 * ```
 * K(x) = diversify(MK, x) of card/crypto/keyHierarchy.ts (EMV option A shape, odd parity).
 *
 * What the split guarantees (test/attacks/ proves each): a SAM of utility u holds MK_auth[u],
 * MK_debit[u], MK_comm[u] and its meter's K_svm only, so it can take value off purse u of a card
 * and nothing else — it can neither load a card (no K_credit), forge a debit proof (no K_proof),
 * nor touch another utility's purse; an SVM holds MK_proof[u] and K_svm, so it can check proofs
 * but cannot debit a card; a subscriber card holds no key that makes a commissioning card.
 */
import type { BlockCipherProvider } from '../crypto/types.js';
import { SeededRng } from '../crypto/rng.js';
import { adjustDesParity, deriveTerminalKey } from '../crypto/keyHierarchy.js';
import { wipe } from '../crypto/wipe.js';
import { ascii } from './bytes.js';
import { be16 } from '../util/bigEndian.js';
import { PurseCrypto } from './PurseCrypto.js';

const KEY_LENGTH = 16;
/** Purse (utility) ids a scheme may use. */
export const MIN_PURSE_ID = 1;
export const MAX_PURSE_ID = 15;
/** The diversification input of K_core from K_svm. */
const CORE_LABEL = ascii('CORE');

/** The keys a subscriber card holds for one of its purses. */
export interface CardKeySet {
  auth: Uint8Array;
  debit: Uint8Array;
  credit: Uint8Array;
  proof: Uint8Array;
}

/** Keys personalised into a meter SAM of one utility. */
export interface SamKeySet {
  /** The purse (utility) this SAM serves; it refuses every other. */
  purse: number;
  /** The pairing number of the SAM + SVM pair within its meter (1 for the first pair). */
  pairing: number;
  mkAuth: Uint8Array;
  mkDebit: Uint8Array;
  /** MK_comm: authenticates the utility's commissioning cards. */
  mkCommission: Uint8Array;
  svm: Uint8Array;
  /** Seed 000 terminal keys KT[n] by version n. */
  terminal: ReadonlyArray<readonly [number, Uint8Array]>;
}

/** Keys personalised into an SVM of one utility. */
export interface SvmKeySet {
  purse: number;
  pairing: number;
  mkProof: Uint8Array;
  svm: Uint8Array;
}

/** The masters of one utility. */
export interface UtilityMasters {
  auth: Uint8Array;
  debit: Uint8Array;
  credit: Uint8Array;
  proof: Uint8Array;
  svm: Uint8Array;
  commission: Uint8Array;
  /** Seed 000 host master keys KH[n], by version. */
  host: ReadonlyArray<readonly [number, Uint8Array]>;
}

function key(value: Uint8Array, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (value.length !== KEY_LENGTH) throw new RangeError(`${name} must be 16 bytes, got ${value.length}`);
  return Uint8Array.from(value);
}

function checkPairing(pairing: number): void {
  if (!Number.isInteger(pairing) || pairing < 1 || pairing > 0xffff)
    throw new RangeError(`pairing must be 1..65535, got ${pairing}`);
}

/** @throws RangeError naming `name` unless `purse` is a purse id 1..15. */
export function checkPurse(purse: number, name = 'purse'): void {
  if (!Number.isInteger(purse) || purse < MIN_PURSE_ID || purse > MAX_PURSE_ID)
    throw new RangeError(`${name} must be ${MIN_PURSE_ID}..${MAX_PURSE_ID}, got ${purse}`);
}

/** The master keys of a scheme: one `UtilityMasters` per purse id. */
export class IssuerKeys {
  readonly #utilities = new Map<number, UtilityMasters>();
  /** Set for the seeded demo issuer: its keys are public test data, never real secrets. */
  readonly demoSeed: string | undefined;
  readonly #crypto: PurseCrypto;

  /**
   * @throws RangeError naming the key whose length is not 16, a purse id outside 1..15, or when
   *   two masters anywhere in the scheme are equal (key separation is what stops a SAM creating
   *   value and one utility touching another's purse).
   */
  constructor(
    cipher: BlockCipherProvider,
    utilities: ReadonlyArray<readonly [number, UtilityMasters]>,
    demoSeed?: string,
  ) {
    this.#crypto = new PurseCrypto(cipher);
    if (utilities.length < 1) throw new RangeError('a scheme has at least one utility');
    const seen = new Set<string>();
    for (const [purse, m] of utilities) {
      checkPurse(purse);
      if (this.#utilities.has(purse)) throw new RangeError(`purse ${purse} is given twice`);
      const w = `utility ${purse}`;
      if (m.host.length < 1) throw new RangeError(`${w}: host must hold at least one KH version`);
      const u: UtilityMasters = {
        auth: key(m.auth, `${w} auth`),
        debit: key(m.debit, `${w} debit`),
        credit: key(m.credit, `${w} credit`),
        proof: key(m.proof, `${w} proof`),
        svm: key(m.svm, `${w} svm`),
        commission: key(m.commission, `${w} commission`),
        host: m.host.map(([n, k]) => [n, key(k, `${w} host[${n}]`)] as const),
      };
      for (const k of [u.auth, u.debit, u.credit, u.proof, u.svm, u.commission]) {
        const hex = Buffer.from(k).toString('hex');
        if (seen.has(hex)) throw new RangeError('master keys must all be different');
        seen.add(hex);
      }
      this.#utilities.set(purse, u);
    }
    this.demoSeed = demoSeed;
  }

  /**
   * The documented demo issuer, with utilities 1..15. The masters of utility u are drawn from
   * `SeededRng("meterpurse-demo-issuer:" + seed)` for u = 1 and from
   * `SeededRng("meterpurse-demo-issuer:" + seed + ":" + u)` otherwise, in the order auth, debit,
   * credit, proof, svm, KH[0], KH[1], commission (16 bytes each, DES parity adjusted).
   * Public test data — never real secrets.
   */
  static demo(cipher: BlockCipherProvider, seed = '0'): IssuerKeys {
    const utilities: [number, UtilityMasters][] = [];
    for (let u = MIN_PURSE_ID; u <= MAX_PURSE_ID; u++) {
      const rng = new SeededRng(`meterpurse-demo-issuer:${seed}${u === 1 ? '' : `:${u}`}`);
      const k = () => adjustDesParity(rng.bytes(KEY_LENGTH));
      const [auth, debit, credit, proof, svm, kh0, kh1, commission] = Array.from({ length: 8 }, k) as [
        Uint8Array,
        Uint8Array,
        Uint8Array,
        Uint8Array,
        Uint8Array,
        Uint8Array,
        Uint8Array,
        Uint8Array,
      ];
      utilities.push([
        u,
        {
          auth,
          debit,
          credit,
          proof,
          svm,
          commission,
          host: [
            [0, kh0],
            [1, kh1],
          ],
        },
      ]);
    }
    return new IssuerKeys(cipher, utilities, seed);
  }

  get crypto(): PurseCrypto {
    return this.#crypto;
  }

  /** The purse ids this scheme has keys for, ascending. */
  get purses(): number[] {
    return [...this.#utilities.keys()].sort((a, b) => a - b);
  }

  /**
   * The masters of utility `purse` (a copy: wiping it does not wipe the scheme's).
   * @throws RangeError when the scheme has no such utility.
   */
  utility(purse: number): UtilityMasters {
    const u = this.#masters(purse);
    return {
      auth: u.auth.slice(),
      debit: u.debit.slice(),
      credit: u.credit.slice(),
      proof: u.proof.slice(),
      svm: u.svm.slice(),
      commission: u.commission.slice(),
      host: u.host.map(([n, k]) => [n, k.slice()] as const),
    };
  }

  #masters(purse: number): UtilityMasters {
    checkPurse(purse);
    const u = this.#utilities.get(purse);
    if (!u) throw new RangeError(`the scheme has no keys for purse ${purse}`);
    return u;
  }

  /** The four keys of purse `purse` on the card with serial number `csn` (8 bytes). */
  cardKeys(csn: Uint8Array, purse: number): CardKeySet {
    if (!(csn instanceof Uint8Array) || csn.length !== 8) throw new RangeError('csn must be 8 bytes');
    const u = this.#masters(purse);
    const c = this.#crypto;
    return {
      auth: c.cardKey(u.auth, csn),
      debit: c.cardKey(u.debit, csn),
      credit: c.cardKey(u.credit, csn),
      proof: c.cardKey(u.proof, csn),
    };
  }

  /** K_credit(CSN) of purse `purse`: what a vending point of that utility makes LOAD cryptograms with. */
  creditKey(csn: Uint8Array, purse: number): Uint8Array {
    if (!(csn instanceof Uint8Array) || csn.length !== 8) throw new RangeError('csn must be 8 bytes');
    return this.#crypto.cardKey(this.#masters(purse).credit, csn);
  }

  /**
   * K_remote[purse](CSN) = diversify(K_credit[purse](CSN), "REMOTE") (issue 17): the key of the
   * utility's REMOTE LOAD, PUT CONFIG and CLEAR READINGS for card `csn`. Only the card and the
   * owner of MK_credit[purse] can make it.
   */
  remoteKey(csn: Uint8Array, purse: number): Uint8Array {
    const credit = this.creditKey(csn, purse);
    try {
      return deriveRemoteKey(this.#crypto, credit);
    } finally {
      wipe(credit);
    }
  }

  /**
   * K_offline[purse](meter id, n) = diversify(KT[n](meter id), "OFFLINE") (issue 17): the key of
   * utility `purse`'s offline meter `meterId` (3 bytes) for the 'C' config and 'M' reading MACs.
   * @throws RangeError when the utility has no KH version `n`, or `meterId` is not 3 bytes.
   */
  offlineMeterKey(meterId: Uint8Array, purse: number, n: number): Uint8Array {
    if (!(meterId instanceof Uint8Array) || meterId.length !== 3)
      throw new RangeError('meterId must be 3 bytes');
    const kh = this.#masters(purse).host.find(([v]) => v === n);
    if (!kh) throw new RangeError(`n: utility ${purse} has no KH version ${n}`);
    const kt = deriveTerminalKey(this.#crypto.cipher, kh[1], meterId);
    try {
      return deriveOfflineKey(this.#crypto, kt);
    } finally {
      wipe(kt);
    }
  }

  /** Every purse's keys of the card `csn`: what a subscriber card is personalised with. */
  cardKeySets(csn: Uint8Array, purses: readonly number[]): Map<number, CardKeySet> {
    return new Map(purses.map((p) => [p, this.cardKeys(csn, p)] as const));
  }

  /** K_comm(CSN) of utility `purse`: what its commissioning card `csn` holds. */
  commissioningKey(csn: Uint8Array, purse: number): Uint8Array {
    if (!(csn instanceof Uint8Array) || csn.length !== 8) throw new RangeError('csn must be 8 bytes');
    return this.#crypto.cardKey(this.#masters(purse).commission, csn);
  }

  /**
   * K_svm of the SAM + SVM pair number `pairing` (default 1) of the meter `meterId` (3 bytes) of
   * utility `purse`: diversify(MK_svm, meter id ‖ pairing u16). Each pair has its own key, so an
   * authorisation made for one SVM is never good in another — not even a replacement module
   * personalised for the same meter.
   */
  svmKey(meterId: Uint8Array, purse: number, pairing = 1): Uint8Array {
    if (!(meterId instanceof Uint8Array) || meterId.length !== 3)
      throw new RangeError('meterId must be 3 bytes');
    checkPairing(pairing);
    return this.#crypto.cardKey(this.#masters(purse).svm, Uint8Array.of(...meterId, ...be16(pairing)));
  }

  /**
   * K_core of the meter `meterId`: the key its meter core uses to ask its SAM for token
   * authorisations and to check the SVM's grants (docs/purse-spec.md §8). Derived one way from
   * K_svm, so the SAM and SVM derive it themselves and a core that gives it up does not give K_svm.
   */
  coreKey(meterId: Uint8Array, purse: number, pairing = 1): Uint8Array {
    const svm = this.svmKey(meterId, purse, pairing);
    try {
      return deriveCoreKey(this.#crypto, svm);
    } finally {
      wipe(svm);
    }
  }

  /** What a meter SAM of utility `purse` is given: never MK_credit, never MK_proof, no other utility. */
  samKeys(meterId: Uint8Array, purse: number, pairing = 1): SamKeySet {
    const u = this.#masters(purse);
    return {
      purse,
      pairing,
      mkAuth: u.auth.slice(),
      mkDebit: u.debit.slice(),
      mkCommission: u.commission.slice(),
      svm: this.svmKey(meterId, purse, pairing),
      terminal: u.host.map(([n, kh]) => [n, deriveTerminalKey(this.#crypto.cipher, kh, meterId)] as const),
    };
  }

  /** What an SVM of utility `purse` is given. */
  svmKeys(meterId: Uint8Array, purse: number, pairing = 1): SvmKeySet {
    return {
      purse,
      pairing,
      mkProof: this.#masters(purse).proof.slice(),
      svm: this.svmKey(meterId, purse, pairing),
    };
  }

  /** Zero-fills every master. */
  wipe(): void {
    for (const u of this.#utilities.values())
      wipe(u.auth, u.debit, u.credit, u.proof, u.svm, u.commission, ...u.host.map(([, k]) => k));
  }
}

/** K_core = diversify(K_svm, "CORE") (see IssuerKeys.coreKey). */
export function deriveCoreKey(crypto: PurseCrypto, svmKey: Uint8Array): Uint8Array {
  return crypto.cardKey(svmKey, CORE_LABEL);
}

/** The diversification inputs of issue 17's keys (docs/purse-spec.md §13). */
const REMOTE_LABEL = ascii('REMOTE');
const OFFLINE_LABEL = ascii('OFFLINE');

/** K_remote = diversify(K_credit(CSN), "REMOTE") (see IssuerKeys.remoteKey). */
export function deriveRemoteKey(crypto: PurseCrypto, creditKey: Uint8Array): Uint8Array {
  return crypto.cardKey(creditKey, REMOTE_LABEL);
}

/** K_offline = diversify(KT[n](meter id), "OFFLINE") (see IssuerKeys.offlineMeterKey). */
export function deriveOfflineKey(crypto: PurseCrypto, terminalKey: Uint8Array): Uint8Array {
  return crypto.cardKey(terminalKey, OFFLINE_LABEL);
}
