/**
 * The terminal side a conformance run drives a card under test with (docs/purse-spec.md §3): the
 * documented terminal's commands with the cryptograms and MACs computed from the lab's keys, each
 * exchange kept for the report.
 *
 * Why the MAC inputs are built here and not taken from the card's code: the checker is a second,
 * independent reading of the specification — a card that shares a mistake with its own helpers
 * would otherwise pass.
 */
import {
  AID_PURSE,
  CommandApdu,
  PurseCrypto,
  PurseState,
  ResponseApdu,
  be16,
  be32,
  concatBytes,
  describeAppletSw,
  equalBytes,
  findTlv,
  loadMacInput,
  loadReceiptInput,
  toHex,
  u16,
  u32,
  verifyMac,
} from '../../card/index.js';
import type { BlockCipherProvider, Rng } from '../../card/index.js';
import type { CardChannel } from '../../reader/index.js';
import * as A from '../apdus.js';
import type { PurseKeys } from './ConformanceKeys.js';

/** A check of a case did not hold: the case fails with this message. */
export class CaseFailure extends Error {
  override readonly name = 'CaseFailure';
}

/** A case cannot run on this card (no PIN, a single purse…): reported as skipped with the reason. */
export class CaseSkipped extends Error {
  override readonly name = 'CaseSkipped';
}

/** "6A88 (no such purse / …)" for messages. */
export function swText(sw: number): string {
  return describeAppletSw(sw);
}

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** S_sam input RC ‖ RS ‖ CSN (§3.4). */
export const samCryptogram = (rc: Uint8Array, rs: Uint8Array, csn: Uint8Array): Uint8Array =>
  concatBytes(rc, rs, csn);
/** S_card input RS ‖ RC ‖ CSN (§3.4). */
export const cardCryptogram = (rc: Uint8Array, rs: Uint8Array, csn: Uint8Array): Uint8Array =>
  concatBytes(rs, rc, csn);

/** The fields a DEBIT, a LOAD and their log record share (§3.1, §3.6, §3.7). */
export interface Tx {
  csn: Uint8Array;
  purse: number;
  amount: number;
  counter: number;
  terminalId: Uint8Array;
  dateTime: Uint8Array;
}

