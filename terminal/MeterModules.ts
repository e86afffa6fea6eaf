/**
 * The terminal side of the purse protocol inside a meter (docs/purse-spec.md §6): a meter's SAM
 * and SVM, reached through `CardChannel`s, and the card in its slot. Written against channels
 * only, so the meter core's card slot (and a PC/SC test bench) can run it unchanged.
 */
import type { CardChannel } from '../reader/index.js';
import type { CommandApdu } from '../card/index.js';
import type { ResponseApdu } from '../card/index.js';
import { MalformedDataError } from '../card/index.js';
import { findTlv } from '../card/index.js';
import { SW_NO_ERROR } from '../card/index.js';
import { concatBytes, equalBytes } from '../card/index.js';
import { u16, u32 } from '../card/index.js';
import type { BlockCipherProvider } from '../card/index.js';
import { PurseCrypto, coreStateInput, tokenCoreInput, tokenGrantInput } from '../card/index.js';
import type { Rng } from '../card/index.js';
import { SystemRng } from '../card/index.js';
import { AID_SAM, AID_SVM, HOST_VALUE_STORE } from '../card/index.js';
import { PendingTransfer } from '../card/index.js';
import * as A from './apdus.js';
import { TransferError } from './TransferError.js';

/** Sends `cmd` and returns the response data; any SW other than 9000 is a TransferError. */
export async function expectOk(ch: CardChannel, cmd: CommandApdu, step: string): Promise<Uint8Array> {
  const r: ResponseApdu = await ch.transmit(cmd);
  if (r.sw !== SW_NO_ERROR) throw new TransferError(step, r.sw);
  return r.data;
}

/** What READ STATE of the SVM says. */
export interface SvmState {
  balance: number;
  max: number;
  counter: number;
  meterId: Uint8Array;
  pending?: { csn: Uint8Array; purse: number; amount: number; counter: number };
}

export function decodeSvmState(d: Uint8Array): SvmState {
  if (d.length !== 16 && d.length !== 31)
    throw new MalformedDataError(`SVM state is 16 or 31 bytes, got ${d.length}`, 0, d, 'svm state');
  const s: SvmState = { balance: u32(d, 0), max: u32(d, 4), counter: u32(d, 8), meterId: d.slice(12, 15) };
  if (d[15] === 1 && d.length === 31)
    s.pending = { csn: d.slice(16, 24), purse: d[24]!, amount: u32(d, 25), counter: u16(d, 29) };
  return s;
}

/**
 * The meter core's own key K_core (IssuerKeys.coreKey): with it the core asks its SAM for token
 * authorisations and checks the SVM's grants (docs/purse-spec.md §8). Held by the meter core,
 * never by a card.
 */
export interface MeterCore {
  key: Uint8Array;
  cipher: BlockCipherProvider;
  /** The core's challenges for signed SVM states; default system randomness. */
  rng?: Rng;
}

/** The SAM and SVM of one meter, selected. */
export class MeterModules {
  #r3: Uint8Array | undefined;
  readonly #core: { key: Uint8Array; crypto: PurseCrypto; rng: Rng } | undefined;

  private constructor(
    readonly sam: CardChannel,
    readonly svm: CardChannel,
    readonly meterId: Uint8Array,
    readonly terminalId: Uint8Array,
    /** The purse (utility) the SAM and SVM serve: the only purse this meter can take value from. */
    readonly purse: number,
    /** The seed-000 KT versions the SAM holds (FCI tag C6, one byte each; empty when it names none). */
    readonly ktVersions: readonly number[],
    core: MeterCore | undefined,
  ) {
    this.#core = core
      ? { key: core.key.slice(), crypto: new PurseCrypto(core.cipher), rng: core.rng ?? new SystemRng() }
      : undefined;
  }

  /**
   * Selects the SAM and SVM applets (at meter power-up) and checks they are a pair of one utility.
   * `core` is the meter core's key, needed for token requests only.
   * @throws TransferError when a selection fails or the two belong to different meters or utilities.
   */
  static async open(sam: CardChannel, svm: CardChannel, core?: MeterCore): Promise<MeterModules> {
    const samFci = await expectOk(sam, A.selectAid(AID_SAM), 'SELECT SAM');
    const svmFci = await expectOk(svm, A.selectAid(AID_SVM), 'SELECT SVM');
    const meterId = findTlv(samFci, 0xc4);
    const terminalId = findTlv(samFci, 0xc5);
    const purse = findTlv(samFci, 0xc7);
    if (!meterId || !terminalId || purse?.length !== 1)
      throw new TransferError('SELECT SAM', undefined, 'FCI lacks meter id / terminal id / purse');
    if (!equalBytes(meterId, findTlv(svmFci, 0xc4) ?? new Uint8Array(0)))
      throw new TransferError('SELECT SVM', undefined, 'the SVM belongs to another meter');
    if (!equalBytes(purse, findTlv(svmFci, 0xc7) ?? new Uint8Array(0)))
      throw new TransferError('SELECT SVM', undefined, 'the SVM serves another utility than the SAM');
    if (!equalBytes(findTlv(samFci, 0xc8) ?? new Uint8Array(0), findTlv(svmFci, 0xc8) ?? Uint8Array.of(0xff)))
      throw new TransferError(
        'SELECT SVM',
        undefined,
        "the SVM is not the SAM's pair (another pairing number)",
      );
    const kt = [...(findTlv(samFci, 0xc6) ?? [])];
    return new MeterModules(sam, svm, meterId, terminalId, purse[0]!, kt, core);
  }

