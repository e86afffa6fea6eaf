/**
 * Every MAC and session key of the purse protocol, in one place, so the card, the SAM, the SVM, the
 * issuer and docs/purse-spec.md all use the same byte strings. Each function draws its input.
 *
 * MAC(K, m) is ISO/IEC 9797-1 MAC algorithm 1 with two-key TDES (full triple-DES CBC-MAC, seed 000
 * Fig. 4), zero IV, padding method 2, all 8 bytes kept. Keys are 16-byte two-key TDES keys.
 */
import type { BlockCipherProvider } from '../crypto/types.js';
import { macIso9797Alg1, verifyMac } from '../crypto/mac.js';
import { deriveSessionKey, diversify } from '../crypto/keyHierarchy.js';
import { concatBytes } from '../util/hex.js';
import { wipe } from '../crypto/wipe.js';
import { ascii } from './bytes.js';
import { be16, be32 } from '../util/bigEndian.js';

/** The fields a debit, a load and their log record share. */
export interface TransactionFields {
  csn: Uint8Array; // 8
  purse: number; // 1
  amount: number; // u32
  /** The purse counter the transaction takes (current counter + 1). */
  counter: number; // u16
  terminalId: Uint8Array; // 4
  dateTime: Uint8Array; // 6, BCD YYMMDDhhmmss
}

/** MAC helper bound to a block cipher provider. */
export class PurseCrypto {
  constructor(readonly cipher: BlockCipherProvider) {}

  /** MAC(K, parts...) = ISO/IEC 9797-1 MAC algorithm 1, TDES, padding method 2, 8 bytes. */
  mac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
    return macIso9797Alg1(this.cipher, 'tdes', key, concatBytes(...parts), 2);
  }

  /** Constant-time check of an 8-byte MAC. */
  check(key: Uint8Array, mac: Uint8Array, ...parts: Uint8Array[]): boolean {
    return verifyMac(this.mac(key, ...parts), mac);
  }

  /** Card key K(CSN) = diversify(MK, CSN) (card/crypto/keyHierarchy.ts, EMV option A shape). */
  cardKey(master: Uint8Array, csn: Uint8Array): Uint8Array {
    return diversify(this.cipher, 'tdes', master, csn);
  }

  /**
   * Session key of a mutual authentication: SK = oddParity(TDES-ECB(K, RC ‖ RS)), i.e.
   * E_K(RC) ‖ E_K(RS) with DES parity (deriveSessionKey with a 16-byte R1). SK_auth uses K_auth,
   * SK_debit uses K_debit.
   */
  sessionKey(cardKey: Uint8Array, rc: Uint8Array, rs: Uint8Array): Uint8Array {
    return deriveSessionKey(this.cipher, cardKey, concatBytes(rc, rs), 'tdes');
  }

  /**
   * The card's side of MUTUAL AUTHENTICATE (docs/purse-spec.md §3.4): SK_auth from K_auth and both
   * challenges, the SAM's cryptogram checked, the card's made.
   * @returns SK_auth and S_card, or undefined (SK_auth wiped) when S_sam is wrong.
   */
  cardAuthenticate(
    kAuth: Uint8Array,
    rc: Uint8Array,
    rs: Uint8Array,
    sSam: Uint8Array,
    csn: Uint8Array,
  ): { skAuth: Uint8Array; sCard: Uint8Array } | undefined {
    const skAuth = this.sessionKey(kAuth, rc, rs);
    if (!this.check(skAuth, sSam, samCryptogramInput(rc, rs, csn))) {
      wipe(skAuth);
      return undefined;
    }
    return { skAuth, sCard: this.mac(skAuth, cardCryptogramInput(rc, rs, csn)) };
  }

  /** SK_credit = diversify(K_credit, RC): E_K(RC) ‖ E_K(RC ⊕ FF..FF) with parity. */
  creditSessionKey(creditKey: Uint8Array, rc: Uint8Array): Uint8Array {
    return deriveSessionKey(this.cipher, creditKey, rc, 'tdes');
  }
}

/** S_sam input: RC ‖ RS ‖ CSN (the SAM proves it knows K_auth(CSN)). */
export function samCryptogramInput(rc: Uint8Array, rs: Uint8Array, csn: Uint8Array): Uint8Array {
  return concatBytes(rc, rs, csn);
}

/** S_card input: RS ‖ RC ‖ CSN (the card proves it knows K_auth(CSN)). */
export function cardCryptogramInput(rc: Uint8Array, rs: Uint8Array, csn: Uint8Array): Uint8Array {
  return concatBytes(rs, rc, csn);
}

/**
 * DEBIT command MAC input (under SK_debit):
 * `80 54 00 purse ‖ CSN(8) ‖ purse(1) ‖ amount(4) ‖ counter(2) ‖ terminal(4) ‖ datetime(6) ‖ RV(8)`.
 */
