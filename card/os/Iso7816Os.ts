/**
 * An ISO/IEC 7816-4 card operating system: power and reset, logical channels, SELECT of
 * applets and files, a handler table by INS, the interindustry file and security commands,
 * secure messaging around dispatch, and the T=0 / T=1 response rules. The only place where
 * exceptions become status words (STYLE.md rule 4).
 *
 * Response length rules (the choice for T=1 is documented in docs/card-runtime.md):
 * ```
 *  T=1  Le absent            data dropped, SW only (Ne = 0, 7816-4 §5.1)
 *       Nr ≤ Ne              data ‖ SW
 *       Nr > Ne              first Ne bytes ‖ 61xx, the rest by GET RESPONSE (7816-4 §5.3.4)
 *  T=0  case 3/4 with data   61xx, the data by GET RESPONSE (7816-3 §12.2.3)
 *       case 2, Nr = Ne      data ‖ SW
 *       case 2, Le=00, Nr>256  256 bytes ‖ 61xx
 *       case 2, Nr ≠ Ne      6Cxx (xx = Nr, 00 for 256 or more); the terminal re-sends the
 *                            command with Le = xx and it is executed again (case 2 commands read)
 *       extended APDU        6700 (T=0 carries extended lengths only inside ENVELOPE)
 *  GET RESPONSE              chunks of at most Ne (≤ 256 in T=0), 61xx while more remains,
 *                            then the command's own SW
 * ```
 */
import type { BlockCipherProvider, Rng } from '../crypto/types.js';
import { CommandApdu } from '../iso7816/CommandApdu.js';
import { MalformedDataError, SwError } from '../iso7816/errors.js';
import { ResponseApdu } from '../iso7816/ResponseApdu.js';
import {
  SW_BYTES_REMAINING_00,
  SW_CLA_NOT_SUPPORTED,
  SW_COMMAND_CHAINING_NOT_SUPPORTED,
  SW_LAST_COMMAND_OF_CHAIN_EXPECTED,
  SW_CONDITIONS_NOT_SATISFIED,
  SW_CORRECT_LENGTH_00,
  SW_FILE_NOT_FOUND,
  SW_FUNCTION_NOT_SUPPORTED,
  SW_INCORRECT_P1P2,
  SW_INS_NOT_SUPPORTED,
  SW_LOGICAL_CHANNEL_NOT_SUPPORTED,
  SW_MEMORY_FAILURE,
  SW_NO_ERROR,
  SW_NOT_ENOUGH_MEMORY,
  SW_SECURE_MESSAGING_NOT_SUPPORTED,
  SW_UNKNOWN,
  SW_WRONG_DATA,
  SW_WRONG_LENGTH,
} from '../iso7816/sw.js';
import {
  INS_APPEND_RECORD,
  INS_READ_BINARY,
  INS_READ_RECORD,
  INS_SELECT,
  INS_UPDATE_BINARY,
  INS_UPDATE_RECORD,
  appendRecord,
  readBinary,
  readRecord,
  selectFile,
  selectResponse,
  selectResponseKind,
  updateBinary,
  updateRecord,
} from '../fs/FileCommands.js';
import type { DfSpec } from '../fs/FileSpec.js';
import { FileSystem } from '../fs/FileSystem.js';
import type { DfNode } from '../fs/nodes.js';
import { KeyStore, type KeySpec } from '../security/KeyStore.js';
import { PinManager, type PinSpec } from '../security/PinManager.js';
import { unwrapCommand, wrapResponse } from '../security/SecureMessaging.js';
import {
  INS_CHANGE_REFERENCE_DATA,
  INS_EXTERNAL_AUTHENTICATE,
  INS_GET_CHALLENGE,
  INS_INTERNAL_AUTHENTICATE,
  INS_RESET_RETRY_COUNTER,
  INS_VERIFY,
  changeReferenceData,
  externalOrMutualAuthenticate,
  getChallenge,
  internalAuthenticate,
  resetRetryCounter,
  verify,
} from '../security/SecurityCommands.js';
import { StoreCapacityError, StoreStateError } from '../store/errors.js';
import type { PersistentStore } from '../store/PersistentStore.js';
import { CardPowerLostError, type CardOs } from './CardOs.js';
import {
  SILENT_LOGGER,
  type Applet,
  type CardLogger,
  type CardServices,
  type CommandContext,
  type Handler,
} from './Applet.js';
import { ChannelState } from './ChannelState.js';
import { decodeCla, type ClassByte } from './cla.js';