  #coreKey(step: string): { key: Uint8Array; crypto: PurseCrypto; rng: Rng } {
    if (!this.#core) throw new TransferError(step, undefined, 'no meter core key: token requests need one');
    return this.#core;
  }

  /**
   * SAM TOKEN AUTH for `units` at SVM counter `counter` (the current one + 1), asked by the meter
   * core with its MAC under K_core. @returns the SAM's authorisation for TOKEN REQUEST.
   */
  async authoriseTokens(units: number, counter: number): Promise<Uint8Array> {
    const c = this.#coreKey('SAM TOKEN AUTH');
    const coreMac = c.crypto.mac(c.key, tokenCoreInput(this.meterId, units, counter));
    return expectOk(this.sam, A.tokenAuth(units, counter, coreMac), 'SAM TOKEN AUTH');
  }

  /**
   * SVM TOKEN REQUEST with the SAM's authorisation; the grant is checked against its MAC under
   * K_core before the core believes it.
   * @throws TransferError on a refusal or a grant whose MAC is wrong (nothing is handed out).
   */
  async takeTokens(
    units: number,
    counter: number,
    mac: Uint8Array,
  ): Promise<{ granted: number; balance: number }> {
    const c = this.#coreKey('SVM TOKEN REQUEST');
    const r = await expectOk(this.svm, A.tokenRequest(units, counter, mac), 'SVM TOKEN REQUEST');
    if (r.length !== 14)
      throw new TransferError('SVM TOKEN REQUEST', undefined, `answer is ${r.length} bytes, not 14`);
    const granted = u16(r, 0);
    const balance = u32(r, 2);
    if (!c.crypto.check(c.key, r.subarray(6, 14), tokenGrantInput(this.meterId, granted, balance, counter)))
      throw new TransferError('SVM TOKEN REQUEST', undefined, "grant MAC wrong: not this meter's SVM");
    return { granted, balance };
  }

  /**
   * READ STATE signed for the meter core (P1 = 02, the core's fresh challenge, MAC under K_core):
   * what the core trusts when it settles a token request whose answer it lost.
   * @throws TransferError when the MAC is wrong (not this meter's SVM, or a forged answer).
   */
  async readStateVerified(): Promise<SvmState> {
    const c = this.#coreKey('SVM READ STATE (signed)');
    const challenge = c.rng.bytes(8);
    const r = await expectOk(this.svm, A.readStateForCore(challenge), 'SVM READ STATE (signed)');
    if (r.length < 24)
      throw new TransferError('SVM READ STATE (signed)', undefined, `answer is ${r.length} bytes`);
    const st = decodeSvmState(r.subarray(0, r.length - 8));
    if (
      !c.crypto.check(
        c.key,
        r.subarray(r.length - 8),
        coreStateInput(this.meterId, st.balance, st.counter, challenge),
      )
    )
      throw new TransferError('SVM READ STATE (signed)', undefined, "state MAC wrong: not this meter's SVM");
    return st;
  }

  async readState(): Promise<SvmState> {
    return decodeSvmState(await expectOk(this.svm, A.readState(), 'SVM READ STATE'));
  }

  /**
   * Seed 000 steps 10-12 (host to meter): HOST INIT in the SAM.
   * @returns S1t and R3 for the host.
   */
  async hostInit(n: number, r1: Uint8Array, r2: Uint8Array): Promise<{ s1t: Uint8Array; r3: Uint8Array }> {
    const r = await expectOk(this.sam, A.hostInit(n, r1, r2), 'SAM HOST INIT');
    this.#r3 = r.slice(8, 16);
    return { s1t: r.slice(0, 8), r3: r.slice(8, 16) };
  }