/** DEBIT MAC input: `80 54 00 purse ‖ CSN ‖ purse ‖ amount ‖ counter ‖ terminal ‖ date-time ‖ RV` (§3.6). */
export function debitInput(t: Tx, rv: Uint8Array): Uint8Array {
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

/** Log record / debit proof MAC input under K_proof (§3.1). */
export function recordInput(letter: 'D' | 'L', t: Tx, after: number, rv: Uint8Array): Uint8Array {
  return concatBytes(
    ascii(letter),
    t.csn,
    Uint8Array.of(t.purse),
    be32(t.amount),
    be16(t.counter),
    be32(after),
    t.terminalId,
    t.dateTime,
    rv,
  );
}

/** Signed status input `'S' ‖ CSN ‖ purse ‖ balance ‖ counter ‖ RV` (§3.5). */
export function statusInput(
  csn: Uint8Array,
  purse: number,
  balance: number,
  counter: number,
  rv: Uint8Array,
): Uint8Array {
  return concatBytes(ascii('S'), csn, Uint8Array.of(purse), be32(balance), be16(counter), rv);
}

/** An open SAM session as the terminal knows it. */
export interface Session {
  rc: Uint8Array;
  rs: Uint8Array;
  skDebit: Uint8Array;
}

/** The documented terminal over a channel, with an exchange log. */
export class CardProbe {
  readonly crypto: PurseCrypto;
  /** Exchanges of the current case, as "> …" / "< …" lines. */
  log: string[] = [];
  csn: Uint8Array = new Uint8Array(8);
  purses: number[] = [];
  purse = 1;
  keys: PurseKeys | undefined;
  /** A PIN to present after each SELECT when the card asks for one. */
  pin: Uint8Array | undefined;

  constructor(
    readonly channel: CardChannel,
    cipher: BlockCipherProvider,
    readonly rng: Rng,
    readonly terminalId: Uint8Array,
    readonly dateTime: Uint8Array,
  ) {
    this.crypto = new PurseCrypto(cipher);
  }

  /** The purse keys; a case that needs them is skipped without them. */
  k(): PurseKeys {
    if (!this.keys) throw new CaseSkipped(`no keys for purse ${this.purse} of this card`);
    return this.keys;
  }

  async send(cmd: CommandApdu): Promise<ResponseApdu> {
    this.log.push(`> ${toHex(cmd.encode())}`);
    const r = await this.channel.transmit(cmd);
    this.log.push(`< ${toHex(r.encode())}`);
    return r;
  }

  /** Sends `cmd` and fails the case unless the card answers `sw`. */
  async expectSw(cmd: CommandApdu, sw: number, what: string): Promise<ResponseApdu> {
    const r = await this.send(cmd);
    if (r.sw !== sw)
      throw new CaseFailure(
        `${what}: the card answered ${swText(r.sw)}, the specification says ${swText(sw)}`,
      );
    return r;
  }

  async ok(cmd: CommandApdu, what: string): Promise<Uint8Array> {
    return (await this.expectSw(cmd, 0x9000, what)).data;
  }

  check(cond: boolean, what: string): void {
    if (!cond) throw new CaseFailure(what);
  }

  async reset(): Promise<void> {
    this.log.push('! reset');
    await this.channel.reset();
  }

  /** SELECT the purse application (ends any session, §3.1) and presents the PIN when given. */
  async select(): Promise<Uint8Array> {
    const fci = await this.ok(A.selectAid(AID_PURSE), 'SELECT');
    if (this.pin) await this.ok(A.verifyPin(this.pin), 'VERIFY (the PIN given to the run)');
    return fci;
  }

  async readPurse(purse = this.purse): Promise<PurseState> {
    const d = await this.ok(A.readPurse(purse), 'READ PURSE');
    this.check(d.length === 17, `READ PURSE answered ${d.length} bytes, not 17`);
    return PurseState.decode(d);
  }

  async challenge(): Promise<Uint8Array> {
    const rc = await this.ok(A.getChallenge(), 'GET CHALLENGE');
    this.check(rc.length === 8, `GET CHALLENGE answered ${rc.length} bytes, not 8`);
    return rc;
  }

  /** GET CHALLENGE + MUTUAL AUTHENTICATE for the purse under test; S_card checked (§3.4). */
  async authenticate(): Promise<Session> {
    const k = this.k();
    const rc = await this.challenge();
    const rs = this.rng.bytes(8);
    const skAuth = this.crypto.sessionKey(k.auth, rc, rs);
    const sSam = this.crypto.mac(skAuth, samCryptogram(rc, rs, this.csn));
    const sCard = await this.ok(A.mutualAuthenticate(rs, sSam, this.purse), 'MUTUAL AUTHENTICATE');
    this.check(sCard.length === 8, `MUTUAL AUTHENTICATE answered ${sCard.length} bytes, not 8`);
    this.check(
      verifyMac(this.crypto.mac(skAuth, cardCryptogram(rc, rs, this.csn)), sCard),
      'S_card is not MAC(SK_auth, RS ‖ RC ‖ CSN)',
    );
    return { rc, rs, skDebit: this.crypto.sessionKey(k.debit, rc, rs) };
  }

  tx(amount: number, counter: number, dateTime = this.dateTime, purse = this.purse): Tx {
    return { csn: this.csn, purse, amount, counter, terminalId: this.terminalId, dateTime };
  }

  /** A DEBIT of `amount` at `counter` (current + 1) with the session's MAC (`flip` spoils it). */
  debitCommand(s: Session, t: Tx, rv: Uint8Array, flip = false): CommandApdu {
    const mac = this.crypto.mac(s.skDebit, debitInput(t, rv));
    if (flip) mac[0]! ^= 0x01;
    return A.debit(t.purse, t.amount, t.terminalId, t.dateTime, rv, mac);
  }

  /** A LOAD of `t` for the card challenge `rc` with K_credit (§3.7). */
  loadCommand(rc: Uint8Array, t: Tx, flip = false): { cmd: CommandApdu; sk: Uint8Array } {
    const sk = this.crypto.creditSessionKey(this.k().credit, rc);
    const mac = this.crypto.mac(sk, loadMacInput(t));
    if (flip) mac[0]! ^= 0x01;
    return { cmd: A.load(t.purse, t.amount, t.terminalId, t.dateTime, mac), sk };
  }

  /**
   * LOAD `amount` (GET CHALLENGE first) and check the answer and receipt.
   * @returns the balance after, the counter and the card challenge (the load record's RV).
   */
  async load(amount: number): Promise<{ balance: number; counter: number; rc: Uint8Array; t: Tx }> {
    const before = await this.readPurse();
    const rc = await this.challenge();
    const t = this.tx(amount, before.counter + 1);
    const { cmd, sk } = this.loadCommand(rc, t);
    const r = await this.ok(cmd, 'LOAD');
    this.check(r.length === 14, `LOAD answered ${r.length} bytes, not 14`);
    const balance = u32(r, 0);
    const counter = u16(r, 4);
    this.check(
      balance === before.balance + amount,
      `LOAD: balance after ${balance}, expected ${before.balance + amount}`,
    );
    this.check(counter === t.counter, `LOAD: counter ${counter}, expected ${t.counter}`);
    this.check(
      verifyMac(this.crypto.mac(sk, loadReceiptInput(t, balance)), r.subarray(6, 14)),
      'LOAD receipt is not MAC(SK_credit, L ‖ CSN ‖ purse ‖ amount ‖ counter ‖ balance after ‖ terminal ‖ date-time)',
    );
    return { balance, counter, rc, t };
  }

  /** Authenticate and DEBIT `amount`; checks the answer and the debit proof under K_proof. */
  async debit(
    amount: number,
  ): Promise<{ balance: number; counter: number; rv: Uint8Array; t: Tx; cmd: CommandApdu }> {
    const s = await this.authenticate();
    const before = await this.readPurse();
    const rv = this.rng.bytes(8);
    const t = this.tx(amount, before.counter + 1);
    const cmd = this.debitCommand(s, t, rv);
    const r = await this.ok(cmd, 'DEBIT');
    this.check(r.length === 14, `DEBIT answered ${r.length} bytes, not 14`);
    const balance = u32(r, 0);
    const counter = u16(r, 4);
    this.check(
      balance === before.balance - amount,
      `DEBIT: balance after ${balance}, expected ${before.balance - amount}`,
    );
    this.check(counter === t.counter, `DEBIT: counter ${counter}, expected ${t.counter}`);
    this.check(
      verifyMac(this.crypto.mac(this.k().proof, recordInput('D', t, balance, rv)), r.subarray(6, 14)),
      'the debit proof is not MAC(K_proof, D ‖ CSN ‖ purse ‖ amount ‖ counter ‖ balance after ‖ terminal ‖ date-time ‖ RV)',
    );
    return { balance, counter, rv, t, cmd };
  }

  /** Reads the FCI: CSN, purse ids. */
  readFci(fci: Uint8Array): { csn?: Uint8Array; purses?: Uint8Array } {
    const csn = findTlv(fci, 0x5a);
    const purses = findTlv(fci, 0xc2);
    return { ...(csn ? { csn } : {}), ...(purses ? { purses } : {}) };
  }

  same(a: Uint8Array, b: Uint8Array): boolean {
    return equalBytes(a, b);
  }
}
