import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';
import { CardChannelError } from '../CardChannel.js';
import {
  CardRemovedError,
  CardTimeoutError,
  NoCardError,
  PcscNotInstalledError,
  ReaderUnavailableError,
} from '../errors.js';

/** The parts of the `pcsclite` addon's CardReader this package uses (see its index.d.ts). */
export interface AddonReader extends EventEmitter {
  readonly name: string;
  connected: boolean;
  readonly SCARD_SHARE_SHARED: number;
  readonly SCARD_SHARE_EXCLUSIVE: number;
  readonly SCARD_PROTOCOL_T0: number;
  readonly SCARD_PROTOCOL_T1: number;
  readonly SCARD_STATE_EMPTY: number;
  readonly SCARD_STATE_PRESENT: number;
  readonly SCARD_STATE_MUTE: number;
  readonly SCARD_STATE_UNAVAILABLE: number;
  readonly SCARD_LEAVE_CARD: number;
  readonly SCARD_RESET_CARD: number;
  readonly SCARD_UNPOWER_CARD: number;
  connect(
    options: { share_mode?: number; protocol?: number },
    cb: (err: Error | null | undefined, protocol: number) => void,
  ): void;
  disconnect(disposition: number, cb: (err: Error | null | undefined) => void): void;
  transmit(
    data: Buffer,
    resLen: number,
    protocol: number,
    cb: (err: Error | null | undefined, response: Buffer) => void,
  ): void;
  close(): void;
}

/** The addon's context object (one SCardEstablishContext plus the reader-list thread). */
export interface AddonContext extends EventEmitter {
  readers?: Record<string, AddonReader>;
  start?: (cb: (err: Error | null | undefined, data: Buffer) => void) => void;
  close(): void;
}

export type AddonFactory = () => AddonContext;

export const INSTALL_HINT =
  "PC/SC needs the optional dependency 'pcsclite': run `apt-get install libpcsclite-dev pcscd` then `npm install pcsclite`";

/**
 * Loads the optional `pcsclite` addon on first use (it is an optionalDependency: the rest of the
 * package works without it). `moduleName` is for tests.
 * @throws PcscNotInstalledError saying what to install when the addon or libpcsclite is missing.
 */
export function loadPcsclite(moduleName = 'pcsclite'): AddonFactory {
  const require = createRequire(import.meta.url);
  let mod: unknown;
  try {
    mod = require(moduleName);
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new PcscNotInstalledError(`${INSTALL_HINT} (loading it failed: ${why})`, undefined, { cause: e });
  }
  if (typeof mod !== 'function')
    throw new PcscNotInstalledError(`${INSTALL_HINT} (the installed 'pcsclite' has no factory function)`);
  return mod as AddonFactory;
}

/** PC/SC return codes that matter here (pcsc-lite `pcsclite.h`). */
export const SCARD = {
  E_CANCELLED: 0x80100002,
  E_INVALID_HANDLE: 0x80100003,
  E_UNKNOWN_READER: 0x80100009,
  E_TIMEOUT: 0x8010000a,
  E_SHARING_VIOLATION: 0x8010000b,
  E_NO_SMARTCARD: 0x8010000c,
  E_PROTO_MISMATCH: 0x8010000f,
  F_COMM_ERROR: 0x80100013,
  E_NOT_TRANSACTED: 0x80100016,
  E_READER_UNAVAILABLE: 0x80100017,
  E_NO_SERVICE: 0x8010001d,
  E_SERVICE_STOPPED: 0x8010001e,
  E_NO_READERS_AVAILABLE: 0x8010002e,
  W_UNRESPONSIVE_CARD: 0x80100066,
  W_UNPOWERED_CARD: 0x80100067,
  W_RESET_CARD: 0x80100068,
  W_REMOVED_CARD: 0x80100069,
} as const;

/** The PC/SC code in an addon error message ("SCardTransmit error: Card was removed.(0x80100069)"). */
export function pcscCode(e: unknown): number | undefined {
  const m = /\(0x([0-9a-fA-F]{8})\)/.exec(e instanceof Error ? e.message : String(e));
  return m ? parseInt(m[1]!, 16) : undefined;
}

/**
 * Turns an addon error into the typed error naming what happened.
 * `operation` reads like "transmit", "connect"; `readerName` goes into the message.
 */
export function pcscError(e: unknown, operation: string, readerName: string): CardChannelError {
  if (e instanceof CardChannelError) return e;
  const code = pcscCode(e);
  const raw = e instanceof Error ? e.message : String(e);
  const at = `${operation} on PC/SC reader '${readerName}'`;
  const opts = { cause: e };
  switch (code) {
    case SCARD.W_REMOVED_CARD:
      return new CardRemovedError(`${at}: the card was removed (${raw})`, readerName, opts);
    case SCARD.E_NO_SMARTCARD:
      return new NoCardError(`${at}: no card in the reader (${raw})`, readerName, opts);
    case SCARD.W_UNPOWERED_CARD:
    case SCARD.W_UNRESPONSIVE_CARD:
      return new CardRemovedError(
        `${at}: the card does not answer (mute or unpowered) (${raw})`,
        readerName,
        opts,
      );
    case SCARD.E_NOT_TRANSACTED:
    case SCARD.F_COMM_ERROR:
      return new CardRemovedError(
        `${at}: the exchange broke off (card removed, or the card process/reader link died) (${raw})`,
        readerName,
        opts,
      );
    case SCARD.E_TIMEOUT:
      return new CardTimeoutError(`${operation} (pcscd reported SCARD_E_TIMEOUT)`, NaN, readerName);
    case SCARD.E_UNKNOWN_READER:
    case SCARD.E_READER_UNAVAILABLE:
    case SCARD.E_NO_READERS_AVAILABLE:
      return new ReaderUnavailableError(`${at}: the reader is gone (${raw})`, readerName, opts);
    case SCARD.E_NO_SERVICE:
    case SCARD.E_SERVICE_STOPPED:
      return new ReaderUnavailableError(
        `${at}: the PC/SC service (pcscd) is not running (${raw})`,
        readerName,
        opts,
      );
    case SCARD.E_INVALID_HANDLE:
      return new CardRemovedError(
        `${at}: the connection to the card is no longer valid; connect again (${raw})`,
        readerName,
        opts,
      );
    case SCARD.W_RESET_CARD:
      return new CardChannelError(
        `${at}: the card was reset by another application; connect again (${raw})`,
        readerName,
        opts,
      );
    case SCARD.E_SHARING_VIOLATION:
      return new CardChannelError(
        `${at}: the card is held exclusively by another application (${raw})`,
        readerName,
        opts,
      );
    default:
      return new CardChannelError(`${at} failed: ${raw}`, readerName, opts);
  }
}