export const INS_MANAGE_CHANNEL = 0x70;
export const INS_GET_RESPONSE = 0xc0;
export const MAX_CHANNELS = 20;

export interface Iso7816OsOptions {
  atr: Uint8Array;
  protocol: 'T=0' | 'T=1';
  store: PersistentStore;
  /** The file tree; the MF (3F00) at the root. */
  fs: DfSpec;
  pins?: readonly PinSpec[];
  keys?: readonly KeySpec[];
  applets?: readonly Applet[];
  /** True for a fresh card: write the initial contents into the store. */
  personalise: boolean;
  cipher: BlockCipherProvider;
  rng: Rng;
  logger?: CardLogger;
  /** Logical channels supported, 1..20 (default 4). */
  channels?: number;
  /** Extended Lc/Le accepted (T=1 only; default true for T=1). */
  extendedLength?: boolean;
}

const EMPTY = new Uint8Array(0);

function withSw(data: Uint8Array, sw: number): Uint8Array {
  const out = new Uint8Array(data.length + 2);
  out.set(data, 0);
  out[data.length] = (sw >> 8) & 0xff;
  out[data.length + 1] = sw & 0xff;
  return out;
}

function swOnly(sw: number): Uint8Array {
  return Uint8Array.of((sw >> 8) & 0xff, sw & 0xff);
}

const BUILTIN = new Map<number, Handler>([
  [INS_READ_BINARY, readBinary],
  [INS_UPDATE_BINARY, updateBinary],
  [INS_READ_RECORD, readRecord],
  [INS_UPDATE_RECORD, updateRecord],
  [INS_APPEND_RECORD, appendRecord],
  [INS_VERIFY, verify],
  [INS_CHANGE_REFERENCE_DATA, changeReferenceData],
  [INS_RESET_RETRY_COUNTER, resetRetryCounter],
  [INS_GET_CHALLENGE, getChallenge],
  [INS_EXTERNAL_AUTHENTICATE, externalOrMutualAuthenticate],
  [INS_INTERNAL_AUTHENTICATE, internalAuthenticate],
]);

export class Iso7816Os implements CardOs {
  readonly atr: Uint8Array;
  readonly protocol: 'T=0' | 'T=1';
  readonly services: CardServices;
  readonly applets: readonly Applet[];
  readonly maxChannels: number;
  readonly extendedLength: boolean;
  readonly #channels: (ChannelState<Applet> | undefined)[];
  #powered = false;

  /**
   * Builds the card: the file system, PINs and keys allocate their store regions in that
   * order, then each applet's `install` in registration order.
   * @throws TypeError / RangeError naming the field of a bad option or spec.
   */
  constructor(o: Iso7816OsOptions) {
    if (!(o.atr instanceof Uint8Array) || o.atr.length < 2 || o.atr.length > 33)
      throw new RangeError('atr must be 2..33 bytes');
    if (o.protocol !== 'T=0' && o.protocol !== 'T=1') throw new RangeError("protocol must be 'T=0' or 'T=1'");
    const channels = o.channels ?? 4;
    if (!Number.isInteger(channels) || channels < 1 || channels > MAX_CHANNELS)
      throw new RangeError(`channels must be 1..${MAX_CHANNELS}`);
    this.atr = Uint8Array.from(o.atr);
    this.protocol = o.protocol;
    this.maxChannels = channels;
    this.extendedLength = o.protocol === 'T=1' && (o.extendedLength ?? true);
    const fs = new FileSystem(o.fs, o.store, o.personalise);
    const pins = new PinManager(o.store, o.pins ?? [], o.personalise);
    const keys = new KeyStore(o.keys ?? [], o.store, o.personalise);
    this.services = Object.freeze({
      store: o.store,
      fs,
      pins,
      keys,
      cipher: o.cipher,
      rng: o.rng,
      logger: o.logger ?? SILENT_LOGGER,
      protocol: o.protocol,
    });
    const aids = new Set<string>();
    for (const a of o.applets ?? []) {
      if (!(a.aid instanceof Uint8Array) || a.aid.length < 1 || a.aid.length > 16)
        throw new RangeError('applet aid must be 1..16 bytes');
      const key = Buffer.from(a.aid).toString('hex');
      if (aids.has(key)) throw new RangeError(`two applets with AID ${key}`);
      aids.add(key);
    }
    this.applets = [...(o.applets ?? [])];
    for (const a of this.applets) a.install?.(this.services, o.personalise);
    this.#channels = new Array<ChannelState<Applet> | undefined>(channels).fill(undefined);
  }