export function debitMacInput(t: TransactionFields, rv: Uint8Array): Uint8Array {
  return concatBytes(
    Uint8Array.of(0x80, 0x54, 0x00, t.purse),
    t.csn,
    Uint8Array.of(t.purse),
    be32(t.amount),
    be16(t.counter),
    t.terminalId,
    t.dateTime,
    rv,
  );
}

/**
 * LOAD command MAC input (under SK_credit):
 * `80 52 00 purse ‖ CSN ‖ purse ‖ amount ‖ counter ‖ terminal ‖ datetime`.
 */
export function loadMacInput(t: TransactionFields): Uint8Array {
  return concatBytes(
    Uint8Array.of(0x80, 0x52, 0x00, t.purse),
    t.csn,
    Uint8Array.of(t.purse),
    be32(t.amount),
    be16(t.counter),
    t.terminalId,
    t.dateTime,
  );
}

/**
 * Log-record MAC input (under K_proof(CSN)); for a debit this MAC is the debit proof the SVM checks:
 * `type letter ('D' 44 / 'L' 4C) ‖ CSN ‖ purse ‖ amount ‖ counter ‖ balance-after(4) ‖ terminal ‖
 * datetime ‖ RV(8)` — RV is the SVM challenge of a debit, the card challenge RC of a load, and
 * seq(4) ‖ 00 00 00 00 of a remote load ('R' 52, issue 17; the terminal field is the seller id).
 */
export function recordMacInput(
  letter: 'D' | 'L' | 'R',
  t: TransactionFields,
  balanceAfter: number,
  rv: Uint8Array,
): Uint8Array {
  return concatBytes(
    ascii(letter),
    t.csn,
    Uint8Array.of(t.purse),
    be32(t.amount),
    be16(t.counter),
    be32(balanceAfter),
    t.terminalId,
    t.dateTime,
    rv,
  );
}

/** LOAD receipt input (under SK_credit): `'L' ‖ CSN ‖ purse ‖ amount ‖ counter ‖ balance-after ‖ terminal ‖ datetime`. */
export function loadReceiptInput(t: TransactionFields, balanceAfter: number): Uint8Array {
  return concatBytes(
    ascii('L'),
    t.csn,
    Uint8Array.of(t.purse),
    be32(t.amount),
    be16(t.counter),
    be32(balanceAfter),
    t.terminalId,
    t.dateTime,
  );
}

/** Signed purse status input (under K_proof): `'S' ‖ CSN ‖ purse ‖ balance(4) ‖ counter(2) ‖ RV(8)`. */
export function statusMacInput(
  csn: Uint8Array,
  purse: number,
  balance: number,
  counter: number,
  rv: Uint8Array,
): Uint8Array {
  return concatBytes(ascii('S'), csn, Uint8Array.of(purse), be32(balance), be16(counter), rv);
}

/**
 * BEGIN TRANSFER authorisation input (under K_svm):
 * `'T' ‖ RV ‖ CSN ‖ purse ‖ amount ‖ counter ‖ datetime`.
 */
export function transferAuthInput(
  rv: Uint8Array,
  csn: Uint8Array,
  purse: number,
  amount: number,
  counter: number,
  dateTime: Uint8Array,
): Uint8Array {
  return concatBytes(ascii('T'), rv, csn, Uint8Array.of(purse), be32(amount), be16(counter), dateTime);
}

/** TOKEN REQUEST authorisation input (under K_svm): `'K' ‖ meter id(3) ‖ units(2) ‖ SVM counter(4)`. */
export function tokenAuthInput(meterId: Uint8Array, units: number, svmCounter: number): Uint8Array {
  return concatBytes(ascii('K'), meterId, be16(units), be32(svmCounter));
}

/**
 * The meter core's TOKEN AUTH request input (under K_core): `'Q' ‖ meter id(3) ‖ units(2) ‖ SVM
 * counter(4)` — the core proves to its SAM that it, not some other device on the bus, asks.
 */
export function tokenCoreInput(meterId: Uint8Array, units: number, svmCounter: number): Uint8Array {
  return concatBytes(ascii('Q'), meterId, be16(units), be32(svmCounter));
}

/**
 * The SVM's TOKEN REQUEST grant input (under K_core): `'G' ‖ meter id(3) ‖ granted(2) ‖ balance
 * after(4) ‖ SVM counter(4)` — the core checks that the units it hands out were really granted.
 */
export function tokenGrantInput(
  meterId: Uint8Array,
  granted: number,
  balanceAfter: number,
  svmCounter: number,
): Uint8Array {
  return concatBytes(ascii('G'), meterId, be16(granted), be32(balanceAfter), be32(svmCounter));
}

