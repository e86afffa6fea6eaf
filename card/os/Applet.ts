/**
 * The applet API of the card runtime (STYLE.md rule 5: applets only register handlers). The OS
 * speaks to this interface; applets are written as applications on `RuntimeApplet`
 * (card/applets/platform/RuntimeApplet.ts), the one applet model of the runtime.
 *
 * An applet is selected by AID (SELECT, ISO/IEC 7816-4 §11.2.2) on a logical channel and then
 * receives the commands whose INS it registered; everything else falls through to the OS's own
 * interindustry commands (file system, PIN, authentication) or is refused with 6D00 / 6E00.
 * Handlers return response data (or a `ResponseApdu` for a warning status with data) and throw
 * `SwError` for every refusal; only the OS turns exceptions into status words.
 *
 * What a handler can reach through its `CommandContext`:
 * - `fs`: the file system primitives (no access checks — the applet is trusted code);
 * - `store`: the persistent store; wrap every change in `store.atomic(() => ...)` — one command,
 *   one transaction — or `begin`/`commit` when a command touches several places;
 * - `channel.security`: the channel's security status (verified PINs, authenticated keys, SM);
 *   `pins` and `keys` for the reference data;
 * - `rng`, `cipher`: the injected randomness and block cipher provider;
 * - `channel.number`: to keep per-channel session state (a SAM serving two sessions).
 */
import type { BlockCipherProvider, Rng } from '../crypto/types.js';
import type { CommandApdu } from '../iso7816/CommandApdu.js';
import type { ResponseApdu } from '../iso7816/ResponseApdu.js';
import type { FileSystem } from '../fs/FileSystem.js';
import type { KeyStore } from '../security/KeyStore.js';
import type { PinManager } from '../security/PinManager.js';
import type { PersistentStore } from '../store/PersistentStore.js';
import type { ChannelState } from './ChannelState.js';

/** Where the OS reports what it turned into 6F00 (and other notable events). */
export interface CardLogger {
  error(message: string, error?: unknown): void;
}

/** A logger that drops everything (the default when none is injected). */
export const SILENT_LOGGER: CardLogger = { error: () => undefined };

/** The services of one card, shared by the OS and all its applets. */
export interface CardServices {
  readonly store: PersistentStore;
  readonly fs: FileSystem;
  readonly pins: PinManager;
  readonly keys: KeyStore;
  readonly cipher: BlockCipherProvider;
  readonly rng: Rng;
  readonly logger: CardLogger;
  readonly protocol: 'T=0' | 'T=1';
}

/** What one command's handler sees. */
export interface CommandContext extends CardServices {
  readonly channel: ChannelState<Applet>;
  /** CLA b8 = 1: a proprietary class (e.g. 80, 84). */
  readonly proprietary: boolean;
  /** The command came with secure messaging (already checked and removed by the OS). */
  readonly secureMessaging: boolean;
}

/** Response data, a full response (data + a warning SW such as 6282/63Cx), or nothing. */
export type HandlerResult = Uint8Array | ResponseApdu | void;

export type Handler = (apdu: CommandApdu, ctx: CommandContext) => HandlerResult;

export interface Applet {
  /** Application identifier, 5..16 bytes (ISO/IEC 7816-4 §8.2.1.2). */
  readonly aid: Uint8Array;
  /**
   * Called once when the card is built, in registration order: allocate store regions here
   * (allocation is positional, so the order must not depend on data); write initial values only
   * when `personalise` is true (a fresh card), never when a card file is loaded.
   */
  install?(services: CardServices, personalise: boolean): void;
  /**
   * Called when SELECT picks this applet on a channel. Returns the FCI data (answered unless
   * P2 asks for no response), or a `ResponseApdu` to select with a warning status (e.g. 6283,
   * selected file deactivated: the selection is made and its FCI answered with that status);
   * throw SwError to refuse the selection.
   */
  select?(ctx: CommandContext): Uint8Array | ResponseApdu | void;
  /** Called when another SELECT replaces it on the channel, or the channel closes. */
  deselect?(channel: number): void;
  /** The handler for an INS, or undefined to let the OS handle it. */
  handler(ins: number): Handler | undefined;
  /** Power-down or reset: forget every volatile state (all channels). */
  reset?(): void;
}