  get store(): PersistentStore {
    return this.services.store;
  }

  get fs(): FileSystem {
    return this.services.fs;
  }

  get powered(): boolean {
    return this.#powered;
  }

  /** The open channel `n`, or undefined (for tests and diagnostics). */
  channel(n: number): ChannelState<Applet> | undefined {
    return this.#channels[n];
  }

  /**
   * Cold reset: recovers a torn transaction, clears every volatile state, opens the basic
   * channel with the MF selected.
   * @throws CardPowerLostError when a tear is armed to cut the recovery itself.
   */
  powerUp(): Uint8Array {
    this.#clearVolatile();
    this.services.store.recover();
    this.#powered = true;
    return this.atr.slice();
  }

  /** Warm reset (7816-3 §6.2.3): volatile state cleared, persistent state kept. */
  reset(): Uint8Array {
    if (!this.#powered) return this.powerUp();
    this.#clearVolatile();
    return this.atr.slice();
  }

  powerDown(): void {
    this.#powered = false;
    this.#clearVolatile();
  }

  #clearVolatile(): void {
    for (const ch of this.#channels) ch?.security.clear();
    this.#channels.fill(undefined);
    this.#channels[0] = new ChannelState<Applet>(0, this.services.fs.mf);
    this.services.store.abort();
    for (const a of this.applets) a.reset?.();
  }

  /**
   * Executes one command APDU. Every outcome is a response ending in SW1 SW2.
   * @throws CardPowerLostError when the card is not powered or a tear cuts the power.
   */
  transmit(command: Uint8Array): Uint8Array {
    if (!this.#powered) throw new CardPowerLostError('card is not powered');
    let apdu: CommandApdu;
    try {
      apdu = CommandApdu.decode(command);
    } catch (e) {
      if (e instanceof MalformedDataError) return swOnly(SW_WRONG_LENGTH);
      this.services.logger.error('unexpected error decoding a command', e);
      return swOnly(SW_UNKNOWN);
    }
    try {
      return this.#process(apdu);
    } catch (e) {
      return swOnly(this.#statusOf(e));
    } finally {
      // A handler that began a transaction and did not finish it loses it: never half a command.
      if (this.services.store.inTransaction) this.services.store.abort();
    }
  }

  /** Maps an exception to a status word; rethrows a power loss after dropping volatile state. */
  #statusOf(e: unknown): number {
    if (e instanceof CardPowerLostError) {
      this.powerDown();
      throw e;
    }
    if (e instanceof SwError) return e.sw;
    if (e instanceof MalformedDataError) return SW_WRONG_DATA;
    if (e instanceof StoreCapacityError) return SW_NOT_ENOUGH_MEMORY;
    if (e instanceof StoreStateError) {
      this.services.logger.error('store used out of protocol', e);
      return SW_MEMORY_FAILURE;
    }
    this.services.logger.error('unexpected error while processing a command', e);
    return SW_UNKNOWN;
  }

  #process(received: CommandApdu): Uint8Array {
    const cla = decodeCla(received.cla);
    if (!cla) return swOnly(SW_CLA_NOT_SUPPORTED);
    const ch = cla.channel < this.maxChannels ? this.#channels[cla.channel] : undefined;
    if (!ch) return swOnly(SW_LOGICAL_CHANNEL_NOT_SUPPORTED);
    if (received.extended && !this.extendedLength) return swOnly(SW_WRONG_LENGTH);
    const ins = received.ins;
    if ((ins & 0xf0) === 0x60 || (ins & 0xf0) === 0x90) return swOnly(SW_INS_NOT_SUPPORTED);
    const apdu = this.#chain(received, cla, ch);
    if (!(apdu instanceof CommandApdu)) return apdu;
    if (ins === INS_GET_RESPONSE && !cla.proprietary && !cla.sm) return this.#getResponse(apdu, ch);
    ch.pending = undefined;
    if (cla.proprietarySm) return swOnly(SW_SECURE_MESSAGING_NOT_SUPPORTED);
    if (cla.sm) return this.#processSm(apdu, cla, ch);
    let data: Uint8Array;
    let sw = SW_NO_ERROR;
    // T=0 carries case 4 as case 3 (7816-3 §12.2.4): the handler sees Ne = 256, the data
    // waits for GET RESPONSE.
    const command =
      this.protocol === 'T=0' && apdu.nc > 0 && apdu.ne === undefined
        ? new CommandApdu({
            cla: apdu.cla,
            ins: apdu.ins,
            p1: apdu.p1,
            p2: apdu.p2,
            data: apdu.dataView(),
            ne: 256,
          })
        : apdu;
    const r = this.#dispatch(command, cla, ch, false);
    if (r instanceof ResponseApdu) {
      data = r.dataView();
      sw = r.sw;
    } else data = r ?? EMPTY;
    return this.#deliver(apdu, ch, data, sw);
  }

  /**
   * Command chaining (7816-4 §5.1.1.1): a command with CLA b5 = 1 is one part of a chain; its
   * data is kept (9000) until the part with b5 = 0 and the same CLA, INS, P1, P2 arrives, which
   * is then executed with all the data. A chained part with another header answers 6883 and
   * drops the chain; a plain command with another header drops it and runs alone. Chaining
   * under secure messaging is not supported (6884).
   * @returns the command to execute, or the response to a chained part.
   */
  #chain(apdu: CommandApdu, cla: ClassByte, ch: ChannelState<Applet>): CommandApdu | Uint8Array {
    const head = apdu.cla & ~0x10;
    const chain = ch.chain;
    const same =
      chain !== undefined &&
      chain.cla === head &&
      chain.ins === apdu.ins &&
      chain.p1 === apdu.p1 &&
      chain.p2 === apdu.p2;
    if (cla.chaining) {
      if (cla.sm || cla.proprietarySm) return swOnly(SW_COMMAND_CHAINING_NOT_SUPPORTED);
      if (chain && !same) {
        ch.chain = undefined;
        return swOnly(SW_LAST_COMMAND_OF_CHAIN_EXPECTED);
      }
      const c = chain ?? { cla: head, ins: apdu.ins, p1: apdu.p1, p2: apdu.p2, parts: [], length: 0 };
      if (c.length + apdu.nc > 65535) {
        ch.chain = undefined;
        return swOnly(SW_WRONG_LENGTH);
      }
      c.parts.push(apdu.data);
      c.length += apdu.nc;
      ch.chain = c;
      return swOnly(SW_NO_ERROR);
    }
    ch.chain = undefined;
    if (!chain || !same) return apdu;
    const data = new Uint8Array(chain.length + apdu.nc);
    let o = 0;
    for (const p of [...chain.parts, apdu.dataView()]) {
      data.set(p, o);
      o += p.length;
    }
    if (data.length > 65535) return swOnly(SW_WRONG_LENGTH);
    return new CommandApdu({ cla: apdu.cla, ins: apdu.ins, p1: apdu.p1, p2: apdu.p2, data, ne: apdu.ne });
  }