/**
 * The SVM state signed for the meter core (under K_core): `'V' ‖ meter id(3) ‖ balance(4) ‖ SVM
 * counter(4) ‖ the core's challenge(8)` — what the core trusts when it settles a lost token answer.
 */
export function coreStateInput(
  meterId: Uint8Array,
  balance: number,
  svmCounter: number,
  challenge: Uint8Array,
): Uint8Array {
  return concatBytes(ascii('V'), meterId, be32(balance), be32(svmCounter), challenge);
}

/**
 * HOST CREDIT authorisation input (under K_svm):
 * `'H' ‖ meter id(3) ‖ amount(4) ‖ host tx id(8) ‖ RV(8)` — RV is the SVM's own single-use
 * challenge, so the authorisation is good for one HOST CREDIT in that one SVM, now, and never again.
 */
export function hostCreditAuthInput(
  meterId: Uint8Array,
  amount: number,
  txId: Uint8Array,
  rv: Uint8Array,
): Uint8Array {
  return concatBytes(ascii('H'), meterId, be32(amount), txId, rv);
}

/** Signed SVM state input (under K_svm): `'R' ‖ meter id(3) ‖ balance(4) ‖ SVM counter(4) ‖ challenge(8)`. */
export function svmStateMacInput(
  meterId: Uint8Array,
  balance: number,
  svmCounter: number,
  challenge: Uint8Array,
): Uint8Array {
  return concatBytes(ascii('R'), meterId, be32(balance), be32(svmCounter), challenge);
}

/**
 * Signed HOST CREDIT answer input (under K_svm): `'C' ‖ meter id(3) ‖ status(1) ‖ tx id(8) ‖
 * balance after(4) ‖ balance(4) ‖ R3(8)` — R3 is the SAM's host-session challenge.
 */
export function hostCreditAnswerInput(
  meterId: Uint8Array,
  status: number,
  txId: Uint8Array,
  balanceAfter: number,
  balance: number,
  r3: Uint8Array,
): Uint8Array {
  return concatBytes(ascii('C'), meterId, Uint8Array.of(status), txId, be32(balanceAfter), be32(balance), r3);
}

/**
 * HOST SETTLE authorisation input (under K_svm), issue 13: `'X' ‖ meter id(3) ‖ settle payload(25)
 * ‖ RV(8)`, the payload being decision(1) ‖ slot(1) ‖ CSN(8) ‖ purse(1) ‖ card counter(2) ‖
 * amount(4) ‖ host tx id(8) (docs/purse-spec.md §5.8). RV is the SVM's own single-use challenge:
 * good for one HOST SETTLE of that one pending entry, in that one SVM, now, and never again.
 */
export function hostSettleAuthInput(meterId: Uint8Array, payload: Uint8Array, rv: Uint8Array): Uint8Array {
  return concatBytes(ascii('X'), meterId, payload, rv);
}

/**
 * Signed HOST SETTLE answer input (under K_svm): `'Y' ‖ meter id(3) ‖ answer(63) ‖ R3(8)`, answer =
 * status(1) ‖ settle payload(25) ‖ balance(4) ‖ SVM counter(4) ‖ SVM log record(29) — R3 is the
 * SAM's host-session challenge.
 */
export function hostSettleAnswerInput(meterId: Uint8Array, answer: Uint8Array, r3: Uint8Array): Uint8Array {
  return concatBytes(ascii('Y'), meterId, answer, r3);
}

/**
 * SVM log record MAC input (under K_svm), issue 13 READ LOG: `'J' (4A) ‖ meter id(3) ‖ record(29)`
 * (docs/purse-spec.md §5.9). The meter id binds the record to its meter (two meters' logs can hold
 * the same bytes); 'J' starts no other K_svm input, so no other K_svm MAC passes for a log record.
 * No challenge: a record is a fact, replaying it is harmless (the host stores each once).
 */
export function svmLogMacInput(meterId: Uint8Array, record: Uint8Array): Uint8Array {
  return concatBytes(ascii('J'), meterId, record);
}

/**
 * Signed pending entry input (under K_svm), red team of issue 13 (READ PENDING P1 = 01,
 * docs/purse-spec.md §5.7): `'P' (50) ‖ meter id(3) ‖ slot(1) ‖ pending record(29) ‖ challenge(8)`.
 * READ PENDING P1 = 00 is unsigned, so the RV a meter reports for a pending transfer would be only
 * the meter's word; the host matches the card's debit proof against that RV before it settles
 * 'complete', so it must be the SVM's word, fresh for the host's session (challenge = R3).
 * 'P' starts no other K_svm input.
 */
export function pendingMacInput(
  meterId: Uint8Array,
  slot: number,
  record: Uint8Array,
  challenge: Uint8Array,
): Uint8Array {
  return concatBytes(ascii('P'), meterId, Uint8Array.of(slot), record, challenge);
}