  /**
   * Seed 000 steps 14-16 for the value store command (H = 51): SVM GET CHALLENGE (RV), SAM HOST
   * COMMAND (checks S2h, decrypts EnAmnt, authorises the SVM for RV), SVM HOST CREDIT (exactly once
   * per tx id; signed answer for R3), SAM HOST FINISH -> M = E(status ‖ tx id ‖ balance after ‖
   * balance ‖ ID, Ks).
   * @returns M for the host, and the SVM's answer in clear for the meter's display.
   * @throws TransferError on any refusal (6300 for a wrong S2h).
   */
  async hostValueStore(
    enAmnt: Uint8Array,
    s2h: Uint8Array,
  ): Promise<{
    m: Uint8Array;
    status: number;
    amount: number;
    txId: Uint8Array;
    balanceAfter: number;
    balance: number;
  }> {
    const r3 = this.#r3;
    if (!r3) throw new TransferError('SAM HOST COMMAND', undefined, 'no host session (hostInit first)');
    const rv = await expectOk(this.svm, A.getChallenge(), 'SVM GET CHALLENGE');
    const auth = await expectOk(
      this.sam,
      A.hostCommand(HOST_VALUE_STORE, concatBytes(enAmnt, s2h, rv)),
      'SAM HOST COMMAND',
    );
    const amount = u32(auth, 0);
    const txId = auth.slice(4, 12);
    const answer = await expectOk(
      this.svm,
      A.hostCredit(amount, txId, auth.subarray(12, 20), r3),
      'SVM HOST CREDIT',
    );
    const m = await expectOk(this.sam, A.hostFinish(HOST_VALUE_STORE, answer), 'SAM HOST FINISH');
    this.#r3 = undefined;
    return { m, status: answer[0]!, amount, txId, balanceAfter: u32(answer, 9), balance: u32(answer, 13) };
  }

  /**
   * Seed 000 steps 24 / 34: the SAM checks S2h over a tariff-mode (H = 52) or usage-check (H = 53)
   * payload and hands back the authenticated payload for the meter core to apply.
   */
  async hostAuthenticated(
    h: 0x52 | 0x53 | 0x55 | 0x56,
    payload: Uint8Array,
    s2h: Uint8Array,
  ): Promise<Uint8Array> {
    return expectOk(this.sam, A.hostCommand(h, concatBytes(payload, s2h)), 'SAM HOST COMMAND');
  }

  /**
   * Steps 26 / 36 with the meter core's answer: the SVM state signed for R3, then SAM HOST FINISH
   * P1 = H, which puts the SVM's balance and the meter id into the answer and encrypts it under Ks
   * (Ks never leaves the SAM): H = 52 `body` = status ‖ activation RTC(6); H = 53 `body` = Info up
   * to its flags byte (docs/host-protocol.md, docs/purse-spec.md §4).
   * @returns M for the host and the balance the SVM signed.
   * @throws TransferError on any refusal (6985 when this session authenticated another command).
   */
  async hostFinishAnswer(
    h: 0x52 | 0x53 | 0x55 | 0x56,
    body: Uint8Array,
  ): Promise<{ m: Uint8Array; balance: number }> {
    const r3 = this.#r3;
    if (!r3) throw new TransferError('SAM HOST FINISH', undefined, 'no host session (hostInit first)');
    const st = await expectOk(this.svm, A.readStateSigned(r3), 'SVM READ STATE (signed)');
    const signed = concatBytes(st.subarray(0, 4), st.subarray(8, 12), st.subarray(st.length - 8));
    const parts = A.hostFinishChained(h, concatBytes(signed, body));
    for (const part of parts.slice(0, -1)) await expectOk(this.sam, part, 'SAM HOST FINISH (chained part)');
    const m = await expectOk(this.sam, parts[parts.length - 1]!, 'SAM HOST FINISH');
    this.#r3 = undefined;
    return { m, balance: u32(st, 0) };
  }

  /** R3 of the open host session, for a host command run outside this class (terminal/clearing). */
  hostChallenge(step: string): Uint8Array {
    if (!this.#r3) throw new TransferError(step, undefined, 'no host session (hostInit first)');
    return this.#r3.slice();
  }

  /** Forgets the host session once its HOST FINISH answered (the SAM ended it). */
  endHostSession(): void {
    this.#r3 = undefined;
  }

  /** Steps 16 / 26 / 36: M = Encrypt(Balance ‖ ID, Ks) over the SVM state signed for R3. */
  async hostFinish(): Promise<{ m: Uint8Array; balance: number }> {
    const r3 = this.#r3;
    if (!r3) throw new TransferError('SAM HOST FINISH', undefined, 'no host session (hostInit first)');
    const st = await expectOk(this.svm, A.readStateSigned(r3), 'SVM READ STATE (signed)');
    const mac = st.subarray(st.length - 8);
    const m = await expectOk(
      this.sam,
      A.hostFinish(0, concatBytes(st.subarray(0, 4), st.subarray(8, 12), mac)),
      'SAM HOST FINISH',
    );
    this.#r3 = undefined;
    return { m, balance: u32(st, 0) };
  }
}

export { PendingTransfer };