  /** Secure messaging around dispatch (7816-4 §10): unwrap, execute, wrap even an error SW. */
  #processSm(apdu: CommandApdu, cla: ClassByte, ch: ChannelState<Applet>): Uint8Array {
    const sec = ch.security;
    const session = sec.sm;
    if (!session || !session.open) return swOnly(SW_SECURE_MESSAGING_NOT_SUPPORTED);
    let plain: CommandApdu;
    try {
      plain = unwrapCommand(session, this.services.cipher, apdu, cla.plain, cla.headerAuthenticated);
    } catch (e) {
      // 9303: an SM error ends the session; the answer is not protected.
      session.close();
      sec.sm = undefined;
      throw e;
    }
    let data: Uint8Array = EMPTY;
    let sw = SW_NO_ERROR;
    sec.secureMessaging = true;
    try {
      const r = this.#dispatch(plain, cla, ch, true);
      if (r instanceof ResponseApdu) {
        data = r.data;
        sw = r.sw;
      } else data = r ?? EMPTY;
      if (plain.ne === undefined) data = EMPTY;
      else if (data.length > plain.ne) data = data.slice(0, plain.ne);
    } catch (e) {
      if (this.services.store.inTransaction) this.services.store.abort();
      sw = this.#statusOf(e);
      data = EMPTY;
    } finally {
      sec.secureMessaging = false;
    }
    // The session may have been replaced or ended by the command itself (a new MUTUAL AUTHENTICATE).
    if (!session.open) return this.#deliver(apdu, ch, data, sw);
    return this.#deliver(apdu, ch, wrapResponse(session, this.services.cipher, data, sw), sw);
  }

  #context(ch: ChannelState<Applet>, cla: ClassByte, sm: boolean): CommandContext {
    return { ...this.services, channel: ch, proprietary: cla.proprietary, secureMessaging: sm };
  }

  #dispatch(apdu: CommandApdu, cla: ClassByte, ch: ChannelState<Applet>, sm: boolean): ReturnType<Handler> {
    const ins = apdu.ins;
    const ctx = this.#context(ch, cla, sm);
    const appletHandler = ch.applet?.handler(ins);
    if (appletHandler) return appletHandler(apdu, ctx);
    if (cla.proprietary) throw new SwError(ch.applet ? SW_INS_NOT_SUPPORTED : SW_CLA_NOT_SUPPORTED);
    if (ins === INS_SELECT) return this.#select(apdu, ctx);
    if (ins === INS_MANAGE_CHANNEL) return this.#manageChannel(apdu, ch);
    const builtin = BUILTIN.get(ins);
    if (!builtin) throw new SwError(SW_INS_NOT_SUPPORTED);
    return builtin(apdu, ctx);
  }

  /**
   * SELECT (7816-4 §11.2.2). P1 = 04 selects by DF name: applets (by AID, right-truncated names
   * match a prefix) and named DFs, in that order; P2 b2-b1 00 first, 01 last, 10 next,
   * 11 previous occurrence. Other P1 values select files (`selectFile`).
   */
  #select(apdu: CommandApdu, ctx: CommandContext): ReturnType<Handler> {
    if (apdu.p1 !== 0x04) {
      const r = selectFile(apdu, ctx);
      // A file selection outside an applet's own DF does not deselect the applet: the
      // OS file system stays reachable, as on a multi-application card with a shared MF.
      return r;
    }
    const kind = selectResponseKind(apdu.p2, true);
    const name = apdu.dataView();
    if (name.length > 16) throw new SwError(SW_WRONG_LENGTH, 'a DF name is at most 16 bytes');
    const ch = ctx.channel;
    const candidates: (Applet | DfNode)[] = [];
    const matches = (n: Uint8Array) => n.length >= name.length && name.every((b, i) => b === n[i]);
    for (const a of this.applets) if (matches(a.aid)) candidates.push(a);
    for (const d of this.services.fs.namedDfs) if (d.name && matches(d.name)) candidates.push(d);
    const occurrence = apdu.p2 & 0x03;
    // Next / previous are relative to what the channel has selected now (its applet, else its
    // current DF) when that is one of the candidates; otherwise they start at the first / last.
    const at = candidates.indexOf(ch.applet ?? ch.currentDf);
    let index: number;
    if (occurrence === 0) index = 0;
    else if (occurrence === 1) index = candidates.length - 1;
    else if (occurrence === 2) index = at < 0 ? 0 : at + 1;
    else index = at < 0 ? candidates.length - 1 : at - 1;
    const found = candidates[index];
    if (!found) throw new SwError(SW_FILE_NOT_FOUND);
    if ('kind' in found) {
      const r = selectResponse(found, kind, ctx);
      this.#setApplet(ch, undefined);
      ch.setCurrent(found);
      return r;
    }
    const applet = found;
    // The applet's own DF, when a DF carries its AID as name, becomes the current DF.
    const df = this.services.fs.namedDfs.find((d) => d.name && Buffer.compare(d.name, applet.aid) === 0);
    // The applet sees its DF as current during select(); if it refuses (SwError), the channel
    // is left exactly as it was.
    const saved = { df: ch.currentDf, ef: ch.currentEf, record: ch.recordPointer };
    if (df) ch.setCurrent(df);
    let fciData: Uint8Array | ResponseApdu;
    try {
      fciData = applet.select?.(ctx) ?? EMPTY;
    } catch (e) {
      ch.currentDf = saved.df;
      ch.currentEf = saved.ef;
      ch.recordPointer = saved.record;
      throw e;
    }
    this.#setApplet(ch, applet);
    // A warning (62xx) selects all the same; P2 'no response' drops the FCI, not the warning.
    if (fciData instanceof ResponseApdu) return kind === 'none' ? ResponseApdu.of(fciData.sw) : fciData;
    return kind === 'none' ? EMPTY : fciData;
  }

  #setApplet(ch: ChannelState<Applet>, applet: Applet | undefined): void {
    if (ch.applet && ch.applet !== applet) ch.applet.deselect?.(ch.number);
    ch.applet = applet;
  }

  /**
   * MANAGE CHANNEL (70), 7816-4 §11.1.2. P1 = 00 open (P2 = 00: the card assigns and returns the
   * number; P2 = n: open n), P1 = 80 close (P2 = 00: the channel of the CLA; P2 = n).
   * A channel opened from channel 0 starts at the MF; from another channel it inherits that
   * channel's current DF, EF and applet (not its security status).
   */
  #manageChannel(apdu: CommandApdu, from: ChannelState<Applet>): Uint8Array | void {
    if (apdu.nc !== 0) throw new SwError(SW_WRONG_LENGTH);
    if (apdu.p1 === 0x00) {
      let n = apdu.p2;
      if (n === 0) {
        if (apdu.ne === undefined) throw new SwError(SW_WRONG_LENGTH, 'the assigned number needs Le = 01');
        n = this.#channels.findIndex((c, i) => i > 0 && c === undefined);
        if (n < 0) throw new SwError(SW_FUNCTION_NOT_SUPPORTED, 'no free logical channel');
      } else if (n >= this.maxChannels) throw new SwError(SW_INCORRECT_P1P2);
      else if (this.#channels[n]) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'channel already open');
      const ch = new ChannelState<Applet>(n, this.services.fs.mf);
      if (from.number !== 0) {
        ch.currentDf = from.currentDf;
        ch.currentEf = from.currentEf;
        ch.applet = from.applet;
      }
      this.#channels[n] = ch;
      return apdu.p2 === 0 ? Uint8Array.of(n) : undefined;
    }
    if (apdu.p1 === 0x80) {
      const n = apdu.p2 === 0 ? from.number : apdu.p2;
      if (n === 0 || n >= this.maxChannels || !this.#channels[n]) throw new SwError(SW_INCORRECT_P1P2);
      const ch = this.#channels[n]!;
      ch.applet?.deselect?.(n);
      ch.security.clear();
      this.#channels[n] = undefined;
      return;
    }
    throw new SwError(SW_INCORRECT_P1P2);
  }

  /** GET RESPONSE (C0), P1 = P2 = 00 (7816-4 §11.4.3). */
  #getResponse(apdu: CommandApdu, ch: ChannelState<Applet>): Uint8Array {
    const pending = ch.pending;
    if (apdu.p1 !== 0 || apdu.p2 !== 0) return swOnly(SW_INCORRECT_P1P2);
    if (!pending) return swOnly(SW_CONDITIONS_NOT_SATISFIED);
    if (apdu.ne === undefined || apdu.nc !== 0) return swOnly(SW_WRONG_LENGTH);
    const left = pending.data.length;
    if (this.protocol === 'T=1') return this.#chunk(ch, apdu.ne);
    // T=0: Le = 00 takes up to 256 bytes; an explicit Le longer than what remains is refused
    // with the exact count (7816-3 §12.2.2 case 2S.3).
    if (apdu.ne !== 256 && apdu.ne > left) return swOnly(SW_CORRECT_LENGTH_00 | (left & 0xff));
    return this.#chunk(ch, Math.min(apdu.ne, 256));
  }

  /** Hands out up to `n` pending bytes; 61xx while more remains, else the command's SW. */
  #chunk(ch: ChannelState<Applet>, n: number): Uint8Array {
    const pending = ch.pending!;
    const take = Math.min(n, pending.data.length);
    const part = pending.data.subarray(0, take);
    const rest = pending.data.subarray(take);
    if (rest.length === 0) {
      ch.pending = undefined;
      return withSw(part, pending.sw);
    }
    ch.pending = { data: rest.slice(), sw: pending.sw };
    return withSw(part, SW_BYTES_REMAINING_00 | (rest.length > 255 ? 0 : rest.length));
  }

  /** The response length rules of the module comment. */
  #deliver(apdu: CommandApdu, ch: ChannelState<Applet>, data: Uint8Array, sw: number): Uint8Array {
    if (data.length === 0) return swOnly(sw);
    if (this.protocol === 'T=1') {
      if (apdu.ne === undefined) return swOnly(sw);
      if (data.length <= apdu.ne) return withSw(data, sw);
      ch.pending = { data: data.slice(), sw };
      return this.#chunk(ch, apdu.ne);
    }
    if (apdu.nc > 0) {
      ch.pending = { data: data.slice(), sw };
      return swOnly(SW_BYTES_REMAINING_00 | (data.length > 255 ? 0 : data.length));
    }
    if (apdu.ne === undefined) return swOnly(sw);
    if (data.length === apdu.ne) return withSw(data, sw);
    if (apdu.ne === 256 && data.length > 256) {
      ch.pending = { data: data.slice(), sw };
      return this.#chunk(ch, 256);
    }
    return swOnly(SW_CORRECT_LENGTH_00 | (data.length > 255 ? 0 : data.length));
  }
}
